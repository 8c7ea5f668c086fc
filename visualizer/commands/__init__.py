"""The CLI subcommands: thin printers over the core."""

from __future__ import annotations

import sys

from visualizer.core.decode.store import PacketStore


def warn_about(path: str, store: PacketStore) -> None:
    """Print what every command says about a file it read: its damage and
    what it could not decode (``PacketStore.warnings``), one line each."""
    for warning in store.warnings():
        print(f"visualizer: {path}: {warning}", file=sys.stderr)
