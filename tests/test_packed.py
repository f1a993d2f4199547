"""Packed seeds (``seeds=[...]``): K runs in one process must each come out as if run alone.

What is guaranteed, on any CPU. The packed update runs other kernels than K single updates
(a grouped convolution, batched matrix products), which sum in another order:

* the maths is the same: in float64 one packed update equals K single updates, and a whole
  packed run equals two single runs (same games, parameters to 1e-10 of their scale; measured
  1e-15). Rounding at 2**-52 cannot hide a wrong formula, a mixed-up seed or a missing step;
* in float32, the precision runs use, one update differs only by rounding: bounded below
  from the float32 epsilon and the longest sum in the update (``fp32_update_tolerance``).
  Over a whole run there is no such bound: where one run's rounding puts a ReLU input or a
  Huber error on the other side of its kink, the two trajectories separate by a step's
  size, not by rounding (measured on catch, seed 1, 61 updates, on an AMD EPYC Zen 4: 3e-9
  up to update 18, then 1e-5, then 3e-4, 6% of how far the parameters moved; an Intel
  Emerald Rapids gave 1e-7, which a fixed 1e-6 once passed). So whole runs are compared in float64, and in float32 only what does
  not depend on rounding (the schedule of updates and target copies, the counters).

The tests:

* the vmapped update of K seeds against K ``DQNAgent.update``s on the same batches
  (plain, gradient clipping per seed, Double DQN), in float64 and in float32;
* a packed K=2 run of the catch game against two single runs, in float64: the same updates
  and target copies at the same agent steps, the same games (so the same actions),
  parameters equal to float64 rounding;
* a packed run stopped mid-iteration (``request_stop``, as SIGTERM does) and resumed ends
  exactly as the straight packed run, every seed;
* bad seed lists and settings that cannot be packed are refused with the fix.
"""

from __future__ import annotations

import csv
import json
import signal
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import compose, run_module
from tolerances import (
    FLOAT64_REL_TOLERANCE,
    LONGEST_SUM_TERMS,
    assert_close_to_scale,
    fp32_update_tolerance,
    max_moved,
)

from dqn_atari.agent import DQNAgent
from dqn_atari.config_checks import ConfigError
from dqn_atari.run.runner import Runner
from dqn_atari.run.seed_run import seed_configs
from dqn_atari.run.status_file import read_status
from dqn_atari.stacked_learner import StackedLearner

# Catch, small: 300 agent steps in 2 iterations, updates of 8 from agent step 60
# ((300 - 60) / 4 + 1 = 61 updates per seed), target copies every 50 agent steps.
TINY = ["experiment=catch", "optim=rmsprop_centered", "logger.wandb_mode=disabled",
        "logger.progress_bar=false", "torch_threads=1", "agent.device=cpu",
        "total_frames=1200", "train_agent_steps_per_iteration=150",
        "eval_agent_steps_per_iteration=18", "agent.learning_starts_agent_steps=60",
        "agent.batch_size=8", "agent.target_update_period_agent_steps=50",
        "agent.epsilon_decay_agent_steps=100", "replay.capacity=400"]
SEEDS = (0, 1)
@contextmanager
def default_dtype(dtype: torch.dtype):
    """Networks and optimizer state built inside are ``dtype`` (the loop casts frames to it)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _without(rows, drop):
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


def _params(agent) -> list[torch.Tensor]:
    return [p.detach().clone() for p in [*agent.online.parameters(), *agent.target.parameters()]]


def _packed(root: Path, *overrides: str, stop_at: int | None = None):
    cfg = compose([*TINY, "seeds=[0,1]", f"run_dir={root}/seed_${{seed}}", *overrides])
    runner = Runner(seed_configs(cfg))
    events: list[tuple[str, int, int]] = []

    def hook(event: str, step: int, updates: int) -> None:
        events.append((event, step, updates))
        if stop_at is not None and step >= stop_at:
            runner.request_stop(signal.SIGTERM)  # as the signal handler does

    runner.on_loop_event = hook
    return runner, runner.run(), events


@pytest.fixture(scope="module")
def straight64(tmp_path_factory):
    """Two single runs and the same two seeds packed, straight through, in float64."""
    root = tmp_path_factory.mktemp("packed64")
    singles = []
    with default_dtype(torch.float64):
        for seed in SEEDS:
            runner = Runner(compose([*TINY, f"seed={seed}",
                                     f"run_dir={root}/single/seed_{seed}"]))
            events: list = []
            runner.on_loop_event = lambda e, t, u, events=events: events.append((e, t, u))
            singles.append((runner, runner.run()[0], events))
        packed = _packed(root / "packed")
    return SimpleNamespace(root=root, singles=singles, packed=packed)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The two seeds packed, straight through, in float32 (as runs are)."""
    root = tmp_path_factory.mktemp("packed")
    return SimpleNamespace(root=root, packed=_packed(root / "packed"))


