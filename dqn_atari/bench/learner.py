"""Learner speed: time of one update (batch of 32 transitions) and of acting on one state.

The ``learner`` benchmark: ``python -m dqn_atari.bench learner`` reports
``bench_learner_figures``; ``python -m dqn_atari.bench.learner`` runs ``bench_learner`` alone
and prints the figures. It uses random uint8 frames (speed does not depend on pixel content) and
restores torch's thread count when done.

A learner *setting* names how the update runs, ``<mode>-<precision>``: mode ``eager``,
``compile`` (``agent.compile``) or ``graph`` (``agent.cuda_graph``, CUDA only), precision
``fp32``, ``tf32`` (CUDA only) or ``bf16`` (``agent.precision``). ``eager-fp32`` is the
baseline every speed-up is measured against, in the same run.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from typing import Any, NamedTuple

import numpy as np
import torch

from dqn_atari.agent import DQNAgent
from dqn_atari.bench.measure import load_average
from dqn_atari.config import AgentConfig, OptimConfig


class RandomBatch(NamedTuple):
    frames: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminals: np.ndarray
    indices: np.ndarray


def random_batch(rng: np.random.Generator, batch_size: int, num_actions: int) -> RandomBatch:
    return RandomBatch(
        frames=rng.integers(0, 256, (batch_size, 5, 84, 84), dtype=np.uint8),
        actions=rng.integers(0, num_actions, batch_size).astype(np.int64),
        rewards=rng.choice([-1.0, 0.0, 1.0], batch_size).astype(np.float32),
        terminals=(rng.random(batch_size) < 0.01).astype(np.float32),
        indices=np.arange(batch_size, dtype=np.int64),
    )


LEARNER_MODES = {"eager": {}, "compile": {"compile": True}, "graph": {"cuda_graph": True}}
BASELINE_SETTING = "eager-fp32"


def parse_learner_setting(setting: str) -> dict[str, Any]:
    """``"compile-bf16"`` -> the AgentConfig fields it sets; a clear error for a bad name."""
    mode, _, precision = setting.partition("-")
    if mode not in LEARNER_MODES or precision not in ("fp32", "tf32", "bf16"):
        raise ValueError(
            f"learner setting {setting!r} is not <mode>-<precision> with mode one of "
            f"{', '.join(LEARNER_MODES)} and precision one of fp32, tf32, bf16 "
            "(e.g. eager-fp32, compile-bf16, graph-tf32)"
        )
    return {"precision": precision, **LEARNER_MODES[mode]}


def setting_available(setting: str, device: torch.device) -> str | None:
    """None if ``setting`` runs on ``device``, else the reason it does not."""
    fields = parse_learner_setting(setting)
    if device.type != "cuda" and (fields.get("cuda_graph") or fields["precision"] == "tf32"):
        return "CUDA only"
    return None


def learner_overrides(setting: str) -> list[str]:
    """The Hydra overrides of a learner setting (for a training run)."""
    fields = parse_learner_setting(setting)
    return [f"agent.precision={fields['precision']}",
            f"agent.compile={str(fields.get('compile', False)).lower()}",
            f"agent.cuda_graph={str(fields.get('cuda_graph', False)).lower()}"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_learner(
    num_actions: int = 6,
    batch_size: int = 32,
    threads: tuple[int, ...] = (1, 2),
    updates: int = 40,
    acts: int = 200,
    warmup: int = 5,
    device: str = "cpu",
    agent_cfg: AgentConfig | None = None,
    optim_cfg: OptimConfig | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Time ``DQNAgent.update`` and greedy ``DQNAgent.act`` for each torch thread count.

    Args:
      num_actions: Q-network outputs (6 = Pong's minimal action set).
      batch_size: transitions per update (32 in Nature).
      threads: torch intra-op thread counts to try, one after the other.
      updates: timed updates per thread count (after ``warmup`` untimed ones).
      acts: timed greedy single-state ``act`` calls per thread count.
      device: torch device spec for the agent ("cpu", "cuda", "auto").
      agent_cfg, optim_cfg: the learner settings (Nature defaults when None);
        ``agent_cfg.device`` is replaced by ``device``.

    Returns:
      {"device", "num_actions", "batch_size", "num_parameters", and per thread count
      n: "update_ms_threads_<n>" (mean wall time of one update, milliseconds),
      "updates_per_s_threads_<n>", "act_ms_threads_<n>" (median of one greedy act
      on one state, milliseconds)}.
    """
    agent_cfg = dataclasses.replace(agent_cfg or AgentConfig(), device=device)
    optim_cfg = optim_cfg or OptimConfig()
    agent = DQNAgent(num_actions, agent_cfg, optim_cfg, seed=seed)
    rng = np.random.default_rng(seed)
    batches = [random_batch(rng, batch_size, num_actions) for _ in range(4)]
    state = rng.integers(0, 256, (4, 84, 84), dtype=np.uint8)

    result: dict[str, Any] = {
        "device": str(agent.device),
        "num_actions": num_actions,
        "batch_size": batch_size,
        "num_parameters": sum(p.numel() for p in agent.online.parameters()),
    }
    threads_before = torch.get_num_threads()
    try:
        for n in threads:
            torch.set_num_threads(n)
            for i in range(warmup):
                agent.update(batches[i % len(batches)])
            _sync(agent.device)
            start = time.perf_counter()
            for i in range(updates):
                metrics = agent.update(batches[i % len(batches)])
            _sync(agent.device)
            update_s = (time.perf_counter() - start) / updates
            if not torch.isfinite(metrics["loss"]):
                raise RuntimeError("non-finite loss in the learner benchmark")

            for _ in range(warmup):
                agent.act(state, 0.0, rng)
            act_s = []
            for _ in range(acts):
                start = time.perf_counter()
                agent.act(state, 0.0, rng)  # greedy: always evaluates the network
                act_s.append(time.perf_counter() - start)

            result[f"update_ms_threads_{n}"] = 1e3 * update_s
            result[f"updates_per_s_threads_{n}"] = 1.0 / update_s
            result[f"act_ms_threads_{n}"] = 1e3 * statistics.median(act_s)
    finally:
        torch.set_num_threads(threads_before)
    return result


