"""The learner protocol (dqn_atari/learner.py, stacked_learner.py): what the loop asks of the updates.

On real ``DQNAgent``s (the Nature network on the CPU) and random uint8 batches:

* ``InlineLearner`` acts as ``DQNAgent.act`` does (one ``rng.random()`` for one state), its
  ``submit`` is ``DQNAgent.update`` returned as ``[(tag, [metrics])]``, and ``sync_target``
  copies the online network into the target;
* ``ThreadedLearner`` makes the same updates bit for bit, acts with the parameters the
  update in flight starts from, and copies the target after that update;
* ``make_learner`` picks the engine: in-line or threaded for one seed (``agent.overlap``),
  stacked for several;
* ``StackedLearner`` returns every seed's metrics, acts for each seed with that seed's
  network, and its seed agents are views that follow the stacked parameters;
* ``load_seed_states`` restores what the checkpoints hold, for each engine, and a seed's
  state moves between the engines (a seed trained packed resumes alone, and back).

The whole-run equivalences (N actors, overlap, packed seeds) are in test_vector.py and
test_packed.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dqn_atari.agent import DQNAgent
from dqn_atari.config import AgentConfig, OptimConfig
from dqn_atari.learner import InlineLearner, ThreadedLearner, make_learner
from dqn_atari.replay import ReplayBatch
from dqn_atari.stacked_learner import SeedSlice, StackedLearner

NUM_ACTIONS = 4
AGENT = AgentConfig(device="cpu")
OPTIM = OptimConfig(lr=1e-2)
SEEDS = (0, 1)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """One intra-op thread, as the runs of the tests use (torch_threads=1): on busy cores a
    second OpenMP thread waits more than it computes."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _agent(seed: int = 0, optim: OptimConfig = OPTIM) -> DQNAgent:
    return DQNAgent(NUM_ACTIONS, AGENT, optim, 4, seed)


def _batch(rng: np.random.Generator, size: int = 8) -> ReplayBatch:
    return ReplayBatch(rng.integers(0, 256, (size, 5, 84, 84), dtype=np.uint8),
                       rng.integers(0, NUM_ACTIONS, size),
                       rng.choice([-1.0, 0.0, 1.0], size).astype(np.float32),
                       (rng.random(size) < 0.2).astype(np.float32), np.arange(size))


def _states(rng: np.random.Generator, k: int, n: int) -> np.ndarray:
    return rng.integers(0, 256, (k, n, 4, 84, 84), dtype=np.uint8)


def _params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _equal(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def _same_state(a: dict, b: dict) -> None:
    """Two ``DQNAgent.state_dict``s hold the same networks, moments and update count."""
    assert a["num_updates"] == b["num_updates"]
    for key in ("online", "target"):
        assert a[key].keys() == b[key].keys()
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), (key, name)
    moments_a, moments_b = a["optimizer"]["state"], b["optimizer"]["state"]
    assert moments_a.keys() == moments_b.keys() and moments_a
    for index, moments in moments_a.items():
        for name, value in moments.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(moments_b[index][name])), (
                index, name)


# ---------------------------------------------------------------- one seed, in-line


def test_inline_act_is_the_agents_act_one_draw_for_one_state():
    """(1, n) actions; for one state the single-state path, draw for draw (epsilon 0, 0.5, 1)."""
    learner = InlineLearner(_agent())
    rng = np.random.default_rng(1)
    for epsilon in (0.0, 0.5, 1.0):
        for _ in range(5):
            state = _states(rng, 1, 1)
            ours, theirs = np.random.default_rng(9), np.random.default_rng(9)
            actions = learner.act(state, [epsilon], [ours])
            assert actions.shape == (1, 1)
            assert actions[0, 0] == learner.agent.act(state[0, 0], epsilon, theirs)
            assert ours.bit_generator.state == theirs.bit_generator.state  # the same draws
    greedy = learner.agent.q_values(state[0]).argmax(axis=1)
    assert learner.act(state, [0.0], [rng])[0, 0] == greedy[0]
    states, epsilons = _states(rng, 1, 3), [0.0, 1.0, 0.3]
    ours, theirs = np.random.default_rng(4), np.random.default_rng(4)
    actions = learner.act(states, epsilons, [ours])
    assert actions.shape == (1, 3)
    np.testing.assert_array_equal(actions[0], learner.agent.act(states[0], np.asarray(epsilons),
                                                               theirs))
    assert ours.bit_generator.state == theirs.bit_generator.state


