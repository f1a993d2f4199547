"""One tidy table of run metrics, from local run directories or downloaded W&B runs.

Both sources give the same format (one row per logged record):

    run_id, experiment, game, seed, phase, iteration, frames, agent_steps, <metric columns>

``phase`` is ``train`` or ``eval`` for a finished game (metrics/episodes.csv) and
``iteration`` for an iteration summary (metrics/iterations.csv). Metric columns keep the
run directory's CSV names (docs/CONTRACTS.md); W&B keys are mapped onto them by
``WANDB_KEYS`` (``eval/raw_return_mean`` -> phase ``iteration``, ``eval_raw_return_mean``).
``frames`` are training frames; ``agent_steps`` are agent decisions (frames / 4).

A ``RunData`` carries a run's table together with its config and, when present, its
end-of-run Nature evaluation: a local run's ``eval_nature.json``, a downloaded run's
``<run_id>.eval_nature.json`` (made from the W&B run summary's ``eval_nature/*`` keys by
``eval_nature_from_wandb_summary``). Local run ids are ``<experiment>/<game>/seed_<seed>``
(the W&B run *name* the metrics sink gives the run); downloaded runs keep their W&B run
id. The runner logs ``iteration`` to W&B with each iteration's summary but not with each
finished game, so a downloaded run's ``train`` and ``eval`` rows have it empty.

``dqn_atari.analysis.download`` writes the downloaded runs; ``tables`` reads the tables.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

ID_COLUMNS = ("run_id", "experiment", "game", "seed", "phase", "iteration", "frames", "agent_steps")
EPISODE_METRICS = (
    "raw_return", "clipped_return", "length_agent_steps", "length_frames", "epsilon",
)
ITERATION_METRICS = (
    "updates", "loss", "mean_q", "train_episodes", "train_raw_return_mean",
    "eval_raw_return_mean", "eval_raw_return_std", "eval_episodes", "train_agent_steps_per_s",
)
METRIC_COLUMNS = EPISODE_METRICS + ITERATION_METRICS + ("wall_time_s",)
PHASES = ("train", "eval", "iteration")

# W&B history key -> (phase, tidy column), following docs/CONTRACTS.md "wandb" and what
# dqn_atari/run/seed_run.py logs: per finished game "<phase>/<metric>" (phase train or eval),
# per iteration "iteration/<metric>" and "eval/raw_return_{mean,std}", "eval/episodes".
_EPISODE_KEYS = ("raw_return", "clipped_return", "length_agent_steps", "length_frames",
                 "epsilon")
WANDB_KEYS: dict[str, tuple[str, str]] = {
    **{f"{phase}/{m}": (phase, m) for phase in ("train", "eval") for m in _EPISODE_KEYS},
    "iteration/updates": ("iteration", "updates"),
    "iteration/loss": ("iteration", "loss"),
    "iteration/mean_q": ("iteration", "mean_q"),
    "iteration/train_episodes": ("iteration", "train_episodes"),
    "iteration/train_raw_return_mean": ("iteration", "train_raw_return_mean"),
    "iteration/train_agent_steps_per_s": ("iteration", "train_agent_steps_per_s"),
    "eval/raw_return_mean": ("iteration", "eval_raw_return_mean"),
    "eval/raw_return_std": ("iteration", "eval_raw_return_std"),
    "eval/episodes": ("iteration", "eval_episodes"),
}
_WANDB_INDEX_KEYS = ("frames", "agent_steps", "iteration")
_WANDB_DROPPED = ("_step", "_timestamp", "_wandb")


@dataclass
class RunData:
    """One run: identity, resolved config and tidy metric table."""

    run_id: str
    experiment: str
    game: str
    seed: int
    config: dict[str, Any]
    table: pd.DataFrame
    eval_nature: dict[str, Any] | None = None
    source: str = "local"  # "local" | "wandb"
    path: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _nested(config: Mapping, dotted: str, default=None):
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    # W&B stores top-level config entries as {"value": ..., "desc": ...} in some exports.
    if isinstance(node, Mapping) and set(node) <= {"value", "desc"} and "value" in node:
        return node["value"]
    return node


def run_identity(config: Mapping, fallback: tuple[str, str, int] | None = None):
    """(experiment, game, seed) of a run from its config, else from ``fallback``."""
    fb_exp, fb_game, fb_seed = fallback or (None, None, None)
    experiment = _nested(config, "experiment_name") or fb_exp
    game = _nested(config, "env.game") or fb_game
    seed = _nested(config, "seed", fb_seed)
    if experiment is None or game is None or seed is None:
        raise ValueError(f"cannot tell experiment/game/seed from config {dict(config)!r}")
    return str(experiment), str(game), int(seed)


def finish_table(df: pd.DataFrame) -> pd.DataFrame:
    """Order columns (ids, known metrics, then any others) and give the ids stable dtypes."""
    df = df.copy()
    for col in ID_COLUMNS:
        if col not in df:
            df[col] = pd.NA
    for col in ("seed", "iteration", "frames", "agent_steps"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
    for col in ("run_id", "experiment", "game", "phase"):
        df[col] = df[col].astype("string")
    known = [c for c in METRIC_COLUMNS if c in df]
    extra = sorted(c for c in df.columns if c not in ID_COLUMNS and c not in METRIC_COLUMNS)
    return df[list(ID_COLUMNS) + known + extra].reset_index(drop=True)


# ---------------------------------------------------------------------------------------
# Local run directories: runs/<experiment>/<game>/seed_<seed>/
# ---------------------------------------------------------------------------------------


def _is_run_dir(path: Path) -> bool:
    return (path / "metrics").is_dir() or (path / "config.yaml").is_file()


def find_run_dirs(root: str | Path) -> list[Path]:
    """Run directories under ``root`` (``root`` itself if it is one), sorted."""
    root = Path(root)
    if _is_run_dir(root) and root.name.startswith("seed_"):
        return [root]
    return sorted(p for p in root.rglob("seed_*") if p.is_dir() and _is_run_dir(p))


class BadInputError(ValueError):
    """An input file that is not what it should be; the message names the file."""


def read_csv_checked(path: Path, required: tuple[str, ...], what: str, **kwargs) -> pd.DataFrame:
    """``pd.read_csv`` that names ``path`` when it is not a CSV or lacks ``required`` columns."""
    try:
        table = pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            ValueError) as error:
        raise BadInputError(f"{path} is not a readable CSV ({type(error).__name__}: "
                            f"{str(error).strip()}); expected {what}") from None
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise BadInputError(f"{path} lacks the column(s) {', '.join(missing)} "
                            f"(it has: {', '.join(map(str, table.columns[:12]))}); "
                            f"expected {what}")
    return table


_METRICS_REQUIRED = {"episodes.csv": ("phase", "iteration", "agent_steps", "raw_return"),
                     "iterations.csv": ("iteration", "frames", "agent_steps")}


def _read_metrics_csv(path: Path) -> pd.DataFrame:
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame()
    return read_csv_checked(path, _METRICS_REQUIRED.get(path.name, ()),
                            f"a run's metrics/{path.name} as dqn_atari.train writes it")


def load_run_dir(path: str | Path) -> RunData:
    """Read one run directory (docs/CONTRACTS.md layout) into a ``RunData``."""
    path = Path(path)
    config: dict[str, Any] = {}
    if (path / "config.yaml").is_file():
        config = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8")) or {}
    seed_text = path.name.removeprefix("seed_")
    fallback = (path.parent.parent.name, path.parent.name,
                int(seed_text) if seed_text.lstrip("-").isdigit() else None)
    experiment, game, seed = run_identity(config, fallback)
    run_id = f"{experiment}/{game}/seed_{seed}"

    episodes = _read_metrics_csv(path / "metrics" / "episodes.csv")
    iterations = _read_metrics_csv(path / "metrics" / "iterations.csv")
    if not iterations.empty:
        iterations = iterations.assign(phase="iteration")
    parts = [p for p in (episodes, iterations) if not p.empty]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    table = table.assign(run_id=run_id, experiment=experiment, game=game, seed=seed)

    eval_nature = None
    if (path / "eval_nature.json").is_file():
        eval_nature = json.loads((path / "eval_nature.json").read_text(encoding="utf-8"))
    return RunData(run_id, experiment, game, seed, config, finish_table(table),
                   eval_nature, source="local", path=path)


def load_runs(root: str | Path) -> list[RunData]:
    """All run directories under ``root``."""
    return [load_run_dir(p) for p in find_run_dirs(root)]


# ---------------------------------------------------------------------------------------
# W&B history rows (run.scan_history()) and downloaded runs
# ---------------------------------------------------------------------------------------


def _map_wandb_key(key: str) -> tuple[str, str] | None:
    if key in WANDB_KEYS:
        return WANDB_KEYS[key]
    if key.startswith("_") or key in _WANDB_INDEX_KEYS:
        return None
    prefix, sep, name = key.partition("/")
    if not sep:
        return ("other", key)
    if prefix == "eval":  # iteration-level evaluation summaries, e.g. eval/raw_return_min
        return ("iteration", f"eval_{name.replace('/', '_')}")
    return (prefix, name.replace("/", "_"))


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def tidy_from_history(
    rows: Iterable[Mapping[str, Any]], run_id: str, experiment: str, game: str, seed: int
) -> pd.DataFrame:
    """Tidy table from W&B history rows: one output row per (history row, phase) present."""
    records = []
    for row in rows:
        by_phase: dict[str, dict[str, Any]] = {}
        for key, value in row.items():
            mapped = _map_wandb_key(key)
            if mapped is None or _is_missing(value) or isinstance(value, (dict, list)):
                continue
            phase, column = mapped
            by_phase.setdefault(phase, {})[column] = value
        for phase, metrics in by_phase.items():
            record = {"phase": phase, "frames": row.get("frames"),
                      "agent_steps": row.get("agent_steps"), "iteration": row.get("iteration")}
            if "wall_time_s" not in metrics and not _is_missing(row.get("_runtime")):
                metrics["wall_time_s"] = row["_runtime"]
            record.update(metrics)
            records.append(record)
    table = pd.DataFrame.from_records(records)
    table = table.assign(run_id=run_id, experiment=experiment, game=game, seed=seed)
    return finish_table(table)


def write_tidy_csv(table: pd.DataFrame, path: str | Path) -> None:
    """Write a tidy table atomically (a partial file never replaces a complete one)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    table.to_csv(tmp, index=False)
    tmp.replace(path)


