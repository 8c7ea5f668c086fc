"""privileges.py: which interpreter or helper captures, whether it may, and how
to permit it.

Stand-in interpreters here are small shell scripts that answer the probe as a
permitted or refused interpreter would (exit 0, or 3 for EPERM).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import can_capture

from visualizer.core.capture import privileges
from visualizer.core.capture.privileges import (
    CAPTURE_HELPER_ENV,
    CAPTURE_HELPER_NAME,
    CAPTURE_PYTHON_ENV,
    CAPTURE_PYTHON_NAME,
    capture_helper,
    capture_python,
    check_capture,
    check_helper,
    grant_commands,
    helper_source,
    manual_commands,
)


def script(path: Path, body: str, mode: int = 0o755) -> str:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(mode)
    return str(path)


@pytest.fixture
def venv_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A venv's bin holding this interpreter (a symlink), as sys.executable."""
    bindir = tmp_path / "venv" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "python").symlink_to(os.path.realpath(sys.executable))
    monkeypatch.setattr(sys, "executable", str(bindir / "python"))
    monkeypatch.delenv(CAPTURE_PYTHON_ENV, raising=False)
    monkeypatch.delenv(CAPTURE_HELPER_ENV, raising=False)
    return bindir


# -- which interpreter ------------------------------------------------------------

def test_without_a_dedicated_interpreter_capture_uses_this_one(venv_bin: Path) -> None:
    assert capture_python() == str(venv_bin / "python")


def test_a_dedicated_interpreter_beside_this_one_is_used(venv_bin: Path) -> None:
    dedicated = script(venv_bin / CAPTURE_PYTHON_NAME, "exit 0")
    assert capture_python() == dedicated


def test_a_dedicated_interpreter_this_user_may_not_run_is_not_used(venv_bin: Path) -> None:
    script(venv_bin / CAPTURE_PYTHON_NAME, "exit 0", mode=0o640)
    assert capture_python() == str(venv_bin / "python")


