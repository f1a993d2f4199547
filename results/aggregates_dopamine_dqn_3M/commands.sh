#!/usr/bin/env bash
# The aggregate figure of the two real dopamine_dqn runs of results/dopamine_side_by_side (the
# Nature network under Dopamine's settings, before issue 20)
# (Road Runner and Ms. Pac-Man, one seed each, 3 iterations = 3M frames; their config.yaml and
# metrics are committed there). Those run dirs are stored without the seed_<n> level that
# `python -m dqn_atari.plot` looks for, so they are copied into that layout first.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
SRC=results/dopamine_side_by_side/runs
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for game in road_runner ms_pacman; do
    mkdir -p "$TMP/dopamine_dqn/$game/seed_0"
    cp -r "$SRC/dopamine_dqn/$game/." "$TMP/dopamine_dqn/$game/seed_0/"
done
# Dopamine's published figure is the mean return of each iteration's training games, so
# --score train (placed at the middle of each iteration), beside Dopamine's 5-seed means.
"$PY" -m dqn_atari.plot aggregates --runs "$TMP" --score train --dopamine --reps 2000 --seed 0 \
    --out results/aggregates_dopamine_dqn_3M
rm -f results/aggregates_dopamine_dqn_3M/*.pdf  # the PNG is what the README shows
