"""One seed's run (dqn_atari/run/seed_run.py): its config, its run dir, its checkpointed state.

* ``seed_configs``: one config for ``seed=``, one per seed with its own run dir for
  ``seeds=[...]`` (the template resolved with each seed, or under a Hydra sweep), and a
  run dir shared by several seeds or a repeated seed refused with the fix;
* ``configs_for_resume``: each seed resumes under its recorded config; its log lines name
  the seed only beside other seeds;
* ``SeedRun.state_dict``/``load_state_dict``, through a real checkpoint file, restore the
  counters, the iteration's sums, the replay (and its sampler), the games in progress and
  every random stream at its position, into a run built for another seed;
* a run dir that cannot be written is refused before anything is built, naming the fix.

What packing cannot run (overlap, compile, CUDA graphs) is refused in test_packed.py.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import compose
from omegaconf import OmegaConf

from dqn_atari.config_checks import ConfigError
from dqn_atari.learner import InlineLearner
from dqn_atari.loop import SeedSlot, train_phase
from dqn_atari.run.checkpoint import checkpoint_paths, load_checkpoint, save_checkpoint
from dqn_atari.run.seed_run import SeedRun, configs_for_resume, ensure_writable, seed_configs

TINY = ["experiment=catch", "logger.wandb_mode=disabled", "logger.progress_bar=false",
        "torch_threads=1", "agent.device=cpu", "agent.learning_starts_agent_steps=20",
        "agent.batch_size=8", "agent.target_update_period_agent_steps=15", "replay.capacity=200"]


# ----------------------------------------------------------------- seed_configs


def test_one_config_for_seed_and_one_per_seed_with_its_own_run_dir():
    single = compose([*TINY, "seed=5"])
    assert seed_configs(single) == [single] and seed_configs(single)[0] is single

    packed = compose([*TINY, "seeds=[3,4]"])  # the default run_dir template
    configs = seed_configs(packed)
    assert [c.seed for c in configs] == [3, 4] and all(list(c.seeds) == [] for c in configs)
    assert [c.run_dir for c in configs] == ["runs/catch/catch/seed_3", "runs/catch/catch/seed_4"]
    raw = [OmegaConf.to_container(c)["run_dir"] for c in configs]
    assert raw == [c.run_dir for c in configs]  # resolved: no ${seed} left to follow later
    assert list(packed.seeds) == [3, 4]  # the caller's config is left as it was
    for c in configs:  # otherwise the same run
        assert OmegaConf.to_container(c.agent) == OmegaConf.to_container(packed.agent)
        assert c.total_frames == packed.total_frames and c.env.game == "catch"

    swept = seed_configs(packed, sweep_parent=Path("/sweeps/multirun/catch/catch"))
    assert [c.run_dir for c in swept] == ["/sweeps/multirun/catch/catch/seed_3",
                                          "/sweeps/multirun/catch/catch/seed_4"]


@pytest.mark.parametrize("overrides, match", [
    (["seeds=[0,1]", "run_dir=/tmp/one_dir"],
     (r"run_dir=/tmp/one_dir gives several seeds the same run dir: with seeds=\[\.\.\.\] it "
      r"must contain \$\{seed\} \(the default runs/\$\{experiment_name\}/\$\{env.game\}/"
      r"seed_\$\{seed\} does\)")),
    (["seeds=[0,1,0]"], r"seed\(s\) \[0\] more than once"),
])
def test_a_shared_run_dir_or_a_repeated_seed_is_refused_naming_the_fix(overrides, match):
    with pytest.raises(ConfigError, match=match):
        seed_configs(compose([*TINY, *overrides]))


# ------------------------------------------------------------ configs_for_resume


def _started_with(cfg, **changed) -> None:
    """Make ``cfg.run_dir`` a resumable run started with ``changed`` (a recorded config and
    a checkpoint file; its content is not read by the config check)."""
    recorded = OmegaConf.to_container(cfg, resolve=True)
    for key, value in changed.items():
        recorded[key] = value
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(recorded)))
    save_checkpoint(run_dir, {"counters": {"agent_steps": 100}}, 100)


def test_resume_notes_name_the_seed_only_beside_other_seeds(tmp_path):
    configs = seed_configs(compose([*TINY, "seeds=[0,1]", f"run_dir={tmp_path}/seed_${{seed}}"]))
    for cfg in configs:
        _started_with(cfg, torch_threads=2, total_frames=800)
    explicit = {"seeds", "run_dir", "torch_threads"}

    resumed, changes, notes = configs_for_resume(configs, explicit)
    assert notes == [f"seed {s}: {note}" for s in (0, 1) for note in (
        "total_frames: 800 as started (today's default: 40000)",
        "torch_threads: 2 when started, 1 now (safe to change)")]
    assert changes == [{"torch_threads": (2, 1)}] * 2
    assert [c.total_frames for c in resumed] == [800, 800]  # as the runs were started
    assert [c.torch_threads for c in resumed] == [1, 1]
    assert [c.seed for c in resumed] == [0, 1]

    _, alone_changes, alone_notes = configs_for_resume(configs[1:], explicit)
    assert alone_notes == ["total_frames: 800 as started (today's default: 40000)",
                           "torch_threads: 2 when started, 1 now (safe to change)"]
    assert alone_changes == [{"torch_threads": (2, 1)}]


# ------------------------------------------------------------------ the seed's state


def _draws(run: SeedRun, actions: np.ndarray) -> dict:
    """What the run draws next from each of its random streams, and its games' next steps."""
    batch = run.replay.sample(8)
    games = []
    for action in actions:
        for actor in run.actors:
            games.append((actor.step(int(action)), actor.state.copy()))
    return {"python": random.random(), "numpy": np.random.random(), "torch": torch.rand(3),
            "action": run.action_rng.random(4), "batch": batch, "games": games}


