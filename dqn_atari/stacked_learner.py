"""One learner for K seeds of one game: stacked parameters and ONE vmapped update of K batches.

K runs that differ only in their seed share every shape and every schedule, so their
networks can be stacked (``torch.func.stack_module_state``: each parameter gains a leading
axis of size K) and evaluated for K inputs in one call (``torch.func.vmap`` over
``functional_call`` of the same ``NatureQNetwork``; vmap turns the K convolutions into one
grouped convolution and the K matrix products into one batched one). What is per seed and
what is shared:

* per seed: the online and target parameters (slice k of each stacked tensor), the
  optimizer moments (slice k of each moment), the batch it learns from, its loss and its
  gradient-clipping coefficient;
* shared: the kernels that compute them, and the update count (K runs in lockstep make
  their updates at the same agent steps; loop.py's ``train_phase`` over K seeds).

Why each seed still learns as if alone:

* the loss of seed k depends only on slice k of the parameters, so the gradient of the SUM
  of the K losses with respect to slice k is the gradient of loss k alone;
* centered RMSProp (and Adam) are elementwise: the optimizer of optim.py stepping the
  stacked tensors does, element for element, what K optimizers would do. Their only
  non-elementwise state is Adam's step count, equal for all seeds in lockstep;
* gradient clipping (``optim.max_grad_norm``) needs the norm over ONE seed's gradients:
  it is computed per seed here, with ``torch.nn.utils.clip_grad_norm_``'s formula;
* the TD target and the loss are the pure functions of losses.py, called per seed under
  vmap exactly as ``DQNAgent.update`` calls them in fp32 eager mode.

The kernels differ (a grouped convolution sums in another order), so parameters agree
with single runs to fp32 rounding, not bit for bit (tests/test_packed.py measures it).

This is the K > 1 engine of the learner protocol (learner.py); ``make_learner`` builds it
for ``seeds=[...]``.

Acting draws every seed's exploration from that seed's own generator in the same order as
``DQNAgent.act`` (one ``rng.random()`` for one state, ``rng.random(n)`` for n), then
evaluates the greedy actions of all seeds in one vmapped forward pass.

Checkpoints stay per seed and in ``DQNAgent.state_dict``'s format (``seed_state_dict``),
so a seed trained packed can be resumed alone, and the other way round.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from dqn_atari.losses import q_learning_loss, td_target
from dqn_atari.optim import load_optimizer_state, make_optimizer
from dqn_atari.update_step import StagingBuffers

CLIP_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_: coef = max_norm / (total_norm + 1e-6)


class _ContiguousLayout(nn.Module):
    """``NatureQNetwork.q_values`` on NCHW input.

    Under vmap a tensor's memory format can be neither queried nor requested
    (``agent.channels_last`` has no meaning there; the batched convolution picks its layout).
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net.q_values(obs, channels_last=False)


def _stack(modules: list[nn.Module], requires_grad: bool) -> dict[str, torch.Tensor]:
    """The K modules' parameters stacked (K, ...), as leaves; names prefixed for ``_ContiguousLayout``."""
    params, buffers = stack_module_state(modules)
    if buffers:
        raise ValueError("packed seeds support networks without buffers (the Nature network)")
    return {f"net.{name}": p.detach().requires_grad_(requires_grad) for name, p in params.items()}


def _bind_views(module: nn.Module, stacked: dict[str, torch.Tensor], k: int) -> None:
    """Make ``module``'s parameters views of slice ``k`` of ``stacked`` (same storage).

    The module then always holds seed k's current parameters: it acts in that seed's
    evaluation phase, and tests read it, with no copy after each update.
    """
    for name, _ in list(module.named_parameters()):
        owner = module.get_submodule(name.rpartition(".")[0]) if "." in name else module
        leaf = name.rpartition(".")[2]
        view = stacked[f"net.{name}"].detach()[k]
        setattr(owner, leaf, nn.Parameter(view, requires_grad=False))


