"""Nature preprocessing on real ALE games (ale-py ships the ROMs)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from dqn_atari.config import EnvConfig
from dqn_atari.envs import (
    CatchEnv,
    Env,
    NatureAtariEnv,
    UnknownGameError,
    make_env,
    max_episode_frames,
    resolve_game,
)
from dqn_atari.envs.atari import preprocess_frame
from dqn_atari.envs.games import normalise_game_name

GOLDEN_PATH = Path(__file__).parent / "data" / "golden_preprocessing.json"
GOLDEN_GAMES = ("pong", "breakout")
GOLDEN_STEPS = 300  # agent steps


def _trajectory(game: str, seed: int, steps: int, action_seed: int = 1234):
    """Frames, rewards and flags of a fixed action sequence from a fixed seed."""
    env = make_env(EnvConfig(game=game), seed=seed, mode="train")
    actions = np.random.default_rng(action_seed).integers(env.num_actions, size=steps)
    frames = [env.reset()]
    noops = [env.last_noop_frames]
    events = []
    for action in actions:
        step = env.step(int(action))
        frames.append(step.frame)
        events.append((step.reward, step.life_lost, step.game_over, step.truncated))
        if step.game_over or step.truncated:
            frames.append(env.reset())
            noops.append(env.last_noop_frames)
    return np.stack(frames), events, noops


def _digest(frames: np.ndarray, events) -> str:
    h = hashlib.sha256(frames.tobytes())
    h.update(json.dumps(events).encode())
    return h.hexdigest()


@pytest.mark.parametrize("game", GOLDEN_GAMES)
def test_golden_preprocessing(game):
    """Output pinned by a stored hash: a change of resize, grayscale or pooling must be deliberate.

    Regenerate (only after a deliberate change) with
    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_envs.py -k golden
    """
    frames, events, _ = _trajectory(game, seed=0, steps=GOLDEN_STEPS)
    assert frames.shape[1:] == (84, 84) and frames.dtype == np.uint8
    digest = _digest(frames, events)
    golden = json.loads(GOLDEN_PATH.read_text()) if GOLDEN_PATH.exists() else {}
    if os.environ.get("UPDATE_GOLDEN"):
        golden[game] = {"sha256": digest, "frames_sum": int(frames.sum(dtype=np.int64))}
        GOLDEN_PATH.parent.mkdir(exist_ok=True)
        GOLDEN_PATH.write_text(json.dumps(golden, indent=2, sort_keys=True) + "\n")
    assert game in golden, f"no golden entry for {game}: run with UPDATE_GOLDEN=1"
    assert int(frames.sum(dtype=np.int64)) == golden[game]["frames_sum"]
    assert digest == golden[game]["sha256"]


@pytest.mark.parametrize("game,gym_id", [("pong", "ALE/Pong-v5"), ("breakout", "ALE/Breakout-v5")])
def test_matches_gymnasium_atari_preprocessing(game, gym_id):
    """An independent implementation of the same pipeline gives the same frames and rewards.

    gymnasium's AtariPreprocessing (frame skip 4, max of the last two grayscale frames,
    INTER_AREA 84x84) on an ALE env with frameskip 1 and no sticky actions. The one
    step allowed to differ is a game over in the middle of an action repeat: there
    gymnasium max-pools a stale frame, we pool the final one.
    """
    import ale_py
    import gymnasium as gym
    from gymnasium.wrappers import AtariPreprocessing

    gym.register_envs(ale_py)
    ours = NatureAtariEnv(game, seed=0, noop_max_frames=0)
    base = gym.make(
        gym_id, frameskip=1, repeat_action_probability=0.0, full_action_space=False,
        max_num_frames_per_episode=108_000,
    )
    ref = AtariPreprocessing(
        base, noop_max=0, frame_skip=4, screen_size=84, terminal_on_life_loss=False,
        grayscale_obs=True, scale_obs=False,
    )
    ref_frame, _ = ref.reset(seed=0)
    np.testing.assert_array_equal(ours.reset(), ref_frame)
    rng = np.random.default_rng(0)
    compared = 0
    for _ in range(400):
        action = int(rng.integers(ours.num_actions))
        step = ours.step(action)
        ref_frame, ref_reward, terminated, _, _ = ref.step(action)
        assert step.reward == ref_reward
        assert step.game_over == terminated
        if step.game_over:
            break
        np.testing.assert_array_equal(step.frame, ref_frame)
        compared += 1
    assert compared > 150


def test_same_seed_same_trajectory_and_different_seeds_differ():
    a, ev_a, noops_a = _trajectory("breakout", seed=7, steps=200)
    b, ev_b, noops_b = _trajectory("breakout", seed=7, steps=200)
    np.testing.assert_array_equal(a, b)
    assert ev_a == ev_b and noops_a == noops_b
    # Different seeds draw different no-op starts, hence different trajectories.
    differ = 0
    for seed in (8, 9, 10):
        c, _, _ = _trajectory("breakout", seed=seed, steps=200)
        differ += int(c.shape != a.shape or not np.array_equal(c, a))
    assert differ >= 2


def test_life_loss_is_reported_without_resetting_the_game():
    env = NatureAtariEnv("breakout", seed=0)
    env.reset()
    lives_before = env.lives
    rng = np.random.default_rng(0)
    for _ in range(2000):
        frames_before = env.episode_frames
        step = env.step(int(rng.integers(env.num_actions)))
        if step.life_lost:
            break
    assert step.life_lost and not step.game_over
    assert env.lives == lives_before - 1
    # The game goes on: the frame counter keeps rising, no reset happened.
    assert env.episode_frames == frames_before + 4
    step = env.step(1)  # FIRE: serve the next ball
    assert env.episode_frames == frames_before + 8
    assert env.lives == lives_before - 1 and not step.game_over


def test_rewards_are_raw_and_larger_than_one():
    """The env returns the game's raw reward; clipping is left to the learner."""
    env = NatureAtariEnv("space_invaders", seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    rewards = []
    for _ in range(1500):
        step = env.step(int(rng.integers(env.num_actions)))
        rewards.append(step.reward)
        if step.game_over:
            break
    assert max(rewards) > 1.0  # Space Invaders aliens score 5 to 30 points
    assert float(np.clip(max(rewards), -1, 1)) == 1.0


def test_noop_starts_are_0_to_30_frames():
    env = NatureAtariEnv("pong", seed=3, noop_max_frames=30)
    counts = []
    for _ in range(60):
        env.reset()
        assert env.episode_frames == env.last_noop_frames  # the unit: frames
        counts.append(env.last_noop_frames)
    assert min(counts) >= 0 and max(counts) <= 30
    assert len(set(counts)) > 10  # random, not fixed
    env = NatureAtariEnv("pong", seed=3, noop_max_frames=0)
    env.reset()
    assert env.episode_frames == 0


def test_episode_cap_truncates_in_frames():
    env = NatureAtariEnv("pong", seed=0, noop_max_frames=0, max_episode_frames=40)
    env.reset()
    for i in range(10):
        step = env.step(0)
        if step.truncated:
            break
    assert step.truncated and not step.game_over
    assert env.episode_frames == 40 and i == 9


def test_explicit_ale_settings():
    env = NatureAtariEnv("pong", seed=0)
    assert env.ale.getInt("frame_skip") == 1
    assert env.ale.getFloat("repeat_action_probability") == 0.0
    assert env.num_actions == 6  # Pong's minimal action set
    sticky = NatureAtariEnv("pong", seed=0, sticky_actions=True)
    assert sticky.ale.getFloat("repeat_action_probability") == pytest.approx(0.25)
    full = NatureAtariEnv("pong", seed=0, full_action_space=True)
    assert full.num_actions == 18


def test_unknown_game_lists_close_matches():
    with pytest.raises(UnknownGameError, match="breakout"):
        resolve_game("breakot")
    assert normalise_game_name("ALE/MsPacman-v5") == "ms_pacman"
    assert resolve_game("SpaceInvaders") == "space_invaders"
    assert resolve_game("mspacman") == "ms_pacman"  # Dopamine's spelling


def test_one_game_resolver_and_one_error_for_envs_and_score_tables():
    from dqn_atari import scores

    assert scores.UnknownGameError is UnknownGameError
    for spelling in ("BankHeist", "ALE/BankHeist-v5", "BankHeistNoFrameskip-v4", "bankheist"):
        assert resolve_game(spelling) == scores.canonical_game(spelling) == "bank_heist"
    with pytest.raises(UnknownGameError, match="close matches: breakout"):
        scores.canonical_game("breakot")


@pytest.mark.parametrize("build", [lambda: NatureAtariEnv("pong", seed=0, noop_max_frames=0),
                                   lambda: CatchEnv(seed=0)], ids=["atari", "catch"])
def test_both_environments_implement_the_env_protocol(build):
    env = build()
    assert isinstance(env, Env)
    frame = env.reset()
    assert frame.shape == (84, 84) and frame.dtype == np.uint8
    state = env.get_state()
    first = env.step(0)
    env.set_state(state)
    again = env.step(0)
    np.testing.assert_array_equal(first.frame, again.frame)
    assert env.episode_frames == 4


def test_state_round_trip_continues_identically():
    env = NatureAtariEnv("breakout", seed=1)
    env.reset()
    for _ in range(30):
        env.step(1)
    state = env.get_state()
    first = [env.step(a % 4).frame for a in range(40)]
    env.set_state(state)
    second = [env.step(a % 4).frame for a in range(40)]
    np.testing.assert_array_equal(np.stack(first), np.stack(second))


def test_pil_bilinear_is_pils_antialiasing_resize_and_linear_is_not():
    """DQN Zoo resizes with PIL's BILINEAR, which widens its filter when shrinking.

    On a one-pixel checkerboard, an antialiasing filter averages to mid-grey, while
    OpenCV's INTER_LINEAR samples 2x2 neighbourhoods and keeps the aliasing.
    """
    from PIL import Image

    checkerboard = ((np.indices((210, 160)).sum(axis=0) % 2) * 255).astype(np.uint8)
    pil = preprocess_frame(checkerboard, 84, "pil_bilinear")
    expected = np.asarray(Image.fromarray(checkerboard).resize((84, 84), Image.BILINEAR))
    np.testing.assert_array_equal(pil, expected)
    linear = preprocess_frame(checkerboard, 84, "linear")
    assert np.abs(pil.astype(float) - 127.5).mean() < 8  # smoothed to grey
    assert np.abs(linear.astype(float) - 127.5).mean() > 20  # aliased (moire)
    frame = make_env(EnvConfig(game="breakout", resize_interpolation="pil_bilinear"),
                     seed=0).reset()
    assert frame.shape == (84, 84) and frame.dtype == np.uint8


def test_bilinear_is_refused_naming_linear_and_pil_bilinear():
    with pytest.raises(ValueError, match="resize_interpolation=linear.*pil_bilinear"):
        preprocess_frame(np.zeros((210, 160), np.uint8), 84, "bilinear")


def test_evaluation_phase_and_final_protocol_have_their_own_caps():
    cfg = EnvConfig()
    assert max_episode_frames(cfg, "train") == 108_000
    assert max_episode_frames(cfg, "eval_phase") == 108_000  # DQN Zoo's in-training cap
    assert max_episode_frames(cfg, "eval") == 18_000  # Nature's 5 minutes
    env = make_env(EnvConfig(game="pong", max_episode_frames_eval_phase=40), seed=0,
                   mode="eval_phase")
    assert env.max_episode_frames == 40
