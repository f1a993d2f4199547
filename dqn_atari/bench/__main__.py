"""``python -m dqn_atari.bench replay|env|learner|train [options]`` (see dqn_atari/bench/cli.py)."""

from dqn_atari.bench.cli import main

main()
