"""The learner: what the training loop asks of the updates, for K >= 1 seeds in lockstep.

The training loop (loop.py) talks to a learner only through this protocol, whatever the
number of seeds K it trains together and however the updates run (as in Acme, a
construction choice: ``make_learner``):

* ``act(states, epsilons, rngs)``: epsilon-greedy actions (K, n) of states (K, n, C, H, W),
  seed k drawing from ``rngs[k]``, state i at ``epsilons[i]``;
* ``submit(batches, tag)``: an update of every seed, seed k on ``batches[k]``; returns the
  updates completed by now, oldest first, as ``(tag, [metrics of seed k])``;
* ``sync_target()``: the hard target copy (after the update in flight); returns the updates
  it waited for;
* ``finish()``: waits for the update in flight and returns it; ``close()`` also stops it;
* ``num_updates``: updates made by each seed;
* ``load_seed_states(agent_states, learner_states)`` and ``seed_learner_state(k)``: the
  learner's part of resuming and checkpointing seed k.

Two engines implement it:

* K = 1: ``InlineLearner`` and ``ThreadedLearner`` here, around one ``DQNAgent`` and its
  ``UpdateStep`` (update_step.py): in-line or threaded, eager or compiled, CUDA graphs;
* K > 1: ``StackedLearner`` (stacked_learner.py): the K seeds' networks stacked, one vmapped
  update of K batches.

``InlineLearner``: ``submit`` runs the update at once; acting uses the online network.

``ThreadedLearner`` (``agent.overlap=true``): torch releases the GIL inside its kernels, so
an update (about 24 ms on 2 CPU cores) runs while the loop steps the emulator, acts and
writes the replay. The schedule is the in-line learner's exactly:

* the update due at agent step ``t`` samples the replay in the loop's thread right after
  transition ``t`` is added (``submit`` takes the sampled batch, a copy);
* at most one update is in flight: ``submit`` first waits for the previous one, so updates
  run one after the other in submission order, on the same batches as in-line;
* the target copy at step ``t`` waits for the update in flight (``finish``) before copying;
* completed updates are returned in submission order, so the per-iteration sums are those
  of the in-line learner for the same batches.

The one difference is the acting network: the update in flight modifies the online
parameters in place, so the loop acts with ``acting_network``, a copy of the parameters the
update in flight starts from (the parameters after every update but the latest one). The
copy (6.7 MB, about 1 ms) is taken in the loop's thread while the update computes its
forward and backward passes, which only read the parameters: the update's ``before_apply``
barrier (between its gradient and optimizer halves, update_step.py) holds the parameter
write until the copy is done. On the same batches the two learners' updates are
bit-identical (tests/test_learner.py), and so are whole runs whose actions are all random
(epsilon 1; tests/test_vector.py). The acting copy is
part of the learner's state, so a resumed run acts exactly as the uninterrupted one.

Threads: the learner thread sets its own torch intra-op thread count (OpenMP keeps one per
calling thread); the loop's thread keeps its own for acting.

CUDA: the learner thread runs its updates on its own CUDA stream, so they overlap the
loop's acting kernels on the default stream. Host-side waits are not enough there (a
kernel is queued, not done, when the call returns), so the two streams are ordered by
events at the three places where they share tensors:

* an update starts after the loop's queued work (``submit`` records an event on the loop's
  stream; the learner stream waits for it), e.g. a target copy;
* the parameter write waits for the acting copy (the barrier also makes the learner stream
  wait for the copy's event);
* the loop's stream waits for the learner stream in ``finish`` before it reads the
  parameters again (target copy, acting copy, checkpoints), and the update's metrics (made
  on the learner stream, summed on the loop's) are handed to the loop's stream, so their
  memory is not reused while the sum is queued (issue 23, defect 6).

Every event is recorded on a named stream of the agent's device, and the learner thread makes
that device its current one (``agent.device=cuda:N``; defect 3).

CUDA graphs (``agent.cuda_graph=true``) are recorded by the update that follows the warm-up,
in the learner thread, and a capture must see no CUDA work from the other threads (defect 1:
the loop thread's acting copies, greedy acts and metric sums). ``submit`` therefore asks the
agent whether the update it starts will capture (``captures_next_update``); if so, the loop
thread waits, issuing no CUDA work, until the update reaches its barrier (``before_apply``
comes after the capture) or fails. That costs one update's overlap per capture: once per
start or resume of a run.

On the CPU the same code runs with the stream operations skipped (``self._stream`` is None).
"""

