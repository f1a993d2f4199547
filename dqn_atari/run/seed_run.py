"""One seed's run: its run dir and everything it keeps there, its parts and its counters.

A ``SeedRun`` is what a training run is for ONE seed, whether it trains alone or beside
other seeds in one process (``seeds=[...]``, run/runner.py): the same run dir
(``runs/<experiment>/<game>/seed_<seed>``), lock, config.yaml, checkpoints, metric rows,
wandb run, status.json, provenance.json and end-of-run evaluation, so every tool that reads
run dirs (status, plot, evaluate) sees a seed's run the same way, and a seed trained with
others can be resumed alone (and the other way round, from the same agent step).

What it owns:

* the parts of its seed: ``env.num_envs`` actors (each on its own environment, writing its
  own head of the replay), the replay, the epsilon-greedy generator, and the agent (a
  ``DQNAgent``; with other seeds, its slice of the stacked learner, set by the runner);
* the counters, in their units: agent steps, iteration, phase, wall time; the sums of the
  iteration in progress (``IterationStats``);
* what it writes: the metric rows (``episodes.csv``, ``iterations.csv``, wandb), the
  checkpoint (its state; the learner's part is handed in by the runner), the status and
  provenance records, the summary and the Nature-protocol evaluation at the end.

The runner (run/runner.py) decides when each of these happens; the loop (loop.py) trains
the seeds' parts.
"""

from __future__ import annotations

import copy
import json
import random
import signal
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from dqn_atari import seeds
from dqn_atari.actor import GameResult, make_actor
from dqn_atari.agent import DQNAgent
from dqn_atari.config_checks import ConfigError, check_packable, validate_config
from dqn_atari.envs import make_env
from dqn_atari.loop import EvalSlot, IterationStats, NonFiniteLossError, TrainingSchedule
from dqn_atari.replay import make_replay
from dqn_atari.run import final_eval, provenance
from dqn_atari.run.checkpoint import (
    CheckpointUnreadableError,
    checkpoint_paths,
    load_latest,
    remove_stale_temp_files,
    save_checkpoint,
)
from dqn_atari.run.lock import RunDirLock
from dqn_atari.run.metrics import EPISODE_FIELDS, ITERATION_FIELDS, CsvSink, WandbSink
from dqn_atari.run.resume_config import config_for_resume, record_changes
from dqn_atari.run.status_file import StatusWriter, read_status, record_failure

CHECKPOINT_FORMAT = 2  # 1: before replay/ and learner.py (still read)


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


def seed_configs(cfg: DictConfig, sweep_parent: Path | None = None) -> list[DictConfig]:
    """One run config per seed: ``[cfg]`` for ``seed=``, one per seed of ``seeds=[...]``.

    Each of ``seeds=[...]`` gets ``seed`` set, ``seeds`` empty, and the run dir it would get
    alone: ``run_dir`` resolved with that seed, or under a Hydra multirun
    ``<sweep_parent>/seed_<s>`` (``sweep_parent`` is the job's Hydra dir's parent,
    ``<sweep dir>/<experiment>/<game>``). Every config is validated.
    """
    if not cfg.seeds:
        validate_config(cfg)
        return [cfg]
    configs = []
    for seed in check_packable(cfg):
        one = copy.deepcopy(cfg)
        one.seed = seed
        one.seeds = []
        one.run_dir = str(sweep_parent / f"seed_{seed}") if sweep_parent is not None \
            else str(one.run_dir)  # the template resolved with this seed
        configs.append(one)
    dirs = [c.run_dir for c in configs]
    if len(set(dirs)) < len(dirs):
        raise ConfigError(
            f"run_dir={OmegaConf.to_container(cfg)['run_dir']} gives several seeds the same run "
            "dir: with seeds=[...] it must contain ${seed} (the default "
            "runs/${experiment_name}/${env.game}/seed_${seed} does)")
    for one in configs:
        validate_config(one)
    return configs


def configs_for_resume(configs: list[DictConfig], explicit_keys: set[str]):
    """``config_for_resume`` for each seed's config: (configs, allowed changes, log lines)."""
    resumed, changes, notes = [], [], []
    for one in configs:
        merged, seed_notes, seed_changes = config_for_resume(one, explicit_keys - {"seeds"})
        resumed.append(merged)
        changes.append(seed_changes)
        prefix = f"seed {one.seed}: " if len(configs) > 1 else ""
        notes += [prefix + note for note in seed_notes]
    return resumed, changes, notes


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


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_cpu(v) for v in obj]
    return obj