# ----------------------------------------------------------------- the vmapped update


def _random_batch(rng: np.random.Generator, size: int = 8):
    return SimpleNamespace(
        frames=rng.integers(0, 256, (size, 5, 84, 84), dtype=np.uint8),
        actions=rng.integers(0, 4, size), rewards=rng.choice([-1.0, 0.0, 1.0], size).astype(
            np.float32), terminals=(rng.random(size) < 0.1).astype(np.float32))


DOPAMINE_NETWORK = ["agent.conv_padding=same", "agent.init=glorot_uniform_zero_bias",
                    "agent.target_init=independent", "optim.initial_mean_square=1.0"]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("overrides", [[], ["optim.max_grad_norm=0.01"], ["agent.double_dqn=true"],
                                       DOPAMINE_NETWORK])
def test_vmapped_update_equals_one_update_per_seed(overrides, dtype):
    """Four updates and a target copy: the same maths in float64, rounding apart in float32."""
    torch.set_num_threads(1)
    updates = 4
    cfg = compose(["experiment=smoke", *overrides])
    with default_dtype(dtype):
        alone = [DQNAgent(4, cfg.agent, cfg.optim, 4, seed) for seed in SEEDS]
        initial = [[p.detach().clone() for p in a.online.parameters()] for a in alone]
        packed = StackedLearner([DQNAgent(4, cfg.agent, cfg.optim, 4, seed) for seed in SEEDS],
                               cfg.optim)
    rng = np.random.default_rng(7)
    for step in range(updates):
        batches = [_random_batch(rng) for _ in SEEDS]
        expected = [agent.update(batch) for agent, batch in zip(alone, batches, strict=True)]
        got = packed.update(batches)
        for e, g in zip(expected, got, strict=True):
            assert g["loss"].dtype == e["loss"].dtype == dtype
            rel = 1e-12 if dtype == torch.float64 else 1e-5
            assert float(g["loss"]) == pytest.approx(float(e["loss"]), rel=rel)
            assert float(g["mean_q"]) == pytest.approx(float(e["mean_q"]), rel=rel, abs=1e-7)
        if step == 1:
            for agent in alone:
                agent.sync_target()
            packed.sync_target()
    assert packed.num_updates == updates
    for k, agent in enumerate(alone):
        state = packed.seed_state_dict(k)
        reference = agent.state_dict()
        moved = max_moved(agent.online.parameters(), initial[k])
        assert moved > 0
        for key in ("online", "target"):
            for name, tensor in reference[key].items():
                assert state[key][name].dtype == dtype
                if dtype == torch.float64:
                    assert_close_to_scale(state[key][name], tensor, FLOAT64_REL_TOLERANCE,
                                           (key, name))
                else:
                    # SAME padding: fc1 sums 7,744 inputs, the longest sum of that network
                    terms = 7744 if overrides is DOPAMINE_NETWORK else LONGEST_SUM_TERMS
                    diff = float((state[key][name] - tensor).abs().max())
                    assert diff <= fp32_update_tolerance(updates, moved, terms), (key, name, diff)
        for index, moments in reference["optimizer"]["state"].items():
            for name, tensor in moments.items():
                # The moments are squares and means of gradients: relative to their scale.
                rel = FLOAT64_REL_TOLERANCE if dtype == torch.float64 else 1e-4
                assert_close_to_scale(state["optimizer"]["state"][index][name], tensor, rel,
                                       (index, name))
        # Seed 0 and seed 1 really are different networks (slices are not mixed up).
        assert not torch.allclose(packed.seed_state_dict(0)["online"]["torso.0.weight"],
                                  packed.seed_state_dict(1)["online"]["torso.0.weight"])
    if overrides == ["optim.max_grad_norm=0.01"] and dtype == torch.float32:
        # The clip acted: an unclipped agent on the same batches ends elsewhere.
        free = compose(["experiment=smoke"])
        unclipped = DQNAgent(4, free.agent, free.optim, 4, 0)
        rng = np.random.default_rng(7)
        for step in range(updates):
            unclipped.update(_random_batch(rng))
            _random_batch(rng)  # seed 1's batch
            if step == 1:
                unclipped.sync_target()
        assert not torch.allclose(unclipped.online.head[2].weight,
                                  alone[0].online.head[2].weight, atol=1e-6)


