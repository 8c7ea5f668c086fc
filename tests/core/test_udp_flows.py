"""The UDP flow table on its own: datagrams and ICMP errors in, flows and links out."""

from __future__ import annotations

from visualizer.core.decode.headers import PROTO_TCP, PROTO_UDP, Quoted
from visualizer.core.flows.udp import IcmpLink, UdpFlowTable

A, B, C = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]), bytes([10, 0, 0, 3])


def test_flows_are_numbered_by_their_first_datagram_and_sided_by_its_sender() -> None:
    table = UdpFlowTable()
    fed = [table.feed(0, B, 53, A, 5000, 100, 10),   # the answer is seen first
           table.feed(1, A, 5000, B, 53, 200, 3),
           table.feed(2, C, 6000, B, 53, 300, 1),
           table.feed(3, A, 5000, B, 53, 400, 4)]
    assert fed == [0, 0, 1, 0]
    first, second = table.flows
    assert first.endpoints == ((B, 53), (A, 5000))
    assert (first.packets, first.bytes) == ([1, 2], [10, 7])
    assert (first.first_ts_ns, first.last_ts_ns, first.first_frame, first.last_frame) == (
        100, 400, 1, 4)
    assert second.endpoints == ((C, 6000), (B, 53)) and second.packets == [1, 0]


def test_an_icmp_error_answers_the_last_datagram_of_its_flow_either_way() -> None:
    table = UdpFlowTable()
    quote = Quoted(A, B, PROTO_UDP, 5000, 53)
    assert table.answer(0, quote) is None            # no flow yet
    table.feed(1, A, 5000, B, 53, 0, 1)
    table.feed(2, B, 53, A, 5000, 0, 1)
    table.feed(3, A, 5000, B, 53, 0, 1)
    assert table.answer(4, quote) == IcmpLink(0, 3)
    assert table.answer(5, Quoted(B, A, PROTO_UDP, 53, 5000)) == IcmpLink(0, 2)
    assert table.answer(6, Quoted(A, B, PROTO_TCP, 5000, 53)) is None
    assert table.answer(7, Quoted(C, B, PROTO_UDP, 5000, 53)) is None
    assert table.links == {4: IcmpLink(0, 3), 5: IcmpLink(0, 2)}
    assert table.flows[0].icmp_errors == 2
