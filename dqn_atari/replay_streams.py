"""One replay for ``N`` parallel actors: ``N`` frame streams, sampled as one uniform replay.

``FrameReplay`` rebuilds an agent state from the frames of consecutive slots, so each
environment's frames must stay contiguous: ``MultiStreamReplay`` gives environment ``k``
its own circular ``FrameReplay`` (or ``CompressedFrameReplay``) stream of ``capacity / N``
slots, written through ``stream(k).add`` / ``stream(k).add_final`` exactly as the single
actor writes its replay (docs/CONTRACTS.md), and ``sample`` draws uniformly (with
replacement) over the valid transitions of ALL streams together:

* each stream contributes its candidate age positions (the range ``FrameReplay`` itself
  samples from: the next frame written and, once wrapped, the history intact);
* a draw is uniform over the concatenated candidates; a candidate without a transition
  (a game's final frame) is redrawn from scratch (stream included), so the accepted draws
  are uniform over the union of valid transitions;
* frames are gathered per stream with the stream's own windowing and zero-filling.

With the actors stepping in lockstep, the N streams of ``capacity / N`` slots hold the last
``capacity`` transitions in total, as one replay of ``capacity`` would (less ``stack_frames``
slots per stream at the wrap boundary). ``ReplayBatch.indices`` are global slot numbers:
``offset(k) + slot`` with ``offset(k)`` the capacities of the streams before ``k``.

Coupling: this class reads ``FrameReplay``'s sampling internals (``_flags``,
``_oldest_slot``, ``_zero_mask``, ``_gather_frames``); tests/test_replay_streams.py checks
it against a naive reference of full stacks, so a change there shows up as a test failure.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dqn_atari.memory import ensure_fits
from dqn_atari.replay import (
    HAS_TRANSITION,
    TERMINAL,
    FrameReplay,
    ReplayBatch,
    check_can_sample,
    suggest_capacity,
)

_MAX_REJECTION_ROUNDS = 64  # redraw rounds before falling back to an explicit valid set


class MultiStreamReplay:
    """``num_streams`` replay streams of ``capacity / num_streams`` slots, one per actor.

    Args:
      num_streams: parallel actors (``env.num_envs``).
      capacity: slots (transitions) in total; stream ``k`` gets ``capacity // N`` slots, plus
        one for the first ``capacity % N`` streams.
      frame_shape, stack_frames: as ``FrameReplay``.
      seed: seeds the sampler (the streams' own samplers are unused).
      check_memory: refuse (``InsufficientMemoryError``) a total that does not fit in RAM.
      stream_class: ``FrameReplay`` or ``CompressedFrameReplay``.
    """

    def __init__(
        self,
        num_streams: int,
        capacity: int,
        frame_shape: tuple[int, int] = (84, 84),
        stack_frames: int = 4,
        seed: int = 0,
        check_memory: bool = True,
        stream_class: type = FrameReplay,
    ) -> None:
        num_streams, capacity = int(num_streams), int(capacity)
        if num_streams < 1:
            raise ValueError(f"num_streams must be >= 1, got {num_streams}")
        base, extra = divmod(capacity, num_streams)
        if base < stack_frames + 1:
            raise ValueError(
                f"replay.capacity={capacity} split over env.num_envs={num_streams} streams leaves "
                f"{base} slots per stream, fewer than one sample window ({stack_frames + 1}); "
                "raise replay.capacity or lower env.num_envs"
            )
        self.num_streams = num_streams
        self.capacity = capacity
        self.frame_shape = tuple(int(x) for x in frame_shape)
        self.stack_frames = int(stack_frames)
        self.stream_class = stream_class
        seeds = np.random.SeedSequence([seed, 7]).generate_state(num_streams)
        self._streams = [
            stream_class(base + (k < extra), self.frame_shape, self.stack_frames,
                         seed=int(seeds[k]), check_memory=False)
            for k in range(num_streams)
        ]
        self._capacities = np.array([s.capacity for s in self._streams], dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(self._capacities)[:-1]]).astype(np.int64)
        if check_memory:
            self._check_memory()
        self._rng = np.random.Generator(np.random.PCG64(seed))
        self._window_offsets = np.arange(-self.stack_frames + 1, 2, dtype=np.int64)

    def _check_memory(self) -> None:
        needed = sum(s._frame_store_bytes_needed() + 6 * s.capacity for s in self._streams)
        per_slot = needed / self.capacity

        def fix(available: int) -> str:
            fit = suggest_capacity(available, per_slot)
            return f"lower replay.capacity, e.g. replay.capacity={fit}, or set replay.compress=true"

        ensure_fits(int(needed), f"{type(self).__name__}(num_streams={self.num_streams}, "
                    f"capacity={self.capacity})", fix)

    # ------------------------------------------------------------------ streams

    def stream(self, k: int):
        """The replay of actor ``k``: call its ``add`` and ``add_final``."""
        return self._streams[k]

    @property
    def streams(self) -> list:
        return list(self._streams)

    def add(self, *args, **kwargs) -> None:
        raise TypeError("MultiStreamReplay has one stream per actor: call replay.stream(k).add")

    def add_final(self, *args, **kwargs) -> None:
        raise TypeError(
            "MultiStreamReplay has one stream per actor: call replay.stream(k).add_final"
        )

    # --------------------------------------------------------------- properties

    def __len__(self) -> int:
        return sum(len(s) for s in self._streams)

    @property
    def num_added(self) -> int:
        return sum(s.num_added for s in self._streams)

    @property
    def num_slots_written(self) -> int:
        return sum(s.num_slots_written for s in self._streams)

    @property
    def num_filled(self) -> int:
        return sum(s.num_filled for s in self._streams)

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self._streams)

    # ----------------------------------------------------------------- sampling

    def _candidate_ranges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per stream: first candidate age position, number of candidates, oldest slot."""
        lo = np.zeros(self.num_streams, dtype=np.int64)
        span = np.zeros(self.num_streams, dtype=np.int64)
        oldest = np.zeros(self.num_streams, dtype=np.int64)
        for k, s in enumerate(self._streams):
            lo[k] = self.stack_frames - 1 if s.num_slots_written > s.capacity else 0
            span[k] = max(s.num_filled - 1 - lo[k], 0)
            oldest[k] = s._oldest_slot()
        return lo, span, oldest

    def valid_indices(self) -> np.ndarray:
        """All global slots that can be sampled now, ascending (O(capacity): tests)."""
        return np.concatenate(
            [off + s.valid_indices() for off, s in zip(self._offsets, self._streams)]
        )

    def _draw(self, n: int, cum: np.ndarray, span: np.ndarray, lo: np.ndarray,
              oldest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``n`` (stream, slot) pairs uniform over all candidate positions.

        Candidates are numbered 0 .. cum[-1]-1, stream after stream; one float per draw.
        """
        total = int(cum[-1])
        u = self._rng.random(n)
        u *= total
        g = u.astype(np.int64)
        np.minimum(g, total - 1, out=g)  # u * total can round up to total
        k = np.searchsorted(cum, g, side="right")  # first stream whose candidates end after g
        pos = g - (cum[k] - span[k]) + lo[k]  # age position within stream k
        slot = (oldest[k] + pos) % self._capacities[k]
        return k, slot

    def _has_transition(self, k: np.ndarray, slot: np.ndarray) -> np.ndarray:
        flags = np.empty(k.shape, dtype=np.uint8)
        for j, s in enumerate(self._streams):
            sel = k == j
            flags[sel] = s._flags[slot[sel]]
        return (flags & HAS_TRANSITION) != 0

    def _sample_pairs(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        lo, span, oldest = self._candidate_ranges()
        cum = np.cumsum(span)
        if cum[-1] > 0:
            k, slot = self._draw(batch_size, cum, span, lo, oldest)
            redraw = np.flatnonzero(~self._has_transition(k, slot))
            for _ in range(_MAX_REJECTION_ROUNDS):
                if redraw.size == 0:
                    return k, slot
                nk, ns = self._draw(redraw.size, cum, span, lo, oldest)
                k[redraw], slot[redraw] = nk, ns
                redraw = redraw[~self._has_transition(nk, ns)]
            if redraw.size == 0:
                return k, slot
        else:
            k = np.zeros(batch_size, dtype=np.int64)
            slot = np.zeros(batch_size, dtype=np.int64)
            redraw = np.arange(batch_size)
        valid = self.valid_indices()
        if valid.size == 0:
            raise ValueError(
                f"no valid transition to sample among {len(self)} stored in "
                f"{self.num_streams} streams; raise replay.capacity or "
                "agent.learning_starts_agent_steps"
            )
        pick = valid[self._rng.integers(0, valid.size, redraw.size)]
        stream_of = np.searchsorted(self._offsets, pick, side="right") - 1
        k[redraw] = stream_of
        slot[redraw] = pick - self._offsets[stream_of]
        return k, slot

    def sample(self, batch_size: int) -> ReplayBatch:
        """``batch_size`` transitions uniform (with replacement) over all streams' valid ones."""
        check_can_sample(len(self), batch_size)
        k, slot = self._sample_pairs(batch_size)
        # Grouped by stream (the draws are i.i.d., so their order in the batch carries
        # nothing): each stream gathers straight into its slice of the output.
        order = np.argsort(k, kind="stable")
        k, slot = k[order], slot[order]
        bounds = np.concatenate([[0], np.cumsum(np.bincount(k, minlength=self.num_streams))])
        window_len = self.stack_frames + 1
        frames = np.empty((batch_size, window_len, *self.frame_shape), dtype=np.uint8)
        actions = np.empty(batch_size, dtype=np.int64)
        rewards = np.empty(batch_size, dtype=np.float32)
        terminals = np.empty(batch_size, dtype=np.float32)
        for j, s in enumerate(self._streams):
            a, b = int(bounds[j]), int(bounds[j + 1])
            if a == b:
                continue
            idx = slot[a:b]
            window = idx[:, None] + self._window_offsets
            window %= s.capacity
            zero = s._zero_mask(window)
            if type(s) is FrameReplay:  # plain frames: no intermediate copy
                out = frames[a:b]
                np.take(s._frames, window, axis=0, out=out, mode="clip")  # in range; unbuffered
                if zero is not None:
                    rows, cols = np.nonzero(zero)
                    out[rows, cols] = 0
            else:
                frames[a:b] = s._gather_frames(window, zero)
            actions[a:b] = s._actions[idx]
            rewards[a:b] = s._rewards[idx]
            terminals[a:b] = s._flags[idx] & TERMINAL
        return ReplayBatch(frames=frames, actions=actions, rewards=rewards,
                           terminals=terminals, indices=self._offsets[k] + slot)

    # -------------------------------------------------------------- checkpoints

    def state_dict(self) -> dict[str, Any]:
        """The streams' states (arrays by reference) and the sampler's."""
        return {
            "kind": f"{type(self).__name__}",
            "num_streams": self.num_streams,
            "capacity": self.capacity,
            "streams": [s.state_dict() for s in self._streams],
            "rng_state": self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any], copy: bool = True) -> None:
        """Restore from ``state_dict()``; refuses another number of streams or capacity."""
        got = (state.get("kind"), state.get("num_streams"), state.get("capacity"))
        expected = (type(self).__name__, self.num_streams, self.capacity)
        if got != expected:
            raise ValueError(
                f"replay state (kind, num_streams = env.num_envs, capacity) = {got} does not "
                f"match this replay {expected}: resume with the env.num_envs and "
                "replay.capacity the run was started with"
            )
        for s, st in zip(self._streams, state["streams"], strict=True):
            s.load_state_dict(st, copy=copy)
        self._rng.bit_generator.state = state["rng_state"]
