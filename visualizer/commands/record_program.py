"""``visualizer record --server CMD --run CMD``: your programs with their socket calls."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys

from visualizer.core.errors import BadInput, CaptureFailed
from visualizer.core.program.record import record_program

_PROGRAM_OPTIONS = ("server", "run", "no_trace", "shell", "cwd", "filter")


def is_program(args: argparse.Namespace) -> bool:
    """True for ``record --server/--run``; a scenario refuses the program options."""
    used = [name for name in _PROGRAM_OPTIONS if getattr(args, name)]
    if args.scenario is None:
        if not used:
            raise BadInput("record: give a scenario (see 'visualizer scenarios') or your own "
                           "commands with --server and/or --run")
        return True
    if used:
        option = "--" + used[0].replace("_", "-")
        raise BadInput(f"record: {option} records your own commands: leave out the "
                       f"scenario {args.scenario!r}, or leave out {option}")
    return False


def _ended(side: str, code: int | None) -> str:
    """``"client exit code 0"``, ``"server stopped by SIGTERM"``."""
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"{side} stopped by {signal.Signals(-code).name}"
    return f"{side} exit code {code}"


def record_program_command(args: argparse.Namespace) -> int:
    if args.param or args.format != "pcapng":
        raise BadInput("record: --param and --format are for scenarios; a recording of "
                       "your commands is pcapng")
    try:
        result = record_program(args.server, args.run, args.output, bpf=args.filter,
                                timeout=args.timeout, trace=not args.no_trace,
                                use_shell=args.shell, cwd=args.cwd, interface=args.interface)
    except CaptureFailed as err:
        raise CaptureFailed(f"{err}: nothing was written, and any earlier {args.output} "
                            "is unchanged") from None
    codes = ", ".join(_ended(p["side"], p["exit_code"]) for p in result.info.programs)
    print(f"wrote {result.path}: {result.packets} packets, {len(result.calls)} socket calls "
          f"({codes})", file=sys.stderr)
    for problem in result.problems:
        print(f"visualizer: {problem}", file=sys.stderr)
    return 1 if result.problems else 0
