"""Compare runs with the paper: learning curves, final-score table, aggregate HNS.

    python -m dqn_atari.plot --runs runs/ [--downloaded results/wandb] --out results/plots \
        [--experiment NAME ...] [--game breakout ...] [--human at5|at30] \
        [--dopamine | --dopamine-csv ../shared/reference/dopamine_baselines_legacy.csv]

Writes to --out:
    curves/<game>.png        evaluation score vs training frames, one line per experiment:
                             mean over seeds with a 95% bootstrap band, thin lines per seed;
                             the paper's DQN score (50M frames), human and random as lines
                             (a line far off the curves becomes a labelled note instead, so
                             early-training curves stay readable)
                             --dopamine adds Dopamine's published DQN (training games;
                             mean and min-max of its 5 seeds) from the package data
                             (dqn_atari.analysis.baselines); --dopamine-csv reads a per-seed
                             CSV in the format of ../shared's dopamine_baselines_legacy.csv.
                             Either is placed at the middle of the 1M frames each value
                             averages: iteration i at (i + 0.5) x 1M frames
    grid.png                 the same for all games, one panel each
    learning_curves.csv      the plotted numbers (mean and CI per experiment, game, frames)
    final_scores.csv / .md   final score per experiment and game vs Extended Data Table 2:
                             % of the paper's DQN score and human-normalised score (HNS)
    aggregate_hns.png / .csv median, IQM and mean HNS over games with stratified-bootstrap
                             95% CIs (dqn_atari.analysis.aggregate), beside the paper's on
                             the same games

The numbers are computed in ``dqn_atari/analysis/tables.py`` and drawn in
``dqn_atari/analysis/figures.py``; this module writes them (``make_report``) and holds the
command line (``main``).

A run's final score is the mean of its ``eval_nature.json`` (Nature protocol, written by
``python -m dqn_atari.evaluate``) when present, else its last iteration's evaluation mean.
Our evaluation points sit at the training frames done when the evaluation ran (the end of
each iteration). ``python -m dqn_atari.plot aggregates`` (``aggregate_report.py``) draws the
aggregates over training.
HNS use the paper's 5-minute human scores by default (``--human at5``, 49 games);
``--human at30`` uses DQN Zoo's 30-minute ones (57 games).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from dqn_atari import scores
from dqn_atari.analysis import baselines, tidy
from dqn_atari.analysis.figures import experiment_colors, plot_aggregate, plot_game, plot_grid
from dqn_atari.analysis.tables import (
    DOPAMINE_COLUMNS,
    aggregate_table,
    eval_curves,
    final_scores_markdown,
    final_scores_table,
    load_dopamine,
    reference_game,
    run_finals,
    summarize_curves,
)


def make_report(runs: Sequence[tidy.RunData], out: str | Path, human: str = "at5",
                dopamine_csv: str | Path | None = None, reps: int = 2000,
                seed: int = 0, dopamine: bool = False) -> dict[str, Path]:
    """Write every figure and table of the module doc for ``runs``; return their paths."""
    out = Path(out)
    (out / "curves").mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}

    curves = eval_curves(runs)
    summary = summarize_curves(curves, reps=min(reps, 1000), seed=seed)
    summary.to_csv(out / "learning_curves.csv", index=False)
    written["learning_curves.csv"] = out / "learning_curves.csv"

    finals = run_finals(runs, human)
    table = final_scores_table(finals, human, reps, seed)
    agg = aggregate_table(finals, human, reps, seed)
    table.to_csv(out / "final_scores.csv", index=False)
    agg.to_csv(out / "aggregate_hns.csv", index=False)
    (out / "final_scores.md").write_text(final_scores_markdown(table, agg, human),
                                         encoding="utf-8")
    for name in ("final_scores.csv", "final_scores.md", "aggregate_hns.csv"):
        written[name] = out / name

    games = sorted(curves.game.unique())
    colors = experiment_colors(sorted(curves.experiment.unique()))
    overlay = None
    if dopamine:
        overlay = baselines.dopamine_overlay(games)
    elif dopamine_csv is not None:
        atari = [reference_game(g) for g in games if reference_game(g) is not None]
        overlay = load_dopamine(dopamine_csv, atari, reps=min(reps, 1000), seed=seed)
        overlay["game"] = overlay.game.map({reference_game(g): g for g in games
                                            if reference_game(g) is not None})
    for game in games:
        path = out / "curves" / f"{game}.png"
        plot_game(path, game, summary, curves, overlay, colors, human)
        written[f"curves/{game}.png"] = path
    if games:
        plot_grid(out / "grid.png", games, summary, curves, overlay, colors, human)
        written["grid.png"] = out / "grid.png"
    if not agg.empty:
        plot_aggregate(out / "aggregate_hns.png", agg, human)
        written["aggregate_hns.png"] = out / "aggregate_hns.png"
    return written


def has_evaluation(run: tidy.RunData) -> bool:
    """The run has an end-of-run evaluation or an evaluation-phase score (what this plots)."""
    if run.eval_nature is not None:
        return True
    table = run.table
    return bool(not table.empty and "eval_raw_return_mean" in table
                and table.eval_raw_return_mean.notna().any())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Plot runs against the Nature DQN paper.")
    parser.add_argument("--runs", type=Path, default=None,
                        help="root of local run directories (runs/<experiment>/<game>/seed_<n>)")
    parser.add_argument("--downloaded", type=Path, default=None,
                        help="directory written by scripts/download_wandb.py")
    parser.add_argument("--out", type=Path, default=Path("results/plots"))
    parser.add_argument("--experiment", nargs="+", action="extend", default=[])
    parser.add_argument("--game", nargs="+", action="extend", default=[])
    parser.add_argument("--human", choices=scores.HUMAN_CONDITIONS, default="at5")
    parser.add_argument("--dopamine", action="store_true",
                        help="overlay Dopamine's published DQN training curves (package data)")
    parser.add_argument("--dopamine-csv", type=Path, default=None,
                        help="overlay Dopamine's DQN training curves from this per-seed CSV")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap replications")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    args = parser.parse_args(argv)
    if args.runs is None and args.downloaded is None:
        parser.error("give --runs and/or --downloaded")

    try:  # every input is read and checked before anything is written to --out
        runs = tidy.load_all(args.runs, args.downloaded)
        if args.dopamine_csv is not None:
            tidy.read_csv_checked(args.dopamine_csv, DOPAMINE_COLUMNS,
                                  "dopamine_baselines_legacy.csv's format", nrows=5)
    except tidy.BadInputError as error:
        parser.exit(2, f"error: {error}\n")
    runs = tidy.select_runs(runs, args.experiment, args.game)
    if not runs:
        parser.error("no runs found")
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
                          dopamine=args.dopamine)
    print(f"{len(runs)} runs -> {args.out}")
    for name in written:
        print(f"  {name}")
    return 0

