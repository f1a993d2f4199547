"""Dopamine's published DQN curves, as shipped in the package, placed at the frames they cover.

``dqn_atari/data/dopamine_dqn_legacy_per_seed.csv`` (package data; source and derivation in
``dqn_atari/data/SOURCES.md``) holds per Dopamine game name and iteration each of its 5
seeds' mean return of the iteration's TRAINING games (``seed_0`` .. ``seed_4``); the number
of seeds and their mean, min and max are computed from it here, in the one loader of it.
Dopamine's iteration i is 250,000 agent steps = 1M frames of training, from frame i x 1M to
(i + 1) x 1M, and its value averages the games played in that interval. So a value is drawn
at the middle, (i + 0.5) x 1M frames (``frames``), and the interval is given as
``frames_from`` / ``frames_to``; drawing it at i x 1M would put every value half an
iteration early, and iteration 0 (played by a nearly random agent) at frame 0.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources

import numpy as np
import pandas as pd

from dqn_atari.analysis import tables
from dqn_atari.analysis.training_aggregates import hns_or_nan

REFERENCE_FILE = "dopamine_dqn_legacy_per_seed.csv"
FRAMES_PER_ITERATION = 1_000_000  # Dopamine: 250,000 agent steps x 4 frames
SEED_PREFIX = "seed_"
LABEL = "Dopamine DQN (training games, sticky actions; mean, min-max of 5 seeds)"


def iteration_frames(iteration) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames_from, frames_to, middle) of Dopamine iteration(s) ``iteration``, in frames."""
    i = np.asarray(iteration, dtype="int64")
    start = i * FRAMES_PER_ITERATION
    end = (i + 1) * FRAMES_PER_ITERATION
    return start, end, (start + end) / 2


def dopamine_game(game: str) -> str:
    """Dopamine's name of one of our games: the snake_case ROM id without underscores.

    Any spelling the score tables accept is first made canonical (``MsPacman`` ->
    ``ms_pacman`` -> ``mspacman``); a name they do not know (an Atari game outside the 57,
    e.g. ``air_raid``, or a non-Atari env) only loses its underscores.
    """
    return tables.dopamine_game_name(tables.reference_game(game) or game)


@functools.cache
def _packaged_table() -> pd.DataFrame:
    with resources.files("dqn_atari.data").joinpath(REFERENCE_FILE).open(encoding="utf-8") as f:
        table = pd.read_csv(f)
    seeds = seed_columns(table)
    if not {"game", "iteration"} <= set(table.columns) or not seeds:
        raise ValueError(f"dqn_atari/data/{REFERENCE_FILE} lacks game, iteration or seed_* "
                         "columns: regenerate it with scripts/make_dopamine_reference.py")
    values = table[seeds].to_numpy(dtype="float64")
    table["n_seeds"] = np.isfinite(values).sum(axis=1)
    table["mean"] = np.nanmean(values, axis=1)
    table["min"] = np.nanmin(values, axis=1)
    table["max"] = np.nanmax(values, axis=1)
    return table.rename(columns={"game": "dopamine_game"})


def seed_columns(table: pd.DataFrame) -> list[str]:
    """The per-seed value columns (``seed_0``, ``seed_1``, ...) of a reference table."""
    return [c for c in table.columns if c.startswith(SEED_PREFIX)]


def load_dopamine_reference(games: Sequence[str] | None = None,
                            per_seed: bool = False) -> pd.DataFrame:
    """The packaged table, with frames placed at the middle of each iteration.

    Columns: game (ours, snake_case, when ``games`` are given; else Dopamine's name),
    dopamine_game, iteration, frames_from, frames_to, frames, n_seeds, mean, min, max, and
    with ``per_seed`` each seed's value (``seed_0`` ..; NaN where a seed has none).
    Games of ``games`` Dopamine does not publish (or non-Atari envs) are absent.
    """
    table = _packaged_table()
    if games is not None:
        ours = {dopamine_game(g): g for g in games}
        table = table[table.dopamine_game.isin(list(ours))].copy()
        table["game"] = table.dopamine_game.map(ours)
    else:
        table = table.copy()
        table["game"] = table.dopamine_game
    start, end, middle = iteration_frames(table.iteration.to_numpy())
    table["frames_from"], table["frames_to"], table["frames"] = start, end, middle
    columns = ["game", "dopamine_game", "iteration", "frames_from", "frames_to", "frames",
               "n_seeds", "mean", "min", "max"]
    return table[columns + (seed_columns(table) if per_seed else [])].reset_index(drop=True)


def dopamine_overlay(games: Sequence[str]) -> pd.DataFrame:
    """The reference in the form the report's curve panels draw (``figures._draw_game``).

    Columns game, frames (the middle of each iteration), frames_from, frames_to, n_seeds,
    mean, ci_low / ci_high holding the min and max over Dopamine's seeds (a range, not an
    interval), and the legend label saying so.
    """
    table = load_dopamine_reference(games)
    overlay = table.rename(columns={"min": "ci_low", "max": "ci_high"})
    overlay = overlay[["game", "frames", "frames_from", "frames_to", "n_seeds", "mean",
                       "ci_low", "ci_high"]].copy()
    overlay["label"] = LABEL
    return overlay


def dopamine_aggregate_curves(games: Sequence[str], human: str = "at5") -> pd.DataFrame:
    """Median and mean over ``games`` of Dopamine's per-game seed means, as HNS, per iteration.

    Only the median and mean: they need each game's mean over seeds, which the compact table
    has; the IQM and the optimality gap need each seed's value, which it does not keep.
    Iterations where one of the games has no value are left out.
    """
    table = load_dopamine_reference(games)
    table["hns"] = [hns_or_nan(g, m, human) for g, m in zip(table.game, table["mean"])]
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
