"""Videos of games as H.264 MP4 that browsers and wandb play.

``RecordingEnv`` wraps a game (``envs.Env`` with an ALE) and keeps the emulator's RGB
screen after every agent step of its first ``games`` games: one video frame per agent step
(4 emulator frames), played at 15 frames/s, which is the game's real speed (60 Hz / 4).
The screen is taken inside ``step``, before the actor starts the next game, so each game's
last frame is its final screen.

``Mp4Writer`` encodes with the ffmpeg binary that the ``imageio-ffmpeg`` package ships
(no system ffmpeg needed): H.264 (libx264), pixel format yuv420p, the ``moov`` index at
the front of the file (``+faststart``) so a browser plays it while loading. yuv420p needs
even width and height, so an odd-sized screen gets one black row/column (ALE's 160x210 is
even). The file appears whole or not at all: frames go to ``<name>.partial.mp4`` in the
same directory, renamed when ffmpeg has finished.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

VIDEO_FPS = 15  # one frame per agent step of 4 emulator frames at 60 Hz: real time
VIDEO_CODEC = "libx264"  # H.264
VIDEO_PIXEL_FORMAT = "yuv420p"  # what browsers decode; needs even width and height
VIDEO_CRF = 18  # x264's constant rate factor (0 = lossless, 23 = its default): crisp pixels


def even_size(height: int, width: int) -> tuple[int, int]:
    """(height, width) rounded up to even numbers, as yuv420p needs."""
    return height + height % 2, width + width % 2


class Mp4Writer:
    """Streams RGB frames (H, W, 3) uint8 into an H.264 MP4 at ``path``."""

    def __init__(self, path: Path, height: int, width: int, fps: int = VIDEO_FPS) -> None:
        import imageio_ffmpeg

        self.path = Path(path)
        if self.path.suffix.lower() != ".mp4":
            raise ValueError(f"video={self.path}: the file name must end in .mp4")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = self.path.with_name(f"{self.path.stem}.partial.mp4")
        self.height, self.width = even_size(height, width)
        self.frames = 0
        self._writer = imageio_ffmpeg.write_frames(
            str(self.partial), (self.width, self.height), pix_fmt_in="rgb24",
            pix_fmt_out=VIDEO_PIXEL_FORMAT, fps=fps, codec=VIDEO_CODEC, quality=None,
            macro_block_size=1,  # no resizing: the size is made even here, by padding
            output_params=["-crf", str(VIDEO_CRF), "-movflags", "+faststart"])
        self._writer.send(None)  # starts ffmpeg

    def write(self, rgb: np.ndarray) -> None:
        """Append one frame (an odd-sized one is padded with black to even size)."""
        h, w = rgb.shape[:2]
        if (h, w) != (self.height, self.width):
            padded = np.zeros((self.height, self.width, 3), dtype=np.uint8)
            padded[:h, :w] = rgb
            rgb = padded
        self._writer.send(np.ascontiguousarray(rgb, dtype=np.uint8))
        self.frames += 1

    def close(self) -> Path:
        """Finish the file and move it into place; returns its path."""
        self._writer.close()  # waits for ffmpeg to write the index
        os.replace(self.partial, self.path)
        return self.path

    def abort(self) -> None:
        """Stop without replacing ``path`` (an earlier video stays as it was)."""
        try:
            self._writer.close()
        finally:
            self.partial.unlink(missing_ok=True)


class RecordingEnv:
    """An ``Env`` that writes the screen after each agent step of its first ``games`` games."""

    def __init__(self, env: Any, writer: Mp4Writer, games: int) -> None:
        if not hasattr(env, "ale"):
            raise ValueError("video needs an Atari game (an env with an ALE screen)")
        self._env, self.writer, self.games_to_record = env, writer, games
        self.games_recorded = 0
        self.frames_per_game: list[int] = []
        self._frames_this_game = 0

    @property
    def recording(self) -> bool:
        return self.games_recorded < self.games_to_record

    def step(self, action: int):
        result = self._env.step(action)
        if self.recording:
            self.writer.write(self._env.ale.getScreenRGB())
            self._frames_this_game += 1
            if result.game_over or result.truncated:
                self.games_recorded += 1
                self.frames_per_game.append(self._frames_this_game)
                self._frames_this_game = 0
        return result

    def __getattr__(self, name: str) -> Any:  # everything else is the game's own
        if name == "_env":  # not set yet (e.g. while unpickling): no recursion
            raise AttributeError(name)
        return getattr(self._env, name)
