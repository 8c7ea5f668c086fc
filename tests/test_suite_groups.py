"""The suite's own grouping (tests/conftest.py): the tests that use the machine
run one after another in one worker process, however many workers there are.

pytest-xdist reads the groups from the tests' node ids. It silently stopped
grouping twice: when our hook added the marks after xdist had read them, and
with pytest 9.2, whose node ids xdist 3.8 can no longer append the group to
(pytest-xdist issue 1386). Either way the tests still passed, side by side.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# a conftest that runs this suite's hook over the tests beside it
CONFTEST = f"""
import importlib.util

spec = importlib.util.spec_from_file_location("suite_conftest", {str(HERE / "conftest.py")!r})
suite = importlib.util.module_from_spec(spec)
spec.loader.exec_module(suite)
pytest_collection_modifyitems = suite.pytest_collection_modifyitems
"""


def test_machine_tests_run_in_one_worker(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    for module in ("test_first_machine.py", "test_second_machine.py"):   # in no other list
        (tmp_path / module).write_text("".join(
            f"def test_{k}():\n    pass\n" for k in range(4)))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    # the plugins loaded and plain text, whatever this run was given
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_ADDOPTS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PY_COLORS",
                        "FORCE_COLOR")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2",
         "--dist", "loadgroup", "--color=no", "-v", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    workers = re.findall(r"^\[(gw\d)\] .*PASSED", done.stdout, re.MULTILINE)
    assert len(workers) == 8, done.stdout
    assert len(set(workers)) == 1, done.stdout
