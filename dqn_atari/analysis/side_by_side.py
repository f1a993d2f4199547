"""Our runs next to Dopamine's published DQN curves, iteration by iteration, as distributions.

    python -m dqn_atari.side_by_side --run dopamine_dqn=RUNS/dopamine_dqn/road_runner \
        [--run dopamine_dqn=RUN_DIR ...] [--run nature=RUN_DIR ...] --out DIR

A ``--run LABEL=PATH`` gives the runs of one run name (``LABEL``); PATH is a run directory,
a directory holding ``seed_*`` run directories (``runs/<experiment>/<game>`` as
``dqn_atari.train`` lays them out), or a quoted glob of run directories. Repeat ``--run``
with the same label to add seeds; the game of each run dir comes from its ``config.yaml``,
and the run dirs of one label and one game are that label's seeds on that game.

Dopamine plots, per iteration of 250,000 agent steps (1M frames), the mean return of the
TRAINING games of that iteration (not evaluation games). Our ``iterations.csv`` has the
same number in ``train_raw_return_mean``. The reference is Dopamine's 5 seeds per game and
iteration, shipped in ``dqn_atari/data/dopamine_dqn_legacy_per_seed.csv`` and read by
``dqn_atari.analysis.baselines`` (source in ``dqn_atari/data/SOURCES.md``).

Per label, game and iteration: our seeds' values, n, mean, min and max; Dopamine's mean,
min and max; and a two-sided Welch t-test (unequal variances) of our seeds' values against
Dopamine's 5. With a single seed of ours there is no sample variance and no test: the
p-value is left empty, with the reason. The target for runs of the ``dopamine_dqn`` preset,
at every iteration from 1 on: the mean of our seeds lies inside Dopamine's 5-seed min-max
range, and the Welch test does not reject equal means at p < 0.05. Runs of other presets
are shown beside the reference and not judged.

Writes to --out: ``<game>.png`` (one plot per game: our seeds' min-max band, mean and each
seed beside Dopamine's band and mean), ``side_by_side.csv`` (one row per label, game and
iteration, each seed's value in a ``seed_<s>`` column) and ``side_by_side.md``. An
iteration not yet complete for every seed is shown from the training games so far, marked,
and neither tested nor judged.
"""

from __future__ import annotations

import argparse
import csv
import glob
import math
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dqn_atari.analysis.baselines import (
    FRAMES_PER_ITERATION,
    REFERENCE_FILE,
    dopamine_game,
    load_dopamine_reference,
    seed_columns,
)

JUDGED_EXPERIMENT = "dopamine_dqn"
FIRST_JUDGED_ITERATION = 1
ALPHA = 0.05  # a Welch p-value below this misses the target


@dataclass(frozen=True)
class ReferencePoint:
    """Dopamine's DQN at one iteration of one game: its seeds' values and their summary."""

    n_seeds: int
    mean: float
    min: float
    max: float
    values: tuple[float, ...] = ()


def load_reference(game: str) -> dict[int, ReferencePoint]:
    """Dopamine's per-iteration DQN training returns of ``game`` (iteration -> point)."""
    table = load_dopamine_reference([game], per_seed=True)
    if table.empty:
        raise ValueError(f"Dopamine publishes no DQN curve for {game!r} "
                         f"({dopamine_game(game)!r} is not in dqn_atari/data/{REFERENCE_FILE})")
    seeds = seed_columns(table)
    return {int(r.iteration): ReferencePoint(
        int(r.n_seeds), float(r.mean), float(r.min), float(r.max),
        tuple(float(getattr(r, s)) for s in seeds if math.isfinite(getattr(r, s))))
        for r in table.itertuples(index=False)}


@dataclass(frozen=True)
class Welch:
    """A two-sided Welch t-test of two samples; ``p`` is None when it cannot be computed."""

    t: float | None
    df: float | None
    p: float | None
    note: str = ""


