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
run in-line or in a background thread is the learner's business (learner.py).

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

``play`` is the loop of evaluation: the evaluation phase of each iteration
(``eval_phase``) and ``evaluate``'s Nature protocol both consume it.
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
# (updates = the agent's update count then), "sync_target" when the target is copied.
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


def train_phase(
    actors: list[Actor],
    learner,
    replay,
    schedule: TrainingSchedule,
    action_rng: np.random.Generator,
    stats: IterationStats,
    *,
    agent_steps: int,
    end_agent_steps: int,
    log_game: Callable[[GameResult, int, float], None],
    stop_requested: Callable[[], bool],
    show_progress: Callable[[int, float], None] | None = None,
    on_event: LoopEvent | None = None,
) -> int:
    """Train from total agent step ``agent_steps`` to ``end_agent_steps``.

    Args:
      actors: the training actors (each writes its own replay head).
      learner: ``InlineLearner`` or ``ThreadedLearner`` (learner.py).
      replay: sampled for the updates.
      schedule: epsilon, learning start, update and target periods, batch size.
      action_rng: the epsilon-greedy generator (checkpointed by the caller).
      stats: the iteration's sums, updated in place (updates, returns, time).
      log_game: ``(game, agent_step, epsilon)`` for every game that ends.
      stop_requested: checked before every round; True ends the phase early.
      show_progress: ``(agent_step, epsilon)`` every ``PROGRESS_PERIOD_AGENT_STEPS``.
      on_event: see ``LoopEvent`` (tests).

    Returns:
      the total agent steps reached: ``end_agent_steps``, or fewer if stopped.
    """
    agent = learner.agent

    def account(completed) -> None:
        for step, metrics in completed:
            stats.add_update(metrics)
            if on_event is not None:
                on_event("update", step, agent.num_updates)

    t0 = time.perf_counter()
    start = agent_steps
    try:
        while agent_steps < end_agent_steps:
            if stop_requested():
                break
            k = min(len(actors), end_agent_steps - agent_steps)
            epsilons = [schedule.epsilon(agent_steps + i) for i in range(k)]
            states = np.stack([actor.state for actor in actors[:k]])
            actions = learner.act(states, epsilons, action_rng)
            for i in range(k):
                game = actors[i].step(int(actions[i]))
                agent_steps += 1
                if game is not None:
                    stats.train_returns.append(game.raw_return)
                    log_game(game, agent_steps, epsilons[i])
                if (agent_steps >= schedule.learning_starts_agent_steps
                        and schedule.update_due(agent_steps)):
                    account(learner.submit(replay.sample(schedule.batch_size), agent_steps))
                if schedule.target_copy_due(agent_steps):
                    account(learner.finish())
                    agent.sync_target()
                    if on_event is not None:
                        on_event("sync_target", agent_steps, agent.num_updates)
                if agent_steps % FINITE_CHECK_PERIOD_AGENT_STEPS == 0 and stats.updates:
                    stats.check_finite(agent_steps)
                if show_progress is not None and agent_steps % PROGRESS_PERIOD_AGENT_STEPS == 0:
                    show_progress(agent_steps, epsilons[i])
    finally:
        account(learner.finish())  # the checkpoint and the iteration row see every update
        stats.train_time_s += time.perf_counter() - t0
        stats.train_agent_steps += agent_steps - start
    return agent_steps


def play(actor: Actor, choose_action: Callable[[np.ndarray], int]) -> Iterator[GameResult | None]:
    """Endless agent steps of ``actor``: yields, after each, the game it ended (else None)."""
    while True:
        yield actor.step(choose_action(actor.state))


def eval_phase(actor: Actor, choose_action: Callable[[np.ndarray], int], *,
               min_agent_steps: int, stop_requested: Callable[[], bool],
               log_game: Callable[[GameResult], None]) -> list[float] | None:
    """Whole games until at least ``min_agent_steps`` agent steps are played.

    The game in progress at the budget is finished (Dopamine's evaluation phase). Returns
    the games' raw returns, or None if ``stop_requested()`` became True.
    """
    returns: list[float] = []
    games = play(actor, choose_action)
    steps = 0
    while steps < min_agent_steps or actor.length_agent_steps > 0:
        if stop_requested():
            return None
        game = next(games)
        steps += 1
        if game is not None:
            returns.append(game.raw_return)
            log_game(game)
    return returns
