"""`python -m dqn_atari.evaluate` on games outside the paper's 49 and the human-score choice."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import compose, run_module
from mp4_inspect import video_track

from dqn_atari.run.checkpoint import checkpoint_paths, load_checkpoint, save_checkpoint
from dqn_atari.run.runner import Runner
from dqn_atari.scores import human_normalized, human_normalized_for_report

OUTSIDE_THE_PAPERS_49 = ("berzerk", "defender", "phoenix", "pitfall", "skiing", "solaris",
                         "surround", "yars_revenge")


def test_paper_games_use_the_papers_5_minute_human_scores():
    report = human_normalized_for_report("breakout", 401.2)
    assert report["human_normalized"] == pytest.approx(human_normalized("breakout", 401.2, "at5"))
    assert report["human_scores"].startswith("at5") and report["human_normalized_note"] is None


@pytest.mark.parametrize("game", OUTSIDE_THE_PAPERS_49)
def test_the_other_8_of_atari57_use_dqn_zoos_30_minute_human_scores(game):
    report = human_normalized_for_report(game, 100.0)
    assert report["human_normalized"] == pytest.approx(human_normalized(game, 100.0, "at30"))
    assert report["human_scores"].startswith("at30")
    assert "not one of the paper's 49 games" in report["human_normalized_note"]


def test_a_game_without_human_scores_is_null_with_the_reason():
    report = human_normalized_for_report("catch", 1.0)
    assert report["human_normalized"] is None and report["human_scores"] is None
    assert "no published human score" in report["human_normalized_note"]


def test_evaluate_writes_a_report_on_a_game_outside_the_papers_49(tmp_path):
    """The evaluation used to raise while normalising, after playing, and wrote nothing.

    It also records the game as an H.264 MP4 (``video=``), as a user would ask for it.
    """
    cfg = compose(["experiment=smoke", "env.game=berzerk", f"run_dir={tmp_path}",
                   "logger.wandb_mode=disabled", "eval_agent_steps_per_iteration=0",
                   "total_frames=800"])
    Runner(cfg).run()
    video = tmp_path / "berzerk.mp4"
    result = run_module("dqn_atari.evaluate", f"run_dir={tmp_path}", "episodes=1",
                        f"video={video}", "video_games=1", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "eval_nature.json").read_text())
    assert report["game"] == "berzerk" and len(report["scores"]) == 1
    assert report["human_normalized"] == pytest.approx(
        human_normalized("berzerk", report["mean"], "at30"))
    assert "30-minute" in result.stdout
    # The video: the one game, one frame per agent step, as H.264 in an MP4; not logged to
    # wandb, since the run's logger.wandb_mode is disabled.
    assert report["video"] == str(video) and report["video_games"] == 1
    track = video_track(video)
    assert track.codec == "avc1" and (track.width, track.height) == (160, 210)
    assert track.frames == report["video_frames_per_game"][0] > 0
    assert f"video: {video} (1 game(s), {track.frames} frames" in result.stdout
    assert "logged to wandb" not in result.stdout and not (tmp_path / "wandb").exists()


def test_evaluate_counts_its_games_and_takes_a_thread_count(tmp_path):
    cfg = compose(["experiment=catch", f"run_dir={tmp_path}", "logger.wandb_mode=disabled",
                   "total_frames=400", "eval_agent_steps_per_iteration=0",
                   "allow_no_learning=true"])  # a checkpoint to evaluate, no learning
    Runner(cfg).run()
    bad = run_module("dqn_atari.evaluate", f"run_dir={tmp_path}", "threads=0", timeout=600)
    assert bad.returncode == 2 and "threads=0: give a whole number" in bad.stderr
    result = run_module("dqn_atari.evaluate", f"run_dir={tmp_path}", "episodes=3", "threads=1",
                        timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "catch evaluation" in result.stderr and "3/3" in result.stderr  # the progress bar
    assert len(json.loads((tmp_path / "eval_nature.json").read_text())["scores"]) == 3


@pytest.fixture(scope="module")
def catch_run(tmp_path_factory):
    """A finished CPU run of Catch (cheap) with its checkpoints."""
    run_dir = tmp_path_factory.mktemp("catch") / "run"
    Runner(compose(["experiment=catch", f"run_dir={run_dir}", "logger.wandb_mode=disabled",
                    "total_frames=400", "eval_agent_steps_per_iteration=0",
                    "allow_no_learning=true"])).run()  # a checkpoint to evaluate, no learning
    return run_dir


@pytest.mark.parametrize("setting, value, note", [
    ("cuda_graph", True, "agent.cuda_graph=true is a CUDA update setting"),
    ("precision", "tf32", "agent.precision=tf32 is a CUDA mode; evaluating in fp32"),
])
def test_evaluate_opens_a_gpu_runs_checkpoint_on_the_cpu(catch_run, tmp_path, setting, value,
                                                         note):
    """A run trained with CUDA graphs or TF32 is evaluated on a CPU (issue 23, defect 4).

    Building the agent used to raise ("agent.cuda_graph=true needs a CUDA device", "tf32 is
    a CUDA ... mode"): evaluate overrode only the device.
    """
    run_dir = tmp_path / "run"
    shutil.copytree(catch_run, run_dir)
    path = checkpoint_paths(run_dir)[0]  # the newest, which evaluate opens
    state = load_checkpoint(path)
    state["config"]["agent"][setting] = value
    assert save_checkpoint(run_dir, state, state["counters"]["agent_steps"]) == path
    assert load_checkpoint(path)["config"]["agent"][setting] == value
    result = run_module("dqn_atari.evaluate", f"run_dir={run_dir}", "episodes=1", "device=cpu",
                        "threads=1", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"note: the run's {note}" in result.stdout
    assert len(json.loads((run_dir / "eval_nature.json").read_text())["scores"]) == 1
