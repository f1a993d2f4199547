#!/usr/bin/env bash
# The six learning runs of issue 20: the dopamine_dqn preset (Dopamine's SAME-padded,
# Glorot-initialised network, independent target, TF1 RMSProp) on Road Runner and Ms. Pac-Man,
# seeds 0, 1 and 2, 3 iterations (3M frames) each, fp32, one torch thread per run, two runs at
# a time on a 2-core CPU. Re-running this script resumes every unfinished run from its last
# checkpoint (one per iteration, and on SIGTERM), and skips the finished ones.
#   RUNS_ROOT  where the run dirs go (default /work/runs/dopamine_3seeds: outside the checkout,
#              a run dir holds GBs of checkpointed replay)
#   PARALLEL   runs at a time (default 2)
#   PY         the interpreter (default .venv/bin/python)
#   EXTRA      more overrides for every run, e.g. EXTRA=allow_pickled_checkpoints=true to resume
#              the runs started on 2026-12-06 at 9b8b85b, whose checkpoints are of the format
#              before the plain-data one (your own files: safe to trust)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS_ROOT=${RUNS_ROOT:-/work/runs/dopamine_3seeds}
PARALLEL=${PARALLEL:-2}
PY=${PY:-.venv/bin/python}
mkdir -p "$RUNS_ROOT"
# Dopamine's dqn.gin; no evaluation phase: Dopamine's published curves are training returns.
run() {  # game seed
    local dir="$RUNS_ROOT/dopamine_dqn/$1/seed_$2"
    if grep -qs '"state": "finished"' "$dir/status.json"; then return 0; fi
    "$PY" -m dqn_atari.train experiment=dopamine_dqn env.game="$1" seed="$2" \
        total_frames=3000000 torch_threads=1 replay.compress=true logger.wandb_mode=offline \
        eval_agent_steps_per_iteration=0 run_dir="$dir" ${EXTRA:-} >>"$RUNS_ROOT/$1_seed_$2.log" 2>&1
}
export -f run
export RUNS_ROOT PY EXTRA
# seed-major order: both games' seed 0 first, so a partial session still compares the games
for seed in 0 1 2; do for game in road_runner ms_pacman; do echo "$game $seed"; done; done \
    | xargs -P "$PARALLEL" -L 1 bash -c 'run "$0" "$1"'
