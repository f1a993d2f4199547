"""Where a write head keeps its frames: a plain uint8 array, or lz4-compressed in a byte pool.

A frame store holds one (H, W) uint8 frame per slot of one write head (``write_head.py``)
and answers ``gather``: the frames of a (B, W) window of slots, with the positions a
mask marks zero-filled. ``make_frame_store`` is the choice point (``replay.compress``).

``ArrayFrameStore``: (capacity, H, W) uint8, 7,056 bytes per slot at 84x84.

``Lz4FrameStore``: a byte pool used as a ring log. Slots are overwritten oldest first, so
the compressed frames of the live slots lie in age order along the pool, from ``tail``
(the oldest live frame) to ``head`` (where the next one goes), wrapping to offset 0 when
the end of the pool is too short (the unused end is skipped). Each slot keeps its offset
(int64) and length (uint32, bytes). When no contiguous gap fits the new frame, the pool
grows (the live frames are copied to the start of a new pool) by 10%, or at once to the
mean compressed frame size so far times ``capacity`` plus 5% while the buffer fills up,
so the pool ends up within ~10% of the compressed size of ``capacity`` frames; a growth
that does not fit in RAM raises ``InsufficientMemoryError`` when ``check_memory``.
Measured (atari-stack-facts.md): lz4 compresses an 84x84 frame to ~270 B (Pong), ~410 B
(Breakout), ~1,840 B (Ms. Pac-Man) and decompresses it in 1-2 microseconds. Only the
frames a batch uses that are not zero-filled are decompressed.

Both give identical batches for the same writes: only the storage differs.
"""

from __future__ import annotations

from typing import Any

import lz4.block
import numpy as np

from dqn_atari.ram import ensure_fits
from dqn_atari.replay.batch import suggest_capacity

FRAME_STORES = ("array", "lz4")
# Names the stores had in checkpoints written before the replay/ package (class names).
LEGACY_STORE_NAMES = {"FrameReplay": "array", "CompressedFrameReplay": "lz4"}

_GROWTH = 1.1  # pool growth factor
_PROJECTION_MARGIN = 1.05  # pool = mean frame bytes x capacity x this, when projecting
_PROJECTION_MIN_FRAMES = 1_000  # frames stored before the mean frame size is trusted
_INITIAL_POOL_BYTES_PER_SLOT = 64  # bytes; grows to the game's compressed frame size
# Estimate for the up-front memory check, in bytes per frame: above Ms. Pac-Man's ~1,840 B,
# the largest of the measured games.
EXPECTED_COMPRESSED_FRAME_BYTES = 2_048
_SLOT_INDEX_BYTES = 8 + 4  # offset (int64) + length (uint32) per slot


def restore_array(own: np.ndarray, new: Any, name: str, copy: bool) -> np.ndarray:
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


class ArrayFrameStore:
    """One uncompressed uint8 frame per slot."""

    name = "array"

    @staticmethod
    def bytes_needed_per_slot(frame_shape: tuple[int, int]) -> int:
        """Bytes per slot once full (for the up-front memory check)."""
        return int(np.prod(frame_shape))

    def __init__(self, capacity: int, frame_shape: tuple[int, int],
                 check_memory: bool = False) -> None:
        del check_memory  # allocated once, checked up front by the replay
        self.frame_shape = tuple(frame_shape)
        self._frames = np.zeros((capacity, *frame_shape), dtype=np.uint8)  # lazily committed

    def write(self, slot: int, frame: np.ndarray, wrapped: bool) -> None:
        """Store ``frame`` in ``slot`` (``wrapped``: the slot held a frame already)."""
        del wrapped
        self._frames[slot] = frame

    def gather(self, window: np.ndarray, zero: np.ndarray | None, out: np.ndarray) -> None:
        """``out[b, w]`` <- the frame of slot ``window[b, w]``, zeros where ``zero`` is True."""
        np.take(self._frames, window, axis=0, out=out, mode="clip")  # in range; unbuffered
        if zero is not None:
            rows, cols = np.nonzero(zero)
            out[rows, cols] = 0

    @property
    def nbytes(self) -> int:
        return self._frames.nbytes

    def state_dict(self, filled: int | None = None) -> dict[str, Any]:
        """The frames of the first ``filled`` slots (by reference; all slots if None).

        A ring fills its slots from 0 up before it wraps, so the filled ones are a prefix: a
        checkpoint of a replay 50k slots into 1M holds 50k frames, not 1M.
        """
        return {"frames": self._frames if filled is None else self._frames[:filled]}

    def load_state_dict(self, state: dict[str, Any], copy: bool) -> None:
        frames = np.asarray(state["frames"])
        if frames.ndim == self._frames.ndim and frames.shape[0] < len(self._frames):
            filled = frames.shape[0]  # the filled prefix: the rest of the slots are empty
            restore_array(self._frames[:filled], frames, "frames", copy=True)
            self._frames[filled:] = 0
            return
        self._frames = restore_array(self._frames, frames, "frames", copy)


