"""The ``kernels`` benchmark: each Nature layer's time in fp32 and in bf16 on this CPU.

``python -m dqn_atari.bench kernels`` answers one question before anyone waits for a bf16
training run: does this CPU compute the Nature network's layers faster in bf16 than in fp32?

The answer is measured, not read from the CPU's flags. For each layer shape of a batch-32
Nature update (the three convolutions in NHWC, the two linear layers), the benchmark times
the forward and the forward+backward (the input's gradient, except for the first layer whose
input is the frames, and the weight's) in fp32 and in bf16 tensors, and reports milliseconds
per call and the bf16/fp32 ratio (below 1: bf16 is faster). The verdict follows the summed
forward+backward ratio (``bf16_verdict``), and names the overrides to use on this host.

The flags are printed beside it as context only: two hosts with the same flags disagree.
Both hosts this project runs on expose ``avx512_bf16`` without AMX, and measured:

* Intel Emerald Rapids (family 6, model 207, a VM): bf16 1.4-2x SLOWER per layer. There
  ``VDPBF16PS`` issues on one port where fp32 FMAs issue on two, so bf16's peak equals
  fp32's and the casts and weight re-packing come on top.
* AMD EPYC Zen 4 (family 25, model 17, a VM): bf16 about 0.6x the fp32 time, FASTER on
  every layer (``VDPBF16PS`` at twice fp32's rate).

``amx_bf16`` + ``amx_tile`` (AMX, Sapphire Rapids and later) should make bf16 several times
faster; no AMX host has been measured here.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
import torch.nn.functional as F

from dqn_atari.bench.measure import load_average
from dqn_atari.host_cpu import cpu_model, first_cpu

BF16_FLAGS = ("avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16")

# (name, kind, input shape (per sample), weight shape, stride, input needs a gradient): a
# Nature update's layers. The first layer's input is the frames: no gradient is computed for it.
NATURE_LAYERS = (
    ("conv1 8x8/4 4->32", "conv", (4, 84, 84), (32, 4, 8, 8), 4, False),
    ("conv2 4x4/2 32->64", "conv", (32, 20, 20), (64, 32, 4, 4), 2, True),
    ("conv3 3x3/1 64->64", "conv", (64, 9, 9), (64, 64, 3, 3), 1, True),
    ("fc1 3136->512", "linear", (3136,), (512, 3136), None, True),
    ("fc2 512->18", "linear", (512,), (18, 512), None, True),
)


def cpu_flags(cpuinfo_text: str | None = None) -> dict[str, bool]:
    """Which of ``BF16_FLAGS`` the CPU exposes (from /proc/cpuinfo; all False if unreadable)."""
    flags = set(first_cpu(cpuinfo_text).get("flags", "").split())
    return {flag: flag in flags for flag in BF16_FLAGS}


# The summed forward+backward bf16/fp32 time ratio outside which the verdict picks a side;
# inside it, the difference is within what one host's runs vary by (10-25% here).
BF16_FASTER_BELOW = 0.85
BF16_SLOWER_ABOVE = 1.15

# The overrides the verdict names: the learner settings `bench learner` compares.
BF16_OVERRIDES = "agent.precision=bf16 agent.compile=true"
FP32_OVERRIDES = "agent.precision=fp32"


def bf16_verdict(bf16_over_fp32: float) -> dict[str, str]:
    """The verdict of a measured bf16/fp32 time ratio (summed forward+backward of the layers).

    Returns {"verdict": one sentence, "overrides": the learner overrides to use on this host}.
    The run's config stays explicit: nothing chooses the precision per host by itself.
    """
    ratio = f"{bf16_over_fp32:.2f}x fp32's time"
    if bf16_over_fp32 < BF16_FASTER_BELOW:
        return {"verdict": f"bf16 is faster here ({ratio}): train with {BF16_OVERRIDES} "
                           "(compile fuses the casts; check with `bench learner`)",
                "overrides": BF16_OVERRIDES}
    if bf16_over_fp32 > BF16_SLOWER_ABOVE:
        return {"verdict": f"bf16 is slower here ({ratio}): keep {FP32_OVERRIDES}",
                "overrides": FP32_OVERRIDES}
    return {"verdict": f"bf16 and fp32 take about the same time here ({ratio}): keep "
                       f"{FP32_OVERRIDES}; bf16 would only add rounding",
            "overrides": FP32_OVERRIDES}


def _time_ms(fn, repeats: int, warmup: int = 3) -> float:
    """Median milliseconds of ``repeats`` timed calls of ``fn`` after ``warmup`` untimed ones.

    The median, not the mean: the first calls of a process can take 10x longer (oneDNN builds
    its kernels; measured 15.6 ms against 1.0 ms for conv1's forward on an AMD EPYC), and a
    mean would hand that to whichever layer is timed first.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _layer_calls(kind: str, x: torch.Tensor, w: torch.Tensor, stride: int | None):
    """(forward, backward) closures of one layer on inputs ``x`` and weights ``w``."""
    if kind == "conv":
        def forward():
            return F.conv2d(x, w, stride=stride)
    else:
        def forward():
            return F.linear(x, w)
    out = forward()
    grad_out = torch.ones_like(out)

    wrt = (x, w) if x.requires_grad else (w,)

    def backward():
        return torch.autograd.grad(forward(), wrt, grad_out)

    return forward, backward


def bench_kernels(batch_size: int = 32, threads: int = 1, repeats: int = 20,
                  seed: int = 0) -> dict[str, Any]:
    """Milliseconds per call of each Nature layer's forward and forward+backward, fp32 vs bf16.

    Args:
      batch_size: samples per call (32 in Nature; the target network's pass has the same).
      threads: torch intra-op threads while timing (restored afterwards).
      repeats: timed calls per measurement (after 3 untimed ones).

    Returns:
      {"cpu_flags", "verdict", "overrides", "onednn_bf16_supported", "cpu", "threads", "batch_size",
      "layers": [{"layer", "fp32_forward_ms", "bf16_forward_ms", "fp32_forward_backward_ms",
      "bf16_forward_backward_ms", "bf16_over_fp32_forward", "bf16_over_fp32_forward_backward"}],
      "total_*" sums over the layers and their ratios, load averages}.
    """
    generator = torch.Generator().manual_seed(seed)
    threads_before = torch.get_num_threads()
    flags = cpu_flags()
    out: dict[str, Any] = {
        "cpu_flags": flags,  # context only: the verdict follows the measurement
        "onednn_bf16_supported": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "threads": threads,
        "batch_size": batch_size,
        "load_average_1min_before": load_average(),
    }
    layers = []
    try:
        torch.set_num_threads(threads)
        for name, kind, in_shape, w_shape, stride, input_grad in NATURE_LAYERS:
            row: dict[str, Any] = {"layer": name}
            for dtype, label in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
                x = torch.randn((batch_size, *in_shape), generator=generator).to(dtype)
                w = (0.01 * torch.randn(w_shape, generator=generator)).to(dtype)
                if kind == "conv":
                    x = x.contiguous(memory_format=torch.channels_last)
                    w = w.contiguous(memory_format=torch.channels_last)
                x.requires_grad_(input_grad)
                w.requires_grad_(True)
                forward, backward = _layer_calls(kind, x, w, stride)
                with torch.no_grad():
                    row[f"{label}_forward_ms"] = round(_time_ms(forward, repeats), 4)
                row[f"{label}_forward_backward_ms"] = round(_time_ms(backward, repeats), 4)
            for part in ("forward", "forward_backward"):
                row[f"bf16_over_fp32_{part}"] = round(
                    row[f"bf16_{part}_ms"] / row[f"fp32_{part}_ms"], 3)
            layers.append(row)
    finally:
        torch.set_num_threads(threads_before)
    out["layers"] = layers
    for part in ("forward", "forward_backward"):
        fp32 = sum(r[f"fp32_{part}_ms"] for r in layers)
        bf16 = sum(r[f"bf16_{part}_ms"] for r in layers)
        out[f"total_fp32_{part}_ms"] = round(fp32, 3)
        out[f"total_bf16_{part}_ms"] = round(bf16, 3)
        out[f"total_bf16_over_fp32_{part}"] = round(bf16 / fp32, 3)
    out.update(bf16_verdict(out["total_bf16_over_fp32_forward_backward"]))
    out["load_average_1min_after"] = load_average()
    return out
