"""The training loop over actors and a learner, and the play loop of evaluation.

``train_phase`` is one training phase, read top to bottom as Dopamine's
``Runner._run_one_phase``. Counting is in TOTAL agent steps, for any number of actors:

* one round selects the actions of the ``N`` actors in ONE batch (``learner.act``), actor
  ``i`` with epsilon at total agent step ``t + i`` (``t`` the count before the round),
  then steps the actors one after the other; each counts one agent step (one actor: the
  classic loop, one state acted on per step);
* after each agent step: an update of ``batch_size`` when the total count ``t`` is a
  multiple of ``update_period_agent_steps`` (4) and at least ``learning_starts_agent_steps``
  -- so ``N`` agent steps give ``N / 4`` updates, for any ``N``, at the same total steps as
  one actor -- then the target copy when ``t`` is a multiple of
  ``target_update_period_agent_steps`` (with ``agent.target_init=independent``, Dopamine's,
  only once ``t`` exceeds ``learning_starts_agent_steps``);
* the update due at step ``t`` samples the replay right after transition ``t`` is stored;
* the last round of a phase steps only the actors needed to reach the phase's end.

So with ``N`` actors only which games are played differs (N at once) and, for acting, that
the network is evaluated once per round (before the round's updates). Whether the updates
run in-line or in a background thread, for one seed or K stacked, is the learner's
business (learner.py); the loop runs K >= 1 seeds in lockstep (``train_phase``).

Why the actors' environments are ``NatureAtariEnv``s stepped in this thread and not ale-py's
``AtariVectorEnv`` (C++ threads): checked against ``NatureAtariEnv`` in tests/test_vector.py.
With ``stack_num=1, noop_max=0, reward_clipping=False, episodic_life=False,
life_loss_info=True, use_fire_reset=False, repeat_action_probability=0`` its frames, raw
rewards and life-loss terminals equal ours step for step, but (ale-py 0.12.1):
  * the observation returned when a game ends inside an action repeat is not the last frame
    (the loop breaks before grabbing the screen): a truncated game's bootstrap frame differs;
  * no-ops are U{0..noop_max-1} (pass 31 for the paper's U{0..30}) and are not counted in
    the episode frame cap (ours: 108,000 frames including the no-ops);
  * the emulator state cannot be saved, so a preempted run could not resume its games
    exactly (this project's checkpoints restore every game in progress);
  * autoreset is a separate "reset" step after a game ends.
And ``ALEInterface.act`` holds the GIL (tests/test_vector.py::test_ale_act_holds_the_gil;
bench ``env``: N envs in N Python threads step no faster than in one), so the parallelism
on a small CPU comes from overlapping the environments with the learner (``agent.overlap``)
and from batched acting.

``play`` is the loop of every evaluation: the evaluation phase of each iteration
(``eval_phase``, K seeds in turn) and ``evaluate``'s Nature protocol both consume it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dqn_atari.actor import Actor, GameResult
from dqn_atari.schedules import Every, LinearSchedule, training_epsilon

FINITE_CHECK_PERIOD_AGENT_STEPS = 1000  # one host sync per this many agent steps
PROGRESS_PERIOD_AGENT_STEPS = 200

# (event, agent_step, updates): "update" when the update for agent_step has completed
# (updates = the updates completed by then), "sync_target" when the target is copied.
LoopEvent = Callable[[str, int, int], None]


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or inf; the last good checkpoint is left untouched."""


@dataclass
class TrainingSchedule:
    """When the agent explores, learns and copies its target, in agent steps."""

    epsilon: LinearSchedule
    learning_starts_agent_steps: int
    update_due: Every
    target_due: Every
    batch_size: int
    # The target is copied only after this agent step: -1 (every period; before learning
    # starts a copy changes nothing) | learning_starts_agent_steps for agent.target_init=
    # independent (Dopamine copies only once its replay holds more than min_replay_history).
    target_copies_after_agent_steps: int = -1

    @classmethod
    def from_config(cls, agent_cfg) -> TrainingSchedule:
        copies_after = (agent_cfg.learning_starts_agent_steps
                        if agent_cfg.target_init == "independent" else -1)
        return cls(training_epsilon(agent_cfg), agent_cfg.learning_starts_agent_steps,
                   Every(agent_cfg.update_period_agent_steps),
                   Every(agent_cfg.target_update_period_agent_steps), agent_cfg.batch_size,
                   copies_after)

    def target_copy_due(self, agent_steps: int) -> bool:
        """Whether the target is copied after agent step ``agent_steps``."""
        return agent_steps > self.target_copies_after_agent_steps and self.target_due(agent_steps)


