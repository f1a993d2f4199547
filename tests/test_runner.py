"""The runner (dqn_atari/run/runner.py): K >= 1 seed runs driven through iterations, one learner.

Tiny catch runs in this process:

* one config: the in-line learner, one summary in a list, the seed's run dir complete
  (summary.json, status, iterations, checkpoints at iteration ends);
* two seeds: the stacked learner, each seed's run acting through its slice; a real signal
  (SIGUSR1, through the handler the runner installs) stops both seeds at the same agent
  step, checkpoints each there, and their summaries say so and name the packed seeds; the
  previous handler is back afterwards.

Seeds found at different agent steps are refused naming each seed's position:
test_packed.py::test_seeds_at_different_agent_steps_are_refused_naming_each. A run stopped
and resumed ends as the straight one: test_packed.py (two seeds) and test_vector.py (one).
"""

from __future__ import annotations

import json
import os
import signal

import pytest
from conftest import compose

from dqn_atari.config_checks import ConfigError
from dqn_atari.learner import InlineLearner
from dqn_atari.run.checkpoint import checkpoint_paths, load_checkpoint
from dqn_atari.run.runner import Runner
from dqn_atari.run.seed_run import seed_configs
from dqn_atari.run.status_file import read_status
from dqn_atari.stacked_learner import SeedSlice, StackedLearner

# 50 agent steps in two iterations of 25 (and one 9-step evaluation game each): updates of 8
# at agent steps 20, 24, ..., 48, target copies every 15.
TINY = ["experiment=catch", "logger.wandb_mode=disabled", "logger.progress_bar=false",
        "torch_threads=1", "agent.device=cpu", "total_frames=200",
        "train_agent_steps_per_iteration=25", "eval_agent_steps_per_iteration=9",
        "agent.learning_starts_agent_steps=20", "agent.batch_size=8",
        "agent.target_update_period_agent_steps=15", "replay.capacity=100"]


def test_one_config_runs_one_seed_and_returns_a_list_of_one_summary(tmp_path):
    runner = Runner(compose([*TINY, "seed=3", f"run_dir={tmp_path}"]))
    assert type(runner.learner) is InlineLearner and runner.seeds == [3]
    assert runner.seed_runs[0].agent is runner.learner.agent
    summaries = runner.run()
    assert isinstance(summaries, list) and len(summaries) == 1
    (summary,) = summaries
    assert summary == json.loads((tmp_path / "summary.json").read_text())
    assert "packed_seeds" not in summary
    assert (summary["status"], summary["signal"], summary["agent_steps"], summary["frames"],
            summary["updates"], summary["iteration"]) == ("finished", None, 50, 200, 8, 2)
    status = read_status(tmp_path)
    assert status["state"] == "finished"
    rows = (tmp_path / "metrics" / "iterations.csv").read_text().splitlines()
    assert len(rows) == 3  # a header and one row per iteration
    # status.json's last_train is the last iteration's training games, as iterations.csv has them
    last = dict(zip(rows[0].split(","), rows[-1].split(","), strict=True))
    assert status["last_train"] == {"iteration": 1, "frames": 200,
                                    "games": int(last["train_episodes"]),
                                    "score": pytest.approx(float(last["train_raw_return_mean"]))}
    assert status["last_train"]["games"] > 0
    assert [p.name for p in checkpoint_paths(tmp_path)] == ["ckpt_000000000050.pt",
                                                            "ckpt_000000000025.pt"]


def test_a_signal_stops_every_seed_at_the_same_agent_step_and_checkpoints_each(tmp_path):
    configs = seed_configs(compose([*TINY, "seeds=[0,1]", f"run_dir={tmp_path}/seed_${{seed}}"]))
    runner = Runner(configs)
    assert type(runner.learner) is StackedLearner and runner.seeds == [0, 1]
    assert all(isinstance(run.agent, SeedSlice) for run in runner.seed_runs)
    assert [run.agent.index for run in runner.seed_runs] == [0, 1]
    previous = signal.getsignal(signal.SIGUSR1)

    def hook(event: str, step: int, updates: int) -> None:
        if event == "update" and step == 24:
            # only through the runner's own handler: SIGUSR1's default would end pytest
            assert signal.getsignal(signal.SIGUSR1) == runner.request_stop
            os.kill(os.getpid(), signal.SIGUSR1)

    runner.on_loop_event = hook
    summaries = runner.run()
    assert signal.getsignal(signal.SIGUSR1) is previous  # restored
    assert [s["status"] for s in summaries] == ["interrupted", "interrupted"]
    assert [s["signal"] for s in summaries] == ["SIGUSR1", "SIGUSR1"]
    assert [s["agent_steps"] for s in summaries] == [24, 24]  # both seeds, the same step
    assert [s["updates"] for s in summaries] == [2, 2]  # agent steps 20 and 24
    assert [s["packed_seeds"] for s in summaries] == [[0, 1], [0, 1]]
    for seed, summary in zip((0, 1), summaries, strict=True):
        seed_dir = tmp_path / f"seed_{seed}"
        assert json.loads((seed_dir / "summary.json").read_text()) == summary
        assert read_status(seed_dir)["state"] == "interrupted"
        (latest,) = checkpoint_paths(seed_dir)  # mid-iteration 0: the stop's checkpoint only
        state = load_checkpoint(latest)
        assert state["counters"]["agent_steps"] == 24 and state["counters"]["updates"] == 2
        assert state["config"]["seed"] == seed and state["config"]["run_dir"] == str(seed_dir)


def test_a_seed_without_the_checkpoint_the_others_have_at_step_0_is_refused_naming_it(tmp_path):
    """A stop before the first round checkpoints every seed at agent step 0; a seed whose
    checkpoint is then lost stands at step 0 too, but without one: refused by name, not a
    TypeError (the position includes whether a checkpoint was found)."""
    overrides = [*TINY, "seeds=[0,1]", f"run_dir={tmp_path}/seed_${{seed}}"]
    stopped = Runner(seed_configs(compose(overrides)))
    stopped.request_stop(signal.SIGTERM)  # before the first round
    assert [s["agent_steps"] for s in stopped.run()] == [0, 0]
    (seed_1_checkpoint,) = checkpoint_paths(tmp_path / "seed_1")
    seed_1_checkpoint.unlink()
    with pytest.raises(ConfigError, match=r"same agent step(.|\n)*seed 0: agent step 0(.|\n)*"
                                          r"ckpt_000000000000\.pt(.|\n)*seed 1: agent step 0, "
                                          r"iteration 0, train phase \(no checkpoint\)"):
        Runner(seed_configs(compose(overrides))).run()


def test_a_resumed_run_keeps_its_last_training_return_in_status_json(tmp_path):
    """status.json's last_train (the status tool's `train` column) survives a stop and a
    resume that stops again before its next iteration ends."""
    overrides = [*TINY, "seed=0", f"run_dir={tmp_path}"]
    first = Runner(compose(overrides))

    def hook(event: str, step: int, updates: int) -> None:
        if event == "update" and step == 32:  # in iteration 1, after iteration 0 ended at 25
            first.request_stop(signal.SIGTERM)

    first.on_loop_event = hook
    assert first.run()[0]["agent_steps"] == 32
    kept = read_status(tmp_path)["last_train"]
    assert kept["iteration"] == 0 and kept["frames"] == 100 and kept["games"] > 0
    resumed = Runner(compose(overrides))
    resumed.request_stop(signal.SIGTERM)  # before its first round
    assert resumed.run()[0]["agent_steps"] == 32
    status = read_status(tmp_path)
    assert status["state"] == "interrupted" and status["last_train"] == kept
