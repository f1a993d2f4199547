"""A training run, in iterations: a training phase (loop.py), then an evaluation phase.

Nature defaults: 200 iterations of 250,000 training agent steps (1M frames),
each followed by 125,000 evaluation agent steps at epsilon 0.05 (whole games,
as Dopamine's Runner). One update of 32 every 4 agent steps once 50,000
transitions are in the replay; a hard target copy every 10,000 agent steps.

Everything a run needs to continue is checkpointed at the end of every
iteration and when SIGTERM, SIGUSR1 or SIGINT arrives (mid-phase included).
Starting in a run directory that holds a checkpoint resumes it with identical
counters; metric rows written after that checkpoint are dropped first.
"""

from __future__ import annotations

import json
import math
import random
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from dqn_atari import final_eval, provenance, seeds
from dqn_atari.actor import GameResult, make_actor
from dqn_atari.agent import DQNAgent, check_target_init
from dqn_atari.checkpoint import (
    CheckpointUnreadableError,
    checkpoint_paths,
    load_latest,
    remove_stale_temp_files,
    save_checkpoint,
)
from dqn_atari.config import AgentConfig, OptimConfig
from dqn_atari.envs import UnknownGameError, check_resize_interpolation, make_env, resolve_game
from dqn_atari.envs.catch import GRID_COLUMNS, GRID_ROWS
from dqn_atari.learner import make_learner
from dqn_atari.loop import (
    IterationStats,
    LoopEvent,
    NonFiniteLossError,
    TrainingSchedule,
    eval_phase,
    train_phase,
)
from dqn_atari.metrics import EPISODE_FIELDS, ITERATION_FIELDS, CsvSink, WandbSink
from dqn_atari.networks import check_frame_size, check_network_switches
from dqn_atari.optim import check_initial_mean_square
from dqn_atari.replay import make_replay
from dqn_atari.replay.uniform import check_actor_split
from dqn_atari.resume_config import record_changes
from dqn_atari.run_lock import RunDirLock
from dqn_atari.run_status import StatusWriter, read_status, record_failure

# SIGUSR2 is submitit's preemption signal (Hydra's submitit launcher).
HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT)
CHECKPOINT_FORMAT = 2  # 1: before replay/ and learner.py (still read)


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
    """Refuse settings that cannot work, naming the key to change.

    The one place every entry point checks a config before it creates anything: the
    training command and packed seeds (train.py's precheck, before Hydra makes the run
    dir), ``Runner`` (before any env is built) and slurm/sweep.sh (before submitting).
    It builds nothing: only the game name is looked up in ale-py's ROM list.
    """
    game = check_game(cfg.env.game)
    check_seed(cfg.seed, f"seed={cfg.seed}")  # seeds=[...]: packed_runner.check_packable
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


