"""Aggregates over training (``python -m dqn_atari.plot aggregates``) and where values sit on the frames axis.

The runs are synthetic run directories in the docs/CONTRACTS.md layout (and the same runs as
W&B history rows, through the downloader's tidy format), with scores chosen so that every
human-normalised score (HNS) is a round number: breakout's HNS h is the score
1.7 + 30.1 h, pong's -20.7 + 30 h (the paper's random and 5-minute human scores).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from dqn_atari import plot
from dqn_atari.analysis import baselines, figures, side_by_side, tables, tidy
from dqn_atari.analysis import training_aggregates as ta

REPS = 200
ITERATION_HEADER = ("iteration,frames,agent_steps,updates,loss,mean_q,train_episodes,"
                    "train_raw_return_mean,eval_raw_return_mean,eval_raw_return_std,"
                    "eval_episodes,train_agent_steps_per_s,wall_time_s")
RANDOM_HUMAN = {"breakout": (1.7, 31.8), "pong": (-20.7, 9.3)}

# (experiment, game, seed) -> HNS of the evaluation after iterations 0, 1, ... (1M frames each)
HNS = {
    ("nature", "breakout", 0): [0.1, 0.5],
    ("nature", "breakout", 1): [0.3, 0.7],
    ("nature", "pong", 0): [0.0, 1.0],
    ("nature", "pong", 1): [0.2, 1.4],
    ("fast", "breakout", 0): [0.2, 0.9],
    ("fast", "breakout", 1): [0.4, 1.1],
    ("fast", "pong", 0): [1.2, 0.3],
    ("fast", "pong", 1): [1.5],  # one iteration behind: the fast curves stop at 1M frames
}


def score_of(game: str, hns: float) -> float:
    random, human = RANDOM_HUMAN[game]
    return random + hns * (human - random)


def write_run(root: Path, experiment: str, game: str, seed: int, evals: list[float],
              trains: list[float] | None = None, frames: list[int] | None = None) -> Path:
    """A run dir as dqn_atari.run.seed_run writes it: iteration i ends at ``frames[i]`` frames."""
    run = root / experiment / game / f"seed_{seed}"
    (run / "metrics").mkdir(parents=True)
    (run / "config.yaml").write_text(
        f"experiment_name: {experiment}\nseed: {seed}\nenv:\n  game: {game}\n")
    frames = frames or [1_000_000 * (i + 1) for i in range(len(evals))]
    trains = trains or [e - 1.0 for e in evals]
    lines = [ITERATION_HEADER]
    for i, (f, ev, tr) in enumerate(zip(frames, evals, trains)):
        lines.append(f"{i},{f},{f // 4},{f // 16},0.01,0.5,10,{tr},{ev},1.0,5,100.0,{i + 1.0}")
    (run / "metrics" / "iterations.csv").write_text("\n".join(lines) + "\n")
    return run


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    for (experiment, game, seed), hns in HNS.items():
        write_run(root, experiment, game, seed, [score_of(game, h) for h in hns])
    return root


# ---------------------------------------------------------------------------------------
# Where a value sits on the frames axis
# ---------------------------------------------------------------------------------------


def test_evaluation_sits_at_the_end_and_training_games_at_the_middle(tmp_path):
    # Iterations of 1M frames, the last one cut short at 2.4M frames (total_frames).
    run_dir = write_run(tmp_path, "nature", "pong", 0, evals=[-20.0, -18.0, -15.0],
                        trains=[-21.0, -19.0, -17.0],
                        frames=[1_000_000, 2_000_000, 2_400_000])
    run = tidy.load_run_dir(run_dir)
    ev = ta.run_curve(run, "eval")
    # The evaluation after iteration i measures the agent after its frames_to training frames.
    assert ev.frames.tolist() == [1_000_000, 2_000_000, 2_400_000]
    assert (ev.frames_from == ev.frames_to).all() and ev.score.tolist() == [-20.0, -18.0, -15.0]
    tr = ta.run_curve(run, "train")
    # Training games of iteration i were played between the previous end and this one.
    assert tr.frames_from.tolist() == [0, 1_000_000, 2_000_000]
    assert tr.frames_to.tolist() == [1_000_000, 2_000_000, 2_400_000]
    assert tr.frames.tolist() == [500_000, 1_500_000, 2_200_000]
    assert tr.score.tolist() == [-21.0, -19.0, -17.0]


def test_dopamine_iterations_sit_at_the_middle_of_their_frames():
    ref = baselines.load_dopamine_reference(["road_runner", "catch"])
    assert set(ref.game) == {"road_runner"}  # catch is no Atari game
    one = ref[ref.iteration == 1].iloc[0]
    # Iteration 1 = agent steps 250,000 to 500,000 = frames 1M to 2M; middle 1.5M.
    assert (one.frames_from, one.frames_to, one.frames) == (1_000_000, 2_000_000, 1_500_000)
    assert ref.frames.min() == 500_000 and ref.frames.max() == 198_500_000
    # The same numbers as side_by_side's reader of the same package file.
    point = side_by_side.load_reference("road_runner")[1]
    assert (one["mean"], one["min"], one["max"], one.n_seeds) == (
        point.mean, point.min, point.max, point.n_seeds)


def test_our_training_curve_lines_up_with_dopamines(tmp_path):
    """An iteration of ours and Dopamine's of the same index cover the same frames."""
    run_dir = write_run(tmp_path, "dopamine_dqn", "road_runner", 0, evals=[0.0] * 3,
                        trains=[60.0, 450.0, 650.0])
    ours = ta.run_curve(tidy.load_run_dir(run_dir), "train")
    ref = baselines.load_dopamine_reference(["road_runner"]).set_index("iteration")
    for i, row in ours.iterrows():
        assert row.frames == ref.loc[i, "frames"]
        assert (row.frames_from, row.frames_to) == (ref.loc[i, "frames_from"],
                                                    ref.loc[i, "frames_to"])


