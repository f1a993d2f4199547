"""Tests of dqn_atari.catch: rendering, rewards, determinism, state round-trip."""

from __future__ import annotations

import numpy as np
import pytest

from dqn_atari.envs import StepResult
from dqn_atari.envs.catch import ACTION_MEANINGS, CatchEnv

NOOP, LEFT, RIGHT = 0, 1, 2


def _cells(frame: np.ndarray, rows: int = 10, columns: int = 5) -> np.ndarray:
    """Read the grid back from a frame; every cell must be all 255 (True) or all 0."""
    size = frame.shape[0]
    row_edges = np.arange(rows + 1) * size // rows
    column_edges = np.arange(columns + 1) * size // columns
    grid = np.zeros((rows, columns), dtype=bool)
    for r in range(rows):
        for c in range(columns):
            block = frame[row_edges[r] : row_edges[r + 1], column_edges[c] : column_edges[c + 1]]
            assert block.size > 0
            assert np.all(block == 255) or np.all(block == 0), (r, c)
            grid[r, c] = block[0, 0] == 255
    return grid


def _ball_column(env: CatchEnv, frame: np.ndarray) -> int:
    """The ball's column, read from the pixels of the top row after reset."""
    (column,) = np.flatnonzero(_cells(frame, env.rows, env.columns)[0])
    return int(column)


def _optimal_action(ball_column: int, paddle_column: int) -> int:
    if paddle_column < ball_column:
        return RIGHT
    if paddle_column > ball_column:
        return LEFT
    return NOOP


def _play(env: CatchEnv, policy) -> tuple[float, int, list[np.ndarray]]:
    """Play one game; returns (return, agent steps, frames including the reset one)."""
    frames = [env.reset()]
    total, steps = 0.0, 0
    while True:
        result = env.step(policy(frames[-1]))
        frames.append(result.frame)
        total += result.reward
        steps += 1
        assert not result.life_lost
        if result.game_over or result.truncated:
            return total, steps, frames


def test_interface():
    env = CatchEnv(seed=0)
    assert env.num_actions == 3 == len(env.action_meanings)
    assert env.action_meanings == ACTION_MEANINGS
    assert env.action_meanings[0] == "NOOP"
    assert env.lives == 1
    with pytest.raises(RuntimeError):
        env.step(NOOP)  # no game before reset()
    frame = env.reset()
    assert frame.shape == (84, 84) and frame.dtype == np.uint8
    kept = frame.copy()
    result = env.step(NOOP)
    assert isinstance(result, StepResult)  # the shared NamedTuple of dqn_atari.envs
    assert result.frame is not frame
    np.testing.assert_array_equal(frame, kept)  # stepping never mutates a returned frame
    with pytest.raises(ValueError):
        env.step(3)


def test_reset_frame_pixels():
    env = CatchEnv(seed=3)
    frame = env.reset()
    ball = env.get_state()["ball_column"]
    assert set(np.unique(frame)) == {0, 255}
    # Ball: top row (pixel rows 0..7, as 84 // 10 = 8), ball column of width 16 or 17.
    column_edges = np.arange(6) * 84 // 5  # [0, 16, 33, 50, 67, 84]
    c0, c1 = column_edges[ball], column_edges[ball + 1]
    assert np.all(frame[0:8, c0:c1] == 255)
    assert frame[0:8].sum() == 255 * 8 * (c1 - c0)
    # Paddle: bottom row (pixel rows 75..83), centre column (pixels 33..49).
    assert np.all(frame[75:84, 33:50] == 255)
    assert frame[75:84].sum() == 255 * 9 * 17
    # Nothing in between.
    assert not frame[8:75].any()
    expected = np.zeros((10, 5), dtype=bool)
    expected[0, ball] = True
    expected[9, 2] = True
    np.testing.assert_array_equal(_cells(frame), expected)


