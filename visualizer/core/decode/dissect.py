"""Full dissection of one frame as a tree, with the bytes each node covers.

The packet table and the analysis work on our own fast columns; the detail
tree of the packet on screen is scapy's (DESIGN.md: "Full dissection ... is
scapy's, done lazily for the packet on screen"). scapy does not record where
a field lies in the frame, so :func:`dissect` finds out: each dissected
layer keeps the header bytes it consumed (``raw_packet_cache``), layers follow
each other in the frame, and replaying the layer's ``getfield`` calls over
those bytes tells how many *bits* each field took. Bit fields (IPv4 version
and header length, the TCP flags) therefore get the bytes they share.

scapy is imported inside the functions, so importing this module costs
nothing until a packet is actually shown. Nothing here raises on traffic:
a frame scapy cannot parse still gives a tree, with a "Malformed" node that
says where dissection stopped.
"""

from __future__ import annotations

import contextlib
import logging
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from visualizer.core.pcap.format import linktype_text

if TYPE_CHECKING:
    from visualizer.core.flows.analysis import Analysis

__all__ = ["Node", "analysis_nodes", "dissect", "node_path_at"]

MAX_VALUE_CHARS = 120


@dataclass
class Node:
    """One line of the detail tree: ``frame[start:end]`` are its bytes (None: no bytes)."""

    label: str
    value: str = ""
    start: int | None = None
    end: int | None = None
    children: list[Node] = field(default_factory=list)
    # One bit of its parent's bytes (a TCP flag): a click on those bytes means the parent.
    is_bit: bool = False

    @property
    def has_range(self) -> bool:
        return self.start is not None and self.end is not None and self.end > self.start

    def covers(self, offset: int) -> bool:
        return (self.start is not None and self.end is not None
                and self.start <= offset < self.end)

    def walk(self) -> Iterable[Node]:
        """This node and all its descendants, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


def node_path_at(nodes: Sequence[Node], offset: int) -> list[Node]:
    """The path from a top node to the deepest node covering byte ``offset`` ([] if none).

    Nodes with a byte range win over branches without one (the analysis
    branch), the first of overlapping siblings wins (IPv4 version before
    header length in their shared byte), and single-bit nodes are never the
    answer (a click on the TCP flags bytes means the flags field).
    """
    for node in nodes:
        if node.covers(offset) and not node.is_bit:
            return [node, *node_path_at(node.children, offset)]
    for node in nodes:
        if node.start is None:
            sub = node_path_at(node.children, offset)
            if sub:
                return [node, *sub]
    return []


# -- link types -------------------------------------------------------------

_RAW_IP = {101, 228, 229, 12, 14}
_LOOPBACK = {0, 108}
_LOOPBACK_FAMILIES = {2: "IPv4", 24: "IPv6", 28: "IPv6", 30: "IPv6"}


def dissect(frame: bytes, linktype: int) -> list[Node]:
    """The detail tree of one frame: one top node per layer (see module docstring)."""
    frame = bytes(frame)
    if not frame:
        return [Node("Frame", "0 bytes captured", 0, 0)]
    try:
        with _quiet_scapy():
            forged = _forged_dns(frame, linktype)
            if forged is not None:
                return _without_dns(frame, linktype, *forged)
            return _dissect(frame, linktype)
    except Exception as exc:  # a bug in a scapy dissector must not take the view down
        return [_frame_node(frame, linktype),
                Node("Malformed", f"dissection failed: {type(exc).__name__}: {exc}"[
                    :MAX_VALUE_CHARS], 0, len(frame))]


@contextlib.contextmanager
def _quiet_scapy() -> Iterator[None]:
    """Mute scapy's log warnings while dissecting: odd packets are the tree's to report."""
    loggers = [logging.getLogger(name) for name in ("scapy", "scapy.runtime")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def warm_up() -> None:
    """Import scapy's layers now (from a background thread at start-up), so
    the first packet shown does not wait a second for the import."""
    with _quiet_scapy():
        import scapy.layers.inet
        import scapy.layers.inet6
        import scapy.layers.l2  # noqa: F401
        _tunnel_layers()


_tunnels_bound = False


def _tunnel_layers() -> None:
    """Load and bind scapy's dissectors for the tunnels ``headers`` opens, so
    that the detail tree shows the outer headers and then the inner packet."""
    global _tunnels_bound
    if _tunnels_bound:
        return
    import scapy.contrib.erspan
    import scapy.contrib.geneve
    import scapy.contrib.gtp
    import scapy.contrib.mpls
    import scapy.layers.ppp
    import scapy.layers.vxlan  # noqa: F401  (each binds itself to its port or type)
    from scapy.layers.dot11 import Dot11
    from scapy.layers.inet import UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import GRE
    from scapy.packet import bind_layers

    bind_layers(GRE, Dot11, proto=0x8200)   # Aruba: 802.11 frames without FCS
    bind_layers(UDP, IPv6, sport=3544)      # Teredo (RFC 4380), without its optional headers
    bind_layers(UDP, IPv6, dport=3544)
    _tunnels_bound = True


def _dissect(frame: bytes, linktype: int) -> list[Node]:
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import LLC, CookedLinux, Ether

    _tunnel_layers()
    if linktype == 1:
        return _from_class(Ether, frame, 0)
    if linktype == 113:
        return _from_class(CookedLinux, frame, 0)
    if linktype == 276:
        from scapy.layers.l2 import CookedLinuxV2
        return _from_class(CookedLinuxV2, frame, 0)
    if linktype in _RAW_IP:
        return _raw_ip(frame, 0, IP, IPv6)
    if linktype == 10:  # FDDI: frame control and two addresses, then LLC
        if len(frame) < 13:
            return [_frame_node(frame, linktype),
                    Node("Malformed", "FDDI header truncated", 0, len(frame))]
        header = Node("FDDI", f"{frame[7:13].hex(':')} → {frame[1:7].hex(':')}", 0, 13, [
            Node("Frame control", f"0x{frame[0]:02x}", 0, 1),
            Node("Destination", frame[1:7].hex(":"), 1, 7),
            Node("Source", frame[7:13].hex(":"), 7, 13)])
        return [header, *_from_class(LLC, frame, 13)]
    if linktype in _LOOPBACK:
        if len(frame) < 4:
            return [_frame_node(frame, linktype),
                    Node("Malformed", "loopback header truncated", 0, len(frame))]
        raw = frame[:4]
        if linktype == 108:
            family = int.from_bytes(raw, "big")
        else:  # written in the host order of the capturing machine
            family = min(int.from_bytes(raw, "little"), int.from_bytes(raw, "big"))
        name = _LOOPBACK_FAMILIES.get(family, "unknown")
        header = Node("BSD loopback" if linktype == 0 else "OpenBSD loopback",
                      f"family {family} ({name})", 0, 4,
                      [Node("Address family", f"{family} ({name})", 0, 4)])
        if family not in _LOOPBACK_FAMILIES:
            rest = [Node(f"Data ({len(frame) - 4} bytes)", "", 4, len(frame))]
            return [header, *(rest if len(frame) > 4 else [])]
        return [header, *_raw_ip(frame, 4, IP, IPv6)]
    return [_frame_node(frame, linktype)]


# -- DNS that scapy must not be given ------------------------------------------
#
# scapy's DNS dissector reads as many names as the header counts, and a name
# as far as its labels go, copying the rest of the message at each step. A
# forged header (tcpdump's dns-badlabel: 64,259 questions, names of thousands
# of labels) costs it seconds per packet, while the window waits. A name is at
# most 255 bytes (RFC 1035, 2.3.4; tshark says "Name too long"), so a message
# with a longer one is shown as its bytes, with that reason, without scapy.

DNS_NAME_MAX = 255
DNS_POINTER_JUMPS = 20   # as many as scapy follows


def dns_problem(message: bytes) -> tuple[int, str] | None:
    """Where a DNS message is not worth dissecting and why (a name over 255
    bytes), or None. Reads each name the header announces, as far as the
    message goes."""
    if len(message) < 12:
        return None                      # scapy reports a short header itself
    qd, an, ns, ar = struct.unpack_from("!4H", message, 4)
    pos = 12
    for record in range(qd + an + ns + ar):
        end, length = _dns_name(message, pos)
        if length > DNS_NAME_MAX:
            what = (f"question {record + 1}" if record < qd
                    else f"resource record {record - qd + 1}")
            return pos, f"the name of {what} is longer than {DNS_NAME_MAX} bytes"
        if end < 0:
            return None                  # the message ends: scapy stops there too
        if record < qd:
            pos = end + 4                # type, class
        elif end + 10 <= len(message):   # type, class, TTL, data length, data
            pos = end + 10 + int.from_bytes(message[end + 8:end + 10], "big")
        else:
            return None
    return None


def _dns_name(message: bytes, pos: int) -> tuple[int, int]:
    """(where the name at ``pos`` ends in place, -1 past the message; its length
    in bytes, pointers followed), the walk stopped once over the limit."""
    end, length, jumps = -1, 0, 0
    while pos < len(message) and length <= DNS_NAME_MAX:
        size = message[pos]
        if size & 0xC0:                  # a pointer to a name earlier in the message
            if pos + 1 >= len(message) or jumps == DNS_POINTER_JUMPS:
                break
            if end < 0:
                end = pos + 2
            pos = (size & 0x3F) << 8 | message[pos + 1]
            jumps += 1
            continue
        if size == 0:
            return (pos + 1 if end < 0 else end), max(length, 1)
        length += size + 1
        pos += size + 1
    return end, length


def _forged_dns(frame: bytes, linktype: int) -> tuple[int, int, str] | None:
    """(start, end, problem) of a UDP payload that scapy would read as DNS and
    should not (:func:`dns_problem`); None for every other frame."""
    from scapy.layers.dns import DNS
    from scapy.layers.inet import UDP

    from visualizer.core.decode import headers as dec

    decoded = dec.decode(linktype, frame, 0, len(frame))
    if decoded.status != dec.OK or decoded.proto != dec.PROTO_UDP or decoded.tunnel:
        return None
    guess = UDP(sport=decoded.sport, dport=decoded.dport).guess_payload_class(b"")
    if not (isinstance(guess, type) and issubclass(guess, DNS)):
        return None
    start = decoded.l4_offset + 8
    end = min(start + decoded.payload_len, len(frame))
    problem = dns_problem(frame[start:end])
    if problem is None:
        return None
    at, why = problem
    return start, end, f"{why} (byte {start + at})"


def _without_dns(frame: bytes, linktype: int, start: int, end: int, problem: str) -> list[Node]:
    """The tree of a frame whose DNS message scapy is not given: the layers
    below it, then its bytes and why."""
    nodes = [node for node in _dissect(frame[:start], linktype)
             if not (node.label == "Truncated" and node.end == start)]  # the cut's, not the frame's
    nodes.append(Node("Malformed", f"DNS not dissected: {problem}", start, end))
    nodes.append(Node(f"Raw payload ({end - start} bytes)", "", start, end,
                      [Node("Data", bytes_text(frame[start:end]), start, end)]))
    if end < len(frame):
        nodes.append(Node(f"Padding ({len(frame) - end} bytes)", "", end, len(frame)))
    return nodes


def _frame_node(frame: bytes, linktype: int) -> Node:
    return Node("Frame", f"{len(frame)} bytes, link type {linktype_text(linktype)} "
                         "(not dissected)",
                0, len(frame))


def _raw_ip(frame: bytes, base: int, ipv4: type, ipv6: type) -> list[Node]:
    if len(frame) <= base:
        return [Node("Malformed", "no IP header", base, base)]
    version = frame[base] >> 4
    if version == 4:
        return _from_class(ipv4, frame, base)
    if version == 6:
        return _from_class(ipv6, frame, base)
    return [Node(f"Data ({len(frame) - base} bytes)", f"IP version {version}?", base,
                 len(frame)),
            Node("Malformed", f"not IPv4 or IPv6 (version nibble {version})", base, base + 1)]


def _from_class(cls: type, frame: bytes, base: int) -> list[Node]:
    try:
        pkt = cls(frame[base:])
    except Exception:  # scapy gives up on this layer already: show the bytes and say so
        left = len(frame) - base
        return [Node(f"Data ({left} bytes)", "", base, len(frame)),
                Node("Malformed", f"{_layer_title(cls, 0)} could not be dissected at byte "
                     f"{base} ({left} bytes left)", base, len(frame))]
    nodes, _ = _layers(pkt, frame, base)
    _clamp(nodes, len(frame))
    return nodes


def _clamp(nodes: Iterable[Node], size: int, low: int = 0) -> None:
    """Keep every range inside the frame (or ``frame[low:size]``), whatever a dissector did."""
    for top in nodes:
        for node in top.walk():
            if node.start is None or node.end is None:
                node.start = node.end = None
                continue
            node.start = min(max(node.start, low), size)
            node.end = min(max(node.end, node.start), size)


# -- layers -------------------------------------------------------------------

def _layers(pkt: Any, frame: bytes, pos: int) -> tuple[list[Node], int]:
    """Nodes for ``pkt`` and its payloads, the first starting at ``frame[pos]``."""
    from scapy.packet import NoPayload

    nodes: list[Node] = []
    layer = pkt
    while layer is not None and not isinstance(layer, NoPayload):
        header = _header_bytes(layer)
        end = pos + len(header)
        placed = frame[pos:end] == header
        node = Node(_layer_title(type(layer), len(header)), _layer_summary(layer), pos, end)
        node.children = _fields(layer, header, pos if placed else None, frame)
        nodes.append(node)
        nodes.extend(_layer_problems(layer, frame, pos, end))
        pos = end
        layer = layer.payload
    return nodes, pos


def _header_bytes(layer: Any) -> bytes:
    """The bytes this layer consumed when it was dissected (not its payload)."""
    cached = getattr(layer, "raw_packet_cache", None)
    if cached is not None:
        return bytes(cached)
    try:
        return bytes(layer.self_build())
    except Exception:
        return b""


_LAYER_TITLES = {
    "Ether": "Ethernet II", "IP": "IPv4", "IPv6": "IPv6", "TCP": "TCP", "UDP": "UDP",
    "ICMP": "ICMP", "CookedLinux": "Linux cooked capture (SLL)",
    "CookedLinuxV2": "Linux cooked capture v2 (SLL2)", "ARP": "ARP", "Dot1Q": "802.1Q VLAN",
    "IPerror": "IPv4 (quoted in ICMP)", "TCPerror": "TCP (quoted in ICMP)",
    "UDPerror": "UDP (quoted in ICMP)", "IPerror6": "IPv6 (quoted in ICMPv6)",
    "DNS": "DNS", "Dot3": "802.3 Ethernet", "Dot11": "IEEE 802.11", "Dot11QoS": "802.11 QoS",
    "ERSPAN_II": "ERSPAN type II", "ERSPAN_III": "ERSPAN type III", "GENEVE": "Geneve",
    "GTP_U_Header": "GTP-U",
}


def _layer_title(cls: type, size: int) -> str:
    name = cls.__name__
    if name == "Raw":
        return f"Raw payload ({size} bytes)"
    if name == "Padding":
        return f"Padding ({size} bytes)"
    title = getattr(cls, "name", None)
    if not isinstance(title, str) or not title or len(title) > 40:
        title = name  # some scapy helper classes have no name, or a sentence
    return _LAYER_TITLES.get(name, title)


def _layer_summary(layer: Any) -> str:
    name = type(layer).__name__
    try:
        if name in ("Ether", "IP", "IPv6", "IPerror", "IPerror6"):
            return f"{layer.src} → {layer.dst}"
        if name in ("TCP", "UDP", "TCPerror", "UDPerror"):
            return f"port {layer.sport} → {layer.dport}"
        if name in ("Raw", "Padding"):
            return ""
        summary = layer.mysummary()
        return _shorten(summary if isinstance(summary, str) else "")
    except Exception:
        return ""


def _layer_problems(layer: Any, frame: bytes, start: int, end: int) -> list[Node]:
    """Malformed/truncated notes: where scapy gave up, and IP lengths beyond the capture."""
    from scapy.packet import Raw

    name = type(layer).__name__
    notes: list[Node] = []
    if name == "IP":
        total = layer.len
        if isinstance(total, int) and start + total > len(frame):
            notes.append(Node("Truncated", f"IPv4 total length {total}, only "
                              f"{len(frame) - start} bytes captured", start, len(frame)))
    elif name == "IPv6":
        plen = layer.plen
        if isinstance(plen, int) and end + plen > len(frame):
            notes.append(Node("Truncated", f"IPv6 payload length {plen}, only "
                              f"{len(frame) - end} bytes captured", start, len(frame)))
    payload = layer.payload
    if isinstance(payload, Raw) and type(payload).__name__ == "Raw":
        try:
            expected = layer.guess_payload_class(bytes(payload.load))
        except Exception:
            expected = None
        if (expected is not None and isinstance(expected, type)
                and expected.__name__ not in ("Raw", "Padding")):
            left = len(frame) - end
            notes.append(Node("Malformed", f"{_layer_title(expected, 0)} could not be "
                              f"dissected at byte {end} ({left} bytes left)", end, len(frame)))
    return notes


# -- fields -------------------------------------------------------------------

_FIELD_LABELS: dict[str, dict[str, str]] = {
    "Ether": {"dst": "Destination", "src": "Source", "type": "Type"},
    "IP": {"version": "Version", "ihl": "Header length", "tos": "Type of service",
           "len": "Total length", "id": "Identification", "flags": "Flags",
           "frag": "Fragment offset", "ttl": "Time to live", "proto": "Protocol",
           "chksum": "Header checksum", "src": "Source", "dst": "Destination",
           "options": "Options"},
    "IPv6": {"version": "Version", "tc": "Traffic class", "fl": "Flow label",
             "plen": "Payload length", "nh": "Next header", "hlim": "Hop limit",
             "src": "Source", "dst": "Destination"},
    "TCP": {"sport": "Source port", "dport": "Destination port", "seq": "Sequence number",
            "ack": "Acknowledgment number", "dataofs": "Header length",
            "reserved": "Reserved", "flags": "Flags", "window": "Window",
            "chksum": "Checksum", "urgptr": "Urgent pointer", "options": "Options"},
    "UDP": {"sport": "Source port", "dport": "Destination port", "len": "Length",
            "chksum": "Checksum"},
    "ICMP": {"type": "Type", "code": "Code", "chksum": "Checksum", "id": "Identifier",
             "seq": "Sequence number"},
    "CookedLinux": {"pkttype": "Packet type", "lladdrtype": "Link-layer address type",
                    "lladdrlen": "Link-layer address length", "src": "Source",
                    "proto": "Protocol"},
    "CookedLinuxV2": {"proto": "Protocol", "reserved": "Reserved",
                      "ifindex": "Interface index", "lladdrtype": "Link-layer address type",
                      "pkttype": "Packet type", "lladdrlen": "Link-layer address length",
                      "src": "Source"},
    "Raw": {"load": "Data"},
    "Padding": {"load": "Padding"},
}
_FIELD_LABELS["IPerror"] = _FIELD_LABELS["IP"]
_FIELD_LABELS["IPerror6"] = _FIELD_LABELS["IPv6"]
_FIELD_LABELS["TCPerror"] = _FIELD_LABELS["TCP"]
_FIELD_LABELS["UDPerror"] = _FIELD_LABELS["UDP"]

_TCP_FLAG_NAMES = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "AE")


def _field_label(layer: Any, name: str) -> str:
    human = _FIELD_LABELS.get(type(layer).__name__, {}).get(name)
    if not human or human.lower() == name:
        return human or name
    return f"{human} ({name})"


def _bit_position(s: Any, total: int) -> int:
    """Bits consumed so far, ``s`` being what ``getfield`` left (bytes or (bytes, bits))."""
    if isinstance(s, tuple):
        return (total - len(s[0])) * 8 + s[1]
    return (total - len(s)) * 8


def _fields(layer: Any, header: bytes, base: int | None, frame: bytes) -> list[Node]:
    """One node per dissected field; ranges from replaying the layer's ``getfield`` calls.

    ``base`` is where ``header`` lies in the frame; None when the layer's
    bytes are not the frame's (a dissector that rewrote them): no ranges then.
    """
    spans = None
    if base is not None:
        # The header alone replays most layers; a few fields measure themselves
        # from the end of what follows (a negative IPv4 options length), so try
        # the rest of the frame too. A replay that does not end where the
        # header ends is not believed.
        spans = _replay(layer, header, len(header))
        if spans is None:
            spans = _replay(layer, frame[base:], len(header))
    if spans is None:
        base = None
        spans = [(f, 0, 0) for f in layer.fields_desc if f.name in layer.fields]
    nodes: list[Node] = []
    for fld, before, after in spans:
        value = layer.getfieldval(fld.name)
        empty = value is None or (isinstance(value, (list, bytes, str)) and not value)
        if after == before and empty:
            continue
        start = end = None
        if base is not None:
            start, end = base + before // 8, base + (after + 7) // 8
        node = Node(_field_label(layer, fld.name), _value_text(layer, fld, value), start, end)
        node.children = _field_children(layer, fld, value, start, end, before, after, base,
                                        frame)
        nodes.append(node)
    return nodes


def _replay(layer: Any, data: bytes, header_len: int) -> list[tuple[Any, int, int]] | None:
    """(field, first bit, end bit) for each field scapy's ``do_dissect`` filled in.

    None when a ``getfield`` fails or the fields do not add up to the header.
    """
    spans = []
    s: Any = data
    total = len(data)
    for fld in layer.fields_desc:
        before = _bit_position(s, total)
        try:
            s, value = fld.getfield(layer, s)
        except Exception:
            return None
        if fld.isconditional and value is None:
            continue
        spans.append((fld, before, _bit_position(s, total)))
        if not s and (fld.ismayend or (fld.isconditional and fld.fld.ismayend)):
            break  # scapy's do_dissect stops here too
    return spans if _bit_position(s, total) == header_len * 8 else None


def _inner_field(fld: Any, layer: Any) -> Any:
    """The field that really holds the value (through Conditional/Emph/MultipleType)."""
    from scapy.fields import MultipleTypeField

    for _ in range(8):
        if isinstance(fld, MultipleTypeField):
            fld = fld._find_fld_pkt(layer)
        elif hasattr(fld, "fld"):
            fld = fld.fld
        else:
            break
    return fld


def _value_text(layer: Any, fld: Any, value: Any) -> str:
    from scapy.fields import FlagValue, _EnumField
    from scapy.layers.inet import TCPOptionsField

    inner = _inner_field(fld, layer)
    name = type(layer).__name__
    try:
        if fld.name == "flags" and name in ("TCP", "TCPerror"):
            bits = int(value)
            names = [n for i, n in enumerate(_TCP_FLAG_NAMES) if bits >> i & 1]
            return f"{', '.join(names) or 'none'} (0x{bits:03x})"
        if isinstance(value, FlagValue):
            return f"{value or 'none'} (0x{int(value):x})"
        if isinstance(inner, TCPOptionsField):
            shorts = [_OPTION_NAMES.get(k, ("", str(k)))[1] for k in _option_kinds(value)]
            return _shorten(", ".join(shorts))
        if getattr(inner, "holds_packets", False) and isinstance(value, list):
            return _shorten(", ".join(_layer_title(type(p), 0) for p in value))
        if fld.name in ("ihl", "dataofs") and isinstance(value, int):
            return f"{value} ({value * 4} bytes)"
        if isinstance(value, bytes | bytearray):
            return _shorten(bytes_text(bytes(value)))
        text = str(fld.i2repr(layer, value))
        if isinstance(inner, _EnumField) and isinstance(value, int) and text != str(value):
            number = f"0x{value:04x}" if type(inner).__name__.startswith("X") else str(value)
            if fld.name in ("sport", "dport"):
                text = f"{value} ({text})"  # the number is what students compare
            elif number not in text:
                text = f"{text} ({number})"
        return _shorten(text)
    except Exception:
        return _shorten(repr(value))


def bytes_text(data: bytes) -> str:
    """Bytes as a reader expects them: printable text in quotes, otherwise hex
    pairs (never Python's ``b'\xe1…'``)."""
    if data and all(32 <= b < 127 for b in data):
        return f'"{data.decode("ascii")}"'
    return data.hex(" ") if data else "(none)"


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS - 1] + "…"


