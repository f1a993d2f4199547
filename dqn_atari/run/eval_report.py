"""The report of a Nature-protocol evaluation, ``<run_dir>/eval_nature.json``: built and written here.

The protocol (Mnih et al. 2015, Methods; its games in nature_eval.py): 30 games, each capped
at 18,000 frames (5 minutes), each after U{0..30} random no-op frames, at epsilon 0.05. Two
commands play it and write the same report: ``python -m dqn_atari.evaluate`` (``"source":
"evaluate"``) and the end-of-run evaluation (run/final_eval.py, ``"source": "end_of_run"``).
The file is written atomically (a temp file, then a rename): a reader never sees half a report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dqn_atari.nature_eval import NATURE_EVAL_EPSILON, NATURE_EVAL_MAX_FRAMES
from dqn_atari.run.status_file import read_json_object, write_json_atomic
from dqn_atari.scores import human_normalized_for_report
from dqn_atari.video import VIDEO_CODEC, VIDEO_FPS, VIDEO_PIXEL_FORMAT

REPORT_FILE = "eval_nature.json"
SOURCES = ("evaluate", "end_of_run")


def nature_report(cfg, *, agent_steps: int, checkpoint: Path | None, scores: Sequence[float],
                  eval_seed: int, episodes: int, source: str, video: Path | None = None,
                  video_frames_per_game: Sequence[int] = ()) -> dict[str, Any]:
    """The report of ``scores`` (raw game returns) played by the run of ``cfg``.

    Args:
      cfg: the run's config (game, experiment, seed, frames per agent step, no-ops).
      agent_steps: the training agent steps of the evaluated network.
      checkpoint: the checkpoint it was loaded from (None: the network in memory, unsaved).
      eval_seed: the evaluation's seed; episodes: the games asked for.
      source: who played the games (``SOURCES``).
      video, video_frames_per_game: the MP4 of the first games and their lengths (agent
        steps, one frame each), if one was recorded.
    """
    if source not in SOURCES:
        raise ValueError(f"source={source!r}: one of {SOURCES}")
    scores = [float(s) for s in scores]
    mean = float(np.mean(scores)) if scores else math.nan
    return {
        "game": cfg.env.game,
        "experiment": cfg.experiment_name,
        "seed": cfg.seed,
        "checkpoint": str(checkpoint) if checkpoint is not None else None,
        "frames": agent_steps * cfg.env.action_repeat_frames,
        "agent_steps": agent_steps,
        "protocol": {"episodes": episodes, "epsilon": NATURE_EVAL_EPSILON,
                     "max_episode_frames": NATURE_EVAL_MAX_FRAMES,
                     "noop_max_frames": cfg.env.noop_max_frames, "eval_seed": eval_seed},
        "episodes": len(scores),
        "mean": mean,
        "std": float(np.std(scores)) if scores else math.nan,
        "scores": scores,
        **human_normalized_for_report(cfg.env.game, mean),
        "video": str(video) if video else None,
        "video_games": len(video_frames_per_game) if video else 0,
        "video_frames_per_game": list(video_frames_per_game) if video else [],
        "video_format": (f"MP4, H.264 ({VIDEO_CODEC}), {VIDEO_PIXEL_FORMAT}, {VIDEO_FPS} "
                         "frames/s, one frame per agent step" if video else None),
        "source": source,
    }


def write_report(run_dir: Path, report: dict[str, Any]) -> Path:
    """Write ``report`` to ``<run_dir>/eval_nature.json`` atomically; its path."""
    path = Path(run_dir) / REPORT_FILE
    write_json_atomic(path, report)
    return path


def read_report(run_dir: Path) -> dict[str, Any] | None:
    """The run dir's report, or None (none yet, or unreadable)."""
    return read_json_object(Path(run_dir) / REPORT_FILE)
