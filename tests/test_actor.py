"""The actor (dqn_atari/actor.py): one game, the learning episodes inside it, the replay it feeds.

On real games, against a second environment of the same game and seed stepped with the same
actions (the reference: what the game itself did at each step):

* Space Invaders (3 lives, invaders worth 5 to 30 points): a lost life ends the learning
  episode (terminal transition, zero-filled stack) but not the game; the game's score is
  the raw return, the replay gets the clipped rewards; the end of a game writes its last
  frame with ``add_final`` into a real replay head;
* the shipped catch game: a game over is terminal, a game cut by the frame cap is not;
* Breakout: ``get_state``/``set_state`` on another actor continues identically, across lost
  lives and the next game.
"""

from __future__ import annotations

import numpy as np
import pytest

from dqn_atari.actor import Actor, FrameStacker, make_actor
from dqn_atari.config import EnvConfig
from dqn_atari.envs import make_env
from dqn_atari.replay import UniformReplay
from dqn_atari.replay.write_head import EPISODE_START, HAS_TRANSITION, TERMINAL

# 1,000 frames (about 245 agent steps after the no-ops) of a random Space Invaders game,
# env seed 0, action seed 0: raw rewards of 5, 25 and 10 and a lost life at agent step 188.
INVADERS = {"game": "space_invaders", "max_episode_frames_train": 1000}


def _head_frame(head, slot: int) -> np.ndarray:
    """The frame a replay head stores in ``slot`` (read through its sampling path)."""
    out = np.zeros((1, head.stack_frames + 1, *head.frame_shape), np.uint8)
    head.frames.gather(np.array([[slot] * (head.stack_frames + 1)]), None, out)
    return out[0, 0]


@pytest.mark.parametrize("nature", [True, False], ids=["nature", "no_life_loss_no_clipping"])
def test_a_game_with_a_lost_life_against_the_games_own_steps(nature):
    env_cfg = EnvConfig(**INVADERS, terminal_on_life_loss=nature, clip_rewards=nature)
    replay = UniformReplay(400, stack_frames=env_cfg.stack_frames)
    actor = make_actor(make_env(env_cfg, seed=0, mode="train"), env_cfg, replay.head(0))
    reference = make_env(env_cfg, seed=0, mode="train")
    first = reference.reset()
    assert actor.episode_start and not actor.state[:3].any()
    np.testing.assert_array_equal(actor.state[-1], first)

    rng = np.random.default_rng(0)
    steps, raw, stored_frames, lives_lost = [], [], [actor.state[-1].copy()], 0
    game = None
    while game is None:
        before = actor.state.copy()
        action = int(rng.integers(reference.num_actions))
        expected = reference.step(action)
        game = actor.step(action)
        steps.append((action, expected))
        raw.append(expected.reward)
        if game is not None:
            break
        assert actor.env.lives == reference.lives
        lives_lost += expected.life_lost
        assert actor.length_agent_steps == len(steps)  # the game goes on
        assert actor.raw_return == sum(raw)
        if expected.life_lost and nature:  # a new learning episode from zeros, same game
            assert actor.episode_start
            assert not actor.state[:3].any()
            np.testing.assert_array_equal(actor.state[-1], expected.frame)
        else:
            assert not actor.episode_start
            np.testing.assert_array_equal(actor.state[:3], before[1:])
            np.testing.assert_array_equal(actor.state[3], expected.frame)
        stored_frames.append(expected.frame)
    assert lives_lost >= 1 and not expected.game_over and expected.truncated  # the cap's end

    # The game's result: raw score, clipped learning signal, lengths.
    clipped = np.clip(raw, -1, 1) if nature else np.asarray(raw)
    assert max(raw) > 1  # invaders are worth more than 1 point
    assert game.raw_return == sum(raw)
    assert game.clipped_return == pytest.approx(float(clipped.sum()))
    assert (game.raw_return > game.clipped_return) == nature
    assert game.length_agent_steps == len(steps)
    assert game.length_frames == reference.episode_frames <= 1000
    assert game.truncated

    # The replay head got one transition per agent step, then the game's last frame.
    head = replay.head(0)
    n = len(steps)
    assert head.num_added == n and head.num_slots_written == n + 1
    assert head.actions[:n].tolist() == [a for a, _ in steps]
    np.testing.assert_array_equal(head.rewards[:n], clipped.astype(np.float32))
    terminal = [bool(f & TERMINAL) for f in head.flags[:n]]
    assert terminal == [nature and s.life_lost for _, s in steps]  # truncated: not terminal
    starts = [bool(f & EPISODE_START) for f in head.flags[:n]]
    assert starts == [True] + terminal[:-1]
    assert all(f & HAS_TRANSITION for f in head.flags[:n])
    for slot, frame in enumerate(stored_frames):
        np.testing.assert_array_equal(_head_frame(head, slot), frame)
    assert head.flags[n] == 0  # add_final: a frame without a transition
    np.testing.assert_array_equal(_head_frame(head, n), steps[-1][1].frame)

    # A new game has started, from zeros, as the reference's next reset.
    assert actor.length_agent_steps == 0 and actor.raw_return == actor.clipped_return == 0
    assert actor.episode_start and not actor.state[:3].any()
    np.testing.assert_array_equal(actor.state[-1], reference.reset())


