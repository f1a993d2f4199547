"""Tests of UniformReplay against a naive replay that stores full (s, a, r, s', terminal) stacks.

The reference builds its stacks the way an agent sees them (a deque, zero-filled at each
learning-episode start) and knows each transition by its global write number, so every
sampled item can be checked field by field. The random streams contain episodes shorter
than the stack, life losses (terminal, the game goes on), game overs and truncations
(both followed by ``add_final``), and wrap a small capacity many times.
"""

from __future__ import annotations

import copy
import pickle
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pytest

from dqn_atari.ram import InsufficientMemoryError
from dqn_atari.replay import UniformReplay

STACK = 4  # frames per agent state
SHAPE = (84, 84)


def make_frame(step: int, rng: np.random.Generator) -> np.ndarray:
    """A frame unique to ``step``: fill value step % 251, random pixels, step number bytes."""
    frame = np.full(SHAPE, step % 251, dtype=np.uint8)
    n = int(rng.integers(0, 400))  # random pixel count: varied lz4 sizes
    frame.flat[rng.integers(0, frame.size, n)] = rng.integers(0, 256, n, dtype=np.uint8)
    frame[0, :4] = np.frombuffer(int(step).to_bytes(4, "little"), dtype=np.uint8)
    return frame


def random_stream(seed: int, num_writes: int) -> list[tuple]:
    """Events ("add", frame, action, reward, terminal, episode_start) and ("final", frame).

    Games of 1-3 learning episodes; every episode but the last ends with a life loss, the
    last with a game over (terminal) or a truncation (not terminal), then a final frame.
    Episode lengths 1..30 agent steps, many shorter than the stack.
    """
    rng = np.random.default_rng(seed)
    events: list[tuple] = []
    step = 0
    while len(events) < num_writes:
        num_episodes = int(rng.integers(1, 4))
        for episode in range(num_episodes):
            length = int(rng.choice([1, 2, 3, rng.integers(1, 8), rng.integers(4, 31)]))
            last_episode = episode == num_episodes - 1
            truncated = last_episode and rng.random() < 0.4
            for t in range(length):
                last = t == length - 1
                terminal = last and not truncated
                reward = float(rng.choice([-1.0, 0.0, 0.0, 1.0]))
                action = int(rng.integers(0, 18))
                events.append(("add", make_frame(step, rng), action, reward, terminal, t == 0))
                step += 1
        events.append(("final", make_frame(step, rng)))
        step += 1
    return events[:num_writes]


@dataclass
class Record:
    """One transition as the reference replay stores it."""

    obs: np.ndarray
    action: int
    reward: float
    terminal: bool
    next_obs: np.ndarray | None = None


