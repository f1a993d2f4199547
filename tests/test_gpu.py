"""The learner's CUDA paths on a GPU (issue 23): run with `pytest -m gpu` on a GPU node.

Every test here is marked ``gpu`` and skipped without a CUDA device (tests/conftest.py);
tests/test_gpu_defects.py runs what of the same code a CPU can run. The checks are those of
``python -m dqn_atari.bench gpu --check`` (dqn_atari/bench/gpu_check.py, where the
tolerances are stated), asserted here with the figures that make them pass.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dqn_atari.bench.gpu_check import (
    GPU_SIZES,
    graph_vs_eager,
    make_agent,
    packed_equals_single,
    precision_vs_fp32,
    resume_across,
    second_gpu,
    threaded_graph_resume,
)
from dqn_atari.bench.learner import random_batch
from dqn_atari.learner import InlineLearner, ThreadedLearner
from dqn_atari.update_step import CudaGraphs

pytestmark = pytest.mark.gpu


def _passed(row) -> None:
    assert row.status == "passed", (row.part, row.note, row.figures)


def test_graph_updates_equal_eager_updates_in_fp32():
    row = graph_vs_eager("cuda", GPU_SIZES)
    _passed(row)
    # The replays moved the parameters: the graphs recorded the update (defect 3's symptom
    # was a graph that recorded nothing, the same loss repeating).
    assert row.figures["graphs_captured"] and row.figures["param_moved_in_replays"] > 0


def test_graphs_are_captured_thread_local_on_a_stream_of_the_agents_device():
    agent = make_agent("cuda", graph=True)
    backend = agent._step._backend
    assert isinstance(backend, CudaGraphs)
    assert backend.capture_error_mode == "thread_local"
    assert backend.stream.device.index == torch.device("cuda", torch.cuda.current_device()).index


def test_threaded_learner_with_graphs_stopped_and_resumed_at_low_epsilon():
    """Defect 1: the capture after each start happens while the loop acts greedily."""
    row = threaded_graph_resume("cuda", GPU_SIZES)
    _passed(row)
    assert row.figures["loop_calls_during_captures"] == 0
    assert row.figures["graphs_recorded_straight_resumed"] == [2, 4]


def test_resume_across_cuda_graph_and_devices_with_rmsprop_and_adam():
    rows = resume_across("cuda", GPU_SIZES)
    for row in rows:
        _passed(row)
    assert len(rows) == 6  # 2 CPU pairs, 4 with the GPU


def test_threaded_metrics_sum_as_the_inline_learners():
    """Defect 6: the metrics made on the learner stream and summed on the loop's."""
    rng = np.random.default_rng(0)
    batches = [random_batch(rng, 32, 6) for _ in range(20)]
    sums = []
    for make in (InlineLearner, lambda agent: ThreadedLearner(agent, threads=1)):
        learner = make(make_agent("cuda"))
        total = torch.zeros((), device="cuda")
        for i, batch in enumerate(batches):
            for _, (metrics,) in learner.submit([batch], i):
                total += metrics["loss"]
        for _, (metrics,) in learner.close():
            total += metrics["loss"]
        sums.append(float(total))
    assert sums[0] == pytest.approx(sums[1], rel=1e-5)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA devices (cuda:1)")
def test_cuda1_graphs_and_threaded_learner_leave_cuda0_alone():
    """Defect 3: agent.device=cuda:1."""
    rows = second_gpu(GPU_SIZES)
    for row in rows:
        _passed(row)
    assert [r.part for r in rows][1:] == ["cuda:1 graph vs eager", "cuda:1 threaded resume"]


def test_packed_learner_equals_single_updates_on_the_gpu():
    _passed(packed_equals_single("cuda", GPU_SIZES))


def test_tf32_and_bf16_within_their_stated_tolerances_of_fp32():
    rows = precision_vs_fp32("cuda", GPU_SIZES)
    assert [r.part.split()[-1] for r in rows] == ["tf32", "bf16"]
    for row in rows:
        _passed(row)