def welch_test(ours: Sequence[float], theirs: Sequence[float]) -> Welch:
    """Two-sided Welch t-test (``scipy.stats.ttest_ind(equal_var=False)``) of ``ours`` vs ``theirs``.

    ``df`` is the Welch-Satterthwaite degrees of freedom. No number is made up: with fewer
    than 2 values on a side (no sample variance) or no variance on either side, t, df and p
    are None and ``note`` says why.
    """
    from scipy import stats

    for name, sample in (("ours", ours), ("Dopamine's", theirs)):
        if len(sample) < 2:
            return Welch(None, None, None,
                         f"n/a: only {len(sample)} seed of {name}, and a sample variance "
                         "needs at least 2")
    v1, v2 = statistics.variance(ours) / len(ours), statistics.variance(theirs) / len(theirs)
    if v1 + v2 == 0:
        return Welch(None, None, None, "n/a: every seed on both sides has the same value")
    result = stats.ttest_ind(list(ours), list(theirs), equal_var=False)
    df = (v1 + v2) ** 2 / (v1 ** 2 / (len(ours) - 1) + v2 ** 2 / (len(theirs) - 1))
    return Welch(float(result.statistic), df, float(result.pvalue))


def partial_iteration(run_dir: Path, completed: int) -> dict[str, float] | None:
    """The iteration in progress, from ``episodes.csv``: its training games so far, or None.

    Shown in the table, never tested or judged: it has not reached its 250,000 agent steps.
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
            "train_episodes": len(games), "in_progress": True}


@dataclass(frozen=True)
class Run:
    """One seed's run dir: its game, seed and per-iteration rows (the last maybe partial)."""

    path: Path
    game: str
    seed: str
    rows: tuple[dict, ...]


def read_run(run_dir: Path) -> Run:
    """A run dir's game and seed (``config.yaml``) and iterations (``metrics/iterations.csv``,
    then the iteration in progress from ``episodes.csv`` when it has training games)."""
    import yaml

    config_path, metrics = run_dir / "config.yaml", run_dir / "metrics" / "iterations.csv"
    for path in (config_path, metrics):
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: is {run_dir} a run directory?")
    config = yaml.safe_load(config_path.read_text())
    with open(metrics, newline="") as f:
        rows = [{"iteration": int(r["iteration"]), "frames": int(float(r["frames"])),
                 "train_raw_return_mean": float(r["train_raw_return_mean"] or "nan"),
                 "train_episodes": int(float(r["train_episodes"])), "in_progress": False}
                for r in csv.DictReader(f)]
    partial = partial_iteration(run_dir, completed=len(rows))
    seed = config.get("seed")
    return Run(run_dir, config["env"]["game"], str(seed if seed is not None else run_dir.name),
               tuple(rows + ([partial] if partial else [])))


def expand_run_path(spec: str) -> list[Path]:
    """The run dirs a ``--run`` PATH names: itself, its ``seed_*`` run dirs, or a glob's."""
    if glob.has_magic(spec):
        found = [Path(p) for p in sorted(glob.glob(spec)) if Path(p).is_dir()]
        if not found:
            raise FileNotFoundError(f"{spec!r} matches no directory")
        return found
    path = Path(spec)
    if not (path / "config.yaml").is_file():
        seeds = sorted((p for p in path.glob("seed_*") if (p / "config.yaml").is_file()),
                       key=lambda p: (len(p.name), p.name))
        if seeds:
            return seeds
    return [path]


def _seed_order(seed: str):
    return (0, int(seed), "") if seed.lstrip("-").isdigit() else (1, 0, seed)


