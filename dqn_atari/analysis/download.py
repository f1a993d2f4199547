"""Download runs from W&B into the tidy format of ``dqn_atari.analysis.tidy``.

    python -m dqn_atari.analysis download --entity E --project P --out DIR \
        [--experiment NAME] [--game G ...] [--tag T ...] [--format ours|cleanrl]
    (aliases: python -m dqn_atari.wandb_download, scripts/download_wandb.py)

For each selected run of ``<entity>/<project>`` this writes, in the output directory:

    <run_id>.csv           tidy table of the run's FULL history (``run.scan_history()``,
                           not the sampled ``run.history()``)
    <run_id>.config.json   the run's config
    manifest.json          what was downloaded: state, format and a fingerprint per run

``--format`` says whose runs they are (below, "Formats"): ``ours`` (default) for runs of
``dqn_atari.train``, ``cleanrl`` for CleanRL's Atari scripts (e.g. the openrlbenchmark/cleanrl
project), whose ``global_step`` (agent steps) becomes frames = 4 x global_step so that their
curves line up with ours. A run the format cannot read is reported as unrecognized, with
the reason, and skipped.

Runs are listed with ``api.runs(path, filters=..., per_page=...)``, which pages through the
project. Selection: ``experiment`` and ``tags`` are filtered on the server (the experiment is
the W&B group of our runs, ``config.exp_name`` of CleanRL's); ``games`` is checked on the
client against the game the format reads from the config.

Incremental: a run is skipped when the manifest says it was downloaded in state
``finished`` with the same fingerprint (state, heartbeat/update time, history length,
summary ``_step``/``_runtime``) and format, and its files are still there. Anything else
(running, crashed, resumed, changed) is downloaded again.

A resumed run keeps every history row the server holds. Its training counts go back to
the checkpoint it resumed from (rows logged after that checkpoint by the dead process
stay in W&B, while the run directory's CSV drops them); the log and the manifest
(``frames_went_back``) say how many times that happens in a run.

The W&B API key is read from ``WANDB_API_KEY`` (or wandb's own login) and the server from
``WANDB_BASE_URL`` (default: W&B's cloud). The logic takes the Api object as an argument;
``tests/test_analysis_download_loopback.py`` runs it with the real ``wandb.Api`` against a GraphQL
server on 127.0.0.1.

Formats: how to read a W&B run of a given program, its identity and its history keys, in
our terms. The downloader turns every run into the tidy table of ``tidy.py``; a *format*
says how a run of one program maps onto it:

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

import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dqn_atari import scores
from dqn_atari.analysis import tidy

# ---------------------------------------------------------------------------------------
# Formats: whose runs, read how
# ---------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------
# The download
# ---------------------------------------------------------------------------------------

NOT_LOGGED_IN = "not logged in to W&B: set WANDB_API_KEY or run `wandb login`"
MANIFEST = "manifest.json"
EXIT_NOT_LOGGED_IN = 2


class NotLoggedInError(RuntimeError):
    """No usable W&B credentials."""


@dataclass
class DownloadReport:
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # unchanged since the last download
    filtered_out: list[str] = field(default_factory=list)  # not one of the requested games
    unrecognized: list[str] = field(default_factory=list)  # the format cannot read the run


def connect(api_factory: Callable[..., Any] | None = None) -> Any:
    """A logged-in ``wandb.Api``; raises NotLoggedInError when there are no credentials.

    ``api_factory`` defaults to ``wandb.Api``; it is called with ``api_key=`` when
    WANDB_API_KEY is set. ``api.viewer`` is read to check that the key works.
    """
    if api_factory is None:
        import wandb

        api_factory = wandb.Api
    key = os.environ.get("WANDB_API_KEY")
    try:
        api = api_factory(api_key=key) if key else api_factory()
        viewer = api.viewer
    except Exception as exc:  # wandb raises UsageError, ValueError or network errors here
        raise NotLoggedInError(f"{NOT_LOGGED_IN} ({type(exc).__name__}: {exc})") from exc
    if viewer is None:
        raise NotLoggedInError(NOT_LOGGED_IN)
    return api


def safe_name(run_id: str) -> str:
    """A file-name-safe form of a run id."""
    return re.sub(r"[^A-Za-z0-9_.=-]", "_", run_id)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)


def fingerprint(run: Any) -> dict[str, Any]:
    """What changes when a run changes: state, update/heartbeat time, history length, summary."""
    summary = getattr(run, "summary_metrics", None)
    if summary is None:
        summary = dict(getattr(run, "summary", {}) or {})
    fp = {
        "state": getattr(run, "state", None),
        "updated_at": getattr(run, "updated_at", None),
        "heartbeat_at": getattr(run, "heartbeat_at", None),
        "history_line_count": getattr(run, "history_line_count", None),
        "summary_step": summary.get("_step"),
        "summary_runtime": summary.get("_runtime"),
    }
    return {k: _jsonable(v) for k, v in fp.items()}


def load_manifest(out_dir: Path) -> dict[str, Any]:
    path = out_dir / MANIFEST
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True, default=str), encoding="utf-8")
    tmp.replace(path)


def frames_went_back(table) -> int:
    """How often ``frames`` decreases from one history row to the next (a run resumed)."""
    frames = table["frames"].dropna().astype("int64").to_numpy() if "frames" in table else []
    return int((frames[1:] < frames[:-1]).sum()) if len(frames) > 1 else 0


def download_runs(
    api: Any,
    entity: str,
    project: str,
    out_dir: str | Path,
    experiment: str | None = None,
    games: Sequence[str] = (),
    tags: Sequence[str] = (),
    per_page: int = 50,
    page_size: int = 1000,
    run_format: str = "ours",
    log: Callable[[str], None] = print,
) -> DownloadReport:
    """Download the selected runs of ``entity/project`` into ``out_dir`` (see module doc)."""
    if run_format not in FORMATS:
        raise ValueError(f"unknown run format {run_format!r}: use one of "
                         f"{', '.join(FORMATS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(out_dir)
    report = DownloadReport()
    wanted_games = {canonical_game_name(g) for g in games}

    runs = api.runs(f"{entity}/{project}", filters=server_filters(run_format, experiment, tags),
                    per_page=per_page)
    for run in runs:  # the Runs object fetches further pages as it is iterated
        run_id = str(run.id)
        config = dict(run.config or {})
        try:
            who = identity(run_format, config, getattr(run, "group", None))
        except UnrecognizedRunError as why:
            report.unrecognized.append(run_id)
            log(f"skip {run_id} (unrecognized with --format {run_format}): {why}")
            continue
        if wanted_games and who.game not in wanted_games:
            report.filtered_out.append(run_id)
            continue
        name = safe_name(run_id)
        csv_path, config_path = out_dir / f"{name}.csv", out_dir / f"{name}.config.json"
        fp = fingerprint(run)
        previous = manifest.get(run_id)
        if (previous is not None and previous.get("fingerprint") == fp
                and previous.get("format", "ours") == run_format
                and fp["state"] == "finished" and csv_path.is_file() and config_path.is_file()):
            report.skipped.append(run_id)
            log(f"skip {run_id} (finished, unchanged)")
            continue

        rows = history_rows(run_format, run.scan_history(page_size=page_size))
        table = tidy.tidy_from_history(rows, run_id, who.experiment, who.game, who.seed)
        tidy.write_tidy_csv(table, csv_path)
        _write_json(config_path, config)
        files = [csv_path.name, config_path.name]
        # The end-of-run Nature evaluation (final_eval.py) is in the run's summary only.
        summary = getattr(run, "summary_metrics", None)
        eval_nature = tidy.eval_nature_from_wandb_summary(
            summary if summary is not None else dict(getattr(run, "summary", {}) or {}))
        eval_path = out_dir / f"{name}.eval_nature.json"
        if eval_nature is not None:
            _write_json(eval_path, eval_nature)
            files.append(eval_path.name)
        elif eval_path.is_file():
            eval_path.unlink()  # a stale one from an earlier download of another run state
        went_back = frames_went_back(table)
        manifest[run_id] = {
            "fingerprint": fp,
            "format": run_format,
            "files": files,
            "rows": len(table),
            "frames_went_back": went_back,
            "experiment": who.experiment,
            "game": who.game,
            "seed": who.seed,
            "name": _jsonable(getattr(run, "name", None)),
            "group": _jsonable(getattr(run, "group", None)),
            "tags": list(getattr(run, "tags", None) or []),
            "path": f"{entity}/{project}/{run_id}",
        }
        _write_json(out_dir / MANIFEST, manifest)  # after each run: safe to interrupt
        report.downloaded.append(run_id)
        resumed = (f"; its frames go back {went_back} time(s): resumed, rows logged after "
                   "the checkpoint it resumed from are kept" if went_back else "")
        log(f"downloaded {run_id}: {len(table)} rows ({fp['state']}){resumed}")
    return report


def main(argv: Sequence[str] | None = None, api_factory: Callable[..., Any] | None = None,
         prog: str | None = None) -> int:
    """``python -m dqn_atari.analysis download`` (and ``python -m dqn_atari.wandb_download``,
    scripts/download_wandb.py); ``api_factory`` as ``connect``'s."""
    import argparse

    parser = argparse.ArgumentParser(
        prog=prog,
        description="Download W&B runs (full history) into tidy CSVs, incrementally.")
    parser.add_argument("--entity", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--experiment", "--group", dest="experiment", default=None,
                        help="experiment name (= W&B group; CleanRL: exp_name)")
    parser.add_argument("--game", nargs="+", action="extend", default=[],
                        help="snake_case game(s), e.g. breakout pong")
    parser.add_argument("--tag", nargs="+", action="extend", default=[],
                        help="tag(s) a run must all have")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--format", dest="run_format", choices=FORMATS,
                        default="ours",
                        help="whose runs: ours (dqn_atari.train, default) or cleanrl "
                             "(CleanRL's Atari scripts; global_step x 4 = frames)")
    parser.add_argument("--per-page", type=int, default=50, help="runs per API page")
    args = parser.parse_args(argv)

    try:
        api = connect(api_factory)
    except NotLoggedInError as exc:
        print(exc, file=sys.stderr)
        return EXIT_NOT_LOGGED_IN
    report = download_runs(api, args.entity, args.project, args.out, experiment=args.experiment,
                           games=args.game, tags=args.tag, per_page=args.per_page,
                           run_format=args.run_format)
    unrecognized = (f", {len(report.unrecognized)} unrecognized with --format {args.run_format}"
                    " (reasons above)" if report.unrecognized else "")
    print(f"{len(report.downloaded)} downloaded, {len(report.skipped)} unchanged, "
          f"{len(report.filtered_out)} of other games{unrecognized} -> {args.out}")
    return 0
