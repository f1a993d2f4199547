"""The Nature DQN Q-network (Mnih et al. 2015) and the device choice.

``NatureQNetwork`` maps a stack of ``stack_frames`` uint8 84x84 frames to one
Q-value per action:

    conv 32 filters 8x8 stride 4  -> ReLU   (4, 84, 84) -> (32, 20, 20)
    conv 64 filters 4x4 stride 2  -> ReLU               -> (64, 9, 9)
    conv 64 filters 3x3 stride 1  -> ReLU               -> (64, 7, 7) = 3,136 features
    linear 512                    -> ReLU
    linear num_actions

All convolutions are VALID (no padding), as in the paper and DQN Zoo; Dopamine's
TF network pads 'same' instead (7,744 features). With 4 actions the network has
1,686,180 parameters.

The input is pixel values in [0, 255] (uint8 from the replay and the actor); the
network converts them to float32 and divides by 255 inside ``forward``, so only
uint8 tensors cross the host-device boundary.

``dueling=True`` replaces the head by Wang et al. (2016)'s two streams, each a
512-unit hidden layer on the shared features (3,136; 7,744 with SAME padding):
``Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')``.

Initialisation: every weight and bias of every layer is drawn from
U(-1/sqrt(fan_in), +1/sqrt(fan_in)), with fan_in = in_channels * kh * kw for a
convolution and in_features for a linear layer. This is DQN Zoo's
``_dqn_default_initializer`` (inherited from DeepMind's Lua DQN). PyTorch's
default initialisation happens to be the same distribution (weights:
kaiming_uniform_ with a=sqrt(5), i.e. bound sqrt(6 / ((1 + 5) * fan_in)) =
1/sqrt(fan_in); biases: U(+-1/sqrt(fan_in))), so the constant is exactly 1; we
still initialise explicitly so a change of torch's defaults cannot change ours.

Dopamine's network, as two switches (``agent.conv_padding``, ``agent.init``). The network
behind Dopamine's published DQN curves (legacy TF ``_network_template``, slim's defaults)
has the same layers but:

* ``conv_padding="same"``: TensorFlow's 'SAME' padding. Each side is ceil(in / stride)
  after a convolution, with (out - 1) * stride + kernel - in zeros added in all (never
  fewer than 0), the smaller half before (top, left) and the larger after. The sides are
  84 -> 21 -> 11 -> 11, a 64 x 11 x 11 = 7,744-wide flatten and 4,052,658 parameters with
  18 actions (1,693,362 with VALID). torch's
  ``padding="same"`` refuses stride > 1, so ``SamePaddedConv2d`` pads explicitly.
* ``init="glorot_uniform_zero_bias"``: every weight from Glorot/Xavier-uniform,
  U(+-sqrt(6 / (fan_in + fan_out))) with fan_out = out_channels * kh * kw for a
  convolution (TF's and torch's convention), and every bias exactly 0.

The defaults (``"valid"``, ``"fan_in_uniform"``) build the Nature network above, drawing
the same random numbers in the same order as before the switches existed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

NATURE_FRAME_SIZE = 84  # pixels per side of a processed frame
NATURE_HIDDEN_UNITS = 512


CONV_PADDINGS = ("valid", "same")  # agent.conv_padding: Nature / DQN Zoo | TensorFlow 'SAME' (Dopamine)
INITS = ("fan_in_uniform", "glorot_uniform_zero_bias")  # agent.init: DQN Zoo | Dopamine (slim)


def check_network_switches(conv_padding: str, init: str) -> None:
    """Refuse an unknown ``agent.conv_padding`` or ``agent.init``, naming the valid values."""
    if conv_padding not in CONV_PADDINGS:
        raise ValueError(f"agent.conv_padding={conv_padding!r}: use valid (Nature, DQN Zoo) or "
                         "same (TensorFlow 'SAME', Dopamine's network)")
    if init not in INITS:
        raise ValueError(f"agent.init={init!r}: use fan_in_uniform (DQN Zoo) or "
                         "glorot_uniform_zero_bias (Dopamine's network)")


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Zeros (before, after) TensorFlow's 'SAME' adds to a side of ``size`` pixels.

    The output side is ceil(size / stride); the total is max((out - 1) * stride + kernel -
    size, 0), the smaller half before (top or left), the larger after.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _conv_output_size(size: int, kernel: int, stride: int, padding: str = "valid") -> int:
    """Output side length of a VALID or TensorFlow-'SAME' convolution."""
    if padding == "same":
        return -(-size // stride)
    return (size - kernel) // stride + 1


CONV_LAYERS = ((32, 8, 4), (64, 4, 2), (64, 3, 1))  # (filters, kernel, stride) of the torso


def conv_output_side(frame_size: int, conv_padding: str = "valid") -> int:
    """Side of the torso's last feature map for ``frame_size`` frames; 0 if nothing is left."""
    side = frame_size
    for _, kernel, stride in CONV_LAYERS:
        side = _conv_output_size(side, kernel, stride, conv_padding)
        if side < 1:
            return 0
    return side


