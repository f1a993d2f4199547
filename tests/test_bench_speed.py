"""The env, learner and train benchmarks run and print their figures as JSON (tiny sizes)."""

from __future__ import annotations

import json

import torch
from conftest import run_module


def _last_json(result) -> dict:
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_env_benchmark_reports_every_pipeline():
    out = _last_json(run_module("dqn_atari.bench", "env", "--frames", "800", "--num-envs", "2",
                                timeout=600))
    for key in ("raw_ale_frames_per_s", "nature_frames_per_s", "vector_2_envs_one_thread_frames_per_s",
                "vector_2_envs_2_threads_frames_per_s", "ale_vector_env_2_envs_2_threads_frames_per_s",
                "env_s_per_agent_step", "load_average_1min_before", "load_average_1min_after"):
        assert out[key] > 0, key


def test_learner_benchmark_measures_each_setting_against_the_first():
    out = _last_json(run_module("dqn_atari.bench", "learner", "--threads", "1", "--updates", "2",
                                "--acts", "5", "--learner", "eager-fp32,eager-bf16,graph-fp32",
                                timeout=600))
    assert out["update_ms_threads_1"] > 0 and out["act_ms_threads_1"] > 0
    assert out["first_setting"] == "eager-fp32"
    assert out["eager-fp32/speedup_threads_1"] == 1.0
    ratio = out["eager-fp32/update_ms_threads_1"] / out["eager-bf16/update_ms_threads_1"]
    assert abs(out["eager-bf16/speedup_threads_1"] - ratio) < 1e-3
    assert out["skipped"] == {"graph-fp32": "CUDA only"}  # no GPU in CI


def test_learner_benchmark_times_dopamines_network():
    out = _last_json(run_module("dqn_atari.bench", "learner", "--threads", "1", "--updates", "1",
                                "--acts", "2", "--conv-padding", "same", "--init",
                                "glorot_uniform_zero_bias", "--num-actions", "18", timeout=600))
    assert out["num_parameters"] == 4_052_658  # SAME padding: 7,744 features, 18 actions
    assert (out["conv_padding"], out["init"]) == ("same", "glorot_uniform_zero_bias")
    assert out["update_ms_threads_1"] > 0


def test_learner_benchmark_names_a_bad_setting():
    result = run_module("dqn_atari.bench", "learner", "--learner", "fast-fp16", timeout=600)
    assert result.returncode != 0 and "eager-fp32, compile-bf16, graph-tf32" in result.stderr


def test_train_benchmark_keeps_the_replay_ratio():
    out = _last_json(run_module(
        "dqn_atari.bench", "train", "--agent-steps", "80", "--learning-starts", "40",
        "--capacity", "1000", "--variants", "1,3o", "--threads", "1", "--env-frames", "400",
        timeout=600))
    assert out["ceiling_agent_steps_per_s_threads_1_eager-fp32"] > 0
    assert [(v["num_envs"], v["overlap"]) for v in out["variants"]] == [(1, False), (3, True)]
    for v in out["variants"]:
        assert v["agent_steps"] == 80 and v["updates"] == 20 and v["agent_steps_per_s"] > 0
        assert v["learner"] == "eager-fp32" and v["speedup_over_first_setting"] == 1.0
    assert "learning_starts_agent_steps=40" in out["setting"]


def test_gpu_benchmark_runs_its_code_on_the_cpu_and_refuses_a_missing_gpu():
    """No GPU here: --device cpu runs the same measurements, CUDA-only settings are skipped."""
    out = _last_json(run_module("dqn_atari.bench", "gpu", "--device", "cpu", "--updates", "4",
                                "--acts", "3", "--learner", "eager-fp32,graph-bf16,eager-tf32",
                                "--packed", "2", timeout=600))
    assert out["measured_on_gpu"] is False
    assert out["learner"]["skipped"] == {"graph-bf16": "CUDA only", "eager-tf32": "CUDA only"}
    update_ms = [v for k, v in out["learner"].items() if k.startswith("eager-fp32/update_ms_")]
    assert len(update_ms) == 1 and update_ms[0] > 0
    assert out["packed_2_update_ms"] > 0
    assert abs(out["packed_2_update_ms_per_seed"] * 2 - out["packed_2_update_ms"]) < 1e-3
    if not torch.cuda.is_available():
        result = run_module("dqn_atari.bench", "gpu", timeout=600)
        assert result.returncode != 0 and "--device cpu" in result.stderr


def test_checkpoint_benchmark_writes_only_the_filled_slots_and_reads_them_back():
    result = run_module("dqn_atari.bench", "checkpoint", "--capacity", "4000", "--fill", "1000",
                        "--distinct-frames", "300", "--no-progress", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    plain, compressed = out["plain"], out["compressed"]
    # 1,000 of 4,000 slots: the plain replay holds 28 MB of frames; its checkpoint far less
    assert plain["checkpoint_bytes"] < plain["replay_bytes_in_memory"] / 4
    assert compressed["checkpoint_bytes"] > 0
    for store in (plain, compressed):
        assert store["write_s"] > 0 and store["read_and_restore_s"] > 0
        assert store["sweep_disk_gb"] == round(490 * store["checkpoint_bytes"] / 1e9, 1)
