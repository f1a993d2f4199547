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
  video=PATH.mp4     also write a video of the first games: H.264 MP4 (yuv420p, 15 frames/s,
                     one frame per agent step: real time), which browsers and wandb play;
  video_games=1      how many of the games the video shows, one after the other;
  wandb=MODE         online | offline | disabled: where the video is logged (wandb.Video,
                     key ``eval_nature/video``, in the run's own wandb run); default: the
                     run's ``logger.wandb_mode``. Offline, it lands in the run dir's
                     wandb/offline-run-*/files/media/videos/ for ``wandb sync``;
  device=auto        torch device; off CUDA, a run's agent.cuda_graph=true is switched off
                     and agent.precision=tf32 becomes fp32, with a note (acting is the same);
  threads=N          torch threads on the CPU (default: the run's ``torch_threads``; use 1
                     next to other jobs: spinning threads on busy cores are much slower);
  allow_pickled_checkpoints=true
                     load a checkpoint written before 2026-12-06, whose pickle can run code
                     that came with the file: only for files you trust (dqn_atari/run/checkpoint.py).

A progress bar (on stderr) counts the games.
"""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from dqn_atari import seeds
from dqn_atari.agent import DQNAgent
from dqn_atari.config import AgentConfig, Config
from dqn_atari.envs import make_env
from dqn_atari.nature_eval import NATURE_EVAL_EPISODES, evaluate_games
from dqn_atari.networks import select_device
from dqn_atari.run.checkpoint import (
    CheckpointNotFoundError,
    CheckpointUnreadableError,
    UnsafeCheckpointError,
    load_checkpoint,
    load_latest,
)
from dqn_atari.run.eval_report import REPORT_FILE, nature_report, write_report
from dqn_atari.run.metrics import WANDB_MODES, WandbSink
from dqn_atari.run.resume_config import config_as_data

USAGE = "usage: python -m dqn_atari.evaluate run_dir=PATH | checkpoint=PATH [episodes=30] " \
        "[seed=N] [video=out.mp4] [video_games=1] [wandb=online|offline|disabled] [device=auto] " \
        "[threads=N] [allow_pickled_checkpoints=true]"
WANDB_VIDEO_KEY = "eval_nature/video"


def load_for_evaluation(run_dir: str | None, checkpoint: str | None,
                        allow_pickle: bool = False) -> tuple[dict, Path]:
    """The checkpoint to evaluate, loaded, with an error that says what to pass instead.

    ``run_dir``: its newest readable checkpoint, falling back to an older one with a
    warning as ``train`` does (files are left where they are: ``evaluate`` only reads).
    A checkpoint that would run code when loaded is refused (``UnsafeCheckpointError``)
    unless ``allow_pickle``.
    """
    if checkpoint:
        path = Path(checkpoint)
        if not path.is_file():
            raise CheckpointNotFoundError(f"checkpoint {path} does not exist")
        return load_checkpoint(path, allow_pickle=allow_pickle), path
    if not run_dir:
        raise CheckpointNotFoundError(f"pass run_dir=... or checkpoint=...\n{USAGE}")
    found = load_latest(Path(run_dir), move_unreadable=False, allow_pickle=allow_pickle)
    if found is None:
        raise CheckpointNotFoundError(
            f"no checkpoint in {run_dir}/checkpoints/: train first "
            f"(python -m dqn_atari.train run_dir={run_dir}) or pass checkpoint=PATH"
        )
    return found


def log_video_to_wandb(video: Path, config: dict[str, Any], run_dir: Path, *, mode: str,
                       agent_steps: int, frames: int, caption: str = "") -> Any:
    """Log ``video`` (wandb.Video) into the run's own wandb run; returns that run, or None.

    The run id is the one the training run uses (deterministic in experiment, game and
    seed), so the video appears beside its curves, at the checkpoint's ``agent_steps``.
    ``mode`` online | offline | disabled; online falls back to offline, with a warning,
    when the server cannot be reached (``metrics.WandbSink``).
    """
    if mode not in WANDB_MODES:
        raise ValueError(f"wandb={mode!r}: use one of {', '.join(WANDB_MODES)}")
    if mode == "disabled":
        return None
    import wandb

    logger_cfg = OmegaConf.merge(OmegaConf.create(config.get("logger", {})), {"wandb_mode": mode})
    sink = WandbSink(logger_cfg, run_dir=run_dir, experiment=config["experiment_name"],
                     game=config["env"]["game"], seed=int(config["seed"]), config=config)
    run = sink.run
    try:
        sink.log({WANDB_VIDEO_KEY: wandb.Video(str(video), format="mp4", caption=caption),
                  "agent_steps": agent_steps, "frames": frames})
    finally:
        sink.close()
    return run


def settings_for_acting_on(agent_cfg: AgentConfig, device: torch.device) -> list[str]:
    """Turn the checkpoint's CUDA-only update settings into ones ``device`` can build.

    A run trained with ``agent.cuda_graph=true`` or ``agent.precision=tf32`` must be
    evaluated on a CPU too (a laptop). Neither changes how the agent acts: CUDA graphs
    replay updates, which evaluation does not make, and acting runs the fp32 network
    (tf32 only rounds a GPU's matmul and convolution products). Off CUDA, ``cuda_graph`` is
    switched off and ``tf32`` becomes ``fp32``, in ``agent_cfg``; returns one note per change.
    """
    if device.type == "cuda":
        return []
    notes = []
    if agent_cfg.cuda_graph:
        agent_cfg.cuda_graph = False
        notes.append(f"the run's agent.cuda_graph=true is a CUDA update setting; evaluating on "
                     f"{device} without it (acting is the same network, the same maths)")
    if agent_cfg.precision == "tf32":
        agent_cfg.precision = "fp32"
        notes.append(f"the run's agent.precision=tf32 is a CUDA mode; evaluating in fp32 on "
                     f"{device} (acting is the same maths; tf32 only rounds a GPU's products)")
    return notes


def evaluate_checkpoint(path: Path, *, episodes: int = NATURE_EVAL_EPISODES,
                        seed: int | None = None, video: Path | None = None,
                        device: str = "auto", state: dict | None = None,
                        video_games: int = 1, progress: bool = False) -> dict[str, Any]:
    """Evaluate one checkpoint (``state``: already loaded from ``path``); writes the report
    (run/eval_report.py) into its run dir, atomically."""
    state = load_checkpoint(path) if state is None else state
    cfg: Config = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Config),
                                                      config_as_data(state["config"])))
    cfg.agent.device = device
    for note in settings_for_acting_on(cfg.agent, select_device(device)):
        print(f"note: {note}")
    env = make_env(cfg.env, seed=0, mode="eval")
    agent = DQNAgent(env.num_actions, cfg.agent, cfg.optim, cfg.env.stack_frames, cfg.seed)
    agent.load_state_dict(state["agent"])
    seed = cfg.seed + seeds.EVALUATE_SEED_OFFSET if seed is None else seed
    played = evaluate_games(agent, cfg, episodes=episodes, seed=seed, video=video,
                            video_games=video_games, progress=progress)
    report = nature_report(cfg, agent_steps=state["counters"]["agent_steps"], checkpoint=path,
                           scores=played.scores, eval_seed=seed, episodes=episodes,
                           source="evaluate", video=played.video,
                           video_frames_per_game=played.video_frames_per_game)
    write_report(path.parent.parent, report)
    return report


def path_or(args: dict[str, str]) -> str:
    return args.get("checkpoint") or args.get("run_dir") or "?"


def _parse(args: list[str]) -> dict[str, str]:
    allowed = {"run_dir", "checkpoint", "episodes", "seed", "video", "video_games", "wandb",
               "device", "threads", "allow_pickled_checkpoints"}
    parsed = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or key not in allowed:
            raise SystemExit(f"error: unexpected argument {arg!r}\n{USAGE}")
        parsed[key] = value
    return parsed


def _check_args(args: dict[str, str]) -> tuple[int, Path | None, int]:
    """episodes, video and video_games from the arguments (threads checked); ValueError
    naming a bad one."""
    try:
        episodes = int(args.get("episodes", NATURE_EVAL_EPISODES))
        video_games = int(args.get("video_games", 1))
    except ValueError as error:
        raise ValueError(f"episodes and video_games are whole numbers ({error})") from None
    video = Path(args["video"]) if args.get("video") else None
    if video is not None and video.suffix.lower() != ".mp4":
        raise ValueError(f"video={video}: the file name must end in .mp4 (H.264 MP4)")
    if video is not None and not 1 <= video_games <= episodes:
        raise ValueError(f"video_games={video_games}: choose 1 to episodes={episodes}")
    if "wandb" in args and args["wandb"] not in WANDB_MODES:
        raise ValueError(f"wandb={args['wandb']}: use one of {', '.join(WANDB_MODES)}")
    if args.get("allow_pickled_checkpoints", "false") not in ("true", "false"):
        raise ValueError(f"allow_pickled_checkpoints={args['allow_pickled_checkpoints']}: "
                         "use true or false")
    if "threads" in args and not (args["threads"].isdigit() and int(args["threads"]) >= 1):
        raise ValueError(f"threads={args['threads']}: give a whole number of torch threads, "
                         "1 or more")
    return episodes, video, video_games


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    try:  # before loading anything: a typo fails at once
        episodes, video, video_games = _check_args(args)
    except ValueError as error:
        print(f"error: {error}\n{USAGE}", file=sys.stderr)
        return 2
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            state, path = load_for_evaluation(
                args.get("run_dir"), args.get("checkpoint"),
                allow_pickle=args.get("allow_pickled_checkpoints") == "true")
        for warning in caught:
            print(f"warning: {warning.message}", file=sys.stderr)
    except (CheckpointNotFoundError, CheckpointUnreadableError, UnsafeCheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 -- an explicit checkpoint=PATH that is unreadable
        print(f"error: {path_or(args)} is not a readable checkpoint "
              f"({type(error).__name__}: {error})", file=sys.stderr)
        return 2
    wandb_mode = args.get("wandb") or OmegaConf.select(
        OmegaConf.create(config_as_data(state["config"])), "logger.wandb_mode",
        default="disabled")
    # torch threads: threads=N, else the run's torch_threads (0: torch's default)
    threads = int(args["threads"]) if "threads" in args else int(OmegaConf.select(
        OmegaConf.create(config_as_data(state["config"])), "torch_threads", default=0) or 0)
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        report = evaluate_checkpoint(
            path, state=state, episodes=episodes,
            seed=int(args["seed"]) if "seed" in args else None,
            video=video, video_games=video_games,
            device=args.get("device", "auto"),
            progress=True,
        )
    except ValueError as error:  # e.g. video= of a game without an Atari screen
        print(f"error: {error}", file=sys.stderr)
        return 2
    hns = report["human_normalized"]
    hns_text = "n/a" if hns is None or math.isnan(hns) else f"{100 * hns:.1f}%"
    print(f"{report['game']}: {report['mean']:.1f} +- {report['std']:.1f} over "
          f"{report['episodes']} games (human-normalised {hns_text}) -> "
          f"{path.parent.parent / REPORT_FILE}")
    if report["human_normalized_note"]:
        print(f"note: {report['human_normalized_note']}")
    if report["video"]:
        frames = sum(report["video_frames_per_game"])
        print(f"video: {report['video']} ({report['video_games']} game(s), {frames} frames, "
              f"{report['video_format']})")
        run = log_video_to_wandb(
            Path(report["video"]), state["config"], path.parent.parent, mode=wandb_mode,
            agent_steps=report["agent_steps"], frames=report["frames"],
            caption=f"{report['game']}: {report['video_games']} game(s) at "
                    f"{report['frames']:,} training frames")
        if run is not None:
            print(f"video logged to wandb ({run.settings.mode}) as {WANDB_VIDEO_KEY}, "
                  f"run {run.id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
