"""dqn_atari.analysis.side_by_side: our per-iteration training returns against Dopamine's 5 seeds."""

from __future__ import annotations

import csv
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, SHARED_REFERENCE, compose, run_module

from dqn_atari.analysis import baselines
from dqn_atari.analysis.side_by_side import ReferencePoint, compare, load_reference
from dqn_atari.runner import Runner

SHARED_CSV = SHARED_REFERENCE / "dopamine_baselines_legacy.csv"
needs_shared = pytest.mark.skipif(not SHARED_CSV.is_file(),
                                  reason=f"{SHARED_CSV} is not beside this checkout")


def test_reference_is_dopamines_5_seeds_per_iteration():
    road_runner = load_reference("road_runner")
    assert len(road_runner) == 199 and road_runner[1].n_seeds == 5
    # Seeds 0-4 of roadrunner, iteration 1, in dopamine_baselines_legacy.csv: 363.3 374.6
    # 359.8 337.4 298.3 (to one decimal).
    assert (road_runner[1].min, road_runner[1].max) == (298.3, 374.6)
    assert road_runner[1].mean == pytest.approx((363.3 + 374.6 + 359.8 + 337.4 + 298.3) / 5)
    with pytest.raises(ValueError, match="no DQN curve for 'pong_2'"):
        load_reference("pong_2")
    # Names as our configs spell them: canonical ROM ids, also outside the 57 (air_raid).
    assert load_reference("MsPacman")[2].mean == load_reference("ms_pacman")[2].mean
    assert load_reference("air_raid")[3].n_seeds == 5


def test_band_is_the_range_widened_by_a_quarter_of_the_mean():
    point = ReferencePoint(n_seeds=5, mean=346.7, min=298.3, max=374.6)
    assert point.band(0.25) == pytest.approx((298.3 - 86.675, 374.6 + 86.675))


# (Dopamine game, iteration): (mean, min, max) in the mean/min/max table this package
# shipped before the per-seed one (dopamine_dqn_legacy.csv, to one decimal, computed from
# the unrounded per-seed values).
SUMMARY_BEFORE = {("roadrunner", 1): (346.7, 298.3, 374.6),
                  ("roadrunner", 2): (933.3, 674.3, 1077.6),
                  ("mspacman", 2): (1256.7, 1148.1, 1383.5),
                  ("pong", 10): (-2.4, -17.7, 8.2),
                  ("breakout", 50): (106.1, 89.6, 124.9),
                  ("airraid", 3): (1315.8, 1091.0, 1624.9)}


def test_per_seed_table_gives_the_summary_it_replaced():
    """Mean, min and max computed from the per-seed table agree with the old summary table,
    within the rounding of both to one decimal."""
    table = baselines.load_dopamine_reference(per_seed=True).set_index(
        ["dopamine_game", "iteration"])
    assert len(table) == 60 * 199 and set(table.n_seeds) == {5}
    assert baselines.seed_columns(table) == [f"seed_{s}" for s in range(5)]
    for key, (mean, low, high) in SUMMARY_BEFORE.items():
        row = table.loc[key]
        values = [row[f"seed_{s}"] for s in range(5)]
        assert row["mean"] == pytest.approx(statistics.fmean(values))
        assert row["mean"] == pytest.approx(mean, abs=0.05 + 0.05)  # both rounded to 0.1
        assert (row["min"], row["max"]) == (low, high)  # rounding commutes with min and max


def test_packaged_reference_file_is_small():
    path = Path(baselines.__file__).parent.parent / "data" / baselines.REFERENCE_FILE
    assert path.stat().st_size < 1_000_000


