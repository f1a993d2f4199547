"""The analysis commands that write files: the report, the aggregates, the side-by-side.

Each command reads runs (``tidy``), computes its tables (``tables``, ``side_by_side``),
draws them (``figures``) and writes both to ``--out``; ``python -m dqn_atari.analysis``
(``__main__.py``) dispatches to them, and to ``download.main``.

``report`` (alias ``python -m dqn_atari.plot``): compare runs with the paper::

    python -m dqn_atari.analysis report --runs runs/ [--downloaded results/wandb] \\
        --out results/plots [--experiment NAME ...] [--game breakout ...] [--human at5|at30] \\
        [--dopamine | --dopamine-csv ../shared/reference/dopamine_baselines_legacy.csv]

    curves/<game>.png        evaluation score vs training frames, one line per experiment:
                             mean over seeds with a 95% bootstrap band, thin lines per seed;
                             the paper's DQN score (50M frames), human and random as lines
                             (a line far off the curves becomes a labelled note instead, so
                             early-training curves stay readable)
                             --dopamine adds Dopamine's published DQN (training games;
                             mean and min-max of its 5 seeds) from the package data;
                             --dopamine-csv reads a per-seed CSV in the format of ../shared's
                             dopamine_baselines_legacy.csv (mean and 95% bootstrap CI).
                             Either is placed at the middle of the 1M frames each value
                             averages: iteration i at (i + 0.5) x 1M frames (``dopamine``)
    grid.png                 the same for all games, one panel each
    learning_curves.csv      the plotted numbers (mean and CI per experiment, game, frames)
    final_scores.csv / .md   final score per experiment and game vs Extended Data Table 2:
                             % of the paper's DQN score and human-normalised score (HNS)
    aggregate_hns.png / .csv median, IQM and mean HNS over games with stratified-bootstrap
                             95% CIs, beside the paper's on the same games

A run's final score is the mean of its ``eval_nature.json`` (Nature protocol, written at the
end of the run or by ``python -m dqn_atari.evaluate``) when present, else its last
iteration's evaluation mean. Our evaluation points sit at the training frames done when the
evaluation ran (the end of each iteration). HNS use the paper's 5-minute human scores by
default (``--human at5``, 49 games); ``--human at30`` uses DQN Zoo's 30-minute ones (57).

``aggregates`` (alias ``python -m dqn_atari.plot aggregates``): aggregates over training, for
a paper's figures, following Agarwal et al. 2021 (``estimators``)::

    python -m dqn_atari.analysis aggregates --runs runs/ [--downloaded results/wandb] \\
        --out results/aggregates [--experiment NAME ...] [--game G ...] [--score eval|train] \\
        [--human at5|at30] [--compare X:Y ...] [--profile runs|games] [--dopamine] \\
        [--reps 2000] [--confidence 0.95] [--seed 0]

    aggregate_curves.png/.pdf/.csv   median, IQM, mean and optimality gap of HNS against
                                     training frames, per experiment, with stratified-
                                     bootstrap bands; with --dopamine, Dopamine's DQN median
                                     and mean on the same games (dopamine_aggregate.csv)
    performance_profile.png/.pdf/.csv
                                     fraction of runs (--profile games: of games) with HNS
                                     > tau, at the last frames all runs of an experiment share
    probability_of_improvement.png/.pdf/.csv
                                     P(X > Y) at those frames, on the games both have, for
                                     each --compare X:Y (default: every pair of experiments)
    final_points.csv                 the per-run scores the last two use

``--score eval`` (default) uses the evaluation phase of each iteration, placed at the
frames where it was measured (the end of the iteration); ``--score train`` the training
games of each iteration, placed at the middle of the frames they cover, as Dopamine's
curves are (``tables`` documents where each point sits).

``side-by-side`` (alias ``python -m dqn_atari.side_by_side``): our seeds' training returns
next to Dopamine's 5 seeds, iteration by iteration, with a Welch t-test (``side_by_side``)::

    python -m dqn_atari.analysis side-by-side --run LABEL=PATH ... --out DIR [--expected-seeds N]

    side_by_side.csv / .md   one row per label, game and iteration, each seed's value in a
                             ``seed_<s>`` column
    <game>.png               our seeds' min-max band, mean and each seed beside Dopamine's
                             band and mean

Runs come from run directories and/or W&B downloads (``tidy``); every input is read and
checked before anything is written to ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
from collections.abc import Sequence
from pathlib import Path

from dqn_atari import scores
from dqn_atari.analysis import dopamine, estimators, figures, side_by_side, tables, tidy

REPORT_PROG = "python -m dqn_atari.plot"
AGGREGATES_PROG = "python -m dqn_atari.plot aggregates"
SIDE_BY_SIDE_PROG = "python -m dqn_atari.side_by_side"


def _parser(prog: str | None, description: str, out: str) -> argparse.ArgumentParser:
    """A command's parser with the options every command that reads runs takes."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--runs", type=Path, default=None,
                        help="root of local run directories (runs/<experiment>/<game>/seed_<n>)")
    parser.add_argument("--downloaded", type=Path, default=None,
                        help="directory written by python -m dqn_atari.analysis download")
    parser.add_argument("--out", type=Path, default=Path(out))
    parser.add_argument("--experiment", nargs="+", action="extend", default=[])
    parser.add_argument("--game", nargs="+", action="extend", default=[])
    parser.add_argument("--human", choices=scores.HUMAN_CONDITIONS, default="at5")
    return parser


