"""Icons and sample recordings shipped in the repository's ``resources/``."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PyQt6.QtGui import QIcon

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
SAMPLES = RESOURCES / "samples"


@cache
def icon(name: str) -> QIcon:
    """``resources/icons/NAME.svg`` (scalable, so sharp on HiDPI screens)."""
    path = RESOURCES / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


def samples() -> list[Path]:
    return sorted(SAMPLES.glob("*.pcap*")) if SAMPLES.is_dir() else []
