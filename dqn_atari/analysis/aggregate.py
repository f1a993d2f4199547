"""Aggregate scores over games and runs, with bootstrap confidence intervals.

Follows rliable (Agarwal et al. 2021, "Deep RL at the Edge of the Statistical Precipice"):
scores are grouped per game (one value per run, i.e. per seed), the aggregate is computed
over games, and its uncertainty comes from a *stratified* bootstrap that resamples runs
with replacement within each game (the games themselves are fixed). Intervals are
percentile intervals. rliable itself is not used: its dependencies do not install with
pandas 3 here; this is a small numpy/scipy re-implementation of the same estimators.

Games may have different numbers of runs. Aggregates over games:
    mean   -- mean over games of the per-game mean over runs
    median -- median over games of the per-game mean over runs
    iqm    -- interquartile mean (25% trimmed mean) of all run scores pooled
With the same number of runs in every game these equal rliable's aggregate_mean,
aggregate_median and aggregate_iqm.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

# A statistic maps per-game score arrays, each shaped (..., runs_in_game), to shape (...).
Statistic = Callable[[Sequence[np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap confidence interval."""

    point: float
    low: float
    high: float

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}point": self.point, f"{prefix}ci_low": self.low,
                f"{prefix}ci_high": self.high}


def iqm(x, axis=None):
    """Interquartile mean: the mean of the middle 50% of ``x`` (25% trimmed from each end)."""
    return stats.trim_mean(np.asarray(x, dtype=float), proportiontocut=0.25, axis=axis)


def _per_game_means(scores: Sequence[np.ndarray]) -> np.ndarray:
    return np.stack([np.mean(s, axis=-1) for s in scores], axis=-1)


def aggregate_mean(scores: Sequence[np.ndarray]) -> np.ndarray:
    """Mean over games of each game's mean over runs."""
    return np.mean(_per_game_means(scores), axis=-1)


def aggregate_median(scores: Sequence[np.ndarray]) -> np.ndarray:
    """Median over games of each game's mean over runs."""
    return np.median(_per_game_means(scores), axis=-1)


def aggregate_iqm(scores: Sequence[np.ndarray]) -> np.ndarray:
    """Interquartile mean of all (run, game) scores pooled."""
    return iqm(np.concatenate(list(scores), axis=-1), axis=-1)


AGGREGATES: dict[str, Statistic] = {
    "median": aggregate_median,
    "iqm": aggregate_iqm,
    "mean": aggregate_mean,
}


def _as_groups(scores) -> list[np.ndarray]:
    """Per-game 1-D arrays from a {game: runs} mapping, a list of arrays, or a (runs, games) array."""
    if isinstance(scores, Mapping):
        groups = [np.asarray(v, dtype=float).ravel() for v in scores.values()]
    elif isinstance(scores, np.ndarray) and scores.ndim == 2:
        groups = [scores[:, j].astype(float) for j in range(scores.shape[1])]
    else:
        groups = [np.asarray(v, dtype=float).ravel() for v in scores]
    groups = [g[~np.isnan(g)] for g in groups]
    if not groups or any(g.size == 0 for g in groups):
        raise ValueError("every game needs at least one (non-NaN) run score")
    return groups


def stratified_bootstrap_ci(
    scores,
    statistic: Statistic,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Point estimate and percentile CI of ``statistic`` under a stratified bootstrap.

    Args:
        scores: {game: run scores}, a list of per-game arrays, or a (runs, games) array.
        statistic: e.g. ``aggregate_iqm``; receives per-game arrays shaped (reps, runs_in_game).
        reps: bootstrap replications.
        confidence: coverage of the interval (0.95: the 2.5 and 97.5 percentiles).
        seed: seeds a ``numpy.random.Generator``; the same inputs and seed give the same CI.
    """
    groups = _as_groups(scores)
    rng = np.random.default_rng(seed)
    resampled = [g[rng.integers(0, g.size, size=(reps, g.size))] for g in groups]
    replicates = np.asarray(statistic(resampled), dtype=float)
    alpha = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(replicates, [alpha, 100.0 - alpha])
    point = float(statistic([g[None, :] for g in groups])[0])
    return Estimate(point=point, low=float(low), high=float(high))


def bootstrap_mean_ci(
    values, reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> Estimate:
    """Mean of ``values`` (e.g. one score per seed) with a percentile bootstrap CI.

    With a single value the interval collapses onto it.
    """
    return stratified_bootstrap_ci([values], aggregate_mean, reps, confidence, seed)


def aggregate_with_cis(
    scores, reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> dict[str, Estimate]:
    """Median, IQM and mean over games, each with a stratified-bootstrap CI."""
    return {
        name: stratified_bootstrap_ci(scores, fn, reps, confidence, seed)
        for name, fn in AGGREGATES.items()
    }