@dataclass
class ReferenceReplay:
    """Stores full stacks per transition, indexed by global write number."""

    capacity: int
    records: dict[int, Record | None] = field(default_factory=dict)
    stack: deque = field(default_factory=lambda: deque(maxlen=STACK))
    total: int = 0  # slots written
    pending: int | None = None  # write number of the transition awaiting its next frame

    def apply(self, event: tuple) -> None:
        """Record one event of ``random_stream``."""
        frame = event[1]
        if self.pending is not None:
            nxt = list(self.stack)[1:] + [frame]
            self.records[self.pending].next_obs = np.stack(nxt)
            self.pending = None
        if event[0] == "add":
            _, _, action, reward, terminal, episode_start = event
            if episode_start:
                self.stack.clear()
                self.stack.extend([np.zeros(SHAPE, np.uint8)] * (STACK - 1))
            self.stack.append(frame)
            self.records[self.total] = Record(np.stack(self.stack), action, reward, terminal)
            self.pending = self.total
        else:
            self.records[self.total] = None
        self.total += 1

    def write_number(self, slot: int) -> int:
        """Global write number of the data now in ``slot``."""
        return slot + self.capacity * ((self.total - 1 - slot) // self.capacity)

    def valid_write_numbers(self) -> set[int]:
        """Dopamine's rule: next frame written, history not overwritten."""
        lo = max(0, self.total - self.capacity)
        if self.total > self.capacity:
            lo += STACK - 1
        return {g for g in range(lo, self.total - 1) if self.records[g] is not None}

    def num_transitions(self) -> int:
        """Complete transitions among the live slots."""
        lo = max(0, self.total - self.capacity)
        return sum(self.records[g] is not None for g in range(lo, self.total - 1))


def apply_event(replay: UniformReplay, event: tuple) -> None:
    """Feed one ``random_stream`` event to a replay."""
    if event[0] == "add":
        _, frame, action, reward, terminal, episode_start = event
        replay.add(frame, action, reward, terminal, episode_start)
    else:
        replay.add_final(event[1])


def check_batch(batch, ref: ReferenceReplay, capacity: int) -> None:
    """Every sampled item equals the reference transition of its slot."""
    assert batch.frames.dtype == np.uint8 and batch.frames.shape[1:] == (STACK + 1, *SHAPE)
    assert batch.actions.dtype == np.int64 and batch.indices.dtype == np.int64
    assert batch.rewards.dtype == np.float32 and batch.terminals.dtype == np.float32
    valid = ref.valid_write_numbers()
    for b, slot in enumerate(batch.indices.tolist()):
        g = ref.write_number(slot)
        assert g in valid, f"slot {slot} (write {g}) is not a valid transition"
        rec = ref.records[g]
        np.testing.assert_array_equal(batch.obs[b], rec.obs)
        np.testing.assert_array_equal(batch.next_obs[b], rec.next_obs)
        assert batch.actions[b] == rec.action
        assert batch.rewards[b] == rec.reward
        assert batch.terminals[b] == float(rec.terminal)
        # the window never straddles the write head: all 5 frames are live, in order
        if ref.total > capacity:
            assert g - (STACK - 1) >= ref.total - capacity
        assert g + 1 <= ref.total - 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_samples_match_reference_stacks(seed: int) -> None:
    capacity = 50  # slots: wraps ~20 times over the stream
    replay = UniformReplay(capacity, seed=seed)
    ref = ReferenceReplay(capacity)
    for n, event in enumerate(random_stream(seed, 1_000)):
        apply_event(replay, event)
        ref.apply(event)
        assert len(replay) == ref.num_transitions()
        if n % 3 == 0 and len(replay) >= 1:
            expected_valid = {g % capacity for g in ref.valid_write_numbers()}
            assert set(replay.valid_indices().tolist()) == expected_valid
            if expected_valid:
                check_batch(replay.sample(min(16, len(replay))), ref, capacity)


def test_zero_fill_inside_short_episodes() -> None:
    """Hand-built: life loss after 2 steps; the next stack holds only the new episode."""
    replay = UniformReplay(20)
    frames = [np.full(SHAPE, v, np.uint8) for v in range(1, 8)]
    replay.add(frames[0], 1, 0.0, False, True)
    replay.add(frames[1], 2, 1.0, True, False)  # life lost
    replay.add(frames[2], 3, 0.0, False, True)  # the game goes on: new learning episode
    replay.add(frames[3], 4, 0.0, False, False)
    replay.add(frames[4], 5, 0.0, True, False)  # game over
    replay.add_final(frames[5])
    assert len(replay) == 5
    batches = [replay.sample(5) for _ in range(40)]
    frames = np.concatenate([x.frames for x in batches])
    terminals = np.concatenate([x.terminals for x in batches])
    indices = np.concatenate([x.indices for x in batches])
    by_slot = {int(i): b for b, i in enumerate(indices)}
    assert set(by_slot) == {0, 1, 2, 3, 4}

    def values(stack: np.ndarray) -> list[int]:
        return [int(f[0, 0]) for f in stack]

    batch = type(batches[0])(frames, indices, terminals, terminals, indices)
    b = by_slot[1]  # terminal transition: next_obs ends with the new episode's first frame
    assert values(batch.obs[b]) == [0, 0, 1, 2]
    assert values(batch.next_obs[b]) == [0, 1, 2, 3]
    assert batch.terminals[b] == 1.0
    b = by_slot[2]
    assert values(batch.obs[b]) == [0, 0, 0, 3]
    assert values(batch.next_obs[b]) == [0, 0, 3, 4]
    b = by_slot[4]  # game over: next_obs ends with the final frame
    assert values(batch.obs[b]) == [0, 3, 4, 5]
    assert values(batch.next_obs[b]) == [3, 4, 5, 6]
    assert batch.terminals[b] == 1.0


def test_nothing_before_the_first_slot_enters_a_stack() -> None:
    """A replay started mid-episode (episode_start=False), full but not yet wrapped."""
    capacity = 10
    replay = UniformReplay(capacity)
    for step in range(capacity):
        replay.add(np.full(SHAPE, step + 1, np.uint8), 0, 0.0, False, False)
    assert set(replay.valid_indices().tolist()) == set(range(capacity - 1))
    batches = [replay.sample(9) for _ in range(30)]
    seen = set()
    for batch in batches:
        for b, slot in enumerate(batch.indices.tolist()):
            expected = [max(v, 0) for v in range(slot - 2, slot + 3)]  # frame value slot+1
            assert [int(f[0, 0]) for f in batch.frames[b]] == expected
            seen.add(slot)
    assert seen == set(range(capacity - 1))


def test_sampling_is_uniform_over_valid_indices() -> None:
    capacity = 60
    replay = UniformReplay(capacity, seed=123)
    for event in random_stream(7, 217):  # wrapped, head mid-buffer
        apply_event(replay, event)
    valid = replay.valid_indices()
    assert 20 < valid.size < capacity
    draws = np.concatenate([replay.sample(50).indices for _ in range(2_000)])  # 100,000
    counts = np.bincount(draws, minlength=capacity)
    invalid = np.setdiff1d(np.arange(capacity), valid)
    assert counts[invalid].sum() == 0
    expected = draws.size / valid.size
    chi2 = float((((counts[valid] - expected) ** 2) / expected).sum())
    dof = valid.size - 1
    assert chi2 < dof + 8 * np.sqrt(2 * dof), (chi2, dof)  # p < 1e-8 for a uniform sampler


def test_invalid_range_around_write_head() -> None:
    capacity = 30
    replay = UniformReplay(capacity)
    for step in range(100):  # one long episode, wrapped; head at slot 100 % 30 = 10
        replay.add(make_frame(step, np.random.default_rng(step)), 0, 0.0, False, step == 0)
    valid = set(replay.valid_indices().tolist())
    # newest slot 9 (no next frame) and the 3 oldest 10, 11, 12 (history overwritten)
    assert valid == set(range(capacity)) - {9, 10, 11, 12}
    assert len(replay) == capacity - 1


def test_sample_errors_are_actionable() -> None:
    replay = UniformReplay(100)
    with pytest.raises(ValueError, match="empty"):
        replay.sample(1)
    rng = np.random.default_rng(0)
    for step in range(11):
        replay.add(make_frame(step, rng), 0, 0.0, False, step == 0)
    assert len(replay) == 10
    with pytest.raises(
        ValueError,
        match=r"batch_size 64 > 10 transitions in the replay; lower "
        r"agent.batch_size or raise agent.learning_starts_agent_steps",
    ):
        replay.sample(64)


def test_add_contract_is_enforced() -> None:
    replay = UniformReplay(10)
    frame = np.zeros(SHAPE, np.uint8)
    with pytest.raises(ValueError, match="add_final"):
        replay.add_final(frame)
    replay.add(frame, 0, 0.0, True, True)
    with pytest.raises(ValueError, match="episode_start=True"):
        replay.add(frame, 0, 0.0, False, False)
    with pytest.raises(ValueError, match="uint8"):
        replay.add(np.zeros(SHAPE, np.float32), 0, 0.0, False, True)


def test_bytes_per_transition_at_one_million() -> None:
    capacity = 1_000_000
    replay = UniformReplay(capacity, check_memory=False)  # np.zeros is lazy: nothing committed
    per_transition = replay.nbytes / capacity
    assert per_transition == 84 * 84 + 1 + 4 + 1  # frame + action + reward + flags = 7,062 B
    assert per_transition <= 7_100


def test_memory_check_refuses_what_cannot_fit() -> None:
    with pytest.raises(InsufficientMemoryError) as info:
        UniformReplay(10**9)  # 7 TB
    message = str(info.value)
    assert isinstance(info.value, MemoryError)
    assert "replay.capacity" in message and "GB" in message and "replay.compress" in message


def _stream_into(replay: UniformReplay, events: list[tuple]) -> None:
    for event in events:
        apply_event(replay, event)


def _assert_same_batch(a, b) -> None:
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


def assert_same_state(original: UniformReplay, restored: UniformReplay) -> None:
    """The sampler and head 0 of ``restored`` hold exactly ``original``'s state."""
    assert original.state_dict()["rng_state"] == restored.state_dict()["rng_state"]
    for key, value in original.head(0).state_dict().items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, restored.head(0).state_dict()[key])
        else:
            assert value == restored.head(0).state_dict()[key], key


