"""End to end: presets compose, the smoke run trains/evaluates/checkpoints/resumes, errors are clear."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, compose, run_module
from omegaconf import OmegaConf

from dqn_atari.agent import DQNAgent
from dqn_atari.compose import CONF_DIR
from dqn_atari.config import Config
from dqn_atari.config_checks import ConfigError, validate_config
from dqn_atari.envs import make_env
from dqn_atari.loop import NonFiniteLossError
from dqn_atari.run.runner import Runner

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_preset_composes_and_instantiates(experiment):
    cfg = compose([f"experiment={experiment}", "replay.capacity=100000"])
    typed = OmegaConf.to_object(cfg)  # type-checks every value against the schema
    assert isinstance(typed, Config)
    assert cfg.run_dir == f"runs/{cfg.experiment_name}/{cfg.env.game}/seed_0"
    validate_config(cfg)
    env = make_env(cfg.env, seed=0, mode="train")
    agent = DQNAgent(env.num_actions, cfg.agent, cfg.optim, cfg.env.stack_frames)
    assert agent.act(np.zeros((4, 84, 84), np.uint8), 0.0, np.random.default_rng(0)) in range(
        env.num_actions
    )
    from dqn_atari.replay import make_replay

    assert make_replay(cfg, seed=0).capacity == 100_000


def test_nature_preset_is_the_paper_setting():
    cfg = compose([])
    assert cfg.experiment_name == "nature"
    assert cfg.optim.name == "rmsprop_centered" and cfg.optim.lr == 2.5e-4
    assert cfg.optim.eps == pytest.approx(0.01 / 32**2)
    assert cfg.agent.target_update_period_agent_steps == 10_000
    assert cfg.agent.update_period_agent_steps == 4 and cfg.agent.batch_size == 32
    assert cfg.agent.learning_starts_agent_steps == 50_000
    assert cfg.agent.epsilon_decay_agent_steps == 1_000_000 and cfg.agent.epsilon_end == 0.1
    assert cfg.replay.capacity == 1_000_000
    assert cfg.agent.epsilon_decay_start_agent_steps == cfg.agent.learning_starts_agent_steps
    assert cfg.env.max_episode_frames_eval_phase == 108_000  # DQN Zoo's in-training eval cap
    assert cfg.env.max_episode_frames_eval == 18_000  # the final protocol's 5 minutes
    fast = compose(["experiment=fast"])
    assert fast.agent.epsilon_decay_start_agent_steps == 0  # CleanRL decays from step 0
    assert "NOT the Nature setting" in fast.experiment_note
    assert fast.agent.epsilon_decay_agent_steps == fast.total_frames // 4 // 10
    assert compose(["experiment=nature_double"]).agent.double_dqn


def test_nature_budget_is_200m_frames_50m_agent_steps_200_iterations():
    """DeepMind's code trained 50M agent steps; DQN Zoo and Dopamine run 200M frames."""
    for experiment in ("nature", "nature_double"):
        cfg = compose([f"experiment={experiment}"])
        frames = cfg.total_frames
        agent_steps = frames // cfg.env.action_repeat_frames
        iterations = agent_steps // cfg.train_agent_steps_per_iteration
        assert (frames, agent_steps, iterations) == (200_000_000, 50_000_000, 200)
        assert cfg.train_agent_steps_per_iteration * cfg.env.action_repeat_frames == 1_000_000


