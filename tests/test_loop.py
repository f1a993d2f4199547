"""The loop (dqn_atari/loop.py): ``train_phase`` and ``eval_phase`` over K >= 1 seeds.

On real parts, built as a seed's run builds them (run/seed_run.py): actors on the shipped
catch game (9-step games) writing real replay heads, ``DQNAgent``s and the learners of
``make_learner``; the evaluation plays real Pong (capped at 400 frames a game) with real
agents.

``train_phase``, for K = 1 (in-line and threaded, 1 to 4 actors) and K = 2 (stacked):

* updates at every 4th total agent step from learning start and target copies every
  period, reported by ``on_event`` with the update count, across phase ends and partial
  last rounds (the replay heads show which actors stepped);
* each seed's games are logged with the agent step that ended them and the epsilon their
  last action was chosen at (the schedule in total agent steps); a seed packed with
  another steps its actors and draws its actions as alone;
* ``stop_requested`` ends a phase early: it returns the step reached, the update in flight
  is accounted, and the phase continued from there gives the straight phase's events.

``eval_phase`` over two seeds: whole games until each seed's budget, the game in progress
finished; each seed's returns are those of its phase alone; a stop returns None.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import compose

from dqn_atari import seeds as seed_streams
from dqn_atari.actor import make_actor
from dqn_atari.agent import DQNAgent
from dqn_atari.config import AgentConfig, EnvConfig, OptimConfig
from dqn_atari.envs import make_env
from dqn_atari.learner import InlineLearner, ThreadedLearner, make_learner
from dqn_atari.loop import (
    EvalSlot,
    IterationStats,
    SeedSlot,
    TrainingSchedule,
    eval_phase,
    train_phase,
)
from dqn_atari.replay import make_replay
from dqn_atari.stacked_learner import StackedLearner

# 50 agent steps in two phases of 25: updates of 8 at agent steps 20, 24, ..., 48 (8 updates),
# target copies every 15, epsilon 1 until agent step 20 then down to 0.1 at agent step 50.
LOOP = ["experiment=catch", "agent.device=cpu", "torch_threads=1",
        "agent.learning_starts_agent_steps=20", "agent.batch_size=8",
        "agent.target_update_period_agent_steps=15", "agent.epsilon_decay_agent_steps=30",
        "agent.epsilon_end=0.1", "replay.capacity=200"]
PHASES = (25, 50)
TOTAL = PHASES[-1]
UPDATES = 8
GAME_STEPS = 9  # every catch game


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """One intra-op thread, as the tests' runs use (torch_threads=1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def base_cfg():
    return compose(LOOP)


def _cfg(base, num_envs: int, overlap: bool = False):
    cfg = copy.deepcopy(base)
    cfg.env.num_envs = num_envs
    cfg.agent.overlap = overlap
    return cfg


def _slot(cfg, seed: int, games: list) -> tuple[DQNAgent, SeedSlot]:
    """Seed ``seed``'s agent and training slot, as ``SeedRun`` builds them."""
    envs = [make_env(cfg.env, seed=seed_streams.train_env_seed(seed, i), mode="train")
            for i in range(cfg.env.num_envs)]
    agent = DQNAgent(envs[0].num_actions, cfg.agent, cfg.optim, cfg.env.stack_frames, seed)
    replay = make_replay(cfg, seed)
    actors = [make_actor(env, cfg.env, replay.head(i)) for i, env in enumerate(envs)]
    slot = SeedSlot(actors, replay, seed_streams.training_action_rng(seed),
                    IterationStats.empty(0, agent.device),
                    lambda game, step, epsilon: games.append((game, step, epsilon)))
    return agent, slot


def _train(cfg, run_seeds, phases=PHASES, stop_at_round: int | None = None):
    """Train ``run_seeds`` together through ``phases`` (end agent steps); what happened.

    ``stop_at_round``: ``stop_requested`` is True once, before that round of the run."""
    games = [[] for _ in run_seeds]
    built = [_slot(cfg, seed, g) for seed, g in zip(run_seeds, games, strict=True)]
    slots = [slot for _, slot in built]
    learner = make_learner([agent for agent, _ in built], cfg.agent, cfg.optim, threads=1)
    events, reached, after_phase, rounds = [], [], [], [0]

    def stop() -> bool:
        rounds[0] += 1
        return rounds[0] == stop_at_round

    step = 0
    try:
        for end in phases:
            step = train_phase(slots, learner, TrainingSchedule.from_config(cfg.agent),
                               agent_steps=step, end_agent_steps=end, stop_requested=stop,
                               on_event=lambda *e: events.append(e))
            reached.append(step)
            after_phase.append({
                "updates": learner.num_updates,
                "stats": [(slot.stats.updates, slot.stats.train_agent_steps) for slot in slots],
                "last_game_step": max((t for g in games for _, t, _ in g), default=0)})
        assert not getattr(learner, "in_flight", False)  # finished at every phase end
    finally:
        learner.close()
    return SimpleNamespace(slots=slots, learner=learner, events=events, games=games,
                           reached=reached, after_phase=after_phase, schedule=TrainingSchedule.from_config(cfg.agent))


