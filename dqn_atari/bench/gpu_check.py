"""``python -m dqn_atari.bench gpu --check``: the first command to run on a GPU node.

Each check runs the learner's CUDA paths against a reference and reports pass or fail with
its figures (issue 23). A check has parts: what needs CUDA runs on the GPU, and what of it a
CPU can run runs there too, so on a machine without CUDA the command exercises the same code
and reports each GPU part as ``skipped`` with the reason.

| check | on CUDA | on the CPU |
|---|---|---|
| ``graph_equals_eager`` | the update replayed as CUDA graphs against eager updates on the same batches, fp32 | the same control flow with ``GraphStandIn`` (warm-up, capture, replay): bit-identical to eager |
| ``threaded_graph_resume`` | the threaded learner (``agent.overlap``) with graphs, acting greedily at epsilon 0.05 between updates, stopped (checkpoint written and read) and resumed, against the straight run; no loop-thread CUDA work inside a capture | the same with the stand-in |
| ``resume_across`` | checkpoints carried across ``cuda_graph`` on/off and CPU/GPU, with ``optim.name`` rmsprop_centered and adam: the resumed updates against the straight ones, Adam's step count where the new setting needs it | across the stand-in graph on/off, both optimizers |
| ``second_gpu`` | ``agent.device=cuda:1``: graphs equal to eager there, the threaded learner there, nothing allocated on cuda:0 | the device index parsing (no CUDA touched) |
| ``packed_equals_single`` | K seeds' vmapped update against K single updates | the same on the CPU |
| ``precision`` | one update in tf32 and in bf16 against fp32 (loss, gradient) | bf16 against fp32 |
| ``speed`` | ``bench gpu``'s table | a reduced table (eager-fp32, few updates) |

Tolerances (stated, not tuned on a GPU: none has run this yet):

* same device, same kernels (graphs against eager, a resume against the straight run):
  ``max |dtheta| <= SAME_KERNELS_REL x max |theta - theta0|`` on CUDA (cuDNN deterministic
  during the checks; the margin allows another convolution algorithm inside a capture), and
  exactly 0 on the CPU, where the stand-in runs the same kernels;
* other kernels (CPU against GPU, packed against single): ``updates x longest sum x fp32 eps
  x moved``, the bound of tests/tolerances.py, the longest sum being conv1's weight gradient
  (batch x 400 output positions);
* precision: ``PRECISION_TOLERANCE`` on the loss and the gradient's relative difference.
"""

from __future__ import annotations

import contextlib
import gc
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dqn_atari.agent import DQNAgent
from dqn_atari.bench.learner import random_batch
from dqn_atari.config import AgentConfig, OptimConfig
from dqn_atari.cuda_device import cuda_index, on_device
from dqn_atari.learner import ThreadedLearner
from dqn_atari.run.checkpoint import load_checkpoint, save_checkpoint
from dqn_atari.update_step import CUDA_GRAPH_WARMUP_UPDATES, GraphStandIn

NUM_ACTIONS = 6  # Pong's minimal action set
FLOAT32_EPS = float(torch.finfo(torch.float32).eps)
CONV1_OUTPUT_POSITIONS = 20 * 20  # the longest sum of an update: conv1's weight gradient
SAME_KERNELS_REL = 1e-4
PRECISION_TOLERANCE = {  # relative difference from fp32: (loss, gradient)
    "tf32": (1e-2, 5e-2),  # 10-bit mantissa products
    "bf16": (2e-2, 1e-1),  # 8-bit mantissa (as tests/test_update_step.py)
}
ACT_EPSILON = 0.05  # "low epsilon": most acts run the network on the loop thread
NO_CUDA = "no CUDA device"
STATUSES = ("passed", "failed", "skipped", "error")


@dataclass
class Row:
    """One part of one check: where it ran, its status, its figures."""

    check: str
    part: str  # "cuda", "cuda:1", "cpu", "cpu stand-in", ...
    status: str  # one of STATUSES
    figures: dict[str, Any] = field(default_factory=dict)
    note: str = ""  # why it was skipped, what failed


@dataclass
class Sizes:
    """How much each check does: small on the CPU (under a minute), larger on a GPU."""

    batch_size: int
    updates: int  # graph vs eager, and the threaded run
    resume_updates: int  # before and after a resume
    packed_seeds: int
    packed_updates: int
    precision_batches: int