def compare(label: str, run_dirs: Path | Sequence[Path]) -> list[dict]:
    """One row per game and iteration of the seeds in ``run_dirs``, beside Dopamine's there.

    The run dirs of one game are the seeds of ``label`` on it. An iteration is complete when
    every seed has finished it; otherwise its row holds the seeds' values so far and is
    neither tested nor judged.
    """
    runs = [read_run(Path(d)) for d in ([run_dirs] if isinstance(run_dirs, Path | str)
                                        else run_dirs)]
    by_game: dict[str, list[Run]] = {}
    for run in runs:
        by_game.setdefault(run.game, []).append(run)
    table = []
    for game, seeds in by_game.items():
        seen: dict[str, Path] = {}
        for run in seeds:
            if run.seed in seen:
                raise ValueError(f"{label} on {game}: seed {run.seed} given twice "
                                 f"({seen[run.seed]} and {run.path})")
            seen[run.seed] = run.path
        seeds = sorted(seeds, key=lambda r: _seed_order(r.seed))
        table.extend(_compare_game(label, game, seeds, load_reference(game)))
    return table


def _compare_game(label: str, game: str, seeds: Sequence[Run],
                  reference: dict[int, ReferencePoint]) -> list[dict]:
    judged = label == JUDGED_EXPERIMENT
    per_seed = [{r["iteration"]: r for r in run.rows} for run in seeds]
    iterations = sorted({i for rows in per_seed for i in rows})
    table = []
    for iteration in iterations:
        rows = {run.seed: rows[iteration] for run, rows in zip(seeds, per_seed)
                if iteration in rows}
        values = [r["train_raw_return_mean"] for r in rows.values()]
        complete = len(rows) == len(seeds) and not any(r["in_progress"] for r in rows.values())
        ref = reference.get(iteration)
        mean = statistics.fmean(values)
        out = {"run": label, "game": game, "iteration": iteration,
               "frames_from": iteration * FRAMES_PER_ITERATION,
               "frames_to": max(r["frames"] for r in rows.values()),
               "complete": complete, "n_seeds": len(values), "mean": mean,
               "min": min(values), "max": max(values),
               "train_games": sum(r["train_episodes"] for r in rows.values()),
               "dopamine_n_seeds": None, "dopamine_mean": None, "dopamine_min": None,
               "dopamine_max": None, "welch_t": None, "welch_df": None, "welch_p": None,
               "welch_note": "", "mean_vs_dopamine_range": "", "verdict": "not judged"}
        if not complete:
            waiting = [run.seed for run in seeds
                       if run.seed not in rows or rows[run.seed]["in_progress"]]
            who = f"seed {waiting[0]} has" if len(waiting) == 1 else \
                f"seeds {', '.join(waiting)} have"
            out["welch_note"] = f"n/a: iteration in progress ({who} not finished it)"
        if ref is not None:
            out.update(dopamine_n_seeds=ref.n_seeds, dopamine_mean=ref.mean,
                       dopamine_min=ref.min, dopamine_max=ref.max,
                       mean_vs_dopamine_range=("below" if mean < ref.min else
                                               "above" if mean > ref.max else "inside"))
            if complete:
                test = welch_test(values, ref.values)
                out.update(welch_t=test.t, welch_df=test.df, welch_p=test.p,
                           welch_note=test.note)
            if not complete:
                out["verdict"] = "in progress: not judged"
            elif judged and iteration >= FIRST_JUDGED_ITERATION:
                rejected = out["welch_p"] is not None and out["welch_p"] < ALPHA
                out["verdict"] = ("MISSES" if rejected or out["mean_vs_dopamine_range"] != "inside"
                                  else "meets")
        elif complete:
            out["welch_note"] = "n/a: Dopamine has no value at this iteration"
        out.update({f"seed_{s}": r["train_raw_return_mean"] for s, r in rows.items()})
        table.append(out)
    return table


