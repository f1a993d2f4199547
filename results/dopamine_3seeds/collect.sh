#!/usr/bin/env bash
# Copy what the six runs of commands.sh have written so far (the resolved config.yaml,
# provenance.json, the per-iteration and per-game metrics, resume-time config changes; not
# the checkpoints) into runs/ here, and redo the comparison with Dopamine's published DQN:
# side_by_side.{csv,md} (per game and iteration: our seeds, Dopamine's 5, a Welch t-test)
# and one plot per game. The one-seed runs of results/dopamine_side_by_side (the Nature
# network under Dopamine's settings) are drawn beside them as the ablation. Safe to run while
# the runs go on: an unfinished iteration is shown from its games so far and not tested.
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
    [[ -f "$src/config_changes.yaml" ]] && cp "$src/config_changes.yaml" "$dst/"
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
    --out "$here"
