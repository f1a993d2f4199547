"""The ``checkpoint`` benchmark: size and write/read time of a checkpoint's replay.

``python -m dqn_atari.bench checkpoint --capacity 1000000 --game pong`` fills a replay of the
plain store (``replay.compress=false``) and of the lz4 store (``replay.compress=true``) with
real preprocessed frames of the game (cycled, as ``bench replay`` does), writes each as a
checkpoint with ``dqn_atari.run.checkpoint.save_checkpoint`` (atomic, plain data, arrays of 1 MiB
or more lz4-compressed) into a temporary directory, reads it back, and reports bytes and
seconds. ``--fill`` below the capacity measures a replay that is partly full (only the filled
slots are written). A sweep keeps ``checkpoint_keep`` (2) checkpoints per run: the JSON gives
the disk a 245-run sweep needs for them.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path
from typing import Any

SWEEP_RUNS = 245  # 49 games x 5 seeds
CHECKPOINTS_KEPT = 2  # checkpoint_keep's default


def bench_checkpoint(args: argparse.Namespace) -> dict[str, Any]:
    """Fill each store, write it as a checkpoint, read it back: bytes and seconds."""
    from dqn_atari.bench.replay import FRAME_SHAPE, STACK_FRAMES, fill_replay, real_frames
    from dqn_atari.replay import UniformReplay
    from dqn_atari.run.checkpoint import load_checkpoint, save_checkpoint

    fill = args.capacity if args.fill is None else min(args.fill, args.capacity)
    stream = real_frames(args.game, args.distinct_frames, args.seed)
    result: dict[str, Any] = {
        "game": args.game, "capacity": args.capacity, "fill_slots": fill,
        "frames_note": f"{len(stream.frames)} frames of random play cycled to fill {fill} slots",
        "sweep_note": f"{SWEEP_RUNS} runs x {CHECKPOINTS_KEPT} checkpoints kept",
    }
    stores = [name.strip() for name in args.stores.split(",") if name.strip()]
    for name, frame_store in (("plain", "array"), ("compressed", "lz4")):
        if name not in stores:
            continue
        replay = UniformReplay(args.capacity, frame_shape=FRAME_SHAPE, stack_frames=STACK_FRAMES,
                               frame_store=frame_store, seed=args.seed)
        fill_replay(replay.add, replay.add_final, stream, fill, name, args.progress)
        in_memory = replay.nbytes
        with tempfile.TemporaryDirectory(prefix="bench_checkpoint_", dir=args.dir) as tmp:
            start = time.perf_counter()
            path = save_checkpoint(Path(tmp), {"replay": replay.state_dict()}, agent_steps=fill)
            write_s = time.perf_counter() - start
            size = path.stat().st_size
            del replay  # the restore below needs its own copy (and the decompressed bytes)
            gc.collect()
            read_s = None
            if args.read:
                start = time.perf_counter()
                state = load_checkpoint(path)
                restored = UniformReplay(args.capacity, frame_shape=FRAME_SHAPE,
                                         stack_frames=STACK_FRAMES, frame_store=frame_store,
                                         seed=args.seed)
                restored.load_state_dict(state["replay"])
                read_s = round(time.perf_counter() - start, 4)
                del state, restored
                gc.collect()
        result[name] = {
            "replay_bytes_in_memory": in_memory,
            "checkpoint_bytes": size,
            "checkpoint_bytes_per_filled_slot": round(size / max(fill, 1), 1),
            "write_s": round(write_s, 4), "read_and_restore_s": read_s,
            "sweep_disk_gb": round(SWEEP_RUNS * CHECKPOINTS_KEPT * size / 1e9, 1),
        }
    return result


def add_checkpoint_subcommand(sub) -> None:
    """``checkpoint``'s options."""
    cmd = sub.add_parser("checkpoint", help="checkpoint size and write/read time of the replay")
    cmd.add_argument("--capacity", type=int, default=1_000_000, help="replay.capacity (slots)")
    cmd.add_argument("--fill", type=int, default=None, help="slots written (default: capacity)")
    cmd.add_argument("--game", default="pong", help="snake_case ALE ROM id")
    cmd.add_argument("--distinct-frames", type=int, default=20_000,
                     help="frames (agent steps) of real play generated, then cycled")
    cmd.add_argument("--stores", default="plain,compressed", help="comma list: plain, compressed")
    cmd.add_argument("--dir", default=None, help="where the temporary checkpoint goes")
    cmd.add_argument("--no-read", dest="read", action="store_false",
                     help="skip the read-back (it needs twice the replay's memory)")
    cmd.add_argument("--seed", type=int, default=0)
    cmd.add_argument("--no-progress", dest="progress", action="store_false")
    cmd.set_defaults(func=lambda args: bench_checkpoint(args))