def _field_children(layer: Any, fld: Any, value: Any, start: int | None, end: int | None,
                    before: int, after: int, base: int | None, frame: bytes) -> list[Node]:
    from scapy.layers.inet import TCPOptionsField
    from scapy.packet import Packet

    name = type(layer).__name__
    if fld.name == "flags" and name in ("TCP", "TCPerror") and base is not None:
        bits = int(value)
        out = []
        for i, flag in enumerate(_TCP_FLAG_NAMES):
            if after - 1 - i < before:
                break
            byte = base + (after - 1 - i) // 8
            out.append(Node(f"{flag} (0x{1 << i:03x})", "set" if bits >> i & 1 else "not set",
                            byte, byte + 1, is_bit=True))
        return out[::-1]  # most significant bit first, as the header is drawn
    inner = _inner_field(fld, layer)
    if isinstance(inner, TCPOptionsField):
        return _tcp_options(frame, start, end) if start is not None and end is not None else []
    if getattr(inner, "holds_packets", False) and start is not None:
        packets = value if isinstance(value, list) else [value]
        out = []
        pos = start
        for pkt in packets:
            if isinstance(pkt, Packet):
                nodes, pos = _layers(pkt, frame, pos)
                out.extend(nodes)
        if end is not None and pos > end:
            # The packets are not where the field lies (ICMP extensions are a
            # trailer scapy takes from further on): show them without bytes.
            for node in out:
                for sub in node.walk():
                    sub.start = sub.end = None
        elif end is not None:
            _clamp(out, end, start)  # notes on these packets stop where the field does
        return out
    return []


