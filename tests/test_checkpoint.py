"""Checkpoints that run no code when loaded (dqn_atari/run/checkpoint.py).

A received run dir (a colleague's sweep, a downloaded model) must be safe to evaluate and to
resume: a checkpoint is plain data, and a pickle that asks for any class or function, as a
crafted one does to run code, is refused before anything in it runs, by ``evaluate`` and by
a training resume alike. Checkpoints of the format before 2026-12-06 (pickled tensors and an
``ALEState``) still resume, once the user passes ``allow_pickled_checkpoints=true``.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_module

from dqn_atari.run.checkpoint import (
    _COMPRESS_MIN_BYTES,
    UnsafeCheckpointError,
    _Lz4Array,
    checkpoint_paths,
    load_checkpoint,
    save_checkpoint,
)

SMOKE = ["experiment=smoke", "logger.wandb_mode=disabled", "eval_agent_steps_per_iteration=0",
         "logger.progress_bar=false", "torch_threads=1"]


class _RunsCode:
    """What a crafted checkpoint holds: unpickling it calls ``exec``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def _crafted(path: Path, marker: Path) -> None:
    """A checkpoint file whose pickle runs code when loaded by a plain ``pickle.load``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"config": {}, "payload": _RunsCode(marker)}))


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    """A finished smoke run on real Pong: 3 iterations of 200 agent steps, checkpoints at
    400 and 600 agent steps."""
    run_dir = tmp_path_factory.mktemp("smoke") / "run"
    result = run_module("dqn_atari.train", *SMOKE, f"run_dir={run_dir}")
    assert result.returncode == 0, result.stderr[-2000:]
    return run_dir


def test_plain_data_round_trip_keeps_every_tensor_and_array_and_compresses_wherever_they_sit(
        tmp_path):
    frames = np.zeros((1100, 1000), np.uint8)  # > 1 MiB: compressed, inside a list
    frames[::7] = 200
    state = {"tensors": {"fp32": torch.randn(3, 4), "bf16": torch.randn(5).bfloat16(),
                         "scalar": torch.tensor(2.5), "empty": torch.empty(0, 3),
                         "rng": torch.get_rng_state()},
             "heads": [{"frames": frames}], "count": np.int64(7), "pair": (1, "x"),
             "bytes": b"\x00\x01", "none": None}
    path = save_checkpoint(tmp_path, state, agent_steps=5)
    assert path.stat().st_size < frames.nbytes / 20  # the frames in the list were compressed
    loaded = load_checkpoint(path)
    for name, tensor in state["tensors"].items():
        assert loaded["tensors"][name].dtype == tensor.dtype
        assert torch.equal(loaded["tensors"][name], tensor), name
    np.testing.assert_array_equal(loaded["heads"][0]["frames"], frames)
    assert loaded["count"] == 7 and loaded["count"].dtype == np.int64
    assert loaded["pair"] == (1, "x") and loaded["bytes"] == b"\x00\x01"
    assert loaded["none"] is None


def test_what_is_not_plain_data_is_refused_when_written(tmp_path):
    with pytest.raises(TypeError, match=r"state\['agent'\]: .*pathlib.*PosixPath is none"):
        save_checkpoint(tmp_path, {"agent": Path("/x")}, agent_steps=1)
    assert checkpoint_paths(tmp_path) == []


def test_a_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "checkpoints" / "ckpt_000000000100.pt"
    _crafted(path, marker)
    with pytest.raises(UnsafeCheckpointError, match=r"builtins\.exec(.|\n)*"
                                                    r"allow_pickled_checkpoints=true"):
        load_checkpoint(path)
    assert not marker.exists()


def test_evaluate_and_resume_refuse_a_crafted_checkpoint_and_keep_it(tmp_path):
    """The two commands a received run dir meets: exit 2, the fix named, no code run, the file
    left where it is (not moved aside as corrupt, not deleted)."""
    marker = tmp_path / "marker"
    run_dir = tmp_path / "received"
    path = run_dir / "checkpoints" / "ckpt_000000000100.pt"
    _crafted(path, marker)
    evaluated = run_module("dqn_atari.evaluate", f"run_dir={run_dir}", "episodes=1")
    assert evaluated.returncode == 2, evaluated.stderr[-2000:]
    assert "allow_pickled_checkpoints=true" in evaluated.stderr
    resumed = run_module("dqn_atari.train", *SMOKE, "total_frames=800", f"run_dir={run_dir}")
    assert resumed.returncode == 2, resumed.stderr[-2000:]
    assert "builtins.exec" in resumed.stderr and "allow_pickled_checkpoints" in resumed.stderr
    assert not marker.exists()
    assert checkpoint_paths(run_dir) == [path] and not (run_dir / "checkpoints" / "corrupt").exists()


def _as_format_1(path: Path) -> None:
    """Rewrite a checkpoint as dqn-atari wrote it before 2026-12-06: a plain pickle of the state,
    tensors and the emulator's ``ALEState`` as objects, large top-level arrays as ``_Lz4Array``."""
    import ale_py

    state = load_checkpoint(path)
    for actor in state["actor"]["actors"]:
        actor["env"]["ale_state"] = ale_py.ALEState(actor["env"]["ale_state"])

    def legacy(obj):
        if isinstance(obj, np.ndarray) and obj.nbytes >= _COMPRESS_MIN_BYTES:
            return _Lz4Array(obj)
        if isinstance(obj, dict):
            return {k: legacy(v) for k, v in obj.items()}
        return obj

    path.write_bytes(pickle.dumps(legacy(state), protocol=pickle.HIGHEST_PROTOCOL))


