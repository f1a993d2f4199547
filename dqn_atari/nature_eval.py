"""The Nature evaluation protocol's games (Mnih et al. 2015, Methods).

``NATURE_EVAL_EPISODES`` (30) games, each capped at ``NATURE_EVAL_MAX_FRAMES`` (18,000
frames = 5 minutes), each after U{0..30} random no-op frames, at epsilon
``NATURE_EVAL_EPSILON`` (0.05), played by ``evaluate_games`` with any agent that acts.
Two commands play them: ``python -m dqn_atari.evaluate`` (a checkpoint) and the end-of-run
evaluation (run/final_eval.py); run/eval_report.py turns the scores into
``eval_nature.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from dqn_atari import seeds
from dqn_atari.actor import make_actor
from dqn_atari.config import Config
from dqn_atari.envs import make_env
from dqn_atari.loop import play
from dqn_atari.video import Mp4Writer, RecordingEnv

NATURE_EVAL_EPISODES = 30
NATURE_EVAL_EPSILON = 0.05
NATURE_EVAL_MAX_FRAMES = 18_000  # 5 minutes at 60 Hz


@dataclass
class EvaluationGames:
    """What ``evaluate_games`` played: the raw scores, and the video when one was asked for."""

    scores: list[float]
    video: Path | None = None
    video_frames_per_game: list[int] = field(default_factory=list)  # agent steps, 1 frame each


def evaluate_games(agent, cfg: Config, *, episodes: int, seed: int,
                   video: Path | None = None, video_games: int = 1,
                   epsilon: float = NATURE_EVAL_EPSILON,
                   max_episode_frames: int = NATURE_EVAL_MAX_FRAMES,
                   progress: bool = False) -> EvaluationGames:
    """``episodes`` games under the Nature protocol; ``video``: an MP4 of the first ``video_games``.

    ``agent``: anything with ``act(state, epsilon, rng)`` (a ``DQNAgent``; the end of a run
    passes one that stops on a signal).

    ``progress``: a progress bar over the games (stderr), with the last game's score.

    The video is finished (and moved into place) as soon as its last game ends; a failure
    while playing leaves any earlier file at ``video`` as it was.
    """
    if episodes <= 0:
        return EvaluationGames([])
    if video is not None and not 1 <= video_games <= episodes:
        raise ValueError(f"video_games={video_games}: choose 1 to episodes={episodes}")
    env_cfg = OmegaConf.merge(OmegaConf.structured(cfg.env),
                              {"max_episode_frames_eval": max_episode_frames})
    env = make_env(env_cfg, seed=seed, mode="eval")
    writer = recorder = None
    if video is not None:
        if not hasattr(env, "ale"):
            raise ValueError(f"video=: {cfg.env.game!r} is not an Atari game: there is no "
                             "screen to record")
        writer = Mp4Writer(video, *env.ale.getScreenDims())  # (height, width)
        env = recorder = RecordingEnv(env, writer, games=video_games)
    actor = make_actor(env, cfg.env)
    rng = seeds.evaluate_action_rng(seed)
    scores: list[float] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=episodes, unit="game", desc=f"{cfg.env.game} evaluation")
    try:
        for game in play(actor, lambda state: agent.act(state, epsilon, rng)):
            if game is None:
                continue
            scores.append(game.raw_return)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(last_score=game.raw_return, mean=float(np.mean(scores)))
            if writer is not None and not recorder.recording:
                writer.close()
                writer = None
            if len(scores) == episodes:
                break
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:  # interrupted before the video's last game ended
            writer.abort()
    if recorder is None:
        return EvaluationGames(scores)
    return EvaluationGames(scores, Path(video), list(recorder.frames_per_game))
