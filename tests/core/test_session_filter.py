"""The Session narrows what every front end shows by the display filter."""

from __future__ import annotations

import numpy as np
from conftest import REPO

from visualizer.core.filter.evaluate import DisplayFilter
from visualizer.core.session import Session

HANDSHAKE = str(REPO / "resources" / "samples" / "tcp-handshake.pcapng")
UDP = str(REPO / "resources" / "samples" / "udp-datagrams.pcapng")


def test_visible_packets_conversations_and_ladder_follow_the_filter() -> None:
    with Session.load(HANDSHAKE) as session:
        assert session.store is not None
        data = np.flatnonzero(session.store.column("payload_len")).tolist()
        assert session.visible_indices() is None and session.shown() is None
        assert session.set_display_filter(DisplayFilter("tcp.len > 0"))
        assert not session.set_display_filter(DisplayFilter("tcp.len > 0"))  # the same again
        visible = session.visible_indices()
        assert visible is not None and visible.tolist() == data
        ladder = session.ladder()
        assert ladder is not None and [a.index for a in ladder.arrows] == data
        assert [c.key for c in session.conversations()] == [("tcp", 0)]
        # the conversation filter and the display filter together
        session.set_conversation(("tcp", 0))
        visible = session.visible_indices()
        assert visible is not None and visible.tolist() == data
        session.set_conversation(("tcp", 7))
        visible = session.visible_indices()
        assert visible is not None and visible.tolist() == []
        session.set_conversation(None)
        # nothing matches: no conversation, no ladder
        session.set_display_filter(DisplayFilter("udp"))
        assert session.conversations() == [] and session.ladder() is None
        assert session.set_display_filter(None)
        assert session.visible_indices() is None
        assert len(session.conversations()) == 1


def test_udp_flows_are_listed_when_a_datagram_matches() -> None:
    with Session.load(UDP) as session:
        every = session.conversations()
        assert every and all(c.kind == "udp" for c in every)
        first = every[0].number
        session.set_display_filter(DisplayFilter(f"udp.stream == {first}"))
        assert [c.key for c in session.conversations()] == [("udp", first)]
