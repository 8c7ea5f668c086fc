"""The layering rule of DESIGN.md: the core and the headless CLI load no Qt."""

import subprocess
import sys

import pytest

QT_MODULES = ("PyQt6", "pyqtgraph")


@pytest.mark.parametrize("module", [
    "visualizer.core",
    "visualizer.core.decode.store",
    "visualizer.core.pcap.reader",
    "visualizer.core.decode.headers",
    "visualizer.core.capture.loop",
    "visualizer.core.record",
    "visualizer.core.flows.analysis",
    "visualizer.core.traffic",
    "visualizer.core.tcp.connection",
    "visualizer.core.decode.dissect",
    "visualizer.core.playback.cursor",
    "visualizer.core.describe.explain",
    "visualizer.core.describe.kinds",
    "visualizer.core.filter.evaluate",
    "visualizer.core.pcap.growing",
    "visualizer.core.capture.privileges",
    "visualizer.cli",
    "visualizer.commands.analyze",
    "visualizer.commands.record",
    "visualizer.commands.export",
    "visualizer.commands.ladder",
    "visualizer.commands.setup_capture",
])
def test_headless_modules_load_no_qt(module: str) -> None:
    code = (f"import sys, {module}; "
            f"bad = [m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}]; "
            "print(','.join(bad)); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, f"{module} loaded Qt: {result.stdout}{result.stderr}"


def test_cli_headless_commands_load_no_qt() -> None:
    code = ("import sys; from visualizer.cli import main; "
            "main(['scenarios']); "
            f"bad = [m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}]; "
            "sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_core_module_loads_qt() -> None:
    """Every module under visualizer.core, including ones added after this list."""
    code = ("import importlib, pkgutil, sys, visualizer.core as core\n"
            "for m in pkgutil.walk_packages(core.__path__, 'visualizer.core.'):\n"
            "    importlib.import_module(m.name)\n"
            f"bad = [m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}]\n"
            "print(','.join(bad)); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, f"a core module loaded Qt: {result.stdout}{result.stderr}"
