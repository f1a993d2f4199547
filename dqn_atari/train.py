"""Train Nature DQN: ``python -m dqn_atari.train [hydra overrides]``.

Examples:
  python -m dqn_atari.train                                   # Nature, Pong, seed 0
  python -m dqn_atari.train env.game=breakout seed=3 optim.lr=1e-4
  python -m dqn_atari.train experiment=fast env.game=breakout
  python -m dqn_atari.train -m env.game=pong,breakout seed=0,1,2   # a local sweep
  python -m dqn_atari.train env.game=pong seeds=[0,1,2,3,4]     # 5 seeds in one process

The run goes to ``runs/<experiment>/<game>/seed_<seed>`` (with ``seeds=[...]``, each seed to
its own); starting again in a run directory that holds a checkpoint resumes it, under the
config it was started with (its ``config.yaml``) for every value the command line does not
set. SIGTERM, SIGUSR1, SIGUSR2 (submitit's preemption signal) and SIGINT checkpoint and
stop; under SLURM, SIGUSR1 (``--signal=B:USR1@...``) also requeues the job (``scontrol
requeue``), and under Hydra's submitit launcher submitit's own SIGUSR2 handler does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from dqn_atari.config import register_configs
from dqn_atari.config_checks import ConfigError
from dqn_atari.envs import UnknownGameError
from dqn_atari.loop import NonFiniteLossError
from dqn_atari.overrides import CONF_DIR, OverrideError, check_overrides
from dqn_atari.run.checkpoint import (
    CheckpointNotFoundError,
    CheckpointUnreadableError,
    UnsafeCheckpointError,
)
from dqn_atari.run.lock import RunDirBusyError, RunDirLock
from dqn_atari.run.resume_config import (
    ConfigChangedError,
    config_for_resume,
    explicit_override_keys,
)
from dqn_atari.run.runner import Runner
from dqn_atari.run.seed_run import configs_for_resume, seed_configs
from dqn_atari.run.status_file import record_failure

register_configs()

EXIT_CONFIG_ERROR = 2
EXIT_NON_FINITE = 3
EXIT_INTERRUPTED = 124  # checkpointed on a signal; run again to resume


def _requeue_slurm_job() -> bool:
    """``scontrol requeue`` this SLURM job (the submitit pattern); True if it worked."""
    job_id = os.environ.get("SLURM_JOB_ID")  # an array task has its own job id too
    if not job_id:
        return False
    result = subprocess.run(["scontrol", "requeue", job_id], check=False, capture_output=True,
                            text=True)
    if result.returncode != 0:
        print(f"[dqn_atari] scontrol requeue {job_id} failed: {result.stderr.strip()}",
              file=sys.stderr, flush=True)
        return False
    print(f"[dqn_atari] requeued SLURM job {job_id}", flush=True)
    return True


def _after_checkpoint_on_signal(sig: signal.Signals) -> None:
    """Hand the signal on once the checkpoint is safe.

    Under submitit (Hydra's submitit launcher) its own handler for SIGUSR2 requeues
    the task; under a plain sbatch script, SIGUSR1 makes us requeue the job.
    """
    previous = signal.getsignal(sig)  # the runner has restored the handlers it replaced
    if sig != signal.SIGINT and callable(previous):
        previous(sig, None)
    elif sig == signal.SIGUSR1 and os.environ.get("DQN_ATARI_REQUEUE", "1") == "1":
        _requeue_slurm_job()


def train(configs: list[DictConfig], config_changes: list[dict],
          locks: list[RunDirLock]) -> list[dict]:
    """Run (or resume) the seeds' runs in this process; their summaries. Errors exit with a
    message (exit codes above)."""
    try:
        summaries = Runner(configs, config_changes, locks).run()
    except (ConfigError, UnknownGameError, CheckpointNotFoundError, CheckpointUnreadableError,
            UnsafeCheckpointError, RunDirBusyError, MemoryError) as error:
        for lock in locks:
            if lock.held:  # failed before the run (which records its own)
                record_failure(lock.path.parent, "failed", error)
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(EXIT_CONFIG_ERROR)
    except NonFiniteLossError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(EXIT_NON_FINITE)
    first = summaries[0]
    if first["status"] == "interrupted":
        which = f"seeds {first['packed_seeds']} " if "packed_seeds" in first else ""
        print(f"[dqn_atari] {first['signal']}: checkpointed {which}at agent step "
              f"{first['agent_steps']:,}; run the same command to resume", flush=True)
        _after_checkpoint_on_signal(signal.Signals[first["signal"]])
        sys.exit(EXIT_INTERRUPTED)
    return summaries


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def _hydra_main(cfg: DictConfig) -> None:
    """One seed (``seed=S``) or several in this process (``seeds=[...]``), one path.

    The run directory is Hydra's output directory: ``run_dir`` for a single run
    (hydra.run.dir: ${run_dir}), <hydra.sweep.dir>/<experiment>/<game>/seed_<seed> under -m.
    Each of ``seeds=[...]`` gets the run dir it would get alone (``run_dir`` with its seed;
    under ``-m``, ``seed_<s>`` beside Hydra's ``packed_seeds_...`` job dir). Locks, config
    identity on resume, exit codes and the signal hand-off are the same for all.
    """
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    locks: list[RunDirLock] = []
    try:
        if cfg.seeds:
            sweep_parent = (Path(hydra_cfg.runtime.output_dir).parent
                            if hydra_cfg.mode == RunMode.MULTIRUN else None)
        else:
            cfg.run_dir = hydra_cfg.runtime.output_dir
            sweep_parent = None
        configs = seed_configs(cfg, sweep_parent)
        for one in configs:  # first: a busy run dir is the news, not its config
            locks.append(RunDirLock(one.run_dir))
            locks[-1].acquire()
        configs, changes, notes = configs_for_resume(
            configs, explicit_override_keys(list(hydra_cfg.overrides.task)))
    except (ConfigError, ConfigChangedError, UnknownGameError, RunDirBusyError) as error:
        for lock in locks:
            lock.release()
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(EXIT_CONFIG_ERROR)
    if notes:
        where = configs[0].run_dir if len(configs) == 1 else "the seeds"
        print(f"[dqn_atari] resuming {where} under the config it was started with; values "
              "that differ from today's composition:\n  " + "\n  ".join(notes), flush=True)
    train(configs, changes, locks)


def _unwritable_reason(path: Path) -> str | None:
    """Why files could not be created under ``path`` (which may not exist yet), or None."""
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def precheck(args: list[str]) -> None:
    """Everything Hydra and the runner would refuse, refused first with exit code 2.

    Composes the config as Hydra will (types, values), then validates it, the run
    directory, its lock and a resume's config identity, before Hydra creates or writes
    anything there. A sweep (``-m``) is checked per job.
    """
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    check_overrides(args)
    if any(a in ("-m", "--multirun") for a in args):
        return
    overrides = [a for a in args if "=" in a and not a.startswith(("-", "hydra"))]
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as error:
        cause = f": {str(error.__cause__).splitlines()[0]}" if error.__cause__ else ""
        raise OverrideError(f"{str(error).strip()}{cause}\n(check the value's type and "
                            "spelling; keys, types and units are in dqn_atari/config.py)") from None
    for one in seed_configs(cfg):  # validates each seed's config
        reason = _unwritable_reason(Path(one.run_dir))
        if reason:
            which = f" (seed {one.seed})" if cfg.seeds else ""
            raise ConfigError(f"run_dir={one.run_dir}{which} cannot be created or written: "
                              f"{reason}; choose another with run_dir=/a/writable/path")
        # A busy run dir or a refused config change, before Hydra records this command in it.
        RunDirLock(one.run_dir).check_free()
        config_for_resume(one, explicit_override_keys(overrides) - {"seeds"})


def main() -> None:
    try:
        precheck(sys.argv[1:])
    except (OverrideError, ConfigError, ConfigChangedError, RunDirBusyError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(EXIT_CONFIG_ERROR)
    _hydra_main()


if __name__ == "__main__":
    main()