# -- TCP options ----------------------------------------------------------------

_OPTION_NAMES = {
    0: ("End of option list", "EOL"), 1: ("No-operation", "NOP"),
    2: ("Maximum segment size", "MSS"), 3: ("Window scale", "WScale"),
    4: ("SACK permitted", "SAckOK"), 5: ("SACK", "SAck"), 8: ("Timestamps", "Timestamp"),
    28: ("User timeout", "UTO"), 29: ("Authentication", "AO"), 30: ("Multipath TCP", "MPTCP"),
    34: ("TCP Fast Open cookie", "TFO"),
}


def _tcp_options(frame: bytes, start: int, end: int) -> list[Node]:
    """One node per option in ``frame[start:end]``, walked as scapy's TCPOptionsField does."""
    nodes: list[Node] = []
    pos = start
    while pos < end:
        kind = frame[pos]
        human, short = _OPTION_NAMES.get(kind, (f"Option {kind}", str(kind)))
        label = f"{human} ({short})"
        if kind in (0, 1):
            nodes.append(Node(label, "", pos, pos + 1))
            if kind == 0:
                if pos + 1 < end:
                    nodes.append(Node("Padding after EOL", f"{end - pos - 1} bytes", pos + 1,
                                      end))
                break
            pos += 1
            continue
        length = frame[pos + 1] if pos + 1 < end else 0
        size = max(length, 2)
        stop = min(pos + size, end)
        data = frame[pos + 2:stop]
        node = Node(label, _option_value(kind, data), pos, stop, [
            Node("Kind", f"{kind} ({short})", pos, pos + 1),
            Node("Length", str(length) + ("" if length >= 2 else " (invalid)"), pos + 1,
                 min(pos + 2, end)),
        ])
        if data:
            node.children.append(Node("Value", _option_value(kind, data), pos + 2, stop))
        if pos + size > end:
            node.children.append(Node("Malformed", f"option runs {pos + size - end} bytes "
                                      "past the header", pos, stop))
        nodes.append(node)
        pos += size
    return nodes


