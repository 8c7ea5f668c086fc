#!/usr/bin/env python3
"""Coverage-guided fuzzing of one target with atheris (libFuzzer for Python).

    .venv/bin/python tests/fuzz/run.py TARGET CORPUS_DIR [SEED_DIR...] [libFuzzer options]

TARGET is one of reader, decode, tracker, dissect (see targets.py). The
visualizer package is instrumented for coverage (interpreted: PV_INTERPRETED=1,
as atheris cannot see into the modules mypyc compiled); the checks are the same
ones the hypothesis properties and the regression replay use. Each input
runs under a CPU-time bound (targets.bounded), so a loop shows up as a
finding with the stack where it spun. See README.md for the full recipe.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for ``fuzz``
# atheris instruments Python bytecode: the tracker compiled by mypyc has none, so
# fuzz its source (visualizer/core/compiled.py).
os.environ["PV_INTERPRETED"] = "1"

with atheris.instrument_imports(include=["visualizer"]):
    from fuzz import targets


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] in targets.TARGETS:
        # libFuzzer re-runs this script for -minimize_crash and friends with
        # the options it knows only: the target travels in the environment.
        os.environ["FUZZ_TARGET"] = args.pop(0)
    name = os.environ.get("FUZZ_TARGET")
    if name not in targets.TARGETS:
        sys.exit(f"usage: run.py {{{','.join(targets.TARGETS)}}} [libFuzzer options]")
    check = targets.TARGETS[name]

    def one_input(data: bytes) -> None:
        with targets.bounded():
            check(data)

    atheris.Setup([sys.argv[0], *args], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
