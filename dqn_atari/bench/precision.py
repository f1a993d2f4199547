"""The ``precision`` benchmark: how far a bf16 update is from the fp32 one, on real Atari batches.

``python -m dqn_atari.bench precision --game breakout --updates 200``:

1. plays ``--agent-steps`` agent steps of the game with uniformly random actions through the
   training pipeline (``make_env``, ``make_actor``, the replay), so the batches are the ones
   a run samples;
2. trains an fp32 agent for ``--updates`` updates on batches of 32 from that replay; before
   each update, a bf16 agent (``agent.precision=bf16``) is given the fp32 agent's exact
   parameters and computes its loss and gradients on the same batch;
3. reports, per update, the relative difference of the loss ``|L_bf16 - L_fp32| / |L_fp32|``
   and of the gradient ``||g_bf16 - g_fp32|| / ||g_fp32||`` (all parameters as one vector),
   and their cosine similarity, then the median, 90th percentile and maximum over updates.

``--csv PATH`` writes the per-update rows.
"""

from __future__ import annotations

import csv
import dataclasses
from typing import Any

import numpy as np
import torch

from dqn_atari.agent import DQNAgent
from dqn_atari.bench.measure import load_average


def _fill_replay(game: str, agent_steps: int, seed: int):
    """A replay of ``agent_steps`` transitions of ``game`` under random actions, and the cfg."""
    from dqn_atari.actor import make_actor
    from dqn_atari.compose import compose_config
    from dqn_atari.envs import make_env
    from dqn_atari.replay import make_replay

    cfg = compose_config(["experiment=nature", f"env.game={game}", f"seed={seed}",
                          f"replay.capacity={agent_steps}", "agent.device=cpu"])
    env = make_env(cfg.env, seed)
    replay = make_replay(cfg, seed)
    actor = make_actor(env, cfg.env, replay.head(0))
    rng = np.random.default_rng(seed)
    for _ in range(agent_steps):
        actor.step(int(rng.integers(env.num_actions)))
    return replay, env.num_actions, cfg


def _flat_grads(agent: DQNAgent) -> torch.Tensor:
    return torch.cat([p.grad.detach().flatten().float() for p in agent.online.parameters()])


def bench_precision(game: str = "breakout", updates: int = 200, agent_steps: int = 5_000,
                    seed: int = 0, csv_path: str | None = None) -> dict[str, Any]:
    """Per-update bf16-vs-fp32 relative differences of the loss and gradient; see module doc."""
    from dqn_atari.config import AgentConfig, OptimConfig

    before = load_average()
    replay, num_actions, cfg = _fill_replay(game, agent_steps, seed)
    agent_cfg = AgentConfig(**{k: v for k, v in dict(cfg.agent).items()
                               if k in {f.name for f in dataclasses.fields(AgentConfig)}})
    optim_cfg = OptimConfig(**dict(cfg.optim))
    fp32 = DQNAgent(num_actions, dataclasses.replace(agent_cfg, precision="fp32"), optim_cfg,
                    seed=seed)
    bf16 = DQNAgent(num_actions, dataclasses.replace(agent_cfg, precision="bf16"), optim_cfg,
                    seed=seed)
    rows = []
    for update in range(1, updates + 1):
        batch = replay.sample(agent_cfg.batch_size)
        bf16.load_state_dict(fp32.state_dict())
        grads: dict[str, torch.Tensor] = {}
        loss_bf16 = bf16.update(batch, before_apply=lambda g=grads: g.__setitem__(
            "bf16", _flat_grads(bf16)))["loss"]
        loss_fp32 = fp32.update(batch, before_apply=lambda g=grads: g.__setitem__(
            "fp32", _flat_grads(fp32)))["loss"]
        g32, g16 = grads["fp32"], grads["bf16"]
        rows.append({
            "update": update,
            "loss_fp32": float(loss_fp32),
            "loss_bf16": float(loss_bf16),
            "loss_relative_difference": float((loss_bf16 - loss_fp32).abs() / loss_fp32.abs()),
            "gradient_relative_difference": float((g16 - g32).norm() / g32.norm()),
            "gradient_cosine_similarity": float(torch.nn.functional.cosine_similarity(
                g16, g32, dim=0)),
        })
    if csv_path:
        with open(csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    out: dict[str, Any] = {
        "game": game, "updates": updates, "replay_agent_steps": agent_steps,
        "setting": ("nature preset, batch 32; replay filled by random play; the bf16 agent is "
                    "reset to the fp32 agent's parameters before each update"),
    }
    for key in ("loss_relative_difference", "gradient_relative_difference",
                "gradient_cosine_similarity"):
        values = np.array([r[key] for r in rows])
        out[f"{key}_median"] = round(float(np.median(values)), 5)
        out[f"{key}_p90"] = round(float(np.percentile(values, 90)), 5)
        out[f"{key}_max" if key != "gradient_cosine_similarity" else f"{key}_min"] = round(
            float(values.max() if key != "gradient_cosine_similarity" else values.min()), 5)
    out.update(load_average_1min_before=before, load_average_1min_after=load_average())
    return out