def _option_kinds(options: Any) -> list[int]:
    """Option kinds of scapy's parsed option list ([('MSS', 1460), ('NOP', None), ...])."""
    from scapy.layers.inet import TCPOptions

    numbers = TCPOptions[1]
    kinds = []
    for item in options or ():
        name = item[0] if isinstance(item, tuple) and item else item
        kind = {"EOL": 0, "NOP": 1}.get(name, numbers.get(name, name)) if isinstance(
            name, str) else name
        kinds.append(kind if isinstance(kind, int) else -1)
    return kinds


def _option_value(kind: int, data: bytes) -> str:
    n = len(data)
    if kind == 2 and n == 2:
        return f"{int.from_bytes(data, 'big')} bytes"
    if kind == 3 and n == 1:
        return f"{data[0]} (window × {1 << min(data[0], 14)})"
    if kind == 4 and n == 0:
        return ""
    if kind == 8 and n == 8:
        return (f"TSval {int.from_bytes(data[:4], 'big')}, "
                f"TSecr {int.from_bytes(data[4:], 'big')}")
    if kind == 5 and n and n % 8 == 0:
        blocks = [(int.from_bytes(data[i:i + 4], 'big'), int.from_bytes(data[i + 4:i + 8],
                                                                         'big'))
                  for i in range(0, n, 8)]
        return _shorten(", ".join(f"{a}-{b}" for a, b in blocks))
    return _shorten(data.hex(" ")) if data else ""


