"""Experience replay: one ring buffer of write heads over a frame store, sampled uniformly.

* ``batch.py``: ``ReplayBatch``, what ``sample`` returns;
* ``frame_store.py``: where frames live: a uint8 array, or lz4-compressed (``replay.compress``);
* ``write_head.py``: one actor's circular segment (``add`` / ``add_final``, windows, flags);
* ``uniform.py``: ``UniformReplay``, N write heads sampled as one uniform replay.

``make_replay(cfg, seed)`` is the one place a run's replay is chosen.
"""

from __future__ import annotations

from dqn_atari.replay.batch import ReplayBatch
from dqn_atari.replay.uniform import UniformReplay


def make_replay(cfg, seed: int) -> UniformReplay:
    """The run's replay: ``replay.capacity`` transitions over ``env.num_envs`` write heads,
    frames lz4-compressed when ``replay.compress``; sampled with ``seed``."""
    return UniformReplay(
        cfg.replay.capacity,
        num_heads=cfg.env.num_envs,
        frame_shape=(cfg.env.frame_size, cfg.env.frame_size),
        stack_frames=cfg.env.stack_frames,
        frame_store="lz4" if cfg.replay.compress else "array",
        seed=seed,
        check_memory=cfg.replay.check_memory,
    )


__all__ = ["ReplayBatch", "UniformReplay", "make_replay"]
