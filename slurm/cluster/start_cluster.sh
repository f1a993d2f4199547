#!/usr/bin/env bash
# Start a private single-node SLURM cluster on this machine (for tests and CI).
#
#   bash slurm/cluster/install_packages.sh     # once (apt-get; this script installs nothing)
#   bash slurm/cluster/start_cluster.sh        # or: SLURM_CI_ACCOUNTING=1 bash slurm/cluster/start_cluster.sh
#   source /tmp/slurm-ci/env.sh                # SLURM_CONF + ${SLURM_CI_ROOT}/bin first in PATH
#   sinfo; sbatch ...; pytest -m slurm ...
#   bash slurm/cluster/stop_cluster.sh
#
# Everything lives under ${SLURM_CI_ROOT:-/tmp/slurm-ci}: etc/ (rendered configs), run/ (pids, sockets),
# log/ (daemon logs, jobcomp.txt), state/, spool/, munge/ (generated key), mysql/, bin/scontrol, env.sh.
# Nothing is written to /etc, /var or /run; the packaged /etc/slurm and /etc/munge are not used.
#
# Settings (environment):
#   SLURM_CI_ROOT        runtime dir, short (unix socket paths < 108 bytes)        [/tmp/slurm-ci]
#   SLURM_CI_TIMEOUT     seconds until the node must be idle                       [60]
#   SLURM_CI_ACCOUNTING  1 = private MariaDB (127.0.0.1:$SLURM_CI_DB_PORT) + slurmdbd, so sacct works [0]
#   SLURM_CI_AUTH        munge | none (auth/none was removed in Slurm 23.11)       [munge]
#   SLURM_CI_CPUS        node CPUs; above nproc oversubscribes (config_overrides)  [nproc]
#   SLURM_CI_MEM_MB      node RealMemory in MB                 [80% of MemTotal / cgroup limit]
#   SLURM_CI_PARTITION   name of the (default) partition                           [debug]
#   SLURM_CI_CLUSTER     ClusterName                                               [ci]
#   SLURM_CI_CTLD_PORT / SLURM_CI_SLURMD_PORT / SLURM_CI_DBD_PORT / SLURM_CI_DB_PORT [6817/6818/6819/3307]
#   SLURM_CI_CRED_EXPIRE seconds; a requeued job is held this long before it restarts [10]
#   SLURM_CI_KEEP_STATE  1 = keep job state / accounting DB of the previous run (job ids go on) [0]
#   SLURM_CI_SCONTROL_SHIM 1 = bin/scontrol ignores SIGTERM (submitit requeue race)  [1]
#   SLURM_CI_KEEP_ON_FAIL 1 = leave the daemons running when start-up fails (debugging) [0]
#   SLURM_CI_VERBOSE     1 = print the time of each start-up phase                  [0]
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${SLURM_CI_ROOT:-/tmp/slurm-ci}"
TIMEOUT="${SLURM_CI_TIMEOUT:-60}"
ACCOUNTING="${SLURM_CI_ACCOUNTING:-0}"
AUTH="${SLURM_CI_AUTH:-munge}"
PARTITION="${SLURM_CI_PARTITION:-debug}"
CLUSTER="${SLURM_CI_CLUSTER:-ci}"
CTLD_PORT="${SLURM_CI_CTLD_PORT:-6817}"
SLURMD_PORT="${SLURM_CI_SLURMD_PORT:-6818}"
DBD_PORT="${SLURM_CI_DBD_PORT:-6819}"
DB_PORT="${SLURM_CI_DB_PORT:-3307}"
CRED_EXPIRE="${SLURM_CI_CRED_EXPIRE:-10}"
KEEP_STATE="${SLURM_CI_KEEP_STATE:-0}"
SHIM="${SLURM_CI_SCONTROL_SHIM:-1}"
KEEP_ON_FAIL="${SLURM_CI_KEEP_ON_FAIL:-0}"
VERBOSE="${SLURM_CI_VERBOSE:-0}"

ME="start_cluster.sh"
T_START=$EPOCHREALTIME
T_PHASE=$EPOCHREALTIME

