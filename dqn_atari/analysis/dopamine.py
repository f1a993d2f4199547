"""Dopamine's published DQN curves: the one loader, game-name map and iteration length.

Dopamine (google/dopamine ``baselines/atari/data``) publishes per game and iteration the
mean return of the TRAINING games of that iteration, for each of 5 seeds of its legacy TF
DQN (``dqn.gin``, our ``dopamine_dqn`` preset). Two files hold them:

* ``dqn_atari/data/dopamine_dqn_legacy_per_seed.csv`` (package data; source and derivation
  in ``dqn_atari/data/SOURCES.md``): one row per Dopamine game name and iteration, each
  seed's value in ``seed_0`` .. ``seed_4``;
* a CSV in the format of ``../shared/reference/dopamine_baselines_legacy.csv`` (game,
  agent, seed_index, iteration, train_episode_return_mean; every agent), which
  ``python -m dqn_atari.plot --dopamine-csv`` reads.

``read_reference`` reads either into the same per-seed table and computes the number of
seeds and their mean, min and max; everything else here is built on it. ``dopamine_game``
is the one map from our game names to Dopamine's (``ms_pacman`` -> ``mspacman``).

Dopamine's iteration i is 250,000 agent steps = 1M frames of training
(``FRAMES_PER_ITERATION``), from frame i x 1M to (i + 1) x 1M, and its value averages the
games played in that interval. So a value is drawn at the middle, (i + 0.5) x 1M frames
(``frames``), and the interval is given as ``frames_from`` / ``frames_to``; drawing it at
i x 1M would put every value half an iteration early, and iteration 0 (played by a nearly
random agent) at frame 0.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from dqn_atari import scores
from dqn_atari.analysis import estimators

REFERENCE_FILE = "dopamine_dqn_legacy_per_seed.csv"
FRAMES_PER_ITERATION = 1_000_000  # Dopamine: 250,000 agent steps x 4 frames
SEED_PREFIX = "seed_"
CSV_COLUMNS = ("game", "agent", "seed_index", "iteration", "train_episode_return_mean")
LABEL = "Dopamine DQN (training games, sticky actions; mean, min-max of 5 seeds)"
CSV_LABEL = "Dopamine DQN (training returns, sticky actions)"  # the --dopamine-csv overlay


def dopamine_game(game: str) -> str:
    """Dopamine's name of one of our games: the snake_case ROM id without underscores.

    Any spelling the score tables accept is first made canonical (``MsPacman`` ->
    ``ms_pacman`` -> ``mspacman``); a name they do not know (an Atari game outside the 57,
    e.g. ``air_raid``, or a non-Atari env) only loses its underscores.
    """
    key = scores.canonical_game(game) if scores.is_known_game(game) else game
    return key.replace("_", "")


def iteration_frames(iteration) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames_from, frames_to, middle) of Dopamine iteration(s) ``iteration``, in frames."""
    i = np.asarray(iteration, dtype="int64")
    start = i * FRAMES_PER_ITERATION
    end = (i + 1) * FRAMES_PER_ITERATION
    return start, end, (start + end) / 2


def seed_columns(table: pd.DataFrame) -> list[str]:
    """The per-seed value columns (``seed_0``, ``seed_1``, ...) of a reference table."""
    return [c for c in table.columns if c.startswith(SEED_PREFIX)]


def _from_long_csv(path: Path, agent: str) -> pd.DataFrame:
    """One row per game and iteration, ``seed_<seed_index>`` columns, from the long format."""
    long = pd.read_csv(path, usecols=list(CSV_COLUMNS))
    long = long[long.agent == agent]
    wide = long.pivot_table(index=["game", "iteration"], columns="seed_index",
                            values="train_episode_return_mean", aggfunc="first", dropna=False)
    wide.columns = [f"{SEED_PREFIX}{int(s)}" for s in wide.columns]
    return wide.reset_index()


@functools.cache
def _read_reference(path: Path | None, agent: str) -> pd.DataFrame:
    if path is None:
        where = f"dqn_atari/data/{REFERENCE_FILE}"
        with resources.files("dqn_atari.data").joinpath(REFERENCE_FILE).open(
                encoding="utf-8") as f:
            table = pd.read_csv(f)
    else:
        where = str(path)
        table = _from_long_csv(path, agent)
    seeds = seed_columns(table)
    if not {"game", "iteration"} <= set(table.columns) or not seeds:
        raise ValueError(f"{where} lacks game, iteration or seed_* columns (or {agent} rows): "
                         "regenerate the package file with scripts/make_dopamine_reference.py")
    values = table[seeds].to_numpy(dtype="float64")
    table["n_seeds"] = np.isfinite(values).sum(axis=1)
    table["mean"] = np.nanmean(values, axis=1)
    table["min"] = np.nanmin(values, axis=1)
    table["max"] = np.nanmax(values, axis=1)
    return table.rename(columns={"game": "dopamine_game"})


def read_reference(path: str | Path | None = None, agent: str = "DQN") -> pd.DataFrame:
    """Dopamine's per-seed table: the package file, or a long-format CSV at ``path``.

    Columns dopamine_game, iteration, ``seed_0`` .. (NaN where a seed has no value), n_seeds,
    mean, min, max. ``agent`` picks the agent of a long-format CSV (the package file is DQN).
    """
    return _read_reference(None if path is None else Path(path), agent).copy()


