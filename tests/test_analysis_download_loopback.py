"""dqn_atari.analysis.download with the REAL ``wandb.Api`` client, against a W&B GraphQL server on loopback.

``wandb_loopback.LoopbackWandbServer`` answers the GraphQL operations that wandb 0.31's
public API sends (through its wandb-core sidecar) on 127.0.0.1; see that module for the list
and how it was found. Everything on the client side is wandb's own code: paging of
``api.runs``, the lazy loading of a run's config, ``scan_history``'s paging by step range,
wandb-core's retries. What is NOT tested here, for want of the real service: the server's
own filter semantics beyond group/tags/config equality, parquet history exports (this server
says a run has none, so wandb-core pages the history with HistoryPage), and rate limiting.

Retries: wandb-core waits ``x_graphql_retry_wait_min_seconds`` before a retry (exponential
up to ``..._max``), read in WHOLE seconds (wandb-core converts the value with
``time.Duration(float)``, so 0.5 becomes 0 and means "default": 2, 4, 8 s... as measured
here). The fixture sets both to 1 s, the least it accepts: one injected error costs 1 s.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from conftest import REPO, run_module
from wandb_loopback import FAST_RETRY_ENV, LoopbackWandbServer, StoredRun

from dqn_atari.analysis import download as wd
from dqn_atari.analysis import report, tidy

API_KEY = "k" * 40
ENTITY, PROJECT = "someone", "dqn-atari"
FAST_RETRY_SETTINGS = {
    "x_graphql_retry_max": 5,
    "x_graphql_retry_wait_min_seconds": 1.0,
    "x_graphql_retry_wait_max_seconds": 1.0,
    "x_graphql_timeout_seconds": 10.0,
}


@pytest.fixture
def server(monkeypatch, tmp_path):
    """A loopback W&B server; wandb.Api() in this test talks to it and only to it."""
    import wandb  # noqa: F401 (loads wandb before its global settings are patched)
    from wandb.sdk import wandb_setup

    with LoopbackWandbServer() as srv:
        srv.accepted_keys = {API_KEY}
        monkeypatch.setenv("WANDB_BASE_URL", srv.url)
        monkeypatch.setenv("WANDB_API_KEY", API_KEY)
        monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb_dir"))  # Run() makes dirs there
        monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb_cache"))
        for name, value in FAST_RETRY_ENV.items():  # for a wandb not yet set up...
            monkeypatch.setenv(name, value)
        settings = wandb_setup.singleton().settings  # ...and for one already set up
        for name, value in FAST_RETRY_SETTINGS.items():
            monkeypatch.setattr(settings, name, value)
        yield srv


def quiet(message: str) -> None:
    pass


def our_config(experiment: str, game: str, seed: int) -> dict:
    """The part of the resolved run config the downloader reads (as WandbSink logs it)."""
    return {"experiment_name": experiment, "seed": seed,
            "env": {"game": game, "action_repeat_frames": 4}, "total_frames": 2_000_000}


def our_history(evals, frames_per_iteration=250_000, train_games=2, first_step=0):
    """W&B history rows as dqn_atari's runner logs them (docs/CONTRACTS.md), ``_step`` on.

    Per iteration i: ``train_games`` training games ending before the iteration's last frame,
    two evaluation games at its end, then the iteration summary.
    """
    rows, step = [], first_step
    for i, ev in enumerate(evals, start=1):
        frames = i * frames_per_iteration
        for k in range(train_games):
            f = frames - 100_000 + k * 8
            rows.append({"_step": step, "_runtime": 10.0 * step, "frames": f,
                         "agent_steps": f // 4, "train/raw_return": ev / 2 + k,
                         "train/clipped_return": 3.0, "train/length_agent_steps": 500,
                         "train/epsilon": 0.5})
            step += 1
        for k in range(2):
            rows.append({"_step": step, "_runtime": 10.0 * step, "frames": frames,
                         "agent_steps": frames // 4, "eval/raw_return": ev + (1 - 2 * k),
                         "eval/clipped_return": 2.0, "eval/length_agent_steps": 700,
                         "eval/epsilon": 0.05})
            step += 1
        rows.append({"_step": step, "_runtime": 10.0 * step, "frames": frames,
                     "agent_steps": frames // 4, "iteration/loss": 0.01,
                     "iteration/mean_q": 0.3, "eval/raw_return_mean": ev,
                     "eval/raw_return_std": 1.0, "eval/episodes": 4,
                     "iteration/train_agent_steps_per_s": 300.0, "_timestamp": 1.7e9})
        step += 1
    return rows


def stored(name, experiment, game, seed, history, **kwargs) -> StoredRun:
    return StoredRun(name, our_config(experiment, game, seed), history, group=experiment,
                     display_name=f"{experiment}/{game}/seed_{seed}",
                     summary={"_step": history[-1]["_step"] if history else 0,
                              "_runtime": 10.0 * len(history)}, **kwargs)


def held(history, key):
    """The values of ``key`` in the server's history, in its order (what the CSV must hold)."""
    return [row[key] for row in history if key in row]