def test_inline_submit_is_the_agents_update_returned_with_its_tag_and_sync_copies():
    learner, alone = InlineLearner(_agent()), _agent()
    rng = np.random.default_rng(2)
    initial = _params(learner.agent.online)
    for tag in ("a", 7):
        batch = _batch(rng)
        (done,) = learner.submit([batch], tag=tag)
        expected = alone.update(batch)
        assert done[0] == tag and len(done[1]) == 1
        metrics = done[1][0]
        assert set(metrics) == {"loss", "mean_q"}
        for key in metrics:
            assert metrics[key].dim() == 0 and torch.equal(metrics[key], expected[key])
    assert learner.num_updates == 2 and learner.finish() == []
    assert _equal(_params(learner.agent.online), _params(alone.online))
    assert not _equal(_params(learner.agent.online), initial)
    assert _equal(_params(learner.agent.target), initial)  # copied at step 0 only
    assert learner.sync_target() == []  # nothing was in flight
    assert _equal(_params(learner.agent.target), _params(learner.agent.online))
    assert learner.seed_learner_state(0) is None


# ---------------------------------------------------------------- one seed, threaded


def test_threaded_updates_are_the_inline_updates_bit_for_bit():
    inline, threaded = InlineLearner(_agent()), ThreadedLearner(_agent(), threads=1)
    rng = np.random.default_rng(3)
    got, expected = [], []
    try:
        for step in range(4):
            batch = _batch(rng)
            got += threaded.submit([batch], tag=step)
            expected += inline.submit([batch], tag=step)
            if step == 1:
                got += threaded.sync_target()
                expected += inline.sync_target()
        got += threaded.finish()
    finally:
        got += threaded.close()
    assert [tag for tag, _ in got] == [0, 1, 2, 3]
    for (_, [g]), (_, [e]) in zip(got, expected, strict=True):
        assert torch.equal(g["loss"], e["loss"]) and torch.equal(g["mean_q"], e["mean_q"])
    assert _equal(_params(threaded.agent.online), _params(inline.agent.online))
    assert _equal(_params(threaded.agent.target), _params(inline.agent.target))


def test_threaded_sync_target_copies_after_the_update_in_flight():
    learner = ThreadedLearner(_agent(), threads=1)
    initial = _params(learner.agent.online)
    try:
        assert learner.submit([_batch(np.random.default_rng(4))], tag="u") == []
        assert learner.in_flight
        (done,) = learner.sync_target()  # waits for "u", then copies
        assert done[0] == "u" and not learner.in_flight and learner.num_updates == 1
        online = _params(learner.agent.online)
        assert not _equal(online, initial)  # the update landed before the copy
        assert _equal(_params(learner.agent.target), online)
    finally:
        assert learner.close() == []


def test_overlapped_update_acts_with_the_parameters_it_starts_from():
    """``submit`` copies the parameters the new update starts from; the update then proceeds."""
    agent = _agent()
    learner = ThreadedLearner(agent, threads=1)
    rng = np.random.default_rng(0)
    try:
        for i in range(3):
            before = _params(agent.online)
            assert learner.submit([_batch(rng, 32)], tag=i) == []  # nothing was in flight
            assert _equal(learner.acting_network.parameters(), before)
            assert learner.finish()[0][0] == i and agent.num_updates == i + 1
            assert not _equal(agent.online.parameters(), before)
        learner.submit([_batch(rng, 32)], tag="a")
        done = learner.submit([_batch(rng, 32)], tag="b")  # waits for "a" first
        assert done[0][0] == "a" and agent.num_updates == 4 and learner.in_flight
    finally:
        assert learner.close()[0][0] == "b"
    assert agent.num_updates == 5
    assert not agent.optimizer._optimizer_step_pre_hooks  # the hook is removed


