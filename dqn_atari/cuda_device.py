"""The CUDA device and stream every learner call names explicitly (issue 23, defects 3 and 6).

With ``agent.device=cuda:N``, N > 0, anything left to "the current device" goes to device 0:
an event recorded without a stream is recorded on device 0's current stream (and orders
nothing on device N), and ``torch.cuda.graph`` without a stream captures on a stream it makes
on the current device. So the learner resolves the device index once (``cuda_index``), enters
it around its CUDA calls (``on_device``; the learner thread also sets it as the thread's
device) and records events on named streams (``current_stream``).

A tensor made on one stream and read on another (the update's loss and mean Q, made on the
learner thread's stream and summed on the loop's) is handed to the reader's stream with
``hand_over``: the caching allocator then keeps its memory until the reader's queued work is
done, instead of giving it to the next allocation of the maker's stream while the sum may
still be waiting to run.

Every function is a no-op (or None) for a CPU device, and ``cuda_index`` parses an explicit
``cuda:N`` without touching CUDA, so the CPU tests call them as they are.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import torch


def cuda_index(device: torch.device | str) -> int | None:
    """The CUDA device index of ``device``: None for a non-CUDA device; N for ``cuda:N``;
    the calling thread's current device for a bare ``cuda`` (the only case that asks CUDA)."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    if device.index is not None:
        return device.index
    return torch.cuda.current_device()


def on_device(device: torch.device | str) -> contextlib.AbstractContextManager[Any]:
    """A context that makes ``device`` the current CUDA device; does nothing off CUDA.

    Built without entering CUDA: entering it (``with``) switches the thread's device.
    """
    index = cuda_index(device)
    return contextlib.nullcontext() if index is None else torch.cuda.device(index)


def current_stream(device: torch.device | str) -> torch.cuda.Stream | None:
    """The calling thread's current stream ON ``device`` (not on the current device); None
    off CUDA."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    return torch.cuda.current_stream(device)


def hand_over(tensors: Iterable[Any], stream: Any) -> int:
    """Mark each CUDA tensor of ``tensors`` as used by ``stream`` (``Tensor.record_stream``).

    The caller must also ORDER the reads after the maker's work (an event, or
    ``stream.wait_stream``); this only keeps the memory from being reused too early. Returns
    how many tensors were marked (0 with ``stream`` None or CPU tensors: nothing to do).
    """
    if stream is None:
        return 0
    marked = 0
    for tensor in tensors:
        if not getattr(tensor, "is_cuda", False):
            continue
        tensor.record_stream(stream)
        marked += 1
    return marked
