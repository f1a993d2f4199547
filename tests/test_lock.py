"""One writer per run directory (dqn_atari/run/lock.py): an advisory ``flock`` held for a run.

Real processes and real locks:

* a second training process on a run dir is refused naming the holder (host, pid), and a
  holder killed with SIGKILL never blocks the next start (the kernel drops its lock);
* another process, and another open file description in this one, is excluded; the
  refusal names the SLURM job and array task of the holder;
* ``check_free`` says whether another holds the lock without taking it, and a lock file
  without a holder's description is named as such.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, run_module

from dqn_atari.run.lock import LOCK_FILE, RunDirBusyError, RunDirLock

SMOKE = ["experiment=smoke", "logger.wandb_mode=disabled", "eval_agent_steps_per_iteration=0"]


def _start_training(run_dir, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "dqn_atari.train", *SMOKE, f"run_dir={run_dir}", *extra],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_holder(run_dir, pid, timeout_s=120.0):
    lock = run_dir / ".lock"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if lock.is_file() and f'"pid": {pid}' in lock.read_text():
            return json.loads(lock.read_text())
        time.sleep(0.2)
    raise AssertionError(f"process {pid} never took the lock of {run_dir}")


def test_a_second_process_is_refused_naming_the_holder_and_a_dead_holder_never_blocks(tmp_path):
    # long enough to still run, and no checkpoint before it is killed (one long iteration):
    # else the third start below would resume it, under another total_frames
    first = _start_training(tmp_path, "total_frames=400000",
                            "train_agent_steps_per_iteration=100000")
    try:
        holder = _wait_for_holder(tmp_path, first.pid)
        assert holder["host"] == os.uname().nodename
        second = run_module("dqn_atari.train", *SMOKE, f"run_dir={tmp_path}", "seed=1",
                            timeout=300)
        assert second.returncode == 2, second.stderr[-2000:]
        assert f"is in use by host {holder['host']}, pid {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.poll() is None  # the holder was not disturbed
    finally:
        first.send_signal(signal.SIGKILL)  # dies holding the lock
        first.communicate(timeout=60)
    third = run_module("dqn_atari.train", *SMOKE, f"run_dir={tmp_path}", "total_frames=800",
                       timeout=600)
    assert third.returncode == 0, third.stderr[-2000:]
    assert "seed: 0" in (tmp_path / "config.yaml").read_text()


def test_lock_in_one_process_excludes_another_description(tmp_path):
    with RunDirLock(tmp_path):
        code = ("import sys; from dqn_atari.run.lock import RunDirLock, RunDirBusyError\n"
                f"try: RunDirLock({str(tmp_path)!r}).acquire()\n"
                "except RunDirBusyError as e: print(e); sys.exit(3)\n")
        result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                                text=True, check=False, env={**os.environ,
                                                             "SLURM_JOB_ID": "77"})
        assert result.returncode == 3 and f"pid {os.getpid()}" in result.stdout
    with RunDirLock(tmp_path):  # released: free again
        pass
    with pytest.raises(RunDirBusyError, match="SLURM job 41_3 \\(42\\)"):
        os.environ.update(SLURM_JOB_ID="42", SLURM_ARRAY_JOB_ID="41", SLURM_ARRAY_TASK_ID="3")
        try:
            with RunDirLock(tmp_path):
                RunDirLock(tmp_path).acquire()  # another open file description: excluded too
        finally:
            for key in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
                os.environ.pop(key)



def test_check_free_takes_nothing_and_a_holder_without_description_is_named(tmp_path):
    holder = RunDirLock(tmp_path)
    other = RunDirLock(tmp_path)
    other.check_free()  # no lock file yet: free
    holder.acquire()
    assert holder.held and json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    with pytest.raises(RunDirBusyError, match=f"pid {os.getpid()}"):
        other.check_free()
    assert not other.held
    holder.release()
    holder.release()  # twice: nothing to release
    other.check_free()
    assert not other.held and not holder.held
    with RunDirLock(tmp_path) as third:  # check_free took nothing: the lock is free
        assert third.held
    # A holder that wrote nothing (a foreign flock on the file) is still a holder.
    (tmp_path / LOCK_FILE).write_text("")
    fd = os.open(tmp_path / LOCK_FILE, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RunDirBusyError, match=r"in use by an unknown process \(the lock "
                                                  r"file holds no description\)"):
            RunDirLock(tmp_path).acquire()
    finally:
        os.close(fd)
