"""The update's precision, compilation and staging switches (dqn_atari/update_step.py), on CPU.

No GPU here: the CUDA-graph and TF32 paths are checked for their errors on the CPU only; the
code they share with the CPU (staging, the two halves, the barrier) runs in every test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_agent import BATCH, _batch
from tolerances import fp32_update_tolerance, max_moved

from dqn_atari.agent import DQNAgent
from dqn_atari.config import AgentConfig, OptimConfig

NUM_ACTIONS = 4


def _agent(seed: int = 0, **agent_kwargs) -> DQNAgent:
    return DQNAgent(NUM_ACTIONS, AgentConfig(device="cpu", **agent_kwargs), OptimConfig(), seed=seed)


def _params(agent: DQNAgent) -> list[torch.Tensor]:
    return [p.detach().clone() for p in agent.online.parameters()]


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_the_batch_is_copied_into_the_same_static_tensors_every_update():
    agent = _agent()
    staging = agent._step.staging
    agent.update(_batch(seed=1))
    pointers = {k: t.data_ptr() for k, t in staging.device_tensors.items()}
    agent.update(_batch(seed=2))
    assert {k: t.data_ptr() for k, t in staging.device_tensors.items()} == pointers
    np.testing.assert_array_equal(staging.device_tensors["frames"].numpy(), _batch(seed=2).frames)
    assert staging.shape == (BATCH, 5, 84, 84)


def test_before_apply_runs_after_the_gradients_and_before_the_parameters_change():
    agent = _agent()
    before = _params(agent)
    seen = {}

    def barrier():
        seen["grads"] = all(p.grad is not None for p in agent.online.parameters())
        seen["unchanged"] = all(torch.equal(b, p) for b, p in zip(before, agent.online.parameters()))

    agent.update(_batch(), before_apply=barrier)
    assert seen == {"grads": True, "unchanged": True}
    assert not all(torch.equal(b, p) for b, p in zip(before, agent.online.parameters()))


def test_bf16_update_is_close_to_fp32_and_keeps_fp32_parameters():
    """bf16 autocast: the loss within 2 % and the gradient within 10 % (norm of the difference
    over the norm; bf16 keeps 8 bits of mantissa) of fp32, pointing the same way."""
    fp32, bf16 = _agent(), _agent(precision="bf16")
    grads = {}
    for name, agent in (("fp32", fp32), ("bf16", bf16)):
        metrics = agent.update(_batch(), before_apply=lambda a=agent, n=name: grads.__setitem__(
            n, torch.cat([p.grad.flatten() for p in a.online.parameters()])))
        grads[name + "_loss"] = metrics["loss"]
        assert metrics["loss"].dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in bf16.online.parameters())
    assert _relative(grads["bf16_loss"], grads["fp32_loss"]) < 0.02
    assert _relative(grads["bf16"], grads["fp32"]) < 0.10
    assert torch.nn.functional.cosine_similarity(grads["bf16"], grads["fp32"], dim=0) > 0.99
    # and bf16 is not fp32 in disguise
    assert not torch.equal(grads["bf16"], grads["fp32"])


@pytest.mark.parametrize("kwargs, message", [
    ({"precision": "fp16"}, "fp32, tf32, bf16"),
    ({"precision": "tf32"}, "CUDA"),
    ({"cuda_graph": True}, "agent.cuda_graph=true needs a CUDA device"),
])
def test_settings_the_cpu_cannot_run_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _agent(**kwargs)


@pytest.mark.slow
def test_compiled_update_matches_the_eager_one():
    """torch.compile of the whole update (both halves): the same update, fused kernels apart.

    Inductor's fused kernels sum in another order than eager's, and which kernels run depends on
    the CPU: the parameters are held to the float32 bound of tests/tolerances.py.
    """
    eager, compiled = _agent(), _agent(compile=True)
    initial = _params(eager)
    updates = 3
    for seed in range(updates):
        m_eager = eager.update(_batch(seed=seed))
        m_compiled = compiled.update(_batch(seed=seed))
        torch.testing.assert_close(m_compiled["loss"], m_eager["loss"], rtol=1e-4, atol=1e-6)
    moved = max_moved(eager.online.parameters(), initial)
    assert moved > 0
    for p_eager, p_compiled in zip(eager.online.parameters(), compiled.online.parameters()):
        assert float((p_compiled - p_eager).detach().abs().max()) <= fp32_update_tolerance(
            updates, moved, longest_sum_terms=BATCH * 20 * 20)
    assert compiled.num_updates == updates