@pytest.mark.parametrize("copy_arrays", [True, False])
def test_state_dict_round_trip_is_exact(copy_arrays: bool) -> None:
    events = random_stream(3, 400)
    original = UniformReplay(50, seed=5)
    _stream_into(original, events[:300])
    original.sample(8)  # advance the sampling generator
    state = pickle.loads(pickle.dumps(original.state_dict()))  # as if saved to disk
    restored = UniformReplay(50, seed=999)
    restored.load_state_dict(state, copy=copy_arrays)
    assert_same_state(original, restored)
    assert len(restored) == len(original) and restored.num_added == original.num_added
    for _ in range(5):
        _assert_same_batch(original.sample(16), restored.sample(16))
    for event in events[300:]:
        apply_event(original, event)
        apply_event(restored, event)
    _assert_same_batch(original.sample(32), restored.sample(32))


def test_state_dict_copy_is_independent() -> None:
    events = random_stream(4, 120)
    original = UniformReplay(50)
    _stream_into(original, events[:100])
    restored = UniformReplay(50)
    restored.load_state_dict(copy.deepcopy(original.state_dict()))
    apply_event(original, events[100])
    assert restored.num_slots_written == 100 and original.num_slots_written == 101
    with pytest.raises(ValueError, match="does not match"):
        UniformReplay(60).load_state_dict(original.state_dict())