class StackedLearner:
    """Updates and acts for K lockstep seeds of one game (see the module docstring).

    Args:
      agents: the K seeds' ``DQNAgent``s, built exactly as K single runs build them (same
        seeded initialisation); their networks become views of the stacked parameters.
      optim_cfg: the optimizer config (one for all seeds).
    """

    def __init__(self, agents: list, optim_cfg) -> None:
        if not agents:
            raise ValueError("a stacked learner needs at least one seed")
        first = agents[0]
        self.agents = agents
        self.num_seeds = len(agents)  # K
        self.device = first.device
        self.num_actions = first.num_actions
        self.gamma = first.gamma
        self.double_dqn = first.double_dqn
        self.huber_delta = first.huber_delta
        self.max_grad_norm = optim_cfg.max_grad_norm
        self.optim_cfg = optim_cfg
        self._base = _ContiguousLayout(copy.deepcopy(first.online).to("meta"))

        self.online = _stack([a.online for a in agents], requires_grad=True)
        self.target = _stack([a.target for a in agents], requires_grad=False)
        for k, agent in enumerate(agents):
            _bind_views(agent.online, self.online, k)
            _bind_views(agent.target, self.target, k)
            agent.optimizer = None  # the stacked optimizer below steps every seed
        self.optimizer = make_optimizer(self.online.values(), optim_cfg)
        self.num_updates = first.num_updates  # updates of each seed (lockstep: all equal)
        self._staging = StagingBuffers(self.device)  # the K batches, stacked: (K, B, ...)
        self._seed_agents = [SeedSlice(self, k) for k in range(self.num_seeds)]

    # ----------------------------------------------------------------- networks
    def _q(self, params: dict[str, torch.Tensor], obs: torch.Tensor) -> torch.Tensor:
        """Q-values (K, B, A) of obs (K, B, C, H, W) under the K seeds' ``params``."""
        return vmap(lambda p, x: functional_call(self._base, p, (x,)))(params, obs)

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        """A small array (the states to act on) to the device, as DQNAgent does for acting."""
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    # ------------------------------------------------------------------- acting
    def act(self, states: np.ndarray, epsilons, rngs: list[np.random.Generator]) -> np.ndarray:
        """Epsilon-greedy actions (K, n) of states (K, n, C, H, W): seed k with ``rngs[k]``.

        State i of every seed at ``epsilons[i]``. Each seed draws from its own generator as
        ``InlineLearner.act`` would for its n states alone; the network runs once, for all
        seeds, when any state acts greedily.
        """
        states = np.asarray(states)
        k_seeds, n = states.shape[:2]
        if k_seeds != self.num_seeds or len(rngs) != self.num_seeds:
            raise ValueError(f"expected states and generators of {self.num_seeds} seeds, got "
                             f"{k_seeds} and {len(rngs)}")
        actions = np.zeros((k_seeds, n), dtype=np.int64)
        greedy = np.zeros((k_seeds, n), dtype=bool)
        eps = np.asarray(epsilons, dtype=np.float64)
        for k, rng in enumerate(rngs):
            if n == 1:  # DQNAgent.act's single-state path: one rng.random()
                if rng.random() < eps[0]:
                    actions[k, 0] = rng.integers(self.num_actions)
                else:
                    greedy[k, 0] = True
            else:
                explore = rng.random(n) < eps
                actions[k, explore] = rng.integers(self.num_actions, size=int(explore.sum()))
                greedy[k] = ~explore
        if greedy.any():
            with torch.no_grad():
                q = self._q(self.online, self._to_device(states))
                best = q.argmax(dim=2).cpu().numpy()
            actions[greedy] = best[greedy]
        return actions

    # ----------------------------------------------------------------- learning
    def update(self, batches: list) -> list[dict[str, torch.Tensor]]:
        """One gradient step of every seed, seed k on ``batches[k]`` (a ``ReplayBatch``).

        Returns one ``{"loss", "mean_q"}`` per seed, detached 0-dim device tensors, as
        ``DQNAgent.update`` returns.
        """
        if len(batches) != self.num_seeds:
            raise ValueError(f"expected {self.num_seeds} batches, got {len(batches)}")
        # One copy of the K batches into static (pinned on CUDA) staging tensors.
        frames, a_tm1, r_t, terminal_t = self._staging.stage(SimpleNamespace(
            frames=np.stack([b.frames for b in batches]),  # (K, B, C+1, H, W)
            actions=np.stack([b.actions for b in batches]),
            rewards=np.stack([b.rewards for b in batches]),
            terminals=np.stack([b.terminals for b in batches])))
        obs_tm1, obs_t = frames[:, :, :-1], frames[:, :, 1:]

        with torch.no_grad():
            discount_t = self.gamma * (1.0 - terminal_t)
            q_t_target = self._q(self.target, obs_t)
            q_t_online = self._q(self.online, obs_t) if self.double_dqn else None
            target_tm1 = vmap(td_target)(r_t, discount_t, q_t_target, q_t_online) \
                if q_t_online is not None else vmap(td_target)(r_t, discount_t, q_t_target)

        q_tm1 = self._q(self.online, obs_tm1)
        losses, _ = vmap(lambda q, a, t: q_learning_loss(q, a, t, self.huber_delta))(
            q_tm1, a_tm1, target_tm1)  # (K,)

        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()  # d(sum)/d(slice k) = d(loss k)/d(slice k)
        if self.max_grad_norm > 0:
            self._clip_per_seed()
        self.optimizer.step()
        self.num_updates += 1
        mean_q = q_tm1.detach().mean(dim=(1, 2))
        losses = losses.detach()
        return [{"loss": losses[k], "mean_q": mean_q[k]} for k in range(self.num_seeds)]

    # ------------------------------------------------- the learner protocol (learner.py)
    def submit(self, batches: list, tag: Any = None) -> list:
        """One update of every seed (``update``), done at once: ``[(tag, metrics per seed)]``."""
        return [(tag, self.update(batches))]

    def finish(self) -> list:
        """Nothing is ever in flight (updates are in-line)."""
        return []

    def close(self) -> list:
        return []

    @property
    def seed_agents(self) -> list[SeedSlice]:
        """Seed k's face, with what a seed's run asks of a ``DQNAgent`` (``SeedSlice``)."""
        return self._seed_agents

    def seed_learner_state(self, k: int) -> None:
        """The learner's own part of seed k's checkpoint: none (as the in-line learner)."""
        return

    def _clip_per_seed(self) -> None:
        """``clip_grad_norm_(seed k's parameters, max_grad_norm)`` for every k, no host sync."""
        grads = [p.grad for p in self.online.values() if p.grad is not None]
        per_tensor = torch.stack([g.reshape(self.num_seeds, -1).norm(dim=1) for g in grads], 1)
        total = per_tensor.norm(dim=1)  # (K,) the 2-norm over all of seed k's gradients
        coef = (self.max_grad_norm / (total + CLIP_EPS)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))

    def sync_target(self) -> list:
        """Hard copy of every seed's online parameters into its target network (nothing was
        in flight: returns ``[]``)."""
        with torch.no_grad():
            for name, p_target in self.target.items():
                p_target.copy_(self.online[name])
        return []

    # -------------------------------------------------------------- checkpoints
    def seed_state_dict(self, k: int) -> dict[str, Any]:
        """Seed ``k``'s state in ``DQNAgent.state_dict``'s format (copies, not views)."""
        def network(stacked):
            return {name.removeprefix("net."): p.detach()[k].clone()
                    for name, p in stacked.items()}

        optimizer = self.optimizer.state_dict()
        state = {}
        for index, moments in optimizer["state"].items():
            state[index] = {key: self._slice(value, k) for key, value in moments.items()}
        return {"online": network(self.online), "target": network(self.target),
                "optimizer": {"state": state, "param_groups": copy.deepcopy(
                    optimizer["param_groups"])},
                "num_updates": self.num_updates}

    def _slice(self, value: Any, k: int) -> Any:
        if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == self.num_seeds:
            return value[k].clone()
        return copy.deepcopy(value)  # shared (e.g. Adam's step count: equal in lockstep)

    def load_seed_states(self, agent_states: list[dict[str, Any]], learner_states: list) -> None:
        """Resume: load the K seeds' checkpointed agent states into the stacked learner.

        The seeds must have made the same number of updates (they run in lockstep). The
        learner has no state of its own (``learner_states``: K Nones).
        """
        del learner_states
        if len(agent_states) != self.num_seeds:
            raise ValueError(f"expected the states of {self.num_seeds} seeds, got "
                             f"{len(agent_states)}")
        states = agent_states
        updates = {int(s["num_updates"]) for s in states}
        if len(updates) != 1:
            raise ValueError(f"the seeds' checkpoints hold different update counts {updates}: "
                             "packed seeds must resume from the same agent step")
        with torch.no_grad():
            for stacked, key in ((self.online, "online"), (self.target, "target")):
                for name, p in stacked.items():
                    p.copy_(torch.stack([s[key][name.removeprefix("net.")] for s in states]))
        optimizer_states = [s["optimizer"] for s in states]
        stacked_state = {}
        for index, moments in optimizer_states[0]["state"].items():
            stacked_state[index] = {
                key: torch.stack([o["state"][index][key] for o in optimizer_states])
                if isinstance(value, torch.Tensor) and value.dim() > 0 else copy.deepcopy(value)
                for key, value in moments.items()}
        # In place where the layout matches; Adam's step count on the CPU (never captured),
        # whatever the checkpoints' capturable flag was.
        load_optimizer_state(self.optimizer, {"state": stacked_state,
                                              "param_groups": optimizer_states[0]["param_groups"]})
        # The hyper-parameters are the config's (as DQNAgent.load_state_dict: an allowed
        # change on resume takes effect).
        configured = make_optimizer(self.online.values(), self.optim_cfg).param_groups
        for group, wanted in zip(self.optimizer.param_groups, configured, strict=True):
            group.update({k: v for k, v in wanted.items() if k != "params"})
        self.num_updates = updates.pop()


class SeedSlice:
    """Seed ``k``'s face of a ``StackedLearner``, with what a seed's run asks of a ``DQNAgent``.

    Acting (the evaluation phases) uses the seed's own networks, which are views of the
    stacked parameters; checkpoints read the seed's slice (``load_seed_states`` writes all
    slices at once). Updates and target copies are the stacked learner's, for all seeds.
    """

    def __init__(self, stacked: StackedLearner, k: int) -> None:
        self._stacked = stacked
        self._agent = stacked.agents[k]
        self.index = k
        self.online = self._agent.online
        self.target = self._agent.target
        self.device = stacked.device
        self.num_actions = stacked.num_actions

    @property
    def num_updates(self) -> int:
        return self._stacked.num_updates

    def act(self, obs, epsilon, rng, network=None):
        return self._agent.act(obs, epsilon, rng, network=network)

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        return self._agent.q_values(obs)

    def state_dict(self) -> dict[str, Any]:
        return self._stacked.seed_state_dict(self.index)