def test_ball_falls_and_paddle_moves_and_clamps():
    env = CatchEnv(seed=0)
    env.reset()
    env.set_state({**env.get_state(), "ball_column": 4})
    paddle = 2
    for step, action in enumerate([LEFT, LEFT, LEFT, LEFT, RIGHT, NOOP, RIGHT, RIGHT, NOOP]):
        paddle = min(max(paddle + (0, -1, 1)[action], 0), 4)
        result = env.step(action)
        grid = _cells(result.frame)
        assert grid[9, paddle]
        assert grid[step + 1, 4], "the ball falls one row per agent step"
        assert grid.sum() == (1 if (step + 1 == 9 and paddle == 4) else 2)
        assert env.episode_frames == 4 * (step + 1)
    assert paddle == 3  # clamped at the left wall (0), then right three times
    assert result.game_over and result.reward == -1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_optimal_policy_always_catches(seed):
    env = CatchEnv(seed=seed)
    for _ in range(50):
        frame = env.reset()
        ball = _ball_column(env, frame)
        total, steps = 0.0, 0
        while True:
            paddle = int(np.flatnonzero(_cells(frame)[9])[0])
            result = env.step(_optimal_action(ball, paddle))
            frame = result.frame
            total += result.reward
            steps += 1
            if result.game_over:
                break
            assert result.reward == 0.0
        assert total == 1.0
        assert steps == 9
        assert env.episode_frames == 36
        assert not result.truncated and not result.life_lost
        # On the last frame the ball sits on the paddle: one lit cell.
        assert _cells(frame).sum() == 1 and _cells(frame)[9, ball]
        with pytest.raises(RuntimeError):
            env.step(NOOP)


def test_missing_gives_minus_one():
    env = CatchEnv(seed=0)
    for _ in range(20):
        frame = env.reset()
        ball = _ball_column(env, frame)
        away = LEFT if ball >= 2 else RIGHT  # run to the wall opposite the ball
        rewards = [env.step(away).reward for _ in range(9)]
        assert rewards[:-1] == [0.0] * 8
        assert rewards[-1] == -1.0


def test_determinism_by_seed():
    def trajectory(seed: int) -> list[np.ndarray]:
        env = CatchEnv(seed=seed)
        policy_rng = np.random.default_rng(7)
        frames = []
        for _ in range(10):
            frames += _play(env, lambda _f: int(policy_rng.integers(3)))[2]
        return frames

    a, b, c = trajectory(5), trajectory(5), trajectory(6)
    assert len(a) == len(b)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert len(a) != len(c) or not all(np.array_equal(x, y) for x, y in zip(a, c))
    starts = [CatchEnv(seed=5).reset() for _ in range(2)]
    np.testing.assert_array_equal(*starts)


def test_random_policy_mean():
    # Expected 2 / 5 - 1 = -0.6; the standard error over 4,000 games is about 0.013.
    env = CatchEnv(seed=0)
    policy_rng = np.random.default_rng(123)
    returns = [_play(env, lambda _f: int(policy_rng.integers(3)))[0] for _ in range(4000)]
    assert set(returns) == {-1.0, 1.0}
    assert -0.67 < np.mean(returns) < -0.53


def test_frame_cap_truncates():
    env = CatchEnv(seed=0, max_episode_frames=20)  # 5 agent steps of 4 frames
    env.reset()
    results = [env.step(NOOP) for _ in range(5)]
    assert [r.truncated for r in results] == [False] * 4 + [True]
    assert not any(r.game_over for r in results)
    assert env.episode_frames == 20
    with pytest.raises(RuntimeError):
        env.step(NOOP)
    env.reset()
    assert env.episode_frames == 0


def test_action_repeat_frames_sets_frame_units():
    env = CatchEnv(seed=0, action_repeat_frames=3)
    _, steps, _ = _play(env, lambda _f: NOOP)
    assert env.episode_frames == 3 * steps == 27


def test_state_round_trip():
    env = CatchEnv(seed=11)
    env.reset()
    for action in (LEFT, RIGHT, RIGHT):
        env.step(action)
    state = env.get_state()

    def rest(e: CatchEnv) -> list[np.ndarray]:
        out = []
        actions = [LEFT, NOOP, RIGHT, RIGHT, LEFT, NOOP]
        while True:
            result = e.step(actions[len(out) % len(actions)])
            out.append(result)
            if result.game_over:
                break
        for _ in range(5):  # further games exercise the restored RNG
            out.append(e.reset())
        return out

    expected = rest(env)
    other = CatchEnv(seed=999)
    other.set_state(state)
    assert other.get_state()["agent_steps"] == 3
    assert other.episode_frames == 12
    got = rest(other)
    assert len(got) == len(expected)
    for x, y in zip(expected, got):
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y)
        else:
            np.testing.assert_array_equal(x.frame, y.frame)
            assert x[1:] == y[1:]
    # get_state returns a copy: stepping does not change a stored state.
    assert state["agent_steps"] == 3


def test_other_grid_and_frame_sizes():
    env = CatchEnv(seed=0, frame_size=40, rows=5, columns=4)
    frame = env.reset()
    assert frame.shape == (40, 40)
    grid = _cells(frame, rows=5, columns=4)
    assert grid.sum() == 2 and grid[4, 2]
    _, steps, _ = _play(env, lambda _f: NOOP)
    assert steps == 4