# ------------------------------------------------------------------- the engines


def test_make_learner_picks_the_engine_by_seeds_and_overlap():
    inline = make_learner([_agent()], AgentConfig(device="cpu", overlap=False), OPTIM)
    assert type(inline) is InlineLearner and inline.num_seeds == 1
    threaded = make_learner([_agent()], AgentConfig(device="cpu", overlap=True), OPTIM, threads=1)
    try:
        assert type(threaded) is ThreadedLearner and threaded.threads == 1
    finally:
        threaded.close()
    agents = [_agent(s) for s in SEEDS]
    stacked = make_learner(agents, AgentConfig(device="cpu"), OPTIM)
    assert type(stacked) is StackedLearner and stacked.num_seeds == 2
    assert all(isinstance(a, SeedSlice) for a in stacked.seed_agents)
    assert [a.index for a in stacked.seed_agents] == [0, 1]
    assert all(a.optimizer is None for a in agents)  # the stacked optimizer steps every seed


def test_stacked_acts_for_each_seed_with_its_own_network_and_generator():
    """Seed k's actions are those of seed k alone (same initialisation), draw for draw."""
    learner = StackedLearner([_agent(s) for s in SEEDS], OPTIM)
    alone = [_agent(s) for s in SEEDS]
    rng = np.random.default_rng(5)
    for n, epsilons in ((1, [0.0]), (1, [0.5]), (3, [0.0, 0.5, 1.0])):
        states = _states(rng, 2, n)
        ours = [np.random.default_rng(10 + k) for k in SEEDS]
        theirs = [np.random.default_rng(10 + k) for k in SEEDS]
        actions = learner.act(states, epsilons, ours)
        assert actions.shape == (2, n)
        for k, agent in enumerate(alone):
            obs = states[k, 0] if n == 1 else states[k]
            eps = epsilons[0] if n == 1 else np.asarray(epsilons)
            np.testing.assert_array_equal(actions[k], np.atleast_1d(agent.act(obs, eps,
                                                                              theirs[k])))
            assert ours[k].bit_generator.state == theirs[k].bit_generator.state
    with pytest.raises(ValueError, match="2 seeds"):
        learner.act(_states(rng, 1, 1), [0.0], [rng])


def test_stacked_submit_returns_each_seeds_metrics_and_seed_agents_follow():
    learner = StackedLearner([_agent(s) for s in SEEDS], OPTIM)
    before = [_params(a.online) for a in learner.seed_agents]
    rng = np.random.default_rng(6)
    (done,) = learner.submit([_batch(rng) for _ in SEEDS], tag=12)
    assert done[0] == 12 and len(done[1]) == 2
    assert all(set(m) == {"loss", "mean_q"} and m["loss"].dim() == 0 for m in done[1])
    assert not torch.equal(done[1][0]["loss"], done[1][1]["loss"])  # two batches, two losses
    assert learner.finish() == [] and learner.num_updates == 1
    for k, seed_agent in enumerate(learner.seed_agents):
        assert seed_agent.num_updates == 1
        now = _params(seed_agent.online)
        assert not _equal(now, before[k])  # the views moved with the stacked parameters
        state = seed_agent.state_dict()
        assert _equal(now, state["online"].values())
    assert learner.sync_target() == []
    for seed_agent in learner.seed_agents:
        assert _equal(_params(seed_agent.target), _params(seed_agent.online))


# ------------------------------------------------------------------ checkpoints


