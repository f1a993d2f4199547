"""Issue 23's defects 1, 3 and 6 (the CUDA paths of the threaded learner), on the CPU.

No CUDA device here. What CUDA does is stood in for, and each test says by what:

* ``GraphStandIn`` stands in for CUDA graphs (update_step.py): a capture records a function
  and runs none of it, a replay runs it. The update's warm-up / capture / replay sequence and
  the threaded learner's pause around the capture run as they do on a GPU;
* device strings are parsed without touching CUDA (defect 3);
* objects with ``is_cuda`` and ``record_stream`` stand in for CUDA tensors, and one with
  ``wait_stream`` for the loop's stream (defect 6).

tests/test_gpu.py (marked ``gpu``) runs the same paths on a GPU.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future

import numpy as np
import pytest
import torch
from test_agent import _batch

from dqn_atari import learner as learner_module
from dqn_atari.agent import DQNAgent
from dqn_atari.config import AgentConfig, OptimConfig
from dqn_atari.cuda_device import cuda_index, current_stream, hand_over, on_device
from dqn_atari.learner import ThreadedLearner
from dqn_atari.update_step import (
    CUDA_GRAPH_WARMUP_UPDATES,
    CudaGraphs,
    GraphStandIn,
    UpdateStep,
)

NUM_ACTIONS = 4


def _agent(seed: int = 0, optim: str = "rmsprop_centered") -> DQNAgent:
    return DQNAgent(NUM_ACTIONS, AgentConfig(device="cpu"), OptimConfig(name=optim), seed=seed)


def _graph_agent(stand_in: GraphStandIn, seed: int = 0, optim: str = "rmsprop_centered"
                 ) -> DQNAgent:
    agent = _agent(seed, optim)
    agent.use_graph_stand_in(stand_in)
    return agent


def _params(agent: DQNAgent) -> list[torch.Tensor]:
    return [p.detach().clone() for p in agent.online.parameters()]


def _equal(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------ the graph path's control flow
def test_graph_path_with_the_stand_in_equals_eager_bit_for_bit():
    """3 warm-ups, one capture of two graphs, then replays: each call is exactly one update
    (a capture that also ran the step, or a lost warm-up, would show as a difference)."""
    stand_in = GraphStandIn()
    eager, graph = _agent(), _graph_agent(stand_in)
    updates = CUDA_GRAPH_WARMUP_UPDATES + 4
    for i in range(updates):
        a, b = eager.update(_batch(seed=i)), graph.update(_batch(seed=i))
        assert torch.equal(a["loss"], b["loss"]) and torch.equal(a["mean_q"], b["mean_q"])
    assert _equal(_params(eager), _params(graph))
    assert stand_in.events("warm_up") == ["warm_up"] * CUDA_GRAPH_WARMUP_UPDATES
    assert stand_in.events("capture") == ["capture_begin", "capture_end"] * 2
    assert len(stand_in.events("replay")) == 2 * (updates - CUDA_GRAPH_WARMUP_UPDATES)


def test_captures_next_names_the_one_update_that_records_the_graphs():
    stand_in = GraphStandIn()
    agent = _graph_agent(stand_in)
    seen = []
    for i in range(CUDA_GRAPH_WARMUP_UPDATES + 2):
        seen.append(agent.captures_next_update)
        captures_before = len(stand_in.events("capture_begin"))
        agent.update(_batch(seed=i))
        assert (len(stand_in.events("capture_begin")) > captures_before) == seen[-1]
    assert seen == [False] * CUDA_GRAPH_WARMUP_UPDATES + [True, False]
    # Dropped graphs (an optimizer state loaded into new tensors) are recorded again.
    agent._step.drop_graphs()
    assert stand_in.events("reset") == ["reset"]
    assert not agent.captures_next_update
    for i in range(CUDA_GRAPH_WARMUP_UPDATES):
        agent.update(_batch(seed=10 + i))
    assert agent.captures_next_update
    agent.update(_batch(seed=20))
    assert stand_in.events("capture_begin") == ["capture_begin"] * 4
    assert not _agent().captures_next_update  # eager: never


def test_before_apply_comes_after_the_capture_and_the_gradient_replay():
    stand_in = GraphStandIn()
    agent = _graph_agent(stand_in)
    for i in range(CUDA_GRAPH_WARMUP_UPDATES):
        agent.update(_batch(seed=i))
    start = len(stand_in.log)
    agent.update(_batch(seed=9), before_apply=lambda: stand_in.note("before_apply"))
    assert [event for event, _ in stand_in.log[start:]] == [
        "capture_begin", "capture_end", "capture_begin", "capture_end",
        "replay", "before_apply", "replay"]


def test_graph_backends_refuse_what_they_cannot_run():
    with pytest.raises(ValueError, match="CUDA graphs need a CUDA device, got cpu"):
        CudaGraphs(torch.device("cpu"))
    agent = _agent()
    with pytest.raises(ValueError, match="graph backend is for mode cuda_graph"):
        UpdateStep(agent.online, agent.target, agent.optimizer, gamma=0.99, double_dqn=False,
                   huber_delta=1.0, max_grad_norm=0.0, precision="fp32", mode="eager",
                   staging=agent._step.staging, graphs=GraphStandIn())
    agent.update(_batch())
    with pytest.raises(ValueError, match="fresh eager CPU agent"):
        agent.use_graph_stand_in(GraphStandIn())


# ------------------------------------------------------------------------ defect 1
def test_the_loop_thread_does_nothing_while_the_learner_thread_captures():
    """Defect 1. The capture is held open 0.3 s (the stand-in; a real one takes ms). The
    loop thread acts greedily (epsilon 0: the network runs) after every submit, and its
    acting copy runs inside ``submit``: on a GPU both issue CUDA work. None of it may fall
    inside a capture; the capture itself runs in the learner thread."""
    stand_in = GraphStandIn(capture_seconds=0.3)
    agent = _graph_agent(stand_in)
    learner = ThreadedLearner(agent, threads=1)
    copy = learner._refresh_acting_network

    def noted_copy():
        stand_in.note("loop:acting_copy_begin")
        copy()
        stand_in.note("loop:acting_copy_end")

    learner._refresh_acting_network = noted_copy
    states = np.random.default_rng(0).integers(0, 256, (2, 4, 84, 84), dtype=np.uint8)
    reference = _agent()
    try:
        for i in range(CUDA_GRAPH_WARMUP_UPDATES + 3):
            learner.submit([_batch(seed=i)], i)
            stand_in.note("loop:act_begin")
            learner.act(states[None], [0.0, 0.0], [np.random.default_rng(i)])
            stand_in.note("loop:act_end")
            reference.update(_batch(seed=i))
    finally:
        learner.close()
    inside, open_captures = [], 0
    for event, thread in stand_in.log:
        if event == "capture_begin":
            assert thread.startswith("dqn-learner"), thread
            open_captures += 1
        elif event == "capture_end":
            open_captures -= 1
        elif event.startswith("loop:") and open_captures:
            inside.append(event)
    assert stand_in.events("capture_begin") == ["capture_begin"] * 2
    assert inside == []
    # The capturing update's acting copy waited for the capture, then ran.
    events = stand_in.events()
    last_capture = len(events) - 1 - events[::-1].index("capture_end")
    assert "loop:acting_copy_begin" in events[last_capture:]
    assert _equal(_params(agent), _params(reference))


def test_a_failed_capture_releases_the_loop_thread_and_is_raised_by_finish():
    class FailingCapture(GraphStandIn):
        def capture(self, fn):
            raise RuntimeError("operation not permitted when stream is capturing")

    agent = _graph_agent(FailingCapture())
    learner = ThreadedLearner(agent, threads=1)
    outcome: list[BaseException | None] = []

    def loop_thread() -> None:  # the loop's calls, in a thread so that a hang fails the test
        try:
            for i in range(CUDA_GRAPH_WARMUP_UPDATES):
                learner.submit([_batch(seed=i)], i)
            learner.submit([_batch(seed=9)], "capturing")  # returns: the loop is not left waiting
            learner.finish()
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread
            outcome.append(error)

    loop = threading.Thread(target=loop_thread, daemon=True)
    try:
        loop.start()
        loop.join(timeout=60)
        assert not loop.is_alive(), "the loop thread still waits 60 s after a failed capture"
        assert isinstance(outcome[0], RuntimeError) and "stream is capturing" in str(outcome[0])
    finally:
        if not loop.is_alive():
            learner.close()


def test_threaded_graph_run_stopped_and_resumed_at_low_epsilon_equals_the_straight_run():
    """Every resume records the graphs again, now while acting is mostly greedy (epsilon
    0.05): the resumed run must capture again with the loop held, and end where the
    straight one does."""
    updates, stop_at = 2 * CUDA_GRAPH_WARMUP_UPDATES + 3, CUDA_GRAPH_WARMUP_UPDATES + 2
    states = np.random.default_rng(0).integers(0, 256, (3, 4, 84, 84), dtype=np.uint8)

    def run(stop: int | None, stand_ins: list[GraphStandIn]) -> list[torch.Tensor]:
        def start(state=None):
            stand_ins.append(GraphStandIn(capture_seconds=0.05))
            agent = _graph_agent(stand_ins[-1], optim="adam")
            learner = ThreadedLearner(agent, threads=1)
            if state is not None:
                learner.load_seed_states([state["agent"]], [state["learner"]])
            return learner

        learner, rng = start(), np.random.default_rng(5)
        try:
            for i in range(updates):
                if i == stop:
                    learner.close()
                    learner = start({"agent": learner.agent.state_dict(),
                                     "learner": learner.seed_learner_state(0)})
                learner.submit([_batch(seed=i)], i)
                stand_ins[-1].note("loop:act_begin")
                learner.act(states[None], [0.05] * 3, [rng])
                stand_ins[-1].note("loop:act_end")
        finally:
            learner.close()
        return _params(learner.agent)

    straight_logs: list[GraphStandIn] = []
    resumed_logs: list[GraphStandIn] = []
    straight = run(None, straight_logs)
    resumed = run(stop_at, resumed_logs)
    assert _equal(straight, resumed)
    assert [len(s.events("capture_begin")) for s in resumed_logs] == [2, 2]
    for stand_in in resumed_logs:
        events = stand_in.events()
        begin, end = events.index("capture_begin"), len(events) - 1 - events[::-1].index(
            "capture_end")
        assert not [e for e in events[begin:end] if e.startswith("loop:")]


# ------------------------------------------------------------------------ defect 3
def test_the_device_index_is_parsed_without_touching_cuda(monkeypatch):
    """Defect 3: every CUDA call names the agent's device; these resolve it."""
    assert cuda_index("cpu") is None and cuda_index(torch.device("cpu")) is None
    assert cuda_index("cuda:1") == 1 and cuda_index(torch.device("cuda", 3)) == 3
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 2)  # a bare "cuda": the current
    assert cuda_index("cuda") == 2
    context = on_device("cuda:1")  # built, not entered: entering switches the device
    assert isinstance(context, torch.cuda.device) and context.idx == 1
    assert isinstance(on_device("cpu"), contextlib.nullcontext)
    with on_device("cpu"):
        pass
    assert current_stream("cpu") is None


