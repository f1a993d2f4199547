"""Speed benchmarks of the environment, the learner and the training loop.

Wired into ``python -m dqn_atari.bench env|learner|train`` (see bench.py). Every result
carries the 1-minute load average before and after the measurement and the CPU count:
figures taken while other processes use the cores are lower than the machine's.

* ``bench_env``: frames/s of raw ALE stepping (``ALEInterface.act``, frame_skip 1, no
  processing), of the Nature pipeline (``NatureAtariEnv``: action repeat 4, max-pool,
  grayscale, 84x84, no-op starts), of ``N`` NatureAtariEnvs stepped by one thread as the
  training loop does (``env.num_envs=N``), of ``N`` NatureAtariEnvs stepped by ``N``
  Python threads (whether ALE releases the GIL), and of ale-py's ``AtariVectorEnv`` with
  the closest settings (``N`` C++ threads), all with uniformly random actions, in one run.
* ``bench_train``: learning-phase agent steps/s of a real training run (the ``nature``
  preset on a game, shrunk warm-up and replay) for ``env.num_envs`` and ``agent.overlap``
  variants and torch thread counts, next to the per-part ceiling
  ``1 / (env_s_per_agent_step + act_s + update_s / 4)`` from the env and learner figures
  measured in the same run.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _timed(fn) -> tuple[Any, float, float]:
    """Run ``fn()``; returns (result, wall seconds, process CPU seconds)."""
    cpu0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - cpu0


# ---------------------------------------------------------------------- env


def _raw_ale(game: str, seed: int):
    import ale_py
    from ale_py import roms

    ale = ale_py.ALEInterface()
    ale.setLoggerMode(ale_py.LoggerMode.Error)
    ale.setInt("random_seed", seed)
    ale.setInt("frame_skip", 1)
    ale.setFloat("repeat_action_probability", 0.0)
    ale.loadROM(roms.get_rom_path(game))
    return ale


def _step_raw(ale, frames: int, seed: int) -> int:
    actions = list(ale.getMinimalActionSet())
    picks = np.random.default_rng(seed).integers(len(actions), size=frames).tolist()
    for i in range(frames):
        ale.act(actions[picks[i]])
        if ale.game_over():
            ale.reset_game()
    return frames


def _step_nature(env, agent_steps: int, seed: int) -> int:
    """Random actions for ``agent_steps``; returns emulator frames played (no-ops included)."""
    picks = np.random.default_rng(seed).integers(env.num_actions, size=agent_steps).tolist()
    frames = 0
    before = env.episode_frames
    for i in range(agent_steps):
        result = env.step(picks[i])
        if result.game_over or result.truncated:
            frames += env.episode_frames - before
            env.reset()
            before = 0
    return frames + env.episode_frames - before


def _nature_envs(game: str, n: int, seed: int):
    from dqn_atari.envs import NatureAtariEnv

    envs = [NatureAtariEnv(game, seed + i) for i in range(n)]
    for env in envs:
        env.reset()
    return envs


def bench_env(game: str = "pong", frames: int = 20_000, num_envs: tuple[int, ...] = (2, 4),
              seed: int = 0, ale_vector: bool = True) -> dict[str, Any]:
    """Frames/s of raw ALE, the Nature pipeline and its vectorised variants (one run)."""
    agent_steps = frames // 4
    out: dict[str, Any] = {"game": game, "frames_per_measurement": frames,
                           "cpu_count": os.cpu_count(), "load_average_1min_before": _load(),
                           "actions": "uniformly random"}

    ale = _raw_ale(game, seed)
    n, wall, cpu = _timed(lambda: _step_raw(ale, frames, seed))
    out["raw_ale_frames_per_s"] = round(n / wall)
    out["raw_ale_frames_per_cpu_s"] = round(n / cpu)

    (env,) = _nature_envs(game, 1, seed)
    n, wall, cpu = _timed(lambda: _step_nature(env, agent_steps, seed))
    out["nature_frames_per_s"] = round(n / wall)
    out["nature_frames_per_cpu_s"] = round(n / cpu)
    out["nature_ms_per_agent_step"] = round(1e3 * wall * 4 / n, 4)  # 4 frames per agent step

    for k in num_envs:
        envs = _nature_envs(game, k, seed)
        per_env = agent_steps // k

        def loop(envs=envs, per_env=per_env):  # the training loop's order: env after env
            picks = np.random.default_rng(seed).integers(envs[0].num_actions,
                                                         size=(per_env, len(envs))).tolist()
            total = 0
            for row in picks:
                for e, a in zip(envs, row):
                    r = e.step(a)
                    total += 4
                    if r.game_over or r.truncated:
                        e.reset()
            return total

        n, wall, _ = _timed(loop)
        out[f"vector_{k}_envs_one_thread_frames_per_s"] = round(n / wall)

        def threaded(envs=envs, per_env=per_env):  # N Python threads: does ALE free the GIL?
            done = [0] * len(envs)

            def run(j):
                done[j] = _step_nature(envs[j], per_env, seed + j)

            threads = [threading.Thread(target=run, args=(j,)) for j in range(len(envs))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return sum(done)

        n, wall, _ = _timed(threaded)
        out[f"vector_{k}_envs_{k}_threads_frames_per_s"] = round(n / wall)

    if ale_vector:
        from ale_py.vector_env import AtariVectorEnv

        for k in num_envs:
            vec = AtariVectorEnv(
                game, k, num_threads=k, stack_num=1, noop_max=31, frameskip=4, maxpool=True,
                grayscale=True, img_height=84, img_width=84, reward_clipping=False,
                episodic_life=False, life_loss_info=True, use_fire_reset=False,
                repeat_action_probability=0.0, max_num_frames_per_episode=108_000,
            )
            vec.reset(seed=seed)
            rng = np.random.default_rng(seed)
            steps = agent_steps // k
            picks = rng.integers(vec.single_action_space.n, size=(steps, k))

            def vloop(vec=vec, picks=picks):
                for row in picks:
                    vec.step(row)
                return picks.size * 4

            n, wall, cpu = _timed(vloop)
            out[f"ale_vector_env_{k}_envs_{k}_threads_frames_per_s"] = round(n / wall)
            vec.close()
        out["ale_vector_env_note"] = (
            "ale_py.vector_env.AtariVectorEnv, Nature-like settings (stack 1, noop_max 31, raw "
            "rewards, no episodic life, no fire reset); not used for training (see "
            "dqn_atari/vector_actor.py)"
        )
    out["gil_note"] = (
        "vector_N_envs_N_threads vs vector_N_envs_one_thread: about equal (or lower) means "
        "ALEInterface.act holds the GIL"
    )
    out["env_s_per_agent_step"] = 4.0 / out["nature_frames_per_s"]
    out["load_average_1min_after"] = _load()
    return out


# -------------------------------------------------------------------- learner


def bench_learner_figures(threads: tuple[int, ...] = (1, 2), updates: int = 40,
                          acts: int = 200, device: str = "cpu",
                          channels_last: bool = True) -> dict[str, Any]:
    from dqn_atari.bench_learner import bench_learner
    from dqn_atari.config import AgentConfig

    before = _load()
    out = bench_learner(threads=tuple(threads), updates=updates, acts=acts, device=device,
                        agent_cfg=AgentConfig(channels_last=channels_last))
    out["channels_last"] = channels_last
    out = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}
    out.update(cpu_count=os.cpu_count(), load_average_1min_before=before,
               load_average_1min_after=_load())
    return out


# ---------------------------------------------------------------------- train


def _train_variant(game: str, num_envs: int, overlap: bool, threads: int, warmup: int,
                   agent_steps: int, capacity: int, epsilon: float | None, seed: int,
                   compose) -> dict[str, Any]:
    """Agent steps/s of the learning phase: agent steps ``warmup + 1 .. warmup + agent_steps``."""
    import csv

    from dqn_atari.runner import Runner

    with tempfile.TemporaryDirectory(prefix="dqn_bench_") as tmp:
        overrides = [
            "experiment=nature", f"env.game={game}", f"seed={seed}", f"run_dir={tmp}",
            f"env.num_envs={num_envs}", f"agent.overlap={str(overlap).lower()}",
            f"torch_threads={threads}", "agent.device=cpu",
            f"agent.learning_starts_agent_steps={warmup}", f"replay.capacity={capacity}",
            f"train_agent_steps_per_iteration={warmup}", "eval_agent_steps_per_iteration=0",
            f"total_frames={4 * (warmup + agent_steps)}", "checkpoint_replay=false",
            "logger.wandb_mode=disabled", "logger.progress_bar=false",
        ]
        if epsilon is not None:
            overrides += [f"agent.epsilon_start={epsilon}", f"agent.epsilon_end={epsilon}"]
        runner = Runner(compose(overrides))
        before = _load()
        summary = runner.run()
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
        "num_envs": num_envs, "overlap": overlap, "torch_threads": threads,
        "agent_steps_per_s": round(steps / seconds, 1), "agent_steps": steps,
        "updates": updates, "updates_per_agent_step": round(updates / steps, 4),
        "total_updates": summary["updates"],
        "load_average_1min_before": before, "load_average_1min_after": _load(),
    }


def bench_train(game: str = "pong", agent_steps: int = 2000, warmup: int = 1000,
                capacity: int = 20_000, epsilon: float | None = 0.1,
                variants: tuple[tuple[int, bool], ...] = ((1, False), (1, True), (4, False),
                                                         (4, True)),
                threads: tuple[int, ...] = (1, 2), env_frames: int = 8000,
                seed: int = 0) -> dict[str, Any]:
    """Learning-phase agent steps/s for each (num_envs, overlap) x torch threads, and ceilings."""
    import torch

    from dqn_atari.compose import compose_config as compose
    threads_before = torch.get_num_threads()
    out: dict[str, Any] = {
        "game": game, "preset": "nature", "cpu_count": os.cpu_count(),
        "load_average_1min_before": _load(),
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
        learner = bench_learner_figures(threads=threads, updates=20, acts=100)
        out["env"] = env
        out["learner"] = learner
        ceilings = {}
        for n in threads:
            act_s = learner[f"act_ms_threads_{n}"] / 1e3
            update_s = learner[f"update_ms_threads_{n}"] / 1e3
            ceilings[n] = 1.0 / (env["env_s_per_agent_step"] + act_s + update_s / 4)
            out[f"ceiling_agent_steps_per_s_threads_{n}"] = round(ceilings[n], 1)
        results = []
        for n in threads:
            for num_envs, overlap in variants:
                r = _train_variant(game, num_envs, overlap, n, warmup, agent_steps, capacity,
                                   epsilon, seed, compose)
                r["fraction_of_ceiling"] = round(r["agent_steps_per_s"] / ceilings[n], 3)
                results.append(r)
        out["variants"] = results
        for r in results:
            key = f"agent_steps_per_s_envs_{r['num_envs']}_overlap_{int(r['overlap'])}" \
                  f"_threads_{r['torch_threads']}"
            out[key] = r["agent_steps_per_s"]
    finally:
        torch.set_num_threads(threads_before)
    out["load_average_1min_after"] = _load()
    return out
