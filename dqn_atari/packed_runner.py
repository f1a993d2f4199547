"""Several seeds of one game in ONE process (``seeds=[0,1,2,3,4]``), each as if run alone.

``seeds=[s1, ..., sK]`` makes K runs that differ only in ``seed``. Each is an ordinary
``Runner`` (runner.py) with everything a single run has: its own envs, replay, random
streams, epsilon schedule, run dir (the one it would get alone:
``runs/<experiment>/<game>/seed_<s>``), lock, checkpoints, metrics and wandb run. What they
share is the learner: one ``PackedLearner`` (packed_learner.py) holds the K networks
stacked and makes the K runs' updates as one vmapped update, and acts for all of them in
one forward pass. That needs the K runs to take their agent steps together (lockstep,
packed_loop.py), which costs nothing: they share every schedule.

A packed job is K single runs to every tool that reads run dirs (status, plot, evaluate):
the run dirs, config.yaml (``seed`` set, ``seeds`` empty), checkpoints and metrics are those
of a single run, so a seed can also be resumed alone, and a single run packed later, as
long as the packed seeds stand at the same agent step.

Preemption: a signal stops every seed at the same agent step, and each writes its
checkpoint; the next start resumes them together. Seeds found at different agent steps
(e.g. a checkpoint cut short by SIGKILL, so one seed fell back to an older one) are refused,
naming each seed's position.
"""

from __future__ import annotations

import copy
import signal
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dqn_atari import seeds as seed_streams
from dqn_atari.actor import GameResult, make_actor
from dqn_atari.envs import make_env
from dqn_atari.loop import NonFiniteLossError
from dqn_atari.packed_learner import PackedLearner, PackedSeedAgent
from dqn_atari.packed_loop import SeedPhase, packed_eval_phase, packed_train_phase
from dqn_atari.resume_config import config_for_resume, record_changes
from dqn_atari.run_lock import RunDirLock
from dqn_atari.runner import (
    HANDLED_SIGNALS,
    ConfigError,
    Runner,
    check_seed,
    close_sinks,
    validate_config,
)


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


def seed_configs(cfg: DictConfig, sweep_parent: Path | None = None) -> list[DictConfig]:
    """One single-run config per seed of ``cfg.seeds``: ``seed`` set, ``seeds`` empty.

    The run dir is the one the seed gets alone: ``run_dir`` resolved with that seed, or
    under a Hydra multirun ``<sweep_parent>/seed_<s>`` (``sweep_parent`` is the packed job's
    Hydra dir's parent, ``<sweep dir>/<experiment>/<game>``).
    """
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
    """``config_for_resume`` for each seed: (configs, allowed changes, log lines)."""
    resumed, changes, notes = [], [], []
    for one in configs:
        merged, seed_notes, seed_changes = config_for_resume(one, explicit_keys - {"seeds"})
        resumed.append(merged)
        changes.append(seed_changes)
        notes += [f"seed {one.seed}: {note}" for note in seed_notes]
    return resumed, changes, notes


def _position(runner: Runner) -> tuple[int, int, str, int]:
    return (runner.agent_steps, runner.iteration, runner.phase, runner.agent.num_updates)