def bench_learner_figures(threads: tuple[int, ...] = (1, 2), updates: int = 40,
                          acts: int = 200, device: str = "cpu", channels_last: bool = True,
                          settings: tuple[str, ...] = (BASELINE_SETTING,),
                          conv_padding: str = "valid", init: str = "fan_in_uniform",
                          num_actions: int = 6) -> dict[str, Any]:
    """``bench_learner`` as ``python -m dqn_atari.bench learner`` reports it (rounded, loads).

    ``conv_padding`` and ``init`` are ``agent.conv_padding`` and ``agent.init`` (``same`` and
    ``glorot_uniform_zero_bias``: Dopamine's network); ``num_actions`` the Q-network's outputs.

    One ``bench_learner`` per learner setting; the first setting's figures are also given
    without a prefix (as before settings existed), the others as ``<setting>/<key>``, with
    ``<setting>/speedup_threads_<n>`` against the first. A setting the device cannot run is
    listed under ``"skipped"`` with the reason.
    """
    before = load_average()
    for setting in settings:
        parse_learner_setting(setting)  # every name checked before anything is measured
    torch_device = torch.device(device if device != "auto" else
                                ("cuda" if torch.cuda.is_available() else "cpu"))
    out: dict[str, Any] = {"settings": list(settings), "skipped": {}}
    first: dict[str, Any] | None = None
    for setting in settings:
        reason = setting_available(setting, torch_device)
        if reason is not None:
            out["skipped"][setting] = reason
            continue
        figures = bench_learner(num_actions=num_actions, threads=tuple(threads),
                                updates=updates, acts=acts, device=device,
                                agent_cfg=AgentConfig(channels_last=channels_last,
                                                      conv_padding=conv_padding, init=init,
                                                      **parse_learner_setting(setting)))
        if first is None:
            first = figures
            out.update(figures)
            out["first_setting"] = setting
        for key, value in figures.items():
            if key.startswith(("update_ms_", "updates_per_s_", "act_ms_")):
                out[f"{setting}/{key}"] = value
        for n in threads:
            out[f"{setting}/speedup_threads_{n}"] = (first[f"update_ms_threads_{n}"]
                                                     / figures[f"update_ms_threads_{n}"])
    out.update(channels_last=channels_last, conv_padding=conv_padding, init=init)
    out = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}
    out.update(cpu_count=os.cpu_count(), load_average_1min_before=before,
               load_average_1min_after=load_average())
    return out


if __name__ == "__main__":
    for key, value in bench_learner().items():
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
