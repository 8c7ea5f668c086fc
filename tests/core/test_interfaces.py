"""Interfaces for the capture chooser, and checking a filter as it is typed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from visualizer.core.capture.interfaces import check_filter, list_interfaces
from visualizer.core.pcap.format import LINKTYPE_ETHERNET

REPO = Path(__file__).resolve().parents[2]


def test_lo_comes_first_and_is_a_loopback_that_is_up() -> None:
    interfaces = list_interfaces()
    lo = interfaces[0]
    assert lo.name == "lo"
    assert lo.loopback and lo.up
    assert lo.linktype == LINKTYPE_ETHERNET  # lo's frames carry a fake Ethernet header
    assert "127.0.0.1" in lo.addresses
    assert not lo.problem


def test_every_interface_of_the_namespace_is_listed_once() -> None:
    names = [i.name for i in list_interfaces()]
    assert sorted(names) == sorted(os.listdir("/sys/class/net"))
    assert names[1:] == sorted(names[1:])


@pytest.mark.parametrize("expression", ["", "   ", "tcp port 80", "udp and host 127.0.0.1",
                                        "tcp[tcpflags] & tcp-syn != 0", "ip6"])
def test_good_filters_compile(expression: str) -> None:
    assert check_filter(expression, "lo") is None


@pytest.mark.parametrize(("expression", "reason"), [
    ("tcp port", "syntax error"),
    ("port 99999", "illegal port number"),
    ("tcp and (", "syntax error"),
    ("src net 10.0.0.0/33", "mask length"),
    ("tcp port nosuchservice", "unknown port"),
])
def test_bad_filters_give_libpcaps_message(expression: str, reason: str) -> None:
    message = check_filter(expression, "lo")
    assert message is not None
    assert reason in message
    assert "\n" not in message


def test_a_filter_for_an_unknown_interface_says_so() -> None:
    message = check_filter("tcp", "nosuch0")
    assert message is not None and "no such interface 'nosuch0'" in message
    assert check_filter("", "nosuch0") is None  # no filter: nothing to check


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv is not installed")
def test_checking_a_filter_needs_no_privilege() -> None:
    code = ("import socket\n"
            "try:\n"
            "    socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)\n"
            "    raise SystemExit('still privileged')\n"
            "except PermissionError:\n"
            "    pass\n"
            "from visualizer.core.capture.interfaces import check_filter\n"
            "print(check_filter('tcp port 80', 'lo'), '|', check_filter('tcp port', 'lo'))\n")
    result = subprocess.run(
        ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--", sys.executable, "-c", code],
        capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    good, bad = result.stdout.strip().split(" | ")
    assert good == "None"
    assert "syntax error" in bad
