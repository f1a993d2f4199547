"""Where the learning phase's time goes: agent steps/s of a real run and each part's ms inside it.

    python scripts/loop_parts.py --threads 2 --agent-steps 3000 [--tree DIR] [override ...]

Runs the ``nature`` preset on Breakout (as ``bench train``: a shrunk warm-up of 1,000 agent
steps and replay, epsilon fixed at 0.1, no evaluation, no replay in checkpoints), and prints
one JSON line: the agent steps/s of each 1,000-agent-step iteration of the learning phase,
and the mean milliseconds of each part as measured INSIDE the loop (a greedy act, an env
step, a replay sample, an update). ``bench learner`` times the update back to back; inside
the loop, between acts and emulator steps, the same update takes longer.

``--tree DIR`` runs the code of another checkout (a ``git worktree`` of an older commit), with
this interpreter; its parts are timed where their classes exist. Overrides are Hydra's, e.g.
``agent.compile=true agent.precision=bf16`` or ``agent.channels_last=false``.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

# (module, class, method, part): what is timed, where it exists in the checkout's code.
PARTS = (
    ("dqn_atari.agent", "DQNAgent", "_greedy", "greedy_act"),
    ("dqn_atari.envs.atari", "NatureAtariEnv", "step", "env_step"),
    ("dqn_atari.replay.uniform", "UniformReplay", "sample", "replay_sample"),
    ("dqn_atari.update_step", "UpdateStep", "__call__", "update"),
)
WARMUP_AGENT_STEPS = 1000


def _time_parts(totals: dict[str, list[float]], tree: Path) -> list[str]:
    """Wrap each part's method to add its calls and seconds to ``totals``; returns the parts."""
    timed = []
    for module_name, class_name, method, part in PARTS:
        try:
            module = importlib.import_module(module_name)
            cls = getattr(module, class_name)
        except (ImportError, AttributeError):
            continue  # an older checkout: that part is not timed
        if tree not in Path(module.__file__).resolve().parents:
            continue  # found in the installed checkout, not in ``tree``: not this code's part
        inner = getattr(cls, method)

        def wrapper(*args, _inner=inner, _part=part, **kwargs):
            start = time.perf_counter()
            try:
                return _inner(*args, **kwargs)
            finally:
                totals[_part][0] += 1
                totals[_part][1] += time.perf_counter() - start

        setattr(cls, method, wrapper)
        timed.append(part)
    return timed


def _compose(tree: Path, overrides: list[str]):
    if (tree / "dqn_atari" / "compose.py").exists():
        from dqn_atari.compose import compose_config
    else:  # before dqn_atari/compose.py existed
        from dqn_atari.bench_speed import compose_config
    return compose_config(overrides)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the checkout whose code runs (default: this one)")
    parser.add_argument("--threads", type=int, default=2, help="torch_threads")
    parser.add_argument("--agent-steps", type=int, default=3000,
                        help="agent steps of the learning phase (after 1,000 of warm-up)")
    parser.add_argument("--game", default="breakout")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides")
    args = parser.parse_args(argv)
    tree = args.tree.resolve()
    sys.path.insert(0, str(tree))
    for name in [m for m in sys.modules if m == "dqn_atari" or m.startswith("dqn_atari.")]:
        del sys.modules[name]
    import dqn_atari
    try:
        from dqn_atari.run.runner import Runner
    except ImportError:  # a checkout before the run/ package
        from dqn_atari.runner import Runner

    if Path(dqn_atari.__file__).resolve().parent != tree / "dqn_atari":
        parser.error(f"imported {dqn_atari.__file__}, not the code of {tree}")
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    timed = _time_parts(totals, tree)
    with tempfile.TemporaryDirectory(prefix="loop_parts_") as run_dir:
        overrides = [
            "experiment=nature", f"env.game={args.game}", "seed=0", f"run_dir={run_dir}",
            f"torch_threads={args.threads}", "agent.device=cpu",
            f"agent.learning_starts_agent_steps={WARMUP_AGENT_STEPS}", "replay.capacity=20000",
            f"train_agent_steps_per_iteration={WARMUP_AGENT_STEPS}",
            "eval_agent_steps_per_iteration=0",
            f"total_frames={4 * (WARMUP_AGENT_STEPS + args.agent_steps)}",
            "checkpoint_replay=false", "logger.wandb_mode=disabled", "logger.progress_bar=false",
            "agent.epsilon_start=0.1", "agent.epsilon_end=0.1",
        ]
        if any((tree / "dqn_atari" / where / "final_eval.py").exists() for where in (".", "run")):
            overrides.append("final_eval.enabled=false")
        Runner(_compose(tree, [*overrides, *args.overrides])).run()
        with open(Path(run_dir) / "metrics" / "iterations.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    rates = [round(float(r["train_agent_steps_per_s"]), 1) for r in rows[1:]]
    out = {
        "tree": str(tree), "threads": args.threads, "game": args.game,
        "overrides": args.overrides,
        "learning_agent_steps_per_s_per_iteration": rates,
        # the first update of a compiled run includes its compilation: see the per-iteration rates
        "part_ms_mean": {part: round(1e3 * totals[part][1] / totals[part][0], 3)
                         for part in timed if totals[part][0]},
        "part_calls": {part: totals[part][0] for part in timed},
    }
    out["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