def test_pages_runs_and_scans_thousands_of_rows_retrying_a_server_error(server, tmp_path):
    """7 runs at 3 per page; one run of 2,600 history rows read in pages of 1,000 steps,
    the second of which the server fails once with HTTP 500."""
    long_history = our_history([float(i) for i in range(200)], train_games=10)
    assert len(long_history) == 200 * (10 + 2 + 1) == 2_600
    runs = [server.add_run(ENTITY, PROJECT, stored("long", "fast", "breakout", 0, long_history))]
    runs += [server.add_run(ENTITY, PROJECT, stored(f"run{i}", "fast", ["breakout", "pong"][i % 2],
                                                    i, our_history([1.0 + i, 5.0 + i])))
             for i in range(1, 7)]
    server.fail_next("HistoryPage", times=1, after=1)  # the long run's second page

    api = wd.connect()
    result = wd.download_runs(api, ENTITY, PROJECT, tmp_path, per_page=3, page_size=1000,
                              log=quiet)

    assert result.downloaded == [r.name for r in runs]  # the server's order, every page
    pages = server.operations("Runs")
    assert [(p.get("cursor"), p["perPage"]) for p in pages] == [(None, 3), ("3", 3), ("6", 3)]
    assert server.failed == ["HistoryPage"]
    long_pages = [(p["minStep"], p["maxStep"]) for p in server.operations("HistoryPage")
                  if p["run"] == "long"]
    # steps 0..2599 in pages of 1,000 steps; the failed page asked again
    assert long_pages == [(0, 1000), (1000, 2000), (1000, 2000), (2000, 2600)]

    table = tidy.read_tidy_csv(tmp_path / "long.csv")
    train = table[table.phase == "train"]
    assert train.raw_return.tolist() == held(long_history, "train/raw_return")
    assert train.frames.tolist() == [r["frames"] for r in long_history if "train/raw_return" in r]
    assert len(train) == 2_000
    iteration = table[table.phase == "iteration"]
    assert iteration.eval_raw_return_mean.tolist() == [float(i) for i in range(200)]
    assert iteration.frames.tolist() == [250_000 * i for i in range(1, 201)]
    assert len(table) == 2_600  # one tidy row per history row: none lost, none twice
    for run in runs[1:]:
        small = tidy.read_tidy_csv(tmp_path / f"{run.name}.csv")
        games = [row.get("train/raw_return", row.get("eval/raw_return")) for row in run.history
                 if "train/raw_return" in row or "eval/raw_return" in row]
        assert small.raw_return.dropna().tolist() == games
        config = json.loads((tmp_path / f"{run.name}.config.json").read_text())
        assert config == run.config  # unwrapped from the server's {"value": ...} form
    manifest = json.loads((tmp_path / wd.MANIFEST).read_text())
    assert manifest["run3"]["game"] == "pong" and manifest["run3"]["seed"] == 3
    assert manifest["long"]["rows"] == 2_600 and manifest["long"]["format"] == "ours"
    assert manifest["long"]["fingerprint"]["history_line_count"] == 2_600


