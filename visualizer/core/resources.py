"""Where the shipped resources are (icons, samples, the desktop entry).

The build maps the repository's top-level ``resources/`` folder to the
package ``visualizer.resources`` (setup.py), so an installed app, editable
or not, finds it with ``importlib.resources``. Run from a bare checkout
(``PYTHONPATH=.``, nothing installed) that package is not importable, and
the folder beside the source is used.
"""

from __future__ import annotations

import importlib.resources
from functools import cache
from pathlib import Path

PACKAGE = "visualizer.resources"


@cache
def resource_root() -> Path:
    try:
        root = importlib.resources.files(PACKAGE)
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "resources"
    # A pip-installed package is a folder on disk (never a zip), so a Path.
    return Path(str(root))


@cache
def user_guide() -> Path:
    """The user guide (docs/user-guide.md), shipped as ``visualizer.docs``; the
    checkout's docs/ when that package is not importable (a bare checkout)."""
    try:   # a folder without __init__.py: joinpath gives the file's real path
        return Path(str(importlib.resources.files("visualizer.docs") / "user-guide.md"))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "docs" / "user-guide.md"
