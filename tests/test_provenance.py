"""Provenance in every run dir and checkpoint, and a run's status.json while it runs.

A tiny catch run (real pipeline): status.json is read DURING training (from the loop's
update events); provenance.json and the checkpoints name the code's commit, the packages,
the host and the device; a resume under another commit warns and keeps both records; a
non-finite loss leaves the state ``nan``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch
from conftest import REPO, compose

from dqn_atari.loop import NonFiniteLossError
from dqn_atari.run import provenance
from dqn_atari.run.checkpoint import load_latest
from dqn_atari.run.runner import Runner
from dqn_atari.run.status_file import read_status


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd,
                          capture_output=True, text=True, check=True).stdout.strip()


def test_commit_and_dirty_flag_of_a_git_work_tree(tmp_path):
    (tmp_path / "code.py").write_text("x = 1\n")
    _git("init", "-q", cwd=tmp_path)
    _git("add", "code.py", cwd=tmp_path)
    _git("commit", "-qm", "first", cwd=tmp_path)
    clean = provenance.code_version(tmp_path)
    assert clean["commit"] == _git("rev-parse", "HEAD", cwd=tmp_path)
    assert clean["dirty"] is False and clean["reason"] is None
    (tmp_path / "untracked.txt").write_text("a run output\n")  # not code: still clean
    assert provenance.code_version(tmp_path)["dirty"] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    dirty = provenance.code_version(tmp_path)
    assert dirty["dirty"] is True and dirty["changed_files"] == ["code.py"]
    # An installed copy inside the work tree (a wheel in an ignored .venv) is not that commit.
    (tmp_path / ".gitignore").write_text(".venv/\n")
    installed = tmp_path / ".venv" / "site-packages" / "pkg"
    installed.mkdir(parents=True)
    (installed / "__init__.py").write_text("")
    copy = provenance.code_version(installed)
    assert copy["commit"] is None and "not tracked" in copy["reason"]


def test_no_git_work_tree_is_null_with_the_reason(tmp_path):
    info = provenance.code_version(tmp_path)
    assert info["commit"] is None and info["dirty"] is None
    assert "not in a git work tree" in info["reason"]


def test_versions_host_and_slurm_ids():
    record = provenance.collect("cpu")
    versions = record["versions"]
    assert versions["python"] == ".".join(map(str, sys.version_info[:3]))
    assert versions["torch"] == metadata.version("torch")
    assert torch.__version__.startswith(versions["torch"].split("+")[0])
    for name in ("ale-py", "gymnasium", "numpy"):
        assert versions[name] == metadata.version(name)
    assert record["device"] == "cpu" and record["host"]
    # the CPU's model, as /proc/cpuinfo's first processor names it (the speed figures' host)
    fields = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    assert record["cpu"]["model_name"] == fields["model name"] and record["cpu"]["model_name"]
    assert (record["cpu"]["family"], record["cpu"]["model"]) == (fields["cpu family"],
                                                                 fields["model"])
    assert provenance.differences(record, record) == []
    other = json.loads(json.dumps(record))
    other["versions"]["numpy"] = "1.0"
    assert provenance.differences(record, other) == [
        f"versions.numpy: {versions['numpy']!r} before, '1.0' now"]


def _catch(run_dir, total_frames: int):
    return compose(["experiment=catch", f"run_dir={run_dir}", f"total_frames={total_frames}",
                    "train_agent_steps_per_iteration=200", "eval_agent_steps_per_iteration=0",
                    "agent.learning_starts_agent_steps=100", "replay.capacity=1000",
                    "logger.wandb_mode=disabled", "logger.progress_bar=false",
                    "torch_threads=1"])  # 2 threads spin-wait on a busy machine


def test_a_run_records_status_while_running_and_provenance_in_dir_and_checkpoint(tmp_path,
                                                                                  capsys):
    runner = Runner(_catch(tmp_path, 1600))  # 400 agent steps, 2 iterations
    runner.seed_runs[0].status.period_s = 0.0  # a heartbeat at every progress report (each 200 agent steps)
    seen = []

    def on_event(event, agent_step, updates):
        if event == "update" and agent_step % 100 == 0:
            status = read_status(tmp_path)
            seen.append((status["state"], status["phase"], status["agent_steps"]))

    runner.on_loop_event = on_event
    assert runner.run()[0]["status"] == "finished"
    assert seen and all(state == "running" and phase == "train" for state, phase, _ in seen)
    # read at agent steps 100, 200, 300, 400; the heartbeat of step 200 is written after
    # that step's update, so the file says 0, 0, 200, 200
    assert [s for _, _, s in seen] == [0, 0, 200, 200]
    assert read_status(tmp_path)["state"] == "finished"
    assert not (tmp_path / "eval_nature.json").exists()  # catch preset: final_eval off

    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                          text=True, check=False)
    (start,) = json.loads((tmp_path / "provenance.json").read_text())["starts"]
    if head.returncode == 0:
        assert start["code"]["commit"] == head.stdout.strip()
        assert isinstance(start["code"]["dirty"], bool)
    else:  # a fresh clone without git: null, with the reason
        assert start["code"]["commit"] is None and start["code"]["reason"]
    assert start["resumed"] is False and start["agent_steps_at_start"] == 0
    state, _ = load_latest(tmp_path)
    assert state["provenance"]["code"] == start["code"]
    assert state["provenance"]["versions"] == provenance.package_versions()

    # Resumed "under other code": warned, both records kept.
    resumed = Runner(_catch(tmp_path, 2400))
    resumed.seed_runs[0].provenance["code"]["commit"] = "0" * 40
    capsys.readouterr()
    resumed.run()
    out = capsys.readouterr().out
    assert "under other code than its checkpoint was written with" in out
    assert f"code.commit: {start['code']['commit']!r} before, {'0' * 40!r} now" in out
    starts = json.loads((tmp_path / "provenance.json").read_text())["starts"]
    assert [s["code"]["commit"] for s in starts] == [start["code"]["commit"], "0" * 40]
    assert starts[1]["resumed"] is True and starts[1]["agent_steps_at_start"] == 400
    assert starts[1]["differs_from_checkpoint"][0].startswith("code.commit:")

    # A non-finite loss: the run says nan, with the error.
    poisoned = Runner(_catch(tmp_path, 3200))
    assert poisoned.resume()[0] is not None
    poisoned.seed_runs[0].replay.head(0).rewards[:] = float("nan")
    with pytest.raises(NonFiniteLossError):
        poisoned.run()
    status = read_status(tmp_path)
    assert status["state"] == "nan" and status["error"].startswith("NonFiniteLossError")
