"""Configuration checks: every value refused before anything is created, naming the fix.

``validate_config`` is the one place every entry point checks a run's config: the training
command (train.py's precheck, before Hydra makes the run dir), each seed's run
(run/seed_run.py, before any env is built), slurm/sweep.sh and its ``--dry-run`` (before
submitting). ``check_packable`` checks ``seeds=[...]`` (several seeds in one process). They
build nothing: only the game name is looked up in ale-py's ROM list.
"""

from __future__ import annotations

import math

import torch
from omegaconf import DictConfig

from dqn_atari.agent import check_target_init
from dqn_atari.config import AgentConfig, OptimConfig
from dqn_atari.envs import UnknownGameError, check_resize_interpolation, resolve_game
from dqn_atari.envs.catch import GRID_COLUMNS, GRID_ROWS
from dqn_atari.networks import check_frame_size, check_network_switches
from dqn_atari.optim import check_initial_mean_square
from dqn_atari.replay.uniform import check_actor_split


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the fix."""


SEED_LIMIT = 2**32  # numpy's seed range (np.random.seed): seeds 0 .. 2**32 - 1


def check_seed(seed: int, key: str = "seed", example: str = "seed=0") -> None:
    """Refuse a seed outside 0 .. 2**32 - 1 (``key``: where it was given)."""
    if not 0 <= seed < SEED_LIMIT:
        raise ConfigError(
            f"{key}: seed {seed} is outside 0 .. {SEED_LIMIT - 1} (2**32 - 1, numpy's seed "
            f"range, through which runs are seeded); use a seed in that range, e.g. {example}")


def check_game(game: str) -> str:
    """The ROM id (or toy game) ``env.game`` names, or ``ConfigError`` with close names."""
    if not str(game).strip():
        raise ConfigError("env.game is empty: name a game, e.g. env.game=pong or "
                          "env.game=ms_pacman (ale-py ROM ids, snake_case), or env.game=catch")
    try:
        return resolve_game(game)
    except UnknownGameError as error:
        raise ConfigError(str(error)) from None


def first_update_agent_step(agent_cfg) -> int:
    """The agent step of the first update: the first multiple of the update period at or
    after ``learning_starts_agent_steps`` (loop.py)."""
    period = agent_cfg.update_period_agent_steps
    start = max(agent_cfg.learning_starts_agent_steps, 1)
    return -(-start // period) * period


def validate_config(cfg: DictConfig) -> None:
    """Refuse settings that cannot work, naming the key to change (see the module docstring)."""
    game = check_game(cfg.env.game)
    check_seed(cfg.seed, f"seed={cfg.seed}")  # seeds=[...]: check_packable
    lr = cfg.optim.lr
    if not (math.isfinite(lr) and lr > 0):
        raise ConfigError(f"optim.lr={lr}: the learning rate must be a positive number "
                          f"(Nature: optim.lr={OptimConfig.lr})")
    for key in ("epsilon_start", "epsilon_end", "epsilon_eval"):
        value = cfg.agent[key]
        if not 0 <= value <= 1:
            raise ConfigError(
                f"agent.{key}={value}: epsilon is the probability of a random action, between "
                f"0 and 1 (Nature: agent.{key}={getattr(AgentConfig, key)})")
    batch, capacity = cfg.agent.batch_size, cfg.replay.capacity
    starts = cfg.agent.learning_starts_agent_steps
    if capacity < 1:
        raise ConfigError(f"replay.capacity={capacity}: the replay must hold at least one "
                          "transition (Nature: replay.capacity=1000000)")
    if batch < 1:
        raise ConfigError(f"agent.batch_size={batch}: an update needs at least one transition "
                          "(Nature: agent.batch_size=32)")
    if cfg.env.num_envs < 1:
        raise ConfigError(f"env.num_envs={cfg.env.num_envs}: at least one actor is needed "
                          "(env.num_envs=1 is the Nature setting)")
    for key in ("update_period_agent_steps", "target_update_period_agent_steps"):
        if cfg.agent[key] < 1:
            raise ConfigError(f"agent.{key}={cfg.agent[key]} must be at least 1")
    device = str(cfg.agent.device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"agent.device={device}, but torch sees no CUDA device here "
                          f"(torch {torch.__version__}): use agent.device=auto (CUDA when "
                          "available, else the CPU) or agent.device=cpu")
    if batch > capacity:
        raise ConfigError(
            f"agent.batch_size={batch} is larger than the replay (replay.capacity={capacity} "
            "transitions): lower agent.batch_size or raise replay.capacity"
        )
    if starts > capacity:
        raise ConfigError(
            f"agent.learning_starts_agent_steps={starts} exceeds replay.capacity={capacity}: "
            "the replay can never hold that many transitions; lower "
            "agent.learning_starts_agent_steps or raise replay.capacity"
        )
    if starts < batch:
        raise ConfigError(
            f"agent.learning_starts_agent_steps={starts} is smaller than agent.batch_size={batch}: "
            "the first update would sample more transitions than stored; raise "
            "agent.learning_starts_agent_steps"
        )
    if cfg.total_frames < cfg.env.action_repeat_frames:
        raise ConfigError(f"total_frames={cfg.total_frames} is less than one agent step")
    if cfg.train_agent_steps_per_iteration <= 0:
        raise ConfigError("train_agent_steps_per_iteration must be positive")
    total_agent_steps = cfg.total_frames // cfg.env.action_repeat_frames
    first_update = first_update_agent_step(cfg.agent)
    if first_update > total_agent_steps and not cfg.get("allow_no_learning", False):
        period = cfg.agent.update_period_agent_steps
        last_update = total_agent_steps // period * period
        lower = (f"lower agent.learning_starts_agent_steps to {last_update} or less, or "
                 if last_update >= batch else "")
        raise ConfigError(
            f"agent.learning_starts_agent_steps={starts}: the first update would come at "
            f"agent step {first_update}, after the budget's last (total_frames={cfg.total_frames}"
            f" = {total_agent_steps} agent steps), so the network would never learn; {lower}"
            f"raise total_frames to at least {first_update * cfg.env.action_repeat_frames}; to "
            "collect without learning on purpose, add allow_no_learning=true")
    if cfg.on_unreadable_checkpoints not in ("stop", "start_over"):
        raise ConfigError(f"on_unreadable_checkpoints={cfg.on_unreadable_checkpoints!r}: "
                          "choose stop (the default) or start_over")
    try:
        check_resize_interpolation(cfg.env.resize_interpolation)
        check_network_switches(cfg.agent.conv_padding, cfg.agent.init)
        check_target_init(cfg.agent.target_init)
        check_initial_mean_square(cfg.optim)
        check_frame_size(cfg.env.frame_size, cfg.agent.conv_padding)
        # the envs' replay heads: checked here, before any env is built (make_replay again)
        check_actor_split(capacity, cfg.env.num_envs, cfg.env.stack_frames)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if game == "catch" and cfg.env.frame_size < max(GRID_ROWS, GRID_COLUMNS):
        raise ConfigError(
            f"env.frame_size={cfg.env.frame_size}: catch draws its {GRID_ROWS}x{GRID_COLUMNS} "
            "grid with at least one pixel per cell; use "
            f"env.frame_size={max(GRID_ROWS, GRID_COLUMNS)} or more")


def check_packable(cfg: DictConfig) -> list[int]:
    """The seeds of ``cfg.seeds``, or ``ConfigError`` naming why they cannot be packed."""
    seeds = [int(s) for s in cfg.seeds]
    for seed in seeds:
        check_seed(seed, f"seeds={seeds}", "seeds=[0,1,2,3,4]")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ConfigError(f"seeds={seeds} lists seed(s) {repeated} more than once: each seed is "
                          "one run with one run dir; list every seed once")
    refused = []
    if cfg.agent.overlap:
        refused.append("agent.overlap=true (packed seeds update in-line, all in one vmapped "
                       "update): drop it")
    if cfg.agent.compile:
        refused.append("agent.compile=true (the packed update is vmapped, in eager mode): set "
                       "agent.compile=false")
    if cfg.agent.cuda_graph:
        refused.append("agent.cuda_graph=true (the packed update is vmapped, in eager mode, "
                       "never captured as a CUDA graph): set agent.cuda_graph=false")
    precision = cfg.agent.get("precision", "fp32")
    if precision != "fp32":
        refused.append(f"agent.precision={precision} (the packed update is fp32): set "
                       "agent.precision=fp32")
    if cfg.optim.name not in ("rmsprop_centered", "adam"):
        refused.append(f"optim.name={cfg.optim.name} (packed: rmsprop_centered or adam)")
    if refused:
        raise ConfigError("these settings cannot be packed with seeds=[...]:\n  "
                          + "\n  ".join(refused)
                          + "\nor run the seeds as separate jobs (seed=<s>, without seeds=...)")
    return seeds
