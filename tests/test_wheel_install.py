"""The wheel of this checkout installs and trains without the checkout.

Builds a wheel of the checkout's ``pyproject.toml``, ``README.md`` and ``dqn_atari/`` (copied
to a tmp dir first, so the build's ``build/`` and ``*.egg-info`` stay out of the checkout)
with ``pip wheel --no-deps --no-build-isolation`` (no network), installs it with
``--no-deps`` into a fresh venv, and makes the running venv's dependencies importable
through a ``.pth`` line instead of installing torch again.

A directory added by a ``.pth`` line is only put on ``sys.path``: the ``.pth`` files inside
it are not processed. So the running venv's editable install of dqn_atari (a finder that
its own ``.pth`` file activates) stays inactive and the fresh venv imports the wheel's copy,
which is checked. Then the smoke preset trains from a directory outside the checkout: the
Hydra config (``dqn_atari/conf``) and the reference tables (``dqn_atari/data``) must come
from the installed package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow

WHEEL_MEMBERS = (
    "dqn_atari/conf/config.yaml",
    "dqn_atari/conf/agent/dqn.yaml",
    "dqn_atari/conf/env/atari.yaml",
    "dqn_atari/conf/experiment/smoke.yaml",
    "dqn_atari/conf/experiment/nature.yaml",
    "dqn_atari/conf/hydra/launcher/slurm.yaml",
    "dqn_atari/conf/logger/wandb.yaml",
    "dqn_atari/conf/optim/rmsprop_centered.yaml",
    "dqn_atari/conf/replay/uniform.yaml",
    "dqn_atari/data/nature_dqn_2015_table2.csv",
    "dqn_atari/data/dopamine_dqn_legacy_per_seed.csv",  # the Dopamine overlay reads it
    "dqn_atari/data/SOURCES.md",  # and this cites its source
    "dqn_atari/analysis/report.py",
    "dqn_atari/bench/__main__.py",
)


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float):
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def _tail(result, chars: int = 3000) -> str:
    return (f"exit code {result.returncode}: {' '.join(map(str, result.args))}\n"
            f"--- stdout (tail) ---\n{result.stdout[-chars:]}\n"
            f"--- stderr (tail) ---\n{result.stderr[-chars:]}")


def _clean_env() -> dict[str, str]:
    """This environment without anything that would put the checkout on the path."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV",
                        "PYTHONSAFEPATH")}
    env.update(WANDB_MODE="disabled", WANDB_SILENT="true", PIP_NO_INDEX="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONNOUSERSITE="1")
    return env


def test_wheel_installs_and_trains_outside_the_checkout(tmp_path):
    pytest.importorskip("setuptools", reason="--no-build-isolation builds with this venv's "
                        "setuptools")
    env = _clean_env()
    started = time.perf_counter()

    # 1. The wheel, built from a copy of the checkout (with its uncommitted changes).
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "dqn_atari", src / "dqn_atari",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    dist = tmp_path / "dist"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                  "--no-index", "-w", dist, src], cwd=tmp_path, env=env, timeout=900)
    assert built.returncode == 0, "building the wheel failed:\n" + _tail(built)
    wheels = sorted(dist.glob("dqn_atari-*.whl"))
    assert len(wheels) == 1, f"expected one dqn_atari wheel in {dist}: {os.listdir(dist)}"
    members = set(zipfile.ZipFile(wheels[0]).namelist())
    missing = [m for m in WHEEL_MEMBERS if m not in members]
    assert not missing, (f"{wheels[0].name} lacks {missing}; it holds "
                         f"{sorted(m for m in members if not m.endswith('.py'))}")

    # 2. A fresh venv with the wheel and nothing else of ours.
    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path, env=env,
                timeout=300)
    assert made.returncode == 0, "creating the venv failed:\n" + _tail(made)
    python = venv / "bin" / "python"
    # pip of this venv installs into the fresh one (--python): no pip needed there, and the
    # .pth below does not exist yet, so pip sees no other dqn_atari to replace.
    installed = _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
                      "--no-index", wheels[0]], cwd=tmp_path, env=env, timeout=600)
    assert installed.returncode == 0, "installing the wheel failed:\n" + _tail(installed)
    paths = _run([python, "-c", "import json, sysconfig; print(json.dumps(sysconfig.get_paths()))"],
                 cwd=tmp_path, env=env, timeout=120)
    assert paths.returncode == 0, _tail(paths)
    fresh_site = Path(json.loads(paths.stdout)["purelib"])
    ours = sysconfig.get_paths()
    deps = list(dict.fromkeys([ours["purelib"], ours["platlib"]]))
    (fresh_site / "zz_dependencies_of_the_test_venv.pth").write_text("\n".join(deps) + "\n")

    # 3. From outside the checkout, dqn_atari is the wheel's copy, with its config.
    outside = tmp_path / "outside"
    outside.mkdir()
    where = _run([python, "-c", (
        "import pathlib, dqn_atari, torch, hydra\n"
        "package = pathlib.Path(dqn_atari.__file__).resolve().parent\n"
        "print(package)\n"
        "print((package / 'conf' / 'config.yaml').is_file())\n")],
        cwd=outside, env=env, timeout=300)
    assert where.returncode == 0, "importing dqn_atari in the fresh venv failed:\n" + _tail(where)
    package_dir, has_config = where.stdout.strip().splitlines()[-2:]
    assert Path(package_dir).is_relative_to(venv.resolve()), (
        f"the fresh venv imported dqn_atari from {package_dir}, not from its own "
        f"site-packages under {venv} (the editable install or the checkout leaked in)")
    assert has_config == "True", f"the installed package has no conf/config.yaml: {package_dir}"

    # 4. The smoke preset trains there.
    run_dir = tmp_path / "run"
    smoke = _run([python, "-m", "dqn_atari.train", "experiment=smoke", f"run_dir={run_dir}",
                  "logger.wandb_mode=disabled", "torch_threads=1"], cwd=outside, env=env,
                 timeout=1800)
    assert smoke.returncode == 0, "the smoke run of the installed wheel failed:\n" + _tail(smoke)
    summary_path = run_dir / "summary.json"
    assert summary_path.is_file(), f"no {summary_path}:\n" + _tail(smoke)
    summary = json.loads(summary_path.read_text())
    assert summary["status"] == "finished", f"summary.json: {summary}\n" + _tail(smoke)
    print(f"wheel build, install and smoke run: {time.perf_counter() - started:.0f} s")
