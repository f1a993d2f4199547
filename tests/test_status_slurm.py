"""`python -m dqn_atari.status` against a real SLURM cluster (marked `slurm`; see
tests/test_slurm_sweeps.py for how to start one).

Three slurm/sweep.sh submissions of the smoke preset into one runs root give, at one moment,
every state the tool must tell apart: a task that FINISHED (seed 0), one that FAILED (seed 3:
a replay of 10^10 transitions passes the submission checks and is refused by the run's RAM
check), one RUNNING (seed 1) and one REQUEUED by `scontrol requeue` (seed 2, waiting in the
queue to resume). The long sweep is submitted held first, so its tasks are QUEUED with no run
dir, only in its tasks.tsv and in squeue. The tool's answer is checked against what SLURM
and the run dirs say; the exit code is 1 because a run failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO
from slurm_helpers import all_finished, cancel, require_slurm, run, states, wait

from dqn_atari.run.status_file import read_status

RUN_S = 300.0  # bound of each wait (the whole test takes ~40-60 s on an idle 2-core node)
SMALL = ["--experiment", "smoke", "--cpus", "1", "--gpus", "0", "--mem", "2G",
         "--time", "00:15:00", "logger.wandb_mode=disabled",
         "eval_agent_steps_per_iteration=0"]  # a checkpoint every 200 agent steps, no games


def _submit(tmp_path: Path, *args: str) -> tuple[str, list[dict[str, str]]]:
    """slurm/sweep.sh of Pong seeds into tmp_path/runs: the array job id and its task table."""
    res = run(["bash", str(REPO / "slurm" / "sweep.sh"), "--games", "pong", *SMALL,
               "--runs-root", str(tmp_path / "runs"), *args], timeout=120, cwd=tmp_path,
              env=dict(os.environ, PYTHON=sys.executable))
    assert res.returncode == 0, f"sweep.sh failed:\n{res.stdout}\n{res.stderr}"
    job_id = res.stdout.strip().splitlines()[-1]
    table = tmp_path / "runs" / "slurm-logs" / f"dqn-smoke_{job_id}.tasks.tsv"
    lines = [ln.split("\t") for ln in table.read_text().splitlines()]
    return job_id, [dict(zip(lines[0], ln)) for ln in lines[1:]]


def _status(root: Path) -> tuple[int, dict[int, dict], str]:
    """(exit code, rows by seed, table) of the tool run as a user runs it."""
    table = subprocess.run([sys.executable, "-m", "dqn_atari.status", str(root)], cwd=REPO,
                           capture_output=True, text=True, timeout=60, check=False)
    as_json = subprocess.run([sys.executable, "-m", "dqn_atari.status", str(root), "--json"],
                             cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert as_json.returncode == table.returncode, (table.stderr, as_json.stderr)
    rows = {r["seed"]: r for r in json.loads(as_json.stdout)}
    return table.returncode, rows, table.stdout


@pytest.mark.slurm
def test_status_of_a_sweep_with_a_finished_a_running_a_failed_and_a_requeued_task(tmp_path):
    require_slurm()
    t0 = time.monotonic()
    runs = tmp_path / "runs"
    jobs: list[str] = []
    try:
        long_id, long_tasks = _submit(tmp_path, "--seeds", "1-2", "total_frames=400000",
                                      "--sbatch-arg=--hold")
        jobs.append(long_id)
        code, rows, text = _status(runs)
        assert {s: (r["state"], r["job"]) for s, r in rows.items()} == {
            1: ("queued", f"{long_id}_0"), 2: ("queued", f"{long_id}_1")}, text
        assert "JobHeldUser" in rows[1]["note"] and rows[1]["run_dir"] is None, text
        assert rows[2]["log"] == long_tasks[1]["log"] and code == 0, text

        done_id, done_tasks = _submit(tmp_path, "--seeds", "0", "total_frames=800")
        fail_id, _ = _submit(tmp_path, "--seeds", "3", "replay.capacity=10000000000")
        jobs += [done_id, fail_id]
        assert run(["scontrol", "release", long_id]).returncode == 0

        run_dir = {s: runs / "smoke" / "pong" / f"seed_{s}" for s in range(4)}
        logs = [Path(t["log"]) for t in long_tasks + done_tasks]

        def state(seed: int) -> str | None:
            return (read_status(run_dir[seed]) or {}).get("state")

        wait(lambda: state(0) == "finished" and all_finished(f"{done_id}_0")
             and state(3) == "failed" and all_finished(f"{fail_id}_0"),
             "seed 0 to finish and seed 3 to fail", done_id, logs, timeout=RUN_S)
        wait(lambda: all(any((run_dir[s] / "checkpoints").glob("ckpt_*.pt")) for s in (1, 2)),
             "both long runs to write a checkpoint", long_id, logs, timeout=RUN_S)
        requeued = f"{long_id}_1"
        assert run(["scontrol", "requeue", requeued]).returncode == 0
        wait(lambda: states(requeued) == ["PENDING"] and state(2) == "interrupted",
             "seed 2 to checkpoint and wait in the queue", requeued, logs, timeout=60)

        code, rows, text = _status(runs)
        got = {s: (r["state"], r["job"]) for s, r in rows.items()}
        assert got == {0: ("finished", f"{done_id}_0"), 1: ("running", f"{long_id}_0"),
                       2: ("requeued", requeued), 3: ("failed", f"{fail_id}_0")}, text
        assert code == 1, text  # a run failed: scripts can tell
        assert "InsufficientMemoryError" in rows[3]["note"], text
        assert rows[0]["log"] == done_tasks[0]["log"], text  # the log the run wrote to
        assert rows[0]["frames"] == rows[0]["total_frames"] == 800, text
        assert rows[1]["total_frames"] == 400_000 and 0 < rows[1]["frames"] < 400_000, text
        assert "waiting" in rows[2]["note"] and rows[2]["frames"] > 0, text
        assert "4 runs: 1 running, 1 requeued, 1 failed, 1 finished." in text, text
        print(f"status of 4 SLURM tasks: {time.monotonic() - t0:.1f} s\n{text}")
    finally:
        cancel(jobs)