CPU_SIZES = Sizes(batch_size=8, updates=CUDA_GRAPH_WARMUP_UPDATES + 4, resume_updates=5,
                  packed_seeds=2, packed_updates=3, precision_batches=2)
GPU_SIZES = Sizes(batch_size=32, updates=40, resume_updates=10, packed_seeds=4,
                  packed_updates=6, precision_batches=8)


# ------------------------------------------------------------------------ helpers
def cross_kernel_tolerance(updates: int, moved: float, batch_size: int) -> float:
    """The float32 difference allowed between two kernel orders of ``updates`` updates."""
    return updates * batch_size * CONV1_OUTPUT_POSITIONS * FLOAT32_EPS * moved


def _batches(count: int, batch_size: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [random_batch(rng, batch_size, NUM_ACTIONS) for _ in range(count)]


def make_agent(device: str, *, graph: bool = False, stand_in: GraphStandIn | None = None,
               optim: str = "rmsprop_centered", precision: str = "fp32",
               seed: int = 0) -> DQNAgent:
    """An agent of the check; ``graph`` on the CPU runs the stand-in (``stand_in`` or new)."""
    cuda = torch.device(device).type == "cuda"
    agent = DQNAgent(NUM_ACTIONS, AgentConfig(device=device, cuda_graph=graph and cuda,
                                              precision=precision),
                     OptimConfig(name=optim), seed=seed)
    if graph and not cuda:
        agent.use_graph_stand_in(stand_in or GraphStandIn())
    return agent


def _params(agent) -> list[torch.Tensor]:
    return [p.detach().float().cpu().clone() for p in agent.online.parameters()]


def _max_diff(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b, strict=True))


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(torch.device(device))


def _label(device: str, graph: bool) -> str:
    kind = "cpu" if torch.device(device).type == "cpu" else device
    if not graph:
        return f"{kind} eager"
    return "cpu stand-in graph" if kind == "cpu" else f"{kind} graph"


def _round(value: float) -> float:
    return float(f"{value:.3g}")


def _row(check: str, part: str, passed: bool, figures: dict[str, Any], note: str = "") -> Row:
    return Row(check, part, "passed" if passed else "failed", figures, "" if passed else note)


@contextlib.contextmanager
def deterministic_cudnn() -> Iterator[None]:
    """cuDNN deterministic and without autotuning while comparing; restored after."""
    before = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before


def _same_device_bound(device: str, moved: float) -> float:
    return 0.0 if torch.device(device).type == "cpu" else SAME_KERNELS_REL * moved


# --------------------------------------------------------------- graph vs eager
def graph_vs_eager(device: str, sizes: Sizes, check: str = "graph_equals_eager") -> Row:
    """``sizes.updates`` updates of an eager and a graph agent on the same batches."""
    eager = make_agent(device)
    stand_in = GraphStandIn()
    graph = make_agent(device, graph=True, stand_in=stand_in)
    initial = _params(eager)
    loss_rel = 0.0
    after_capture: list[torch.Tensor] | None = None
    for i, batch in enumerate(_batches(sizes.updates, sizes.batch_size)):
        a, b = eager.update(batch)["loss"], graph.update(batch)["loss"]
        loss_rel = max(loss_rel, float((a - b).abs() / a.abs().clamp_min(1e-12)))
        if i == CUDA_GRAPH_WARMUP_UPDATES:
            after_capture = _params(graph)  # after the first replayed update
    _sync(device)
    moved = _max_diff(_params(eager), initial)
    diff = _max_diff(_params(eager), _params(graph))
    moved_in_replays = _max_diff(_params(graph), after_capture) if after_capture else 0.0
    bound = _same_device_bound(device, moved)
    captured = "compute" in (graph._step._graphs or {})
    figures = {"updates": sizes.updates, "warm_up_updates": CUDA_GRAPH_WARMUP_UPDATES,
               "batch_size": sizes.batch_size, "graphs_captured": captured,
               "max_abs_param_diff": _round(diff), "max_param_moved": _round(moved),
               "bound": _round(bound), "max_loss_rel_diff": _round(loss_rel),
               "param_moved_in_replays": _round(moved_in_replays)}
    if torch.device(device).type == "cpu":
        figures["stand_in_captures"] = len(stand_in.events("capture_begin"))
    passed = captured and moved > 0 and moved_in_replays > 0 and diff <= bound
    return _row(check, _label(device, True), passed, figures,
                "graphs differ from eager past the bound, or the replays did not move the "
                "parameters (graph captured on another device?)")


