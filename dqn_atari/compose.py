"""Where the Hydra config lives, and the run config composed as the command line would.

``CONF_DIR`` is ``dqn_atari/conf/``: the config groups ship inside the package (and its
wheel), so an installed ``dqn_atari`` finds them without a checkout.
"""

from __future__ import annotations

from pathlib import Path

CONF_DIR = Path(__file__).resolve().parent / "conf"


def compose_config(overrides: list[str]):
    """The run config as ``python -m dqn_atari.train <overrides>`` builds it (Hydra compose)."""
    from hydra import compose, initialize_config_dir

    from dqn_atari.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)
