#!/usr/bin/env bash
# Stop the CI SLURM cluster started by start_cluster.sh (idempotent).
#
#   bash slurm/cluster/stop_cluster.sh          # SLURM_CI_ROOT as for start_cluster.sh [/tmp/slurm-ci]
#
# 1. scancel every job still known to slurmctld and wait (bounded) for them to leave the node;
# 2. SIGTERM to the recorded daemon pids ($SLURM_CI_ROOT/run/*.pid) only -- slurmd/slurmctld first, then
#    slurmdbd/munged, then mariadbd -- and SIGKILL to whatever of a group is still alive 10 s later;
# 3. kill leftover slurmstepd (and job processes) that belong to this cluster (their environment
#    holds SLURM_CONF=$SLURM_CI_ROOT/etc/slurm.conf); nothing is killed by name alone.
# Logs under $SLURM_CI_ROOT/log are kept for post-mortems; start_cluster.sh wipes them.
set -uo pipefail

ROOT="${SLURM_CI_ROOT:-/tmp/slurm-ci}"
ROOT="${ROOT%/}"
RUN="$ROOT/run"
CONF="$ROOT/etc/slurm.conf"
ME="stop_cluster.sh"
T0=$EPOCHREALTIME
STEPD="$(readlink -f /usr/sbin/slurmstepd 2>/dev/null || echo /usr/sbin/slurmstepd)"
export SLURM_CONF="$CONF"

say() { echo "$ME: $*"; }
vsay() { [[ "${SLURM_CI_VERBOSE:-0}" == 1 ]] && say "$(elapsed "$T0") s: $*"; return 0; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

live_pid() {  # live_pid NAME -> prints the recorded pid of NAME when it is alive and runs the NAME binary
    local f="$RUN/$1.pid" pid exe
    [[ -s "$f" ]] || return 1
    pid=$(<"$f")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    exe="${exe% (deleted)}"
    # /usr/sbin/slurmd etc. are alternatives symlinks (-> slurmd-wlm): compare resolved paths
    [[ "$exe" == "$(readlink -f "/usr/sbin/$1")" ]] || return 1
    echo "$pid"
}

# processes of this cluster that outlived slurmd: slurmstepd and job processes whose environment names
# our slurm.conf (slurmd runs with SLURM_CONF exported, slurmstepd inherits it; jobs get it set by Slurm).
cluster_leftovers() {
    local p pid exe self=$$
    local ancestors=" "
    pid=$self
    while [[ "$pid" =~ ^[0-9]+$ && "$pid" -gt 1 ]]; do
        ancestors+="$pid "
        pid=$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || break
    done
    # one grep over all environments (NUL-separated), then a closer look at the few matches
    while IFS= read -r p; do
        p=${p%/environ}
        pid=${p#/proc/}
        [[ "$ancestors" == *" $pid "* ]] && continue
        exe=$(readlink "$p/exe" 2>/dev/null) || continue
        if [[ "${exe% (deleted)}" == "$STEPD" ]] || grep -qz '^SLURM_JOB_ID=' "$p/environ" 2>/dev/null; then
            echo "$pid"
        fi
    done < <(grep -lzxF "SLURM_CONF=$CONF" /proc/[0-9]*/environ 2>/dev/null)
}

# terminate NAME...: SIGTERM the live recorded pids, wait up to 10 s, SIGKILL the rest
terminate() {
    local names=("$@") pids=() n pid
    for n in "${names[@]}"; do
        if pid=$(live_pid "$n"); then
            pids+=("$pid")
            say "SIGTERM $n (pid $pid)"
            kill -TERM "$pid" 2>/dev/null
        fi
    done
    (( ${#pids[@]} )) || return 0
    local i alive
    for (( i = 0; i < 100; i++ )); do
        alive=()
        for pid in "${pids[@]}"; do [[ -d /proc/$pid ]] && alive+=("$pid"); done
        (( ${#alive[@]} )) || return 0
        sleep 0.1
    done
    for pid in "${alive[@]}"; do
        say "SIGKILL pid $pid (still alive 10 s after SIGTERM)"
        kill -KILL "$pid" 2>/dev/null
    done
    sleep 0.2
}

any=0
for n in munged mariadbd slurmdbd slurmctld slurmd; do
    live_pid "$n" >/dev/null && any=1
done
leftovers=$(cluster_leftovers)
if [[ $any == 0 && -z "$leftovers" ]]; then
    rm -f "$RUN"/*.pid 2>/dev/null
    say "no cluster running under $ROOT; nothing to do"
    exit 0
fi

# 1. cancel the remaining jobs while slurmctld and slurmd are still there
if live_pid slurmctld >/dev/null; then
    jobs=$(timeout 10 /usr/bin/squeue -h -o '%A' 2>/dev/null | sort -u | tr '\n' ' ')
    if [[ -n "${jobs// /}" ]]; then
        say "scancel remaining jobs: $jobs"
        # shellcheck disable=SC2086
        timeout 10 /usr/bin/scancel $jobs 2>/dev/null
        # bounded wait (KillWait=5) until no job is left running/completing
        for (( i = 0; i < 100; i++ )); do
            left=$(timeout 5 /usr/bin/squeue -h -t running,completing,suspended,configuring -o '%A' 2>/dev/null)
            [[ -z "$left" ]] && break
            sleep 0.1
        done
        [[ -n "${left:-}" ]] && say "jobs still running after 10 s: ${left//$'\n'/ }; they are killed below"
    fi
fi

# 2. the daemons, in reverse order of dependency
vsay "jobs gone"
terminate slurmd slurmctld          # slurmctld talks to slurmdbd (via munge) while shutting down
vsay "slurmd, slurmctld stopped"
terminate slurmdbd munged           # munged takes ~2 s to exit; slurmdbd no longer needs it
vsay "slurmdbd, munged stopped"
terminate mariadbd
vsay "mariadbd stopped"

# 3. leftover slurmstepd / job processes of this cluster
leftovers=$(cluster_leftovers)
if [[ -n "$leftovers" ]]; then
    say "leftover processes of this cluster (slurmstepd / jobs): ${leftovers//$'\n'/ }; SIGTERM"
    # shellcheck disable=SC2086
    kill -TERM $leftovers 2>/dev/null
    for (( i = 0; i < 30; i++ )); do
        still=""
        for p in $leftovers; do [[ -d /proc/$p ]] && still+="$p "; done
        [[ -z "$still" ]] && break
        sleep 0.1
    done
    if [[ -n "$still" ]]; then
        say "SIGKILL $still"
        # shellcheck disable=SC2086
        kill -KILL $still 2>/dev/null
    fi
fi

rm -f "$RUN"/*.pid "$RUN"/*.daemon.pid 2>/dev/null
say "cluster under $ROOT stopped in $(elapsed "$T0") s (logs kept in $ROOT/log)"