# -- analysis branch ------------------------------------------------------------

def analysis_nodes(analysis: Analysis, index: int) -> list[Node]:
    """Our own analysis of packet ``index``: TCP tracking, UDP flow, ICMP link.

    Byte ranges point at the TCP header fields a line is derived from
    (relative seq -> the raw seq field) so the hex view can show them too.
    """
    from visualizer.core.decode.store import format_endpoint
    from visualizer.core.tcp.analysis_flags import analysis_names

    out: list[Node] = []
    if not 0 <= index < len(analysis.values("stream")):
        return out
    stream = analysis.values("stream")[index]
    if stream >= 0:
        out.append(_tcp_analysis(analysis, index, stream, analysis_names, format_endpoint))
    flow = analysis.values("udp_flow")[index]
    if flow >= 0 and flow < len(analysis.udp_flows):
        f = analysis.udp_flows[flow]
        a, b = (format_endpoint(*e) for e in f.endpoints)
        out.append(Node("UDP flow", str(flow), children=[
            Node("Flow", f"{flow}: {a} ↔ {b}"),
            Node("Datagrams", f"{f.packets[0]} from {a}, {f.packets[1]} from {b}"),
            Node("Bytes", f"{f.bytes[0]} from {a}, {f.bytes[1]} from {b}"),
            Node("Frames", f"{f.first_frame} to {f.last_frame}"),
            *([Node("ICMP errors", str(f.icmp_errors))] if f.icmp_errors else []),
        ]))
    link = analysis.icmp_links.get(index)
    if link is not None:
        answered = (f"frame {link.datagram + 1}" if link.datagram >= 0
                    else "a datagram not in the capture")
        out.append(Node("ICMP error", f"answers {answered}", children=[
            Node("Answers datagram", answered),
            Node("UDP flow", str(link.flow)),
        ]))
    return out