def test_report_overlays_the_packaged_dopamine_curve_at_the_middle(runs_root, tmp_path):
    overlay = baselines.dopamine_overlay(["breakout"])
    ax = Figure().subplots()
    runs = tidy.load_runs(runs_root)
    curves = tables.eval_curves(runs)
    summary = tables.summarize_curves(curves, reps=50)
    figures._draw_game(ax, "breakout", summary, curves, overlay, {"nature": "tab:blue"}, "at5",
                       compact=False)
    line = next(ln for ln in ax.get_lines() if ln.get_label() == baselines.LABEL)
    # Our curves end at 2M frames: Dopamine's iterations 0 and 1, at 0.5M and 1.5M.
    assert list(line.get_xdata()) == [500_000, 1_500_000]
    ref = baselines.load_dopamine_reference(["breakout"]).set_index("iteration")
    assert list(line.get_ydata()) == [ref.loc[0, "mean"], ref.loc[1, "mean"]]
    out = tmp_path / "plots"
    assert plot.main(["--runs", str(runs_root), "--out", str(out), "--reps", "50",
                      "--dopamine", "--game", "breakout"]) == 0
    assert imread(out / "curves" / "breakout.png")[..., :3].std() > 0.05


# ---------------------------------------------------------------------------------------
# Aggregates over training
# ---------------------------------------------------------------------------------------


def test_aggregate_curves_by_hand(runs_root):
    curves = ta.score_curves(tidy.load_runs(runs_root), "eval")
    assert curves.hns.to_numpy() == pytest.approx(
        [h for (_, _, _), hs in sorted(HNS.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                    kv[0][2])) for h in hs])
    table = ta.aggregate_curve_table(curves, reps=REPS, seed=0)
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


def test_profile_and_probability_of_improvement_at_the_last_shared_frames(runs_root):
    curves = ta.score_curves(tidy.load_runs(runs_root), "eval")
    finals = ta.final_points(curves)
    assert finals.groupby("experiment").frames.max().to_dict() == {"fast": 1e6, "nature": 2e6}
    profile = ta.profile_table(finals, np.array([0.0, 0.6, 1.2]), "runs", reps=REPS)
    nature = profile[profile.experiment == "nature"].point.tolist()
    # nature at 2M: breakout 0.5, 0.7; pong 1.0, 1.4. Above 0: all; above 0.6: breakout 1/2,
    # pong 2/2 -> 3/4; above 1.2: breakout 0, pong 1/2 -> 1/4.
    assert nature == pytest.approx([1.0, 0.75, 0.25])
    improvement = ta.improvement_table(finals, [("nature", "fast")], reps=REPS).iloc[0]
    # fast at 1M: breakout 0.2, 0.4; pong 1.2, 1.5 (HNS; raw scores rank the same way).
    # breakout: both nature runs beat both fast runs -> 1. pong: 1.0 beats neither, 1.4
    # beats 1.2 only -> 1/4. P(nature > fast) = (1 + 1/4) / 2 = 0.625.
    assert improvement.point == pytest.approx(0.625)
    assert improvement.ci_low <= 0.625 <= improvement.ci_high
    assert improvement.n_games == 2 and improvement.games == "breakout pong"
    with pytest.raises(ValueError, match="no runs of experiment 'double'"):
        ta.improvement_table(finals, [("nature", "double")])


