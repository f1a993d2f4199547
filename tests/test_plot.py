"""Tests of dqn_atari.analysis: tidy (local run directories), tables, figures and report.

The run directories are synthetic, written here in the docs/CONTRACTS.md layout with known
evaluation scores, so every number in the tables can be checked by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from dqn_atari import scores
from dqn_atari.analysis import figures, report, tables, tidy

REPO = Path(__file__).resolve().parents[1]
SHARED_DOPAMINE = REPO.parent / "shared" / "reference" / "dopamine_baselines_legacy.csv"
REPS = 300  # bootstrap replications: enough for the checks, fast

ITERATION_HEADER = ("iteration,frames,agent_steps,updates,loss,mean_q,train_episodes,"
                    "train_raw_return_mean,eval_raw_return_mean,eval_raw_return_std,"
                    "eval_episodes,train_agent_steps_per_s,wall_time_s")
EPISODE_HEADER = ("phase,iteration,frames,agent_steps,raw_return,clipped_return,"
                  "length_agent_steps,length_frames,epsilon,wall_time_s")
FRAMES_PER_ITERATION = 100_000

# experiment, game, seed -> evaluation mean at iterations 1, 2, 3 (frames 100k, 200k, 300k)
EVAL = {
    ("fast", "breakout", 0): [2.0, 6.0, 10.0],
    ("fast", "breakout", 1): [3.0, 8.0, 18.0],
    ("fast", "breakout", 2): [1.0, 9.0, 20.0],
    ("fast", "pong", 0): [-21.0, -20.0, -15.0],
    ("fast", "pong", 1): [-21.0, -19.0, -17.0],
    ("fast", "catch", 0): [0.1, 0.5, 0.9],  # the toy env: no reference scores
    ("nature", "breakout", 0): [1.5, 2.5, 4.0],
}
NATURE_EVAL = {("fast", "breakout", 0): 22.0}  # eval_nature.json mean overrides 10.0


def write_run_dir(root: Path, experiment: str, game: str, seed: int, evals: list[float],
                  nature_mean: float | None = None) -> Path:
    """A run directory as dqn_atari.run.seed_run writes it (docs/CONTRACTS.md)."""
    run = root / experiment / game / f"seed_{seed}"
    (run / "metrics").mkdir(parents=True)
    (run / "config.yaml").write_text(
        f"experiment_name: {experiment}\nseed: {seed}\nenv:\n  game: {game}\n"
        "  action_repeat_frames: 4\ntotal_frames: 300000\n")
    iterations, episodes = [ITERATION_HEADER], [EPISODE_HEADER]
    for i, ev in enumerate(evals, start=1):
        frames = i * FRAMES_PER_ITERATION
        iterations.append(f"{i},{frames},{frames // 4},{frames // 16},0.02,0.5,4,{ev - 1},"
                          f"{ev},1.5,3,250.0,{60.0 * i}")
        episodes.append(f"train,{i},{frames - 400},{(frames - 400) // 4},{ev - 1},2,100,400,"
                        f"0.5,{60.0 * i - 1}")
        episodes.append(f"eval,{i},{frames},{frames // 4},{ev},2,120,480,0.05,{60.0 * i}")
    (run / "metrics" / "iterations.csv").write_text("\n".join(iterations) + "\n")
    (run / "metrics" / "episodes.csv").write_text("\n".join(episodes) + "\n")
    if nature_mean is not None:
        (run / "eval_nature.json").write_text(json.dumps({
            "game": game, "experiment": experiment, "seed": seed,
            "frames": len(evals) * FRAMES_PER_ITERATION, "agent_steps": 75_000,
            "episodes": 30, "mean": nature_mean, "std": 3.0, "scores": [nature_mean] * 30}))
    return run


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    for (experiment, game, seed), evals in EVAL.items():
        write_run_dir(root, experiment, game, seed, evals,
                      NATURE_EVAL.get((experiment, game, seed)))
    return root


def test_tidy_table_from_run_directories(runs_root):
    runs = tidy.load_runs(runs_root)
    assert len(runs) == len(EVAL)
    table = tidy.tidy_table(runs)
    assert list(table.columns[:8]) == list(tidy.ID_COLUMNS)
    # Per run: 3 iteration rows, 3 train and 3 eval episodes.
    counts = table.groupby(["run_id", "phase"]).size()
    assert set(counts) == {3}
    assert set(table.phase) == {"train", "eval", "iteration"}
    pong1 = table[(table.run_id == "fast/pong/seed_1") & (table.phase == "iteration")]
    assert pong1.eval_raw_return_mean.tolist() == [-21.0, -19.0, -17.0]
    assert pong1.frames.tolist() == [100_000, 200_000, 300_000]
    assert pong1.agent_steps.tolist() == [25_000, 50_000, 75_000]
    breakout0 = next(r for r in runs if r.run_id == "fast/breakout/seed_0")
    assert breakout0.config["env"]["game"] == "breakout"
    assert breakout0.eval_nature["mean"] == 22.0
    # A single run directory can be given too.
    assert [r.run_id for r in tidy.load_runs(runs_root / "fast" / "pong" / "seed_0")] == [
        "fast/pong/seed_0"]


def test_final_scores_and_aggregates(runs_root):
    runs = tidy.load_runs(runs_root)
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


def test_cli_writes_readable_pngs_and_tables(runs_root, tmp_path):
    out = tmp_path / "plots"
    assert report.main(["--runs", str(runs_root), "--out", str(out), "--reps", str(REPS)]) == 0
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



def _dopamine_csv(path: Path) -> Path:
    """A tiny CSV in the format of dopamine_baselines_legacy.csv (values made up)."""
    rows = ["game,agent,seed_index,iteration,train_episode_return_mean"]
    for seed in range(3):
        for iteration in range(5):
            rows.append(f"breakout,DQN,{seed},{iteration},{iteration * 2.0 + seed}")
            rows.append(f"breakout,Rainbow,{seed},{iteration},999")
            rows.append(f"pong,DQN,{seed},{iteration},{-21 + iteration}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_dopamine_overlay(runs_root, tmp_path):
    csv_path = _dopamine_csv(tmp_path / "dopamine.csv")
    d = tables.load_dopamine(csv_path, ["breakout", "bank_heist"], reps=REPS)
    assert set(d.game) == {"breakout"}
    # Iteration i averages the games of frames i x 1M to (i + 1) x 1M: drawn at the middle.
    assert d.frames.tolist() == [500_000, 1_500_000, 2_500_000, 3_500_000, 4_500_000]
    assert d["mean"].tolist() == pytest.approx([1.0, 3.0, 5.0, 7.0, 9.0])  # DQN rows only
    assert d.n_seeds.tolist() == [3] * 5

    runs = tidy.load_runs(runs_root)
    curves = tables.eval_curves(runs)
    summary = tables.summarize_curves(curves, reps=REPS)
    ax = Figure().subplots()
    figures._draw_game(ax, "breakout", summary, curves, d, {"fast": "tab:blue"}, "at5",
                    compact=False)
    labels = ax.get_legend_handles_labels()[1]
    assert figures.DOPAMINE_LABEL in labels
    assert "Human (5-min): 31.8" in labels and "Random: 1.7" in labels
    # The paper's 401.2 would squash curves that end near 20: it becomes a note on the panel.
    assert "Nature DQN, 50M frames: 401.2 (above the axis)" in labels
    assert ax.get_ylim()[1] < 60
    assert any("401.2" in t.get_text() for t in ax.texts)

    # Through the command line, with the game and experiment filters.
    out = tmp_path / "plots"
    report.main(["--runs", str(runs_root), "--out", str(out), "--reps", "50",
               "--dopamine-csv", str(csv_path), "--game", "breakout", "--experiment", "fast"])
    assert sorted(p.name for p in (out / "curves").iterdir()) == ["breakout.png"]
    assert set(pd.read_csv(out / "final_scores.csv").experiment) == {"fast"}


def test_dopamine_published_csv_game_names():
    if not SHARED_DOPAMINE.is_file():
        pytest.skip(f"{SHARED_DOPAMINE} (shared reference data) is not present")
    d = tables.load_dopamine(SHARED_DOPAMINE, ["up_n_down", "montezuma_revenge"], reps=20)
    assert set(d.game) == {"up_n_down", "montezuma_revenge"}
    up = d[d.game == "up_n_down"]
    assert up.frames.min() == 500_000 and up.frames.max() == 198_500_000  # iterations 0..198
    assert set(up.n_seeds) == {5}


def test_the_aggregate_figure_says_which_score_is_final():
    final_source_text = figures.final_source_text
    assert final_source_text("eval_nature") == "30-game Nature evaluation"
    assert final_source_text("eval_nature+last_iteration") == (
        "30-game Nature evaluation + last in-training evaluation")
    assert final_source_text(None) == "" and final_source_text(float("nan")) == ""