def test_the_learner_thread_takes_the_agents_cuda_device(monkeypatch):
    """The learner thread's first act is ``torch.cuda.set_device(N)`` for ``cuda:N``
    (recorded here instead of called: no CUDA device); nothing for a CPU agent."""
    calls: list[int] = []
    monkeypatch.setattr(torch.cuda, "set_device", calls.append)
    learner = ThreadedLearner(_agent(), threads=1)
    learner._cuda_index = 1  # as ThreadedLearner resolves agent.device=cuda:1
    try:
        learner.submit([_batch()], "a")
        learner.finish()
    finally:
        learner.close()
    assert calls == [1]
    cpu = ThreadedLearner(_agent(), threads=1)
    try:
        cpu.submit([_batch()], "a")
    finally:
        cpu.close()
    assert calls == [1]


# ------------------------------------------------------------------------ defect 6
class _CudaTensorStandIn:
    """Stands in for a CUDA tensor: records the streams it is marked as used on."""

    is_cuda = True

    def __init__(self) -> None:
        self.streams: list[object] = []

    def record_stream(self, stream: object) -> None:
        self.streams.append(stream)


def test_hand_over_marks_cuda_tensors_for_the_reading_stream():
    stream = object()
    loss, mean_q = _CudaTensorStandIn(), _CudaTensorStandIn()
    assert hand_over([loss, mean_q, torch.zeros(())], stream) == 2
    assert loss.streams == [stream] and mean_q.streams == [stream]
    assert hand_over([loss], None) == 0 and loss.streams == [stream]  # CPU: nothing to do