def test_state_round_trip_restores_counters_replay_games_and_random_streams(tmp_path):
    cfg = compose([*TINY, "seed=0", "env.num_envs=2", f"run_dir={tmp_path}/a"])
    run = SeedRun(cfg)
    learner = InlineLearner(run.agent)
    slot = SeedSlot(run.actors, run.replay, run.action_rng, run.stats, lambda *game: None)
    run.agent_steps = train_phase([slot], learner, run.schedule, agent_steps=0,
                                  end_agent_steps=41, stop_requested=lambda: False)
    run.wall_time_s = 12.5
    assert run.stats.updates == 6 and run.stats.train_returns  # mid-iteration sums to keep
    path = run.checkpoint(learner.seed_learner_state(0))
    assert checkpoint_paths(tmp_path / "a") == [path]
    actions = np.random.default_rng(0).integers(3, size=12)
    expected = _draws(run, actions)

    # Built for another seed (other envs, replay sampler, generators): all restored.
    other = SeedRun(compose([*TINY, "seed=1", "env.num_envs=2", f"run_dir={tmp_path}/b"]))
    agent_state, learner_state = other.load_state_dict(load_checkpoint(path))
    assert learner_state is None and agent_state["num_updates"] == 6
    assert other.position[:3] == (41, 0, "train") and other.wall_time_s == 12.5
    assert (other.stats.updates, other.stats.train_returns, other.stats.train_agent_steps) == (
        6, run.stats.train_returns, 41)
    assert float(other.stats.loss_sum) == pytest.approx(float(run.stats.loss_sum))
    assert other.replay.num_added == run.replay.num_added - 12 * 2 == 41
    got = _draws(other, actions)
    assert got["python"] == expected["python"] and got["numpy"] == expected["numpy"]
    assert torch.equal(got["torch"], expected["torch"])
    np.testing.assert_array_equal(got["action"], expected["action"])
    for name in ("indices", "frames", "actions", "rewards", "terminals"):
        np.testing.assert_array_equal(getattr(got["batch"], name),
                                      getattr(expected["batch"], name), err_msg=name)
    for (g_game, g_state), (e_game, e_state) in zip(got["games"], expected["games"], strict=True):
        assert g_game == e_game
        np.testing.assert_array_equal(g_state, e_state)
    assert sum(game is not None for game, _ in got["games"]) >= 1  # a game ended on the way


def test_an_unwritable_run_dir_is_refused_naming_the_fix(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"run directory .*a_file/run is not writable "
                                          r"\(Not a directory\): choose another with "
                                          r"run_dir=/a/writable/path"):
        ensure_writable(blocker / "run")
    with pytest.raises(ConfigError, match="is not writable"):
        SeedRun(compose([*TINY, f"run_dir={blocker}/run"]))
    ensure_writable(tmp_path / "new" / "run")  # created, and left clean
    assert list((tmp_path / "new" / "run").iterdir()) == []
