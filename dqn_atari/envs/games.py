"""Game names: one normalisation and one resolver, for the environments and the score tables.

``Pong``, ``ALE/MsPacman-v5``, ``MsPacmanNoFrameskip-v4``, Dopamine's ``mspacman`` and
``ms_pacman`` all name the ROM id ``ms_pacman``. ``match_game`` resolves a name against a
list of known names (the ROMs ale-py ships, or the 57 games of the score tables) and
raises ``UnknownGameError`` listing close matches.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

TOY_GAMES = ("catch",)  # not Atari: the pipeline's own test game (envs/catch.py)


class UnknownGameError(ValueError):
    """A game name that is not one of the known games; the message lists close matches."""


def normalise_game_name(name: str) -> str:
    """``Pong``, ``MsPacman``, ``ALE/MsPacman-v5`` and ``ms_pacman`` all become ``ms_pacman``."""
    base = name.strip()
    base = re.sub(r"^ALE/", "", base)
    base = re.sub(r"(NoFrameskip)?-v\d+$", "", base)
    base = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", base)
    return base.lower().replace("-", "_")


def match_game(name: str, known: Sequence[str], fix: str) -> str:
    """The name in ``known`` that ``name`` spells, else ``UnknownGameError`` ending in ``fix``.

    Names without underscores (Dopamine's ``bankheist``) match ``bank_heist``.
    """
    key = normalise_game_name(name)
    if key in known:
        return key
    squashed = {g.replace("_", ""): g for g in known}
    if key.replace("_", "") in squashed:
        return squashed[key.replace("_", "")]
    close = difflib.get_close_matches(key, list(known), n=5, cutoff=0.5)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    raise UnknownGameError(f"unknown game {name!r}{hint}. {fix}")


def atari_game_ids() -> list[str]:
    """The snake_case ROM ids that ale-py ships (``pong``, ``ms_pacman``, ...)."""
    from ale_py import roms

    return sorted(roms.get_all_rom_ids())


def resolve_game(name: str) -> str:
    """The ale-py ROM id (or toy game) ``name`` spells; raises with the closest names."""
    known = atari_game_ids()
    return match_game(
        name, known + list(TOY_GAMES),
        f"Set env.game to one of the {len(known)} names in ale_py.roms.get_all_rom_ids() "
        "(snake_case, e.g. env.game=ms_pacman), or 'catch'.",
    )
