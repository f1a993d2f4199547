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


def dopamine_linearly_decaying_epsilon(decay_period, step, warmup_steps, epsilon):
    """Dopamine's dqn_agent.linearly_decaying_epsilon, written out from its definition."""
    steps_left = decay_period + warmup_steps - step
    bonus = (1.0 - epsilon) * steps_left / decay_period
    bonus = min(max(bonus, 0.0), 1.0 - epsilon)
    return epsilon + bonus


@pytest.mark.parametrize("agent_step", [0, 50_000, 550_000, 1_050_000, 3_000_000])
def test_epsilon_is_held_until_learning_starts_as_dopamine(agent_step):
    """Nature: 1.0 until 50k agent steps (learning starts), then 1.0 -> 0.1 over 1M."""
    ours = LinearSchedule(1.0, 0.1, duration_agent_steps=1_000_000, begin_agent_steps=50_000)
    reference = dopamine_linearly_decaying_epsilon(1_000_000, agent_step, 50_000, 0.1)
    assert ours(agent_step) == pytest.approx(reference, abs=1e-12)


def test_epsilon_values_at_the_nature_milestones():
    epsilon = LinearSchedule(1.0, 0.1, duration_agent_steps=1_000_000, begin_agent_steps=50_000)
    assert [epsilon(s) for s in (0, 50_000, 550_000, 1_050_000)] == pytest.approx(
        [1.0, 1.0, 0.55, 0.1])


def test_zero_duration_is_the_end_value():
    assert LinearSchedule(1.0, 0.05, 0)(0) == 0.05


def test_every():
    every_4 = Every(4)
    assert [s for s in range(13) if every_4(s)] == [4, 8, 12]  # never at step 0
    assert not any(Every(0)(s) for s in range(10))  # period 0 disables


def test_independent_target_is_first_copied_after_learning_starts_as_dopamine():
    """dqn.gin: target every 8,000 agent steps, copies once the replay holds > 20,000."""
    from dqn_atari.config import AgentConfig
    from dqn_atari.loop import TrainingSchedule

    dopamine = AgentConfig(target_update_period_agent_steps=8000,
                           learning_starts_agent_steps=20000, target_init="independent")
    schedule = TrainingSchedule.from_config(dopamine)
    copies = [t for t in range(1, 40_001) if schedule.target_copy_due(t)]
    assert copies == [24_000, 32_000, 40_000]
    nature = TrainingSchedule.from_config(AgentConfig(target_update_period_agent_steps=8000,
                                                      learning_starts_agent_steps=20000))
    assert [t for t in range(1, 40_001) if nature.target_copy_due(t)] == [
        8_000, 16_000, 24_000, 32_000, 40_000]  # as before: copies before learning change nothing