def _fmt(value, digits: int | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if not isinstance(value, float):
        return str(value)
    if digits is None:  # returns: whole numbers, unless small (Pong's -20.3)
        digits = 1 if abs(value) < 100 else 0
    return f"{value:,.{digits}f}"


def _fmt_p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _seed_keys(row: dict) -> list[str]:
    return [k for k in row if k.startswith("seed_")]


def markdown(table: Sequence[dict]) -> str:
    counts = sorted({r["n_seeds"] for r in table if r["complete"]})
    n_ours = f" (n = {' or '.join(str(n) for n in counts)} here)" if counts else ""
    lines = [
        ("Per iteration of 1M frames, the mean return of the training games of that iteration "
        "(Dopamine's plotted figure; our `train_raw_return_mean`), for each of our seeds and "
        "for each of Dopamine's 5 seeds of its published legacy DQN. The test is a two-sided "
        "Welch t-test (unequal variances; `scipy.stats.ttest_ind(equal_var=False)`) of our "
        f"seeds' values{n_ours} against Dopamine's 5 at the same iteration; t > 0 when our "
        "mean is higher, df is the Welch-Satterthwaite degrees of freedom. With one seed of "
        "ours there is no sample variance, so no test: p is n/a, not a number. An iteration "
        "not yet finished by every seed is shown from its training games so far and not "
        f"tested. Target for `{JUDGED_EXPERIMENT}` from iteration {FIRST_JUDGED_ITERATION} "
        f"on: our mean inside Dopamine's min-max and p >= {ALPHA} (with one seed, only the "
        "range can be checked); other runs are not judged."),
        "",
        ("| run | game | iteration | frames | ours: per seed | ours: n | ours: mean | "
        "ours: min-max | Dopamine mean | Dopamine min-max (5 seeds) | Welch t (df) | p | "
        "our mean vs Dopamine's range | target |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = {}
    for r in table:
        frames = f"{r['frames_from'] / 1e6:g}-{r['frames_to'] / 1e6:.4g}M"
        seeds = ", ".join(f"{k.removeprefix('seed_')}: {_fmt(r[k])}" for k in _seed_keys(r))
        test = "-" if r["welch_t"] is None else f"{r['welch_t']:+.2f} ({r['welch_df']:.1f})"
        p = _fmt_p(r["welch_p"])
        if r["welch_p"] is None and r["welch_note"]:
            reason = r["welch_note"].removeprefix("n/a: ")
            mark = notes.setdefault(reason, len(notes) + 1)
            p = f"n/a [{mark}]"
        dopamine = ("-" if r["dopamine_min"] is None
                    else f"{_fmt(r['dopamine_min'])}-{_fmt(r['dopamine_max'])}")
        lines.append(
            f"| {r['run']} | {r['game']} | {r['iteration']}"
            f"{'' if r['complete'] else ' (in progress)'} | {frames} | {seeds} | "
            f"{r['n_seeds']} | {_fmt(r['mean'])} | {_fmt(r['min'])}-{_fmt(r['max'])} | "
            f"{_fmt(r['dopamine_mean'])} | {dopamine} | {test} | {p} | "
            f"{r['mean_vs_dopamine_range'] or '-'} | {r['verdict']} |")
    if notes:
        lines.append("")
        lines += [f"[{mark}] No p-value: {reason}." for reason, mark in notes.items()]
    return "\n".join(lines) + "\n"


def plot_game(path: Path, game: str, table: Sequence[dict]) -> None:
    """Training return per iteration, at the middle of the frames each value covers.

    Dopamine's 5-seed min-max band and mean in grey; per label, our seeds' min-max band, the
    mean over them (a line with dots; the iteration in progress hollow and dashed) and each
    seed faint.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [r for r in table if r["game"] == game]
    last = max(r["iteration"] for r in rows)
    reference = load_reference(game)
    its = [i for i in sorted(reference) if i <= last + 1]  # ours and one iteration beyond
    mid = [(i + 0.5) for i in its]  # millions of frames
    fig = Figure(figsize=(7, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.fill_between(mid, [reference[i].min for i in its], [reference[i].max for i in its],
                    color="0.6", alpha=0.4, label="Dopamine DQN, 5 seeds: min-max")
    ax.plot(mid, [reference[i].mean for i in its], color="0.25", lw=1.2, label="Dopamine mean")
    colors = {"dopamine_dqn": "tab:blue", "nature": "tab:red"}
    spare = iter(["tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:cyan", "tab:olive"])
    n_by_label = {}
    for label in dict.fromkeys(r["run"] for r in rows):
        mine = [r for r in rows if r["run"] == label]
        x = [(r["frames_from"] + r["frames_to"]) / 2e6 for r in mine]
        done = [r["complete"] for r in mine]
        n = max(r["n_seeds"] for r in mine)
        n_by_label[label] = n
        color = colors.get(label) or next(spare, "0.4")
        if n > 1:  # the band and each seed over the iterations every seed has finished
            xs = [a for a, d in zip(x, done) if d]
            full = [r for r in mine if r["complete"]]
            ax.fill_between(xs, [r["min"] for r in full], [r["max"] for r in full],
                            color=color, alpha=0.2, lw=0, label=f"ours: {label}, {n} seeds: min-max")
            for key in dict.fromkeys(k for r in full for k in _seed_keys(r)):
                ax.plot(xs, [r[key] for r in full], "-", color=color, lw=0.7, alpha=0.35)
        which = "mean of the seeds" if n > 1 else "1 seed"
        ax.plot([a for a, d in zip(x, done) if d], [r["mean"] for r, d in zip(mine, done) if d],
                "o-", color=color, label=f"ours: {label} ({which}; training games)")
        if not done[-1]:  # the iteration in progress: hollow, dashed, labelled
            ax.plot(x[-2:], [r["mean"] for r in mine[-2:]], "--", color=color, alpha=0.7)
            ax.plot(x[-1:], [mine[-1]["mean"]], "o", mfc="white", color=color,
                    label=f"{label}: iteration in progress (games so far)")
    seeds = ", ".join(f"{label} {n}" for label, n in n_by_label.items())
    ax.set_xlabel("training frames (millions); each point is the iteration it averages")
    ax.set_ylabel("mean return of the training games")
    ax.set_title(f"{game}: ours (seeds: {seeds}) vs Dopamine's published DQN (5 seeds)",
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _csv_fields(table: Sequence[dict]) -> list[str]:
    fields = [k for k in table[0] if not k.startswith("seed_")] if table else ["run"]
    seeds = dict.fromkeys(k for r in table for k in _seed_keys(r))
    return fields + sorted(seeds, key=lambda k: _seed_order(k.removeprefix("seed_")))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dqn_atari.side_by_side", description=__doc__.split("\n\n")[0],
        epilog="Example: --run dopamine_dqn=runs/dopamine_dqn/road_runner (its seed_* run "
               "dirs) --run 'nature=runs/nature/*/seed_0' --out results/side_by_side")
    parser.add_argument("--run", action="append", required=True, metavar="LABEL=PATH",
                        help="LABEL's runs: a run dir, a dir of seed_* run dirs, or a quoted "
                             "glob of run dirs; repeat a label to add seeds (run dirs of one "
                             "label and game are its seeds). dopamine_dqn runs are judged")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="where side_by_side.{csv,md} and <game>.png go")
    args = parser.parse_args(argv)
    dirs: dict[str, list[Path]] = {}
    for spec in args.run:
        label, sep, path = spec.partition("=")
        if not sep or not label or not path:
            parser.error(f"--run {spec!r}: write LABEL=PATH, e.g. dopamine_dqn=runs/x/seed_0")
        dirs.setdefault(label, []).append(path)
    table = []
    try:
        for label, paths in dirs.items():
            table.extend(compare(label, [d for p in paths for d in expand_run_path(p)]))
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "side_by_side.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=_csv_fields(table), restval="")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in table)
    text = markdown(table)
    (args.out / "side_by_side.md").write_text(text)
    for game in dict.fromkeys(r["game"] for r in table):
        plot_game(args.out / f"{game}.png", game, table)
    print(text, end="")
    misses = [r for r in table if r["verdict"] == "MISSES"]
    print(f"{len(misses)} judged iteration(s) miss the target -> {args.out}")
    return 0