# ---------------------------------------------------------- threaded, resumed
class _CaptureWatch:
    """Times the captures (learner thread) and the loop thread's CUDA-issuing calls."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, float]] = []
        self._lock = threading.Lock()

    def note(self, event: str) -> None:
        with self._lock:
            self.events.append((event, threading.current_thread().name, time.perf_counter()))

    def wrap(self, owner: Any, name: str, label: str) -> None:
        fn = getattr(owner, name)

        def wrapped(*args, **kwargs):
            self.note(f"{label}_begin")
            try:
                return fn(*args, **kwargs)
            finally:
                self.note(f"{label}_end")

        setattr(owner, name, wrapped)

    def watch(self, learner: ThreadedLearner) -> None:
        self.wrap(learner.agent._step._backend, "capture", "capture")
        self.wrap(learner, "_refresh_acting_network", "acting_copy")
        self.wrap(learner, "act", "act")

    def loop_calls_during_captures(self) -> int:
        """Loop-thread calls that began or ended while a capture was open."""
        open_captures, overlapping = 0, 0
        for event, thread, _ in self.events:
            if event == "capture_begin":
                open_captures += 1
            elif event == "capture_end":
                open_captures -= 1
            elif open_captures and not thread.startswith("dqn-learner"):
                overlapping += 1
        return overlapping

    def count(self, event: str) -> int:
        return sum(1 for e, _, _ in self.events if e == event)


def _save_and_load(state: dict[str, Any], directory: Path, step: int) -> dict[str, Any]:
    """Through the run's checkpoint format: written to disk, read back (CPU tensors)."""
    return load_checkpoint(save_checkpoint(directory, state, step))


STAND_IN_CAPTURE_SECONDS = 0.05  # a CPU stand-in capture held open, for the loop to run into


def threaded_graph_run(device: str, updates: int, batch_size: int, stop_at: int | None,
                       watch: _CaptureWatch) -> list[torch.Tensor]:
    """A threaded graph learner acting at ``ACT_EPSILON`` between updates; stopped after
    ``stop_at`` updates, checkpointed and resumed into a new agent and learner."""
    batches = _batches(updates, batch_size, seed=1)
    rng = np.random.default_rng(2)
    states = rng.integers(0, 256, (4, 4, 84, 84), dtype=np.uint8)
    threads = torch.get_num_threads()

    def start(state: dict[str, Any] | None) -> ThreadedLearner:
        agent = make_agent(device, graph=True,
                           stand_in=GraphStandIn(capture_seconds=STAND_IN_CAPTURE_SECONDS))
        learner = ThreadedLearner(agent, threads=threads)
        if state is not None:
            learner.load_seed_states([state["agent"]], [state["learner"]])
        watch.watch(learner)
        return learner

    learner = start(None)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i, batch in enumerate(batches):
                if i == stop_at:
                    learner.close()
                    state = _save_and_load({"agent": learner.agent.state_dict(),
                                            "learner": learner.seed_learner_state(0)}, Path(tmp), i)
                    learner = start(state)
                learner.submit([batch], i)
                learner.act(states[None], [ACT_EPSILON] * len(states), [rng])
    finally:
        learner.close()
    _sync(device)
    return _params(learner.agent)