say() { echo "$ME: $*"; }
die() { echo "$ME: ERROR: $*" >&2; exit 1; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
phase() {  # phase NAME: time of the phase that just ended (SLURM_CI_VERBOSE=1)
    if [[ "$VERBOSE" == 1 ]]; then
        say "$(printf '%-28s %5s s  (total %s s)' "$1" "$(elapsed "$T_PHASE")" "$(elapsed "$T_START")")"
    fi
    T_PHASE=$EPOCHREALTIME
}

# ---------------------------------------------------------------- sanity checks
[[ "$ROOT" == /* ]] || die "SLURM_CI_ROOT must be an absolute path (got '$ROOT')"
ROOT="${ROOT%/}"
(( ${#ROOT} <= 80 )) || die "SLURM_CI_ROOT '$ROOT' is ${#ROOT} chars; keep it <= 80 (unix socket paths must stay < 108 bytes)"
[[ "$AUTH" == munge || "$AUTH" == none ]] || die "SLURM_CI_AUTH must be munge or none (got '$AUTH')"
[[ "$ACCOUNTING" == 0 || "$ACCOUNTING" == 1 ]] || die "SLURM_CI_ACCOUNTING must be 0 or 1"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "SLURM_CI_TIMEOUT must be an integer number of seconds"
[[ $(id -u) -eq 0 ]] || die "must run as root (SlurmUser=root, jobs run as the submitting user)"

need=(/usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/slurmstepd /usr/bin/sinfo /usr/bin/scontrol /usr/bin/squeue)
[[ "$AUTH" == munge ]] && need+=(/usr/sbin/munged /usr/bin/munge /usr/bin/unmunge)
[[ "$ACCOUNTING" == 1 ]] && need+=(/usr/sbin/slurmdbd /usr/sbin/mariadbd /usr/bin/mariadb-install-db /usr/bin/mariadb
                                  /usr/bin/mariadb-admin /usr/bin/sacctmgr)
for b in "${need[@]}"; do
    [[ -x "$b" ]] || die "$b not found: run 'bash $HERE/install_packages.sh' first (with SLURM_CI_ACCOUNTING=1 for accounting)"
done

ETC="$ROOT/etc" RUN="$ROOT/run" LOG="$ROOT/log" STATE="$ROOT/state" SPOOL="$ROOT/spool"
MUNGE_DIR="$ROOT/munge" MYSQL_DIR="$ROOT/mysql" BIN="$ROOT/bin"
CONF="$ETC/slurm.conf"
MUNGE_SOCKET="$RUN/munge.socket"
DB_SOCKET="$RUN/mysql.sock"
export SLURM_CONF="$CONF"

# Daemons in start order; the recorded pid of each is $RUN/<name>.pid.
DAEMONS=()
[[ "$AUTH" == munge ]] && DAEMONS+=(munged)
[[ "$ACCOUNTING" == 1 ]] && DAEMONS+=(mariadbd slurmdbd)
DAEMONS+=(slurmctld slurmd)

pid_alive() {  # pid_alive NAME -> 0 when $RUN/NAME.pid names a live process running the NAME binary
    local f="$RUN/$1.pid" pid exe
    [[ -s "$f" ]] || return 1
    pid=$(<"$f")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    exe="${exe% (deleted)}"
    # /usr/sbin/slurmd etc. are alternatives symlinks (-> slurmd-wlm): compare resolved paths
    [[ "$exe" == "$(readlink -f "/usr/sbin/$1")" ]]
}

# ---------------------------------------------------------------- already running?
alive=() dead=()
for d in munged mariadbd slurmdbd slurmctld slurmd; do
    if pid_alive "$d"; then alive+=("$d"); elif [[ -e "$RUN/$d.pid" ]]; then dead+=("$d"); fi
done
if (( ${#alive[@]} > 0 )); then
    if (( ${#dead[@]} == 0 )) && [[ -e "$RUN/slurmctld.pid" && -e "$RUN/slurmd.pid" ]] \
        && timeout 10 /usr/bin/sinfo -h >/dev/null 2>&1; then
        mode=$(cat "$RUN/mode" 2>/dev/null || echo "?")
        say "cluster already running under $ROOT (${alive[*]}; $mode); nothing to do"
        if [[ "$mode" != *"accounting=$ACCOUNTING auth=$AUTH "* ]]; then
            say "note: requested accounting=$ACCOUNTING auth=$AUTH differs; run stop_cluster.sh first to change it"
        fi
        say "use it with: source $ROOT/env.sh   (stop it with: bash $HERE/stop_cluster.sh)"
        exit 0
    fi
    say "cluster under $ROOT is only partly running (alive: ${alive[*]}; dead: ${dead[*]:-none}); stopping it and starting afresh"
    SLURM_CI_ROOT="$ROOT" bash "$HERE/stop_cluster.sh" || die "could not stop the partly running cluster"
fi

# ---------------------------------------------------------------- ports free?
port_listening() {  # port_listening PORT -> 0 when some socket listens on it (any address, v4 or v6)
    local hex
    hex=$(printf '%04X' "$1")
    awk -v p="$hex" 'FNR > 1 && $4 == "0A" { n = split($2, a, ":"); if (a[n] == p) found = 1 }
                     END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
ports=("$CTLD_PORT:slurmctld" "$SLURMD_PORT:slurmd")
[[ "$ACCOUNTING" == 1 ]] && ports+=("$DBD_PORT:slurmdbd" "$DB_PORT:mariadbd")
busy=()
for pp in "${ports[@]}"; do
    port_listening "${pp%%:*}" && busy+=("${pp%%:*} (for ${pp#*:})")
done
if (( ${#busy[@]} > 0 )); then
    die "port(s) already in use: ${busy[*]}. Another slurmctld/slurmd/slurmdbd/mysqld (e.g. the packaged ones,
    or a cluster under another SLURM_CI_ROOT) is listening; stop it, or choose other ports with
    SLURM_CI_CTLD_PORT / SLURM_CI_SLURMD_PORT / SLURM_CI_DBD_PORT / SLURM_CI_DB_PORT"
fi

# ---------------------------------------------------------------- node size
NPROC=$(nproc)
CPUS="${SLURM_CI_CPUS:-$NPROC}"
[[ "$CPUS" =~ ^[1-9][0-9]*$ ]] || die "SLURM_CI_CPUS must be a positive integer (got '$CPUS')"
OVERRIDES=""
[[ -n "${SLURM_CI_CPUS:-}" ]] && OVERRIDES="SlurmdParameters=config_overrides"
if [[ -n "${SLURM_CI_MEM_MB:-}" ]]; then
    MEM_MB="$SLURM_CI_MEM_MB"
    [[ "$MEM_MB" =~ ^[1-9][0-9]*$ ]] || die "SLURM_CI_MEM_MB must be a positive integer (got '$MEM_MB')"
    OVERRIDES="SlurmdParameters=config_overrides"   # slurmd -C sees host memory, not the container's
else
    total_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
    limit_mb=$(( total_kb / 1024 ))
    for f in /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes; do
        if [[ -r "$f" ]]; then
            v=$(<"$f")
            if [[ "$v" =~ ^[0-9]+$ ]] && (( v / 1048576 < limit_mb )); then limit_mb=$(( v / 1048576 )); fi
        fi
    done
    MEM_MB=$(( limit_mb * 8 / 10 ))
fi
DEF_MEM=$(( MEM_MB / CPUS ))
(( DEF_MEM > 1024 )) && DEF_MEM=1024
(( DEF_MEM < 1 )) && DEF_MEM=1

# ---------------------------------------------------------------- fresh runtime tree
if [[ "$KEEP_STATE" != 1 ]]; then
    rm -rf "$STATE" "$SPOOL" "$LOG" "$MYSQL_DIR" "$RUN"
fi
rm -rf "$RUN"
phase "wipe previous state"
mkdir -p "$ETC" "$RUN" "$LOG" "$STATE" "$SPOOL" "$BIN"
chmod 755 "$ROOT" "$ETC" "$RUN" "$LOG" "$STATE" "$SPOOL" "$BIN"
echo "accounting=$ACCOUNTING auth=$AUTH cpus=$CPUS mem_mb=$MEM_MB" > "$RUN/mode"

# ---------------------------------------------------------------- render configs
if [[ "$AUTH" == munge ]]; then
    AUTH_LINES="AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET,cred_expire=$CRED_EXPIRE"
else
    AUTH_LINES="AuthType=auth/none
CredType=cred/none
AuthInfo=cred_expire=$CRED_EXPIRE"
fi
if [[ "$ACCOUNTING" == 1 ]]; then
    ACCT_LINES="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT"
    # clients (slurmctld, sacct, sacctmgr) authenticate to slurmdbd with the munged named here,
    # not with AuthInfo's: without it they try the default /run/munge/munge.socket.2
    [[ "$AUTH" == munge ]] && ACCT_LINES+="
AccountingStoragePass=$MUNGE_SOCKET"
else
    ACCT_LINES="AccountingStorageType=accounting_storage/none"
fi

: > "$ETC/plugstack.conf"      # empty: the packaged /etc/slurm/plugstack.conf is not used
cat > "$CONF" <<EOF
# Rendered by slurm/cluster/start_cluster.sh -- do not edit, it is rewritten at every start.
ClusterName=$CLUSTER
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
$AUTH_LINES

StateSaveLocation=$STATE
SlurmdSpoolDir=$SPOOL
SlurmctldPidFile=$RUN/slurmctld.daemon.pid
SlurmdPidFile=$RUN/slurmd.daemon.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$ETC/plugstack.conf
MailProg=/bin/true
MpiDefault=none

# no cgroups: --mem is bookkeeping only
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
$ACCT_LINES
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG/jobcomp.txt

SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=5,bf_interval=5,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=$DEF_MEM
ReturnToService=2
KillWait=5
MinJobAge=600
InactiveLimit=0
$OVERRIDES

NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF

if [[ "$SHIM" == 1 ]]; then
    # submitit runs `scontrol requeue` inside the job; the job-wide SIGTERM of that very requeue can kill
    # scontrol before it exits (job then reported FAILED). SIG_IGN survives exec, so scontrol finishes.
    cat > "$BIN/scontrol" <<'EOF'
#!/bin/sh
# written by slurm/cluster/start_cluster.sh: scontrol that ignores SIGTERM (submitit requeue race)
trap "" TERM
exec /usr/bin/scontrol "$@"
EOF
    chmod 755 "$BIN/scontrol"
else
    rm -f "$BIN/scontrol"
fi

cat > "$ROOT/env.sh" <<EOF
# source this file to use the CI SLURM cluster under $ROOT (written by start_cluster.sh)
export SLURM_CI_ROOT="$ROOT"
export SLURM_CONF="$CONF"
case ":\${PATH}:" in
    *":$BIN:"*) ;;
    *) export PATH="$BIN:\${PATH}" ;;
esac
EOF
phase "render configs"

# ---------------------------------------------------------------- helpers for starting
DEADLINE=$(awk -v a="$T_START" -v t="$TIMEOUT" 'BEGIN { printf "%.3f", a + t }')
STARTED=()

time_left() { awk -v d="$DEADLINE" -v n="$EPOCHREALTIME" 'BEGIN { exit !(n < d) }'; }

failed() {  # failed DAEMON MESSAGE: report, show log tails, stop what we started, exit 1
    local who="$1"; shift
    echo "$ME: FAILED: $who: $*" >&2
    # the daemon's own log, or (if it wrote none) what it printed; plus the helper logs
    local f d logs=()
    for d in "${DAEMONS[@]}"; do
        if [[ -s "$LOG/$d.log" ]]; then logs+=("$LOG/$d.log"); else logs+=("$LOG/$d.stdout.log"); fi
    done
    logs+=("$LOG/mariadb-setup.log" "$LOG/sacctmgr.log")
    [[ "$who" == mariadb-install-db ]] && logs+=("$LOG/mariadb-install-db.log")
    for f in "${logs[@]}"; do
        [[ -s "$f" ]] || continue
        echo "----- tail -n 25 $f" >&2
        tail -n 25 "$f" >&2
    done
    echo "-----" >&2
    if [[ "$KEEP_ON_FAIL" == 1 ]]; then
        echo "$ME: SLURM_CI_KEEP_ON_FAIL=1: leaving ${STARTED[*]:-nothing} running under $ROOT" >&2
    else
        echo "$ME: stopping what was started (${STARTED[*]:-nothing})" >&2
        SLURM_CI_ROOT="$ROOT" bash "$HERE/stop_cluster.sh" >&2 || true
    fi
    echo "$ME: start-up failed after $(elapsed "$T_START") s" >&2
    exit 1
}

launch() {  # launch NAME CMD...: start a daemon in the foreground of its own session, stdio detached
    local name="$1"; shift
    setsid "$@" </dev/null >"$LOG/$name.stdout.log" 2>&1 &
    local pid=$! i want exe
    want=$(readlink -f "/usr/sbin/$name")
    echo "$pid" > "$RUN/$name.pid"
    STARTED+=("$name")
    # Until the child has exec'd the daemon its /proc/PID/exe is bash or setsid; wait for the exec so
    # that the recorded pid is recognisable (pid_alive / stop_cluster.sh check the executable).
    for (( i = 0; i < 200; i++ )); do
        exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || break     # gone: died, or setsid forked
        [[ "${exe% (deleted)}" == "$want" ]] && return 0
        sleep 0.01
    done
    # setsid forks when the child happens to be a process-group leader (job control on): then the
    # daemon's own pid file (written with -D / --foreground too) names it.
    for (( i = 0; i < 50; i++ )); do
        if [[ -s "$RUN/$name.daemon.pid" ]]; then
            pid=$(tr -dc 0-9 < "$RUN/$name.daemon.pid")
            [[ -n "$pid" ]] && echo "$pid" > "$RUN/$name.pid"
            return 0
        fi
        sleep 0.1
    done
    return 0   # the callers' wait_for notices a dead daemon and reports it
}

wait_for() {  # wait_for NAME WHAT CMD...: poll CMD until it succeeds; fail if NAME died or time is up
    local name="$1" what="$2"; shift 2
    while true; do
        "$@" >/dev/null 2>&1 && return 0
        pid_alive "$name" || failed "$name" "exited while waiting for $what (see $LOG/$name*.log)"
        time_left || failed "$name" "not $what within SLURM_CI_TIMEOUT=${TIMEOUT} s"
        sleep 0.1
    done
}

# ---------------------------------------------------------------- munged
if [[ "$AUTH" == munge ]]; then
    mkdir -p "$MUNGE_DIR"
    chmod 700 "$MUNGE_DIR"
    if [[ ! -s "$MUNGE_DIR/munge.key" ]]; then
        if [[ -x /usr/sbin/mungekey ]]; then
            /usr/sbin/mungekey --create --keyfile="$MUNGE_DIR/munge.key" >/dev/null 2>&1 \
                || dd if=/dev/urandom of="$MUNGE_DIR/munge.key" bs=1024 count=1 status=none
        else
            dd if=/dev/urandom of="$MUNGE_DIR/munge.key" bs=1024 count=1 status=none
        fi
    fi
    chmod 600 "$MUNGE_DIR/munge.key"
    launch munged /usr/sbin/munged --foreground --force \
        --socket="$MUNGE_SOCKET" --key-file="$MUNGE_DIR/munge.key" \
        --pid-file="$RUN/munged.daemon.pid" --log-file="$LOG/munged.log" \
        --seed-file="$MUNGE_DIR/munged.seed"
    munge_ok() { /usr/bin/munge -n -S "$MUNGE_SOCKET" | /usr/bin/unmunge -S "$MUNGE_SOCKET"; }
    wait_for munged "answering on $MUNGE_SOCKET" munge_ok
    phase "munged"
fi

# ---------------------------------------------------------------- accounting: mariadbd + slurmdbd
if [[ "$ACCOUNTING" == 1 ]]; then
    DB_PASS="slurm-ci"
    cat > "$ETC/mariadb.cnf" <<EOF
# Rendered by slurm/cluster/start_cluster.sh
[client]
socket=$DB_SOCKET
[mysqld]
datadir=$MYSQL_DIR
socket=$DB_SOCKET
port=$DB_PORT
bind-address=127.0.0.1
pid-file=$RUN/mariadbd.daemon.pid
log-error=$LOG/mariadbd.log
skip-name-resolve
innodb_buffer_pool_size=256M
innodb_log_file_size=64M
innodb_lock_wait_timeout=900
EOF
    if [[ ! -d "$MYSQL_DIR/mysql" ]]; then
        # mariadb-install-db takes ~5 s; its pristine result is cached per MariaDB version under
        # $ROOT/cache (not wiped) and copied on later starts.
        db_ver=$(/usr/sbin/mariadbd --version 2>/dev/null | tr -c 'A-Za-z0-9.\n-' _ | head -n 1)
        cache="$ROOT/cache/mariadb-initdb-${db_ver:-unknown}"
        rm -rf "$MYSQL_DIR"
        if [[ -f "$cache/.complete" ]] && cp -a "$cache" "$MYSQL_DIR" 2>/dev/null; then
            rm -f "$MYSQL_DIR/.complete"
            phase "mariadb datadir (cached)"
        else
            rm -rf "$MYSQL_DIR"
            mkdir -p "$MYSQL_DIR"
            /usr/bin/mariadb-install-db --defaults-file="$ETC/mariadb.cnf" --user=root \
                --auth-root-authentication-method=socket --skip-test-db \
                >"$LOG/mariadb-install-db.log" 2>&1 \
                || failed mariadb-install-db "failed (see $LOG/mariadb-install-db.log)"
            rm -rf "$cache" "$cache.tmp"
            mkdir -p "$ROOT/cache"
            if cp -a "$MYSQL_DIR" "$cache.tmp" && touch "$cache.tmp/.complete"; then
                mv "$cache.tmp" "$cache"
            else
                rm -rf "$cache.tmp"
            fi
            phase "mariadb-install-db"
        fi
    fi
    launch mariadbd /usr/sbin/mariadbd --defaults-file="$ETC/mariadb.cnf" --user=root
    wait_for mariadbd "accepting connections on $DB_SOCKET" \
        /usr/bin/mariadb-admin --defaults-file="$ETC/mariadb.cnf" --user=root ping
    /usr/bin/mariadb --defaults-file="$ETC/mariadb.cnf" --user=root >"$LOG/mariadb-setup.log" 2>&1 <<EOF \
        || failed mariadbd "could not create the slurm DB user (see $LOG/mariadb-setup.log)"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF
    phase "mariadbd"

    # slurmdbd finds slurmdbd.conf next to $SLURM_CONF; it must be 0600 and owned by SlurmUser
    if [[ "$AUTH" == munge ]]; then
        DBD_AUTH="AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET"
    else
        DBD_AUTH="AuthType=auth/none"
    fi
    cat > "$ETC/slurmdbd.conf" <<EOF
# Rendered by slurm/cluster/start_cluster.sh
$DBD_AUTH
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
LogFile=$LOG/slurmdbd.log
PidFile=$RUN/slurmdbd.daemon.pid
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$ETC/slurmdbd.conf"
    launch slurmdbd /usr/sbin/slurmdbd -D
    wait_for slurmdbd "listening on port $DBD_PORT" port_listening "$DBD_PORT"
    phase "slurmdbd"
fi

# ---------------------------------------------------------------- slurmctld + slurmd
launch slurmctld /usr/sbin/slurmctld -D -f "$CONF"
wait_for slurmctld "answering 'scontrol ping'" \
    bash -c '/usr/bin/scontrol ping 2>/dev/null | grep -q "is UP"'
phase "slurmctld"

launch slurmd /usr/sbin/slurmd -D -N localhost -f "$CONF"
node_idle() {
    local st
    st=$(/usr/bin/sinfo -h -N -n localhost -o '%t' 2>/dev/null) || return 1
    [[ "$st" == idle ]]
}
while ! node_idle; do
    pid_alive slurmd || failed slurmd "exited before the node became idle (see $LOG/slurmd*.log)"
    pid_alive slurmctld || failed slurmctld "exited before the node became idle (see $LOG/slurmctld*.log)"
    if ! time_left; then
        echo "$ME: sinfo says:" >&2
        /usr/bin/sinfo -N -l >&2 2>&1 || true
        /usr/bin/scontrol show node localhost >&2 2>&1 || true
        failed slurmd "node 'localhost' not idle within SLURM_CI_TIMEOUT=${TIMEOUT} s"
    fi
    sleep 0.1
done
phase "slurmd (node idle)"

if [[ "$ACCOUNTING" == 1 ]]; then
    # slurmctld registers the cluster (and its root association) in slurmdbd by itself; make sure.
    cluster_known() { /usr/bin/sacctmgr -n -P list cluster format=cluster 2>/dev/null | grep -qx "$CLUSTER"; }
    if ! cluster_known; then
        timeout 30 /usr/bin/sacctmgr -i add cluster "$CLUSTER" >"$LOG/sacctmgr.log" 2>&1
        cluster_known || failed slurmdbd "cluster $CLUSTER not in slurmdbd; sacctmgr add cluster failed (see $LOG/sacctmgr.log)"
    fi
    phase "cluster in slurmdbd"
fi

say "daemons: $(for d in "${DAEMONS[@]}"; do printf '%s=%s ' "$d" "$(<"$RUN/$d.pid")"; done)"
say "node localhost: CPUs=$CPUS RealMemory=${MEM_MB}MB DefMemPerCPU=${DEF_MEM}MB, partition $PARTITION, accounting=$ACCOUNTING, auth=$AUTH"
say "use it with: source $ROOT/env.sh   (stop it with: bash $HERE/stop_cluster.sh)"
say "cluster up in $(elapsed "$T_START") s"
