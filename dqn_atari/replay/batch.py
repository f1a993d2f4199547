"""What ``sample`` returns: a batch of transitions, each as its ``stack_frames + 1`` frames."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class ReplayBatch(NamedTuple):
    """A batch of ``B`` transitions; frames hold the ``stack_frames + 1`` frames of each."""

    frames: np.ndarray  # (B, stack_frames + 1, H, W) uint8
    actions: np.ndarray  # (B,) int64
    rewards: np.ndarray  # (B,) float32, as added (clipped by the caller)
    terminals: np.ndarray  # (B,) float32, 1.0 where the discount after the transition is 0
    indices: np.ndarray  # (B,) int64, the slots sampled (global: head offset + slot)

    @property
    def obs(self) -> np.ndarray:
        """(B, stack_frames, H, W) uint8: the states the actions were taken in."""
        return self.frames[:, :-1]

    @property
    def next_obs(self) -> np.ndarray:
        """(B, stack_frames, H, W) uint8: the states after the actions."""
        return self.frames[:, 1:]


def check_can_sample(stored: int, batch_size: int) -> None:
    """Refuse a batch that ``stored`` transitions cannot supply, naming the config fix."""
    if stored == 0:
        raise ValueError(
            "no transition to sample: the replay is empty; raise "
            "agent.learning_starts_agent_steps"
        )
    if batch_size > stored:
        raise ValueError(
            f"batch_size {batch_size} > {stored} transitions in the replay; lower "
            "agent.batch_size or raise agent.learning_starts_agent_steps"
        )


def suggest_capacity(available_bytes: int, bytes_per_transition: float) -> int:
    """A round capacity (transitions) using at most ~80% of ``available_bytes`` bytes."""
    fit = int(0.8 * available_bytes / bytes_per_transition)
    if fit < 1_000:
        return max(fit, 0)
    step = 10 ** (len(str(fit)) - 1)
    return fit // step * step
