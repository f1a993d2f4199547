"""The Nature evaluation protocol: ``python -m dqn_atari.evaluate run_dir=... [key=value ...]``.

30 games, each capped at 18,000 frames (5 minutes), each after U{0..30} random
no-op frames, at epsilon 0.05 (Mnih et al. 2015, Methods). Reports the mean and
std of the raw scores and the human-normalised score (5-minute human scores, as
the paper; DQN Zoo's 30-minute ones, labelled, for the 8 games outside its 49) as JSON
in the run directory (``eval_nature.json``).

Arguments (``key=value``):
  run_dir=PATH       a training run directory (its latest checkpoint is used), or
  checkpoint=PATH    one checkpoint file (its run directory is its grandparent);
  episodes=30        games to play;
  seed=N             evaluation seed (default: the run's seed + 10,000);
  video=PATH.mp4     also write an MP4 of the first game;
  device=auto        torch device.
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from dqn_atari import seeds
from dqn_atari.actor import make_actor
from dqn_atari.agent import DQNAgent
from dqn_atari.checkpoint import (
    CheckpointNotFoundError,
    CheckpointUnreadableError,
    load_checkpoint,
    load_latest,
)
from dqn_atari.config import Config
from dqn_atari.envs import make_env
from dqn_atari.loop import play
from dqn_atari.scores import human_normalized_for_report

NATURE_EVAL_EPISODES = 30
NATURE_EVAL_EPSILON = 0.05
NATURE_EVAL_MAX_FRAMES = 18_000  # 5 minutes at 60 Hz
USAGE = "usage: python -m dqn_atari.evaluate run_dir=PATH | checkpoint=PATH [episodes=30] " \
        "[seed=N] [video=out.mp4] [device=auto]"


def load_for_evaluation(run_dir: str | None, checkpoint: str | None) -> tuple[dict, Path]:
    """The checkpoint to evaluate, loaded, with an error that says what to pass instead.

    ``run_dir``: its newest readable checkpoint, falling back to an older one with a
    warning as ``train`` does (files are left where they are: ``evaluate`` only reads).
    """
    if checkpoint:
        path = Path(checkpoint)
        if not path.is_file():
            raise CheckpointNotFoundError(f"checkpoint {path} does not exist")
        return load_checkpoint(path), path
    if not run_dir:
        raise CheckpointNotFoundError(f"pass run_dir=... or checkpoint=...\n{USAGE}")
    found = load_latest(Path(run_dir), move_unreadable=False)
    if found is None:
        raise CheckpointNotFoundError(
            f"no checkpoint in {run_dir}/checkpoints/: train first "
            f"(python -m dqn_atari.train run_dir={run_dir}) or pass checkpoint=PATH"
        )
    return found


class _VideoRecorder:
    """Writes the emulator's RGB screen after every agent step to an MP4 (OpenCV)."""

    def __init__(self, path: Path, env, fps: int = 15) -> None:
        import cv2

        self.env = env
        height, width = env.ale.getScreenDims()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                      (width, height))
        if not self.writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write {path}")

    def frame(self) -> None:
        rgb = self.env.ale.getScreenRGB()
        self.writer.write(rgb[..., ::-1])  # OpenCV wants BGR

    def close(self) -> None:
        self.writer.release()


def evaluate_agent(agent: DQNAgent, cfg: Config, *, episodes: int, seed: int,
                   video: Path | None = None, epsilon: float = NATURE_EVAL_EPSILON,
                   max_episode_frames: int = NATURE_EVAL_MAX_FRAMES) -> list[float]:
    """Raw scores of ``episodes`` games under the Nature protocol."""
    if episodes <= 0:
        return []
    env_cfg = OmegaConf.merge(OmegaConf.structured(cfg.env),
                              {"max_episode_frames_eval": max_episode_frames})
    env = make_env(env_cfg, seed=seed, mode="eval")
    actor = make_actor(env, cfg.env)
    rng = seeds.evaluate_action_rng(seed)
    recorder = _VideoRecorder(video, env) if video is not None and hasattr(env, "ale") else None
    scores: list[float] = []
    try:
        for game in play(actor, lambda state: agent.act(state, epsilon, rng)):
            if recorder is not None:
                recorder.frame()
            if game is not None:
                scores.append(game.raw_return)
                if recorder is not None:
                    recorder.close()
                    recorder = None
                if len(scores) == episodes:
                    break
    finally:
        if recorder is not None:
            recorder.close()
    return scores


