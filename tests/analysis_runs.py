"""Synthetic run directories for the analysis tests, in the docs/CONTRACTS.md layout.

Each writer puts down only what the analysis reads (``config.yaml``, ``metrics/*.csv``,
``eval_nature.json``), with known scores, so every number of a table can be checked by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

ITERATION_HEADER = ("iteration,frames,agent_steps,updates,loss,mean_q,train_episodes,"
                    "train_raw_return_mean,eval_raw_return_mean,eval_raw_return_std,"
                    "eval_episodes,train_agent_steps_per_s,wall_time_s")
EPISODE_HEADER = ("phase,iteration,frames,agent_steps,raw_return,clipped_return,"
                  "length_agent_steps,length_frames,epsilon,wall_time_s")
REPORT_FRAMES_PER_ITERATION = 100_000  # write_run_dir's iterations

# The paper's random and 5-minute human scores: breakout's HNS h is the score 1.7 + 30.1 h,
# pong's -20.7 + 30 h.
RANDOM_HUMAN = {"breakout": (1.7, 31.8), "pong": (-20.7, 9.3)}


def score_of(game: str, hns: float) -> float:
    """The raw score of ``game`` whose human-normalised score is ``hns``."""
    random, human = RANDOM_HUMAN[game]
    return random + hns * (human - random)


def _config(run: Path, experiment: str, game: str, seed: int, extra: str = "") -> None:
    (run / "metrics").mkdir(parents=True)
    (run / "config.yaml").write_text(
        f"experiment_name: {experiment}\nseed: {seed}\nenv:\n  game: {game}\n{extra}")


def write_run_dir(root: Path, experiment: str, game: str, seed: int, evals: list[float],
                  nature_mean: float | None = None) -> Path:
    """A run dir of iterations of 100k frames, evaluation mean ``evals[i]`` after iteration
    i + 1, one training and one evaluation game per iteration, and with ``nature_mean`` an
    ``eval_nature.json``."""
    run = root / experiment / game / f"seed_{seed}"
    _config(run, experiment, game, seed, "  action_repeat_frames: 4\ntotal_frames: 300000\n")
    iterations, episodes = [ITERATION_HEADER], [EPISODE_HEADER]
    for i, ev in enumerate(evals, start=1):
        frames = i * REPORT_FRAMES_PER_ITERATION
        iterations.append(f"{i},{frames},{frames // 4},{frames // 16},0.02,0.5,4,{ev - 1},"
                          f"{ev},1.5,3,250.0,{60.0 * i}")
        episodes.append(f"train,{i},{frames - 400},{(frames - 400) // 4},{ev - 1},2,100,400,"
                        f"0.5,{60.0 * i - 1}")
        episodes.append(f"eval,{i},{frames},{frames // 4},{ev},2,120,480,0.05,{60.0 * i}")
    (run / "metrics" / "iterations.csv").write_text("\n".join(iterations) + "\n")
    (run / "metrics" / "episodes.csv").write_text("\n".join(episodes) + "\n")
    if nature_mean is not None:
        (run / "eval_nature.json").write_text(json.dumps({
            "game": game, "experiment": experiment, "seed": seed,
            "frames": len(evals) * REPORT_FRAMES_PER_ITERATION, "agent_steps": 75_000,
            "episodes": 30, "mean": nature_mean, "std": 3.0, "scores": [nature_mean] * 30}))
    return run


def write_iterations(root: Path, experiment: str, game: str, seed: int, evals: list[float],
                     trains: list[float] | None = None,
                     frames: list[int] | None = None) -> Path:
    """A run dir with iterations.csv only: iteration i ends at ``frames[i]`` frames (1M
    each by default), with evaluation mean ``evals[i]`` and training mean ``trains[i]``."""
    run = root / experiment / game / f"seed_{seed}"
    _config(run, experiment, game, seed)
    frames = frames or [1_000_000 * (i + 1) for i in range(len(evals))]
    trains = trains or [e - 1.0 for e in evals]
    lines = [ITERATION_HEADER]
    for i, (f, ev, tr) in enumerate(zip(frames, evals, trains)):
        lines.append(f"{i},{f},{f // 4},{f // 16},0.01,0.5,10,{tr},{ev},1.0,5,100.0,{i + 1.0}")
    (run / "metrics" / "iterations.csv").write_text("\n".join(lines) + "\n")
    return run


def write_training_run(root: Path, game: str, seed: int, returns: list[float],
                       partial: list[float] | None = None) -> Path:
    """A ``dopamine_dqn`` run dir at ``root/<game>/seed_<seed>``: iteration i (1M frames) has
    training-game mean ``returns[i]`` and no evaluation; ``partial``, the training games of
    the next iteration so far (in episodes.csv)."""
    run = root / game / f"seed_{seed}"
    _config(run, "dopamine_dqn", game, seed)
    lines = [ITERATION_HEADER]
    for i, value in enumerate(returns):
        f = (i + 1) * 1_000_000
        lines.append(f"{i},{f},{f // 4},{f // 16},0.01,0.5,10,{value},nan,nan,0,100.0,{i + 1.0}")
    (run / "metrics" / "iterations.csv").write_text("\n".join(lines) + "\n")
    games = ["phase,iteration,frames,agent_steps,raw_return"]
    games += [f"train,{len(returns)},{len(returns) * 1_000_000 + 1000 * (k + 1)},0,{v}"
              for k, v in enumerate(partial or [])]
    (run / "metrics" / "episodes.csv").write_text("\n".join(games) + "\n")
    return run


def history_rows(game: str, hns: list[float]) -> list[dict]:
    """The W&B rows the runner logs for a run whose evaluation after iteration i has HNS
    ``hns[i]`` (docs/CONTRACTS.md 'wandb'): one game's row and the iteration's row each."""
    rows = []
    for i, h in enumerate(hns):
        frames = 1_000_000 * (i + 1)
        rows.append({"frames": frames - 400, "agent_steps": (frames - 400) // 4,
                     "train/raw_return": 1.0, "_step": 2 * i})
        rows.append({"frames": frames, "agent_steps": frames // 4, "iteration": i,
                     "iteration/train_raw_return_mean": score_of(game, h) - 1.0,
                     "eval/raw_return_mean": score_of(game, h), "eval/episodes": 5,
                     "_step": 2 * i + 1})
    return rows


# ---------------------------------------------------------------------------------------
# Two sets of runs
# ---------------------------------------------------------------------------------------

# The report's runs: experiment, game, seed -> evaluation mean at iterations 1, 2, 3
# (frames 100k, 200k, 300k); fast/breakout/seed_0 also has an eval_nature.json.
EVAL = {
    ("fast", "breakout", 0): [2.0, 6.0, 10.0],
    ("fast", "breakout", 1): [3.0, 8.0, 18.0],
    ("fast", "breakout", 2): [1.0, 9.0, 20.0],
    ("fast", "pong", 0): [-21.0, -20.0, -15.0],
    ("fast", "pong", 1): [-21.0, -19.0, -17.0],
    ("fast", "catch", 0): [0.1, 0.5, 0.9],  # the toy env: no reference scores
    ("nature", "breakout", 0): [1.5, 2.5, 4.0],
}
NATURE_EVAL = {("fast", "breakout", 0): 22.0}  # eval_nature.json mean overrides 10.0

# The aggregates' runs: (experiment, game, seed) -> HNS of the evaluation after iterations
# 0, 1, ... (1M frames each); every HNS is a round number.
HNS = {
    ("nature", "breakout", 0): [0.1, 0.5],
    ("nature", "breakout", 1): [0.3, 0.7],
    ("nature", "pong", 0): [0.0, 1.0],
    ("nature", "pong", 1): [0.2, 1.4],
    ("fast", "breakout", 0): [0.2, 0.9],
    ("fast", "breakout", 1): [0.4, 1.1],
    ("fast", "pong", 0): [1.2, 0.3],
    ("fast", "pong", 1): [1.5],  # one iteration behind: the fast curves stop at 1M frames
}


def write_report_runs(root: Path) -> Path:
    """The runs of ``EVAL`` (``write_run_dir``) under ``root``."""
    for (experiment, game, seed), evals in EVAL.items():
        write_run_dir(root, experiment, game, seed, evals,
                      NATURE_EVAL.get((experiment, game, seed)))
    return root


def write_hns_runs(root: Path) -> Path:
    """The runs of ``HNS`` (``write_iterations``) under ``root``."""
    for (experiment, game, seed), hns in HNS.items():
        write_iterations(root, experiment, game, seed, [score_of(game, h) for h in hns])
    return root


def write_dopamine_csv(path: Path) -> Path:
    """A tiny CSV in the format of dopamine_baselines_legacy.csv (values made up): 3 seeds,
    iterations 0-4 of breakout (iteration i, seed s: 2 i + s) and pong, and a Rainbow row."""
    rows = ["game,agent,seed_index,iteration,train_episode_return_mean"]
    for seed in range(3):
        for iteration in range(5):
            rows.append(f"breakout,DQN,{seed},{iteration},{iteration * 2.0 + seed}")
            rows.append(f"breakout,Rainbow,{seed},{iteration},999")
            rows.append(f"pong,DQN,{seed},{iteration},{-21 + iteration}")
    path.write_text("\n".join(rows) + "\n")
    return path
