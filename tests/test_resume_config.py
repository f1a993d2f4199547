"""A run started before a change of defaults resumes under the config it was started with."""

from __future__ import annotations

import csv

import yaml
from conftest import compose, run_module

from dqn_atari.run.resume_config import config_for_resume, explicit_override_keys
from dqn_atari.run.runner import Runner

SMOKE = ["experiment=smoke", "logger.wandb_mode=disabled", "eval_agent_steps_per_iteration=0"]


def _as_if_started_by_the_old_version(run_dir):
    """Rewrite config.yaml as the version before the schedule fix wrote it."""
    path = run_dir / "config.yaml"
    recorded = yaml.safe_load(path.read_text())
    del recorded["agent"]["epsilon_decay_start_agent_steps"]  # the key did not exist
    del recorded["agent"]["channels_last"]
    del recorded["env"]["max_episode_frames_eval_phase"]
    recorded["total_frames"] = 1600  # the preset's budget then: 2 iterations of 200
    recorded["env"]["resize_interpolation"] = "bilinear"  # renamed "linear" since
    path.write_text(yaml.safe_dump(recorded))


def test_old_run_keeps_its_budget_and_schedule_and_says_so(tmp_path):
    Runner(compose(SMOKE + [f"run_dir={tmp_path}", "total_frames=800"])).run()
    _as_if_started_by_the_old_version(tmp_path)

    result = run_module("dqn_atari.train", *SMOKE, f"run_dir={tmp_path}", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "under the config it was started with" in result.stdout
    assert "total_frames: 1600 as started (today's default: 2400)" in result.stdout
    assert "agent.epsilon_decay_start_agent_steps: 0 as started" in result.stdout
    assert "env.resize_interpolation: 'linear' as started (today's default: 'area')" in result.stdout
    with open(tmp_path / "metrics" / "iterations.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["frames"]) for r in rows] == [800, 1600]  # not stretched to 2,400
    resumed = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert resumed["total_frames"] == 1600
    assert resumed["agent"]["epsilon_decay_start_agent_steps"] == 0


def test_a_changed_config_is_refused_naming_each_key_and_nothing_is_written(tmp_path):
    Runner(compose(SMOKE + [f"run_dir={tmp_path}", "total_frames=800"])).run()
    before_paths = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    result = run_module("dqn_atari.train", *SMOKE, f"run_dir={tmp_path}", "total_frames=800",
                        "seed=1", "optim.lr=0.01", timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "seed: 0 when started, 1 asked" in result.stderr
    assert "optim.lr: 0.00025 when started, 0.01 asked" in result.stderr
    assert "allow_config_change=[optim.lr,seed]" in result.stderr
    after = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    before = {p.relative_to(tmp_path): b for p, b in before_paths.items()}
    assert after == before  # refused before Hydra wrote its .hydra/ record or train.log


def test_an_allowed_change_takes_effect_and_is_recorded_with_its_agent_step(tmp_path):
    Runner(compose(SMOKE + [f"run_dir={tmp_path}", "total_frames=800"])).run()
    result = run_module("dqn_atari.train", *SMOKE, f"run_dir={tmp_path}", "total_frames=1600",
                        "optim.lr=0.0001", "torch_threads=1",
                        "allow_config_change=[optim.lr,total_frames]", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "torch_threads: 2 when started, 1 now (safe to change)" in result.stdout
    changes = yaml.safe_load((tmp_path / "config_changes.yaml").read_text())
    assert changes[0]["agent_step"] == 200
    assert changes[0]["changes"]["optim.lr"] == {"was": 0.00025, "now": 0.0001}
    assert changes[0]["changes"]["total_frames"] == {"was": 800, "now": 1600}
    # a key safe to change is recorded too (config.yaml keeps only the new value)
    assert changes[0]["changes"]["torch_threads"] == {"was": 2, "now": 1}
    # The record is true: the optimizer resumed with the new learning rate.
    from dqn_atari.run.checkpoint import load_latest

    state, _ = load_latest(tmp_path)
    assert state["agent"]["optimizer"]["param_groups"][0]["lr"] == 0.0001
    assert state["counters"]["agent_steps"] == 400


def test_a_new_run_dir_takes_the_command_line_as_it_is(tmp_path):
    cfg = compose(SMOKE + [f"run_dir={tmp_path}"])
    resumed, notes, changes = config_for_resume(cfg, set())
    assert resumed is cfg and notes == [] and changes == {}


def test_explicit_override_keys():
    assert explicit_override_keys(["optim.lr=1e-4", "+extra.a=1", "experiment=fast"]) == {
        "optim.lr", "extra.a", "experiment"}


# A tiny dopamine_dqn run (counts in agent steps): iterations of 100, learning from step 50.
TINY_DOPAMINE = ["experiment=dopamine_dqn", "logger.wandb_mode=disabled", "logger.progress_bar=false",
                 "agent.device=cpu", "torch_threads=1", "final_eval.enabled=false",
                 "train_agent_steps_per_iteration=100", "eval_agent_steps_per_iteration=0",
                 "agent.learning_starts_agent_steps=50", "agent.target_update_period_agent_steps=40",
                 "replay.capacity=500"]
NEW_NETWORK_KEYS = {"agent": ("conv_padding", "init", "target_init"),
                    "optim": ("initial_mean_square",)}


def test_a_dopamine_dqn_run_from_before_the_network_switches_resumes_with_its_network(tmp_path):
    """Issue 20 made dopamine_dqn Dopamine's network; a run started earlier keeps the Nature one."""
    old_network = ["agent.conv_padding=valid", "agent.init=fan_in_uniform",
                   "agent.target_init=copy", "optim.initial_mean_square=0"]
    Runner(compose(TINY_DOPAMINE + old_network + [f"run_dir={tmp_path}", "total_frames=400"])).run()
    path = tmp_path / "config.yaml"
    recorded = yaml.safe_load(path.read_text())
    for section, keys in NEW_NETWORK_KEYS.items():
        for key in keys:
            del recorded[section][key]  # as the version before the switches wrote it
    recorded["total_frames"] = 800  # a budget of 2 iterations, stopped after the first
    path.write_text(yaml.safe_dump(recorded))

    overrides = TINY_DOPAMINE + [f"run_dir={tmp_path}"]  # today's preset: SAME, Glorot, ...
    assert compose(overrides).agent.conv_padding == "same"
    cfg, notes, _ = config_for_resume(compose(overrides), explicit_override_keys(overrides))
    assert (cfg.agent.conv_padding, cfg.agent.init, cfg.agent.target_init) == (
        "valid", "fan_in_uniform", "copy")
    assert cfg.optim.initial_mean_square == 0.0
    assert "agent.conv_padding: 'valid' as started (today's default: 'same')" in notes
    assert "optim.initial_mean_square: 0.0 as started (today's default: 1.0)" in notes

    runner = Runner(cfg)
    runner.run()  # loads the Nature network's checkpoint: a SAME network could not
    assert runner.seed_runs[0].agent.online.num_features == 3136
    assert runner.seed_runs[0].agent.optimizer.param_groups[0]["initial_mean_square"] == 0.0
    resumed = yaml.safe_load(path.read_text())
    assert resumed["agent"]["conv_padding"] == "valid" and resumed["agent"]["init"] == "fan_in_uniform"
    with open(tmp_path / "metrics" / "iterations.csv", newline="") as f:
        assert [int(r["frames"]) for r in csv.DictReader(f)] == [400, 800]
