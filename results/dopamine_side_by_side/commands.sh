#!/usr/bin/env bash
# The three learning runs of results/dopamine_side_by_side (issue 9), one seed each, fp32,
# one torch thread each on a 2-core CPU. Re-running this script resumes each run from its
# last checkpoint (every iteration), so a stopped session loses at most one iteration.
#   RUNS_ROOT  where the run dirs go (default /work/runs/dopamine_side_by_side: outside the
#              checkout, since a run dir holds GBs of checkpointed replay)
#   ITERATIONS how many 250k-agent-step iterations (default 3 = 3M frames)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS_ROOT=${RUNS_ROOT:-/work/runs/dopamine_side_by_side}
ITERATIONS=${ITERATIONS:-3}
FRAMES=$((ITERATIONS * 1000000))
PY=${PY:-.venv/bin/python}
common=(seed=0 total_frames=$FRAMES torch_threads=1 replay.compress=true logger.wandb_mode=offline)
mkdir -p "$RUNS_ROOT"
# Dopamine's dqn.gin; no evaluation phase: Dopamine's published curves are training returns.
for game in road_runner ms_pacman; do
    nohup "$PY" -m dqn_atari.train experiment=dopamine_dqn env.game=$game "${common[@]}" \
        eval_agent_steps_per_iteration=0 run_dir="$RUNS_ROOT/dopamine_dqn/$game" \
        >>"$RUNS_ROOT/dopamine_dqn_$game.log" 2>&1 &
done
# The fixed nature preset on Road Runner, same frames; niced so the two Dopamine runs get
# the cores first (set NATURE_NICE=0 to share them equally).
nohup nice -n "${NATURE_NICE:-19}" "$PY" -m dqn_atari.train experiment=nature env.game=road_runner \
    "${common[@]}" run_dir="$RUNS_ROOT/nature/road_runner" \
    >>"$RUNS_ROOT/nature_road_runner.log" 2>&1 &
wait
