"""Speed and memory benchmarks: ``python -m dqn_atari.bench replay|env|learner|train``.

One module per benchmark (replay, env, learner, train), the command line in ``cli.py``.
Tools only: the training code never imports this package.
"""
