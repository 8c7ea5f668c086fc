"""``visualizer extcap`` and ``setup-extcap``: the scenarios as Wireshark interfaces.

The protocol lines are checked as Wireshark's doc/extcap.adoc defines them,
and then for real: tshark lists the interfaces after ``setup-extcap`` into a
temporary HOME and records the handshake through one of them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from visualizer.core.traffic import list_scenarios
from visualizer.core.traffic.tcp_handshake import TcpHandshake

IFACE = "visualizer-tcp-handshake"


def _visualizer(*args: str, env: dict[str, str] | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "visualizer", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def test_interfaces_one_per_scenario_after_the_extcap_line() -> None:
    result = _visualizer("extcap", "--extcap-interfaces", "--extcap-version=4.0")
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"extcap \{version=[\w.]+\}\{help=\S+\}\{display=[^{}]+\}", lines[0])
    names = [re.fullmatch(r"interface \{value=([\w-]+)\}\{display=[^{}]+\}", line)
             for line in lines[1:]]
    assert all(names)
    assert [m[1] for m in names if m] == [f"visualizer-{s.name}" for s in list_scenarios()]


def test_config_lists_the_scenario_parameters_with_types_and_defaults() -> None:
    result = _visualizer("extcap", "--extcap-interface", IFACE, "--extcap-config")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    count = next(line for line in lines if "{call=--param-count}" in line)
    assert "{type=integer}" in count and "{range=0,10000}" in count and "{default=3}" in count
    family = next(line for line in lines if "{call=--param-family}" in line)
    number = re.search(r"\{number=(\d+)\}", family)
    assert number and "{type=selector}" in family
    assert f"value {{arg={number[1]}}}{{value=ipv4}}{{display=ipv4}}{{default=true}}" in lines
    assert f"value {{arg={number[1]}}}{{value=ipv6}}{{display=ipv6}}{{default=false}}" in lines
    args = [line for line in lines if line.startswith("arg ")]
    assert len(args) == len(TcpHandshake.params)


def test_dlts_name_the_link_type() -> None:
    result = _visualizer("extcap", "--extcap-interface", IFACE, "--extcap-dlts")
    assert result.stdout == "dlt {number=1}{name=EN10MB}{display=Ethernet}\n"


def test_an_unknown_interface_is_one_line_and_exit_2() -> None:
    result = _visualizer("extcap", "--extcap-interface", "visualizer-nope", "--extcap-dlts")
    assert result.returncode == 2
    assert result.stderr.startswith("visualizer: extcap: no interface 'visualizer-nope'")
    assert len(result.stderr.splitlines()) == 1


def _read_fifo(path: Path, into: list[bytes]) -> None:
    with open(path, "rb") as fifo:
        into.append(fifo.read())


@pytest.mark.capture
@pytest.mark.tshark
def test_capture_writes_the_recording_into_the_fifo_with_the_parameters(tmp_path: Path) -> None:
    fifo = tmp_path / "wireshark_extcap"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=_read_fifo, args=(fifo, got))   # as dumpcap reads it
    reader.start()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    result = _visualizer("extcap", "--capture", "--extcap-interface", IFACE, "--fifo",
                         str(fifo), "--param-count", "0", "--extcap-capture-filter", "tcp",
                         env=env)
    reader.join(30)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""   # Wireshark shows anything there as an error
    out = tmp_path / "got.pcapng"
    out.write_bytes(got[0])
    flags = _tshark_flags(out)
    # count=0: the handshake and the close, no data
    assert flags[:3] == ["0x0002", "0x0012", "0x0010"]
    assert not any(f in ("0x0018",) for f in flags)


def _tshark_flags(path: Path) -> list[str]:
    result = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "tcp.flags"],
                            capture_output=True, text=True, timeout=60, check=True)
    return result.stdout.split()


@pytest.mark.capture
@pytest.mark.tshark
@pytest.mark.timeout(600)   # tshark asks every interface for its config, a Python start each
def test_tshark_lists_and_records_the_scenarios_after_setup_extcap(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("XDG_CONFIG_HOME", None)
    setup = _visualizer("setup-extcap", env=env)
    assert setup.returncode == 0, setup.stderr
    launchers = list(home.rglob("packet-visualizer"))
    assert len(launchers) == 1 and os.access(launchers[0], os.X_OK)
    assert str(launchers[0]) in setup.stdout

    listed = subprocess.run(["tshark", "-D"], capture_output=True, text=True, env=env,
                            timeout=300)
    names = re.findall(r"^\d+\. (visualizer-[\w-]+) ", listed.stdout, re.MULTILINE)
    assert names == sorted(f"visualizer-{s.name}" for s in list_scenarios())

    out = tmp_path / "out.pcapng"
    recorded = subprocess.run(["tshark", "-i", IFACE, "-a", "duration:120", "-w", str(out)],
                              capture_output=True, text=True, env=env, timeout=300)
    assert recorded.returncode == 0, recorded.stderr
    assert "Error" not in recorded.stderr
    assert _tshark_flags(out)[:3] == ["0x0002", "0x0012", "0x0010"]   # SYN, SYN-ACK, ACK

    removed = _visualizer("setup-extcap", "--remove", env=env)
    assert removed.returncode == 0 and str(launchers[0]) in removed.stdout
    assert not launchers[0].exists()
    again = _visualizer("setup-extcap", "--remove", env=env)
    assert "no Packet Visualizer launcher was installed" in again.stdout


def test_setup_extcap_never_replaces_a_file_it_did_not_write(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "HOME": str(home), "PATH": "/nonexistent"}   # no tshark: 4.1's folder
    folder = home / ".local" / "lib" / "wireshark" / "extcap"
    folder.mkdir(parents=True)
    (folder / "packet-visualizer").write_text("#!/bin/sh\necho someone else's\n")
    result = _visualizer("setup-extcap", env=env)
    assert result.returncode == 2 and "refusing to replace it" in result.stderr
    assert _visualizer("setup-extcap", "--remove", env=env).returncode == 0
    assert (folder / "packet-visualizer").read_text() == "#!/bin/sh\necho someone else's\n"
