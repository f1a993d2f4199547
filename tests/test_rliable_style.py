"""dqn_atari.analysis.rliable_style: the estimators of Agarwal et al. 2021, against hand-worked values.

Each statistic is checked on arrays small enough to compute on paper (the arithmetic is in
the comments); the bootstrap intervals on properties that could fail: they contain the point,
narrow with more runs, repeat under a seed, resample whole runs along a curve, and agree
with ``scipy.stats.bootstrap`` (whose multi-sample resampling is the same stratification).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from dqn_atari.analysis import aggregate
from dqn_atari.analysis import rliable_style as rs


def test_optimality_gap_by_hand():
    # Game a: max(1 - 0.5, 0) = 0.5 and max(1 - 1.5, 0) = 0 -> 0.25.
    # Game b: max(1 - 0.2, 0) = 0.8 and max(1 - 0.8, 0) = 0.2 -> 0.5.
    # Mean over games: (0.25 + 0.5) / 2 = 0.375 (rliable's 1 - mean(min(x, 1)) = 1 - 2.5/4).
    games = [np.array([0.5, 1.5]), np.array([0.2, 0.8])]
    assert rs.optimality_gap(games) == pytest.approx(0.375)
    # gamma = 0.5: a gives 0 and 0; b gives 0.3 and 0 -> 0.15; mean (0 + 0.15) / 2 = 0.075.
    assert rs.optimality_gap(games, gamma=0.5) == pytest.approx(0.075)
    # Every run at or above human: no gap at all.
    assert rs.optimality_gap([np.array([1.0, 4.0])]) == 0.0


def test_curve_statistics_by_hand_at_each_point():
    # Two points of a curve; game a has 2 runs, game b 4 (rows = points, columns = runs).
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    b = np.array([[10.0, 0.0, 5.0, 7.0], [1.0, 1.0, 1.0, 1.0]])
    # IQM pools the 6 scores and trims int(0.25 * 6) = 1 from each end:
    #   point 0: 0 1 2 5 7 10 -> mean(1, 2, 5, 7) = 3.75;  point 1: 1 1 1 1 3 4 -> 1.5.
    assert rs.STATISTICS["iqm"]([a, b]) == pytest.approx([3.75, 1.5])
    # Per-game means: point 0 a 1.5, b 5.5; point 1 a 3.5, b 1.  Mean over games: 3.5, 2.25.
    assert rs.STATISTICS["mean"]([a, b]) == pytest.approx([3.5, 2.25])
    # Optimality gap (gamma 1): point 0 a (0 + 0) / 2, b (0 + 1 + 0 + 0) / 4 = 0.25 -> 0.125;
    # point 1: a 0, b 0 -> 0.
    assert rs.STATISTICS["optimality_gap"]([a, b]) == pytest.approx([0.125, 0.0])
    # The median over 3 games of their means: means 1.5, 5.5, 0.5 at point 0 -> 1.5.
    c = np.array([[0.0, 1.0], [2.0, 2.0]])  # point 1 means: a 3.5, b 1, c 2 -> median 2
    assert rs.STATISTICS["median"]([a, b, c]) == pytest.approx([1.5, 2.0])


def test_performance_profiles_by_hand():
    games = [np.array([0.2, 1.5]), np.array([0.8, 0.9, 3.0])]
    taus = [0.0, 0.2, 0.5, 1.0, 2.0]
    # Runs above tau, per game:   a: 2/2, 1/2 (0.2 is not > 0.2), 1/2, 1/2, 0/2
    #                             b: 3/3, 3/3, 3/3, 1/3, 1/3
    # averaged over games: 1, 3/4, 3/4, (1/2 + 1/3)/2 = 5/12, (0 + 1/3)/2 = 1/6.
    assert rs.performance_profile(games, taus, "runs") == pytest.approx(
        [1.0, 0.75, 0.75, 5 / 12, 1 / 6])
    # Game means: a 0.85, b 4.7/3 = 1.567. Games above tau: 2, 2, 2, 1 (b), 0 -> fractions.
    assert rs.performance_profile(games, taus, "games") == pytest.approx(
        [1.0, 1.0, 1.0, 0.5, 0.0])
    with pytest.raises(ValueError, match="kind must be one of"):
        rs.performance_profile(games, taus, "seeds")


def test_probability_of_improvement_by_hand():
    x = [np.array([3.0, 5.0]), np.array([2.0]), np.array([0.0, 6.0])]
    y = [np.array([1.0, 4.0]), np.array([2.0, 0.0]), np.array([5.0])]
    # Game 1: pairs (3,1) 1, (3,4) 0, (5,1) 1, (5,4) 1 -> 3/4.
    # Game 2: (2,2) a tie, 1/2; (2,0) 1 -> 3/4.
    # Game 3: (0,5) 0, (6,5) 1 -> 1/2.
    # Averaged over games: (3/4 + 3/4 + 1/2) / 3 = 2/3.
    assert rs.probability_of_improvement(x, y) == pytest.approx(2 / 3)
    # The other way round: 1/4, 1/4, 1/2 -> 1/3; the two add up to 1.
    assert rs.probability_of_improvement(y, x) == pytest.approx(1 / 3)
    # Per game it is the Mann-Whitney U of X against Y over the number of pairs.
    for xg, yg in zip(x, y):
        u = stats.mannwhitneyu(xg, yg, alternative="two-sided").statistic
        assert rs.probability_of_improvement([xg], [yg]) == pytest.approx(u / (xg.size * yg.size))
    with pytest.raises(ValueError, match="same games"):
        rs.probability_of_improvement(x, y[:2])


def _normal_games(n_games: int, n_runs: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(loc=g, scale=1.0, size=n_runs) for g in range(n_games)]


@pytest.mark.parametrize("name", list(rs.STATISTICS))
def test_intervals_contain_the_point_repeat_under_a_seed_and_narrow_with_runs(name):
    statistic = rs.STATISTICS[name]
    few = _normal_games(5, 3, seed=1)
    band = rs.bootstrap_band(few, statistic, reps=1000, seed=0)
    assert band.low <= band.point <= band.high and band.low < band.high
    again = rs.bootstrap_band(few, statistic, reps=1000, seed=0)
    assert (again.low, again.high) == (band.low, band.high)
    if name != "median":  # the median of 5 game means takes few values: its ends may repeat
        other = rs.bootstrap_band(few, statistic, reps=1000, seed=1)
        assert (other.low, other.high) != (band.low, band.high)
    many = rs.bootstrap_band(_normal_games(5, 30, seed=1), statistic, reps=1000, seed=0)
    assert many.high - many.low < 0.7 * (band.high - band.low)


def test_one_run_per_game_leaves_nothing_to_resample():
    band = rs.bootstrap_band([np.array([0.3]), np.array([0.9])], rs.optimality_gap, reps=200)
    # (0.7 + 0.1) / 2 = 0.4 and every replicate is the same data.
    assert (band.point, band.low, band.high) == pytest.approx((0.4, 0.4, 0.4))


def test_curve_band_resamples_whole_runs():
    """Along a curve each replicate takes the same runs at every point (rliable's way).

    So the band at one point of the curve is exactly the band of that point alone under the
    same seed, and a curve whose two points are the same data has identical bands.
    """
    rng = np.random.default_rng(7)
    curve = [rng.normal(size=(4, 5)), rng.normal(size=(4, 3))]  # 4 points, 5 and 3 runs
    whole = rs.bootstrap_band(curve, aggregate.aggregate_iqm, reps=300, seed=2)
    for k in range(4):
        alone = rs.bootstrap_band([g[k] for g in curve], aggregate.aggregate_iqm, reps=300,
                                  seed=2)
        assert (whole.point[k], whole.low[k], whole.high[k]) == pytest.approx(
            (alone.point, alone.low, alone.high))
    same = [np.vstack([g[0], g[0]]) for g in curve]
    band = rs.bootstrap_band(same, aggregate.aggregate_iqm, reps=300, seed=2)
    assert band.low[0] == band.low[1] and band.high[0] == band.high[1]


def test_agrees_with_scipy_stratified_bootstrap():
    # scipy.stats.bootstrap resamples each sample on its own: given one sample per game it is
    # the stratified bootstrap. Same estimator, other random draws: the ends agree closely.
    games = _normal_games(4, 6, seed=3)

    def mean_of_game_means(*samples, axis=-1):
        return np.mean([np.mean(s, axis=axis) for s in samples], axis=0)

    theirs = stats.bootstrap(games, mean_of_game_means, n_resamples=4000, method="percentile",
                             confidence_level=0.95, random_state=np.random.default_rng(0))
    ours = rs.bootstrap_band(games, aggregate.aggregate_mean, reps=4000, seed=0)
    width = ours.high - ours.low
    assert ours.low == pytest.approx(theirs.confidence_interval.low, abs=0.08 * width)
    assert ours.high == pytest.approx(theirs.confidence_interval.high, abs=0.08 * width)


def test_same_interval_as_the_final_point_aggregates():
    """One point, fewer replicates than a chunk: the same draws as aggregate.py's bootstrap."""
    games = _normal_games(3, 4, seed=9)
    ours = rs.bootstrap_band(games, aggregate.aggregate_median, reps=80, seed=4)
    theirs = aggregate.stratified_bootstrap_ci(games, aggregate.aggregate_median, reps=80, seed=4)
    assert (float(ours.point), float(ours.low), float(ours.high)) == pytest.approx(
        (theirs.point, theirs.low, theirs.high))


def test_profile_and_improvement_bands():
    games = _normal_games(3, 5, seed=11)
    taus = np.linspace(-1, 4, 11)
    band = rs.performance_profile_band(games, taus, "runs", reps=500, seed=0)
    assert np.all(band.low <= band.point) and np.all(band.point <= band.high)
    assert np.all(np.diff(band.point) <= 0)  # a profile never rises with tau
    better = [g + 0.5 for g in games]
    est = rs.probability_of_improvement_ci(better, games, reps=500, seed=0)
    assert est.low <= est.point <= est.high
    assert est.point > 0.5 and est.low < est.high <= 1.0
    assert rs.probability_of_improvement_ci(games, games, reps=200).point == pytest.approx(0.5)
    with pytest.raises(ValueError, match="NaN"):
        rs.bootstrap_band([np.array([1.0, np.nan])], aggregate.aggregate_mean)
