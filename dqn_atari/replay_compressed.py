"""``FrameReplay`` with each frame lz4-compressed on insert (``replay.compress=true``).

Same interface, same validity rules and the same sampling generator as ``FrameReplay``:
given the same seed and the same calls, both return identical batches. Only the frame
store differs.

Frame store: a byte pool used as a ring log. Slots are overwritten oldest first, so the
compressed frames of the live slots lie in age order along the pool, from ``tail`` (the
oldest live frame) to ``head`` (where the next one goes), wrapping to offset 0 when the
end of the pool is too short (the unused end is skipped). Each slot keeps its offset
(int64) and length (uint32, bytes). When no contiguous gap fits the new frame, the pool
grows (the live frames are copied to the start of a new pool) by 10%, or at once to the
mean compressed frame size so far times ``capacity`` plus 5% while the buffer fills up,
so the pool ends up within ~10% of the compressed size of ``capacity`` frames; a growth that does not fit in
RAM raises ``InsufficientMemoryError`` when ``check_memory``.

Measured (atari-stack-facts.md): lz4 compresses an 84x84 frame to ~270 B (Pong),
~410 B (Breakout), ~1,840 B (Ms. Pac-Man) and decompresses it in 1-2 microseconds.
Sampling only decompresses the frames a batch uses that are not zero-filled.
"""

from __future__ import annotations

from typing import Any

import lz4.block
import numpy as np

from dqn_atari.memory import ensure_fits
from dqn_atari.replay import FrameReplay, _restore_array, suggest_capacity

_GROWTH = 1.1  # pool growth factor
_PROJECTION_MARGIN = 1.05  # pool = mean frame bytes x capacity x this, when projecting
_PROJECTION_MIN_FRAMES = 1_000  # frames stored before the mean frame size is trusted
_INITIAL_POOL_BYTES_PER_SLOT = 64  # bytes; grows to the game's compressed frame size
# Estimate for the up-front memory check, in bytes per frame: above Ms. Pac-Man's ~1,840 B,
# the largest of the measured games.
EXPECTED_COMPRESSED_FRAME_BYTES = 2_048
_SLOT_INDEX_BYTES = 8 + 4  # offset (int64) + length (uint32) per slot


