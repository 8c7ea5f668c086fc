"""Shared test set-up: headless Qt, and skips that say why.

Markers (pyproject.toml): ``capture`` needs CAP_NET_RAW, ``corpus`` needs
../shared/corpus, ``tshark`` needs tshark on PATH.
"""

from __future__ import annotations

import gc
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "tcpdump"
REAL_CORPUS = REPO.parent / "shared" / "corpus" / "real"   # and SOURCES.md, not a capture


def can_capture() -> bool:
    """True when this process may open a packet socket (CAP_NET_RAW)."""
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except OSError:
        return False
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reasons = {}
    if not can_capture():
        reasons["capture"] = "capture not permitted: needs CAP_NET_RAW (run the tests as root)"
    if not CORPUS.is_dir():
        reasons["corpus"] = f"the tcpdump corpus is absent ({CORPUS})"
    if shutil.which("tshark") is None:
        reasons["tshark"] = "tshark is not installed (apt install tshark)"
    for item in items:
        for marker, reason in reasons.items():
            if marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def corpus_dir() -> Path:
    return CORPUS


def corpus_files(directory: Path) -> list[Path]:
    """The captures of a corpus folder, in name order."""
    return sorted(p for p in directory.iterdir() if p.suffix != ".md")


@pytest.fixture(autouse=True)
def delete_closed_widgets() -> Iterator[None]:
    """Delete the widgets pytest-qt closed after a test while the test's objects
    still stand, instead of whenever the garbage collector next runs, in the
    middle of a later test (a half-deleted plot can crash Qt there)."""
    yield
    widgets = sys.modules.get("PyQt6.QtWidgets")
    if widgets is None:
        return
    app = widgets.QApplication.instance()
    if app is None:
        return
    from PyQt6.QtCore import QEvent

    app.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    gc.collect()
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
