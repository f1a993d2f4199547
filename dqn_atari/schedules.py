"""Step schedules: the linear epsilon decay and a periodic step predicate.

Both take an agent step count (decisions of the agent, not frames).
"""

from __future__ import annotations


class LinearSchedule:
    """``start`` at agent step 0, linear to ``end`` at ``duration_agent_steps``, then ``end``.

    Nature: epsilon 1.0 -> 0.1 over 1,000,000 agent steps (the paper's "frames"
    are agent steps here, as in Dopamine), then held at 0.1.
    ``duration_agent_steps <= 0`` gives ``end`` at every step.
    """

    def __init__(self, start: float, end: float, duration_agent_steps: int) -> None:
        self.start = start
        self.end = end
        self.duration_agent_steps = duration_agent_steps

    def __call__(self, agent_step: int) -> float:
        if self.duration_agent_steps <= 0:
            return self.end
        fraction = min(max(agent_step, 0) / self.duration_agent_steps, 1.0)
        return self.start + fraction * (self.end - self.start)


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
