"""Download W&B runs of this project into tidy CSVs (one per run) plus their configs.

    python scripts/download_wandb.py --entity ENTITY --project dqn-atari \
        [--experiment nature] [--game breakout pong] [--tag v1] [--format ours|cleanrl] \
        --out results/wandb

Full history (``run.scan_history``), paginated run listing, incremental (a finished run
that has not changed since the last download is skipped; see ``manifest.json`` in --out).
Needs WANDB_API_KEY in the environment (or `wandb login`); exits 2 when not logged in.
The logic lives in ``dqn_atari/analysis/download.py``
(also ``python -m dqn_atari.analysis download`` and ``python -m dqn_atari.wandb_download``).
"""

import sys
from pathlib import Path

try:
    from dqn_atari.analysis.download import main
except ImportError:  # run from a clone without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from dqn_atari.analysis.download import main

if __name__ == "__main__":
    sys.exit(main())