@needs_shared
def test_per_seed_table_matches_the_shared_source():
    """Every packaged value is the shared file's DQN value of that game, iteration and seed,
    rounded to one decimal; the summary is the source's, within that rounding."""
    games = {"roadrunner", "mspacman", "pong", "breakout", "airraid"}
    source: dict[tuple[str, int], dict[int, float]] = {}
    with open(SHARED_CSV, newline="") as f:
        for r in csv.DictReader(f):
            if r["agent"] == "DQN" and r["game"] in games:
                source.setdefault((r["game"], int(r["iteration"])), {})[
                    int(r["seed_index"])] = float(r["train_episode_return_mean"])
    table = baselines.load_dopamine_reference(per_seed=True).set_index(
        ["dopamine_game", "iteration"])
    for key, seeds in source.items():
        row = table.loc[key]
        for seed, value in seeds.items():
            assert row[f"seed_{seed}"] == pytest.approx(value, abs=0.05 + 1e-9)
        assert row["mean"] == pytest.approx(statistics.fmean(seeds.values()), abs=0.05)
        assert row["min"] == pytest.approx(min(seeds.values()), abs=0.05 + 1e-9)
    for (game, iteration), (mean, _, _) in SUMMARY_BEFORE.items():
        exact = statistics.fmean(source[(game, iteration)].values())
        assert round(exact, 1) == mean


@needs_shared
def test_committed_reference_is_derived_from_the_shared_csv():
    result = subprocess.run([sys.executable, "scripts/make_dopamine_reference.py", "--check"],
                            cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _two_iterations_of_road_runner(run_dir, agent_steps_per_iteration: int,
                                   learning_starts: int, capacity: int) -> None:
    """A real, tiny dopamine_dqn run of 2 iterations (counts in agent steps)."""
    Runner(compose(["experiment=dopamine_dqn", "env.game=road_runner", f"run_dir={run_dir}",
                    f"total_frames={2 * 4 * agent_steps_per_iteration}",
                    f"train_agent_steps_per_iteration={agent_steps_per_iteration}",
                    "eval_agent_steps_per_iteration=0", "final_eval.enabled=false",
                    f"replay.capacity={capacity}",  # transitions
                    f"agent.learning_starts_agent_steps={learning_starts}",
                    "logger.wandb_mode=disabled", "logger.progress_bar=false",
                    "agent.device=cpu"])).run()


def test_a_random_agent_is_below_the_band_and_the_report_is_written(tmp_path):
    """A 2-iteration smoke run of dopamine_dqn on Road Runner: iteration 1 is judged."""
    run_dir = tmp_path / "run"
    _two_iterations_of_road_runner(run_dir, agent_steps_per_iteration=200, learning_starts=100,
                                   capacity=1000)
    table = compare("dopamine_dqn", run_dir)
    assert [r["iteration"] for r in table] == [0, 1]  # both complete: no iteration in progress
    assert table[0]["verdict"] == "not judged"  # iteration 0 is not held to the target
    one = table[1]
    assert one["band_low"] == pytest.approx(298.3 - 0.25 * one["dopamine_mean"])
    expected = "meets" if one["train_return_mean"] >= one["band_low"] else "BELOW"
    assert one["verdict"] == expected
    assert compare("nature", run_dir)[1]["verdict"] == "not judged"

    out = tmp_path / "out"
    result = run_module("dqn_atari.side_by_side", f"--run=dopamine_dqn={run_dir}",
                        f"--out={out}")
    assert result.returncode == 0, result.stderr
    assert (out / "road_runner.png").stat().st_size > 10_000
    with open(out / "side_by_side.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 2
    assert "| dopamine_dqn | road_runner | 1 |" in (out / "side_by_side.md").read_text()


def test_a_directory_that_is_not_a_run_is_a_clear_error(tmp_path):
    result = run_module("dqn_atari.side_by_side", f"--run=nature={tmp_path}",
                        f"--out={tmp_path / 'out'}")
    assert result.returncode == 2 and "is missing: is" in result.stderr


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
    assert partial["train_return_mean"] == pytest.approx(
        sum(float(r["raw_return"]) for r in games) / len(games))
