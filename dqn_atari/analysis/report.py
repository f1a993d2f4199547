"""Compare runs with the paper: learning curves, final-score table, aggregate HNS.

    python -m dqn_atari.plot --runs runs/ [--downloaded results/wandb] --out results/plots \
        [--experiment NAME ...] [--game breakout ...] [--human at5|at30] \
        [--dopamine-csv ../shared/reference/dopamine_baselines_legacy.csv]

Writes to --out:
    curves/<game>.png        evaluation score vs training frames, one line per experiment:
                             mean over seeds with a 95% bootstrap band, thin lines per seed;
                             the paper's DQN score (50M frames), human and random as lines
                             (a line far off the curves becomes a labelled note instead, so
                             early-training curves stay readable)
    grid.png                 the same for all games, one panel each
    learning_curves.csv      the plotted numbers (mean and CI per experiment, game, frames)
    final_scores.csv / .md   final score per experiment and game vs Extended Data Table 2:
                             % of the paper's DQN score and human-normalised score (HNS)
    aggregate_hns.png / .csv median, IQM and mean HNS over games with stratified-bootstrap
                             95% CIs (dqn_atari.analysis.aggregate), beside the paper's on the same games

A run's final score is the mean of its ``eval_nature.json`` (Nature protocol, written by
``python -m dqn_atari.evaluate``) when present, else its last iteration's evaluation mean.
HNS use the paper's 5-minute human scores by default (``--human at5``, 49 games);
``--human at30`` uses DQN Zoo's 30-minute ones (57 games).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from dqn_atari import scores
from dqn_atari.analysis import aggregate, tidy

DOPAMINE_LABEL = "Dopamine DQN (training returns, sticky actions)"
PAPER_LABEL = "Nature DQN (paper, 50M frames)"
FRAMES_PER_DOPAMINE_ITERATION = 1_000_000  # 250k agent steps x 4 frames
DOPAMINE_COLUMNS = ("game", "agent", "seed_index", "iteration", "train_episode_return_mean")
EXPERIMENT_COLORS = ("tab:blue", "tab:red", "tab:purple", "tab:brown", "tab:cyan",
                     "tab:pink", "tab:olive", "navy", "darkred", "teal")
AGGREGATE_NAMES = {"median": "Median", "iqm": "IQM", "mean": "Mean"}


# ---------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------


def _reference_game(game: str) -> str | None:
    """snake_case Atari game of ``game``, or None for a non-Atari env (e.g. ``catch``)."""
    return scores.canonical_game(game) if scores.is_known_game(game) else None


def _hns(game: str, score, human: str):
    ref = _reference_game(game)
    if ref is None:
        return math.nan
    try:
        return scores.human_normalized(ref, score, human=human)
    except scores.UnknownGameError:  # no 5-minute human score for this game
        return math.nan


def _paper(game: str) -> scores.PaperScore | None:
    ref = _reference_game(game)
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
        paper = _paper(game)
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
    paper = _paper(game)
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
                         "games": " ".join(sorted(by_game))})
        paper_games = [gm for gm in by_game if _paper(gm) is not None]
        if paper_games:
            paper = {gm: np.array([_paper_hns_pct(gm, human)]) for gm in paper_games}
            for name, fn in aggregate.AGGREGATES.items():
                value = float(fn([v[None, :] for v in paper.values()])[0])
                rows.append({"experiment": f"{PAPER_LABEL} on the games of {experiment}",
                             "statistic": name, "point": value, "ci_low": math.nan,
                             "ci_high": math.nan, "n_games": len(paper), "n_runs": math.nan,
                             "frames_max": 50_000_000, "games": " ".join(sorted(paper))})
    return pd.DataFrame(rows, columns=["experiment", "statistic", "point", "ci_low", "ci_high",
                                       "n_games", "n_runs", "frames_max", "games"])


def dopamine_game_name(game: str) -> str:
    """Dopamine's file name of a game: the snake_case name without underscores."""
    return game.replace("_", "")


