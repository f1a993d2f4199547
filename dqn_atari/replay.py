"""Uniform experience replay storing one uint8 frame per transition (the Dopamine design).

Slot ``j`` of the circular buffer holds frame ``f_j`` and, when its ``has_transition`` flag
is set, the transition ``(a_j, r_j, terminal_j)`` taken at ``f_j``; its next frame is the
frame of slot ``j + 1``. Agent states (stacks of ``stack_frames`` frames) are rebuilt at
sample time from the ``stack_frames + 1`` frames ``f_{i-3} .. f_{i+1}``: ``obs`` is the
first four, ``next_obs`` the last four. A frame is zeroed when an ``episode_start`` lies
after it in the stack, so a stack never mixes two learning episodes; the start flag of
``f_{i+1}`` is ignored (after a life loss it is the true next frame of the terminal
transition).

Sequence of calls (see docs/CONTRACTS.md):
  * ``add(frame, action, reward, terminal, episode_start)`` for every agent step;
  * ``add_final(frame)`` after the last transition of a game that ended (game over or
    truncation): that frame only serves as the next frame of the last transition;
  * the ``add`` after a terminal transition or after ``add_final`` has ``episode_start=True``.

Memory at capacity 1,000,000 transitions: 7,056 + 1 + 4 + 1 = 7,062 bytes per transition.
``CompressedFrameReplay`` (replay_compressed.py) keeps the same interface and sampling with
lz4-compressed frames.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from dqn_atari.memory import ensure_fits

TERMINAL = np.uint8(1)  # flag bit: discount 0 after this transition
EPISODE_START = np.uint8(2)  # flag bit: this frame opens a learning episode (stack zero-filled)
HAS_TRANSITION = np.uint8(4)  # flag bit: the slot carries (action, reward, terminal)

_MAX_REJECTION_ROUNDS = 64  # redraw rounds before falling back to an explicit valid set


class ReplayBatch(NamedTuple):
    """A batch of ``B`` transitions; frames hold the ``stack_frames + 1`` frames of each."""

    frames: np.ndarray  # (B, stack_frames + 1, H, W) uint8
    actions: np.ndarray  # (B,) int64
    rewards: np.ndarray  # (B,) float32, as added (clipped by the caller)
    terminals: np.ndarray  # (B,) float32, 1.0 where the discount after the transition is 0
    indices: np.ndarray  # (B,) int64, the slots sampled

    @property
    def obs(self) -> np.ndarray:
        """(B, stack_frames, H, W) uint8: the states the actions were taken in."""
        return self.frames[:, :-1]

    @property
    def next_obs(self) -> np.ndarray:
        """(B, stack_frames, H, W) uint8: the states after the actions."""
        return self.frames[:, 1:]


def suggest_capacity(available_bytes: int, bytes_per_transition: float) -> int:
    """A round capacity (transitions) using at most ~80% of ``available_bytes`` bytes."""
    fit = int(0.8 * available_bytes / bytes_per_transition)
    if fit < 1_000:
        return max(fit, 0)
    step = 10 ** (len(str(fit)) - 1)
    return fit // step * step


def check_can_sample(stored: int, batch_size: int) -> None:
    """Refuse a batch that ``stored`` transitions cannot supply, naming the config fix."""
    if stored == 0:
        raise ValueError(
            "no transition to sample: the replay is empty; raise "
            "agent.learning_starts_agent_steps"
        )
    if batch_size > stored:
        raise ValueError(
            f"batch_size {batch_size} > {stored} transitions in the replay; lower "
            "agent.batch_size or raise agent.learning_starts_agent_steps"
        )


class FrameReplay:
    """Circular uint8 frame replay with uniform sampling over valid transitions.

    Arrays (private, preallocated at construction):
      frames  (capacity, H, W) uint8, actions (capacity,) uint8,
      rewards (capacity,) float32, flags (capacity,) uint8 (TERMINAL | EPISODE_START |
      HAS_TRANSITION bits).
    Counters: ``num_added`` counts ``add`` calls ever (transitions = agent steps), and
    ``num_slots_written`` counts ``add`` plus ``add_final`` calls ever (slots written).
    ``len(replay)`` is the number of complete transitions stored (a flagged slot whose
    next frame has been written).
    """

    def __init__(
        self,
        capacity: int,
        frame_shape: tuple[int, int] = (84, 84),
        stack_frames: int = 4,
        seed: int = 0,
        check_memory: bool = True,
    ) -> None:
        """Allocate a replay of ``capacity`` transitions (slots).

        Args:
          capacity: slots (= transitions, one frame each), at least ``stack_frames + 1``.
          frame_shape: (H, W) of one uint8 frame.
          stack_frames: frames per agent state.
          seed: seed of the sampling generator.
          check_memory: refuse (``InsufficientMemoryError``) a buffer that does not fit in RAM.
        """
        capacity = int(capacity)
        if capacity < stack_frames + 1:
            raise ValueError(
                f"replay.capacity={capacity} transitions is smaller than one sample window "
                f"({stack_frames + 1} frames)"
            )
        self.capacity = capacity
        self.frame_shape = tuple(int(x) for x in frame_shape)
        self.stack_frames = int(stack_frames)
        self._frame_bytes = int(np.prod(self.frame_shape))
        if check_memory:
            self._check_memory()
        self._init_frame_store()
        self._actions = np.zeros(capacity, dtype=np.uint8)
        self._rewards = np.zeros(capacity, dtype=np.float32)
        self._flags = np.zeros(capacity, dtype=np.uint8)
        # window offsets relative to the sampled slot i: i-3 .. i+1
        self._window_offsets = np.arange(-self.stack_frames + 1, 2, dtype=np.int64)
        self._rng = np.random.Generator(np.random.PCG64(seed))
        self._cursor = 0  # next slot to write
        self._num_slots_written = 0  # add + add_final calls ever
        self._num_added = 0  # add calls ever
        self._transition_slots = 0  # live slots with HAS_TRANSITION set
        self._expect_start = False  # the previous write was terminal or a final frame
        self._last_was_add = False  # add_final is only valid right after an add

    # ----------------------------------------------------------- frame storage hooks
    # FrameReplay keeps a plain uint8 array; CompressedFrameReplay overrides these.

    def _frame_store_bytes_needed(self) -> int:
        """Bytes the frame store will occupy once full (for the memory check)."""
        return self.capacity * self._frame_bytes

    def _init_frame_store(self) -> None:
        """Allocate the frame store (lazily committed by the OS)."""
        self._frames = np.zeros((self.capacity, *self.frame_shape), dtype=np.uint8)

    def _write_frame(self, slot: int, frame: np.ndarray) -> None:
        """Store ``frame`` in ``slot``."""
        self._frames[slot] = frame

    def _gather_frames(self, window: np.ndarray, zero: np.ndarray | None) -> np.ndarray:
        """Frames of the (B, W) slot ``window``, with positions where ``zero`` is True zeroed."""
        frames = np.take(self._frames, window, axis=0)  # one fancy index: (B, W, H, W) uint8
        if zero is not None:
            rows, cols = np.nonzero(zero)
            frames[rows, cols] = 0
        return frames

    def _frame_store_nbytes(self) -> int:
        """Bytes allocated for frames."""
        return self._frames.nbytes

    def _frame_store_state(self) -> dict[str, Any]:
        """The frame store's part of ``state_dict`` (arrays by reference)."""
        return {"frames": self._frames}

    def _load_frame_store_state(self, state: dict[str, Any], copy: bool) -> None:
        """Restore the frame store from ``state``."""
        self._frames = _restore_array(self._frames, state["frames"], "frames", copy)

    # ------------------------------------------------------------------ properties

    @property
    def nbytes(self) -> int:
        """Bytes allocated by the replay's arrays (frames, actions, rewards, flags)."""
        return (
            self._frame_store_nbytes()
            + self._actions.nbytes
            + self._rewards.nbytes
            + self._flags.nbytes
        )

    @property
    def num_added(self) -> int:
        """``add`` calls ever (transitions ever added = agent steps recorded)."""
        return self._num_added

    @property
    def num_slots_written(self) -> int:
        """``add`` plus ``add_final`` calls ever (slots ever written)."""
        return self._num_slots_written

    @property
    def num_filled(self) -> int:
        """Slots currently holding a frame."""
        return min(self._num_slots_written, self.capacity)

    def __len__(self) -> int:
        """Complete transitions stored: flagged slots whose next frame is written."""
        if self._num_slots_written == 0:
            return 0
        newest = (self._cursor - 1) % self.capacity
        pending = 1 if self._flags[newest] & HAS_TRANSITION else 0
        return self._transition_slots - pending

    # ---------------------------------------------------------------------- writing

    def _check_memory(self) -> None:
        per_slot = self._frame_store_bytes_needed() / self.capacity + 6
        needed = int(per_slot * self.capacity)

        def fix(available: int) -> str:
            fit = suggest_capacity(available, per_slot)
            return f"lower replay.capacity, e.g. replay.capacity={fit}, or set replay.compress=true"

        ensure_fits(needed, f"{type(self).__name__}(capacity={self.capacity})", fix)

    def _write(self, frame: np.ndarray, flags: int, action: int, reward: float) -> None:
        frame = np.asarray(frame)
        if frame.shape != self.frame_shape or frame.dtype != np.uint8:
            raise ValueError(
                f"frame must be uint8 of shape {self.frame_shape}, got {frame.dtype} {frame.shape}"
            )
        slot = self._cursor
        if self._num_slots_written >= self.capacity and self._flags[slot] & HAS_TRANSITION:
            self._transition_slots -= 1  # overwriting a live transition
        self._write_frame(slot, frame)
        self._actions[slot] = action
        self._rewards[slot] = reward
        self._flags[slot] = flags
        if flags & HAS_TRANSITION:
            self._transition_slots += 1
        self._cursor = (slot + 1) % self.capacity
        self._num_slots_written += 1

    def add(
        self,
        frame: np.ndarray,
        action: int,
        reward: float,
        terminal: bool,
        episode_start: bool,
    ) -> None:
        """Store the transition taken at ``frame``; its next frame is the next write.

        Args:
          frame: (H, W) uint8 observation at which ``action`` was taken.
          action: action index, 0..255.
          reward: the learning (clipped) reward of that action.
          terminal: discount 0 after this transition (life loss or game over).
          episode_start: ``frame`` opens a learning episode (its stack is zero-filled).
            Must be True after a terminal transition or a final frame.
        """
        if self._expect_start and not episode_start:
            raise ValueError(
                "add() after a terminal transition or add_final() must have episode_start=True"
            )
        if not 0 <= int(action) <= 255:
            raise ValueError(f"action {action} does not fit in uint8")
        flags = HAS_TRANSITION
        if terminal:
            flags |= TERMINAL
        if episode_start:
            flags |= EPISODE_START
        self._write(frame, int(flags), int(action), float(reward))
        self._num_added += 1
        self._expect_start = bool(terminal)
        self._last_was_add = True

    def add_final(self, frame: np.ndarray) -> None:
        """Store the frame after the last transition of a game (game over or truncation).

        It carries no transition; the next ``add`` must have ``episode_start=True``.
        """
        if not self._last_was_add:
            raise ValueError("add_final() must follow an add() (the game's last transition)")
        self._write(frame, 0, 0, 0.0)
        self._expect_start = True
        self._last_was_add = False

    # --------------------------------------------------------------------- sampling

    def _oldest_slot(self) -> int:
        return self._cursor if self._num_slots_written >= self.capacity else 0

    def _is_valid(self, idx: np.ndarray) -> np.ndarray:
        """Whether each slot in ``idx`` (within the filled range) can be sampled."""
        filled = self.num_filled
        ok = (self._flags[idx] & HAS_TRANSITION) != 0
        if self._num_slots_written >= self.capacity:
            pos = idx - self._cursor  # age position: 0 = oldest slot
            pos %= self.capacity
        else:
            pos = idx
        ok &= pos <= filled - 2  # the next frame (slot i+1) has been written
        if self._num_slots_written > self.capacity:
            # wrapped: the history i-3..i-1 must not reach slots overwritten by newer data
            ok &= pos >= self.stack_frames - 1
        return ok

    def valid_indices(self) -> np.ndarray:
        """All slots that can be sampled now, ascending (O(capacity): tests, diagnostics)."""
        idx = np.arange(self.num_filled, dtype=np.int64)
        return idx[self._is_valid(idx)]

    def _draw_positions(self, lo: int, span: int, n: int) -> np.ndarray:
        """``n`` age positions uniform on ``lo .. lo + span - 1`` (one float per draw)."""
        pos = self._rng.random(n)
        pos *= span
        pos = pos.astype(np.int64)
        np.minimum(pos, span - 1, out=pos)  # u * span can round up to span
        pos += lo
        return pos

    def _sample_indices(self, batch_size: int) -> np.ndarray:
        """``batch_size`` slots drawn uniformly (with replacement) from the valid ones.

        Age positions (0 = oldest slot) are drawn uniformly from the range the window
        rules allow: up to ``filled - 2`` (the next frame is written) and, once data has
        been overwritten, from ``stack_frames - 1`` (the history is intact). Slots without
        a transition (final frames) are redrawn, vectorised, until none is left.
        """
        filled = self.num_filled
        lo = self.stack_frames - 1 if self._num_slots_written > self.capacity else 0
        span = filled - 1 - lo
        oldest = self._oldest_slot()
        flags = self._flags
        idx = self._draw_positions(lo, max(span, 1), batch_size)
        if oldest:
            idx += oldest
            idx %= self.capacity
        redraw = np.flatnonzero((flags[idx] & HAS_TRANSITION) == 0) if span > 0 else None
        rounds = 0
        while redraw is None or redraw.size:
            if rounds == _MAX_REJECTION_ROUNDS or redraw is None:
                valid = self.valid_indices()
                if valid.size == 0:
                    raise ValueError(
                        f"no valid transition to sample among {len(self)} stored: the replay "
                        f"holds too few frames around its write head (capacity "
                        f"{self.capacity}); raise replay.capacity or "
                        "agent.learning_starts_agent_steps"
                    )
                if redraw is None:
                    redraw = np.arange(batch_size)
                idx[redraw] = valid[self._draw_positions(0, valid.size, redraw.size)]
                break
            new = self._draw_positions(lo, span, redraw.size)
            if oldest:
                new += oldest
                new %= self.capacity
            idx[redraw] = new
            redraw = redraw[(flags[new] & HAS_TRANSITION) == 0]
            rounds += 1
        return idx

    def _zero_mask(self, window: np.ndarray) -> np.ndarray | None:
        """(B, W) bool: frames to zero, those followed by an episode start within the stack.

        Position k (0 .. stack_frames-1) is zeroed when an episode start lies at a position
        in (k, stack_frames-1]. Before the buffer wraps, slot 0 counts as a start (nothing
        older exists). The last position (the next frame) is never zeroed. None when no
        frame of the batch needs zeroing (the common case).
        """
        s = self.stack_frames
        if s == 1:
            return None
        later = window[:, 1:s]
        starts = (self._flags[later] & EPISODE_START) != 0
        if self._num_slots_written <= self.capacity and window[:, s - 1].min() < s - 1:
            # not wrapped, and a stack reaches back before slot 0, the first frame stored
            starts |= later == 0
        if not starts.any():
            return None
        zero = np.zeros(window.shape, dtype=bool)
        zero[:, : s - 1] = np.logical_or.accumulate(starts[:, ::-1], axis=1)[:, ::-1]
        return zero

    def sample(self, batch_size: int) -> ReplayBatch:
        """Draw ``batch_size`` transitions uniformly (with replacement) from the valid ones.

        Raises ValueError when the replay holds fewer than ``batch_size`` transitions or
        none can be sampled.
        """
        check_can_sample(len(self), batch_size)
        idx = self._sample_indices(batch_size)
        window = idx[:, None] + self._window_offsets
        window %= self.capacity
        frames = self._gather_frames(window, self._zero_mask(window))
        flags = self._flags[idx]
        return ReplayBatch(
            frames=frames,
            actions=self._actions[idx].astype(np.int64),
            rewards=self._rewards[idx],
            terminals=(flags & TERMINAL).astype(np.float32),
            indices=idx,
        )

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly, arrays by reference (not copied).

        Serialize it before the next ``add``: the arrays are the replay's own.
        """
        state = {
            "kind": type(self).__name__,
            "capacity": self.capacity,
            "frame_shape": list(self.frame_shape),
            "stack_frames": self.stack_frames,
            "actions": self._actions,
            "rewards": self._rewards,
            "flags": self._flags,
            "cursor": self._cursor,
            "num_slots_written": self._num_slots_written,
            "num_added": self._num_added,
            "transition_slots": self._transition_slots,
            "expect_start": self._expect_start,
            "last_was_add": self._last_was_add,
            "rng_state": self._rng.bit_generator.state,
        }
        state.update(self._frame_store_state())
        return state

    def load_state_dict(self, state: dict[str, Any], copy: bool = True) -> None:
        """Restore from ``state_dict()``; the next ``sample`` equals the original's.

        Args:
          state: a ``state_dict()`` of a replay of the same kind, capacity and shapes.
          copy: copy the arrays into this replay's own; False adopts them when their dtype
            and shape match (saves a second copy of a large buffer when loading a checkpoint).
        """
        expected = (type(self).__name__, self.capacity, list(self.frame_shape), self.stack_frames)
        got = (
            state["kind"],
            int(state["capacity"]),
            [int(x) for x in state["frame_shape"]],
            int(state["stack_frames"]),
        )
        if got != expected:
            raise ValueError(
                f"replay state (kind, capacity, frame_shape, stack_frames) = {got} does not "
                f"match this replay {expected}"
            )
        self._actions = _restore_array(self._actions, state["actions"], "actions", copy)
        self._rewards = _restore_array(self._rewards, state["rewards"], "rewards", copy)
        self._flags = _restore_array(self._flags, state["flags"], "flags", copy)
        self._load_frame_store_state(state, copy)
        self._cursor = int(state["cursor"])
        self._num_slots_written = int(state["num_slots_written"])
        self._num_added = int(state["num_added"])
        self._transition_slots = int(state["transition_slots"])
        self._expect_start = bool(state["expect_start"])
        self._last_was_add = bool(state["last_was_add"])
        self._rng.bit_generator.state = state["rng_state"]


def _restore_array(own: np.ndarray, new: Any, name: str, copy: bool) -> np.ndarray:
    """``new`` checked against ``own``'s dtype and shape: copied into ``own``, or adopted."""
    new = np.asarray(new)
    if new.shape != own.shape or new.dtype != own.dtype:
        raise ValueError(
            f"replay state '{name}' is {new.dtype} {new.shape}, expected {own.dtype} {own.shape}"
        )
    if copy or not new.flags.c_contiguous or not new.flags.writeable:
        np.copyto(own, new)
        return own
    return new
