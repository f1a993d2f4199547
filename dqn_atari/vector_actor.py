"""Parallel actors for training (``env.num_envs = N``), and the actor side of overlap.

``VectorActor`` holds ``N`` single-game ``Actor``s, each on its own ``NatureAtariEnv``
(``make_env``) and writing its own stream of a ``MultiStreamReplay``. The training loop
(dqn_atari/train_loop.py) selects the ``N`` actions in one batch and then steps the actors
one after the other, counting one agent step per actor, so every per-step rule of the single
actor holds unchanged: the Nature preprocessing, life loss as a learning terminal, reward
clipping, ``add_final`` at the end of a game, and the exact ``get_state``/``set_state`` of
each game for resuming.

Why not ale-py's ``AtariVectorEnv`` (C++ threads): checked against ``NatureAtariEnv`` in
tests/test_vector.py. With ``stack_num=1, noop_max=0, reward_clipping=False,
episodic_life=False, life_loss_info=True, use_fire_reset=False,
repeat_action_probability=0`` its frames, raw rewards and life-loss terminals are equal to
ours step for step, but (ale-py 0.12.1):
  * the observation returned when a game ends inside an action repeat is not the last frame
    (the loop breaks before grabbing the screen): a truncated game's bootstrap frame differs;
  * no-ops are U{0..noop_max-1} (pass 31 for the paper's U{0..30}) and are not counted in
    the episode frame cap (ours: 108,000 frames including the no-ops);
  * the emulator state cannot be saved, so a preempted run could not resume its games
    exactly (this project's checkpoints restore every game in progress);
  * autoreset is a separate "reset" step after a game ends.
And ``ALEInterface.act`` holds the GIL (tests/test_vector.py::test_ale_act_holds_the_gil; bench
``env``: N envs in N Python threads step no faster than in one), so ``NatureAtariEnv``s are stepped in the loop's thread; the parallelism on a small CPU comes
from overlapping the env with the learner (``agent.overlap``) and from batched acting.

Overlap: with ``agent.overlap=true`` the learner updates the online network in a background
thread while the actors step, so acting uses ``policy``, a copy of the online network taken
before the update in flight (one update behind); it is part of the actor state, so a resumed
run acts exactly as the uninterrupted one.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from dqn_atari.actor import Actor


class VectorActor:
    """``N`` actors stepped by the training loop; ``policy`` is the acting network under overlap.

    Args:
      actors: one ``Actor`` per environment, each with its own replay stream.
      online: the agent's online network (the source of ``policy``).
      overlap: keep a lagged copy of ``online`` for acting (``agent.overlap``).
    """

    def __init__(self, actors: list[Actor], online: torch.nn.Module | None = None,
                 overlap: bool = False) -> None:
        if not actors:
            raise ValueError("VectorActor needs at least one actor")
        self.actors = actors
        self._online = online
        self.policy: torch.nn.Module | None = None
        if overlap:
            if online is None:
                raise ValueError("overlap needs the online network")
            self.policy = copy.deepcopy(online).requires_grad_(False)

    @property
    def num_envs(self) -> int:
        return len(self.actors)

    def states(self, k: int | None = None) -> np.ndarray:
        """The agent states of the first ``k`` actors (all by default): (k, stack, 84, 84) uint8."""
        return np.stack([a.state for a in self.actors[: self.num_envs if k is None else k]])

    def refresh_policy(self) -> None:
        """``policy`` <- the online network's current parameters (no update may be in flight)."""
        pairs = list(zip(self.policy.parameters(), self._online.parameters(), strict=True))
        pairs += list(zip(self.policy.buffers(), self._online.buffers(), strict=True))
        with torch.no_grad():
            for p, q in pairs:
                if p.device.type == "cpu" and q.device.type == "cpu":
                    # one memcpy in this thread (no OpenMP team competing with the learner's)
                    np.copyto(p.detach().numpy(), q.detach().numpy())
                else:
                    p.copy_(q)

    def get_state(self) -> dict[str, Any]:
        """Every game in progress and, under overlap, the acting network."""
        return {
            "num_envs": self.num_envs,
            "actors": [a.get_state() for a in self.actors],
            "policy": None if self.policy is None else {
                k: v.detach().clone() for k, v in self.policy.state_dict().items()
            },
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore ``get_state()``; a single ``Actor`` state is accepted when ``N == 1``."""
        if "actors" not in state:  # written by a run with num_envs=1 and overlap=false
            if self.num_envs != 1:
                raise ValueError(
                    f"the checkpoint holds one game in progress but env.num_envs="
                    f"{self.num_envs}: resume with env.num_envs=1 (the value the run was "
                    "started with)"
                )
            self.actors[0].set_state(state)
            policy = None
        else:
            if state["num_envs"] != self.num_envs:
                raise ValueError(
                    f"the checkpoint holds {state['num_envs']} games in progress but "
                    f"env.num_envs={self.num_envs}: resume with env.num_envs="
                    f"{state['num_envs']} (the value the run was started with)"
                )
            for actor, s in zip(self.actors, state["actors"], strict=True):
                actor.set_state(s)
            policy = state.get("policy")
        if self.policy is not None:
            if policy is not None:
                self.policy.load_state_dict(policy)
            else:  # the run had no overlap until now: act with the restored online network
                self.refresh_policy()


def make_vector_actor(cfg, seed: int, first_env, agent, make_replay):
    """The training actor and replay for ``env.num_envs > 1`` or ``agent.overlap=true``.

    Args:
      cfg: the run config.
      seed: the run seed; environment 0 is ``first_env`` (built with ``seed``, as the single
        actor's), environment ``i > 0`` is seeded with ``SeedSequence([seed, 4, i])``.
      first_env: the environment already built for actor 0.
      agent: the DQNAgent (its online network is copied for acting under overlap).
      make_replay: ``(cfg, seed) -> replay``, the single-actor replay factory (used for N=1).

    Returns:
      (VectorActor, replay): a ``MultiStreamReplay`` of ``replay.capacity`` slots in total for
      N > 1, the single-actor replay for N = 1.
    """
    from dqn_atari.envs import make_env
    from dqn_atari.replay_streams import MultiStreamReplay

    n = int(cfg.env.num_envs)
    if n < 1:
        raise ValueError(f"env.num_envs={n}: it must be at least 1")
    if n == 1:
        replay = make_replay(cfg, seed)
        streams = [replay]
    else:
        if cfg.replay.compress:
            from dqn_atari.replay_compressed import CompressedFrameReplay as stream_class
        else:
            from dqn_atari.replay import FrameReplay as stream_class
        replay = MultiStreamReplay(
            n, cfg.replay.capacity, frame_shape=(cfg.env.frame_size, cfg.env.frame_size),
            stack_frames=cfg.env.stack_frames, seed=seed,
            check_memory=cfg.replay.check_memory, stream_class=stream_class,
        )
        streams = replay.streams
    envs = [first_env] + [
        make_env(cfg.env, seed=int(np.random.SeedSequence([seed, 4, i]).generate_state(1)[0]),
                 mode="train")
        for i in range(1, n)
    ]
    actors = [
        Actor(env, stack_frames=cfg.env.stack_frames, frame_size=cfg.env.frame_size,
              terminal_on_life_loss=cfg.env.terminal_on_life_loss,
              clip_rewards=cfg.env.clip_rewards, replay=stream)
        for env, stream in zip(envs, streams, strict=True)
    ]
    return VectorActor(actors, agent.online, overlap=bool(cfg.agent.overlap)), replay
