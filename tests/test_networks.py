"""Tests of dqn_atari/networks.py: the Nature Q-network and select_device."""

from __future__ import annotations

import math

import pytest
import torch

from dqn_atari.networks import NatureQNetwork, SamePaddedConv2d, select_device, tf_same_padding


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


# ------------------------------------------------ Dopamine's network: padding and init switches

DOPAMINE = {"conv_padding": "same", "init": "glorot_uniform_zero_bias"}


def _old_nature_layers(num_actions: int, dueling: bool) -> list[torch.nn.Module]:
    """The layers as NatureQNetwork built them before the switches, in construction order."""
    def old_init_(module):  # dqn_default_init_ as it was
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            bound = 1.0 / math.sqrt(module.weight[0].numel())
            torch.nn.init.uniform_(module.weight, -bound, bound)
            torch.nn.init.uniform_(module.bias, -bound, bound)

    layers = [torch.nn.Conv2d(4, 32, 8, stride=4), torch.nn.Conv2d(32, 64, 4, stride=2),
              torch.nn.Conv2d(64, 64, 3, stride=1)]
    for outputs in ([1, num_actions] if dueling else [num_actions]):  # value, advantage streams
        layers += [torch.nn.Linear(3136, 512), torch.nn.Linear(512, outputs)]
    torch.nn.Sequential(*layers).apply(old_init_)
    return layers


@pytest.mark.parametrize("dueling", [False, True])
def test_default_switches_draw_the_same_parameters_as_before(dueling):
    """Every run started before the switches keeps its network bit for bit."""
    torch.manual_seed(0)
    old = [p for layer in _old_nature_layers(6, dueling) for p in layer.parameters()]
    after_old = torch.rand(3)
    torch.manual_seed(0)
    new = list(NatureQNetwork(num_actions=6, dueling=dueling).parameters())
    assert torch.equal(torch.rand(3), after_old)  # the same number of draws
    assert len(new) == len(old)
    for a, b in zip(new, old, strict=True):
        assert torch.equal(a, b)
    assert NatureQNetwork(6, conv_padding="valid", init="fan_in_uniform").num_features == 3136


@pytest.mark.parametrize(("size", "kernel", "stride", "expected"), [
    (84, 8, 4, (2, 2)), (21, 4, 2, (1, 2)), (11, 3, 1, (1, 1)),  # the SAME network's sides
    (6, 3, 2, (0, 1)), (7, 3, 2, (1, 1)), (5, 1, 2, (0, 0)), (4, 1, 3, (0, 0)),
])
def test_tf_same_padding(size, kernel, stride, expected):
    assert tf_same_padding(size, kernel, stride) == expected


def test_same_padding_on_a_hand_worked_asymmetric_input():
    """6x7 input x[i, j] = 10 i + j, a 3x3 kernel of ones, stride 2, TF 'SAME'.

    Rows: out = ceil(6/2) = 3, total (3-1)*2 + 3 - 6 = 1 zero row, after (rows 0..5, 0).
    Columns: out = ceil(7/2) = 4, total (4-1)*2 + 3 - 7 = 2: one zero column each side.
    Output (r, c) sums rows {0,1,2}, {2,3,4}, {4,5} and columns {0,1}, {1,2,3}, {3,4,5}, {5,6}:
    10 * n_cols * sum(rows) + n_rows * sum(cols).
    """
    conv = SamePaddedConv2d(1, 1, kernel_size=3, stride=2)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.zero_()
        x = (10 * torch.arange(6.0)[:, None] + torch.arange(7.0)[None, :])[None, None]
        out = conv(x)[0, 0]
    expected = torch.tensor([[63.0, 108.0, 126.0, 93.0],
                             [183.0, 288.0, 306.0, 213.0],
                             [182.0, 282.0, 294.0, 202.0]])
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


