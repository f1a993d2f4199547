"""dqn_atari.analysis.download: the downloader's pure parts, and the one case the real client
cannot be put in here.

Downloads themselves are tested with the real ``wandb.Api`` against a loopback server in
``tests/test_analysis_download_loopback.py`` (paging, long histories, resumed runs, retries,
filters, incremental downloads, CleanRL runs, a rejected key, the report on the result).
"""

from __future__ import annotations

import pandas as pd
import pytest

from dqn_atari.analysis import download


def test_no_credentials_says_not_logged_in_and_exits_2(tmp_path, monkeypatch, capsys):
    """A STAND-IN for ``wandb.Api``: without a key, the real one looks for wandb's login in
    ~/.netrc and the user's settings, and may prompt for a key; a test must not read or
    write the credentials of whoever runs it. The stand-in raises what wandb 0.31 raises
    then (``UsageError: No authentication configured...``); the rejected-key case is
    tested with the real client (test_analysis_download_loopback.py)."""
    monkeypatch.delenv("WANDB_API_KEY", raising=False)

    def no_credentials(**kwargs):
        raise RuntimeError("No authentication configured. Use `wandb login` to log in.")

    argv = ["--entity", "me", "--project", "p", "--out", str(tmp_path / "dl")]
    assert download.main(argv, api_factory=no_credentials) == 2
    err = capsys.readouterr().err
    assert "not logged in to W&B: set WANDB_API_KEY or run `wandb login`" in err
    assert not (tmp_path / "dl").exists()


def test_cleanrl_rows_in_our_keys_with_frames_worked_by_hand():
    row = {"_step": 7, "_runtime": 30.5, "global_step": 12_345,
           "charts/episodic_return": 21.0, "charts/episodic_length": 9_001,
           "charts/epsilon": 0.5, "losses/td_loss": 0.25}
    # 12,345 agent steps x 4 frames (MaxAndSkipEnv(skip=4)) = 49,380 frames
    assert download.cleanrl_row(row) == {
        "agent_steps": 12_345, "frames": 49_380, "_step": 7, "_runtime": 30.5,
        "train/raw_return": 21.0, "train/length_frames": 9_001, "train/epsilon": 0.5,
        "losses/td_loss": 0.25}
    # The final evaluation is written with the episode index as its step: no frames.
    assert download.cleanrl_row({"_step": 9, "global_step": 3, "eval/episodic_return": 4.0}) == {
        "_step": 9, "final_eval/raw_return": 4.0}


@pytest.mark.parametrize(("spelling", "game"), [
    ("BreakoutNoFrameskip-v4", "breakout"), ("ALE/MsPacman-v5", "ms_pacman"),
    ("Pong", "pong"), ("up_n_down", "up_n_down"), ("KungFuMasterNoFrameskip-v4", "kung_fu_master"),
    ("PooyanNoFrameskip-v4", "pooyan"),  # not one of the 57: kept as spelled, in snake_case
])
def test_game_names_from_env_ids(spelling, game):
    assert download.canonical_game_name(spelling) == game


def test_server_filters_per_format():
    assert download.server_filters("ours", None, []) == {}
    assert download.server_filters("ours", "fast", []) == {"group": "fast"}
    assert download.server_filters("ours", "fast", ["a", "b"]) == {"$and": [
        {"group": "fast"}, {"tags": {"$in": ["a"]}}, {"tags": {"$in": ["b"]}}]}
    assert download.server_filters("cleanrl", "dqn_atari", []) == {
        "config.exp_name.value": "dqn_atari"}
    assert download.server_filters("cleanrl", "cleanrl-dqn_atari", ["v1"]) == {"$and": [
        {"config.exp_name.value": "dqn_atari"}, {"tags": {"$in": ["v1"]}}]}


def test_an_unknown_format_is_refused_naming_the_choices(tmp_path):
    with pytest.raises(ValueError, match="unknown run format 'sb3': use one of ours, cleanrl"):
        download.download_runs(None, "me", "p", tmp_path, run_format="sb3")


def test_frames_going_back_are_counted():
    # 0, 10, 20 | 15 (back once), 25 | 5 (back twice); missing frames are skipped
    table = pd.DataFrame({"frames": [0, 10, None, 20, 15, 25, 5]})
    assert download.frames_went_back(table) == 2
    assert download.frames_went_back(pd.DataFrame({"frames": [0, 0, 4]})) == 0  # equal is not back
