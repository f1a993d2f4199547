"""Analysis of finished runs: tidy metrics, aggregates with CIs, the report against the paper.

Tools only: the training code never imports this package (it may import ``dqn_atari.scores``).
Entry points: ``python -m dqn_atari.plot``, ``python -m dqn_atari.wandb_download`` and
``python -m dqn_atari.side_by_side``.
"""
