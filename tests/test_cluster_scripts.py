"""Integration tests against a real single-node SLURM cluster (slurm/cluster/start_cluster.sh).

Run them with a cluster up:

    bash slurm/cluster/install_packages.sh      # once
    bash slurm/cluster/start_cluster.sh
    source /tmp/slurm-ci/env.sh                 # SLURM_CONF + the scontrol shim on PATH
    .venv/bin/python -m pytest tests/test_cluster_scripts.py -q
    bash slurm/cluster/stop_cluster.sh

Without a reachable cluster every test is skipped with the reason. Every wait is bounded; a timeout
fails with `squeue`, `scontrol show job` and the job log tail in the message.
"""

from __future__ import annotations

import json
import operator
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from slurm_helpers import FINISHED, require_slurm
from slurm_helpers import all_finished as _all_finished
from slurm_helpers import diagnostics as _diagnostics
from slurm_helpers import job_fields as _job_fields
from slurm_helpers import run as _run
from slurm_helpers import states as _states
from slurm_helpers import wait as _wait

pytestmark = pytest.mark.slurm


@pytest.fixture(scope="module")
def slurm() -> None:
    require_slurm()  # skips with the reason (fails under DQN_REQUIRE_SLURM=1, as in CI)


# ----------------------------------------------------------------------------- helpers


def _sbatch(script: Path, *args: str, cwd: Path, env: dict | None = None) -> str:
    res = subprocess.run(
        ["sbatch", "--parsable", f"--chdir={cwd}", *args, str(script)],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=cwd,
        env=env,
    )
    assert res.returncode == 0, f"sbatch failed (exit {res.returncode}): {res.stderr}"
    job_id = res.stdout.strip().split(";")[0]
    assert job_id.isdigit(), f"unexpected sbatch output: {res.stdout!r}"
    return job_id


# ----------------------------------------------------------------------------- tests


def test_trivial_job_runs_with_callers_environment(slurm, tmp_path: Path) -> None:
    """A trivial batch job runs; sbatch exports the caller's environment, so the submitting
    interpreter (the project's venv python) and its packages work inside the job."""
    token = f"tok-{os.getpid()}-{time.time_ns()}"
    script = tmp_path / "hello.sbatch"
    script.write_text(
        "#!/bin/bash\n"
        "#SBATCH --job-name=ci-hello\n"
        "#SBATCH --output=hello_%j.out\n"
        "#SBATCH --ntasks=1 --cpus-per-task=1 --mem=100M --time=2\n"
        'echo "hello from job $SLURM_JOB_ID on $SLURMD_NODENAME"\n'
        'echo "token=$DQN_CI_TOKEN"\n'
        f'"{sys.executable}" -c "import sys, pytest; print(\'python=\' + sys.executable)"\n'
        'echo "done"\n'
    )
    env = dict(os.environ, DQN_CI_TOKEN=token)
    t0 = time.monotonic()
    job_id = _sbatch(script, cwd=tmp_path, env=env)
    out = tmp_path / f"hello_{job_id}.out"
    _wait(lambda: _all_finished(job_id), "the job to finish", job_id, [out])
    elapsed = time.monotonic() - t0
    assert _states(job_id) == ["COMPLETED"], _diagnostics(job_id, [out])
    text = out.read_text()
    assert f"hello from job {job_id} on localhost" in text, text
    assert f"token={token}" in text, f"caller's environment not exported into the job:\n{text}"
    assert f"python={sys.executable}" in text, f"venv python did not run in the job:\n{text}"
    assert text.rstrip().endswith("done"), text
    print(f"trivial job: sbatch -> COMPLETED in {elapsed:.1f} s")


