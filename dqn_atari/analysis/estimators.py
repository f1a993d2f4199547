"""The statistics of the analysis: aggregates over games, bootstrap intervals and tests.

The estimators of Agarwal et al. 2021 ("Deep RL at the edge of the statistical precipice"),
re-implemented on numpy/scipy (rliable itself does not import under pandas 3, and its
repository is archived), and the Welch t-test of the side-by-side comparison:

* aggregates over games: median, IQM, mean and the optimality gap (``STATISTICS``);
* a stratified bootstrap of any of them, at one point (``stratified_bootstrap_ci``) or
  along a training curve (``bootstrap_band``: one resample of the runs serves every point
  of the curve, so the band of a curve is the band of one bootstrap of whole runs);
* performance profiles: the fraction of runs (or of games, each averaged over its runs)
  whose score exceeds tau, with bands;
* the probability of improvement P(X > Y) of one algorithm over another;
* a two-sided Welch t-test of two samples (``welch_test``).

Scores come per game: a list of arrays (or a {game: runs} mapping), one per game, whose
LAST axis is the runs of that game (seeds). Games may have different numbers of runs. The
bootstrap is *stratified*: it resamples runs with replacement within each game and keeps
the games fixed; intervals are percentile intervals. With one run in every game it has
nothing to resample and the interval collapses onto the point.

Weights with unequal runs per game: every statistic weighs games equally (a game's runs
are averaged first), except the IQM, which pools all (game, run) scores as rliable does.
With the same number of runs in every game all of them equal rliable's ``aggregate_*``.

Which draws a seed gives: ``bootstrap_band`` draws the replicates in chunks of
``REPLICATES_PER_CHUNK`` (to bound memory on long curves), game after game within a chunk;
``stratified_bootstrap_ci`` (the final scores of the report) draws all of them at once. The
same inputs and seed give the same interval each time.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

# A statistic maps per-game arrays shaped (..., runs_in_game) to an array shaped (...).
Statistic = Callable[[Sequence[np.ndarray]], np.ndarray]

# Bootstrap replicates of a curve are computed in chunks of this many, to bound memory
# (49 games x 5 runs x 200 points x 2,000 replicates would be 784 MB at once).
REPLICATES_PER_CHUNK = 100


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap confidence interval."""

    point: float
    low: float
    high: float

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}point": self.point, f"{prefix}ci_low": self.low,
                f"{prefix}ci_high": self.high}


@dataclass(frozen=True)
class Band:
    """Point estimates along an axis (frames or tau) with their bootstrap interval."""

    point: np.ndarray | float
    low: np.ndarray | float
    high: np.ndarray | float


# ---------------------------------------------------------------------------------------
# Aggregates over games
# ---------------------------------------------------------------------------------------


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


def optimality_gap(scores: Sequence[np.ndarray], gamma: float = 1.0) -> np.ndarray:
    """How far the scores fall short of ``gamma`` on average: mean of max(gamma - x, 0).

    Averaged over each game's runs, then over games. ``gamma = 1`` is human level on
    human-normalised scores; scores above it earn nothing. Lower is better.
    """
    per_game = [np.mean(np.maximum(gamma - np.asarray(s, dtype=float), 0.0), axis=-1)
                for s in scores]
    return np.mean(np.stack(per_game, axis=-1), axis=-1)


# The aggregates of a final score (the report's table and figure) ...
AGGREGATES: dict[str, Statistic] = {
    "median": aggregate_median,
    "iqm": aggregate_iqm,
    "mean": aggregate_mean,
}
# ... and of a training curve (the aggregates over training), in the order drawn.
STATISTICS: dict[str, Statistic] = {**AGGREGATES, "optimality_gap": optimality_gap}
STATISTIC_TITLES = {"median": "Median", "iqm": "IQM", "mean": "Mean",
                    "optimality_gap": "Optimality gap"}


# ---------------------------------------------------------------------------------------
# The stratified bootstrap
# ---------------------------------------------------------------------------------------


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
                             "point (dqn_atari.analysis.tables does)")
    return groups


