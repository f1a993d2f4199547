"""The numbers of the report and of the aggregates over training, as tables.

Every function returns a pandas DataFrame (or, for ``final_scores_markdown``, its Markdown)
built from ``dqn_atari.analysis.tidy`` runs, with the paper's and the human scores of
``dqn_atari.scores`` (the one place a score is human-normalised) and the estimators of
``dqn_atari.analysis.estimators``. ``figures`` draws them; ``report`` writes them to files.

The report (``python -m dqn_atari.analysis report``): evaluation curves per game
(``eval_curves``, ``summarize_curves``), each run's final score (``run_finals``), the
final scores against the paper's (``final_scores_table``) and their aggregates over games
(``aggregate_table``).

The aggregates over training (``python -m dqn_atari.analysis aggregates``): human-normalised
scores (HNS) of every run against frames (``score_curves``), their aggregates over games
with bands (``aggregate_curve_table``), and at the last frames all runs of an experiment
share (``final_points``): performance profiles (``profile_table``) and the probability of
improvement (``improvement_table``). Where a value sits on the frames axis, and what it
covers:

* ``score="eval"`` (default): ``eval_raw_return_mean``, the evaluation phase that follows
  the training phase of an iteration. It measures the agent as it is after ``frames``
  training frames (the ``frames`` of iterations.csv: training frames done at the end of the
  iteration), so it is placed there; ``frames_from == frames_to == frames``.
* ``score="train"``: ``train_raw_return_mean``, the mean return of the training games of
  an iteration, Dopamine's plotted figure. It averages games played from the end of the
  previous iteration (``frames_from``; 0 for the first) to the end of this one
  (``frames_to``), so it is placed at the middle of that interval, as Dopamine's own values
  are (``dqn_atari.analysis.dopamine``).

A curve of an experiment uses the frames at which every one of its runs has a value (a run
that is behind, or has stopped, shortens the curve of all: the aggregate at each point is
then over the same runs). Games without a human score (e.g. ``catch``, or the 8 games
outside the paper's 49 with ``human="at5"``) are left out, and listed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from dqn_atari import scores
from dqn_atari.analysis import estimators, tidy

PAPER_LABEL = "Nature DQN (paper, 50M frames)"
AGGREGATE_NAMES = {"median": "Median", "iqm": "IQM", "mean": "Mean"}
SCORE_COLUMNS = {"eval": "eval_raw_return_mean", "train": "train_raw_return_mean"}
SCORE_DESCRIPTIONS = {
    "eval": "evaluation phase after each iteration (placed at its end)",
    "train": "training games of each iteration (placed at its middle)",
}
CURVE_COLUMNS = ["experiment", "game", "seed", "run_id", "frames", "frames_from", "frames_to",
                 "score", "hns"]
PROFILE_POINTS = 201  # values of tau


def reference_game(game: str) -> str | None:
    """snake_case Atari game of ``game``, or None for a non-Atari env (e.g. ``catch``)."""
    return scores.canonical_game(game) if scores.is_known_game(game) else None


def paper_of(game: str) -> scores.PaperScore | None:
    """The paper's Extended Data Table 2 row for ``game``, or None outside its 49 games."""
    ref = reference_game(game)
    return scores.paper_score(ref) if ref in scores.NATURE_49_GAMES else None


# ---------------------------------------------------------------------------------------
# The report: evaluation curves and final scores against the paper
# ---------------------------------------------------------------------------------------


def eval_curves(runs: Sequence[tidy.RunData]) -> pd.DataFrame:
    """Per-iteration evaluation means: experiment, game, seed, frames, score."""
    parts = []
    for run in runs:
        t = run.table
        if t.empty or "eval_raw_return_mean" not in t:
            continue
        rows = t[(t.phase == "iteration") & t.eval_raw_return_mean.notna() & t.frames.notna()]
        parts.append(pd.DataFrame({
            "experiment": run.experiment, "game": run.game, "seed": run.seed,
            "frames": rows.frames.astype("int64").to_numpy(),
            "score": rows.eval_raw_return_mean.astype(float).to_numpy(),
        }))
    if not parts:
        return pd.DataFrame(columns=["experiment", "game", "seed", "frames", "score"])
    return pd.concat(parts, ignore_index=True)


