"""Config identity on resume: a run continues under the config it was started with.

A run directory records its config in ``config.yaml``. When it is resumed:

* every value the command line does not set is taken from that record, not from today's
  presets: a run started when ``nature`` meant 50M frames is never silently stretched to
  200M, nor is its epsilon schedule changed under it. Keys that did not exist when the run
  started get the value that reproduces how it trained (``LEGACY_VALUES``). Each value
  that differs from today's composition is reported;
* a value the command line sets differently from the record is refused, naming each key,
  unless the key is safe to change on resume (``SAFE_TO_CHANGE``: logging, threads,
  device, ...) or named in ``allow_config_change=[key,...]``. An allowed change, and a
  change of a key safe to change, is recorded in ``config_changes.yaml`` (was and now) with
  the agent step where it took effect (the code's version at each start is in
  ``provenance.json``: dqn_atari/run/provenance.py).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dqn_atari.run.checkpoint import checkpoint_paths

CONFIG_FILE = "config.yaml"
# Keys added after runs existed, and the value that reproduces how such a run trained.
# A callable gets the recorded config (a nested dict) and returns the value.
LEGACY_VALUES: dict[str, Any] = {
    "agent.epsilon_decay_start_agent_steps": 0,  # epsilon decayed from agent step 0
    "agent.channels_last": False,  # NCHW convolutions
    "agent.precision": "fp32",  # before the switch, every run was fp32
    "agent.cuda_graph": False,
    # the Nature network and optimizer, as every run had before the Dopamine switches
    "agent.conv_padding": "valid",
    "agent.init": "fan_in_uniform",
    "agent.target_init": "copy",
    "optim.initial_mean_square": 0.0,
    # the evaluation phase used the final protocol's cap
    "env.max_episode_frames_eval_phase": lambda recorded: recorded["env"]["max_episode_frames_eval"],
}
RENAMED_VALUES = {("env.resize_interpolation", "bilinear"): "linear"}  # same OpenCV resize
# not how the run trains; a trust decision is made anew by each command
NEVER_TAKEN_FROM_THE_RECORD = ("run_dir", "allow_config_change", "allow_pickled_checkpoints")
CHANGES_FILE = "config_changes.yaml"
# Keys that may differ on resume without a word: where and how the run reports and runs,
# not what it computes.
SAFE_TO_CHANGE_PREFIXES = ("logger.", "final_eval.")
SAFE_TO_CHANGE = frozenset({
    "torch_threads", "agent.device", "agent.compile", "agent.cuda_graph", "checkpoint_keep", "on_unreadable_checkpoints",
    "experiment_note", "extra", "allow_no_learning",
})


class ConfigChangedError(ValueError):
    """A resume asked for a config that differs from the run's, on keys not safe to change."""


def safe_to_change(key: str) -> bool:
    return key in SAFE_TO_CHANGE or key.startswith(SAFE_TO_CHANGE_PREFIXES)


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


def config_as_data(node: Any) -> Any:
    """A config read from a file, made plain data: every ``${`` escaped, so that no
    interpolation or resolver (``${oc.env:HOME}``) ever runs on a file that came with a run
    dir or a checkpoint. The runner writes its config resolved, so a genuine record has none."""
    if isinstance(node, dict):
        return {k: config_as_data(v) for k, v in node.items()}
    if isinstance(node, list):
        return [config_as_data(v) for v in node]
    if isinstance(node, str) and "${" in node:
        return node.replace("\\${", "${").replace("${", "\\${")
    return node


def recorded_config(run_dir: Path) -> dict[str, Any] | None:
    """The config a resumable run was started with, with legacy keys filled; else None.

    Read as data (``config_as_data``): no interpolation in the file is resolved."""
    path = Path(run_dir) / CONFIG_FILE
    if not checkpoint_paths(Path(run_dir)) or not path.is_file():
        return None
    recorded = config_as_data(OmegaConf.to_container(OmegaConf.load(path), resolve=False))
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


def config_for_resume(cfg: DictConfig, explicit_keys: set[str]
                      ) -> tuple[DictConfig, list[str], dict[str, tuple[Any, Any]]]:
    """The config to resume ``cfg.run_dir`` with, the log lines, and the changes to record.

    A run directory without a checkpoint (a new run) returns ``cfg`` unchanged. Raises
    ``ConfigChangedError`` naming every explicitly changed key that is neither safe to
    change nor listed in ``cfg.allow_config_change``.
    """
    recorded = recorded_config(Path(cfg.run_dir))
    if recorded is None:
        return cfg, [], {}
    current = _flatten(OmegaConf.to_container(cfg, resolve=True))
    before = _flatten(recorded)
    allowed = set(cfg.get("allow_config_change") or [])
    merged = copy.deepcopy(cfg)
    notes, changes, refused = [], {}, []
    for key, value in current.items():
        if key in NEVER_TAKEN_FROM_THE_RECORD or key not in before or before[key] == value:
            continue
        if key not in explicit_keys:
            OmegaConf.update(merged, key, before[key], merge=False)
            notes.append(f"{key}: {before[key]!r} as started (today's default: {value!r})")
        elif safe_to_change(key):
            changes[key] = (before[key], value)  # recorded too: config.yaml keeps only the new
            notes.append(f"{key}: {before[key]!r} when started, {value!r} now (safe to change)")
        elif key in allowed:
            changes[key] = (before[key], value)
            notes.append(f"{key}: {before[key]!r} when started, {value!r} from here on "
                         "(allow_config_change)")
        else:
            refused.append(f"{key}: {before[key]!r} when started, {value!r} asked")
    if refused:
        keys = ",".join(r.split(":")[0] for r in refused)
        raise ConfigChangedError(
            f"{cfg.run_dir} was started with another config; refusing to resume it with:\n  "
            + "\n  ".join(refused)
            + "\nDrop these overrides to resume as started, use another run_dir=... for a new "
            f"run, or change them deliberately with allow_config_change=[{keys}] (recorded "
            f"in {CHANGES_FILE})."
        )
    return merged, notes, changes


def record_changes(run_dir: Path, changes: dict[str, tuple[Any, Any]], agent_step: int) -> None:
    """Append the allowed changes, and the agent step where they took effect."""
    if not changes:
        return
    import time

    path = Path(run_dir) / CHANGES_FILE
    log = OmegaConf.to_container(OmegaConf.load(path)) if path.is_file() else []
    log.append({"agent_step": agent_step, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "changes": {k: {"was": old, "now": new} for k, (old, new) in changes.items()}})
    path.write_text(OmegaConf.to_yaml(OmegaConf.create(log)))
