"""The actor: steps one environment with the actions it is given and feeds the replay.

It holds no agent and no epsilon: the loop (loop.py) chooses every action (the learner acts
for all actors at once) and hands it to ``Actor.step``.

It owns the learning-episode bookkeeping of the Nature setting:
* a lost life ends the *learning* episode (terminal, discount 0) but not the game:
  the next frame starts a fresh, zero-filled 4-frame stack;
* rewards are clipped to [-1, 1] for the replay; the game's score is the raw,
  unclipped, whole-game return, reported when the game ends (game over or the
  frame cap), CleanRL's "record statistics before the life-loss wrapper";
* at the end of a game the final frame is stored with ``replay.add_final`` so the
  last transition keeps its true next state (and a truncated one can bootstrap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dqn_atari.envs.base import Env


@dataclass
class GameResult:
    """One finished game (episode in the paper's sense)."""

    raw_return: float  # the game score: unclipped rewards summed over the whole game
    clipped_return: float  # the learning signal: clipped rewards summed
    length_agent_steps: int
    length_frames: int  # emulator frames, no-op start included
    truncated: bool  # ended by the frame cap, not by game over


class FrameStacker:
    """The agent state: the last ``stack_frames`` processed frames, zero-filled at episode start.

    A new learning episode starts from zeros (as Dopamine), so a stack never mixes two
    episodes.
    """

    def __init__(self, stack_frames: int = 4, frame_size: int = 84) -> None:
        self.stack = np.zeros((stack_frames, frame_size, frame_size), dtype=np.uint8)

    def reset(self, frame: np.ndarray) -> np.ndarray:
        """Start a learning episode whose first frame is ``frame``."""
        self.stack[:-1] = 0
        self.stack[-1] = frame
        return self.stack

    def push(self, frame: np.ndarray) -> np.ndarray:
        """Append ``frame`` (dropping the oldest); returns the stack (a view: copy to keep)."""
        self.stack[:-1] = self.stack[1:]
        self.stack[-1] = frame
        return self.stack


class Actor:
    """Plays one environment; ``step`` is one agent step.

    Args:
      env: an ``Env`` (envs/base.py).
      stack_frames, frame_size: the agent state.
      terminal_on_life_loss: the Nature rule (learning terminal on a lost life).
      clip_rewards: clip the replay's reward to [-1, 1].
      replay: where transitions go (a replay write head: ``add``, ``add_final``); None
        for evaluation.
    """

    def __init__(self, env: Env, *, stack_frames: int = 4, frame_size: int = 84,
                 terminal_on_life_loss: bool = True, clip_rewards: bool = True,
                 replay=None) -> None:
        self.env = env
        self.replay = replay
        self.terminal_on_life_loss = terminal_on_life_loss
        self.clip_rewards = clip_rewards
        self.stacker = FrameStacker(stack_frames, frame_size)
        self._start_game()

    def _start_game(self) -> None:
        self.stacker.reset(self.env.reset())
        self.episode_start = True  # the current frame is the first of a learning episode
        self.raw_return = 0.0
        self.clipped_return = 0.0
        self.length_agent_steps = 0

    @property
    def state(self) -> np.ndarray:
        """The current agent state (stack_frames, 84, 84) uint8 (a view)."""
        return self.stacker.stack

    def step(self, action: int) -> GameResult | None:
        """Play ``action`` for one agent step; returns the game's result if it ended."""
        result = self.env.step(action)
        reward = float(np.clip(result.reward, -1.0, 1.0)) if self.clip_rewards else result.reward
        game_ended = result.game_over or result.truncated
        terminal = result.game_over or (self.terminal_on_life_loss and result.life_lost)
        if self.replay is not None:
            self.replay.add(self.stacker.stack[-1], action, reward, terminal, self.episode_start)
            if game_ended:
                self.replay.add_final(result.frame)
        self.raw_return += result.reward
        self.clipped_return += reward
        self.length_agent_steps += 1
        if game_ended:
            finished = GameResult(self.raw_return, self.clipped_return, self.length_agent_steps,
                                  self.env.episode_frames, result.truncated)
            self._start_game()
            return finished
        if terminal:  # a life lost: new learning episode, same game
            self.stacker.reset(result.frame)
            self.episode_start = True
        else:
            self.stacker.push(result.frame)
            self.episode_start = False
        return None

    def get_state(self) -> dict[str, Any]:
        """The game in progress, for an exact resume."""
        return {
            "env": self.env.get_state(),
            "stack": self.stacker.stack.copy(),
            "episode_start": self.episode_start,
            "raw_return": self.raw_return,
            "clipped_return": self.clipped_return,
            "length_agent_steps": self.length_agent_steps,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore ``get_state()``."""
        self.env.set_state(state["env"])
        self.stacker.stack[...] = state["stack"]
        self.episode_start = state["episode_start"]
        self.raw_return = state["raw_return"]
        self.clipped_return = state["clipped_return"]
        self.length_agent_steps = state["length_agent_steps"]


def make_actor(env: Env, env_cfg, replay=None) -> Actor:
    """An ``Actor`` on ``env`` with the run's agent-state and learning-signal settings."""
    return Actor(env, stack_frames=env_cfg.stack_frames, frame_size=env_cfg.frame_size,
                 terminal_on_life_loss=env_cfg.terminal_on_life_loss,
                 clip_rewards=env_cfg.clip_rewards, replay=replay)
