"""Tests of dqn_atari.analysis.wandb_download (``python -m dqn_atari.wandb_download``).

No W&B server can be reached from here, so these tests use a STAND-IN for wandb's public
API objects (``FakeApi``, ``FakeRuns``, ``FakeRun`` below), not the real service. The
stand-in mimics only what the downloader uses of wandb 0.31's ``wandb.Api``:
``api.viewer``, ``api.runs(path, filters=, per_page=)`` returning a lazily paginated
iterable, and per run ``id``, ``name``, ``group``, ``tags``, ``state``, ``config``,
``summary_metrics``, ``heartbeat_at``, ``history_line_count`` and
``scan_history(page_size=)``. A real download has not been tested here.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dqn_atari.analysis import report, tidy
from dqn_atari.analysis import wandb_download as wd


class FakeRun:
    """Stand-in for ``wandb.apis.public.Run``."""

    def __init__(self, run_id, experiment, game, seed, history, state="finished", tags=()):
        self.id = run_id
        self.name = f"{experiment}-{game}-{seed}"
        self.group = experiment
        self.tags = list(tags)
        self.state = state
        self.config = {"experiment_name": experiment, "seed": seed,
                       "env": {"game": game, "action_repeat_frames": 4}}
        self.history_rows = history
        self.summary_metrics = {"_step": len(history) - 1, "_runtime": 100.0}
        self.heartbeat_at = "2026-11-20T10:00:00"
        self.history_line_count = len(history)
        self.scan_calls = 0

    def scan_history(self, keys=None, page_size=1000, min_step=0, max_step=None):
        self.scan_calls += 1
        for start in range(0, len(self.history_rows), page_size):  # paged like the real one
            yield from (dict(r) for r in self.history_rows[start:start + page_size])

    def history(self, *args, **kwargs):
        raise AssertionError("history() samples rows; the downloader must use scan_history()")


class FakeRuns:
    """Stand-in for ``wandb.apis.public.Runs``: fetches ``per_page`` runs per page."""

    def __init__(self, runs, per_page):
        self._runs, self.per_page, self.pages_fetched = runs, per_page, 0

    def __iter__(self):
        for start in range(0, len(self._runs), self.per_page):
            self.pages_fetched += 1
            yield from self._runs[start:start + self.per_page]


class FakeApi:
    """Stand-in for ``wandb.Api``; records the queries it was given."""

    def __init__(self, runs, api_key=None):
        self._runs, self.api_key, self.queries = runs, api_key, []
        self.viewer = {"entity": "someone"}

    def runs(self, path, filters=None, per_page=50):
        listing = FakeRuns(self._runs, per_page)
        self.queries.append({"path": path, "filters": filters, "listing": listing})
        return listing


def history(evals, frames_per_iteration=250_000):
    """W&B history rows as the metrics sink logs them (docs/CONTRACTS.md), one run."""
    rows, step = [], 0
    for i, ev in enumerate(evals, start=1):
        frames = i * frames_per_iteration
        for k in range(2):  # two training games per iteration
            f = frames - 100_000 + k * 1000
            rows.append({"_step": step, "_runtime": 10.0 * step, "frames": f,
                         "agent_steps": f // 4, "train/raw_return": ev / 2 + k,
                         "train/clipped_return": 3.0, "train/length_agent_steps": 500,
                         "train/epsilon": 0.5})
            step += 1
        for k in range(2):  # two evaluation games at the end of the iteration
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


def make_runs(n=7):
    games = ["breakout", "pong"]
    return [FakeRun(f"run{i}", "fast", games[i % 2], i // 2, history([1.0 + i, 5.0 + i, 9.0 + i]))
            for i in range(n)]


def test_paginates_and_writes_one_tidy_csv_and_config_per_run(tmp_path):
    runs = make_runs(7)
    api = FakeApi(runs)
    report = wd.download_runs(api, "me", "dqn-atari", tmp_path, per_page=3, log=lambda m: None)
    listing = api.queries[0]["listing"]
    assert api.queries[0]["path"] == "me/dqn-atari"
    assert listing.pages_fetched == 3  # 3 + 3 + 1 runs
    assert sorted(report.downloaded) == [f"run{i}" for i in range(7)]
    for i in range(7):
        assert (tmp_path / f"run{i}.csv").is_file()
        config = json.loads((tmp_path / f"run{i}.config.json").read_text())
        assert config == runs[i].config
    manifest = json.loads((tmp_path / wd.MANIFEST).read_text())
    assert manifest["run3"]["fingerprint"]["state"] == "finished"
    assert manifest["run3"]["game"] == "pong" and manifest["run3"]["seed"] == 1


def test_scan_history_rows_become_the_tidy_format(tmp_path):
    run = FakeRun("abc", "fast", "breakout", 2, history([4.0, 8.0]))
    wd.download_runs(FakeApi([run]), "me", "p", tmp_path, log=lambda m: None)
    table = tidy.read_tidy_csv(tmp_path / "abc.csv")
    assert list(table.columns[:8]) == list(tidy.ID_COLUMNS)
    assert set(table.run_id) == {"abc"} and set(table.experiment) == {"fast"}
    assert set(table.game) == {"breakout"} and set(table.seed) == {2}
    it = table[table.phase == "iteration"]
    assert it.frames.tolist() == [250_000, 500_000]
    assert it.agent_steps.tolist() == [62_500, 125_000]
    assert it.eval_raw_return_mean.tolist() == [4.0, 8.0]
    assert it.loss.tolist() == [0.01, 0.01] and it.eval_episodes.tolist() == [4, 4]
    assert it.train_agent_steps_per_s.tolist() == [300.0, 300.0]
    train = table[table.phase == "train"]
    assert len(train) == 4 and train.raw_return.tolist() == [2.0, 3.0, 4.0, 5.0]
    assert train.eval_raw_return_mean.isna().all()  # each row carries its own phase's metrics
    assert train.wall_time_s.tolist() == [0.0, 10.0, 50.0, 60.0]  # from _runtime
    ev = table[table.phase == "eval"]  # per-game evaluation returns, as in episodes.csv
    assert ev.raw_return.tolist() == [5.0, 3.0, 9.0, 7.0]
    assert set(ev.epsilon) == {0.05} and set(ev.length_agent_steps) == {700}
    assert ev.frames.tolist() == [250_000, 250_000, 500_000, 500_000]
    assert table.iteration.isna().all()  # the runner does not log it to W&B
    assert not [c for c in table.columns if c.startswith("eval_") and c not in
                tidy.ITERATION_METRICS]
    # The same columns as a local run directory's tidy table.
    assert set(tidy.METRIC_COLUMNS) - set(table.columns) <= {
        "length_frames", "updates", "train_episodes", "train_raw_return_mean"}


def test_incremental_skips_unchanged_finished_runs(tmp_path):
    runs = [FakeRun("done", "fast", "breakout", 0, history([1.0])),
            FakeRun("live", "fast", "breakout", 1, history([1.0]), state="running"),
            FakeRun("grew", "fast", "breakout", 2, history([1.0])),
            FakeRun("lost", "fast", "breakout", 3, history([1.0]))]
    api = FakeApi(runs)
    first = wd.download_runs(api, "me", "p", tmp_path, log=lambda m: None)
    assert len(first.downloaded) == 4

    runs[2].history_rows = history([1.0, 2.0])  # the run was resumed and logged more
    runs[2].summary_metrics = {"_step": 5, "_runtime": 200.0}
    (tmp_path / "lost.csv").unlink()  # a file went missing
    second = wd.download_runs(api, "me", "p", tmp_path, log=lambda m: None)
    assert second.skipped == ["done"]
    assert sorted(second.downloaded) == ["grew", "live", "lost"]
    assert runs[0].scan_calls == 1 and runs[1].scan_calls == 2
    grew = tidy.read_tidy_csv(tmp_path / "grew.csv")
    assert grew[grew.phase == "iteration"].eval_raw_return_mean.tolist() == [1.0, 2.0]

    runs[1].state = "finished"  # finished since: downloaded once more, then skipped
    assert wd.download_runs(api, "me", "p", tmp_path, log=lambda m: None).downloaded == ["live"]
    assert sorted(wd.download_runs(api, "me", "p", tmp_path, log=lambda m: None).skipped) == [
        "done", "grew", "live", "lost"]


def test_filters_experiment_and_tags_on_server_games_on_client(tmp_path):
    assert wd.build_filters() == {}
    assert wd.build_filters("fast") == {"group": "fast"}
    assert wd.build_filters("fast", ["a", "b"]) == {"$and": [
        {"group": "fast"}, {"tags": {"$in": ["a"]}}, {"tags": {"$in": ["b"]}}]}
    api = FakeApi(make_runs(4))
    report = wd.download_runs(api, "me", "p", tmp_path, experiment="fast", games=["pong"],
                              tags=["v1"], log=lambda m: None)
    assert api.queries[0]["filters"] == {"$and": [{"group": "fast"},
                                                  {"tags": {"$in": ["v1"]}}]}
    assert sorted(report.downloaded) == ["run1", "run3"]  # the pong runs
    assert sorted(report.filtered_out) == ["run0", "run2"]
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == ["run1.csv", "run3.csv"]

    # A run of another program in the same project is reported, not fatal.
    foreign = FakeRun("other", "fast", "pong", 0, history([1.0]))
    foreign.config = {"lr": 0.1, "env": {"game": "pong"}}
    report = wd.download_runs(FakeApi([foreign]), "me", "p", tmp_path, log=lambda m: None)
    assert report.unrecognized == ["other"] and not report.downloaded


def test_not_logged_in_says_so_and_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)

    def no_credentials(**kwargs):  # what wandb.Api() raises without a key (wandb 0.31)
        raise RuntimeError("No API key configured. Use `wandb login` to log in.")

    argv = ["--entity", "me", "--project", "p", "--out", str(tmp_path / "dl")]
    assert wd.main(argv, api_factory=no_credentials) == 2
    err = capsys.readouterr().err
    assert "not logged in to W&B: set WANDB_API_KEY or run `wandb login`" in err
    assert not (tmp_path / "dl").exists()

    class BadKeyApi(FakeApi):  # a key is set but the server rejects it
        @property
        def viewer(self):
            raise ValueError("Unable to fetch user data from W&B")

        @viewer.setter
        def viewer(self, value):
            pass

    monkeypatch.setenv("WANDB_API_KEY", "not-a-real-key")
    assert wd.main(argv, api_factory=lambda **kw: BadKeyApi([], **kw)) == 2
    assert wd.NOT_LOGGED_IN in capsys.readouterr().err


def test_api_key_from_the_environment_and_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    made = []

    def factory(**kwargs):
        made.append(FakeApi(make_runs(2), **kwargs))
        return made[-1]

    out = tmp_path / "dl"
    argv = ["--entity", "me", "--project", "p", "--out", str(out), "--game", "breakout",
            "--experiment", "fast", "--tag", "v1"]
    assert wd.main(argv, api_factory=factory) == 0
    assert made[0].api_key == "k" * 40
    assert "1 downloaded, 0 unchanged, 1 of other games" in capsys.readouterr().out
    assert wd.main(argv, api_factory=factory) == 0
    assert "0 downloaded, 1 unchanged" in capsys.readouterr().out


def test_downloaded_runs_feed_the_plots_and_tables(tmp_path):
    runs = [FakeRun(f"b{s}", "fast", "breakout", s, history([2.0, 10.0 + 2 * s]))
            for s in range(3)]
    wd.download_runs(FakeApi(runs), "me", "p", tmp_path / "dl", log=lambda m: None)
    loaded = tidy.load_downloaded(tmp_path / "dl")
    assert [(r.run_id, r.game, r.seed, r.source) for r in loaded] == [
        ("b0", "breakout", 0, "wandb"), ("b1", "breakout", 1, "wandb"),
        ("b2", "breakout", 2, "wandb")]

    out = tmp_path / "plots"
    assert report.main(["--downloaded", str(tmp_path / "dl"), "--out", str(out),
                      "--reps", "100"]) == 0
    final = pd.read_csv(out / "final_scores.csv").iloc[0]
    assert final.game == "breakout" and final.n_seeds == 3
    assert final.final_source == "last_iteration" and final.frames_max == 500_000
    assert final.score_mean == pytest.approx(12.0)  # mean of 10, 12, 14
    assert final.pct_of_paper == pytest.approx(100 * 12.0 / 401.2)
    assert final.hns_pct == pytest.approx(100 * (12.0 - 1.7) / 30.1)
    assert (out / "curves" / "breakout.png").is_file() and (out / "grid.png").is_file()


def test_local_copy_of_a_run_wins_over_its_download(tmp_path):
    run_dir = tmp_path / "runs" / "fast" / "breakout" / "seed_0"
    (run_dir / "metrics").mkdir(parents=True)
    (run_dir / "config.yaml").write_text("experiment_name: fast\nseed: 0\nenv:\n  game: breakout\n")
    wd.download_runs(FakeApi([FakeRun("x", "fast", "breakout", 0, history([1.0])),
                              FakeRun("y", "fast", "breakout", 1, history([1.0]))]),
                     "me", "p", tmp_path / "dl", log=lambda m: None)
    runs = tidy.load_all(tmp_path / "runs", tmp_path / "dl")
    assert [(r.source, r.seed) for r in runs] == [("local", 0), ("wandb", 1)]
