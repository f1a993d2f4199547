"""Tests of dqn_atari/agent.py on the CPU."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest
import torch

from dqn_atari.agent import DQNAgent
from dqn_atari.config import AgentConfig, OptimConfig
from dqn_atari.losses import q_learning_loss, td_target

NUM_ACTIONS = 4
BATCH = 8  # transitions per update: small to keep the tests fast


class Batch(NamedTuple):
    frames: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminals: np.ndarray
    indices: np.ndarray


def _batch(seed: int = 0, size: int = BATCH) -> Batch:
    rng = np.random.default_rng(seed)
    return Batch(
        frames=rng.integers(0, 256, (size, 5, 84, 84), dtype=np.uint8),
        actions=rng.integers(0, NUM_ACTIONS, size).astype(np.int64),
        rewards=rng.choice([-1.0, 0.0, 1.0], size).astype(np.float32),
        terminals=(np.arange(size) % 3 == 0).astype(np.float32),
        indices=np.arange(size, dtype=np.int64),
    )


def _agent(seed: int = 0, **agent_kwargs) -> DQNAgent:
    optim_kwargs = {k: agent_kwargs.pop(k) for k in ("max_grad_norm",) if k in agent_kwargs}
    return DQNAgent(
        NUM_ACTIONS,
        AgentConfig(device="cpu", **agent_kwargs),
        OptimConfig(**optim_kwargs),
        seed=seed,
    )


def _states(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 4, 84, 84), dtype=np.uint8)


def test_act_shapes_and_types():
    agent = _agent()
    rng = np.random.default_rng(0)
    action = agent.act(_states(1)[0], epsilon=0.5, rng=rng)
    assert isinstance(action, int) and 0 <= action < NUM_ACTIONS
    actions = agent.act(_states(5), epsilon=0.5, rng=rng)
    assert actions.shape == (5,) and actions.dtype == np.int64
    assert ((actions >= 0) & (actions < NUM_ACTIONS)).all()


def test_epsilon_one_is_uniform_random_from_the_callers_rng(monkeypatch):
    agent = _agent()

    def no_network(obs):
        raise AssertionError("the network must not be evaluated at epsilon 1")

    monkeypatch.setattr(agent, "_greedy", no_network)
    state = _states(1)[0]
    actions = [agent.act(state, 1.0, np.random.default_rng(s)) for s in range(200)]
    assert set(actions) == set(range(NUM_ACTIONS))
    # The draw is the caller's: the same generator state gives the same actions.
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    assert [agent.act(state, 1.0, rng_a) for _ in range(20)] == [
        agent.act(state, 1.0, rng_b) for _ in range(20)
    ]
    batch_actions = agent.act(_states(300), 1.0, np.random.default_rng(3))
    assert set(batch_actions.tolist()) == set(range(NUM_ACTIONS))


def test_epsilon_zero_is_greedy():
    agent = _agent()
    states = _states(6)
    greedy = agent.q_values(states).argmax(axis=1)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(agent.act(states, 0.0, rng), greedy)
    assert [agent.act(s, 0.0, rng) for s in states] == greedy.tolist()


def test_update_loss_matches_the_pure_functions():
    agent = _agent()
    batch = _batch()
    frames = torch.from_numpy(batch.frames)
    with torch.no_grad():
        discount_t = 0.99 * (1.0 - torch.from_numpy(batch.terminals))
        target = td_target(torch.from_numpy(batch.rewards), discount_t, agent.target(frames[:, 1:]))
        q_tm1 = agent.online(frames[:, :4])
        expected_loss, _ = q_learning_loss(q_tm1, torch.from_numpy(batch.actions), target)
    metrics = agent.update(batch)
    torch.testing.assert_close(metrics["loss"], expected_loss)
    torch.testing.assert_close(metrics["mean_q"], q_tm1.mean())


@pytest.mark.parametrize(
    "kwargs", [{}, {"double_dqn": True}, {"dueling": True}, {"max_grad_norm": 10.0}]
)
def test_update_changes_online_only_and_returns_finite_detached_tensors(kwargs):
    agent = _agent(**kwargs)
    online_before = [p.detach().clone() for p in agent.online.parameters()]
    target_before = [p.detach().clone() for p in agent.target.parameters()]
    metrics = agent.update(_batch())
    assert set(metrics) == {"loss", "mean_q"}
    for value in metrics.values():
        assert isinstance(value, torch.Tensor) and value.shape == ()
        assert not value.requires_grad
        assert torch.isfinite(value)
    assert agent.num_updates == 1
    assert all(not torch.equal(b, p) for b, p in zip(online_before, agent.online.parameters()))
    assert all(torch.equal(b, p) for b, p in zip(target_before, agent.target.parameters()))


def test_sync_target_copies_online():
    agent = _agent()
    # At construction the target is already a copy of the online network.
    for p_o, p_t in zip(agent.online.parameters(), agent.target.parameters()):
        assert torch.equal(p_o, p_t)
    agent.update(_batch())
    assert not torch.equal(agent.online.head[-1].weight, agent.target.head[-1].weight)
    agent.sync_target()
    for p_o, p_t in zip(agent.online.parameters(), agent.target.parameters()):
        assert torch.equal(p_o, p_t)
        assert p_o.data_ptr() != p_t.data_ptr()  # a copy, not shared storage


def test_independent_target_init_is_dopamines():
    """agent.target_init=independent: the target keeps its own draw; the online net is unchanged."""
    copied, independent = _agent(seed=3), _agent(seed=3, target_init="independent")
    for a, b in zip(copied.online.parameters(), independent.online.parameters()):
        assert torch.equal(a, b)
    assert all(not torch.equal(o, t) for o, t in
               zip(independent.online.parameters(), independent.target.parameters()))
    independent.sync_target()
    for o, t in zip(independent.online.parameters(), independent.target.parameters()):
        assert torch.equal(o, t)


def test_seed_determines_initialisation_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected_draw = torch.rand(1)
    torch.manual_seed(123)
    a, b, c = _agent(seed=0), _agent(seed=0), _agent(seed=1)
    assert torch.equal(torch.rand(1), expected_draw)
    states = _states(2)
    np.testing.assert_array_equal(a.q_values(states), b.q_values(states))
    assert not np.array_equal(a.q_values(states), c.q_values(states))


def test_state_dict_round_trip():
    agent = _agent(seed=0)
    for i in range(2):
        agent.update(_batch(seed=i))
    restored = _agent(seed=5)
    restored.load_state_dict(agent.state_dict())
    assert restored.num_updates == 2
    states = _states(3)
    np.testing.assert_array_equal(restored.q_values(states), agent.q_values(states))
    for p_a, p_r in zip(agent.target.parameters(), restored.target.parameters()):
        assert torch.equal(p_a, p_r)
    # The optimizer moments came along: the next update is identical too.
    agent.update(_batch(seed=9))
    restored.update(_batch(seed=9))
    np.testing.assert_array_equal(restored.q_values(states), agent.q_values(states))