def threaded_graph_resume(device: str, sizes: Sizes,
                          check: str = "threaded_graph_resume") -> Row:
    """The straight threaded graph run against one stopped and resumed halfway."""
    updates = sizes.resume_updates * 2 if torch.device(device).type == "cpu" else sizes.updates
    stop_at = updates // 2
    straight_watch, resumed_watch = _CaptureWatch(), _CaptureWatch()
    initial = _params(make_agent(device))
    straight = threaded_graph_run(device, updates, sizes.batch_size, None, straight_watch)
    resumed = threaded_graph_run(device, updates, sizes.batch_size, stop_at, resumed_watch)
    moved = _max_diff(straight, initial)
    diff = _max_diff(straight, resumed)
    bound = _same_device_bound(device, moved)
    during = (straight_watch.loop_calls_during_captures()
              + resumed_watch.loop_calls_during_captures())
    # Two graphs (gradients, optimizer step) per capture: one capture straight, two resumed.
    captures = (straight_watch.count("capture_begin"), resumed_watch.count("capture_begin"))
    figures = {"updates": updates, "stopped_after_updates": stop_at,
               "batch_size": sizes.batch_size, "act_epsilon": ACT_EPSILON,
               "graphs_recorded_straight_resumed": list(captures),
               "loop_calls_during_captures": during,
               "acts": straight_watch.count("act_begin") + resumed_watch.count("act_begin"),
               "max_abs_param_diff": _round(diff), "max_param_moved": _round(moved),
               "bound": _round(bound)}
    passed = during == 0 and captures == (2, 4) and moved > 0 and diff <= bound
    return _row(check, _label(device, True), passed, figures,
                "the resumed run differs from the straight one, the graphs were not recorded "
                "once per start, or the loop thread ran during a capture")


# ----------------------------------------------------------------- resume across
def resume_pair(source: tuple[str, bool], target: tuple[str, bool], optim: str,
                sizes: Sizes) -> dict[str, Any]:
    """``sizes.resume_updates`` updates on ``source`` (device, graph), a checkpoint, as
    many again resumed on ``target`` against the source going on; the figures."""
    n = sizes.resume_updates
    batches = _batches(2 * n, sizes.batch_size, seed=3)
    agent = make_agent(source[0], graph=source[1], optim=optim)
    initial = _params(agent)
    for batch in batches[:n]:
        agent.update(batch)
    with tempfile.TemporaryDirectory() as tmp:
        state = _save_and_load(agent.state_dict(), Path(tmp), n)
    resumed = make_agent(target[0], graph=target[1], optim=optim, seed=99)
    resumed.load_state_dict(state)
    steps = [s.get("step") for s in resumed.optimizer.state.values()]
    for batch in batches[n:]:
        agent.update(batch)
        resumed.update(batch)
    _sync(source[0])
    _sync(target[0])
    straight, got = _params(agent), _params(resumed)
    moved = _max_diff(straight, initial)
    diff = _max_diff(straight, got)
    same_device = torch.device(source[0]) == torch.device(target[0])
    bound = (_same_device_bound(source[0], moved) if same_device
             else cross_kernel_tolerance(n, moved, sizes.batch_size))
    out: dict[str, Any] = {"max_abs_param_diff": _round(diff), "max_param_moved": _round(moved),
                           "bound": _round(bound),
                           "passed": bool(moved > 0 and diff <= bound)}
    if optim == "adam":
        capturable = target[1] and torch.device(target[0]).type == "cuda"
        want = torch.device(target[0]) if capturable else torch.device("cpu")
        places = {str(s.device) for s in steps if isinstance(s, torch.Tensor)}
        out["adam_step_device"] = sorted(places)
        out["passed"] = out["passed"] and all(
            isinstance(s, torch.Tensor) and s.device.type == want.type
            and (not capturable or s.dtype == torch.float32) for s in steps)
    return out


def resume_across(cuda: str | None, sizes: Sizes, check: str = "resume_across") -> list[Row]:
    """Every pair of (device, graph) settings a resume may switch between (see the table)."""
    cpu_pairs = [(("cpu", False), ("cpu", True)), (("cpu", True), ("cpu", False))]
    gpu_pairs = [] if cuda is None else [((cuda, False), (cuda, True)),
                                         ((cuda, True), (cuda, False)),
                                         (("cpu", False), (cuda, True)),
                                         ((cuda, True), ("cpu", False))]
    rows = []
    for source, target in cpu_pairs + gpu_pairs:
        part = f"{_label(*source)} -> {_label(*target)}"
        t0 = time.perf_counter()
        figures: dict[str, Any] = {optim: resume_pair(source, target, optim, sizes)
                                   for optim in ("rmsprop_centered", "adam")}
        figures["updates_before_and_after"] = sizes.resume_updates
        figures["seconds"] = round(time.perf_counter() - t0, 1)
        passed = all(f["passed"] for f in figures.values() if isinstance(f, dict))
        rows.append(_row(check, part, passed, figures,
                         "the resumed updates differ from the straight ones past the bound, or "
                         "Adam's step count is not where the new setting needs it"))
    if cuda is None:
        for part in ("cuda eager <-> cuda graph", "cpu <-> cuda"):
            rows.append(Row(check, part, "skipped", note=NO_CUDA))
    return rows


