"""Tests of the lz4 frame store: batches identical to the array store, exact checkpoints, size."""

from __future__ import annotations

import pickle

import lz4.block
import numpy as np
import pytest
from test_replay import (
    ReferenceReplay,
    apply_event,
    assert_same_state,
    check_batch,
    random_stream,
)

from dqn_atari.ram import InsufficientMemoryError
from dqn_atari.replay import UniformReplay


def _assert_same_batch(a, b) -> None:
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("seed", [0, 1])
def test_samples_identical_to_the_array_store(seed: int) -> None:
    capacity = 50  # slots; the stream wraps it ~24 times and grows the pool several times
    plain = UniformReplay(capacity, seed=seed)
    packed = UniformReplay(capacity, seed=seed, frame_store="lz4")
    ref = ReferenceReplay(capacity)
    for n, event in enumerate(random_stream(seed + 10, 900)):
        apply_event(plain, event)
        apply_event(packed, event)
        ref.apply(event)
        assert len(packed) == len(plain)
        if n % 3 == 0 and len(plain) >= 1 and plain.valid_indices().size:
            np.testing.assert_array_equal(packed.valid_indices(), plain.valid_indices())
            batch = packed.sample(min(16, len(plain)))
            _assert_same_batch(batch, plain.sample(min(16, len(plain))))
            check_batch(batch, ref, capacity)
    # after many wraps and pool growths, every slot still decodes to the plain frame
    store = packed.head(0).frames.state_dict()
    frames = plain.head(0).frames.state_dict()["frames"]
    for slot in range(capacity):
        n, o = int(store["lengths"][slot]), int(store["offsets"][slot])
        decoded = lz4.block.decompress(store["pool"][o : o + n].tobytes(), uncompressed_size=7056)
        assert decoded == frames[slot].tobytes()
    assert store["stored_bytes"] == int(store["lengths"].sum())


def test_state_dict_round_trip_is_exact() -> None:
    events = random_stream(5, 500)
    original = UniformReplay(40, seed=3, frame_store="lz4")
    for event in events[:350]:
        apply_event(original, event)
    original.sample(8)
    restored = UniformReplay(40, seed=77, frame_store="lz4")
    restored.load_state_dict(pickle.loads(pickle.dumps(original.state_dict())))
    assert_same_state(original, restored)
    for _ in range(5):
        _assert_same_batch(original.sample(16), restored.sample(16))
    for event in events[350:]:
        apply_event(original, event)
        apply_event(restored, event)
    _assert_same_batch(original.sample(32), restored.sample(32))
    with pytest.raises(ValueError, match="does not match"):
        UniformReplay(40).load_state_dict(original.state_dict())


def test_compressible_frames_take_little_memory() -> None:
    capacity = 2_000
    replay = UniformReplay(capacity, frame_store="lz4")
    rng = np.random.default_rng(0)
    frame = np.zeros((84, 84), np.uint8)
    for step in range(3 * capacity):  # wraps 3 times
        frame[:] = 40
        frame[rng.integers(0, 84), :] = 200  # a moving bar
        replay.add(frame, 0, 0.0, False, step == 0)
    per_transition = replay.nbytes / capacity  # allocated: pool + per-slot arrays
    assert per_transition < 200, per_transition  # vs 7,062 B with the array store
    assert replay.head(0).frames.stored_frame_bytes <= replay.head(0).frames.pool_bytes


def test_memory_check_refuses_what_cannot_fit() -> None:
    with pytest.raises(InsufficientMemoryError, match=r"replay\.capacity.*") as info:
        UniformReplay(10**10, frame_store="lz4")
    assert "GB" in str(info.value)


def test_real_pong_frames_compress_below_600_bytes() -> None:
    from dqn_atari.bench.replay import real_frames

    stream = real_frames("pong", 600, seed=0)  # 600 agent steps of random play
    replay = UniformReplay(1_000, frame_store="lz4")
    for frame in stream.frames:
        replay.add(frame, 0, 0.0, False, replay.num_added == 0)
    per_frame = replay.head(0).frames.stored_frame_bytes / replay.num_filled
    assert per_frame < 600 - 18, per_frame  # + 18 B of per-slot arrays
