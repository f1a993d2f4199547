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
        self._file = open(self.path, "a", newline="")
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
        self._file = open(self.path, "a", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=self.fields, extrasaction="raise")
        return len(rows) - len(kept)

    def close(self) -> None:
        self._file.close()


def wandb_run_id(experiment: str, game: str, seed: int) -> str:
    """Deterministic wandb run id, so a resumed or requeued run continues the same run."""
    readable = re.sub(r"[^A-Za-z0-9_-]", "-", f"{experiment}__{game}__seed{seed}")
    digest = hashlib.sha1(readable.encode()).hexdigest()[:6]
    return f"{readable}-{digest}"[:64]


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
        )
        self.run.define_metric("agent_steps")
        self.run.define_metric("*", step_metric="agent_steps")

    def log(self, metrics: dict[str, Any]) -> None:
        if self.run is not None:
            self.run.log(metrics)

    def close(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None
