"""Metric sinks: a CSV in the run directory (always) and wandb (offline by default).

Rows are dicts; every row carries ``frames`` and ``agent_steps`` (training counts).
On resume, rows written after the checkpoint that is resumed are dropped first
(``CsvSink.truncate``), so no agent step is ever counted twice.
"""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path
from typing import Any

EPISODE_FIELDS = (
    "phase", "iteration", "frames", "agent_steps", "raw_return", "clipped_return",
    "length_agent_steps", "length_frames", "epsilon", "wall_time_s",
)
ITERATION_FIELDS = (
    "iteration", "frames", "agent_steps", "updates", "loss", "mean_q", "train_episodes",
    "train_raw_return_mean", "eval_raw_return_mean", "eval_raw_return_std", "eval_episodes",
    "train_agent_steps_per_s", "wall_time_s",
)
WANDB_MODES = ("offline", "online", "disabled")


class CsvSink:
    """Append-only CSV with a fixed header; flushed after every row (crash-safe enough)."""

    def __init__(self, path: Path, fields: tuple[str, ...]) -> None:
        self.path = Path(path)
        self.fields = fields
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._file = open(self.path, "a", newline="")  # noqa: SIM115 -- open for the run
        self._writer = csv.DictWriter(self._file, fieldnames=fields, extrasaction="raise")
        if new:
            self._writer.writeheader()
            self._file.flush()

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow(row)
        self._file.flush()

    def truncate(self, keep) -> int:
        """Keep only rows for which ``keep(row)`` is true; returns the number dropped."""
        self._file.close()
        with open(self.path, newline="") as f:
            rows = list(csv.DictReader(f))
        kept = [r for r in rows if keep(r)]
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.fields)
            writer.writeheader()
            writer.writerows(kept)
        tmp.replace(self.path)
        self._file = open(self.path, "a", newline="")  # noqa: SIM115 -- open for the run
        self._writer = csv.DictWriter(self._file, fieldnames=self.fields, extrasaction="raise")
        return len(rows) - len(kept)

    def close(self) -> None:
        self._file.close()


def wandb_run_id(experiment: str, game: str, seed: int) -> str:
    """Deterministic wandb run id, so a resumed or requeued run continues the same run."""
    readable = re.sub(r"[^A-Za-z0-9_-]", "-", f"{experiment}__{game}__seed{seed}")
    digest = hashlib.sha1(readable.encode()).hexdigest()[:6]
    return f"{readable}-{digest}"[:64]


WANDB_DEFAULT_URL = "https://api.wandb.ai"
WANDB_PROBE_TIMEOUT_S = 5.0


def wandb_server_unreachable(timeout_s: float = WANDB_PROBE_TIMEOUT_S) -> str | None:
    """Why wandb's server (``WANDB_BASE_URL``) cannot be reached, or None when it can.

    One TCP connection with a timeout: wandb's own client retries for about 90 s and then
    raises, which would stop a run for want of a dashboard.
    """
    import os
    import socket
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("WANDB_BASE_URL", WANDB_DEFAULT_URL))
    host, port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as error:
        return f"{url.geturl()} cannot be reached ({error.strerror or error})"


class WandbSink:
    """wandb run (offline by default); ``mode="disabled"`` makes it a no-op."""

    def __init__(self, logger_cfg, *, run_dir: Path, experiment: str, game: str, seed: int,
                 config: dict[str, Any]) -> None:
        mode = logger_cfg.wandb_mode
        if mode not in WANDB_MODES:
            raise ValueError(f"logger.wandb_mode={mode!r}: use one of {', '.join(WANDB_MODES)}")
        self.run = None
        if mode == "disabled":
            return
        import wandb

        if mode == "online":
            reason = wandb_server_unreachable()
            if reason:
                print(f"[dqn_atari] warning: logger.wandb_mode=online, but {reason}; logging "
                      f"offline instead (upload later: wandb sync {run_dir}/wandb/offline-run-*)",
                      flush=True)
                mode = "offline"

        self.run = wandb.init(
            id=wandb_run_id(experiment, game, seed),
            resume="allow",
            mode=mode,
            dir=str(run_dir),
            project=logger_cfg.wandb_project,
            entity=logger_cfg.wandb_entity,
            group=logger_cfg.wandb_group or experiment,
            tags=list(logger_cfg.wandb_tags),
            name=f"{experiment}/{game}/seed_{seed}",
            config=config,
            settings=wandb.Settings(console="off", silent=True),
            # several runs may be active in one process (packed seeds); each sink holds its own
            reinit="create_new",
        )
        self.run.define_metric("agent_steps")
        self.run.define_metric("*", step_metric="agent_steps")

    def log(self, metrics: dict[str, Any]) -> None:
        if self.run is not None:
            self.run.log(metrics)

    def summary(self, values: dict[str, Any]) -> None:
        """Set keys of the run summary (e.g. the end-of-run evaluation, ``eval_nature/*``)."""
        if self.run is not None:
            self.run.summary.update(values)

    def close(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None
