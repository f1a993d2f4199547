"""dqn_atari.analysis.tables: the numbers of the report and of the aggregates, by hand.

The runs are synthetic (``analysis_runs``): the report's with known evaluation scores, the
aggregates' with scores chosen so that every human-normalised score (HNS) is a round number.
"""

from __future__ import annotations

import numpy as np
import pytest
from analysis_runs import HNS, write_iterations

from dqn_atari import scores
from dqn_atari.analysis import tables, tidy

REPS = 300  # bootstrap replications: enough for the checks, fast


def test_final_scores_and_aggregates(report_root):
    runs = tidy.load_runs(report_root)
    finals = tables.run_finals(runs)
    b = finals[(finals.experiment == "fast") & (finals.game == "breakout")].set_index("seed")
    assert b.score.to_dict() == {0: 22.0, 1: 18.0, 2: 20.0}
    assert b.source.to_dict() == {0: "eval_nature", 1: "last_iteration", 2: "last_iteration"}

    table = tables.final_scores_table(finals, reps=REPS).set_index(["experiment", "game"])
    row = table.loc[("fast", "breakout")]
    assert row.n_seeds == 3 and row.frames_max == 300_000
    assert row.final_source == "eval_nature+last_iteration"
    assert row.score_mean == pytest.approx(20.0)
    assert row.score_ci_low <= 20.0 <= row.score_ci_high
    assert row.score_std_over_seeds == pytest.approx(2.0)
    assert row.paper_dqn == 401.2
    assert row.pct_of_paper == pytest.approx(100 * 20.0 / 401.2)
    assert row.hns_pct == pytest.approx(100 * (20.0 - 1.7) / (31.8 - 1.7))
    assert row.paper_hns_pct == 1327.2
    pong = table.loc[("fast", "pong")]
    assert pong.score_mean == pytest.approx(-16.0)
    assert pong.hns_pct == pytest.approx(100 * (-16.0 + 20.7) / 30.0)
    catch = table.loc[("fast", "catch")]
    assert np.isnan(catch.paper_dqn) and np.isnan(catch.hns_pct)

    agg = tables.aggregate_table(finals, reps=REPS)
    fast = agg[agg.experiment == "fast"].set_index("statistic")
    hns_breakout = 100 * (20.0 - 1.7) / 30.1
    hns_pong = 100 * (-16.0 + 20.7) / 30.0
    assert fast.loc["mean", "point"] == pytest.approx((hns_breakout + hns_pong) / 2)
    assert fast.loc["median", "point"] == pytest.approx((hns_breakout + hns_pong) / 2)
    assert fast.loc["mean", "n_games"] == 2  # catch has no human score
    paper = agg[agg.experiment.str.startswith(tables.PAPER_LABEL)
                & agg.experiment.str.endswith("fast")].set_index("statistic")
    assert paper.loc["mean", "point"] == pytest.approx((1327.2 + 132.0) / 2)

    at30 = tables.final_scores_table(finals, human="at30", reps=REPS).set_index(["experiment",
                                                                             "game"])
    assert at30.loc[("fast", "breakout")].hns_pct == pytest.approx(
        100 * scores.human_normalized("breakout", 20.0, human="at30"))


def test_evaluation_sits_at_the_end_and_training_games_at_the_middle(tmp_path):
    # Iterations of 1M frames, the last one cut short at 2.4M frames (total_frames).
    run_dir = write_iterations(tmp_path, "nature", "pong", 0, evals=[-20.0, -18.0, -15.0],
                        trains=[-21.0, -19.0, -17.0],
                        frames=[1_000_000, 2_000_000, 2_400_000])
    run = tidy.load_run_dir(run_dir)
    ev = tables.run_curve(run, "eval")
    # The evaluation after iteration i measures the agent after its frames_to training frames.
    assert ev.frames.tolist() == [1_000_000, 2_000_000, 2_400_000]
    assert (ev.frames_from == ev.frames_to).all() and ev.score.tolist() == [-20.0, -18.0, -15.0]
    tr = tables.run_curve(run, "train")
    # Training games of iteration i were played between the previous end and this one.
    assert tr.frames_from.tolist() == [0, 1_000_000, 2_000_000]
    assert tr.frames_to.tolist() == [1_000_000, 2_000_000, 2_400_000]
    assert tr.frames.tolist() == [500_000, 1_500_000, 2_200_000]
    assert tr.score.tolist() == [-21.0, -19.0, -17.0]


