"""The ``gpu`` subcommand of ``python -m dqn_atari.bench``: its arguments, and which of the
two it runs: the speed figures (gpu.py) or, with ``--check``, the self-check (gpu_check.py).
"""

from __future__ import annotations

import sys
from typing import Any

from dqn_atari.bench.gpu import ALL_SETTINGS, NoCudaError, bench_gpu
from dqn_atari.bench.gpu_check import format_table, run_checks


def bench_gpu_cmd(args) -> dict[str, Any]:
    """The ``gpu`` subcommand: the speed figures, or with ``--check`` the checks
    (dqn_atari/bench/gpu_check.py), their table on stdout before the JSON."""
    if args.check:
        try:
            result = run_checks(args.device, with_speed=not args.no_speed,
                                speed_updates=args.updates,
                                progress=lambda msg: print(msg, file=sys.stderr, flush=True))
        except RuntimeError as e:
            raise SystemExit(f"error: {e}") from None
        print(format_table(result), flush=True)
        return result
    settings = tuple(x.strip() for x in args.learner.split(",") if x.strip())
    packed = tuple(int(x) for x in args.packed.split(",") if x.strip())
    try:
        return bench_gpu(args.device or "cuda", updates=args.updates, acts=args.acts,
                         settings=settings, packed=packed)
    except NoCudaError as e:
        raise SystemExit(f"error: {e}") from None

def add_gpu_subcommand(sub) -> None:
    gpu = sub.add_parser("gpu", help="update/act ms of every learner setting and packed seeds "
                                     "on a CUDA device (JSON); --check: the GPU self-check")
    gpu.add_argument("--device", default=None,
                     help="cuda | cuda:N | cpu (to check the command); default cuda, and with "
                          "--check cuda when there is one, else cpu")
    gpu.add_argument("--check", action="store_true",
                     help="run the checks of the CUDA paths (graphs vs eager, threaded learner "
                          "resumed, resume across devices and cuda_graph, cuda:1, packed, "
                          "tf32/bf16), then the speed table; GPU parts are skipped without "
                          "CUDA. Exit status 1 if a check failed")
    gpu.add_argument("--no-speed", action="store_true", help="with --check: no speed table")
    gpu.add_argument("--updates", type=int, default=100, help="timed updates per setting")
    gpu.add_argument("--acts", type=int, default=200, help="timed greedy acts per setting")
    gpu.add_argument("--learner", default=",".join(ALL_SETTINGS),
                     help="comma list of <mode>-<precision> settings (default: all nine)")
    gpu.add_argument("--packed", default="1,2,5", help="comma list of packed seed counts K")
    gpu.set_defaults(func=bench_gpu_cmd)
