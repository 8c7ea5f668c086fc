"""``visualizer install-desktop``: the app in the user's menu and file manager.

Installs into the user's XDG folders, no root needed (freedesktop.org's
Desktop Entry, Icon Theme, Shared MIME-info and MIME Applications
Associations specifications):

- ``$XDG_DATA_HOME/applications/packet-visualizer.desktop``: the entry,
  from ``resources/desktop/``, its Exec pointing at this installation;
- ``$XDG_DATA_HOME/icons/hicolor/scalable/apps/packet-visualizer.svg``;
- ``$XDG_DATA_HOME/mime/packages/packet-visualizer.xml``: pcap and pcapng
  (shared-mime-info before 2.3 has no pcapng);
- ``[Added Associations]`` in ``$XDG_CONFIG_HOME/mimeapps.list``, so
  "Open with" offers the app for both types even where no cache is rebuilt.

``update-desktop-database`` and ``update-mime-database`` run when present.
Every file goes through core/output.py. ``remove_desktop`` undoes it all and
leaves the other lines of mimeapps.list as they were.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from visualizer.core.errors import BadInput
from visualizer.core.output import written
from visualizer.core.resources import resource_root

APP_ID = "packet-visualizer"       # the Qt app's desktop file name (gui/app.py)
DESKTOP_FILE = f"{APP_ID}.desktop"
MIME_TYPES = ("application/vnd.tcpdump.pcap", "application/x-pcapng")
ASSOCIATIONS = "[Added Associations]"


@dataclass
class XdgFolders:
    data: Path       # XDG_DATA_HOME
    config: Path     # XDG_CONFIG_HOME

    @property
    def desktop_file(self) -> Path:
        return self.data / "applications" / DESKTOP_FILE

    @property
    def icon(self) -> Path:
        return self.data / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"

    @property
    def mime_package(self) -> Path:
        return self.data / "mime" / "packages" / f"{APP_ID}.xml"

    @property
    def mimeapps(self) -> Path:
        return self.config / "mimeapps.list"


@dataclass
class Report:
    written: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    unlisted: list[Path] = field(default_factory=list)  # mimeapps.list lost our lines
    ran: list[str] = field(default_factory=list)       # the cache tools that ran
    missing: list[str] = field(default_factory=list)   # the cache tools not installed


def xdg_folders(env: dict[str, str] | os._Environ[str] = os.environ) -> XdgFolders:
    """The base folders by the XDG Base Directory rules: a variable that is
    unset, empty or relative is ignored for ``$HOME/.local/share`` and
    ``$HOME/.config``."""
    def base(name: str, default: str) -> Path:
        value = env.get(name, "")
        if os.path.isabs(value):
            return Path(value)
        home = env.get("HOME", "")
        if not os.path.isabs(home):
            raise BadInput(f"neither {name} nor HOME is set to an absolute folder: set one "
                           "to say where the desktop entry goes")
        return Path(home) / default
    return XdgFolders(base("XDG_DATA_HOME", ".local/share"), base("XDG_CONFIG_HOME", ".config"))


def launcher() -> list[str]:
    """The command that starts this installation: its ``visualizer`` script,
    else its interpreter with ``-m visualizer``."""
    bindir = Path(sys.executable).parent
    script = bindir / "visualizer"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script.absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "visualizer"]


def exec_quote(arg: str) -> str:
    """One Exec argument, quoted by the Desktop Entry rules, then escaped as a
    string value (a backslash doubles again there)."""
    if arg and not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`%='):
        return arg
    inner = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return '"' + inner.replace("%", "%%").replace("\\", "\\\\") + '"'


def desktop_entry(command: list[str]) -> str:
    """The shipped entry with Exec and TryExec naming ``command``."""
    template = (resource_root() / "desktop" / DESKTOP_FILE).read_text(encoding="utf-8")
    lines = []
    for line in template.splitlines():
        if line.startswith("Exec="):
            line = "Exec=" + " ".join(exec_quote(a) for a in command) + " %f"
        elif line.startswith("TryExec="):
            line = "TryExec=" + command[0].replace("\\", "\\\\")
        lines.append(line)
    return "\n".join(lines) + "\n"


def install_desktop(folders: XdgFolders) -> Report:
    report = Report()
    icon = (resource_root() / "icons" / "app.svg").read_bytes()
    mime = (resource_root() / "desktop" / f"{APP_ID}-mime.xml").read_bytes()
    _make_folder(folders.data, mode=0o700)     # a new XDG base folder is private
    _make_folder(folders.config, mode=0o700)
    files = [(folders.desktop_file, desktop_entry(launcher()).encode()),
             (folders.icon, icon), (folders.mime_package, mime)]
    for path, data in files:
        _make_folder(path.parent)
        with written(str(path), prefix=".install-") as out:
            out.write(data)
        report.written.append(path)
    _write_mimeapps(folders.mimeapps, add=True)
    report.written.append(folders.mimeapps)
    _update_caches(folders, report)
    return report


def remove_desktop(folders: XdgFolders) -> Report:
    report = Report()
    for path in (folders.desktop_file, folders.icon, folders.mime_package):
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as err:
            raise BadInput(f"cannot remove {path}: {err.strerror}") from None
        report.removed.append(path)
    if folders.mimeapps.is_file() and _write_mimeapps(folders.mimeapps, add=False):
        report.unlisted.append(folders.mimeapps)
    if report.removed or report.unlisted:
        _update_caches(folders, report)
    return report


def _make_folder(path: Path, mode: int = 0o777) -> None:
    """Create a missing folder and any missing above it (``mode`` is the folder's own)."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=mode)
    except OSError as err:
        raise BadInput(f"cannot create the folder {path}: {err.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise BadInput(f"cannot write to the folder {path}")


def associations(text: str, *, add: bool) -> str:
    """mimeapps.list ``text`` with our entry added to (or removed from) each
    of MIME_TYPES in ``[Added Associations]``; every other line unchanged."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == ASSOCIATIONS), None)
    if start is None:
        if not add:
            return text
        if lines and lines[-1].strip():
            lines.append("")
        lines.append(ASSOCIATIONS)
        start = len(lines) - 1
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")),
               len(lines))
    pending = list(MIME_TYPES)
    section: list[str] = []
    for line in lines[start + 1:end]:
        key, sep, value = line.partition("=")
        if sep and key.strip() in MIME_TYPES:
            apps = [a for a in value.strip().split(";") if a and a != DESKTOP_FILE]
            if add:
                apps.insert(0, DESKTOP_FILE)
                pending.remove(key.strip())
            if not apps:
                continue
            line = f"{key.strip()}={';'.join(apps)};"
        section.append(line)
    if add:
        at = len(section)
        while at and not section[at - 1].strip():
            at -= 1
        section[at:at] = [f"{t}={DESKTOP_FILE};" for t in pending]
    out = [*lines[:start + 1], *section, *lines[end:]]
    return "\n".join(out) + "\n"


def _write_mimeapps(path: Path, *, add: bool) -> bool:
    """Rewrite mimeapps.list if our lines change it; True when it did."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"cannot read {path}: {getattr(err, 'strerror', None) or err}") from None
    new = associations(text, add=add)
    if new == text or (not add and new.strip() == text.strip()):
        return False
    with written(str(path), prefix=".install-") as out:
        out.write(new.encode())
    return True


def _update_caches(folders: XdgFolders, report: Report) -> None:
    for tool, folder in (("update-desktop-database", folders.data / "applications"),
                         ("update-mime-database", folders.data / "mime")):
        if shutil.which(tool) is None:
            report.missing.append(tool)
        elif folder.is_dir():
            subprocess.run([tool, str(folder)], check=False, timeout=60,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            report.ran.append(tool)
