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
512-unit hidden layer on the shared 3,136 features:
``Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')``.

Initialisation: every weight and bias of every layer is drawn from
U(-1/sqrt(fan_in), +1/sqrt(fan_in)), with fan_in = in_channels * kh * kw for a
convolution and in_features for a linear layer. This is DQN Zoo's
``_dqn_default_initializer`` (inherited from DeepMind's Lua DQN). PyTorch's
default initialisation happens to be the same distribution (weights:
kaiming_uniform_ with a=sqrt(5), i.e. bound sqrt(6 / ((1 + 5) * fan_in)) =
1/sqrt(fan_in); biases: U(+-1/sqrt(fan_in))), so the constant is exactly 1; we
still initialise explicitly so a change of torch's defaults cannot change ours.
"""

from __future__ import annotations

import math

import torch
from torch import nn

NATURE_FRAME_SIZE = 84  # pixels per side of a processed frame
NATURE_HIDDEN_UNITS = 512


def _conv_output_size(size: int, kernel: int, stride: int) -> int:
    """Output side length of a VALID convolution."""
    return (size - kernel) // stride + 1


def dqn_default_init_(module: nn.Module) -> None:
    """Draw weights and biases of Conv2d/Linear from U(+-1/sqrt(fan_in)), in place."""
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        fan_in = module.weight[0].numel()  # in_channels * kh * kw, or in_features
        bound = 1.0 / math.sqrt(fan_in)
        nn.init.uniform_(module.weight, -bound, bound)
        if module.bias is not None:
            nn.init.uniform_(module.bias, -bound, bound)


class NatureQNetwork(nn.Module):
    """Nature DQN convolutional Q-network, optionally with a dueling head.

    Args:
      num_actions: number of Q-values (actions) output per state.
      stack_frames: frames per agent state (input channels).
      dueling: use Wang et al. (2016)'s value and advantage streams.
      frame_size: side of the square input frames, in pixels (84 in Nature).
    """

    def __init__(
        self,
        num_actions: int,
        stack_frames: int = 4,
        dueling: bool = False,
        frame_size: int = NATURE_FRAME_SIZE,
    ) -> None:
        super().__init__()
        self.num_actions = num_actions
        self.stack_frames = stack_frames
        self.dueling = dueling

        side = frame_size
        for kernel, stride in ((8, 4), (4, 2), (3, 1)):
            side = _conv_output_size(side, kernel, stride)
        self.num_features = 64 * side * side  # 3,136 for 84x84 frames

        self.torso = nn.Sequential(
            nn.Conv2d(stack_frames, 32, kernel_size=8, stride=4),
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=4, stride=2),
            nn.ReLU(),
            nn.Conv2d(64, 64, kernel_size=3, stride=1),
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
        self.apply(dqn_default_init_)

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

        Under ``torch.func.vmap`` (several seeds' stacked parameters, packed_learner.py) a
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
