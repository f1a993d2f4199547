"""A resumed run keeps the config it was started with, whatever the defaults became since.

A run directory records its config in ``config.yaml``. When it is resumed, every value
the command line does not set explicitly is taken from that record, not from today's
presets: a run started when ``nature`` meant 50M frames is never silently stretched to
200M, nor is its epsilon schedule changed under it. Keys that did not exist when the run
started get the value that reproduces how it trained (``LEGACY_VALUES``). Each value that
differs from today's composition is reported, as is each explicit override that changes
the recorded config.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dqn_atari.checkpoint import checkpoint_paths

CONFIG_FILE = "config.yaml"
# Keys added after runs existed, and the value that reproduces how such a run trained.
# A callable gets the recorded config (a nested dict) and returns the value.
LEGACY_VALUES: dict[str, Any] = {
    "agent.epsilon_decay_start_agent_steps": 0,  # epsilon decayed from agent step 0
    "agent.channels_last": False,  # NCHW convolutions
    # the evaluation phase used the final protocol's cap
    "env.max_episode_frames_eval_phase": lambda recorded: recorded["env"]["max_episode_frames_eval"],
}
RENAMED_VALUES = {("env.resize_interpolation", "bilinear"): "linear"}  # same OpenCV resize
NEVER_TAKEN_FROM_THE_RECORD = ("run_dir",)  # where the run is, not how it trains


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix[:-1]: node}
    flat: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def explicit_override_keys(overrides: list[str]) -> set[str]:
    """Dotted keys set on the command line (``optim.lr=1e-4`` -> ``optim.lr``)."""
    keys = set()
    for override in overrides:
        key, sep, _ = override.partition("=")
        if sep:
            keys.add(key.lstrip("+~"))
    return keys


def recorded_config(run_dir: Path) -> dict[str, Any] | None:
    """The config a resumable run was started with, with legacy keys filled; else None."""
    path = Path(run_dir) / CONFIG_FILE
    if not checkpoint_paths(Path(run_dir)) or not path.is_file():
        return None
    recorded = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    flat = _flatten(recorded)
    for key, value in LEGACY_VALUES.items():
        if key not in flat:
            section, name = key.split(".")
            recorded.setdefault(section, {})[name] = value(recorded) if callable(value) else value
    for (key, old), new in RENAMED_VALUES.items():
        section, name = key.split(".")
        if recorded.get(section, {}).get(name) == old:
            recorded[section][name] = new
    return recorded


def config_for_resume(cfg: DictConfig, explicit_keys: set[str]) -> tuple[DictConfig, list[str]]:
    """``cfg`` with every value not in ``explicit_keys`` taken from the run's record.

    Returns the config to run with and one line per difference, for the log. A run
    directory without a checkpoint (a new run) returns ``cfg`` unchanged.
    """
    recorded = recorded_config(Path(cfg.run_dir))
    if recorded is None:
        return cfg, []
    current = _flatten(OmegaConf.to_container(cfg, resolve=True))
    before = _flatten(recorded)
    merged = copy.deepcopy(cfg)
    notes = []
    for key, value in current.items():
        if key in NEVER_TAKEN_FROM_THE_RECORD or key not in before or before[key] == value:
            continue
        if key in explicit_keys:
            notes.append(f"{key}: {before[key]!r} when started, {value!r} from this command line")
        else:
            OmegaConf.update(merged, key, before[key], merge=False)
            notes.append(f"{key}: {before[key]!r} as started (today's default: {value!r})")
    return merged, notes