def test_catch_game_over_is_terminal_and_a_truncated_game_is_not():
    """Catch: every game ends by game over after 9 agent steps, or at a 5-step frame cap."""
    for cap, length, over in ((108_000, 9, True), (20, 5, False)):
        env_cfg = EnvConfig(game="catch", max_episode_frames_train=cap)
        replay = UniformReplay(100, stack_frames=env_cfg.stack_frames)
        actor = make_actor(make_env(env_cfg, seed=3, mode="train"), env_cfg, replay.head(0))
        results = [actor.step(1) for _ in range(2 * length)]
        ended = [i for i, g in enumerate(results) if g is not None]
        assert ended == [length - 1, 2 * length - 1]  # each game's last agent step
        for game in (results[length - 1], results[-1]):
            assert game.length_agent_steps == length and game.length_frames == 4 * length
            assert game.truncated == (not over)
            assert game.raw_return in ((-1.0, 1.0) if over else (0.0,))
        head = replay.head(0)
        assert head.num_added == 2 * length and head.num_slots_written == 2 * length + 2
        last, final, next_first = length - 1, length, length + 1
        assert bool(head.flags[last] & TERMINAL) == over
        assert head.flags[final] == 0  # the final frame: the last transition's next state
        assert head.flags[next_first] & EPISODE_START


def _play(actor: Actor, actions) -> list:
    """(state, game result, raw return, episode start) after each action."""
    return [(actor.step(int(a)), actor.state.copy(), actor.raw_return, actor.episode_start)
            for a in actions]


def test_get_state_and_set_state_on_another_actor_continue_identically():
    """Breakout from mid-game (a life lost already) on an actor of another seed: the same
    stacks, results and replay writes, through more lost lives, a game over and a new game."""
    env_cfg = EnvConfig(game="breakout")
    rng = np.random.default_rng(0)
    actions = rng.integers(4, size=270)  # the game ends at agent step 251
    source_replay = UniformReplay(300, stack_frames=4)
    source = make_actor(make_env(env_cfg, seed=0, mode="train"), env_cfg, source_replay.head(0))
    _play(source, actions[:130])  # past the first lost life (agent step 126)
    assert source.length_agent_steps == 130 and source.env.lives < 5
    saved = source.get_state()
    expected = _play(source, actions[130:])  # the state saved must not follow the source
    assert sum(r[0] is not None for r in expected) >= 1  # a game ended after the snapshot

    other_replay = UniformReplay(300, stack_frames=4)
    other = make_actor(make_env(env_cfg, seed=5, mode="train"), env_cfg, other_replay.head(0))
    other.set_state(saved)
    assert other.length_agent_steps == 130
    got = _play(other, actions[130:])
    for (g_game, g_state, g_raw, g_start), (e_game, e_state, e_raw, e_start) in zip(
            got, expected, strict=True):
        assert g_game == e_game and g_raw == e_raw and g_start == e_start
        np.testing.assert_array_equal(g_state, e_state)
    written = source_replay.head(0)
    n = len(actions) - 130
    lo = written.num_slots_written - other_replay.head(0).num_slots_written
    assert other_replay.head(0).num_added == n
    for name in ("actions", "rewards", "flags"):
        np.testing.assert_array_equal(getattr(other_replay.head(0), name)[:n + 1],
                                      getattr(written, name)[lo:lo + n + 1], err_msg=name)


def test_frame_stacker_zero_fills_new_episodes():
    stacker = FrameStacker(4, 84)
    ones = np.full((84, 84), 1, np.uint8)
    stack = stacker.reset(ones)
    assert stack[:3].sum() == 0 and (stack[3] == 1).all()
    for value in (2, 3, 4, 5):
        stack = stacker.push(np.full((84, 84), value, np.uint8))
    assert [int(f[0, 0]) for f in stack] == [2, 3, 4, 5]
    stack = stacker.reset(np.full((84, 84), 9, np.uint8))
    assert [int(f[0, 0]) for f in stack] == [0, 0, 0, 9]