def test_the_end_of_run_evaluation_in_the_summary_is_downloaded_beside_the_csv(server, tmp_path):
    with_eval = stored("ev1", "fast", "breakout", 0, our_history([4.0]))
    with_eval.summary.update({"eval_nature/mean": 27.1, "eval_nature/episodes": 30,
                              "eval_nature/human_normalized": 0.87})
    server.add_run(ENTITY, PROJECT, with_eval)
    server.add_run(ENTITY, PROJECT, stored("ev0", "fast", "breakout", 1, our_history([4.0])))
    wd.download_runs(wd.connect(), ENTITY, PROJECT, tmp_path, log=quiet)
    report = json.loads((tmp_path / "ev1.eval_nature.json").read_text())
    assert report["mean"] == 27.1 and report["episodes"] == 30
    assert report["source"] == "wandb_summary"
    assert not (tmp_path / "ev0.eval_nature.json").exists()  # no evaluation, no file
    runs = {r.run_id: r for r in tidy.load_downloaded(tmp_path)}
    assert runs["ev1"].eval_nature["mean"] == 27.1 and runs["ev0"].eval_nature is None


def test_history_rows_become_the_tidy_format(server, tmp_path):
    run = server.add_run(ENTITY, PROJECT, stored("abc", "fast", "breakout", 2,
                                                 our_history([4.0, 8.0])))
    wd.download_runs(wd.connect(), ENTITY, PROJECT, tmp_path, log=quiet)
    table = tidy.read_tidy_csv(tmp_path / "abc.csv")
    assert list(table.columns[:8]) == list(tidy.ID_COLUMNS)
    assert set(table.run_id) == {"abc"} and set(table.experiment) == {"fast"}
    assert set(table.game) == {"breakout"} and set(table.seed) == {2}
    it = table[table.phase == "iteration"]
    assert it.frames.tolist() == [250_000, 500_000]
    assert it.agent_steps.tolist() == [62_500, 125_000]  # frames / 4
    assert it.eval_raw_return_mean.tolist() == [4.0, 8.0]
    assert it.loss.tolist() == [0.01, 0.01] and it.eval_episodes.tolist() == [4, 4]
    assert it.train_agent_steps_per_s.tolist() == [300.0, 300.0]
    train = table[table.phase == "train"]
    # raw_return = eval / 2 + k for k = 0, 1: 2, 3 then 4, 5
    assert train.raw_return.tolist() == [2.0, 3.0, 4.0, 5.0]
    assert train.eval_raw_return_mean.isna().all()  # each row carries its own phase's metrics
    # _runtime = 10 x _step; the train rows are steps 0, 1, 5, 6 (2 train, 2 eval, 1 summary)
    assert train.wall_time_s.tolist() == [0.0, 10.0, 50.0, 60.0]
    ev = table[table.phase == "eval"]  # per-game evaluation returns, as in episodes.csv
    assert ev.raw_return.tolist() == [5.0, 3.0, 9.0, 7.0]  # eval + 1, eval - 1
    assert set(ev.epsilon) == {0.05} and set(ev.length_agent_steps) == {700}
    assert ev.frames.tolist() == [250_000, 250_000, 500_000, 500_000]
    assert table.iteration.isna().all()  # the runner does not log it to W&B
    assert len(table) == len(run.history)
    # The same columns as a local run directory's tidy table.
    assert set(tidy.METRIC_COLUMNS) - set(table.columns) <= {
        "length_frames", "updates", "train_episodes", "train_raw_return_mean"}


