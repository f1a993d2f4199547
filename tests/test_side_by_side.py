"""dqn_atari.analysis.side_by_side: our per-iteration training returns against Dopamine's 5 seeds."""

from __future__ import annotations

import csv
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, SHARED_REFERENCE, compose, run_module

from dqn_atari.analysis import baselines
from dqn_atari.analysis.side_by_side import compare, load_reference, welch_test
from dqn_atari.run.runner import Runner

SHARED_CSV = SHARED_REFERENCE / "dopamine_baselines_legacy.csv"
needs_shared = pytest.mark.skipif(not SHARED_CSV.is_file(),
                                  reason=f"{SHARED_CSV} is not beside this checkout")


def test_reference_is_dopamines_5_seeds_per_iteration():
    road_runner = load_reference("road_runner")
    assert len(road_runner) == 199 and road_runner[1].n_seeds == 5
    # Seeds 0-4 of roadrunner, iteration 1, in dopamine_baselines_legacy.csv: 363.3 374.6
    # 359.8 337.4 298.3 (to one decimal).
    assert road_runner[1].values == (363.3, 374.6, 359.8, 337.4, 298.3)  # seed_index order
    assert (road_runner[1].min, road_runner[1].max) == (298.3, 374.6)
    assert road_runner[1].mean == pytest.approx((363.3 + 374.6 + 359.8 + 337.4 + 298.3) / 5)
    with pytest.raises(ValueError, match="no DQN curve for 'pong_2'"):
        load_reference("pong_2")
    # Names as our configs spell them: canonical ROM ids, also outside the 57 (air_raid).
    assert load_reference("MsPacman")[2].mean == load_reference("ms_pacman")[2].mean
    assert load_reference("air_raid")[3].n_seeds == 5


# (Dopamine game, iteration): (mean, min, max) in the mean/min/max table this package
# shipped before the per-seed one (dopamine_dqn_legacy.csv, to one decimal, computed from
# the unrounded per-seed values).
SUMMARY_BEFORE = {("roadrunner", 1): (346.7, 298.3, 374.6),
                  ("roadrunner", 2): (933.3, 674.3, 1077.6),
                  ("mspacman", 2): (1256.7, 1148.1, 1383.5),
                  ("pong", 10): (-2.4, -17.7, 8.2),
                  ("breakout", 50): (106.1, 89.6, 124.9),
                  ("airraid", 3): (1315.8, 1091.0, 1624.9)}


def test_per_seed_table_gives_the_summary_it_replaced():
    """Mean, min and max computed from the per-seed table agree with the old summary table,
    within the rounding of both to one decimal."""
    table = baselines.load_dopamine_reference(per_seed=True).set_index(
        ["dopamine_game", "iteration"])
    assert len(table) == 60 * 199 and set(table.n_seeds) == {5}
    assert baselines.seed_columns(table) == [f"seed_{s}" for s in range(5)]
    for key, (mean, low, high) in SUMMARY_BEFORE.items():
        row = table.loc[key]
        values = [row[f"seed_{s}"] for s in range(5)]
        assert row["mean"] == pytest.approx(statistics.fmean(values))
        assert row["mean"] == pytest.approx(mean, abs=0.05 + 0.05)  # both rounded to 0.1
        assert (row["min"], row["max"]) == (low, high)  # rounding commutes with min and max


def test_packaged_reference_file_is_small():
    path = Path(baselines.__file__).parent.parent / "data" / baselines.REFERENCE_FILE
    assert path.stat().st_size < 1_000_000


@needs_shared
def test_per_seed_table_matches_the_shared_source():
    """Every packaged value is the shared file's DQN value of that game, iteration and seed,
    rounded to one decimal; the summary is the source's, within that rounding."""
    games = {"roadrunner", "mspacman", "pong", "breakout", "airraid"}
    source: dict[tuple[str, int], dict[int, float]] = {}
    with open(SHARED_CSV, newline="") as f:
        for r in csv.DictReader(f):
            if r["agent"] == "DQN" and r["game"] in games:
                source.setdefault((r["game"], int(r["iteration"])), {})[
                    int(r["seed_index"])] = float(r["train_episode_return_mean"])
    table = baselines.load_dopamine_reference(per_seed=True).set_index(
        ["dopamine_game", "iteration"])
    for key, seeds in source.items():
        row = table.loc[key]
        for seed, value in seeds.items():
            assert row[f"seed_{seed}"] == pytest.approx(value, abs=0.05 + 1e-9)
        assert row["mean"] == pytest.approx(statistics.fmean(seeds.values()), abs=0.05)
        assert row["min"] == pytest.approx(min(seeds.values()), abs=0.05 + 1e-9)
    for (game, iteration), (mean, _, _) in SUMMARY_BEFORE.items():
        exact = statistics.fmean(source[(game, iteration)].values())
        assert round(exact, 1) == mean


