"""Entry point: ``python -m dqn_atari.wandb_download --entity E --project P --out DIR ...``.

``--format cleanrl`` reads CleanRL's Atari runs (frames = 4 x global_step).

Downloads W&B runs into tidy CSVs (as ``scripts/download_wandb.py``); the work and its
documentation are in ``dqn_atari/analysis/wandb_download.py``.
"""

from dqn_atari.analysis.wandb_download import main

if __name__ == "__main__":
    raise SystemExit(main())
