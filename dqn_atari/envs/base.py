"""What every environment of the project is: the ``Env`` protocol and what a step returns.

The training loop, the actors and ``evaluate`` only use this interface (docs/CONTRACTS.md);
``atari.NatureAtariEnv`` and ``catch.CatchEnv`` implement it. Units: ``episode_frames``
counts emulator frames (no-op starts included); one ``step`` is one agent step.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np


class StepResult(NamedTuple):
    """What one agent step returns."""

    frame: np.ndarray  # (84, 84) uint8 processed observation after the step
    reward: float  # raw reward summed over the repeated frames (unclipped)
    life_lost: bool  # a life was lost on this step
    game_over: bool  # the game ended
    truncated: bool  # the episode frame cap was reached


@runtime_checkable
class Env(Protocol):
    """One game, stepped one agent step at a time, with an exact save and restore."""

    @property
    def num_actions(self) -> int:
        """Size of the action set (the minimal one unless configured otherwise)."""

    @property
    def episode_frames(self) -> int:
        """Frames since the last reset, no-op frames included."""

    def reset(self) -> np.ndarray:
        """Start a new game; returns its first processed frame (84, 84) uint8."""

    def step(self, action: int) -> StepResult:
        """Play ``action`` for one agent step (``action_repeat_frames`` frames)."""

    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue this game exactly (for checkpoints)."""

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what ``get_state`` returned."""


# The modes an environment is built for; each has its own episode cap in frames.
ENV_MODES = ("train", "eval_phase", "eval")


def max_episode_frames(env_cfg, mode: str) -> int:
    """The episode cap in frames for ``mode``.

    "train": training games; "eval_phase": the evaluation phase of each iteration
    (108,000 frames in ``nature``, as DQN Zoo); "eval": the final Nature protocol of
    ``evaluate`` (18,000 frames = 5 minutes).
    """
    if mode == "train":
        return env_cfg.max_episode_frames_train
    if mode == "eval_phase":
        return env_cfg.max_episode_frames_eval_phase
    if mode == "eval":
        return env_cfg.max_episode_frames_eval
    raise ValueError(f"mode must be one of {ENV_MODES}, got {mode!r}")
