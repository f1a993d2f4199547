"""UniformReplay with N write heads (one per parallel actor) against naive full-stack references.

Each stream gets its own random event stream (life losses, game overs, truncations,
episodes shorter than the stack) interleaved at random, wrapping small capacities many
times; every sampled item is checked field by field against the reference of its stream,
and the draws are checked to be uniform over the valid transitions of all streams.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from test_replay import ReferenceReplay, apply_event, check_batch, random_stream

from dqn_atari.replay import ReplayBatch, UniformReplay


def _feed(replay: UniformReplay, refs, events_per_stream, order, upto=None):
    """Apply events in the interleaving ``order`` (stream numbers); yields after each."""
    cursors = [0] * replay.num_heads
    for n, k in enumerate(order[:upto]):
        event = events_per_stream[k][cursors[k]]
        cursors[k] += 1
        apply_event(replay.head(k), event)
        if refs is not None:
            refs[k].apply(event)
        yield n


def _interleaving(seed: int, counts: list[int]) -> list[int]:
    order = np.repeat(np.arange(len(counts)), counts)
    np.random.default_rng(seed).shuffle(order)
    return order.tolist()


def _split(batch: ReplayBatch, replay: UniformReplay, k: int) -> ReplayBatch:
    """The items of ``batch`` from stream ``k``, with stream-local slot indices."""
    lo = int(replay.offsets[k])
    sel = (batch.indices >= lo) & (batch.indices < lo + replay.head(k).capacity)
    return ReplayBatch(batch.frames[sel], batch.actions[sel], batch.rewards[sel],
                       batch.terminals[sel], batch.indices[sel] - lo)


@pytest.mark.parametrize("seed,num_streams,capacity", [(0, 3, 150), (1, 2, 101), (2, 4, 120)])
def test_samples_match_reference_stacks(seed, num_streams, capacity):
    replay = UniformReplay(capacity, num_heads=num_streams, seed=seed)
    caps = [replay.head(k).capacity for k in range(num_streams)]
    assert sum(caps) == capacity and max(caps) - min(caps) <= 1
    refs = [ReferenceReplay(c) for c in caps]
    counts = [700 + 37 * k for k in range(num_streams)]  # streams of unequal length
    events = [random_stream(100 * seed + k, counts[k]) for k in range(num_streams)]
    for n in _feed(replay, refs, events, _interleaving(seed, counts)):
        assert len(replay) == sum(r.num_transitions() for r in refs)
        if n % 5 or len(replay) == 0:
            continue
        expected = set()
        for k, ref in enumerate(refs):
            expected |= {int(replay.offsets[k]) + g % caps[k] for g in ref.valid_write_numbers()}
        assert set(replay.valid_indices().tolist()) == expected
        if expected:
            batch = replay.sample(min(24, len(replay)))
            assert set(batch.indices.tolist()) <= expected
            for k in range(num_streams):
                check_batch(_split(batch, replay, k), refs[k], caps[k])


def test_sampling_is_uniform_over_all_streams():
    """Streams with different numbers of valid transitions: every valid one equally likely."""
    replay = UniformReplay(180, num_heads=3, seed=11)
    counts = [217, 24, 45]  # wrapped / a third filled / not wrapped
    events = [random_stream(20 + k, counts[k]) for k in range(3)]
    for _ in _feed(replay, None, events, _interleaving(5, counts)):
        pass
    valid = replay.valid_indices()
    per_stream = [np.sum((valid >= o) & (valid < o + 60)) for o in replay.offsets]
    assert min(per_stream) >= 10 and max(per_stream) > 2 * min(per_stream), per_stream
    draws = np.concatenate([replay.sample(50).indices for _ in range(2_000)])  # 100,000
    counts_drawn = np.bincount(draws, minlength=replay.capacity)
    invalid = np.setdiff1d(np.arange(replay.capacity), valid)
    assert counts_drawn[invalid].sum() == 0
    expected = draws.size / valid.size
    chi2 = float((((counts_drawn[valid] - expected) ** 2) / expected).sum())
    dof = valid.size - 1
    assert chi2 < dof + 8 * np.sqrt(2 * dof), (chi2, dof)


def _as_format_1(state: dict) -> dict:
    """A replay state as checkpoints before replay/ wrote it (FrameReplay, CompressedFrameReplay,
    MultiStreamReplay): the layout the runs started before this version resume from."""
    kinds = {"array": "FrameReplay", "lz4": "CompressedFrameReplay"}

    def stream(head: dict, rng_state) -> dict:
        old = {k: v for k, v in head.items() if k != "frame_store"}
        return {**old, "kind": kinds[head["frame_store"]], "rng_state": rng_state}

    unused = np.random.default_rng(123).bit_generator.state  # the streams' unused samplers
    if state["num_heads"] == 1:
        return stream(state["heads"][0], state["rng_state"])
    return {"kind": "MultiStreamReplay", "num_streams": state["num_heads"],
            "capacity": state["capacity"], "rng_state": state["rng_state"],
            "streams": [stream(h, unused) for h in state["heads"]]}


@pytest.mark.parametrize("num_heads,frame_store", [(1, "array"), (1, "lz4"), (3, "array"),
                                                   (2, "lz4")])
def test_a_replay_of_a_format_1_checkpoint_resumes_exactly(num_heads, frame_store):
    counts = [400 // num_heads + 9 * k for k in range(num_heads)]
    events = [random_stream(70 + k, counts[k]) for k in range(num_heads)]
    original = UniformReplay(120, num_heads=num_heads, seed=2, frame_store=frame_store)
    for _ in _feed(original, None, events, _interleaving(1, counts)):
        pass
    state = pickle.loads(pickle.dumps(_as_format_1(original.state_dict())))
    restored = UniformReplay(120, num_heads=num_heads, seed=77, frame_store=frame_store)
    restored.load_state_dict(state)
    assert len(restored) == len(original) and restored.num_added == original.num_added
    for _ in range(5):
        for x, y in zip(original.sample(16), restored.sample(16), strict=True):
            np.testing.assert_array_equal(x, y)
    other = "array" if frame_store == "lz4" else "lz4"
    with pytest.raises(ValueError, match="replay.compress"):
        UniformReplay(120, num_heads=num_heads, frame_store=other).load_state_dict(state)


def test_compressed_streams_sample_exactly_what_plain_streams_sample():
    counts = [300, 260]
    events = [random_stream(40 + k, counts[k]) for k in range(2)]
    order = _interleaving(3, counts)
    plain = UniformReplay(100, num_heads=2, seed=4)
    packed = UniformReplay(100, num_heads=2, seed=4, frame_store="lz4")
    for _ in _feed(plain, None, events, order):
        pass
    for _ in _feed(packed, None, events, order):
        pass
    for _ in range(10):
        for x, y in zip(plain.sample(32), packed.sample(32), strict=True):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("copy_arrays", [True, False])
def test_state_dict_round_trip_is_exact(copy_arrays):
    counts = [260, 240]
    events = [random_stream(60 + k, counts[k]) for k in range(2)]
    order = _interleaving(8, counts)
    original = UniformReplay(100, num_heads=2, seed=5)
    for _ in _feed(original, None, events, order, upto=400):
        pass
    original.sample(8)
    state = pickle.loads(pickle.dumps(original.state_dict()))
    restored = UniformReplay(100, num_heads=2, seed=999)
    restored.load_state_dict(state, copy=copy_arrays)
    assert len(restored) == len(original) and restored.num_added == original.num_added
    for _ in range(5):
        for x, y in zip(original.sample(16), restored.sample(16), strict=True):
            np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="env.num_envs"):
        UniformReplay(100, num_heads=4).load_state_dict(original.state_dict())


def test_errors_name_the_fix():
    with pytest.raises(ValueError, match=r"use env.num_envs=6 or fewer, or raise replay.capacity"):
        UniformReplay(30, num_heads=8)
    replay = UniformReplay(100, num_heads=2)
    with pytest.raises(ValueError, match="empty"):
        replay.sample(1)
    with pytest.raises(TypeError, match=r"head\(k\)"):
        replay.add(np.zeros((84, 84), np.uint8), 0, 0.0, False, True)


def test_a_checkpoint_holds_only_the_filled_slots_and_restores_the_same_samples(tmp_path):
    """50 of 1,000 slots written: the checkpoint's frames are the 50 (a prefix of the ring),
    and the replay restored from it samples exactly as the original."""
    from dqn_atari.run.checkpoint import load_checkpoint, save_checkpoint

    events = [random_stream(5, 50)]
    original = UniformReplay(1000, seed=3)
    for _ in _feed(original, None, events, _interleaving(1, [50])):
        pass
    state = original.state_dict()
    written = original.head(0).num_filled
    assert state["heads"][0]["frames"].shape == (written, 84, 84) and 0 < written < 1000
    path = save_checkpoint(tmp_path, {"replay": state}, agent_steps=50)
    # random frames do not compress: about the 50 frames' bytes, not the 7 MB of 1,000 slots
    assert path.stat().st_size < 2 * written * 84 * 84 < 1000 * 84 * 84 / 5
    restored = UniformReplay(1000, seed=99)
    restored.load_state_dict(load_checkpoint(path)["replay"])
    assert len(restored) == len(original)
    for _ in range(5):
        for x, y in zip(original.sample(16), restored.sample(16), strict=True):
            np.testing.assert_array_equal(x, y)