def _tcp_analysis(analysis: Analysis, index: int, stream: int, names_of: Any,
                  endpoint_text: Any) -> Node:
    store = analysis.store
    v = analysis.values
    connections = analysis.tcp.connections
    sides = (("side 0", "side 1") if stream >= len(connections)
             else tuple(endpoint_text(*e) for e in connections[stream].endpoints))
    direction = v("direction")[index]
    l4 = store.values("l4_offset")[index]
    flags = store.values("tcp_flags")[index]

    reassembled = index in store.reassembled  # its TCP header lies in another frame

    def at(offset: int, size: int) -> tuple[int | None, int | None]:
        if reassembled:
            return None, None
        return l4 + offset, l4 + offset + size

    children = [
        Node("Stream", f"{stream}: {sides[0]} ↔ {sides[1]}"),
        Node("Direction", f"{sides[direction]} → {sides[1 - direction]}"),
        Node("Relative sequence number", str(v("rel_seq")[index]), *at(4, 4)),
    ]
    if flags & 0x10:
        children.append(Node("Relative acknowledgment number", str(v("rel_ack")[index]),
                             *at(8, 4)))
    children.append(Node("Next sequence number", str(v("next_seq")[index])))
    window = v("window")[index]
    if window >= 0:
        children.append(Node("Window (scaled)", f"{window} bytes", *at(14, 2)))
    in_flight = v("bytes_in_flight")[index]
    if in_flight >= 0:
        children.append(Node("Bytes in flight", str(in_flight)))
    names = names_of(v("analysis")[index])
    children.append(Node("Analysis flags", ", ".join(names) or "none",
                         children=[Node(n, "tcp.analysis." + n) for n in names]))
    dups = v("dup_ack_count")[index]
    if dups:
        children.append(Node("Duplicate ACK count", str(dups)))
    states = analysis.states(index)
    children.append(Node("Endpoint states after this packet", " / ".join(
        s.value if s is not None else "?" for s in states), children=[
        Node(sides[i], s.value if s is not None else "unknown") for i, s in enumerate(states)
    ]))
    changes = analysis.state_changes(index)
    if changes:
        summary = ", ".join(f"{c.old.value} → {c.new.value}" for c in changes)
        children.append(Node("State changes", _shorten(summary), children=[
            Node(sides[c.endpoint] if c.endpoint < 2 else str(c.endpoint),
                 f"{c.old.value} → {c.new.value}") for c in changes]))
    return Node("TCP analysis", f"stream {stream}" + (f": {', '.join(names)}" if names else ""),
                children=children)
