"""The training and evaluation phases of K seeds in lockstep, one ``PackedLearner`` for all.

Why lockstep: the K runs share every schedule (epsilon, learning start, an update every 4
agent steps, the target period), so if they take their agent steps together their updates
fall due at the same agent step, and the K batches make ONE vmapped update. Each seed
keeps its own actors, replay, epsilon-greedy generator and iteration sums; the loop below
is ``loop.train_phase`` with every per-run action done for each seed in turn:

* one round: seed k's ``N`` actors' states are acted on together (one vmapped forward for
  all seeds), state i at epsilon(t + i), drawing from seed k's generator as alone;
* after each agent step t (every seed's actor i has stepped): when an update is due, each
  seed samples ITS replay right after ITS transition t, and the K batches are one update;
  then the target copy of every seed when due.

So seed k sees exactly the sequence of events of its single run; only the arithmetic of the
batched kernels differs (packed_learner.py). The evaluation phase plays each seed's games
in lockstep too, one state per seed, until each seed's budget is met and its game is over;
a seed whose phase has ended waits for the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dqn_atari.actor import Actor, GameResult
from dqn_atari.loop import (
    FINITE_CHECK_PERIOD_AGENT_STEPS,
    PROGRESS_PERIOD_AGENT_STEPS,
    IterationStats,
    LoopEvent,
    TrainingSchedule,
)


@dataclass
class SeedPhase:
    """What one seed brings to a lockstep training phase."""

    actors: list[Actor]
    replay: object  # sampled for this seed's batch
    action_rng: np.random.Generator
    stats: IterationStats
    log_game: Callable[[GameResult, int, float], None]


def packed_train_phase(
    seeds: list[SeedPhase],
    learner,
    schedule: TrainingSchedule,
    *,
    agent_steps: int,
    end_agent_steps: int,
    stop_requested: Callable[[], bool],
    show_progress: Callable[[int, float], None] | None = None,
    on_event: LoopEvent | None = None,
) -> int:
    """Train every seed from agent step ``agent_steps`` to ``end_agent_steps``, in lockstep.

    ``learner`` is a ``PackedLearner`` (its seed k is ``seeds[k]``). Returns the agent step
    reached by every seed (fewer than ``end_agent_steps`` if stopped).
    """
    num_actors = len(seeds[0].actors)
    rngs = [seed.action_rng for seed in seeds]

    def account(metrics: list, step: int) -> None:
        for seed, seed_metrics in zip(seeds, metrics, strict=True):
            seed.stats.add_update(seed_metrics)
        if on_event is not None:
            on_event("update", step, learner.num_updates)

    t0 = time.perf_counter()
    start = agent_steps
    try:
        while agent_steps < end_agent_steps:
            if stop_requested():
                break
            n = min(num_actors, end_agent_steps - agent_steps)
            epsilons = [schedule.epsilon(agent_steps + i) for i in range(n)]
            states = np.stack([np.stack([a.state for a in seed.actors[:n]]) for seed in seeds])
            actions = learner.act(states, epsilons, rngs)
            for i in range(n):
                agent_steps += 1
                for k, seed in enumerate(seeds):
                    game = seed.actors[i].step(int(actions[k, i]))
                    if game is not None:
                        seed.stats.train_returns.append(game.raw_return)
                        seed.log_game(game, agent_steps, epsilons[i])
                if (agent_steps >= schedule.learning_starts_agent_steps
                        and schedule.update_due(agent_steps)):
                    batches = [seed.replay.sample(schedule.batch_size) for seed in seeds]
                    account(learner.update(batches), agent_steps)
                if schedule.target_copy_due(agent_steps):
                    learner.sync_target()
                    if on_event is not None:
                        on_event("sync_target", agent_steps, learner.num_updates)
                if agent_steps % FINITE_CHECK_PERIOD_AGENT_STEPS == 0:
                    for seed in seeds:
                        if seed.stats.updates:
                            seed.stats.check_finite(agent_steps)
                if show_progress is not None and agent_steps % PROGRESS_PERIOD_AGENT_STEPS == 0:
                    show_progress(agent_steps, epsilons[i])
    finally:
        elapsed = time.perf_counter() - t0  # shared: each seed's rate is its steps / this
        for seed in seeds:
            seed.stats.train_time_s += elapsed
            seed.stats.train_agent_steps += agent_steps - start
    return agent_steps


def packed_eval_phase(
    actors: list[Actor],
    learner,
    epsilon: float,
    rngs: list[np.random.Generator],
    *,
    min_agent_steps: int,
    stop_requested: Callable[[], bool],
    log_game: Callable[[int, GameResult], None],
) -> list[list[float]] | None:
    """``loop.eval_phase`` for seed k = ``actors[k]`` with ``rngs[k]``, all seeds together.

    Whole games until each seed has played at least ``min_agent_steps`` agent steps (its
    game in progress then finished). Returns each seed's raw returns, or None if
    ``stop_requested()`` became True. ``log_game(k, game)`` for every game that ends.
    """
    returns: list[list[float]] = [[] for _ in actors]
    steps = [0] * len(actors)
    playing = [True] * len(actors)
    while any(playing):
        if stop_requested():
            return None
        # Every seed's state is evaluated (one vmapped pass); a seed that has finished its
        # phase neither draws from its generator nor steps.
        states = np.stack([actor.state for actor in actors])[:, None]
        actions = _act_playing(learner, states, epsilon, rngs, playing)
        for k, actor in enumerate(actors):
            if not playing[k]:
                continue
            game = actor.step(int(actions[k]))
            steps[k] += 1
            if game is not None:
                returns[k].append(game.raw_return)
                log_game(k, game)
            playing[k] = steps[k] < min_agent_steps or actor.length_agent_steps > 0
    return returns


class _Idle:
    """A generator stand-in for a seed that does not act this round: draws nothing."""

    @staticmethod
    def random(size=None):
        return 1.0 if size is None else np.ones(size)  # never below epsilon <= 1: "greedy"


def _act_playing(learner, states, epsilon, rngs, playing) -> np.ndarray:
    """Actions (K,) of the playing seeds; the others' generators are left untouched."""
    stand_ins = [rng if playing[k] else _Idle() for k, rng in enumerate(rngs)]
    return learner.act(states, [epsilon], stand_ins)[:, 0]
