"""Giving up every capability once the packet socket is open.

CAP_NET_RAW is needed to *create* a packet socket, not to read from one, so
the capture process gives it up (and everything else: a capture run as root
holds every capability) as soon as its socket is open, filtered and bound
and its output file is created: from then on it is an ordinary process of
its user. Linux offers this through ``capset`` and ``prctl``; the standard
library has neither, so they are called through ctypes.

What it clears: the effective, permitted and inheritable sets (for good: a
process cannot regain what left its permitted set), the ambient set, the
bounding set where the process may change it (CAP_SETPCAP: root), and it
sets ``no_new_privs``, so no later ``execve`` grants anything back
(file capabilities, setuid, root's full set).
"""

from __future__ import annotations

import ctypes
import os

from visualizer.core.errors import CaptureFailed

__all__ = ["drop_all_capabilities", "held_capabilities"]

_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_CAP_SETPCAP = 8


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_CapSets = _CapData * 2  # version 3: two 32-bit halves of each set


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def held_capabilities() -> tuple[int, int, int]:
    """This process's (effective, permitted, inheritable) sets, as bit masks."""
    data = _CapSets()
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    if _libc().capget(ctypes.byref(header), data) != 0:
        err = ctypes.get_errno()
        raise CaptureFailed(f"cannot read this process's capabilities: {os.strerror(err)}")
    low, high = data[0], data[1]
    return (low.effective | high.effective << 32, low.permitted | high.permitted << 32,
            low.inheritable | high.inheritable << 32)


def _last_capability() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 63


def drop_all_capabilities() -> None:
    """Gives up every capability for good; CaptureFailed if any is left."""
    libc = _libc()
    prctl = libc.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                      ctypes.c_ulong]
    if prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise CaptureFailed("cannot set no_new_privs: "
                            f"{os.strerror(ctypes.get_errno())}")
    prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)  # EINVAL before Linux 4.3
    effective, _, _ = held_capabilities()
    if effective >> _CAP_SETPCAP & 1:
        for cap in range(_last_capability() + 1):
            prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    if libc.capset(ctypes.byref(header), _CapSets()) != 0:
        raise CaptureFailed("cannot give up capabilities after opening the packet socket: "
                            f"{os.strerror(ctypes.get_errno())}")
    if any(held_capabilities()):
        raise CaptureFailed("capabilities are left after giving them all up")