def read_tidy_csv(path: str | Path) -> pd.DataFrame:
    """Read a tidy CSV written by ``write_tidy_csv``."""
    return finish_table(read_csv_checked(
        Path(path), ("run_id", "experiment", "game", "seed", "phase"),
        "a tidy CSV written by scripts/download_wandb.py",
        dtype={"run_id": "string", "experiment": "string", "game": "string", "phase": "string"}))


EVAL_NATURE_WANDB_PREFIX = "eval_nature/"  # the runner's summary keys (dqn_atari/run/final_eval.py)


def eval_nature_from_wandb_summary(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """The end-of-run evaluation a run put in its W&B summary (``eval_nature/mean`` ...), as
    the fields of ``eval_nature.json``; None when the run has none."""
    report = {key[len(EVAL_NATURE_WANDB_PREFIX):]: value for key, value in summary.items()
              if str(key).startswith(EVAL_NATURE_WANDB_PREFIX)}
    if _is_missing(report.get("mean")):
        return None
    return {**report, "source": "wandb_summary"}


def load_downloaded(directory: str | Path) -> list[RunData]:
    """Runs written by scripts/download_wandb.py: ``<run_id>.csv`` + ``<run_id>.config.json``
    (+ ``<run_id>.eval_nature.json`` when the run has an end-of-run evaluation)."""
    directory = Path(directory)
    runs = []
    for csv_path in sorted(directory.glob("*.csv")):
        table = read_tidy_csv(csv_path)
        config_path = csv_path.with_suffix(".config.json")
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        if table.empty:
            experiment, game, seed = run_identity(config)
        else:
            first = table.iloc[0]
            experiment, game, seed = str(first.experiment), str(first.game), int(first.seed)
        run_id = str(table.run_id.iloc[0]) if not table.empty else csv_path.stem
        eval_path = csv_path.with_suffix(".eval_nature.json")
        eval_nature = (json.loads(eval_path.read_text(encoding="utf-8"))
                       if eval_path.is_file() else None)
        runs.append(RunData(run_id, experiment, game, seed, config, table, eval_nature,
                            source="wandb", path=csv_path))
    return runs


def load_all(runs_dir: str | Path | None = None,
             downloaded_dir: str | Path | None = None) -> list[RunData]:
    """Local and downloaded runs together; a run present in both is taken from the local copy."""
    runs = load_runs(runs_dir) if runs_dir is not None else []
    seen = {(r.experiment, r.game, r.seed) for r in runs}
    if downloaded_dir is not None:
        for r in load_downloaded(downloaded_dir):
            if (r.experiment, r.game, r.seed) not in seen:
                runs.append(r)
                seen.add((r.experiment, r.game, r.seed))
    return runs


def tidy_table(runs: Iterable[RunData]) -> pd.DataFrame:
    """Concatenate the tables of ``runs`` into one tidy DataFrame."""
    tables = [r.table for r in runs if not r.table.empty]
    if not tables:
        return finish_table(pd.DataFrame())
    return finish_table(pd.concat(tables, ignore_index=True))


def select_runs(runs: list[RunData], experiments: Sequence[str] = (),
                games: Sequence[str] = ()) -> list[RunData]:
    """The runs of the given experiments and games (an empty selection keeps every one)."""
    return [r for r in runs if (not experiments or r.experiment in experiments)
            and (not games or r.game in games)]
