"""Tests of dqn_atari.ram: the available-RAM reading (meminfo, cgroup v2 and v1) and ensure_fits."""

from __future__ import annotations

from pathlib import Path

import pytest

from dqn_atari import ram
from dqn_atari.ram import (
    InsufficientMemoryError,
    available_bytes,
    cgroup_available_bytes,
    ensure_fits,
    meminfo_available_bytes,
)

GiB = 2**30


def test_meminfo_parses_kb(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   2000 kB\n")
    assert meminfo_available_bytes(meminfo) == 2000 * 1024
    assert meminfo_available_bytes(tmp_path / "missing") is None


def test_real_machine_reports_something_positive() -> None:
    available = available_bytes()
    assert available is not None and available > 0


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_limit_minus_usage_plus_inactive_cache(tmp_path: Path) -> None:
    proc = tmp_path / "proc_cgroup"
    proc.write_text("0::/job/step\n")
    root = tmp_path / "cg"
    _write(root / "job" / "memory.max", f"{8 * GiB}\n")
    _write(root / "job" / "memory.current", f"{3 * GiB}\n")
    _write(root / "job" / "memory.stat", f"anon 1\ninactive_file {GiB}\n")
    _write(root / "job" / "step" / "memory.max", "max\n")  # no limit at the leaf
    assert cgroup_available_bytes(root, proc) == 8 * GiB - (3 * GiB - GiB)


def test_cgroup_v1_tightest_ancestor_wins(tmp_path: Path) -> None:
    proc = tmp_path / "proc_cgroup"
    proc.write_text("5:cpu:/\n4:memory:/slurm/job1\n0::/\n")
    root = tmp_path / "cg"
    mem = root / "memory"
    _write(mem / "memory.limit_in_bytes", "9223372036854771712\n")  # root: unlimited
    _write(mem / "slurm" / "memory.limit_in_bytes", f"{16 * GiB}\n")
    _write(mem / "slurm" / "memory.usage_in_bytes", f"{GiB}\n")
    _write(mem / "slurm" / "job1" / "memory.limit_in_bytes", f"{4 * GiB}\n")
    _write(mem / "slurm" / "job1" / "memory.usage_in_bytes", f"{2 * GiB}\n")
    _write(mem / "slurm" / "job1" / "memory.stat", f"total_inactive_file {GiB // 2}\n")
    assert cgroup_available_bytes(root, proc) == 4 * GiB - (2 * GiB - GiB // 2)


def test_no_cgroup_limit_gives_none(tmp_path: Path) -> None:
    proc = tmp_path / "proc_cgroup"
    proc.write_text("0::/\n")
    _write(tmp_path / "cg" / "memory.max", "max\n")
    assert cgroup_available_bytes(tmp_path / "cg", proc) is None
    assert cgroup_available_bytes(tmp_path / "none", tmp_path / "missing") is None


def test_ensure_fits_passes_and_refuses_with_the_fix() -> None:
    ensure_fits(GiB, "thing", "no fix needed", reserve_bytes=0, available=2 * GiB)
    with pytest.raises(InsufficientMemoryError) as info:
        ensure_fits(
            7_062_000_000,
            "FrameReplay(capacity=1000000)",
            lambda available: f"lower replay.capacity, e.g. {available // 7062} transitions",
            reserve_bytes=0,
            available=2_000_000_000,
        )
    message = str(info.value)
    assert isinstance(info.value, MemoryError)
    assert "FrameReplay(capacity=1000000) needs 7.06 GB" in message
    assert "only 2.00 GB are available" in message
    assert "lower replay.capacity, e.g. 283205 transitions" in message


def test_reserve_counts_against_available() -> None:
    with pytest.raises(InsufficientMemoryError, match="keeping 1.07 GB free"):
        ensure_fits(GiB, "thing", "fix", reserve_bytes=GiB, available=GiB + 1)


def test_unknown_availability_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ram, "available_bytes", lambda: None)
    ensure_fits(10**15, "thing", "fix")