def test_array_job_all_tasks_finish(slurm, tmp_path: Path) -> None:
    script = tmp_path / "array.sbatch"
    script.write_text(
        "#!/bin/bash\n"
        "#SBATCH --job-name=ci-array\n"
        "#SBATCH --array=0-3\n"
        "#SBATCH --output=arr_%A_%a.out\n"
        "#SBATCH --ntasks=1 --cpus-per-task=1 --mem=100M --time=2\n"
        'echo "task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_JOB_ID start"\n'
        "sleep 1\n"
        'echo "task $SLURM_ARRAY_TASK_ID done"\n'
    )
    t0 = time.monotonic()
    job_id = _sbatch(script, cwd=tmp_path)
    outs = [tmp_path / f"arr_{job_id}_{i}.out" for i in range(4)]

    def all_done() -> bool:
        return _all_finished(job_id, n=4) and all(
            o.exists() and f"task {i} done" in o.read_text() for i, o in enumerate(outs)
        )

    _wait(all_done, "all 4 array tasks to finish", job_id, outs)
    elapsed = time.monotonic() - t0
    tasks = _job_fields(job_id)
    ids = sorted(int(t["ArrayTaskId"]) for t in tasks)
    assert ids == [0, 1, 2, 3], tasks
    assert all(t["JobState"] == "COMPLETED" for t in tasks), _diagnostics(job_id, outs)
    for i, o in enumerate(outs):
        assert f"task {i} of {job_id} start" in o.read_text()
    print(f"array 0-3: all tasks COMPLETED in {elapsed:.1f} s")


CKPT_PROGRAM = r"""
import json, os, signal, sys, time

total, step_s = int(sys.argv[1]), float(sys.argv[2])
ckpt, progress, result = "ckpt.json", "progress.txt", "result.txt"
restart = int(os.environ.get("SLURM_RESTART_COUNT", "0"))
counter = 0
if os.path.exists(ckpt):
    with open(ckpt) as f:
        counter = json.load(f)["counter"]
print(f"start restart={restart} from={counter}", flush=True)

stop = False
def on_term(signum, frame):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)

while counter < total:
    if stop:
        with open(ckpt + ".tmp", "w") as f:
            json.dump({"counter": counter}, f)
        os.replace(ckpt + ".tmp", ckpt)
        print(f"SIGTERM: checkpointed counter={counter}", flush=True)
        sys.exit(143)
    time.sleep(step_s)
    counter += 1
    with open(progress, "w") as f:
        f.write(str(counter))
with open(result, "w") as f:
    f.write(str(counter))
print(f"finished counter={counter}", flush=True)
"""


def test_requeue_resumes_from_checkpoint(slurm, tmp_path: Path) -> None:
    """`scontrol requeue` of a running job: SIGTERM -> checkpoint -> PENDING -> restart with the same
    id and SLURM_RESTART_COUNT=1 -> resumes from the checkpoint and ends at exactly `total`."""
    total, step_s, requeue_at = 40, 0.25, 8
    (tmp_path / "ckpt_job.py").write_text(CKPT_PROGRAM)
    script = tmp_path / "ckpt.sbatch"
    script.write_text(
        "#!/bin/bash\n"
        "#SBATCH --job-name=ci-requeue\n"
        "#SBATCH --output=ckpt_%j.out\n"
        "#SBATCH --open-mode=append\n"  # else the restart truncates the log
        "#SBATCH --requeue\n"
        "#SBATCH --ntasks=1 --cpus-per-task=1 --mem=100M --time=5\n"
        f'exec "{sys.executable}" -u ckpt_job.py {total} {step_s}\n'
    )
    t0 = time.monotonic()
    job_id = _sbatch(script, cwd=tmp_path)
    out = tmp_path / f"ckpt_{job_id}.out"
    progress = tmp_path / "progress.txt"

    def progressed() -> bool:
        try:
            return int(progress.read_text() or 0) >= requeue_at
        except (OSError, ValueError):
            return False

    _wait(progressed, f"the job to reach counter >= {requeue_at}", job_id, [out])
    assert _states(job_id) == ["RUNNING"], _diagnostics(job_id, [out])
    res = _run(["scontrol", "requeue", job_id])
    diag = _diagnostics(job_id, [out]) if res.returncode else ""
    assert res.returncode == 0, f"scontrol requeue failed: {res.stderr}\n{diag}"
    t_requeue = time.monotonic()

    result = tmp_path / "result.txt"
    _wait(
        lambda: _all_finished(job_id) and result.exists(),
        "the requeued job to finish",
        job_id,
        [out],
    )
    t_end = time.monotonic()
    (job,) = _job_fields(job_id)
    log = out.read_text()
    assert job["JobState"] == "COMPLETED", _diagnostics(job_id, [out])
    assert job["Restarts"] == "1", _diagnostics(job_id, [out])
    assert int(result.read_text()) == total, log

    ckpt = json.loads((tmp_path / "ckpt.json").read_text())["counter"]
    assert requeue_at <= ckpt < total, log
    lines = log.splitlines()
    assert "start restart=0 from=0" in lines, log
    assert f"SIGTERM: checkpointed counter={ckpt}" in lines, log
    assert f"start restart=1 from={ckpt}" in lines, f"did not resume from the checkpoint:\n{log}"
    assert lines[-1] == f"finished counter={total}", log
    print(
        f"requeue: checkpoint at {ckpt}/{total}; restart {t_end - t_requeue:.1f} s after requeue "
        f"incl. remaining work; total {t_end - t0:.1f} s"
    )


