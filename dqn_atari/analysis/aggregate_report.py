"""``python -m dqn_atari.plot aggregates``: aggregates over training, for a paper's figures.

    python -m dqn_atari.plot aggregates --runs runs/ [--downloaded results/wandb] \
        --out results/aggregates [--experiment NAME ...] [--game G ...] [--score eval|train] \
        [--human at5|at30] [--compare X:Y ...] [--profile runs|games] [--dopamine] \
        [--reps 2000] [--confidence 0.95] [--seed 0]

Following Agarwal et al. 2021 (``rliable_style``), on human-normalised scores (HNS:
0 = random, 1 = human, ``dqn_atari.scores``), writes to --out:

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
curves are. Where each point sits is documented in ``training_aggregates``.
Runs come from run directories and/or W&B downloads (``dqn_atari.analysis.tidy``).
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dqn_atari import scores
from dqn_atari.analysis import aggregate_figures, baselines, rliable_style, tidy
from dqn_atari.analysis import training_aggregates as ta

PROFILE_POINTS = 201  # values of tau


def profile_taus(finals_hns: np.ndarray) -> np.ndarray:
    """tau from 0 to a little past the best run (at least 2 = twice human)."""
    top = float(np.nanmax(finals_hns)) if finals_hns.size else 2.0
    return np.linspace(0.0, max(2.0, 1.05 * top), PROFILE_POINTS)


def make_aggregate_report(runs: Sequence[tidy.RunData], out: str | Path, score: str = "eval",
                          human: str = "at5", pairs: Sequence[tuple[str, str]] | None = None,
                          profile: str = "runs", dopamine: bool = False, reps: int = 2000,
                          confidence: float = 0.95, seed: int = 0) -> dict[str, Path]:
    """Write the tables and figures of the module doc for ``runs``; return their paths.

    Raises ValueError, naming the problem, when the runs have no score to aggregate.
    """
    out = Path(out)
    curves = ta.score_curves(runs, score, human)
    known = curves[curves.hns.notna()]
    if known.empty:
        without = ta.games_without_human_score(curves)
        reason = (f"games without a human score: {', '.join(without)}" if without
                  else f"the runs have no {ta.SCORE_COLUMNS[score]} values")
        other = "train" if score == "eval" else "eval"
        raise ValueError(f"no run has a human-normalised {score} score to aggregate ({reason}); "
                         f"try --score {other} or --human at30")
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    score_text = ta.SCORE_DESCRIPTIONS[score]

    table = ta.aggregate_curve_table(known, reps, confidence, seed)
    tidy.write_tidy_csv(table, out / "aggregate_curves.csv")
    written["aggregate_curves.csv"] = out / "aggregate_curves.csv"
    dopamine_table = None
    if dopamine:
        dopamine_table = baselines.dopamine_aggregate_curves(sorted(known.game.unique()), human)
        tidy.write_tidy_csv(dopamine_table, out / "dopamine_aggregate.csv")
        written["dopamine_aggregate.csv"] = out / "dopamine_aggregate.csv"
    for path in aggregate_figures.plot_aggregate_curves(table, out / "aggregate_curves", human,
                                                        score_text, dopamine_table, confidence):
        written[path.name] = path

    finals = ta.final_points(known)
    tidy.write_tidy_csv(finals, out / "final_points.csv")
    written["final_points.csv"] = out / "final_points.csv"
    taus = profile_taus(finals.hns.to_numpy(dtype=float))
    prof = ta.profile_table(finals, taus, profile, reps, confidence, seed)
    tidy.write_tidy_csv(prof, out / "performance_profile.csv")
    written["performance_profile.csv"] = out / "performance_profile.csv"
    for path in aggregate_figures.plot_performance_profile(prof, out / "performance_profile",
                                                           human, score_text, confidence):
        written[path.name] = path

    experiments = sorted(finals.experiment.unique())
    if pairs is None:
        pairs = list(itertools.combinations(experiments, 2))
    if pairs:
        improvement = ta.improvement_table(finals, pairs, reps, confidence, seed)
        tidy.write_tidy_csv(improvement, out / "probability_of_improvement.csv")
        written["probability_of_improvement.csv"] = out / "probability_of_improvement.csv"
        for path in aggregate_figures.plot_probability_of_improvement(
                improvement, out / "probability_of_improvement", score_text, confidence):
            written[path.name] = path
    return written


def _pair(text: str) -> tuple[str, str]:
    x, sep, y = text.partition(":")
    if not sep or not x or not y:
        raise argparse.ArgumentTypeError(f"{text!r}: write X:Y (experiment names), e.g. "
                                         "nature_double:nature")
    return x, y


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dqn_atari.plot aggregates",
        description="Median, IQM, mean and optimality gap of human-normalised scores over "
                    "training, performance profiles and probability of improvement "
                    "(Agarwal et al. 2021), with stratified-bootstrap intervals.")
    parser.add_argument("--runs", type=Path, default=None,
                        help="root of local run directories (runs/<experiment>/<game>/seed_<n>)")
    parser.add_argument("--downloaded", type=Path, default=None,
                        help="directory written by python -m dqn_atari.wandb_download")
    parser.add_argument("--out", type=Path, default=Path("results/aggregates"))
    parser.add_argument("--experiment", nargs="+", action="extend", default=[])
    parser.add_argument("--game", nargs="+", action="extend", default=[])
    parser.add_argument("--score", choices=sorted(ta.SCORE_COLUMNS), default="eval",
                        help="eval: evaluation phase of each iteration (at its end); train: "
                             "training games of each iteration (at its middle, as Dopamine)")
    parser.add_argument("--human", choices=scores.HUMAN_CONDITIONS, default="at5")
    parser.add_argument("--compare", type=_pair, nargs="+", action="extend", default=None,
                        metavar="X:Y", help="P(X > Y) for these pairs (default: every pair)")
    parser.add_argument("--profile", choices=sorted(rliable_style.PROFILE_KINDS), default="runs")
    parser.add_argument("--dopamine", action="store_true",
                        help="add Dopamine's published DQN (median and mean, package data)")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap replicates")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    args = parser.parse_args(argv)
    if args.runs is None and args.downloaded is None:
        parser.error("give --runs and/or --downloaded")
    if not 0 < args.confidence < 1:
        parser.error(f"--confidence must lie in (0, 1), e.g. 0.95; got {args.confidence}")
    if args.reps < 1:
        parser.error(f"--reps must be at least 1, e.g. 2000; got {args.reps}")
    try:
        runs = tidy.load_all(args.runs, args.downloaded)
    except tidy.BadInputError as error:
        parser.exit(2, f"error: {error}\n")
    runs = tidy.select_runs(runs, args.experiment, args.game)
    if not runs:
        parser.error("no runs found (check --runs / --downloaded and the filters)")
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
