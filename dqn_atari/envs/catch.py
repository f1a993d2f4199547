"""Catch: a tiny pixel game that lets CI prove the DQN pipeline learns.

A ball falls one row per agent step from the top row of a ``rows x columns`` grid
(10 x 5 by default), starting in a random column. A one-cell paddle on the bottom
row moves left, stays or moves right (clamped at the walls). When the ball reaches
the bottom row the game ends: reward +1 if the paddle is under it, else -1.
One game is ``rows - 1`` agent steps (9 by default).

The optimal policy scores +1 per game. A policy that ignores the ball, such as the
uniformly random one, catches it with probability 1/columns (the start column is
uniform and independent of the paddle), so it scores 2 / columns - 1 = -0.6 per game
in expectation on 5 columns; measured: -0.609 +- 0.006 over 20,000 games (env seed
0, policy seed 123). ``tests/test_catch.py`` checks the random policy's mean.

``CatchEnv`` implements the environment interface of ``docs/CONTRACTS.md``
(``num_actions``, ``reset``, ``step``, ``episode_frames``), with these differences
from the Atari environments, all deliberate:

* ``reset()`` starts a new game with no no-op frames: the random start column
  already makes every game different.
* There are no emulator frames, so ``episode_frames`` counts
  ``agent steps * action_repeat_frames``: the same unit as the Atari
  environments, so frame budgets and caps (``max_episode_frames``) mean the same.
* There is a single life: ``lives`` is 1 and ``life_lost`` is always False.

Observations are ``frame_size x frame_size`` uint8 grayscale frames, ball and
paddle 255 on a 0 background. Grid cell ``(r, c)`` covers pixel rows
``[r * frame_size // rows, (r + 1) * frame_size // rows)`` and likewise for
columns: exact integer block painting, no interpolation.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from dqn_atari.envs.base import StepResult

# Action 0 is NOOP, as in the ALE's minimal action sets.
ACTION_MEANINGS: tuple[str, ...] = ("NOOP", "LEFT", "RIGHT")
_PADDLE_MOVES: tuple[int, ...] = (0, -1, +1)  # paddle column change per action
GRID_ROWS, GRID_COLUMNS = 10, 5  # the game's grid (make_env's); a frame needs a pixel per cell


class CatchEnv:
    """The Catch game behind the contract's environment interface.

    Args:
      seed: seeds the numpy Generator that draws the ball's start column.
      frame_size: observations are ``frame_size x frame_size`` pixels.
      rows: grid rows; the ball falls for ``rows - 1`` agent steps.
      columns: grid columns.
      max_episode_frames: frame cap per game (frames = agent steps *
        ``action_repeat_frames``); ``None`` for no cap. A game of 10 rows
        lasts 9 agent steps = 36 frames, so only a smaller cap can truncate.
      action_repeat_frames: frames counted per agent step (4 as in Nature DQN).
    """

    lives: int = 1  # one life: a game is a single catch

    def __init__(
        self,
        seed: int,
        frame_size: int = 84,
        rows: int = GRID_ROWS,
        columns: int = GRID_COLUMNS,
        max_episode_frames: int | None = None,
        action_repeat_frames: int = 4,
    ) -> None:
        if rows < 2 or columns < 1:
            raise ValueError(f"need rows >= 2 and columns >= 1, got {rows} x {columns}")
        if frame_size < max(rows, columns):
            raise ValueError(f"frame_size {frame_size} smaller than the {rows} x {columns} grid")
        if action_repeat_frames < 1:
            raise ValueError(f"action_repeat_frames must be >= 1, got {action_repeat_frames}")
        self.frame_size = frame_size
        self.rows = rows
        self.columns = columns
        self.max_episode_frames = max_episode_frames
        self.action_repeat_frames = action_repeat_frames
        self.action_meanings = ACTION_MEANINGS
        self._rng = np.random.default_rng(seed)
        # Pixel edges of the grid cells: cell i spans [edges[i], edges[i + 1]).
        self._row_edges = np.arange(rows + 1) * frame_size // rows
        self._column_edges = np.arange(columns + 1) * frame_size // columns
        self._ball_row = 0
        self._ball_column = 0
        self._paddle_column = columns // 2
        self._agent_steps = 0  # agent steps since the last reset
        self._episode_over = True  # no game until reset()

    @property
    def num_actions(self) -> int:
        """Number of actions: NOOP, LEFT, RIGHT."""
        return len(ACTION_MEANINGS)

    @property
    def episode_frames(self) -> int:
        """Frames since the last reset: agent steps * ``action_repeat_frames``."""
        return self._agent_steps * self.action_repeat_frames

    def reset(self) -> np.ndarray:
        """Start a new game: ball on the top row in a random column, paddle centred.

        No no-op frames are played (the random ball column varies the start).
        """
        self._ball_row = 0
        self._ball_column = int(self._rng.integers(self.columns))
        self._paddle_column = self.columns // 2
        self._agent_steps = 0
        self._episode_over = False
        return self._render()

    def step(self, action: int) -> StepResult:
        """Move the paddle, then drop the ball one row; score when it lands."""
        if self._episode_over:
            raise RuntimeError("the game is over (or truncated): call reset()")
        action = int(action)
        if not 0 <= action < self.num_actions:
            raise ValueError(f"action {action} not in [0, {self.num_actions})")
        self._paddle_column = min(
            max(self._paddle_column + _PADDLE_MOVES[action], 0), self.columns - 1
        )
        self._ball_row += 1
        self._agent_steps += 1
        game_over = self._ball_row == self.rows - 1
        reward = 0.0
        if game_over:
            reward = 1.0 if self._paddle_column == self._ball_column else -1.0
        truncated = (
            not game_over
            and self.max_episode_frames is not None
            and self.episode_frames >= self.max_episode_frames
        )
        self._episode_over = game_over or truncated
        return StepResult(self._render(), reward, False, game_over, truncated)

    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue exactly: RNG and game state (for checkpoints)."""
        return {
            "rng": copy.deepcopy(self._rng.bit_generator.state),
            "ball_row": self._ball_row,
            "ball_column": self._ball_column,
            "paddle_column": self._paddle_column,
            "agent_steps": self._agent_steps,
            "episode_over": self._episode_over,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a state returned by ``get_state``."""
        self._rng.bit_generator.state = copy.deepcopy(state["rng"])
        self._ball_row = int(state["ball_row"])
        self._ball_column = int(state["ball_column"])
        self._paddle_column = int(state["paddle_column"])
        self._agent_steps = int(state["agent_steps"])
        self._episode_over = bool(state["episode_over"])

    def _render(self) -> np.ndarray:
        """The current grid as a fresh (frame_size, frame_size) uint8 frame."""
        frame = np.zeros((self.frame_size, self.frame_size), dtype=np.uint8)
        self._paint(frame, self._ball_row, self._ball_column)
        self._paint(frame, self.rows - 1, self._paddle_column)
        return frame

    def _paint(self, frame: np.ndarray, row: int, column: int) -> None:
        r0, r1 = self._row_edges[row], self._row_edges[row + 1]
        c0, c1 = self._column_edges[column], self._column_edges[column + 1]
        frame[r0:r1, c0:c1] = 255
