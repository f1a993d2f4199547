#!/usr/bin/env bash
# Copy what the six runs of commands.sh have written so far (the resolved config.yaml,
# provenance.json, the per-iteration and per-game metrics, resume-time config changes, the
# end-of-run evaluation's eval_nature.json; not the checkpoints) into runs/ here, and redo
# the comparison with Dopamine's published DQN:
# side_by_side.{csv,md} (per game and iteration: our seeds, Dopamine's 5, a Welch t-test)
# and one plot per game. The one-seed runs of results/dopamine_side_by_side (the Nature
# network under Dopamine's settings) are drawn beside them as the ablation. Safe to run while
# the runs go on: an unfinished iteration is shown from its games so far and not tested, and
# until all 3 seeds have finished an iteration its verdict is marked interim.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
RUNS_ROOT=${RUNS_ROOT:-/work/runs/dopamine_3seeds}
PY=${PY:-.venv/bin/python}
for src in "$RUNS_ROOT"/dopamine_dqn/*/seed_*; do
    [[ -f "$src/metrics/episodes.csv" ]] || continue
    dst="$here/runs/${src#"$RUNS_ROOT"/}"
    mkdir -p "$dst/metrics"
    cp "$src/config.yaml" "$src/provenance.json" "$dst/"
    # settings changed on a resume, and the end-of-run 30-game evaluation, where there are any
    for extra in config_changes.yaml eval_nature.json; do
        [[ -f "$src/$extra" ]] && cp "$src/$extra" "$dst/"
    done
    # summary.json is rewritten at every stop: copied once the run has finished
    grep -qs '"state": "finished"' "$src/status.json" && cp "$src/summary.json" "$dst/"
    cp "$src/metrics/episodes.csv" "$dst/metrics/"
    [[ -f "$src/metrics/iterations.csv" ]] && cp "$src/metrics/iterations.csv" "$dst/metrics/"
done
ablation="$here/../dopamine_side_by_side/runs/dopamine_dqn"
"$PY" -m dqn_atari.side_by_side \
    --run dopamine_dqn="$here/runs/dopamine_dqn/road_runner" \
    --run dopamine_dqn="$here/runs/dopamine_dqn/ms_pacman" \
    --run dopamine_dqn_nature_network="$ablation/road_runner" \
    --run dopamine_dqn_nature_network="$ablation/ms_pacman" \
    --expected-seeds 3 --out "$here"
# Per finished iteration, ours beside the ablation's (metrics/iterations.csv): the mean Huber
# loss and mean Q the runs log (what each network's learning looks like from inside), the
# training return, and the run's counted wall time and speed.
"$PY" - "$here" <<'PYEOF' > "$here/iterations.md"
import sys
from pathlib import Path

import pandas as pd

here = Path(sys.argv[1])
sources = {"dopamine_dqn": sorted(here.glob("runs/dopamine_dqn/*/seed_*/metrics/iterations.csv")),
           "dopamine_dqn_nature_network": sorted(
               (here / "../dopamine_side_by_side/runs/dopamine_dqn").glob("*/metrics/iterations.csv"))}
rows = []
for run, paths in sources.items():
    for path in paths:
        seed_dir = path.parent.parent
        game = seed_dir.parent.name if seed_dir.name.startswith("seed_") else seed_dir.name
        seed = seed_dir.name.removeprefix("seed_") if seed_dir.name.startswith("seed_") else "0"
        for r in pd.read_csv(path).itertuples():
            rows.append({"game": game, "iteration": r.iteration, "run": run, "seed": seed,
                         "updates_total": r.updates, "loss": f"{r.loss:.4f}", "mean_q": f"{r.mean_q:.2f}",
                         "train_return": f"{r.train_raw_return_mean:.0f}",
                         "wall_time_s": f"{r.wall_time_s:,.0f}",
                         "train_agent_steps_per_s": f"{r.train_agent_steps_per_s:.0f}"})
table = pd.DataFrame(rows).sort_values(["game", "iteration", "run", "seed"])
print("Per finished iteration: the mean over the iteration's updates of the batch's mean "
      "Huber loss and of its mean Q (over the batch and all actions), as `metrics/iterations.csv` logs them "
      "(`loss`, `mean_q`); the updates made by the iteration's end; the training-game mean "
      "return; the run's counted wall time at the iteration's end (time while stopped between "
      "sessions is not counted) and the iteration's training agent steps per second; `dopamine_dqn` (Dopamine's network) beside `dopamine_dqn_nature_network` (the "
      "ablation). Made by collect.sh.\n")
print("| " + " | ".join(table.columns) + " |")
print("|" + "---|" * len(table.columns))
for values in table.itertuples(index=False):
    print("| " + " | ".join(str(v) for v in values) + " |")
PYEOF