from __future__ import annotations

import copy
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from dqn_atari.cuda_device import cuda_index, current_stream, hand_over

Completed = tuple[Any, list[dict[str, torch.Tensor]]]  # (tag, each seed's metrics) of an update


class InlineLearner:
    """One seed (K = 1): updates in the loop's thread; acts with the online network."""

    num_seeds = 1

    def __init__(self, agent) -> None:
        self.agent = agent

    @property
    def num_updates(self) -> int:
        return self.agent.num_updates

    def act(self, states: np.ndarray, epsilons: list[float],
            rngs: list[np.random.Generator]) -> np.ndarray:
        """Epsilon-greedy actions (1, n) of states (1, n, C, H, W), state ``i`` at ``epsilons[i]``.

        One state takes the single-state path (one ``rng.random()``), as a single actor.
        """
        (seed_states,), (rng,) = states, rngs
        if len(seed_states) == 1:
            return np.asarray([[self.agent.act(seed_states[0], epsilons[0], rng,
                                               network=self.acting_network)]])
        return np.asarray([self.agent.act(seed_states, np.asarray(epsilons), rng,
                                          network=self.acting_network)])

    @property
    def acting_network(self) -> torch.nn.Module:
        return self.agent.online

    def submit(self, batches: list, tag: Any = None) -> list[Completed]:
        """Update on ``batches[0]``; returns the updates completed by now, oldest first."""
        (batch,) = batches
        return [(tag, [self.agent.update(batch)])]

    def sync_target(self) -> list[Completed]:
        """Copy the online network into the target, after the update in flight (returned)."""
        done = self.finish()
        self.agent.sync_target()
        return done

    def finish(self) -> list[Completed]:
        """Wait for the update in flight (none in-line)."""
        return []

    def close(self) -> list[Completed]:
        return self.finish()

    def seed_learner_state(self, k: int = 0) -> dict[str, Any] | None:
        """The learner's part of the seed's checkpoint (in-line: nothing)."""
        return None

    def load_seed_states(self, agent_states: list[dict], learner_states: list) -> None:
        """Resume: the agent's checkpointed state, then the learner's own part."""
        (agent_state,), (learner_state,) = agent_states, learner_states
        self.agent.load_state_dict(agent_state)
        self._load_learner_state(learner_state)

    def _load_learner_state(self, state: dict[str, Any] | None) -> None:
        del state