@needs_shared
def test_committed_reference_is_derived_from_the_shared_csv():
    result = subprocess.run([sys.executable, "scripts/make_dopamine_reference.py", "--check"],
                            cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _two_iterations_of_road_runner(run_dir, agent_steps_per_iteration: int,
                                   learning_starts: int, capacity: int) -> None:
    """A real, tiny dopamine_dqn run of 2 iterations (counts in agent steps)."""
    Runner(compose(["experiment=dopamine_dqn", "env.game=road_runner", f"run_dir={run_dir}",
                    f"total_frames={2 * 4 * agent_steps_per_iteration}",
                    f"train_agent_steps_per_iteration={agent_steps_per_iteration}",
                    "eval_agent_steps_per_iteration=0", "final_eval.enabled=false",
                    f"replay.capacity={capacity}",  # transitions
                    f"agent.learning_starts_agent_steps={learning_starts}",
                    "logger.wandb_mode=disabled", "logger.progress_bar=false",
                    "agent.device=cpu"])).run()


def test_a_random_agent_is_judged_on_the_range_alone_and_the_report_is_written(tmp_path):
    """A 2-iteration smoke run of dopamine_dqn on Road Runner: iteration 1 is judged; one
    seed, so on the range alone, with no p-value."""
    run_dir = tmp_path / "run"
    _two_iterations_of_road_runner(run_dir, agent_steps_per_iteration=200, learning_starts=100,
                                   capacity=1000)
    table = compare("dopamine_dqn", run_dir)
    assert [r["iteration"] for r in table] == [0, 1]  # both complete: no iteration in progress
    assert table[0]["verdict"] == "not judged"  # iteration 0 is not held to the target
    one = table[1]
    assert (one["dopamine_min"], one["dopamine_max"]) == (298.3, 374.6)
    assert one["n_seeds"] == 1 and one["seed_0"] == one["mean"] == one["min"] == one["max"]
    inside = 298.3 <= one["mean"] <= 374.6
    assert one["mean_vs_dopamine_range"] == ("inside" if inside else "below")
    assert one["verdict"] == ("meets" if inside else "MISSES")  # one seed: the range only
    assert one["welch_p"] is None and "only 1 seed of ours" in one["welch_note"]
    assert compare("nature", run_dir)[1]["verdict"] == "not judged"

    out = tmp_path / "out"
    result = run_module("dqn_atari.side_by_side", f"--run=dopamine_dqn={run_dir}",
                        f"--out={out}")
    assert result.returncode == 0, result.stderr
    assert (out / "road_runner.png").stat().st_size > 10_000
    with open(out / "side_by_side.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 2
    text = (out / "side_by_side.md").read_text()
    assert "| dopamine_dqn | road_runner | 1 |" in text
    assert "| n/a [1] |" in text
    assert "[1] No p-value: only 1 seed of ours, and a sample variance needs at least 2." in text


def test_a_directory_that_is_not_a_run_is_a_clear_error(tmp_path):
    result = run_module("dqn_atari.side_by_side", f"--run=nature={tmp_path}",
                        f"--out={tmp_path / 'out'}")
    assert result.returncode == 2 and "is missing: is" in result.stderr


def test_the_iteration_in_progress_is_shown_from_its_games_and_not_judged(tmp_path):
    """A real 2-iteration run, read as it was while iteration 1 was still going."""
    run_dir = tmp_path / "run"
    _two_iterations_of_road_runner(run_dir, agent_steps_per_iteration=600, learning_starts=1100,
                                   capacity=2000)
    iterations = run_dir / "metrics" / "iterations.csv"
    header, first, _second = iterations.read_text().splitlines()
    iterations.write_text(f"{header}\n{first}\n")  # iteration 1 not finished yet
    with open(run_dir / "metrics" / "episodes.csv", newline="") as f:
        games = [r for r in csv.DictReader(f) if r["phase"] == "train" and r["iteration"] == "1"]
    assert games, "no Road Runner game ended in 600 agent steps of random play"
    table = compare("dopamine_dqn", run_dir)
    assert [r["iteration"] for r in table] == [0, 1]
    partial = table[1]
    assert partial["verdict"] == "in progress: not judged"
    assert partial["train_games"] == len(games)
    assert partial["frames_to"] == int(games[-1]["frames"])
    assert not partial["complete"] and partial["welch_p"] is None
    assert "iteration in progress" in partial["welch_note"]
    assert partial["mean"] == pytest.approx(
        sum(float(r["raw_return"]) for r in games) / len(games))


def test_welch_p_value_matches_the_formula():
    """t and the Welch-Satterthwaite df by hand on a made-up set; p from Student's t."""
    from scipy import stats

    ours, theirs = [410.0, 455.0, 520.0], [674.3, 880.0, 960.5, 1001.0, 1077.6]
    m1, m2 = sum(ours) / 3, sum(theirs) / 5
    s1 = sum((x - m1) ** 2 for x in ours) / 2  # sample variances (n - 1)
    s2 = sum((x - m2) ** 2 for x in theirs) / 4
    se2 = s1 / 3 + s2 / 5
    t = (m1 - m2) / math.sqrt(se2)
    df = se2 ** 2 / ((s1 / 3) ** 2 / 2 + (s2 / 5) ** 2 / 4)
    p = 2 * stats.t.sf(abs(t), df)
    test = welch_test(ours, theirs)
    assert test.t == pytest.approx(t, rel=1e-12) and test.t < 0
    assert test.df == pytest.approx(df, rel=1e-12)
    assert test.p == pytest.approx(p, rel=1e-9)
    assert 0.001 < test.p < 0.05 and test.note == ""


def test_welch_is_not_computed_without_two_values_or_any_variance():
    one = welch_test([647.0], [674.3, 880.0, 960.5, 1001.0, 1077.6])
    assert (one.t, one.df, one.p) == (None, None, None)
    assert one.note == "n/a: only 1 seed of ours, and a sample variance needs at least 2"
    flat = welch_test([5.0, 5.0], [5.0, 5.0, 5.0])
    assert flat.p is None and "same value" in flat.note


def _fake_run(root: Path, game: str, seed: int, returns: list[float],
              partial: list[float] | None = None) -> Path:
    """A run dir as dqn_atari.run.seed_run writes it (the columns side_by_side reads): iteration i
    has training-game mean ``returns[i]``; ``partial``, the games of the next one so far."""
    run = root / game / f"seed_{seed}"
    (run / "metrics").mkdir(parents=True)
    (run / "config.yaml").write_text(
        f"experiment_name: dopamine_dqn\nseed: {seed}\nenv:\n  game: {game}\n")
    lines = [("iteration,frames,agent_steps,updates,loss,mean_q,train_episodes,"
              "train_raw_return_mean,eval_raw_return_mean,eval_raw_return_std,eval_episodes,"
              "train_agent_steps_per_s,wall_time_s")]
    for i, value in enumerate(returns):
        f = (i + 1) * 1_000_000
        lines.append(f"{i},{f},{f // 4},{f // 16},0.01,0.5,10,{value},nan,nan,0,100.0,{i + 1.0}")
    (run / "metrics" / "iterations.csv").write_text("\n".join(lines) + "\n")
    games = ["phase,iteration,frames,agent_steps,raw_return"]
    games += [f"train,{len(returns)},{len(returns) * 1_000_000 + 1000 * (k + 1)},0,{v}"
              for k, v in enumerate(partial or [])]
    (run / "metrics" / "episodes.csv").write_text("\n".join(games) + "\n")
    return run


# Made-up returns of three seeds on Road Runner, iterations 0-2.
THREE_SEEDS = {0: [40.0, 300.0, 700.0], 1: [30.0, 360.0, 950.0], 2: [50.0, 350.0, 1000.0]}


def test_several_seeds_of_one_run_name_become_one_distribution(tmp_path):
    dirs = [_fake_run(tmp_path, "road_runner", s, v) for s, v in THREE_SEEDS.items()]
    table = compare("dopamine_dqn", dirs)
    assert [r["iteration"] for r in table] == [0, 1, 2] and all(r["complete"] for r in table)
    reference = load_reference("road_runner")
    for row in table:
        i = row["iteration"]
        values = [THREE_SEEDS[s][i] for s in range(3)]
        assert [row[f"seed_{s}"] for s in range(3)] == values
        assert row["n_seeds"] == 3 and row["mean"] == pytest.approx(sum(values) / 3)
        assert (row["min"], row["max"]) == (min(values), max(values))
        assert (row["dopamine_mean"], row["dopamine_min"], row["dopamine_max"]) == (
            reference[i].mean, reference[i].min, reference[i].max)
        assert row["welch_p"] == pytest.approx(welch_test(values, reference[i].values).p)
    one, two = table[1], table[2]
    # Iteration 1: mean 336.7 inside 298.3-374.6, and no significant difference.
    assert one["mean_vs_dopamine_range"] == "inside" and one["welch_p"] > 0.05
    assert one["verdict"] == "meets"
    # Iteration 2: mean 883.3 inside 674.3-1,077.6.
    assert two["mean_vs_dopamine_range"] == "inside"
    assert two["verdict"] == ("meets" if two["welch_p"] >= 0.05 else "MISSES")
    assert table[0]["verdict"] == "not judged"


def test_the_command_takes_a_directory_of_seeds_a_glob_or_repeated_labels(tmp_path):
    root = tmp_path / "runs"
    for s, v in THREE_SEEDS.items():
        _fake_run(root, "road_runner", s, v)
    _fake_run(root, "ms_pacman", 0, [400.0, 900.0])
    expected = {("dopamine_dqn", "road_runner"): 3, ("nature", "road_runner"): 2,
                ("one", "ms_pacman"): 1}
    out = tmp_path / "out"
    result = run_module("dqn_atari.side_by_side",
                        f"--run=dopamine_dqn={root / 'road_runner'}",  # its seed_* run dirs
                        f"--run=nature={root / 'road_runner' / 'seed_[01]'}",  # a glob
                        f"--run=one={root / 'ms_pacman' / 'seed_0'}", f"--out={out}")
    assert result.returncode == 0, result.stderr
    with open(out / "side_by_side.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {(r["run"], r["game"]): int(r["n_seeds"]) for r in rows} == expected
    dqn_two = next(r for r in rows if r["run"] == "dopamine_dqn" and r["iteration"] == "2")
    assert float(dqn_two["mean"]) == pytest.approx((700 + 950 + 1000) / 3)
    assert (dqn_two["seed_0"], dqn_two["seed_1"], dqn_two["seed_2"]) == ("700.0", "950.0",
                                                                         "1000.0")
    assert 0 < float(dqn_two["welch_p"]) < 1 and dqn_two["welch_note"] == ""
    ms = [r for r in rows if r["run"] == "one"]
    assert all(r["welch_p"] == "" and r["seed_2"] == "" for r in ms)
    text = (out / "side_by_side.md").read_text()
    assert text.startswith("Per iteration of 1M frames")
    assert "two-sided Welch t-test" in text and "against Dopamine's 5" in text
    assert "| dopamine_dqn | road_runner | 2 | 2-3M | 0: 700, 1: 950, 2: 1,000 | 3 | 883 |" in text
    assert "[1] No p-value: only 1 seed of ours" in text
    assert (out / "road_runner.png").stat().st_size > 10_000
    assert (out / "ms_pacman.png").stat().st_size > 10_000
    # The same seed twice is an error, not a fourth seed.
    again = run_module("dqn_atari.side_by_side", f"--run=x={root / 'road_runner'}",
                       f"--run=x={root / 'road_runner' / 'seed_0'}", f"--out={out}")
    assert again.returncode == 2 and "seed 0 given twice" in again.stderr


def test_an_iteration_some_seeds_have_not_finished_is_not_tested(tmp_path):
    dirs = [_fake_run(tmp_path, "road_runner", 0, [40.0, 300.0], partial=[500.0, 700.0]),
            _fake_run(tmp_path, "road_runner", 1, [30.0, 360.0, 950.0])]
    table = compare("dopamine_dqn", dirs)
    last = table[2]
    assert not last["complete"] and last["verdict"] == "in progress: not judged"
    assert (last["seed_0"], last["seed_1"]) == (600.0, 950.0)  # seed 0: its games so far
    assert last["welch_p"] is None and last["welch_note"] == (
        "n/a: iteration in progress (seed 0 has not finished it)")
    assert table[1]["complete"] and table[1]["welch_p"] is not None
    # A third seed that has not reached iteration 2 at all: it is waited for too.
    dirs.append(_fake_run(tmp_path, "road_runner", 2, [50.0, 350.0]))
    last = compare("dopamine_dqn", dirs)[2]
    assert last["n_seeds"] == 2 and "seed_2" not in last
    assert last["welch_note"] == "n/a: iteration in progress (seeds 0, 2 have not finished it)"
