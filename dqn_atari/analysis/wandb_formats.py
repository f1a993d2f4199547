"""How to read a W&B run of a given program: its identity and its history keys, in our terms.

The downloader (``wandb_download.py``) turns every run into the tidy table of ``tidy.py``.
A *format* says how a run of one program maps onto it:

``ours`` (the default)
    runs of ``dqn_atari.train``: experiment, game and seed from the config
    (``experiment_name``, ``env.game``, ``seed``), history keys as docs/CONTRACTS.md lists them.

``cleanrl``
    runs of CleanRL's Atari scripts (``dqn_atari.py``, ``dqn_atari_jax.py``, ...), for example
    the openrlbenchmark/cleanrl project. Read from vwxyzjn/cleanrl ``cleanrl/dqn_atari.py``
    (commit b5fb801e): the config is the script's argument dataclass (``exp_name``, ``seed``,
    ``env_id`` such as ``BreakoutNoFrameskip-v4``; older versions call it ``gym_id``); the
    history is TensorBoard scalars synced to W&B, each row carrying ``global_step``.

    * ``global_step`` counts AGENT STEPS: the script loops ``for global_step in
      range(args.total_timesteps)`` over ONE environment (``assert args.num_envs == 1``),
      and each step is ``MaxAndSkipEnv(env, skip=4)``, i.e. 4 frames of the
      ``NoFrameskip-v4`` game. So frames = 4 x global_step (its default 10M
      ``total_timesteps`` are 40M frames). CleanRL's vectorised scripts add ``num_envs``
      per step, which is still one agent step per environment: the same rule holds.
    * ``charts/episodic_return`` is the score of a whole game: ``RecordEpisodeStatistics``
      wraps the raw game, inside the life-loss and reward-clipping wrappers. It becomes a
      ``train`` row's ``raw_return`` (CleanRL plays no evaluation games during training).
    * ``charts/episodic_length`` is counted by that same inner wrapper, in FRAMES (the
      no-op starts included): ``length_frames``.
    * ``charts/epsilon`` (older versions) is the exploration epsilon: ``epsilon``.
    * ``eval/episodic_return`` (only with ``--save-model``) is written after training with
      the EPISODE INDEX as its step, so its ``global_step`` is not a training count: those
      rows become phase ``final_eval`` with no frames.
    * other keys (``losses/td_loss``, ``losses/q_values``, ``charts/SPS``, logged every 100
      steps) are kept under their own phase (``losses``, ``charts``), as ``tidy`` does.

    The experiment is ``cleanrl-<exp_name>`` so that the curves never mix with ours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dqn_atari import scores
from dqn_atari.analysis import tidy

FORMATS = ("ours", "cleanrl")

# CleanRL's Atari scripts repeat each action on 4 frames (MaxAndSkipEnv(skip=4)): see above.
CLEANRL_FRAMES_PER_AGENT_STEP = 4
CLEANRL_EXPERIMENT_PREFIX = "cleanrl-"
CLEANRL_KEYS: dict[str, str] = {  # CleanRL history key -> our history key (docs/CONTRACTS.md)
    "charts/episodic_return": "train/raw_return",
    "charts/episodic_length": "train/length_frames",
    "charts/epsilon": "train/epsilon",
    "eval/episodic_return": "final_eval/raw_return",
}
_CLEANRL_STEP_KEY = "global_step"
_CLEANRL_ENV_KEYS = ("env_id", "gym_id")


class UnrecognizedRunError(ValueError):
    """A run that the chosen format cannot read; the message says why and what to try."""


@dataclass(frozen=True)
class Identity:
    experiment: str
    game: str
    seed: int


def config_value(config: Mapping[str, Any], key: str) -> Any:
    """A top-level config entry; W&B exports may wrap it as ``{"value": v, "desc": ...}``."""
    value = config.get(key)
    if isinstance(value, Mapping) and "value" in value and set(value) <= {"value", "desc"}:
        return value["value"]
    return value


def cleanrl_env_id(config: Mapping[str, Any]) -> Any:
    """CleanRL's environment id: ``env_id``, or ``gym_id`` in its older scripts."""
    return next((config_value(config, k) for k in _CLEANRL_ENV_KEYS
                 if config_value(config, k) is not None), None)