class CompressedFrameReplay(FrameReplay):
    """``FrameReplay`` whose frames are stored lz4-compressed in a growing byte pool."""

    def _frame_store_bytes_needed(self) -> int:
        return self.capacity * (EXPECTED_COMPRESSED_FRAME_BYTES + _SLOT_INDEX_BYTES)

    def _init_frame_store(self) -> None:
        self._check_pool = False  # set after construction: growth checks memory if asked
        self._offsets = np.zeros(self.capacity, dtype=np.int64)  # byte offset in the pool
        self._lengths = np.zeros(self.capacity, dtype=np.uint32)  # bytes; 0 = no frame
        self._set_pool(np.zeros(self.capacity * _INITIAL_POOL_BYTES_PER_SLOT, dtype=np.uint8))
        self._head = 0  # pool offset where the next compressed frame goes
        self._stored_bytes = 0  # compressed bytes of the live frames

    def __init__(
        self,
        capacity: int,
        frame_shape: tuple[int, int] = (84, 84),
        stack_frames: int = 4,
        seed: int = 0,
        check_memory: bool = True,
    ) -> None:
        """Same arguments as ``FrameReplay``; the memory check assumes 2,048 B per frame."""
        super().__init__(capacity, frame_shape, stack_frames, seed, check_memory)
        self._check_pool = check_memory

    def _set_pool(self, pool: np.ndarray) -> None:
        self._pool = pool
        self._pool_view = memoryview(pool)  # slicing a memoryview does not copy

    # ------------------------------------------------------------------ writing

    def _write_frame(self, slot: int, frame: np.ndarray) -> None:
        blob = lz4.block.compress(np.ascontiguousarray(frame), store_size=False)
        n = len(blob)
        # free the slot being overwritten (the oldest one once the buffer has wrapped)
        self._stored_bytes -= int(self._lengths[slot])
        self._lengths[slot] = 0
        pos = self._place(slot, n)
        self._pool[pos : pos + n] = np.frombuffer(blob, dtype=np.uint8)
        self._offsets[slot] = pos
        self._lengths[slot] = n
        self._head = pos + n
        self._stored_bytes += n

    def _place(self, slot: int, n: int) -> int:
        """Pool offset for ``n`` new bytes of ``slot``, growing the pool if no gap fits."""
        size = self._pool.size
        if self._num_slots_written >= self.capacity:
            oldest = (slot + 1) % self.capacity  # slot itself was just freed
        else:
            oldest = 0
        if self._lengths[oldest] == 0:  # nothing live
            self._head = 0
            if n > size:
                self._grow(n, oldest)
            return 0
        tail = int(self._offsets[oldest])
        head = self._head
        if tail < head:  # live bytes are [tail, head)
            if size - head >= n:
                return head
            if tail >= n:
                return 0
        elif tail - head >= n:  # live bytes are [tail, end) + [0, head)
            return head
        self._grow(n, oldest)
        return self._head

    def _grow(self, n: int, oldest: int) -> None:
        """Copy the live frames, ``oldest`` slot first, to the start of a larger pool."""
        live = np.flatnonzero(self._lengths)
        new_size = max(self._pool.size * _GROWTH, (self._stored_bytes + n) * _GROWTH)
        if live.size >= min(_PROJECTION_MIN_FRAMES, self.capacity // 2):
            projected = self._stored_bytes / live.size * self.capacity * _PROJECTION_MARGIN
            new_size = max(new_size, projected)
        new_size = int(new_size) + 1
        if self._check_pool:
            per_frame = self._stored_bytes / max(live.size, 1) + _SLOT_INDEX_BYTES + 6
            ensure_fits(
                new_size,
                f"{type(self).__name__}(capacity={self.capacity}) growing its frame pool",
                lambda available: (
                    "lower replay.capacity, e.g. replay.capacity="
                    f"{suggest_capacity(available, per_frame)}"
                ),
            )
        new_pool = np.zeros(new_size, dtype=np.uint8)
        head = self._head
        self._head = 0
        if live.size:
            tail = int(self._offsets[oldest])
            offsets = self._offsets[live]
            if tail < head:
                new_pool[: head - tail] = self._pool[tail:head]
                self._offsets[live] = offsets - tail
                self._head = head - tail
            else:
                after = offsets >= tail
                end = int((offsets[after] + self._lengths[live][after]).max())
                first = end - tail
                new_pool[:first] = self._pool[tail:end]
                new_pool[first : first + head] = self._pool[:head]
                self._offsets[live] = np.where(after, offsets - tail, offsets + first)
                self._head = first + head
        self._set_pool(new_pool)

    # ----------------------------------------------------------------- reading

    def _gather_frames(self, window: np.ndarray, zero: np.ndarray | None) -> np.ndarray:
        """Decompress only the frames of ``window`` that are not zeroed."""
        batch, width = window.shape
        keep = None if zero is None else ~zero.ravel()
        slots = window.ravel() if keep is None else window.ravel()[keep]
        offsets = self._offsets[slots].tolist()
        lengths = self._lengths[slots].tolist()
        view = self._pool_view
        size = self._frame_bytes
        decompress = lz4.block.decompress
        raw = bytearray().join(
            [
                decompress(view[o : o + n], uncompressed_size=size)
                for o, n in zip(offsets, lengths, strict=True)
            ]
        )
        decoded = np.frombuffer(raw, dtype=np.uint8).reshape(-1, *self.frame_shape)
        if keep is None:  # no zero-fill: the decoded frames are the batch (writable bytearray)
            return decoded.reshape(batch, width, *self.frame_shape)
        out = np.zeros((batch * width, *self.frame_shape), dtype=np.uint8)
        out[keep] = decoded
        return out.reshape(batch, width, *self.frame_shape)

    # ---------------------------------------------------------- sizes, checkpoints

    def _frame_store_nbytes(self) -> int:
        return self._pool.nbytes + self._offsets.nbytes + self._lengths.nbytes

    @property
    def stored_frame_bytes(self) -> int:
        """Compressed bytes of the frames currently stored (without pool slack)."""
        return self._stored_bytes

    def _frame_store_state(self) -> dict[str, Any]:
        return {
            "pool": self._pool,
            "offsets": self._offsets,
            "lengths": self._lengths,
            "head": self._head,
            "stored_bytes": self._stored_bytes,
        }

    def _load_frame_store_state(self, state: dict[str, Any], copy: bool) -> None:
        self._offsets = _restore_array(self._offsets, state["offsets"], "offsets", copy)
        self._lengths = _restore_array(self._lengths, state["lengths"], "lengths", copy)
        pool = np.asarray(state["pool"])
        if pool.dtype != np.uint8 or pool.ndim != 1:
            raise ValueError(
                f"replay state 'pool' is {pool.dtype} {pool.shape}, expected uint8 1-D"
            )
        if copy or not pool.flags.c_contiguous or not pool.flags.writeable:
            pool = pool.copy()
        self._set_pool(pool)
        self._head = int(state["head"])
        self._stored_bytes = int(state["stored_bytes"])