def _history_rows(game: str, hns: list[float]) -> list[dict]:
    """The per-iteration W&B rows the runner logs (docs/CONTRACTS.md 'wandb')."""
    rows = []
    for i, h in enumerate(hns):
        frames = 1_000_000 * (i + 1)
        rows.append({"frames": frames - 400, "agent_steps": (frames - 400) // 4,
                     "train/raw_return": 1.0, "_step": 2 * i})
        rows.append({"frames": frames, "agent_steps": frames // 4, "iteration": i,
                     "iteration/train_raw_return_mean": score_of(game, h) - 1.0,
                     "eval/raw_return_mean": score_of(game, h), "eval/episodes": 5,
                     "_step": 2 * i + 1})
    return rows


def test_downloaded_runs_give_the_same_aggregates(runs_root, tmp_path):
    downloaded = tmp_path / "wandb"
    downloaded.mkdir()
    for (experiment, game, seed), hns in HNS.items():
        run_id = f"{experiment}-{game}-{seed}"
        table = tidy.tidy_from_history(_history_rows(game, hns), run_id, experiment, game, seed)
        tidy.write_tidy_csv(table, downloaded / f"{run_id}.csv")
        (downloaded / f"{run_id}.config.json").write_text(json.dumps(
            {"experiment_name": experiment, "seed": seed, "env": {"game": game}}))
    for score in ("eval", "train"):
        local = ta.score_curves(tidy.load_runs(runs_root), score)
        remote = ta.score_curves(tidy.load_downloaded(downloaded), score)
        key = ["experiment", "game", "seed", "frames"]
        local, remote = local.sort_values(key), remote.sort_values(key)
        assert remote[key + ["frames_from", "score"]].to_numpy().tolist() == \
            local[key + ["frames_from", "score"]].to_numpy().tolist()


def test_command_writes_png_and_pdf_figures(runs_root, tmp_path):
    out = tmp_path / "aggregates"
    assert plot.main(["aggregates", "--runs", str(runs_root), "--out", str(out),
                      "--reps", str(REPS), "--score", "train", "--dopamine"]) == 0
    for stem in ("aggregate_curves", "performance_profile", "probability_of_improvement"):
        image = imread(out / f"{stem}.png")
        assert image.ndim == 3 and min(image.shape[:2]) > 250, stem
        assert image[..., :3].std() > 0.05, f"{stem}.png looks blank"
        assert (out / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
    table = pd.read_csv(out / "aggregate_curves.csv")
    # --score train: the training games, at the middle of each iteration.
    assert sorted(set(table[table.experiment == "nature"].frames)) == [500_000, 1_500_000]
    dopamine = pd.read_csv(out / "dopamine_aggregate.csv")
    assert set(dopamine.statistic) == {"median", "mean"}
    assert dopamine.frames.min() == 500_000
    pairs = pd.read_csv(out / "probability_of_improvement.csv")
    assert (pairs.x + ">" + pairs.y).tolist() == ["fast>nature"]


def test_clear_errors(runs_root, tmp_path, capsys):
    toy = tmp_path / "toy"
    write_run(toy, "catch_exp", "catch", 0, evals=[0.5, 0.9])
    with pytest.raises(SystemExit) as exit_info:
        plot.main(["aggregates", "--runs", str(toy), "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 2
    assert "games without a human score: catch" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing written
    with pytest.raises(SystemExit) as exit_info:
        plot.main(["aggregates", "--runs", str(runs_root), "--compare", "nature"])
    assert exit_info.value.code == 2 and "write X:Y" in capsys.readouterr().err