def test_finish_hands_the_metrics_to_the_loop_stream_after_waiting_for_the_learner(
        monkeypatch):
    """Defect 6: the metrics are made on the learner stream and summed on the loop's. The
    loop stream first waits for the learner stream, then the metrics are marked as used on
    it (stand-ins for the two streams and the metric tensors)."""
    order: list[tuple[str, object]] = []

    class LoopStream:
        def wait_stream(self, other):
            order.append(("wait_stream", other))

    loop_stream, learner_stream = LoopStream(), object()
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: loop_stream)
    monkeypatch.setattr(learner_module, "hand_over",
                        lambda tensors, stream: order.append(("hand_over", stream)) or
                        [t.record_stream(stream) for t in tensors])
    learner = ThreadedLearner(_agent(), threads=1)
    learner._stream = learner_stream  # as on CUDA
    metrics = {"loss": _CudaTensorStandIn(), "mean_q": _CudaTensorStandIn()}
    future: Future = Future()
    future.set_result(metrics)
    learner._future, learner._tag = future, "t"
    try:
        assert learner.finish() == [("t", [metrics])]
    finally:
        learner._stream = None
        learner.close()
    assert order == [("wait_stream", learner_stream), ("hand_over", loop_stream)]
    assert metrics["loss"].streams == [loop_stream] == metrics["mean_q"].streams
