"""Tolerances for comparing two code paths that compute the same update in another order.

Two paths that run other kernels (a vmapped update of packed seeds, a compiled update, a fused
kernel) sum in another order, and each CPU picks its own kernels: a fixed tolerance measured on
one host fails on another (a fixed 1e-6 held on an Intel Emerald Rapids and failed on an AMD
EPYC Zen 4). So the maths is checked in float64, tightly, and float32 only against a bound
derived from the float32 epsilon and the number of updates.
"""

from __future__ import annotations

import torch

FLOAT32_EPS = float(torch.finfo(torch.float32).eps)  # 2**-23 = 1.19e-7

# float64: two summation orders differ by a few units of 2**-52 per operation; 1e-10 of a
# tensor's scale leaves a margin of 1e5 over the 1e-15 measured after 61 updates, and is
# still 1e5 times smaller than one update's step (about 1e-5 in the tests).
FLOAT64_REL_TOLERANCE = 1e-10

# The longest sum in an update of the Nature network on 84x84 frames: conv1's weight gradient
# adds batch x 20 x 20 output positions (3,200 terms at batch 8); the forward's longest is
# fc1's 3,136 inputs. A sum of L terms computed in two orders differs by at most
# L * eps * sum|x| (the worst case; typically sqrt(L) * eps).
LONGEST_SUM_TERMS = 8 * 20 * 20


def fp32_update_tolerance(updates: int, moved: float,
                          longest_sum_terms: int = LONGEST_SUM_TERMS) -> float:
    """The float32 difference allowed between two orders of the same ``updates`` updates.

    Each update's step carries at most ``longest_sum_terms * eps`` relative rounding; the
    errors of successive steps add, and no step exceeds the whole distance ``moved``
    (max |parameter - its initial value|). The worst case, about 1e3 times the ~1e-7 seen;
    a wrong formula or a mixed-up seed gives differences of the order of ``moved`` itself.

    Valid for a few updates only: over a run, rounding can put a ReLU input or a Huber error
    on the other side of its kink, after which two trajectories differ by a step, not by
    rounding (tests/test_packed.py); compare runs in float64.
    """
    return updates * longest_sum_terms * FLOAT32_EPS * moved


def max_moved(parameters, initial) -> float:
    """max |p - p0| over every element of every parameter."""
    return max(float((p.detach() - p0).abs().max())
               for p, p0 in zip(parameters, initial, strict=True))


def assert_close_to_scale(got: torch.Tensor, expected: torch.Tensor, rel: float, what) -> None:
    """|got - expected| <= rel * max|expected|: elements near 0 carry the others' rounding."""
    scale = float(expected.abs().max())
    diff = float((got - expected).abs().max())
    assert diff <= rel * scale, (what, diff, scale)
