"""dqn_atari.analysis.tidy: local run directories and W&B histories into one table."""

from __future__ import annotations

import json

from analysis_runs import EVAL, HNS, history_rows

from dqn_atari.analysis import tables, tidy


def test_tidy_table_from_run_directories(report_root):
    runs = tidy.load_runs(report_root)
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
    assert [r.run_id for r in tidy.load_runs(report_root / "fast" / "pong" / "seed_0")] == [
        "fast/pong/seed_0"]


def test_downloaded_runs_give_the_same_aggregates(hns_root, tmp_path):
    downloaded = tmp_path / "wandb"
    downloaded.mkdir()
    for (experiment, game, seed), hns in HNS.items():
        run_id = f"{experiment}-{game}-{seed}"
        table = tidy.tidy_from_history(history_rows(game, hns), run_id, experiment, game, seed)
        tidy.write_tidy_csv(table, downloaded / f"{run_id}.csv")
        (downloaded / f"{run_id}.config.json").write_text(json.dumps(
            {"experiment_name": experiment, "seed": seed, "env": {"game": game}}))
    for score in ("eval", "train"):
        local = tables.score_curves(tidy.load_runs(hns_root), score)
        remote = tables.score_curves(tidy.load_downloaded(downloaded), score)
        key = ["experiment", "game", "seed", "frames"]
        local, remote = local.sort_values(key), remote.sort_values(key)
        assert remote[key + ["frames_from", "score"]].to_numpy().tolist() == \
            local[key + ["frames_from", "score"]].to_numpy().tolist()


def test_history_rows_keep_the_iteration_of_an_iteration_summary_only():
    """The runner logs ``iteration`` with each iteration's summary, not with each game."""
    table = tidy.tidy_from_history(history_rows("pong", [0.5, 1.0]), "r", "fast", "pong", 0)
    iterations = table[table.phase == "iteration"]
    assert iterations.iteration.tolist() == [0, 1]
    assert iterations.frames.tolist() == [1_000_000, 2_000_000]
    games = table[table.phase == "train"]
    assert len(games) == 2 and games.iteration.isna().all()


def test_a_run_both_local_and_downloaded_is_taken_once_from_the_local_copy(hns_root, tmp_path):
    downloaded = tmp_path / "wandb"
    downloaded.mkdir()
    table = tidy.tidy_from_history(history_rows("pong", [9.0]), "w1", "nature", "pong", 0)
    tidy.write_tidy_csv(table, downloaded / "w1.csv")
    runs = tidy.load_all(hns_root, downloaded)
    assert len(runs) == len(HNS)
    one = [r for r in runs if (r.experiment, r.game, r.seed) == ("nature", "pong", 0)]
    assert [r.source for r in one] == ["local"]
    assert [r.run_id for r in tidy.select_runs(runs, ["fast"], ["pong"])] == [
        "fast/pong/seed_0", "fast/pong/seed_1"]
