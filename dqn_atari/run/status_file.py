"""A run's state and heartbeat, in ``<run_dir>/status.json``, rewritten WHILE it runs.

``summary.json`` is written when a run exits, so on disk a running, a preempted and a dead
run would look alike. The runner rewrites ``status.json`` on every change of state and at
most every ``HEARTBEAT_PERIOD_S`` seconds while it trains or evaluates; each write is atomic
(a temp file in the run dir, then ``os.replace``), so a reader never sees half a file.
``python -m dqn_atari.status`` reads it (one small file per run) and adds what SLURM says.

States a run writes (``RUN_STATES``):
  running      training or evaluating; ``phase`` is train, eval or final_eval
  interrupted  checkpointed on a signal (SIGTERM, SIGUSR1, ...) and exited: starting it
               again resumes it (under SLURM, a requeue does)
  finished     reached ``total_frames`` (and the final evaluation, when enabled)
  failed       stopped by an error (``error`` holds the message)
  nan          stopped on a non-finite loss; the last good checkpoint is kept
A run that dies without a word (``kill -9``, the out-of-memory killer, a node failure)
leaves ``running`` with a heartbeat that no longer advances.

Light on purpose: the status tool imports this module, so it imports no torch.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from pathlib import Path
from typing import Any

STATUS_FILE = "status.json"
STATUS_FORMAT = 1
HEARTBEAT_PERIOD_S = 30.0  # wall seconds between periodic rewrites
RUN_STATES = ("running", "interrupted", "finished", "failed", "nan")
# status.json key -> environment variable SLURM sets in a job
SLURM_ENV = {"job_id": "SLURM_JOB_ID", "array_job_id": "SLURM_ARRAY_JOB_ID",
             "array_task_id": "SLURM_ARRAY_TASK_ID", "restart_count": "SLURM_RESTART_COUNT"}


def slurm_ids(environ: dict[str, str] | None = None) -> dict[str, str] | None:
    """This process's SLURM job, array job, array task and restart count; None outside SLURM."""
    environ = os.environ if environ is None else environ
    ids = {key: environ[var] for key, var in SLURM_ENV.items() if environ.get(var)}
    return ids or None


def stdout_path() -> str | None:
    """The file this process's stdout goes to (a SLURM job's log), or None (a terminal, a pipe)."""
    try:
        target = os.readlink("/proc/self/fd/1")
    except OSError:
        return None
    return target if target.startswith("/") and os.path.isfile(target) else None


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` through a temp file in the same directory."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, allow_nan=True) + "\n")
    os.replace(tmp, path)


def read_json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when there is none (no file, not JSON, not an
    object): the readers of the run dir's JSON records (status, the evaluation report)."""
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def read_status(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``status.json``, or None when it has none (or it is not JSON)."""
    return read_json_object(Path(run_dir) / STATUS_FILE)


class StatusWriter:
    """Rewrites ``status.json`` for one start of a run (counts in agent steps and frames).

    ``update(...)`` writes at once (a change of state, the end of an iteration); ``beat(...)``
    writes only when ``period_s`` has passed since the last write (call it often: it costs a
    clock read). The rate is agent steps per wall second of this start, evaluation phases
    included, measured from the first count it is given; ``eta_s`` follows from it.
    """

    def __init__(self, run_dir: Path, *, experiment: str, game: str, seed: int,
                 total_agent_steps: int, frames_per_agent_step: int,
                 agent_steps_per_iteration: int, period_s: float = HEARTBEAT_PERIOD_S,
                 clock=time.time) -> None:
        self.path = Path(run_dir) / STATUS_FILE
        self.period_s = period_s
        self.clock = clock
        self.frames_per_agent_step = frames_per_agent_step
        self.total_agent_steps = total_agent_steps
        self.fields: dict[str, Any] = {
            "format": STATUS_FORMAT, "state": "running", "phase": None,
            "experiment": experiment, "game": game, "seed": seed,
            "agent_steps": 0, "total_agent_steps": total_agent_steps,
            "frames": 0, "total_frames": total_agent_steps * frames_per_agent_step,
            "iteration": 0,
            "total_iterations": math.ceil(total_agent_steps / max(agent_steps_per_iteration, 1)),
            "agent_steps_per_s": None, "eta_s": None, "last_eval": None, "last_train": None,
            "error": None, "signal": None,
            "host": socket.gethostname(), "pid": os.getpid(), "slurm": slurm_ids(),
            "log": stdout_path(), "started": clock(),
        }
        self._rate_origin: tuple[float, int] | None = None
        self._last_write = -math.inf

    def _count(self, agent_steps: int) -> None:
        now = self.clock()
        self.fields["agent_steps"] = agent_steps
        self.fields["frames"] = agent_steps * self.frames_per_agent_step
        if self._rate_origin is None:
            self._rate_origin = (now, agent_steps)
            return
        t0, steps0 = self._rate_origin
        if now > t0 and agent_steps > steps0:
            rate = (agent_steps - steps0) / (now - t0)
            self.fields["agent_steps_per_s"] = round(rate, 2)
            self.fields["eta_s"] = round(max(self.total_agent_steps - agent_steps, 0) / rate, 1)

    def update(self, *, agent_steps: int | None = None, **fields: Any) -> None:
        """Set ``fields`` (state, phase, iteration, last_eval, last_train, error, signal) and write
        now."""
        unknown = set(fields) - set(self.fields)
        if unknown:
            raise KeyError(f"status.json has no field(s) {sorted(unknown)}")
        if agent_steps is not None:
            self._count(agent_steps)
        self.fields.update(fields)
        if fields.get("state") in ("finished",):
            self.fields["eta_s"] = 0.0
        self._write()

    def beat(self, agent_steps: int | None = None) -> None:
        """The periodic heartbeat: writes when ``period_s`` has passed since the last write."""
        if agent_steps is not None:
            self._count(agent_steps)
        if self.clock() - self._last_write >= self.period_s:
            self._write()

    def _write(self) -> None:
        now = self.clock()
        self.fields["heartbeat"] = now
        self.fields["heartbeat_iso"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now))
        try:
            write_json_atomic(self.path, self.fields)
        except OSError as error:  # a full disk must not stop training; say it once per write
            print(f"[dqn_atari] warning: cannot write {self.path}: {error.strerror}", flush=True)
        self._last_write = now


def record_failure(run_dir: str | Path, state: str, error: BaseException) -> None:
    """Mark a run ``failed`` or ``nan`` in its ``status.json`` (kept fields, new state and error).

    For the caller that catches the error (``train.train``): the run may have died before
    it wrote any status, so the file is created when the run dir exists.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return
    status = read_status(run_dir) or {"format": STATUS_FORMAT}
    now = time.time()
    status.update({"state": state, "error": f"{type(error).__name__}: {error}".strip(),
                   "heartbeat": now, "host": socket.gethostname(), "pid": os.getpid(),
                   "slurm": slurm_ids(), "eta_s": None,
                   "heartbeat_iso": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now))})
    status.setdefault("log", stdout_path())
    try:
        write_json_atomic(run_dir / STATUS_FILE, status)
    except OSError:
        pass  # the error itself is what the user must see