# -------------------------------------------------------------------- cuda:1
def second_gpu(sizes: Sizes, check: str = "second_gpu") -> list[Row]:
    """``agent.device=cuda:1``: the CPU part parses the device; the GPU part needs 2 GPUs."""
    parsed = {"cuda:1": cuda_index("cuda:1"), "cpu": cuda_index("cpu")}
    context = on_device("cuda:1")  # built, not entered: no CUDA touched
    ok = (parsed == {"cuda:1": 1, "cpu": None} and isinstance(context, torch.cuda.device)
          and context.idx == 1)
    rows = [_row(check, "cpu: device index parsing", ok,
                 {"cuda_index": parsed, "on_device_index": getattr(context, "idx", None)},
                 "cuda:1 does not resolve to device index 1")]
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count < 2:
        reason = NO_CUDA if count == 0 else "1 CUDA device; this check needs 2"
        rows.append(Row(check, "cuda:1", "skipped", note=reason))
        return rows
    gc.collect()  # the earlier checks' agents, freed now rather than during this one
    torch.cuda.synchronize(0)
    before = torch.cuda.memory_allocated(0)
    t0 = time.perf_counter()
    graph_row = graph_vs_eager("cuda:1", sizes, check)
    t1 = time.perf_counter()
    threaded_row = threaded_graph_resume("cuda:1", sizes, check)
    graph_row.figures["seconds"] = round(t1 - t0, 1)
    threaded_row.figures["seconds"] = round(time.perf_counter() - t1, 1)
    torch.cuda.synchronize(0)
    grown = torch.cuda.memory_allocated(0) - before
    for row in (graph_row, threaded_row):
        row.figures["cuda0_allocated_bytes_grown"] = grown
        if grown > 0 and row.status == "passed":
            row.status, row.note = "failed", "memory was allocated on cuda:0"
    graph_row.part, threaded_row.part = "cuda:1 graph vs eager", "cuda:1 threaded resume"
    return rows + [graph_row, threaded_row]


# --------------------------------------------------------------------- packed
def packed_equals_single(device: str, sizes: Sizes, check: str = "packed_equals_single") -> Row:
    """K seeds' vmapped update against K single agents on the same batches (fp32 eager)."""
    from dqn_atari.stacked_learner import StackedLearner

    k, n = sizes.packed_seeds, sizes.packed_updates
    singles = [make_agent(device, seed=s) for s in range(k)]
    initial = [_params(a) for a in singles]
    packed = StackedLearner([make_agent(device, seed=s) for s in range(k)], OptimConfig())
    loss_rel = 0.0
    for step in range(n):
        batches = _batches(k, sizes.batch_size, seed=10 + step)
        expected = [a.update(b)["loss"] for a, b in zip(singles, batches, strict=True)]
        got = [m["loss"] for m in packed.update(batches)]
        for e, g in zip(expected, got, strict=True):
            loss_rel = max(loss_rel, float((e - g).abs() / e.abs().clamp_min(1e-12)))
    _sync(device)
    worst, bound_at_worst, moved_min = 0.0, 0.0, float("inf")
    passed = True
    for s, agent in enumerate(singles):
        state = packed.seed_state_dict(s)["online"]
        single = [p.detach().float().cpu() for p in agent.online.parameters()]
        got = [state[name].float().cpu() for name, _ in agent.online.named_parameters()]
        moved = _max_diff(single, initial[s])
        diff = _max_diff(single, got)
        bound = cross_kernel_tolerance(n, moved, sizes.batch_size)
        moved_min = min(moved_min, moved)
        passed = passed and moved > 0 and diff <= bound
        if diff >= worst:
            worst, bound_at_worst = diff, bound
    figures = {"seeds": k, "updates": n, "batch_size": sizes.batch_size,
               "max_abs_param_diff": _round(worst), "bound": _round(bound_at_worst),
               "min_param_moved": _round(moved_min), "max_loss_rel_diff": _round(loss_rel)}
    part = "cpu" if torch.device(device).type == "cpu" else device
    return _row(check, part, passed, figures,
                "a packed seed differs from its single run past the bound")


