"""Alias of ``python -m dqn_atari.analysis side-by-side``, kept for the README's commands and
users' scripts: ``python -m dqn_atari.side_by_side --run LABEL=PATH ... --out DIR``."""

from dqn_atari.analysis.report import side_by_side_command as main

if __name__ == "__main__":
    raise SystemExit(main())