@pytest.mark.parametrize("dueling", [False, True])
def test_same_padding_feature_sizes_and_parameter_count(dueling):
    net = NatureQNetwork(num_actions=18, dueling=dueling, **DOPAMINE)
    features = net.torso(_uint8_states(2).float())
    assert features.shape == (2, 64 * 11 * 11) and net.num_features == 7744
    sides = []
    x = _uint8_states(1).float()
    for layer in net.torso:
        x = layer(x)
        if isinstance(layer, torch.nn.Conv2d):
            sides.append(tuple(x.shape[-2:]))
    assert sides == [(21, 21), (11, 11), (11, 11)]
    torso = (4 * 32 * 8 * 8 + 32) + (32 * 64 * 4 * 4 + 64) + (64 * 64 * 3 * 3 + 64)  # 77,984
    hidden = 7744 * 512 + 512  # 3,965,440 per stream
    if dueling:
        expected = torso + 2 * hidden + (512 * 1 + 1) + (512 * 18 + 18)
    else:
        expected = torso + hidden + 512 * 18 + 18
        assert expected == 4_052_658  # "about 4.05M parameters with 18 actions"
    assert sum(p.numel() for p in net.parameters()) == expected
    assert net(_uint8_states(3)).shape == (3, 18)
    # VALID with 18 actions, for comparison: 3,136 features, 1,693,362 parameters
    valid = NatureQNetwork(num_actions=18)
    assert valid.num_features == 3136
    assert sum(p.numel() for p in valid.parameters()) == torso + 3136 * 512 + 512 + 512 * 18 + 18
    assert sum(p.numel() for p in valid.parameters()) == 1_693_362


def test_same_padding_state_dict_keeps_the_nature_keys():
    """Checkpoints and packed seeds address the layers by the same names."""
    same = NatureQNetwork(num_actions=4, **DOPAMINE).state_dict()
    valid = NatureQNetwork(num_actions=4).state_dict()
    assert list(same) == list(valid)


def test_channels_last_gives_the_same_q_values_with_same_padding():
    torch.manual_seed(0)
    net = NatureQNetwork(num_actions=4, **DOPAMINE)
    obs = _uint8_states(3)
    expected = net.q_values(obs, channels_last=False)
    net = net.to(memory_format=torch.channels_last)
    torch.testing.assert_close(net(obs), expected, rtol=1e-5, atol=1e-6)


def test_glorot_uniform_weights_and_zero_biases():
    torch.manual_seed(0)
    net = NatureQNetwork(num_actions=4, dueling=True, **DOPAMINE)
    layers = [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(layers) == 7
    for module in layers:
        w = module.weight.detach()
        receptive = w[0, 0].numel() if w.dim() == 4 else 1  # kh * kw
        fan_in, fan_out = w.shape[1] * receptive, w.shape[0] * receptive
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        assert w.abs().max() <= bound
        if w.numel() >= 2048:  # large tensors nearly reach the bound and have U's variance
            assert w.abs().max() > 0.95 * bound
            assert float(w.var()) == pytest.approx(bound**2 / 3, rel=0.1)
        assert torch.equal(module.bias, torch.zeros_like(module.bias))
    conv1 = net.torso[0].weight.detach()  # fan_in 4*64 = 256, fan_out 32*64 = 2,048
    assert float(conv1.abs().max()) == pytest.approx(math.sqrt(6 / (256 + 2048)), rel=1e-3)


def test_fan_in_uniform_init_with_same_padding():
    """The padding switch alone keeps DQN Zoo's init (biases drawn too, not zero)."""
    torch.manual_seed(0)
    net = NatureQNetwork(num_actions=4, conv_padding="same")
    for module in net.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            bound = 1.0 / math.sqrt(module.weight[0].numel())
            assert module.weight.abs().max() <= bound and module.bias.abs().max() <= bound
            assert module.weight.abs().max() > 0.95 * bound
            assert module.bias.abs().max() > 0


def test_unknown_switch_values_are_refused_by_name():
    with pytest.raises(ValueError, match="agent.conv_padding='SAME'"):
        NatureQNetwork(num_actions=4, conv_padding="SAME")
    with pytest.raises(ValueError, match="agent.init='glorot'"):
        NatureQNetwork(num_actions=4, init="glorot")