class Lz4FrameStore:
    """Frames lz4-compressed in a growing byte pool (see the module docstring)."""

    name = "lz4"

    @staticmethod
    def bytes_needed_per_slot(frame_shape: tuple[int, int]) -> int:
        del frame_shape
        return EXPECTED_COMPRESSED_FRAME_BYTES + _SLOT_INDEX_BYTES

    def __init__(self, capacity: int, frame_shape: tuple[int, int],
                 check_memory: bool = False) -> None:
        self.capacity = capacity
        self.frame_shape = tuple(frame_shape)
        self._frame_bytes = int(np.prod(frame_shape))
        self._check_memory = check_memory  # a growth that does not fit raises
        self._offsets = np.zeros(capacity, dtype=np.int64)  # byte offset in the pool
        self._lengths = np.zeros(capacity, dtype=np.uint32)  # bytes; 0 = no frame
        self._set_pool(np.zeros(capacity * _INITIAL_POOL_BYTES_PER_SLOT, dtype=np.uint8))
        self._head = 0  # pool offset where the next compressed frame goes
        self._stored_bytes = 0  # compressed bytes of the live frames

    def _set_pool(self, pool: np.ndarray) -> None:
        self._pool = pool
        self._pool_view = memoryview(pool)  # slicing a memoryview does not copy

    @property
    def pool_bytes(self) -> int:
        """Bytes allocated for the pool (compressed frames plus slack)."""
        return self._pool.size

    @property
    def stored_frame_bytes(self) -> int:
        """Compressed bytes of the frames currently stored (without pool slack)."""
        return self._stored_bytes

    # ------------------------------------------------------------------ writing

    def write(self, slot: int, frame: np.ndarray, wrapped: bool) -> None:
        """Compress ``frame`` into ``slot`` (``wrapped``: slots are being overwritten)."""
        blob = lz4.block.compress(np.ascontiguousarray(frame), store_size=False)
        n = len(blob)
        # free the slot being overwritten (the oldest one once the buffer has wrapped)
        self._stored_bytes -= int(self._lengths[slot])
        self._lengths[slot] = 0
        pos = self._place(slot, n, wrapped)
        self._pool[pos : pos + n] = np.frombuffer(blob, dtype=np.uint8)
        self._offsets[slot] = pos
        self._lengths[slot] = n
        self._head = pos + n
        self._stored_bytes += n

    def _place(self, slot: int, n: int, wrapped: bool) -> int:
        """Pool offset for ``n`` new bytes of ``slot``, growing the pool if no gap fits."""
        size = self._pool.size
        oldest = (slot + 1) % self.capacity if wrapped else 0  # slot itself was just freed
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
        if self._check_memory:
            per_frame = self._stored_bytes / max(live.size, 1) + _SLOT_INDEX_BYTES + 6
            ensure_fits(
                new_size,
                f"the lz4 replay (capacity={self.capacity}) growing its frame pool",
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

    def gather(self, window: np.ndarray, zero: np.ndarray | None, out: np.ndarray) -> None:
        """Decompress into ``out`` only the frames of ``window`` that are not zeroed."""
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
        flat = out.reshape(batch * width, *self.frame_shape)
        if keep is None:
            flat[...] = decoded
        else:
            flat[...] = 0
            flat[keep] = decoded

    # ---------------------------------------------------------- sizes, checkpoints

    @property
    def nbytes(self) -> int:
        return self._pool.nbytes + self._offsets.nbytes + self._lengths.nbytes

    def state_dict(self, filled: int | None = None) -> dict[str, Any]:
        """The pool and the slot index (arrays by reference); the pool's unused tail is empty
        bytes, which the checkpoint's lz4 shrinks to almost nothing (``filled`` unused)."""
        del filled
        return {
            "pool": self._pool,
            "offsets": self._offsets,
            "lengths": self._lengths,
            "head": self._head,
            "stored_bytes": self._stored_bytes,
        }

    def load_state_dict(self, state: dict[str, Any], copy: bool) -> None:
        self._offsets = restore_array(self._offsets, state["offsets"], "offsets", copy)
        self._lengths = restore_array(self._lengths, state["lengths"], "lengths", copy)
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


def frame_store_class(name: str) -> type[ArrayFrameStore | Lz4FrameStore]:
    """The class of the frame store called ``name`` (one of ``FRAME_STORES``)."""
    stores = {"array": ArrayFrameStore, "lz4": Lz4FrameStore}
    if name not in stores:
        raise ValueError(f"frame store {name!r} is not one of {list(FRAME_STORES)}")
    return stores[name]
