"""The ``replay`` benchmark: memory and sampling speed of the replay stores.

``python -m dqn_atari.bench replay --capacity 1000000 --game pong``: bytes per transition
and sampled transitions/s (one thread) of the replay with its array and its lz4 frame
store, and of a naive full-stack store, filled with real preprocessed frames of an Atari game.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

FRAME_SHAPE = (84, 84)
STACK_FRAMES = 4  # frames per agent state
ACTION_REPEAT_FRAMES = 4  # frames per agent step (Nature)

KIND_ADD = 0  # a transition inside a game
KIND_START = 1  # the first transition of a game
KIND_FINAL = 2  # the frame after a game's last transition (game over or truncation)


class RealFrames(NamedTuple):
    """Preprocessed frames of random play, one per agent step, with game boundaries."""

    frames: np.ndarray  # (n, 84, 84) uint8
    kinds: np.ndarray  # (n,) uint8: KIND_ADD, KIND_START or KIND_FINAL
    frames_distinct: int  # frames whose bytes differ from all others


def real_frames(game: str, n: int, seed: int) -> RealFrames:
    """``n`` Nature-preprocessed frames of ``game`` under uniformly random actions.

    Played by the project's own environment (``NatureAtariEnv``: the frames training
    stores), one frame per agent step, with its no-op starts and 108,000-frame game cap.
    """
    from dqn_atari.envs import NatureAtariEnv

    env = NatureAtariEnv(game, seed)
    rng = np.random.default_rng(seed)
    frames = np.empty((n, *FRAME_SHAPE), dtype=np.uint8)
    kinds = np.full(n, KIND_ADD, dtype=np.uint8)
    frames[0], kinds[0] = env.reset(), KIND_START
    for t in range(1, n):
        if kinds[t - 1] == KIND_FINAL:  # new game
            frames[t], kinds[t] = env.reset(), KIND_START
            continue
        step = env.step(int(rng.integers(env.num_actions)))
        frames[t] = step.frame
        if step.game_over or step.truncated:
            kinds[t] = KIND_FINAL
    distinct = len({f.tobytes() for f in frames})
    return RealFrames(frames, kinds, distinct)


def fill_replay(
    add: Callable, add_final: Callable, stream: RealFrames, count: int, desc: str, progress: bool
) -> float:
    """Write ``count`` slots cycling through ``stream``; returns the seconds it took."""
    from tqdm import tqdm

    rng = np.random.default_rng(0)
    n = len(stream.frames)
    kinds = stream.kinds.tolist()
    actions = rng.integers(0, 6, size=n).tolist()
    start = time.perf_counter()
    for t in tqdm(
        range(count), desc=desc, unit="slot", mininterval=2.0, disable=not progress, file=sys.stderr
    ):
        k = t % n
        if kinds[k] == KIND_FINAL and t > 0:
            add_final(stream.frames[k])
            continue
        nxt = kinds[(k + 1) % n]
        add(stream.frames[k], actions[k], 0.0, nxt == KIND_FINAL, kinds[k] != KIND_ADD or t == 0)
    return time.perf_counter() - start


def _sampling_speed(sample: Callable[[int], Any], batch: int, seconds: float) -> dict[str, Any]:
    """Sampled transitions per second of ``sample(batch)`` in this thread.

    Wall-clock rate, and the rate per second of this thread's CPU time (what one core
    does when other processes share the machine), with the 1-minute load average.
    """
    for _ in range(20):  # warm-up
        sample(batch)
    load_before = os.getloadavg()[0]
    calls = 0
    start, cpu_start = time.perf_counter(), time.thread_time()
    deadline = start + seconds
    while True:
        for _ in range(50):
            sample(batch)
        calls += 50
        now = time.perf_counter()
        if now >= deadline:
            break
    cpu = time.thread_time() - cpu_start
    return {
        "sampled_transitions_per_s": round(calls * batch / (now - start)),
        "sampled_transitions_per_cpu_s": round(calls * batch / cpu),
        "load_average_1min": round(max(load_before, os.getloadavg()[0]), 2),
    }


class FullStackStore:
    """The naive layout: s and s' as two 4x84x84 uint8 stacks per transition.

    As stable-baselines3's ``ReplayBuffer`` with ``optimize_memory_usage=False``, with
    actions uint8, rewards float32 and terminals uint8 like the replay, so the comparison
    isolates the frame layout.
    """

    def __init__(self, capacity: int, allocate: bool = True) -> None:
        shape = (capacity, STACK_FRAMES, *FRAME_SHAPE)
        self.capacity = capacity
        self.nbytes = 2 * int(np.prod(shape)) + capacity * (1 + 4 + 1)
        if allocate:
            self.obs = np.zeros(shape, dtype=np.uint8)
            self.next_obs = np.zeros(shape, dtype=np.uint8)
            self.actions = np.zeros(capacity, dtype=np.uint8)
            self.rewards = np.zeros(capacity, dtype=np.float32)
            self.terminals = np.zeros(capacity, dtype=np.uint8)
        self._stack = np.zeros((STACK_FRAMES, *FRAME_SHAPE), dtype=np.uint8)
        self._pending = -1
        self._cursor = 0
        self._size = 0
        self._rng = np.random.default_rng(0)

    def _close_pending(self, frame: np.ndarray) -> None:
        if self._pending >= 0:
            self.next_obs[self._pending, :-1] = self._stack[1:]
            self.next_obs[self._pending, -1] = frame

    def add(self, frame, action, reward, terminal, episode_start) -> None:
        """Same call as the replay's add."""
        self._close_pending(frame)
        if episode_start:
            self._stack[:] = 0
        self._stack[:-1] = self._stack[1:]
        self._stack[-1] = frame
        slot = self._cursor
        self.obs[slot] = self._stack
        self.actions[slot], self.rewards[slot], self.terminals[slot] = action, reward, terminal
        self._pending = slot
        self._cursor = (slot + 1) % self.capacity
        self._size = min(self._size + 1, self.capacity)

    def add_final(self, frame) -> None:
        """Same call as the replay's add_final."""
        self._close_pending(frame)
        self._pending = -1

    def sample(self, batch_size: int):
        """``batch_size`` transitions uniformly (the pending one included, as a bench)."""
        idx = self._rng.integers(0, self._size, size=batch_size)
        return (
            self.obs[idx],
            self.actions[idx].astype(np.int64),
            self.rewards[idx],
            self.next_obs[idx],
            self.terminals[idx].astype(np.float32),
        )


