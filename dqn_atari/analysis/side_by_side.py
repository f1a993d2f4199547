"""Our runs next to Dopamine's published DQN, iteration by iteration, as distributions: the rows.

    python -m dqn_atari.analysis side-by-side --run dopamine_dqn=RUNS/dopamine_dqn/road_runner \
        [--run dopamine_dqn=RUN_DIR ...] [--run nature=RUN_DIR ...] --out DIR \
        [--expected-seeds N]
    (alias: python -m dqn_atari.side_by_side)

A ``--run LABEL=PATH`` gives the runs of one run name (``LABEL``); PATH is a run directory,
a directory holding ``seed_*`` run directories (``runs/<experiment>/<game>`` as
``dqn_atari.train`` lays them out), or a quoted glob of run directories. Repeat ``--run``
with the same label to add seeds; the game of each run dir comes from its ``config.yaml``,
and the run dirs of one label and one game are that label's seeds on that game.

Dopamine plots, per iteration of 250,000 agent steps (1M frames), the mean return of the
TRAINING games of that iteration (not evaluation games). Our ``iterations.csv`` has the
same number in ``train_raw_return_mean``. The reference is Dopamine's 5 seeds per game and
iteration (``dqn_atari.analysis.dopamine.game_reference``).

Per label, game and iteration (``compare``): our seeds' values, n, mean, min and max;
Dopamine's mean, min and max; and a two-sided Welch t-test (unequal variances,
``estimators.welch_test``) of our seeds' values against Dopamine's 5. With a single seed of
ours there is no sample variance and no test: the p-value is left empty, with the reason.
The target for runs of the ``dopamine_dqn`` preset, at every iteration from 1 on: the mean
of our seeds lies inside Dopamine's 5-seed min-max range, and the Welch test does not
reject equal means at p < 0.05. Runs of other presets are shown beside the reference and
not judged. An iteration not yet complete for every seed is shown from the training games
so far, marked, and not judged; once 2 or more seeds have finished it, those seeds are
tested (an interim test, footnoted, that no verdict uses). With ``expected_seeds``
(``--expected-seeds``), the number of seeds planned per game, a judged iteration that fewer
seeds have reached is marked interim ("interim, 2 of 3 seeds: MISSES"): a reading, not yet
the verdict.

The rows are computed here and written as Markdown (``markdown``); the command
(``report.side_by_side_command``) writes ``side_by_side.csv``, ``side_by_side.md`` and one
plot per game (``figures.plot_side_by_side``).
"""

from __future__ import annotations

import csv
import glob
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dqn_atari.analysis.dopamine import FRAMES_PER_ITERATION, ReferencePoint, game_reference
from dqn_atari.analysis.estimators import welch_test

JUDGED_EXPERIMENT = "dopamine_dqn"
FIRST_JUDGED_ITERATION = 1
ALPHA = 0.05  # a Welch p-value below this misses the target


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


def seed_order(seed: str):
    return (0, int(seed), "") if seed.lstrip("-").isdigit() else (1, 0, seed)


def compare(label: str, run_dirs: Path | Sequence[Path],
            expected_seeds: int | None = None) -> list[dict]:
    """One row per game and iteration of the seeds in ``run_dirs``, beside Dopamine's there.

    The run dirs of one game are the seeds of ``label`` on it. An iteration is complete when
    every seed has finished it; otherwise its row holds the seeds' values so far, is not
    judged, and is tested on the seeds that have finished it when there are 2 or more.
    ``expected_seeds``: the seeds planned per game; a judged iteration that fewer have
    finished gets an interim verdict.
    """
    if expected_seeds is not None and expected_seeds < 1:
        raise ValueError(f"expected_seeds={expected_seeds}: give the number of seeds planned "
                         "per game (1 or more), or leave it out")
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
        seeds = sorted(seeds, key=lambda r: seed_order(r.seed))
        if expected_seeds is not None and len(seeds) > expected_seeds:
            raise ValueError(f"{label} on {game}: {len(seeds)} seeds found but "
                             f"expected_seeds={expected_seeds}; raise --expected-seeds or "
                             "leave it out")
        table.extend(_compare_game(label, game, seeds, game_reference(game), expected_seeds))
    return table


def _welch_fields(rows: dict[str, dict], complete: bool, ref: ReferencePoint) -> dict:
    """The Welch test's columns of one iteration: of every seed once the iteration is complete;
    before, an interim test of the seeds that have finished it (2 or more, and only if it gives
    a p-value), which no verdict uses; nothing otherwise."""
    finished = {s: r["train_raw_return_mean"] for s, r in rows.items() if not r["in_progress"]}
    if not complete and len(finished) < 2:
        return {}
    test = welch_test(list(finished.values()), ref.values)
    if complete:
        note = test.note
    elif test.p is None:
        return {}
    else:
        note = f"interim: seeds {', '.join(finished)} only, the ones that have finished it"
    return {"welch_t": test.t, "welch_df": test.df, "welch_p": test.p, "welch_note": note,
            "welch_seeds": " ".join(finished) if test.p is not None else ""}


