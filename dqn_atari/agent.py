"""The DQN agent: online and target networks, epsilon-greedy acting, updates.

``DQNAgent`` owns the two ``NatureQNetwork``s (online, target), the optimizer
and the update counter. It does not own any schedule or random state of the
run: the caller passes epsilon and a ``numpy.random.Generator`` to ``act`` (so
the runner checkpoints them), and decides when to ``update`` and
``sync_target`` (every 4 and 10,000 agent steps in Nature).

``update`` never reads a value back to the host: it returns detached device
tensors, so a CUDA learner runs ahead of the Python loop. The caller sums them
and reads the sums at log time; a NaN or inf loss makes that sum non-finite,
so ``torch.isfinite(loss_sum)`` at log time detects divergence with one
synchronisation per log instead of one per update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch

from dqn_atari.config import AgentConfig, OptimConfig
from dqn_atari.cuda_device import on_device
from dqn_atari.networks import NatureQNetwork, select_device
from dqn_atari.optim import load_optimizer_state, make_optimizer
from dqn_atari.update_step import (
    GraphStandIn,
    StagingBuffers,
    UpdateStep,
    check_precision,
    set_tf32_policy,
    update_mode,
)


class TransitionBatch(Protocol):
    """What ``update`` reads from a ``ReplayBatch`` (see docs/CONTRACTS.md)."""

    frames: np.ndarray  # (B, stack_frames + 1, 84, 84) uint8; obs = [:, :-1], next = [:, 1:]
    actions: np.ndarray  # (B,) int64
    rewards: np.ndarray  # (B,) float32, clipped
    terminals: np.ndarray  # (B,) float32, 1.0 = discount 0 after this transition


TARGET_INITS = ("copy", "independent")  # agent.target_init: Nature, DQN Zoo | Dopamine


def check_target_init(target_init: str) -> None:
    """Refuse an unknown ``agent.target_init``, naming the valid values."""
    if target_init not in TARGET_INITS:
        raise ValueError(f"agent.target_init={target_init!r}: use copy (Nature, DQN Zoo) or "
                         "independent (Dopamine)")


class DQNAgent:
    """Nature DQN (optionally Double DQN, dueling head) on one torch device.

    Args:
      num_actions: size of the (minimal) action set.
      agent_cfg: gamma, double_dqn, dueling, conv_padding, init, target_init, huber_delta,
        device, precision, compile, cuda_graph, channels_last.
      optim_cfg: the optimizer (see ``make_optimizer``).
      stack_frames: frames per agent state.
      seed: seeds the network initialisation only (the global torch RNG is left as it was).
    """

    def __init__(
        self,
        num_actions: int,
        agent_cfg: AgentConfig,
        optim_cfg: OptimConfig,
        stack_frames: int = 4,
        seed: int = 0,
    ) -> None:
        self.num_actions = num_actions
        self.stack_frames = stack_frames
        self.gamma = agent_cfg.gamma
        self.double_dqn = agent_cfg.double_dqn
        self.huber_delta = agent_cfg.huber_delta
        self.max_grad_norm = optim_cfg.max_grad_norm
        self.device = select_device(agent_cfg.device)

        # Networks are built on the CPU from a seeded CPU generator; fork_rng restores
        # the global CPU RNG afterwards (CUDA generators are never touched).
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(seed)
            switches = {"dueling": agent_cfg.dueling, "conv_padding": agent_cfg.conv_padding,
                        "init": agent_cfg.init}
            online = NatureQNetwork(num_actions, stack_frames, **switches)
            # drawn after the online network: an independent draw until the first copy
            target = NatureQNetwork(num_actions, stack_frames, **switches)
        # channels_last (NHWC): the same fp32 arithmetic in another memory layout; an update
        # took 46 instead of 58 ms with 1 thread on this AVX-512 CPU
        # (`python -m dqn_atari.bench learner --threads 1 [--nchw]`; README, Performance).
        memory_format = torch.channels_last if agent_cfg.channels_last else torch.contiguous_format
        self.online = online.to(self.device, memory_format=memory_format)
        self.target = target.to(self.device, memory_format=memory_format).requires_grad_(False)
        check_target_init(agent_cfg.target_init)
        if agent_cfg.target_init == "copy":  # "independent" (Dopamine): keep the target's own draw
            self.sync_target()

        check_precision(agent_cfg.precision, self.device)
        set_tf32_policy(agent_cfg.precision, self.device)
        self.precision = agent_cfg.precision
        self.update_mode = update_mode(agent_cfg.compile, agent_cfg.cuda_graph, self.device)
        self.optim_cfg = optim_cfg
        self.optimizer = make_optimizer(self.online.parameters(), optim_cfg,
                                        capturable=self.update_mode == "cuda_graph")
        # The update (update_step.py): the batch is staged into static tensors, then the
        # gradient step runs eager, compiled as a whole, or replayed as CUDA graphs. act()
        # always runs the eager module (batch sizes 1 and N would each cost a recompilation,
        # for a 0.5 ms forward pass). Its streams are made with the agent's device current
        # (agent.device=cuda:N; a no-op on the CPU).
        with on_device(self.device):
            self._step = self._update_step(self.update_mode)
        self.num_updates = 0  # updates (gradient steps) done

    def _update_step(self, mode: str, graphs: GraphStandIn | None = None) -> UpdateStep:
        return UpdateStep(
            self.online, self.target, self.optimizer, gamma=self.gamma,
            double_dqn=self.double_dqn, huber_delta=self.huber_delta,
            max_grad_norm=self.max_grad_norm, precision=self.precision, mode=mode,
            staging=StagingBuffers(self.device), graphs=graphs,
        )

    def use_graph_stand_in(self, stand_in: GraphStandIn) -> None:
        """Run mode ``cuda_graph``'s control flow on the CPU, with ``stand_in`` for CUDA
        graphs (update_step.py): for the tests and ``bench gpu --check`` on a machine without
        CUDA. Call before the first update; the numerics stay eager's, the optimizer is not
        made ``capturable`` (a CPU has nothing to capture)."""
        if self.device.type != "cpu" or self.update_mode != "eager" or self.num_updates:
            raise ValueError("the graph stand-in replaces a fresh eager CPU agent's update "
                             f"(device {self.device}, mode {self.update_mode}, "
                             f"{self.num_updates} updates done)")
        self._step = self._update_step("cuda_graph", graphs=stand_in)

    @property
    def captures_next_update(self) -> bool:
        """Whether the next ``update`` records the CUDA graphs (``UpdateStep.captures_next``)."""
        return self._step.captures_next

    # ------------------------------------------------------------------ acting
    def act(self, obs: np.ndarray, epsilon, rng: np.random.Generator,
            network: torch.nn.Module | None = None) -> int | np.ndarray:
        """Epsilon-greedy action(s).

        Args:
          obs: uint8 state (stack_frames, 84, 84), or a batch (N, stack_frames, 84, 84).
          epsilon: probability of a uniformly random action (one per state for a batch,
            or one for all).
          rng: the caller's generator; each call draws ``rng.random()`` (N values for
            a batch) and, where it explores, ``rng.integers(num_actions)``.
          network: the Q-network to act with (default: the online one); the threaded
            learner passes its acting copy (learner.py).

        Returns:
          an int for one state; an int64 array (N,) for a batch. The network is only
          evaluated when some state acts greedily.
        """
        obs = np.asarray(obs)
        if obs.ndim == 3:
            if rng.random() < epsilon:
                return int(rng.integers(self.num_actions))
            return int(self._greedy(obs[None], network)[0])
        if obs.ndim != 4:
            raise ValueError(f"obs must be (C, H, W) or (N, C, H, W), got shape {obs.shape}")
        n = obs.shape[0]
        explore = rng.random(n) < epsilon
        actions = np.empty(n, dtype=np.int64)
        actions[explore] = rng.integers(self.num_actions, size=int(explore.sum()))
        if not explore.all():
            actions[~explore] = self._greedy(obs[~explore], network)
        return actions

    def _greedy(self, obs: np.ndarray, network: torch.nn.Module | None = None) -> np.ndarray:
        """argmax_a Q(obs, a) for a uint8 batch (N, C, H, W); ties go to the lowest action."""
        network = self.online if network is None else network
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(obs)).to(self.device)
            return network(x).argmax(dim=1).cpu().numpy()

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Online Q-values (N, num_actions) of a uint8 batch, as float32 numpy (for diagnostics)."""
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(obs)).to(self.device)
            return self.online(x).float().cpu().numpy()

    # ---------------------------------------------------------------- learning
    def update(self, batch: TransitionBatch,
               before_apply: Callable[[], None] | None = None) -> dict[str, torch.Tensor]:
        """One gradient step on a replay batch; returns detached device scalars.

        Args:
          batch: transitions (frames, actions, rewards, terminals), as ``TransitionBatch``.
          before_apply: called after the gradients are computed and before the parameters
            change (the threaded learner's barrier; learner.py).

        Returns:
          {"loss": mean Huber loss of the batch, "mean_q": mean of q_tm1 over batch
          and actions}. Both are 0-dim fp32 tensors on the agent's device, detached; no
          ``.item()`` here (see the module docstring for the finiteness check).
        """
        loss, mean_q = self._step(batch, before_apply)
        self.num_updates += 1
        return {"loss": loss, "mean_q": mean_q}

    def sync_target(self) -> None:
        """Hard copy of the online parameters into the target network."""
        with torch.no_grad():
            for p_target, p_online in zip(self.target.parameters(), self.online.parameters()):
                p_target.copy_(p_online)

    # ------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Online and target networks, optimizer state and the update count (updates)."""
        return {
            "online": self.online.state_dict(),
            "target": self.target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "num_updates": self.num_updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (tensors may come from another device).

        The optimizer state is copied into the existing state tensors when their layout
        matches (``load_optimizer_state``), so CUDA graphs already recorded keep updating the
        tensors that are checkpointed; when tensors had to be replaced, the graphs are
        dropped and recorded again. Adam's step count is placed for this agent's
        ``agent.cuda_graph``, whatever the checkpoint's was.
        """
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        capturable = self.update_mode == "cuda_graph"
        if not load_optimizer_state(self.optimizer, state["optimizer"], capturable=capturable):
            self._step.drop_graphs()
        # The hyper-parameters are this agent's config, not the checkpoint's: identical on a
        # plain resume, and a change allowed on resume (allow_config_change) takes effect.
        configured = make_optimizer(self.online.parameters(), self.optim_cfg,
                                    capturable=capturable).param_groups
        for group, wanted in zip(self.optimizer.param_groups, configured, strict=True):
            group.update({k: v for k, v in wanted.items() if k != "params"})
        self.num_updates = int(state["num_updates"])