def test_inline_load_seed_states_continues_identically():
    source, resumed = InlineLearner(_agent(0)), InlineLearner(_agent(5))
    rng = np.random.default_rng(7)
    for _ in range(2):
        source.submit([_batch(rng)])
    resumed.load_seed_states([source.agent.state_dict()], [source.seed_learner_state(0)])
    _same_state(resumed.agent.state_dict(), source.agent.state_dict())
    batch = _batch(rng)  # the moments were restored too: the next update is the same
    assert torch.equal(source.submit([batch])[0][1][0]["loss"],
                       resumed.submit([batch])[0][1][0]["loss"])
    assert _equal(_params(source.agent.online), _params(resumed.agent.online))


def test_threaded_load_seed_states_restores_the_acting_network():
    """The acting copy (the parameters before the latest update) is the learner's own state;
    a checkpoint without it (a run that had no overlap) acts with the online network."""
    source, resumed, fresh = (ThreadedLearner(_agent(s), threads=1) for s in (0, 5, 6))
    rng = np.random.default_rng(8)
    try:
        for _ in range(2):
            source.submit([_batch(rng)])
        source.finish()
        agent_state, learner_state = source.agent.state_dict(), source.seed_learner_state(0)
        assert not _equal(learner_state["acting_network"].values(),
                          source.agent.online.state_dict().values())
        resumed.load_seed_states([agent_state], [learner_state])
        _same_state(resumed.agent.state_dict(), agent_state)
        assert _equal(_params(resumed.acting_network), _params(source.acting_network))
        fresh.load_seed_states([agent_state], [None])
        assert _equal(_params(fresh.acting_network), _params(source.agent.online))
    finally:
        for learner in (source, resumed, fresh):
            learner.close()


def test_stacked_load_seed_states_round_trip():
    """load_seed_states(seed_state_dict(k) for every k) restores networks, moments, count."""
    source = StackedLearner([_agent(s) for s in SEEDS], OPTIM)
    rng = np.random.default_rng(3)
    for _ in range(2):
        source.update([_batch(rng, 4) for _ in SEEDS])
    target = StackedLearner([_agent(s + 10) for s in SEEDS], OPTIM)
    target.load_seed_states([source.seed_state_dict(k) for k in range(len(SEEDS))],
                            [None] * len(SEEDS))
    assert target.num_updates == 2
    for k in range(len(SEEDS)):
        _same_state(target.seed_state_dict(k), source.seed_state_dict(k))
    # The per-seed networks the evaluation phase acts with follow the stacked parameters.
    assert torch.equal(target.agents[1].online.torso[0].weight,
                       source.seed_state_dict(1)["online"]["torso.0.weight"])


def test_a_seed_state_moves_between_the_engines():
    """A seed's checkpoint is ``DQNAgent.state_dict``'s format under both engines: a seed
    trained packed loads into a single learner, and single ones into a stacked learner."""
    rng = np.random.default_rng(9)
    packed = StackedLearner([_agent(s) for s in SEEDS], OPTIM)
    for _ in range(2):
        packed.update([_batch(rng, 4) for _ in SEEDS])
    alone = InlineLearner(_agent(7))
    alone.load_seed_states([packed.seed_state_dict(1)], [None])
    _same_state(alone.agent.state_dict(), packed.seed_state_dict(1))

    singles = [InlineLearner(_agent(s)) for s in SEEDS]
    for learner in singles:
        learner.submit([_batch(rng, 4)])
    repacked = StackedLearner([_agent(s + 20) for s in SEEDS], OPTIM)
    repacked.load_seed_states([s.agent.state_dict() for s in singles], [None, None])
    for k, learner in enumerate(singles):
        _same_state(repacked.seed_state_dict(k), learner.agent.state_dict())
    with pytest.raises(ValueError, match="different update counts"):
        repacked.load_seed_states([packed.seed_state_dict(0), singles[1].agent.state_dict()],
                                  [None, None])
