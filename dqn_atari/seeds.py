"""Every random stream of a run, derived from the run seed in one place.

A run seed ``s`` feeds: the network initialisation (``DQNAgent(seed=s)``), the replay's
sampler (``s``), the emulator and no-op starts of training actor 0 (``s``), and the named
streams below. The numbers are the keys the streams have always used: changing one changes
every run's trajectory, so they are fixed here and nowhere else.
"""

from __future__ import annotations

import numpy as np

TRAINING_ACTIONS = 1  # the training actors' epsilon-greedy draws
EVAL_PHASE_ENV = 2  # the environment of iteration i's evaluation phase
EVAL_PHASE_ACTIONS = 3  # the epsilon-greedy draws of iteration i's evaluation phase
TRAIN_ENV = 4  # training actor i > 0's environment (env.num_envs > 1)
EVALUATE_ACTIONS = 4  # `evaluate`'s epsilon-greedy draws (keyed by the evaluation seed)
EVALUATE_SEED_OFFSET = 10_000  # `evaluate`'s default evaluation seed: run seed + this


def derived_seed(seed: int, *keys: int) -> int:
    """A 32-bit seed for the stream ``keys`` of ``seed``."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0])


def training_action_rng(seed: int) -> np.random.Generator:
    """The generator of the training actors' epsilon-greedy choices."""
    return np.random.default_rng([seed, TRAINING_ACTIONS])


def train_env_seed(seed: int, actor: int) -> int:
    """The environment seed of training actor ``actor`` (actor 0 keeps the run seed)."""
    return seed if actor == 0 else derived_seed(seed, TRAIN_ENV, actor)


def eval_phase_env_seed(seed: int, iteration: int) -> int:
    """The environment seed of iteration ``iteration``'s evaluation phase."""
    return derived_seed(seed, EVAL_PHASE_ENV, iteration)


def eval_phase_action_rng(seed: int, iteration: int) -> np.random.Generator:
    """The epsilon-greedy generator of iteration ``iteration``'s evaluation phase."""
    return np.random.default_rng([seed, EVAL_PHASE_ACTIONS, iteration])


def evaluate_action_rng(eval_seed: int) -> np.random.Generator:
    """The epsilon-greedy generator of ``evaluate`` with evaluation seed ``eval_seed``."""
    return np.random.default_rng([eval_seed, EVALUATE_ACTIONS])
