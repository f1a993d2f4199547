"""Environments: the ``Env`` protocol, the Atari games and the catch test game.

* ``base.py``: ``Env`` (the interface the loop and the actors use), ``StepResult``, the
  episode cap per mode;
* ``games.py``: game names (one normalisation, one resolver, ``UnknownGameError``);
* ``atari.py``: ``NatureAtariEnv``, one ALE game with the Nature preprocessing;
* ``catch.py``: ``CatchEnv``, a tiny game that lets CI prove the pipeline learns.

``make_env(env_cfg, seed, mode)`` is the one place an environment is built.
"""

from __future__ import annotations

from dqn_atari.envs.atari import NatureAtariEnv, check_resize_interpolation
from dqn_atari.envs.base import ENV_MODES, Env, StepResult, max_episode_frames
from dqn_atari.envs.catch import CatchEnv
from dqn_atari.envs.games import UnknownGameError, resolve_game


def make_env(env_cfg, seed: int, mode: str = "train") -> Env:
    """One environment of ``env_cfg.game`` for ``mode`` (one of ``ENV_MODES``).

    ``mode`` sets the episode cap in frames (``max_episode_frames``); ``seed`` seeds the
    emulator and the no-op starts (the ball column in catch).
    """
    cap = max_episode_frames(env_cfg, mode)
    game = resolve_game(env_cfg.game)
    if game == "catch":
        return CatchEnv(
            seed=seed,
            frame_size=env_cfg.frame_size,
            max_episode_frames=cap,
            action_repeat_frames=env_cfg.action_repeat_frames,
        )
    return NatureAtariEnv(
        game,
        seed,
        action_repeat_frames=env_cfg.action_repeat_frames,
        max_pool_frames=env_cfg.max_pool_frames,
        frame_size=env_cfg.frame_size,
        resize_interpolation=env_cfg.resize_interpolation,
        noop_max_frames=env_cfg.noop_max_frames,
        max_episode_frames=cap,
        sticky_actions=env_cfg.sticky_actions,
        full_action_space=env_cfg.full_action_space,
    )


__all__ = ["ENV_MODES", "CatchEnv", "Env", "NatureAtariEnv", "StepResult", "UnknownGameError",
           "check_resize_interpolation", "make_env", "max_episode_frames", "resolve_game"]
