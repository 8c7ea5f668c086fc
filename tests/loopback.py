"""What the loopback interface offers here, for tests that run on it."""

import socket

import pytest


def ipv6_loopback() -> bool:
    """True when ::1 can be bound (some containers have no IPv6)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback (::1) here")

# the values of the scenarios' ``family`` parameter, IPv6 skipped where absent
FAMILIES = ["ipv4", pytest.param("ipv6", marks=needs_ipv6)]
