"""Tests of dqn_atari/networks.py: the Nature Q-network and select_device."""

from __future__ import annotations

import math

import pytest
import torch

from dqn_atari.networks import NatureQNetwork, select_device


def _uint8_states(batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 4, 84, 84), generator=g, dtype=torch.uint8)


def test_output_shape_and_feature_count():
    net = NatureQNetwork(num_actions=6)
    assert net.num_features == 3136  # 64 channels x 7 x 7
    q = net(_uint8_states(3))
    assert q.shape == (3, 6)
    assert q.dtype == torch.float32


def test_parameter_count_nature_4_actions():
    net = NatureQNetwork(num_actions=4)
    # conv1 4*32*8*8 + 32 = 8,224; conv2 32*64*4*4 + 64 = 32,832;
    # conv3 64*64*3*3 + 64 = 36,928; fc 3136*512 + 512 = 1,606,144; head 512*4 + 4 = 2,052.
    assert sum(p.numel() for p in net.parameters()) == 1_686_180


def test_uint8_input_is_scaled_by_1_over_255_inside():
    net = NatureQNetwork(num_actions=4)
    obs = _uint8_states(2)
    q_uint8 = net(obs)
    # The same computation by hand on float input already divided by 255.
    q_manual = net.q_from_features(net.torso(obs.float() / 255.0))
    torch.testing.assert_close(q_uint8, q_manual)
    # Raw pixel values as float give the same result (scaling happens once, inside).
    torch.testing.assert_close(net(obs.float()), q_uint8)


def test_init_is_uniform_one_over_sqrt_fan_in():
    torch.manual_seed(0)
    net = NatureQNetwork(num_actions=4)
    for module in net.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            bound = 1.0 / math.sqrt(module.weight[0].numel())
            for tensor in (module.weight, module.bias):
                assert tensor.abs().max() <= bound
            # Large tensors nearly reach the bound (uniform, not e.g. normal / smaller).
            assert module.weight.abs().max() > 0.95 * bound


def test_dueling_shape_and_mean_subtracted_advantage():
    net = NatureQNetwork(num_actions=5, dueling=True)
    obs = _uint8_states(3)
    q = net(obs)
    assert q.shape == (3, 5)
    features = net.torso(obs.float() / 255.0)
    value = net.value_stream(features)  # (3, 1)
    advantage = net.advantage_stream(features)  # (3, 5)
    torch.testing.assert_close(q, value + advantage - advantage.mean(dim=1, keepdim=True))
    # Identifiability: the mean over actions of Q is V.
    torch.testing.assert_close(q.mean(dim=1, keepdim=True), value)
    # Two 512-unit streams on the 3,136 features.
    assert net.value_stream[0].out_features == 512
    assert net.advantage_stream[0].out_features == 512


def test_select_device_cpu_and_auto(monkeypatch):
    assert select_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device("auto") == torch.device("cpu")
    assert select_device() == torch.device("cpu")


@pytest.mark.parametrize("spec", ["cuda", "cuda:1"])
def test_select_device_unavailable_cuda_is_an_error(monkeypatch, spec):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="agent.device=cpu"):
        select_device(spec)


def test_select_device_missing_cuda_index_is_an_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert select_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(RuntimeError, match="only 1 CUDA device"):
        select_device("cuda:3")


def test_select_device_bad_string():
    with pytest.raises(ValueError, match="not a torch device"):
        select_device("gpu")
