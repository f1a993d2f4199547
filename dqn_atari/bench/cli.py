"""Micro-benchmarks: ``python -m dqn_atari.bench <what> [options]``.

One function per subcommand, each printing a JSON object on its LAST line of stdout
(progress goes to stderr). Subcommands:
  replay   memory (bytes per transition) and sampling speed (sampled transitions/s,
           one thread) of the replay (array and lz4 frame stores) and a naive full-stack store,
           filled with real preprocessed frames of an Atari game.
  env      frames/s of raw ALE, the Nature pipeline, N envs in one thread and in N threads,
           and ale-py's AtariVectorEnv (dqn_atari/bench/env.py).
  learner  update ms (batch 32) and act ms for torch thread counts (dqn_atari/bench/learner.py).
  train    learning-phase agent steps/s of the nature preset for env.num_envs / agent.overlap
           variants, learner settings and torch thread counts, next to the per-part ceiling.
  precision  per-update relative difference of a bf16 update's loss and gradient from fp32,
           on real batches of a game (dqn_atari/bench/precision.py).
  kernels  each Nature layer's forward and backward in fp32 and bf16 on this CPU, and the
           CPU flags (AMX, avx512_bf16) that decide whether bf16 can be faster
           (dqn_atari/bench/kernels.py).
  checkpoint  size and write/read seconds of a checkpoint of a filled replay, plain and lz4
           stores, and the disk a 245-run sweep needs (dqn_atari/bench/checkpoint.py).
  packed   total learning agent steps/s of K seeds packed in one process (seeds=[...]) against
           K single runs in K processes (dqn_atari/bench/packed.py).
  gpu      on a CUDA device: update/act ms of every learner setting (eager, compile, CUDA
           graph x fp32, tf32, bf16) and of K packed seeds (dqn_atari/bench/gpu.py).
           With --check: the self-check to run first on a GPU node (graphs against eager,
           the threaded learner resumed, resumes across devices, cuda:1, packed, tf32/bf16,
           then the speed table), a table then JSON; exit status 1 if a check failed
           (dqn_atari/bench/gpu_check.py).

Examples:
  python -m dqn_atari.bench replay --capacity 1000000 --game pong
  python -m dqn_atari.bench env --game pong --frames 20000
  python -m dqn_atari.bench learner --threads 1,2 --learner eager-fp32,compile-fp32,compile-bf16
  python -m dqn_atari.bench train --game breakout --variants 1 --threads 2 \
      --learner eager-fp32,compile-fp32,compile-bf16
  python -m dqn_atari.bench kernels --threads 1
  python -m dqn_atari.bench checkpoint --capacity 1000000 --game pong
  python -m dqn_atari.bench packed --seeds 4 --agent-steps 1000 --learning-starts 500
  python -m dqn_atari.bench gpu --check
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one subparser per subcommand, each with its ``func``."""
    parser = argparse.ArgumentParser(
        prog="python -m dqn_atari.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    replay = sub.add_parser("replay", help="replay memory and sampling speed")
    replay.add_argument("--capacity", type=int, required=True, help="transitions (slots)")
    replay.add_argument("--game", default="pong", help="snake_case ALE ROM id")
    replay.add_argument("--batch", type=int, default=32, help="transitions per sample call")
    replay.add_argument(
        "--seconds", type=float, default=5.0, help="seconds per sampling-speed measurement"
    )
    replay.add_argument(
        "--fill",
        type=int,
        default=None,
        help="slots written before measuring (default: the capacity)",
    )
    replay.add_argument(
        "--distinct-frames",
        type=int,
        default=20_000,
        help="frames (agent steps) of real play generated, then cycled",
    )
    replay.add_argument(
        "--full-stack-capacity",
        type=int,
        default=50_000,
        help="transitions allocated to measure the full-stack store's speed",
    )
    replay.add_argument(
        "--stores",
        default="plain,compressed,full_stack",
        help="comma list of plain, compressed, full_stack",
    )
    replay.add_argument("--seed", type=int, default=0)
    replay.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bar on stderr"
    )
    replay.set_defaults(func=bench_replay_cmd)
    _add_speed_subcommands(sub)
    from dqn_atari.bench.checkpoint import add_checkpoint_subcommand
    from dqn_atari.bench.gpu_command import add_gpu_subcommand
    from dqn_atari.bench.packed import add_packed_subcommand

    add_checkpoint_subcommand(sub)
    add_packed_subcommand(sub)
    add_gpu_subcommand(sub)
    return parser


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _variants(text: str) -> tuple[tuple[int, bool], ...]:
    """``"1,1o,4,4o"``: num_envs, with ``o`` for agent.overlap=true."""
    out = []
    for item in text.split(","):
        item = item.strip()
        if item:
            out.append((int(item.rstrip("o")), item.endswith("o")))
    return tuple(out)


