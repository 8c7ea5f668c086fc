"""``visualizer install-desktop [--remove]``: the menu entry, the icon and
"Open with" for pcap files, in the user's XDG folders (core/desktop.py)."""

from __future__ import annotations

from typing import TextIO

from visualizer.core.desktop import install_desktop, remove_desktop, xdg_folders


def install_desktop_command(*, remove: bool, out: TextIO) -> int:
    folders = xdg_folders()
    if remove:
        report = remove_desktop(folders)
        for path in report.removed:
            out.write(f"removed {path}\n")
        for path in report.unlisted:
            out.write(f"removed the app's associations from {path}\n")
        if not report.removed and not report.unlisted:
            out.write(f"nothing to remove: no desktop entry in {folders.data}\n")
    else:
        report = install_desktop(folders)
        for path in report.written:
            out.write(f"wrote {path}\n")
    for tool in report.ran:
        out.write(f"ran {tool}\n")
    for tool in report.missing:
        out.write(f"{tool} is not installed: its cache was not updated (mimeapps.list "
                  "still lists the app under \"Open with\")\n")
    return 0
