"""Check every job of a Hydra multirun before any is launched (``hydra.callbacks`` in conf).

``python -m dqn_atari.train -m optim.lr=1e-4,-1 ...`` used to start (or, with the submitit
launcher, submit) every job and let each check its own config: a bad value failed in its
job, after the sweep was queued. ``CheckSweep.on_multirun_start`` runs before Hydra builds
the sweeper and the launcher, so before the sweep dir, any run dir or any SLURM job exists.
It expands the sweep as Hydra's basic sweeper does (``BasicSweeper.split_arguments``, with
``hydra.sweeper.params``), composes each job's config as the launcher will
(``ConfigLoader.load_sweep_config``) and checks it as its run will
(``config_checks.validate_config`` through ``run.seed_run.seed_configs``; with ``seeds=[...]``,
each packed seed). Any refused job stops
the sweep: exit 2, every refused job named with its overrides and the fix, nothing launched.

Only the basic sweeper's sweeps can be expanded up front; with another sweeper (Optuna,
Nevergrad, ...) each job still checks its own config when it starts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

EXIT_CONFIG_ERROR = 2  # as dqn_atari.train
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
MAX_LISTED = 10  # refused jobs named one by one; the rest are counted


def sweep_jobs(config: DictConfig) -> list[list[str]] | None:
    """The overrides of each job of the multirun ``config``, in Hydra's job order; None when
    the sweep is not the basic sweeper's (then it cannot be expanded here)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    sweeper = config.hydra.sweeper
    if sweeper.get("_target_") != BASIC_SWEEPER:
        return None
    params = [f"{key}={value}" for key, value in (sweeper.get("params") or {}).items()]
    arguments = params + list(config.hydra.overrides.task)
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    overrides = parser.parse_overrides(arguments)
    return BasicSweeper.split_arguments(overrides, max_batch_size=None)[0]


def job_config(config: DictConfig, overrides: list[str]) -> DictConfig:
    """The config one job of the sweep gets (the task function's, without ``hydra``)."""
    from hydra.core.global_hydra import GlobalHydra

    loader = GlobalHydra.instance().config_loader()
    cfg = loader.load_sweep_config(config, list(overrides))
    with read_write(cfg), open_dict(cfg):
        del cfg["hydra"]
    return cfg


def check_job(cfg: DictConfig, sweep_dir: Path) -> None:
    """What a job's run would refuse first (``ConfigError``), checked without building anything."""
    from dqn_atari.run.seed_run import seed_configs

    OmegaConf.to_object(cfg)  # every value against the schema, as sweep.sh does
    seed_configs(cfg, sweep_dir)  # validate_config of the run, or of each of seeds=[...]


def refused_jobs(config: DictConfig) -> tuple[int, list[tuple[int, list[str], str]]]:
    """(number of jobs, [(job number, its overrides, why it is refused)]) of a multirun."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from dqn_atari.config_checks import ConfigError

    jobs = sweep_jobs(config)
    if jobs is None:
        return 0, []
    refused = []
    for number, overrides in enumerate(jobs):
        try:
            cfg = job_config(config, overrides)
            check_job(cfg, Path(str(config.hydra.sweep.dir)))
        except ConfigError as error:
            refused.append((number, overrides, str(error)))
        except (HydraException, OmegaConfBaseException, ValueError) as error:
            cause = f": {str(error.__cause__).splitlines()[0]}" if error.__cause__ else ""
            why = (f"{str(error).strip()}{cause}".replace("\n", " ") + " (check the value's "
                   "type and spelling; keys, types and units are in dqn_atari/config.py)")
            refused.append((number, overrides, why))
    return len(jobs), refused


def refusal_message(n_jobs: int, refused: list[tuple[int, list[str], str]]) -> str:
    head = (f"{len(refused)} of the {n_jobs} jobs of this sweep cannot run; nothing was "
            "launched (fix the value, or drop it from the sweep):")
    lines = [head]
    for number, overrides, why in refused[:MAX_LISTED]:
        why = why.replace("\n", "\n    ")  # a message of several lines stays under its job
        lines.append(f"  #{number} ({' '.join(overrides)}): {why}")
    if len(refused) > MAX_LISTED:
        lines.append(f"  ... and {len(refused) - MAX_LISTED} more")
    return "\n".join(lines)


class CheckSweep(Callback):
    """Refuse a multirun whose jobs would refuse their config, before any is launched."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        n_jobs, refused = refused_jobs(config)
        if refused:
            # SystemExit, not an exception: Hydra turns a callback's exceptions into warnings.
            print(f"error: {refusal_message(n_jobs, refused)}", file=sys.stderr, flush=True)
            sys.exit(EXIT_CONFIG_ERROR)
