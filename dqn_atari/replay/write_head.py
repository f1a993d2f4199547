"""One actor's circular segment of the replay: the slots it writes, one frame per slot.

Slot ``j`` holds frame ``f_j`` and, when its ``HAS_TRANSITION`` flag is set, the transition
``(a_j, r_j, terminal_j)`` taken at ``f_j``; its next frame is the frame of slot ``j + 1``.
Agent states (stacks of ``stack_frames`` frames) are rebuilt at sample time from the
``stack_frames + 1`` frames ``f_{i-3} .. f_{i+1}``: ``obs`` is the first four, ``next_obs``
the last four (the Dopamine design: 7,062 bytes per transition with the array store). A
frame is zeroed when an ``episode_start`` lies after it in the stack, so a stack never
mixes two learning episodes; the start flag of ``f_{i+1}`` is ignored (after a life loss
it is the true next frame of the terminal transition).

Sequence of calls (docs/CONTRACTS.md), by the actor that owns the head:
  * ``add(frame, action, reward, terminal, episode_start)`` for every agent step;
  * ``add_final(frame)`` after the last transition of a game that ended (game over or
    truncation): that frame only serves as the next frame of the last transition;
  * the ``add`` after a terminal transition or after ``add_final`` has ``episode_start=True``.

Sampling is the replay's (``uniform.py``): it asks each head for its candidate age
positions (``candidates``), checks draws with ``has_transition`` and fills the batch with
``gather``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dqn_atari.replay.frame_store import (
    LEGACY_STORE_NAMES,
    frame_store_class,
    restore_array,
)

TERMINAL = np.uint8(1)  # flag bit: discount 0 after this transition
EPISODE_START = np.uint8(2)  # flag bit: this frame opens a learning episode (stack zero-filled)
HAS_TRANSITION = np.uint8(4)  # flag bit: the slot carries (action, reward, terminal)


class WriteHead:
    """A circular segment of ``capacity`` slots written by one actor.

    Arrays (preallocated): frames (the frame store), actions (capacity,) uint8,
    rewards (capacity,) float32, flags (capacity,) uint8 (TERMINAL | EPISODE_START |
    HAS_TRANSITION bits).
    Counters: ``num_added`` counts ``add`` calls ever (transitions = agent steps), and
    ``num_slots_written`` counts ``add`` plus ``add_final`` calls ever (slots written).
    ``len(head)`` is the number of complete transitions stored (a flagged slot whose
    next frame has been written).

    Args:
      capacity: slots (one frame each), at least ``stack_frames + 1``.
      frame_shape: (H, W) of one uint8 frame.
      stack_frames: frames per agent state.
      frame_store: "array" or "lz4" (``frame_store.py``).
      check_memory: a growing frame store (lz4) refuses a growth that does not fit in RAM.
    """

    def __init__(self, capacity: int, frame_shape: tuple[int, int] = (84, 84),
                 stack_frames: int = 4, frame_store: str = "array",
                 check_memory: bool = False) -> None:
        capacity = int(capacity)
        if capacity < stack_frames + 1:
            raise ValueError(
                f"replay.capacity={capacity} transitions is smaller than one sample window "
                f"({stack_frames + 1} frames)"
            )
        self.capacity = capacity
        self.frame_shape = tuple(int(x) for x in frame_shape)
        self.stack_frames = int(stack_frames)
        self.frames = frame_store_class(frame_store)(capacity, self.frame_shape, check_memory)
        self.actions = np.zeros(capacity, dtype=np.uint8)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.flags = np.zeros(capacity, dtype=np.uint8)
        # window offsets relative to the sampled slot i: i-3 .. i+1
        self.window_offsets = np.arange(-self.stack_frames + 1, 2, dtype=np.int64)
        self._cursor = 0  # next slot to write
        self._num_slots_written = 0  # add + add_final calls ever
        self._num_added = 0  # add calls ever
        self._transition_slots = 0  # live slots with HAS_TRANSITION set
        self._expect_start = False  # the previous write was terminal or a final frame
        self._last_was_add = False  # add_final is only valid right after an add

    # ------------------------------------------------------------------ counters

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

    @property
    def wrapped(self) -> bool:
        """Whether slots are being overwritten (every slot has been written once)."""
        return self._num_slots_written >= self.capacity

    @property
    def nbytes(self) -> int:
        """Bytes allocated by the head's arrays (frames, actions, rewards, flags)."""
        return self.frames.nbytes + self.actions.nbytes + self.rewards.nbytes + self.flags.nbytes

    def __len__(self) -> int:
        """Complete transitions stored: flagged slots whose next frame is written."""
        if self._num_slots_written == 0:
            return 0
        newest = (self._cursor - 1) % self.capacity
        pending = 1 if self.flags[newest] & HAS_TRANSITION else 0
        return self._transition_slots - pending

    # ---------------------------------------------------------------------- writing

    def _write(self, frame: np.ndarray, flags: int, action: int, reward: float) -> None:
        frame = np.asarray(frame)
        if frame.shape != self.frame_shape or frame.dtype != np.uint8:
            raise ValueError(
                f"frame must be uint8 of shape {self.frame_shape}, got {frame.dtype} {frame.shape}"
            )
        slot = self._cursor
        if self.wrapped and self.flags[slot] & HAS_TRANSITION:
            self._transition_slots -= 1  # overwriting a live transition
        self.frames.write(slot, frame, self.wrapped)
        self.actions[slot] = action
        self.rewards[slot] = reward
        self.flags[slot] = flags
        if flags & HAS_TRANSITION:
            self._transition_slots += 1
        self._cursor = (slot + 1) % self.capacity
        self._num_slots_written += 1

    def add(self, frame: np.ndarray, action: int, reward: float, terminal: bool,
            episode_start: bool) -> None:
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

    def candidates(self) -> tuple[int, int, int]:
        """``(lo, span, oldest)``: the age positions ``lo .. lo + span - 1`` a draw may take.

        Age position 0 is the oldest slot (slot ``oldest``). A candidate's next frame has
        been written (position at most ``filled - 2``) and, once data has been overwritten,
        its history is intact (position at least ``stack_frames - 1``). Candidates without a
        transition (final frames) are left to the sampler to redraw.
        """
        lo = self.stack_frames - 1 if self._num_slots_written > self.capacity else 0
        span = max(self.num_filled - 1 - lo, 0)
        oldest = self._cursor if self.wrapped else 0
        return lo, span, oldest

    def has_transition(self, slots: np.ndarray) -> np.ndarray:
        """Whether each slot carries a transition."""
        return (self.flags[slots] & HAS_TRANSITION) != 0

    def _is_valid(self, idx: np.ndarray) -> np.ndarray:
        """Whether each slot in ``idx`` (within the filled range) can be sampled."""
        filled = self.num_filled
        ok = self.has_transition(idx)
        if self.wrapped:
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
        """All slots that can be sampled now, ascending (O(capacity): tests, fallback)."""
        idx = np.arange(self.num_filled, dtype=np.int64)
        return idx[self._is_valid(idx)]

    def zero_mask(self, window: np.ndarray) -> np.ndarray | None:
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
        starts = (self.flags[later] & EPISODE_START) != 0
        if self._num_slots_written <= self.capacity and window[:, s - 1].min() < s - 1:
            # not wrapped, and a stack reaches back before slot 0, the first frame stored
            starts |= later == 0
        if not starts.any():
            return None
        zero = np.zeros(window.shape, dtype=bool)
        zero[:, : s - 1] = np.logical_or.accumulate(starts[:, ::-1], axis=1)[:, ::-1]
        return zero

    def gather(self, slots: np.ndarray, frames_out: np.ndarray) -> tuple[np.ndarray, ...]:
        """The transitions of ``slots``: frames into ``frames_out`` (B, stack + 1, H, W);
        returns (actions int64, rewards float32, terminals float32)."""
        window = slots[:, None] + self.window_offsets
        window %= self.capacity
        self.frames.gather(window, self.zero_mask(window), frames_out)
        flags = self.flags[slots]
        return (self.actions[slots].astype(np.int64), self.rewards[slots],
                (flags & TERMINAL).astype(np.float32))

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly, arrays by reference (not copied).

        Serialize it before the next ``add``: the arrays are the head's own.
        """
        state = {
            "frame_store": self.frames.name,
            "capacity": self.capacity,
            "frame_shape": list(self.frame_shape),
            "stack_frames": self.stack_frames,
            "actions": self.actions,
            "rewards": self.rewards,
            "flags": self.flags,
            "cursor": self._cursor,
            "num_slots_written": self._num_slots_written,
            "num_added": self._num_added,
            "transition_slots": self._transition_slots,
            "expect_start": self._expect_start,
            "last_was_add": self._last_was_add,
        }
        state.update(self.frames.state_dict(filled=self.num_filled))
        return state

    def load_state_dict(self, state: dict[str, Any], copy: bool = True) -> None:
        """Restore from ``state_dict()`` (or a stream of a checkpoint written before replay/).

        Args:
          state: a head state of the same frame store, capacity and shapes.
          copy: copy the arrays into this head's own; False adopts them when their dtype
            and shape match (saves a second copy of a large buffer when loading a checkpoint).
        """
        store = state.get("frame_store") or LEGACY_STORE_NAMES.get(state.get("kind"))
        expected = (self.frames.name, self.capacity, list(self.frame_shape), self.stack_frames)
        got = (store, int(state["capacity"]), [int(x) for x in state["frame_shape"]],
               int(state["stack_frames"]))
        if got != expected:
            raise ValueError(
                f"replay state (frame store, capacity, frame_shape, stack_frames) = {got} does "
                f"not match this replay {expected}: resume with the replay.compress and "
                "replay.capacity the run was started with"
            )
        self.actions = restore_array(self.actions, state["actions"], "actions", copy)
        self.rewards = restore_array(self.rewards, state["rewards"], "rewards", copy)
        self.flags = restore_array(self.flags, state["flags"], "flags", copy)
        self.frames.load_state_dict(state, copy)
        self._cursor = int(state["cursor"])
        self._num_slots_written = int(state["num_slots_written"])
        self._num_added = int(state["num_added"])
        self._transition_slots = int(state["transition_slots"])
        self._expect_start = bool(state["expect_start"])
        self._last_was_add = bool(state["last_was_add"])
