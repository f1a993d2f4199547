"""A training run of K >= 1 seeds of one game, in iterations: a training phase, then an evaluation.

Nature defaults: 200 iterations of 250,000 training agent steps (1M frames),
each followed by 125,000 evaluation agent steps at epsilon 0.05 (whole games,
as Dopamine's Runner). One update of 32 every 4 agent steps once 50,000
transitions are in the replay; a hard target copy every 10,000 agent steps.

``seed=S`` is one seed (K = 1); ``seeds=[s1, ..., sK]`` trains K seeds in this one process,
each as if run alone (run/seed_run.py: its own run dir, parts, counters and records). What
they share is the learner (learner.py): K = 1 updates through its ``DQNAgent``; K > 1 stacks
the K networks and makes the K updates as one vmapped update (stacked_learner.py), which
needs the seeds to take their agent steps together (lockstep, loop.py). That costs nothing:
they share every schedule.

Everything a run needs to continue is checkpointed, per seed, at the end of every iteration
and when SIGTERM, SIGUSR1, SIGUSR2 (submitit's preemption signal) or SIGINT arrives
(mid-phase included): a signal stops every seed at the same agent step. Starting again
resumes each seed from its newest checkpoint with identical counters (metric rows written
after it are dropped first). Seeds found at different agent steps (e.g. a checkpoint cut
short by SIGKILL, so one seed fell back to an older one) are refused, naming each seed's
position.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from dqn_atari.config_checks import ConfigError
from dqn_atari.learner import make_learner
from dqn_atari.loop import LoopEvent, NonFiniteLossError, SeedSlot, eval_phase, train_phase
from dqn_atari.run.lock import RunDirLock
from dqn_atari.run.seed_run import SeedRun, close_sinks

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT)


class Runner:
    """Trains (or resumes) the seeds of ``configs`` to the end: ``run()``.

    Args:
      configs: one run config, or one per seed (run/seed_run.py's ``seed_configs``); they
        differ only in their seed and run dir.
      config_changes: per seed, the changes allowed on this resume (``configs_for_resume``).
      locks: per seed, its run dir's lock when the caller took it already.

    ``seed_runs[k]`` is seed k's run; ``on_loop_event`` (tests) sees every update and target
    copy (``loop.LoopEvent``).
    """

    def __init__(self, configs: DictConfig | list[DictConfig],
                 config_changes: dict | list[dict] | None = None,
                 locks: RunDirLock | list[RunDirLock | None] | None = None) -> None:
        if isinstance(configs, DictConfig):
            configs, config_changes, locks = [configs], [config_changes or {}], [locks]
        changes = config_changes or [{} for _ in configs]
        locks = locks or [None] * len(configs)
        self.cfg = configs[0]  # what all seeds share (their seed and run dir aside)
        if self.cfg.torch_threads > 0:
            torch.set_num_threads(self.cfg.torch_threads)
        self.seed_runs = [SeedRun(c, config_changes=ch, lock=lock)
                          for c, ch, lock in zip(configs, changes, locks, strict=True)]
        self.learner = make_learner([run.agent for run in self.seed_runs], self.cfg.agent,
                                    self.cfg.optim, self.cfg.torch_threads)
        if len(self.seed_runs) > 1:  # each seed acts and checkpoints through its slice
            for run, agent in zip(self.seed_runs, self.learner.seed_agents, strict=True):
                run.agent = agent
        self.schedule = self.seed_runs[0].schedule
        self.total_agent_steps = self.seed_runs[0].total_agent_steps
        self.stop_signal: int | None = None
        self.on_loop_event: LoopEvent | None = None
        self._resumed: list[Path | None] | None = None

    @property
    def seeds(self) -> list[int]:
        return [run.seed for run in self.seed_runs]

    def _label(self, run: SeedRun) -> str:
        return f"seed {run.seed}: " if len(self.seed_runs) > 1 else ""

    # ---------------------------------------------------------------- signals
    def request_stop(self, signum: int, _frame=None) -> None:
        """Stop every seed at the next agent step, checkpoint each and exit (the handler)."""
        self.stop_signal = signum

    def _stop_requested(self) -> bool:
        return self.stop_signal is not None

    def _beat_and_check_stop(self) -> bool:
        """``_stop_requested`` for loops without a count to report: the heartbeats, too."""
        for run in self.seed_runs:
            run.status.beat()
        return self.stop_signal is not None

    def _install_signal_handlers(self) -> dict:
        previous = {}
        for sig in HANDLED_SIGNALS:
            try:
                previous[sig] = signal.signal(sig, self.request_stop)
            except ValueError:  # not the main thread (e.g. some launchers): leave them
                pass
        return previous

    # ----------------------------------------------------------------- resume
    def resume(self) -> list[Path | None]:
        """Lock every run dir and restore every seed's newest checkpoint (once); all must
        stand at the same agent step. Returns each seed's checkpoint (None: from step 0)."""
        if self._resumed is not None:
            return self._resumed
        found = [run.load_latest_checkpoint() for run in self.seed_runs]
        # (a checkpoint at agent step 0, e.g. a stop before the first round, is a position too)
        positions = [(*run.position, one is not None)
                     for run, one in zip(self.seed_runs, found, strict=True)]
        if len(set(positions)) > 1:
            where = "\n  ".join(
                f"seed {run.seed}: agent step {p[0]:,}, iteration {p[1]}, {p[2]} phase "
                f"({one[0] if one else 'no checkpoint'})"
                for run, p, one in zip(self.seed_runs, positions, found, strict=True))
            raise ConfigError(
                "packed seeds must resume from the same agent step, but:\n  " + where
                + "\nResume these seeds as separate runs (seed=<s>, without seeds=...): each "
                "continues from its own checkpoint.")
        if any(found):
            self.learner.load_seed_states([one[1] for one in found], [one[2] for one in found])
        self._resumed = [one[0] if one else None for one in found]
        return self._resumed

    def _checkpoint(self) -> None:
        for k, run in enumerate(self.seed_runs):
            run.checkpoint(self.learner.seed_learner_state(k))

    # ----------------------------------------------------------------- phases
    def _train_phase(self, sinks: list[dict], progress) -> bool:
        """Train to the end of this iteration; returns False if a signal stopped it."""
        runs = self.seed_runs
        end = runs[0].iteration_end_agent_step()

        def game_logger(run: SeedRun, seed_sinks: dict):
            return lambda game, step, epsilon: run.log_game(seed_sinks, "train", game, epsilon,
                                                            step)

        slots = [SeedSlot(run.actors, run.replay, run.action_rng, run.stats,
                          game_logger(run, seed_sinks))
                 for run, seed_sinks in zip(runs, sinks, strict=True)]

        def show_progress(agent_step: int, epsilon: float) -> None:
            for run in runs:
                run.status.beat(agent_step)  # each seed's heartbeat (status.json)
            if progress is None:
                return
            progress.update(agent_step - progress.n)
            shown = {"last_return": runs[0].last_raw_return} if len(runs) == 1 else {}
            progress.set_postfix(frames=agent_step * runs[0].frames_per_agent_step,
                                 epsilon=round(epsilon, 3), refresh=False, **shown)

        t0 = time.perf_counter()
        try:
            reached = train_phase(
                slots, self.learner, self.schedule, agent_steps=runs[0].agent_steps,
                end_agent_steps=end, stop_requested=self._stop_requested,
                show_progress=show_progress, on_event=self.on_loop_event)
        except NonFiniteLossError as error:
            if len(runs) == 1:
                raise
            raise NonFiniteLossError(f"{error} (packed seeds {self.seeds}; every seed stopped "
                                     "without a checkpoint)") from None
        finally:
            elapsed = time.perf_counter() - t0
            for run in runs:
                run.wall_time_s += elapsed
        for run in runs:
            run.agent_steps = reached
        return reached >= end

    def _eval_phase(self, sinks: list[dict]) -> list[list[float]] | None:
        """Whole games at epsilon_eval until each seed's budget is met; None if stopped."""
        budget = self.cfg.eval_agent_steps_per_iteration
        if budget <= 0:
            return [[] for _ in self.seed_runs]
        t0 = time.perf_counter()
        slots = [run.eval_slot(seed_sinks) for run, seed_sinks in zip(self.seed_runs, sinks,
                                                                       strict=True)]
        returns = eval_phase(slots, min_agent_steps=budget,
                             stop_requested=self._beat_and_check_stop)
        if returns is not None:
            elapsed = time.perf_counter() - t0
            for run in self.seed_runs:
                run.wall_time_s += elapsed
        return returns

    # -------------------------------------------------------------------- run
    def run(self) -> list[dict[str, Any]]:
        """Train every seed to ``total_frames`` (resuming them); one summary per seed.

        Every run dir is locked for the whole run (``RunDirBusyError`` if another live
        process holds one).
        """
        try:
            return self._run_locked()
        except Exception as error:
            for run in self.seed_runs:
                run.record_failure(error)  # each seed's status.json
            raise
        finally:
            for run in self.seed_runs:
                run.lock.release()

    def _run_locked(self) -> list[dict[str, Any]]:
        resumed = self.resume()
        for run, found in zip(self.seed_runs, resumed, strict=True):
            run.record_start(found is not None, self._label(run))
        sinks = [run.open_sinks(found is not None)
                 for run, found in zip(self.seed_runs, resumed, strict=True)]
        progress = self._progress_bar()
        previous_handlers = self._install_signal_handlers()
        outcome = "finished"  # how the run ends: summary.json's "status" (run/seed_run.py)
        first = self.seed_runs[0]
        try:
            while first.agent_steps < self.total_agent_steps or first.phase == "eval":
                for run in self.seed_runs:
                    run.status.update(phase=run.phase, iteration=run.iteration,
                                      agent_steps=run.agent_steps)
                if first.phase == "train":
                    if not self._train_phase(sinks, progress):
                        outcome = "interrupted"
                        break
                    for run in self.seed_runs:
                        run.phase = "eval"
                        run.status.update(phase="eval", agent_steps=run.agent_steps)
                eval_returns = self._eval_phase(sinks)
                if eval_returns is None:
                    outcome = "interrupted"
                    break
                for run, seed_sinks, returns in zip(self.seed_runs, sinks, eval_returns,
                                                    strict=True):
                    run.end_iteration(seed_sinks, returns)
                self._checkpoint()
            if outcome == "finished":  # every seed's end-of-run evaluation (final_eval.py)
                done = [run.final_evaluation(seed_sinks["wandb"], self._stop_requested)
                        for run, seed_sinks in zip(self.seed_runs, sinks, strict=True)]
                # interrupted: the final checkpoint is on disk, a restart evaluates
                outcome = "finished" if all(done) else "interrupted"
            else:
                self._checkpoint()
        finally:
            self.learner.close()
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)
            if progress is not None:
                progress.update(first.agent_steps - progress.n)
                progress.close()
            for seed_sinks in sinks:
                close_sinks(seed_sinks)
        extra = {"packed_seeds": self.seeds} if len(self.seed_runs) > 1 else {}
        return [run.write_summary(outcome, self.stop_signal, **extra) for run in self.seed_runs]

    def _progress_bar(self):
        if not self.cfg.logger.progress_bar:
            return None
        from tqdm import tqdm

        seeds = (f"seed_{self.seeds[0]}" if len(self.seeds) == 1
                 else "seeds_" + "-".join(map(str, self.seeds)))
        return tqdm(total=self.total_agent_steps, initial=self.seed_runs[0].agent_steps,
                    unit="agent step", unit_scale=True, dynamic_ncols=True, smoothing=0.05,
                    mininterval=1.0 if sys.stderr.isatty() else 30.0,
                    desc=f"{self.cfg.experiment_name}/{self.cfg.env.game}/{seeds}")
