"""Tests of dqn_atari/agent.py on the CPU."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest
import torch

from dqn_atari.agent import DQNAgent
from dqn_atari.config import AgentConfig, OptimConfig
from dqn_atari.losses import q_learning_loss, td_target
from dqn_atari.optim import make_optimizer

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


# ----------------------------------------------- loading optimizer state (issue 23)


def _optim_agent(name: str, seed: int = 0) -> DQNAgent:
    return DQNAgent(NUM_ACTIONS, AgentConfig(device="cpu"), OptimConfig(name=name), seed=seed)


def _optimizer_tensors(agent: DQNAgent) -> list[tuple[int, str, torch.Tensor]]:
    params = [p for group in agent.optimizer.param_groups for p in group["params"]]
    return [(i, key, value) for i, p in enumerate(params)
            for key, value in agent.optimizer.state[p].items() if isinstance(value, torch.Tensor)]


@pytest.mark.parametrize("name", ["rmsprop_centered", "adam"])
def test_loading_a_state_keeps_the_optimizer_tensors_a_cuda_graph_updates(name):
    """Defect 5: ``Optimizer.load_state_dict`` gives the moments new storage, so a recorded
    optimizer graph would update orphaned tensors while checkpoints save the loaded ones.
    The state is copied into the existing tensors instead."""
    agent = _optim_agent(name)
    agent.update(_batch(seed=0))  # the optimizer state exists, as after a graph capture
    agent._step._graphs = recorded = {"stands for": "captured graphs"}
    pointers = [(i, key, t.data_ptr()) for i, key, t in _optimizer_tensors(agent)]
    assert {key for _, key, _ in pointers} == ({"ms", "mg"} if name == "rmsprop_centered"
                                               else {"step", "exp_avg", "exp_avg_sq"})
    source = _optim_agent(name, seed=3)
    for i in range(3):
        source.update(_batch(seed=10 + i))
    saved = source.state_dict()
    agent.load_state_dict(saved)
    assert [(i, key, t.data_ptr()) for i, key, t in _optimizer_tensors(agent)] == pointers
    for i, key, tensor in _optimizer_tensors(agent):
        assert torch.equal(tensor, saved["optimizer"]["state"][i][key]), (i, key)
    assert agent._step._graphs is recorded  # still updating the right tensors
    # The next updates are those of the source: the loaded moments are the ones in use.
    agent.update(_batch(seed=20))
    source.update(_batch(seed=20))
    states = _states(3)
    np.testing.assert_array_equal(agent.q_values(states), source.q_values(states))


def test_a_state_that_replaces_the_optimizer_tensors_drops_the_recorded_graphs():
    """Where the state cannot be copied in place (here: a checkpoint from before the first
    update, with no moments), the graphs are recorded again rather than replayed."""
    agent = _optim_agent("rmsprop_centered")
    agent.update(_batch(seed=0))
    agent._step._graphs = {"stands for": "captured graphs"}
    agent.load_state_dict(_optim_agent("rmsprop_centered", seed=3).state_dict())
    assert agent._step._graphs is None and not agent.optimizer.state


def _adam_state(capturable: bool) -> dict:
    """An Adam agent's checkpointed state after an update, as a run with
    ``agent.cuda_graph=capturable`` writes it (checkpoints hold CPU tensors)."""
    source = _optim_agent("adam", seed=3)
    source.update(_batch(seed=1))
    state = source.state_dict()
    for group in state["optimizer"]["param_groups"]:
        group["capturable"] = capturable
    return state


def _on_meta(agent: DQNAgent, cuda_graph: bool) -> DQNAgent:
    """``agent`` with its online parameters and optimizer on the meta device, standing in
    for a GPU (a CUDA graph agent is refused on the CPU), built as ``agent.cuda_graph=
    cuda_graph`` builds them."""
    agent.online.to("meta")
    agent.update_mode = "cuda_graph" if cuda_graph else "eager"
    agent.optimizer = make_optimizer(agent.online.parameters(), agent.optim_cfg,
                                     capturable=cuda_graph)
    return agent


# Loading the networks into meta parameters copies nothing, and torch says so.
@pytest.mark.filterwarnings("ignore:for .*copying from a non-meta parameter:UserWarning")
@pytest.mark.parametrize("saved_capturable, cuda_graph", [(False, True), (True, False)])
def test_adams_step_count_is_placed_for_todays_cuda_graph_setting(saved_capturable, cuda_graph):
    """Defect 2: torch places ``state["step"]`` by the checkpoint's ``capturable`` flag, and
    a resume may switch ``agent.cuda_graph`` (or the device). A run resumed with graphs must
    find it on the parameters' device in float32 (else its first update fails: "params and
    state_steps must be on supported devices"), one resumed without them on the CPU (else 10
    host syncs per update)."""
    agent = _on_meta(_optim_agent("adam"), cuda_graph)
    agent.load_state_dict(_adam_state(saved_capturable))
    assert [g["capturable"] for g in agent.optimizer.param_groups] == [cuda_graph]
    for p in agent.online.parameters():
        state = agent.optimizer.state[p]
        assert state["exp_avg"].device.type == "meta"
        if cuda_graph:
            assert state["step"].device.type == "meta" and state["step"].dtype == torch.float32
        else:
            assert state["step"].device.type == "cpu"
