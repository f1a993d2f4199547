"""A run directory that no mistake can corrupt: unreadable checkpoints, temp files.

Real processes, real kills (SIGKILL) and real files throughout. One writer per run dir (the
lock): test_lock.py.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, compose, run_module

from dqn_atari.run.checkpoint import CheckpointUnreadableError
from dqn_atari.run.runner import Runner

SMOKE = ["experiment=smoke", "logger.wandb_mode=disabled", "eval_agent_steps_per_iteration=0"]


def _start_training(run_dir, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "dqn_atari.train", *SMOKE, f"run_dir={run_dir}", *extra],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _trained(tmp_path, frames=1600):
    Runner(compose(SMOKE + [f"run_dir={tmp_path}", f"total_frames={frames}"])).run()
    return sorted((tmp_path / "checkpoints").glob("ckpt_*.pt"))


def test_when_no_checkpoint_is_readable_the_run_stops_and_deletes_nothing(tmp_path):
    paths = _trained(tmp_path)
    for path in paths:
        path.write_bytes(path.read_bytes()[:500])
    result = run_module("dqn_atari.train", *SMOKE, f"run_dir={tmp_path}", "total_frames=1600",
                        timeout=600)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "no checkpoint of" in result.stderr and "on_unreadable_checkpoints=start_over" in (
        result.stderr)
    assert "Traceback" not in result.stderr
    corrupt = sorted((tmp_path / "checkpoints" / "corrupt").iterdir())
    assert [p.name for p in corrupt] == [p.name for p in paths]  # moved aside, not deleted
    assert not list((tmp_path / "checkpoints").glob("ckpt_*.pt"))
    # Run again without the override: still refused (the moved files are remembered).
    with pytest.raises(CheckpointUnreadableError):
        Runner(compose(SMOKE + [f"run_dir={tmp_path}"])).run()

    started_over = run_module("dqn_atari.train", *SMOKE, f"run_dir={tmp_path}",
                              "total_frames=2400", "on_unreadable_checkpoints=start_over",
                              timeout=600)
    assert started_over.returncode == 0, started_over.stderr[-2000:]
    assert "starting over from agent step 0" in started_over.stdout
    kept = sorted((tmp_path / "checkpoints").glob("ckpt_*.pt"))
    assert len(kept) == 2  # the new good checkpoints are kept; the corrupt ones don't count
    assert len(list((tmp_path / "checkpoints" / "corrupt").iterdir())) == len(paths)


def test_one_unreadable_checkpoint_is_moved_aside_and_the_older_one_used(tmp_path):
    older, newest = _trained(tmp_path)
    newest.write_bytes(newest.read_bytes()[:1000])
    runner = Runner(compose(SMOKE + [f"run_dir={tmp_path}", "total_frames=2400"]))
    with pytest.warns(RuntimeWarning, match="moved to .*corrupt"):
        assert runner.resume()[0] == older
    runner.run()
    assert (tmp_path / "checkpoints" / "corrupt" / newest.name).is_file()
    assert len(list((tmp_path / "checkpoints").glob("ckpt_*.pt"))) == 2


def test_evaluate_falls_back_to_the_previous_checkpoint(tmp_path):
    older, newest = _trained(tmp_path)
    newest.write_bytes(newest.read_bytes()[:1000])
    result = run_module("dqn_atari.evaluate", f"run_dir={tmp_path}", "episodes=1", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{newest} is unreadable" in result.stderr
    report = json.loads((tmp_path / "eval_nature.json").read_text())
    assert report["checkpoint"] == str(older)
    assert newest.is_file()  # evaluate only reads: nothing moved


def test_a_writer_killed_mid_checkpoint_leaves_a_temp_file_that_the_next_start_removes(tmp_path):
    """A real SIGKILL while the checkpoint (with a 20,000-transition replay) is being written."""
    big = ["total_frames=160000", "train_agent_steps_per_iteration=20000", "replay.capacity=20000",
           "agent.learning_starts_agent_steps=20000", "agent.epsilon_start=1.0",
           "agent.epsilon_end=1.0"]  # no update, no network on the way: only the emulator
    writer = _start_training(tmp_path, *big)
    checkpoints = tmp_path / "checkpoints"
    leftover = None
    deadline = time.monotonic() + 600
    try:
        while leftover is None and time.monotonic() < deadline and writer.poll() is None:
            found = list(checkpoints.glob(".ckpt_*.tmp-*")) if checkpoints.is_dir() else []
            if found:
                writer.send_signal(signal.SIGKILL)  # mid-write
                leftover = found[0]
            time.sleep(0.005)
    finally:
        writer.kill()
        writer.communicate(timeout=60)
    assert leftover is not None, "never saw the checkpoint being written"
    assert leftover.exists() and not list(checkpoints.glob("ckpt_*.pt"))

    unrelated = checkpoints / "notes.txt"
    unrelated.write_text("mine")
    # No checkpoint was written: the next start is a new run (a short one here).
    result = run_module("dqn_atari.train", *SMOKE, f"run_dir={tmp_path}", "total_frames=800",
                        timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"removed {leftover}, left by a checkpoint writer that died" in result.stdout
    assert not leftover.exists() and unrelated.read_text() == "mine"
