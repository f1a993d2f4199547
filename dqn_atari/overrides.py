"""Check Hydra overrides: catch a mistyped key or preset before Hydra does, with suggestions.

Hydra already refuses an unknown key ("Key 'lr' not in 'AgentConfig'"); this adds
what to type instead, e.g. ``agent.lr=1e-4`` -> "did you mean optim.lr?".
"""

from __future__ import annotations

import dataclasses
import difflib

from dqn_atari.compose import CONF_DIR
from dqn_atari.config import Config

GROUPS = ("env", "agent", "optim", "replay", "logger", "experiment")


class OverrideError(ValueError):
    """An override names a key or a preset that does not exist."""


def schema_keys(node=Config, prefix: str = "") -> list[str]:
    """Every dotted leaf key of the schema (``env.game``, ``optim.lr``, ...)."""
    keys = []
    for f in dataclasses.fields(node):
        name = f"{prefix}{f.name}"
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(default):
            keys.extend(schema_keys(type(default), name + "."))
        else:
            keys.append(name)
    return keys


def group_options(group: str) -> list[str]:
    """Preset names available in ``dqn_atari/conf/<group>/``."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def suggest(key: str, known: list[str]) -> list[str]:
    """Keys whose last component is (close to) the one typed, then close full keys.

    ``agent.lrr`` suggests ``optim.lr`` first: the name was meant, the group mistaken.
    """
    leaf = key.rsplit(".", 1)[-1]
    leaves = {k.rsplit(".", 1)[-1] for k in known}
    close_leaves = difflib.get_close_matches(leaf, sorted(leaves), n=3, cutoff=0.6)
    by_leaf = [k for name in close_leaves for k in known if k.rsplit(".", 1)[-1] == name]
    by_key = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
    return list(dict.fromkeys(by_leaf + by_key))[:5]


def check_overrides(args: list[str]) -> None:
    """Raise ``OverrideError`` for an unknown key or preset among ``key=value`` arguments."""
    known = schema_keys()
    for arg in args:
        if arg.startswith("-") or "=" not in arg:
            continue
        key, value = arg.split("=", 1)
        key = key.lstrip("+~")
        if key.startswith(("hydra", "extra.")):
            continue
        if key in GROUPS:
            options = group_options(key)
            for choice in value.split(","):
                if choice.strip() and choice.strip() not in options:
                    raise OverrideError(
                        f"{key}={choice} is not a preset; choose one of: {', '.join(options)} "
                        f"(files in dqn_atari/conf/{key}/)"
                    )
            continue
        if key not in known:
            hints = suggest(key, known)
            hint = f" Did you mean: {', '.join(hints)}?" if hints else ""
            raise OverrideError(
                f"unknown config key {key!r} in override {arg!r}.{hint} "
                "All keys, with units, are in dqn_atari/config.py and dqn_atari/conf/."
            )
