"""One DQN gradient step on device tensors: precision, compilation, CUDA graphs, staging.

``DQNAgent.update`` (agent.py) is one call, ``UpdateStep(batch, before_apply)``, which runs
two steps of this module:

1. ``StagingBuffers.stage(batch)`` copies the replay batch (numpy) into static tensors on the
   agent's device. On CUDA the host side is a pinned buffer allocated once, and the copy to
   the device is asynchronous: no ``pin_memory()`` allocation per batch. On the CPU the same
   code copies into static CPU tensors (one 1.1 MB memcpy for a Nature batch), so the tests
   exercise the staging path the GPU uses.
2. ``UpdateStep`` runs the update in two halves, both on those static tensors:
   ``compute_gradients`` (forward passes, target, loss, backward) and ``apply_gradients``
   (optional clipping, the optimizer step). The threaded learner (learner.py) runs a
   barrier between them: the parameters may only change once the loop has copied them for
   acting. Each half is, by ``mode``:

   * ``"eager"``: plain PyTorch, the reference;
   * ``"compile"``: ``torch.compile`` of each half, so the forward, the loss, the backward
     (AOTAutograd compiles the backward with the forward) and the optimizer step are all
     compiled, not only the module;
   * ``"cuda_graph"`` (CUDA only): each half captured once as a CUDA graph after a warm-up
     on a side stream, then replayed: one launch per half instead of ~100 kernel launches,
     which is what bounds a batch-32 Nature update on a GPU.

CUDA graphs (``CudaGraphs``) are captured on a stream of the agent's own device, with that
device current (``agent.device=cuda:N``: ``torch.cuda.graph`` would otherwise capture on a
stream of device 0, issue 23 defect 3), in ``capture_error_mode="thread_local"``. A capture
must see no other CUDA work from the process, and the threaded learner captures in its own
thread: the loop thread waits, issuing nothing, until the capture is over (``captures_next``;
learner.py), and thread-local mode keeps any other thread's unrelated call from invalidating
the capture. ``GraphStandIn`` runs the same control flow on a CPU (capture queues nothing,
replay runs the recorded function) for the tests and ``bench gpu --check``.

Precision (``agent.precision``), set explicitly, never left to library defaults:

* ``"fp32"`` (default): IEEE fp32 everywhere. On CUDA, TF32 is switched OFF for matmuls and
  cuDNN convolutions: PyTorch allows TF32 convolutions on Ampere and later by default, which
  would make an "fp32" run differ from the paper's arithmetic without a word.
* ``"tf32"`` (CUDA only): TF32 matmuls and convolutions (10-bit mantissa products, fp32
  accumulation), fp32 parameters and optimizer.
* ``"bf16"``: bf16 autocast of the forward passes (convolutions and linear layers in bf16,
  on CPUs with AVX-512 BF16/AMX and on GPUs); the parameters, gradients, TD target, loss and
  optimizer stay fp32. ``results/bf16/`` holds the evidence that it learns as fp32 does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from dqn_atari.cuda_device import current_stream, hand_over, on_device
from dqn_atari.losses import q_learning_loss, td_target

PRECISIONS = ("fp32", "tf32", "bf16")
UPDATE_MODES = ("eager", "compile", "cuda_graph")
CUDA_GRAPH_WARMUP_UPDATES = 3  # eager updates on a side stream before capture (allocations settle)
# Each compiled agent adds one graph per half to the same code objects (Dynamo guards on the
# identity of its modules and optimizer), and past torch's default limit of 8 per code object
# a process's next agent silently runs eager: a benchmark or test process builds more than 8.
COMPILED_AGENTS_PER_PROCESS = 64


def check_precision(precision: str, device: torch.device) -> None:
    """Raise a clear error for an unknown precision or one the device cannot run."""
    if precision not in PRECISIONS:
        raise ValueError(f"agent.precision={precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "tf32" and device.type != "cuda":
        raise ValueError(
            "agent.precision=tf32 is a CUDA (Ampere or later) mode; on the CPU use fp32 or bf16"
        )


def set_tf32_policy(precision: str, device: torch.device) -> None:
    """Switch TF32 on for ``tf32`` and off for everything else, on CUDA (process-wide flags)."""
    if device.type != "cuda":
        return
    allow = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = allow
    torch.backends.cudnn.allow_tf32 = allow


def update_mode(compile_update: bool, cuda_graph: bool, device: torch.device) -> str:
    """The ``UpdateStep`` mode of ``agent.compile`` / ``agent.cuda_graph`` on ``device``."""
    if cuda_graph:
        if device.type != "cuda":
            raise ValueError(
                f"agent.cuda_graph=true needs a CUDA device, and the agent runs on {device}; "
                "set agent.cuda_graph=false (agent.compile=true is the CPU's fast path)"
            )
        if compile_update:
            raise ValueError("set one of agent.compile and agent.cuda_graph, not both")
        return "cuda_graph"
    return "compile" if compile_update else "eager"


class StagingBuffers:
    """Static tensors a replay batch is copied into: pinned host + device on CUDA, CPU else.

    The buffers are allocated for the first batch's shapes (``batch_size`` transitions of
    ``stack_frames + 1`` frames) and reused while the shapes stay; a batch of other shapes
    reallocates them (an error once CUDA graphs were captured on them: ``UpdateStep``).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.pinned = device.type == "cuda"
        self.host: dict[str, torch.Tensor] = {}
        self.device_tensors: dict[str, torch.Tensor] = {}
        # The host buffers may be refilled only once the previous copy to the device is done.
        self._copied = torch.cuda.Event() if self.pinned else None

    @property
    def shape(self) -> tuple[int, ...] | None:
        """(batch_size, frames per transition, H, W) of the buffers; None before the first batch."""
        return tuple(self.host["frames"].shape) if self.host else None

    def _allocate(self, arrays: dict[str, np.ndarray]) -> None:
        dtypes = {"frames": torch.uint8, "actions": torch.int64, "rewards": torch.float32,
                  "terminals": torch.float32}
        self.host = {k: torch.empty(arrays[k].shape, dtype=d, pin_memory=self.pinned)
                     for k, d in dtypes.items()}
        self.device_tensors = (
            {k: torch.empty_like(t, device=self.device) for k, t in self.host.items()}
            if self.pinned else self.host
        )

    def stage(self, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Copy ``batch`` (frames, actions, rewards, terminals as numpy) into the buffers."""
        arrays = {k: np.asarray(getattr(batch, k))
                  for k in ("frames", "actions", "rewards", "terminals")}
        if self.shape != arrays["frames"].shape:
            if self._copied is not None:
                self._copied.synchronize()
            self._allocate(arrays)
        if self._copied is not None:
            self._copied.synchronize()
        for key, array in arrays.items():
            np.copyto(self.host[key].numpy(), array, casting="same_kind" if key == "frames"
                      else "unsafe")
        if self._copied is not None:
            for key, tensor in self.device_tensors.items():
                tensor.copy_(self.host[key], non_blocking=True)
            # on the stream the copies were queued on, of THIS device (not the current one)
            self._copied.record(current_stream(self.device))
        d = self.device_tensors
        return d["frames"], d["actions"], d["rewards"], d["terminals"]


class CudaGraphs:
    """The CUDA side of mode ``cuda_graph`` on one device; every call names device and stream.

    * ``warm_up(fn)``: ``fn()`` on a fresh side stream of the device, after the current
      stream's queued work; the current stream then waits for it, and ``fn``'s returned
      tensors are handed to the current stream (they were allocated on the side one).
    * ``capture(fn)``: ``fn``'s kernels recorded as a CUDA graph (returned, not run) on
      ``self.stream``, a stream of the agent's device; the graphs of one update share a
      memory pool, so they share that stream (torch.cuda.graph's note on pools).
    * ``reset()``: forget the pool (the graphs are being recorded again).

    ``capture_error_mode="thread_local"``: only CUDA calls of the capturing thread can
    invalidate the capture. The default ("global") also fails on unsafe calls of any other
    thread; the threaded learner's loop thread issues none during a capture (it waits), so
    thread-local mode guards against threads this code does not control.
    """

    capture_error_mode = "thread_local"

    def __init__(self, device: torch.device) -> None:
        if device.type != "cuda":
            raise ValueError(f"CUDA graphs need a CUDA device, got {device}; use GraphStandIn "
                             "for the control flow on a CPU")
        self.device = device
        with on_device(device):
            self.stream = torch.cuda.Stream(device)
        self._pool: Any = None

    def warm_up(self, fn: Callable[[], Any]) -> Any:
        current = torch.cuda.current_stream(self.device)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(current)
        with torch.cuda.stream(side):
            out = fn()
        current.wait_stream(side)
        hand_over(out, current)
        return out

    def capture(self, fn: Callable[[], None]) -> Any:
        graph = torch.cuda.CUDAGraph()
        self.stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.graph(graph, pool=self._pool, stream=self.stream,
                              capture_error_mode=self.capture_error_mode):
            fn()
        if self._pool is None:
            self._pool = graph.pool()
        return graph

    def reset(self) -> None:
        self._pool = None


class _StandInGraph:
    """What ``GraphStandIn.capture`` returns: ``replay()`` runs the recorded function."""

    def __init__(self, fn: Callable[[], None], owner: GraphStandIn) -> None:
        self._fn, self._owner = fn, owner

    def replay(self) -> None:
        self._owner.note("replay")
        self._fn()


class GraphStandIn:
    """Mode ``cuda_graph``'s control flow without CUDA, for the CPU tests and
    ``bench gpu --check`` (no CUDA device here: this stands in for ``CudaGraphs``).

    It keeps the CUDA graph semantics the update's code depends on: ``capture(fn)`` records
    ``fn`` and runs none of it (a capture queues work, it does not execute it), each
    ``replay()`` runs it, ``warm_up(fn)`` runs ``fn`` at once. So an update in mode
    ``cuda_graph`` with a stand-in does on the CPU exactly what eager mode does, and any
    extra or missing step of the warm-up / capture / replay sequence shows as a difference.

    Each call is appended to ``log`` as ``(event, thread name)``: ``warm_up``,
    ``capture_begin``, ``capture_end``, ``replay``, ``reset``, and whatever a test adds with
    ``note``. ``capture_seconds`` holds each capture open that long (a real capture takes
    milliseconds), so a test can see what other threads do meanwhile.
    """

    def __init__(self, capture_seconds: float = 0.0) -> None:
        self.capture_seconds = capture_seconds
        self.log: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def note(self, event: str) -> None:
        with self._lock:
            self.log.append((event, threading.current_thread().name))

    def events(self, prefix: str = "") -> list[str]:
        """The logged events (without thread names) that start with ``prefix``."""
        with self._lock:
            return [event for event, _ in self.log if event.startswith(prefix)]

    def warm_up(self, fn: Callable[[], Any]) -> Any:
        self.note("warm_up")
        return fn()

    def capture(self, fn: Callable[[], None]) -> _StandInGraph:
        self.note("capture_begin")
        if self.capture_seconds > 0:
            time.sleep(self.capture_seconds)
        self.note("capture_end")
        return _StandInGraph(fn, self)

    def reset(self) -> None:
        self.note("reset")


def _at_least_fp32(q: torch.Tensor) -> torch.Tensor:
    """``q`` in fp32 if it came out of autocast in bf16; fp64 stays fp64 (the float64 tests)."""
    return q.to(torch.promote_types(q.dtype, torch.float32))


class UpdateStep:
    """The DQN update in two halves on static tensors; see the module docstring.

    Args:
      online, target: the Q-networks (target's parameters do not require grad).
      optimizer: over ``online``'s parameters.
      gamma, double_dqn, huber_delta, max_grad_norm: the update's settings (agent.py).
      precision: one of ``PRECISIONS``.
      mode: one of ``UPDATE_MODES``.
      staging: the buffers the batch arrives in (their tensors are the graphs' inputs).
      graphs: mode ``cuda_graph``'s graph backend: ``CudaGraphs`` of the device (the
        default), or a ``GraphStandIn`` (its control flow on a CPU).
    """

    def __init__(self, online: torch.nn.Module, target: torch.nn.Module,
                 optimizer: torch.optim.Optimizer, *, gamma: float, double_dqn: bool,
                 huber_delta: float, max_grad_norm: float, precision: str, mode: str,
                 staging: StagingBuffers, graphs: CudaGraphs | GraphStandIn | None = None
                 ) -> None:
        if mode not in UPDATE_MODES:
            raise ValueError(f"update mode {mode!r} is not one of {', '.join(UPDATE_MODES)}")
        if graphs is not None and mode != "cuda_graph":
            raise ValueError(f"a graph backend is for mode cuda_graph, not {mode!r}")
        self.online, self.target, self.optimizer = online, target, optimizer
        self.gamma, self.double_dqn = gamma, double_dqn
        self.huber_delta, self.max_grad_norm = huber_delta, max_grad_norm
        self.precision, self.mode, self.staging = precision, mode, staging
        self.device = staging.device
        self._autocast_dtype = torch.bfloat16 if precision == "bf16" else None
        self._compute: Callable[..., tuple[torch.Tensor, torch.Tensor]] = self._compute_gradients
        self._apply: Callable[[], None] = self._apply_gradients
        if mode == "compile":
            limit = torch._dynamo.config.recompile_limit
            torch._dynamo.config.recompile_limit = max(limit, COMPILED_AGENTS_PER_PROCESS)
            self._compute = torch.compile(self._compute_gradients, dynamic=False)
            self._apply = torch.compile(self._apply_gradients, dynamic=False)
        self._graphs: dict[str, Any] | None = None  # captured on the first cuda_graph update
        self._backend = graphs
        if mode == "cuda_graph" and graphs is None:
            self._backend = CudaGraphs(self.device)

    # --------------------------------------------------------------- the two halves
    def _compute_gradients(self, frames: torch.Tensor, a_tm1: torch.Tensor, r_t: torch.Tensor,
                           terminal_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward passes, TD target, Huber loss and backward; returns (loss, mean_q)."""
        obs_tm1, obs_t = frames[:, :-1], frames[:, 1:]
        # No autocast weight cache under CUDA graphs: cached casts would outlive the capture.
        with torch.autocast(self.device.type, dtype=self._autocast_dtype or torch.float32,
                            enabled=self._autocast_dtype is not None,
                            cache_enabled=self.mode != "cuda_graph"):
            with torch.no_grad():
                discount_t = self.gamma * (1.0 - terminal_t)
                q_t_target = _at_least_fp32(self.target(obs_t))
                q_t_online = _at_least_fp32(self.online(obs_t)) if self.double_dqn else None
                target_tm1 = td_target(r_t, discount_t, q_t_target, q_t_online)
            q_tm1 = _at_least_fp32(self.online(obs_tm1))  # the loss starts in fp32 (or fp64)
        loss, _ = q_learning_loss(q_tm1, a_tm1, target_tm1, self.huber_delta)
        self.optimizer.zero_grad(set_to_none=self.mode != "cuda_graph")
        loss.backward()
        return loss.detach(), q_tm1.detach().mean()

    def _apply_gradients(self) -> None:
        """Optional global-norm clipping (no host sync), then the optimizer step."""
        if self.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.online.parameters(), self.max_grad_norm)
        self.optimizer.step()

    def drop_graphs(self) -> None:
        """Forget the captured graphs (if any): the next updates warm up and capture again.

        For when the tensors they update were replaced (an optimizer state loaded into new
        tensors): a replay would go on updating the old ones.
        """
        self._graphs = None
        if self._backend is not None:
            self._backend.reset()

    @property
    def captures_next(self) -> bool:
        """Whether the next call records the CUDA graphs (it then calls ``before_apply``
        only once they are recorded): the threaded learner keeps the loop thread's CUDA work
        out of that call's capture (learner.py)."""
        if self.mode != "cuda_graph":
            return False
        if self._graphs is None:
            return CUDA_GRAPH_WARMUP_UPDATES == 0
        return self._graphs["warmup_left"] == 0 and "compute" not in self._graphs

    # ------------------------------------------------------------------ one update
    def __call__(self, batch, before_apply: Callable[[], None] | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage ``batch``, compute the gradients, call ``before_apply``, apply them.

        On CUDA everything runs with the agent's device current (``agent.device=cuda:N``).
        """
        with on_device(self.device):
            tensors = self.staging.stage(batch)
            if self.mode == "cuda_graph":
                return self._graph_update(tensors, before_apply)
            loss, mean_q = self._compute(*tensors)
            if before_apply is not None:
                before_apply()
            self._apply()
            return loss, mean_q

    # ---------------------------------------------------------------- CUDA graphs
    def _graph_update(self, tensors, before_apply) -> tuple[torch.Tensor, torch.Tensor]:
        """Replay the two captured halves (capturing them on the first call).

        The first ``CUDA_GRAPH_WARMUP_UPDATES`` calls are eager updates on a side stream
        (the optimizer creates its state, cuDNN picks its algorithms); the capture happens on
        the next call and replaces it, so every call is exactly one update. ``before_apply``
        is called after the capture (``captures_next``).
        """
        backend = self._backend
        assert backend is not None
        if self._graphs is None:
            self._graphs = {"warmup_left": CUDA_GRAPH_WARMUP_UPDATES,
                            "shape": self.staging.shape}
        graphs = self._graphs
        if graphs["shape"] != self.staging.shape:
            raise ValueError(
                f"agent.cuda_graph=true: the update was captured for batches of shape "
                f"{graphs['shape']}, and this batch has {self.staging.shape}; keep "
                "agent.batch_size fixed within a run"
            )
        if graphs["warmup_left"] > 0:
            def warm_update() -> tuple[torch.Tensor, torch.Tensor]:
                loss, mean_q = self._compute_gradients(*tensors)
                if before_apply is not None:
                    before_apply()
                self._apply_gradients()
                return loss, mean_q

            loss, mean_q = backend.warm_up(warm_update)
            graphs["warmup_left"] -= 1
            return loss, mean_q
        if "compute" not in graphs:
            # Gradients must exist as tensors before capture: the graphs write them in place
            # (the warm-up made them). The outputs are static tensors the graph copies into.
            dtype = torch.promote_types(next(self.online.parameters()).dtype, torch.float32)
            loss_out = torch.zeros((), dtype=dtype, device=self.device)
            mean_q_out = torch.zeros((), dtype=dtype, device=self.device)

            def compute() -> None:
                loss, mean_q = self._compute_gradients(*tensors)
                loss_out.copy_(loss)
                mean_q_out.copy_(mean_q)

            graphs["loss"], graphs["mean_q"] = loss_out, mean_q_out
            graphs["compute"] = backend.capture(compute)
            graphs["apply"] = backend.capture(self._apply_gradients)
        graphs["compute"].replay()
        if before_apply is not None:
            before_apply()
        graphs["apply"].replay()
        # Clones: the graph's outputs are overwritten by the next replay.
        return graphs["loss"].clone(), graphs["mean_q"].clone()
