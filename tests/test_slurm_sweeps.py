"""Sweeps on a real SLURM cluster: slurm/sweep.sh (one job array), Hydra's submitit launcher
(dqn_atari/conf/hydra/launcher/slurm.yaml) and preemption (requeue -> resume with exact counters).

    bash slurm/cluster/start_cluster.sh && source /tmp/slurm-ci/env.sh
    .venv/bin/python -m pytest tests/test_slurm_sweeps.py -q -m slurm --durations=0
    bash slurm/cluster/stop_cluster.sh

The tests marked `slurm` skip, with the reason, when no cluster answers (they fail instead under
DQN_REQUIRE_SLURM=1, which .ci/run sets). The first tests need no cluster: they check the named
game set and what sweep.sh would submit (--dry-run), and the launcher config. Jobs use 1 CPU each,
so two run at once on the 2-CPU CI node; every wait is bounded and fails with squeue,
`scontrol show job` and the log tails.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, compose
from slurm_helpers import (
    all_finished,
    cancel,
    diagnostics,
    job_fields,
    require_slurm,
    run,
    states,
    tail,
    wait,
)

from dqn_atari.compose import CONF_DIR
from dqn_atari.overrides import check_overrides
from dqn_atari.run.metrics import wandb_run_id
from dqn_atari.scores import NATURE_49_GAMES

SWEEP = REPO / "slurm" / "sweep.sh"
SMALL = ["--cpus", "1", "--gpus", "0", "--mem", "2G", "--time", "00:15:00"]
RUN_S = 300.0  # bound for a sweep / a preempted run to finish (each takes ~20-60 s here)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t" if path.suffix == ".tsv" else ","))


def _sweep(*args: str, cwd: Path, timeout: float = 120.0) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable)
    return run(["bash", str(SWEEP), *args], timeout=timeout, cwd=cwd, env=env)


# --------------------------------------------------------------------- no cluster needed


def test_nature49_file_matches_the_paper_table():
    path = REPO / "slurm" / "games" / "nature49.txt"
    names = [ln.split("#")[0].strip() for ln in path.read_text().splitlines()]
    names = [n for n in names if n]
    assert names == list(NATURE_49_GAMES), (
        "slurm/games/nature49.txt is out of date with dqn_atari.scores.NATURE_49_GAMES; "
        "regenerate it from NATURE_49_GAMES"
    )


def test_sweep_dry_run_builds_one_array_with_the_nature_defaults(tmp_path: Path):
    res = _sweep("--games", "pong,Breakout", "--seeds", "0-1,7", "--dry-run", "optim.lr=1e-4",
                 cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for flag in ("--array=0-5", "--job-name=dqn-nature", "--cpus-per-task=6", "--mem=32G",
                 "--time=3-00:00:00", "--signal=B:USR1@300", "--requeue", "--open-mode=append",
                 "--gres=gpu:1", f"--output={tmp_path}/runs/slurm-logs/dqn-nature_%A_%a.out",
                 "slurm/dqn_array.sbatch", "optim.lr=1e-4"):
        assert flag in out, f"{flag} missing from the dry run:\n{out}"
    table = [ln.split("\t") for ln in out.splitlines() if ln[:1].isdigit()]
    assert [(t[1], t[2], t[3]) for t in table] == [
        (g, s, f"runs/nature/{g}/seed_{s}")
        for g in ("pong", "breakout") for s in ("0", "1", "7")
    ], out
    assert "dry run, nothing submitted" in out

    res = _sweep("--games", "nature49", "--seeds", "0", "--gpus", "0", "--cpus", "2",
                 "--signal-lead", "120", "--experiment", "fast", "--max-parallel", "8",
                 "--dry-run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "--array=0-48%8" in res.stdout and "--gres" not in res.stdout, res.stdout
    assert "--signal=B:USR1@120" in res.stdout and "--job-name=dqn-fast" in res.stdout

    for bad, says in ((["--games", "pongg"], "unknown game 'pongg'; close matches: pong"),
                      (["--games", "pong", "agent.lr=1"], "optim.lr"),
                      (["--games", "pong", "seed=3"], "--seeds"),
                      (["--games", "pong", "--seeds", "4-2"], "empty seed range")):
        res = _sweep(*bad, "--dry-run", cwd=tmp_path)
        assert res.returncode == 2 and says in res.stderr, (bad, res.stderr)


def test_sweep_pack_seeds_groups_seeds_of_a_game_per_task(tmp_path: Path):
    """--pack-seeds 2 over seeds 0-4: tasks pong:0+1, pong:2+3, pong:4, then breakout's."""
    res = _sweep("--games", "pong,breakout", "--seeds", "0-4", "--pack-seeds", "2", "--gpus", "0",
                 "--dry-run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "--array=0-5" in out and "--mem=32G" in out, out  # (8 * 2 + 16) GB for 2 replays
    assert r"pong:0+1\ pong:2+3\ pong:4\ breakout:0+1\ breakout:2+3\ breakout:4" in out, out
    table = [ln.split("\t") for ln in out.splitlines() if ln[:1].isdigit()]
    # one row per seed: its task, and the run dir it would have alone
    assert [(t[0], t[1], t[2], t[3]) for t in table] == [
        (str(task), g, str(s), f"runs/nature/{g}/seed_{s}")
        for g, first in (("pong", 0), ("breakout", 3))
        for task, s in zip((first, first, first + 1, first + 1, first + 2), range(5))]
    res = _sweep("--games", "pong", "--seeds", "0-4", "--pack-seeds", "5", "--dry-run", cwd=tmp_path)
    assert "--array=0-0" in res.stdout and "--mem=56G" in res.stdout, res.stdout
    for bad, says in ((["--pack-seeds", "0"], "--pack-seeds must be >= 1"),
                      (["--pack-seeds", "2", "agent.overlap=true"], "agent.overlap=true"),
                      (["seeds=[0,1]"], "--pack-seeds")):
        res = _sweep("--games", "pong", "--seeds", "0-1", *bad, "--dry-run", cwd=tmp_path)
        assert res.returncode == 2 and says in res.stderr, (bad, res.stderr)


# Issue 22's bad values (smoke preset: 600 agent steps, replay.capacity=2000), as sweep.sh takes
# them: the key the message must name and the fix it must give.
SWEEP_BAD_ROWS = [
    pytest.param(["--games", ","], "--games", "--games pong", id="empty-game"),
    pytest.param(["--seeds", "-1"], "--seeds", "0-4", id="negative-seed"),
    pytest.param(["--seeds", "0,4294967296"], "--seeds 0,4294967296", "--seeds 0-4",
                 id="seed-past-2**32"),
    pytest.param(["optim.lr=-1"], "optim.lr=-1.0", "optim.lr=0.00025", id="negative-lr"),
    pytest.param(["env.frame_size=0"], "env.frame_size=0", "env.frame_size=36", id="frame-size-0"),
    pytest.param(["env.num_envs=1000"], "env.num_envs=1000", "env.num_envs=400",
                 id="num-envs-1000"),
    pytest.param(["agent.epsilon_end=2"], "agent.epsilon_end=2.0", "between 0 and 1",
                 id="epsilon-end-2"),
    pytest.param(["agent.learning_starts_agent_steps=601"], "agent.learning_starts_agent_steps=601",
                 "allow_no_learning=true", id="learning-starts-after-the-budget"),
]


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "submit"])
@pytest.mark.parametrize("bad,key,fix", SWEEP_BAD_ROWS)
def test_sweep_refuses_a_bad_value_before_submitting(bad, key, fix, dry_run, tmp_path: Path):
    """Exit 2 naming the key and the fix; no sbatch call (a fake one records any), no run dir."""
    bin_dir, called = tmp_path / "bin", tmp_path / "sbatch_was_called"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(f"#!/bin/sh\ntouch {called}\necho 4242\n")
    (bin_dir / "sbatch").chmod(0o755)
    runs = tmp_path / "runs"
    args = ["--games", "pong", "--experiment", "smoke", "--gpus", "0", "--runs-root", str(runs)]
    args += [*bad, *(["--dry-run"] if dry_run else [])]
    env = dict(os.environ, PYTHON=sys.executable, PATH=f"{bin_dir}:{os.environ['PATH']}")
    res = run(["bash", str(SWEEP), *args], timeout=120, cwd=tmp_path, env=env)
    assert res.returncode == 2, (res.stdout[-1500:], res.stderr[-1500:])
    assert key in res.stderr and fix in res.stderr, res.stderr
    assert not called.exists() and not runs.exists()


