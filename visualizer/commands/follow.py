"""``visualizer follow``: the payload of one TCP stream or UDP flow, as tshark's
``-q -z follow,tcp|udp,raw|ascii|hex,N`` prints it."""

from __future__ import annotations

from visualizer.commands import warn_about
from visualizer.commands.progress import load_session
from visualizer.core.follow.streams import follow_tcp, follow_udp
from visualizer.core.follow.text import render
from visualizer.core.output import check_output, written


def follow_command(path: str, *, stream: int, udp: bool, fmt: str, output: str) -> int:
    check_output(output)   # refuse a bad output before reading the capture
    with load_session(path) as session:   # reading and analysing is the long part
        assert session.store is not None and session.analysis is not None
        follow = follow_udp if udp else follow_tcp
        followed = follow(session.store, session.analysis, stream)
        with written(output) as out:
            out.write(render(followed, fmt).encode())
        return warn_about(session)