def ensure_writable(run_dir: Path) -> None:
    """Create ``run_dir`` and check that files can be written there."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write_test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise ConfigError(
            f"run directory {run_dir} is not writable ({error.strerror}): choose another with "
            "run_dir=/a/writable/path (or fix its permissions)"
        ) from None


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_cpu(v) for v in obj]
    return obj


def actor_and_learner_states(state: dict[str, Any]) -> tuple[list[dict], dict | None]:
    """The games in progress and the learner's state of a checkpoint, any format.

    Format 1 kept one actor's state as is (``env.num_envs=1`` without overlap), or
    ``{"num_envs", "actors", "policy"}`` with the overlapped learner's acting network
    under ``policy``.
    """
    actor = state["actor"]
    if "actors" not in actor:
        return [actor], None
    learner = state.get("learner")
    if learner is None and actor.get("policy") is not None:
        learner = {"acting_network": actor["policy"]}
    return list(actor["actors"]), learner


def close_sinks(sinks: dict[str, Any]) -> None:
    """Close every metrics sink; a failing close warns and the others still close.

    (SLURM's SIGTERM can kill wandb's service before the run closes its wandb sink.)
    """
    for name, sink in sinks.items():
        try:
            sink.close()
        except Exception as error:  # noqa: BLE001
            print(f"[dqn_atari] warning: closing the {name} sink failed: "
                  f"{type(error).__name__}: {error}", flush=True)


class Runner:
    """One training run of ``cfg`` in ``cfg.run_dir``; ``run()`` trains (or resumes) to the end.

    Parts, built once from the config: ``env.num_envs`` actors (each on its own
    environment, writing its own head of ``replay``), the agent, and the learner (in-line,
    or threaded with ``agent.overlap``). ``on_loop_event`` (tests) sees every update and
    target copy (``loop.LoopEvent``).
    """

    def __init__(self, cfg: DictConfig, config_changes: dict | None = None,
                 lock: RunDirLock | None = None) -> None:
        """``config_changes``: key -> (recorded, new) allowed on this resume (recorded);
        ``lock``: the run dir's lock when the caller took it already."""
        validate_config(cfg)
        self._config_changes = config_changes or {}
        self.cfg = cfg
        self.run_dir = Path(cfg.run_dir)
        ensure_writable(self.run_dir)
        if cfg.torch_threads > 0:
            torch.set_num_threads(cfg.torch_threads)
        seed = cfg.seed
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)

        self.repeat = cfg.env.action_repeat_frames  # frames per agent step
        self.total_agent_steps = cfg.total_frames // self.repeat
        envs = [make_env(cfg.env, seed=seeds.train_env_seed(seed, i), mode="train")
                for i in range(cfg.env.num_envs)]
        self.num_actions = envs[0].num_actions
        self.agent = DQNAgent(self.num_actions, cfg.agent, cfg.optim, cfg.env.stack_frames, seed)
        self.replay = make_replay(cfg, seed)
        self.actors = [make_actor(env, cfg.env, self.replay.head(i)) for i, env in enumerate(envs)]
        self.learner = make_learner(self.agent, bool(cfg.agent.overlap), cfg.torch_threads)
        self.schedule = TrainingSchedule.from_config(cfg.agent)
        self.action_rng = seeds.training_action_rng(seed)
        self.on_loop_event: LoopEvent | None = None

        # Counters (units in the names) and the sums of the iteration in progress.
        self.agent_steps = 0
        self.iteration = 0
        self.phase = "train"
        self.wall_time_s = 0.0
        self.stats = IterationStats.empty(0, self.agent.device)
        self.last_raw_return = float("nan")
        self.stop_signal: int | None = None
        self._resume_checked = False
        self.resumed_from: Path | None = None
        self._lock = lock if lock is not None else RunDirLock(self.run_dir)
        # status.json while it runs (run_status.py); provenance in run dir and checkpoints
        self.status = StatusWriter(
            self.run_dir, experiment=cfg.experiment_name, game=cfg.env.game, seed=seed,
            total_agent_steps=self.total_agent_steps, frames_per_agent_step=self.repeat,
            agent_steps_per_iteration=cfg.train_agent_steps_per_iteration)
        self.provenance = provenance.collect(self.agent.device)
        self._checkpoint_provenance: dict | None = None

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return _to_cpu({
            "format": CHECKPOINT_FORMAT,
            "counters": {"agent_steps": self.agent_steps, "iteration": self.iteration,
                         "phase": self.phase, "updates": self.agent.num_updates,
                         "wall_time_s": self.wall_time_s},
            "iteration_accumulators": self.stats.state_dict(),
            "agent": self.agent.state_dict(),
            "replay": self.replay.state_dict() if self.cfg.checkpoint_replay else None,
            "actor": {"num_envs": len(self.actors),
                      "actors": [actor.get_state() for actor in self.actors]},
            "learner": self.learner.get_state(),
            "rng": {"python": random.getstate(), "numpy": np.random.get_state(),
                    "torch": torch.get_rng_state(), "action": self.action_rng.bit_generator.state},
            "config": OmegaConf.to_container(self.cfg, resolve=True),
            "provenance": self.provenance,
        })

    def load_state_dict(self, state: dict[str, Any]) -> None:
        counters = state["counters"]
        self.agent_steps = counters["agent_steps"]
        self.iteration = counters["iteration"]
        self.phase = counters["phase"]
        self.wall_time_s = counters["wall_time_s"]
        self.stats = IterationStats.from_state_dict(self.iteration,
                                                    state["iteration_accumulators"],
                                                    self.agent.device)
        self.agent.load_state_dict(state["agent"])
        if state["replay"] is not None:
            self.replay.load_state_dict(state["replay"], copy=False)  # fresh arrays from disk
        actor_states, learner_state = actor_and_learner_states(state)
        if len(actor_states) != len(self.actors):
            raise ValueError(
                f"the checkpoint holds {len(actor_states)} games in progress but "
                f"env.num_envs={len(self.actors)}: resume with env.num_envs="
                f"{len(actor_states)} (the value the run was started with)"
            )
        for actor, actor_state in zip(self.actors, actor_states, strict=True):
            actor.set_state(actor_state)
        self.learner.set_state(learner_state)
        rng = state["rng"]
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        self.action_rng.bit_generator.state = rng["action"]
        self._checkpoint_provenance = state.get("provenance")

    def _checkpoint(self) -> Path:
        self.stats.check_finite(self.agent_steps)
        return save_checkpoint(self.run_dir, self.state_dict(), self.agent_steps,
                               keep=self.cfg.checkpoint_keep)

    # ---------------------------------------------------------------- signals
    def request_stop(self, signum: int, _frame=None) -> None:
        """Stop at the next agent step, checkpoint and exit (the signal handler)."""
        self.stop_signal = signum

    def _stop_requested(self) -> bool:
        return self.stop_signal is not None

    def _beat_and_check_stop(self) -> bool:
        """``_stop_requested`` for loops without a count to report: the heartbeat, too."""
        self.status.beat()
        return self.stop_signal is not None

    def _install_signal_handlers(self) -> dict:
        previous = {}
        for sig in HANDLED_SIGNALS:
            try:
                previous[sig] = signal.signal(sig, self.request_stop)
            except ValueError:  # not the main thread (e.g. some launchers): leave them
                pass
        return previous

    # ----------------------------------------------------------------- phases
    def _train_phase(self, sinks, progress) -> bool:
        """Train to the end of this iteration; returns False if a signal stopped it."""
        end = min((self.iteration + 1) * self.cfg.train_agent_steps_per_iteration,
                  self.total_agent_steps)

        def log_game(game: GameResult, agent_step: int, epsilon: float) -> None:
            self.last_raw_return = game.raw_return
            self._log_game(sinks, "train", game, epsilon, agent_step)

        def show_progress(agent_step: int, epsilon: float) -> None:
            self.status.beat(agent_step)
            if progress is None:
                return
            progress.update(agent_step - progress.n)
            progress.set_postfix(frames=agent_step * self.repeat,
                                 last_return=self.last_raw_return,
                                 epsilon=round(epsilon, 3), refresh=False)

        t0 = time.perf_counter()
        try:
            self.agent_steps = train_phase(
                self.actors, self.learner, self.replay, self.schedule, self.action_rng,
                self.stats, agent_steps=self.agent_steps, end_agent_steps=end,
                log_game=log_game, stop_requested=self._stop_requested,
                show_progress=show_progress,
                on_event=self.on_loop_event,
            )
        finally:
            self.wall_time_s += time.perf_counter() - t0
        return self.agent_steps >= end

    def _eval_phase(self, sinks) -> list[float] | None:
        """Whole games at epsilon_eval until the budget is reached; None if stopped by a signal."""
        budget = self.cfg.eval_agent_steps_per_iteration
        if budget <= 0:
            return []
        t0 = time.perf_counter()
        env = make_env(self.cfg.env, seed=seeds.eval_phase_env_seed(self.cfg.seed, self.iteration),
                       mode="eval_phase")
        actor = make_actor(env, self.cfg.env)
        rng = seeds.eval_phase_action_rng(self.cfg.seed, self.iteration)
        epsilon = self.cfg.agent.epsilon_eval
        returns = eval_phase(
            actor, lambda state: self.agent.act(state, epsilon, rng),
            min_agent_steps=budget, stop_requested=self._beat_and_check_stop,
            log_game=lambda game: self._log_game(sinks, "eval", game, epsilon, self.agent_steps),
        )
        if returns is not None:
            self.wall_time_s += time.perf_counter() - t0
        return returns

    def _log_game(self, sinks, phase: str, game: GameResult, epsilon: float,
                  agent_step: int) -> None:
        row = {
            "phase": phase, "iteration": self.iteration,
            "frames": agent_step * self.repeat, "agent_steps": agent_step,
            "raw_return": game.raw_return, "clipped_return": game.clipped_return,
            "length_agent_steps": game.length_agent_steps, "length_frames": game.length_frames,
            "epsilon": epsilon, "wall_time_s": round(self.wall_time_s, 3),
        }
        sinks["episodes"].write(row)
        sinks["wandb"].log({
            "frames": row["frames"], "agent_steps": row["agent_steps"],
            f"{phase}/raw_return": game.raw_return, f"{phase}/clipped_return": game.clipped_return,
            f"{phase}/length_agent_steps": game.length_agent_steps, f"{phase}/epsilon": epsilon,
        })

    def _end_iteration(self, sinks, eval_returns: list[float]) -> dict[str, Any]:
        stats = self.stats
        stats.check_finite(self.agent_steps)
        updates = max(stats.updates, 1)
        row = {
            "iteration": self.iteration,
            "frames": self.agent_steps * self.repeat,
            "agent_steps": self.agent_steps,
            "updates": self.agent.num_updates,
            "loss": float(stats.loss_sum) / updates if stats.updates else float("nan"),
            "mean_q": float(stats.mean_q_sum) / updates if stats.updates else float("nan"),
            "train_episodes": len(stats.train_returns),
            "train_raw_return_mean": float(np.mean(stats.train_returns))
            if stats.train_returns else float("nan"),
            "eval_raw_return_mean": float(np.mean(eval_returns)) if eval_returns else float("nan"),
            "eval_raw_return_std": float(np.std(eval_returns)) if eval_returns else float("nan"),
            "eval_episodes": len(eval_returns),
            "train_agent_steps_per_s": stats.train_agent_steps / max(stats.train_time_s, 1e-9),
            "wall_time_s": round(self.wall_time_s, 3),
        }
        sinks["iterations"].write(row)
        sinks["wandb"].log({
            "frames": row["frames"], "agent_steps": row["agent_steps"],
            "iteration": row["iteration"], "iteration/loss": row["loss"], "iteration/mean_q": row["mean_q"],
            # Dopamine's plotted figure: the mean return of this iteration's training games
            "iteration/train_raw_return_mean": row["train_raw_return_mean"],
            "iteration/train_episodes": row["train_episodes"],
            "iteration/updates": row["updates"],
            "eval/raw_return_mean": row["eval_raw_return_mean"],
            "eval/raw_return_std": row["eval_raw_return_std"],
            "eval/episodes": row["eval_episodes"],
            "iteration/train_agent_steps_per_s": row["train_agent_steps_per_s"],
        })
        self.iteration += 1
        self.phase = "train"
        self.stats = IterationStats.empty(self.iteration, self.agent.device)
        if eval_returns:
            self.status.update(iteration=self.iteration, agent_steps=self.agent_steps,
                               last_eval={"kind": "iteration", "iteration": row["iteration"],
                                          "frames": row["frames"],
                                          "score": row["eval_raw_return_mean"]})
        return row

    # ------------------------------- the steps of a run, for packed_runner.py (seeds in lockstep)
    def open_sinks(self, resumed: bool) -> dict[str, Any]:
        """This run's metric sinks (rows after the checkpoint dropped)."""
        return self._open_sinks(resumed)

    def log_game(self, sinks, phase: str, game: GameResult, epsilon: float,
                 agent_step: int) -> None:
        """One row of ``episodes.csv`` (and wandb) for a finished game."""
        self._log_game(sinks, phase, game, epsilon, agent_step)

    def end_iteration(self, sinks, eval_returns: list[float]) -> dict[str, Any]:
        """The iteration's row; the next iteration begins."""
        return self._end_iteration(sinks, eval_returns)

    def checkpoint(self) -> Path:
        """Write this run's checkpoint now."""
        return self._checkpoint()

    def release_lock(self) -> None:
        """Release the run dir's lock (``run`` does it itself)."""
        self._lock.release()

    # -------------------------------------------------------------------- run
    def _open_sinks(self, resumed: bool) -> dict[str, Any]:
        episodes = CsvSink(self.run_dir / "metrics" / "episodes.csv", EPISODE_FIELDS)
        iterations = CsvSink(self.run_dir / "metrics" / "iterations.csv", ITERATION_FIELDS)
        # Rows written after the checkpoint (by a run that then died) would count twice.
        steps, it = self.agent_steps, self.iteration
        episodes.truncate(lambda r: (int(r["agent_steps"]) <= steps and r["phase"] == "train")
                          or (r["phase"] == "eval" and int(r["iteration"]) < it))
        iterations.truncate(lambda r: int(r["iteration"]) < it)
        config = OmegaConf.to_container(self.cfg, resolve=True)
        wandb_sink = WandbSink(self.cfg.logger, run_dir=self.run_dir,
                               experiment=self.cfg.experiment_name, game=self.cfg.env.game,
                               seed=self.cfg.seed, config=config)
        return {"episodes": episodes, "iterations": iterations, "wandb": wandb_sink}

    def resume_if_possible(self) -> Path | None:
        """Load the newest readable checkpoint of the run directory, if any (once).

        Takes the run directory's lock first (one writer per run dir) and removes the
        temporary files of checkpoint writers that died.
        """
        if self._resume_checked:
            return self.resumed_from
        self._lock.acquire()
        self._resume_checked = True
        for stale in remove_stale_temp_files(self.run_dir):
            print(f"[dqn_atari] removed {stale}, left by a checkpoint writer that died",
                  flush=True)
        try:
            found = load_latest(self.run_dir,
                                allow_pickle=self.cfg.allow_pickled_checkpoints)
        except CheckpointUnreadableError as error:
            if self.cfg.on_unreadable_checkpoints != "start_over":
                raise
            print(f"[dqn_atari] warning: {str(error).split(chr(10))[0]}; starting over from "
                  "agent step 0 (on_unreadable_checkpoints=start_over); the unreadable files "
                  "stay in checkpoints/corrupt/", flush=True)
            return None
        if found is None:
            return None
        state, path = found
        if state["replay"] is None:
            raise ConfigError(
                f"{path} was written with checkpoint_replay=false: an exact resume needs the "
                "replay; start a new run_dir, or re-run with checkpoint_replay=true from scratch"
            )
        self.load_state_dict(state)
        self.resumed_from = path
        return path

    def run(self) -> dict[str, Any]:
        """Train to ``total_frames`` (resuming if a checkpoint exists); returns the counters.

        The run directory is locked for the whole run (``RunDirBusyError`` if another
        live process holds it).
        """
        try:
            return self._run_locked()
        except Exception as error:
            self.record_failure(error)
            raise
        finally:
            self._lock.release()

    def _run_locked(self) -> dict[str, Any]:
        resumed = self.resume_if_possible()
        (self.run_dir / "config.yaml").write_text(OmegaConf.to_yaml(self.cfg, resolve=True))
        if resumed is not None:
            print(f"[dqn_atari] resumed from {resumed} at agent step {self.agent_steps:,} "
                  f"(iteration {self.iteration}, {self.phase} phase)", flush=True)
            record_changes(self.run_dir, self._config_changes, self.agent_steps)
        self.record_start(resumed is not None)
        sinks = self._open_sinks(resumed is not None)
        progress = self._progress_bar()
        previous_handlers = self._install_signal_handlers()
        status = "finished"
        try:
            while self.agent_steps < self.total_agent_steps or self.phase == "eval":
                self.status.update(phase=self.phase, iteration=self.iteration,
                                   agent_steps=self.agent_steps)
                if self.phase == "train":
                    if not self._train_phase(sinks, progress):
                        status = "interrupted"
                        break
                    self.phase = "eval"
                    self.status.update(phase="eval", agent_steps=self.agent_steps)
                eval_returns = self._eval_phase(sinks)
                if eval_returns is None:
                    status = "interrupted"
                    break
                self._end_iteration(sinks, eval_returns)
                self._checkpoint()
            if status == "finished" and not self.final_evaluation(sinks["wandb"]):
                status = "interrupted"  # the final checkpoint is on disk: a restart evaluates
            elif status == "interrupted":
                self._checkpoint()
        finally:
            self.learner.close()
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)
            if progress is not None:
                progress.update(self.agent_steps - progress.n)
                progress.close()
            close_sinks(sinks)
        return self.write_summary(status, self.stop_signal)

    def write_summary(self, status: str, stop_signal: int | None,
                      **extra: Any) -> dict[str, Any]:
        """Write ``summary.json`` (how and where the run ended) and record the end in status.json.

        ``extra`` adds keys (the packed runner adds ``packed_seeds``).
        """
        summary = {
            "status": status,
            "signal": signal.Signals(stop_signal).name if stop_signal else None,
            "agent_steps": self.agent_steps,
            "frames": self.agent_steps * self.repeat,
            "updates": self.agent.num_updates,
            "iteration": self.iteration,
            "wall_time_s": round(self.wall_time_s, 3),
            **extra,
        }
        (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        self.record_end(status, summary["signal"])
        return summary

    # ------------------------- status.json, provenance, final evaluation (also packed_runner.py)
    def record_start(self, resumed: bool) -> None:
        """Provenance of this start (warn when the code differs), and the first status."""
        changed = provenance.record_start(
            self.run_dir, self.provenance, agent_steps=self.agent_steps,
            checkpoint_provenance=self._checkpoint_provenance, resumed=resumed)
        if changed:
            print(f"[dqn_atari] warning: resuming {self.run_dir} under other code than its "
                  "checkpoint was written with (both are recorded in "
                  f"{provenance.PROVENANCE_FILE}):\n  " + "\n  ".join(changed), flush=True)
        previous = read_status(self.run_dir) if resumed else None
        self.status.update(state="running", phase=self.phase, iteration=self.iteration,
                           agent_steps=self.agent_steps,
                           last_eval=(previous or {}).get("last_eval"))

    def record_end(self, status: str, signal_name: str | None) -> None:
        """The run's last status: finished, or interrupted (by ``signal_name``)."""
        self.status.update(state=status, phase=None, signal=signal_name,
                           iteration=self.iteration, agent_steps=self.agent_steps)

    def record_failure(self, error: Exception) -> None:
        """``status.json`` says failed (or nan); only the run dir's writer writes it."""
        if self._lock.held:
            record_failure(self.run_dir, "nan" if isinstance(error, NonFiniteLossError)
                           else "failed", error)

    def final_evaluation(self, wandb_sink, stop_requested=None) -> bool:
        """The Nature-protocol evaluation (final_eval.py), unless off or already done.

        Returns False if a signal (or ``stop_requested()``, the packed runner's) stopped it;
        nothing is written then.
        """
        def keep_going() -> bool:
            self.status.beat()
            return not (self._stop_requested() or (stop_requested and stop_requested()))

        if not self.cfg.final_eval.enabled:
            return True
        report = final_eval.existing_report(self.run_dir, self.agent_steps,
                                            self.cfg.final_eval.episodes)
        if report is not None:
            print(f"[dqn_atari] {final_eval.REPORT_FILE} is already for agent step "
                  f"{self.agent_steps:,}: not evaluated again", flush=True)
        else:
            self.status.update(phase="final_eval", agent_steps=self.agent_steps)
            latest = checkpoint_paths(self.run_dir)
            try:
                report = final_eval.evaluate_final(
                    self.agent, self.cfg, self.run_dir, self.agent_steps,
                    latest[0] if latest else None,
                    keep_going=keep_going)
            except final_eval.FinalEvalInterrupted:
                return False
            print(f"[dqn_atari] final evaluation (Nature protocol, {report['episodes']} games): "
                  f"{report['mean']:.1f} +- {report['std']:.1f} -> "
                  f"{self.run_dir / final_eval.REPORT_FILE}", flush=True)
        wandb_sink.summary(final_eval.wandb_summary(report))
        self.status.update(last_eval=final_eval.status_entry(report))
        return True

    def _progress_bar(self):
        if not self.cfg.logger.progress_bar:
            return None
        import sys

        from tqdm import tqdm

        return tqdm(total=self.total_agent_steps, initial=self.agent_steps, unit="agent step",
                    unit_scale=True, dynamic_ncols=True, smoothing=0.05,
                    mininterval=1.0 if sys.stderr.isatty() else 30.0,
                    desc=f"{self.cfg.experiment_name}/{self.cfg.env.game}/seed_{self.cfg.seed}")
