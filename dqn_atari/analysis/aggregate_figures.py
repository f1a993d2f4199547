"""Figures of the aggregates over training, as papers since Agarwal et al. 2021 show them.

* ``plot_aggregate_curves``: median, IQM, mean and optimality gap of the human-normalised
  score against training frames (millions), one panel per statistic, a line and a 95%
  stratified-bootstrap band per experiment; Dopamine's median and mean when given;
* ``plot_performance_profile``: fraction of runs with score > tau against tau, with bands;
* ``plot_probability_of_improvement``: P(X > Y) with its interval, one row per pair.

Each is saved as PNG and PDF (``<stem>.png``, ``<stem>.pdf``). Drawn with matplotlib's Agg
canvas outside pyplot, from the tables of ``training_aggregates``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from dqn_atari.analysis import rliable_style
from dqn_atari.analysis.figures import experiment_colors

FONT = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 10,
        "xtick.labelsize": 10, "ytick.labelsize": 10}
HUMAN_CONDITIONS = {"at5": "the paper's 5-minute human score",
                    "at30": "DQN Zoo's 30-minute human score"}
FRAMES_LABEL = "training frames (millions)"
DOPAMINE_COLOR = "tab:orange"
PROFILE_YLABELS = {"runs": "fraction of runs with score > tau",
                   "games": "fraction of games with score > tau\n(mean over runs)"}
HUMAN_LINE_FROM = 0.4  # HNS: the human line (1) is drawn once a curve's band reaches this


def _millions(x: float, _pos=None) -> str:
    return f"{x / 1e6:g}"


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


def _figure(**kwargs) -> Figure:
    fig = Figure(layout="constrained", **kwargs)
    FigureCanvasAgg(fig)
    return fig


def plot_aggregate_curves(table: pd.DataFrame, stem: Path, human: str, score_text: str,
                          dopamine: pd.DataFrame | None = None,
                          confidence: float = 0.95) -> list[Path]:
    """One panel per statistic: each experiment's point estimate against frames, with its band.

    ``table``: ``training_aggregates.aggregate_curve_table``; ``dopamine``: the optional
    ``baselines.dopamine_aggregate_curves`` (median and mean panels only).
    """
    experiments = sorted(table.experiment.unique())
    colors = experiment_colors(experiments)
    names = [s for s in rliable_style.STATISTICS if s in set(table.statistic)]
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
            ax.set_title(rliable_style.STATISTIC_TITLES[name])
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
        fig.suptitle(f"Human-normalised score over training (1 = {HUMAN_CONDITIONS[human]}, "
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
        ax.set_title(f"Performance profile (1 = {HUMAN_CONDITIONS[human]})\n"
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
