"""Evaluation videos: H.264 MP4 of real ALE games, and their way into the run's wandb run.

What cannot be tested here: the upload of the video to a W&B server (no server; the
loopback one of test_analysis_download_loopback.py answers the public API's queries, not a run's
file uploads) and playback in a browser or in wandb's page. What those need is checked
on the file: H.264 in an MP4 (``avc1``), yuv420p, even size, the index before the data.
"""

from __future__ import annotations

import imageio_ffmpeg
import numpy as np
import pytest
from conftest import compose
from mp4_inspect import video_track
from omegaconf import OmegaConf

from dqn_atari import evaluate, nature_eval
from dqn_atari.agent import DQNAgent
from dqn_atari.config import Config
from dqn_atari.envs import make_env
from dqn_atari.run.metrics import wandb_run_id
from dqn_atari.video import Mp4Writer

PONG_BACKGROUND_RGB = (144, 72, 17)  # ALE's NTSC palette colour of Pong's playfield


def decoded(path):
    """(ffmpeg's description of the stream, decoded RGB frames) of a video file."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    frames = [np.frombuffer(f, np.uint8).reshape(height, width, 3) for f in reader]
    return meta, frames


def untrained_agent(game: str):
    cfg: Config = OmegaConf.to_object(compose(["experiment=smoke", f"env.game={game}",
                                               "agent.device=cpu"]))
    num_actions = make_env(cfg.env, seed=0, mode="eval").num_actions
    return DQNAgent(num_actions, cfg.agent, cfg.optim, cfg.env.stack_frames, cfg.seed), cfg


@pytest.fixture
def one_torch_thread():
    """One torch thread: on busy cores two threads spin (acting took 129 ms vs 3.5 ms at load 6.5)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_video_is_h264_mp4_of_the_first_games_of_a_real_pong_evaluation(tmp_path,
                                                                            one_torch_thread):
    agent, cfg = untrained_agent("pong")
    path = tmp_path / "videos" / "pong.mp4"
    played = nature_eval.evaluate_games(agent, cfg, episodes=3, seed=5, video=path, video_games=2,
                                     max_episode_frames=400)  # short games: a 400-frame cap
    assert len(played.scores) == 3  # the evaluation goes on after the video's last game
    assert played.video == path and path.is_file()
    assert not (tmp_path / "videos" / "pong.partial.mp4").exists()
    # Each game is cut at 400 frames: U{0..30} no-op frames, then 4 frames per agent step,
    # so ceil((400 - 30) / 4) = 93 to 400 / 4 = 100 agent steps, one video frame each.
    assert len(played.video_frames_per_game) == 2
    assert all(93 <= n <= 100 for n in played.video_frames_per_game)
    expected_frames = sum(played.video_frames_per_game)

    track = video_track(path)  # read from the MP4's own boxes
    assert track.codec == "avc1"  # H.264
    assert (track.width, track.height) == (160, 210)  # ALE's screen; both even
    assert track.frames == expected_frames
    assert track.top_level.index("moov") < track.top_level.index("mdat")  # plays while loading

    meta, frames = decoded(path)  # and as ffmpeg decodes it
    assert meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p")
    assert meta["fps"] == 15.0 and meta["size"] == (160, 210)
    assert len(frames) == expected_frames
    playfield = np.median(frames[0][40:190].reshape(-1, 3), axis=0)
    assert np.abs(playfield - PONG_BACKGROUND_RGB).max() <= 4  # RGB, not BGR (17, 72, 144)
    assert not np.array_equal(frames[0], frames[-1])  # the game moves


def test_odd_sizes_are_padded_to_even_and_an_unfinished_video_replaces_nothing(tmp_path):
    path = tmp_path / "tiny.mp4"
    writer = Mp4Writer(path, height=21, width=15)
    for level in (0, 120, 240):
        writer.write(np.full((21, 15, 3), level, dtype=np.uint8))
    writer.close()
    meta, frames = decoded(path)
    assert meta["size"] == (16, 22) and len(frames) == 3  # width 15 -> 16, height 21 -> 22
    assert frames[2][:21, :15].mean() > 200 and frames[2][21].mean() < 40  # black padding row
    finished = path.read_bytes()

    interrupted = Mp4Writer(path, height=21, width=15)
    interrupted.write(np.zeros((21, 15, 3), dtype=np.uint8))
    interrupted.abort()
    assert path.read_bytes() == finished and not (tmp_path / "tiny.partial.mp4").exists()
    with pytest.raises(ValueError, match="must end in .mp4"):
        Mp4Writer(tmp_path / "clip.avi", height=2, width=2)


def test_the_video_is_logged_into_the_runs_own_offline_wandb_run(tmp_path):
    """Offline, wandb copies the file into the run dir's offline run for ``wandb sync``."""
    video = tmp_path / "clip.mp4"
    writer = Mp4Writer(video, height=210, width=160)
    for i in range(10):
        writer.write(np.full((210, 160, 3), 20 * i, dtype=np.uint8))
    writer.close()
    run_dir = tmp_path / "run"
    config = OmegaConf.to_container(compose(["experiment=smoke", "env.game=pong", "seed=3",
                                             f"run_dir={run_dir}"]), resolve=True)
    run = evaluate.log_video_to_wandb(video, config, run_dir, mode="offline",
                                      agent_steps=200, frames=800, caption="pong")
    assert run.id == wandb_run_id("smoke", "pong", 3)  # the training run's own wandb run
    copies = list(run_dir.glob(f"wandb/offline-run-*-{run.id}/files/media/videos/"
                               "eval_nature/*.mp4"))
    assert len(copies) == 1 and copies[0].read_bytes() == video.read_bytes()  # not re-encoded

    assert evaluate.log_video_to_wandb(video, config, tmp_path / "off", mode="disabled",
                                       agent_steps=200, frames=800) is None
    assert not (tmp_path / "off").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["video=out.avi"], "video=out.avi: the file name must end in .mp4"),
    (["video=out.mp4", "episodes=2", "video_games=3"], "video_games=3: choose 1 to episodes=2"),
    (["video=out.mp4", "video_games=two"], "episodes and video_games are whole numbers"),
    (["wandb=cloud"], "wandb=cloud: use one of"),
])
def test_bad_video_arguments_are_refused_before_anything_loads(tmp_path, capsys, args, message):
    assert evaluate.main([f"run_dir={tmp_path / 'no_such_run'}", *args]) == 2
    assert message in capsys.readouterr().err


def test_a_game_without_an_atari_screen_has_no_video_and_says_so(tmp_path):
    agent, cfg = untrained_agent("catch")
    with pytest.raises(ValueError, match="'catch' is not an Atari game: there is no screen"):
        nature_eval.evaluate_games(agent, cfg, episodes=1, seed=0, video=tmp_path / "catch.mp4")
    assert not list(tmp_path.iterdir())