def bench_replay(args: argparse.Namespace) -> dict[str, Any]:
    """The ``replay`` subcommand: bytes per transition and sampling speed of three stores."""
    from dqn_atari.replay import UniformReplay

    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    unknown = set(stores) - {"plain", "compressed", "full_stack"}
    if unknown:
        raise SystemExit(f"unknown --stores {sorted(unknown)}")
    capacity = args.capacity
    fill = capacity if args.fill is None else min(args.fill, capacity)
    t0 = time.perf_counter()
    stream = real_frames(args.game, args.distinct_frames, args.seed)
    result: dict[str, Any] = {
        "game": args.game,
        "capacity": capacity,
        "batch": args.batch,
        "fill_slots": fill,
        "frames_generated": len(stream.frames),
        "frames_distinct": stream.frames_distinct,
        "frames_note": (
            f"{len(stream.frames)} frames of random play (agent steps) by NatureAtariEnv, "
            f"cycled to fill {fill} slots"
        ),
        "frame_generation_s": round(time.perf_counter() - t0, 1),
        "seconds_per_speed_measurement": args.seconds,
        "threads": "one (the caller's; numpy indexing and lz4 run single-threaded)",
    }

    if "plain" in stores:
        replay = UniformReplay(capacity, frame_shape=FRAME_SHAPE, stack_frames=STACK_FRAMES,
                               frame_store="array", seed=args.seed)
        fill_s = fill_replay(replay.add, replay.add_final, stream, fill, "plain", args.progress)
        result["plain"] = {
            "bytes_per_transition": replay.nbytes / capacity,
            "bytes_allocated": replay.nbytes,
            **_sampling_speed(replay.sample, args.batch, args.seconds),
            "fill_s": round(fill_s, 1),
        }
        result["bytes_per_transition"] = result["plain"]["bytes_per_transition"]
        result["sampled_transitions_per_s"] = result["plain"]["sampled_transitions_per_s"]
        del replay
        gc.collect()

    if "compressed" in stores:
        replay = UniformReplay(capacity, frame_shape=FRAME_SHAPE, stack_frames=STACK_FRAMES,
                               frame_store="lz4", seed=args.seed)
        fill_s = fill_replay(replay.add, replay.add_final, stream, fill, "compressed", args.progress)
        filled = replay.num_filled
        store = replay.head(0).frames
        mean_frame = store.stored_frame_bytes / filled
        fixed = (replay.nbytes - store.pool_bytes) / capacity  # per-slot arrays, bytes
        result["compressed"] = {
            "bytes_per_transition": round(fixed + mean_frame, 1),
            "bytes_per_transition_method": (
                f"mean lz4 size of the {filled} frames stored ({mean_frame:.1f} B) + per-slot "
                f"arrays ({fixed:.0f} B: offset, length, action, reward, flags), i.e. the "
                f"stored bytes at fill {filled}/{capacity} extrapolated to the capacity"
            ),
            "bytes_per_transition_allocated": round(replay.nbytes / capacity, 1),
            "bytes_allocated_note": "pool + per-slot arrays; the pool grows by 10% steps",
            "compressed_frame_bytes_mean": round(mean_frame, 1),
            **_sampling_speed(replay.sample, args.batch, args.seconds),
            "fill_s": round(fill_s, 1),
        }
        del replay
        gc.collect()

    if "full_stack" in stores:
        measured_at = min(capacity, args.full_stack_capacity)
        store = FullStackStore(measured_at)
        fill_s = fill_replay(
            store.add, store.add_final, stream, min(fill, measured_at), "full_stack", args.progress
        )
        result["full_stack"] = {
            "bytes_per_transition": FullStackStore(capacity, allocate=False).nbytes / capacity,
            "bytes_per_transition_note": "from the array shapes at the capacity (not allocated)",
            "layout": "obs and next_obs 4x84x84 uint8 each + action uint8 + reward float32 "
            "+ terminal uint8 (SB3 ReplayBuffer, optimize_memory_usage=False)",
            **_sampling_speed(store.sample, args.batch, args.seconds),
            "speed_measured_at_capacity": measured_at,
            "fill_s": round(fill_s, 1),
        }
        del store
        gc.collect()
    return result
