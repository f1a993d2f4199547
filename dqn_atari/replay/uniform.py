"""The replay: ``N`` write heads, one per actor, sampled as one uniform replay.

A write head (``write_head.py``) rebuilds an agent state from the frames of consecutive
slots, so each actor's frames must stay contiguous: actor ``k`` writes its own head of
``capacity / N`` slots, and ``sample`` draws uniformly (with replacement) over the valid
transitions of ALL heads together:

* each head contributes its candidate age positions (``WriteHead.candidates``: the next
  frame written and, once wrapped, the history intact);
* a draw is uniform over the concatenated candidates (one float per draw); a candidate
  without a transition (a game's final frame) is redrawn from scratch, head included, so
  the accepted draws are uniform over the union of valid transitions; after 64 rounds of
  redraws the rest are drawn from the explicit list of valid slots;
* frames are gathered per head, with the head's own windowing and zero-filling, straight
  into the batch (grouped by head: the draws are i.i.d., so their order carries nothing).

With one actor this is the classic replay of ``capacity`` transitions. With the actors
stepping in lockstep, the N heads of ``capacity / N`` slots hold the last ``capacity``
transitions in total, as one replay of ``capacity`` would (less ``stack_frames`` slots
per head at the wrap boundary). ``ReplayBatch.indices`` are global slot numbers:
``offset(k) + slot`` with ``offset(k)`` the capacities of the heads before ``k``.

Memory at capacity 1,000,000 with the array store: 7,056 + 1 + 4 + 1 = 7,062 bytes per
transition; with lz4 (``replay.compress=true``) about the compressed frame size plus 18.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dqn_atari.ram import ensure_fits
from dqn_atari.replay.batch import ReplayBatch, check_can_sample, suggest_capacity
from dqn_atari.replay.frame_store import LEGACY_STORE_NAMES, frame_store_class
from dqn_atari.replay.write_head import WriteHead

MAX_REJECTION_ROUNDS = 64  # redraw rounds before drawing from the explicit valid set
_PER_SLOT_BYTES = 1 + 4 + 1  # action uint8 + reward float32 + flags uint8


def check_actor_split(capacity: int, num_heads: int, stack_frames: int) -> None:
    """Refuse a replay whose smallest head cannot hold one sample window.

    Each of the ``num_heads`` actors (``env.num_envs``) writes its own head of ``capacity //
    num_heads`` slots, and a head must hold one agent state and the next frame
    (``stack_frames + 1`` slots): so at most ``capacity // (stack_frames + 1)`` actors.
    """
    window = stack_frames + 1
    base = capacity // num_heads
    if base >= window:
        return
    if num_heads == 1:
        raise ValueError(
            f"replay.capacity={capacity} transitions is smaller than one sample window "
            f"({window} frames: env.stack_frames + 1); use replay.capacity={window} or more")
    most = max(1, capacity // window)
    raise ValueError(
        f"env.num_envs={num_heads}: replay.capacity={capacity} split over {num_heads} actors "
        f"leaves {base} slots per actor, fewer than one sample window ({window} frames: "
        f"env.stack_frames + 1); use env.num_envs={most} or fewer, or raise replay.capacity "
        f"to at least {num_heads * window}")


class UniformReplay:
    """``num_heads`` write heads of ``capacity / num_heads`` slots, sampled uniformly.

    Args:
      capacity: slots (transitions) in total; head ``k`` gets ``capacity // N`` slots, plus
        one for the first ``capacity % N`` heads.
      num_heads: actors writing it (``env.num_envs``).
      frame_shape, stack_frames: of one frame, and frames per agent state.
      frame_store: "array" (plain uint8) or "lz4" (``replay.compress=true``).
      seed: seeds the sampler.
      check_memory: refuse (``InsufficientMemoryError``) a replay that does not fit in RAM.
    """

    def __init__(self, capacity: int, num_heads: int = 1, frame_shape: tuple[int, int] = (84, 84),
                 stack_frames: int = 4, frame_store: str = "array", seed: int = 0,
                 check_memory: bool = True) -> None:
        num_heads, capacity = int(num_heads), int(capacity)
        if num_heads < 1:
            raise ValueError(f"num_heads must be >= 1, got {num_heads}")
        check_actor_split(capacity, num_heads, stack_frames)
        base, extra = divmod(capacity, num_heads)
        self.capacity = capacity
        self.num_heads = num_heads
        self.frame_shape = tuple(int(x) for x in frame_shape)
        self.stack_frames = int(stack_frames)
        self.frame_store = frame_store
        capacities = [base + (k < extra) for k in range(num_heads)]
        if check_memory:
            self._check_memory(frame_store)
        self._heads = [WriteHead(c, self.frame_shape, self.stack_frames, frame_store,
                                 check_memory=check_memory) for c in capacities]
        self._capacities = np.array(capacities, dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(self._capacities)[:-1]]).astype(np.int64)
        self._rng = np.random.Generator(np.random.PCG64(seed))

    def _check_memory(self, frame_store: str) -> None:
        per_slot = frame_store_class(frame_store).bytes_needed_per_slot(self.frame_shape)
        per_slot += _PER_SLOT_BYTES

        def fix(available: int) -> str:
            fit = suggest_capacity(available, per_slot)
            return f"lower replay.capacity, e.g. replay.capacity={fit}, or set replay.compress=true"

        what = f"the replay (capacity={self.capacity}, {frame_store} frames"
        what += f", {self.num_heads} actors)" if self.num_heads > 1 else ")"
        ensure_fits(int(per_slot * self.capacity), what, fix)

    # ------------------------------------------------------------------ writing

    def head(self, k: int) -> WriteHead:
        """The write head of actor ``k``: its ``add`` and ``add_final``."""
        return self._heads[k]

    @property
    def heads(self) -> list[WriteHead]:
        return list(self._heads)

    @property
    def offsets(self) -> np.ndarray:
        """The global slot number of each head's slot 0 (``ReplayBatch.indices`` are global)."""
        return self._offsets.copy()

    def add(self, frame: np.ndarray, action: int, reward: float, terminal: bool,
            episode_start: bool) -> None:
        """``head(0).add``: only for a replay with one head (one actor)."""
        self._only_head("add").add(frame, action, reward, terminal, episode_start)

    def add_final(self, frame: np.ndarray) -> None:
        """``head(0).add_final``: only for a replay with one head (one actor)."""
        self._only_head("add_final").add_final(frame)

    def _only_head(self, method: str) -> WriteHead:
        if self.num_heads != 1:
            raise TypeError(f"this replay has one write head per actor ({self.num_heads}): "
                            f"call replay.head(k).{method}")
        return self._heads[0]

    # --------------------------------------------------------------- counters

    def __len__(self) -> int:
        """Complete transitions stored, all heads."""
        return sum(len(h) for h in self._heads)

    @property
    def num_added(self) -> int:
        """``add`` calls ever, all heads (transitions = agent steps)."""
        return sum(h.num_added for h in self._heads)

    @property
    def num_slots_written(self) -> int:
        return sum(h.num_slots_written for h in self._heads)

    @property
    def num_filled(self) -> int:
        return sum(h.num_filled for h in self._heads)

    @property
    def nbytes(self) -> int:
        """Bytes allocated, all heads."""
        return sum(h.nbytes for h in self._heads)

    # ----------------------------------------------------------------- sampling

    def valid_indices(self) -> np.ndarray:
        """All global slots that can be sampled now, ascending (O(capacity): tests)."""
        return np.concatenate(
            [off + h.valid_indices() for off, h in zip(self._offsets, self._heads, strict=True)]
        )

    def _draw(self, n: int, cum: np.ndarray, span: np.ndarray, lo: np.ndarray,
              oldest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``n`` (head, slot) pairs uniform over all candidate positions.

        Candidates are numbered 0 .. cum[-1]-1, head after head; one float per draw.
        """
        total = int(cum[-1])
        u = self._rng.random(n)
        u *= total
        g = u.astype(np.int64)
        np.minimum(g, total - 1, out=g)  # u * total can round up to total
        k = np.searchsorted(cum, g, side="right")  # first head whose candidates end after g
        pos = g - (cum[k] - span[k]) + lo[k]  # age position within head k
        slot = (oldest[k] + pos) % self._capacities[k]
        return k, slot

    def _has_transition(self, k: np.ndarray, slot: np.ndarray) -> np.ndarray:
        if self.num_heads == 1:
            return self._heads[0].has_transition(slot)
        ok = np.empty(k.shape, dtype=bool)
        for j, h in enumerate(self._heads):
            sel = k == j
            ok[sel] = h.has_transition(slot[sel])
        return ok

    def _sample_pairs(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        ranges = np.array([h.candidates() for h in self._heads], dtype=np.int64)
        lo, span, oldest = ranges[:, 0], ranges[:, 1], ranges[:, 2]
        cum = np.cumsum(span)
        if cum[-1] > 0:
            k, slot = self._draw(batch_size, cum, span, lo, oldest)
            redraw = np.flatnonzero(~self._has_transition(k, slot))
            for _ in range(MAX_REJECTION_ROUNDS):
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
                f"no valid transition to sample among {len(self)} stored: the replay holds too "
                f"few frames around its write heads (capacity {self.capacity}); raise "
                "replay.capacity or agent.learning_starts_agent_steps"
            )
        u = self._rng.random(redraw.size)  # one float per draw, as above
        u *= valid.size
        pick = valid[np.minimum(u.astype(np.int64), valid.size - 1)]
        head_of = np.searchsorted(self._offsets, pick, side="right") - 1
        k[redraw] = head_of
        slot[redraw] = pick - self._offsets[head_of]
        return k, slot

    def sample(self, batch_size: int) -> ReplayBatch:
        """``batch_size`` transitions uniform (with replacement) over all heads' valid ones.

        Raises ValueError when the replay holds fewer than ``batch_size`` transitions or
        none can be sampled.
        """
        check_can_sample(len(self), batch_size)
        k, slot = self._sample_pairs(batch_size)
        frames = np.empty((batch_size, self.stack_frames + 1, *self.frame_shape), dtype=np.uint8)
        if self.num_heads == 1:
            actions, rewards, terminals = self._heads[0].gather(slot, frames)
            return ReplayBatch(frames, actions, rewards, terminals, slot)
        order = np.argsort(k, kind="stable")
        k, slot = k[order], slot[order]
        bounds = np.concatenate([[0], np.cumsum(np.bincount(k, minlength=self.num_heads))])
        actions = np.empty(batch_size, dtype=np.int64)
        rewards = np.empty(batch_size, dtype=np.float32)
        terminals = np.empty(batch_size, dtype=np.float32)
        for j, h in enumerate(self._heads):
            a, b = int(bounds[j]), int(bounds[j + 1])
            if a < b:
                actions[a:b], rewards[a:b], terminals[a:b] = h.gather(slot[a:b], frames[a:b])
        return ReplayBatch(frames, actions, rewards, terminals, self._offsets[k] + slot)

    # -------------------------------------------------------------- checkpoints

    def state_dict(self) -> dict[str, Any]:
        """The heads' states (arrays by reference) and the sampler's."""
        return {
            "kind": "UniformReplay",
            "capacity": self.capacity,
            "num_heads": self.num_heads,
            "frame_store": self.frame_store,
            "heads": [h.state_dict() for h in self._heads],
            "rng_state": self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any], copy: bool = True) -> None:
        """Restore from ``state_dict()``; the next ``sample`` equals the original's.

        Also reads the replays of checkpoints written before ``replay/`` existed
        (``FrameReplay``, ``CompressedFrameReplay``, ``MultiStreamReplay``). Refuses another
        number of heads, capacity or frame store, naming the setting to resume with.
        """
        state = _from_legacy(state)
        got = (state["num_heads"], state["capacity"], state["frame_store"])
        expected = (self.num_heads, self.capacity, self.frame_store)
        if got != expected:
            raise ValueError(
                f"replay state (env.num_envs, replay.capacity, frame store) = {got} does not "
                f"match this replay {expected}: resume with the env.num_envs, replay.capacity "
                "and replay.compress the run was started with"
            )
        for h, st in zip(self._heads, state["heads"], strict=True):
            h.load_state_dict(st, copy=copy)
        self._rng.bit_generator.state = state["rng_state"]


def _from_legacy(state: dict[str, Any]) -> dict[str, Any]:
    """A replay state of a checkpoint written before replay/ existed, in today's layout.

    ``FrameReplay``/``CompressedFrameReplay`` (one actor) carried their sampler in the
    stream; ``MultiStreamReplay`` held per-stream states (their samplers unused).
    """
    kind = state.get("kind")
    if kind in LEGACY_STORE_NAMES:
        return {"num_heads": 1, "capacity": int(state["capacity"]),
                "frame_store": LEGACY_STORE_NAMES[kind], "heads": [state],
                "rng_state": state["rng_state"]}
    if kind == "MultiStreamReplay":
        streams = state["streams"]
        return {"num_heads": int(state["num_streams"]), "capacity": int(state["capacity"]),
                "frame_store": LEGACY_STORE_NAMES[streams[0]["kind"]], "heads": streams,
                "rng_state": state["rng_state"]}
    return state
