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
