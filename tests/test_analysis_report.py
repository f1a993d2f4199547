"""dqn_atari.analysis.report and the entry points: the commands, on synthetic and real runs.

The commands' numbers are checked by hand in the tests of the modules they call; here, what
each writes, what it refuses, and that ``python -m dqn_atari.analysis COMMAND`` and the
commands of before (``python -m dqn_atari.plot [aggregates]``, ``... side_by_side``) give
the same files on the real runs committed in ``results/dopamine_side_by_side``, and the
committed aggregates of ``results/aggregates_dopamine_dqn_3M`` byte for byte.
(``python -m dqn_atari.wandb_download`` runs against a loopback W&B server in
``test_analysis_download_loopback.py``.)
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pandas as pd
import pytest
from analysis_runs import (
    write_dopamine_csv,
    write_iterations,
    write_training_run,
)
from conftest import REPO, run_module
from matplotlib.image import imread

from dqn_atari.analysis import report

REPS = 200
THREE_SEEDS = {0: [40.0, 300.0, 700.0], 1: [30.0, 360.0, 950.0], 2: [50.0, 350.0, 1000.0]}
REAL_RUNS = REPO / "results" / "dopamine_side_by_side" / "runs"
COMMITTED_AGGREGATES = REPO / "results" / "aggregates_dopamine_dqn_3M"


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory) -> Path:
    """The three committed runs (dopamine_dqn on Road Runner and Ms. Pac-Man, nature on Road
    Runner; 3 iterations each) in the runs/<experiment>/<game>/seed_<n> layout, as
    results/aggregates_dopamine_dqn_3M/commands.sh copies them."""
    root = tmp_path_factory.mktemp("real")
    for experiment, game in (("dopamine_dqn", "road_runner"), ("dopamine_dqn", "ms_pacman"),
                             ("nature", "road_runner")):
        shutil.copytree(REAL_RUNS / experiment / game, root / experiment / game / "seed_0")
    return root


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file() and p.suffix != ".pdf"}


# ---------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------


def test_cli_writes_readable_pngs_and_tables(report_root, tmp_path):
    out = tmp_path / "plots"
    assert report.report_command(["--runs", str(report_root), "--out", str(out), "--reps", str(REPS)]) == 0
    for name in ("curves/breakout.png", "curves/pong.png", "curves/catch.png", "grid.png",
                 "aggregate_hns.png"):
        image = imread(out / name)
        assert image.ndim == 3 and min(image.shape[:2]) > 300, name
        assert image[..., :3].std() > 0.05, f"{name} looks blank"

    final = pd.read_csv(out / "final_scores.csv")
    row = final[(final.experiment == "nature") & (final.game == "breakout")].iloc[0]
    assert row.score_mean == 4.0 and row.n_seeds == 1
    assert row.score_ci_low == row.score_ci_high == 4.0
    markdown = (out / "final_scores.md").read_text()
    assert "| breakout | 3 | 300k | eval_nature+last_iteration | 20.0 (" in markdown
    assert "| 401.2 | 5.0 | 60.8 | 1327.2 |" in markdown

    curves = pd.read_csv(out / "learning_curves.csv")
    c = curves[(curves.experiment == "fast") & (curves.game == "breakout")]
    assert c["mean"].tolist() == pytest.approx([2.0, 23 / 3, 16.0])
    assert c.n_seeds.tolist() == [3, 3, 3]
    assert (c.ci_low <= c["mean"]).all() and (c["mean"] <= c.ci_high).all()


def test_report_with_a_dopamine_csv_and_the_filters(report_root, tmp_path):
    out = tmp_path / "plots"
    assert report.report_command([
        "--runs", str(report_root), "--out", str(out), "--reps", "50", "--dopamine-csv",
        str(write_dopamine_csv(tmp_path / "dopamine.csv")), "--game", "breakout",
        "--experiment", "fast"]) == 0
    assert sorted(p.name for p in (out / "curves").iterdir()) == ["breakout.png"]
    assert set(pd.read_csv(out / "final_scores.csv").experiment) == {"fast"}
    assert imread(out / "curves" / "breakout.png")[..., :3].std() > 0.05


def test_report_refuses_both_dopamine_sources_and_writes_nothing(report_root, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        report.report_command(["--runs", str(report_root), "--out", str(tmp_path / "o"),
                               "--dopamine", "--dopamine-csv",
                               str(write_dopamine_csv(tmp_path / "d.csv"))])
    assert exit_info.value.code == 2 and "not both" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------------
# aggregates
# ---------------------------------------------------------------------------------------


def test_aggregates_write_png_and_pdf_figures(hns_root, tmp_path):
    out = tmp_path / "aggregates"
    assert report.aggregates_command(["--runs", str(hns_root), "--out", str(out),
                                      "--reps", str(REPS), "--score", "train",
                                      "--dopamine"]) == 0
    for stem in ("aggregate_curves", "performance_profile", "probability_of_improvement"):
        image = imread(out / f"{stem}.png")
        assert image.ndim == 3 and min(image.shape[:2]) > 250, stem
        assert image[..., :3].std() > 0.05, f"{stem}.png looks blank"
        assert (out / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
    table = pd.read_csv(out / "aggregate_curves.csv")
    # --score train: the training games, at the middle of each iteration.
    assert sorted(set(table[table.experiment == "nature"].frames)) == [500_000, 1_500_000]
    reference = pd.read_csv(out / "dopamine_aggregate.csv")
    assert set(reference.statistic) == {"median", "mean"}
    assert reference.frames.min() == 500_000
    pairs = pd.read_csv(out / "probability_of_improvement.csv")
    assert (pairs.x + ">" + pairs.y).tolist() == ["fast>nature"]


def test_aggregates_say_what_is_wrong(hns_root, tmp_path, capsys):
    toy = tmp_path / "toy"
    write_iterations(toy, "catch_exp", "catch", 0, evals=[0.5, 0.9])
    with pytest.raises(SystemExit) as exit_info:
        report.aggregates_command(["--runs", str(toy), "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 2
    assert "games without a human score: catch" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing written
    with pytest.raises(SystemExit) as exit_info:
        report.aggregates_command(["--runs", str(hns_root), "--compare", "nature"])
    assert exit_info.value.code == 2 and "write X:Y" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# side-by-side
# ---------------------------------------------------------------------------------------


def test_side_by_side_says_a_directory_is_not_a_run(tmp_path):
    result = run_module("dqn_atari.analysis", "side-by-side", f"--run=nature={tmp_path}",
                        f"--out={tmp_path / 'out'}")
    assert result.returncode == 2 and "is missing: is" in result.stderr


def test_side_by_side_takes_a_directory_of_seeds_a_glob_or_repeated_labels(tmp_path):
    root = tmp_path / "runs"
    for s, v in THREE_SEEDS.items():
        write_training_run(root, "road_runner", s, v)
    write_training_run(root, "ms_pacman", 0, [400.0, 900.0])
    expected = {("dopamine_dqn", "road_runner"): 3, ("nature", "road_runner"): 2,
                ("one", "ms_pacman"): 1}
    out = tmp_path / "out"
    result = run_module("dqn_atari.analysis", "side-by-side",
                        f"--run=dopamine_dqn={root / 'road_runner'}",  # its seed_* run dirs
                        f"--run=nature={root / 'road_runner' / 'seed_[01]'}",  # a glob
                        f"--run=one={root / 'ms_pacman' / 'seed_0'}", f"--out={out}")
    assert result.returncode == 0, result.stderr
    with open(out / "side_by_side.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {(r["run"], r["game"]): int(r["n_seeds"]) for r in rows} == expected
    dqn_two = next(r for r in rows if r["run"] == "dopamine_dqn" and r["iteration"] == "2")
    assert float(dqn_two["mean"]) == pytest.approx((700 + 950 + 1000) / 3)
    assert (dqn_two["seed_0"], dqn_two["seed_1"], dqn_two["seed_2"]) == ("700.0", "950.0",
                                                                         "1000.0")
    assert 0 < float(dqn_two["welch_p"]) < 1 and dqn_two["welch_note"] == ""
    ms = [r for r in rows if r["run"] == "one"]
    assert all(r["welch_p"] == "" and r["seed_2"] == "" for r in ms)
    text = (out / "side_by_side.md").read_text()
    assert text.startswith("Per iteration of 1M frames")
    assert "two-sided Welch t-test" in text and "against Dopamine's 5" in text
    assert "| dopamine_dqn | road_runner | 2 | 2-3M | 0: 700, 1: 950, 2: 1,000 | 3 | 883 |" in text
    assert "[1] No p-value: only 1 seed of ours" in text
    assert (out / "road_runner.png").stat().st_size > 10_000
    assert (out / "ms_pacman.png").stat().st_size > 10_000
    # The same seed twice is an error, not a fourth seed.
    again = run_module("dqn_atari.analysis", "side-by-side", f"--run=x={root / 'road_runner'}",
                       f"--run=x={root / 'road_runner' / 'seed_0'}", f"--out={out}")
    assert again.returncode == 2 and "seed 0 given twice" in again.stderr


# ---------------------------------------------------------------------------------------
# The entry point and the commands of before, on the committed real runs
# ---------------------------------------------------------------------------------------


def test_the_entry_point_lists_its_commands_and_refuses_others():
    listed = run_module("dqn_atari.analysis", "--help")
    assert listed.returncode == 0
    for command in ("report", "aggregates", "side-by-side", "download"):
        assert command in listed.stdout
    unknown = run_module("dqn_atari.analysis", "plot")
    assert unknown.returncode == 2 and "unknown command 'plot'" in unknown.stderr
    usage = run_module("dqn_atari.analysis", "aggregates", "--help")
    assert usage.returncode == 0 and "python -m dqn_atari.analysis aggregates" in usage.stdout


@pytest.mark.parametrize("command", [("dqn_atari.plot", "aggregates"),
                                     ("dqn_atari.analysis", "aggregates")])
def test_the_aggregates_of_the_committed_runs_are_the_committed_ones(command, real_runs,
                                                                      tmp_path):
    """results/aggregates_dopamine_dqn_3M/commands.sh, by either command: the same numbers."""
    out = tmp_path / "aggregates"
    result = run_module(*command, "--runs", str(real_runs), "--experiment", "dopamine_dqn",
                        "--score", "train", "--dopamine", "--reps", "2000", "--seed", "0",
                        "--out", str(out), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("aggregate_curves.csv", "final_points.csv", "performance_profile.csv"):
        assert (out / name).read_bytes() == (COMMITTED_AGGREGATES / name).read_bytes(), name


def test_report_by_the_alias_and_the_entry_point_is_the_same(real_runs, tmp_path):
    outs = []
    for command in (["dqn_atari.plot"], ["dqn_atari.analysis", "report"]):
        out = tmp_path / command[-1]
        result = run_module(*command, "--runs", str(real_runs), "--dopamine", "--reps", "200",
                            "--out", str(out), timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        # The dopamine_dqn runs played no evaluation games: left out, and said so.
        assert "left out 2 run(s) with training games only" in result.stdout
        assert "1 runs -> " in result.stdout
        outs.append(_files(out))
    assert outs[0] == outs[1]
    assert {"final_scores.md", "curves/road_runner.png", "grid.png",
            "aggregate_hns.png"} <= set(outs[0])
    assert "| road_runner | 1 | 3M | eval_nature | 570.0 |" in outs[0]["final_scores.md"].decode()


def test_side_by_side_by_the_alias_and_the_entry_point_is_the_same(tmp_path):
    runs = [f"--run=dopamine_dqn={REAL_RUNS / 'dopamine_dqn' / 'road_runner'}",
            f"--run=dopamine_dqn={REAL_RUNS / 'dopamine_dqn' / 'ms_pacman'}",
            f"--run=nature={REAL_RUNS / 'nature' / 'road_runner'}"]
    outs = []
    for command in (["dqn_atari.side_by_side"], ["dqn_atari.analysis", "side-by-side"]):
        out = tmp_path / command[-1]
        result = run_module(*command, *runs, f"--out={out}", timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        outs.append(_files(out))
    assert outs[0] == outs[1]
    text = outs[0]["side_by_side.md"].decode()
    assert "| dopamine_dqn | road_runner | 1 |" in text and "| nature | road_runner | 2 |" in text
