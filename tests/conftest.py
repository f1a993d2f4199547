"""Shared test helpers: compose the real Hydra config of dqn_atari/conf/ with overrides."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_REFERENCE = REPO.parent / "shared" / "reference"

# wandb never reaches a server in tests.
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

# Under pytest-xdist (`make test` runs two workers), a test's torch threads share the cores with
# the other worker's: OpenMP threads that spin while they wait would take the core the other
# worker needs (a 2-thread update was 10x slower on busy cores). Passive waiting, set before
# torch loads OpenMP, and inherited by the runs the tests start as subprocesses.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _skip_gpu_tests_without_cuda(items) -> None:
    """``gpu`` tests need a CUDA device: without one they are skipped, saying so."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="gpu test: no CUDA device (torch.cuda.is_available() is "
                                   "False); run `pytest -m gpu` on a GPU node")
    for item in gpu_items:
        item.add_marker(skip)


def pytest_collection_modifyitems(config, items):
    """``gpu`` tests are skipped without CUDA. With pytest-xdist's ``--dist loadgroup``: a
    file's tests stay on one worker (its module-scoped fixtures are built once), and every
    ``slurm`` test runs on the same worker, one at a time, as they did before xdist (the
    cluster is one 2-CPU node)."""
    _skip_gpu_tests_without_cuda(items)
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        group = "slurm" if item.get_closest_marker("slurm") else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))


def compose(overrides: list[str]):
    """The run config exactly as `python -m dqn_atari.train <overrides>` would build it."""
    from dqn_atari.compose import compose_config

    return compose_config(overrides)


def run_module(module: str, *args: str, **kwargs):
    """Run `python -m module args` in the repo with the test's interpreter."""
    import subprocess

    return subprocess.run([sys.executable, "-m", module, *args], check=False, cwd=REPO, capture_output=True,
                          text=True, **kwargs)


@pytest.fixture
def composed():
    return compose


@pytest.fixture
def report_root(tmp_path):
    """The analysis tests' runs with known evaluation scores (analysis_runs.EVAL)."""
    from analysis_runs import write_report_runs

    return write_report_runs(tmp_path / "runs")


@pytest.fixture
def hns_root(tmp_path):
    """The analysis tests' runs whose human-normalised scores are round (analysis_runs.HNS)."""
    from analysis_runs import write_hns_runs

    return write_hns_runs(tmp_path / "runs")
