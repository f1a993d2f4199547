"""DeepMind's centered RMSProp (epsilon inside the square root), the optimizer factory and
loading an optimizer's state into its existing tensors (``load_optimizer_state``).

The Nature DQN optimizer, as DQN Zoo (``optax.rmsprop(centered=True)``) and
Dopamine (TF ``RMSPropOptimizer(centered=True, momentum=0)``) implement it, per
parameter element with gradient g:

    ms    = decay * ms + (1 - decay) * g^2      # mean square
    mg    = decay * mg + (1 - decay) * g        # mean gradient
    param = param - lr * g / sqrt(ms - mg^2 + eps)

Nature values: lr 2.5e-4, decay 0.95, eps 0.01 / 32^2 (the paper's "min squared
gradient" 0.01, divided by 32^2 because DQN Zoo averages the loss over the batch
of 32 where DeepMind's Lua code summed it). No momentum.

``torch.optim.RMSprop(centered=True)`` is NOT this: it computes
``g / (sqrt(ms - mg^2) + eps)``, epsilon OUTSIDE the square root. With
eps = 9.8e-6 that is a much smaller floor (sqrt(9.8e-6) = 3.1e-3 inside versus
9.8e-6 outside), i.e. much larger steps for parameters with small gradient
variance. tests/test_optim.py shows the two disagree on a worked example.

Initial state: ``mg`` starts at 0 and ``ms`` at ``initial_mean_square`` (default 0).
optax's ``scale_by_stddev`` (used by ``optax.rmsprop(centered=True)``, hence DQN
Zoo) starts both moments at 0 (``initial_scale=0.0``). TF1's ``RMSPropOptimizer``
(Dopamine's TF agents) starts ``ms`` at 1.0 and ``mg`` at 0: pass
``initial_mean_square=1.0`` for that. No bias correction in either.

The step uses ``torch._foreach_*`` kernels over the (10) parameter tensors and
never reads a value back to the host, so it does not synchronise with the device.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import torch

from dqn_atari.config import NATURE_RMSPROP_EPS, OptimConfig

OPTIMIZER_NAMES = ("rmsprop_centered", "adam")


class CenteredRMSprop(torch.optim.Optimizer):
    """Centered RMSProp with epsilon inside the square root, no momentum (DeepMind/optax/TF).

    Args:
      params: parameters (or parameter groups) to optimise.
      lr: learning rate.
      decay: decay of both moving averages (the paper's "gradient momentum" and
        "squared gradient momentum", both 0.95).
      eps: added to the centered second moment INSIDE the square root.
      initial_mean_square: initial value of ``ms`` (0: optax / DQN Zoo; 1: TF1).
      foreach: use the multi-tensor ``torch._foreach_*`` kernels (else a loop).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 2.5e-4,
        decay: float = 0.95,
        eps: float = NATURE_RMSPROP_EPS,
        initial_mean_square: float = 0.0,
        foreach: bool = True,
    ) -> None:
        if lr < 0.0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        if eps < 0.0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        defaults = {
            "lr": lr,
            "decay": decay,
            "eps": eps,
            "initial_mean_square": initial_mean_square,
            "foreach": foreach,
        }
        super().__init__(params, defaults)

    def _moments(self, group: dict[str, Any]):
        """Parameters with a gradient, their gradients and (lazily created) moments."""
        params, grads, ms, mg = [], [], [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("CenteredRMSprop does not support sparse gradients")
            state = self.state[p]
            if not state:
                state["ms"] = torch.full_like(
                    p, group["initial_mean_square"], memory_format=torch.preserve_format
                )
                state["mg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            params.append(p)
            grads.append(p.grad)
            ms.append(state["ms"])
            mg.append(state["mg"])
        return params, grads, ms, mg

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, ms, mg = self._moments(group)
            if not params:
                continue
            lr, decay, eps = group["lr"], group["decay"], group["eps"]
            if group["foreach"]:
                # ms = decay * ms + (1 - decay) * g^2
                torch._foreach_mul_(ms, decay)
                torch._foreach_addcmul_(ms, grads, grads, value=1.0 - decay)
                # mg = decay * mg + (1 - decay) * g  (= mg + (1 - decay) * (g - mg))
                torch._foreach_lerp_(mg, grads, 1.0 - decay)
                # denom = sqrt(ms - mg^2 + eps)
                denom = torch._foreach_addcmul(ms, mg, mg, value=-1.0)
                torch._foreach_add_(denom, eps)
                torch._foreach_sqrt_(denom)
                # param -= lr * g / denom
                torch._foreach_addcdiv_(params, grads, denom, value=-lr)
            else:
                for p, g, ms_p, mg_p in zip(params, grads, ms, mg):
                    ms_p.mul_(decay).addcmul_(g, g, value=1.0 - decay)
                    mg_p.lerp_(g, 1.0 - decay)
                    denom = ms_p.addcmul(mg_p, mg_p, value=-1.0).add_(eps).sqrt_()
                    p.addcdiv_(g, denom, value=-lr)
        return loss


def check_initial_mean_square(optim_cfg: OptimConfig) -> None:
    """Refuse ``optim.initial_mean_square`` where it has no meaning (Adam) or is negative."""
    value = optim_cfg.initial_mean_square
    if value < 0:
        raise ValueError(f"optim.initial_mean_square={value}: a mean square cannot be negative "
                         "(0: optax, DQN Zoo; 1: TF1, Dopamine)")
    if value != 0 and optim_cfg.name != "rmsprop_centered":
        raise ValueError(f"optim.initial_mean_square={value} with optim.name={optim_cfg.name}: "
                         "only rmsprop_centered has a mean square to start; set "
                         "optim.initial_mean_square=0")


def make_optimizer(params: Iterable[torch.Tensor], optim_cfg: OptimConfig,
                   capturable: bool = False) -> torch.optim.Optimizer:
    """The optimizer named by ``optim_cfg.name``; both step with multi-tensor (foreach) kernels.

    * "rmsprop_centered": ``CenteredRMSprop(lr, decay, eps, initial_mean_square)`` -- Nature
      DQN (``initial_mean_square`` 0; TF1 and Dopamine: 1). Its step is graph-safe as it is
      (no host reads, constant hyper-parameters).
    * "adam": ``torch.optim.Adam(lr, eps=optim_cfg.eps, foreach=True)`` -- NOT the Nature
      setting (Rainbow/Dopamine-JAX style); ``decay`` is unused and ``initial_mean_square``
      must be 0. ``capturable=True`` keeps its step count on the device, as a CUDA graph
      capture requires.
    """
    check_initial_mean_square(optim_cfg)
    if optim_cfg.name == "rmsprop_centered":
        return CenteredRMSprop(params, lr=optim_cfg.lr, decay=optim_cfg.decay, eps=optim_cfg.eps,
                               initial_mean_square=optim_cfg.initial_mean_square)
    if optim_cfg.name == "adam":
        return torch.optim.Adam(params, lr=optim_cfg.lr, eps=optim_cfg.eps, foreach=True,
                                capturable=capturable)
    raise ValueError(
        f"unknown optimizer optim.name={optim_cfg.name!r}; valid names: {', '.join(OPTIMIZER_NAMES)}"
    )


def _same_layout(optimizer: torch.optim.Optimizer, saved: dict[str, Any]) -> bool:
    """Whether ``optimizer`` already holds state of the same parameters, keys and shapes."""
    groups = saved["param_groups"]
    if [len(g["params"]) for g in groups] != [len(g["params"]) for g in optimizer.param_groups]:
        return False
    params = [p for group in optimizer.param_groups for p in group["params"]]
    current = {i: optimizer.state[p] for i, p in enumerate(params) if optimizer.state.get(p)}
    state = {int(i): moments for i, moments in saved["state"].items()}
    if current.keys() != state.keys():
        return False
    for i, moments in state.items():
        if moments.keys() != current[i].keys():
            return False
        for key, value in moments.items():
            now = current[i][key]
            if isinstance(value, torch.Tensor) != isinstance(now, torch.Tensor) or (
                    isinstance(value, torch.Tensor) and value.shape != now.shape):
                return False
    return True


def place_step_counts(optimizer: torch.optim.Optimizer, capturable: bool) -> bool:
    """Put Adam's per-parameter ``step`` where ``capturable`` needs it; set the groups' flag.

    ``capturable=True`` (a CUDA graph capture): a float32 tensor on the parameter's device;
    otherwise a CPU tensor, which Adam reads without a host sync. ``Optimizer.load_state_dict``
    places it by the checkpoint's own ``capturable`` flag, and a resume may switch
    ``agent.cuda_graph`` or ``agent.device``. Optimizers without ``capturable`` (centered
    RMSProp) are left alone. Returns True when a ``step`` tensor was replaced.
    """
    moved = False
    for group in optimizer.param_groups:
        if "capturable" not in group:
            continue
        group["capturable"] = capturable
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            step = state.get("step")
            if not isinstance(step, torch.Tensor):
                continue
            device = p.device if capturable else torch.device("cpu")
            if step.device != device:
                state["step"] = step.to(device=device,
                                        dtype=torch.float32 if capturable else step.dtype)
                moved = True
    return moved


def load_optimizer_state(optimizer: torch.optim.Optimizer, saved: dict[str, Any], *,
                         capturable: bool = False) -> bool:
    """Load ``saved`` (an optimizer ``state_dict``) into ``optimizer``, keeping its tensors.

    Where ``optimizer`` already holds state of the same parameters, keys and shapes, every
    saved tensor is copied INTO the existing one and the groups' hyper-parameters are taken
    from ``saved``, as ``Optimizer.load_state_dict`` takes them: the state tensors keep their
    storage, so a CUDA graph recorded on them (update_step.py) goes on updating the tensors
    that are checkpointed. Otherwise ``Optimizer.load_state_dict`` replaces them, given a
    copy (it aliases tensors already on the right device) whose ``capturable`` flag is
    ``capturable``, so torch puts Adam's ``step`` where this optimizer needs it. Then
    ``place_step_counts`` (a ``step`` the copy had elsewhere, a state loaded in place).

    Returns True when every state tensor was kept, False when some were replaced (a recorded
    graph would update the old ones: record it again).
    """
    if _same_layout(optimizer, saved):
        params = [p for group in optimizer.param_groups for p in group["params"]]
        with torch.no_grad():
            for i, moments in saved["state"].items():
                current = optimizer.state[params[int(i)]]
                for key, value in moments.items():
                    if isinstance(value, torch.Tensor):
                        current[key].copy_(value)
                    else:
                        current[key] = copy.deepcopy(value)
        for group, wanted in zip(optimizer.param_groups, saved["param_groups"], strict=True):
            group.update({k: copy.deepcopy(v) for k, v in wanted.items() if k != "params"})
        kept = True
    else:
        saved = copy.deepcopy(saved)
        for group in saved["param_groups"]:  # torch places ``step`` by this flag
            if "capturable" in group:
                group["capturable"] = capturable
        optimizer.load_state_dict(saved)
        kept = False
    return not place_step_counts(optimizer, capturable) and kept
