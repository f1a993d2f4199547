"""Does a change of the code keep what runs do? Runs fixed configurations under two code trees.

A restructuring must not change a run's games, metrics or parameters. This script runs the
same configurations under the code of two checkouts (a ``git worktree`` of the commit before
the change, and the change) and compares what they wrote:

  python scripts/behaviour_identity.py run --tree /path/to/old --out /tmp/bi/old
  python scripts/behaviour_identity.py run --tree . --out /tmp/bi/new
  python scripts/behaviour_identity.py compare /tmp/bi/old /tmp/bi/new
  python scripts/behaviour_identity.py resume --old /path/to/old --new . --out /tmp/bi/resume

``run``: the six smoke configurations (1 actor; 3 actors; overlap; 4 actors with overlap;
lz4 replay; catch with 4 actors and overlap) and packed seeds (``seeds=[0,1]``, smoke and
catch), each in its own run dir under ``--out``.

``compare``: per run dir, ``episodes.csv`` and ``iterations.csv`` equal row for row (wall
times and rates aside) and the final online parameters equal (the largest difference is
printed; exact for single runs and packed runs alike, since the same kernels run).

``resume``: a run stopped by SIGTERM under the old code and resumed under the new one ends
as the straight run under the old code does (catch, 4 actors with overlap; and packed seeds).

Exit status 0 when everything is identical, 1 otherwise. Each run is a subprocess
``python -m dqn_atari.train`` whose working directory and PYTHONPATH are the tree.
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SMOKE = ["experiment=smoke", "logger.wandb_mode=disabled"]
CATCH = ["experiment=catch", "logger.wandb_mode=disabled", "logger.progress_bar=false",
         "total_frames=12000", "eval_agent_steps_per_iteration=90"]
CONFIGS: dict[str, list[str]] = {
    "one_actor": SMOKE,
    "three_actors": [*SMOKE, "env.num_envs=3"],
    "overlap": [*SMOKE, "agent.overlap=true"],
    "four_actors_overlap": [*SMOKE, "env.num_envs=4", "agent.overlap=true"],
    "lz4": [*SMOKE, "replay.compress=true"],
    "catch_four_actors_overlap": [*CATCH, "env.num_envs=4", "agent.overlap=true"],
    "packed_smoke": [*SMOKE, "seeds=[0,1]"],
    "packed_catch": [*CATCH, "seeds=[0,1]"],
}
# Long enough to be stopped mid-run by SIGTERM.
RESUMED: dict[str, list[str]] = {
    "resume_catch_overlap": [*CATCH, "total_frames=40000", "env.num_envs=4",
                             "agent.overlap=true"],
    "resume_packed_catch": [*CATCH, "total_frames=40000", "seeds=[0,1]"],
}
DROPPED_COLUMNS = {"wall_time_s", "train_agent_steps_per_s"}


def _train(tree: Path, run_root: Path, overrides: list[str], stop_after_s: float | None = None
           ) -> int:
    """``python -m dqn_atari.train`` under ``tree``; SIGTERM after ``stop_after_s`` if given."""
    run_dir = "run_dir=" + str(run_root / ("seed_${seed}" if any(
        o.startswith("seeds=") for o in overrides) else "seed_0"))
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "dqn_atari.train", *overrides, run_dir, "torch_threads=1"]
    run_root.parent.mkdir(parents=True, exist_ok=True)
    log = (run_root.parent / f"{run_root.name}.log").open("a")
    process = subprocess.Popen(command, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT)
    if stop_after_s is not None:
        try:
            process.wait(timeout=stop_after_s)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)
    return process.wait()


def run(tree: Path, out: Path, names: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        t0 = time.perf_counter()
        code = _train(tree.resolve(), out.resolve() / name, CONFIGS[name])
        print(f"{name}: exit {code}, {time.perf_counter() - t0:.0f} s", flush=True)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return [{k: v for k, v in row.items() if k not in DROPPED_COLUMNS}
                for row in csv.DictReader(f)]


def _online_parameters(run_dir: Path):
    try:
        from dqn_atari.run.checkpoint import checkpoint_paths, load_checkpoint
    except ImportError:  # the code before the run/ package
        from dqn_atari.checkpoint import checkpoint_paths, load_checkpoint
    newest = checkpoint_paths(run_dir)[0]
    return load_checkpoint(newest, allow_pickle=False)["agent"]["online"], newest.name


def compare_run_dirs(old: Path, new: Path) -> list[str]:
    """What differs between two run dirs (empty: identical)."""
    problems = []
    for table in ("episodes.csv", "iterations.csv"):
        a, b = _rows(old / "metrics" / table), _rows(new / "metrics" / table)
        if a != b:
            first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            problems.append(f"{table}: {len(a)} vs {len(b)} rows, first difference at row {first}")
    (pa, name_a), (pb, name_b) = _online_parameters(old), _online_parameters(new)
    if name_a != name_b:
        problems.append(f"newest checkpoint {name_a} vs {name_b}")
    worst = max(float((pa[k].double() - pb[k].double()).abs().max()) for k in pa)
    if worst != 0.0:
        problems.append(f"online parameters differ by up to {worst:.3g}")
    return problems


def compare(old_root: Path, new_root: Path) -> bool:
    same = True
    for old in sorted(p for p in old_root.rglob("seed_*") if (p / "metrics").is_dir()):
        new = new_root / old.relative_to(old_root)
        problems = compare_run_dirs(old, new) if new.is_dir() else [f"{new} missing"]
        episodes = len(_rows(old / "metrics" / "episodes.csv"))
        print(f"{old.relative_to(old_root)}: "
              + ("identical" if not problems else "; ".join(problems))
              + f" ({episodes} episode rows)", flush=True)
        same &= not problems
    return same


def resume(old_tree: Path, new_tree: Path, out: Path, stop_after_s: float,
           names: list[str]) -> bool:
    """Straight under old; stopped under old and resumed under new; the two must agree."""
    same = True
    for name in names:
        overrides = RESUMED[name]
        straight, resumed = out.resolve() / name / "straight", out.resolve() / name / "resumed"
        _train(old_tree.resolve(), straight, overrides)
        code = _train(old_tree.resolve(), resumed, overrides, stop_after_s=stop_after_s)
        print(f"{name}: the old code stopped with exit {code} after {stop_after_s:.0f} s",
              flush=True)
        code = _train(new_tree.resolve(), resumed, overrides)
        print(f"{name}: the new code resumed it, exit {code}", flush=True)
        same &= compare(straight, resumed)
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("run", help="run the configurations under one tree")
    one.add_argument("--tree", type=Path, required=True)
    one.add_argument("--out", type=Path, required=True)
    one.add_argument("--only", nargs="*", choices=sorted(CONFIGS), default=list(CONFIGS))
    two = commands.add_parser("compare", help="compare two `run` outputs")
    two.add_argument("old", type=Path)
    two.add_argument("new", type=Path)
    three = commands.add_parser("resume", help="stop under the old tree, resume under the new")
    three.add_argument("--old", type=Path, required=True)
    three.add_argument("--new", type=Path, required=True)
    three.add_argument("--out", type=Path, required=True)
    three.add_argument("--stop-after-s", type=float, default=40.0)
    three.add_argument("--only", nargs="*", choices=sorted(RESUMED), default=list(RESUMED))
    args = parser.parse_args()
    if args.command == "run":
        run(args.tree, args.out, args.only)
    elif args.command == "compare":
        sys.exit(0 if compare(args.old, args.new) else 1)
    else:
        sys.exit(0 if resume(args.old, args.new, args.out, args.stop_after_s, args.only) else 1)


if __name__ == "__main__":
    main()
