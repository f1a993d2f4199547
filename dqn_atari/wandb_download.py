"""Alias of ``python -m dqn_atari.analysis download``, kept for the README's commands and
users' scripts: ``python -m dqn_atari.wandb_download --entity E --project P --out DIR ...``."""

from dqn_atari.analysis.download import main

if __name__ == "__main__":
    raise SystemExit(main(prog="python -m dqn_atari.wandb_download"))
