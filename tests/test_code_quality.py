"""The linters the project's settings name (pyproject.toml) pass on the whole tree."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_ruff() -> None:
    result = _run("ruff", "check", "visualizer", "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy(tmp_path: Path) -> None:
    cache = str(tmp_path / "mypy-cache")
    result = _run("mypy", "--cache-dir", cache)
    assert result.returncode == 0, result.stdout + result.stderr
    # The benchmarks are scripts outside the package: checked on their own.
    result = _run("mypy", "--cache-dir", cache, "tests/benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr
