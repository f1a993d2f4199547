"""Parallel actors (env.num_envs) and overlapped learning (agent.overlap) against one actor.

* ale-py's AtariVectorEnv is checked against NatureAtariEnv (why it is not used), and
  ``ALEInterface.act`` holds the GIL (why the actors are not stepped in threads);
* with random actions, overlap is bit-identical to the sequential loop in whole runs (same
  events, games, losses and parameters), with one actor and with four;
* a run with N actors and overlap, stopped mid-iteration and resumed, equals the straight
  run, also from a checkpoint of format 1; another env.num_envs on resume is refused.

That N actors and overlap keep the schedule of updates, target copies and epsilon in total
agent steps is checked on the loop itself, in test_loop.py.
"""

from __future__ import annotations

import csv
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import compose

from dqn_atari.envs import NatureAtariEnv
from dqn_atari.run.runner import Runner

SMOKE = ["experiment=smoke", "logger.wandb_mode=disabled", "eval_agent_steps_per_iteration=0",
         "torch_threads=1"]


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _comparable(rows, drop=("wall_time_s", "train_agent_steps_per_s")):
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


def _run(run_dir: Path, *overrides: str, stop_at: int | None = None):
    """A smoke run in this process; returns (runner, summary, loop events)."""
    runner = Runner(compose([*SMOKE, f"run_dir={run_dir}", *overrides]))
    events: list[tuple[str, int, int]] = []

    def hook(event: str, step: int, updates: int) -> None:
        events.append((event, step, updates))
        if stop_at is not None and step >= stop_at:
            runner.request_stop(signal.SIGTERM)  # as the signal handler does

    runner.on_loop_event = hook
    (summary,) = runner.run()
    return runner, summary, events


def _assert_same_run(tmp_path: Path, straight: Runner, expected: dict, resumed: Runner,
                     final: dict) -> None:
    """The resumed run (tmp_path/resumed) ended exactly as the straight one (tmp_path/straight)."""
    for key in ("status", "agent_steps", "frames", "updates", "iteration"):
        assert final[key] == expected[key], key
    for name in ("episodes.csv", "iterations.csv"):
        assert _comparable(_rows(tmp_path / "straight" / "metrics" / name)) == _comparable(
            _rows(tmp_path / "resumed" / "metrics" / name))
    for a, b in zip(_params(straight), _params(resumed), strict=True):
        assert torch.equal(a, b)


def _params(runner: Runner) -> list[torch.Tensor]:
    return [p.detach().clone() for p in runner.seed_runs[0].agent.online.parameters()] + [
        p.detach().clone() for p in runner.seed_runs[0].agent.target.parameters()]


# ----------------------------------------------------------- ale-py's vector env


def test_ale_vector_env_matches_nature_env_except_at_game_end():
    """Same frames, raw rewards and terminals (no-ops off); the game-over frame is stale."""
    from ale_py.vector_env import AtariVectorEnv

    for game in ("pong", "breakout"):
        vec = AtariVectorEnv(
            game, 1, stack_num=1, noop_max=0, frameskip=4, maxpool=True, grayscale=True,
            img_height=84, img_width=84, reward_clipping=False, episodic_life=False,
            life_loss_info=True, use_fire_reset=False, repeat_action_probability=0.0,
            full_action_space=False, max_num_frames_per_episode=108_000,
        )
        env = NatureAtariEnv(game, 0, noop_max_frames=0)
        assert vec.single_action_space.n == env.num_actions  # the minimal action set
        obs, _ = vec.reset(seed=0)
        np.testing.assert_array_equal(obs[0, 0], env.reset())
        rng = np.random.default_rng(0)
        life_losses = 0
        for _ in range(20_000):
            action = int(rng.integers(env.num_actions))
            obs, reward, terminated, truncated, info = vec.step(np.array([action]))
            result = env.step(action)
            assert reward[0] == result.reward  # raw (unclipped)
            assert bool(terminated[0]) == (result.game_over or result.life_lost)
            assert not truncated[0] and not result.truncated
            if result.game_over:  # ended inside the action repeat: not the last frame
                break
            np.testing.assert_array_equal(obs[0, 0], result.frame)
            assert info["lives"][0] == env.lives  # a lost life does not reset the game
            life_losses += result.life_lost
        assert result.game_over
        if game == "breakout":
            assert life_losses == 4
        vec.close()


def test_ale_vector_env_noops_are_one_short_of_noop_max():
    """noop_max=n draws U{0..n-1} no-op frames: the paper's U{0..30} needs noop_max=31."""
    from ale_py.vector_env import AtariVectorEnv

    vec = AtariVectorEnv("pong", 64, stack_num=1, noop_max=31, use_fire_reset=False,
                         reward_clipping=False, repeat_action_probability=0.0)
    _, info = vec.reset(seed=0)
    frames = info["episode_frame_number"]
    assert frames.min() >= 0 and frames.max() <= 30 and len(set(frames.tolist())) > 10
    vec.close()


# ------------------------------------------------------------------ the batched loop


