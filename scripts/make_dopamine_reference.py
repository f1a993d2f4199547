"""Write the compact per-seed Dopamine DQN reference curves from ``../shared/reference``.

    python scripts/make_dopamine_reference.py [--source ../shared/reference] [--check]

Source: google/dopamine ``baselines/atari/data/<game>.json`` (commit 5873f549), as collected
in ``../shared/reference/dopamine_baselines_legacy.csv`` (see its SOURCES.md): the legacy
TF agents, whose DQN ran ``dopamine/agents/dqn/configs/dqn.gin`` (our ``dopamine_dqn``
preset), 5 seeds, iterations of 250,000 agent steps (1M frames). Each value is the mean
return of the TRAINING games of one iteration.

Output, ``dqn_atari/data/dopamine_dqn_legacy_per_seed.csv``: per game (Dopamine's name,
e.g. ``mspacman``) and iteration, one row with each seed's value in ``seed_0`` ..
``seed_4`` (the source's ``seed_index``), to one decimal; DQN rows only, every game of the
source. One row per game and iteration (not one per seed) keeps the file near 0.55 MB
instead of 1.3 MB. The mean, min and max over seeds are computed from it when read
(``dqn_atari.analysis.dopamine.read_reference``). The raw file stays in
``../shared``. With ``--check`` nothing is written and the exit status is 1 when the
committed file differs.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "reference"
SOURCE_NAME = "dopamine_baselines_legacy.csv"
OUTPUT = REPO / "dqn_atari" / "data" / "dopamine_dqn_legacy_per_seed.csv"
AGENT = "DQN"


def derive(source: Path) -> str:
    path = source / SOURCE_NAME
    if not path.is_file():
        sys.exit(f"missing source file {path} (pass --source DIR)")
    values: dict[tuple[str, int], dict[int, float]] = defaultdict(dict)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["agent"] == AGENT:
                key, seed = (row["game"], int(row["iteration"])), int(row["seed_index"])
                if seed in values[key]:
                    sys.exit(f"{path}: {key} seed {seed} appears twice")
                values[key][seed] = float(row["train_episode_return_mean"])
    n_seeds = 1 + max(seed for seeds in values.values() for seed in seeds)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["game", "iteration", *(f"seed_{s}" for s in range(n_seeds))])
    for (game, iteration), seeds in sorted(values.items()):
        writer.writerow([game, iteration, *(f"{seeds[s]:.1f}" if s in seeds else ""
                                            for s in range(n_seeds))])
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = derive(args.source)
    if args.check:
        same = OUTPUT.is_file() and OUTPUT.read_text() == text
        print(f"{OUTPUT}: {'up to date' if same else 'DIFFERS from the source'}")
        return 0 if same else 1
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT} ({text.count(chr(10)) - 1} rows, {len(text.encode()):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
