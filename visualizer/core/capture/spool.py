"""Where live captures are spooled and scenario recordings are kept.

A live capture writes every packet to a spool file as it arrives (as
Wireshark keeps a temporary file), so neither a GUI crash nor a killed
capture process loses what was captured. Spool names carry the PID of the
application that owns them; a spool whose owner is gone is an orphan that
the next start offers to recover.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from visualizer.core.pcap import format as fmt

_SPOOL_NAME = re.compile(r"^(?P<kind>[a-z]+)-(?P<pid>\d+)-(?P<stamp>\d{8}-\d{6})(-\d+)?\.pcap$")


def data_dir() -> Path:
    """``$XDG_DATA_HOME/packet-visualizer`` (``~/.local/share/...`` by default)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"),
                                                           ".local", "share")
    return Path(base) / "packet-visualizer"


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def spool_dir() -> Path:
    return _private_dir(data_dir() / "spool")


def recordings_dir() -> Path:
    return _private_dir(data_dir() / "recordings")


_handed_out: set[Path] = set()


def new_spool_path(kind: str = "live") -> Path:
    """A fresh spool path (not created: the capture process creates it)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = spool_dir()
    path = base / f"{kind}-{os.getpid()}-{stamp}.pcap"
    n = 1
    # Not created yet, so remember what was handed out (both ends of a path
    # ask for one in the same second).
    while path.exists() or path in _handed_out:
        path = base / f"{kind}-{os.getpid()}-{stamp}-{n}.pcap"
        n += 1
    _handed_out.add(path)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


@dataclass(frozen=True)
class Orphan:
    path: Path
    size: int
    modified: float


def orphans() -> list[Orphan]:
    """Spools left by an application that is no longer running, newest first.

    Spools with no packet (just the pcap header) are removed on the way.
    """
    found = []
    directory = data_dir() / "spool"
    if not directory.is_dir():
        return []
    for path in directory.iterdir():
        match = _SPOOL_NAME.match(path.name)
        if match is None or _alive(int(match["pid"])):
            continue
        try:
            st = path.stat()
        except OSError:
            continue
        if st.st_size <= fmt.PCAP_FILE_HEADER_LEN:
            path.unlink(missing_ok=True)
            continue
        found.append(Orphan(path, st.st_size, st.st_mtime))
    return sorted(found, key=lambda o: o.modified, reverse=True)
