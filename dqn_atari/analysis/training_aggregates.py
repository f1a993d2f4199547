"""Human-normalised scores of every run against frames, and their aggregates over games.

The tables behind ``python -m dqn_atari.plot aggregates`` (``aggregate_report.py``), built
from ``dqn_atari.analysis.tidy`` runs (local run dirs or W&B downloads alike) with the
estimators of ``rliable_style``.

Where a value sits on the frames axis (``frames``), and what it covers:

* ``score="eval"`` (default): ``eval_raw_return_mean``, the evaluation phase that follows
  the training phase of an iteration. It measures the agent as it is after ``frames``
  training frames (the ``frames`` of iterations.csv: training frames done at the end of the
  iteration), so it is placed there; ``frames_from == frames_to == frames``.
* ``score="train"``: ``train_raw_return_mean``, the mean return of the training games of
  an iteration, Dopamine's plotted figure. It averages games played from the end of the
  previous iteration (``frames_from``; 0 for the first) to the end of this one
  (``frames_to``), so it is placed at the middle of that interval, as Dopamine's own values
  are (``dqn_atari.analysis.baselines``).

A curve of an experiment uses the frames at which every one of its runs has a value (a run
that is behind, or has stopped, shortens the curve of all: the aggregate at each point is
then over the same runs). Games without a human score (e.g. ``catch``, or the 8 games
outside the paper's 49 with ``human="at5"``) are left out, and listed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from dqn_atari import scores
from dqn_atari.analysis import rliable_style, tables, tidy

SCORE_COLUMNS = {"eval": "eval_raw_return_mean", "train": "train_raw_return_mean"}
SCORE_DESCRIPTIONS = {
    "eval": "evaluation phase after each iteration (placed at its end)",
    "train": "training games of each iteration (placed at its middle)",
}
CURVE_COLUMNS = ["experiment", "game", "seed", "run_id", "frames", "frames_from", "frames_to",
                 "score", "hns"]


def hns_or_nan(game: str, score, human: str):
    """Human-normalised score (1 = human, 0 = random) of ``game``, NaN when it has none."""
    ref = tables.reference_game(game)
    if ref is None:
        return np.nan
    try:
        return scores.human_normalized(ref, score, human=human)
    except scores.UnknownGameError:  # no 5-minute human score outside the paper's 49
        return np.nan


def run_curve(run: tidy.RunData, score: str = "eval") -> pd.DataFrame:
    """One run's per-iteration scores with the frames each covers (the module doc)."""
    if score not in SCORE_COLUMNS:
        raise ValueError(f"score must be one of {sorted(SCORE_COLUMNS)}, got {score!r}")
    column = SCORE_COLUMNS[score]
    t = run.table
    if t.empty or column not in t:
        return pd.DataFrame(columns=CURVE_COLUMNS[:-1])
    rows = t[(t.phase == "iteration") & t.frames.notna()]
    # An iteration may come as several W&B history rows at the same frames: one value each.
    ends = np.sort(rows.frames.astype("int64").unique())
    starts = np.concatenate([[0], ends[:-1]])
    valued = (rows[rows[column].notna()].groupby(rows.frames.astype("int64"))[column].first())
    frames_to = valued.index.to_numpy(dtype="int64")
    frames_from = starts[np.searchsorted(ends, frames_to)]
    if score == "eval":
        frames_from, position = frames_to, frames_to
    else:
        position = (frames_from + frames_to) / 2
    return pd.DataFrame({"experiment": run.experiment, "game": run.game, "seed": run.seed,
                         "run_id": run.run_id, "frames": position, "frames_from": frames_from,
                         "frames_to": frames_to, "score": valued.to_numpy(dtype=float)})


def score_curves(runs: Sequence[tidy.RunData], score: str = "eval",
                 human: str = "at5") -> pd.DataFrame:
    """Per-iteration raw and human-normalised scores of every run (``CURVE_COLUMNS``)."""
    parts = [run_curve(r, score) for r in runs]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    curves = pd.concat(parts, ignore_index=True)
    curves["hns"] = [hns_or_nan(g, s, human) for g, s in zip(curves.game, curves.score)]
    return curves[CURVE_COLUMNS]


def games_without_human_score(curves: pd.DataFrame) -> list[str]:
    return sorted(curves[curves.hns.isna()].game.unique())


def common_frames(curves: pd.DataFrame) -> np.ndarray:
    """The frames at which every run in ``curves`` has a value (sorted)."""
    per_run = [set(g.frames) for _, g in curves.groupby("run_id")]
    return np.array(sorted(set.intersection(*per_run))) if per_run else np.array([])


