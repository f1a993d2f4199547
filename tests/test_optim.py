"""Tests of dqn_atari/optim.py: centered RMSProp by hand, the factory's presets."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from dqn_atari.config import NATURE_RMSPROP_EPS, OptimConfig
from dqn_atari.optim import CenteredRMSprop, make_optimizer

# Worked example: lr 0.3, decay 0.5, eps 0.44, parameters [1, 3], constant gradient [2, 0].
LR, DECAY, EPS = 0.3, 0.5, 0.44
GRAD = torch.tensor([2.0, 0.0])


def _step(optimizer: torch.optim.Optimizer, param: torch.Tensor) -> None:
    optimizer.zero_grad()
    (GRAD * param).sum().backward()  # d/dparam = GRAD
    optimizer.step()


@pytest.mark.parametrize("foreach", [True, False])
def test_centered_rmsprop_two_steps_by_hand(foreach):
    param = torch.nn.Parameter(torch.tensor([1.0, 3.0]))
    opt = CenteredRMSprop([param], lr=LR, decay=DECAY, eps=EPS, foreach=foreach)

    _step(opt, param)
    # Element 0, g = 2, ms = mg = 0 initially:
    #   ms = 0.5*0 + 0.5*2^2 = 2;  mg = 0.5*0 + 0.5*2 = 1
    #   sqrt(ms - mg^2 + eps) = sqrt(2 - 1 + 0.44) = sqrt(1.44) = 1.2
    #   param = 1 - 0.3 * 2 / 1.2 = 1 - 0.5 = 0.5
    # Element 1, g = 0: ms = mg = 0, update 0 * ... = 0, param stays 3.
    torch.testing.assert_close(param.detach(), torch.tensor([0.5, 3.0]))
    state = opt.state[param]
    torch.testing.assert_close(state["ms"], torch.tensor([2.0, 0.0]))
    torch.testing.assert_close(state["mg"], torch.tensor([1.0, 0.0]))

    _step(opt, param)
    # Element 0, g = 2 again:
    #   ms = 0.5*2 + 0.5*4 = 3;  mg = 0.5*1 + 0.5*2 = 1.5
    #   sqrt(3 - 1.5^2 + 0.44) = sqrt(0.75 + 0.44) = sqrt(1.19) = 1.090871...
    #   param = 0.5 - 0.3 * 2 / 1.090871 = 0.5 - 0.550019 = -0.050019
    expected = 0.5 - 0.6 / math.sqrt(1.19)
    torch.testing.assert_close(param.detach(), torch.tensor([expected, 3.0]))


def test_tf1_initial_mean_square_of_one():
    param = torch.nn.Parameter(torch.tensor([1.0, 3.0]))
    opt = CenteredRMSprop([param], lr=LR, decay=DECAY, eps=EPS, initial_mean_square=1.0)
    _step(opt, param)
    # ms = 0.5*1 + 0.5*4 = 2.5; mg = 1; sqrt(2.5 - 1 + 0.44) = sqrt(1.94)
    # Element 1: g = 0 so no move, whatever ms.
    torch.testing.assert_close(param.detach(), torch.tensor([1.0 - 0.6 / math.sqrt(1.94), 3.0]))


def test_differs_from_torch_rmsprop_centered_eps_outside_sqrt():
    ours = torch.nn.Parameter(torch.tensor([1.0, 3.0]))
    theirs = torch.nn.Parameter(torch.tensor([1.0, 3.0]))
    _step(CenteredRMSprop([ours], lr=LR, decay=DECAY, eps=EPS), ours)
    _step(torch.optim.RMSprop([theirs], lr=LR, alpha=DECAY, eps=EPS, centered=True), theirs)
    # torch: g / (sqrt(ms - mg^2) + eps) = 2 / (sqrt(2 - 1) + 0.44) = 2 / 1.44
    #   param = 1 - 0.3 * 2 / 1.44 = 1 - 0.416667 = 0.583333   (ours: 0.5)
    torch.testing.assert_close(theirs.detach(), torch.tensor([1.0 - 0.6 / 1.44, 3.0]))
    torch.testing.assert_close(ours.detach(), torch.tensor([0.5, 3.0]))


def test_nature_preset():
    param = torch.nn.Parameter(torch.zeros(3))
    opt = make_optimizer([param], OptimConfig())
    assert isinstance(opt, CenteredRMSprop)
    group = opt.param_groups[0]
    assert group["lr"] == 2.5e-4
    assert group["decay"] == 0.95
    assert group["eps"] == NATURE_RMSPROP_EPS == 0.01 / 32**2
    assert group["initial_mean_square"] == 0.0


@pytest.mark.parametrize("initial", [0.0, 1.0])
def test_initial_mean_square_key_reaches_the_optimizer_state(initial):
    param = torch.nn.Parameter(torch.tensor([1.0, 3.0]))
    opt = make_optimizer([param], OptimConfig(lr=LR, decay=DECAY, eps=EPS,
                                              initial_mean_square=initial))
    assert opt.param_groups[0]["initial_mean_square"] == initial
    param.grad = torch.zeros(2)  # a zero gradient: ms = decay * initial after one step
    opt.step()
    torch.testing.assert_close(opt.state[param]["ms"], torch.full((2,), DECAY * initial))


def test_adam_refuses_a_nonzero_initial_mean_square():
    param = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match="optim.initial_mean_square=1.0 with optim.name=adam"):
        make_optimizer([param], OptimConfig(name="adam", initial_mean_square=1.0))


def test_adam_preset():
    param = torch.nn.Parameter(torch.zeros(3))
    opt = make_optimizer([param], OptimConfig(name="adam", lr=6.25e-5, eps=1.5e-4))
    assert type(opt) is torch.optim.Adam
    assert opt.param_groups[0]["lr"] == 6.25e-5
    assert opt.param_groups[0]["eps"] == 1.5e-4


def test_unknown_name_lists_valid_names():
    param = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match="rmsprop_centered, adam"):
        make_optimizer([param], OptimConfig(name="sgd"))


def test_optimizer_state_round_trip():
    param = torch.nn.Parameter(torch.tensor([1.0, 3.0]))
    opt = CenteredRMSprop([param], lr=LR, decay=DECAY, eps=EPS)
    _step(opt, param)
    clone = torch.nn.Parameter(param.detach().clone())
    opt2 = CenteredRMSprop([clone], lr=LR, decay=DECAY, eps=EPS)
    # torch's Optimizer.load_state_dict keeps (aliases) state tensors already on the
    # right device and dtype, so copy them: the two optimizers must not share moments.
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    _step(opt, param)
    _step(opt2, clone)
    torch.testing.assert_close(clone.detach(), param.detach())
