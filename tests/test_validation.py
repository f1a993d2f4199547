"""Every bad input is refused before anything runs: exit code 2, the key and the fix named."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
from conftest import run_module

from dqn_atari.metrics import wandb_server_unreachable
from dqn_atari.overrides import OverrideError
from dqn_atari.runner import ConfigError
from dqn_atari.train import precheck


@pytest.mark.parametrize("override,message", [
    ("agent.batch_size=0", "agent.batch_size=0: an update needs at least one transition"),
    ("replay.capacity=0", "replay.capacity=0: the replay must hold at least one transition"),
    ("replay.capacity=-5", "replay.capacity=-5"),
    ("env.num_envs=0", "env.num_envs=0: at least one actor is needed"),
    ("agent.update_period_agent_steps=0", "agent.update_period_agent_steps=0 must be at least 1"),
    ("on_unreadable_checkpoints=maybe", "choose stop (the default) or start_over"),
    ("env.resize_interpolation=bilinear", "env.resize_interpolation=pil_bilinear"),
    ("agent.conv_padding=SAME", "agent.conv_padding='SAME': use valid"),
    ("agent.init=glorot", "agent.init='glorot': use fan_in_uniform"),
    ("agent.target_init=zero", "agent.target_init='zero': use copy"),
    ("optim.initial_mean_square=-1", "optim.initial_mean_square=-1.0: a mean square cannot be negative"),
])
def test_bad_values_are_refused_before_hydra_runs(override, message, tmp_path):
    with pytest.raises(ConfigError, match=message.replace("(", "\\(").replace(")", "\\)")):
        precheck(["experiment=smoke", override, f"run_dir={tmp_path / 'run'}"])
    assert not (tmp_path / "run").exists()  # nothing was created


def test_adam_refuses_an_initial_mean_square(tmp_path):
    with pytest.raises(ConfigError, match="optim.initial_mean_square=1.0 with optim.name=adam.*"
                       "set optim.initial_mean_square=0"):
        precheck(["experiment=smoke", "optim=adam", "optim.initial_mean_square=1",
                  f"run_dir={tmp_path / 'run'}"])
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_on_a_machine_without_it_names_auto_and_cpu(tmp_path):
    with pytest.raises(ConfigError, match="agent.device=cuda.*agent.device=auto.*agent.device=cpu"):
        precheck(["experiment=smoke", "agent.device=cuda", f"run_dir={tmp_path}"])


def test_unwritable_run_dir_is_named_before_hydra_creates_anything(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match=f"run_dir={blocker}/run.*{blocker} is a file"):
        precheck(["experiment=smoke", f"run_dir={blocker}/run"])


def test_wrong_type_and_misspelled_key_name_the_fix():
    with pytest.raises(OverrideError, match="batch_size=many.*could not be converted"):
        precheck(["agent.batch_size=many"])
    with pytest.raises(OverrideError, match="Did you mean: optim.lr"):
        precheck(["agent.lrr=1e-4"])


def test_the_entry_point_exits_2_without_a_traceback(tmp_path):
    for args in (["agent.batch_size=0"], ["agent.batch_size=many"],
                 [f"run_dir={tmp_path / 'f'}/x", "experiment=smoke"]):
        (tmp_path / "f").write_text("a file")
        result = run_module("dqn_atari.train", *args, timeout=300)
        assert result.returncode == 2, (args, result.stderr[-1500:])
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is: connections are refused


def test_wandb_online_without_a_server_falls_back_to_offline(tmp_path, monkeypatch):
    url = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("WANDB_BASE_URL", url)
    assert "cannot be reached" in wandb_server_unreachable(timeout_s=2)
    result = run_module("dqn_atari.train", "experiment=smoke", f"run_dir={tmp_path}",
                        "logger.wandb_mode=online", "total_frames=800",
                        "eval_agent_steps_per_iteration=0", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"logger.wandb_mode=online, but {url} cannot be reached" in result.stdout
    assert "logging offline instead" in result.stdout
    assert list((tmp_path / "wandb").glob("offline-run-*"))  # the run was logged offline


def test_plot_names_a_garbage_csv_and_writes_nothing(tmp_path):
    run = tmp_path / "runs" / "nature" / "pong" / "seed_0"
    (run / "metrics").mkdir(parents=True)
    (run / "config.yaml").write_text("experiment_name: nature\nseed: 0\nenv:\n  game: pong\n")
    iterations = run / "metrics" / "iterations.csv"
    out = tmp_path / "plots"
    for garbage, expected in ((b"\x00\xff\xfe garbage \x00\n\x01", "is not a readable CSV"),
                              (b"a,b\n1,2\n", "lacks the column(s) iteration, frames")):
        iterations.write_bytes(garbage)
        result = run_module("dqn_atari.plot", f"--runs={tmp_path / 'runs'}", f"--out={out}")
        assert result.returncode == 2, result.stderr[-1500:]
        assert f"error: {iterations}" in result.stderr and expected in result.stderr
        assert "Traceback" not in result.stderr and not out.exists()


def test_plot_names_a_dopamine_csv_with_the_wrong_columns(tmp_path):
    from test_plot import write_run_dir

    write_run_dir(tmp_path / "runs", "nature", "pong", 0, [1.0, 2.0])
    bad = tmp_path / "dopamine.csv"
    bad.write_text("experiment,score\nx,1\n")
    result = run_module("dqn_atari.plot", f"--runs={tmp_path / 'runs'}",
                        f"--out={tmp_path / 'plots'}", f"--dopamine-csv={bad}")
    assert result.returncode == 2 and f"error: {bad} lacks the column(s) game" in result.stderr
    assert not Path(tmp_path / "plots").exists()
