"""The report (curves, tables, aggregates) from a real smoke sweep's run directories.

A Hydra multirun (`python -m dqn_atari.train -m ... seed=0,1`) trains real Pong for a
few hundred agent steps per seed; `python -m dqn_atari.evaluate` adds eval_nature.json
to one of them; `python -m dqn_atari.plot` then reads the run directories.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import run_module
from matplotlib.image import imread

from dqn_atari import scores


@pytest.fixture(scope="module")
def smoke_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    result = run_module(
        "dqn_atari.train", "-m", "experiment=smoke", "seed=0,1", "logger.wandb_mode=disabled",
        "total_frames=1600", f"hydra.sweep.dir={root}", timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = sorted(root.glob("smoke/pong/seed_*"))
    assert [p.name for p in runs] == ["seed_0", "seed_1"]
    evaluation = run_module("dqn_atari.evaluate", f"run_dir={runs[0]}", "episodes=2",
                            timeout=600)
    assert evaluation.returncode == 0, evaluation.stderr[-3000:]
    return root


def test_sweep_writes_one_run_directory_per_seed(smoke_sweep):
    for seed in (0, 1):
        run = smoke_sweep / "smoke" / "pong" / f"seed_{seed}"
        summary = json.loads((run / "summary.json").read_text())
        assert summary["status"] == "finished" and summary["agent_steps"] == 400
        with open(run / "metrics" / "iterations.csv", newline="") as f:
            assert len(list(csv.DictReader(f))) == 2


def test_report_from_the_sweep(smoke_sweep, tmp_path):
    out = tmp_path / "report"
    result = run_module("dqn_atari.plot", "--runs", str(smoke_sweep), "--out", str(out),
                        "--reps", "200", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    image = imread(out / "curves" / "pong.png")
    assert image.shape[0] > 200 and image.std() > 0.01  # a drawn figure, not a blank one
    assert (out / "grid.png").exists() and (out / "aggregate_hns.png").exists()
    with open(out / "final_scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and rows[0]["game"] == "pong"
    # The final score of each seed: eval_nature.json for seed 0, the last eval mean for seed 1.
    seed0 = json.loads((smoke_sweep / "smoke/pong/seed_0/eval_nature.json").read_text())["mean"]
    with open(smoke_sweep / "smoke/pong/seed_1/metrics/iterations.csv", newline="") as f:
        seed1 = float(list(csv.DictReader(f))[-1]["eval_raw_return_mean"])
    row = rows[0]
    assert int(row["n_seeds"]) == 2 and row["final_source"] == "eval_nature+last_iteration"
    assert float(row["score_mean"]) == pytest.approx(np.mean([seed0, seed1]))
    expected_hns = 100 * scores.human_normalized("pong", np.mean([seed0, seed1]))
    assert float(row["hns_pct"]) == pytest.approx(expected_hns)
    assert float(row["paper_dqn"]) == scores.paper_score("pong").dqn