def looks_like_cleanrl(config: Mapping[str, Any]) -> bool:
    """True when the config has CleanRL's ``exp_name`` and ``env_id``/``gym_id``."""
    return config_value(config, "exp_name") is not None and cleanrl_env_id(config) is not None


def canonical_game_name(name: str) -> str:
    """``BreakoutNoFrameskip-v4``, ``ALE/Breakout-v5``, ``Breakout`` -> ``breakout`` (ROM id)."""
    if scores.is_known_game(name):
        return scores.canonical_game(name)
    base = re.sub(r"(NoFrameskip)?-v\d+$", "", re.sub(r"^ALE/", "", name.strip()))
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", base).lower()  # outside the 57: as spelled


def identity(run_format: str, config: Mapping[str, Any], group: str | None) -> Identity:
    """(experiment, game, seed) of a run, or ``UnrecognizedRunError`` saying what is missing."""
    if run_format == "ours":
        try:
            experiment, game, seed = tidy.run_identity(config, (group, None, None))
        except ValueError:
            hint = (" It looks like a CleanRL run (exp_name, env_id): pass --format cleanrl."
                    if looks_like_cleanrl(config) else "")
            raise UnrecognizedRunError(
                "its config has no experiment_name/env.game/seed, so it is not a run of "
                f"dqn_atari.train.{hint}") from None
        return Identity(experiment, game, seed)
    if run_format == "cleanrl":
        exp_name, seed = config_value(config, "exp_name"), config_value(config, "seed")
        env_id = cleanrl_env_id(config)
        if exp_name is None or env_id is None or seed is None:
            hint = (" It looks like a run of dqn_atari.train: use --format ours."
                    if config_value(config, "experiment_name") is not None else "")
            raise UnrecognizedRunError(
                "its config lacks CleanRL's exp_name, env_id (or gym_id) or seed, so it is "
                f"not a CleanRL run.{hint}")
        return Identity(f"{CLEANRL_EXPERIMENT_PREFIX}{exp_name}", canonical_game_name(str(env_id)),
                        int(seed))
    raise ValueError(f"unknown run format {run_format!r}: use one of {', '.join(FORMATS)}")


def cleanrl_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """One CleanRL history row in our key names, ``frames``/``agent_steps`` from global_step."""
    out: dict[str, Any] = {}
    step = row.get(_CLEANRL_STEP_KEY)
    is_final_eval = "eval/episodic_return" in row  # its step is an episode index
    if step is not None and not is_final_eval:
        out["agent_steps"] = int(step)
        out["frames"] = int(step) * CLEANRL_FRAMES_PER_AGENT_STEP
    for key, value in row.items():
        if key == _CLEANRL_STEP_KEY:
            continue
        out[CLEANRL_KEYS.get(key, key)] = value
    return out


def history_rows(run_format: str, rows: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """The run's history rows with our key names, ready for ``tidy.tidy_from_history``."""
    if run_format == "ours":
        yield from rows
    elif run_format == "cleanrl":
        yield from (cleanrl_row(row) for row in rows)
    else:
        raise ValueError(f"unknown run format {run_format!r}: use one of {', '.join(FORMATS)}")


def server_filters(run_format: str, experiment: str | None, tags: Iterable[str]) -> dict:
    """W&B's MongoDB-style run filters for ``api.runs``: experiment and tags, on the server.

    ``ours``: the experiment is the W&B group (docs/CONTRACTS.md). ``cleanrl``: the
    experiment is ``exp_name`` in the config (with or without the ``cleanrl-`` prefix),
    filtered as openrlbenchmark does (``config.exp_name.value``).
    """
    clauses: list[dict[str, Any]] = []
    if experiment:
        if run_format == "cleanrl":
            clauses.append({"config.exp_name.value":
                            experiment.removeprefix(CLEANRL_EXPERIMENT_PREFIX)})
        else:
            clauses.append({"group": experiment})
    clauses.extend({"tags": {"$in": [tag]}} for tag in tags)
    if not clauses:
        return {}
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}
