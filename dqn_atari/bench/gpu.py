"""The ``gpu`` benchmark: every learner figure a GPU needs, in one command, as JSON.

``python -m dqn_atari.bench gpu`` on a machine with a CUDA device measures:

* the update (batch 32, ms) and greedy act (one state, ms) for each learner setting:
  ``eager``, ``compile`` (torch.compile of the whole update) and ``graph`` (the update
  replayed as CUDA graphs), each in ``fp32`` (TF32 off), ``tf32`` and ``bf16``;
* the update of K packed seeds (``seeds=[...]``, one vmapped update of K batches) for each
  ``--packed`` K, in ms per update and per seed.

``--check`` runs the self-check of dqn_atari/bench/gpu_check.py first (the command to run
first on a GPU node), then these figures.

Written and tested on a machine without a GPU (``--device cpu`` runs the same code with the
CUDA-only settings listed under ``skipped``): no figure of this command has been measured on a
GPU yet. The README's GPU figures are projections until someone runs it on one.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from dqn_atari.bench.learner import bench_learner_figures, parse_learner_setting, random_batch
from dqn_atari.bench.measure import load_average

ALL_SETTINGS = tuple(f"{mode}-{precision}" for mode in ("eager", "compile", "graph")
                     for precision in ("fp32", "tf32", "bf16"))

class NoCudaError(RuntimeError):
    """``bench gpu`` was asked for CUDA on a machine without it."""

def _device_description(device: torch.device) -> dict[str, Any]:
    out: dict[str, Any] = {"device": str(device), "torch": torch.__version__,
                           "cuda_runtime": torch.version.cuda}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        out.update(gpu_name=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                   compute_capability=f"{props.major}.{props.minor}")
    return out

def bench_packed_update(device: torch.device, seeds: int, updates: int, warmup: int = 3,
                        num_actions: int = 6, batch_size: int = 32) -> dict[str, float]:
    """ms of one vmapped update of ``seeds`` batches (StackedLearner, fp32 eager)."""
    from dqn_atari.agent import DQNAgent
    from dqn_atari.config import AgentConfig, OptimConfig
    from dqn_atari.stacked_learner import StackedLearner

    agent_cfg = AgentConfig(device=str(device))
    agents = [DQNAgent(num_actions, agent_cfg, OptimConfig(), seed=k) for k in range(seeds)]
    learner = StackedLearner(agents, OptimConfig())
    rng = np.random.default_rng(0)
    batches = [[random_batch(rng, batch_size, num_actions) for _ in range(seeds)]
               for _ in range(2)]
    for i in range(warmup):
        learner.update(batches[i % 2])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for i in range(updates):
        learner.update(batches[i % 2])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    ms = 1e3 * (time.perf_counter() - start) / updates
    return {f"packed_{seeds}_update_ms": round(ms, 4),
            f"packed_{seeds}_update_ms_per_seed": round(ms / seeds, 4)}

def bench_gpu(device: str = "cuda", updates: int = 100, acts: int = 200,
              settings: tuple[str, ...] = ALL_SETTINGS,
              packed: tuple[int, ...] = (1, 2, 5)) -> dict[str, Any]:
    """The figures listed in the module docstring, for ``device``."""
    for setting in settings:
        parse_learner_setting(setting)
    torch_device = torch.device(device)
    if torch_device.type == "cuda" and not torch.cuda.is_available():
        raise NoCudaError(
            f"bench gpu measures a CUDA device and torch {torch.__version__} sees none here "
            "(torch.cuda.is_available() is False). Run it on a GPU node, e.g. "
            "`srun --gres=gpu:1 python -m dqn_atari.bench gpu`, or pass --device cpu to "
            "check the command on this machine."
        )
    out: dict[str, Any] = {**_device_description(torch_device),
                           "load_average_1min_before": load_average(),
                           "measured_on_gpu": torch_device.type == "cuda"}
    threads = (torch.get_num_threads(),)
    out["learner"] = bench_learner_figures(threads=threads, updates=updates, acts=acts,
                                           device=device, settings=settings)
    for k in packed:
        out.update(bench_packed_update(torch_device, k, updates=max(updates // 4, 1)))
    single = out["learner"].get(f"eager-fp32/update_ms_threads_{threads[0]}")
    for k in packed:
        if single:
            out[f"packed_{k}_gain_over_{k}_single_updates"] = round(
                k * single / out[f"packed_{k}_update_ms"], 3)
    out["load_average_1min_after"] = load_average()
    return out
