"""The training phase with parallel actors (``env.num_envs``) and/or overlap (``agent.overlap``).

``Runner._train_phase`` calls ``train_phase_batched`` when its actor is a ``VectorActor``.
Counting is in TOTAL agent steps, exactly as the single-actor loop:

* one loop round selects the actions of the ``N`` actors in ONE batch (``agent.act`` on
  ``(N, 4, 84, 84)``), actor ``i`` with epsilon at total agent step ``t + i`` (``t`` the
  count before the round), then steps the actors one after the other; each counts one
  agent step;
* after each agent step, the same rules as the single actor: an update of 32 when the
  total count ``t`` is a multiple of ``agent.update_period_agent_steps`` (4) and at least
  ``learning_starts_agent_steps`` -- so ``N`` agent steps give ``N / 4`` updates, for any
  ``N``, at the same total steps as one actor (no rounding, no credit to carry) -- and the
  target copy when ``t`` is a multiple of ``target_update_period_agent_steps``;
* the update due at step ``t`` samples the replay right after transition ``t`` is stored;
* the last round of a phase steps only the actors needed to reach the phase's end.

The differences to one actor are therefore only which games are played (N at once) and,
for acting, that the network is evaluated once per round (before the round's updates).
With ``agent.overlap`` the updates run in a background thread (dqn_atari/overlap.py).

``runner.loop_hook``, when set (tests), is called as ``hook(event, agent_step, updates)``
with event "update" when the update for ``agent_step`` has completed (``updates`` = the
agent's update count then) and "sync_target" when the target is copied.
"""

from __future__ import annotations

import time

import numpy as np

from dqn_atari.overlap import OverlappedLearner
from dqn_atari.runner import FINITE_CHECK_PERIOD_AGENT_STEPS, PROGRESS_PERIOD_AGENT_STEPS


def _acting_agent(agent, policy):
    """``agent`` acting with the network ``policy`` (same epsilon-greedy code and RNG use)."""
    if policy is None:
        return agent
    import copy

    view = copy.copy(agent)  # shallow: shares everything but the acting network
    view.online = policy
    return view


def train_phase_batched(runner, sinks, progress, end: int) -> bool:
    """Train ``runner`` up to total agent step ``end``; False if a signal stopped it."""
    cfg = runner.cfg
    vector = runner.actor
    agent, replay = runner.agent, runner.replay
    n = vector.num_envs
    starts = cfg.agent.learning_starts_agent_steps
    batch_size = cfg.agent.batch_size
    hook = getattr(runner, "loop_hook", None)
    overlap = vector.policy is not None
    learner = (OverlappedLearner(agent, vector.refresh_policy, threads=cfg.torch_threads)
               if overlap else None)
    acting = _acting_agent(agent, vector.policy)

    def account(done) -> None:
        """Add a completed update's metrics to the iteration's sums."""
        if done is None:
            return
        step, metrics = done
        runner.it_loss_sum += metrics["loss"]
        runner.it_mean_q_sum += metrics["mean_q"]
        runner.it_updates += 1
        if hook is not None:
            hook("update", step, agent.num_updates)

    t0 = time.perf_counter()
    steps_at_t0 = runner.agent_steps
    try:
        while runner.agent_steps < end:
            if runner._stop_signal is not None:
                return False
            k = min(n, end - runner.agent_steps)
            base = runner.agent_steps
            epsilons = [runner.epsilon(base + i) for i in range(k)]
            if k == 1:  # the single-state path (the single actor's RNG use)
                actions = [acting.act(vector.actors[0].state, epsilons[0], runner.action_rng)]
            else:
                actions = acting.act(vector.states(k), np.asarray(epsilons), runner.action_rng)
            for i in range(k):
                game = vector.actors[i].step(int(actions[i]))
                runner.agent_steps += 1
                step = runner.agent_steps
                if game is not None:
                    runner._log_game(sinks, "train", game, epsilons[i])
                    runner.it_train_returns.append(game.raw_return)
                    runner.last_raw_return = game.raw_return
                if step >= starts and runner.update_due(step):
                    batch = replay.sample(batch_size)
                    if learner is not None:
                        account(learner.submit(batch, tag=step))
                    else:
                        account((step, agent.update(batch)))
                if runner.target_due(step):
                    if learner is not None:
                        account(learner.wait())
                    agent.sync_target()
                    if hook is not None:
                        hook("sync_target", step, agent.num_updates)
                if step % FINITE_CHECK_PERIOD_AGENT_STEPS == 0 and runner.it_updates:
                    runner._check_finite()
                if progress is not None and step % PROGRESS_PERIOD_AGENT_STEPS == 0:
                    progress.update(step - progress.n)
                    progress.set_postfix(frames=step * runner.repeat,
                                         last_return=runner.last_raw_return,
                                         epsilon=round(epsilons[i], 3), refresh=False)
    finally:
        if learner is not None:
            account(learner.close())  # the checkpoint and the iteration row see every update
        elapsed = time.perf_counter() - t0
        runner.it_train_time_s += elapsed
        runner.wall_time_s += elapsed
        runner.it_train_agent_steps += runner.agent_steps - steps_at_t0
    return True
