"""dqn_atari.analysis.dopamine: Dopamine's published DQN, read once, placed at its frames."""

from __future__ import annotations

import csv
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from analysis_runs import write_dopamine_csv, write_iterations
from conftest import REPO, SHARED_REFERENCE

from dqn_atari.analysis import dopamine, tables, tidy

SHARED_CSV = SHARED_REFERENCE / "dopamine_baselines_legacy.csv"
needs_shared = pytest.mark.skipif(not SHARED_CSV.is_file(),
                                  reason=f"{SHARED_CSV} is not beside this checkout")


def test_one_name_map_from_our_games_to_dopamines():
    assert dopamine.dopamine_game("ms_pacman") == "mspacman"
    assert dopamine.dopamine_game("MsPacman") == "mspacman"  # any spelling scores accepts
    assert dopamine.dopamine_game("up_n_down") == "upndown"
    assert dopamine.dopamine_game("air_raid") == "airraid"  # outside the 57: as spelled
    assert dopamine.dopamine_game("catch") == "catch"


def test_reference_is_dopamines_5_seeds_per_iteration():
    road_runner = dopamine.game_reference("road_runner")
    assert len(road_runner) == 199 and road_runner[1].n_seeds == 5
    # Seeds 0-4 of roadrunner, iteration 1, in dopamine_baselines_legacy.csv: 363.3 374.6
    # 359.8 337.4 298.3 (to one decimal).
    assert road_runner[1].values == (363.3, 374.6, 359.8, 337.4, 298.3)  # seed_index order
    assert (road_runner[1].min, road_runner[1].max) == (298.3, 374.6)
    assert road_runner[1].mean == pytest.approx((363.3 + 374.6 + 359.8 + 337.4 + 298.3) / 5)
    with pytest.raises(ValueError, match="no DQN curve for 'pong_2'"):
        dopamine.game_reference("pong_2")
    # Names as our configs spell them: canonical ROM ids, also outside the 57 (air_raid).
    assert (dopamine.game_reference("MsPacman")[2].mean
            == dopamine.game_reference("ms_pacman")[2].mean)
    assert dopamine.game_reference("air_raid")[3].n_seeds == 5


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
    table = dopamine.load_dopamine_reference(per_seed=True).set_index(
        ["dopamine_game", "iteration"])
    assert len(table) == 60 * 199 and set(table.n_seeds) == {5}
    assert dopamine.seed_columns(table) == [f"seed_{s}" for s in range(5)]
    for key, (mean, low, high) in SUMMARY_BEFORE.items():
        row = table.loc[key]
        values = [row[f"seed_{s}"] for s in range(5)]
        assert row["mean"] == pytest.approx(statistics.fmean(values))
        assert row["mean"] == pytest.approx(mean, abs=0.05 + 0.05)  # both rounded to 0.1
        assert (row["min"], row["max"]) == (low, high)  # rounding commutes with min and max


def test_packaged_reference_file_is_small():
    path = Path(dopamine.__file__).parent.parent / "data" / dopamine.REFERENCE_FILE
    assert path.stat().st_size < 1_000_000


def test_iterations_sit_at_the_middle_of_their_frames():
    ref = dopamine.load_dopamine_reference(["road_runner", "catch"])
    assert set(ref.game) == {"road_runner"}  # catch is no Atari game
    one = ref[ref.iteration == 1].iloc[0]
    # Iteration 1 = agent steps 250,000 to 500,000 = frames 1M to 2M; middle 1.5M.
    assert (one.frames_from, one.frames_to, one.frames) == (1_000_000, 2_000_000, 1_500_000)
    assert ref.frames.min() == 500_000 and ref.frames.max() == 198_500_000
    assert dopamine.FRAMES_PER_ITERATION == 250_000 * 4
    # The same numbers as the side-by-side comparison reads.
    point = dopamine.game_reference("road_runner")[1]
    assert (one["mean"], one["min"], one["max"], one.n_seeds) == (
        point.mean, point.min, point.max, point.n_seeds)


def test_our_training_curve_lines_up_with_dopamines(tmp_path):
    """An iteration of ours and Dopamine's of the same index cover the same frames."""
    run_dir = write_iterations(tmp_path, "dopamine_dqn", "road_runner", 0, evals=[0.0] * 3,
                               trains=[60.0, 450.0, 650.0])
    ours = tables.run_curve(tidy.load_run_dir(run_dir), "train")
    ref = dopamine.load_dopamine_reference(["road_runner"]).set_index("iteration")
    for i, row in ours.iterrows():
        assert row.frames == ref.loc[i, "frames"]
        assert (row.frames_from, row.frames_to) == (ref.loc[i, "frames_from"],
                                                    ref.loc[i, "frames_to"])


def test_the_same_loader_reads_a_long_format_csv(tmp_path):
    csv_path = write_dopamine_csv(tmp_path / "dopamine.csv")
    table = dopamine.read_reference(csv_path)  # DQN rows only
    assert set(table.dopamine_game) == {"breakout", "pong"}
    assert dopamine.seed_columns(table) == ["seed_0", "seed_1", "seed_2"]
    assert table[table.dopamine_game == "breakout"]["mean"].tolist() == [1.0, 3.0, 5.0, 7.0, 9.0]
    assert dopamine.read_reference(csv_path, agent="Rainbow")["max"].tolist() == [999.0] * 5

    overlay = dopamine.dopamine_overlay(["breakout", "bank_heist"], csv_path, reps=300)
    assert set(overlay.game) == {"breakout"}
    # Iteration i averages the games of frames i x 1M to (i + 1) x 1M: drawn at the middle.
    assert overlay.frames.tolist() == [500_000, 1_500_000, 2_500_000, 3_500_000, 4_500_000]
    assert overlay["mean"].tolist() == pytest.approx([1.0, 3.0, 5.0, 7.0, 9.0])
    assert overlay.n_seeds.tolist() == [3] * 5
    assert (overlay.ci_low <= overlay["mean"]).all() and set(overlay.label) == {
        dopamine.CSV_LABEL}
    packaged = dopamine.dopamine_overlay(["breakout"])
    assert set(packaged.label) == {dopamine.LABEL}
    assert (packaged.ci_low == dopamine.load_dopamine_reference(["breakout"])["min"]).all()


@needs_shared
def test_published_csv_game_names():
    d = dopamine.dopamine_overlay(["up_n_down", "montezuma_revenge"], SHARED_CSV, reps=20)
    assert set(d.game) == {"up_n_down", "montezuma_revenge"}
    up = d[d.game == "up_n_down"]
    assert up.frames.min() == 500_000 and up.frames.max() == 198_500_000  # iterations 0..198
    assert set(up.n_seeds) == {5}


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
    table = dopamine.load_dopamine_reference(per_seed=True).set_index(
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
    # Read by the one loader, the shared file is the package file before its rounding.
    shared = dopamine.read_reference(SHARED_CSV).set_index(["dopamine_game", "iteration"])
    packaged = dopamine.read_reference().set_index(["dopamine_game", "iteration"])
    assert shared.index.equals(packaged.index)
    columns = dopamine.seed_columns(packaged)
    assert dopamine.seed_columns(shared) == columns
    assert ((shared[columns] - packaged[columns]).abs().max().max()) <= 0.05 + 1e-9


@needs_shared
def test_committed_reference_is_derived_from_the_shared_csv():
    result = subprocess.run([sys.executable, "scripts/make_dopamine_reference.py", "--check"],
                            cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