def test_a_resumed_run_keeps_every_row_the_server_holds(server, tmp_path):
    """A run preempted twice, each time resumed from the checkpoint of its last iteration.

    Process A logs iteration 1 and two games of iteration 2, then dies; B resumes from the
    end of iteration 1, plays iteration 2 again and two games of iteration 3; C resumes from
    the end of iteration 2. B numbers its rows from step 10 (a gap: 7-9 never used), C from
    step 16, which B had used already (a repeated step): the shapes a resumed run's
    ``_step`` takes, which a scan by step ranges must neither stop at nor drop rows of.
    """
    rows = our_history([4.0, 8.0, 12.0])  # 5 rows per iteration: 2 train, 2 eval, summary

    def numbered(part, first_step):
        return [dict(row, _step=first_step + i) for i, row in enumerate(part)]

    history = numbered(rows[0:7], 0) + numbered(rows[5:12], 10) + numbered(rows[10:15], 16)
    assert [row["_step"] for row in history] == [*range(7), *range(10, 17), *range(16, 21)]
    server.add_run(ENTITY, PROJECT, stored("resumed", "fast", "pong", 0, history))
    messages = []
    wd.download_runs(wd.connect(), ENTITY, PROJECT, tmp_path, page_size=5, log=messages.append)

    table = tidy.read_tidy_csv(tmp_path / "resumed.csv")
    assert len(table) == len(history) == 7 + 7 + 5
    # Training games, A | B | C: each resume starts again at the checkpoint's iteration.
    assert table[table.phase == "train"].frames.tolist() == [
        150_000, 150_008, 400_000, 400_008,
        400_000, 400_008, 650_000, 650_008,
        650_000, 650_008]
    # Evaluation games: eval + 1, eval - 1 of iterations 1 (A), 2 (B), 3 (C).
    assert table[table.phase == "eval"].raw_return.tolist() == [5.0, 3.0, 9.0, 7.0, 13.0, 11.0]
    assert table[table.phase == "iteration"].eval_raw_return_mean.tolist() == [4.0, 8.0, 12.0]
    # frames go back twice: 400,008 (A) -> 400,000 (B) and 650,008 (B) -> 650,000 (C)
    manifest = json.loads((tmp_path / wd.MANIFEST).read_text())
    assert manifest["resumed"]["frames_went_back"] == 2
    assert "its frames go back 2 time(s)" in messages[-1]
    pages = [(p["minStep"], p["maxStep"]) for p in server.operations("HistoryPage")]
    assert pages == [(0, 5), (5, 10), (10, 15), (15, 20), (20, 21)]  # up to the last step, 20


def test_incremental_skips_unchanged_finished_runs(server, tmp_path):
    runs = [server.add_run(ENTITY, PROJECT, stored(name, "fast", "breakout", seed,
                                                   our_history([1.0]), state=state))
            for seed, (name, state) in enumerate([("done", "finished"), ("live", "running"),
                                                  ("grew", "finished"), ("lost", "finished")])]
    api = wd.connect()
    first = wd.download_runs(api, ENTITY, PROJECT, tmp_path, log=quiet)
    assert first.downloaded == ["done", "live", "grew", "lost"]

    runs[2].history = our_history([1.0, 2.0])  # the run was resumed and logged more
    runs[2].summary = {"_step": 9, "_runtime": 200.0}
    (tmp_path / "lost.csv").unlink()  # a file went missing
    api = wd.connect()  # a new Api: wandb.Api caches the runs listing of a query
    second = wd.download_runs(api, ENTITY, PROJECT, tmp_path, log=quiet)
    assert second.skipped == ["done"]
    assert second.downloaded == ["live", "grew", "lost"]
    scanned = [p["run"] for p in server.operations("HistoryPage")]
    assert scanned.count("done") == 1 and scanned.count("live") == 2
    grew = tidy.read_tidy_csv(tmp_path / "grew.csv")
    assert grew[grew.phase == "iteration"].eval_raw_return_mean.tolist() == [1.0, 2.0]

    runs[1].state = "finished"  # finished since: downloaded once more, then skipped
    assert wd.download_runs(wd.connect(), ENTITY, PROJECT, tmp_path,
                            log=quiet).downloaded == ["live"]
    assert wd.download_runs(wd.connect(), ENTITY, PROJECT, tmp_path, log=quiet).skipped == [
        "done", "live", "grew", "lost"]


