"""The learner in a background thread, so the environment steps while it computes.

torch releases the GIL inside its kernels, so an update (about 24 ms on 2 CPU cores)
runs while the training loop steps the emulator, acts and writes the replay. The loop
keeps the sequential loop's schedule exactly:

* the update due at agent step ``t`` samples the replay in the loop's thread right after
  transition ``t`` is added (``submit`` takes the sampled batch: the replay as of step ``t``;
  the batch is a copy, so later writes cannot change it);
* at most one update is in flight: ``submit`` first waits for the previous one, so updates
  run one after the other in submission order, on the same batches as the sequential loop;
* the target copy at step ``t`` waits for the update in flight (``wait``) before copying;
* losses are summed in submission order, so the per-iteration sums are those of the
  sequential loop for the same batches.

The one difference to the sequential loop is the acting network: the update in flight
modifies the online parameters in place, so the actors act with ``VectorActor.policy``, a
copy of the parameters the update in flight starts from (the parameters after every update
but the latest one). The copy (6.7 MB, about 1 ms) is taken in the loop's thread while the
update computes its forward and backward passes, which only read the parameters: an
optimizer step pre-hook holds the update's parameter write until the copy is done. With all
actions random (epsilon 1) the overlapped and the sequential loops are bit-identical
(tests/test_vector.py).

Threads: the learner thread sets its own torch intra-op thread count (OpenMP keeps one per
calling thread); the loop's thread keeps its own for acting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch


class OverlappedLearner:
    """Runs ``agent.update`` in one background thread, one update in flight at most.

    Args:
      agent: the DQNAgent whose ``update`` runs in the background.
      refresh_policy: called in the loop's thread at each ``submit``, while the new update
        has not yet written the parameters (copies them to the acting network).
      threads: torch intra-op threads of the learner thread (0: the caller's count).
    """

    def __init__(self, agent, refresh_policy: Callable[[], None], threads: int = 0) -> None:
        self.agent = agent
        self._refresh_policy = refresh_policy
        self.threads = threads if threads > 0 else torch.get_num_threads()
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="dqn-learner",
            initializer=torch.set_num_threads, initargs=(self.threads,),
        )
        self._future: Future | None = None
        self._tag: Any = None
        self._copied = threading.Event()  # the acting copy of the parameters is taken
        self._copied.set()
        self._hook = agent.optimizer.register_step_pre_hook(self._before_optimizer_step)

    def _update(self, batch) -> dict[str, torch.Tensor]:
        """In the learner thread: one update with this thread's torch thread count."""
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        return self.agent.update(batch)

    def _before_optimizer_step(self, _optimizer, _args, _kwargs) -> None:
        """In the learner thread: the parameters may change once the acting copy is taken."""
        self._copied.wait()

    @property
    def in_flight(self) -> bool:
        return self._future is not None

    def submit(self, batch, tag: Any = None) -> tuple[Any, dict[str, torch.Tensor]] | None:
        """Start an update on ``batch``; returns ``(tag, metrics)`` of the previous one, if any."""
        done = self.wait()
        self._copied.clear()
        self._future = self._executor.submit(self._update, batch)
        self._tag = tag
        try:
            self._refresh_policy()  # overlaps the update's forward/backward (reads only)
        finally:
            self._copied.set()
        return done

    def wait(self) -> tuple[Any, dict[str, torch.Tensor]] | None:
        """Finish the update in flight; returns its ``(tag, metrics)`` (None if there was none)."""
        if self._future is None:
            return None
        future, tag = self._future, self._tag
        self._future, self._tag = None, None
        return tag, future.result()  # re-raises an exception of the update

    def close(self) -> tuple[Any, dict[str, torch.Tensor]] | None:
        """Finish the update in flight and stop the thread."""
        try:
            return self.wait()
        finally:
            self._copied.set()
            self._executor.shutdown(wait=True)
            self._hook.remove()
