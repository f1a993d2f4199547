"""Atomic checkpoints of everything a run needs to continue exactly.

A checkpoint is one file ``checkpoints/ckpt_<agent_steps>.pt``: a pickle of PLAIN DATA only
(dicts, lists, tuples, str, bytes, numbers, bools, None). Numpy arrays and torch tensors are
written as a marker dict holding their dtype, shape and raw bytes; arrays of 1 MiB or more
(the replay's frames), wherever they sit, are lz4-compressed. Loading uses an unpickler that
refuses every global (``find_class``): a file that asks for any class or function, the way a
crafted pickle runs code, is refused with ``UnsafeCheckpointError`` before anything runs.
Checkpoints written before this format (2026-12-06) hold pickled torch tensors and classes;
they load only with ``allow_pickle=True`` (``allow_pickled_checkpoints=true`` on the command
line), which the user gives for files they trust.

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

import io
import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import lz4.frame
import numpy as np
import torch

CHECKPOINT_DIR = "checkpoints"
CORRUPT_DIR = "corrupt"  # under CHECKPOINT_DIR
_NAME = re.compile(r"^ckpt_(\d+)\.pt$")
_TEMP_NAME = re.compile(r"^\.ckpt_\d+\.pt\.tmp-\d+$")
_COMPRESS_MIN_BYTES = 1 << 20  # arrays of 1 MiB or more are lz4-compressed
CHECKPOINT_FORMAT = 2  # 2: plain data only (1: pickled tensors and classes, before 2026-12-06)
_FORMAT_KEY = "checkpoint_format"
_MARKER = "__dqn_atari_data__"  # a marker dict's only key: {_MARKER: {"kind": ..., ...}}
ALLOW_PICKLE_HINT = "allow_pickled_checkpoints=true"


class CheckpointNotFoundError(FileNotFoundError):
    """No usable checkpoint where one was asked for."""


class CheckpointUnreadableError(RuntimeError):
    """Checkpoints exist but none can be read."""


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint that would run code (or build objects) when loaded, refused."""


class _Lz4Array:
    """Format 1 (legacy): a numpy array stored as lz4-compressed bytes inside the pickle."""

    def __init__(self, array: np.ndarray) -> None:
        self.dtype = array.dtype.str
        self.shape = array.shape
        self.data = lz4.frame.compress(np.ascontiguousarray(array).data, compression_level=0)

    def restore(self) -> np.ndarray:
        flat = np.frombuffer(lz4.frame.decompress(self.data), dtype=np.dtype(self.dtype))
        return flat.reshape(self.shape).copy()


def _array_marker(array: np.ndarray, scalar: bool = False) -> dict[str, Any]:
    if array.dtype.hasobject:
        raise TypeError("a checkpoint holds no arrays of Python objects")
    contiguous = np.ascontiguousarray(array)
    compressed = contiguous.nbytes >= _COMPRESS_MIN_BYTES
    return {_MARKER: {"kind": "ndarray", "dtype": array.dtype.str, "shape": list(array.shape),
                      "scalar": scalar, "lz4": compressed,
                      # compressed straight from the array's memory: no copy of a GB replay
                      "data": lz4.frame.compress(contiguous.data, compression_level=0)
                      if compressed else contiguous.tobytes()}}


def _tensor_marker(tensor: torch.Tensor) -> dict[str, Any]:
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    raw = flat.view(torch.uint8).numpy() if flat.numel() else np.zeros(0, np.uint8)
    marker = _array_marker(raw)[_MARKER]
    marker.update(kind="tensor", dtype=str(tensor.dtype).removeprefix("torch."),
                  shape=list(tensor.shape))
    return {_MARKER: marker}


