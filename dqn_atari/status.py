"""``python -m dqn_atari.status [RUNS_ROOT]``: the runs of a sweep at a glance, game x seed.

One row per run, one summary row per game, and a total. Columns: state, frames done and
total, iteration, the mean return of the last finished iteration's training games (Dopamine's
figure: the one score of runs without evaluation phases), the last evaluation score (``*``: the
end-of-run Nature evaluation, else the last iteration's evaluation phase) and its
human-normalised score, agent steps per wall
second (evaluation included) and the ETA that follows, the SLURM job and array task, the
log. States:

  queued     not started: in ``squeue``, or listed in a sweep's ``*.tasks.tsv`` (sweep.sh)
  running    its ``status.json`` heartbeat advances, or its SLURM job runs
  stalled    its process is alive (or its job runs) but its heartbeat is older than
             ``--stale-after``: stopped (SIGSTOP, a suspended job), hung or on a frozen node
  requeued   checkpointed on a signal and waiting in the queue to resume
  preempted  checkpointed on a signal and not in the queue: start it again to resume
  failed     stopped by an error, or died: its job left the queue (or its process is gone)
             while ``status.json`` still said running
  nan        stopped on a non-finite loss (the last good checkpoint is kept)
  finished   reached its frame budget (and its end-of-run evaluation)
  unknown    no ``status.json`` and nothing in the queue to go by
  invalid    its ``status.json`` cannot be read as a run's status (not JSON, or a field of the
             wrong type): the note says what is wrong; the other runs still show

A run that another job also waits to write (a sweep submitted twice) shows the job that runs,
with the waiting duplicate named in the note.

What it reads: ``<run>/status.json`` (written while a run runs: dqn_atari/run/status_file.py),
``summary.json`` of runs that predate it, the sweeps' ``*.tasks.tsv`` (slurm/sweep.sh), one
``squeue`` call (and ``sacct`` when SLURM accounting answers). Small files only, no torch,
no wandb: it answers at once for hundreds of runs. Exit code 1 when a run failed or stopped
on NaN (for scripts), 2 on bad input, else 0.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dqn_atari.run.status_file import STATUS_FILE

STATES = ("queued", "running", "stalled", "requeued", "preempted", "failed", "nan", "finished",
          "unknown", "invalid")
FAILING = ("failed", "nan")
STALE_AFTER_S = 900.0  # a heartbeat older than this (runs write one every 30 s) is stale
SLURM_TIMEOUT_S = 20.0
EXIT_OK, EXIT_FAILED_RUNS, EXIT_BAD_INPUT = 0, 1, 2
# squeue states: a job that runs, one that waits; any other state has ended.
ACTIVE = {"RUNNING", "COMPLETING", "CONFIGURING", "STAGE_OUT", "SUSPENDED", "RESIZING",
          "SIGNALING"}
WAITING = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD",
           "SPECIAL_EXIT"}
_SKIPPED_DIRS = {"wandb", "checkpoints", "metrics", "corrupt", "__pycache__"}
NOTE_WIDTH = 90  # characters of a note in the table (--json has it whole)
_MAX_DEPTH = 4  # RUNS_ROOT/<experiment>/<game>/seed_<seed> is depth 3


# ----------------------------------------------------------------------------- inputs
@dataclass
class Run:
    """One (experiment, game, seed): its run dir (None while queued) and its SLURM jobs."""

    experiment: str
    game: str
    seed: int
    run_dir: Path | None = None
    status: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None  # only read when there is no status.json
    jobs: list[str] = field(default_factory=list)  # "<array job>_<task>" or "<job>"
    log: str | None = None
    problem: str | None = None  # why status.json cannot be used (then ``status`` is None)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.experiment, self.game, self.seed)


@dataclass
class Job:
    """What SLURM says of one job (array task)."""

    state: str
    reason: str = ""
    start: float | None = None  # unix time of its latest start (squeue %S), when known
    name: str = ""  # the job's name (squeue %j), when known


def _is_run_dir(path: Path) -> bool:
    """Any directory with a status.json; a ``seed_*`` one also by its config or summary."""
    return (path / STATUS_FILE).exists() or path.name.startswith("seed_") and any(
        (path / name).exists() for name in ("config.yaml", "summary.json"))


def discover(root: Path) -> tuple[list[Path], list[Path]]:
    """Run dirs and sweep task tables under ``root``, without entering any run dir."""
    if _is_run_dir(root):
        return [root], []
    run_dirs, tables = [], []
    stack = [(root, 0)]
    while stack:
        directory, depth = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry.name.endswith(".tasks.tsv") and entry.is_file():
                tables.append(Path(entry.path))
            elif entry.is_dir(follow_symlinks=False) and entry.name not in _SKIPPED_DIRS \
                    and not entry.name.startswith("."):
                path = Path(entry.path)
                if _is_run_dir(path):
                    run_dirs.append(path)
                elif depth + 1 < _MAX_DEPTH:
                    stack.append((path, depth + 1))
    return sorted(run_dirs), sorted(tables)


def _seed_of(name: str) -> int | None:
    text = name.removeprefix("seed_")
    return int(text) if text.lstrip("-").isdigit() else None


def job_key(slurm: dict[str, Any] | None) -> str | None:
    if not slurm:
        return None
    if slurm.get("array_job_id") and slurm.get("array_task_id") is not None:
        return f"{slurm['array_job_id']}_{slurm['array_task_id']}"
    return slurm.get("job_id")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


# status.json fields the table reads, and the types they must have.
_NUMBER = (int, float)
STATUS_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "state": (str,), "heartbeat": _NUMBER, "frames": _NUMBER, "total_frames": _NUMBER,
    "iteration": (int,), "total_iterations": (int,), "seed": (int,), "pid": (int,),
    "agent_steps_per_s": _NUMBER, "eta_s": _NUMBER, "experiment": (str,), "game": (str,),
    "host": (str,), "log": (str,), "error": (str,), "slurm": (dict,), "last_eval": (dict,),
    "last_train": (dict,),
}


def status_problem(status: Any) -> str | None:
    """What makes a parsed status.json unusable (a field of the wrong type), or None."""
    if not isinstance(status, dict):
        return f"status.json holds a {type(status).__name__}, not an object"
    for key, types in STATUS_FIELD_TYPES.items():
        value = status.get(key)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            return f"status.json field {key!r} is {value!r}, not {types[0].__name__}"
    for key in ("last_eval", "last_train"):
        score = (status.get(key) or {}).get("score")
        if score is not None and (not isinstance(score, _NUMBER) or isinstance(score, bool)):
            return f"status.json field '{key}.score' is {score!r}, not a number"
    return None


def load_run_dir(path: Path) -> Run | None:
    """A run from its directory: identity from status.json, else from the path.

    A status.json that cannot be used (not JSON, a field of the wrong type) gives a run
    whose ``problem`` says why, so that it shows as one ``invalid`` row.
    """
    seed = _seed_of(path.name)
    experiment, game = path.parent.parent.name, path.parent.name
    status, problem = None, None
    if (path / STATUS_FILE).exists():
        try:
            status = json.loads((path / STATUS_FILE).read_text())
        except (OSError, ValueError) as error:
            problem = f"status.json is unreadable ({type(error).__name__}: {error})"
        else:
            problem = status_problem(status)
        if problem is not None:
            status = None
    if status is not None:
        experiment = status.get("experiment") or experiment
        game = status.get("game") or game
        seed = status.get("seed", seed)
    if seed is None:
        if problem is None and status is None:
            return None
        seed = -1  # shown as such: the directory name says no seed either
        problem = problem or f"{path.name} is not named seed_<N> and its status.json has no seed"
    run = Run(str(experiment), str(game), int(seed), run_dir=path, status=status,
              problem=problem)
    if status is None:
        run.summary = _read_json(path / "summary.json")
    else:
        run.log = status.get("log")
        key = job_key(status.get("slurm"))
        if key:
            run.jobs.append(str(key))
    return run


def read_task_table(path: Path) -> list[tuple[tuple[str, str, int], str, str]]:
    """(experiment, game, seed), job key, log of each task of a sweep.sh task table."""
    job_id = path.name.removesuffix(".tasks.tsv").rsplit("_", 1)[-1]
    rows = []
    try:
        with open(path, newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                run_dir = Path(row["run_dir"])
                rows.append(((run_dir.parent.parent.name, row["game"], int(row["seed"])),
                             f"{job_id}_{row['task']}", row.get("log") or ""))
    except (OSError, KeyError, ValueError) as error:
        print(f"warning: skipping {path}: not a sweep.sh task table ({error})",
              file=sys.stderr)
    return rows


def job_order(key: str) -> tuple[int, int]:
    job, _, task = key.partition("_")
    return (int(job) if job.isdigit() else -1, int(task) if task.isdigit() else -1)


def collect_runs(root: Path) -> list[Run]:
    """Every run under ``root``: its run dir, and the sweep tasks that write (or will) it."""
    run_dirs, tables = discover(root)
    runs: dict[tuple[str, str, int], Run] = {}
    for path in run_dirs:
        run = load_run_dir(path)
        if run is not None and run.key not in runs:
            runs[run.key] = run
    for table in tables:
        for key, job, log in read_task_table(table):
            run = runs.setdefault(key, Run(*key))
            if job not in run.jobs:
                run.jobs.append(job)
            if run.log is None and log:
                run.log = log
    for run in runs.values():
        run.jobs.sort(key=job_order, reverse=True)  # newest first
    return sorted(runs.values(), key=lambda r: r.key)


# ------------------------------------------------------------------------------ SLURM
def query_squeue(job_ids: Iterable[str]) -> tuple[dict[str, Job] | None, str | None]:
    """Jobs of ``job_ids`` (array tasks one per line; recently ended ones too), or None + why."""
    ids = sorted({key.partition("_")[0] for key in job_ids})
    if shutil.which("squeue") is None:
        return None, "squeue not found (not a SLURM host)"
    if not ids:
        return {}, None
    try:
        result = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-j", ",".join(ids),
                                 "-o", "%i|%T|%r|%S|%j"], capture_output=True, text=True,
                                timeout=SLURM_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return None, f"squeue did not answer within {SLURM_TIMEOUT_S:.0f} s"
    if result.returncode != 0:
        if "Invalid job id" in result.stderr:  # every job has left the controller's memory
            return {}, None
        return None, f"squeue failed: {result.stderr.strip()[:200]}"
    return _parse_jobs(result.stdout.splitlines(), "|"), None


def query_sacct(job_ids: Iterable[str]) -> dict[str, Job]:
    """Final states from SLURM accounting; {} when there is no accounting."""
    ids = sorted({key.partition("_")[0] for key in job_ids})
    if not ids or shutil.which("sacct") is None:
        return {}
    try:
        result = subprocess.run(["sacct", "-n", "-P", "-X", "-j", ",".join(ids),
                                 "-o", "JobID,State"], capture_output=True, text=True,
                                timeout=SLURM_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return {}
    return _parse_jobs(result.stdout.splitlines(), "|") if result.returncode == 0 else {}


def _slurm_time(text: str) -> float | None:
    """SLURM's local time stamp (2026-11-30T23:01:40) as unix time; None for N/A, Unknown."""
    try:
        return time.mktime(time.strptime(text.strip(), "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def _parse_jobs(lines: Sequence[str], sep: str) -> dict[str, Job]:
    jobs = {}
    for line in lines:
        parts = line.strip().split(sep)
        if len(parts) >= 2 and parts[0]:
            state = parts[1].split()[0]  # sacct: "CANCELLED by 0"
            jobs[parts[0]] = Job(state, parts[2] if len(parts) > 2 else "",
                                 _slurm_time(parts[3]) if len(parts) > 3 else None,
                                 sep.join(parts[4:]))  # a name may hold the separator
    return jobs


def pick_job(keys: Sequence[str], queue: dict[str, Job], accounting: dict[str, Job]
             ) -> tuple[str | None, Job | None]:
    """The job that says most about a run: a running one, else a waiting one, else the newest
    known. (A sweep submitted twice queues a second job for a run while the first runs it.)"""
    for states in (ACTIVE, WAITING):
        for key in keys:
            job = queue.get(key)
            if job is not None and job.state in states:
                return key, job
    for key in keys:
        job = queue.get(key) or accounting.get(key)
        if job is not None:
            return key, job
    return (keys[0] if keys else None), None


# ----------------------------------------------------------------------------- states
def _ago(seconds: float) -> str:
    return f"{format_duration(seconds)} ago"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def classify(run: Run, job: Job | None, *, queue_known: bool, now: float,
             stale_after_s: float = STALE_AFTER_S, host: str | None = None,
             pid_alive=_pid_alive) -> tuple[str, str]:
    """(state, note) of a run from what it wrote and what SLURM says (module docstring)."""
    if run.problem is not None:
        return "invalid", run.problem
    status = run.status
    written = status.get("state") if status else None
    if status is None and run.summary:  # a run from before status.json
        written = run.summary.get("status")
    age = now - float(status.get("heartbeat") or now) if status else 0.0
    error = (status or {}).get("error") or ""

    if job is not None and job.state in ACTIVE:
        if written in ("finished", "failed", "nan"):
            return written, error
        if written is None:
            return "running", "starting"
        if written == "interrupted":
            # This start was stopped and is exiting (SLURM resets a COMPLETING job's start).
            heartbeat = float((status or {}).get("heartbeat") or 0.0)
            if job.state == "COMPLETING" or (job.start is not None and heartbeat >= job.start):
                return "preempted", "exiting after its checkpoint"
            return "running", "resuming"
        if age > stale_after_s:
            return "stalled", f"SLURM: {job.state}, but no heartbeat for {format_duration(age)}"
        return "running", ""
    if job is not None and job.state in WAITING:
        reason = f"waiting ({job.reason})" if job.reason and job.reason != "None" else "waiting"
        if written in ("interrupted", "running"):
            return "requeued", reason
        return "queued", reason
    if written in ("finished", "failed", "nan"):
        return written, error
    if written == "interrupted":
        signal = (status or {}).get("signal") or (run.summary or {}).get("signal") or "a signal"
        return "preempted", f"checkpointed on {signal}; start it again to resume"
    if written == "running":
        if job is not None:  # it ended without writing an end: killed, out of memory, timeout
            return "failed", f"SLURM: {job.state}; last heartbeat {_ago(age)}"
        slurm = status.get("slurm") if status else None
        if slurm and queue_known:
            return "failed", f"not in the queue; last heartbeat {_ago(age)}"
        same_host = status.get("host") == (host or socket.gethostname())
        if not slurm and same_host and status.get("pid"):
            if pid_alive(int(status["pid"])):
                if age > stale_after_s:
                    return "stalled", (f"process {status['pid']} is alive but wrote no heartbeat "
                                       f"for {format_duration(age)} (stopped or hung?)")
                return "running", ""
            return "failed", f"process {status['pid']} is gone; last heartbeat {_ago(age)}"
        if age > stale_after_s:
            return "failed", f"no heartbeat for {format_duration(age)}"
        return "running", ""
    if job is not None:  # ended before it wrote anything
        if job.state == "COMPLETED":
            return "unknown", "SLURM: COMPLETED, but the run wrote no status.json"
        return "failed", f"SLURM: {job.state}, before the run started; see its log"
    if run.run_dir is None and run.jobs and queue_known:
        if run.log and Path(run.log).is_file():
            return "failed", "ended before the run started; see its log"
        return "unknown", "not in the queue and never started"
    return "unknown", "no status.json" if run.run_dir is not None else "no run dir"


# ------------------------------------------------------------------------------- rows
def format_duration(seconds: float | None) -> str:
    """1d04h, 5h12m, 12m, 45s; '-' when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = max(int(seconds), 0)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m" if minutes else f"{secs}s"


def format_frames(frames: float | None) -> str:
    """2.5M, 12.3M, 200M, 1000M, 3.23k, 801k, 600: three significant digits or whole units."""
    if frames is None:
        return "?"
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if frames >= scale:
            value = frames / scale
            return f"{value:.0f}{unit}" if value >= 100 else f"{value:.3g}{unit}"
    return f"{int(frames)}"


def _display_path(path: str | None) -> str:
    if not path:
        return "-"
    try:
        return os.path.relpath(path) if Path(path).is_relative_to(Path.cwd()) else path
    except ValueError:
        return path


def run_row(run: Run, state: str, note: str, job_key: str | None) -> dict[str, Any]:
    """The numbers of one run (None where unknown)."""
    from dqn_atari.scores import human_normalized_or_none  # lazily: the tool starts without numpy

    status = run.status or {}
    summary = run.summary or {}
    last_eval = status.get("last_eval") or {}
    last_train = status.get("last_train") or {}
    score = last_eval.get("score")
    running = state == "running" and status.get("state") == "running"  # this start's rate
    return {
        "experiment": run.experiment, "game": run.game, "seed": run.seed, "state": state,
        "frames": status.get("frames", summary.get("frames")),
        "total_frames": status.get("total_frames"),
        "iteration": status.get("iteration", summary.get("iteration")),
        "total_iterations": status.get("total_iterations"),
        "eval_score": score, "eval_kind": last_eval.get("kind"),
        "eval_at": (last_eval.get("kind"), last_eval.get("frames")),
        "train_score": last_train.get("score"), "train_at": last_train.get("frames"),
        "hns": human_normalized_or_none(run.game, score),
        "agent_steps_per_s": status.get("agent_steps_per_s") if running else None,
        "eta_s": status.get("eta_s") if running else None,
        "job": job_key, "log": run.log, "run_dir": str(run.run_dir) if run.run_dir else None,
        "note": note, "heartbeat": status.get("heartbeat"),
    }


def status_rows(runs: Sequence[Run], queue: dict[str, Job] | None,
                accounting: dict[str, Job], now: float,
                stale_after_s: float = STALE_AFTER_S) -> list[dict[str, Any]]:
    rows = []
    for run in runs:
        key, job = pick_job(run.jobs, queue or {}, accounting)
        state, note = classify(run, job, queue_known=queue is not None, now=now,
                               stale_after_s=stale_after_s)
        waiting = [k for k in run.jobs if k != key and (queue or {}).get(k) is not None
                   and queue[k].state in WAITING]
        if waiting and job is not None and job.state in ACTIVE:
            duplicate = f"also queued for this run dir: {', '.join(waiting)} (submitted twice?)"
            note = f"{note}; {duplicate}" if note else duplicate
        rows.append(run_row(run, state, note, key))
    return rows


def state_counts(rows: Sequence[dict[str, Any]]) -> str:
    counts = {s: sum(r["state"] == s for r in rows) for s in STATES}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n)


def _mean(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None and math.isfinite(v)]
    return sum(known) / len(known) if known else None


def _points(rows: Sequence[dict[str, Any]], score_key: str, at_key: str) -> set:
    """Where the seeds' known scores were measured (frames; for evaluations, also the kind)."""
    return {r[at_key] for r in rows if r[score_key] is not None and math.isfinite(r[score_key])}


def _frames_key(frames: Any) -> float:
    return frames if isinstance(frames, (int, float)) else -1.0


def _frames_text(frames: Any) -> str:
    return format_frames(frames) if isinstance(frames, (int, float)) else "?"


def game_row(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The per-game summary: states counted, frames summed, scores averaged over seeds.

    A score is averaged only over seeds measured at one point (the same frames, and for
    evaluations the same kind): a mean of one seed's iteration 1 and another's iteration 3
    describes no point of the run. Otherwise the row shows none and its note says why."""
    def total(key: str) -> float | None:
        values = [r[key] for r in rows if r[key] is not None]
        return sum(values) if values else None

    notes = []
    train_points = _points(rows, "train_score", "train_at")
    if len(train_points) > 1:
        at = ", ".join(_frames_text(f) for f in sorted(train_points, key=_frames_key))
        notes.append(f"train not averaged: seeds at different frames ({at})")
    eval_points = _points(rows, "eval_score", "eval_at")
    if len(eval_points) > 1:
        at = ", ".join(f"{'final' if kind == 'nature' else kind} at {_frames_text(f)}"
                       for kind, f in sorted(eval_points, key=lambda p: _frames_key(p[1])))
        notes.append(f"eval not averaged: seeds at different points ({at})")
    same_eval = len(eval_points) <= 1

    rates = [r["agent_steps_per_s"] for r in rows if r["agent_steps_per_s"] is not None]
    etas = [r["eta_s"] for r in rows if r["eta_s"] is not None]
    return {
        "experiment": rows[0]["experiment"], "game": rows[0]["game"], "seed": "all",
        "state": state_counts(rows), "frames": total("frames"),
        "total_frames": total("total_frames"), "iteration": None, "total_iterations": None,
        "eval_score": _mean(r["eval_score"] for r in rows) if same_eval else None,
        "eval_kind": None, "eval_at": None,
        "train_score": (_mean(r["train_score"] for r in rows)
                        if len(train_points) <= 1 else None), "train_at": None,
        "hns": _mean(r["hns"] for r in rows) if same_eval else None,
        "agent_steps_per_s": sum(rates) if rates else None,
        "eta_s": max(etas) if etas else None, "job": None, "log": None,
        "note": "; ".join(notes),
    }


COLUMNS = ("game", "seed", "state", "frames", "iter", "train", "eval", "HNS %", "steps/s",
           "ETA", "SLURM job", "log", "note")


def _score_text(score: float | None) -> str:
    if score is None or not math.isfinite(score):
        return "-"
    return f"{score:,.0f}" if abs(score) >= 1000 else f"{score:.1f}"


def _cells(row: dict[str, Any]) -> list[str]:
    frames = (f"{format_frames(row['frames'])}/{format_frames(row['total_frames'])}"
              if row["frames"] is not None or row["total_frames"] is not None else "-")
    iteration = "-" if row["iteration"] is None else (
        f"{row['iteration']}/{row['total_iterations']}" if row["total_iterations"] else
        str(row["iteration"]))
    score_text = _score_text(row["eval_score"])
    if row["eval_kind"] == "nature" and score_text != "-":
        score_text += "*"
    return [
        row["game"], str(row["seed"]), row["state"], frames, iteration,
        _score_text(row["train_score"]), score_text,
        "-" if row["hns"] is None else f"{100 * row['hns']:.1f}",
        "-" if row["agent_steps_per_s"] is None else f"{row['agent_steps_per_s']:.0f}",
        format_duration(row["eta_s"]) if row["eta_s"] is not None else "-",
        row["job"] or "-", _display_path(row["log"]), _shorten(row["note"] or ""),
    ]


def _shorten(text: str, width: int = NOTE_WIDTH) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def render(rows: Sequence[dict[str, Any]], *, games_only: bool = False,
           squeue_note: str | None = None) -> str:
    """The table: each run, then its game's summary row, per experiment; then the total."""
    lines: list[list[str]] = []
    experiments = sorted({r["experiment"] for r in rows})
    for experiment in experiments:
        if len(experiments) > 1:
            lines.append([f"[{experiment}]"] + [""] * (len(COLUMNS) - 1))
        of_experiment = [r for r in rows if r["experiment"] == experiment]
        for game in sorted({r["game"] for r in of_experiment}):
            of_game = [r for r in of_experiment if r["game"] == game]
            if not games_only:
                lines.extend(_cells(r) for r in of_game)
            if len(of_game) > 1 or games_only:
                lines.append(_cells(game_row(of_game)))
    widths = [max([len(c)] + [len(line[i]) for line in lines])
              for i, c in enumerate(COLUMNS)]
    out = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths)).rstrip()]
    out += ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()
            for line in lines]
    out.append("")
    out.append(f"{len(rows)} runs: {state_counts(rows) or 'none'}. train: mean return of the "
               "last finished iteration's training games. eval: last evaluation "
               "phase; * = end-of-run Nature evaluation (eval_nature.json). steps/s: agent "
               "steps per wall second, evaluation included.")
    if squeue_note:
        out.append(f"note: {squeue_note}; states come from the runs' status.json alone")
    return "\n".join(out)


