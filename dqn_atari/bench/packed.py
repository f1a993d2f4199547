"""``python -m dqn_atari.bench packed``: K seeds packed in one process against K single runs.

Both sides train the same K seeds of one game, learning phase only (no evaluation phase),
with a fixed epsilon after a warm-up that is not measured:

* packed: ONE process, ``seeds=[0..K-1]`` (run/runner.py), ``torch_threads`` = the
  cores given (``--threads``, 2 here): one vmapped update of K batches every 4 agent steps;
* single: K processes at once, one seed each, ``torch_threads=1`` each (K processes with
  more threads than free cores spin-wait: README, Performance), the way K jobs would share
  the machine.

The figure is the TOTAL agent steps/s of the K seeds while they learn: for the packed run,
K x (its agent steps from the first update to the end) / that time; for the single runs,
(the sum of their learning agent steps) / (the last one's end - the first one's start of
learning), and the sum of their rates. The load average before each side is printed: other
jobs on the machine lower both figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from typing import Any

from dqn_atari.bench.measure import load_average


def _overrides(game: str, agent_steps: int, warmup: int, capacity: int, epsilon: float,
               threads: int, run_dir: str) -> list[str]:
    total = warmup + agent_steps
    return [f"env.game={game}", "logger.wandb_mode=disabled", "logger.progress_bar=false",
            "agent.device=cpu", f"torch_threads={threads}", f"total_frames={total * 4}",
            f"train_agent_steps_per_iteration={total}", "eval_agent_steps_per_iteration=0",
            f"agent.learning_starts_agent_steps={warmup}", f"replay.capacity={capacity}",
            f"agent.epsilon_start={epsilon}", f"agent.epsilon_end={epsilon}",
            "checkpoint_replay=false", "final_eval.enabled=false", f"run_dir={run_dir}"]


class _LearningClock:
    """Wall time and agent step of the first and last update (the measured window)."""

    def __init__(self) -> None:
        self.first: tuple[float, int] | None = None
        self.last: tuple[float, int] | None = None

    def __call__(self, event: str, step: int, _updates: int) -> None:
        if event != "update":
            return
        now = time.time()
        if self.first is None:
            self.first = (now, step)
        self.last = (now, step)

    def window(self) -> dict[str, float]:
        (t0, s0), (t1, s1) = self.first, self.last
        return {"t_start": t0, "t_end": t1, "agent_steps": s1 - s0, "seconds": t1 - t0}


def run_single(seed: int, **kw) -> dict[str, Any]:
    """One seed alone in this process (a worker of the ``single`` side)."""
    from dqn_atari.compose import compose_config
    from dqn_atari.run.runner import Runner

    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_config([*_overrides(run_dir=f"{tmp}/seed_{seed}", **kw), f"seed={seed}"])
        runner = Runner(cfg)
        clock = _LearningClock()
        runner.on_loop_event = clock
        runner.run()
    return {"seed": seed, **clock.window()}


def run_packed(seeds: list[int], **kw) -> dict[str, Any]:
    """The K seeds packed in this process."""
    from dqn_atari.compose import compose_config
    from dqn_atari.run.runner import Runner
    from dqn_atari.run.seed_run import seed_configs

    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_config([*_overrides(run_dir=tmp + "/seed_${seed}", **kw),
                              f"seeds=[{','.join(map(str, seeds))}]"])
        runner = Runner(seed_configs(cfg))
        clock = _LearningClock()
        runner.on_loop_event = clock
        runner.run()
    window = clock.window()
    return {**window, "total_agent_steps_per_s": len(seeds) * window["agent_steps"]
            / window["seconds"]}


def bench_packed(game: str, *, seeds: int, agent_steps: int, warmup: int, capacity: int,
                 epsilon: float, threads: int) -> dict[str, Any]:
    """K = ``seeds`` packed (``threads`` torch threads) against K single processes (1 each)."""
    kw = {"game": game, "agent_steps": agent_steps, "warmup": warmup, "capacity": capacity,
          "epsilon": epsilon}
    load_single = load_average()
    args = [f"--game={game}", f"--agent-steps={agent_steps}", f"--learning-starts={warmup}",
            f"--capacity={capacity}", f"--epsilon={epsilon}"]
    workers = [subprocess.Popen([sys.executable, "-m", "dqn_atari.bench", "packed", *args,
                                 f"--single-seed={seed}"], stdout=subprocess.PIPE, text=True)
               for seed in range(seeds)]
    singles = []
    for worker in workers:
        out, _ = worker.communicate()
        if worker.returncode != 0:
            raise RuntimeError(f"a single-run worker failed (exit {worker.returncode})")
        singles.append(json.loads(out.strip().splitlines()[-1]))
    span = max(s["t_end"] for s in singles) - min(s["t_start"] for s in singles)
    single_total = sum(s["agent_steps"] for s in singles) / span
    single_sum_of_rates = sum(s["agent_steps"] / s["seconds"] for s in singles)

    load_packed = load_average()
    print(f"[bench packed] packed: K={seeds}, torch_threads={threads}", file=sys.stderr,
          flush=True)
    packed = run_packed(list(range(seeds)), threads=threads, **kw)
    return {
        "bench": "packed", "game": game, "seeds": seeds, "agent_steps_measured": agent_steps,
        "learning_starts_agent_steps": warmup, "epsilon": epsilon,
        "single": {"processes": seeds, "torch_threads": 1, "load_average_before": load_single,
                   "total_agent_steps_per_s": round(single_total, 1),
                   "sum_of_rates_agent_steps_per_s": round(single_sum_of_rates, 1),
                   "per_seed_agent_steps_per_s": [round(s["agent_steps"] / s["seconds"], 1)
                                                  for s in singles]},
        "packed": {"processes": 1, "torch_threads": threads, "load_average_before": load_packed,
                   "total_agent_steps_per_s": round(packed["total_agent_steps_per_s"], 1)},
        "packed_over_single": round(packed["total_agent_steps_per_s"] / single_total, 2),
        "load_average_after": load_average(),
    }


def bench_packed_cmd(args) -> dict[str, Any]:
    """The ``packed`` subcommand (registered in bench/cli.py)."""
    kw = {"game": args.game, "agent_steps": args.agent_steps, "warmup": args.learning_starts,
          "capacity": args.capacity, "epsilon": args.epsilon}
    if args.single_seed is not None:
        return run_single(args.single_seed, threads=1, **kw)
    return bench_packed(seeds=args.seeds, threads=args.threads, **kw)


def add_packed_subcommand(sub) -> None:
    """``packed``'s options."""
    packed = sub.add_parser("packed", help="total agent steps/s: K seeds packed vs K processes")
    packed.add_argument("--game", default="pong", help="snake_case ALE ROM id")
    packed.add_argument("--seeds", type=int, default=4, help="K")
    packed.add_argument("--agent-steps", type=int, default=1000,
                        help="agent steps per seed measured, after the warm-up")
    packed.add_argument("--learning-starts", type=int, default=500,
                        help="agent.learning_starts_agent_steps (warm-up, not measured)")
    packed.add_argument("--capacity", type=int, default=10_000, help="replay.capacity per seed")
    packed.add_argument("--epsilon", type=float, default=0.1, help="fixed epsilon")
    packed.add_argument("--threads", type=int, default=2, help="torch_threads of the packed run")
    packed.add_argument("--single-seed", type=int, default=None,
                        help=argparse.SUPPRESS)  # internal: one worker of the single side
    packed.set_defaults(func=bench_packed_cmd)
