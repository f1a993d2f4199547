"""Our runs next to Dopamine's published DQN curves, iteration by iteration.

    python -m dqn_atari.side_by_side --run dopamine_dqn=RUN_DIR [--run nature=RUN_DIR ...] \
        --out results/dopamine_side_by_side [--widen 0.25]

Dopamine plots, per iteration of 250,000 agent steps (1M frames), the mean return of the
TRAINING games of that iteration (not evaluation games). Our ``iterations.csv`` has the
same number in ``train_raw_return_mean``. The reference is Dopamine's 5 seeds per game and
iteration, shipped in ``dqn_atari/data/dopamine_dqn_legacy_per_seed.csv`` and read by
``dqn_atari.analysis.baselines`` (see ``scripts/make_dopamine_reference.py`` for its source).

The target for a run of the ``dopamine_dqn`` preset: at every iteration from 1 on, its value
lies inside Dopamine's 5-seed range widened by ``widen`` (25%) of the seeds' mean on each
side, or above it. Runs of other presets are shown beside the reference and not judged.

Writes to --out: ``<game>.png`` (one plot per game), ``side_by_side.csv`` and
``side_by_side.md`` (one row per run and iteration, plus the iteration in progress, from
its training games so far, marked and not judged).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dqn_atari.analysis.baselines import (
    FRAMES_PER_ITERATION,
    REFERENCE_FILE,
    dopamine_game,
    load_dopamine_reference,
)

JUDGED_EXPERIMENT = "dopamine_dqn"
DEFAULT_WIDEN = 0.25
FIRST_JUDGED_ITERATION = 1


@dataclass(frozen=True)
class ReferencePoint:
    """Dopamine's DQN at one iteration of one game, over its seeds."""

    n_seeds: int
    mean: float
    min: float
    max: float

    def band(self, widen: float) -> tuple[float, float]:
        """The seed range widened by ``widen`` x mean on each side."""
        return self.min - widen * abs(self.mean), self.max + widen * abs(self.mean)


def load_reference(game: str) -> dict[int, ReferencePoint]:
    """Dopamine's per-iteration DQN training returns of ``game`` (iteration -> point)."""
    table = load_dopamine_reference([game])
    if table.empty:
        raise ValueError(f"Dopamine publishes no DQN curve for {game!r} "
                         f"({dopamine_game(game)!r} is not in dqn_atari/data/{REFERENCE_FILE})")
    return {int(r.iteration): ReferencePoint(int(r.n_seeds), float(r.mean), float(r.min),
                                             float(r.max))
            for r in table.itertuples(index=False)}


def partial_iteration(run_dir: Path, completed: int) -> dict[str, float] | None:
    """The iteration in progress, from ``episodes.csv``: its training games so far, or None.

    Shown in the table, never judged: the iteration has not reached its 250,000 agent steps.
    """
    episodes = run_dir / "metrics" / "episodes.csv"
    if not episodes.is_file():
        return None
    with open(episodes, newline="") as f:
        games = [r for r in csv.DictReader(f)
                 if r["phase"] == "train" and int(r["iteration"]) == completed]
    if not games:
        return None
    return {"iteration": completed, "frames": int(games[-1]["frames"]),
            "train_raw_return_mean": sum(float(r["raw_return"]) for r in games) / len(games),
            "train_episodes": len(games), "eval_raw_return_mean": float("nan")}


def read_run(run_dir: Path) -> tuple[str, list[dict[str, float]]]:
    """(game, completed iterations) of a run dir: its config and ``metrics/iterations.csv``."""
    import yaml

    config_path, metrics = run_dir / "config.yaml", run_dir / "metrics" / "iterations.csv"
    for path in (config_path, metrics):
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: is {run_dir} a run directory?")
    game = yaml.safe_load(config_path.read_text())["env"]["game"]
    with open(metrics, newline="") as f:
        rows = [{k: float(v) if v not in ("", "nan") else float("nan") for k, v in r.items()}
                for r in csv.DictReader(f)]
    return game, rows


def compare(label: str, run_dir: Path, widen: float = DEFAULT_WIDEN) -> list[dict]:
    """One row per completed iteration of the run, beside Dopamine's value there."""
    game, rows = read_run(run_dir)
    reference = load_reference(game)
    judged = label == JUDGED_EXPERIMENT
    partial = partial_iteration(run_dir, completed=len(rows))
    table = []
    for row in rows + ([partial] if partial else []):
        iteration = int(row["iteration"])
        in_progress = row is partial
        ref = reference.get(iteration)
        ours = row["train_raw_return_mean"]
        out = {"run": label, "game": game, "iteration": iteration,
               "frames_from": iteration * FRAMES_PER_ITERATION,
               "frames_to": int(row["frames"]), "train_return_mean": ours,
               "train_games": int(row["train_episodes"]),
               "eval_return_mean": row["eval_raw_return_mean"],
               "dopamine_mean": None, "dopamine_min": None, "dopamine_max": None,
               "band_low": None, "verdict": "not judged"}
        if ref is not None:
            low, _ = ref.band(widen)
            out.update(dopamine_mean=ref.mean, dopamine_min=ref.min, dopamine_max=ref.max,
                       band_low=low)
            if in_progress:
                out["verdict"] = "in progress: not judged"
            elif judged and iteration >= FIRST_JUDGED_ITERATION:
                out["verdict"] = "meets" if ours >= low else "BELOW"
        table.append(out)
    return table


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.0f}" if isinstance(value, float) else str(value)