# ------------------------------------------------------------------ precision
def _one_update(device: str, precision: str, batch) -> tuple[float, torch.Tensor]:
    """The loss and the flattened gradient of one update from the seed-0 initialisation."""
    agent = make_agent(device, precision=precision)
    loss = float(agent.update(batch)["loss"])
    grad = torch.cat([p.grad.detach().float().reshape(-1).cpu()
                      for p in agent.online.parameters()])
    return loss, grad


def precision_vs_fp32(device: str, sizes: Sizes, check: str = "precision") -> list[Row]:
    cuda = torch.device(device).type == "cuda"
    rows = []
    batches = _batches(sizes.precision_batches, sizes.batch_size, seed=4)
    reference = [_one_update(device, "fp32", b) for b in batches]
    for precision in ("tf32", "bf16"):
        part = f"{'cpu' if not cuda else device} {precision}"
        if precision == "tf32" and not cuda:
            rows.append(Row(check, part, "skipped", note=f"{NO_CUDA} (tf32 is a CUDA mode)"))
            continue
        loss_rel = grad_rel = 0.0
        t0 = time.perf_counter()
        for batch, (loss, grad) in zip(batches, reference, strict=True):
            other_loss, other_grad = _one_update(device, precision, batch)
            loss_rel = max(loss_rel, abs(other_loss - loss) / max(abs(loss), 1e-12))
            grad_rel = max(grad_rel, float((other_grad - grad).norm() / grad.norm()))
        loss_tol, grad_tol = PRECISION_TOLERANCE[precision]
        figures = {"batches": len(batches), "batch_size": sizes.batch_size,
                   "max_loss_rel_diff": _round(loss_rel), "loss_tolerance": loss_tol,
                   "max_grad_rel_diff": _round(grad_rel), "grad_tolerance": grad_tol,
                   "seconds": round(time.perf_counter() - t0, 1)}
        rows.append(_row(check, part, loss_rel <= loss_tol and grad_rel <= grad_tol, figures,
                         f"{precision} is further from fp32 than its stated tolerance"))
    if cuda:
        from dqn_atari.update_step import set_tf32_policy

        set_tf32_policy("fp32", torch.device(device))  # the last agent built set it
    return rows


# ----------------------------------------------------------------------- speed
def speed(cuda: str | None, updates: int) -> tuple[Row, dict[str, Any]]:
    """``bench gpu``'s figures on CUDA; a reduced CPU table (eager-fp32) without it."""
    from dqn_atari.bench.gpu import bench_gpu

    if cuda is not None:
        figures = bench_gpu(cuda, updates=updates)
        part = cuda
    else:
        figures = bench_gpu("cpu", updates=3, acts=10, settings=("eager-fp32",), packed=(2,))
        part = f"cpu (reduced: eager-fp32, 3 updates, {torch.get_num_threads()} thread(s))"
    learner = figures["learner"]
    n = torch.get_num_threads()
    summary = {key.replace(f"/update_ms_threads_{n}", " update_ms"): value
               for key, value in learner.items() if key.endswith(f"/update_ms_threads_{n}")}
    summary.update({k: v for k, v in figures.items() if k.startswith("packed_")
                    and k.endswith("_update_ms")})
    return Row("speed", part, "passed", summary), figures


# ----------------------------------------------------------------------- runner
def _guarded(check: str, part: str, fn: Callable[[], Row | list[Row]]) -> list[Row]:
    """Run one check part; an exception is an ``error`` row naming it, not a crash."""
    try:
        out = fn()
    except Exception as e:  # noqa: BLE001 - every failure is reported, the others still run
        return [Row(check, part, "error", note=f"{type(e).__name__}: {e}")]
    return out if isinstance(out, list) else [out]


