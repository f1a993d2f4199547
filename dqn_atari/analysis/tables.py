"""The numbers of the report, as tables: learning curves, final scores vs the paper, aggregate HNS.

Every function returns a pandas DataFrame (or, for ``final_scores_markdown``, its Markdown)
built from ``dqn_atari.analysis.tidy`` runs, the paper's scores (``dqn_atari.scores``) and
bootstrap CIs (``dqn_atari.analysis.aggregate``). ``dqn_atari.analysis.figures`` draws them;
``dqn_atari.analysis.report`` writes them to files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dqn_atari import scores
from dqn_atari.analysis import aggregate, tidy

PAPER_LABEL = "Nature DQN (paper, 50M frames)"
FRAMES_PER_DOPAMINE_ITERATION = 1_000_000  # 250k agent steps x 4 frames
DOPAMINE_COLUMNS = ("game", "agent", "seed_index", "iteration", "train_episode_return_mean")
AGGREGATE_NAMES = {"median": "Median", "iqm": "IQM", "mean": "Mean"}


# ---------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------


def reference_game(game: str) -> str | None:
    """snake_case Atari game of ``game``, or None for a non-Atari env (e.g. ``catch``)."""
    return scores.canonical_game(game) if scores.is_known_game(game) else None


def _hns(game: str, score, human: str):
    ref = reference_game(game)
    if ref is None:
        return math.nan
    try:
        return scores.human_normalized(ref, score, human=human)
    except scores.UnknownGameError:  # no 5-minute human score for this game
        return math.nan


def paper_of(game: str) -> scores.PaperScore | None:
    """The paper's Extended Data Table 2 row for ``game``, or None outside its 49 games."""
    ref = reference_game(game)
    return scores.paper_score(ref) if ref in scores.NATURE_49_GAMES else None


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
        est = aggregate.bootstrap_mean_ci(g.score.to_numpy(), reps=reps, seed=seed)
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
                     "run_id": run.run_id, **final, "hns": _hns(run.game, final["score"], human)})
    return pd.DataFrame(rows, columns=["experiment", "game", "seed", "run_id", "score", "source",
                                       "frames", "hns"])


def final_scores_table(finals: pd.DataFrame, human: str = "at5", reps: int = 2000,
                       seed: int = 0) -> pd.DataFrame:
    """Per experiment and game: mean final score over seeds with CI, vs the paper."""
    rows = []
    for (experiment, game), g in finals.groupby(["experiment", "game"], sort=True):
        est = aggregate.bootstrap_mean_ci(g.score.to_numpy(), reps=reps, seed=seed)
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
            "hns_pct": 100.0 * _hns(game, est.point, human),
            "hns_pct_ci_low": 100.0 * _hns(game, est.low, human),
            "hns_pct_ci_high": 100.0 * _hns(game, est.high, human),
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
        estimates = aggregate.aggregate_with_cis(by_game, reps=reps, seed=seed)
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
            for name, fn in aggregate.AGGREGATES.items():
                value = float(fn([v[None, :] for v in paper.values()])[0])
                rows.append({"experiment": f"{PAPER_LABEL} on the games of {experiment}",
                             "statistic": name, "point": value, "ci_low": math.nan,
                             "ci_high": math.nan, "n_games": len(paper), "n_runs": math.nan,
                             "frames_max": 50_000_000, "games": " ".join(sorted(paper)),
                             "final_source": "paper"})
    return pd.DataFrame(rows, columns=["experiment", "statistic", "point", "ci_low", "ci_high",
                                       "n_games", "n_runs", "frames_max", "games",
                                       "final_source"])


def dopamine_game_name(game: str) -> str:
    """Dopamine's file name of a game: the snake_case name without underscores."""
    return game.replace("_", "")


def load_dopamine(path: str | Path, games: Sequence[str], agent: str = "DQN",
                  reps: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Dopamine's per-iteration training returns for ``games``: mean over seeds with 95% CI.

    ``path`` is a CSV in the format of ``dopamine_baselines_legacy.csv`` (game, agent,
    seed_index, iteration, train_episode_return_mean). Iteration i averages the training
    games of frames i x 1M to (i + 1) x 1M, so its value is placed at (i + 0.5) x 1M frames.
    """
    wanted = {dopamine_game_name(g): g for g in games}
    df = pd.read_csv(path, usecols=list(DOPAMINE_COLUMNS))
    df = df[(df.agent == agent) & df.game.isin(list(wanted))]
    rows = []
    for (dgame, iteration), g in df.groupby(["game", "iteration"]):
        est = aggregate.bootstrap_mean_ci(g.train_episode_return_mean.to_numpy(), reps=reps,
                                          seed=seed)
        rows.append({"game": wanted[dgame],
                     "frames": (int(iteration) + 0.5) * FRAMES_PER_DOPAMINE_ITERATION,
                     "n_seeds": len(g), "mean": est.point, "ci_low": est.low,
                     "ci_high": est.high})
    return pd.DataFrame(rows, columns=["game", "frames", "n_seeds", "mean", "ci_low", "ci_high"])



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