def summarize_curves(curves: pd.DataFrame, reps: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Mean over seeds and 95% bootstrap CI at each (experiment, game, frames)."""
    rows = []
    for (experiment, game, frames), g in curves.groupby(["experiment", "game", "frames"]):
        est = estimators.bootstrap_mean_ci(g.score.to_numpy(), reps=reps, seed=seed)
        rows.append({"experiment": experiment, "game": game, "frames": int(frames),
                     "n_seeds": int(g.seed.nunique()), "mean": est.point,
                     "ci_low": est.low, "ci_high": est.high})
    return pd.DataFrame(rows, columns=["experiment", "game", "frames", "n_seeds", "mean",
                                       "ci_low", "ci_high"])


def final_score(run: tidy.RunData) -> dict | None:
    """Final score of a run: eval_nature.json mean if present, else the last iteration's eval."""
    if run.eval_nature is not None and run.eval_nature.get("mean") is not None:
        frames = run.eval_nature.get("frames")
        return {"score": float(run.eval_nature["mean"]), "source": "eval_nature",
                "frames": int(frames) if frames is not None else None}
    curve = eval_curves([run])
    if curve.empty:
        return None
    last = curve.sort_values("frames").iloc[-1]
    return {"score": float(last.score), "source": "last_iteration", "frames": int(last.frames)}


def run_finals(runs: Sequence[tidy.RunData], human: str = "at5") -> pd.DataFrame:
    """One row per run: experiment, game, seed, final score, its frames and source, HNS."""
    rows = []
    for run in runs:
        final = final_score(run)
        if final is None:
            continue
        rows.append({"experiment": run.experiment, "game": run.game, "seed": run.seed,
                     "run_id": run.run_id, **final,
                     "hns": scores.human_normalized_or_nan(run.game, final["score"], human)})
    return pd.DataFrame(rows, columns=["experiment", "game", "seed", "run_id", "score", "source",
                                       "frames", "hns"])


def final_scores_table(finals: pd.DataFrame, human: str = "at5", reps: int = 2000,
                       seed: int = 0) -> pd.DataFrame:
    """Per experiment and game: mean final score over seeds with CI, vs the paper."""
    hns = scores.human_normalized_or_nan
    rows = []
    for (experiment, game), g in finals.groupby(["experiment", "game"], sort=True):
        est = estimators.bootstrap_mean_ci(g.score.to_numpy(), reps=reps, seed=seed)
        paper = paper_of(game)
        frames = g.frames.dropna()
        row = {
            "experiment": experiment, "game": game, "n_seeds": len(g),
            "frames_min": int(frames.min()) if len(frames) else None,
            "frames_max": int(frames.max()) if len(frames) else None,
            "final_source": "+".join(sorted(g.source.unique())),
            "score_mean": est.point, "score_ci_low": est.low, "score_ci_high": est.high,
            "score_std_over_seeds": float(g.score.std(ddof=1)) if len(g) > 1 else math.nan,
            "paper_dqn": paper.dqn if paper else math.nan,
            "paper_dqn_std": paper.dqn_std if paper else math.nan,
            "pct_of_paper": (100.0 * est.point / paper.dqn
                             if paper and paper.dqn != 0 else math.nan),
            # HNS is linear in the score, so the CI maps through it.
            "hns_pct": 100.0 * hns(game, est.point, human),
            "hns_pct_ci_low": 100.0 * hns(game, est.low, human),
            "hns_pct_ci_high": 100.0 * hns(game, est.high, human),
            "paper_hns_pct": _paper_hns_pct(game, human),
        }
        rows.append(row)
    return pd.DataFrame(rows)


def _paper_hns_pct(game: str, human: str) -> float:
    """The paper's DQN HNS in %: the printed column for at5, recomputed for at30."""
    paper = paper_of(game)
    if paper is None:
        return math.nan
    if human == "at5":
        return paper.dqn_pct_human
    return 100.0 * scores.human_normalized(paper.game, paper.dqn, human=human)


def aggregate_table(finals: pd.DataFrame, human: str = "at5", reps: int = 2000,
                    seed: int = 0) -> pd.DataFrame:
    """Median, IQM and mean HNS (%) over games per experiment, plus the paper's on those games."""
    rows = []
    known = finals[finals.hns.notna()]
    for experiment, g in known.groupby("experiment", sort=True):
        by_game = {game: 100.0 * gg.hns.to_numpy() for game, gg in g.groupby("game")}
        estimates = estimators.aggregate_with_cis(by_game, reps=reps, seed=seed)
        frames = g.frames.dropna()
        for name, est in estimates.items():
            rows.append({"experiment": experiment, "statistic": name, "point": est.point,
                         "ci_low": est.low, "ci_high": est.high, "n_games": len(by_game),
                         "n_runs": len(g), "frames_max": int(frames.max()) if len(frames) else None,
                         "games": " ".join(sorted(by_game)),
                         "final_source": "+".join(sorted(g.source.unique()))})
        paper_games = [gm for gm in by_game if paper_of(gm) is not None]
        if paper_games:
            paper = {gm: np.array([_paper_hns_pct(gm, human)]) for gm in paper_games}
            for name, fn in estimators.AGGREGATES.items():
                value = float(fn([v[None, :] for v in paper.values()])[0])
                rows.append({"experiment": f"{PAPER_LABEL} on the games of {experiment}",
                             "statistic": name, "point": value, "ci_low": math.nan,
                             "ci_high": math.nan, "n_games": len(paper), "n_runs": math.nan,
                             "frames_max": 50_000_000, "games": " ".join(sorted(paper)),
                             "final_source": "paper"})
    return pd.DataFrame(rows, columns=["experiment", "statistic", "point", "ci_low", "ci_high",
                                       "n_games", "n_runs", "frames_max", "games",
                                       "final_source"])


# ---------------------------------------------------------------------------------------
# The aggregates over training: HNS against frames
# ---------------------------------------------------------------------------------------


def run_curve(run: tidy.RunData, score: str = "eval") -> pd.DataFrame:
    """One run's per-iteration scores with the frames each covers (the module doc)."""
    if score not in SCORE_COLUMNS:
        raise ValueError(f"score must be one of {sorted(SCORE_COLUMNS)}, got {score!r}")
    column = SCORE_COLUMNS[score]
    t = run.table
    if t.empty or column not in t:
        return pd.DataFrame(columns=CURVE_COLUMNS[:-1])
    rows = t[(t.phase == "iteration") & t.frames.notna()]
    # An iteration may come as several W&B history rows at the same frames: one value each.
    ends = np.sort(rows.frames.astype("int64").unique())
    starts = np.concatenate([[0], ends[:-1]])
    valued = (rows[rows[column].notna()].groupby(rows.frames.astype("int64"))[column].first())
    frames_to = valued.index.to_numpy(dtype="int64")
    frames_from = starts[np.searchsorted(ends, frames_to)]
    if score == "eval":
        frames_from, position = frames_to, frames_to
    else:
        position = (frames_from + frames_to) / 2
    return pd.DataFrame({"experiment": run.experiment, "game": run.game, "seed": run.seed,
                         "run_id": run.run_id, "frames": position, "frames_from": frames_from,
                         "frames_to": frames_to, "score": valued.to_numpy(dtype=float)})


def score_curves(runs: Sequence[tidy.RunData], score: str = "eval",
                 human: str = "at5") -> pd.DataFrame:
    """Per-iteration raw and human-normalised scores of every run (``CURVE_COLUMNS``)."""
    parts = [run_curve(r, score) for r in runs]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    curves = pd.concat(parts, ignore_index=True)
    curves["hns"] = [scores.human_normalized_or_nan(g, s, human)
                     for g, s in zip(curves.game, curves.score)]
    return curves[CURVE_COLUMNS]


def games_without_human_score(curves: pd.DataFrame) -> list[str]:
    return sorted(curves[curves.hns.isna()].game.unique())


def common_frames(curves: pd.DataFrame) -> np.ndarray:
    """The frames at which every run in ``curves`` has a value (sorted)."""
    per_run = [set(g.frames) for _, g in curves.groupby("run_id")]
    return np.array(sorted(set.intersection(*per_run))) if per_run else np.array([])


def per_game_matrices(curves: pd.DataFrame, frames: np.ndarray,
                      value: str = "hns") -> tuple[list[str], list[np.ndarray], list[list]]:
    """(games, one (len(frames), runs) array per game, the seeds of each game's columns)."""
    games, arrays, seeds = [], [], []
    for game, g in curves[curves.frames.isin(frames)].groupby("game", sort=True):
        wide = g.pivot_table(index="frames", columns="seed", values=value, aggfunc="first")
        wide = wide.reindex(frames)
        games.append(game)
        arrays.append(wide.to_numpy(dtype=float))
        seeds.append(list(wide.columns))
    return games, arrays, seeds


def aggregate_curve_table(curves: pd.DataFrame, reps: int = 2000, confidence: float = 0.95,
                          seed: int = 0) -> pd.DataFrame:
    """Median, IQM, mean and optimality gap of HNS against frames, per experiment, with CIs.

    One row per (experiment, statistic, frames): point, ci_low, ci_high, n_games, n_runs.
    """
    rows = []
    known = curves[curves.hns.notna()]
    for experiment, c in known.groupby("experiment", sort=True):
        frames = common_frames(c)
        if frames.size == 0:
            raise ValueError(f"the runs of {experiment!r} share no frames at which all have a "
                             "score: compare runs of the same iteration length, or select "
                             "runs with --game / --experiment")
        games, arrays, _ = per_game_matrices(c, frames)
        n_runs = sum(a.shape[1] for a in arrays)
        for name, statistic in estimators.STATISTICS.items():
            band = estimators.bootstrap_band(arrays, statistic, reps, confidence, seed)
            for k, f in enumerate(frames):
                rows.append({"experiment": experiment, "statistic": name, "frames": f,
                             "point": band.point[k], "ci_low": band.low[k],
                             "ci_high": band.high[k], "n_games": len(games),
                             "n_runs": n_runs})
    return pd.DataFrame(rows, columns=["experiment", "statistic", "frames", "point", "ci_low",
                                       "ci_high", "n_games", "n_runs"])


def final_points(curves: pd.DataFrame) -> pd.DataFrame:
    """Per experiment, each run's value at the last frames all its runs share."""
    parts = []
    for _, c in curves[curves.hns.notna()].groupby("experiment", sort=True):
        frames = common_frames(c)
        if frames.size:
            parts.append(c[c.frames == frames[-1]])
    return pd.concat(parts, ignore_index=True) if parts else curves.iloc[:0]


def profile_taus(finals_hns: np.ndarray) -> np.ndarray:
    """tau from 0 to a little past the best run (at least 2 = twice human)."""
    top = float(np.nanmax(finals_hns)) if finals_hns.size else 2.0
    return np.linspace(0.0, max(2.0, 1.05 * top), PROFILE_POINTS)


def profile_table(finals: pd.DataFrame, taus: np.ndarray, kind: str = "runs",
                  reps: int = 2000, confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Performance profile of each experiment's final HNS over ``taus``, with bands."""
    rows = []
    for experiment, f in finals.groupby("experiment", sort=True):
        groups = [g.hns.to_numpy(dtype=float) for _, g in f.groupby("game", sort=True)]
        band = estimators.performance_profile_band(groups, taus, kind, reps, confidence, seed)
        for k, tau in enumerate(taus):
            rows.append({"experiment": experiment, "kind": kind, "tau": tau,
                         "point": band.point[k], "ci_low": band.low[k],
                         "ci_high": band.high[k], "n_games": len(groups), "n_runs": len(f),
                         "frames": f.frames.max()})
    return pd.DataFrame(rows, columns=["experiment", "kind", "tau", "point", "ci_low", "ci_high",
                                       "n_games", "n_runs", "frames"])


def improvement_table(finals: pd.DataFrame, pairs: Sequence[tuple[str, str]],
                      reps: int = 2000, confidence: float = 0.95,
                      seed: int = 0) -> pd.DataFrame:
    """P(X > Y) for each (X, Y) in ``pairs``, on the games both have, with its interval.

    The scores are raw game scores (P(X > Y) is the same on any per-game increasing scale).
    """
    rows = []
    for x, y in pairs:
        fx, fy = finals[finals.experiment == x], finals[finals.experiment == y]
        if fx.empty or fy.empty:
            missing = x if fx.empty else y
            raise ValueError(f"no runs of experiment {missing!r} to compare (experiments: "
                             f"{', '.join(sorted(finals.experiment.unique()))})")
        games = sorted(set(fx.game) & set(fy.game))
        if not games:
            raise ValueError(f"{x!r} and {y!r} share no game: P(X > Y) needs common games")
        xs = [fx[fx.game == g].score.to_numpy(dtype=float) for g in games]
        ys = [fy[fy.game == g].score.to_numpy(dtype=float) for g in games]
        est = estimators.probability_of_improvement_ci(xs, ys, reps, confidence, seed)
        rows.append({"x": x, "y": y, "point": est.point, "ci_low": est.low,
                     "ci_high": est.high, "n_games": len(games), "games": " ".join(games),
                     "x_frames": fx.frames.max(), "y_frames": fy.frames.max()})
    return pd.DataFrame(rows, columns=["x", "y", "point", "ci_low", "ci_high", "n_games",
                                       "games", "x_frames", "y_frames"])


# ---------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------


def fmt_frames(x: float, _pos=None) -> str:
    """Frames as 50M, 250k or 800 (also a matplotlib tick formatter)."""
    if abs(x) >= 1e6:
        return f"{x / 1e6:g}M"
    if abs(x) >= 1e3:
        return f"{x / 1e3:g}k"
    return f"{x:g}"


def fmt_score(x: float) -> str:
    """A game score: thousands separated, one decimal below 1000, '-' when not finite."""
    if not np.isfinite(x):
        return "-"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.1f}"


def _frames_text(lo, hi) -> str:
    if lo is None or pd.isna(lo):
        return "?"
    return fmt_frames(lo) if lo == hi else f"{fmt_frames(lo)}-{fmt_frames(hi)}"


def _pct(x) -> str:
    return f"{x:.1f}" if pd.notna(x) and np.isfinite(x) else "-"


def final_scores_markdown(table: pd.DataFrame, agg: pd.DataFrame, human: str) -> str:
    """The final scores and their aggregates as Markdown, one section per experiment."""
    cond = "5-minute human (the paper's)" if human == "at5" else "30-minute human (DQN Zoo)"
    lines = [
        "# Final scores vs Nature DQN (Mnih et al. 2015, Extended Data Table 2)",
        "",
        ("Final = mean of `eval_nature.json` (Nature protocol: 30 episodes, eps 0.05, up to "
         "5 min each) when present, else the last iteration's evaluation mean. Mean over "
         "seeds, 95% bootstrap CI over seeds. The paper trained for 50M frames; see the "
         f"Frames column for ours. HNS = (score - random) / (human - random) in %, {cond}."),
        "",
    ]
    for experiment, t in table.groupby("experiment", sort=True):
        lines += [f"## {experiment}", "",
                  ("| Game | Seeds | Frames | Final from | Score (95% CI) | Paper DQN | "
                   "% of paper | HNS % | Paper HNS % |"),
                  "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
        for r in t.itertuples():
            ci = (f" ({fmt_score(r.score_ci_low)} to {fmt_score(r.score_ci_high)})"
                  if r.n_seeds > 1 else "")
            lines.append(
                f"| {r.game} | {r.n_seeds} | {_frames_text(r.frames_min, r.frames_max)} | "
                f"{r.final_source} | {fmt_score(r.score_mean)}{ci} | {fmt_score(r.paper_dqn)} | "
                f"{_pct(r.pct_of_paper)} | {_pct(r.hns_pct)} | {_pct(r.paper_hns_pct)} |")
        lines.append("")
    if not agg.empty:
        lines += ["## Aggregate HNS % over games (95% stratified-bootstrap CI)", "",
                  "| Experiment | Games | Final from | Median | IQM | Mean |",
                  "|---|---:|---|---:|---:|---:|"]
        for experiment, a in agg.groupby("experiment", sort=False):
            cells = []
            for stat in AGGREGATE_NAMES:
                r = a[a.statistic == stat].iloc[0]
                ci = (f" ({_pct(r.ci_low)} to {_pct(r.ci_high)})"
                      if pd.notna(r.ci_low) and r.ci_low < r.ci_high else "")
                cells.append(f"{_pct(r.point)}{ci}")
            lines.append(f"| {experiment} | {int(a.n_games.iloc[0])} | "
                         f"{a.final_source.iloc[0]} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
