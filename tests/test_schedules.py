"""Tests of dqn_atari/schedules.py."""

from __future__ import annotations

import pytest

from dqn_atari.schedules import Every, LinearSchedule


def test_nature_epsilon_schedule():
    epsilon = LinearSchedule(1.0, 0.1, duration_agent_steps=1_000_000)
    assert epsilon(0) == 1.0
    assert epsilon(250_000) == pytest.approx(0.775)  # 1 - 0.25 * 0.9
    assert epsilon(500_000) == pytest.approx(0.55)
    assert epsilon(1_000_000) == pytest.approx(0.1)
    assert epsilon(5_000_000) == pytest.approx(0.1)  # constant afterwards
    assert epsilon(-10) == 1.0


def test_zero_duration_is_the_end_value():
    assert LinearSchedule(1.0, 0.05, 0)(0) == 0.05


def test_every():
    every_4 = Every(4)
    assert [s for s in range(13) if every_4(s)] == [4, 8, 12]  # never at step 0
    assert not any(Every(0)(s) for s in range(10))  # period 0 disables
