#!/usr/bin/env bash
# Copy what the three runs of commands.sh have written so far (config, per-iteration and
# per-game metrics, resume-time config changes, the end-of-run evaluation; not the GB-sized checkpoints) into this folder, and redo the side by
# side: side_by_side.{csv,md} and one plot per game. Safe to run while the runs go on.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
RUNS_ROOT=${RUNS_ROOT:-/work/runs/dopamine_side_by_side}
PY=${PY:-.venv/bin/python}
args=()
for run in dopamine_dqn/road_runner dopamine_dqn/ms_pacman nature/road_runner; do
    src="$RUNS_ROOT/$run"
    [[ -f "$src/metrics/iterations.csv" ]] || { echo "skip $run: no finished iteration yet"; continue; }
    dst="$here/runs/$run"
    mkdir -p "$dst/metrics"
    cp "$src/config.yaml" "$dst/"
    cp "$src/metrics/iterations.csv" "$src/metrics/episodes.csv" "$dst/metrics/"
    # settings changed on a resume, and the end-of-run 30-game evaluation, where there are any
    for extra in config_changes.yaml eval_nature.json; do
        [[ -f "$src/$extra" ]] && cp "$src/$extra" "$dst/"
    done
    args+=("--run=${run%%/*}=$dst")
done
"$PY" -m dqn_atari.side_by_side "${args[@]}" --out "$here"
