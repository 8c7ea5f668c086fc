"""Names for the numbers in packet headers, in one place.

Each table maps a number to a :class:`Name` in two wordings: ``short``, as
Wireshark's packet list writes it (the Protocol and Info columns, ``analyze``),
and ``words``, what it is for a sentence of an explanation. A number missing
from a table is left to the caller's fallback (``"IPv4"``, ``"Type 200"``...).
"""

from __future__ import annotations

from typing import NamedTuple

from visualizer.core.decode.headers import PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP


class Name(NamedTuple):
    short: str    # Wireshark's name: "ARP", "Echo (ping) request"
    words: str    # for a sentence: "ARP, which asks which MAC address owns an IPv4 address"


#: IP protocol numbers (IPv4 protocol, IPv6 next header).
IP_PROTOCOLS: dict[int, Name] = {
    PROTO_ICMP: Name("ICMP", "ICMP"),
    2: Name("IGMP", "IGMP (multicast group membership)"),
    4: Name("IPIP", "IP in IP"),
    PROTO_TCP: Name("TCP", "TCP"),
    PROTO_UDP: Name("UDP", "UDP"),
    41: Name("IPv6", "IPv6 in IPv4"),
    47: Name("GRE", "GRE tunnelling"),
    50: Name("ESP", "ESP (IPsec encryption)"),
    51: Name("AH", "AH (IPsec authentication)"),
    PROTO_ICMPV6: Name("ICMPv6", "ICMPv6"),
    89: Name("OSPF", "OSPF routing"),
    103: Name("PIM", "PIM multicast"),
    112: Name("VRRP", "VRRP"),
    132: Name("SCTP", "SCTP"),
    136: Name("UDPlite", "UDP-Lite"),
}

#: EtherTypes of the frames that carry no IP (IPv4 and IPv6 are decoded).
ETHERTYPES: dict[int, Name] = {
    0x0806: Name("ARP", "ARP, which asks which MAC address owns an IPv4 address"),
    0x8035: Name("RARP", "RARP"),
    0x88CC: Name("LLDP", "LLDP, a switch announcing itself"),
    0x8863: Name("PPPoED", "PPPoE discovery"),
    0x8864: Name("PPPoES", "PPPoE session data"),
    0x888E: Name("EAPOL", "EAPOL (802.1X port authentication)"),
    0x88F7: Name("PTP", "PTP (precision time)"),
    0x8847: Name("MPLS", "MPLS"),
    0x8848: Name("MPLS", "MPLS"),
    0x0842: Name("WoL", "Wake-on-LAN"),
    0x9000: Name("LOOP", "an Ethernet loopback test"),
}

#: ICMP (IPv4) message types.
ICMP_TYPES: dict[int, Name] = {
    0: Name("Echo (ping) reply", "echo reply (ping answer)"),
    3: Name("Destination unreachable", "destination unreachable"),
    4: Name("Source quench", "source quench"),
    5: Name("Redirect", "redirect"),
    8: Name("Echo (ping) request", "echo request (ping)"),
    9: Name("Router advertisement", "router advertisement"),
    10: Name("Router solicitation", "router solicitation"),
    11: Name("Time-to-live exceeded", "time exceeded"),
    12: Name("Parameter problem", "parameter problem"),
    13: Name("Timestamp request", "timestamp request"),
    14: Name("Timestamp reply", "timestamp reply"),
}

#: Codes of ICMP destination unreachable (type 3).
ICMP_UNREACHABLE: dict[int, Name] = {
    0: Name("Network unreachable", "the network is unreachable"),
    1: Name("Host unreachable", "the host is unreachable"),
    2: Name("Protocol unreachable", "the protocol is not supported there"),
    3: Name("Port unreachable", "port unreachable"),
    4: Name("Fragmentation needed", "the datagram is too big and must not be fragmented"),
    5: Name("Source route failed", "its source route failed"),
    6: Name("Destination network unknown", "the destination network is unknown"),
    7: Name("Destination host unknown", "the destination host is unknown"),
    9: Name("Network administratively prohibited", "the network is administratively prohibited"),
    10: Name("Host administratively prohibited", "the host is administratively prohibited"),
    13: Name("Communication administratively filtered", "a firewall filtered it"),
}

#: Codes of ICMP time exceeded (type 11).
ICMP_TIME_EXCEEDED: dict[int, Name] = {
    0: Name("Time to live exceeded in transit", "its time to live ran out in transit"),
    1: Name("Fragment reassembly time exceeded", "fragment reassembly took too long"),
}

#: ICMPv6 message types.
ICMPV6_TYPES: dict[int, Name] = {
    1: Name("Destination Unreachable", "destination unreachable"),
    2: Name("Packet Too Big", "packet too big"),
    3: Name("Time Exceeded", "time exceeded"),
    4: Name("Parameter Problem", "parameter problem"),
    128: Name("Echo (ping) request", "echo request (ping)"),
    129: Name("Echo (ping) reply", "echo reply (ping answer)"),
    130: Name("Multicast Listener Query", "multicast listener query"),
    131: Name("Multicast Listener Report", "multicast listener report"),
    133: Name("Router Solicitation", "router solicitation"),
    134: Name("Router Advertisement", "router advertisement"),
    135: Name("Neighbor Solicitation", "neighbour solicitation (IPv6's ARP)"),
    136: Name("Neighbor Advertisement", "neighbour advertisement"),
    137: Name("Redirect", "redirect"),
    143: Name("Multicast Listener Report Message v2", "multicast listener report"),
}

#: Codes of ICMPv6 destination unreachable (type 1).
ICMPV6_UNREACHABLE: dict[int, Name] = {
    0: Name("no route to destination", "there is no route to the destination"),
    1: Name("Administratively prohibited", "a firewall prohibits it"),
    2: Name("beyond scope of source address", "it lies beyond the scope of the source address"),
    3: Name("Address unreachable", "the address is unreachable"),
    4: Name("Port unreachable", "port unreachable"),
    5: Name("Source address failed ingress/egress policy",
            "the source address failed an ingress/egress policy"),
    6: Name("Reject route to destination", "a reject route leads to the destination"),
}