def per_game_matrices(curves: pd.DataFrame, frames: np.ndarray,
                      value: str = "hns") -> tuple[list[str], list[np.ndarray], list[list]]:
    """(games, one (len(frames), runs) array per game, the seeds of each game's columns)."""
    games, arrays, seeds = [], [], []
    for game, g in curves[curves.frames.isin(frames)].groupby("game", sort=True):
        wide = g.pivot_table(index="frames", columns="seed", values=value, aggfunc="first")
        wide = wide.reindex(frames)
        games.append(game)
        arrays.append(wide.to_numpy(dtype=float))
        seeds.append(list(wide.columns))
    return games, arrays, seeds


def aggregate_curve_table(curves: pd.DataFrame, reps: int = 2000, confidence: float = 0.95,
                          seed: int = 0) -> pd.DataFrame:
    """Median, IQM, mean and optimality gap of HNS against frames, per experiment, with CIs.

    One row per (experiment, statistic, frames): point, ci_low, ci_high, n_games, n_runs.
    """
    rows = []
    known = curves[curves.hns.notna()]
    for experiment, c in known.groupby("experiment", sort=True):
        frames = common_frames(c)
        if frames.size == 0:
            raise ValueError(f"the runs of {experiment!r} share no frames at which all have a "
                             "score: compare runs of the same iteration length, or select "
                             "runs with --game / --experiment")
        games, arrays, _ = per_game_matrices(c, frames)
        n_runs = sum(a.shape[1] for a in arrays)
        for name, statistic in rliable_style.STATISTICS.items():
            band = rliable_style.bootstrap_band(arrays, statistic, reps, confidence, seed)
            for k, f in enumerate(frames):
                rows.append({"experiment": experiment, "statistic": name, "frames": f,
                             "point": band.point[k], "ci_low": band.low[k],
                             "ci_high": band.high[k], "n_games": len(games),
                             "n_runs": n_runs})
    return pd.DataFrame(rows, columns=["experiment", "statistic", "frames", "point", "ci_low",
                                       "ci_high", "n_games", "n_runs"])


def final_points(curves: pd.DataFrame) -> pd.DataFrame:
    """Per experiment, each run's value at the last frames all its runs share."""
    parts = []
    for _, c in curves[curves.hns.notna()].groupby("experiment", sort=True):
        frames = common_frames(c)
        if frames.size:
            parts.append(c[c.frames == frames[-1]])
    return pd.concat(parts, ignore_index=True) if parts else curves.iloc[:0]


def profile_table(finals: pd.DataFrame, taus: np.ndarray, kind: str = "runs",
                  reps: int = 2000, confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Performance profile of each experiment's final HNS over ``taus``, with bands."""
    rows = []
    for experiment, f in finals.groupby("experiment", sort=True):
        groups = [g.hns.to_numpy(dtype=float) for _, g in f.groupby("game", sort=True)]
        band = rliable_style.performance_profile_band(groups, taus, kind, reps, confidence,
                                                      seed)
        for k, tau in enumerate(taus):
            rows.append({"experiment": experiment, "kind": kind, "tau": tau,
                         "point": band.point[k], "ci_low": band.low[k],
                         "ci_high": band.high[k], "n_games": len(groups), "n_runs": len(f),
                         "frames": f.frames.max()})
    return pd.DataFrame(rows, columns=["experiment", "kind", "tau", "point", "ci_low", "ci_high",
                                       "n_games", "n_runs", "frames"])


def improvement_table(finals: pd.DataFrame, pairs: Sequence[tuple[str, str]],
                      reps: int = 2000, confidence: float = 0.95,
                      seed: int = 0) -> pd.DataFrame:
    """P(X > Y) for each (X, Y) in ``pairs``, on the games both have, with its interval.

    The scores are raw game scores (P(X > Y) is the same on any per-game increasing scale).
    """
    rows = []
    for x, y in pairs:
        fx, fy = finals[finals.experiment == x], finals[finals.experiment == y]
        if fx.empty or fy.empty:
            missing = x if fx.empty else y
            raise ValueError(f"no runs of experiment {missing!r} to compare (experiments: "
                             f"{', '.join(sorted(finals.experiment.unique()))})")
        games = sorted(set(fx.game) & set(fy.game))
        if not games:
            raise ValueError(f"{x!r} and {y!r} share no game: P(X > Y) needs common games")
        xs = [fx[fx.game == g].score.to_numpy(dtype=float) for g in games]
        ys = [fy[fy.game == g].score.to_numpy(dtype=float) for g in games]
        est = rliable_style.probability_of_improvement_ci(xs, ys, reps, confidence, seed)
        rows.append({"x": x, "y": y, "point": est.point, "ci_low": est.low,
                     "ci_high": est.high, "n_games": len(games), "games": " ".join(games),
                     "x_frames": fx.frames.max(), "y_frames": fy.frames.max()})
    return pd.DataFrame(rows, columns=["x", "y", "point", "ci_low", "ci_high", "n_games",
                                       "games", "x_frames", "y_frames"])
