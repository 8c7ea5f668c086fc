"""The app as a user installs it: sdist, then a wheel built from that sdist
(as pip does), installed into a fresh venv outside the checkout.

The wheel from the sdist has the analysis compiled with mypyc (this
environment has mypyc and .ci/setup installs a C compiler and Python's
headers); the first wheel, built from the checkout with ``PV_COMPILE=0``, is
the interpreted fallback.

The venv gets the pinned dependencies (PyQt6 is 100 MB) from the test's own
environment through a path file, after its own site-packages: the
``visualizer`` package and its resources come from the wheel alone, which
the tests check before anything else.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

from visualizer.core import compiled

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "visualizer", "resources",
           "docs")


def _run(*args: str | Path, timeout: float = 120, **kwargs: object
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, check=True, **kwargs)  # type: ignore[call-overload]


BUILD_TIMEOUT = 600   # mypyc type-checks and compiles the analysis: about a minute
COMPILED_STATUS = """
import importlib, json
from visualizer.core.compiled import MODULES, status
for name in MODULES:
    importlib.import_module(name)
print(json.dumps(status()))
"""


def _clean_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(HOME=str(tmp / "home"), XDG_CONFIG_HOME=str(tmp / "home" / ".config"),
               XDG_DATA_HOME=str(tmp / "home" / ".local" / "share"),
               QT_QPA_PLATFORM="offscreen")
    return env


def _copy_sources(checkout: Path) -> Path:
    """A copy of what the build reads, so building leaves nothing in the real tree."""
    checkout.mkdir()
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, checkout / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so",
                                                          compiled.RECORD))
        else:
            shutil.copy2(src, checkout / name)
    return checkout


def _venv(venv: Path) -> Path:
    """A fresh venv that sees this environment's packages only after its own."""
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    purelib = Path(_run(venv / "bin" / "python", "-c",
                        "import sysconfig; print(sysconfig.get_paths()['purelib'])"
                        ).stdout.strip())
    (purelib / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """(the venv, an environment to run it in), after sdist -> wheel -> install."""
    tmp = tmp_path_factory.mktemp("package")
    checkout = _copy_sources(tmp / "checkout")
    dist = tmp / "dist"
    py = sys.executable
    # proves the build config, and that it builds without compiling; the sdist
    # below is what ships
    _run(py, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", dist, checkout, env=dict(os.environ, PV_COMPILE="0"), timeout=BUILD_TIMEOUT)
    (fallback,) = dist.glob("*.whl")
    with zipfile.ZipFile(fallback) as whl:
        names = whl.namelist()
    assert "visualizer/core/tcp/connection.py" in names
    assert not [n for n in names if n.endswith(".so") or n.endswith(compiled.RECORD)]
    fallback.unlink()
    code = ("import setuptools.build_meta as b, sys; "
            f"print(b.build_sdist({str(dist)!r}))")
    sdist = dist / _run(py, "-c", code, cwd=checkout).stdout.split()[-1]
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp / "unpacked", filter="data")
    (unpacked,) = (tmp / "unpacked").iterdir()
    _run(py, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", dist, unpacked, timeout=BUILD_TIMEOUT)
    (wheel,) = dist.glob("*.whl")

    venv = _venv(tmp / "venv")
    _run(py, "-m", "pip", "--python", venv / "bin" / "python", "install", "--no-deps",
         "--no-index", wheel)
    shutil.rmtree(checkout)
    shutil.rmtree(tmp / "unpacked")
    return venv, _clean_env(tmp)


def _python(installed: tuple[Path, dict[str, str]], code: str) -> str:
    venv, env = installed
    return _run(venv / "bin" / "python", "-c", textwrap.dedent(code),
                cwd=venv.parent, env=env).stdout


def test_wheel_holds_every_resource_file(installed: tuple[Path, dict[str, str]]) -> None:
    out = json.loads(_python(installed, """
        import json, visualizer
        from visualizer.core.resources import resource_root
        root = resource_root()
        print(json.dumps({"package": visualizer.__file__, "root": str(root),
                          "files": sorted(str(p.relative_to(root)) for p in root.rglob("*")
                                          if p.is_file() and "__pycache__" not in p.parts)}))
    """))
    venv, _ = installed
    assert out["package"].startswith(str(venv)), "visualizer was not imported from the wheel"
    assert out["root"].startswith(str(venv))
    shipped = sorted(str(p.relative_to(ROOT / "resources"))
                     for p in (ROOT / "resources").rglob("*")
                     if p.is_file() and "__pycache__" not in p.parts)
    assert out["files"] == shipped


def test_wheel_holds_the_user_guide_and_its_pictures(installed: tuple[Path, dict[str, str]]
                                                     ) -> None:
    """Help > User Guide (F1) shows docs/user-guide.md: an installed app has it too."""
    out = json.loads(_python(installed, """
        import json
        from visualizer.core.resources import user_guide
        guide = user_guide()
        print(json.dumps({"guide": str(guide), "text": guide.read_text()[:200],
                          "pictures": sorted(p.name for p in
                                             (guide.parent / "screenshots").glob("*.png"))}))
    """))
    venv, _ = installed
    assert out["guide"].startswith(str(venv))
    assert out["text"] == (ROOT / "docs" / "user-guide.md").read_text()[:200]
    assert out["pictures"] == sorted(p.name for p in (ROOT / "docs" / "screenshots").glob("*.png"))


WINDOW = """
    import json
    from PyQt6.QtCore import QSettings
    from PyQt6.QtWidgets import QApplication, QToolBar
    from visualizer.gui.mainwindow import MainWindow
    app = QApplication([])
    window = MainWindow(settings=QSettings("scratch.ini", QSettings.Format.IniFormat))
    stage = window.stage
    buttons = [stage.btn_first, stage.btn_back, stage.btn_play, stage.btn_forward,
               stage.btn_last]
    main = window.findChild(QToolBar, "toolbar-main")
    print(json.dumps({
        "window": not window.windowIcon().isNull(),
        "buttons": {b.toolTip(): not b.icon().isNull() for b in buttons},
        "toolbar": {a.text(): not a.icon().isNull() for a in main.actions()
                    if not a.isSeparator()},
        "samples": [a.text() for a in window.sample_menu.actions()],
    }))
    window.close()
"""


def test_installed_window_has_icons_and_samples(installed: tuple[Path, dict[str, str]],
                                                tmp_path: Path) -> None:
    """The installed window is the checkout's: same icons, same samples."""
    out = json.loads(_python(installed, WINDOW))
    assert out["window"]
    assert out["buttons"] and all(out["buttons"].values()), out["buttons"]
    assert sum(out["toolbar"].values()) >= 4, out["toolbar"]
    samples = sorted((ROOT / "resources" / "samples").glob("*.pcap*"))
    assert samples and len(out["samples"]) == len(samples)
    _, env = installed
    checkout = json.loads(_run(sys.executable, "-c", textwrap.dedent(WINDOW), cwd=tmp_path,
                               env=dict(env, PYTHONPATH=str(ROOT))).stdout)
    assert out == checkout


def test_installed_command_line_lists_scenarios(installed: tuple[Path, dict[str, str]]
                                                ) -> None:
    venv, env = installed
    result = _run(venv / "bin" / "visualizer", "scenarios", cwd=venv.parent, env=env)
    assert "tcp-handshake" in result.stdout


def test_installed_wheel_runs_the_compiled_analysis(installed: tuple[Path, dict[str, str]]
                                                    ) -> None:
    venv, _ = installed
    status = json.loads(_python(installed, COMPILED_STATUS))
    assert status["compiled"] is True, status["reason"]
    for name, file in status["modules"].items():
        assert file.startswith(str(venv)) and file.endswith(".so"), (name, file)


def test_editable_install_finds_resources_by_import(tmp_path: Path) -> None:
    """``pip install -e`` (as .ci/setup installs): setuptools' finder maps
    visualizer.resources to the checkout's resources/ folder (not the fallback for
    an uninstalled tree), and the compiled analysis lies in the checkout, in use
    until its source is edited."""
    checkout = _copy_sources(tmp_path / "checkout")
    venv = _venv(tmp_path / "venv")
    _run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install",
         "--no-deps", "--no-build-isolation", "--no-index", "-e", checkout,
         timeout=BUILD_TIMEOUT)
    env = _clean_env(tmp_path)
    out = _run(venv / "bin" / "python", "-c",
               "import importlib.resources as r; print(r.files('visualizer.resources'))",
               cwd=tmp_path, env=env).stdout.strip()
    assert out == str(checkout / "resources")
    status = json.loads(_run(venv / "bin" / "python", "-c", COMPILED_STATUS, cwd=tmp_path,
                             env=env).stdout)
    assert status["compiled"] is True, status["reason"]
    assert all(f.startswith(str(checkout)) and f.endswith(".so")
               for f in status["modules"].values()), status
    source = checkout / "visualizer" / "core" / "tcp" / "connection.py"
    source.write_text(source.read_text() + "\n# edited after the build\n")
    status = json.loads(_run(venv / "bin" / "python", "-c", COMPILED_STATUS, cwd=tmp_path,
                             env=env).stdout)
    assert status["compiled"] is False
    assert all(f.startswith(str(checkout)) and f.endswith(".py")
               for f in status["modules"].values()), status