def bench_replay_cmd(args: argparse.Namespace) -> dict[str, Any]:
    """The ``replay`` subcommand (dqn_atari/bench/replay.py)."""
    from dqn_atari.bench.replay import bench_replay

    return bench_replay(args)


def bench_env_cmd(args: argparse.Namespace) -> dict[str, Any]:
    """The ``env`` subcommand (dqn_atari/bench/env.py)."""
    from dqn_atari.bench.env import bench_env

    return bench_env(args.game, frames=args.frames, num_envs=_ints(args.num_envs),
                     seed=args.seed, ale_vector=args.ale_vector)


def bench_learner_cmd(args: argparse.Namespace) -> dict[str, Any]:
    """The ``learner`` subcommand (dqn_atari/bench/learner.py)."""
    from dqn_atari.bench.learner import bench_learner_figures

    return bench_learner_figures(threads=_ints(args.threads), updates=args.updates,
                                 acts=args.acts, device=args.device,
                                 channels_last=not args.nchw,
                                 settings=_names(args.learner),
                                 conv_padding=args.conv_padding, init=args.init,
                                 num_actions=args.num_actions)


def bench_train_cmd(args: argparse.Namespace) -> dict[str, Any]:
    """The ``train`` subcommand (dqn_atari/bench/train.py)."""
    from dqn_atari.bench.train import bench_train

    epsilon = None if args.epsilon < 0 else args.epsilon
    return bench_train(args.game, agent_steps=args.agent_steps, warmup=args.learning_starts,
                       capacity=args.capacity, epsilon=epsilon,
                       variants=_variants(args.variants), threads=_ints(args.threads),
                       env_frames=args.env_frames, seed=args.seed,
                       learner_settings=_names(args.learner))


LEARNER_HELP = ("comma list of learner settings <mode>-<precision>: mode eager, compile or "
                "graph (CUDA), precision fp32, tf32 (CUDA) or bf16; the first is the baseline "
                "of the speed-ups (default eager-fp32)")


def bench_precision_cmd(args: argparse.Namespace) -> dict[str, Any]:
    """The ``precision`` subcommand (dqn_atari/bench/precision.py)."""
    from dqn_atari.bench.precision import bench_precision

    return bench_precision(args.game, updates=args.updates, agent_steps=args.agent_steps,
                           seed=args.seed, csv_path=args.csv)


def bench_kernels_cmd(args: argparse.Namespace) -> dict[str, Any]:
    """The ``kernels`` subcommand (dqn_atari/bench/kernels.py)."""
    from dqn_atari.bench.kernels import bench_kernels

    return bench_kernels(batch_size=args.batch, threads=args.threads, repeats=args.repeats)


