"""Atari reference scores and human-normalised scores (HNS).

Owns the package copy of the reference tables (``dqn_atari/data/``, written by
``scripts/make_reference.py``, identical to ``results/reference/``):

* ``nature_dqn_2015_table2.csv``: Mnih et al. 2015 (Nature 518:529-533), Extended Data
  Table 2, for its 49 games: random, human (5-minute episodes, "human_at5"), DQN mean and
  std over 30 evaluation episodes, and the printed "% human".
* ``atari57_random_human.csv``: 57 games, DQN Zoo's random and human_at30 (30-minute
  episodes) from ``dqn_zoo/atari_data.py``, plus the paper's human_at5 for its 49.

The human condition is always explicit: ``human="at5"`` (the paper's; only its 49 games)
or ``human="at30"`` (DQN Zoo's; all 57). Each condition is paired with the random score
published beside it, so ``human="at5"`` reproduces the paper's "% human" column.

Every human-normalised score of the package is computed here: ``human_normalized`` (one
condition), ``human_normalized_or_nan`` (the analysis tables, which leave games without a
human score out) and ``human_normalized_for_report`` / ``human_normalized_or_none`` (the
evaluation report and the sweep status: the paper's 5-minute human score for its 49 games,
DQN Zoo's 30-minute one for the other 8).

Game names are ALE's snake_case ROM ids (``bank_heist``, ``up_n_down``); CamelCase,
gym ids (``ALE/BankHeist-v5``, ``BankHeistNoFrameskip-v4``) and Dopamine's names
(``bankheist``) are accepted too.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from dqn_atari.envs.games import UnknownGameError, match_game

TABLE2_FILE = "nature_dqn_2015_table2.csv"
ATARI57_FILE = "atari57_random_human.csv"
HUMAN_CONDITIONS = ("at5", "at30")


@dataclass(frozen=True)
class PaperScore:
    """One row of Extended Data Table 2 (values as printed)."""

    game: str
    paper_game_name: str
    random: float
    human_at5: float  # professional tester, episodes of at most 5 minutes
    dqn: float  # DQN mean over 30 evaluation episodes after 50M training frames
    dqn_std: float  # the printed "±": std over those 30 episodes
    dqn_pct_human: float  # the printed "Normalized DQN (% Human)"


@dataclass(frozen=True)
class RandomHuman:
    """Random and human scores of one game under both human conditions."""

    game: str
    in_nature_49: bool
    random: float  # DQN Zoo's (one decimal; the paper prints the same values rounded)
    human_at5: float | None  # None for the 8 games outside the paper's 49
    human_at30: float


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("dqn_atari").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _load_table2() -> dict[str, PaperScore]:
    rows = {}
    for r in _read_csv(TABLE2_FILE):
        rows[r["game"]] = PaperScore(
            game=r["game"],
            paper_game_name=r["paper_game_name"],
            random=float(r["random"]),
            human_at5=float(r["human_at5"]),
            dqn=float(r["dqn"]),
            dqn_std=float(r["dqn_std"]),
            dqn_pct_human=float(r["dqn_pct_human"]),
        )
    return rows


def _load_atari57() -> dict[str, RandomHuman]:
    rows = {}
    for r in _read_csv(ATARI57_FILE):
        rows[r["game"]] = RandomHuman(
            game=r["game"],
            in_nature_49=r["in_nature_49"] == "1",
            random=float(r["random"]),
            human_at5=float(r["human_at5"]) if r["human_at5"] else None,
            human_at30=float(r["human_at30"]),
        )
    return rows


_TABLE2 = _load_table2()
_ATARI57 = _load_atari57()

NATURE_49_GAMES: tuple[str, ...] = tuple(sorted(_TABLE2))
ATARI_57_GAMES: tuple[str, ...] = tuple(sorted(_ATARI57))


def game_names(which: str = "nature49") -> tuple[str, ...]:
    """The snake_case game names of ``"nature49"`` (the paper's table) or ``"atari57"``."""
    if which == "nature49":
        return NATURE_49_GAMES
    if which == "atari57":
        return ATARI_57_GAMES
    raise ValueError(f"which must be 'nature49' or 'atari57', got {which!r}")


def canonical_game(name: str) -> str:
    """Map a game name in any common spelling to its snake_case ROM id.

    Raises UnknownGameError, listing close matches, for a name that is not an Atari-57 game.
    """
    return match_game(name, ATARI_57_GAMES,
                      "The score tables know the 57 Atari games of game_names('atari57').")


def is_known_game(name: str) -> bool:
    """True when ``name`` is one of the 57 Atari games (in any accepted spelling)."""
    try:
        canonical_game(name)
    except UnknownGameError:
        return False
    return True


def paper_score(game: str) -> PaperScore:
    """The paper's Extended Data Table 2 row of ``game``."""
    key = canonical_game(game)
    if key not in _TABLE2:
        raise UnknownGameError(f"{key!r} is not one of the paper's 49 games (NATURE_49_GAMES)")
    return _TABLE2[key]


def random_human(game: str, human: str = "at5") -> tuple[float, float]:
    """(random, human) of ``game`` for the human condition ``"at5"`` or ``"at30"``.

    ``"at5"`` returns the paper's printed pair (Extended Data Table 2); ``"at30"`` DQN Zoo's.
    """
    key = canonical_game(game)
    if human == "at5":
        if key not in _TABLE2:
            raise UnknownGameError(
                f"{key!r} has no 5-minute human score (not one of the paper's 49 games); "
                "use human='at30'"
            )
        row = _TABLE2[key]
        return row.random, row.human_at5
    if human == "at30":
        row57 = _ATARI57[key]
        return row57.random, row57.human_at30
    raise ValueError(f"human must be one of {HUMAN_CONDITIONS}, got {human!r}")


def human_normalized(game: str, score, human: str = "at5"):
    """Human-normalised score ``(score - random) / (human - random)``: 0 = random, 1 = human.

    ``score`` may be a number or an array; the paper's "% human" is 100 times this value.
    """
    random, human_score = random_human(game, human)
    result = (np.asarray(score, dtype=float) - random) / (human_score - random)
    return float(result) if result.ndim == 0 else result


def human_normalized_or_nan(game: str, score, human: str = "at5"):
    """``human_normalized``, or NaN where ``game`` has no human score under ``human``.

    NaN for a game outside the Atari 57 (``catch``, ``air_raid``) and, with ``human="at5"``,
    for the 8 of the 57 outside the paper's 49: the tables over games leave those out.
    """
    if not is_known_game(game):
        return math.nan
    try:
        return human_normalized(game, score, human=human)
    except UnknownGameError:  # no 5-minute human score outside the paper's 49
        return math.nan


def human_normalized_or_none(game: str, score: float | None) -> float | None:
    """The human-normalised score of ``human_normalized_for_report`` as a number, or None.

    None when ``score`` is missing or not finite, or when the game has no human score.
    """
    if score is None or not math.isfinite(score):
        return None
    value = human_normalized_for_report(game, score)["human_normalized"]
    return None if value is None or not math.isfinite(value) else value


def human_normalized_for_report(game: str, score: float) -> dict[str, Any]:
    """The human-normalised score of ``score`` with the human scores it used, for a report.

    The paper's 49 games use its 5-minute human scores (``at5``); the other 8 of the
    Atari 57 (berzerk, defender, phoenix, pitfall, skiing, solaris, surround,
    yars_revenge) have none, so they use DQN Zoo's 30-minute ones (``at30``) and say so.
    Any other game gets ``None`` with the reason. Never raises: a report of raw scores
    is always written.
    """
    try:
        key = canonical_game(game)
    except UnknownGameError:
        return {"human_normalized": None, "human_scores": None,
                "human_normalized_note": f"{game!r} is not one of the Atari 57 games: "
                                         "no published human score"}
    if key in _TABLE2:
        return {"human_normalized": human_normalized(key, score, "at5"),
                "human_scores": "at5: 5-minute human scores (Nature Extended Data Table 2)",
                "human_normalized_note": None}
    return {"human_normalized": human_normalized(key, score, "at30"),
            "human_scores": "at30: 30-minute human scores (DQN Zoo atari_data.py)",
            "human_normalized_note": f"{key} is not one of the paper's 49 games, which have the "
                                     "only 5-minute human scores; normalised with DQN Zoo's "
                                     "30-minute human score instead"}


def reference_table(which: str = "nature49"):
    """The reference table as a pandas DataFrame (``"nature49"`` or ``"atari57"``)."""
    import pandas as pd

    if which == "nature49":
        return pd.DataFrame([vars(r) for r in _TABLE2.values()])
    if which == "atari57":
        return pd.DataFrame([vars(r) for r in _ATARI57.values()])
    raise ValueError(f"which must be 'nature49' or 'atari57', got {which!r}")
