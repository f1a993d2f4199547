"""How much RAM this process may still use, and a check that refuses what will not fit.

``np.zeros`` is lazy (pages are only committed when first written), so a replay that
does not fit in RAM would otherwise be accepted and the run killed hours later when
the buffer fills up. ``ensure_fits`` turns that into an immediate, readable error.

Available memory is the smaller of
  * ``MemAvailable`` from ``/proc/meminfo`` (the kernel's estimate, page cache included), and
  * for every cgroup (v2, or v1 ``memory`` controller) from this process's own group up to
    the root that sets a memory limit: ``limit - (usage - inactive_file)``.
All figures are in bytes; messages print GB (10**9 bytes).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

GB = 10**9  # bytes per GB, as printed in messages
_UNLIMITED_BYTES = 2**60  # cgroup v1 writes "no limit" as a huge number (~2**63)
DEFAULT_RESERVE_BYTES = 512 * 2**20  # bytes left free for the interpreter, torch and the env


class InsufficientMemoryError(MemoryError):
    """Raised before allocating something that does not fit in the available RAM."""


def format_gb(nbytes: float) -> str:
    """``nbytes`` bytes as a short GB string, e.g. ``'7.06 GB'``."""
    return f"{nbytes / GB:.2f} GB"


def meminfo_available_bytes(path: str | os.PathLike = "/proc/meminfo") -> int | None:
    """``MemAvailable`` from ``/proc/meminfo`` in bytes, or None when unreadable."""
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            fields = line.split()
            scale = 1024 if len(fields) > 2 and fields[2].lower() == "kb" else 1
            return int(fields[1]) * scale
    return None


def _read_int(path: Path) -> int | None:
    """An integer file of the cgroup filesystem; None when missing, unreadable or "max"."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if not text or text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _read_stat(path: Path, key: str) -> int:
    """One counter (bytes) of a cgroup ``memory.stat`` file; 0 when absent."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _own_cgroup_paths(proc_cgroup: Path) -> tuple[str | None, str | None]:
    """This process's cgroup path in the v2 hierarchy and in the v1 ``memory`` hierarchy."""
    v2 = v1 = None
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            v2 = path
        elif "memory" in controllers.split(","):
            v1 = path
    return v2, v1


def _ancestors(root: Path, rel: str | None) -> list[Path]:
    """``root/rel`` and each of its parents up to ``root`` (existing directories only)."""
    dirs = [root]
    if rel:
        current = root
        for part in [p for p in rel.split("/") if p]:
            current = current / part
            dirs.append(current)
    return [d for d in dirs if d.is_dir()]


def cgroup_available_bytes(
    cgroup_root: str | os.PathLike = "/sys/fs/cgroup",
    proc_cgroup: str | os.PathLike = "/proc/self/cgroup",
) -> int | None:
    """Bytes left under the tightest cgroup memory limit (v2 or v1), or None if no limit is set.

    Left = limit - (usage - inactive_file): inactive page cache is reclaimable.
    """
    root = Path(cgroup_root)
    v2_rel, v1_rel = _own_cgroup_paths(Path(proc_cgroup))
    candidates: list[int] = []
    # cgroup v2: memory.max / memory.current / memory.stat in the unified hierarchy.
    for d in _ancestors(root, v2_rel):
        limit = _read_int(d / "memory.max")
        if limit is None or limit >= _UNLIMITED_BYTES:
            continue
        usage = _read_int(d / "memory.current") or 0
        usage -= _read_stat(d / "memory.stat", "inactive_file")
        candidates.append(limit - max(usage, 0))
    # cgroup v1: the memory controller has its own mount.
    for d in _ancestors(root / "memory", v1_rel):
        limit = _read_int(d / "memory.limit_in_bytes")
        if limit is None or limit >= _UNLIMITED_BYTES:
            continue
        usage = _read_int(d / "memory.usage_in_bytes") or 0
        usage -= _read_stat(d / "memory.stat", "total_inactive_file")
        candidates.append(limit - max(usage, 0))
    return min(candidates) if candidates else None


def available_bytes() -> int | None:
    """Bytes this process may still allocate: min(MemAvailable, cgroup headroom); None if unknown."""
    figures = [x for x in (meminfo_available_bytes(), cgroup_available_bytes()) if x is not None]
    return max(min(figures), 0) if figures else None


def ensure_fits(
    nbytes: int,
    what: str,
    fix: str | Callable[[int], str],
    reserve_bytes: int = DEFAULT_RESERVE_BYTES,
    available: int | None = None,
) -> None:
    """Raise ``InsufficientMemoryError`` unless ``nbytes`` bytes (+ a reserve) fit in RAM.

    Args:
      nbytes: bytes about to be allocated.
      what: what they are for, e.g. ``"the replay (capacity=1000000, array frames)"``.
      fix: the advice printed on refusal, or a function of the available bytes returning it
        (so it can suggest a size that fits).
      reserve_bytes: bytes that must stay free for everything else in the process.
      available: bytes available; measured with ``available_bytes()`` when None.
        When it cannot be measured at all, the check passes.
    """
    if available is None:
        available = available_bytes()
    if available is None:
        return
    if nbytes + reserve_bytes <= available:
        return
    advice = fix(available) if callable(fix) else fix
    raise InsufficientMemoryError(
        f"{what} needs {format_gb(nbytes)} but only {format_gb(available)} are available "
        f"(keeping {format_gb(reserve_bytes)} free for the rest of the process); {advice}"
    )
