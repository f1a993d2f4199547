#!/usr/bin/env bash
# Submit a sweep of DQN runs as ONE SLURM job array: one task per (game, seed).
#
#   slurm/sweep.sh --games pong,breakout --seeds 0-4 --experiment nature [options] [hydra overrides...]
#   slurm/sweep.sh --games nature49 --seeds 0-4            # the paper's 49 games x 5 seeds = 245 tasks
#
# Each task runs `python -m dqn_atari.train experiment=E env.game=G seed=S torch_threads=C [overrides]`
# (slurm/dqn_array.sbatch) and writes runs/<experiment>/<game>/seed_<seed>/ (relative to the directory
# you submit from), or <runs-root>/<experiment>/<game>/seed_<seed>/ with --runs-root.
# With --pack-seeds K a task trains K seeds of one game in one process (`seeds=[s1,...,sK]`,
# dqn_atari/run/runner.py): one learner for all, each seed still in its own seed_<seed>/ run dir.
# Logs: <log-dir>/<job-name>_<array job id>_<task>.out, one file per task (all starts appended);
# the task -> (game, seed, run dir, log) table goes to <log-dir>/<job-name>_<array job id>.tasks.tsv.
#
# Options (defaults: one Nature run per task; see README "Running on a SLURM cluster"):
#   --games LIST        comma-separated games (ale-py ROM ids, e.g. ms_pacman) and/or named sets
#                       from slurm/games/<name>.txt (nature49)                               [required]
#   --seeds LIST        e.g. 0-4, 0,2,5 or 0-2,7                                             [0]
#   --pack-seeds K      K seeds of a game per task, in one process (seeds=[...]); the last task of a
#                       game gets the rest. --mem defaults to (8 K + 16)G (a 7.1 GB replay per seed)  [1]
#   --experiment NAME   dqn_atari/conf/experiment/<NAME>.yaml                                 [nature]
#   --partition P       sbatch --partition (default: the cluster's default partition)
#   --gpus N            GPUs per task (--gres=gpu:N); 0 = CPU only                            [1]
#   --cpus N            CPUs per task = torch/OpenMP/MKL threads                              [6]
#   --mem SIZE          memory per task (sbatch --mem)                             [32G, packed: (8 K + 16)G]
#   --time T            time limit per start of a task (D-HH:MM:SS)                           [3-00:00:00]
#   --signal-lead S     SIGUSR1 this many seconds before the time limit -> checkpoint + requeue [300]
#   --max-parallel K    at most K tasks of the array run at once (--array=...%K)
#   --job-name NAME     name shown by squeue                                                  [dqn-<experiment>]
#   --runs-root DIR     write run dirs under DIR instead of the config's runs/
#   --log-dir DIR       SLURM log files and the task table                     [<runs-root or runs>/slurm-logs]
#   --sbatch-arg ARG    pass ARG to sbatch as is (repeatable), e.g. --sbatch-arg=--account=abc
#   --dry-run           check everything and print the sbatch command and the table; submit nothing
#   --allow-held-runs   submit even when run dirs of this sweep are held by queued or running jobs
#                       (see below); without it such a sweep is refused (exit 2, nothing submitted)
#   -h, --help
# Anything else of the form key=value is a Hydra override passed to every task (e.g. optim.lr=1e-4).
# Held run dirs: before submitting (and with --dry-run, as a warning) the run dirs this sweep would
# write are checked against the queue as `python -m dqn_atari.status` sees it (dqn_atari/held_runs.py):
# the task tables of earlier sweeps under the log dir and the runs root, and the job in each run's
# status.json and .lock. A sweep submitted twice is refused, naming the jobs that hold its runs.
# The interpreter is ${PYTHON:-python} of the caller (made absolute); jobs inherit the caller's
# environment (sbatch --export=ALL), so run this from the project's venv or set PYTHON=.venv/bin/python.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
SBATCH_SCRIPT="$HERE/dqn_array.sbatch"
# This checkout's dqn_atari, also when it is not pip-installed or you submit from another directory
# (sbatch exports the environment into the jobs).
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"

die() { echo "sweep.sh: error: $*" >&2; exit 2; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }

games_arg="" seeds_arg="0" experiment="nature" partition="" gpus=1 cpus=6 mem="" pack=1
time_limit="3-00:00:00" lead=300 max_parallel="" job_name="" runs_root="" log_dir="" dry_run=0
allow_held=0
sbatch_extra=() overrides=()

need() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"; }
while [[ $# -gt 0 ]]; do
    opt=$1
    case "$opt" in
        --*=*) set -- "${opt%%=*}" "${opt#*=}" "${@:2}"; continue ;;  # --opt=value -> --opt value
    esac
    case "$opt" in
        --games) need "$@"; games_arg=$2; shift 2 ;;
        --seeds) need "$@"; seeds_arg=$2; shift 2 ;;
        --pack-seeds) need "$@"; pack=$2; shift 2 ;;
        --experiment) need "$@"; experiment=$2; shift 2 ;;
        --partition) need "$@"; partition=$2; shift 2 ;;
        --gpus) need "$@"; gpus=$2; shift 2 ;;
        --cpus) need "$@"; cpus=$2; shift 2 ;;
        --mem) need "$@"; mem=$2; shift 2 ;;
        --time) need "$@"; time_limit=$2; shift 2 ;;
        --signal-lead) need "$@"; lead=$2; shift 2 ;;
        --max-parallel) need "$@"; max_parallel=$2; shift 2 ;;
        --job-name) need "$@"; job_name=$2; shift 2 ;;
        --runs-root) need "$@"; runs_root=$2; shift 2 ;;
        --log-dir) need "$@"; log_dir=$2; shift 2 ;;
        --sbatch-arg) need "$@"; sbatch_extra+=("$2"); shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        --allow-held-runs) allow_held=1; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) die "unknown option $opt (see --help)" ;;
        *=*) overrides+=("$opt"); shift ;;
        *) die "unexpected argument '$opt': options start with --, Hydra overrides are key=value" ;;
    esac
done

# ------------------------------------------------------------------ checks on the options
[[ -n "$games_arg" ]] || die "--games is required (e.g. --games pong,breakout or --games nature49)"
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
is_uint "$gpus" || die "--gpus must be a whole number, got '$gpus'"
is_uint "$cpus" && (( cpus >= 1 )) || die "--cpus must be >= 1, got '$cpus'"
is_uint "$pack" && (( pack >= 1 )) || die "--pack-seeds must be >= 1 (seeds per task), got '$pack'"
mem=${mem:-$(( pack > 1 ? 8 * pack + 16 : 32 ))G}
is_uint "$lead" || die "--signal-lead must be a number of seconds, got '$lead'"
[[ -z "$max_parallel" ]] || { is_uint "$max_parallel" && (( max_parallel >= 1 )); } \
    || die "--max-parallel must be >= 1, got '$max_parallel'"
[[ "$experiment" =~ ^[A-Za-z0-9_.-]+$ ]] || die "bad --experiment '$experiment'"
job_name=${job_name:-dqn-$experiment}
for o in "${overrides[@]+"${overrides[@]}"}"; do
    key=${o%%=*}; key=${key#[+~]}; key=${key#+}
    case "$key" in
        experiment) die "use --experiment instead of the override '$o'" ;;
        env.game) die "use --games instead of the override '$o'" ;;
        seed) die "use --seeds instead of the override '$o'" ;;
        seeds) die "use --seeds and --pack-seeds instead of the override '$o'" ;;
        run_dir) die "use --runs-root instead of the override '$o' (every task needs its own run dir)" ;;
        torch_threads) die "torch_threads is set to --cpus; drop the override '$o'" ;;
        hydra/launcher|hydra.launcher*) die "'$o' is for Hydra multiruns (-m hydra/launcher=slurm), not for sweep.sh" ;;
    esac
done

