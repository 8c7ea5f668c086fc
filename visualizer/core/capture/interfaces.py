"""The network interfaces a live capture can use, and checking a filter for one.

The GUI's capture controls list the interfaces (``lo`` first: the
built-in scenarios and most classroom exercises run there) and check the
user's BPF filter as it is typed. Compiling a filter runs libpcap in this
process and needs no privilege, so the check works for a user who cannot
capture at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import struct
from dataclasses import dataclass

from visualizer.core.capture.loop import compile_bpf, interface_linktype
from visualizer.core.errors import VisualizerError

SYS_CLASS_NET = "/sys/class/net"
IFF_UP = 0x1
IFF_LOOPBACK = 0x8
_SIOCGIFADDR = 0x8915   # linux/sockios.h: an interface's (first) IPv4 address
_IFREQ = struct.Struct("16s24x")  # struct ifreq: the name, then a 24-byte union


@dataclass(frozen=True)
class Interface:
    """One network interface as a capture chooser shows it."""

    name: str
    up: bool                      # administratively up (IFF_UP)
    loopback: bool
    linktype: int | None          # pcap link type; None when capture cannot use it
    addresses: tuple[str, ...] = ()  # IPv4 first, then IPv6; may be empty
    problem: str = ""             # why capture cannot use it, when linktype is None


def list_interfaces() -> list[Interface]:
    """Every interface of this network namespace, ``lo`` first, then by name."""
    try:
        names = os.listdir(SYS_CLASS_NET)
    except OSError:
        names = [name for _index, name in socket.if_nameindex()]
    ipv6 = _ipv6_addresses()
    found = [_describe(name, ipv6.get(name, [])) for name in names]
    return sorted(found, key=lambda i: (i.name != "lo", not i.loopback, i.name))


def check_filter(expression: str, interface: str) -> str | None:
    """None if ``expression`` compiles for ``interface``'s link type, else why not.

    An empty expression is valid: it captures everything. The message is
    libpcap's, as the capture itself would report it (one line).
    """
    if not expression.strip():
        return None
    try:
        linktype, _loopback = interface_linktype(interface)
        compile_bpf(expression, linktype)
    except VisualizerError as err:
        return str(err)
    return None


def _describe(name: str, ipv6: list[str]) -> Interface:
    flags = _flags(name)
    try:
        linktype, loopback = interface_linktype(name)
        problem = ""
    except VisualizerError as err:
        linktype, loopback, problem = None, bool(flags & IFF_LOOPBACK), str(err)
    ipv4 = _ipv4_address(name)
    addresses = ([ipv4] if ipv4 else []) + ipv6
    return Interface(name=name, up=bool(flags & IFF_UP), loopback=loopback,
                     linktype=linktype, addresses=tuple(addresses), problem=problem)


def _flags(name: str) -> int:
    try:
        with open(os.path.join(SYS_CLASS_NET, name, "flags"), encoding="ascii") as f:
            return int(f.read().strip(), 16)
    except (OSError, ValueError):
        return 0


def _ipv4_address(name: str) -> str | None:
    """The interface's primary IPv4 address (one ioctl; None when it has none)."""
    with contextlib.suppress(OSError, ValueError), \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = _IFREQ.pack(name.encode()[:15])
        reply = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, request)
        return socket.inet_ntoa(reply[20:24])  # ifr_addr: family, port, then the address
    return None


def _ipv6_addresses() -> dict[str, list[str]]:
    """Interface name -> its IPv6 addresses, from /proc/net/if_inet6."""
    found: dict[str, list[str]] = {}
    try:
        with open("/proc/net/if_inet6", encoding="ascii") as f:
            lines = f.read().splitlines()
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if len(fields) != 6 or len(fields[0]) != 32:
            continue
        try:
            packed = bytes.fromhex(fields[0])
        except ValueError:
            continue
        found.setdefault(fields[5], []).append(socket.inet_ntop(socket.AF_INET6, packed))
    return found