@dataclass
class IterationStats:
    """What the training phase of one iteration accumulates (checkpointed mid-iteration)."""

    iteration: int
    loss_sum: torch.Tensor
    mean_q_sum: torch.Tensor
    updates: int = 0
    train_returns: list[float] = field(default_factory=list)
    train_time_s: float = 0.0
    train_agent_steps: int = 0

    @classmethod
    def empty(cls, iteration: int, device: torch.device) -> IterationStats:
        zero = torch.zeros((), device=device)
        return cls(iteration, zero, zero.clone())

    def add_update(self, metrics: dict[str, torch.Tensor]) -> None:
        self.loss_sum += metrics["loss"]
        self.mean_q_sum += metrics["mean_q"]
        self.updates += 1

    def check_finite(self, agent_step: int) -> None:
        """Raise ``NonFiniteLossError`` if a loss of this iteration was NaN or inf."""
        if not bool(torch.isfinite(self.loss_sum)):
            raise NonFiniteLossError(
                f"the loss became non-finite before agent step {agent_step} "
                f"(iteration {self.iteration}); stopped without writing a checkpoint, so the "
                "last good one is untouched. Lower optim.lr, or set optim.max_grad_norm=10, "
                "and resume."
            )

    def state_dict(self) -> dict[str, Any]:
        return {"loss_sum": self.loss_sum.detach().cpu(),
                "mean_q_sum": self.mean_q_sum.detach().cpu(), "updates": self.updates,
                "train_returns": list(self.train_returns), "train_time_s": self.train_time_s,
                "train_agent_steps": self.train_agent_steps}

    @classmethod
    def from_state_dict(cls, iteration: int, state: dict[str, Any],
                        device: torch.device) -> IterationStats:
        return cls(iteration, state["loss_sum"].to(device), state["mean_q_sum"].to(device),
                   state["updates"], list(state["train_returns"]), state["train_time_s"],
                   state["train_agent_steps"])


@dataclass
class SeedSlot:
    """What one seed brings to a training phase: its actors, replay, generator and sums."""

    actors: list[Actor]
    replay: Any  # sampled for this seed's batches
    action_rng: np.random.Generator  # the epsilon-greedy generator (checkpointed by its run)
    stats: IterationStats  # the iteration's sums, updated in place (updates, returns, time)
    log_game: Callable[[GameResult, int, float], None]  # (game, agent_step, epsilon)


