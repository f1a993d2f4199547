"""Entry point: ``python -m dqn_atari.plot [aggregates] --runs runs/ --out DIR ...``.

The report against the paper (``dqn_atari/analysis/report.py``), or with ``aggregates`` the
aggregates over training (``dqn_atari/analysis/aggregate_report.py``); the dispatch is in
``dqn_atari/analysis/plot_command.py``.
"""

from dqn_atari.analysis.plot_command import main

if __name__ == "__main__":
    raise SystemExit(main())
