"""Atomic checkpoints of everything a run needs to continue exactly.

A checkpoint is one file ``checkpoints/ckpt_<agent_steps>.pt`` (a pickled dict).
Large uint8 numpy arrays (the replay's frames) are lz4-compressed on the way.
Writing goes to a temporary file in the same directory, which is fsynced and then
renamed over the final name (atomic on POSIX), and the directory is fsynced: a
crash at any moment leaves the previous checkpoints intact. The last
``keep`` checkpoints are kept; loading falls back to an older one with a warning
when the newest is unreadable, and moves the unreadable one to
``checkpoints/corrupt/`` (never deleted, never counted toward ``keep``). When no
checkpoint can be read, ``CheckpointUnreadableError`` says so: a run never starts
over from step 0 by itself. Temporary files left by a writer that died are removed
by ``remove_stale_temp_files`` (called by the one writer, under the run-dir lock).
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
CORRUPT_DIR = "corrupt"  # under CHECKPOINT_DIR
_NAME = re.compile(r"^ckpt_(\d+)\.pt$")
_TEMP_NAME = re.compile(r"^\.ckpt_\d+\.pt\.tmp-\d+$")
_COMPRESS_MIN_BYTES = 1 << 20  # arrays of 1 MiB or more are lz4-compressed


class CheckpointNotFoundError(FileNotFoundError):
    """No usable checkpoint where one was asked for."""


class CheckpointUnreadableError(RuntimeError):
    """Checkpoints exist but none can be read."""


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


def corrupt_paths(run_dir: Path) -> list[Path]:
    """Checkpoints moved aside as unreadable."""
    directory = Path(run_dir) / CHECKPOINT_DIR / CORRUPT_DIR
    return sorted(directory.iterdir()) if directory.is_dir() else []


def _move_aside(path: Path) -> Path:
    corrupt = path.parent / CORRUPT_DIR
    corrupt.mkdir(exist_ok=True)
    target = corrupt / path.name
    if target.exists():  # the same name was moved aside before: keep both
        target = corrupt / f"{path.name}.{len(list(corrupt.iterdir()))}"
    os.replace(path, target)
    return target


def load_latest(run_dir: Path, move_unreadable: bool = True) -> tuple[dict[str, Any], Path] | None:
    """The newest readable checkpoint of ``run_dir``; None when the run has none at all.

    Each unreadable checkpoint is skipped with a warning and, when ``move_unreadable``
    (the run's one writer), moved to ``checkpoints/corrupt/``. Raises
    ``CheckpointUnreadableError`` when checkpoints exist (or were moved aside) and none
    can be read.
    """
    unreadable = []
    for path in checkpoint_paths(run_dir):
        try:
            return load_checkpoint(path), path
        except Exception as error:  # a truncated or garbled file: fall back to an older one
            where = _move_aside(path) if move_unreadable else path
            unreadable.append(f"{where} ({type(error).__name__}: {error})")
            warnings.warn(
                f"checkpoint {path} is unreadable ({type(error).__name__}: {error}); "
                + (f"moved to {where}; " if move_unreadable else "")
                + "falling back to the previous one",
                RuntimeWarning,
                stacklevel=2,
            )
    moved = [str(p) for p in corrupt_paths(run_dir)] if move_unreadable else []
    if unreadable or moved:
        listed = "\n  ".join(dict.fromkeys(unreadable + moved))
        raise CheckpointUnreadableError(
            f"no checkpoint of {run_dir} can be read; unreadable:\n  {listed}\n"
            "Nothing was deleted. To start this run over from agent step 0, run again with "
            "on_unreadable_checkpoints=start_over (or use another run_dir=...)."
        )
    return None


def remove_stale_temp_files(run_dir: Path) -> list[Path]:
    """Delete ``.ckpt_*.tmp-<pid>`` files of writers that died mid-write.

    Call only as the run dir's one writer (holding its lock): then no temp file can
    belong to a live writer.
    """
    directory = Path(run_dir) / CHECKPOINT_DIR
    if not directory.is_dir():
        return []
    stale = [p for p in directory.iterdir() if _TEMP_NAME.match(p.name)]
    for path in stale:
        path.unlink()
    return stale
