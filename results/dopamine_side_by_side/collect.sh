#!/usr/bin/env bash
# Copy what the three runs of commands.sh have written (config, per-iteration and per-game
# metrics, resume-time config changes, the end-of-run evaluation; not the GB-sized checkpoints)
# into runs/ here, where $RUNS_ROOT still holds them, and redo the side by side from runs/:
# side_by_side.{csv,md} and one plot per game. Safe to run while the runs go on, and after
# their run dirs are gone (the committed copies are used).
#
# These runs are the ablation of issue 20: the dopamine_dqn preset as it was before issue 20
# (Dopamine's settings with the Nature network: VALID padding, fan-in uniform weights and
# biases, target copied at step 0, mean square from 0). So they are named
# dopamine_dqn_nature_network here, not dopamine_dqn, whose target they are not held to.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
RUNS_ROOT=${RUNS_ROOT:-/work/runs/dopamine_side_by_side}
PY=${PY:-.venv/bin/python}
args=()
for run in dopamine_dqn/road_runner dopamine_dqn/ms_pacman nature/road_runner; do
    src="$RUNS_ROOT/$run"
    dst="$here/runs/$run"
    if [[ -f "$src/metrics/iterations.csv" ]]; then
        mkdir -p "$dst/metrics"
        cp "$src/config.yaml" "$dst/"
        cp "$src/metrics/iterations.csv" "$src/metrics/episodes.csv" "$dst/metrics/"
        # settings changed on a resume, and the end-of-run 30-game evaluation, where there are any
        for extra in config_changes.yaml eval_nature.json; do
            [[ -f "$src/$extra" ]] && cp "$src/$extra" "$dst/"
        done
    fi
    [[ -f "$dst/metrics/iterations.csv" ]] || { echo "skip $run: no finished iteration yet"; continue; }
    name=${run%%/*}
    [[ $name == dopamine_dqn ]] && name=dopamine_dqn_nature_network
    args+=("--run=$name=$dst")
done
"$PY" -m dqn_atari.side_by_side "${args[@]}" --out "$here"
