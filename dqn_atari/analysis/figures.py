"""The report's figures: learning curves per game, all games in a grid, aggregate HNS.

Drawn with matplotlib's Agg canvas outside pyplot, from the tables of
``dqn_atari.analysis.tables``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from dqn_atari import scores
from dqn_atari.analysis.tables import (
    AGGREGATE_NAMES,
    FRAMES_PER_DOPAMINE_ITERATION,
    PAPER_LABEL,
    fmt_frames,
    fmt_score,
    paper_of,
    reference_game,
)

DOPAMINE_LABEL = "Dopamine DQN (training returns, sticky actions)"
EXPERIMENT_COLORS = ("tab:blue", "tab:red", "tab:purple", "tab:brown", "tab:cyan",
                     "tab:pink", "tab:olive", "navy", "darkred", "teal")


def experiment_colors(experiments: Sequence[str]) -> dict[str, str]:
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
            label = d.label.iloc[0] if "label" in d else DOPAMINE_LABEL
            ax.plot(d.frames, d["mean"], color="tab:orange", lw=1.5, ls="-.", label=label)
    ref = reference_game(game)
    paper = paper_of(game)
    references = []  # (value, line style, label): drawn, or noted when far off the data
    if paper is not None:
        references.append((paper.dqn, {"color": "black", "ls": "--", "lw": 1.2},
                           f"Nature DQN, 50M frames: {fmt_score(paper.dqn)}"))
    if ref is not None:
        try:
            random, human_score = scores.random_human(ref, human)
        except scores.UnknownGameError:
            random = human_score = None
        if human_score is not None:
            minutes = "5" if human == "at5" else "30"
            references.append((human_score, {"color": "tab:green", "ls": ":", "lw": 1.5},
                               f"Human ({minutes}-min): {fmt_score(human_score)}"))
            ax.axhline(random, color="gray", ls=":", lw=1.0,
                       label=f"Random: {fmt_score(random)}")
            shown.append(random)
    _draw_reference_lines(ax, references, shown, compact)
    title = paper.paper_game_name if paper is not None else game
    ax.set_title(title, fontsize=10 if compact else 12)
    ax.xaxis.set_major_formatter(FuncFormatter(fmt_frames))
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


FINAL_SOURCE_TEXT = {
    "eval_nature": "30-game Nature evaluation",
    "last_iteration": "last in-training evaluation",
}


def final_source_text(source: str | None) -> str:
    """Which score a final score is, in words (tables.final_score's "source", "+"-joined)."""
    if not isinstance(source, str) or not source:
        return ""
    return " + ".join(FINAL_SOURCE_TEXT.get(part, part) for part in source.split("+"))


def plot_aggregate(path: Path, agg: pd.DataFrame, human: str) -> None:
    """rliable-style interval plot: one row per experiment, one panel per statistic."""
    experiments = list(dict.fromkeys(agg.experiment))
    fig = _figure(figsize=(12, 1.2 + 0.55 * len(experiments)))
    axes = fig.subplots(1, 3, sharey=True)
    colors = experiment_colors([e for e in experiments if not e.startswith(PAPER_LABEL)])
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
            frames = fmt_frames(r.frames_max) if pd.notna(r.frames_max) else "?"
            n_games, n_runs = int(r.n_games), int(r.n_runs)
            source = final_source_text(getattr(r, "final_source", None))
            labels.append(f"{e}\n{n_games} game{'s' if n_games != 1 else ''}, "
                          f"{n_runs} run{'s' if n_runs != 1 else ''}, {frames} frames"
                          + (f"\nfinal: {source}" if source else ""))
    axes[0].set_yticks(range(len(experiments)), labels, fontsize=8)
    axes[0].invert_yaxis()
    cond = "5-min human (paper)" if human == "at5" else "30-min human (DQN Zoo)"
    fig.suptitle(f"Human-normalised final scores, 95% stratified-bootstrap CIs; "
                 f"100% = {cond}", fontsize=10)
    fig.savefig(path, dpi=110)

