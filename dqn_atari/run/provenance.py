"""Where a run's numbers came from: code version, packages, host, device, SLURM ids.

``collect(device)`` describes the process that runs: the git commit and dirty flag of the
``dqn_atari`` code it imported (null with the reason when that code is not in a git work
tree, e.g. an installed wheel, or git is missing), the versions of python, torch, ale-py,
gymnasium and numpy, the host and its CPU model (host_cpu.py), the torch device (with the CUDA device's name) and the SLURM
job/array ids. The runner writes it into every checkpoint (``state["provenance"]``) and
appends it to ``<run_dir>/provenance.json`` at every start (``record_start``), so a run
resumed under other code keeps both records; ``differences`` names what changed, for the
warning.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from dqn_atari.host_cpu import cpu_model
from dqn_atari.run.status_file import slurm_ids, write_json_atomic

PROVENANCE_FILE = "provenance.json"
PACKAGES = ("torch", "ale-py", "gymnasium", "numpy")
GIT_TIMEOUT_S = 10.0
# What makes a resumed run's numbers come from other code (host, device and SLURM ids change
# on every requeue and are recorded, not warned about).
COMPARED = ("code.commit", "code.dirty", "versions.python",
            *(f"versions.{name}" for name in PACKAGES))


def _git(args: list[str], cwd: Path) -> tuple[str | None, str | None]:
    """(stdout, None) or (None, why git could not answer)."""
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                                timeout=GIT_TIMEOUT_S, check=False)
    except FileNotFoundError:
        return None, "git is not installed"
    except subprocess.TimeoutExpired:
        return None, f"git did not answer within {GIT_TIMEOUT_S:.0f} s"
    if result.returncode != 0:
        return None, (result.stderr.strip().splitlines() or ["git failed"])[0]
    return result.stdout.rstrip(), None


def code_version(package_dir: Path | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the code in ``package_dir`` (default: this package's)."""
    package_dir = Path(package_dir or Path(__file__).resolve().parent)
    info: dict[str, Any] = {"path": str(package_dir), "commit": None, "dirty": None,
                            "reason": None}
    top, why = _git(["rev-parse", "--show-toplevel"], package_dir)
    if top is None:
        info["reason"] = (f"{package_dir} is not in a git work tree ({why})"
                          if why and "not a git repository" in why.lower() else why)
        return info
    tracked, why = _git(["ls-files", "--", "."], package_dir)
    if not tracked:  # e.g. a wheel installed into a .venv inside some repository
        info["reason"] = why or (f"{package_dir} is inside the git work tree {top} but not "
                                 "tracked by it (an installed copy?)")
        return info
    commit, why = _git(["rev-parse", "HEAD"], package_dir)
    if commit is None:
        info["reason"] = why
        return info
    # Tracked files changed since the commit (untracked files are run outputs and the like).
    changed, why = _git(["status", "--porcelain", "--untracked-files=no"], package_dir)
    info.update(commit=commit, dirty=bool(changed) if changed is not None else None,
                repository=top)
    if changed is None:
        info["reason"] = f"dirty flag unknown: {why}"
    elif changed:
        info["changed_files"] = [line[3:] for line in changed.splitlines()][:50]
    return info


def package_versions() -> dict[str, str | None]:
    """python and the packages a result depends on (None: not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        versions["dqn-atari"] = metadata.version("dqn-atari")
    except metadata.PackageNotFoundError:
        versions["dqn-atari"] = None
    return versions


def device_info(device: Any) -> dict[str, Any]:
    """The torch device a run computes on; for CUDA, the device's name and CUDA version."""
    info: dict[str, Any] = {"device": str(device)}
    if str(device).startswith("cuda"):
        import torch

        index = torch.device(device).index or 0
        info.update(cuda_device_name=torch.cuda.get_device_name(index),
                    cuda_capability=".".join(map(str, torch.cuda.get_device_capability(index))),
                    cuda_version=torch.version.cuda)
    return info


def collect(device: Any = "cpu") -> dict[str, Any]:
    """This process's provenance (see the module docstring)."""
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "code": code_version(),
        "versions": package_versions(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "cpu": cpu_model(),  # model name, family, model: the speed figures' host
        "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        **device_info(device),
        "slurm": slurm_ids(),
        "argv": list(sys.argv),
    }


def _get(record: dict[str, Any], dotted: str) -> Any:
    node: Any = record
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def differences(before: dict[str, Any] | None, now: dict[str, Any]) -> list[str]:
    """What differs between two provenance records on ``COMPARED`` keys, as log lines."""
    if not before:
        return []
    return [f"{key}: {_get(before, key)!r} before, {_get(now, key)!r} now"
            for key in COMPARED if _get(before, key) != _get(now, key)]


def read_starts(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / PROVENANCE_FILE
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text()).get("starts", []))
    except (ValueError, AttributeError):
        return []


def record_start(run_dir: Path, record: dict[str, Any], *, agent_steps: int,
                 checkpoint_provenance: dict[str, Any] | None,
                 resumed: bool) -> list[str]:
    """Append this start to ``provenance.json``; returns the differences to warn about.

    A resume is compared with the provenance of the checkpoint it continues (else with the
    previous start's record). Both records stay: the checkpoint's in the file's earlier
    starts, this one appended with the agent step it starts from.
    """
    starts = read_starts(run_dir)
    before = checkpoint_provenance or (starts[-1] if starts else None)
    changed = differences(before, record) if resumed else []
    entry = {**record, "agent_steps_at_start": agent_steps, "resumed": resumed,
             "differs_from_checkpoint": changed}
    write_json_atomic(Path(run_dir) / PROVENANCE_FILE, {"starts": [*starts, entry]})
    return changed