# Games: comma-separated names; a name with a file slurm/games/<name>.txt expands to its lines.
games=()
IFS=',' read -r -a items <<< "$games_arg"
for item in "${items[@]}"; do
    item=${item//[[:space:]]/}
    [[ -n "$item" ]] || continue
    if [[ -f "$HERE/games/$item.txt" ]]; then
        while read -r line; do
            line=${line%%#*}; line=${line//[[:space:]]/}
            [[ -n "$line" ]] && games+=("$line")
        done < "$HERE/games/$item.txt"
    else
        games+=("$item")
    fi
done
[[ ${#games[@]} -gt 0 ]] || die "--games '$games_arg' names no game: list games, e.g. --games pong,breakout or --games nature49"

# Seeds: 0-4, 0,2,5, 0-2,7 ...
seeds=()
IFS=',' read -r -a items <<< "$seeds_arg"
for item in "${items[@]}"; do
    item=${item//[[:space:]]/}
    if [[ "$item" =~ ^([0-9]+)-([0-9]+)$ ]]; then
        (( BASH_REMATCH[1] <= BASH_REMATCH[2] )) || die "empty seed range '$item'"
        for ((s = BASH_REMATCH[1]; s <= BASH_REMATCH[2]; s++)); do seeds+=("$s"); done
    elif [[ "$item" =~ ^[0-9]+$ ]]; then
        seeds+=("$item")
    elif [[ -n "$item" ]]; then
        die "bad --seeds item '$item' (use e.g. 0-4 or 0,2,5)"
    fi
done
[[ ${#seeds[@]} -gt 0 ]] || die "--seeds '$seeds_arg' names no seed"

# The caller's interpreter, absolute, so every task runs the same one.
py=${PYTHON:-python}
py_abs=$(command -v -- "$py") || die "python interpreter '$py' not found (set PYTHON=/path/to/.venv/bin/python)"
[[ "$py_abs" == /* ]] || py_abs="$PWD/$py_abs"

if [[ -n "$runs_root" ]]; then
    runs_root=$(realpath -m -- "$runs_root")
fi
log_dir=$(realpath -m -- "${log_dir:-${runs_root:-runs}/slurm-logs}")

# ------------------------------------------------------------------ preflight (before anything is queued)
# Every game is a known ROM, the overrides are known keys, and the first task's config composes and is
# valid: a typo fails here, not in 245 queued jobs. Prints "game<TAB>seed<TAB>run_dir" per task,
# games de-duplicated and normalised (MsPacman -> ms_pacman), run dirs as the tasks will resolve them.
# Then the run dirs held by queued or running jobs: refused (exit 2) unless --allow-held-runs;
# a warning with --dry-run.
table=$("$py_abs" - "$experiment" "${runs_root:--}" "$(IFS=,; echo "${games[*]}")" \
        "$(IFS=,; echo "${seeds[*]}")" "$pack" "$log_dir" "$dry_run" "$allow_held" \
        "${overrides[@]+"${overrides[@]}"}" <<'PY'
import sys
from pathlib import Path

experiment, runs_root, games_csv, seeds_csv, pack, log_dir, dry_run, allow_held, *overrides = \
    sys.argv[1:]


def fail(message):
    print(f"sweep.sh: error: {message}", file=sys.stderr)
    sys.exit(2)


try:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from dqn_atari.compose import CONF_DIR
    from dqn_atari.overrides import OverrideError, check_overrides
    from dqn_atari.config import register_configs
    from dqn_atari.envs import UnknownGameError, resolve_game
    from dqn_atari.config_checks import ConfigError, check_packable, check_seed, validate_config
    from dqn_atari.held_runs import array_jobs, find_holders, held_report
except ImportError as error:
    fail(f"cannot import the project with {sys.executable}: {error} "
         "(set PYTHON=.venv/bin/python, or activate the venv)")

games = []
for name in games_csv.split(","):
    try:
        game = resolve_game(name)
    except UnknownGameError as error:
        fail(str(error))
    if game not in games:
        games.append(game)
seeds = list(dict.fromkeys(int(s) for s in seeds_csv.split(",")))
for seed in seeds:  # validate_config below sees the first seed only
    try:
        check_seed(seed, f"--seeds {seeds_csv}", "--seeds 0-4")
    except ConfigError as error:
        fail(str(error))
try:
    check_overrides([f"experiment={experiment}", *overrides])
except OverrideError as error:
    fail(str(error))

register_configs()
extra = [f"run_dir={runs_root}/${{experiment_name}}/${{env.game}}/seed_${{seed}}"] \
    if runs_root != "-" else []
try:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            f"experiment={experiment}", f"env.game={games[0]}", f"seed={seeds[0]}", *extra,
            *overrides])
    OmegaConf.to_object(cfg)  # type-checks every value against the schema
    validate_config(cfg)
    if int(pack) > 1:  # what cannot be packed (agent.overlap, ...) fails here
        cfg.seeds = seeds[:int(pack)]
        check_packable(cfg)
        cfg.seeds = []
except ConfigError as error:
    fail(str(error))
except Exception as error:  # Hydra/OmegaConf composition errors
    cause = f" ({error.__cause__})" if error.__cause__ else ""
    fail(f"the overrides do not compose: {error}{cause}".replace("\n", " "))
# Only env.game and seed differ between tasks: the run dir as each task's config resolves it.
rows = []
for game in games:
    for seed in seeds:
        cfg.env.game, cfg.seed = game, seed
        rows.append((game, seed, str(cfg.run_dir)))

# Run dirs that queued or running jobs will write (a sweep submitted twice): refused unless
# --allow-held-runs. Read as `python -m dqn_atari.status` reads the queue (dqn_atari/held_runs.py).
targets = [(Path(d).absolute(), seed) for _, seed, d in rows]
roots = [Path(log_dir), *(d.parents[2] for d, _ in targets if len(d.parents) > 3)]
holders, why = find_holders(targets, roots)
if why:
    print(f"sweep.sh: warning: could not check whether queued or running jobs hold the run dirs "
          f"of this sweep: {why}", file=sys.stderr)
if holders:
    for line in held_report(holders, len(targets)):
        print(f"sweep.sh: warning: {line}" if not line.startswith(" ") else line, file=sys.stderr)
    jobs = " ".join(array_jobs(holders))
    effect = ("a second task on one run dir exits 2 on its lock while the other job runs "
              "there, or starts that run again once the other job is done")
    fix = (f"Wait for those jobs, cancel them (scancel {jobs})" if jobs else
           "Wait for those runs, stop them") + ", write elsewhere (--runs-root DIR), or pass " \
        "--allow-held-runs to submit anyway"
    if allow_held == "1":
        verb = "would submit" if dry_run == "1" else "submitting"
        print(f"sweep.sh: warning: --allow-held-runs: {verb} anyway ({effect})", file=sys.stderr)
    elif dry_run == "1":
        print(f"sweep.sh: warning: without --dry-run this sweep would be refused: {effect}. "
              f"{fix}", file=sys.stderr)
    else:
        fail(f"nothing submitted: {effect}. {fix}")
for row in rows:
    print(*row, sep="\t")
PY
) || exit $?

mapfile -t rows <<< "$table"
# Tasks: "game:seed", or with --pack-seeds K "game:s1+s2+..." (up to K seeds of one game).
task_list=() task_of_row=() prev_game="" in_task=0
for row in "${rows[@]}"; do
    IFS=$'\t' read -r g s _ <<< "$row"
    if [[ "$g" != "$prev_game" ]] || (( in_task == pack )); then
        task_list+=("$g:$s")
        prev_game=$g in_task=1
    else
        task_list[-1]+="+$s"
        in_task=$((in_task + 1))
    fi
    task_of_row+=($(( ${#task_list[@]} - 1 )))
done
n=${#task_list[@]}

# ------------------------------------------------------------------ the sbatch command
array="0-$((n - 1))${max_parallel:+%$max_parallel}"
cmd=(sbatch --parsable
     --job-name="$job_name"
     --array="$array"
     --chdir="$PWD"
     --output="$log_dir/${job_name}_%A_%a.out"
     --nodes=1 --ntasks=1
     --cpus-per-task="$cpus"
     --mem="$mem"
     --time="$time_limit"
     --signal="B:USR1@$lead"
     --requeue
     --open-mode=append)
[[ -n "$partition" ]] && cmd+=(--partition="$partition")
(( gpus > 0 )) && cmd+=(--gres="gpu:$gpus")
cmd+=("${sbatch_extra[@]+"${sbatch_extra[@]}"}")
cmd+=("$SBATCH_SCRIPT" "$py_abs" "$experiment" "${runs_root:--}" "${task_list[*]}"
      "${overrides[@]+"${overrides[@]}"}")

print_table() {  # print_table JOB_ID|<id>
    printf '%s\t%s\t%s\t%s\t%s\n' task game seed run_dir log
    local i=0 row g s d t
    for row in "${rows[@]}"; do
        IFS=$'\t' read -r g s d <<< "$row"
        t=${task_of_row[$i]}
        printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$g" "$s" "$d" "$log_dir/${job_name}_${1}_${t}.out"
        i=$((i + 1))
    done
}

packing=""
(( pack == 1 )) || packing=", up to $pack seeds per task (one process each)"
summary="$n task(s): ${#games[@]} game(s) x ${#seeds[@]} seed(s)$packing, experiment=$experiment,"
summary+=" ${cpus} CPU(s), ${gpus} GPU(s), mem $mem, time $time_limit, SIGUSR1 ${lead} s before the limit"
if (( dry_run )); then
    echo "sweep.sh: dry run, nothing submitted: $summary"
    printf 'sweep.sh: would run:'; printf ' %q' "${cmd[@]}"; echo
    print_table "<id>"
    exit 0
fi

command -v sbatch >/dev/null || die "sbatch not found: is this a SLURM login node? (--dry-run works without it)"
mkdir -p "$log_dir"  # sbatch does not create the directory of --output; the job would die silently
out=$("${cmd[@]}" 2>&1) || die "sbatch failed: $out"
job_id=${out%%;*}
job_id=${job_id##*$'\n'}
[[ "$job_id" =~ ^[0-9]+$ ]] || die "unexpected sbatch output: $out"
tasks_file="$log_dir/${job_name}_${job_id}.tasks.tsv"
print_table "$job_id" > "$tasks_file"

echo "sweep.sh: submitted array job $job_id ($job_name): $summary"
echo "sweep.sh: task table: $tasks_file"
echo "sweep.sh: logs: $log_dir/${job_name}_${job_id}_<task>.out"
echo "sweep.sh: watch with: squeue -j $job_id -o '%.16i %.20j %.9T %.10M %.12l %R'"
column -t -s $'\t' "$tasks_file" 2>/dev/null || cat "$tasks_file"
echo "$job_id"
