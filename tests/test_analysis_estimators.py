"""dqn_atari.analysis.estimators: each statistic against values worked by hand.

Each statistic is checked on arrays small enough to compute on paper (the arithmetic is in
the comments); the bootstrap intervals on properties that could fail: they contain the point,
narrow with more runs, repeat under a seed, resample whole runs along a curve, and agree
with ``scipy.stats.bootstrap`` (whose multi-sample resampling is the same stratification);
some are pinned on numpy's PCG64 stream, so that a change of the draws shows. The Welch
t-test against its formula.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from dqn_atari.analysis import estimators

# Three games with three runs each (the shape of one experiment's final HNS).
SCORES = {"g1": [1.0, 2.0, 3.0], "g2": [10.0, 12.0, 14.0], "g3": [0.5, 0.7, 0.6]}


def test_iqm_of_known_data():
    # 8 values: drop 2 from each end, mean of 3, 4, 5, 6.
    assert estimators.iqm([8, 1, 7, 2, 6, 3, 5, 4]) == pytest.approx(4.5)
    # 0..99: the middle 50 values 25..74.
    assert estimators.iqm(np.arange(100)) == pytest.approx(49.5)
    # An outlier does not move the IQM.
    assert estimators.iqm([1, 2, 3, 4, 5, 6, 7, 1e9]) == pytest.approx(4.5)


def test_aggregates_over_games_by_hand():
    groups = [np.asarray(v)[None, :] for v in SCORES.values()]
    # Per-game means: 2, 12, 0.6.
    assert estimators.aggregate_mean(groups)[0] == pytest.approx((2 + 12 + 0.6) / 3)
    assert estimators.aggregate_median(groups)[0] == pytest.approx(2.0)
    # Pooled, sorted: 0.5 0.6 0.7 1 2 3 10 12 14; trim 2 per end -> mean(0.7, 1, 2, 3, 10).
    assert estimators.aggregate_iqm(groups)[0] == pytest.approx(16.7 / 5)


def test_runs_by_games_matrix_equals_mapping():
    matrix = np.array(list(SCORES.values())).T  # (runs, games), as rliable takes it
    a = estimators.aggregate_with_cis(matrix, reps=300, seed=3)
    b = estimators.aggregate_with_cis(SCORES, reps=300, seed=3)
    assert a == b


def test_bootstrap_ci_is_deterministic_for_a_seed_and_contains_the_point():
    first = estimators.aggregate_with_cis(SCORES, reps=2000, seed=0)
    again = estimators.aggregate_with_cis(SCORES, reps=2000, seed=0)
    assert first == again
    # Another seed resamples differently (continuous data, so the percentiles move).
    x = np.random.default_rng(5).normal(size=(5, 4))
    assert (estimators.aggregate_with_cis(x, reps=500, seed=0)["iqm"]
            != estimators.aggregate_with_cis(x, reps=500, seed=1)["iqm"])
    for est in first.values():
        assert est.low <= est.point <= est.high
        assert est.low < est.high
    # Pinned on numpy's PCG64 Generator stream (seed 0); a change here means the
    # resampling changed, not the data.
    pinned = {"median": (2.0, 1.0, 3.0), "iqm": (3.34, 2.74, 4.14),
              "mean": (14.6 / 3, 4.2, 5.544444444444444)}
    for name, (point, low, high) in pinned.items():
        est = first[name]
        assert (est.point, est.low, est.high) == pytest.approx((point, low, high)), name
    # The single-statistic entry point gives the same interval.
    mean_ci = estimators.stratified_bootstrap_ci(SCORES, estimators.aggregate_mean, 2000, 0.95, 0)
    assert mean_ci == first["mean"]


def test_bootstrap_mean_ci_pinned_and_sensible():
    est = estimators.bootstrap_mean_ci([3.0, 5.0, 4.0, 8.0], reps=1000, seed=1)
    assert est.point == 5.0
    assert (est.low, est.high) == pytest.approx((3.5, 7.0))
    # For 30 normal draws the percentile CI is close to mean +- 1.96 sd / sqrt(n).
    x = np.random.default_rng(123).normal(10.0, 2.0, size=30)
    est = estimators.bootstrap_mean_ci(x, reps=4000, seed=0)
    half_width = 1.96 * x.std(ddof=1) / np.sqrt(x.size)
    assert (est.high - est.low) / 2 == pytest.approx(half_width, rel=0.15)
    assert est.low < x.mean() < est.high


def test_one_run_per_game_gives_a_point_interval():
    # Stratified: games are fixed, runs are resampled within a game; one run -> no spread.
    est = estimators.stratified_bootstrap_ci({"a": [1.0], "b": [3.0]}, estimators.aggregate_mean)
    assert (est.point, est.low, est.high) == (2.0, 2.0, 2.0)
    assert estimators.bootstrap_mean_ci([7.5]) == estimators.Estimate(7.5, 7.5, 7.5)


def test_games_may_have_different_numbers_of_runs():
    ragged = {"a": [1.0, 2.0, 3.0, 4.0], "b": [10.0], "c": [5.0, np.nan, 6.0]}
    est = estimators.stratified_bootstrap_ci(ragged, estimators.aggregate_mean, reps=500)
    assert est.point == pytest.approx((2.5 + 10.0 + 5.5) / 3)  # NaN runs are dropped
    assert est.low <= est.point <= est.high
    with pytest.raises(ValueError, match="at least one"):
        estimators.stratified_bootstrap_ci({"a": [np.nan]}, estimators.aggregate_mean)


def test_optimality_gap_by_hand():
    # Game a: max(1 - 0.5, 0) = 0.5 and max(1 - 1.5, 0) = 0 -> 0.25.
    # Game b: max(1 - 0.2, 0) = 0.8 and max(1 - 0.8, 0) = 0.2 -> 0.5.
    # Mean over games: (0.25 + 0.5) / 2 = 0.375 (rliable's 1 - mean(min(x, 1)) = 1 - 2.5/4).
    games = [np.array([0.5, 1.5]), np.array([0.2, 0.8])]
    assert estimators.optimality_gap(games) == pytest.approx(0.375)
    # gamma = 0.5: a gives 0 and 0; b gives 0.3 and 0 -> 0.15; mean (0 + 0.15) / 2 = 0.075.
    assert estimators.optimality_gap(games, gamma=0.5) == pytest.approx(0.075)
    # Every run at or above human: no gap at all.
    assert estimators.optimality_gap([np.array([1.0, 4.0])]) == 0.0


def test_curve_statistics_by_hand_at_each_point():
    # Two points of a curve; game a has 2 runs, game b 4 (rows = points, columns = runs).
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    b = np.array([[10.0, 0.0, 5.0, 7.0], [1.0, 1.0, 1.0, 1.0]])
    # IQM pools the 6 scores and trims int(0.25 * 6) = 1 from each end:
    #   point 0: 0 1 2 5 7 10 -> mean(1, 2, 5, 7) = 3.75;  point 1: 1 1 1 1 3 4 -> 1.5.
    assert estimators.STATISTICS["iqm"]([a, b]) == pytest.approx([3.75, 1.5])
    # Per-game means: point 0 a 1.5, b 5.5; point 1 a 3.5, b 1.  Mean over games: 3.5, 2.25.
    assert estimators.STATISTICS["mean"]([a, b]) == pytest.approx([3.5, 2.25])
    # Optimality gap (gamma 1): point 0 a (0 + 0) / 2, b (0 + 1 + 0 + 0) / 4 = 0.25 -> 0.125;
    # point 1: a 0, b 0 -> 0.
    assert estimators.STATISTICS["optimality_gap"]([a, b]) == pytest.approx([0.125, 0.0])
    # The median over 3 games of their means: means 1.5, 5.5, 0.5 at point 0 -> 1.5.
    c = np.array([[0.0, 1.0], [2.0, 2.0]])  # point 1 means: a 3.5, b 1, c 2 -> median 2
    assert estimators.STATISTICS["median"]([a, b, c]) == pytest.approx([1.5, 2.0])


def test_performance_profiles_by_hand():
    games = [np.array([0.2, 1.5]), np.array([0.8, 0.9, 3.0])]
    taus = [0.0, 0.2, 0.5, 1.0, 2.0]
    # Runs above tau, per game:   a: 2/2, 1/2 (0.2 is not > 0.2), 1/2, 1/2, 0/2
    #                             b: 3/3, 3/3, 3/3, 1/3, 1/3
    # averaged over games: 1, 3/4, 3/4, (1/2 + 1/3)/2 = 5/12, (0 + 1/3)/2 = 1/6.
    assert estimators.performance_profile(games, taus, "runs") == pytest.approx(
        [1.0, 0.75, 0.75, 5 / 12, 1 / 6])
    # Game means: a 0.85, b 4.7/3 = 1.567. Games above tau: 2, 2, 2, 1 (b), 0 -> fractions.
    assert estimators.performance_profile(games, taus, "games") == pytest.approx(
        [1.0, 1.0, 1.0, 0.5, 0.0])
    with pytest.raises(ValueError, match="kind must be one of"):
        estimators.performance_profile(games, taus, "seeds")


def test_probability_of_improvement_by_hand():
    x = [np.array([3.0, 5.0]), np.array([2.0]), np.array([0.0, 6.0])]
    y = [np.array([1.0, 4.0]), np.array([2.0, 0.0]), np.array([5.0])]
    # Game 1: pairs (3,1) 1, (3,4) 0, (5,1) 1, (5,4) 1 -> 3/4.
    # Game 2: (2,2) a tie, 1/2; (2,0) 1 -> 3/4.
    # Game 3: (0,5) 0, (6,5) 1 -> 1/2.
    # Averaged over games: (3/4 + 3/4 + 1/2) / 3 = 2/3.
    assert estimators.probability_of_improvement(x, y) == pytest.approx(2 / 3)
    # The other way round: 1/4, 1/4, 1/2 -> 1/3; the two add up to 1.
    assert estimators.probability_of_improvement(y, x) == pytest.approx(1 / 3)
    # Per game it is the Mann-Whitney U of X against Y over the number of pairs.
    for xg, yg in zip(x, y):
        u = stats.mannwhitneyu(xg, yg, alternative="two-sided").statistic
        assert estimators.probability_of_improvement([xg], [yg]) == pytest.approx(u / (xg.size * yg.size))
    with pytest.raises(ValueError, match="same games"):
        estimators.probability_of_improvement(x, y[:2])


def _normal_games(n_games: int, n_runs: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(loc=g, scale=1.0, size=n_runs) for g in range(n_games)]


@pytest.mark.parametrize("name", list(estimators.STATISTICS))
def test_intervals_contain_the_point_repeat_under_a_seed_and_narrow_with_runs(name):
    statistic = estimators.STATISTICS[name]
    few = _normal_games(5, 3, seed=1)
    band = estimators.bootstrap_band(few, statistic, reps=1000, seed=0)
    assert band.low <= band.point <= band.high and band.low < band.high
    again = estimators.bootstrap_band(few, statistic, reps=1000, seed=0)
    assert (again.low, again.high) == (band.low, band.high)
    if name != "median":  # the median of 5 game means takes few values: its ends may repeat
        other = estimators.bootstrap_band(few, statistic, reps=1000, seed=1)
        assert (other.low, other.high) != (band.low, band.high)
    many = estimators.bootstrap_band(_normal_games(5, 30, seed=1), statistic, reps=1000, seed=0)
    assert many.high - many.low < 0.7 * (band.high - band.low)


def test_one_run_per_game_leaves_nothing_to_resample():
    band = estimators.bootstrap_band([np.array([0.3]), np.array([0.9])], estimators.optimality_gap, reps=200)
    # (0.7 + 0.1) / 2 = 0.4 and every replicate is the same data.
    assert (band.point, band.low, band.high) == pytest.approx((0.4, 0.4, 0.4))


def test_curve_band_resamples_whole_runs():
    """Along a curve each replicate takes the same runs at every point (rliable's way).

    So the band at one point of the curve is exactly the band of that point alone under the
    same seed, and a curve whose two points are the same data has identical bands.
    """
    rng = np.random.default_rng(7)
    curve = [rng.normal(size=(4, 5)), rng.normal(size=(4, 3))]  # 4 points, 5 and 3 runs
    whole = estimators.bootstrap_band(curve, estimators.aggregate_iqm, reps=300, seed=2)
    for k in range(4):
        alone = estimators.bootstrap_band([g[k] for g in curve], estimators.aggregate_iqm, reps=300,
                                  seed=2)
        assert (whole.point[k], whole.low[k], whole.high[k]) == pytest.approx(
            (alone.point, alone.low, alone.high))
    same = [np.vstack([g[0], g[0]]) for g in curve]
    band = estimators.bootstrap_band(same, estimators.aggregate_iqm, reps=300, seed=2)
    assert band.low[0] == band.low[1] and band.high[0] == band.high[1]


def test_agrees_with_scipy_stratified_bootstrap():
    # scipy.stats.bootstrap resamples each sample on its own: given one sample per game it is
    # the stratified bootstrap. Same estimator, other random draws: the ends agree closely.
    games = _normal_games(4, 6, seed=3)

    def mean_of_game_means(*samples, axis=-1):
        return np.mean([np.mean(s, axis=axis) for s in samples], axis=0)

    theirs = stats.bootstrap(games, mean_of_game_means, n_resamples=4000, method="percentile",
                             confidence_level=0.95, random_state=np.random.default_rng(0))
    ours = estimators.bootstrap_band(games, estimators.aggregate_mean, reps=4000, seed=0)
    width = ours.high - ours.low
    assert ours.low == pytest.approx(theirs.confidence_interval.low, abs=0.08 * width)
    assert ours.high == pytest.approx(theirs.confidence_interval.high, abs=0.08 * width)


def test_one_point_is_the_band_drawn_at_once():
    """The final-point interval is ``bootstrap_band`` with every replicate drawn at once; a
    curve draws them in chunks, which gives other (equally valid) draws past one chunk."""
    games = _normal_games(3, 4, seed=9)
    for reps in (80, 500):
        band = estimators.bootstrap_band(games, estimators.aggregate_median, reps=reps, seed=4, chunk=reps)
        one = estimators.stratified_bootstrap_ci(games, estimators.aggregate_median, reps=reps, seed=4)
        assert (one.point, one.low, one.high) == (band.point, band.low, band.high)
    # Within one chunk (reps <= REPLICATES_PER_CHUNK) a curve's draws are the same too.
    chunked = estimators.bootstrap_band(games, estimators.aggregate_median, reps=80, seed=4)
    at_once = estimators.stratified_bootstrap_ci(games, estimators.aggregate_median, reps=80, seed=4)
    assert (chunked.point, chunked.low, chunked.high) == (at_once.point, at_once.low,
                                                          at_once.high)


def test_profile_and_improvement_bands():
    games = _normal_games(3, 5, seed=11)
    taus = np.linspace(-1, 4, 11)
    band = estimators.performance_profile_band(games, taus, "runs", reps=500, seed=0)
    assert np.all(band.low <= band.point) and np.all(band.point <= band.high)
    assert np.all(np.diff(band.point) <= 0)  # a profile never rises with tau
    better = [g + 0.5 for g in games]
    est = estimators.probability_of_improvement_ci(better, games, reps=500, seed=0)
    assert est.low <= est.point <= est.high
    assert est.point > 0.5 and est.low < est.high <= 1.0
    assert estimators.probability_of_improvement_ci(games, games, reps=200).point == pytest.approx(0.5)
    with pytest.raises(ValueError, match="NaN"):
        estimators.bootstrap_band([np.array([1.0, np.nan])], estimators.aggregate_mean)


def test_welch_p_value_matches_the_formula():
    """t and the Welch-Satterthwaite df by hand on a made-up set; p from Student's t."""
    from scipy import stats

    ours, theirs = [410.0, 455.0, 520.0], [674.3, 880.0, 960.5, 1001.0, 1077.6]
    m1, m2 = sum(ours) / 3, sum(theirs) / 5
    s1 = sum((x - m1) ** 2 for x in ours) / 2  # sample variances (n - 1)
    s2 = sum((x - m2) ** 2 for x in theirs) / 4
    se2 = s1 / 3 + s2 / 5
    t = (m1 - m2) / math.sqrt(se2)
    df = se2 ** 2 / ((s1 / 3) ** 2 / 2 + (s2 / 5) ** 2 / 4)
    p = 2 * stats.t.sf(abs(t), df)
    test = estimators.welch_test(ours, theirs)
    assert test.t == pytest.approx(t, rel=1e-12) and test.t < 0
    assert test.df == pytest.approx(df, rel=1e-12)
    assert test.p == pytest.approx(p, rel=1e-9)
    assert 0.001 < test.p < 0.05 and test.note == ""


def test_welch_is_not_computed_without_two_values_or_any_variance():
    one = estimators.welch_test([647.0], [674.3, 880.0, 960.5, 1001.0, 1077.6])
    assert (one.t, one.df, one.p) == (None, None, None)
    assert one.note == "n/a: only 1 seed of ours, and a sample variance needs at least 2"
    flat = estimators.welch_test([5.0, 5.0], [5.0, 5.0, 5.0])
    assert flat.p is None and "same value" in flat.note