def test_the_environment_names_the_interpreter_first(
        venv_bin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script(venv_bin / CAPTURE_PYTHON_NAME, "exit 0")
    monkeypatch.setenv(CAPTURE_PYTHON_ENV, "/opt/elsewhere/python-capture")
    assert capture_python() == "/opt/elsewhere/python-capture"


def test_a_capture_helper_beside_this_interpreter_is_found(venv_bin: Path) -> None:
    assert capture_helper() is None
    helper = script(venv_bin / CAPTURE_HELPER_NAME, "exit 0")
    assert capture_helper() == helper
    assert capture_python() == str(venv_bin / "python")  # the capture process needs no copy


def test_a_capture_helper_this_user_may_not_run_is_not_used(venv_bin: Path) -> None:
    script(venv_bin / CAPTURE_HELPER_NAME, "exit 0", mode=0o640)
    assert capture_helper() is None


def test_the_environment_names_the_helper_first(
        venv_bin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script(venv_bin / CAPTURE_HELPER_NAME, "exit 0")
    monkeypatch.setenv(CAPTURE_HELPER_ENV, "/opt/elsewhere/capture-helper")
    assert capture_helper() == "/opt/elsewhere/capture-helper"


# -- may it capture ---------------------------------------------------------------

def test_this_interpreter_is_probed_in_process(venv_bin: Path) -> None:
    permission = check_capture()
    assert permission.python == sys.executable
    assert permission.permitted == can_capture()
    if not permission.permitted:
        assert "CAP_NET_RAW" in permission.reason


def without_cap_net_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process as an unprivileged user sees it: no packet socket."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(privileges.socket, "socket", refuse)


def test_without_the_privilege_the_helper_is_asked(
        venv_bin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    without_cap_net_raw(monkeypatch)
    helper = script(venv_bin / CAPTURE_HELPER_NAME,
                    'test "$1" = --check && test "$#" = 1 && exit 0; exit 2')
    assert check_capture() == privileges.CapturePermission(True, sys.executable, "", helper)


def test_a_helper_that_may_not_capture_says_so(
        venv_bin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    without_cap_net_raw(monkeypatch)
    helper = script(venv_bin / CAPTURE_HELPER_NAME, "exit 3")
    permission = check_capture()
    assert not permission.permitted and permission.helper == helper
    assert permission.reason == f"the capture helper {helper} lacks CAP_NET_RAW"


def test_a_helper_this_user_may_not_run_is_named_with_its_group(
        venv_bin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    without_cap_net_raw(monkeypatch)
    helper = script(venv_bin / CAPTURE_HELPER_NAME, "exit 0", mode=0o640)
    permission = check_capture()
    assert not permission.permitted
    assert f"{helper} exists but this user may not run it: only members of " in \
        permission.reason


def test_a_permitted_interpreter(tmp_path: Path) -> None:
    python = script(tmp_path / "python", 'test "$1" = -I && test "$2" = -c && exit 0; exit 1')
    assert check_capture(python) == privileges.CapturePermission(True, python, "")


def test_a_refused_interpreter_names_the_capability(tmp_path: Path) -> None:
    python = script(tmp_path / "python", "exit 3")
    permission = check_capture(python)
    assert not permission.permitted
    assert permission.reason == f"the capture interpreter {python} lacks CAP_NET_RAW"


def test_a_broken_interpreter_says_what_it_said(tmp_path: Path) -> None:
    python = script(tmp_path / "python", "echo 'libpython3.11.so.1.0: cannot open' >&2; exit 127")
    permission = check_capture(python)
    assert not permission.permitted
    assert permission.reason.endswith("failed: libpython3.11.so.1.0: cannot open")


def test_a_missing_interpreter(tmp_path: Path) -> None:
    permission = check_capture(str(tmp_path / "nowhere"))
    assert not permission.permitted
    assert "cannot run the capture interpreter" in permission.reason
    assert "No such file" in permission.reason


def test_the_real_interpreter_in_a_child_agrees_with_this_process(tmp_path: Path) -> None:
    # Not sys.executable itself, so the probe runs in a child process.
    other = tmp_path / "python"
    other.symlink_to(os.path.realpath(sys.executable))
    assert check_capture(str(other)).permitted == can_capture()


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A directory every user can reach (pytest's tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="pv-privileges-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may probe as another user")
def test_the_probe_runs_as_the_given_user_with_only_the_given_group(public_dir: Path) -> None:
    # Permitted only when run as uid 65534 with group 65534 and no other group.
    python = script(public_dir / "python",
                    'test "$(id -u)" = 65534 && test "$(id -G)" = 65534 && exit 0; exit 3')
    assert check_capture(python, uid=65534, gid=65534).permitted
    assert not check_capture(python).permitted  # as root
    helper = script(public_dir / "helper",
                    'test "$(id -u)" = 65534 && test "$(id -G)" = 65534 && exit 0; exit 3')
    assert check_helper(helper, uid=65534, gid=65534).permitted
    assert not check_helper(helper).permitted


# -- how to permit it -------------------------------------------------------------

def test_the_grant_command_is_setup_capture_of_this_installation(venv_bin: Path) -> None:
    script(venv_bin / "visualizer", "exit 0")
    (command,) = grant_commands()
    assert shlex.split(command) == ["sudo", str(venv_bin / "visualizer"), "setup-capture"]


def test_without_the_script_the_grant_command_runs_the_module(venv_bin: Path) -> None:
    (command,) = grant_commands()
    assert shlex.split(command) == ["sudo", sys.executable, "-m", "visualizer",
                                    "setup-capture"]


def test_the_manual_recipe_builds_the_helper_and_sets_the_capability_last(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "my venv" / "bin"  # a space, to check the quoting
    monkeypatch.setattr(sys, "executable", str(bindir / "python"))
    lines = [shlex.split(line) for line in manual_commands("pcap")]
    target = str(bindir / CAPTURE_HELPER_NAME)
    assert lines == [["sudo", "cc", "-O2", "-o", target, helper_source()],
                     ["sudo", "chgrp", "pcap", target], ["sudo", "chmod", "0750", target],
                     ["sudo", "setcap", "cap_net_raw+ep", target]]


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setcap") is None
                    or shutil.which("getcap") is None or shutil.which("cc") is None,
                    reason="needs root, setcap/getcap and a C compiler")
def test_the_manual_recipe_works_as_written(venv_bin: Path, tmp_path: Path) -> None:
    # Run the recipe through a shell exactly as printed; we are root already,
    # so `sudo` is a pass-through.
    shim = tmp_path / "shim"
    shim.mkdir()
    script(shim / "sudo", 'exec "$@"')
    env = {**os.environ, "PATH": f"{shim}:{os.environ.get('PATH', os.defpath)}"}
    for line in manual_commands():
        subprocess.run(["bash", "-c", line], env=env, check=True)
    target = venv_bin / CAPTURE_HELPER_NAME
    info = target.stat()
    assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (0, os.getgid(), 0o750)
    getcap = subprocess.run(["getcap", str(target)], capture_output=True, text=True, check=True)
    assert getcap.stdout.split()[-1] == "cap_net_raw=ep"
    assert check_helper(str(target)).permitted
