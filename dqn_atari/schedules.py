"""Step schedules: the linear epsilon decay and a periodic step predicate.

Both take an agent step count (decisions of the agent, not frames).
"""

from __future__ import annotations


class LinearSchedule:
    """``start`` until ``begin_agent_steps``, linear to ``end`` over ``duration_agent_steps``.

    Nature, as DeepMind's original code, DQN Zoo and Dopamine run it: epsilon held at
    1.0 until learning starts (50,000 agent steps), then 1.0 -> 0.1 over 1,000,000
    agent steps (the paper's "frames" are agent steps here), then held at 0.1. This is
    Dopamine's ``linearly_decaying_epsilon(decay_period, step, warmup_steps, epsilon)``
    with ``start`` 1.0. ``duration_agent_steps <= 0`` gives ``end`` from ``begin`` on.
    """

    def __init__(self, start: float, end: float, duration_agent_steps: int,
                 begin_agent_steps: int = 0) -> None:
        self.start = start
        self.end = end
        self.duration_agent_steps = duration_agent_steps
        self.begin_agent_steps = begin_agent_steps

    def __call__(self, agent_step: int) -> float:
        elapsed = agent_step - self.begin_agent_steps
        if elapsed < 0:
            return self.start
        if self.duration_agent_steps <= 0:
            return self.end
        fraction = min(elapsed / self.duration_agent_steps, 1.0)
        return self.start + fraction * (self.end - self.start)


def training_epsilon(agent_cfg) -> LinearSchedule:
    """The training epsilon of an ``AgentConfig`` (``epsilon_*`` keys, in agent steps)."""
    return LinearSchedule(agent_cfg.epsilon_start, agent_cfg.epsilon_end,
                          agent_cfg.epsilon_decay_agent_steps,
                          begin_agent_steps=agent_cfg.epsilon_decay_start_agent_steps)


class Every:
    """True at steps ``period, 2 * period, 3 * period, ...``; never at step 0.

    ``Every(p)(step)`` is ``period > 0 and step > 0 and step % period == 0``, so
    called with the count of steps done so far it fires once each ``period`` steps,
    never before the first one. ``period <= 0`` never fires (disables the event).
    """

    def __init__(self, period: int) -> None:
        self.period = period

    def __call__(self, step: int) -> bool:
        return self.period > 0 and step > 0 and step % self.period == 0
