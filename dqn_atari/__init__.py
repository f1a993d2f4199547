"""dqn-atari: a faithful, fast reproduction pipeline for Nature DQN (Mnih et al. 2015) on Atari."""

__version__ = "0.1.0"