@pytest.mark.parametrize("optim", ["rmsprop_centered", "adam"])
def test_loading_seed_states_keeps_the_stacked_optimizer_tensors(optim):
    """load_seed_states copies the moments into the stacked state tensors (their storage is kept,
    issue 23 defect 5), and Adam's step count stays a CPU tensor, not capturable (the packed
    update is never captured), even from the checkpoints of a cuda_graph run (defect 2)."""
    cfg = compose(["experiment=smoke", f"optim={optim}"])
    rng = np.random.default_rng(3)
    learners = [StackedLearner([DQNAgent(4, cfg.agent, cfg.optim, 4, s + 10 * i) for s in SEEDS],
                              cfg.optim) for i in range(2)]
    for learner, updates in zip(learners, (1, 2), strict=True):
        for _ in range(updates):
            learner.update([_random_batch(rng, 4) for _ in SEEDS])
    source, target = learners

    def tensors():
        return [(index, key, value) for index, p in enumerate(target.online.values())
                for key, value in target.optimizer.state[p].items()]

    pointers = [(index, key, value.data_ptr()) for index, key, value in tensors()]
    states = [source.seed_state_dict(k) for k in range(len(SEEDS))]
    for state in states:
        for group in state["optimizer"]["param_groups"]:
            if "capturable" in group:
                group["capturable"] = True  # as a single run with agent.cuda_graph=true saves it
    target.load_seed_states(states, [None] * len(SEEDS))
    assert [(index, key, value.data_ptr()) for index, key, value in tensors()] == pointers
    expected = source.optimizer.state_dict()["state"]
    for index, key, value in tensors():
        assert torch.equal(value, expected[index][key]), (index, key)
        if key == "step":
            assert value.device.type == "cpu"
    assert all(not g.get("capturable", False) for g in target.optimizer.param_groups)


# ------------------------------------------------------------- whole runs, K = 2


def test_packed_seeds_come_out_as_if_run_alone(straight64):
    """In float64: the same events at the same agent steps, the same games, the same parameters."""
    straight = straight64
    packed_runner, packed_summaries, packed_events = straight.packed
    for k, (single, summary, events) in enumerate(straight.singles):
        assert packed_events == events  # updates and target copies: (event, agent step, updates)
        assert sum(e == "update" for e, _, _ in events) == 61  # (300 - 60) / 4 + 1
        for key in ("status", "agent_steps", "frames", "updates", "iteration"):
            assert packed_summaries[k][key] == summary[key], key
        seed_dir = straight.root / "packed" / f"seed_{SEEDS[k]}"
        alone_dir = straight.root / "single" / f"seed_{SEEDS[k]}"
        # Every game, train and eval, with its score and epsilon: the same actions were taken.
        drop = ("wall_time_s",)
        assert _without(_rows(seed_dir / "metrics" / "episodes.csv"), drop) == _without(
            _rows(alone_dir / "metrics" / "episodes.csv"), drop)
        packed_rows = _rows(seed_dir / "metrics" / "iterations.csv")
        alone_rows = _rows(alone_dir / "metrics" / "iterations.csv")
        drop = ("wall_time_s", "train_agent_steps_per_s", "loss", "mean_q")
        assert _without(packed_rows, drop) == _without(alone_rows, drop)
        for p, a in zip(packed_rows, alone_rows, strict=True):
            assert float(p["loss"]) == pytest.approx(float(a["loss"]), rel=1e-12)
        for p, a in zip(_params(packed_runner.seed_runs[k].agent), _params(single.seed_runs[0].agent),
                        strict=True):
            assert p.dtype == torch.float64
            assert_close_to_scale(p, a, FLOAT64_REL_TOLERANCE, "parameters")
        # The run dir is an ordinary single run's: seed set, seeds empty, its checkpoints.
        config = (seed_dir / "config.yaml").read_text()
        assert f"seed: {SEEDS[k]}\n" in config and "seeds: []" in config
        assert len(list((seed_dir / "checkpoints").glob("ckpt_*.pt"))) == 2
    # The two seeds differ (independent runs, not copies).
    assert _rows(straight.root / "packed" / "seed_0" / "metrics" / "episodes.csv") != _rows(
        straight.root / "packed" / "seed_1" / "metrics" / "episodes.csv")


def test_a_float32_packed_run_keeps_the_schedule_of_a_float64_one(straight, straight64):
    """What rounding cannot change: updates and target copies at the same agent steps, counts."""
    _, summaries32, events32 = straight.packed
    _, summaries64, events64 = straight64.packed
    assert events32 == events64
    for s32, s64 in zip(summaries32, summaries64, strict=True):
        for key in ("status", "agent_steps", "frames", "updates", "iteration"):
            assert s32[key] == s64[key], key
    for seed in SEEDS:
        games32 = _rows(straight.root / "packed" / f"seed_{seed}" / "metrics" / "episodes.csv")
        games64 = _rows(straight64.root / "packed" / f"seed_{seed}" / "metrics" /
                        "episodes.csv")
        # catch games last 9 agent steps whatever is played: the same games, one by one
        assert [(g["phase"], g["agent_steps"]) for g in games32] == \
            [(g["phase"], g["agent_steps"]) for g in games64]


