"""Every figure of the analysis, drawn with matplotlib's Agg canvas outside pyplot.

From the tables of ``dqn_atari.analysis.tables`` and ``side_by_side``; ``report`` decides the
file names.

The report against the paper:

* ``plot_game`` / ``plot_grid``: evaluation score against training frames, one game per
  panel (optionally beside Dopamine's curve), with the paper's DQN, human and random
  scores as lines (a line far off the curves becomes a labelled note instead);
* ``plot_aggregate``: median, IQM and mean human-normalised final score, rliable-style
  interval plot.

The aggregates over training (each saved as PNG and PDF, ``<stem>.png``, ``<stem>.pdf``):

* ``plot_aggregate_curves``: median, IQM, mean and optimality gap of the human-normalised
  score against training frames (millions), one panel per statistic, a line and a 95%
  stratified-bootstrap band per experiment; Dopamine's median and mean when given;
* ``plot_performance_profile``: fraction of runs with score > tau against tau, with bands;
* ``plot_probability_of_improvement``: P(X > Y) with its interval, one row per pair.

The side-by-side comparison: ``plot_side_by_side``, one game's training returns per
iteration beside Dopamine's 5 seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from dqn_atari import scores
from dqn_atari.analysis import estimators
from dqn_atari.analysis.dopamine import FRAMES_PER_ITERATION, game_reference
from dqn_atari.analysis.side_by_side import seed_keys
from dqn_atari.analysis.tables import (
    AGGREGATE_NAMES,
    PAPER_LABEL,
    fmt_frames,
    fmt_score,
    paper_of,
    reference_game,
)

EXPERIMENT_COLORS = ("tab:blue", "tab:red", "tab:purple", "tab:brown", "tab:cyan",
                     "tab:pink", "tab:olive", "navy", "darkred", "teal")
FONT = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 10,
        "xtick.labelsize": 10, "ytick.labelsize": 10}
HUMAN_CONDITION_TEXT = {"at5": "the paper's 5-minute human score",
                    "at30": "DQN Zoo's 30-minute human score"}
FRAMES_LABEL = "training frames (millions)"
DOPAMINE_COLOR = "tab:orange"
PROFILE_YLABELS = {"runs": "fraction of runs with score > tau",
                   "games": "fraction of games with score > tau\n(mean over runs)"}
HUMAN_LINE_FROM = 0.4  # HNS: the human line (1) is drawn once a curve's band reaches this
FINAL_SOURCE_TEXT = {
    "eval_nature": "30-game Nature evaluation",
    "last_iteration": "last in-training evaluation",
}


def _figure(layout: str | None = "constrained", **kwargs) -> Figure:
    """A Figure drawn by Agg, outside pyplot (no global backend or figure registry)."""
    fig = Figure(layout=layout, **kwargs)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, stem: Path, dpi: int = 150) -> list[Path]:
    """Write ``stem``.png and ``stem``.pdf, each atomically (temp file, then rename)."""
    paths = []
    for suffix in (".png", ".pdf"):
        path = stem.with_suffix(suffix)
        tmp = path.with_name(f".{path.name}.tmp")
        fig.savefig(tmp, dpi=dpi, format=suffix[1:])
        tmp.replace(path)
        paths.append(path)
    return paths


def experiment_colors(experiments: Sequence[str]) -> dict[str, str]:
    return {e: EXPERIMENT_COLORS[i % len(EXPERIMENT_COLORS)] for i, e in enumerate(experiments)}


def _millions(x: float, _pos=None) -> str:
    return f"{x / 1e6:g}"


# ---------------------------------------------------------------------------------------
# The report against the paper
# ---------------------------------------------------------------------------------------


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
            per = FRAMES_PER_ITERATION
            d = d[d.frames <= max(1, math.ceil(xmax / per)) * per]
        if not d.empty:
            shown += [*d.ci_low, *d.ci_high]
            ax.fill_between(d.frames, d.ci_low, d.ci_high, color="tab:orange", alpha=0.15, lw=0)
            ax.plot(d.frames, d["mean"], color="tab:orange", lw=1.5, ls="-.",
                    label=d.label.iloc[0])
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


# ---------------------------------------------------------------------------------------
# The aggregates over training
# ---------------------------------------------------------------------------------------


def plot_aggregate_curves(table: pd.DataFrame, stem: Path, human: str, score_text: str,
                          dopamine: pd.DataFrame | None = None,
                          confidence: float = 0.95) -> list[Path]:
    """One panel per statistic: each experiment's point estimate against frames, with its band.

    ``table``: ``tables.aggregate_curve_table``; ``dopamine``: the optional
    ``dopamine.dopamine_aggregate_curves`` (median and mean panels only).
    """
    experiments = sorted(table.experiment.unique())
    colors = experiment_colors(experiments)
    names = [s for s in estimators.STATISTICS if s in set(table.statistic)]
    with matplotlib.rc_context(FONT):
        fig = _figure(figsize=(3.6 * len(names), 3.9))
        axes = fig.subplots(1, len(names), squeeze=False)[0]
        for ax, name in zip(axes, names):
            for experiment in experiments:
                t = table[(table.experiment == experiment) & (table.statistic == name)]
                t = t.sort_values("frames")
                n_games, n_runs = int(t.n_games.iloc[0]), int(t.n_runs.iloc[0])
                label = f"{experiment} ({n_runs} runs, {n_games} games)"
                ax.fill_between(t.frames, t.ci_low, t.ci_high, color=colors[experiment],
                                alpha=0.25, lw=0)
                ax.plot(t.frames, t.point, color=colors[experiment], lw=2,
                        marker="o" if len(t) < 12 else None, ms=4, label=label)
            if dopamine is not None and name in set(dopamine.statistic):
                d = dopamine[dopamine.statistic == name].sort_values("frames")
                d = d[d.frames <= table.frames.max()]  # up to where our curves end
                ax.plot(d.frames, d.point, color=DOPAMINE_COLOR, ls="-.", lw=1.8,
                        label=f"Dopamine DQN (training games), same {int(d.n_games.iloc[0])} "
                              "games, mean of 5 seeds per game" if len(d) else None)
            if name == "optimality_gap":
                ax.set_ylabel("optimality gap (lower is better)")
            else:
                shown = table[table.statistic == name].ci_high.max()
                if shown >= HUMAN_LINE_FROM:  # else the line at 1 would flatten the curves
                    ax.axhline(1.0, color="tab:green", ls=":", lw=1.2, label="human")
                ax.set_ylabel("human-normalised score")
            ax.set_title(estimators.STATISTIC_TITLES[name])
            ax.set_xlabel(FRAMES_LABEL)
            ax.xaxis.set_major_formatter(FuncFormatter(_millions))
            ax.grid(alpha=0.3)
        handles, labels = {}, []
        for ax in axes:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in handles:
                    handles[lab] = h
                    labels.append(lab)
        fig.legend([handles[k] for k in labels], labels, loc="outside lower center",
                   ncols=min(3, len(labels)), frameon=False)
        fig.suptitle(f"Human-normalised score over training (1 = {HUMAN_CONDITION_TEXT[human]}, "
                     f"0 = random)\nscore: {score_text}; {confidence:.0%} "
                     "stratified-bootstrap CIs over runs")
        return _save(fig, stem)


def plot_performance_profile(profile: pd.DataFrame, stem: Path, human: str,
                             score_text: str, confidence: float = 0.95) -> list[Path]:
    """Fraction of runs (or games) with a human-normalised score above tau, with bands."""
    experiments = sorted(profile.experiment.unique())
    colors = experiment_colors(experiments)
    kind = profile.kind.iloc[0]
    with matplotlib.rc_context(FONT):
        fig = _figure(figsize=(6.4, 4.6))
        ax = fig.subplots()
        for experiment in experiments:
            p = profile[profile.experiment == experiment].sort_values("tau")
            frames = _millions(p.frames.iloc[0])
            label = (f"{experiment} ({int(p.n_runs.iloc[0])} runs, {int(p.n_games.iloc[0])} "
                     f"games, at {frames}M frames)")
            ax.fill_between(p.tau, p.ci_low, p.ci_high, color=colors[experiment], alpha=0.25,
                            lw=0, step="post")
            ax.step(p.tau, p.point, where="post", color=colors[experiment], lw=2, label=label)
        ax.axvline(1.0, color="tab:green", ls=":", lw=1.2, label="human (tau = 1)")
        ax.set_xlabel("human-normalised score (tau)")
        ax.set_ylabel(PROFILE_YLABELS[kind])
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right")
        ax.set_title(f"Performance profile (1 = {HUMAN_CONDITION_TEXT[human]})\n"
                     f"score: {score_text}\n{confidence:.0%} stratified-bootstrap bands",
                     fontsize=10)
        return _save(fig, stem)


def plot_probability_of_improvement(improvement: pd.DataFrame, stem: Path,
                                    score_text: str, confidence: float = 0.95) -> list[Path]:
    """P(X > Y) as a point with its interval, one row per pair, 0.5 marked."""
    n = len(improvement)
    with matplotlib.rc_context(FONT):
        fig = _figure(figsize=(7.5, 1.7 + 0.6 * n))
        ax = fig.subplots()
        ys = np.arange(n)
        for y, r in zip(ys, improvement.itertuples()):
            ax.plot([r.ci_low, r.ci_high], [y, y], color="tab:blue", lw=6, alpha=0.35,
                    solid_capstyle="butt")
            ax.plot([r.point], [y], marker="o", color="tab:blue", ms=7)
            ax.annotate(f"{r.point:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]", (r.ci_high, y),
                        xytext=(8, 0), textcoords="offset points", va="center", fontsize=9)
        labels = [f"P({r.x} > {r.y})\n{r.n_games} game{'s' if r.n_games != 1 else ''}, "
                  f"at {_millions(r.x_frames)}M vs {_millions(r.y_frames)}M frames"
                  for r in improvement.itertuples()]
        ax.set_yticks(ys, labels)
        ax.invert_yaxis()
        ax.axvline(0.5, color="gray", ls="--", lw=1.2)
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(n - 0.4, -0.6)
        ax.set_xlabel("probability of improvement P(X > Y)")
        ax.grid(axis="x", alpha=0.3)
        fig.suptitle(f"Probability of improvement; score: {score_text}\n"
                     f"{confidence:.0%} stratified-bootstrap CIs", fontsize=10)
        return _save(fig, stem)


# ---------------------------------------------------------------------------------------
# The side-by-side comparison with Dopamine
# ---------------------------------------------------------------------------------------


def plot_side_by_side(path: Path, game: str, table: Sequence[dict]) -> None:
    """Training return per iteration, at the middle of the frames each value covers.

    Dopamine's 5-seed min-max band and mean in grey; per label, our seeds' min-max band, the
    mean over them (a line with dots; the iteration in progress hollow and dashed) and each
    seed faint.
    """
    rows = [r for r in table if r["game"] == game]
    last = max(r["iteration"] for r in rows)
    reference = game_reference(game)
    its = [i for i in sorted(reference) if i <= last + 1]  # ours and one iteration beyond
    mid = [(i + 0.5) for i in its]  # millions of frames
    fig = _figure(layout=None, figsize=(7, 4.2))
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
            for key in dict.fromkeys(k for r in full for k in seed_keys(r)):
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
    # two lines: with several runs, one line ran past the figure's right edge
    ax.set_title(f"{game}: ours vs Dopamine's published DQN (5 seeds)\nour seeds: {seeds}",
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