class PackedRunner:
    """K runs of one game (``configs``, one per seed) trained in lockstep in this process.

    Args:
      configs: the seeds' single-run configs (``seed_configs``).
      config_changes: per seed, the changes allowed on this resume (``configs_for_resume``).
      locks: per seed, its run dir's lock when the caller took it already.
    """

    def __init__(self, configs: list[DictConfig], config_changes: list[dict] | None = None,
                 locks: list[RunDirLock] | None = None) -> None:
        changes = config_changes or [{} for _ in configs]
        locks = locks or [None] * len(configs)
        self.runners = [Runner(c, config_changes=ch, lock=lock)
                        for c, ch, lock in zip(configs, changes, locks, strict=True)]
        self._changes = changes
        self.cfg = configs[0]  # what all seeds share (their seed and run dir aside)
        self.learner = PackedLearner([r.agent for r in self.runners], self.cfg.optim)
        for k, runner in enumerate(self.runners):
            runner.agent = PackedSeedAgent(self.learner, k)
        self.schedule = self.runners[0].schedule
        self.total_agent_steps = self.runners[0].total_agent_steps
        self.stop_signal: int | None = None
        self.on_loop_event = None  # (event, agent_step, updates), as Runner.on_loop_event

    @property
    def seeds(self) -> list[int]:
        return [int(r.cfg.seed) for r in self.runners]

    # ---------------------------------------------------------------- signals
    def request_stop(self, signum: int, _frame=None) -> None:
        """Stop every seed at the next agent step, checkpoint each and exit."""
        self.stop_signal = signum

    def _stop_requested(self) -> bool:
        return self.stop_signal is not None

    def _beat_and_check_stop(self) -> bool:
        for runner in self.runners:
            runner.status.beat()
        return self.stop_signal is not None

    # ----------------------------------------------------------------- resume
    def _resume(self) -> list[Path | None]:
        """Lock every run dir and load every seed's newest checkpoint; all must agree."""
        resumed = [runner.resume_if_possible() for runner in self.runners]
        positions = [_position(r) for r in self.runners]
        if len(set(positions)) > 1:
            where = "\n  ".join(
                f"seed {r.cfg.seed}: agent step {p[0]:,}, iteration {p[1]}, {p[2]} phase "
                f"({found or 'no checkpoint'})"
                for r, p, found in zip(self.runners, positions, resumed, strict=True))
            raise ConfigError(
                "packed seeds must resume from the same agent step, but:\n  " + where
                + "\nResume these seeds as separate runs (seed=<s>, without seeds=...): each "
                "continues from its own checkpoint.")
        if any(resumed):
            self.learner.load_staged()
        return resumed

    # ----------------------------------------------------------------- phases
    def _train_phase(self, sinks, progress) -> bool:
        runners = self.runners
        end = min((runners[0].iteration + 1) * self.cfg.train_agent_steps_per_iteration,
                  self.total_agent_steps)

        def game_logger(runner, seed_sinks):
            return lambda game, step, eps: runner.log_game(seed_sinks, "train", game, eps, step)

        phases = [SeedPhase(r.actors, r.replay, r.action_rng, r.stats, game_logger(r, s))
                  for r, s in zip(runners, sinks, strict=True)]

        def show_progress(agent_step: int, epsilon: float) -> None:
            for runner in runners:
                runner.status.beat(agent_step)  # each seed's heartbeat (status.json)
            if progress is None:
                return
            progress.update(agent_step - progress.n)
            progress.set_postfix(frames=agent_step * runners[0].repeat,
                                 epsilon=round(epsilon, 3), refresh=False)

        t0 = time.perf_counter()
        try:
            reached = packed_train_phase(
                phases, self.learner, self.schedule, agent_steps=runners[0].agent_steps,
                end_agent_steps=end, stop_requested=self._stop_requested,
                show_progress=show_progress,
                on_event=self.on_loop_event)
        except NonFiniteLossError as error:
            raise NonFiniteLossError(f"{error} (packed seeds {self.seeds}; every seed stopped "
                                     "without a checkpoint)") from None
        finally:
            elapsed = time.perf_counter() - t0
            for runner in runners:
                runner.wall_time_s += elapsed
        for runner in runners:
            runner.agent_steps = reached
        return reached >= end

    def _eval_phase(self, sinks) -> list[list[float]] | None:
        budget = self.cfg.eval_agent_steps_per_iteration
        if budget <= 0:
            return [[] for _ in self.runners]
        t0 = time.perf_counter()
        actors, rngs = [], []
        for runner in self.runners:
            seed, iteration = runner.cfg.seed, runner.iteration
            env = make_env(runner.cfg.env, seed=seed_streams.eval_phase_env_seed(seed, iteration),
                           mode="eval_phase")
            actors.append(make_actor(env, runner.cfg.env))
            rngs.append(seed_streams.eval_phase_action_rng(seed, iteration))
        epsilon = self.cfg.agent.epsilon_eval

        def log_game(k: int, game: GameResult) -> None:
            runner = self.runners[k]
            runner.log_game(sinks[k], "eval", game, epsilon, runner.agent_steps)

        returns = packed_eval_phase(actors, self.learner, epsilon, rngs, min_agent_steps=budget,
                                    stop_requested=self._beat_and_check_stop,
                                    log_game=log_game)
        if returns is not None:
            elapsed = time.perf_counter() - t0
            for runner in self.runners:
                runner.wall_time_s += elapsed
        return returns

    # -------------------------------------------------------------------- run
    def run(self) -> list[dict[str, Any]]:
        """Train every seed to ``total_frames`` (resuming them); one summary per seed."""
        try:
            return self._run_locked()
        except Exception as error:
            for runner in self.runners:
                runner.record_failure(error)  # each seed's status.json
            raise
        finally:
            for runner in self.runners:
                runner.release_lock()

    def _run_locked(self) -> list[dict[str, Any]]:
        resumed = self._resume()
        for runner, found, changes in zip(self.runners, resumed, self._changes, strict=True):
            (runner.run_dir / "config.yaml").write_text(
                OmegaConf.to_yaml(runner.cfg, resolve=True))
            if found is not None:
                print(f"[dqn_atari] seed {runner.cfg.seed}: resumed from {found} at agent step "
                      f"{runner.agent_steps:,} (iteration {runner.iteration}, {runner.phase} "
                      "phase)", flush=True)
                record_changes(runner.run_dir, changes, runner.agent_steps)
            runner.record_start(found is not None)  # provenance.json, status.json
        sinks = [r.open_sinks(found is not None) for r, found in zip(self.runners, resumed)]
        progress = self._progress_bar()
        previous_handlers = {}
        for sig in HANDLED_SIGNALS:
            try:
                previous_handlers[sig] = signal.signal(sig, self.request_stop)
            except ValueError:  # not the main thread
                pass
        status = "finished"
        first = self.runners[0]
        try:
            while first.agent_steps < self.total_agent_steps or first.phase == "eval":
                for runner in self.runners:
                    runner.status.update(phase=runner.phase, iteration=runner.iteration,
                                         agent_steps=runner.agent_steps)
                if first.phase == "train":
                    if not self._train_phase(sinks, progress):
                        status = "interrupted"
                        break
                    for runner in self.runners:
                        runner.phase = "eval"
                eval_returns = self._eval_phase(sinks)
                if eval_returns is None:
                    status = "interrupted"
                    break
                for runner, seed_sinks, returns in zip(self.runners, sinks, eval_returns,
                                                       strict=True):
                    runner.end_iteration(seed_sinks, returns)
                for runner in self.runners:
                    runner.checkpoint()
            if status == "finished":  # every seed's end-of-run evaluation (final_eval.py)
                done = [r.final_evaluation(s["wandb"], self._stop_requested)
                        for r, s in zip(self.runners, sinks, strict=True)]
                status = "finished" if all(done) else "interrupted"
            elif status == "interrupted":
                for runner in self.runners:
                    runner.checkpoint()
        finally:
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)
            if progress is not None:
                progress.update(first.agent_steps - progress.n)
                progress.close()
            for seed_sinks in sinks:
                close_sinks(seed_sinks)
        summaries = [runner.write_summary(status, self.stop_signal, packed_seeds=self.seeds)
                     for runner in self.runners]
        return summaries

    def _progress_bar(self):
        if not self.cfg.logger.progress_bar:
            return None
        import sys

        from tqdm import tqdm

        first = self.runners[0]
        return tqdm(total=self.total_agent_steps, initial=first.agent_steps,
                    unit="agent step", unit_scale=True, dynamic_ncols=True, smoothing=0.05,
                    mininterval=1.0 if sys.stderr.isatty() else 30.0,
                    desc=f"{self.cfg.experiment_name}/{self.cfg.env.game}/seeds_"
                         f"{'-'.join(map(str, self.seeds))}")