def _runs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[tidy.RunData]:
    """The runs ``args`` select, or exit naming what is wrong."""
    if args.runs is None and args.downloaded is None:
        parser.error("give --runs and/or --downloaded")
    try:
        runs = tidy.load_all(args.runs, args.downloaded)
    except tidy.BadInputError as error:
        parser.exit(2, f"error: {error}\n")
    runs = tidy.select_runs(runs, args.experiment, args.game)
    if not runs:
        parser.error("no runs found (check --runs / --downloaded and the filters)")
    return runs


# ---------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------


def make_report(runs: Sequence[tidy.RunData], out: str | Path, human: str = "at5",
                dopamine_csv: str | Path | None = None, reps: int = 2000,
                seed: int = 0, dopamine_overlay: bool = False) -> dict[str, Path]:
    """Write every figure and table of the report for ``runs``; return their paths."""
    out = Path(out)
    (out / "curves").mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}

    curves = tables.eval_curves(runs)
    summary = tables.summarize_curves(curves, reps=min(reps, 1000), seed=seed)
    summary.to_csv(out / "learning_curves.csv", index=False)
    written["learning_curves.csv"] = out / "learning_curves.csv"

    finals = tables.run_finals(runs, human)
    table = tables.final_scores_table(finals, human, reps, seed)
    agg = tables.aggregate_table(finals, human, reps, seed)
    table.to_csv(out / "final_scores.csv", index=False)
    agg.to_csv(out / "aggregate_hns.csv", index=False)
    (out / "final_scores.md").write_text(tables.final_scores_markdown(table, agg, human),
                                         encoding="utf-8")
    for name in ("final_scores.csv", "final_scores.md", "aggregate_hns.csv"):
        written[name] = out / name

    games = sorted(curves.game.unique())
    colors = figures.experiment_colors(sorted(curves.experiment.unique()))
    overlay = None
    if dopamine_overlay or dopamine_csv is not None:
        overlay = dopamine.dopamine_overlay(games, dopamine_csv, reps=min(reps, 1000),
                                            seed=seed)
    for game in games:
        path = out / "curves" / f"{game}.png"
        figures.plot_game(path, game, summary, curves, overlay, colors, human)
        written[f"curves/{game}.png"] = path
    if games:
        figures.plot_grid(out / "grid.png", games, summary, curves, overlay, colors, human)
        written["grid.png"] = out / "grid.png"
    if not agg.empty:
        figures.plot_aggregate(out / "aggregate_hns.png", agg, human)
        written["aggregate_hns.png"] = out / "aggregate_hns.png"
    return written


def has_evaluation(run: tidy.RunData) -> bool:
    """The run has an end-of-run evaluation or an evaluation-phase score (what this plots)."""
    if run.eval_nature is not None:
        return True
    table = run.table
    return bool(not table.empty and "eval_raw_return_mean" in table
                and table.eval_raw_return_mean.notna().any())


