"""Progress and time left on stderr, for long command-line work, when stderr
is a terminal, and nothing at all otherwise (a pipe, a file, a CI log).

``analyze`` and ``export`` read the file with a bar in bytes, then
``analyze`` and the Parquet export write with one in packets. tqdm draws
the bars (rate and time left); they clear themselves when done.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from visualizer.core.session import Session

T = TypeVar("T")
UPDATE_EVERY = 4_096   # packets between two updates of a packet bar


def wanted() -> bool:
    """Whether stderr is a terminal (a person watching)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):   # replaced, or closed
        return False


@contextlib.contextmanager
def _bar(description: str, total: int | None, unit: str) -> Iterator[Any]:
    """A tqdm bar on stderr, or None when stderr is no terminal."""
    if not wanted():
        yield None
        return
    from tqdm import tqdm

    scale: dict[str, Any] = ({"unit": "B", "unit_scale": True, "unit_divisor": 1024}
                             if unit == "B" else {"unit": f" {unit}"})
    try:
        width = os.get_terminal_size(sys.stderr.fileno()).columns
    except OSError:
        width = 0
    # a terminal that reports no size (a bare pseudo-terminal) is taken as 80x24:
    # tqdm draws nothing on one with no rows
    size: dict[str, Any] = {"dynamic_ncols": True} if width else {"ncols": 80, "nrows": 24}
    # (tqdm's defaults, e.g. 0.1 s between redraws, may be set with TQDM_* variables)
    with tqdm(total=total, desc=description, file=sys.stderr, leave=False,
              **size, **scale) as shown:
        yield shown


def load_session(path: str, *, analyse: bool = True) -> Session:
    """``Session.load``, with a bar of the bytes read on a terminal."""
    try:
        size: int | None = os.stat(path).st_size
    except OSError:
        size = None   # Session.load says why, in one line
    with _bar(f"reading {os.path.basename(path)}", size, "B") as shown:
        if shown is None:
            return Session.load(path, analyse=analyse)

        def update(done: int, total: int) -> None:
            shown.total = total
            shown.update(max(done - shown.n, 0))

        return Session.load(path, analyse=analyse, progress=update)


def counted(items: Iterable[T], description: str, total: int) -> Iterator[T]:
    """``items`` as they are, with a bar counting them on a terminal."""
    with _bar(description, total, "packets") as shown:
        if shown is None:
            yield from items
            return
        pending = 0
        for item in items:
            yield item
            pending += 1
            if pending == UPDATE_EVERY:
                shown.update(pending)
                pending = 0
        shown.update(pending)


@contextlib.contextmanager
def steps(description: str, total: int, unit: str) -> Iterator[Callable[[int], None] | None]:
    """``update(done)`` for a bar on a terminal; None without one."""
    with _bar(description, total, unit) as shown:
        if shown is None:
            yield None
            return

        def update(done: int) -> None:
            shown.update(max(done - shown.n, 0))

        yield update