def test_a_checkpoint_of_the_old_format_resumes_once_trusted(smoke_run, tmp_path):
    """The run's checkpoint at 400 agent steps rewritten in the old format, the newer one
    removed: refused, then resumed when trusted, it ends exactly where the run ended."""
    run_dir = tmp_path / "old"
    shutil.copytree(smoke_run, run_dir)
    newest, older = checkpoint_paths(run_dir)
    newest.unlink()
    _as_format_1(older)
    refused = run_module("dqn_atari.train", *SMOKE, f"run_dir={run_dir}")
    assert refused.returncode == 2 and "allow_pickled_checkpoints=true" in refused.stderr
    assert checkpoint_paths(run_dir) == [older]  # not moved aside, not deleted
    trusted = run_module("dqn_atari.train", *SMOKE, f"run_dir={run_dir}",
                         "allow_pickled_checkpoints=true")
    assert trusted.returncode == 0, trusted.stderr[-2000:]
    resumed = load_checkpoint(checkpoint_paths(run_dir)[0])  # the new format: no trust needed
    straight = load_checkpoint(checkpoint_paths(smoke_run)[0])
    assert resumed["counters"]["agent_steps"] == straight["counters"]["agent_steps"] == 600
    for name, tensor in straight["agent"]["online"].items():
        assert torch.equal(resumed["agent"]["online"][name], tensor), name
    # the trust is not taken from the run's record: the next command has to say it again
    _as_format_1(checkpoint_paths(run_dir)[0])
    again = run_module("dqn_atari.train", *SMOKE, f"run_dir={run_dir}")
    assert again.returncode == 2 and "allow_pickled_checkpoints=true" in again.stderr


def test_a_received_config_is_read_as_data_on_resume_and_in_evaluate(smoke_run, tmp_path):
    """``experiment_note: ${oc.env:HOME}`` in a received run dir's config.yaml and checkpoint
    stays that text: no resolver runs on it (it came back as the resumer's home directory)."""
    import os

    run_dir = tmp_path / "received"
    shutil.copytree(smoke_run, run_dir)
    newest, older = checkpoint_paths(run_dir)
    newest.unlink()  # 200 agent steps left to train
    config = run_dir / "config.yaml"
    config.write_text(config.read_text().replace("experiment_note:",
                                                 "experiment_note: ${oc.env:HOME} #", 1))
    state = load_checkpoint(older)
    state["config"]["experiment_name"] = "${oc.env:HOME}"
    save_checkpoint(run_dir, state, state["counters"]["agent_steps"])
    home = "/home/the_person_who_resumes"
    env = {**os.environ, "HOME": home}
    resumed = run_module("dqn_atari.train", *SMOKE, f"run_dir={run_dir}", env=env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    written = config.read_text()
    assert "experiment_note: ${oc.env:HOME}" in written and home not in written
    evaluated = run_module("dqn_atari.evaluate", f"checkpoint={older}", "episodes=1", env=env)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    report = (run_dir / "eval_nature.json").read_text()
    assert home not in report and "${oc.env:HOME}" in report
