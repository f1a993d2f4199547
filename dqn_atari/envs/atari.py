"""Atari games with the Nature DQN preprocessing (Mnih et al. 2015).

``NatureAtariEnv`` (built by ``envs.make_env``) plays one game on ale-py's ``ALEInterface``
with every ALE setting written out (never an id's defaults):

* ALE frame skip 1; *our* action repeat of 4 frames, reward summed over them;
* the observation is the pixel-wise max over the last two raw frames,
  in ALE's grayscale (palette luminance, as Dopamine), resized to 84x84
  (OpenCV area interpolation by default; PIL's antialiasing bilinear, DQN Zoo's
  resize, with ``env.resize_interpolation=pil_bilinear``);
* U{0..30} NOOP *frames* at every reset (frames, not agent steps);
* a lost life is reported (``life_lost``) but the game is NOT reset: the caller
  ends the learning episode there and the game goes on;
* rewards are returned raw (unclipped); clipping is the learner's business;
* the episode is truncated at a cap in frames: 108,000 in training, 18,000
  (5 minutes, the Nature evaluation protocol) in evaluation;
* the minimal action set; ``repeat_action_probability`` 0, or 0.25 with
  ``env.sticky_actions=true`` (Machado et al. 2018).

The 4-frame agent state is built by the actor (``actor.FrameStacker``).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from dqn_atari.envs.base import StepResult
from dqn_atari.envs.games import resolve_game

STICKY_ACTION_PROBABILITY = 0.25  # Machado et al. 2018

# env.resize_interpolation: how a 210x160 frame becomes 84x84.
#   area          OpenCV INTER_AREA (gymnasium, ale-py and Dopamine): the default
#   linear        OpenCV INTER_LINEAR: 2x2 bilinear sampling WITHOUT antialiasing
#   pil_bilinear  PIL's Image.BILINEAR, which widens its filter when shrinking
#                 (antialiasing): the resize DQN Zoo calls (processors.resize)
# "bilinear" once named OpenCV's INTER_LINEAR as if it were DQN Zoo's resize; it is refused
# with the two names to choose from (a run dir started with it resumes with "linear").
RESIZE_INTERPOLATIONS = ("area", "linear", "pil_bilinear")
_OPENCV_FLAGS = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR}


def preprocess_frame(
    raw_max: np.ndarray, frame_size: int = 84, interpolation: str = "area"
) -> np.ndarray:
    """Resize a grayscale (210, 160) frame to (frame_size, frame_size) uint8."""
    check_resize_interpolation(interpolation)
    if interpolation == "pil_bilinear":
        from PIL import Image

        resized = Image.fromarray(raw_max).resize((frame_size, frame_size), Image.BILINEAR)
        return np.asarray(resized, dtype=np.uint8)
    return cv2.resize(raw_max, (frame_size, frame_size), interpolation=_OPENCV_FLAGS[interpolation])


def check_resize_interpolation(interpolation: str) -> None:
    """Refuse an unknown ``env.resize_interpolation``, naming the choices."""
    if interpolation in RESIZE_INTERPOLATIONS:
        return
    if interpolation == "bilinear":
        raise ValueError(
            "env.resize_interpolation=bilinear was OpenCV's INTER_LINEAR without antialiasing, "
            "not DQN Zoo's resize; choose env.resize_interpolation=linear (that same OpenCV "
            "resize) or env.resize_interpolation=pil_bilinear (PIL's antialiasing bilinear, "
            "as DQN Zoo)"
        )
    raise ValueError(
        f"env.resize_interpolation={interpolation!r} is not one of {list(RESIZE_INTERPOLATIONS)}"
    )


class NatureAtariEnv:
    """One Atari game with the Nature preprocessing (see the module docstring)."""

    def __init__(
        self,
        game: str,
        seed: int,
        *,
        action_repeat_frames: int = 4,
        max_pool_frames: int = 2,
        frame_size: int = 84,
        resize_interpolation: str = "area",
        noop_max_frames: int = 30,
        max_episode_frames: int = 108_000,
        sticky_actions: bool = False,
        full_action_space: bool = False,
    ) -> None:
        import ale_py
        from ale_py import roms

        if max_pool_frames not in (1, 2):
            raise ValueError("env.max_pool_frames must be 1 or 2")
        if action_repeat_frames < max_pool_frames:
            raise ValueError("env.action_repeat_frames must be >= env.max_pool_frames")
        self.game = resolve_game(game)
        self.action_repeat_frames = action_repeat_frames
        self.max_pool_frames = max_pool_frames
        self.frame_size = frame_size
        self.resize_interpolation = resize_interpolation
        self.noop_max_frames = noop_max_frames
        self.max_episode_frames = max_episode_frames

        ale_seed, noop_seed = np.random.SeedSequence(seed).generate_state(2)
        self._noop_rng = np.random.Generator(np.random.PCG64(int(noop_seed)))
        ale = ale_py.ALEInterface()
        ale.setLoggerMode(ale_py.LoggerMode.Error)
        ale.setInt("random_seed", int(ale_seed) & 0x7FFFFFFF)
        ale.setInt("frame_skip", 1)  # we repeat actions ourselves, to max-pool
        ale.setFloat(
            "repeat_action_probability", STICKY_ACTION_PROBABILITY if sticky_actions else 0.0
        )
        # The cap is enforced here, in frames, so truncation is reported explicitly.
        ale.setInt("max_num_frames_per_episode", 0)
        ale.loadROM(roms.get_rom_path(self.game))
        self.ale = ale
        action_set = ale.getLegalActionSet() if full_action_space else ale.getMinimalActionSet()
        self._actions = list(action_set)
        height, width = ale.getScreenDims()
        self._screens = np.zeros((2, height, width), dtype=np.uint8)
        self._episode_frames = 0
        self._lives = 0
        self.last_noop_frames = 0  # NOOP frames played at the last reset

    @property
    def num_actions(self) -> int:
        return len(self._actions)

    @property
    def action_meanings(self) -> list[str]:
        return [str(a).split(".")[-1] for a in self._actions]

    @property
    def episode_frames(self) -> int:
        """Frames since the last reset, no-ops included."""
        return self._episode_frames

    @property
    def lives(self) -> int:
        return self._lives

    def _observation(self) -> np.ndarray:
        pooled = np.maximum(self._screens[0], self._screens[1]) if self.max_pool_frames == 2 else (
            self._screens[1]
        )
        return preprocess_frame(pooled, self.frame_size, self.resize_interpolation)

    def reset(self) -> np.ndarray:
        """Start a new game after U{0..noop_max_frames} NOOP frames; return the first frame."""
        import ale_py

        while True:
            self.ale.reset_game()
            self._episode_frames = 0
            self.ale.getScreenGrayscale(self._screens[1])
            self._screens[0] = self._screens[1]
            num_noops = int(self._noop_rng.integers(0, self.noop_max_frames + 1))
            for _ in range(num_noops):
                self.ale.act(ale_py.Action.NOOP)
                self._episode_frames += 1
                self._screens[0] = self._screens[1]
                self.ale.getScreenGrayscale(self._screens[1])
                if self.ale.game_over():
                    break
            if not self.ale.game_over():
                break
        self.last_noop_frames = num_noops
        self._lives = self.ale.lives()
        return self._observation()

    def step(self, action: int) -> StepResult:
        """Repeat ``action`` for ``action_repeat_frames`` frames (fewer if the game ends)."""
        ale_action = self._actions[action]
        reward = 0.0
        game_over = truncated = False
        for i in range(self.action_repeat_frames):
            reward += self.ale.act(ale_action)
            self._episode_frames += 1
            if i >= self.action_repeat_frames - 2:
                self.ale.getScreenGrayscale(self._screens[i - self.action_repeat_frames + 2])
            game_over = self.ale.game_over()
            truncated = self._episode_frames >= self.max_episode_frames
            if game_over or truncated:
                if i < self.action_repeat_frames - 1:  # screens must show the last frame
                    self.ale.getScreenGrayscale(self._screens[1])
                    if i < self.action_repeat_frames - 2:
                        self._screens[0] = self._screens[1]
                break
        lives = self.ale.lives()
        life_lost = lives < self._lives
        self._lives = lives
        return StepResult(self._observation(), reward, life_lost, game_over, truncated and not game_over)

    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue this game exactly (emulator, RNGs, counters)."""
        return {
            "ale_state": self.ale.cloneState(include_rng=True).serialize(),  # bytes
            "noop_rng": self._noop_rng.bit_generator.state,
            "screens": self._screens.copy(),
            "episode_frames": self._episode_frames,
            "lives": self._lives,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        import ale_py

        ale_state = state["ale_state"]  # bytes; an ALEState in checkpoints before 2026-12-06
        self.ale.restoreState(ale_state if isinstance(ale_state, ale_py.ALEState)
                              else ale_py.ALEState(ale_state))
        self._noop_rng.bit_generator.state = state["noop_rng"]
        self._screens[...] = state["screens"]
        self._episode_frames = state["episode_frames"]
        self._lives = state["lives"]