def _expected_events(cfg, total: int) -> list[tuple[str, int, int]]:
    """The sequential schedule: an update at every 4th step from learning_starts, target copies."""
    events, updates = [], 0
    a = cfg.agent
    for t in range(1, total + 1):
        if t >= a.learning_starts_agent_steps and t % a.update_period_agent_steps == 0:
            updates += 1
            events.append(("update", t, updates))
        if t % a.target_update_period_agent_steps == 0:
            events.append(("sync_target", t, updates))
    return events


def _check_schedule(run, cfg, total: int, threaded: bool = False) -> None:
    expected = _expected_events(cfg, total)
    if threaded:
        # The threaded learner reports an update when the next one is submitted, with
        # ``learner.num_updates`` read then: it counts the next update too if that one has
        # already finished (a race), so only the agent steps are compared for updates.
        assert [e[:2] for e in run.events] == [e[:2] for e in expected]
        assert [e for e in run.events if e[0] == "sync_target"] == [
            e for e in expected if e[0] == "sync_target"]
    else:
        assert run.events == expected
    updates = sum(e[0] == "update" for e in expected)
    assert updates == UPDATES and run.learner.num_updates == updates
    for slot in run.slots:
        assert slot.stats.updates == updates and slot.stats.train_agent_steps == total
        assert torch.isfinite(slot.stats.loss_sum) and float(slot.stats.loss_sum) > 0


def _check_games(run, cfg, total: int, phase_starts=(0, PHASES[0])) -> None:
    """Each seed's games: ended at the right agent steps, logged with their epsilon."""
    n = cfg.env.num_envs
    # In a phase from step s, actor i takes total agent steps s + i + 1, s + n + i + 1, ...
    # (the last round steps only the actors needed to reach the phase's end); an actor's
    # games end every 9 of its own steps.
    def actor_of(step: int) -> int:
        start = max(s for s in phase_starts if s < step)
        return (step - start - 1) % n

    per_actor = {i: [t for t in range(1, total + 1) if actor_of(t) == i] for i in range(n)}
    expected = sorted(steps[k] for steps in per_actor.values()
                      for k in range(GAME_STEPS - 1, len(steps), GAME_STEPS))
    for games, slot in zip(run.games, run.slots, strict=True):
        assert [step for _, step, _ in games] == expected
        for game, step, epsilon in games:
            assert epsilon == pytest.approx(run.schedule.epsilon(step - 1))  # chosen at t - 1
            assert game.length_agent_steps == GAME_STEPS and not game.truncated
        assert slot.stats.train_returns == [g.raw_return for g, _, _ in games]
        assert len({e for _, _, e in games}) > 2  # the schedule moved within these games


@pytest.fixture(scope="module")
def lockstep(base_cfg):
    """Seeds 0 and 1 with two actors each: alone (in-line) and together (stacked)."""
    cfg = _cfg(base_cfg, 2)
    return SimpleNamespace(cfg=cfg, alone=[_train(cfg, [s]) for s in (0, 1)],
                           packed=_train(cfg, [0, 1]))


def test_one_seed_in_line_updates_and_logs_on_schedule(lockstep):
    for run in lockstep.alone:
        assert type(run.learner) is InlineLearner
        _check_schedule(run, lockstep.cfg, TOTAL)
        _check_games(run, lockstep.cfg, TOTAL)
        assert run.reached == list(PHASES)


def test_two_seeds_stacked_update_and_log_on_the_same_schedule(lockstep):
    run = lockstep.packed
    assert type(run.learner) is StackedLearner
    _check_schedule(run, lockstep.cfg, TOTAL)
    _check_games(run, lockstep.cfg, TOTAL)
    assert run.reached == list(PHASES)
    actions = [slot.replay.head(0).actions for slot in run.slots]
    assert not np.array_equal(*actions)  # two seeds, not one seed twice


def test_a_packed_seed_steps_and_draws_as_alone(lockstep):
    """Before learning starts every action is random: seed k's games packed are those of seed k
    alone, game for game (its actors in its order, its generator's draws), and its replay
    holds the same transitions."""
    starts = lockstep.cfg.agent.learning_starts_agent_steps
    for k, alone in enumerate(lockstep.alone):
        packed = [(g, t) for g, t, _ in lockstep.packed.games[k] if t <= starts]
        assert len(packed) >= 2
        assert packed == [(g, t) for g, t, _ in alone.games[0] if t <= starts]
        for p_head, a_head in zip(lockstep.packed.slots[k].replay.heads,
                                  alone.slots[0].replay.heads, strict=True):
            for name in ("actions", "rewards", "flags"):  # each actor's first 8 agent steps
                np.testing.assert_array_equal(getattr(p_head, name)[:8],
                                              getattr(a_head, name)[:8], err_msg=name)


