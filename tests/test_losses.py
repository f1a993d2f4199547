"""Tests of dqn_atari/losses.py against a batch worked out by hand.

The batch: 3 transitions, 3 actions, gamma = 0.99.

  i | r_t | terminal | discount_t | q_t_target      | max | target_tm1             | q_tm1            | a | td    | huber(td)
  0 |  1  |    0     |   0.99     | [ 1,  2,  0.5]  |  2  | 1 + 0.99*2  =  2.98    | [2.5, 0, 0]      | 0 |  0.48 | 0.5*0.48^2 = 0.1152
  1 |  0  |    1     |   0        | [ 5,  6,  7  ]  |  7  | 0 + 0*7     =  0       | [0, 0.25, 0]     | 1 | -0.25 | 0.5*0.25^2 = 0.03125
  2 | -1  |    0     |   0.99     | [-1,  3,  2  ]  |  3  | -1 + 0.99*3 =  1.97    | [0, 0, -1.03]    | 2 |  3.0  | 1*(3 - 0.5) = 2.5

  loss = (0.1152 + 0.03125 + 2.5) / 3 = 2.64645 / 3 = 0.88215

Double DQN with q_t_online = [[0, 0, 9], [1, 0, 0], [5, 0, 0]]: argmax = [2, 0, 0],
q_t_target at those actions = [0.5, 5, -1], targets = [1 + 0.99*0.5, 0 + 0*5, -1 + 0.99*(-1)]
= [1.495, 0, -1.99]. (Plain DQN would have taken the max: [2.98, 0, 1.97].)
"""

from __future__ import annotations

import torch

from dqn_atari.losses import huber, q_learning_loss, td_target

GAMMA = 0.99
R_T = torch.tensor([1.0, 0.0, -1.0])
TERMINAL_T = torch.tensor([0.0, 1.0, 0.0])
DISCOUNT_T = GAMMA * (1.0 - TERMINAL_T)
Q_T_TARGET = torch.tensor([[1.0, 2.0, 0.5], [5.0, 6.0, 7.0], [-1.0, 3.0, 2.0]])
Q_T_ONLINE = torch.tensor([[0.0, 0.0, 9.0], [1.0, 0.0, 0.0], [5.0, 0.0, 0.0]])
Q_TM1 = torch.tensor([[2.5, 0.0, 0.0], [0.0, 0.25, 0.0], [0.0, 0.0, -1.03]])
A_TM1 = torch.tensor([0, 1, 2])


def test_td_target_by_hand():
    target = td_target(R_T, DISCOUNT_T, Q_T_TARGET)
    torch.testing.assert_close(target, torch.tensor([2.98, 0.0, 1.97]))


def test_double_dqn_target_uses_online_argmax():
    target = td_target(R_T, DISCOUNT_T, Q_T_TARGET, q_t_online=Q_T_ONLINE)
    torch.testing.assert_close(target, torch.tensor([1.495, 0.0, -1.99]))


def test_huber_by_hand():
    x = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.5, 2.0])
    # |x| <= 1: 0.5 x^2; beyond: |x| - 0.5.
    torch.testing.assert_close(huber(x), torch.tensor([2.5, 0.5, 0.125, 0.0, 0.125, 1.5]))
    # delta 2: 0.5 * 1^2 = 0.5 at 1; 2 * (3 - 1) = 4 at 3.
    torch.testing.assert_close(huber(torch.tensor([1.0, 3.0]), delta=2.0), torch.tensor([0.5, 4.0]))


def test_q_learning_loss_by_hand():
    target = td_target(R_T, DISCOUNT_T, Q_T_TARGET)
    loss, td_error = q_learning_loss(Q_TM1, A_TM1, target)
    torch.testing.assert_close(td_error, torch.tensor([0.48, -0.25, 3.0]))
    torch.testing.assert_close(loss, torch.tensor(0.88215))
    assert loss.shape == ()


def test_gradient_is_clipped_td_error_and_target_is_stopped():
    q_t_target = Q_T_TARGET.clone().requires_grad_(True)
    q_tm1 = Q_TM1.clone().requires_grad_(True)
    target = td_target(R_T, DISCOUNT_T, q_t_target)
    loss, _ = q_learning_loss(q_tm1, A_TM1, target)
    loss.backward()
    # d loss / d q_tm1[i, a_i] = -clip(td_i, -1, 1) / 3 = [-0.48, 0.25, -1] / 3; zero elsewhere.
    expected = torch.zeros(3, 3)
    expected[0, 0], expected[1, 1], expected[2, 2] = -0.48 / 3, 0.25 / 3, -1.0 / 3
    torch.testing.assert_close(q_tm1.grad, expected)
    assert q_t_target.grad is None
