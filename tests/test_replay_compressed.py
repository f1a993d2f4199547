"""Tests of CompressedFrameReplay: identical batches to FrameReplay, exact checkpoints, size."""

from __future__ import annotations

import pickle

import lz4.block
import numpy as np
import pytest
from test_replay import ReferenceReplay, apply_event, check_batch, random_stream

from dqn_atari.memory import InsufficientMemoryError
from dqn_atari.replay import FrameReplay
from dqn_atari.replay_compressed import CompressedFrameReplay


def _assert_same_batch(a, b) -> None:
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("seed", [0, 1])
def test_samples_identical_to_frame_replay(seed: int) -> None:
    capacity = 50  # slots; the stream wraps it ~24 times and grows the pool several times
    plain = FrameReplay(capacity, seed=seed)
    packed = CompressedFrameReplay(capacity, seed=seed)
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
    for slot in range(capacity):
        n, o = int(packed._lengths[slot]), int(packed._offsets[slot])
        decoded = lz4.block.decompress(packed._pool[o : o + n].tobytes(), uncompressed_size=7056)
        assert decoded == plain._frames[slot].tobytes()
    assert packed.stored_frame_bytes == int(packed._lengths.sum())


def test_state_dict_round_trip_is_exact() -> None:
    events = random_stream(5, 500)
    original = CompressedFrameReplay(40, seed=3)
    for event in events[:350]:
        apply_event(original, event)
    original.sample(8)
    restored = CompressedFrameReplay(40, seed=77)
    restored.load_state_dict(pickle.loads(pickle.dumps(original.state_dict())))
    for key, value in original.state_dict().items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, restored.state_dict()[key])
        else:
            assert value == restored.state_dict()[key], key
    for _ in range(5):
        _assert_same_batch(original.sample(16), restored.sample(16))
    for event in events[350:]:
        apply_event(original, event)
        apply_event(restored, event)
    _assert_same_batch(original.sample(32), restored.sample(32))
    with pytest.raises(ValueError, match="does not match"):
        FrameReplay(40).load_state_dict(original.state_dict())


def test_compressible_frames_take_little_memory() -> None:
    capacity = 2_000
    replay = CompressedFrameReplay(capacity)
    rng = np.random.default_rng(0)
    frame = np.zeros((84, 84), np.uint8)
    for step in range(3 * capacity):  # wraps 3 times
        frame[:] = 40
        frame[rng.integers(0, 84), :] = 200  # a moving bar
        replay.add(frame, 0, 0.0, False, step == 0)
    per_transition = replay.nbytes / capacity  # allocated: pool + per-slot arrays
    assert per_transition < 200, per_transition  # vs 7,062 B for FrameReplay
    assert replay.stored_frame_bytes <= replay._pool.size


def test_memory_check_refuses_what_cannot_fit() -> None:
    with pytest.raises(InsufficientMemoryError, match=r"replay\.capacity.*") as info:
        CompressedFrameReplay(10**10)
    assert "GB" in str(info.value)


def test_real_pong_frames_compress_below_600_bytes() -> None:
    from dqn_atari.bench.replay import _real_frames

    stream = _real_frames("pong", 600, seed=0)  # 600 agent steps of random play
    replay = CompressedFrameReplay(1_000)
    for frame in stream.frames:
        replay.add(frame, 0, 0.0, False, replay.num_added == 0)
    per_frame = replay.stored_frame_bytes / replay.num_filled
    assert per_frame < 600 - 18, per_frame  # + 18 B of per-slot arrays