def test_aggregate_curves_by_hand(hns_root):
    curves = tables.score_curves(tidy.load_runs(hns_root), "eval")
    assert curves.hns.to_numpy() == pytest.approx(
        [h for (_, _, _), hs in sorted(HNS.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                    kv[0][2])) for h in hs])
    table = tables.aggregate_curve_table(curves, reps=REPS, seed=0)
    nature = table[table.experiment == "nature"].set_index(["statistic", "frames"]).point
    # At 1M frames, HNS: breakout 0.1, 0.3; pong 0.0, 0.2.
    #   mean = median (2 games) = (0.2 + 0.1) / 2 = 0.15; IQM of 0, 0.1, 0.2, 0.3 = 0.15;
    #   optimality gap: breakout (0.9 + 0.7) / 2 = 0.8, pong (1 + 0.8) / 2 = 0.9 -> 0.85.
    # At 2M frames: breakout 0.5, 0.7; pong 1.0, 1.4.
    #   mean = median = (0.6 + 1.2) / 2 = 0.9; IQM of 0.5 0.7 1.0 1.4 = (0.7 + 1.0) / 2 = 0.85;
    #   optimality gap: breakout (0.5 + 0.3) / 2 = 0.4, pong 0 -> 0.2.
    expected = {("mean", 1e6): 0.15, ("median", 1e6): 0.15, ("iqm", 1e6): 0.15,
                ("optimality_gap", 1e6): 0.85, ("mean", 2e6): 0.9, ("median", 2e6): 0.9,
                ("iqm", 2e6): 0.85, ("optimality_gap", 2e6): 0.2}
    for key, value in expected.items():
        assert nature[key] == pytest.approx(value), key
    # fast/pong/seed_1 has only its first iteration: the fast curves stop at 1M frames.
    fast = table[table.experiment == "fast"]
    assert set(fast.frames) == {1_000_000} and set(fast.n_runs) == {4}
    assert (table.ci_low <= table.point + 1e-12).all()
    assert (table.point <= table.ci_high + 1e-12).all()


def test_profile_and_probability_of_improvement_at_the_last_shared_frames(hns_root):
    curves = tables.score_curves(tidy.load_runs(hns_root), "eval")
    finals = tables.final_points(curves)
    assert finals.groupby("experiment").frames.max().to_dict() == {"fast": 1e6, "nature": 2e6}
    profile = tables.profile_table(finals, np.array([0.0, 0.6, 1.2]), "runs", reps=REPS)
    nature = profile[profile.experiment == "nature"].point.tolist()
    # nature at 2M: breakout 0.5, 0.7; pong 1.0, 1.4. Above 0: all; above 0.6: breakout 1/2,
    # pong 2/2 -> 3/4; above 1.2: breakout 0, pong 1/2 -> 1/4.
    assert nature == pytest.approx([1.0, 0.75, 0.25])
    improvement = tables.improvement_table(finals, [("nature", "fast")], reps=REPS).iloc[0]
    # fast at 1M: breakout 0.2, 0.4; pong 1.2, 1.5 (HNS; raw scores rank the same way).
    # breakout: both nature runs beat both fast runs -> 1. pong: 1.0 beats neither, 1.4
    # beats 1.2 only -> 1/4. P(nature > fast) = (1 + 1/4) / 2 = 0.625.
    assert improvement.point == pytest.approx(0.625)
    assert improvement.ci_low <= 0.625 <= improvement.ci_high
    assert improvement.n_games == 2 and improvement.games == "breakout pong"
    with pytest.raises(ValueError, match="no runs of experiment 'double'"):
        tables.improvement_table(finals, [("nature", "double")])