def evaluate_checkpoint(path: Path, *, episodes: int = NATURE_EVAL_EPISODES,
                        seed: int | None = None, video: Path | None = None,
                        device: str = "auto", state: dict | None = None) -> dict[str, Any]:
    """Evaluate one checkpoint (``state``: already loaded from ``path``); writes the report."""
    state = load_checkpoint(path) if state is None else state
    cfg: Config = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Config),
                                                      state["config"]))
    cfg.agent.device = device
    env = make_env(cfg.env, seed=0, mode="eval")
    agent = DQNAgent(env.num_actions, cfg.agent, cfg.optim, cfg.env.stack_frames, cfg.seed)
    agent.load_state_dict(state["agent"])
    seed = cfg.seed + seeds.EVALUATE_SEED_OFFSET if seed is None else seed
    scores = evaluate_agent(agent, cfg, episodes=episodes, seed=seed, video=video)
    mean = float(np.mean(scores))
    counters = state["counters"]
    report = {
        "game": cfg.env.game,
        "experiment": cfg.experiment_name,
        "seed": cfg.seed,
        "checkpoint": str(path),
        "frames": counters["agent_steps"] * cfg.env.action_repeat_frames,
        "agent_steps": counters["agent_steps"],
        "protocol": {"episodes": episodes, "epsilon": NATURE_EVAL_EPSILON,
                     "max_episode_frames": NATURE_EVAL_MAX_FRAMES,
                     "noop_max_frames": cfg.env.noop_max_frames, "eval_seed": seed},
        "episodes": len(scores),
        "mean": mean,
        "std": float(np.std(scores)),
        "scores": scores,
        **human_normalized_for_report(cfg.env.game, mean),
        "video": str(video) if video else None,
    }
    run_dir = path.parent.parent
    out = run_dir / "eval_nature.json"
    out.write_text(json.dumps(report, indent=2, allow_nan=True) + "\n")
    return report


def path_or(args: dict[str, str]) -> str:
    return args.get("checkpoint") or args.get("run_dir") or "?"


def _parse(args: list[str]) -> dict[str, str]:
    allowed = {"run_dir", "checkpoint", "episodes", "seed", "video", "device"}
    parsed = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or key not in allowed:
            raise SystemExit(f"error: unexpected argument {arg!r}\n{USAGE}")
        parsed[key] = value
    return parsed


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            state, path = load_for_evaluation(args.get("run_dir"), args.get("checkpoint"))
        for warning in caught:
            print(f"warning: {warning.message}", file=sys.stderr)
    except (CheckpointNotFoundError, CheckpointUnreadableError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # an explicit checkpoint=PATH that is not a readable checkpoint
        print(f"error: {path_or(args)} is not a readable checkpoint "
              f"({type(error).__name__}: {error})", file=sys.stderr)
        return 2
    report = evaluate_checkpoint(
        path, state=state,
        episodes=int(args.get("episodes", NATURE_EVAL_EPISODES)),
        seed=int(args["seed"]) if "seed" in args else None,
        video=Path(args["video"]) if args.get("video") else None,
        device=args.get("device", "auto"),
    )
    hns = report["human_normalized"]
    hns_text = "n/a" if hns is None or math.isnan(hns) else f"{100 * hns:.1f}%"
    print(f"{report['game']}: {report['mean']:.1f} +- {report['std']:.1f} over "
          f"{report['episodes']} games (human-normalised {hns_text}) -> "
          f"{path.parent.parent / 'eval_nature.json'}")
    if report["human_normalized_note"]:
        print(f"note: {report['human_normalized_note']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
