"""``python -m dqn_atari.bench gpu --check`` on this CPU: the command a user runs first on a
GPU node must run here too, skip each GPU part naming why, and pass the parts a CPU runs."""

from __future__ import annotations

import json
import re

import pytest
import torch
from conftest import run_module

from dqn_atari.bench.gpu_check import Row, format_table

CPU_PARTS = {  # (check, part) that run on a CPU
    ("graph_equals_eager", "cpu stand-in graph"),
    ("threaded_graph_resume", "cpu stand-in graph"),
    ("resume_across", "cpu eager -> cpu stand-in graph"),
    ("resume_across", "cpu stand-in graph -> cpu eager"),
    ("second_gpu", "cpu: device index parsing"),
    ("packed_equals_single", "cpu"),
    ("precision", "cpu bf16"),
}
GPU_PARTS = {
    ("graph_equals_eager", "cuda"),
    ("threaded_graph_resume", "cuda"),
    ("resume_across", "cuda eager <-> cuda graph"),
    ("resume_across", "cpu <-> cuda"),
    ("second_gpu", "cuda:1"),
    ("precision", "cpu tf32"),
}


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU's report (no CUDA)")
def test_gpu_check_runs_on_the_cpu_and_skips_the_gpu_parts_naming_why():
    proc = run_module("dqn_atari.bench", "gpu", "--check", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    rows = {(r["check"], r["part"]): r for r in result["check"]}
    for key in CPU_PARTS:
        assert rows[key]["status"] == "passed", rows[key]
    for key in GPU_PARTS:
        assert rows[key]["status"] == "skipped", rows[key]
        assert rows[key]["note"].startswith("no CUDA device"), rows[key]
    speed = [r for r in result["check"] if r["check"] == "speed"]
    assert len(speed) == 1 and speed[0]["status"] == "passed"
    assert speed[0]["figures"]["eager-fp32 update_ms"] > 0
    assert result["failed"] == result["error"] == 0 and result["exit_status"] == 0
    assert result["skipped"] == len(GPU_PARTS)
    # The stand-in parts did what their names say: bit-identical, graphs recorded once per
    # start, no loop-thread call inside a capture.
    graph = rows[("graph_equals_eager", "cpu stand-in graph")]["figures"]
    assert graph["max_abs_param_diff"] == 0 and graph["stand_in_captures"] == 2
    threaded = rows[("threaded_graph_resume", "cpu stand-in graph")]["figures"]
    assert threaded["graphs_recorded_straight_resumed"] == [2, 4]
    assert threaded["loop_calls_during_captures"] == 0
    # ... and the watch saw the loop thread at all: no acts recorded would make 0 above empty.
    assert threaded["acts"] == 2 * threaded["updates"]
    # The readable table precedes the JSON: one line per row, then the counts.
    table = "\n".join(lines[:-1])
    assert re.search(r"graph_equals_eager +cuda +skipped +no CUDA device", table)
    assert f"{result['passed']} passed, 0 failed, {len(GPU_PARTS)} skipped, 0 errors" in table


def test_a_failed_part_fails_the_command_and_says_what_failed(capsys, monkeypatch):
    """The exit status and the table of a failing check (a row made to fail here)."""
    from dqn_atari.bench import cli, gpu_check

    failing = Row("graph_equals_eager", "cpu stand-in graph", "failed",
                  {"max_abs_param_diff": 0.5}, "graphs differ from eager past the bound")

    def run_checks(device, **_):
        rows = [failing, Row("second_gpu", "cuda:1", "skipped", note="no CUDA device")]
        return {"check": [vars(r) for r in rows], "passed": 0, "failed": 1, "skipped": 1,
                "error": 0, "device": "cpu", "torch": torch.__version__, "seconds": 0.0,
                "exit_status": 1}

    monkeypatch.setattr(gpu_check, "run_checks", run_checks)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["gpu", "--check", "--no-speed"])
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert re.search(r"failed +graphs differ from eager past the bound; max_abs_param_diff=0.5",
                     out)
    assert "0 passed, 1 failed, 1 skipped, 0 errors" in out


def test_an_erroring_part_is_reported_and_the_others_still_run():
    from dqn_atari.bench.gpu_check import _guarded

    def broken():
        raise RuntimeError("operation not permitted when stream is capturing")

    rows = _guarded("threaded_graph_resume", "cuda", broken)
    assert [(r.status, r.note) for r in rows] == [
        ("error", "RuntimeError: operation not permitted when stream is capturing")]
    table = format_table({"check": [vars(r) for r in rows], "passed": 0, "failed": 0,
                          "skipped": 0, "error": 1, "seconds": 0.0, "device": "cuda",
                          "torch": "x"})
    assert re.search(r"cuda +error +RuntimeError: operation not permitted", table)