def load_dopamine(path: str | Path, games: Sequence[str], agent: str = "DQN",
                  reps: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Dopamine's per-iteration training returns for ``games``: mean over seeds with 95% CI.

    ``path`` is a CSV in the format of ``dopamine_baselines_legacy.csv`` (game, agent,
    seed_index, iteration, train_episode_return_mean); x = iteration x 1M frames.
    """
    wanted = {dopamine_game_name(g): g for g in games}
    df = pd.read_csv(path, usecols=list(DOPAMINE_COLUMNS))
    df = df[(df.agent == agent) & df.game.isin(list(wanted))]
    rows = []
    for (dgame, iteration), g in df.groupby(["game", "iteration"]):
        est = aggregate.bootstrap_mean_ci(g.train_episode_return_mean.to_numpy(), reps=reps,
                                          seed=seed)
        rows.append({"game": wanted[dgame],
                     "frames": int(iteration) * FRAMES_PER_DOPAMINE_ITERATION,
                     "n_seeds": len(g), "mean": est.point, "ci_low": est.low,
                     "ci_high": est.high})
    return pd.DataFrame(rows, columns=["game", "frames", "n_seeds", "mean", "ci_low", "ci_high"])


# ---------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------


def _fmt_frames(x: float, _pos=None) -> str:
    if abs(x) >= 1e6:
        return f"{x / 1e6:g}M"
    if abs(x) >= 1e3:
        return f"{x / 1e3:g}k"
    return f"{x:g}"


def _fmt_score(x: float) -> str:
    if not np.isfinite(x):
        return "-"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.1f}"


def _colors(experiments: Sequence[str]) -> dict[str, str]:
    return {e: EXPERIMENT_COLORS[i % len(EXPERIMENT_COLORS)] for i, e in enumerate(experiments)}


def _draw_game(ax, game: str, summary: pd.DataFrame, curves: pd.DataFrame,
               dopamine: pd.DataFrame | None, colors: dict[str, str], human: str,
               compact: bool) -> None:
    """One game's panel: our curves, Dopamine's (optional), paper/human/random lines."""
    xmax = 0
    shown: list[float] = []  # y values drawn: reference lines far outside them become notes
    for experiment, color in colors.items():
        s = summary[(summary.game == game) & (summary.experiment == experiment)]
        if s.empty:
            continue
        s = s.sort_values("frames")
        xmax = max(xmax, int(s.frames.max()))
        c = curves[(curves.game == game) & (curves.experiment == experiment)]
        n_seeds = c.seed.nunique()
        if 1 < n_seeds <= 10:
            for _, cs in c.groupby("seed"):
                cs = cs.sort_values("frames")
                ax.plot(cs.frames, cs.score, color=color, lw=0.6, alpha=0.3)
        ax.fill_between(s.frames, s.ci_low, s.ci_high, color=color, alpha=0.2, lw=0)
        shown += [*s.ci_low, *s.ci_high, *c.score]
        label = f"{experiment} (evaluation)"
        if not compact:
            label = f"{experiment} (evaluation, {n_seeds} seed{'s' if n_seeds != 1 else ''})"
        ax.plot(s.frames, s["mean"], color=color, lw=2, marker="o" if len(s) < 15 else None,
                ms=3, label=label)
    if dopamine is not None and not dopamine.empty:
        d = dopamine[dopamine.game == game].sort_values("frames")
        if xmax > 0:  # keep our curves readable: Dopamine up to the iteration ending ours
            per = FRAMES_PER_DOPAMINE_ITERATION
            d = d[d.frames <= max(1, math.ceil(xmax / per)) * per]
        if not d.empty:
            shown += [*d.ci_low, *d.ci_high]
            ax.fill_between(d.frames, d.ci_low, d.ci_high, color="tab:orange", alpha=0.15, lw=0)
            ax.plot(d.frames, d["mean"], color="tab:orange", lw=1.5, ls="-.",
                    label=DOPAMINE_LABEL)
    ref = _reference_game(game)
    paper = _paper(game)
    references = []  # (value, line style, label): drawn, or noted when far off the data
    if paper is not None:
        references.append((paper.dqn, {"color": "black", "ls": "--", "lw": 1.2},
                           f"Nature DQN, 50M frames: {_fmt_score(paper.dqn)}"))
    if ref is not None:
        try:
            random, human_score = scores.random_human(ref, human)
        except scores.UnknownGameError:
            random = human_score = None
        if human_score is not None:
            minutes = "5" if human == "at5" else "30"
            references.append((human_score, {"color": "tab:green", "ls": ":", "lw": 1.5},
                               f"Human ({minutes}-min): {_fmt_score(human_score)}"))
            ax.axhline(random, color="gray", ls=":", lw=1.0,
                       label=f"Random: {_fmt_score(random)}")
            shown.append(random)
    _draw_reference_lines(ax, references, shown, compact)
    title = paper.paper_game_name if paper is not None else game
    ax.set_title(title, fontsize=10 if compact else 12)
    ax.xaxis.set_major_formatter(FuncFormatter(_fmt_frames))
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8 if compact else 10)
    if not compact:
        ax.set_xlabel("training frames")
        ax.set_ylabel("evaluation score (raw game score)")
        ax.legend(fontsize=8, loc="best", framealpha=0.85)


def _draw_reference_lines(ax, references, shown: list[float], compact: bool) -> None:
    """Horizontal reference lines; one that would squash the curves becomes a note instead.

    A line is drawn when it lies within one data-span of what is shown (our curves,
    Dopamine's, random); otherwise the y-axis keeps to the data and an arrow note at the
    top (or bottom) of the panel gives the value. The legend says which lines are off-axis.
    """
    if not shown:
        for value, style, label in references:
            ax.axhline(value, label=label, **style)
        return
    lo, hi = float(np.nanmin(shown)), float(np.nanmax(shown))
    span = max(hi - lo, 1.0)
    above = [r for r in references if r[0] > hi + span]
    below = [r for r in references if r[0] < lo - span]
    for value, style, label in references:
        where = " (above the axis)" if (value, style, label) in above else (
            " (below the axis)" if (value, style, label) in below else "")
        ax.axhline(value, label=label + where, **style)
    if not (above or below):
        return
    inside = [r[0] for r in references if r not in above and r not in below]
    lo, hi = min([lo, *inside]), max([hi, *inside])
    span = max(hi - lo, 1.0)
    ax.set_ylim(lo - (0.06 + 0.14 * len(below)) * span, hi + (0.06 + 0.14 * len(above)) * span)
    fontsize = 7 if compact else 9
    for i, (value, style, label) in enumerate(above):
        ax.annotate(f"\u2191 {label}", xy=(0.02, 0.97 - 0.1 * i), xycoords="axes fraction",
                    va="top", ha="left", fontsize=fontsize, color=style["color"],
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": style["color"]})
    for i, (value, style, label) in enumerate(below):
        ax.annotate(f"\u2193 {label}", xy=(0.02, 0.03 + 0.1 * i), xycoords="axes fraction",
                    va="bottom", ha="left", fontsize=fontsize, color=style["color"],
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": style["color"]})


def _figure(**kwargs) -> Figure:
    """A Figure drawn by Agg, outside pyplot (no global backend or figure registry)."""
    fig = Figure(layout="constrained", **kwargs)
    FigureCanvasAgg(fig)
    return fig


def plot_game(path: Path, game: str, summary, curves, dopamine, colors, human: str) -> None:
    fig = _figure(figsize=(7.5, 4.8))
    ax = fig.subplots()
    _draw_game(ax, game, summary, curves, dopamine, colors, human, compact=False)
    fig.savefig(path, dpi=110)


def plot_grid(path: Path, games: Sequence[str], summary, curves, dopamine, colors,
              human: str) -> None:
    ncols = min(len(games), 6 if len(games) > 16 else 4)
    nrows = math.ceil(len(games) / ncols)
    fig = _figure(figsize=(3.3 * ncols, 2.6 * nrows + 0.9))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, game in zip(axes.flat, games):
        _draw_game(ax, game, summary, curves, dopamine, colors, human, compact=True)
    for ax in list(axes.flat)[len(games):]:
        ax.set_visible(False)
    handles: dict[str, object] = {}
    for ax in axes.flat:  # one figure legend, without the per-game values of the labels
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab.split(":")[0], h)
    ours = [k for k in handles if k.endswith("(evaluation)")]
    order = ours + [k for k in handles if k not in ours]
    fig.legend([handles[k] for k in order], order, loc="outside lower center",
               ncols=min(4, len(order)), fontsize=9)
    fig.suptitle("Evaluation score vs training frames (mean over seeds, 95% bootstrap CI)",
                 fontsize=12)
    fig.supylabel("evaluation score (raw game score)", fontsize=10)
    fig.savefig(path, dpi=90)


def plot_aggregate(path: Path, agg: pd.DataFrame, human: str) -> None:
    """rliable-style interval plot: one row per experiment, one panel per statistic."""
    experiments = list(dict.fromkeys(agg.experiment))
    fig = _figure(figsize=(12, 1.2 + 0.55 * len(experiments)))
    axes = fig.subplots(1, 3, sharey=True)
    colors = _colors([e for e in experiments if not e.startswith(PAPER_LABEL)])
    for ax, (stat, title) in zip(axes, AGGREGATE_NAMES.items()):
        a = agg[agg.statistic == stat]
        for y, experiment in enumerate(experiments):
            r = a[a.experiment == experiment]
            if r.empty:
                continue
            r = r.iloc[0]
            if experiment.startswith(PAPER_LABEL):
                ax.plot([r.point], [y], marker="D", color="black", ms=6)
            else:
                ax.barh(y, r.ci_high - r.ci_low, left=r.ci_low, height=0.5,
                        color=colors[experiment], alpha=0.35)
                ax.plot([r.point], [y], marker="|", color=colors[experiment], ms=18, mew=2)
            right = r.point if pd.isna(r.ci_high) else max(r.point, r.ci_high)
            ax.annotate(f"{r.point:.1f}", (right, y), xytext=(7, 0), textcoords="offset points",
                        ha="left", va="center", fontsize=8)
        values = pd.concat([a.point, a.ci_low, a.ci_high]).dropna()
        lo, hi = min(0.0, values.min()), max(100.0, values.max())
        pad = 0.1 * (hi - lo)
        ax.set_xlim(lo - pad, hi + 2 * pad)  # room for the value labels
        ax.axvline(100, color="tab:green", ls=":", lw=1.2)
        ax.axvline(0, color="gray", ls=":", lw=1.0)
        ax.set_title(f"{title} HNS (%)")
        ax.grid(axis="x", alpha=0.3)
        ax.set_ylim(-0.7, len(experiments) - 0.3)
    labels = []
    for e in experiments:
        r = agg[agg.experiment == e].iloc[0]
        if e.startswith(PAPER_LABEL):
            labels.append(e.replace(" on the games of ", "\non the games of "))
        else:
            frames = _fmt_frames(r.frames_max) if pd.notna(r.frames_max) else "?"
            n_games, n_runs = int(r.n_games), int(r.n_runs)
            labels.append(f"{e}\n{n_games} game{'s' if n_games != 1 else ''}, "
                          f"{n_runs} run{'s' if n_runs != 1 else ''}, {frames} frames")
    axes[0].set_yticks(range(len(experiments)), labels, fontsize=8)
    axes[0].invert_yaxis()
    cond = "5-min human (paper)" if human == "at5" else "30-min human (DQN Zoo)"
    fig.suptitle(f"Human-normalised final scores, 95% stratified-bootstrap CIs; "
                 f"100% = {cond}", fontsize=10)
    fig.savefig(path, dpi=110)


# ---------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------


def _frames_text(lo, hi) -> str:
    if lo is None or pd.isna(lo):
        return "?"
    return _fmt_frames(lo) if lo == hi else f"{_fmt_frames(lo)}-{_fmt_frames(hi)}"


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
            ci = (f" ({_fmt_score(r.score_ci_low)} to {_fmt_score(r.score_ci_high)})"
                  if r.n_seeds > 1 else "")
            lines.append(
                f"| {r.game} | {r.n_seeds} | {_frames_text(r.frames_min, r.frames_max)} | "
                f"{r.final_source} | {_fmt_score(r.score_mean)}{ci} | {_fmt_score(r.paper_dqn)} | "
                f"{_pct(r.pct_of_paper)} | {_pct(r.hns_pct)} | {_pct(r.paper_hns_pct)} |")
        lines.append("")
    if not agg.empty:
        lines += ["## Aggregate HNS % over games (95% stratified-bootstrap CI)", "",
                  "| Experiment | Games | Median | IQM | Mean |", "|---|---:|---:|---:|---:|"]
        for experiment, a in agg.groupby("experiment", sort=False):
            cells = []
            for stat in AGGREGATE_NAMES:
                r = a[a.statistic == stat].iloc[0]
                ci = (f" ({_pct(r.ci_low)} to {_pct(r.ci_high)})"
                      if pd.notna(r.ci_low) and r.ci_low < r.ci_high else "")
                cells.append(f"{_pct(r.point)}{ci}")
            lines.append(f"| {experiment} | {int(a.n_games.iloc[0])} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------


def make_report(runs: Sequence[tidy.RunData], out: str | Path, human: str = "at5",
                dopamine_csv: str | Path | None = None, reps: int = 2000,
                seed: int = 0) -> dict[str, Path]:
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
    colors = _colors(sorted(curves.experiment.unique()))
    dopamine = None
    if dopamine_csv is not None:
        atari = [_reference_game(g) for g in games if _reference_game(g) is not None]
        dopamine = load_dopamine(dopamine_csv, atari, reps=min(reps, 1000), seed=seed)
        dopamine["game"] = dopamine.game.map({_reference_game(g): g for g in games
                                              if _reference_game(g) is not None})
    for game in games:
        path = out / "curves" / f"{game}.png"
        plot_game(path, game, summary, curves, dopamine, colors, human)
        written[f"curves/{game}.png"] = path
    if games:
        plot_grid(out / "grid.png", games, summary, curves, dopamine, colors, human)
        written["grid.png"] = out / "grid.png"
    if not agg.empty:
        plot_aggregate(out / "aggregate_hns.png", agg, human)
        written["aggregate_hns.png"] = out / "aggregate_hns.png"
    return written


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
    parser.add_argument("--dopamine-csv", type=Path, default=None,
                        help="overlay Dopamine's DQN training curves from this CSV")
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
    if args.experiment:
        runs = [r for r in runs if r.experiment in args.experiment]
    if args.game:
        runs = [r for r in runs if r.game in args.game]
    if not runs:
        parser.error("no runs found")
    written = make_report(runs, args.out, args.human, args.dopamine_csv, args.reps, args.seed)
    print(f"{len(runs)} runs -> {args.out}")
    for name in written:
        print(f"  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
