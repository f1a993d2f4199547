"""The ``train`` benchmark: learning-phase agent steps/s of a real training run.

``python -m dqn_atari.bench train``: the ``nature`` preset on a game (shrunk warm-up and
replay) for ``env.num_envs`` and ``agent.overlap`` variants and torch thread counts, next to
the per-part ceiling ``1 / (env_s_per_agent_step + act_s + update_s / 4)`` from the env and
learner figures measured in the same run. Results carry the 1-minute load average.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from dqn_atari.bench.env import bench_env
from dqn_atari.bench.learner import BASELINE_SETTING, bench_learner_figures, learner_overrides
from dqn_atari.bench.measure import load_average
from dqn_atari.compose import compose_config


def _train_variant(game: str, num_envs: int, overlap: bool, threads: int, warmup: int,
                   agent_steps: int, capacity: int, epsilon: float | None, seed: int,
                   compose, setting: str = BASELINE_SETTING) -> dict[str, Any]:
    """Agent steps/s of the learning phase: agent steps ``warmup + 1 .. warmup + agent_steps``."""
    import csv

    from dqn_atari.run.runner import Runner

    with tempfile.TemporaryDirectory(prefix="dqn_bench_") as tmp:
        overrides = [
            "experiment=nature", f"env.game={game}", f"seed={seed}", f"run_dir={tmp}",
            f"env.num_envs={num_envs}", f"agent.overlap={str(overlap).lower()}",
            f"torch_threads={threads}", "agent.device=cpu",
            f"agent.learning_starts_agent_steps={warmup}", f"replay.capacity={capacity}",
            f"train_agent_steps_per_iteration={warmup}", "eval_agent_steps_per_iteration=0",
            f"total_frames={4 * (warmup + agent_steps)}", "checkpoint_replay=false",
            "final_eval.enabled=false",
            "logger.wandb_mode=disabled", "logger.progress_bar=false",
            *learner_overrides(setting),
        ]
        if epsilon is not None:
            overrides += [f"agent.epsilon_start={epsilon}", f"agent.epsilon_end={epsilon}"]
        runner = Runner(compose(overrides))
        before = load_average()
        (summary,) = runner.run()
        with open(Path(tmp) / "metrics" / "iterations.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    learning = rows[1:]  # iteration 0 is the warm-up (no update before its last step)
    steps = sum(int(r["agent_steps"]) - int(p["agent_steps"]) for p, r in zip(rows, learning))
    seconds = sum(
        (int(r["agent_steps"]) - int(p["agent_steps"])) / float(r["train_agent_steps_per_s"])
        for p, r in zip(rows, learning)
    )
    updates = int(rows[-1]["updates"]) - int(rows[0]["updates"])
    return {
        "learner": setting, "num_envs": num_envs, "overlap": overlap, "torch_threads": threads,
        "agent_steps_per_s": round(steps / seconds, 1), "agent_steps": steps,
        "updates": updates, "updates_per_agent_step": round(updates / steps, 4),
        "total_updates": summary["updates"],
        "load_average_1min_before": before, "load_average_1min_after": load_average(),
    }


def bench_train(game: str = "pong", agent_steps: int = 2000, warmup: int = 1000,
                capacity: int = 20_000, epsilon: float | None = 0.1,
                variants: tuple[tuple[int, bool], ...] = ((1, False), (1, True), (4, False),
                                                         (4, True)),
                threads: tuple[int, ...] = (1, 2), env_frames: int = 8000,
                seed: int = 0,
                learner_settings: tuple[str, ...] = (BASELINE_SETTING,)) -> dict[str, Any]:
    """Learning-phase agent steps/s for each learner setting x (num_envs, overlap) x torch
    threads, with the per-part ceiling of each and the speed-up over the first setting."""
    import torch

    compose = compose_config
    threads_before = torch.get_num_threads()
    out: dict[str, Any] = {
        "game": game, "preset": "nature", "cpu_count": os.cpu_count(),
        "load_average_1min_before": load_average(),
        "setting": (
            f"nature preset on {game}, CPU; agent.learning_starts_agent_steps={warmup} and "
            f"replay.capacity={capacity} (shrunk from 50,000 and 1,000,000); measured over "
            f"agent steps {warmup + 1}..{warmup + agent_steps} (one update per 4 agent steps, "
            "batch 32); "
            + (f"epsilon fixed at {epsilon} (the value of most of a Nature run)"
               if epsilon is not None else "Nature epsilon schedule (about 1.0 here)")
            + "; checkpoint_replay=false, no evaluation, wandb disabled"
        ),
        "ceiling_formula": "1 / (env_s_per_agent_step + act_s + update_s / 4), from the env "
                           "and learner figures of this run, per torch thread count",
    }
    try:
        env = bench_env(game, frames=env_frames, num_envs=(), ale_vector=False)
        learner = bench_learner_figures(threads=threads, updates=20, acts=100,
                                        settings=learner_settings)
        out["env"] = env
        out["learner"] = learner
        settings = [x for x in learner_settings if x not in learner["skipped"]]
        ceilings = {}
        for setting in settings:
            for n in threads:
                act_s = learner[f"{setting}/act_ms_threads_{n}"] / 1e3
                update_s = learner[f"{setting}/update_ms_threads_{n}"] / 1e3
                ceilings[setting, n] = 1.0 / (env["env_s_per_agent_step"] + act_s + update_s / 4)
                out[f"ceiling_agent_steps_per_s_threads_{n}_{setting}"] = round(
                    ceilings[setting, n], 1)
        results = []
        for n in threads:
            for num_envs, overlap in variants:
                for setting in settings:
                    r = _train_variant(game, num_envs, overlap, n, warmup, agent_steps,
                                       capacity, epsilon, seed, compose, setting)
                    r["fraction_of_ceiling"] = round(
                        r["agent_steps_per_s"] / ceilings[setting, n], 3)
                    results.append(r)
        out["variants"] = results
        baseline = {}
        for r in results:
            key = f"agent_steps_per_s_envs_{r['num_envs']}_overlap_{int(r['overlap'])}" \
                  f"_threads_{r['torch_threads']}"
            baseline.setdefault(key, r["agent_steps_per_s"])  # the first setting's
            r["speedup_over_first_setting"] = round(r["agent_steps_per_s"] / baseline[key], 3)
            out[f"{key}_{r['learner']}"] = r["agent_steps_per_s"]
    finally:
        torch.set_num_threads(threads_before)
    out["load_average_1min_after"] = load_average()
    return out