class ThreadedLearner(InlineLearner):
    """Runs ``agent.update`` in one background thread, one update in flight at most.

    Args:
      agent: the DQNAgent whose ``update`` runs in the background.
      threads: torch intra-op threads of the learner thread (0: the caller's count).
    """

    def __init__(self, agent, threads: int = 0) -> None:
        super().__init__(agent)
        self._acting = copy.deepcopy(agent.online).requires_grad_(False)
        self.threads = threads if threads > 0 else torch.get_num_threads()
        # Resolved here, in the loop's thread: a bare "cuda" is this thread's current device.
        self._cuda_index = cuda_index(agent.device)
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="dqn-learner", initializer=self._start_thread,
        )
        self._future: Future | None = None
        self._tag: Any = None
        self._copied = threading.Event()  # the acting copy of the parameters is taken
        self._copied.set()
        # The update in flight is past its capture (if it captures): set at its barrier.
        self._past_capture = threading.Event()
        self._past_capture.set()
        cuda = agent.device.type == "cuda"
        self._stream = torch.cuda.Stream(agent.device) if cuda else None
        self._submitted = torch.cuda.Event() if cuda else None  # loop's work before the update
        self._copy_done = torch.cuda.Event() if cuda else None  # the acting copy, on the GPU

    @property
    def acting_network(self) -> torch.nn.Module:
        return self._acting

    def _start_thread(self) -> None:
        """In the learner thread, once: its torch thread count and CUDA device."""
        torch.set_num_threads(self.threads)
        if self._cuda_index is not None:
            torch.cuda.set_device(self._cuda_index)

    def _update(self, batch) -> dict[str, torch.Tensor]:
        """In the learner thread: one update with this thread's torch thread count."""
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        if self._stream is None:
            return self.agent.update(batch, before_apply=self._before_apply)
        with torch.cuda.stream(self._stream):
            self._stream.wait_event(self._submitted)
            return self.agent.update(batch, before_apply=self._before_apply)

    def _before_apply(self) -> None:
        """In the learner thread: the parameters may change once the acting copy is taken."""
        self._past_capture.set()  # any capture of this update is over
        self._copied.wait()
        if self._stream is not None:  # the stream the update's kernels are queued on now
            torch.cuda.current_stream(self.agent.device).wait_event(self._copy_done)

    def _refresh_acting_network(self) -> None:
        """``acting_network`` <- the online network's current parameters."""
        pairs = list(zip(self._acting.parameters(), self.agent.online.parameters(), strict=True))
        pairs += list(zip(self._acting.buffers(), self.agent.online.buffers(), strict=True))
        with torch.no_grad():
            for p, q in pairs:
                if p.device.type == "cpu" and q.device.type == "cpu":
                    # one memcpy in this thread (no OpenMP team competing with the learner's)
                    np.copyto(p.detach().numpy(), q.detach().numpy())
                else:
                    p.copy_(q)

    @property
    def in_flight(self) -> bool:
        return self._future is not None

    def submit(self, batches: list, tag: Any = None) -> list[Completed]:
        """Start an update on ``batches[0]``; returns the previous one if it was in flight."""
        (batch,) = batches
        done = self.finish()
        self._copied.clear()
        captures = self.agent.captures_next_update
        if self._submitted is not None:
            self._submitted.record(current_stream(self.agent.device))  # on the loop's stream
        if captures:
            self._past_capture.clear()
        future = self._executor.submit(self._update, batch)
        self._future, self._tag = future, tag
        try:
            if captures:
                # The update records its CUDA graphs now: no CUDA work from this thread until
                # it has (it reaches its barrier) or it failed (finish re-raises).
                future.add_done_callback(lambda _: self._past_capture.set())
                self._past_capture.wait()
            self._refresh_acting_network()  # overlaps the update's forward/backward (reads only)
            if self._copy_done is not None:
                self._copy_done.record(current_stream(self.agent.device))
        finally:
            self._copied.set()
        return done

    def finish(self) -> list[Completed]:
        """Finish the update in flight; returns it (``[]`` if there was none)."""
        if self._future is None:
            return []
        future, tag = self._future, self._tag
        self._future, self._tag = None, None
        metrics = future.result()  # re-raises an exception of the update
        if self._stream is not None:
            loop_stream = torch.cuda.current_stream(self.agent.device)
            loop_stream.wait_stream(self._stream)
            hand_over(metrics.values(), loop_stream)  # made on the learner stream
        return [(tag, [metrics])]

    def close(self) -> list[Completed]:
        """Finish the update in flight and stop the thread."""
        try:
            return self.finish()
        finally:
            self._copied.set()
            self._executor.shutdown(wait=True)

    def seed_learner_state(self, k: int = 0) -> dict[str, Any]:
        """The acting network (the parameters before the latest update)."""
        return {"acting_network": {k: v.detach().clone()
                                   for k, v in self._acting.state_dict().items()}}

    def _load_learner_state(self, state: dict[str, Any] | None) -> None:
        """Restore ``seed_learner_state()``; without one (a run that had no overlap until now), act
        with the restored online network."""
        if state is not None and state.get("acting_network") is not None:
            self._acting.load_state_dict(state["acting_network"])
        else:
            self._refresh_acting_network()


def make_learner(agents: list, agent_cfg, optim_cfg, threads: int = 0):
    """The run's learner for its K seeds' agents (built as K single runs build them).

    K = 1: threaded with ``agent.overlap=true``, else in-line, around the one ``DQNAgent``.
    K > 1: one ``StackedLearner`` (stacked_learner.py) for all, whose seed slices replace the
    agents (``learner.seed_agents``); its settings are checked by ``check_packable``.
    """
    if len(agents) == 1:
        (agent,) = agents
        return ThreadedLearner(agent, threads) if agent_cfg.overlap else InlineLearner(agent)
    from dqn_atari.stacked_learner import StackedLearner

    return StackedLearner(agents, optim_cfg)