def test_experiment_and_tags_filtered_on_the_server_games_on_the_client(server, tmp_path):
    for i in range(4):
        server.add_run(ENTITY, PROJECT, stored(f"run{i}", "fast", ["breakout", "pong"][i % 2], i,
                                               our_history([1.0]), tags=["v1"] if i else []))
    server.add_run(ENTITY, PROJECT, stored("nature0", "nature", "pong", 0, our_history([1.0]),
                                           tags=["v1"]))
    result = wd.download_runs(wd.connect(), ENTITY, PROJECT, tmp_path, experiment="fast",
                              games=["Pong"], tags=["v1"], log=quiet)
    sent = json.loads(server.operations("Runs")[0]["filters"])
    assert sent == {"$and": [{"group": "fast"}, {"tags": {"$in": ["v1"]}}]}
    assert result.downloaded == ["run1", "run3"]  # the fast pong runs tagged v1
    assert result.filtered_out == ["run2"]  # fast, v1, breakout (run0 has no tag: not listed)
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == ["run1.csv", "run3.csv"]


def test_runs_of_other_programs_are_reported_with_the_reason(server, tmp_path):
    server.add_run(ENTITY, PROJECT, StoredRun("other", {"lr": 0.1}, [{"_step": 0, "loss": 1.0}]))
    server.add_run(ENTITY, PROJECT, StoredRun(
        "clean", {"exp_name": "dqn_atari", "env_id": "PongNoFrameskip-v4", "seed": 1},
        [{"_step": 0, "global_step": 10, "charts/episodic_return": -21.0}]))
    messages = []
    result = wd.download_runs(wd.connect(), ENTITY, PROJECT, tmp_path, log=messages.append)
    assert result.unrecognized == ["other", "clean"] and not result.downloaded
    assert "skip other (unrecognized with --format ours): its config has no " \
           "experiment_name/env.game/seed" in messages[0]
    assert "looks like a CleanRL run (exp_name, env_id): pass --format cleanrl" in messages[1]
    assert not list(tmp_path.glob("*.csv"))


def test_cli_reads_the_key_from_the_environment_and_downloads_incrementally(
        server, tmp_path, capsys):
    server.add_run(ENTITY, PROJECT, stored("b0", "fast", "breakout", 0, our_history([1.0])))
    server.add_run(ENTITY, PROJECT, stored("p0", "fast", "pong", 0, our_history([1.0])))
    argv = ["--entity", ENTITY, "--project", PROJECT, "--out", str(tmp_path / "dl"),
            "--game", "breakout", "--experiment", "fast"]
    assert wd.main(argv) == 0
    assert "1 downloaded, 0 unchanged, 1 of other games" in capsys.readouterr().out
    assert wd.main(argv) == 0
    assert "0 downloaded, 1 unchanged" in capsys.readouterr().out


def test_a_key_the_server_rejects_says_not_logged_in_and_exits_2(server, tmp_path, monkeypatch,
                                                                  capsys):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)  # the server answers 401 to it
    argv = ["--entity", ENTITY, "--project", PROJECT, "--out", str(tmp_path / "dl")]
    assert wd.main(argv) == wd.EXIT_NOT_LOGGED_IN == 2
    err = capsys.readouterr().err
    assert "not logged in to W&B: set WANDB_API_KEY or run `wandb login`" in err
    assert "invalid API key" in err  # the server's reason, passed on
    assert not (tmp_path / "dl").exists()


def test_downloaded_runs_feed_the_report_and_a_local_copy_wins(server, tmp_path):
    for s in range(3):
        server.add_run(ENTITY, PROJECT, stored(f"b{s}", "fast", "breakout", s,
                                               our_history([2.0, 10.0 + 2 * s])))
    wd.download_runs(wd.connect(), ENTITY, PROJECT, tmp_path / "dl", log=quiet)
    loaded = tidy.load_downloaded(tmp_path / "dl")
    assert [(r.run_id, r.game, r.seed, r.source) for r in loaded] == [
        ("b0", "breakout", 0, "wandb"), ("b1", "breakout", 1, "wandb"),
        ("b2", "breakout", 2, "wandb")]

    out = tmp_path / "plots"
    assert report.report_command(["--downloaded", str(tmp_path / "dl"), "--out", str(out),
                                  "--reps", "100"]) == 0
    final = pd.read_csv(out / "final_scores.csv").iloc[0]
    assert final.game == "breakout" and final.n_seeds == 3
    assert final.final_source == "last_iteration" and final.frames_max == 500_000
    assert final.score_mean == pytest.approx(12.0)  # mean of 10, 12, 14
    assert final.pct_of_paper == pytest.approx(100 * 12.0 / 401.2)  # Breakout: 401.2
    assert final.hns_pct == pytest.approx(100 * (12.0 - 1.7) / 30.1)  # random 1.7, human 31.8
    assert (out / "curves" / "breakout.png").is_file()

    run_dir = tmp_path / "runs" / "fast" / "breakout" / "seed_0"  # seed 0 also on disk
    (run_dir / "metrics").mkdir(parents=True)
    (run_dir / "config.yaml").write_text("experiment_name: fast\nseed: 0\nenv:\n  game: breakout\n")
    runs = tidy.load_all(tmp_path / "runs", tmp_path / "dl")
    assert [(r.source, r.seed) for r in runs] == [("local", 0), ("wandb", 1), ("wandb", 2)]


