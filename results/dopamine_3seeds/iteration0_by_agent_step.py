"""Iteration 0's training games split by the agent step at which they ended (README,
"The game is not the cause"): the games at epsilon 1 (agent steps 0-20k, uniform random play)
and three later spans, per game and seed, from the copied metrics/episodes.csv.

    python3 results/dopamine_3seeds/iteration0_by_agent_step.py
"""

import csv
import statistics
from pathlib import Path

RUNS = Path(__file__).parent / "runs" / "dopamine_dqn"
SPANS_AGENT_STEPS = ((0, 20_000), (20_000, 100_000), (100_000, 180_000), (180_000, 250_001))

for game in ("ms_pacman", "road_runner"):
    for seed_dir in sorted((RUNS / game).glob("seed_*")):
        with open(seed_dir / "metrics" / "episodes.csv") as f:
            games = [r for r in csv.DictReader(f) if r["phase"] == "train" and r["iteration"] == "0"]
        cells = []
        for lo, hi in SPANS_AGENT_STEPS:
            returns = [float(r["raw_return"]) for r in games if lo <= int(r["agent_steps"]) < hi]
            mean = f"{statistics.fmean(returns):.1f}" if returns else "-"
            cells.append(f"agent steps {lo:,}-{min(hi, 250_000):,}: {mean} ({len(returns)} games)")
        print(game, seed_dir.name, " | ".join(cells))