def load_dopamine_reference(games: Sequence[str] | None = None, per_seed: bool = False,
                            path: str | Path | None = None) -> pd.DataFrame:
    """``read_reference`` with the frames of each iteration, for our ``games`` if given.

    Columns: game (ours, when ``games`` are given; else Dopamine's name), dopamine_game,
    iteration, frames_from, frames_to, frames (the middle), n_seeds, mean, min, max, and
    with ``per_seed`` each seed's value (``seed_0`` ..; NaN where a seed has none).
    Games of ``games`` Dopamine does not publish (or non-Atari envs) are absent.
    """
    table = read_reference(path)
    if games is not None:
        ours = {dopamine_game(g): g for g in games}
        table = table[table.dopamine_game.isin(list(ours))].copy()
        table["game"] = table.dopamine_game.map(ours)
    else:
        table["game"] = table.dopamine_game
    start, end, middle = iteration_frames(table.iteration.to_numpy())
    table["frames_from"], table["frames_to"], table["frames"] = start, end, middle
    columns = ["game", "dopamine_game", "iteration", "frames_from", "frames_to", "frames",
               "n_seeds", "mean", "min", "max"]
    return table[columns + (seed_columns(table) if per_seed else [])].reset_index(drop=True)


def dopamine_overlay(games: Sequence[str], path: str | Path | None = None, reps: int = 1000,
                     seed: int = 0) -> pd.DataFrame:
    """The reference in the form the report's curve panels draw (``figures.plot_game``).

    Columns game, frames (the middle of each iteration), n_seeds, mean, ci_low / ci_high
    and the legend label. From the package file (``path`` None) the band is the min-max
    range over Dopamine's seeds (a range, not an interval), as the label says; from a CSV
    at ``path`` it is a 95% bootstrap CI of the mean over its seeds (``reps``, ``seed``).
    """
    table = load_dopamine_reference(games, per_seed=path is not None, path=path)
    if path is None:
        overlay = table.rename(columns={"min": "ci_low", "max": "ci_high"})
        overlay = overlay[["game", "frames", "frames_from", "frames_to", "n_seeds", "mean",
                           "ci_low", "ci_high"]].copy()
        overlay["label"] = LABEL
        return overlay
    rows = []
    seeds = seed_columns(table)
    for r in table.sort_values(["dopamine_game", "iteration"]).itertuples(index=False):
        values = np.array([getattr(r, s) for s in seeds], dtype=float)
        est = estimators.bootstrap_mean_ci(values, reps=reps, seed=seed)
        rows.append({"game": r.game, "frames": r.frames, "n_seeds": int(r.n_seeds),
                     "mean": est.point, "ci_low": est.low, "ci_high": est.high,
                     "label": CSV_LABEL})
    return pd.DataFrame(rows, columns=["game", "frames", "n_seeds", "mean", "ci_low",
                                       "ci_high", "label"])


def dopamine_aggregate_curves(games: Sequence[str], human: str = "at5") -> pd.DataFrame:
    """Median and mean over ``games`` of Dopamine's per-game seed means, as HNS, per iteration.

    Only the median and mean, of each game's mean over seeds (the per-seed values would
    allow the IQM and the optimality gap too; they are not computed). Iterations where one
    of the games has no value are left out.
    """
    table = load_dopamine_reference(games)
    table["hns"] = [scores.human_normalized_or_nan(g, m, human)
                    for g, m in zip(table.game, table["mean"])]
    table = table[table.hns.notna()]
    n_games = table.game.nunique()
    rows = []
    for frames, g in table.groupby("frames", sort=True):
        if len(g) < n_games:
            continue
        for name, fn in (("median", np.median), ("mean", np.mean)):
            rows.append({"statistic": name, "frames": frames, "point": float(fn(g.hns)),
                         "n_games": n_games})
    return pd.DataFrame(rows, columns=["statistic", "frames", "point", "n_games"])


# ---------------------------------------------------------------------------------------
# One game's reference, iteration by iteration (the side-by-side comparison)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferencePoint:
    """Dopamine's DQN at one iteration of one game: its seeds' values and their summary."""

    n_seeds: int
    mean: float
    min: float
    max: float
    values: tuple[float, ...] = ()


def game_reference(game: str) -> dict[int, ReferencePoint]:
    """Dopamine's per-iteration DQN training returns of ``game`` (iteration -> point)."""
    table = load_dopamine_reference([game], per_seed=True)
    if table.empty:
        raise ValueError(f"Dopamine publishes no DQN curve for {game!r} "
                         f"({dopamine_game(game)!r} is not in dqn_atari/data/{REFERENCE_FILE})")
    seeds = seed_columns(table)
    return {int(r.iteration): ReferencePoint(
        int(r.n_seeds), float(r.mean), float(r.min), float(r.max),
        tuple(float(getattr(r, s)) for s in seeds if math.isfinite(getattr(r, s))))
        for r in table.itertuples(index=False)}