def min_frame_size(conv_padding: str = "valid") -> int:
    """The smallest frame side the torso maps to at least one feature per filter.

    VALID: 36 (36 -> 8 -> 3 -> 1; 35 -> 7 -> 2 -> 0). SAME: 1 (every side stays >= 1).
    """
    side = 1
    while conv_output_side(side, conv_padding) < 1:
        side += 1
    return side


def check_frame_size(frame_size: int, conv_padding: str = "valid") -> None:
    """Refuse an ``env.frame_size`` the torso leaves no feature of, naming the smallest."""
    smallest = min_frame_size(conv_padding)
    if frame_size < smallest:
        layers = ", ".join(f"{k}x{k} stride {s}" for _, k, s in CONV_LAYERS)
        raise ValueError(
            f"env.frame_size={frame_size}: the network's convolutions ({layers}, "
            f"agent.conv_padding={conv_padding}) leave no feature of frames smaller than "
            f"{smallest}x{smallest}; use env.frame_size={smallest} or more (Nature: "
            f"env.frame_size={NATURE_FRAME_SIZE})")


class SamePaddedConv2d(nn.Conv2d):
    """``nn.Conv2d`` (no padding of its own) after TensorFlow's 'SAME' zero padding.

    The padding is worked out from the input's side in ``forward`` (plain ints, so it
    works under ``torch.func.vmap`` and ``torch.compile``). It has no parameters or
    buffers beyond the convolution's, so state dicts keep the Nature network's keys.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        top, bottom = tf_same_padding(x.shape[-2], kh, sh)
        left, right = tf_same_padding(x.shape[-1], kw, sw)
        return super().forward(F.pad(x, (left, right, top, bottom)))


def dqn_default_init_(module: nn.Module) -> None:
    """Draw weights and biases of Conv2d/Linear from U(+-1/sqrt(fan_in)), in place."""
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        fan_in = module.weight[0].numel()  # in_channels * kh * kw, or in_features
        bound = 1.0 / math.sqrt(fan_in)
        nn.init.uniform_(module.weight, -bound, bound)
        if module.bias is not None:
            nn.init.uniform_(module.bias, -bound, bound)


def glorot_uniform_zero_bias_init_(module: nn.Module) -> None:
    """Glorot-uniform weights and zero biases of Conv2d/Linear, in place (slim's defaults).

    Bound sqrt(6 / (fan_in + fan_out)): fan_in = in_channels * kh * kw and fan_out =
    out_channels * kh * kw for a convolution, in_features and out_features for a linear layer.
    """
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class NatureQNetwork(nn.Module):
    """Nature DQN convolutional Q-network, optionally with a dueling head.

    Args:
      num_actions: number of Q-values (actions) output per state.
      stack_frames: frames per agent state (input channels).
      dueling: use Wang et al. (2016)'s value and advantage streams.
      frame_size: side of the square input frames, in pixels (84 in Nature).
      conv_padding: "valid" (Nature, DQN Zoo) or "same" (TensorFlow 'SAME': Dopamine).
      init: "fan_in_uniform" (DQN Zoo) or "glorot_uniform_zero_bias" (Dopamine's slim).
    """

    def __init__(
        self,
        num_actions: int,
        stack_frames: int = 4,
        dueling: bool = False,
        frame_size: int = NATURE_FRAME_SIZE,
        conv_padding: str = "valid",
        init: str = "fan_in_uniform",
    ) -> None:
        super().__init__()
        check_network_switches(conv_padding, init)
        self.num_actions = num_actions
        self.stack_frames = stack_frames
        self.dueling = dueling
        self.conv_padding = conv_padding
        self.init = init

        check_frame_size(frame_size, conv_padding)
        side = conv_output_side(frame_size, conv_padding)
        self.num_features = CONV_LAYERS[-1][0] * side * side  # 84x84: 3,136 (valid), 7,744 (same)

        conv = SamePaddedConv2d if conv_padding == "same" else nn.Conv2d
        self.torso = nn.Sequential(
            conv(stack_frames, 32, kernel_size=8, stride=4),
            nn.ReLU(),
            conv(32, 64, kernel_size=4, stride=2),
            nn.ReLU(),
            conv(64, 64, kernel_size=3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        if dueling:
            self.value_stream = nn.Sequential(
                nn.Linear(self.num_features, NATURE_HIDDEN_UNITS),
                nn.ReLU(),
                nn.Linear(NATURE_HIDDEN_UNITS, 1),
            )
            self.advantage_stream = nn.Sequential(
                nn.Linear(self.num_features, NATURE_HIDDEN_UNITS),
                nn.ReLU(),
                nn.Linear(NATURE_HIDDEN_UNITS, num_actions),
            )
        else:
            self.head = nn.Sequential(
                nn.Linear(self.num_features, NATURE_HIDDEN_UNITS),
                nn.ReLU(),
                nn.Linear(NATURE_HIDDEN_UNITS, num_actions),
            )
        self.apply(dqn_default_init_ if init == "fan_in_uniform" else glorot_uniform_zero_bias_init_)

    def q_from_features(self, features: torch.Tensor) -> torch.Tensor:
        """Q-values (B, num_actions) from torso features (B, num_features)."""
        if not self.dueling:
            return self.head(features)
        value = self.value_stream(features)  # (B, 1)
        advantage = self.advantage_stream(features)  # (B, num_actions)
        return value + advantage - advantage.mean(dim=1, keepdim=True)

    def _compute_dtype(self) -> torch.dtype:
        """The dtype the input is cast to: the first convolution's weight's.

        float32 in training (autocast, for bf16, keeps the parameters in float32); float64
        when the tests check two update paths' maths in double precision. Read from the
        weight each call, so it also holds for the stacked parameters of ``functional_call``.
        """
        first_conv = next(m for m in self.torso if isinstance(m, nn.Conv2d))
        return first_conv.weight.dtype

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Q-values (B, num_actions) of states ``obs`` (B, stack_frames, H, W).

        ``obs`` holds raw pixel values in [0, 255], normally uint8; it is cast to
        the parameters' dtype (float32) and divided by 255 here. (A float tensor of raw pixel values gives
        the same result; do not pre-scale it.)
        """
        channels_last = self.torso[0].weight.is_contiguous(memory_format=torch.channels_last)
        return self.q_values(obs, channels_last)

    def q_values(self, obs: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
        """``forward`` with the input layout given rather than read from the weights.

        Under ``torch.func.vmap`` (several seeds' stacked parameters, stacked_learner.py) a
        weight's memory format cannot be queried; the caller says it.
        """
        x = obs.to(self._compute_dtype()).div(255.0)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)  # NHWC convolutions
        return self.q_from_features(self.torso(x))


def select_device(spec: str = "auto") -> torch.device:
    """The torch device named by ``agent.device``.

    "auto" gives the first CUDA device when one is available and the CPU otherwise.
    Any explicit torch device string ("cpu", "cuda", "cuda:1", ...) is honoured,
    and asking for a CUDA device that is not there is an error rather than a
    silent fall-back to the CPU.
    """
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as e:
        raise ValueError(
            f"agent.device={spec!r} is not a torch device; use 'auto', 'cpu', 'cuda' or 'cuda:N'."
        ) from e
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"agent.device={spec} was requested but CUDA is not available here "
                f"(torch {torch.__version__}, torch.cuda.is_available() is False). "
                "Set agent.device=cpu, or agent.device=auto to use CUDA only when present."
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise RuntimeError(
                f"agent.device={spec} was requested but only {count} CUDA device(s) "
                f"are visible (cuda:0..cuda:{count - 1}). Set agent.device=cuda:N with "
                "a visible N, or agent.device=auto."
            )
    return device
