"""``visualizer analyze --expert``: the expert information summary."""

from __future__ import annotations

from typing import TextIO

from visualizer.commands import warn_about
from visualizer.core.expert import findings, summary_lines
from visualizer.core.session import Session


def expert_command(path: str, *, out: TextIO) -> int:
    with Session.load(path) as session:
        assert session.store is not None
        out.write("\n".join(summary_lines(findings(session.store, session.analysis))) + "\n")
        return warn_about(session)
