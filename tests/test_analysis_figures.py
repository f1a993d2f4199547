"""dqn_atari.analysis.figures: what the panels draw, where, and what their labels say."""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis_runs import write_dopamine_csv, write_hns_runs, write_report_runs
from matplotlib.figure import Figure

from dqn_atari.analysis import dopamine, figures, tables, tidy

REPS = 300


def _panel(root: Path, game: str, overlay, colors: dict[str, str]):
    runs = tidy.load_runs(root)
    curves = tables.eval_curves(runs)
    summary = tables.summarize_curves(curves, reps=REPS)
    ax = Figure().subplots()
    figures._draw_game(ax, game, summary, curves, overlay, colors, "at5", compact=False)
    return ax


def test_a_game_panel_with_dopamine_and_the_reference_lines(tmp_path):
    root = write_report_runs(tmp_path / "runs")
    overlay = dopamine.dopamine_overlay(["breakout"], write_dopamine_csv(tmp_path / "d.csv"),
                                        reps=REPS)
    ax = _panel(root, "breakout", overlay, {"fast": "tab:blue"})
    labels = ax.get_legend_handles_labels()[1]
    assert dopamine.CSV_LABEL in labels
    assert "Human (5-min): 31.8" in labels and "Random: 1.7" in labels
    # The paper's 401.2 would squash curves that end near 20: it becomes a note on the panel.
    assert "Nature DQN, 50M frames: 401.2 (above the axis)" in labels
    assert ax.get_ylim()[1] < 60
    assert any("401.2" in t.get_text() for t in ax.texts)
    # Our curves end at 300k frames: Dopamine's first iteration only, at its middle.
    line = next(ln for ln in ax.get_lines() if ln.get_label() == dopamine.CSV_LABEL)
    assert list(line.get_xdata()) == [500_000]


def test_the_packaged_dopamine_curve_sits_at_the_middle_of_its_iterations(tmp_path):
    root = write_hns_runs(tmp_path / "runs")
    ax = _panel(root, "breakout", dopamine.dopamine_overlay(["breakout"]),
                {"nature": "tab:blue"})
    line = next(ln for ln in ax.get_lines() if ln.get_label() == dopamine.LABEL)
    # Our curves end at 2M frames: Dopamine's iterations 0 and 1, at 0.5M and 1.5M.
    assert list(line.get_xdata()) == [500_000, 1_500_000]
    ref = dopamine.load_dopamine_reference(["breakout"]).set_index("iteration")
    assert list(line.get_ydata()) == [ref.loc[0, "mean"], ref.loc[1, "mean"]]


def test_the_aggregate_figure_says_which_score_is_final():
    final_source_text = figures.final_source_text
    assert final_source_text("eval_nature") == "30-game Nature evaluation"
    assert final_source_text("eval_nature+last_iteration") == (
        "30-game Nature evaluation + last in-training evaluation")
    assert final_source_text(None) == "" and final_source_text(float("nan")) == ""


@pytest.mark.parametrize("layout", ["constrained", None])
def test_every_figure_is_drawn_by_agg_outside_pyplot(layout, tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = figures._figure(layout=layout, figsize=(2, 2))
    fig.subplots().plot([0, 1], [1, 0])
    paths = figures._save(fig, tmp_path / "f")
    assert [p.name for p in paths] == ["f.png", "f.pdf"] and plt.get_fignums() == before
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind
