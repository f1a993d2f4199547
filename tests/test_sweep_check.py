"""A Hydra multirun checks every job's config before any job is launched (dqn_atari/sweep_check.py,
registered as ``hydra.callbacks.check_sweep`` in dqn_atari/conf/config.yaml).

The expansion and the checks run in-process on the multirun config Hydra composes; the entry
point runs as a user runs it, with the basic (local) launcher and with the submitit launcher
(refused before submitit is even set up: no SLURM is needed, and a fake ``sbatch`` on PATH
records any call).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import compose, run_module

from dqn_atari.compose import CONF_DIR
from dqn_atari.sweep_check import refusal_message, refused_jobs

QUIET = ["experiment=smoke", "logger.wandb_mode=disabled", "eval_agent_steps_per_iteration=0"]


@pytest.fixture(scope="module")
def multirun_config():
    """compose(overrides) -> the config Hydra's ``-m`` composes (before any sweeper runs)."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    compose([])  # registers the schema
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        hydra = GlobalHydra.instance().hydra

        def make(overrides: list[str]):
            return hydra.compose_config("config", overrides, run_mode=RunMode.MULTIRUN)

        yield make


def test_every_job_of_the_sweep_is_composed_and_checked(multirun_config):
    cfg = multirun_config([*QUIET, "env.game=pong,breakout", "seed=0,1", "optim.lr=1e-4,-1",
                           "agent.epsilon_end=0.1"])
    n_jobs, refused = refused_jobs(cfg)
    assert n_jobs == 8
    assert [(n, o) for n, o, _ in refused] == [
        (n, [*QUIET, f"env.game={g}", f"seed={s}", "optim.lr=-1", "agent.epsilon_end=0.1"])
        for n, (g, s) in zip((1, 3, 5, 7), [(g, s) for g in ("pong", "breakout") for s in (0, 1)])]
    assert all(why.startswith("optim.lr=-1.0: the learning rate must be a positive number")
               for _, _, why in refused)
    assert refused_jobs(multirun_config([*QUIET, "env.game=pong,breakout", "seed=0,1"])) == (4, [])


def test_a_wrong_type_a_bad_game_and_unpackable_seeds_are_named_per_job(multirun_config):
    n_jobs, refused = refused_jobs(multirun_config([*QUIET, "env.game=pong,pongg",
                                                    "optim.lr=1e-4,abc"]))
    assert n_jobs == 4 and [n for n, _, _ in refused] == [1, 2, 3]
    assert "Error merging override optim.lr=abc" in refused[0][2]
    assert "unknown game 'pongg'; close matches: pong" in refused[1][2]
    _, refused = refused_jobs(multirun_config([*QUIET, "seeds=[0,1],[2,3]",
                                               "agent.overlap=false,true"]))
    assert [n for n, _, _ in refused] == [1, 3] and "agent.overlap=true" in refused[0][2]
    message = refusal_message(4, refused)
    assert message.splitlines()[0] == ("2 of the 4 jobs of this sweep cannot run; nothing was "
                                       "launched (fix the value, or drop it from the sweep):")
    assert message.splitlines()[1].startswith("  #1 (experiment=smoke ")


def _multirun(tmp_path: Path, *overrides: str, env: dict | None = None):
    return run_module("dqn_atari.train", "-m", *QUIET, f"hydra.sweep.dir={tmp_path / 'sweep'}",
                      *overrides, timeout=300, env=env)


@pytest.mark.parametrize("launcher", ["basic", "slurm"])
def test_a_bad_value_stops_the_multirun_before_any_job(launcher, tmp_path: Path):
    """`-m env.game=pong optim.lr=1e-4,-1`: exit 2 naming optim.lr and the fix; no sweep dir,
    no run dir, no submitit folder, no sbatch call."""
    bin_dir, called = tmp_path / "bin", tmp_path / "sbatch_was_called"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(f"#!/bin/sh\ntouch {called}\necho 4242\n")
    (bin_dir / "sbatch").chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    extra = ["hydra/launcher=slurm", "hydra.launcher.gpus_per_node=0"] \
        if launcher == "slurm" else []
    res = _multirun(tmp_path, *extra, "env.game=pong", "optim.lr=1e-4,-1", env=env)
    assert res.returncode == 2, (res.stdout[-2000:], res.stderr[-2000:])
    assert res.stderr.startswith("error: 1 of the 2 jobs of this sweep cannot run; nothing was "
                                 "launched"), res.stderr
    assert ("#1 (experiment=smoke logger.wandb_mode=disabled eval_agent_steps_per_iteration=0 "
            "env.game=pong optim.lr=-1): optim.lr=-1.0: the learning rate must be a positive "
            "number (Nature: optim.lr=0.00025)") in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and "Launching" not in res.stdout + res.stderr
    assert not (tmp_path / "sweep").exists() and not called.exists()


def test_a_good_multirun_still_runs_every_job(tmp_path: Path):
    res = _multirun(tmp_path, "env.game=pong", "seed=0,1", "total_frames=800")
    assert res.returncode == 0, (res.stdout[-2000:], res.stderr[-2000:])
    for seed in (0, 1):
        run_dir = tmp_path / "sweep" / "smoke" / "pong" / f"seed_{seed}"
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["status"] == "finished" and summary["agent_steps"] == 200, summary
