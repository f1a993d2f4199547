"""Which queued or running jobs hold the run dirs a sweep would write (slurm/sweep.sh's check).

A sweep submitted twice on the same runs is a common slip: the second submission's tasks
wait for the first's run-dir lock and exit 2, or start again on a run that has finished.
``find_holders`` names, for each run dir a sweep would write, the SLURM jobs that are queued
or running for it, read exactly as ``python -m dqn_atari.status`` reads them
(dqn_atari/status.py): the sweeps' ``*.tasks.tsv`` tables (slurm/sweep.sh) under the log dir
and the runs root, the job in the run's ``status.json``, and the job written into its
``.lock`` (dqn_atari/run/lock.py); then one ``squeue`` call says which of them are still
queued or running. A run that ``status.json`` shows running outside SLURM (a live process,
or a fresh heartbeat from another host) holds its run dir too.

Tables are matched to run dirs by (experiment, game, seed), as the status tool does.
Light on purpose (no torch, no Hydra): only small files and one ``squeue`` call.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dqn_atari.run.lock import LOCK_FILE
from dqn_atari.status import (
    ACTIVE,
    WAITING,
    Run,
    classify,
    collect_runs,
    job_key,
    job_order,
    load_run_dir,
    query_squeue,
)


@dataclass(frozen=True)
class Holder:
    """A job (or a process outside SLURM) that holds a run dir."""

    job: str | None  # "<array job>_<task>" or "<job>"; None for a process outside SLURM
    state: str  # squeue's state (RUNNING, PENDING, ...), or the run's (running, stalled)
    detail: str = ""  # the job's name and why it waits; for a process, which one

    def describe(self) -> str:
        if self.job is None:
            return f"{self.detail} ({self.state}, not a SLURM job)"
        return f"job {self.job} {self.state}" + (f" ({self.detail})" if self.detail else "")


def _run_key(run_dir: Path, seed: int) -> tuple[str, str, int]:
    """(experiment, game, seed) of a run dir <root>/<experiment>/<game>/seed_<seed>."""
    return (run_dir.parent.parent.name, run_dir.parent.name, seed)


def lock_job(run_dir: Path) -> str | None:
    """The SLURM job written into the run dir's lock file by its last holder, if any.

    Read as text, without taking the lock: a run starting at that moment is never refused.
    """
    try:
        info = json.loads((Path(run_dir) / LOCK_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict):
        return None
    return job_key({"job_id": info.get("slurm_job_id"),
                     "array_job_id": info.get("slurm_array_job_id"),
                     "array_task_id": info.get("slurm_array_task_id")})


def find_holders(targets: Sequence[tuple[Path, int]], search_roots: Sequence[Path],
                 now: float | None = None) -> tuple[dict[Path, list[Holder]], str | None]:
    """The holders of each run dir of ``targets`` ((run dir, seed) pairs) that has any.

    ``search_roots``: where sweep task tables may be (the log dir, the runs root). Returns
    ``{run_dir: [holders, running first]}`` and, when ``squeue`` could not be asked, why
    (then only processes outside SLURM are found).
    """
    now = time.time() if now is None else now
    known: dict[tuple[str, str, int], Run] = {}
    for root in dict.fromkeys(Path(r) for r in search_roots):
        if root.is_dir():
            for run in collect_runs(root):
                merged = known.setdefault(run.key, run)
                if merged is not run:
                    merged.jobs += [j for j in run.jobs if j not in merged.jobs]
    per_dir: dict[Path, tuple[Run | None, list[str]]] = {}
    for run_dir, seed in targets:
        run_dir = Path(run_dir)
        own = load_run_dir(run_dir) if run_dir.is_dir() else None
        jobs = list(own.jobs) if own else []
        listed = known.get(_run_key(run_dir, seed))
        jobs += [j for j in (listed.jobs if listed else []) if j not in jobs]
        locked = lock_job(run_dir)
        if locked and locked not in jobs:
            jobs.append(locked)
        per_dir[run_dir] = (own, sorted(jobs, key=job_order, reverse=True))

    queue, why = query_squeue([j for _, jobs in per_dir.values() for j in jobs])
    holders: dict[Path, list[Holder]] = {}
    for run_dir, (own, jobs) in per_dir.items():
        found = []
        for states in (ACTIVE, WAITING):
            for key in jobs:
                job = (queue or {}).get(key)
                if job is not None and job.state in states:
                    detail = ", ".join(x for x in (
                        job.name, job.reason if job.reason not in ("", "None") else "") if x)
                    found.append(Holder(key, job.state, detail))
        status = own.status if own is not None else None
        if not found and status is not None and not status.get("slurm"):
            state, _ = classify(own, None, queue_known=queue is not None, now=now)
            if state in ("running", "stalled"):
                found.append(Holder(None, state, f"process {status.get('pid')} on "
                                                  f"{status.get('host')}"))
        if found:
            holders[run_dir] = found
    return holders, why


def array_jobs(holders: dict[Path, list[Holder]]) -> list[str]:
    """The (array) job ids among the holders, for one ``scancel``."""
    ids = {h.job.partition("_")[0] for hs in holders.values() for h in hs if h.job}
    return sorted(ids, key=lambda j: int(j) if j.isdigit() else -1)


def held_report(holders: dict[Path, list[Holder]], n_targets: int) -> list[str]:
    """The lines a user sees: how many run dirs are held, then each with its holders."""
    head = (f"{len(holders)} of the {n_targets} run dir(s) this sweep would write "
            f"{'is' if len(holders) == 1 else 'are'} held by queued or running jobs "
            "(a sweep submitted twice?):")
    lines = [head]
    lines += [f"  {run_dir}: " + "; ".join(h.describe() for h in hs)
              for run_dir, hs in holders.items()]
    return lines
