"""The Nature-protocol evaluation at the end of a run (dqn_atari/run/final_eval.py), on a tiny catch run.

One run of the catch preset (200 agent steps) is started four times: trained with the final
evaluation off, then resumed with it on but stopped by a signal before its first game, then
resumed to evaluate, then once more (it must not play again). The report must be the one
`evaluate` computes for the final checkpoint, reach the wandb summary (the real client,
offline), and be what the tables use.
"""

from __future__ import annotations

import json
import signal

import numpy as np
import pandas as pd
import pytest
from conftest import compose

from dqn_atari.analysis import tables, tidy
from dqn_atari.evaluate import evaluate_checkpoint
from dqn_atari.run.checkpoint import checkpoint_paths
from dqn_atari.run.metrics import WandbSink
from dqn_atari.run.runner import Runner
from dqn_atari.run.status_file import read_status

EPISODES = 3


def _catch(run_dir, *extra):
    return compose(["experiment=catch", f"run_dir={run_dir}", "total_frames=800",
                    "train_agent_steps_per_iteration=200", "eval_agent_steps_per_iteration=0",
                    "agent.learning_starts_agent_steps=100", "replay.capacity=1000",
                    "logger.wandb_mode=disabled", "logger.progress_bar=false",
                    f"final_eval.episodes={EPISODES}", "torch_threads=1", *extra])


def test_on_by_default_off_in_the_test_presets():
    assert compose([]).final_eval.enabled and compose([]).final_eval.episodes == 30
    assert compose(["experiment=dopamine_dqn"]).final_eval.enabled
    assert not compose(["experiment=smoke"]).final_eval.enabled
    assert not compose(["experiment=catch"]).final_eval.enabled


def test_end_of_run_evaluation_written_once_to_the_run_dir_and_wandb(tmp_path, capsys,
                                                                      monkeypatch):
    report_path = tmp_path / "eval_nature.json"
    (first,) = Runner(_catch(tmp_path, "final_eval.enabled=false")).run()
    assert first["status"] == "finished" and not report_path.exists()

    # A signal before the first game: nothing written, the run says interrupted.
    stopped = Runner(_catch(tmp_path, "final_eval.enabled=true"))
    stopped.request_stop(signal.SIGTERM)
    assert stopped.run()[0]["status"] == "interrupted"
    assert not report_path.exists() and read_status(tmp_path)["state"] == "interrupted"

    # The next start evaluates; the wandb run summary gets the figures (real client, offline;
    # read just before the sink closes the run).
    summaries = []
    close = WandbSink.close

    def close_and_keep_summary(self):
        if self.run is not None:
            keys = list(self.run.summary.keys())  # wandb's Summary is not iterable
            summaries.append({k: self.run.summary[k] for k in keys})
        close(self)

    monkeypatch.setattr(WandbSink, "close", close_and_keep_summary)
    runner = Runner(_catch(tmp_path, "final_eval.enabled=true", "logger.wandb_mode=offline"))
    assert runner.run()[0]["status"] == "finished"
    report = json.loads(report_path.read_text())
    assert report["source"] == "end_of_run" and report["agent_steps"] == 200
    assert report["frames"] == 800 and report["episodes"] == EPISODES
    assert report["protocol"] == {"episodes": EPISODES, "epsilon": 0.05,
                                  "max_episode_frames": 18_000, "noop_max_frames": 0,
                                  "eval_seed": 10_000}
    assert len(report["scores"]) == EPISODES
    assert report["mean"] == pytest.approx(np.mean(report["scores"]))
    assert set(report["scores"]) <= {-1.0, 1.0}  # a catch game scores +1 or -1
    status = read_status(tmp_path)
    assert status["state"] == "finished"
    assert status["last_eval"] == {"kind": "nature", "frames": 800, "score": report["mean"],
                                   "episodes": EPISODES}
    (summary,) = summaries
    assert summary["eval_nature/mean"] == pytest.approx(report["mean"])
    assert summary["eval_nature/episodes"] == EPISODES
    assert summary["eval_nature/agent_steps"] == 200

    # The same games as `python -m dqn_atari.evaluate` on the final checkpoint (its seed).
    latest = checkpoint_paths(tmp_path)[0]
    assert report["checkpoint"] == str(latest)
    again = evaluate_checkpoint(latest, episodes=EPISODES, device="cpu")
    assert again["scores"] == report["scores"]
    report_path.write_text(json.dumps(report))  # evaluate_checkpoint rewrote it

    # A resumed run that has it does not play again.
    capsys.readouterr()
    before = report_path.read_bytes()
    assert Runner(_catch(tmp_path, "final_eval.enabled=true")).run()[0]["status"] == "finished"
    assert "not evaluated again" in capsys.readouterr().out
    assert report_path.read_bytes() == before


def test_tables_use_the_end_of_run_evaluation_and_say_so(tmp_path):
    """A downloaded run: its W&B summary's eval_nature/* beside its tidy CSV."""
    summary = {"eval_nature/mean": 400.0, "eval_nature/episodes": 30,
               "eval_nature/frames": 200_000_000, "_runtime": 5.0, "iteration/loss": 0.1}
    eval_nature = tidy.eval_nature_from_wandb_summary(summary)
    assert eval_nature == {"mean": 400.0, "episodes": 30, "frames": 200_000_000,
                           "source": "wandb_summary"}
    assert tidy.eval_nature_from_wandb_summary({"eval/raw_return_mean": 3.0}) is None

    rows = pd.DataFrame({"run_id": ["r1", "r1"], "experiment": ["nature"] * 2,
                         "game": ["breakout"] * 2, "seed": [0, 0], "phase": ["iteration"] * 2,
                         "frames": [1_000_000, 2_000_000], "eval_raw_return_mean": [2.0, 5.0]})
    tidy.write_tidy_csv(tidy.finish_table(rows), tmp_path / "r1.csv")
    (run,) = tidy.load_downloaded(tmp_path)
    assert tables.final_score(run) == {"score": 5.0, "source": "last_iteration",
                                       "frames": 2_000_000}
    (tmp_path / "r1.eval_nature.json").write_text(json.dumps(eval_nature))
    (run,) = tidy.load_downloaded(tmp_path)
    assert tables.final_score(run) == {"score": 400.0, "source": "eval_nature",
                                       "frames": 200_000_000}
    finals = tables.run_finals([run])
    agg = tables.aggregate_table(finals, reps=50)
    assert set(agg[agg.experiment == "nature"].final_source) == {"eval_nature"}
    markdown = tables.final_scores_markdown(tables.final_scores_table(finals, reps=50), agg, "at5")
    assert "| nature | 1 | eval_nature |" in markdown  # the aggregate row names its source
