"""The command line of ``python -m dqn_atari.plot``: the report, or its ``aggregates`` subcommand.

    python -m dqn_atari.plot --runs runs/ --out results/plots ...             (report.py)
    python -m dqn_atari.plot aggregates --runs runs/ --out results/aggregates (aggregate_report.py)

The report compares runs with the paper (learning curves, final scores, aggregate HNS at
the end); ``aggregates`` draws the aggregates over training of Agarwal et al. 2021.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from dqn_atari.analysis import aggregate_report, report

SUBCOMMAND = "aggregates"


def main(argv: Sequence[str] | None = None) -> int:
    """``aggregates`` as the first argument selects the aggregates; anything else the report."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [SUBCOMMAND]:
        return aggregate_report.main(argv[1:])
    return report.main(argv)
