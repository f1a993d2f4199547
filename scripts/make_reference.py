"""Write the reference score tables from the collected sources in ``../shared/reference``.

    python scripts/make_reference.py [--source ../shared/reference] [--check]

Outputs (identical bytes in both places; see results/reference/README.md):
    results/reference/nature_dqn_2015_table2.csv   49 games, Mnih et al. 2015, Extended Data Table 2
    results/reference/atari57_random_human.csv     57 games, random + both human conditions
    dqn_atari/data/<same two files>                 package data read by dqn_atari.scores

The package copy is what the code reads (so ``pip install .`` works); the results copy is
what a reader opens next to the README. This script is the one writer of both, and
tests/test_scores.py checks that they are byte-identical.

Numbers are carried as printed (strings are copied, never re-formatted), so the file shows
the paper's own rounding. With ``--check`` nothing is written and the exit status is 1 when
a committed file differs from what the sources give.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "reference"
OUTPUT_DIRS = (REPO / "results" / "reference", REPO / "dqn_atari" / "data")

TABLE2_NAME = "nature_dqn_2015_table2.csv"
ATARI57_NAME = "atari57_random_human.csv"

TABLE2_COLUMNS = ("game", "paper_game_name", "random", "human_at5", "dqn", "dqn_std", "dqn_pct_human")
ATARI57_COLUMNS = ("game", "in_nature_49", "random", "human_at5", "human_at30")


def _read(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        sys.exit(f"missing source file {path} (pass --source DIR)")
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _to_csv(columns: tuple[str, ...], rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row[c] for c in columns})
    return buf.getvalue()


def build_table2(nature: list[dict[str, str]]) -> list[dict[str, str]]:
    """Extended Data Table 2 rows: the paper's random, human (5 min), DQN mean, std and % human."""
    rows = []
    for r in nature:
        rows.append(
            {
                "game": r["game"],
                "paper_game_name": r["paper_game_name"],
                "random": r["random"],
                "human_at5": r["human"],
                "dqn": r["dqn"],
                "dqn_std": r["dqn_std"],
                "dqn_pct_human": r["dqn_pct_human"],
            }
        )
    if len(rows) != 49:
        sys.exit(f"expected 49 games in the Nature table, got {len(rows)}")
    return sorted(rows, key=lambda r: r["game"])


def build_atari57(
    nature: list[dict[str, str]], zoo: list[dict[str, str]]
) -> list[dict[str, str]]:
    """57 games: DQN Zoo's random and human_at30, plus the paper's human_at5 for its 49 games."""
    paper = {r["game"]: r for r in nature}
    rows = []
    for r in zoo:
        game = r["game"]
        p = paper.get(game)
        if p is not None and abs(float(p["random"]) - float(r["random"])) > 0.5:
            # Both sources report the same random policy; only the rounding differs.
            sys.exit(f"{game}: paper random {p['random']} vs DQN Zoo random {r['random']}")
        rows.append(
            {
                "game": game,
                "in_nature_49": "1" if p is not None else "0",
                "random": r["random"],
                "human_at5": p["human"] if p is not None else "",
                "human_at30": r["human"],
            }
        )
    missing = set(paper) - {r["game"] for r in rows}
    if missing or len(rows) != 57:
        sys.exit(f"expected 57 games covering the paper's 49; missing {sorted(missing)}")
    return sorted(rows, key=lambda r: r["game"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)

    nature = _read(args.source / "nature_dqn_2015.csv")
    zoo = _read(args.source / "dqn_zoo_atari_data_random_human.csv")
    outputs = {
        TABLE2_NAME: _to_csv(TABLE2_COLUMNS, build_table2(nature)),
        ATARI57_NAME: _to_csv(ATARI57_COLUMNS, build_atari57(nature, zoo)),
    }
    stale = []
    for out_dir in OUTPUT_DIRS:
        for name, text in outputs.items():
            path = out_dir / name
            current = path.read_text(encoding="utf-8") if path.is_file() else None
            if current == text:
                continue
            stale.append(path)
            if not args.check:
                out_dir.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    verb = "differs" if args.check else "written"
    for path in stale:
        print(f"{verb}: {path.relative_to(REPO)}")
    if not stale:
        print("reference tables up to date")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