def cleanrl_run(name, exp_name, env_id, seed, history, env_key="env_id") -> StoredRun:
    """A run of CleanRL's dqn_atari.py as W&B holds it: its Args as config, TensorBoard
    scalars synced as history rows that carry ``global_step`` (agent steps)."""
    config = {"exp_name": exp_name, env_key: env_id, "seed": seed, "total_timesteps": 10_000_000,
              "learning_rate": 1e-4, "buffer_size": 1_000_000, "track": True}
    return StoredRun(name, config, history, display_name=f"{env_id}__{exp_name}__{seed}__1700000000",
                     summary={"_step": history[-1]["_step"]})


def test_cleanrl_runs_are_read_through_the_key_mapping_in_frames(server, tmp_path, capsys):
    history = [
        {"_step": 0, "_runtime": 5.0, "global_step": 1200, "charts/episodic_return": 2.0,
         "charts/episodic_length": 4850, "charts/epsilon": 0.99},
        {"_step": 1, "_runtime": 9.0, "global_step": 2000, "losses/td_loss": 0.02,
         "losses/q_values": 0.1, "charts/SPS": 410},
        {"_step": 2, "_runtime": 12.0, "global_step": 2600, "charts/episodic_return": 5.0,
         "charts/episodic_length": 6100, "charts/epsilon": 0.98},
        {"_step": 3, "_runtime": 20.0, "global_step": 0, "eval/episodic_return": 7.0},
        {"_step": 4, "_runtime": 21.0, "global_step": 1, "eval/episodic_return": 9.0},
    ]
    server.add_run(ENTITY, PROJECT, cleanrl_run("c1", "dqn_atari", "BreakoutNoFrameskip-v4", 1,
                                                history))
    server.add_run(ENTITY, PROJECT, cleanrl_run("c2", "dqn_atari_jax", "BreakoutNoFrameskip-v4",
                                                1, history[:1]))
    server.add_run(ENTITY, PROJECT, StoredRun("ours", our_config("dqn_atari", "breakout", 0),
                                              our_history([1.0])))
    out = tmp_path / "dl"
    argv = ["--entity", ENTITY, "--project", PROJECT, "--out", str(out), "--format", "cleanrl"]
    assert wd.main(argv) == 0
    printed = capsys.readouterr().out
    assert "2 downloaded, 0 unchanged, 0 of other games, 1 unrecognized with --format cleanrl" \
        in printed
    assert "skip ours (unrecognized with --format cleanrl): its config lacks CleanRL's " \
           "exp_name, env_id (or gym_id) or seed, so it is not a CleanRL run. It looks like a " \
           "run of dqn_atari.train: use --format ours" in printed
    # --experiment is CleanRL's exp_name, filtered on the server as openrlbenchmark does
    only = wd.download_runs(wd.connect(), ENTITY, PROJECT, tmp_path / "only", log=quiet,
                            run_format="cleanrl", experiment="cleanrl-dqn_atari")
    assert json.loads(server.operations("Runs")[-1]["filters"]) == {
        "config.exp_name.value": "dqn_atari"}
    assert only.downloaded == ["c1"]  # not c2 (dqn_atari_jax)

    table = tidy.read_tidy_csv(out / "c1.csv")
    assert set(table.experiment) == {"cleanrl-dqn_atari"} and set(table.game) == {"breakout"}
    assert set(table.seed) == {1}
    train = table[table.phase == "train"]
    # global_step counts agent steps of 4 frames: 1,200 -> 4,800 frames, 2,600 -> 10,400
    assert train.agent_steps.tolist() == [1200, 2600]
    assert train.frames.tolist() == [4800, 10_400]
    assert train.raw_return.tolist() == [2.0, 5.0]
    assert train.length_frames.tolist() == [4850, 6100]  # CleanRL counts lengths in frames
    assert train.epsilon.tolist() == [0.99, 0.98]
    assert train.wall_time_s.tolist() == [5.0, 12.0]
    losses = table[table.phase == "losses"]
    assert losses.frames.tolist() == [8000] and losses.td_loss.tolist() == [0.02]
    assert table[table.phase == "charts"].SPS.tolist() == [410]
    final = table[table.phase == "final_eval"]  # written with the episode index as its step
    assert final.raw_return.tolist() == [7.0, 9.0] and final.frames.isna().all()
    manifest = json.loads((out / wd.MANIFEST).read_text())
    assert manifest["c1"]["format"] == "cleanrl" and manifest["c1"]["frames_went_back"] == 0

    # The same runs read as ours are all unrecognized, each with the hint to use cleanrl.
    again = wd.download_runs(wd.connect(), ENTITY, PROJECT, tmp_path / "as_ours", log=quiet)
    assert again.unrecognized == ["c1", "c2"] and again.downloaded == ["ours"]

    # The evaluation report has nothing to plot from training games only: it says where to go.
    with pytest.raises(SystemExit) as exit_info:
        report.report_command(["--downloaded", str(out), "--out", str(tmp_path / "plots")])
    assert exit_info.value.code == 2
    assert "plot aggregates --score train" in capsys.readouterr().err
    assert not (tmp_path / "plots").exists()