def _add_speed_subcommands(sub) -> None:
    env = sub.add_parser("env", help="frames/s: raw ALE, the Nature pipeline, vector envs")
    env.add_argument("--game", default="pong", help="snake_case ALE ROM id")
    env.add_argument("--frames", type=int, default=20_000, help="frames per measurement")
    env.add_argument("--num-envs", default="2,4", help="comma list of vector sizes")
    env.add_argument("--no-ale-vector", dest="ale_vector", action="store_false",
                     help="skip ale-py's AtariVectorEnv")
    env.add_argument("--seed", type=int, default=0)
    env.set_defaults(func=bench_env_cmd)

    learner = sub.add_parser("learner", help="update ms (batch 32) and act ms per torch threads")
    learner.add_argument("--threads", default="1,2", help="comma list of torch thread counts")
    learner.add_argument("--updates", type=int, default=40, help="timed updates per count")
    learner.add_argument("--acts", type=int, default=200, help="timed acts per count")
    learner.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    learner.add_argument("--nchw", action="store_true",
                         help="NCHW convolutions (agent.channels_last=false), for comparison")
    learner.add_argument("--learner", default="eager-fp32", help=LEARNER_HELP)
    learner.add_argument("--conv-padding", default="valid", choices=("valid", "same"),
                         help="agent.conv_padding: valid (Nature) or same (Dopamine's network)")
    learner.add_argument("--init", default="fan_in_uniform",
                         choices=("fan_in_uniform", "glorot_uniform_zero_bias"),
                         help="agent.init (speed does not depend on it)")
    learner.add_argument("--num-actions", type=int, default=6,
                         help="Q-values per state (6: Pong; 18: the full action set)")
    learner.set_defaults(func=bench_learner_cmd)

    train = sub.add_parser("train", help="learning-phase agent steps/s of the nature preset")
    train.add_argument("--game", default="pong", help="snake_case ALE ROM id")
    train.add_argument("--agent-steps", type=int, default=2000,
                       help="agent steps measured (a multiple of --learning-starts)")
    train.add_argument("--learning-starts", type=int, default=1000,
                       help="agent.learning_starts_agent_steps (warm-up, not measured)")
    train.add_argument("--capacity", type=int, default=20_000, help="replay.capacity")
    train.add_argument("--epsilon", type=float, default=0.1,
                       help="fixed epsilon while measuring; negative: the Nature schedule")
    train.add_argument("--variants", default="1,1o,4,4o",
                       help="comma list of env.num_envs, suffix o for agent.overlap=true")
    train.add_argument("--threads", default="1,2", help="comma list of torch_threads")
    train.add_argument("--env-frames", type=int, default=8000,
                       help="frames of the env measurement for the ceiling")
    train.add_argument("--learner", default="eager-fp32", help=LEARNER_HELP)
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(func=bench_train_cmd)

    precision = sub.add_parser("precision", help="bf16 vs fp32 loss and gradients, real batches")
    precision.add_argument("--game", default="breakout", help="snake_case ALE ROM id")
    precision.add_argument("--updates", type=int, default=200, help="updates compared")
    precision.add_argument("--agent-steps", type=int, default=5000,
                           help="agent steps of random play that fill the replay")
    precision.add_argument("--csv", default=None, help="write the per-update rows here")
    precision.add_argument("--seed", type=int, default=0)
    precision.set_defaults(func=bench_precision_cmd)

    kernels = sub.add_parser("kernels", help="fp32 vs bf16 ms of each Nature layer, CPU flags")
    kernels.add_argument("--batch", type=int, default=32, help="samples per call")
    kernels.add_argument("--threads", type=int, default=1, help="torch threads while timing")
    kernels.add_argument("--repeats", type=int, default=20, help="timed calls per figure")
    kernels.set_defaults(func=bench_kernels_cmd)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run one subcommand and print its result as JSON on the last line."""
    args = build_parser().parse_args(argv)
    result = args.func(args)
    print(json.dumps(result), flush=True)
    if result.get("exit_status"):  # a self-check that failed (bench gpu --check)
        raise SystemExit(result["exit_status"])
    return result


if __name__ == "__main__":
    main()
