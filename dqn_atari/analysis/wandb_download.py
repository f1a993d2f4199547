"""Download runs from W&B into the tidy format of ``dqn_atari.analysis.tidy``.

For each selected run of ``<entity>/<project>`` this writes, in the output directory:

    <run_id>.csv           tidy table of the run's FULL history (``run.scan_history()``,
                           not the sampled ``run.history()``)
    <run_id>.config.json   the run's config
    manifest.json          what was downloaded: state, format and a fingerprint per run

``--format`` says whose runs they are (``wandb_formats.py``): ``ours`` (default) for runs of
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
``tests/test_wandb_api_loopback.py`` runs it with the real ``wandb.Api`` against a GraphQL
server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dqn_atari.analysis import tidy, wandb_formats

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


def build_filters(experiment: str | None = None, tags: Sequence[str] = (),
                  run_format: str = "ours") -> dict[str, Any]:
    """Server-side MongoDB-style filters for ``api.runs`` (``wandb_formats.server_filters``)."""
    return wandb_formats.server_filters(run_format, experiment, tags)


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
    if run_format not in wandb_formats.FORMATS:
        raise ValueError(f"unknown run format {run_format!r}: use one of "
                         f"{', '.join(wandb_formats.FORMATS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(out_dir)
    report = DownloadReport()
    wanted_games = {wandb_formats.canonical_game_name(g) for g in games}

    runs = api.runs(f"{entity}/{project}", filters=build_filters(experiment, tags, run_format),
                    per_page=per_page)
    for run in runs:  # the Runs object fetches further pages as it is iterated
        run_id = str(run.id)
        config = dict(run.config or {})
        try:
            who = wandb_formats.identity(run_format, config, getattr(run, "group", None))
        except wandb_formats.UnrecognizedRunError as why:
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

        rows = wandb_formats.history_rows(run_format, run.scan_history(page_size=page_size))
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


def main(argv: Sequence[str] | None = None, api_factory: Callable[..., Any] | None = None) -> int:
    """Command line of ``python -m dqn_atari.wandb_download`` and scripts/download_wandb.py."""
    import argparse

    parser = argparse.ArgumentParser(
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
    parser.add_argument("--format", dest="run_format", choices=wandb_formats.FORMATS,
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