def test_older_cleanrl_runs_name_the_game_gym_id(server, tmp_path):
    server.add_run(ENTITY, PROJECT, cleanrl_run(
        "old", "dqn_atari", "MsPacmanNoFrameskip-v4", 3,
        [{"_step": 0, "global_step": 50_000, "charts/episodic_return": 210.0}], env_key="gym_id"))
    result = wd.download_runs(wd.connect(), ENTITY, PROJECT, tmp_path, run_format="cleanrl",
                              games=["ms_pacman"], log=quiet)
    assert result.downloaded == ["old"]
    table = tidy.read_tidy_csv(tmp_path / "old.csv")
    assert table.game.tolist() == ["ms_pacman"] and table.frames.tolist() == [200_000]


def test_the_three_download_commands_write_the_same_files(server, tmp_path):
    """``python -m dqn_atari.wandb_download`` and ``scripts/download_wandb.py`` (the commands
    of before) and ``python -m dqn_atari.analysis download``, each a process of its own with
    the real client, download the same runs into the same files."""
    server.add_run(ENTITY, PROJECT, stored("b0", "fast", "breakout", 0, our_history([1.0, 3.0])))
    server.add_run(ENTITY, PROJECT, stored("p0", "nature", "pong", 0, our_history([-20.0])))
    outs = []
    for command in (["-m", "dqn_atari.wandb_download"], ["-m", "dqn_atari.analysis", "download"],
                    [str(REPO / "scripts" / "download_wandb.py")]):
        out = tmp_path / str(len(outs))
        if command[0] == "-m":
            result = run_module(*command[1:], "--entity", ENTITY, "--project", PROJECT,
                                "--out", str(out), "--experiment", "fast", timeout=300)
        else:
            result = subprocess.run([sys.executable, *command, "--entity", ENTITY, "--project",
                                     PROJECT, "--out", str(out), "--experiment", "fast"],
                                    cwd=REPO, capture_output=True, text=True, timeout=300,
                                    check=False)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "1 downloaded, 0 unchanged" in result.stdout
        outs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert sorted(outs[0]) == ["b0.config.json", "b0.csv", "manifest.json"]
    assert outs[0] == outs[1] == outs[2]
