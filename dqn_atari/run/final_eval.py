"""The Nature-protocol evaluation at the end of every run (``final_eval.enabled``, on by default).

When training reaches ``total_frames``, the runner plays ``final_eval.episodes`` (30) games
under ``python -m dqn_atari.evaluate``'s protocol (``nature_eval.evaluate_games``: up to 18,000
frames = 5 minutes each, U{0..30} no-op frames at each start, epsilon 0.05) with the final
network. The report (run/eval_report.py) goes to ``<run_dir>/eval_nature.json`` with
``"source": "end_of_run"``, and its figures to the wandb run summary (``eval_nature/*``).
The games use ``evaluate``'s seed (the run's seed + 10,000), so the report is the one
``python -m dqn_atari.evaluate run_dir=...`` writes for the final checkpoint.

A resumed run whose ``eval_nature.json`` is already for its final agent step and the same
number of games does not play them again. A signal during the games stops them
(``FinalEvalInterrupted``); the final checkpoint is on disk, and the next start evaluates.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from dqn_atari import seeds
from dqn_atari.nature_eval import evaluate_games
from dqn_atari.run.eval_report import REPORT_FILE, nature_report, read_report, write_report

WANDB_PREFIX = "eval_nature/"
WANDB_KEYS = ("mean", "std", "episodes", "human_normalized", "frames", "agent_steps")
__all__ = ["REPORT_FILE", "FinalEvalInterrupted", "evaluate_final", "existing_report",
           "status_entry", "wandb_summary"]


class FinalEvalInterrupted(Exception):
    """A signal arrived during the final evaluation; nothing was written."""


class _StoppableAgent:
    """The agent, acting only while ``keep_going()`` (called before every action) is True."""

    def __init__(self, agent, keep_going: Callable[[], bool]) -> None:
        self.agent = agent
        self.keep_going = keep_going

    def act(self, state, epsilon, rng):
        if not self.keep_going():
            raise FinalEvalInterrupted
        return self.agent.act(state, epsilon, rng)


def existing_report(run_dir: Path, agent_steps: int, episodes: int) -> dict[str, Any] | None:
    """The run's ``eval_nature.json`` if it is for ``agent_steps`` and ``episodes`` games."""
    report = read_report(run_dir)
    if report is not None and report.get("agent_steps") == agent_steps \
            and report.get("episodes") == episodes:
        return report
    return None


def evaluate_final(agent, cfg, run_dir: Path, agent_steps: int, checkpoint: Path | None,
                   keep_going: Callable[[], bool]) -> dict[str, Any]:
    """Play the games with ``agent`` and write ``eval_nature.json`` (atomically); the report."""
    episodes = int(cfg.final_eval.episodes)
    seed = cfg.seed + seeds.EVALUATE_SEED_OFFSET
    scores = evaluate_games(_StoppableAgent(agent, keep_going), cfg, episodes=episodes,
                            seed=seed).scores
    report = nature_report(cfg, agent_steps=agent_steps, checkpoint=checkpoint, scores=scores,
                           eval_seed=seed, episodes=episodes, source="end_of_run")
    write_report(run_dir, report)
    return report


def wandb_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The report's figures as wandb summary keys (``eval_nature/mean`` ...); None left out."""
    return {WANDB_PREFIX + key: report[key] for key in WANDB_KEYS if report.get(key) is not None}


def status_entry(report: dict[str, Any]) -> dict[str, Any]:
    """The report as ``status.json``'s ``last_eval``."""
    return {"kind": "nature", "frames": report.get("frames"), "score": report.get("mean"),
            "episodes": report.get("episodes")}
