"""Helpers shared by the tests that need a real SLURM cluster (tests/test_cluster_scripts.py,
tests/test_slurm_sweeps.py).

Without a reachable cluster those tests skip with the reason; with ``DQN_REQUIRE_SLURM=1`` (set
by ``.ci/run``, which starts the cluster) they fail instead, so CI cannot pass without running them.
Every wait is bounded; a timeout fails with ``squeue``, ``scontrol show job`` and log tails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

WAIT_S = 120.0  # default bound for every wait on the scheduler
START_HINT = "start it with slurm/cluster/start_cluster.sh and source /tmp/slurm-ci/env.sh"
REQUIRE_ENV = "DQN_REQUIRE_SLURM"

FINISHED = {
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
}


def slurm_unavailable_reason() -> str | None:
    """None when a SLURM cluster answers; otherwise why not."""
    for tool in ("sinfo", "sbatch", "squeue", "scontrol", "scancel"):
        if shutil.which(tool) is None:
            return f"'{tool}' is not on PATH"
    conf = os.environ.get("SLURM_CONF")
    if not conf:
        return "SLURM_CONF is not set"
    if not Path(conf).is_file():
        return f"SLURM_CONF={conf} does not exist"
    try:
        res = subprocess.run(
            ["sinfo", "-h", "-o", "%P %a %T"],
            check=False,
            capture_output=True,
            text=True,
            timeout=15,
        )
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 15 s"
    if res.returncode != 0:
        return f"sinfo failed (exit {res.returncode}): {res.stderr.strip()[-300:]}"
    if not res.stdout.strip():
        return "sinfo shows no partition"
    return None


def require_slurm() -> None:
    """Skip (or, with DQN_REQUIRE_SLURM=1, fail) when no cluster answers."""
    reason = slurm_unavailable_reason()
    if reason is None:
        return
    message = f"SLURM not available: {reason}; {START_HINT}"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message} ({REQUIRE_ENV}=1: the slurm tests must run here)")
    pytest.skip(message)


def run(cmd: list[str], timeout: float = 30.0, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout,
                          **kwargs)


def job_fields(job_id: str) -> list[dict[str, str]]:
    """`scontrol show job -o` as dicts (one per array task); [] when unknown."""
    try:
        res = run(["scontrol", "show", "job", "-o", job_id])
    except subprocess.TimeoutExpired:
        return []
    if res.returncode != 0:
        return []
    jobs = []
    for line in res.stdout.splitlines():
        fields = {}
        for tok in line.split():
            key, sep, val = tok.partition("=")
            if sep:
                fields[key] = val
        if fields:
            jobs.append(fields)
    return jobs


def states(job_id: str) -> list[str]:
    return [j.get("JobState", "?") for j in job_fields(job_id)]


def all_finished(job_id: str, n: int = 1) -> bool:
    """At least ``n`` records (array tasks) and every one in a final state."""
    st = states(job_id)
    return len(st) >= n and all(s in FINISHED for s in st)


def tail(path: Path, n: int = 30) -> str:
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"<{path}: {exc}>"
    return "\n".join(lines[-n:]) if lines else f"<{path}: empty>"


def diagnostics(job_id: str | None, logs: list[Path]) -> str:
    parts = []
    cmds = [["squeue", "-a", "-o", "%.14i %.20j %.9T %.10M %.10l %R"], ["sinfo", "-N", "-l"]]
    if job_id:
        cmds.insert(1, ["scontrol", "show", "job", job_id])
    for cmd in cmds:
        try:
            res = run(cmd, timeout=15)
            parts.append(f"$ {' '.join(cmd)}\n{res.stdout}{res.stderr}")
        except subprocess.TimeoutExpired:
            parts.append(f"$ {' '.join(cmd)}\n<timed out>")
    for log in logs:
        parts.append(f"--- tail {log}\n{tail(log)}")
    return "\n".join(parts)


def wait(pred, what: str, job_id: str | None, logs, timeout: float = WAIT_S) -> float:
    """Poll pred() until true; return the seconds waited, or fail with diagnostics.

    ``logs`` is a list of paths or a callable returning one (for logs that appear later)."""
    t0 = time.monotonic()
    while True:
        if pred():
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            paths = logs() if callable(logs) else logs
            pytest.fail(
                f"timed out after {timeout:.0f} s waiting for {what} (job {job_id})\n"
                + diagnostics(job_id, list(paths))
            )
        time.sleep(0.25)


def cancel(job_ids) -> None:
    """scancel the given jobs (best effort; for test teardown)."""
    ids = [j for j in job_ids if j]
    if ids:
        try:
            run(["scancel", *ids], timeout=15)
        except subprocess.TimeoutExpired:
            pass