def markdown(table: Sequence[dict], widen: float) -> str:
    lines = [
        ("| run | game | iteration | frames | our training return | Dopamine mean | "
         f"Dopamine min-max (5 seeds) | band low (min - {widen:.0%} of mean) | target |"),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        frames = f"{r['frames_from'] / 1e6:g}-{r['frames_to'] / 1e6:.3g}M"
        lines.append(
            f"| {r['run']} | {r['game']} | {r['iteration']} | {frames} | "
            f"{_fmt(r['train_return_mean'])} | {_fmt(r['dopamine_mean'])} | "
            f"{_fmt(r['dopamine_min'])}-{_fmt(r['dopamine_max'])} | {_fmt(r['band_low'])} | "
            f"{r['verdict']} |")
    return "\n".join(lines) + "\n"


def plot_game(path: Path, game: str, table: Sequence[dict], widen: float) -> None:
    """Training return per iteration, at the middle of the frames each value covers."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [r for r in table if r["game"] == game]
    last = max(r["iteration"] for r in rows)
    reference = load_reference(game)
    its = [i for i in sorted(reference) if i <= max(last + 2, 5)]
    mid = [(i + 0.5) for i in its]  # millions of frames
    fig = Figure(figsize=(7, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.fill_between(mid, [reference[i].min for i in its], [reference[i].max for i in its],
                    color="0.6", alpha=0.45, label="Dopamine DQN, 5 seeds: min-max")
    ax.fill_between(mid, [reference[i].band(widen)[0] for i in its],
                    [reference[i].band(widen)[1] for i in its], color="0.6", alpha=0.15,
                    label=f"widened by {widen:.0%} of the mean")
    ax.plot(mid, [reference[i].mean for i in its], color="0.25", lw=1.2, label="Dopamine mean")
    colors = {"dopamine_dqn": "tab:blue", "nature": "tab:red"}
    for label in dict.fromkeys(r["run"] for r in rows):
        mine = [r for r in rows if r["run"] == label]
        x = [(r["frames_from"] + r["frames_to"]) / 2e6 for r in mine]
        y = [r["train_return_mean"] for r in mine]
        done = [not r["verdict"].startswith("in progress") for r in mine]
        color = colors.get(label)
        line = ax.plot([a for a, d in zip(x, done) if d], [b for b, d in zip(y, done) if d],
                       "o-", color=color, label=f"ours: {label} (training games)")[0]
        if not done[-1]:  # the iteration in progress: hollow, dashed, labelled
            ax.plot(x[-2:], y[-2:], "--", color=line.get_color(), alpha=0.7)
            ax.plot(x[-1:], y[-1:], "o", mfc="white", color=line.get_color(),
                    label=f"{label}: iteration in progress (games so far)")
    ax.set_xlabel("training frames (millions); each point is the iteration it averages")
    ax.set_ylabel("mean return of the training games")
    ax.set_title(f"{game}: our runs (1 seed) vs Dopamine's published DQN")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", required=True, metavar="LABEL=RUN_DIR",
                        help="a run directory and its label (dopamine_dqn runs are judged)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--widen", type=float, default=DEFAULT_WIDEN)
    args = parser.parse_args(argv)
    table = []
    for spec in args.run:
        label, sep, run_dir = spec.partition("=")
        if not sep:
            parser.error(f"--run {spec!r}: write LABEL=RUN_DIR, e.g. dopamine_dqn=runs/x")
        try:
            table.extend(compare(label, Path(run_dir), args.widen))
        except (FileNotFoundError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "side_by_side.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]) if table else ["run"])
        writer.writeheader()
        writer.writerows(table)
    (args.out / "side_by_side.md").write_text(markdown(table, args.widen))
    for game in dict.fromkeys(r["game"] for r in table):
        plot_game(args.out / f"{game}.png", game, table, args.widen)
    print(markdown(table, args.widen), end="")
    below = [r for r in table if r["verdict"] == "BELOW"]
    print(f"{len(below)} judged iteration(s) below the band -> {args.out}")
    return 0