def snapshot(root: Path, stale_after_s: float = STALE_AFTER_S
             ) -> tuple[list[dict[str, Any]], str | None]:
    """The rows of every run under ``root`` now, and why squeue could not be asked (or None)."""
    runs = collect_runs(root)
    keys = [key for run in runs for key in run.jobs]
    queue, why = query_squeue(keys)
    accounting = query_sacct(keys) if keys else {}
    return status_rows(runs, queue, accounting, time.time(), stale_after_s), why


def exit_code(rows: Sequence[dict[str, Any]]) -> int:
    return EXIT_FAILED_RUNS if any(r["state"] in FAILING for r in rows) else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dqn_atari.status",
        description="State of every run under RUNS_ROOT (game x seed), with SLURM's view.")
    parser.add_argument("runs_root", nargs="?", default="runs", type=Path,
                        help="a directory of run dirs (or one run dir); default: runs")
    parser.add_argument("--watch", nargs="?", const=30.0, type=float, metavar="SECONDS",
                        help="redraw every SECONDS (30) until Ctrl-C")
    parser.add_argument("--games-only", action="store_true", help="only the per-game rows")
    parser.add_argument("--json", action="store_true", help="the rows as JSON")
    parser.add_argument("--stale-after", type=float, default=STALE_AFTER_S / 60,
                        metavar="MINUTES",
                        help="a heartbeat older than this is stale (default: 15)")
    args = parser.parse_args(argv)
    if not args.runs_root.is_dir():
        print(f"error: {args.runs_root} is not a directory: pass the directory that holds the "
              "run dirs (runs/, or the --runs-root of slurm/sweep.sh)", file=sys.stderr)
        return EXIT_BAD_INPUT
    stale = args.stale_after * 60
    while True:
        rows, why = snapshot(args.runs_root, stale)
        if args.json:
            text = json.dumps(rows, indent=1, default=str)
        elif not rows:
            text = (f"no runs under {args.runs_root} (no run dir with {STATUS_FILE}, "
                    "config.yaml or summary.json, no *.tasks.tsv)")
        else:
            text = render(rows, games_only=args.games_only, squeue_note=why)
        if args.watch is None:
            print(text, flush=True)  # a closed pipe raises here, inside the handler below
            return exit_code(rows)
        print("\033[H\033[2J" + time.strftime("%Y-%m-%d %H:%M:%S") + f"  {args.runs_root}\n"
              + text, flush=True)
        try:
            time.sleep(args.watch)
        except KeyboardInterrupt:
            return exit_code(rows)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:  # `... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_OK)
