"""The estimators of Agarwal et al. 2021 ("Deep RL at the edge of the statistical precipice").

What rliable computes, re-implemented on numpy (rliable itself does not import under
pandas 3, and its repository is archived):

* aggregates over games, each with a stratified-bootstrap interval: median, IQM and mean
  (``dqn_atari.analysis.aggregate``) and the optimality gap (here);
* the same along a training curve: one resample of the runs serves every point of the curve,
  so the band of a curve is the band of one bootstrap of whole runs;
* performance profiles: the fraction of runs (or of games, each averaged over its runs)
  whose score exceeds tau, with bands;
* the probability of improvement P(X > Y) of one algorithm over another.

Scores come per game: a list of arrays, one per game, whose LAST axis is the runs of that
game (seeds). Games may have different numbers of runs. The bootstrap is *stratified*: it
resamples runs with replacement within each game and keeps the games fixed; intervals are
percentile intervals. With one run in every game it has nothing to resample and the
interval collapses onto the point.

Weights with unequal runs per game: every statistic weighs games equally (a game's runs
are averaged first), except the IQM, which pools all (game, run) scores as rliable does.
With the same number of runs in every game all of them equal rliable's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from dqn_atari.analysis import aggregate

# A statistic maps per-game arrays shaped (..., runs_in_game) to an array shaped (...).
Statistic = Callable[[Sequence[np.ndarray]], np.ndarray]

# Bootstrap replicates are computed in chunks of this many, to bound memory on long curves
# (49 games x 5 runs x 200 points x 2,000 replicates would be 784 MB at once).
_REPLICATES_PER_CHUNK = 100


def optimality_gap(scores: Sequence[np.ndarray], gamma: float = 1.0) -> np.ndarray:
    """How far the scores fall short of ``gamma`` on average: mean of max(gamma - x, 0).

    Averaged over each game's runs, then over games. ``gamma = 1`` is human level on
    human-normalised scores; scores above it earn nothing. Lower is better.
    """
    per_game = [np.mean(np.maximum(gamma - np.asarray(s, dtype=float), 0.0), axis=-1)
                for s in scores]
    return np.mean(np.stack(per_game, axis=-1), axis=-1)


STATISTICS: dict[str, Statistic] = {
    "median": aggregate.aggregate_median,
    "iqm": aggregate.aggregate_iqm,
    "mean": aggregate.aggregate_mean,
    "optimality_gap": optimality_gap,
}
STATISTIC_TITLES = {"median": "Median", "iqm": "IQM", "mean": "Mean",
                    "optimality_gap": "Optimality gap"}


@dataclass(frozen=True)
class Band:
    """Point estimates along an axis (frames or tau) with their bootstrap interval."""

    point: np.ndarray | float
    low: np.ndarray | float
    high: np.ndarray | float


def _checked_groups(scores: Sequence[np.ndarray] | Mapping[str, np.ndarray]) -> list[np.ndarray]:
    groups = list(scores.values()) if isinstance(scores, Mapping) else list(scores)
    groups = [np.asarray(g, dtype=float) for g in groups]
    if not groups:
        raise ValueError("no games: give at least one game's run scores")
    for g in groups:
        if g.shape[-1] == 0:
            raise ValueError("every game needs at least one run")
        if np.isnan(g).any():
            raise ValueError("a score is NaN: keep only the runs that have a value at every "
                             "point (dqn_atari.analysis.training_aggregates does)")
    return groups


def _percentiles(replicates: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    alpha = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(replicates, [alpha, 100.0 - alpha], axis=0)
    return low, high


def bootstrap_band(scores, statistic: Statistic, reps: int = 2000, confidence: float = 0.95,
                   seed: int = 0) -> Band:
    """``statistic`` of per-game scores shaped (points, runs) with a stratified-bootstrap band.

    Args:
        scores: one array per game, shaped (points, runs_in_game) (e.g. points = frames of a
            training curve) or (runs_in_game,) for a single point.
        statistic: maps per-game arrays shaped (..., runs) to shape (...), e.g. ``optimality_gap``.
        reps: bootstrap replicates; each resamples the runs of every game with replacement,
            the same resample for every point.
        confidence: coverage of the percentile interval (0.95: percentiles 2.5 and 97.5).
        seed: seeds ``numpy.random.default_rng``; the same inputs and seed give the same band.
    Returns:
        a ``Band`` whose arrays have shape (points,) (shape () for 1-D per-game scores).
    """
    groups = _checked_groups(scores)
    rng = np.random.default_rng(seed)
    point = np.asarray(statistic(groups), dtype=float)
    chunks = []
    for start in range(0, reps, _REPLICATES_PER_CHUNK):
        n = min(_REPLICATES_PER_CHUNK, reps - start)
        # g[..., idx] has shape (..., n, runs): move the replicate axis first.
        resampled = [np.moveaxis(g[..., rng.integers(0, g.shape[-1], size=(n, g.shape[-1]))],
                                 -2, 0) for g in groups]
        chunks.append(np.asarray(statistic(resampled), dtype=float))
    low, high = _percentiles(np.concatenate(chunks, axis=0), confidence)
    return Band(point=_scalar_if_0d(point), low=_scalar_if_0d(low), high=_scalar_if_0d(high))


def _scalar_if_0d(values) -> np.ndarray | float:
    values = np.asarray(values, dtype=float)
    return float(values) if values.ndim == 0 else values


# ---------------------------------------------------------------------------------------
# Performance profiles
# ---------------------------------------------------------------------------------------

PROFILE_KINDS = {
    "runs": "fraction of runs with score > tau",
    "games": "fraction of games (mean over runs) with score > tau",
}


def performance_profile(scores: Sequence[np.ndarray], taus, kind: str = "runs") -> np.ndarray:
    """The fraction of scores above each tau: shape (..., len(taus)).

    ``kind="runs"``: the run-score distribution, the fraction of runs with score > tau,
    each game weighing the same (the fraction within each game, averaged over games).
    ``kind="games"``: the fraction of games whose mean over runs is > tau.
    """
    taus = np.asarray(taus, dtype=float)
    if kind == "runs":
        per_game = [np.mean(np.asarray(s, dtype=float)[..., None, :] > taus[:, None], axis=-1)
                    for s in scores]
        return np.mean(np.stack(per_game, axis=0), axis=0)
    if kind == "games":
        means = np.stack([np.mean(np.asarray(s, dtype=float), axis=-1) for s in scores], axis=-1)
        return np.mean(means[..., None, :] > taus[:, None], axis=-1)
    raise ValueError(f"kind must be one of {sorted(PROFILE_KINDS)}, got {kind!r}")


def performance_profile_band(scores, taus, kind: str = "runs", reps: int = 2000,
                             confidence: float = 0.95, seed: int = 0) -> Band:
    """``performance_profile`` over ``taus`` with a stratified-bootstrap band at each tau."""
    groups = _checked_groups(scores)
    if any(g.ndim != 1 for g in groups):
        raise ValueError("a performance profile takes one score per run: 1-D arrays per game")
    return bootstrap_band(groups, lambda s: performance_profile(s, taus, kind), reps,
                          confidence, seed)


# ---------------------------------------------------------------------------------------
# Probability of improvement
# ---------------------------------------------------------------------------------------


def _pairwise_win(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(x > y) over all pairs of runs, ties counting 1/2: arrays (..., n), (..., m) -> (...)."""
    xs, ys = x[..., :, None], y[..., None, :]
    return np.mean((xs > ys) + 0.5 * (xs == ys), axis=(-2, -1))


