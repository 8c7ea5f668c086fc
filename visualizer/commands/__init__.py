"""The CLI subcommands: thin printers over the core."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # only a type here: 'visualizer extcap' starts without loading the analysis
    from visualizer.core.session import Session


def warn_about(session: Session) -> int:
    """Print what every command says about a file it read: its damage and
    what it could not decode (``PacketStore.warnings``), one line each.

    Returns the command's exit code: 1 when the file shrank while it was
    read (what was read is shown, but it is not the whole file), else 0.
    Call it once the work is done: the file may shrink at any time.
    """
    for warning in session.warnings():
        print(f"visualizer: {session.path}: {warning}", file=sys.stderr)
    store = session.store
    return 1 if store is not None and store.capture.truncated else 0