def test_sacct_when_accounting_enabled(slurm, tmp_path: Path) -> None:
    """With SLURM_CI_ACCOUNTING=1 sacct knows finished jobs (submitit relies on it)."""
    if shutil.which("sacct") is None:
        pytest.skip("sacct not on PATH")
    probe = _run(["sacct", "-n", "-X", "-o", "JobID", "-S", "now-1minutes"])
    if probe.returncode != 0:
        pytest.skip(
            "accounting disabled on this cluster (start it with SLURM_CI_ACCOUNTING=1): "
            + probe.stderr.strip()[-200:]
        )
    script = tmp_path / "acct.sbatch"
    script.write_text(
        "#!/bin/bash\n#SBATCH --output=acct_%j.out\n#SBATCH --mem=100M --time=2\nexit 3\n"
    )
    job_id = _sbatch(script, cwd=tmp_path)
    out = tmp_path / f"acct_{job_id}.out"
    seen: dict[str, str] = {}

    def in_sacct() -> bool:
        res = _run(["sacct", "-n", "-P", "-X", "-j", job_id, "-o", "JobID,State,ExitCode"])
        for line in res.stdout.splitlines():
            jid, state, code = (line.split("|") + ["", "", ""])[:3]
            if jid == job_id and state in FINISHED:
                seen.update(state=state, code=code)
                return True
        return False

    _wait(in_sacct, "sacct to report the finished job", job_id, [out])
    assert seen == {"state": "FAILED", "code": "3:0"}, seen


def _submitit_logs(job) -> list[Path]:
    return [Path(job.paths.stdout), Path(job.paths.stderr)]


def _accounting_enabled() -> bool:
    if shutil.which("sacct") is None:
        return False
    return _run(["sacct", "-n", "-X", "-o", "JobID", "-S", "now-1minutes"]).returncode == 0


def test_submitit_roundtrip(slurm, tmp_path: Path) -> None:
    """submitit (what hydra-submitit-launcher uses): sbatch + srun inside the job, result pickled back.
    With accounting, a job that dies without a result (scancel) raises instead of waiting forever."""
    submitit = pytest.importorskip("submitit")
    # stdlib callables: pickled by reference and importable in the job (this test module is not)
    executor = submitit.AutoExecutor(folder=str(tmp_path / "submitit" / "%j"))
    executor.update_parameters(
        timeout_min=15, slurm_partition="debug", cpus_per_task=1, mem_gb=1, name="ci-submitit"
    )
    job = executor.submit(operator.mul, 21, 2)
    _wait(job.done, "the submitit job to finish", job.job_id, _submitit_logs(job))
    assert job.result() == 42

    if not _accounting_enabled():
        return  # without sacct, submitit cannot tell that a cancelled job is gone (waits forever)
    job = executor.submit(time.sleep, 600)
    logs = _submitit_logs(job)
    _wait(lambda: _states(job.job_id) == ["RUNNING"], "the job to run", job.job_id, logs)
    job.cancel(check=True)
    _wait(job.done, "submitit to notice the cancelled job", job.job_id, logs)
    with pytest.raises(submitit.core.utils.UncompletedJobError):
        job.result()
