"""Every bad input is refused before anything runs: exit code 2, the key and the fix named."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
from conftest import run_module

from dqn_atari.config_checks import ConfigError
from dqn_atari.overrides import OverrideError
from dqn_atari.run.metrics import wandb_server_unreachable
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
    from analysis_runs import write_run_dir

    write_run_dir(tmp_path / "runs", "nature", "pong", 0, [1.0, 2.0])
    bad = tmp_path / "dopamine.csv"
    bad.write_text("experiment,score\nx,1\n")
    result = run_module("dqn_atari.plot", f"--runs={tmp_path / 'runs'}",
                        f"--out={tmp_path / 'plots'}", f"--dopamine-csv={bad}")
    assert result.returncode == 2 and f"error: {bad} lacks the column(s) game" in result.stderr
    assert not Path(tmp_path / "plots").exists()


# The bad values of issue 22 (smoke preset: 600 agent steps, replay.capacity=2000), each with
# the key its message must name and the fix it must give.
BAD_ROWS = [
    pytest.param("env.game=", "env.game", "env.game=ms_pacman", id="empty-game"),
    pytest.param("seed=-1", "seed=-1", "seed=0", id="negative-seed"),
    pytest.param("optim.lr=-1", "optim.lr=-1.0", "optim.lr=0.00025", id="negative-lr"),
    pytest.param("env.frame_size=0", "env.frame_size=0", "env.frame_size=36", id="frame-size-0"),
    pytest.param("env.num_envs=1000", "env.num_envs=1000", "env.num_envs=400", id="num-envs-1000"),
    pytest.param("agent.epsilon_end=2", "agent.epsilon_end=2.0", "between 0 and 1",
                 id="epsilon-end-2"),
    pytest.param("agent.learning_starts_agent_steps=601", "agent.learning_starts_agent_steps=601",
                 "allow_no_learning=true", id="learning-starts-after-the-budget"),
]
QUIET = ["experiment=smoke", "logger.wandb_mode=disabled", "torch_threads=1"]


def _packed(override: str) -> list[str]:
    """``override`` for ``seeds=[0,1]``; a bad seed is one of the packed seeds."""
    return ["seeds=[-1,0]"] if override == "seed=-1" else ["seeds=[0,1]", override]


def _refused(result, key: str, fix: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    assert key in result.stderr and fix in result.stderr, result.stderr


@pytest.mark.parametrize("override,key,fix", BAD_ROWS)
def test_the_training_command_refuses_before_creating_anything(override, key, fix, tmp_path):
    run_dir = tmp_path / "run"
    result = run_module("dqn_atari.train", *QUIET, override, f"run_dir={run_dir}", timeout=180)
    _refused(result, key, fix)
    assert not run_dir.exists()  # no run dir, no status.json


@pytest.mark.parametrize("override,key,fix", BAD_ROWS)
def test_packed_seeds_refuse_before_creating_anything(override, key, fix, tmp_path):
    runs = tmp_path / "runs"
    result = run_module("dqn_atari.train", *QUIET, *_packed(override),
                        f"run_dir={runs}/seed_${{seed}}", timeout=180)
    if override == "seed=-1":
        key, fix = "seeds=[-1, 0]", "seeds=[0,"
    _refused(result, key, fix)
    assert not runs.exists()


@pytest.mark.parametrize("override,key,fix", BAD_ROWS)
def test_a_runner_refuses_before_building_an_env(override, key, fix, tmp_path, monkeypatch):
    """The same check in ``Runner`` (a Hydra -m job, a script): before any env is made."""
    from conftest import compose

    from dqn_atari.run import seed_run
    from dqn_atari.run.runner import Runner

    def no_env(*args, **kwargs):
        raise AssertionError("an env was built before the config was checked")

    monkeypatch.setattr(seed_run, "make_env", no_env)
    with pytest.raises(ConfigError) as refused:
        Runner(compose([*QUIET, override, f"run_dir={tmp_path / 'run'}"]))
    assert key in str(refused.value) and fix in str(refused.value)
    assert not (tmp_path / "run").exists()


def test_learning_that_never_starts_runs_when_asked_for_by_name(tmp_path):
    from conftest import compose

    from dqn_atari.config_checks import validate_config

    cfg = compose([*QUIET, "agent.learning_starts_agent_steps=601", "allow_no_learning=true"])
    validate_config(cfg)  # collecting without learning, on purpose
    # the exact bound: the first update is at the first multiple of the update period at or
    # after learning_starts_agent_steps, and it must fall within the budget (600 agent steps)
    validate_config(compose([*QUIET, "agent.learning_starts_agent_steps=600"]))
    budget_601 = [*QUIET, "total_frames=2404"]  # 601 agent steps: updates at 4, 8, ..., 600
    with pytest.raises(ConfigError, match="first update would come at agent step 604.*"
                       "601 agent steps.*to 600 or less.*total_frames to at least 2416"):
        validate_config(compose([*budget_601, "agent.learning_starts_agent_steps=601"]))


def test_the_smallest_frame_size_follows_the_conv_stack():
    from conftest import compose

    from dqn_atari.config_checks import validate_config
    from dqn_atari.networks import NatureQNetwork, min_frame_size

    assert min_frame_size("valid") == 36 and min_frame_size("same") == 1
    for padding in ("valid", "same"):
        side = min_frame_size(padding)
        net = NatureQNetwork(3, frame_size=side, conv_padding=padding)
        assert net(torch.zeros(1, 4, side, side, dtype=torch.uint8)).shape == (1, 3)
    with pytest.raises(ValueError, match="frame_size=35"):  # one pixel less leaves no feature
        NatureQNetwork(3, frame_size=35)
    validate_config(compose([*QUIET, "env.frame_size=36"]))
    with pytest.raises(ConfigError, match="env.frame_size=35.*env.frame_size=36"):
        validate_config(compose([*QUIET, "env.frame_size=35"]))
    with pytest.raises(ConfigError, match="env.frame_size=9.*catch.*env.frame_size=10"):
        validate_config(compose(["experiment=catch", "agent.conv_padding=same",
                                 "env.frame_size=9"]))
