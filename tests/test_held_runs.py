"""dqn_atari/held_runs.py: which queued or running jobs hold the run dirs a sweep would write.

What SLURM says is given as parsed `squeue` entries (``status.Job``), as in
tests/test_status.py; tests/test_slurm_sweeps.py submits the same sweep twice on the real
cluster and checks that sweep.sh refuses the second, naming the first's jobs.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

from dqn_atari import held_runs
from dqn_atari.run.lock import LOCK_FILE
from dqn_atari.run.status_file import STATUS_FILE
from dqn_atari.status import Job


def _table(log_dir: Path, job: int, rows: list[tuple[str, int, str]]) -> None:
    """A task table as slurm/sweep.sh writes it: (game, seed, run dir) per task."""
    log_dir.mkdir(parents=True, exist_ok=True)
    lines = ["task\tgame\tseed\trun_dir\tlog"]
    lines += [f"{t}\t{g}\t{s}\t{d}\t{log_dir}/dqn-smoke_{job}_{t}.out"
              for t, (g, s, d) in enumerate(rows)]
    (log_dir / f"dqn-smoke_{job}.tasks.tsv").write_text("\n".join(lines) + "\n")


def _status(run_dir: Path, **fields) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    status = {"format": 1, "state": "running", "experiment": "smoke", "game": "pong",
              "seed": int(run_dir.name.removeprefix("seed_")), "heartbeat": time.time(),
              "host": socket.gethostname(), "pid": os.getpid(), "slurm": None, **fields}
    (run_dir / STATUS_FILE).write_text(json.dumps(status))


@pytest.fixture
def queue(monkeypatch):
    """The stand-in squeue (every task of the array jobs asked about): fill the dict."""
    jobs: dict[str, Job] = {}

    def fake_squeue(keys):
        arrays = {key.partition("_")[0] for key in keys}
        return {k: j for k, j in jobs.items() if k.partition("_")[0] in arrays}, None

    monkeypatch.setattr(held_runs, "query_squeue", fake_squeue)
    return jobs


def test_a_sweep_submitted_twice_is_held_by_the_first_ones_tasks(tmp_path, queue):
    """Tables under the log dir, matched by (experiment, game, seed); running jobs first."""
    runs = tmp_path / "runs"
    dirs = [runs / "smoke" / "pong" / f"seed_{s}" for s in range(3)]
    _table(runs / "slurm-logs", 7, [("pong", s, str(d)) for s, d in enumerate(dirs)])
    _table(runs / "slurm-logs", 9, [("pong", 0, str(dirs[0]))])  # a third submission
    queue.update({"7_0": Job("RUNNING", name="dqn-smoke"),
                  "7_1": Job("PENDING", "Resources", name="dqn-smoke"),
                  "7_2": Job("COMPLETED"),  # ended: holds nothing
                  "9_0": Job("PENDING", "Priority", name="dqn-smoke")})
    holders, why = held_runs.find_holders([(d, s) for s, d in enumerate(dirs)],
                                          [runs / "slurm-logs", runs])
    assert why is None
    assert holders == {
        dirs[0]: [held_runs.Holder("7_0", "RUNNING", "dqn-smoke"),
                  held_runs.Holder("9_0", "PENDING", "dqn-smoke, Priority")],
        dirs[1]: [held_runs.Holder("7_1", "PENDING", "dqn-smoke, Resources")]}
    assert held_runs.array_jobs(holders) == ["7", "9"]
    lines = held_runs.held_report(holders, 3)
    assert lines[0] == ("2 of the 3 run dir(s) this sweep would write are held by queued or "
                        "running jobs (a sweep submitted twice?):")
    assert lines[1] == f"  {dirs[0]}: job 7_0 RUNNING (dqn-smoke); job 9_0 PENDING (dqn-smoke, Priority)"


def test_the_job_in_status_json_or_the_lock_holds_a_run_dir_without_a_table(tmp_path, queue):
    """Hydra's submitit launcher writes no task table: the run's own files name its job."""
    runs = tmp_path / "multirun" / "smoke" / "pong"
    by_status, by_lock, ended, other = (runs / f"seed_{s}" for s in range(4))
    _status(by_status, slurm={"job_id": "31", "array_job_id": "30", "array_task_id": "0"})
    by_lock.mkdir(parents=True)
    (by_lock / LOCK_FILE).write_text(json.dumps(
        {"host": "n1", "pid": 1, "slurm_job_id": "33", "slurm_array_job_id": "30",
         "slurm_array_task_id": "1"}))
    _status(ended, slurm={"job_id": "12"})  # its job has left the queue
    _status(other, slurm={"job_id": "40"}, state="finished")
    queue.update({"30_0": Job("RUNNING"), "30_1": Job("PENDING", "BeginTime"),
                  "40": Job("PENDING", "JobHeldUser", name="dqn-smoke")})
    targets = [(by_status, 0), (by_lock, 1), (ended, 2), (other, 3)]
    holders, _ = held_runs.find_holders(targets, [tmp_path / "multirun"])
    assert holders == {by_status: [held_runs.Holder("30_0", "RUNNING", "")],
                       by_lock: [held_runs.Holder("30_1", "PENDING", "BeginTime")],
                       other: [held_runs.Holder("40", "PENDING", "dqn-smoke, JobHeldUser")]}


def test_a_live_process_outside_slurm_holds_its_run_dir(tmp_path, queue):
    runs = tmp_path / "runs" / "smoke" / "pong"
    alive, dead, stale = (runs / f"seed_{s}" for s in range(3))
    _status(alive)  # this test's own pid, on this host, fresh heartbeat
    _status(dead, pid=2**22 + 12345)  # no such process
    _status(stale, host="elsewhere", heartbeat=time.time() - 7200)
    holders, _ = held_runs.find_holders([(alive, 0), (dead, 1), (stale, 2)], [])
    assert list(holders) == [alive]
    (holder,) = holders[alive]
    assert holder.describe() == (f"process {os.getpid()} on {socket.gethostname()} "
                                 "(running, not a SLURM job)")


def test_a_new_run_dir_with_no_table_anywhere_is_free(tmp_path, queue):
    run_dir = tmp_path / "runs" / "smoke" / "pong" / "seed_0"
    queue["5_0"] = Job("RUNNING")  # some other job: nothing ties it to this run dir
    holders, why = held_runs.find_holders([(run_dir, 0)], [tmp_path / "runs", tmp_path / "nope"])
    assert holders == {} and why is None
