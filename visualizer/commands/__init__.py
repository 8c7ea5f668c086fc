"""The CLI subcommands: thin printers over the core."""

from __future__ import annotations

import sys

from visualizer.core.session import Session


def warn_about(session: Session) -> None:
    """Print what every command says about a file it read: its damage and
    what it could not decode (``PacketStore.warnings``), one line each."""
    for warning in session.warnings():
        print(f"visualizer: {session.path}: {warning}", file=sys.stderr)