class SeedRun:
    """The run of ``cfg.seed`` in ``cfg.run_dir`` (see the module docstring).

    Args:
      cfg: the seed's validated run config (``seed_configs``).
      config_changes: key -> (recorded, new) allowed on this resume (recorded on resume).
      lock: the run dir's lock when the caller took it already.
    """

    def __init__(self, cfg: DictConfig, config_changes: dict | None = None,
                 lock: RunDirLock | None = None) -> None:
        validate_config(cfg)
        self.cfg = cfg
        self.seed = int(cfg.seed)
        self.run_dir = Path(cfg.run_dir)
        self._config_changes = config_changes or {}
        ensure_writable(self.run_dir)
        random.seed(self.seed)
        np.random.seed(self.seed % 2**32)
        torch.manual_seed(self.seed)

        self.frames_per_agent_step = cfg.env.action_repeat_frames
        self.total_agent_steps = cfg.total_frames // self.frames_per_agent_step
        envs = [make_env(cfg.env, seed=seeds.train_env_seed(self.seed, i), mode="train")
                for i in range(cfg.env.num_envs)]
        self.num_actions = envs[0].num_actions
        # With other seeds, the runner replaces it by its slice of the stacked learner.
        self.agent = DQNAgent(self.num_actions, cfg.agent, cfg.optim, cfg.env.stack_frames,
                              self.seed)
        self.replay = make_replay(cfg, self.seed)
        self.actors = [make_actor(env, cfg.env, self.replay.head(i)) for i, env in enumerate(envs)]
        self.schedule = TrainingSchedule.from_config(cfg.agent)
        self.action_rng = seeds.training_action_rng(self.seed)

        # Counters (units in the names) and the sums of the iteration in progress.
        self.agent_steps = 0
        self.iteration = 0
        self.phase = "train"
        self.wall_time_s = 0.0
        self.stats = IterationStats.empty(0, self.agent.device)
        self.last_raw_return = float("nan")
        self.resumed_from: Path | None = None
        self._resume_checked = False
        self.lock = lock if lock is not None else RunDirLock(self.run_dir)
        # status.json while it runs (status_file.py); provenance in run dir and checkpoints
        self.status = StatusWriter(
            self.run_dir, experiment=cfg.experiment_name, game=cfg.env.game, seed=self.seed,
            total_agent_steps=self.total_agent_steps,
            frames_per_agent_step=self.frames_per_agent_step,
            agent_steps_per_iteration=cfg.train_agent_steps_per_iteration)
        self.provenance = provenance.collect(self.agent.device)
        self._checkpoint_provenance: dict | None = None

    @property
    def position(self) -> tuple[int, int, str, int]:
        """Where the run stands: (agent steps, iteration, phase, updates)."""
        return (self.agent_steps, self.iteration, self.phase, self.agent.num_updates)

    def iteration_end_agent_step(self) -> int:
        """The agent step at which this iteration's training phase ends."""
        return min((self.iteration + 1) * self.cfg.train_agent_steps_per_iteration,
                   self.total_agent_steps)

    # ------------------------------------------------------------ checkpoints
    def state_dict(self, learner_state: dict[str, Any] | None) -> dict[str, Any]:
        """Everything this seed needs to continue; ``learner_state``: the learner's part."""
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
            "learner": learner_state,
            "rng": {"python": random.getstate(), "numpy": np.random.get_state(),
                    "torch": torch.get_rng_state(), "action": self.action_rng.bit_generator.state},
            "config": OmegaConf.to_container(self.cfg, resolve=True),
            "provenance": self.provenance,
        })

    def load_state_dict(self, state: dict[str, Any]) -> tuple[dict[str, Any], dict | None]:
        """Restore all but the agent; returns (agent state, learner state) for the learner.

        The learner loads every seed's agent at once (``load_seed_states``, learner.py).
        """
        counters = state["counters"]
        self.agent_steps = counters["agent_steps"]
        self.iteration = counters["iteration"]
        self.phase = counters["phase"]
        self.wall_time_s = counters["wall_time_s"]
        self.stats = IterationStats.from_state_dict(self.iteration,
                                                    state["iteration_accumulators"],
                                                    self.agent.device)
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
        rng = state["rng"]
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        self.action_rng.bit_generator.state = rng["action"]
        self._checkpoint_provenance = state.get("provenance")
        return state["agent"], learner_state

    def checkpoint(self, learner_state: dict[str, Any] | None) -> Path:
        """Write this seed's checkpoint now (refused if a loss of the iteration was not finite)."""
        self.stats.check_finite(self.agent_steps)
        return save_checkpoint(self.run_dir, self.state_dict(learner_state), self.agent_steps,
                               keep=self.cfg.checkpoint_keep)

    def load_latest_checkpoint(self) -> tuple[Path, dict, dict | None] | None:
        """Lock the run dir and restore its newest readable checkpoint, if any (once).

        Returns (its path, the agent's state, the learner's state) for the learner to load,
        or None when the run starts from agent step 0. Removes the temporary files of
        checkpoint writers that died.
        """
        if self._resume_checked:
            raise RuntimeError("a seed's run is resumed once, before it trains")
        self.lock.acquire()
        self._resume_checked = True
        for stale in remove_stale_temp_files(self.run_dir):
            print(f"[dqn_atari] removed {stale}, left by a checkpoint writer that died",
                  flush=True)
        try:
            found = load_latest(self.run_dir, allow_pickle=self.cfg.allow_pickled_checkpoints)
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
        agent_state, learner_state = self.load_state_dict(state)
        self.resumed_from = path
        return path, agent_state, learner_state

    # --------------------------------------------------------------- records
    def record_start(self, resumed: bool, label: str = "") -> None:
        """config.yaml, the resume line, recorded config changes, provenance and status.

        ``label``: how log lines name this seed ("seed 3: " beside other seeds).
        """
        (self.run_dir / "config.yaml").write_text(OmegaConf.to_yaml(self.cfg, resolve=True))
        if resumed:
            print(f"[dqn_atari] {label}resumed from {self.resumed_from} at agent step "
                  f"{self.agent_steps:,} (iteration {self.iteration}, {self.phase} phase)",
                  flush=True)
            record_changes(self.run_dir, self._config_changes, self.agent_steps)
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
                           last_eval=(previous or {}).get("last_eval"),
                           last_train=(previous or {}).get("last_train"))

    def record_failure(self, error: Exception) -> None:
        """``status.json`` says failed (or nan); only the run dir's writer writes it."""
        if self.lock.held:
            record_failure(self.run_dir, "nan" if isinstance(error, NonFiniteLossError)
                           else "failed", error)

    def write_summary(self, outcome: str, stop_signal: int | None,
                      **extra: Any) -> dict[str, Any]:
        """Write ``summary.json`` (how and where the run ended) and the last ``status.json``.

        ``outcome``: finished or interrupted (summary.json's ``status`` key, docs/CONTRACTS.md;
        status.json's ``state``). ``extra`` adds keys (``packed_seeds`` beside other seeds).
        """
        summary = {
            "status": outcome,
            "signal": signal.Signals(stop_signal).name if stop_signal else None,
            "agent_steps": self.agent_steps,
            "frames": self.agent_steps * self.frames_per_agent_step,
            "updates": self.agent.num_updates,
            "iteration": self.iteration,
            "wall_time_s": round(self.wall_time_s, 3),
            **extra,
        }
        (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        self.status.update(state=outcome, phase=None, signal=summary["signal"],
                           iteration=self.iteration, agent_steps=self.agent_steps)
        return summary

    # ----------------------------------------------------------- metric rows
    def open_sinks(self, resumed: bool) -> dict[str, Any]:
        """This seed's metric sinks; rows written after its checkpoint are dropped first."""
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
                               seed=self.seed, config=config)
        return {"episodes": episodes, "iterations": iterations, "wandb": wandb_sink}

    def log_game(self, sinks, phase: str, game: GameResult, epsilon: float,
                 agent_step: int) -> None:
        """One row of ``episodes.csv`` (and wandb) for a finished game."""
        if phase == "train":
            self.last_raw_return = game.raw_return
        row = {
            "phase": phase, "iteration": self.iteration,
            "frames": agent_step * self.frames_per_agent_step, "agent_steps": agent_step,
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

    def end_iteration(self, sinks, eval_returns: list[float]) -> dict[str, Any]:
        """Write the iteration's row (CSV and wandb); the next iteration begins."""
        stats = self.stats
        stats.check_finite(self.agent_steps)
        updates = max(stats.updates, 1)
        row = {
            "iteration": self.iteration,
            "frames": self.agent_steps * self.frames_per_agent_step,
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
            "iteration": row["iteration"], "iteration/loss": row["loss"],
            "iteration/mean_q": row["mean_q"],
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
        # the training games' mean return (Dopamine's figure), and the evaluation phase's
        finished = {"iteration": row["iteration"], "frames": row["frames"]}
        games = row["train_episodes"]
        last = {"last_train": {**finished, "games": games,
                               "score": row["train_raw_return_mean"] if games else None}}
        if eval_returns:
            last["last_eval"] = {"kind": "iteration", **finished,
                                 "score": row["eval_raw_return_mean"]}
        self.status.update(iteration=self.iteration, agent_steps=self.agent_steps, **last)
        return row

    # ------------------------------------------------------------ evaluation
    def eval_slot(self, sinks) -> EvalSlot:
        """This iteration's evaluation phase of the seed: its own env, generator and log."""
        env = make_env(self.cfg.env, seed=seeds.eval_phase_env_seed(self.seed, self.iteration),
                       mode="eval_phase")
        rng = seeds.eval_phase_action_rng(self.seed, self.iteration)
        epsilon = self.cfg.agent.epsilon_eval
        return EvalSlot(
            make_actor(env, self.cfg.env), lambda state: self.agent.act(state, epsilon, rng),
            lambda game: self.log_game(sinks, "eval", game, epsilon, self.agent_steps))

    def final_evaluation(self, wandb_sink, stop_requested) -> bool:
        """The Nature-protocol evaluation (run/final_eval.py), unless off or already done.

        Returns False if ``stop_requested()`` became True during it; nothing is written then.
        """
        def keep_going() -> bool:
            self.status.beat()
            return not stop_requested()

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
                    latest[0] if latest else None, keep_going=keep_going)
            except final_eval.FinalEvalInterrupted:
                return False
            print(f"[dqn_atari] final evaluation (Nature protocol, {report['episodes']} games): "
                  f"{report['mean']:.1f} +- {report['std']:.1f} -> "
                  f"{self.run_dir / final_eval.REPORT_FILE}", flush=True)
        wandb_sink.summary(final_eval.wandb_summary(report))
        self.status.update(last_eval=final_eval.status_entry(report))
        return True