def test_dopamine_dqn_preset_is_dopamines_dqn_gin():
    cfg = compose(["experiment=dopamine_dqn"])
    env, agent, optim = cfg.env, cfg.agent, cfg.optim
    assert (env.sticky_actions, env.noop_max_frames, env.terminal_on_life_loss) == (True, 0, False)
    assert env.max_episode_frames_train // env.action_repeat_frames == 27_000
    assert (agent.epsilon_start, agent.epsilon_end, agent.epsilon_eval) == (1.0, 0.01, 0.001)
    assert agent.epsilon_decay_agent_steps == 250_000
    assert agent.epsilon_decay_start_agent_steps == agent.learning_starts_agent_steps == 20_000
    assert agent.target_update_period_agent_steps == 8_000 and agent.update_period_agent_steps == 4
    assert (optim.name, optim.lr, optim.decay, optim.eps) == ("rmsprop_centered", 2.5e-4, 0.95, 1e-5)
    assert agent.huber_delta == 1.0 and cfg.replay.capacity == 1_000_000
    assert cfg.train_agent_steps_per_iteration == 250_000
    assert cfg.total_frames // 4 // cfg.train_agent_steps_per_iteration == 200
    # Dopamine's network and TF1's RMSProp (issue 20)
    assert (agent.conv_padding, agent.init) == ("same", "glorot_uniform_zero_bias")
    assert agent.target_init == "independent" and optim.initial_mean_square == 1.0


def test_dopamine_dqn_preset_builds_dopamines_network_and_optimizer():
    cfg = compose(["experiment=dopamine_dqn", "agent.device=cpu"])
    agent = DQNAgent(18, cfg.agent, cfg.optim, cfg.env.stack_frames, seed=0)
    assert agent.online.num_features == 7744
    assert sum(p.numel() for p in agent.online.parameters()) == 4_052_658
    assert float(agent.online.head[0].bias.detach().abs().max()) == 0.0  # zero biases
    # the target is its own draw, not a copy
    assert not torch.equal(agent.online.head[0].weight, agent.target.head[0].weight)
    assert agent.optimizer.param_groups[0]["initial_mean_square"] == 1.0
    # the Nature network under Dopamine's settings stays reachable by override
    nature_net = compose(["experiment=dopamine_dqn", "agent.device=cpu", "agent.conv_padding=valid",
                          "agent.init=fan_in_uniform", "agent.target_init=copy",
                          "optim.initial_mean_square=0"])
    old = DQNAgent(18, nature_net.agent, nature_net.optim, 4, seed=0)
    assert old.online.num_features == 3136
    assert old.optimizer.param_groups[0]["initial_mean_square"] == 0.0
    assert all(torch.equal(a, b) for a, b in zip(old.online.parameters(), old.target.parameters()))


def test_mistyped_override_is_an_error_with_a_suggestion():
    result = run_module("dqn_atari.train", "agent.lr=1e-4")
    assert result.returncode == 2
    assert "optim.lr" in result.stderr
    result = run_module("dqn_atari.train", "experiment=natrue")
    assert result.returncode == 2 and "nature" in result.stderr
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="batch_sizee"):
        compose(["agent.batch_sizee=3"])
    with pytest.raises(ConfigCompositionException, match="batch_size"):
        compose(["agent.batch_size=many"])  # wrong type: the schema refuses it


@pytest.mark.parametrize(
    "overrides,match",
    [
        (["agent.batch_size=64", "replay.capacity=50"], "agent.batch_size=64 is larger"),
        (["replay.capacity=500", "agent.learning_starts_agent_steps=1000"], "exceeds replay"),
    ],
)
def test_impossible_settings_name_the_fix(overrides, match):
    cfg = compose(["experiment=smoke", *overrides])
    with pytest.raises(ConfigError, match=match):
        validate_config(cfg)


