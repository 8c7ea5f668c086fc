"""``visualizer install-desktop``: into a temporary XDG_DATA_HOME, checked with
freedesktop's own validator and with GLib (gio), which is how a file manager
decides what "Open with" offers for a file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from visualizer.core.desktop import DESKTOP_FILE, associations, exec_quote

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "resources" / "samples" / "tcp-handshake.pcapng"
needs = {tool: pytest.mark.skipif(shutil.which(tool) is None,
                                  reason=f"{tool} is not installed (.ci/setup installs it)")
         for tool in ("desktop-file-validate", "gio", "update-mime-database")}


def visualizer(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "visualizer", *args], capture_output=True,
                          text=True, timeout=60, env=env)


@pytest.fixture
def xdg(tmp_path: Path) -> dict[str, str]:
    """An environment whose XDG folders do not exist yet."""
    env = dict(os.environ)
    env.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "home" / "data"),
               XDG_CONFIG_HOME=str(tmp_path / "home" / "config"))
    return env


def gio(*args: str, env: dict[str, str]) -> str:
    return subprocess.run(["gio", *args], capture_output=True, text=True, timeout=30,
                          env=env, check=True).stdout


@needs["desktop-file-validate"]
def test_install_writes_a_valid_entry_and_the_icon(xdg: dict[str, str]) -> None:
    result = visualizer("install-desktop", env=xdg)
    assert result.returncode == 0, result.stderr
    data = Path(xdg["XDG_DATA_HOME"])
    entry = data / "applications" / DESKTOP_FILE
    check = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True,
                           text=True, timeout=30)
    assert check.returncode == 0 and check.stdout == "", check.stdout
    text = entry.read_text()
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec="))
    command = exec_line.removeprefix("Exec=").removesuffix(" %f")
    assert os.access(command.split(" ")[0].strip('"'), os.X_OK), exec_line
    icon = data / "icons" / "hicolor" / "scalable" / "apps" / "packet-visualizer.svg"
    assert icon.read_bytes() == (ROOT / "resources" / "icons" / "app.svg").read_bytes()
    assert "Icon=packet-visualizer\n" in text
    assert (Path(xdg["XDG_DATA_HOME"]).stat().st_mode & 0o777) == 0o700  # created private


@needs["gio"]
@needs["update-mime-database"]
def test_file_manager_offers_the_app_for_pcap_and_pcapng(xdg: dict[str, str],
                                                         tmp_path: Path) -> None:
    assert visualizer("install-desktop", env=xdg).returncode == 0
    pcapng = tmp_path / "x.pcapng"
    shutil.copy(SAMPLE, pcapng)
    info = gio("info", "-a", "standard::content-type", str(pcapng), env=xdg)
    assert "application/x-pcapng" in info
    for mime in ("application/vnd.tcpdump.pcap", "application/x-pcapng"):
        assert f"\t{DESKTOP_FILE}" in gio("mime", mime, env=xdg), mime

    result = visualizer("install-desktop", "--remove", env=xdg)
    assert result.returncode == 0, result.stderr
    assert DESKTOP_FILE not in gio("mime", "application/x-pcapng", env=xdg)
    assert not (Path(xdg["XDG_DATA_HOME"]) / "applications" / DESKTOP_FILE).exists()


def test_install_twice_then_remove_keeps_other_associations(xdg: dict[str, str]) -> None:
    config = Path(xdg["XDG_CONFIG_HOME"])
    config.mkdir(parents=True)
    mimeapps = config / "mimeapps.list"
    before = ("[Default Applications]\ntext/plain=gedit.desktop;\n\n[Added Associations]\n"
              "application/x-pcapng=wireshark.desktop;\nimage/png=gimp.desktop;\n")
    mimeapps.write_text(before)
    for _ in range(2):
        assert visualizer("install-desktop", env=xdg).returncode == 0
    text = mimeapps.read_text()
    assert "application/x-pcapng=packet-visualizer.desktop;wireshark.desktop;\n" in text
    assert text.count("packet-visualizer.desktop") == 2   # one per type, not per install
    result = visualizer("install-desktop", "--remove", env=xdg)
    assert result.returncode == 0, result.stderr
    assert mimeapps.read_text() == before
    again = visualizer("install-desktop", "--remove", env=xdg)
    assert again.returncode == 0 and "nothing to remove" in again.stdout


def test_no_place_to_install_is_one_line_with_exit_2(xdg: dict[str, str],
                                                     tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    xdg["XDG_DATA_HOME"] = str(blocker / "data")
    result = visualizer("install-desktop", env=xdg)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cannot create the folder" in result.stderr
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "HOME"):
        xdg.pop(name)
    result = visualizer("install-desktop", env=xdg)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "HOME" in result.stderr


def test_exec_quoting_follows_the_desktop_entry_rules() -> None:
    assert exec_quote("/opt/pv/bin/visualizer") == "/opt/pv/bin/visualizer"
    assert exec_quote("/home/a b/visualizer") == '"/home/a b/visualizer"'
    # inside quotes $ gets a backslash, which the string escaping doubles
    assert exec_quote("/x/$HOME/v") == '"/x/\\\\$HOME/v"'
    assert exec_quote("/x/100%/v") == '"/x/100%%/v"'


def test_associations_add_a_section_when_there_is_none() -> None:
    out = associations("[Default Applications]\ntext/plain=a.desktop;\n", add=True)
    assert out == ("[Default Applications]\ntext/plain=a.desktop;\n\n[Added Associations]\n"
                   "application/vnd.tcpdump.pcap=packet-visualizer.desktop;\n"
                   "application/x-pcapng=packet-visualizer.desktop;\n")


def test_a_file_as_the_first_word_opens_it_in_the_window(tmp_path: Path) -> None:
    """What a file manager runs: ``visualizer FILE`` behaves as ``gui FILE``."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / "config"))
    shot = tmp_path / "shot.png"
    result = visualizer(str(SAMPLE), "--screenshot", str(shot), "--size", "800x600", env=env)
    assert result.returncode == 0, result.stderr
    assert shot.read_bytes().startswith(b"\x89PNG")
    missing = visualizer(str(tmp_path / "gone.pcap"), env=env)
    assert missing.returncode == 2 and "gone.pcap: no such file" in missing.stderr
    typo = visualizer("analyse", env=env)   # not a file: still a usage error
    assert typo.returncode == 2 and "invalid choice" in typo.stderr
