"""Entry point: ``python -m dqn_atari.plot --runs runs/ --out results/plots ...``.

Compares runs with the paper (learning curves, final-score table, aggregate HNS); the
options and outputs are documented in ``dqn_atari/analysis/report.py``, which does the work.
"""

from dqn_atari.analysis.report import main

if __name__ == "__main__":
    raise SystemExit(main())