def test_unwritable_run_dir_names_the_fix(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    cfg = compose(["experiment=smoke", f"run_dir={blocker}/run", "logger.wandb_mode=disabled"])
    with pytest.raises(ConfigError, match="not writable.*run_dir="):
        Runner(cfg)


def test_missing_checkpoint_names_the_fix(tmp_path):
    result = run_module("dqn_atari.evaluate", f"run_dir={tmp_path}")
    assert result.returncode == 2
    assert "no checkpoint" in result.stderr and "train first" in result.stderr


def _digest(paths: list[Path]) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    base = ["experiment=smoke", f"run_dir={tmp_path}", "logger.wandb_mode=disabled",
            "eval_agent_steps_per_iteration=0"]
    Runner(compose([*base, "total_frames=800"])).run()  # one good iteration, checkpointed
    checkpoints = sorted((tmp_path / "checkpoints").glob("ckpt_*.pt"))
    before = _digest(checkpoints)
    runner = Runner(compose([*base, "total_frames=2400"]))
    assert runner.resume()[0] is not None
    runner.seed_runs[0].replay.head(0).rewards[:] = np.nan  # poison the learning signal
    with pytest.raises(NonFiniteLossError, match="last good one is untouched"):
        runner.run()
    assert _digest(sorted((tmp_path / "checkpoints").glob("ckpt_*.pt"))) == before


def _train_cmd(run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "dqn_atari.train", "experiment=smoke", f"run_dir={run_dir}",
            "logger.wandb_mode=offline", *extra]


def _comparable(rows, drop=("wall_time_s", "train_agent_steps_per_s")):
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


def test_smoke_train_eval_checkpoint_sigterm_resume(tmp_path):
    """Kill a real-game run with SIGTERM mid-run, resume it: same final counters and metrics."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    straight = tmp_path / "straight"
    done = subprocess.run(_train_cmd(straight), check=False, cwd=REPO, env=env,
                          capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = json.loads((straight / "summary.json").read_text())
    assert expected["status"] == "finished"
    assert expected["agent_steps"] == 600 and expected["frames"] == 2400
    assert expected["iteration"] == 3
    assert len(sorted((straight / "checkpoints").glob("ckpt_*.pt"))) == 2  # the last two kept
    assert len(_rows(straight / "metrics" / "iterations.csv")) == 3

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(killed), cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not list((killed / "checkpoints").glob("ckpt_*.pt")) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # well into the second iteration
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 124, err[-2000:]
    interrupted = json.loads((killed / "summary.json").read_text())
    assert interrupted["status"] == "interrupted" and interrupted["signal"] == "SIGTERM"
    assert 0 < interrupted["agent_steps"] < 600
    assert "run the same command to resume" in out

    resumed = subprocess.run(_train_cmd(killed), check=False, cwd=REPO, env=env,
                             capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stdout
    final = json.loads((killed / "summary.json").read_text())
    for key in ("status", "agent_steps", "frames", "updates", "iteration"):
        assert final[key] == expected[key], key
    # Not a step lost or counted twice: the same episodes at the same agent steps.
    assert _comparable(_rows(killed / "metrics" / "episodes.csv")) == _comparable(
        _rows(straight / "metrics" / "episodes.csv"))
    assert [r["updates"] for r in _rows(killed / "metrics" / "iterations.csv")] == [
        r["updates"] for r in _rows(straight / "metrics" / "iterations.csv")]
    # The same wandb run (deterministic id) continued offline.
    runs = list((killed / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and len({p.name.rsplit("-", 1)[-1] for p in runs}) == 1

    report = run_module("dqn_atari.evaluate", f"run_dir={killed}", "episodes=2", timeout=600)
    assert report.returncode == 0, report.stderr[-2000:]
    evaluation = json.loads((killed / "eval_nature.json").read_text())
    assert evaluation["episodes"] == 2 and len(evaluation["scores"]) == 2
    assert evaluation["protocol"]["max_episode_frames"] == 18_000
    assert evaluation["mean"] == pytest.approx(np.mean(evaluation["scores"]))
    assert -21 <= evaluation["mean"] <= 21
    assert evaluation["human_normalized"] is not None


def test_corrupt_latest_checkpoint_falls_back_with_a_warning(tmp_path):
    base = ["experiment=smoke", f"run_dir={tmp_path}", "logger.wandb_mode=disabled",
            "eval_agent_steps_per_iteration=0", "total_frames=1600"]
    Runner(compose(base)).run()
    newest, older = sorted((tmp_path / "checkpoints").glob("ckpt_*.pt"), reverse=True)
    newest.write_bytes(newest.read_bytes()[:1000])  # a crash mid-write of a non-atomic writer
    runner = Runner(compose(base))
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert runner.resume()[0] == older
    assert runner.seed_runs[0].agent_steps == int(older.stem.split("_")[1])
