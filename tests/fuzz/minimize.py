"""Shrink a failing fuzz input while it keeps failing the same way.

    .venv/bin/python tests/fuzz/minimize.py TARGET INPUT OUTPUT

Needs no atheris (libFuzzer's -minimize_crash is unreliable with Python
targets). "The same way" means the same exception type raised from the
same source line, so the shrinking cannot drift to another bug. Greedy:
delete ever smaller chunks, then zero single bytes, until nothing changes.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for ``fuzz``

from fuzz import targets


def signature(target: str, data: bytes) -> tuple[str, str, int] | None:
    """(exception type, file, line) of the failure ``data`` causes, None if it passes."""
    try:
        with targets.bounded():
            targets.TARGETS[target](data)
    except Exception as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, targets.Hang) else exc
        last = traceback.extract_tb(cause.__traceback__)[-1]
        return type(cause).__name__, last.filename, last.lineno or 0
    return None


def minimize(target: str, data: bytes) -> bytes:
    wanted = signature(target, data)
    if wanted is None:
        raise SystemExit("the input does not fail")
    changed = True
    while changed:
        changed = False
        chunk = max(len(data) // 2, 1)
        while chunk >= 1:
            pos = 0
            while pos < len(data):
                trial = data[:pos] + data[pos + chunk:]
                if signature(target, trial) == wanted:
                    data, changed = trial, True
                else:
                    pos += chunk
            chunk //= 2
        for pos in range(len(data)):
            if data[pos]:
                trial = data[:pos] + b"\0" + data[pos + 1:]
                if signature(target, trial) == wanted:
                    data, changed = trial, True
    return data


def main() -> None:
    if len(sys.argv) != 4 or sys.argv[1] not in targets.TARGETS:
        sys.exit(f"usage: minimize.py {{{','.join(targets.TARGETS)}}} INPUT OUTPUT")
    data = Path(sys.argv[2]).read_bytes()
    small = minimize(sys.argv[1], data)
    Path(sys.argv[3]).write_bytes(small)
    print(f"{len(data)} -> {len(small)} bytes: {signature(sys.argv[1], small)}")


if __name__ == "__main__":
    main()
