"""``python -m dqn_atari.analysis COMMAND ...``: the one entry point of the analysis tools.

    report        runs against the paper: curves, final scores, aggregate HNS  (report.py)
    aggregates    aggregates over training, Agarwal et al. 2021               (report.py)
    side-by-side  our seeds next to Dopamine's, iteration by iteration        (report.py)
    download      W&B runs into tidy CSVs                                     (download.py)

``python -m dqn_atari.analysis COMMAND --help`` gives a command's options. The commands of
before stay as aliases, with the same arguments: ``python -m dqn_atari.plot`` (report, or
aggregates when its first argument is ``aggregates``), ``python -m dqn_atari.side_by_side``,
``python -m dqn_atari.wandb_download`` and ``scripts/download_wandb.py``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

PROG = "python -m dqn_atari.analysis"
# command -> (module, function): imported when used, so that `download` loads no matplotlib.
COMMANDS = {
    "report": ("dqn_atari.analysis.report", "report_command"),
    "aggregates": ("dqn_atari.analysis.report", "aggregates_command"),
    "side-by-side": ("dqn_atari.analysis.report", "side_by_side_command"),
    "download": ("dqn_atari.analysis.download", "main"),
}


def run(command: str, argv: Sequence[str], prog: str) -> int:
    """Run ``command`` on ``argv``, its usage and errors naming it ``prog``."""
    module, function = COMMANDS[command]
    return getattr(importlib.import_module(module), function)(list(argv), prog=prog)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        asked = argv[:1] in (["-h"], ["--help"])
        print(f"usage: {PROG} {{{','.join(COMMANDS)}}} ...\n\n{__doc__.split(chr(10), 2)[2]}",
              file=sys.stdout if asked else sys.stderr, end="")
        if argv and not asked:
            print(f"{PROG}: error: unknown command {argv[0]!r}", file=sys.stderr)
        return 0 if asked else 2
    return run(argv[0], argv[1:], f"{PROG} {argv[0]}")


def plot(argv: Sequence[str] | None = None) -> int:
    """``python -m dqn_atari.plot [aggregates] ...``: the report, or the aggregates."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["aggregates"]:
        return run("aggregates", argv[1:], "python -m dqn_atari.plot aggregates")
    return run("report", argv, "python -m dqn_atari.plot")


if __name__ == "__main__":
    raise SystemExit(main())