def test_sbatch_task_of_packed_seeds_passes_a_seeds_list(tmp_path: Path):
    """The real sbatch script, with `echo` as the interpreter: "game:0+1" -> seeds=[0,1]."""
    env = dict(os.environ, SLURM_ARRAY_TASK_ID="1", SLURM_CPUS_PER_TASK="3")
    res = run(["bash", str(REPO / "slurm" / "dqn_array.sbatch"), "echo", "smoke", "/r",
               "pong:7 pong:0+1", "optim.lr=1e-4"], timeout=30, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    command = res.stdout.splitlines()[-1]
    assert "env.game=pong seeds=[0,1] torch_threads=3" in command, command
    assert "run_dir=/r/${experiment_name}/${env.game}/seed_${seed} optim.lr=1e-4" in command
    assert "seed=" not in command.replace("seeds=", "").replace("seed_", "")


def test_hydra_launcher_config_composes():
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    check_overrides(["-m", "hydra/launcher=slurm", "hydra.launcher.timeout_min=15",
                     "env.game=pong,breakout", "seed=0,1,2"])  # the CLI check lets them through
    compose([])  # registers the schema
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose(config_name="config", overrides=["hydra/launcher=slurm"],
                            return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.timeout_min == 4320 and launcher.partition is None
    assert launcher.cpus_per_task == 6 and launcher.gpus_per_node == 1 and launcher.mem_gb == 32
    assert launcher.max_num_timeout > 0 and launcher.signal_delay_s == 300
    assert launcher.additional_parameters.requeue is True
    assert launcher.name == "dqn-nature"
    assert launcher.submitit_folder == "runs/.submitit/%j"
    assert cfg.hydra.sweep.dir == "runs"


# --------------------------------------------------------------------- on the cluster


@pytest.fixture(scope="module")
def slurm() -> None:
    require_slurm()


@pytest.fixture
def jobs():
    """Job ids submitted by a test; whatever still runs at the end is cancelled."""
    ids: list[str] = []
    yield ids
    cancel([j for j in ids if not all_finished(j)])


def _submit(tmp_path: Path, *args: str) -> tuple[str, Path, list[dict[str, str]]]:
    """sweep.sh into tmp_path/runs; returns the array job id, the log dir and the task table."""
    runs = tmp_path / "runs"
    res = _sweep(*args, *SMALL, "--runs-root", str(runs), cwd=tmp_path)
    assert res.returncode == 0, (f"sweep.sh failed (exit {res.returncode}):\n{res.stdout}\n"
                                 f"{res.stderr}")
    job_id = res.stdout.strip().splitlines()[-1]
    assert job_id.isdigit(), res.stdout
    log_dir = runs / "slurm-logs"
    table = _rows(log_dir / f"dqn-smoke_{job_id}.tasks.tsv")
    return job_id, log_dir, table


def _summary(run_dir: Path) -> dict:
    path = Path(run_dir) / "summary.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _expected_updates(cfg, agent_steps: int) -> int:
    period, starts = cfg.agent.update_period_agent_steps, cfg.agent.learning_starts_agent_steps
    return sum(1 for k in range(1, agent_steps + 1) if k >= starts and k % period == 0)


@pytest.mark.slurm
def test_sweep_2_games_x_2_seeds_completes(slurm, jobs, tmp_path: Path):
    """slurm/sweep.sh: one array of 4 tasks; every task finishes its 600 agent steps."""
    t0 = time.monotonic()
    job_id, log_dir, table = _submit(tmp_path, "--games", "pong,breakout", "--seeds", "0-1",
                                     "--experiment", "smoke")
    jobs.append(job_id)
    assert [(r["task"], r["game"], r["seed"]) for r in table] == [
        ("0", "pong", "0"), ("1", "pong", "1"), ("2", "breakout", "0"), ("3", "breakout", "1")]
    logs = [Path(r["log"]) for r in table]
    run_dirs = [Path(r["run_dir"]) for r in table]
    assert run_dirs[2] == tmp_path / "runs" / "smoke" / "breakout" / "seed_0"
    assert logs[3] == log_dir / f"dqn-smoke_{job_id}_3.out"

    wait(lambda: all_finished(job_id, n=4), "all 4 array tasks to finish", job_id, logs,
         timeout=RUN_S)
    elapsed = time.monotonic() - t0
    tasks = sorted(job_fields(job_id), key=lambda j: int(j["ArrayTaskId"]))
    assert [t["ArrayTaskId"] for t in tasks] == ["0", "1", "2", "3"], tasks
    for task, row, log, run_dir in zip(tasks, table, logs, run_dirs):
        where = f"task {row['task']} ({row['game']}, seed {row['seed']})\n--- {log}\n{tail(log)}"
        assert task["JobState"] == "COMPLETED", where + "\n" + diagnostics(job_id, [])
        assert task["JobName"] == "dqn-smoke" and task["Requeue"] == "1", task
        assert task["NumCPUs"] == "1" and task["TimeLimit"] == "00:15:00", task
        assert task["StdOut"] == str(log), task
        summary = _summary(run_dir)
        assert summary.get("status") == "finished" and summary["agent_steps"] == 600, where
        assert (run_dir / "metrics" / "episodes.csv").is_file(), where
        iterations = _rows(run_dir / "metrics" / "iterations.csv")
        assert [int(r["agent_steps"]) for r in iterations] == [200, 400, 600], where
        text = log.read_text()
        assert f"game={row['game']} seed={row['seed']} restart=0 cpus=1" in text, where
        assert "torch_threads: 1" in (run_dir / "config.yaml").read_text(), where
    print(f"sweep 2x2: {elapsed:.1f} s")


def _queued_arrays(workdir: Path) -> set[str]:
    """The array jobs in the queue submitted from ``workdir`` (other tests' jobs left out: tests
    of other files may submit on the same cluster meanwhile)."""
    res = run(["squeue", "-h", "-o", "%F|%Z"])
    assert res.returncode == 0, res.stderr
    return {job for job, _, where in (line.partition("|") for line in res.stdout.split())
            if Path(where) == workdir}


@pytest.mark.slurm
def test_sweep_submitted_twice_is_refused_naming_the_jobs_that_hold_its_runs(slurm, jobs,
                                                                              tmp_path: Path):
    """The first submission's task 0 runs and task 1 waits (held): the same sweep again exits 2
    naming both tasks, submits nothing and writes no task table; --dry-run says the same as a
    warning; --allow-held-runs submits."""
    t0 = time.monotonic()
    runs = tmp_path / "runs"
    sweep = ["--games", "pong", "--seeds", "0-1", "--experiment", "smoke", "total_frames=400000",
             "logger.wandb_mode=disabled", "eval_agent_steps_per_iteration=0"]
    args = [*sweep, *SMALL, "--runs-root", str(runs)]  # what _submit runs
    first, log_dir, _ = _submit(tmp_path, *sweep, "--sbatch-arg=--hold")
    jobs.append(first)
    assert run(["scontrol", "release", f"{first}_0"]).returncode == 0
    wait(lambda: states(f"{first}_0") == ["RUNNING"], "task 0 to run", first,
         [log_dir / f"dqn-smoke_{first}_0.out"], timeout=60)
    queued = _queued_arrays(tmp_path)

    again = _sweep(*args, cwd=tmp_path)
    assert again.returncode == 2, (again.stdout, again.stderr)
    err = again.stderr
    for says in ("2 of the 2 run dir(s) this sweep would write are held by queued or running jobs",
                 f"{runs}/smoke/pong/seed_0: job {first}_0 RUNNING (dqn-smoke)",
                 f"{runs}/smoke/pong/seed_1: job {first}_1 PENDING (dqn-smoke, JobHeldUser)",
                 "sweep.sh: error: nothing submitted", f"scancel {first}", "--allow-held-runs"):
        assert says in err, f"{says!r} not in:\n{err}"
    assert _queued_arrays(tmp_path) == queued  # nothing submitted
    assert sorted(p.name for p in log_dir.glob("*.tasks.tsv")) == [f"dqn-smoke_{first}.tasks.tsv"]

    dry = _sweep(*args, "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert f"job {first}_0 RUNNING" in dry.stderr, dry.stderr
    assert "without --dry-run this sweep would be refused" in dry.stderr, dry.stderr

    anyway = _sweep(*args, "--allow-held-runs", "--sbatch-arg=--hold", cwd=tmp_path)
    assert anyway.returncode == 0, anyway.stderr
    second = anyway.stdout.strip().splitlines()[-1]
    jobs.append(second)
    assert second.isdigit() and second != first, anyway.stdout
    assert "--allow-held-runs: submitting anyway" in anyway.stderr, anyway.stderr
    assert _queued_arrays(tmp_path) == queued | {second}
    print(f"sweep submitted twice: {time.monotonic() - t0:.1f} s")


@pytest.mark.slurm
def test_hydra_multirun_through_submitit_launcher(slurm, jobs, tmp_path: Path):
    """`python -m dqn_atari.train -m hydra/launcher=slurm ... seed=0,1` submits, waits, finishes."""
    sweep_dir = tmp_path / "multirun"
    cmd = [sys.executable, "-m", "dqn_atari.train", "-m", "hydra/launcher=slurm",
           "experiment=smoke", "seed=0,1", f"hydra.sweep.dir={sweep_dir}",
           "hydra.launcher.gpus_per_node=0", "hydra.launcher.cpus_per_task=1",
           "hydra.launcher.mem_gb=2", "hydra.launcher.timeout_min=15"]
    submitit_dir = sweep_dir / ".submitit"

    def submitted() -> list[str]:
        return sorted(p.name for p in submitit_dir.glob("*") if p.name.isdigit()) \
            if submitit_dir.is_dir() else []

    def logs() -> list[Path]:
        return sorted(submitit_dir.glob("*/*_log.out")) if submitit_dir.is_dir() else []

    t0 = time.monotonic()
    try:
        # without sacct (no accounting here) submitit would wait forever on a job that died
        # without a result: the bound is this timeout.
        res = subprocess.run(cmd, check=False, cwd=REPO, capture_output=True, text=True,
                             timeout=RUN_S)
    except subprocess.TimeoutExpired as exc:
        jobs.extend(submitted())
        pytest.fail(f"the Hydra multirun did not return within {RUN_S:.0f} s\n"
                    f"{(exc.stdout or b'')[-3000:]!r}\n" + diagnostics(None, logs()))
    elapsed = time.monotonic() - t0
    jobs.extend(submitted())
    assert res.returncode == 0, (f"multirun failed (exit {res.returncode}):\n{res.stdout[-3000:]}\n"
                                 f"{res.stderr[-3000:]}\n" + diagnostics(None, logs()))
    (job_id,) = submitted()
    script = (submitit_dir / job_id / f"{job_id}_submission.sh").read_text()
    for flag in ("--array=0-1", "--job-name=dqn-smoke", "--requeue", "--signal=USR2@300",
                 "--cpus-per-task=1", "--open-mode=append", "export OMP_NUM_THREADS="):
        assert flag in script, f"{flag} not in the generated sbatch script:\n{script}"
    # submitit returns once the result pickles exist; the tasks may still be exiting
    wait(lambda: all_finished(job_id, n=2), "both tasks to leave the queue", job_id, logs,
         timeout=60)
    assert sorted(states(job_id)) == ["COMPLETED", "COMPLETED"], diagnostics(job_id, logs())
    for seed in (0, 1):
        run_dir = sweep_dir / "smoke" / "pong" / f"seed_{seed}"
        summary = _summary(run_dir)
        where = f"{run_dir}\n" + "\n".join(tail(p) for p in logs())
        assert summary.get("status") == "finished" and summary["agent_steps"] == 600, where
        assert (run_dir / "metrics" / "episodes.csv").is_file(), where
        assert (run_dir / "metrics" / "iterations.csv").is_file(), where
        assert (run_dir / ".hydra" / "overrides.yaml").is_file(), where
        # The status tool's log column: submitit's log of this task, not srun's pipe.
        log = json.loads((run_dir / "status.json").read_text())["log"]
        assert log is not None and Path(log).is_file() and log.endswith("_log.out"), where
        assert Path(log).resolve() in {p.resolve() for p in logs()}, where
    print(f"hydra multirun 2 seeds: {elapsed:.1f} s")


def _preempt_and_resume(tmp_path: Path, jobs: list[str], how: str) -> None:
    """A 1000-agent-step run (5 iterations of 200) through sweep.sh; once its first checkpoint is
    on disk, `how` interrupts it mid-training. It must checkpoint, be requeued (same job id,
    SLURM_RESTART_COUNT=1), resume from that checkpoint and end at exactly 1000 agent steps."""
    total_frames = 4000
    overrides = [f"total_frames={total_frames}"]
    cfg = compose(["experiment=smoke", *overrides])
    total = total_frames // cfg.env.action_repeat_frames
    t0 = time.monotonic()
    array_id, _, table = _submit(tmp_path, "--games", "pong", "--seeds", "0",
                                 "--experiment", "smoke", *overrides)
    jobs.append(array_id)
    job = f"{array_id}_0"
    log, run_dir = Path(table[0]["log"]), Path(table[0]["run_dir"])
    ckpt_dir = run_dir / "checkpoints"

    wait(lambda: any(ckpt_dir.glob("ckpt_*.pt")), "the first checkpoint", job, [log], timeout=RUN_S)
    t_first = time.monotonic() - t0
    assert states(job) == ["RUNNING"], "the run ended before it could be interrupted\n" + \
        diagnostics(job, [log])
    if how == "requeue":
        res = run(["scontrol", "requeue", job])
        signal_name = "SIGTERM"
    else:  # what --signal=B:USR1@<lead> delivers before the time limit, right now
        res = run(["scancel", "--batch", "--signal=USR1", job])
        signal_name = "SIGUSR1"
    assert res.returncode == 0, f"{how} failed: {res.stderr}\n" + diagnostics(job, [log])
    t_signal = time.monotonic()

    wait(lambda: all_finished(job) and _summary(run_dir).get("status") == "finished",
         "the requeued run to finish", job, [log], timeout=RUN_S)
    elapsed = time.monotonic() - t0
    (fields,) = job_fields(job)
    text = log.read_text()
    where = f"--- {log}\n{text[-4000:]}\n" + diagnostics(job, [])
    assert fields["JobState"] == "COMPLETED", where
    assert fields["Restarts"] == "1", where
    assert "restart=0" in text and "restart=1" in text, where  # SLURM_RESTART_COUNT

    # The checkpoint written on the signal is the one the restart resumed from.
    marker = f"[dqn_atari] {signal_name}: checkpointed at agent step "
    (line,) = [ln for ln in text.splitlines() if ln.startswith(marker)]
    at = int(line[len(marker):].split(";")[0].replace(",", ""))
    assert cfg.train_agent_steps_per_iteration <= at < total, where
    resumed = [ln for ln in text.splitlines() if "resumed from" in ln]
    assert len(resumed) == 1 and f"ckpt_{at:012d}.pt at agent step {at:,} " in resumed[0], where
    if how == "usr1":
        assert "[dqn_atari] requeued SLURM job" in text, where
    # The restarted task took the run dir's lock (the first start's was freed when it exited)
    # and wrote itself in as the holder.
    holder = json.loads((run_dir / ".lock").read_text())
    assert holder["slurm_restart_count"] == "1" and holder["slurm_array_task_id"] == "0", holder
    assert holder["slurm_array_job_id"] == array_id and "is in use by" not in text, where

    # Exactly the configured total: nothing lost, nothing counted twice.
    summary = _summary(run_dir)
    assert summary["agent_steps"] == total and summary["frames"] == total_frames, summary
    assert summary["updates"] == _expected_updates(cfg, total), summary
    assert summary["iteration"] == total // cfg.train_agent_steps_per_iteration, summary
    iterations = _rows(run_dir / "metrics" / "iterations.csv")
    per_it = cfg.train_agent_steps_per_iteration
    assert [int(r["iteration"]) for r in iterations] == list(range(total // per_it)), iterations
    assert [int(r["agent_steps"]) for r in iterations] == list(range(per_it, total + 1, per_it))
    assert int(iterations[-1]["updates"]) == _expected_updates(cfg, total)
    train_steps = [int(r["agent_steps"]) for r in _rows(run_dir / "metrics" / "episodes.csv")
                   if r["phase"] == "train"]
    assert train_steps == sorted(set(train_steps)) and train_steps[-1] <= total, train_steps

    # Both starts logged to the same wandb run (offline dirs end with the same id).
    run_id = wandb_run_id(cfg.experiment_name, "pong", 0)
    offline = sorted(p.name for p in (run_dir / "wandb").glob("offline-run-*"))
    assert len(offline) == 2 and all(name.endswith(f"-{run_id}") for name in offline), offline
    print(f"{how}: first checkpoint after {t_first:.1f} s, interrupted at agent step {at}, "
          f"finished {time.monotonic() - t_signal:.1f} s after the signal, total {elapsed:.1f} s")


@pytest.mark.slurm
def test_scontrol_requeue_resumes_with_exact_agent_steps(slurm, jobs, tmp_path: Path):
    _preempt_and_resume(tmp_path, jobs, "requeue")


@pytest.mark.slurm
def test_sigusr1_checkpoints_requeues_and_resumes(slurm, jobs, tmp_path: Path):
    """The time-limit path: SIGUSR1 to the batch shell (python, exec'd) -> checkpoint ->
    `scontrol requeue $SLURM_JOB_ID` from inside the job -> restart -> resume."""
    _preempt_and_resume(tmp_path, jobs, "usr1")
