"""The analysis modules compiled with mypyc, and whether the compiled ones run.

setup.py compiles :data:`MODULES`, the same ``.py`` files, with mypyc when
mypyc, a C compiler and Python's headers are there (``PV_COMPILE=0``: never),
as black ships its own code compiled; the interpreted modules are the fallback.
It writes :data:`RECORD` beside this file: each compiled module's source hash
at build time.

An extension module beside its ``.py`` wins at import, so after an edit to
``connection.py`` the old compiled rules would silently run. :func:`install`
(``visualizer/__init__.py`` calls it, before anything imports these modules)
therefore uses the compiled modules only when every one's source still has the
recorded hash. Otherwise, or with ``PV_INTERPRETED=1``, a finder in front of
``sys.meta_path`` loads all of them from their ``.py``; a stale build says so
once on a terminal's stderr, with the command that rebuilds it. All or none: the
compiled modules call each other in C, so a compiled ``streams`` would run the
compiled ``TcpConnection`` even if ``connection`` were loaded from its source.

This module imports nothing of the package: setup.py loads it by its path.
``python visualizer/core/compiled.py --sources`` prints the compiled sources
(.ci/setup hashes them to know when to rebuild).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

#: The modules compiled, in the order data flows through them. Each gains
#: (docs/architecture.md, "Compiled analysis", has the measurements).
MODULES = (
    "visualizer.core.pcap.walk",       # where each pcap record begins: one loop over records
    "visualizer.core.flows.segments",
    "visualizer.core.tcp.options",     # every SYN's options: their timestamps defeat the cache
    "visualizer.core.tcp.connection",
    "visualizer.core.tcp.streams",
    "visualizer.core.flows.feeding",
    "visualizer.commands.tcp_lines",   # analyze --json's TCP lines: output is part of the work
)
#: mypyc's shared library for the group: ``visualizer/core/analysis_compiled__mypyc*.so``.
GROUP = "visualizer.core.analysis_compiled"
RECORD = "compiled.json"
INTERPRETED_ENV = "PV_INTERPRETED"
REBUILD = "pip install -e . (or bash .ci/setup)"

_ROOT = Path(__file__).resolve().parent.parent.parent   # the folder holding visualizer/


def source_path(module: str, root: Path = _ROOT) -> Path:
    """The ``.py`` file of ``module`` under ``root`` (the folder holding the package)."""
    return root.joinpath(*module.split(".")).with_suffix(".py")


def source_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_record(root: Path) -> Path:
    """setup.py: record the hash of each module's source as it is compiled."""
    record = root / "visualizer" / "core" / RECORD
    record.write_text(json.dumps(
        {m: source_hash(source_path(m, root)) for m in MODULES}, indent=1) + "\n")
    return record


def _extension(module: str) -> Path | None:
    py = source_path(module)
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = py.with_suffix(suffix)
        if candidate.exists():
            return candidate
    return None


def _decide() -> tuple[bool, str]:
    """(use the compiled modules?, why)."""
    built = [m for m in MODULES if _extension(m) is not None]
    if not built:
        return False, "not compiled (installed without mypyc or a C compiler, or PV_COMPILE=0)"
    if os.environ.get(INTERPRETED_ENV, "") not in ("", "0"):
        return False, f"{INTERPRETED_ENV}={os.environ[INTERPRETED_ENV]}"
    try:
        recorded = json.loads((Path(__file__).resolve().parent / RECORD).read_text())
    except (OSError, ValueError):
        return False, f"stale: compiled modules without their build record ({RECORD})"
    missing = [m for m in MODULES if m not in built]
    if missing:
        return False, f"stale: {', '.join(missing)} not compiled"
    changed = [m for m in MODULES
               if not source_path(m).exists() or recorded.get(m) != source_hash(source_path(m))]
    if changed:
        return False, (f"stale: {', '.join(source_path(m).name for m in changed)} changed "
                       "since it was compiled")
    return True, "compiled"


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Loads :data:`MODULES` from their ``.py`` although an extension lies beside them."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MODULES:
            return None
        return importlib.util.spec_from_file_location(fullname, source_path(fullname))


_state: tuple[bool, str] | None = None


def install() -> None:
    """Decide once per process whether the compiled modules are used (module
    docstring); when not, make sure their sources are what is imported."""
    global _state
    if _state is not None:
        return
    _state = _decide()
    use, why = _state
    if use or why.startswith("not compiled"):
        return
    sys.meta_path.insert(0, _SourceFinder())
    if why.startswith("stale") and sys.stderr is not None and sys.stderr.isatty():
        print(f"visualizer: running the interpreted analysis, the compiled one is {why}; "
              f"rebuild it with {REBUILD}", file=sys.stderr)


def status() -> dict[str, object]:
    """Whether the compiled modules are in use, why, and each module's file once
    imported (an extension module's file ends in its ``.so`` suffix)."""
    install()
    assert _state is not None
    use, why = _state
    return {"compiled": use, "reason": why,
            "modules": {m: getattr(sys.modules.get(m), "__file__", None) for m in MODULES}}


if __name__ == "__main__":
    if sys.argv[1:] == ["--sources"]:
        print("\n".join(str(source_path(m).relative_to(_ROOT)) for m in MODULES))
    else:
        sys.exit("usage: python visualizer/core/compiled.py --sources")