def _pack(obj: Any, where: str = "state") -> Any:
    """``obj`` as plain data (see the module docstring); a TypeError names what cannot be."""
    if obj is None or isinstance(obj, (bool, int, float, str, bytes)):
        return obj
    if isinstance(obj, dict):
        if _MARKER in obj:
            raise TypeError(f"{where}: the key {_MARKER!r} is reserved")
        return {k: _pack(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        packed = [_pack(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return packed if isinstance(obj, list) else tuple(packed)
    if isinstance(obj, np.ndarray):
        return _array_marker(obj)
    if isinstance(obj, np.generic):
        return _array_marker(np.asarray(obj), scalar=True)
    if isinstance(obj, torch.Tensor):
        return _tensor_marker(obj)
    raise TypeError(f"{where}: a checkpoint holds plain data, arrays and tensors; "
                    f"{type(obj).__module__}.{type(obj).__qualname__} is none of them")


def _restore_marker(marker: dict[str, Any]) -> Any:
    data = lz4.frame.decompress(marker["data"]) if marker["lz4"] else marker["data"]
    if marker["kind"] == "tensor":
        dtype = getattr(torch, marker["dtype"], None)
        if not isinstance(dtype, torch.dtype):
            raise UnsafeCheckpointError(f"unknown tensor dtype {marker['dtype']!r}")
        if not data:
            return torch.empty(marker["shape"], dtype=dtype)
        return torch.frombuffer(bytearray(data), dtype=torch.uint8).view(dtype).reshape(
            marker["shape"])
    array = np.frombuffer(data, dtype=np.dtype(marker["dtype"])).reshape(marker["shape"])
    if marker["lz4"]:
        return array  # read-only, over the decompressed bytes: the replay copies it into its own
    return array[()] if marker["scalar"] else array.copy()


def _unpack(obj: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {_MARKER}:
            return _restore_marker(obj[_MARKER])
        return {k: _unpack(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unpack(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_unpack(v) for v in obj)
    return obj


def _unpack_legacy(obj: Any) -> Any:
    """Format 1: lz4 arrays of the top-level dicts restored; the rest was unpickled as is."""
    if isinstance(obj, _Lz4Array):
        return obj.restore()
    if isinstance(obj, dict):
        return {k: _unpack_legacy(v) for k, v in obj.items()}
    return obj


class _PlainDataUnpickler(pickle.Unpickler):
    """Builds dicts, lists, tuples and scalars; refuses every global (class or function)."""

    def find_class(self, module: str, name: str) -> Any:
        raise UnsafeCheckpointError(f"{module}.{name}")


def loads_plain_data(data: bytes) -> Any:
    """Unpickle ``data`` allowing no global: plain data only (``UnsafeCheckpointError``)."""
    return _PlainDataUnpickler(io.BytesIO(data)).load()


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
        packed = {_FORMAT_KEY: CHECKPOINT_FORMAT, **_pack(state)}
        with open(tmp, "wb") as f:
            pickle.dump(packed, f, protocol=pickle.HIGHEST_PROTOCOL)
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


def load_checkpoint(path: Path, allow_pickle: bool = False) -> dict[str, Any]:
    """Load one checkpoint file (raises on a missing, corrupt or unsafe file).

    A file that asks the unpickler for any class or function is refused with
    ``UnsafeCheckpointError`` (nothing in it runs), unless ``allow_pickle``: then a format-1
    checkpoint (written before 2026-12-06) is unpickled as it was, running whatever it holds.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointNotFoundError(
            f"checkpoint {path} does not exist; pass an existing file or a run directory "
            f"that holds {CHECKPOINT_DIR}/ckpt_*.pt"
        )
    data = path.read_bytes()
    try:
        state = loads_plain_data(data)
    except UnsafeCheckpointError as refused:
        if not allow_pickle:
            raise UnsafeCheckpointError(
                f"{path} was refused: it asks to load {refused} while being read, and a "
                "checkpoint of this version holds plain data only, so loading it could run "
                "code that came with the file. A checkpoint written by dqn-atari before "
                f"2026-12-06 looks like this. If you trust where it came from, pass "
                f"{ALLOW_PICKLE_HINT} to load it as it was written (the next checkpoint is "
                "written in the safe format); never for a file from someone you do not trust."
            ) from None
        return _unpack_legacy(pickle.loads(data))
    if not isinstance(state, dict) or state.get(_FORMAT_KEY) != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a dqn-atari checkpoint (format {CHECKPOINT_FORMAT})")
    state = _unpack(state)
    del state[_FORMAT_KEY]
    return state


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


def load_latest(run_dir: Path, move_unreadable: bool = True,
                allow_pickle: bool = False) -> tuple[dict[str, Any], Path] | None:
    """The newest readable checkpoint of ``run_dir``; None when the run has none at all.

    Each unreadable checkpoint is skipped with a warning and, when ``move_unreadable``
    (the run's one writer), moved to ``checkpoints/corrupt/``. Raises
    ``CheckpointUnreadableError`` when checkpoints exist (or were moved aside) and none
    can be read. A checkpoint refused as unsafe (``UnsafeCheckpointError``, see
    ``load_checkpoint``) stops the search: it is neither skipped nor moved.
    """
    unreadable = []
    for path in checkpoint_paths(run_dir):
        try:
            return load_checkpoint(path, allow_pickle=allow_pickle), path
        except UnsafeCheckpointError:
            raise
        except Exception as error:  # noqa: BLE001 -- any garbled file: fall back to an older one
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
