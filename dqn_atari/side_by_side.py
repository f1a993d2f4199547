"""Entry point: ``python -m dqn_atari.side_by_side --run LABEL=PATH ... --out DIR``.

Our runs (one or several seeds per label) next to Dopamine's published DQN curves, with a
Welch t-test per iteration; the work and its documentation are in
``dqn_atari/analysis/side_by_side.py``.
"""

from dqn_atari.analysis.side_by_side import main

if __name__ == "__main__":
    raise SystemExit(main())
