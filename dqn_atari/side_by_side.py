"""Entry point: ``python -m dqn_atari.side_by_side --run LABEL=RUN_DIR ... --out DIR``.

Our runs next to Dopamine's published DQN curves; the work and its documentation are in
``dqn_atari/analysis/side_by_side.py``.
"""

from dqn_atari.analysis.side_by_side import main

if __name__ == "__main__":
    raise SystemExit(main())
