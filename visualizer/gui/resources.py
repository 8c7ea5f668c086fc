"""Icons and sample recordings shipped in ``resources/`` (core/resources.py
says how they are found, installed or not)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PyQt6.QtGui import QIcon

from visualizer.core.resources import resource_root

RESOURCES: Path = resource_root()
SAMPLES = RESOURCES / "samples"


@cache
def icon(name: str) -> QIcon:
    """``resources/icons/NAME.svg`` (scalable, so sharp on HiDPI screens)."""
    path = RESOURCES / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


def samples() -> list[Path]:
    return sorted(SAMPLES.glob("*.pcap*")) if SAMPLES.is_dir() else []


def sample_label(path: Path) -> str:
    """'tcp-handshake: a TCP connection: three-way handshake, …' for the Open Sample
    menu: the scenario a sample recorded, and its summary."""
    from visualizer.core.errors import BadInput
    from visualizer.core.traffic.registry import get_scenario

    name = path.name.split(".")[0]
    try:
        return f"{name}: {get_scenario(name).summary}"
    except BadInput:
        return path.name
