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
from collections.abc import Callable, Iterator
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


# tryfirst: xdist reads the groups in a hook of its own, which pluggy would
# otherwise call first (its plugin registers after this file), before any test
# has one: the groups were ignored and "machine" tests ran side by side.
@pytest.hookimpl(tryfirst=True)
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
        if "corpus" not in item.keywords and item.path.name not in COMPUTE_ONLY:
            item.add_marker(pytest.mark.xdist_group("machine"))
        elif item.path.name in ONE_WORKER:
            item.add_marker(pytest.mark.xdist_group(item.path.stem))


# With `-n 2 --dist loadgroup` (pyproject.toml) the tests run in two worker
# processes. Every test but the corpus ones and those of COMPUTE_ONLY is in the
# group "machine", which one worker runs in collection order, as a plain
# `pytest` would: they capture on lo, make namespaces, users and services, and
# count what they see, so two of them must not overlap. The others only read
# and write files (and run tshark, mypy or pip on them): either worker takes
# them, beside the first. A new test module is in "machine" until it is listed.
COMPUTE_ONLY = {
    "test_code_quality.py", "test_parquet.py", "test_package.py",
    "test_fuzz_properties.py", "test_fuzz_regressions.py", "test_tcp_properties.py",
    "test_display_filter.py", "test_follow.py", "test_faststats.py", "test_ladder_svg.py",
    "test_decode.py", "test_tcp_connection.py", "test_tcp_options.py", "test_tunnels.py",
    "test_udp_flows.py", "test_import_cycles.py", "test_ladder_render.py", "test_ladder_steep.py",
    "test_analysis.py", "test_annotate.py", "test_breakpoints.py", "test_dissect.py",
    "test_expert.py", "test_explain.py", "test_fastdecode.py", "test_fragments.py",
    "test_kinds_timescale.py", "test_ladder_many.py", "test_layers.py", "test_lessons.py",
    "test_pcapfile.py", "test_play_until.py", "test_playback.py", "test_quiz.py",
    "test_record_lines.py", "test_samples.py", "test_session_filter.py", "test_summary.py",
    "test_tcp_analysis.py", "test_tcp_oracle.py", "test_tcp_states.py", "test_tcp_streams.py",
    "test_time_sequence.py", "test_compiled.py", "test_timebins.py", "test_suite_groups.py",
}
# Of those, the modules whose module-scoped fixture is slow to make: each is a
# group of its own, so one worker makes it once (test_package.py's wheels, a
# mypyc build among them, took each worker 50 s when its tests were spread).
ONE_WORKER = {"test_package.py"}


@pytest.fixture
def tell(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Say ``text`` in the summary at the end of the run (what a corpus test
    saw). A print would be lost in an xdist worker; the report carries this."""
    def say(text: str) -> None:
        request.node.user_properties.append(("tell", text))
    return say


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    reports = [*terminalreporter.getreports("passed"), *terminalreporter.getreports("failed")]
    told = [(report.nodeid, text) for report in reports
            for key, text in report.user_properties if key == "tell"]
    if told:
        terminalreporter.section("what the corpus tests saw")
        for nodeid, text in sorted(told):
            terminalreporter.write_line(f"{nodeid}:\n{text}")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Hide what collection imported (scapy's layers, Qt, pyqtgraph, hypothesis:
    about 100,000 objects) from the cyclic garbage collector, as the app does
    with its start-up objects. A full collection walks them in about 0.2 s, and
    ``delete_closed_widgets`` collects after every test."""
    gc.collect()
    gc.freeze()


@pytest.fixture
def endpoint_texts_made(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bytes, int]]:
    """Every endpoint the analysis makes into text from now on, as (the thread
    that made it, packed address, port): tests of when and where
    ``Analysis.endpoint_texts`` does its work."""
    import threading

    from visualizer.core.flows import analysis as analysis_module

    made: list[tuple[str, bytes, int]] = []
    format_endpoint = analysis_module.format_endpoint

    def noting(raw: bytes, port: int) -> str:
        made.append((threading.current_thread().name, raw, port))
        return format_endpoint(raw, port)

    monkeypatch.setattr(analysis_module, "format_endpoint", noting)
    return made


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