def report_command(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """``python -m dqn_atari.analysis report`` (and ``python -m dqn_atari.plot``)."""
    parser = _parser(prog, "Plot runs against the Nature DQN paper.", "results/plots")
    parser.add_argument("--dopamine", action="store_true",
                        help="overlay Dopamine's published DQN training curves (package data)")
    parser.add_argument("--dopamine-csv", type=Path, default=None,
                        help="overlay Dopamine's DQN training curves from this per-seed CSV")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap replications")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    args = parser.parse_args(argv)
    # every input is read and checked before anything is written to --out
    runs = _runs(parser, args)
    if args.dopamine_csv is not None:
        try:
            tidy.read_csv_checked(args.dopamine_csv, dopamine.CSV_COLUMNS,
                                  "dopamine_baselines_legacy.csv's format", nrows=5)
        except tidy.BadInputError as error:
            parser.exit(2, f"error: {error}\n")
    training_only = [r for r in runs if not has_evaluation(r)]
    runs = [r for r in runs if has_evaluation(r)]
    if training_only:
        print(f"left out {len(training_only)} run(s) with training games only (e.g. CleanRL "
              f"downloads: {', '.join(r.run_id for r in training_only[:3])}"
              f"{', ...' if len(training_only) > 3 else ''}): this report plots evaluation "
              "scores; plot them with `python -m dqn_atari.plot aggregates --score train`")
    if not runs:
        parser.exit(2, "error: no run has an evaluation score (evaluation phases or "
                       "eval_nature.json); for training returns use "
                       "`python -m dqn_atari.plot aggregates --score train`\n")
    if args.dopamine and args.dopamine_csv is not None:
        parser.error("give --dopamine (the packaged table) or --dopamine-csv, not both")
    written = make_report(runs, args.out, args.human, args.dopamine_csv, args.reps, args.seed,
                          dopamine_overlay=args.dopamine)
    print(f"{len(runs)} runs -> {args.out}")
    for name in written:
        print(f"  {name}")
    return 0


# ---------------------------------------------------------------------------------------
# aggregates
# ---------------------------------------------------------------------------------------


def make_aggregate_report(runs: Sequence[tidy.RunData], out: str | Path, score: str = "eval",
                          human: str = "at5", pairs: Sequence[tuple[str, str]] | None = None,
                          profile: str = "runs", dopamine_curves: bool = False,
                          reps: int = 2000, confidence: float = 0.95,
                          seed: int = 0) -> dict[str, Path]:
    """Write the tables and figures of the aggregates for ``runs``; return their paths.

    Raises ValueError, naming the problem, when the runs have no score to aggregate.
    """
    out = Path(out)
    curves = tables.score_curves(runs, score, human)
    known = curves[curves.hns.notna()]
    if known.empty:
        without = tables.games_without_human_score(curves)
        reason = (f"games without a human score: {', '.join(without)}" if without
                  else f"the runs have no {tables.SCORE_COLUMNS[score]} values")
        other = "train" if score == "eval" else "eval"
        raise ValueError(f"no run has a human-normalised {score} score to aggregate ({reason}); "
                         f"try --score {other} or --human at30")
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    score_text = tables.SCORE_DESCRIPTIONS[score]

    table = tables.aggregate_curve_table(known, reps, confidence, seed)
    tidy.write_tidy_csv(table, out / "aggregate_curves.csv")
    written["aggregate_curves.csv"] = out / "aggregate_curves.csv"
    dopamine_table = None
    if dopamine_curves:
        dopamine_table = dopamine.dopamine_aggregate_curves(sorted(known.game.unique()), human)
        tidy.write_tidy_csv(dopamine_table, out / "dopamine_aggregate.csv")
        written["dopamine_aggregate.csv"] = out / "dopamine_aggregate.csv"
    for path in figures.plot_aggregate_curves(table, out / "aggregate_curves", human,
                                              score_text, dopamine_table, confidence):
        written[path.name] = path

    finals = tables.final_points(known)
    tidy.write_tidy_csv(finals, out / "final_points.csv")
    written["final_points.csv"] = out / "final_points.csv"
    taus = tables.profile_taus(finals.hns.to_numpy(dtype=float))
    prof = tables.profile_table(finals, taus, profile, reps, confidence, seed)
    tidy.write_tidy_csv(prof, out / "performance_profile.csv")
    written["performance_profile.csv"] = out / "performance_profile.csv"
    for path in figures.plot_performance_profile(prof, out / "performance_profile", human,
                                                 score_text, confidence):
        written[path.name] = path

    experiments = sorted(finals.experiment.unique())
    if pairs is None:
        pairs = list(itertools.combinations(experiments, 2))
    if pairs:
        improvement = tables.improvement_table(finals, pairs, reps, confidence, seed)
        tidy.write_tidy_csv(improvement, out / "probability_of_improvement.csv")
        written["probability_of_improvement.csv"] = out / "probability_of_improvement.csv"
        for path in figures.plot_probability_of_improvement(
                improvement, out / "probability_of_improvement", score_text, confidence):
            written[path.name] = path
    return written


def _pair(text: str) -> tuple[str, str]:
    x, sep, y = text.partition(":")
    if not sep or not x or not y:
        raise argparse.ArgumentTypeError(f"{text!r}: write X:Y (experiment names), e.g. "
                                         "nature_double:nature")
    return x, y


def aggregates_command(argv: Sequence[str] | None = None, prog: str = AGGREGATES_PROG) -> int:
    """``python -m dqn_atari.analysis aggregates`` (and ``python -m dqn_atari.plot aggregates``)."""
    parser = _parser(prog, "Median, IQM, mean and optimality gap of human-normalised scores "
                           "over training, performance profiles and probability of improvement "
                           "(Agarwal et al. 2021), with stratified-bootstrap intervals.",
                     "results/aggregates")
    parser.add_argument("--score", choices=sorted(tables.SCORE_COLUMNS), default="eval",
                        help="eval: evaluation phase of each iteration (at its end); train: "
                             "training games of each iteration (at its middle, as Dopamine)")
    parser.add_argument("--compare", type=_pair, nargs="+", action="extend", default=None,
                        metavar="X:Y", help="P(X > Y) for these pairs (default: every pair)")
    parser.add_argument("--profile", choices=sorted(estimators.PROFILE_KINDS), default="runs")
    parser.add_argument("--dopamine", action="store_true",
                        help="add Dopamine's published DQN (median and mean, package data)")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap replicates")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    args = parser.parse_args(argv)
    if not 0 < args.confidence < 1:
        parser.error(f"--confidence must lie in (0, 1), e.g. 0.95; got {args.confidence}")
    if args.reps < 1:
        parser.error(f"--reps must be at least 1, e.g. 2000; got {args.reps}")
    runs = _runs(parser, args)
    try:
        written = make_aggregate_report(runs, args.out, args.score, args.human, args.compare,
                                        args.profile, args.dopamine, args.reps,
                                        args.confidence, args.seed)
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")
    print(f"{len(runs)} runs -> {args.out}")
    for name in written:
        print(f"  {name}")
    return 0


# ---------------------------------------------------------------------------------------
# side-by-side
# ---------------------------------------------------------------------------------------


def write_side_by_side(table: Sequence[dict], out: Path) -> str:
    """Write ``side_by_side.csv``, ``side_by_side.md`` and ``<game>.png``; return the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "side_by_side.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=side_by_side.csv_fields(table), restval="")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in table)
    text = side_by_side.markdown(table)
    (out / "side_by_side.md").write_text(text)
    for game in dict.fromkeys(r["game"] for r in table):
        figures.plot_side_by_side(out / f"{game}.png", game, table)
    return text


def side_by_side_command(argv: Sequence[str] | None = None,
                         prog: str = SIDE_BY_SIDE_PROG) -> int:
    """``python -m dqn_atari.analysis side-by-side`` (and ``python -m dqn_atari.side_by_side``)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Our runs next to Dopamine's published DQN curves, iteration "
                               "by iteration, as distributions.",
        epilog="Example: --run dopamine_dqn=runs/dopamine_dqn/road_runner (its seed_* run "
               "dirs) --run 'nature=runs/nature/*/seed_0' --out results/side_by_side")
    parser.add_argument("--run", action="append", required=True, metavar="LABEL=PATH",
                        help="LABEL's runs: a run dir, a dir of seed_* run dirs, or a quoted "
                             "glob of run dirs; repeat a label to add seeds (run dirs of one "
                             "label and game are its seeds). dopamine_dqn runs are judged")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="where side_by_side.{csv,md} and <game>.png go")
    parser.add_argument("--expected-seeds", type=int, default=None, metavar="N",
                        help="seeds planned per game: a judged iteration fewer seeds have "
                             "finished gets an interim verdict, not a final one")
    args = parser.parse_args(argv)
    if args.expected_seeds is not None and args.expected_seeds < 1:
        parser.error(f"--expected-seeds {args.expected_seeds}: give 1 or more")
    dirs: dict[str, list[Path]] = {}
    for spec in args.run:
        label, sep, path = spec.partition("=")
        if not sep or not label or not path:
            parser.error(f"--run {spec!r}: write LABEL=PATH, e.g. dopamine_dqn=runs/x/seed_0")
        dirs.setdefault(label, []).append(path)
    table = []
    try:
        for label, paths in dirs.items():
            run_dirs = [d for p in paths for d in side_by_side.expand_run_path(p)]
            table.extend(side_by_side.compare(label, run_dirs, args.expected_seeds))
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    text = write_side_by_side(table, args.out)
    print(text, end="")
    misses = [r for r in table if r["verdict"] == "MISSES"]
    interim = [r for r in table if r["verdict"].startswith("interim")]
    print(f"{len(misses)} judged iteration(s) miss the target"
          + (f" ({len(interim)} more judged on fewer seeds than planned: interim)"
             if interim else "") + f" -> {args.out}")
    return 0