def run_checks(device: str | None = None, with_speed: bool = True,
               speed_updates: int = 50, progress: Callable[[str], None] | None = None
               ) -> dict[str, Any]:
    """Every check, on ``device`` (default: ``cuda`` when available) and on the CPU."""
    available = torch.cuda.is_available()
    if device is None:
        device = "cuda" if available else "cpu"
    if torch.device(device).type == "cuda" and not available:
        raise RuntimeError(f"--device {device}: torch {torch.__version__} sees no CUDA device "
                           "here; leave --device out to run the CPU parts")
    cuda = device if torch.device(device).type == "cuda" else None
    sizes = GPU_SIZES if cuda else CPU_SIZES
    say = progress or (lambda _msg: None)
    rows: list[Row] = []
    start = time.perf_counter()

    def run(check: str, part: str, fn: Callable[[], Row | list[Row]]) -> None:
        say(f"{check} [{part}] ...")
        t0 = time.perf_counter()
        got = _guarded(check, part, fn)
        ran = [row for row in got if row.status != "skipped"]
        if len(ran) == 1:
            ran[0].figures.setdefault("seconds", round(time.perf_counter() - t0, 1))
        rows.extend(got)

    speed_figures: dict[str, Any] | None = None

    def speed_row() -> Row:
        nonlocal speed_figures
        row, speed_figures = speed(cuda, speed_updates)
        return row

    threads_before = torch.get_num_threads()
    try:
        if cuda is None:
            # Correctness does not depend on it, and one thread is not slowed down by other
            # jobs' use of the cores (README, Threads) as a spinning second one is.
            torch.set_num_threads(1)
        with deterministic_cudnn():
            if cuda:
                run("graph_equals_eager", cuda, lambda: graph_vs_eager(cuda, sizes))
            else:
                rows.append(Row("graph_equals_eager", "cuda", "skipped", note=NO_CUDA))
            run("graph_equals_eager", "cpu stand-in", lambda: graph_vs_eager("cpu", CPU_SIZES))
            if cuda:
                run("threaded_graph_resume", cuda, lambda: threaded_graph_resume(cuda, sizes))
            else:
                rows.append(Row("threaded_graph_resume", "cuda", "skipped", note=NO_CUDA))
            run("threaded_graph_resume", "cpu stand-in",
                lambda: threaded_graph_resume("cpu", CPU_SIZES))
            run("resume_across", "all pairs", lambda: resume_across(cuda, sizes))
            run("second_gpu", "cuda:1", lambda: second_gpu(sizes))
            run("packed_equals_single", device, lambda: packed_equals_single(device, sizes))
            run("precision", device, lambda: precision_vs_fp32(device, sizes))
        if with_speed:  # cuDNN free to autotune again
            run("speed", device, speed_row)
    finally:
        torch.set_num_threads(threads_before)
    counts = {status: sum(r.status == status for r in rows) for status in STATUSES}
    return {"check": [asdict(r) for r in rows], **counts,
            "device": device, "cuda_available": available,
            "cuda_devices": torch.cuda.device_count() if available else 0,
            "torch": torch.__version__, "seconds": round(time.perf_counter() - start, 1),
            "speed": speed_figures,
            "exit_status": 1 if counts["failed"] or counts["error"] else 0}


def _figures_text(row: dict[str, Any]) -> str:
    if row["note"]:
        head = row["note"]
        rest = {k: v for k, v in row["figures"].items() if k != "seconds"}
        return f"{head}; {_flat(rest)}" if rest else head
    return _flat(row["figures"])


def _flat(figures: dict[str, Any]) -> str:
    parts = []
    for key, value in figures.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k}={v}" for k, v in value.items() if k != "passed")
            parts.append(f"{key}: {inner}")
        else:
            parts.append(f"{key}={value}")
    return "; ".join(parts)


def format_table(result: dict[str, Any]) -> str:
    """The rows as a readable table (check, part, status, figures or the reason)."""
    rows = [("check", "part", "status", "figures / reason")]
    rows += [(r["check"], r["part"], r["status"], _figures_text(r)) for r in result["check"]]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 16)
    lines.append(f"{result['passed']} passed, {result['failed']} failed, "
                 f"{result['skipped']} skipped, {result['error']} errors in "
                 f"{result['seconds']} s (device {result['device']}, torch {result['torch']})")
    return "\n".join(lines)