def train_phase(
    seeds: list[SeedSlot],
    learner,
    schedule: TrainingSchedule,
    *,
    agent_steps: int,
    end_agent_steps: int,
    stop_requested: Callable[[], bool],
    show_progress: Callable[[int, float], None] | None = None,
    on_event: LoopEvent | None = None,
) -> int:
    """Train K >= 1 seeds in lockstep from total agent step ``agent_steps`` to ``end_agent_steps``.

    Args:
      seeds: one ``SeedSlot`` per seed, in the learner's order (seed k learns from
        ``seeds[k].replay``); all have the same number of actors.
      learner: the learner protocol (learner.py) for these K seeds.
      schedule: epsilon, learning start, update and target periods, batch size (shared).
      stop_requested: checked before every round; True ends the phase early.
      show_progress: ``(agent_step, epsilon)`` every ``PROGRESS_PERIOD_AGENT_STEPS``.
      on_event: see ``LoopEvent`` (tests).

    Returns:
      the total agent steps reached by every seed: ``end_agent_steps``, or fewer if stopped.

    Why lockstep: K runs that differ only in their seed share every schedule, so if they take
    their agent steps together their updates fall due at the same agent step, and the
    learner makes them as one (stacked_learner.py). Seed k still sees exactly the events of
    its run alone: its actors step in its order, its generator draws as alone, and its
    update at step ``t`` samples its replay right after its transition ``t``.
    """
    num_actors = len(seeds[0].actors)
    rngs = [seed.action_rng for seed in seeds]
    # Updates completed, counted here: with agent.overlap the learner's own count may already
    # include the next update, in flight (a phase starts with none in flight).
    completed_updates = learner.num_updates

    def account(completed) -> None:
        nonlocal completed_updates
        for step, metrics in completed:
            for seed, seed_metrics in zip(seeds, metrics, strict=True):
                seed.stats.add_update(seed_metrics)
            completed_updates += 1
            if on_event is not None:
                on_event("update", step, completed_updates)

    t0 = time.perf_counter()
    start = agent_steps
    try:
        while agent_steps < end_agent_steps:
            if stop_requested():
                break
            n = min(num_actors, end_agent_steps - agent_steps)
            epsilons = [schedule.epsilon(agent_steps + i) for i in range(n)]
            # one copy of the K x n states (K, n, C, H, W): the reshape is a view
            states = np.stack([a.state for seed in seeds for a in seed.actors[:n]])
            states = states.reshape(len(seeds), n, *states.shape[1:])
            actions = learner.act(states, epsilons, rngs)  # (K, n)
            for i in range(n):
                agent_steps += 1
                for k, seed in enumerate(seeds):
                    game = seed.actors[i].step(int(actions[k][i]))
                    if game is not None:
                        seed.stats.train_returns.append(game.raw_return)
                        seed.log_game(game, agent_steps, epsilons[i])
                if (agent_steps >= schedule.learning_starts_agent_steps
                        and schedule.update_due(agent_steps)):
                    batches = [seed.replay.sample(schedule.batch_size) for seed in seeds]
                    account(learner.submit(batches, agent_steps))
                if schedule.target_copy_due(agent_steps):
                    account(learner.sync_target())
                    if on_event is not None:
                        on_event("sync_target", agent_steps, completed_updates)
                if agent_steps % FINITE_CHECK_PERIOD_AGENT_STEPS == 0:
                    for seed in seeds:
                        if seed.stats.updates:
                            seed.stats.check_finite(agent_steps)
                if show_progress is not None and agent_steps % PROGRESS_PERIOD_AGENT_STEPS == 0:
                    show_progress(agent_steps, epsilons[i])
    finally:
        account(learner.finish())  # the checkpoint and the iteration row see every update
        elapsed = time.perf_counter() - t0  # shared: each seed's rate is its steps / this
        for seed in seeds:
            seed.stats.train_time_s += elapsed
            seed.stats.train_agent_steps += agent_steps - start
    return agent_steps


def play(actor: Actor, choose_action: Callable[[np.ndarray], int]) -> Iterator[GameResult | None]:
    """Endless agent steps of ``actor``: yields, after each, the game it ended (else None)."""
    while True:
        yield actor.step(choose_action(actor.state))


@dataclass
class EvalSlot:
    """What one seed brings to an evaluation phase: its actor, its policy and its game log."""

    actor: Actor
    choose_action: Callable[[np.ndarray], int]
    log_game: Callable[[GameResult], None]


def eval_phase(seeds: list[EvalSlot], *, min_agent_steps: int,
               stop_requested: Callable[[], bool]) -> list[list[float]] | None:
    """Whole games of each seed until it has played at least ``min_agent_steps`` agent steps.

    Each seed's game in progress at the budget is finished (Dopamine's evaluation phase).
    The K seeds take their agent steps in turn (``play``), each acting with its own policy;
    a seed whose phase has ended waits for the others. Returns each seed's raw returns, or
    None if ``stop_requested()`` (checked before every round) became True.
    """
    games = [play(seed.actor, seed.choose_action) for seed in seeds]
    returns: list[list[float]] = [[] for _ in seeds]
    steps = [0] * len(seeds)
    playing = [min_agent_steps > 0 or seed.actor.length_agent_steps > 0 for seed in seeds]
    while any(playing):
        if stop_requested():
            return None
        for k, seed in enumerate(seeds):
            if not playing[k]:
                continue
            game = next(games[k])
            steps[k] += 1
            if game is not None:
                returns[k].append(game.raw_return)
                seed.log_game(game)
            playing[k] = steps[k] < min_agent_steps or seed.actor.length_agent_steps > 0
    return returns
