"""One writer per run directory: an advisory lock held for the life of a run.

``RunDirLock(run_dir)`` takes an exclusive ``fcntl.flock`` on ``<run_dir>/.lock`` and
writes who holds it (host, pid, SLURM job and array ids, start time) into that file.
A second process on the same run dir gets ``RunDirBusyError`` naming the holder,
instead of both appending to the same CSVs and checkpoints.

What this relies on: the kernel releases a ``flock`` when its holder dies, however it
dies (``kill -9`` included), so a lock left by a dead process never blocks a requeued
task; the stale holder text in the file is simply overwritten. On one machine that is
always so. Across machines it needs a filesystem that carries ``flock`` between clients:
Linux's NFS client (v3 with lockd, v4) maps ``flock`` onto byte-range locks that the
server arbitrates, and Lustre does so when mounted with ``-o flock`` (with
``-o localflock`` the lock only covers one node). A filesystem without lock support
makes ``flock`` fail, and the run says so rather than run unprotected.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path

LOCK_FILE = ".lock"
SLURM_KEYS = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_RESTART_COUNT")


class RunDirBusyError(RuntimeError):
    """Another live process holds the run directory."""


def holder_description() -> dict[str, object]:
    """Who we are, as written into the lock file."""
    info: dict[str, object] = {"host": socket.gethostname(), "pid": os.getpid(),
                               "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    info.update({k.lower(): os.environ[k] for k in SLURM_KEYS if k in os.environ})
    return info


def _describe(text: str) -> str:
    try:
        info = json.loads(text)
    except ValueError:
        return "an unknown process (the lock file holds no description)"
    parts = [f"host {info.get('host')}", f"pid {info.get('pid')}"]
    if "slurm_job_id" in info:
        job = info["slurm_job_id"]
        if "slurm_array_job_id" in info:
            job = f"{info['slurm_array_job_id']}_{info.get('slurm_array_task_id')} ({job})"
        parts.append(f"SLURM job {job}")
    parts.append(f"since {info.get('started')}")
    return ", ".join(parts)


class RunDirLock:
    """An exclusive advisory lock on a run directory (a context manager)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        self._flock_or_raise(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder_description()) + "\n").encode(), 0)
        self._fd = fd

    def _flock_or_raise(self, fd: int) -> None:
        """Take the exclusive lock on ``fd``, or close it and raise naming the holder."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = os.pread(fd, 4096, 0).decode(errors="replace")
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunDirBusyError(
                    f"run directory {self.path.parent} is in use by {_describe(holder)}. "
                    "Two processes on one run dir would corrupt it: wait for that run to end "
                    "(or stop it), or give this one another run_dir=..."
                ) from None
            raise RunDirBusyError(
                f"cannot lock {self.path} ({error.strerror}): this filesystem does not support "
                "flock; put run_dir on one that does (local disk, NFS with locking, Lustre "
                "mounted with -o flock)"
            ) from None

    def check_free(self) -> None:
        """Raise ``RunDirBusyError`` if another process holds the lock now (takes nothing)."""
        if self._fd is not None or not self.path.is_file():
            return
        fd = os.open(self.path, os.O_RDWR)
        self._flock_or_raise(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def release(self) -> None:
        if self._fd is None:
            return
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __del__(self) -> None:
        self.release()

    def __enter__(self) -> RunDirLock:  # noqa: PYI034 (final in practice)
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
