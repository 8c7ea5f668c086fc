"""``visualizer setup-extcap [--remove]``: the scenarios into Wireshark's interface list.

Writes a small launcher script, ``packet-visualizer``, into the user's
personal extcap folder; Wireshark and tshark then run it as an extcap
program (``visualizer extcap``). The folder is the one tshark names:
``tshark -G folders`` lists "Personal Extcap path" from Wireshark 4.1 on
(``~/.local/lib/wireshark/extcap``); up to 4.0 it is the ``extcap`` folder
of the personal configuration (``~/.config/wireshark/extcap``). Without
tshark the 4.1 folder is used. ``--remove`` deletes our launcher from both,
and only ours.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TextIO

import visualizer
from visualizer.core.errors import BadInput
from visualizer.core.output import written

LAUNCHER = "packet-visualizer"
MARK = "# Packet Visualizer's Wireshark extcap launcher"


def _folders_from_tshark() -> dict[str, str]:
    tshark = shutil.which("tshark")
    if tshark is None:
        return {}
    try:
        result = subprocess.run([tshark, "-G", "folders"], capture_output=True, text=True,
                                timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    folders = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            folders[key.strip()] = value.strip()
    return folders


def _home_folders() -> list[Path]:
    """Both personal extcap folders, newest Wireshark's first."""
    home = Path(os.path.expanduser("~"))
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    return [home / ".local" / "lib" / "wireshark" / "extcap", config / "wireshark" / "extcap"]


def extcap_folder() -> tuple[Path, str]:
    """Where Wireshark looks for personal extcap programs, and how that was learnt."""
    folders = _folders_from_tshark()
    if folders.get("Personal Extcap path"):
        return Path(folders["Personal Extcap path"]), "tshark's Personal Extcap path"
    if folders.get("Personal configuration"):
        return (Path(folders["Personal configuration"]) / "extcap",
                "the extcap folder of tshark's personal configuration (Wireshark 4.0)")
    return _home_folders()[0], "Wireshark 4.1's default (tshark is not installed)"


def launcher_text() -> str:
    """The launcher: this interpreter, with this copy of the package first on its path."""
    package_parent = str(Path(visualizer.__file__).resolve().parents[1])
    return "\n".join([
        "#!/bin/sh",
        MARK + ", written by 'visualizer setup-extcap'.",
        "# Remove it with 'visualizer setup-extcap --remove'.",
        f"PYTHONPATH={shlex.quote(package_parent)}${{PYTHONPATH:+:$PYTHONPATH}}",
        "export PYTHONPATH",
        f'exec {shlex.quote(sys.executable)} -m visualizer extcap "$@"',
        "",
    ])


def _ours(path: Path) -> bool:
    try:
        return MARK in path.read_text(errors="replace")[:500]
    except OSError:
        return False


def setup_extcap_command(*, remove: bool, out: TextIO) -> int:
    if remove:
        removed = []
        candidates = {extcap_folder()[0], *_home_folders()}
        for folder in sorted(candidates):
            path = folder / LAUNCHER
            if path.is_file() and _ours(path):
                path.unlink()
                removed.append(str(path))
        out.write(("removed " + ", ".join(removed)) if removed
                  else "no Packet Visualizer launcher was installed")
        out.write("\n")
        return 0
    folder, how = extcap_folder()
    path = folder / LAUNCHER
    if path.exists() and not _ours(path):
        raise BadInput(f"{path} exists and is not Packet Visualizer's launcher: "
                       "refusing to replace it")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInput(f"cannot create {folder}: {err.strerror}") from None
    with written(str(path), prefix=".extcap-") as stream:
        stream.write(launcher_text().encode())
    path.chmod(0o755)
    out.write(f"installed {path} ({how}).\nWireshark and tshark now list the scenarios as "
              "capture interfaces (tshark -D); choosing one runs it. Capturing needs the "
              "privilege 'visualizer record' needs.\n")
    return 0