@pytest.mark.parametrize("num_envs,overlap", [(1, True), (3, False), (4, True)])
def test_actors_and_overlap_keep_the_schedule_in_total_agent_steps(base_cfg, num_envs, overlap):
    cfg = _cfg(base_cfg, num_envs, overlap)
    run = _train(cfg, [0])
    assert type(run.learner) is (ThreadedLearner if overlap else InlineLearner)
    _check_schedule(run, cfg, TOTAL, threaded=overlap)
    _check_games(run, cfg, TOTAL)
    (slot,) = run.slots
    assert len(slot.replay.heads) == num_envs and slot.replay.num_added == TOTAL
    per_phase = [len(range(k, 25, num_envs)) for k in range(num_envs)]  # partial last round
    assert [h.num_added for h in slot.replay.heads] == [2 * c for c in per_phase]


def test_a_stop_ends_the_phase_at_the_step_reached_and_continuing_changes_nothing(base_cfg):
    """Threaded, 2 actors: stopped before round 13 (agent step 24, whose update is in flight),
    then the phase run again to its end: the straight phases' events and games.

    (K = 2 stops through the same lines; whole packed runs stopped and resumed are in
    test_packed.py, a stop's checkpoints in test_runner.py.)"""
    cfg = _cfg(base_cfg, 2, overlap=True)
    run = _train(cfg, [0], phases=(25, 25, 50), stop_at_round=13)
    assert run.reached == [24, 25, 50]
    at_stop = run.after_phase[0]
    assert at_stop["updates"] == 2  # agent steps 20 and 24
    assert at_stop["stats"] == [(2, 24)]  # accounted, the one in flight too
    assert at_stop["last_game_step"] <= 24
    _check_schedule(run, cfg, TOTAL, threaded=True)
    _check_games(run, cfg, TOTAL, phase_starts=(0, 24, 25))


# ------------------------------------------------------------------------- evaluation

EVAL_CAP_FRAMES = {0: 400, 1: 160}  # Pong games of at most 100 and 40 agent steps
BUDGET = 60  # agent steps: seed 0 plays one game, seed 1 two (the second past the budget)
EVAL_AGENT, EVAL_OPTIM = AgentConfig(device="cpu"), OptimConfig()


def _eval_slot(seed: int, games: list) -> EvalSlot:
    """Seed ``seed``'s evaluation phase: its env, its agent at epsilon 0.05, its generator."""
    env_cfg = EnvConfig(game="pong", max_episode_frames_eval_phase=EVAL_CAP_FRAMES[seed])
    env = make_env(env_cfg, seed=seed_streams.eval_phase_env_seed(seed, 0), mode="eval_phase")
    agent = DQNAgent(env.num_actions, EVAL_AGENT, EVAL_OPTIM, 4, seed)
    rng = seed_streams.eval_phase_action_rng(seed, 0)
    return EvalSlot(make_actor(env, env_cfg), lambda state: agent.act(state, 0.05, rng),
                    games.append)


def _never() -> bool:
    return False


def test_eval_phase_plays_whole_games_to_each_budget_and_lockstep_changes_nothing():
    games = [[], []]
    slots = [_eval_slot(seed, g) for seed, g in zip((0, 1), games, strict=True)]
    returns = eval_phase(slots, min_agent_steps=BUDGET, stop_requested=_never)
    played = []
    for k, slot in enumerate(slots):
        lengths = [g.length_agent_steps for g in games[k]]
        assert returns[k] == [g.raw_return for g in games[k]]
        assert sum(lengths[:-1]) < BUDGET <= sum(lengths)  # whole games; the last one finished
        assert slot.actor.length_agent_steps == 0  # no game left in progress
        assert all(g.length_frames <= EVAL_CAP_FRAMES[k] for g in games[k])
        played.append(sum(lengths))
    assert played[0] > played[1]  # seed 1 waited for seed 0's last game
    for seed in (0, 1):  # each seed alone: the same games
        alone_games = []
        alone = eval_phase([_eval_slot(seed, alone_games)], min_agent_steps=BUDGET,
                           stop_requested=_never)
        assert alone == [returns[seed]] and alone_games == games[seed]


def test_a_stopped_eval_phase_returns_none_and_a_zero_budget_only_finishes_games():
    games = [[], []]
    slots = [_eval_slot(seed, g) for seed, g in zip((0, 1), games, strict=True)]
    checks = [0]

    def stop_after_30_rounds() -> bool:
        checks[0] += 1
        return checks[0] > 30

    assert eval_phase(slots, min_agent_steps=BUDGET, stop_requested=stop_after_30_rounds) is None
    assert checks[0] == 31  # checked before every round
    assert games == [[], []] and [s.actor.length_agent_steps for s in slots] == [30, 30]
    # With no budget left, only the games in progress are played to their end.
    returns = eval_phase(slots, min_agent_steps=0, stop_requested=_never)
    assert [len(r) for r in returns] == [1, 1] and [len(g) for g in games] == [1, 1]
    assert all(g[0].length_agent_steps > 30 for g in games)
    assert [s.actor.length_agent_steps for s in slots] == [0, 0]
    assert eval_phase(slots, min_agent_steps=0, stop_requested=_never) == [[], []]
    assert [s.actor.length_agent_steps for s in slots] == [0, 0]
