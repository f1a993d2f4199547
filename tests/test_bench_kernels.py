"""The ``kernels`` benchmark: CPU flags read right, every Nature layer timed in both dtypes, and a
verdict that follows the measured ratio (the same flags are faster in bf16 on one host, slower on
another)."""

from __future__ import annotations

import json

from conftest import run_module

from dqn_atari.bench.kernels import (
    BF16_OVERRIDES,
    FP32_OVERRIDES,
    NATURE_LAYERS,
    bf16_verdict,
    cpu_flags,
)
from dqn_atari.host_cpu import cpu_model

# The flags line of a virtual machine on an Emerald Rapids host that hides AMX (abridged).
CPUINFO_NO_AMX = """processor\t: 0
cpu family\t: 6
model\t\t: 207
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_fp16 avx512_vnni hypervisor

processor\t: 1
model name\t: another
"""
CPUINFO_AMX = CPUINFO_NO_AMX.replace("avx512_vnni", "avx512_vnni amx_bf16 amx_tile amx_int8")


def test_cpu_flags_tell_amx_from_avx512_bf16_alone():
    no_amx, amx = cpu_flags(CPUINFO_NO_AMX), cpu_flags(CPUINFO_AMX)
    assert no_amx == {"avx512_bf16": True, "amx_bf16": False, "amx_tile": False,
                      "avx512_fp16": True}
    assert amx["amx_bf16"] and amx["amx_tile"]
    assert cpu_flags("") == dict.fromkeys(no_amx, False)
    assert cpu_model(CPUINFO_NO_AMX) == {"model_name": "Intel(R) Xeon(R) Processor",
                                         "family": "6", "model": "207",
                                         "virtual_machine": True}


def test_the_verdict_follows_the_measured_ratio_not_the_flags():
    """Zen 4 measured 0.60x and Emerald Rapids 1.41x with the same avx512_bf16-without-AMX flags."""
    faster, slower, same = bf16_verdict(0.60), bf16_verdict(1.41), bf16_verdict(1.02)
    assert faster["verdict"].startswith("bf16 is faster here (0.60x")
    assert faster["overrides"] == BF16_OVERRIDES == "agent.precision=bf16 agent.compile=true"
    assert slower["verdict"].startswith("bf16 is slower here (1.41x")
    assert slower["overrides"] == same["overrides"] == FP32_OVERRIDES
    assert same["verdict"].startswith("bf16 and fp32 take about the same time here")


def test_kernels_benchmark_times_every_layer_in_both_dtypes():
    result = run_module("dqn_atari.bench", "kernels", "--batch", "2", "--repeats", "1",
                        timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert [row["layer"] for row in out["layers"]] == [layer[0] for layer in NATURE_LAYERS]
    for row in out["layers"]:
        for key in ("fp32_forward_ms", "bf16_forward_ms", "fp32_forward_backward_ms",
                    "bf16_forward_backward_ms"):
            assert row[key] > 0, (row["layer"], key)
        assert abs(row["bf16_over_fp32_forward"]
                   - row["bf16_forward_ms"] / row["fp32_forward_ms"]) < 0.01
    total = sum(row["fp32_forward_backward_ms"] for row in out["layers"])
    assert abs(out["total_fp32_forward_backward_ms"] - total) < 0.01
    assert out["cpu_flags"] == cpu_flags()  # this machine's own flags
    # The verdict is this run's own measurement's, whichever way this CPU goes.
    assert out["verdict"] == bf16_verdict(out["total_bf16_over_fp32_forward_backward"])["verdict"]
    assert out["overrides"] in (BF16_OVERRIDES, FP32_OVERRIDES)
