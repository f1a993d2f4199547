"""The DQN target and loss, as pure functions of tensors (rlax style).

Names carry their time index, for a transition (s_tm1, a_tm1, r_t, discount_t, s_t):
  * ``q_tm1``      (B, A) online Q-values of s_tm1,
  * ``a_tm1``      (B,)   int64 actions taken in s_tm1,
  * ``r_t``        (B,)   (clipped) rewards of those actions,
  * ``discount_t`` (B,)   gamma * (1 - terminal_t): 0 after a learning terminal,
  * ``q_t_target`` (B, A) target-network Q-values of s_t,
  * ``q_t_online`` (B, A) online Q-values of s_t (Double DQN's action selection).

Nothing here reads or changes an agent: ``DQNAgent.update`` calls these.

The Nature paper "clips the error term" to [-1, 1]. That is the gradient of the
Huber loss with delta 1, which is what we minimise. DQN Zoo writes it as
``0.5 * rlax.clip_gradient(td, -1, 1) ** 2``; its loss *value* differs from the
Huber value for |td| > 1, but the gradients are identical. Dopamine uses
``huber_loss`` (delta 1) like us.
"""

from __future__ import annotations

import torch


def td_target(
    r_t: torch.Tensor,
    discount_t: torch.Tensor,
    q_t_target: torch.Tensor,
    q_t_online: torch.Tensor | None = None,
) -> torch.Tensor:
    """One-step Q-learning target, (B,).

    DQN (Mnih et al. 2015):          r_t + discount_t * max_a q_t_target[a]
    Double DQN (van Hasselt et al.): r_t + discount_t * q_t_target[argmax_a q_t_online[a]]

    ``discount_t`` already includes gamma and the terminal mask. The result is not
    detached; ``q_learning_loss`` stops its gradient.
    """
    if q_t_online is None:
        v_t = q_t_target.max(dim=1).values
    else:
        a_t = q_t_online.argmax(dim=1, keepdim=True)
        v_t = q_t_target.gather(1, a_t).squeeze(1)
    return r_t + discount_t * v_t


def huber(x: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    """Elementwise Huber function: 0.5 x^2 for |x| <= delta, delta (|x| - delta / 2) beyond.

    Its derivative is x clipped to [-delta, delta].
    """
    abs_x = x.abs()
    quadratic = abs_x.clamp(max=delta)
    linear = abs_x - quadratic
    return 0.5 * quadratic.square() + delta * linear


def q_learning_loss(
    q_tm1: torch.Tensor,
    a_tm1: torch.Tensor,
    target: torch.Tensor,
    huber_delta: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean Huber loss of the TD errors over the batch.

    Args:
      q_tm1: (B, A) online Q-values of s_tm1 (gradients flow through these).
      a_tm1: (B,) int64 actions taken.
      target: (B,) TD targets (from ``td_target``); their gradient is stopped.
      huber_delta: the TD error beyond which the loss is linear (the paper's 1).

    Returns:
      (loss, td_error): the scalar mean over the batch of huber(td_error), and the
      (B,) td_error = target - q_tm1[a_tm1].
    """
    qa_tm1 = q_tm1.gather(1, a_tm1.long().unsqueeze(1)).squeeze(1)
    td_error = target.detach() - qa_tm1
    loss = huber(td_error, huber_delta).mean()
    return loss, td_error
