"""The CPU this process runs on, from /proc/cpuinfo: its model name, family and model.

Speed figures name the CPU beside them (two hosts with the same flags run the same kernels
at different speeds), and a run's provenance records it at every start
(run/provenance.py), so a curve resumed on another host says so. Linux only: elsewhere the
fields are empty (None).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def first_cpu(cpuinfo_text: str | None) -> dict[str, str]:
    """The fields of the first processor's block of /proc/cpuinfo (``cpuinfo_text`` if given;
    empty if there is none)."""
    if cpuinfo_text is None:
        path = Path("/proc/cpuinfo")
        cpuinfo_text = path.read_text() if path.exists() else ""
    fields: dict[str, str] = {}
    for line in cpuinfo_text.splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_model(cpuinfo_text: str | None = None) -> dict[str, Any]:
    """The first CPU's model name, family and model numbers, and whether it is a virtual machine."""
    fields = first_cpu(cpuinfo_text)
    return {"model_name": fields.get("model name"), "family": fields.get("cpu family"),
            "model": fields.get("model"),
            "virtual_machine": "hypervisor" in fields.get("flags", "").split()}
