"""dqn_atari.analysis.side_by_side: our per-iteration training returns against Dopamine's 5 seeds."""

from __future__ import annotations

import csv

import pytest
from analysis_runs import write_training_run
from conftest import run_module

from dqn_atari.analysis import dopamine, estimators
from dqn_atari.analysis.side_by_side import compare, markdown

# Made-up returns of three seeds on Road Runner, iterations 0-2.
THREE_SEEDS = {0: [40.0, 300.0, 700.0], 1: [30.0, 360.0, 950.0], 2: [50.0, 350.0, 1000.0]}


def _two_iterations_of_road_runner(run_dir, agent_steps_per_iteration: int,
                                   learning_starts: int, capacity: int) -> None:
    """A real, tiny dopamine_dqn run of 2 iterations (counts in agent steps), trained by the
    command line, so that this test reads what any run writes."""
    result = run_module(
        "dqn_atari.train", "experiment=dopamine_dqn", "env.game=road_runner",
        f"run_dir={run_dir}", f"total_frames={2 * 4 * agent_steps_per_iteration}",
        f"train_agent_steps_per_iteration={agent_steps_per_iteration}",
        "eval_agent_steps_per_iteration=0", "final_eval.enabled=false",
        f"replay.capacity={capacity}",  # transitions
        f"agent.learning_starts_agent_steps={learning_starts}",
        "logger.wandb_mode=disabled", "logger.progress_bar=false", "agent.device=cpu",
        timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_random_agent_is_judged_on_the_range_alone_and_the_report_is_written(tmp_path):
    """A 2-iteration smoke run of dopamine_dqn on Road Runner: iteration 1 is judged; one
    seed, so on the range alone, with no p-value."""
    run_dir = tmp_path / "run"
    _two_iterations_of_road_runner(run_dir, agent_steps_per_iteration=200, learning_starts=100,
                                   capacity=1000)
    table = compare("dopamine_dqn", run_dir)
    assert [r["iteration"] for r in table] == [0, 1]  # both complete: no iteration in progress
    assert table[0]["verdict"] == "not judged"  # iteration 0 is not held to the target
    one = table[1]
    assert (one["dopamine_min"], one["dopamine_max"]) == (298.3, 374.6)
    assert one["n_seeds"] == 1 and one["seed_0"] == one["mean"] == one["min"] == one["max"]
    inside = 298.3 <= one["mean"] <= 374.6
    assert one["mean_vs_dopamine_range"] == ("inside" if inside else "below")
    assert one["verdict"] == ("meets" if inside else "MISSES")  # one seed: the range only
    assert one["welch_p"] is None and "only 1 seed of ours" in one["welch_note"]
    assert compare("nature", run_dir)[1]["verdict"] == "not judged"

    out = tmp_path / "out"
    result = run_module("dqn_atari.side_by_side", f"--run=dopamine_dqn={run_dir}",
                        f"--out={out}")
    assert result.returncode == 0, result.stderr
    assert (out / "road_runner.png").stat().st_size > 10_000
    with open(out / "side_by_side.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 2
    text = (out / "side_by_side.md").read_text()
    assert "| dopamine_dqn | road_runner | 1 |" in text
    assert "| n/a [1] |" in text
    assert "[1] No p-value: only 1 seed of ours, and a sample variance needs at least 2." in text


def test_the_iteration_in_progress_is_shown_from_its_games_and_not_judged(tmp_path):
    """A real 2-iteration run, read as it was while iteration 1 was still going."""
    run_dir = tmp_path / "run"
    _two_iterations_of_road_runner(run_dir, agent_steps_per_iteration=600, learning_starts=1100,
                                   capacity=2000)
    iterations = run_dir / "metrics" / "iterations.csv"
    header, first, _second = iterations.read_text().splitlines()
    iterations.write_text(f"{header}\n{first}\n")  # iteration 1 not finished yet
    with open(run_dir / "metrics" / "episodes.csv", newline="") as f:
        games = [r for r in csv.DictReader(f) if r["phase"] == "train" and r["iteration"] == "1"]
    assert games, "no Road Runner game ended in 600 agent steps of random play"
    table = compare("dopamine_dqn", run_dir)
    assert [r["iteration"] for r in table] == [0, 1]
    partial = table[1]
    assert partial["verdict"] == "in progress: not judged"
    assert partial["train_games"] == len(games)
    assert partial["frames_to"] == int(games[-1]["frames"])
    assert not partial["complete"] and partial["welch_p"] is None
    assert "iteration in progress" in partial["welch_note"]
    assert partial["mean"] == pytest.approx(
        sum(float(r["raw_return"]) for r in games) / len(games))


def test_several_seeds_of_one_run_name_become_one_distribution(tmp_path):
    dirs = [write_training_run(tmp_path, "road_runner", s, v) for s, v in THREE_SEEDS.items()]
    table = compare("dopamine_dqn", dirs)
    assert [r["iteration"] for r in table] == [0, 1, 2] and all(r["complete"] for r in table)
    reference = dopamine.game_reference("road_runner")
    for row in table:
        i = row["iteration"]
        values = [THREE_SEEDS[s][i] for s in range(3)]
        assert [row[f"seed_{s}"] for s in range(3)] == values
        assert row["n_seeds"] == 3 and row["mean"] == pytest.approx(sum(values) / 3)
        assert (row["min"], row["max"]) == (min(values), max(values))
        assert (row["dopamine_mean"], row["dopamine_min"], row["dopamine_max"]) == (
            reference[i].mean, reference[i].min, reference[i].max)
        assert row["welch_p"] == pytest.approx(
            estimators.welch_test(values, reference[i].values).p)
    one, two = table[1], table[2]
    # Iteration 1: mean 336.7 inside 298.3-374.6, and no significant difference.
    assert one["mean_vs_dopamine_range"] == "inside" and one["welch_p"] > 0.05
    assert one["verdict"] == "meets"
    # Iteration 2: mean 883.3 inside 674.3-1,077.6.
    assert two["mean_vs_dopamine_range"] == "inside"
    assert two["verdict"] == ("meets" if two["welch_p"] >= 0.05 else "MISSES")
    assert table[0]["verdict"] == "not judged"


def test_an_iteration_some_seeds_have_not_finished_is_not_tested(tmp_path):
    dirs = [write_training_run(tmp_path, "road_runner", 0, [40.0, 300.0], partial=[500.0, 700.0]),
            write_training_run(tmp_path, "road_runner", 1, [30.0, 360.0, 950.0])]
    table = compare("dopamine_dqn", dirs)
    last = table[2]
    assert not last["complete"] and last["verdict"] == "in progress: not judged"
    assert (last["seed_0"], last["seed_1"]) == (600.0, 950.0)  # seed 0: its games so far
    assert last["seeds_so_far"] == "0" and table[1]["seeds_so_far"] == ""
    assert "| 0: 600 (so far), 1: 950 |" in markdown(table)
    assert last["welch_p"] is None and last["welch_note"] == (
        "n/a: iteration in progress (seed 0 has not finished it)")
    assert table[1]["complete"] and table[1]["welch_p"] is not None
    # A third seed that has not reached iteration 2 at all: it is waited for too.
    dirs.append(write_training_run(tmp_path, "road_runner", 2, [50.0, 350.0]))
    last = compare("dopamine_dqn", dirs)[2]
    assert last["n_seeds"] == 2 and "seed_2" not in last
    assert last["welch_note"] == "n/a: iteration in progress (seeds 0, 2 have not finished it)"


def test_a_verdict_on_fewer_seeds_than_planned_is_marked_interim(tmp_path):
    """Two of three planned seeds: iteration 1 is judged, but as an interim reading."""
    dirs = [write_training_run(tmp_path, "road_runner", s, THREE_SEEDS[s]) for s in (0, 1)]
    final = compare("dopamine_dqn", dirs)
    interim = compare("dopamine_dqn", dirs, expected_seeds=3)
    assert final[1]["verdict"] in ("meets", "MISSES")
    assert interim[1]["verdict"] == f"interim, 2 of 3 seeds: {final[1]['verdict']}"
    assert interim[0]["verdict"] == "not judged"  # iteration 0 is never judged
    assert "A verdict marked interim" in markdown(interim)
    assert "A verdict marked interim" not in markdown(final)
    # All planned seeds present: the verdict is final.
    dirs.append(write_training_run(tmp_path, "road_runner", 2, THREE_SEEDS[2]))
    assert compare("dopamine_dqn", dirs, expected_seeds=3)[1]["verdict"] == "meets"
    with pytest.raises(ValueError, match="3 seeds found but expected_seeds=2"):
        compare("dopamine_dqn", dirs, expected_seeds=2)
    result = run_module("dqn_atari.side_by_side", f"--run=dopamine_dqn={dirs[0]}",
                        f"--run=dopamine_dqn={dirs[1]}", "--expected-seeds=0",
                        f"--out={tmp_path / 'out'}")
    assert result.returncode == 2 and "--expected-seeds 0: give 1 or more" in result.stderr


def test_an_iteration_in_progress_is_tested_on_the_seeds_that_have_finished_it(tmp_path):
    """Seeds 0 and 1 done, seed 2 in its first iteration: iterations 1 and 2 are in progress,
    tested on seeds 0 and 1 (footnoted as interim) and not judged."""
    dirs = [write_training_run(tmp_path, "road_runner", s, THREE_SEEDS[s]) for s in (0, 1)]
    dirs.append(write_training_run(tmp_path, "road_runner", 2, [], partial=[20.0]))
    table = compare("dopamine_dqn", dirs, expected_seeds=3)
    reference = dopamine.game_reference("road_runner")
    for row in table:
        i = row["iteration"]
        assert not row["complete"]
        assert row["verdict"] == "in progress: not judged"
        two_seeds = [THREE_SEEDS[0][i], THREE_SEEDS[1][i]]
        assert row["welch_p"] == pytest.approx(
            estimators.welch_test(two_seeds, reference[i].values).p)
        assert row["welch_seeds"] == "0 1"
        assert row["welch_note"] == "interim: seeds 0, 1 only, the ones that have finished it"
    assert table[0]["n_seeds"] == 3 and table[1]["n_seeds"] == 2  # seed 2: iteration 0 only
    text = markdown(table)
    assert "[1] Interim test of seeds 0, 1 only, the ones that have finished it" in text
    assert f"| {estimators.welch_test([300.0, 360.0], reference[1].values).p:.3f} [1] |" in text