@pytest.mark.parametrize("num_envs", [1, 4])
def test_overlap_is_bit_identical_to_sequential_with_random_actions(tmp_path, num_envs):
    random_actions = ["agent.epsilon_start=1.0", "agent.epsilon_end=1.0",
                      f"env.num_envs={num_envs}"]
    seq, _, seq_events = _run(tmp_path / "seq", *random_actions)
    ovl, _, ovl_events = _run(tmp_path / "ovl", *random_actions, "agent.overlap=true")
    assert seq_events == ovl_events
    for name in ("episodes.csv", "iterations.csv"):
        assert _comparable(_rows(tmp_path / "seq" / "metrics" / name)) == _comparable(
            _rows(tmp_path / "ovl" / "metrics" / name))
    for a, b in zip(_params(seq), _params(ovl), strict=True):
        assert torch.equal(a, b)


def test_vector_overlap_run_stopped_and_resumed_equals_the_straight_run(tmp_path):
    overrides = ["env.num_envs=3", "agent.overlap=true"]
    straight, expected, _ = _run(tmp_path / "straight", *overrides)
    _, stopped, _ = _run(tmp_path / "resumed", *overrides, stop_at=300)  # mid iteration 2
    assert stopped["status"] == "interrupted" and 300 <= stopped["agent_steps"] < 400
    resumed, final, _ = _run(tmp_path / "resumed", *overrides)
    assert resumed.seed_runs[0].resumed_from is not None
    _assert_same_run(tmp_path, straight, expected, resumed, final)


def _as_format_1(state: dict) -> dict:
    """A checkpoint as the version before loop.py, learner.py and replay/ wrote it (format 1)."""
    from test_replay_heads import _as_format_1 as replay_as_format_1

    old = {k: v for k, v in state.items() if k != "learner"}
    old["format"] = 1
    old["replay"] = replay_as_format_1(state["replay"])
    actors = state["actor"]["actors"]
    policy = (state["learner"] or {}).get("acting_network")
    if len(actors) == 1 and policy is None:  # one actor, no overlap: its state as is
        old["actor"] = actors[0]
    else:
        old["actor"] = {"num_envs": len(actors), "actors": actors, "policy": policy}
    return old


def test_format_1_actor_states_are_read_for_one_actor_and_for_several():
    from dqn_atari.run.seed_run import actor_and_learner_states

    one = {"env": "e", "stack": "s"}  # format 1, one actor without overlap: its state as is
    assert actor_and_learner_states({"actor": one}) == ([one], None)
    several = {"num_envs": 2, "actors": [one, one], "policy": {"w": 1}}
    assert actor_and_learner_states({"actor": several}) == ([one, one],
                                                             {"acting_network": {"w": 1}})
    current = {"actor": {"num_envs": 1, "actors": [one]}, "learner": None}
    assert actor_and_learner_states(current) == ([one], None)


def test_a_format_1_checkpoint_resumes_exactly(tmp_path):
    """Three actors with overlap: format 1 kept the acting network in the actor state."""
    from dqn_atari.run.checkpoint import checkpoint_paths, load_checkpoint, save_checkpoint

    overrides = ["env.num_envs=3", "agent.overlap=true"]
    straight, expected, _ = _run(tmp_path / "straight", *overrides)
    _, stopped, _ = _run(tmp_path / "resumed", *overrides, stop_at=300)
    assert stopped["status"] == "interrupted"
    latest = checkpoint_paths(tmp_path / "resumed")[0]
    state = load_checkpoint(latest)
    assert state["format"] == 2
    save_checkpoint(tmp_path / "resumed", _as_format_1(state), state["counters"]["agent_steps"])
    resumed, final, _ = _run(tmp_path / "resumed", *overrides)
    assert resumed.seed_runs[0].resumed_from == latest
    _assert_same_run(tmp_path, straight, expected, resumed, final)


def test_resume_with_another_num_envs_names_the_fix(tmp_path):
    _run(tmp_path, "env.num_envs=2", "total_frames=800")
    runner = Runner(compose([*SMOKE, f"run_dir={tmp_path}", "env.num_envs=3"]))
    with pytest.raises(ValueError, match="env.num_envs"):
        runner.resume()


def test_ale_act_holds_the_gil():
    """Why the actors' envs are not stepped in a thread pool: ALEInterface.act keeps the GIL.

    With a long switch interval the GIL changes hands only when released; a pure-Python
    thread makes no progress while ALE steps, but does while the main thread sleeps.
    """
    import sys
    import threading
    import time

    env = NatureAtariEnv("pong", 0)
    count, stop = [0], [False]

    def spin():
        while not stop[0]:
            count[0] += 1

    previous = sys.getswitchinterval()
    sys.setswitchinterval(2.0)
    try:
        thread = threading.Thread(target=spin)
        thread.start()
        before = count[0]
        for _ in range(500):
            env.ale.act(env._actions[0])
        during_ale = count[0] - before
        before = count[0]
        deadline = time.monotonic() + 10.0  # on busy cores the spinning thread waits for one
        while count[0] - before <= 1000 and time.monotonic() < deadline:
            time.sleep(0.01)  # releases the GIL: the spinning thread keeps it for ~2 s
        during_sleep = count[0] - before
        stop[0] = True
        thread.join()
    finally:
        sys.setswitchinterval(previous)
    assert during_ale == 0 and during_sleep > 1000
