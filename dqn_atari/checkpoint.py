"""Atomic checkpoints of everything a run needs to continue exactly.

A checkpoint is one file ``checkpoints/ckpt_<agent_steps>.pt`` (a pickled dict).
Large uint8 numpy arrays (the replay's frames) are lz4-compressed on the way.
Writing goes to a temporary file in the same directory, which is fsynced and then
renamed over the final name (atomic on POSIX), and the directory is fsynced: a
crash at any moment leaves the previous checkpoints intact. The last
``keep`` checkpoints are kept; loading falls back to an older one with a warning
when the newest is unreadable.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import lz4.frame
import numpy as np

CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^ckpt_(\d+)\.pt$")
_COMPRESS_MIN_BYTES = 1 << 20  # arrays of 1 MiB or more are lz4-compressed


class CheckpointNotFoundError(FileNotFoundError):
    """No usable checkpoint where one was asked for."""


class _Lz4Array:
    """A numpy array stored as lz4-compressed bytes inside the pickle."""

    def __init__(self, array: np.ndarray) -> None:
        self.dtype = array.dtype.str
        self.shape = array.shape
        self.data = lz4.frame.compress(np.ascontiguousarray(array).data, compression_level=0)

    def restore(self) -> np.ndarray:
        flat = np.frombuffer(lz4.frame.decompress(self.data), dtype=np.dtype(self.dtype))
        return flat.reshape(self.shape).copy()


def _pack(obj: Any) -> Any:
    if isinstance(obj, np.ndarray) and obj.nbytes >= _COMPRESS_MIN_BYTES and obj.dtype != object:
        return _Lz4Array(obj)
    if isinstance(obj, dict):
        return {k: _pack(v) for k, v in obj.items()}
    return obj


def _unpack(obj: Any) -> Any:
    if isinstance(obj, _Lz4Array):
        return obj.restore()
    if isinstance(obj, dict):
        return {k: _unpack(v) for k, v in obj.items()}
    return obj


def checkpoint_paths(run_dir: Path) -> list[Path]:
    """Checkpoints of ``run_dir``, newest (most agent steps) first."""
    directory = Path(run_dir) / CHECKPOINT_DIR
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(run_dir: Path, state: dict[str, Any], agent_steps: int, keep: int = 2) -> Path:
    """Write ``state`` atomically as the checkpoint at ``agent_steps``; keep the last ``keep``."""
    directory = Path(run_dir) / CHECKPOINT_DIR
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"ckpt_{agent_steps:012d}.pt"
    tmp = directory / f".{final.name}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            pickle.dump(_pack(state), f, protocol=pickle.HIGHEST_PROTOCOL)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        _fsync_dir(directory)
    finally:
        if tmp.exists():
            tmp.unlink()
    for old in checkpoint_paths(run_dir)[max(keep, 1):]:
        old.unlink()
    return final


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load one checkpoint file (raises on a missing or corrupt file)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointNotFoundError(
            f"checkpoint {path} does not exist; pass an existing file or a run directory "
            f"that holds {CHECKPOINT_DIR}/ckpt_*.pt"
        )
    with open(path, "rb") as f:
        return _unpack(pickle.load(f))


def load_latest(run_dir: Path) -> tuple[dict[str, Any], Path] | None:
    """The newest readable checkpoint of ``run_dir`` (warns on each corrupt one skipped)."""
    for path in checkpoint_paths(run_dir):
        try:
            return load_checkpoint(path), path
        except Exception as error:  # a truncated or garbled file: fall back to an older one
            warnings.warn(
                f"checkpoint {path} is unreadable ({type(error).__name__}: {error}); "
                "falling back to the previous one",
                RuntimeWarning,
                stacklevel=2,
            )
    return None