def probability_of_improvement(x_scores: Sequence[np.ndarray],
                               y_scores: Sequence[np.ndarray]) -> np.ndarray:
    """P(X > Y): per game, the chance that a run of X beats a run of Y; averaged over games.

    Per game it is the Mann-Whitney U statistic of X's runs against Y's divided by the
    number of pairs, ties counting 1/2. ``x_scores[k]`` and ``y_scores[k]`` are the same
    game. P(X > Y) + P(Y > X) = 1.
    """
    if len(x_scores) != len(y_scores):
        raise ValueError(f"X has {len(x_scores)} games and Y {len(y_scores)}: give both "
                         "experiments' runs on the same games, in the same order")
    per_game = [_pairwise_win(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
                for x, y in zip(x_scores, y_scores)]
    return np.mean(np.stack(per_game, axis=-1), axis=-1)


def probability_of_improvement_ci(x_scores, y_scores, reps: int = 2000,
                                  confidence: float = 0.95,
                                  seed: int = 0) -> aggregate.Estimate:
    """P(X > Y) with a stratified-bootstrap interval: X's and Y's runs resampled per game."""
    xs, ys = _checked_groups(x_scores), _checked_groups(y_scores)
    if len(xs) != len(ys):
        raise ValueError(f"X has {len(xs)} games and Y {len(ys)}: give both experiments' "
                         "runs on the same games, in the same order")
    n_games = len(xs)

    def statistic(groups):
        return probability_of_improvement(groups[:n_games], groups[n_games:])

    band = bootstrap_band(xs + ys, statistic, reps, confidence, seed)
    return aggregate.Estimate(float(band.point), float(band.low), float(band.high))
