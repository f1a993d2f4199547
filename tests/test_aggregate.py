"""Tests of dqn_atari.analysis.aggregate: IQM, aggregates over games, stratified bootstrap CIs."""

from __future__ import annotations

import numpy as np
import pytest

from dqn_atari.analysis import aggregate

# Three games with three runs each (the shape of one experiment's final HNS).
SCORES = {"g1": [1.0, 2.0, 3.0], "g2": [10.0, 12.0, 14.0], "g3": [0.5, 0.7, 0.6]}


def test_iqm_of_known_data():
    # 8 values: drop 2 from each end, mean of 3, 4, 5, 6.
    assert aggregate.iqm([8, 1, 7, 2, 6, 3, 5, 4]) == pytest.approx(4.5)
    # 0..99: the middle 50 values 25..74.
    assert aggregate.iqm(np.arange(100)) == pytest.approx(49.5)
    # An outlier does not move the IQM.
    assert aggregate.iqm([1, 2, 3, 4, 5, 6, 7, 1e9]) == pytest.approx(4.5)


def test_aggregates_over_games_by_hand():
    groups = [np.asarray(v)[None, :] for v in SCORES.values()]
    # Per-game means: 2, 12, 0.6.
    assert aggregate.aggregate_mean(groups)[0] == pytest.approx((2 + 12 + 0.6) / 3)
    assert aggregate.aggregate_median(groups)[0] == pytest.approx(2.0)
    # Pooled, sorted: 0.5 0.6 0.7 1 2 3 10 12 14; trim 2 per end -> mean(0.7, 1, 2, 3, 10).
    assert aggregate.aggregate_iqm(groups)[0] == pytest.approx(16.7 / 5)


def test_runs_by_games_matrix_equals_mapping():
    matrix = np.array(list(SCORES.values())).T  # (runs, games), as rliable takes it
    a = aggregate.aggregate_with_cis(matrix, reps=300, seed=3)
    b = aggregate.aggregate_with_cis(SCORES, reps=300, seed=3)
    assert a == b


def test_bootstrap_ci_is_deterministic_for_a_seed_and_contains_the_point():
    first = aggregate.aggregate_with_cis(SCORES, reps=2000, seed=0)
    again = aggregate.aggregate_with_cis(SCORES, reps=2000, seed=0)
    assert first == again
    # Another seed resamples differently (continuous data, so the percentiles move).
    x = np.random.default_rng(5).normal(size=(5, 4))
    assert (aggregate.aggregate_with_cis(x, reps=500, seed=0)["iqm"]
            != aggregate.aggregate_with_cis(x, reps=500, seed=1)["iqm"])
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
    mean_ci = aggregate.stratified_bootstrap_ci(SCORES, aggregate.aggregate_mean, 2000, 0.95, 0)
    assert mean_ci == first["mean"]


def test_bootstrap_mean_ci_pinned_and_sensible():
    est = aggregate.bootstrap_mean_ci([3.0, 5.0, 4.0, 8.0], reps=1000, seed=1)
    assert est.point == 5.0
    assert (est.low, est.high) == pytest.approx((3.5, 7.0))
    # For 30 normal draws the percentile CI is close to mean +- 1.96 sd / sqrt(n).
    x = np.random.default_rng(123).normal(10.0, 2.0, size=30)
    est = aggregate.bootstrap_mean_ci(x, reps=4000, seed=0)
    half_width = 1.96 * x.std(ddof=1) / np.sqrt(x.size)
    assert (est.high - est.low) / 2 == pytest.approx(half_width, rel=0.15)
    assert est.low < x.mean() < est.high


def test_one_run_per_game_gives_a_point_interval():
    # Stratified: games are fixed, runs are resampled within a game; one run -> no spread.
    est = aggregate.stratified_bootstrap_ci({"a": [1.0], "b": [3.0]}, aggregate.aggregate_mean)
    assert (est.point, est.low, est.high) == (2.0, 2.0, 2.0)
    assert aggregate.bootstrap_mean_ci([7.5]) == aggregate.Estimate(7.5, 7.5, 7.5)


def test_games_may_have_different_numbers_of_runs():
    ragged = {"a": [1.0, 2.0, 3.0, 4.0], "b": [10.0], "c": [5.0, np.nan, 6.0]}
    est = aggregate.stratified_bootstrap_ci(ragged, aggregate.aggregate_mean, reps=500)
    assert est.point == pytest.approx((2.5 + 10.0 + 5.5) / 3)  # NaN runs are dropped
    assert est.low <= est.point <= est.high
    with pytest.raises(ValueError, match="at least one"):
        aggregate.stratified_bootstrap_ci({"a": [np.nan]}, aggregate.aggregate_mean)