def test_packed_run_stopped_and_resumed_equals_the_straight_run(straight, tmp_path):
    """SIGTERM mid-iteration 0 (request_stop): every seed checkpoints and resumes exactly."""
    _, summaries, _ = _packed(tmp_path, stop_at=100)
    assert [s["status"] for s in summaries] == ["interrupted", "interrupted"]
    assert {s["agent_steps"] for s in summaries} == {100}  # both seeds stopped together
    assert [read_status(tmp_path / f"seed_{s}")["state"] for s in SEEDS] == ["interrupted"] * 2
    # resumed with the end-of-run evaluation on (safe to change): each seed plays its games
    resumed, final, _ = _packed(tmp_path, "final_eval.enabled=true", "final_eval.episodes=2")
    straight_runner, expected, _ = straight.packed
    for seed in SEEDS:
        seed_dir = tmp_path / f"seed_{seed}"
        status = read_status(seed_dir)
        assert status["state"] == "finished" and status["last_eval"]["kind"] == "nature"
        report = json.loads((seed_dir / "eval_nature.json").read_text())
        assert report["seed"] == seed and report["episodes"] == 2
        starts = json.loads((seed_dir / "provenance.json").read_text())["starts"]
        assert [s["agent_steps_at_start"] for s in starts] == [0, 100]
    for k, seed in enumerate(SEEDS):
        for key in ("status", "agent_steps", "frames", "updates", "iteration"):
            assert final[k][key] == expected[k][key], key
        for name in ("episodes.csv", "iterations.csv"):
            drop = ("wall_time_s", "train_agent_steps_per_s")
            assert _without(_rows(tmp_path / f"seed_{seed}" / "metrics" / name), drop) == \
                _without(_rows(straight.root / "packed" / f"seed_{seed}" / "metrics" / name), drop)
        for a, b in zip(_params(straight_runner.seed_runs[k].agent),
                        _params(resumed.seed_runs[k].agent), strict=True):
            assert torch.equal(a, b)


def test_seeds_at_different_agent_steps_are_refused_naming_each(straight, tmp_path):
    """A seed whose newest checkpoint is gone (fell back) cannot be packed with the others."""
    _packed(tmp_path, stop_at=100)
    newest = max((tmp_path / "seed_1" / "checkpoints").glob("ckpt_*.pt"))
    newest.unlink()  # seed 1 now starts from scratch, seed 0 at agent step 100
    cfg = compose([*TINY, "seeds=[0,1]", f"run_dir={tmp_path}/seed_${{seed}}"])
    with pytest.raises(ConfigError, match=r"same agent step(.|\n)*seed 0: agent step 100"
                                          r"(.|\n)*seed 1: agent step 0"):
        Runner(seed_configs(cfg)).run()


# ------------------------------------------------------------------- bad input


# (a repeated seed and a run_dir without ${seed}: test_seed_run.py)
@pytest.mark.parametrize("overrides, match", [
    (["seeds=[0,1]", "agent.overlap=true"], r"agent.overlap=true"),
    (["seeds=[0,1]", "agent.compile=true"], r"agent.compile=false"),
    # Checked before the device: on this CPU-only machine agent.cuda_graph=true alone is
    # refused for want of CUDA, and a packed run on a GPU used to run eager without a word.
    (["seeds=[0,1]", "agent.cuda_graph=true"], r"agent.cuda_graph=false"),
])
def test_what_cannot_be_packed_is_refused_with_the_fix(overrides, match):
    with pytest.raises(ConfigError, match=match):
        seed_configs(compose([*TINY, *overrides]))


def test_the_command_line_refuses_a_repeated_seed_before_anything_runs(tmp_path):
    result = run_module("dqn_atari.train", *TINY, "seeds=[2,2]",
                        f"run_dir={tmp_path}/seed_${{seed}}")
    assert result.returncode == 2
    assert "more than once" in result.stderr
    assert not any(tmp_path.iterdir())  # nothing was created


def test_hydra_puts_a_packed_jobs_files_beside_the_seeds_run_dirs():
    """hydra.run.dir / sweep.subdir: packed_seeds_<s...> beside seed_<s>, never inside one."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from dqn_atari.compose import CONF_DIR

    compose([])  # registers the schema and resolvers
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        single, packed = (hydra_compose(config_name="config", return_hydra_config=True,
                                        overrides=["env.game=breakout", *extra])
                          for extra in (["seed=3"], ["seeds=[3,4]"]))
    assert single.hydra.run.dir == "runs/nature/breakout/seed_3"
    assert single.hydra.sweep.subdir == "nature/breakout/seed_3"
    assert packed.hydra.run.dir == "runs/nature/breakout/packed_seeds_3-4"
    assert packed.hydra.sweep.subdir == "nature/breakout/packed_seeds_3-4"
