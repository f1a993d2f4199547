"""The ``env`` benchmark: frames/s of the environment, raw and through the Nature pipeline.

``python -m dqn_atari.bench env``. Every result carries the 1-minute load average before and
after the measurement and the CPU count: figures taken while other processes use the cores
are lower than the machine's.

Frames/s of raw ALE stepping (``ALEInterface.act``, frame_skip 1, no processing), of the
Nature pipeline (``NatureAtariEnv``: action repeat 4, max-pool, grayscale, 84x84, no-op
starts), of ``N`` NatureAtariEnvs stepped by one thread as the training loop does
(``env.num_envs=N``), of ``N`` NatureAtariEnvs stepped by ``N`` Python threads (whether ALE
releases the GIL), and of ale-py's ``AtariVectorEnv`` with the closest settings (``N`` C++
threads), all with uniformly random actions, in one run.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from dqn_atari.bench.measure import load_average, timed


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
                           "cpu_count": os.cpu_count(), "load_average_1min_before": load_average(),
                           "actions": "uniformly random"}

    ale = _raw_ale(game, seed)
    n, wall, cpu = timed(lambda: _step_raw(ale, frames, seed))
    out["raw_ale_frames_per_s"] = round(n / wall)
    out["raw_ale_frames_per_cpu_s"] = round(n / cpu)

    (env,) = _nature_envs(game, 1, seed)
    n, wall, cpu = timed(lambda: _step_nature(env, agent_steps, seed))
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

        n, wall, _ = timed(loop)
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

        n, wall, _ = timed(threaded)
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

            n, wall, cpu = timed(vloop)
            out[f"ale_vector_env_{k}_envs_{k}_threads_frames_per_s"] = round(n / wall)
            vec.close()
        out["ale_vector_env_note"] = (
            "ale_py.vector_env.AtariVectorEnv, Nature-like settings (stack 1, noop_max 31, raw "
            "rewards, no episodic life, no fire reset); not used for training (see the "
            "docstring of dqn_atari/loop.py)"
        )
    out["gil_note"] = (
        "vector_N_envs_N_threads vs vector_N_envs_one_thread: about equal (or lower) means "
        "ALEInterface.act holds the GIL"
    )
    out["env_s_per_agent_step"] = 4.0 / out["nature_frames_per_s"]
    out["load_average_1min_after"] = load_average()
    return out
