"""Alias of ``python -m dqn_atari.analysis report`` (and, with ``aggregates`` first, of
``... analysis aggregates``), kept for the README's commands and users' scripts."""

from dqn_atari.analysis.__main__ import plot as main

if __name__ == "__main__":
    raise SystemExit(main())