def _compare_game(label: str, game: str, seeds: Sequence[Run],
                  reference: dict[int, ReferencePoint],
                  expected_seeds: int | None = None) -> list[dict]:
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
               # the seeds whose value is of their games so far (" "-separated; "" if none)
               "seeds_so_far": " ".join(s for s, r in rows.items() if r["in_progress"]),
               "dopamine_n_seeds": None, "dopamine_mean": None, "dopamine_min": None,
               "dopamine_max": None, "welch_t": None, "welch_df": None, "welch_p": None,
               "welch_note": "", "welch_seeds": "", "mean_vs_dopamine_range": "",
               "verdict": "not judged"}
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
            out.update(_welch_fields(rows, complete, ref))
            if not complete:
                out["verdict"] = "in progress: not judged"
            elif judged and iteration >= FIRST_JUDGED_ITERATION:
                rejected = out["welch_p"] is not None and out["welch_p"] < ALPHA
                verdict = ("MISSES" if rejected or out["mean_vs_dopamine_range"] != "inside"
                           else "meets")
                if expected_seeds is not None and len(values) < expected_seeds:
                    verdict = f"interim, {len(values)} of {expected_seeds} seeds: {verdict}"
                out["verdict"] = verdict
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


def seed_keys(row: dict) -> list[str]:
    return [k for k in row if k.startswith("seed_")]


def markdown(table: Sequence[dict]) -> str:
    # the numbers of our seeds tested: all of a complete row's, or the interim test's
    counts = sorted({len(r["welch_seeds"].split()) if r["welch_seeds"] else r["n_seeds"]
                     for r in table if r["complete"] or r["welch_seeds"]})
    n_ours = f" (n = {' or '.join(str(n) for n in counts)} here)" if counts else ""
    lines = [
        ("Per iteration of 1M frames, the mean return of the training games of that iteration "
        "(Dopamine's plotted figure; our `train_raw_return_mean`), for each of our seeds and "
        "for each of Dopamine's 5 seeds of its published legacy DQN. The test is a two-sided "
        "Welch t-test (unequal variances; `scipy.stats.ttest_ind(equal_var=False)`) of our "
        f"seeds' values{n_ours} against Dopamine's 5 at the same iteration; t > 0 when our "
        "mean is higher, df is the Welch-Satterthwaite degrees of freedom. With one seed of "
        "ours there is no sample variance, so no test: p is n/a, not a number. An iteration "
        "not yet finished by every seed is shown from its training games so far (a seed's "
        "value of an unfinished iteration is marked \"so far\") and not judged; its test, "
        "if any, is of the 2 or more seeds that have finished it (footnoted). "
        f"Target for `{JUDGED_EXPERIMENT}` from iteration {FIRST_JUDGED_ITERATION} "
        f"on: our mean inside Dopamine's min-max and p >= {ALPHA} (with one seed, only the "
        "range can be checked); other runs are not judged."
        + (" A verdict marked interim is of fewer seeds than planned: a reading, not yet the "
           "verdict." if any(r["verdict"].startswith("interim") for r in table) else "")),
        "",
        ("| run | game | iteration | frames | ours: per seed | ours: n | ours: mean | "
        "ours: min-max | Dopamine mean | Dopamine min-max (5 seeds) | Welch t (df) | p | "
        "our mean vs Dopamine's range | target |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = {}
    for r in table:
        frames = f"{r['frames_from'] / 1e6:g}-{r['frames_to'] / 1e6:.4g}M"
        so_far = set(r["seeds_so_far"].split())
        seeds = ", ".join(
            f"{k.removeprefix('seed_')}: {_fmt(r[k])}"
            f"{' (so far)' if k.removeprefix('seed_') in so_far else ''}" for k in seed_keys(r))
        test = "-" if r["welch_t"] is None else f"{r['welch_t']:+.2f} ({r['welch_df']:.1f})"
        p = _fmt_p(r["welch_p"])
        if r["welch_p"] is None and r["welch_note"]:
            reason = r["welch_note"].removeprefix("n/a: ")
            mark = notes.setdefault(f"No p-value: {reason}.", len(notes) + 1)
            p = f"n/a [{mark}]"
        elif r["welch_note"].startswith("interim"):
            seeds_tested = r["welch_note"].removeprefix("interim: ")
            mark = notes.setdefault(
                f"Interim test of {seeds_tested}, while the others go on; not a verdict.",
                len(notes) + 1)
            p = f"{p} [{mark}]"
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
        lines += [f"[{mark}] {note}" for note, mark in notes.items()]
    return "\n".join(lines) + "\n"


def csv_fields(table: Sequence[dict]) -> list[str]:
    fields = [k for k in table[0] if not k.startswith("seed_")] if table else ["run"]
    seeds = dict.fromkeys(k for r in table for k in seed_keys(r))
    return fields + sorted(seeds, key=lambda k: seed_order(k.removeprefix("seed_")))
