"""What every speed benchmark records: the load average, and wall and CPU time of a call."""

from __future__ import annotations

import os
import time
from typing import Any


def load_average() -> float:
    """The 1-minute load average: figures taken while other processes use the cores are lower."""
    return round(os.getloadavg()[0], 2)


def timed(fn) -> tuple[Any, float, float]:
    """Run ``fn()``; returns (result, wall seconds, process CPU seconds)."""
    cpu0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - cpu0