def _percentiles(replicates: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    alpha = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(replicates, [alpha, 100.0 - alpha], axis=0)
    return low, high


def _scalar_if_0d(values) -> np.ndarray | float:
    values = np.asarray(values, dtype=float)
    return float(values) if values.ndim == 0 else values


def bootstrap_band(scores, statistic: Statistic, reps: int = 2000, confidence: float = 0.95,
                   seed: int = 0, chunk: int = REPLICATES_PER_CHUNK) -> Band:
    """``statistic`` of per-game scores shaped (points, runs) with a stratified-bootstrap band.

    Args:
        scores: one array per game, shaped (points, runs_in_game) (e.g. points = frames of a
            training curve) or (runs_in_game,) for a single point; no NaN.
        statistic: maps per-game arrays shaped (..., runs) to shape (...), e.g. ``optimality_gap``.
        reps: bootstrap replicates; each resamples the runs of every game with replacement,
            the same resample for every point.
        confidence: coverage of the percentile interval (0.95: percentiles 2.5 and 97.5).
        seed: seeds ``numpy.random.default_rng``; the same inputs and seed give the same band.
        chunk: replicates drawn at a time (the module doc: which draws a seed gives).
    Returns:
        a ``Band`` whose arrays have shape (points,) (shape () for 1-D per-game scores).
    """
    groups = _checked_groups(scores)
    rng = np.random.default_rng(seed)
    point = np.asarray(statistic(groups), dtype=float)
    chunks = []
    for start in range(0, reps, chunk):
        n = min(chunk, reps - start)
        # g[..., idx] has shape (..., n, runs): move the replicate axis first.
        resampled = [np.moveaxis(g[..., rng.integers(0, g.shape[-1], size=(n, g.shape[-1]))],
                                 -2, 0) for g in groups]
        chunks.append(np.asarray(statistic(resampled), dtype=float))
    low, high = _percentiles(np.concatenate(chunks, axis=0), confidence)
    return Band(point=_scalar_if_0d(point), low=_scalar_if_0d(low), high=_scalar_if_0d(high))


def _as_groups(scores) -> list[np.ndarray]:
    """Per-game 1-D arrays from a {game: runs} mapping, a list of arrays, or a (runs, games)
    array, without their NaN runs."""
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


def stratified_bootstrap_ci(scores, statistic: Statistic, reps: int = 2000,
                            confidence: float = 0.95, seed: int = 0) -> Estimate:
    """Point estimate and percentile CI of ``statistic`` at one point (one score per run).

    Args:
        scores: {game: run scores}, a list of per-game arrays, or a (runs, games) array (as
            rliable takes it); NaN runs are left out.
        statistic: e.g. ``aggregate_iqm``; receives per-game arrays shaped (reps, runs_in_game).
        reps, confidence, seed: as ``bootstrap_band``, which draws all ``reps`` at once here.
    """
    band = bootstrap_band(_as_groups(scores), statistic, reps, confidence, seed,
                          chunk=max(reps, 1))
    return Estimate(point=float(band.point), low=float(band.low), high=float(band.high))


def bootstrap_mean_ci(values, reps: int = 2000, confidence: float = 0.95,
                      seed: int = 0) -> Estimate:
    """Mean of ``values`` (e.g. one score per seed) with a percentile bootstrap CI.

    With a single value the interval collapses onto it.
    """
    return stratified_bootstrap_ci([values], aggregate_mean, reps, confidence, seed)


def aggregate_with_cis(scores, reps: int = 2000, confidence: float = 0.95,
                       seed: int = 0) -> dict[str, Estimate]:
    """Median, IQM and mean over games, each with a stratified-bootstrap CI."""
    return {name: stratified_bootstrap_ci(scores, fn, reps, confidence, seed)
            for name, fn in AGGREGATES.items()}


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
                                  confidence: float = 0.95, seed: int = 0) -> Estimate:
    """P(X > Y) with a stratified-bootstrap interval: X's and Y's runs resampled per game."""
    xs, ys = _checked_groups(x_scores), _checked_groups(y_scores)
    if len(xs) != len(ys):
        raise ValueError(f"X has {len(xs)} games and Y {len(ys)}: give both experiments' "
                         "runs on the same games, in the same order")
    n_games = len(xs)

    def statistic(groups):
        return probability_of_improvement(groups[:n_games], groups[n_games:])

    band = bootstrap_band(xs + ys, statistic, reps, confidence, seed)
    return Estimate(float(band.point), float(band.low), float(band.high))


# ---------------------------------------------------------------------------------------
# Welch's t-test
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Welch:
    """A two-sided Welch t-test of two samples; ``p`` is None when it cannot be computed."""

    t: float | None
    df: float | None
    p: float | None
    note: str = ""


def welch_test(ours: Sequence[float], theirs: Sequence[float],
               names: tuple[str, str] = ("ours", "Dopamine's")) -> Welch:
    """Two-sided Welch t-test (``scipy.stats.ttest_ind(equal_var=False)``) of ``ours`` vs ``theirs``.

    ``df`` is the Welch-Satterthwaite degrees of freedom. No number is made up: with fewer
    than 2 values on a side (no sample variance) or no variance on either side, t, df and p
    are None and ``note`` says why, naming the sample by ``names``.
    """
    for name, sample in zip(names, (ours, theirs)):
        if len(sample) < 2:
            return Welch(None, None, None,
                         f"n/a: only {len(sample)} seed of {name}, and a sample variance "
                         "needs at least 2")
    v1, v2 = statistics.variance(ours) / len(ours), statistics.variance(theirs) / len(theirs)
    if v1 + v2 == 0:
        return Welch(None, None, None, "n/a: every seed on both sides has the same value")
    result = stats.ttest_ind(list(ours), list(theirs), equal_var=False)
    df = (v1 + v2) ** 2 / (v1 ** 2 / (len(ours) - 1) + v2 ** 2 / (len(theirs) - 1))
    return Welch(float(result.statistic), df, float(result.pvalue))
