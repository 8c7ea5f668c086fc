"""Least privilege (issue 7, item 5): the window captures without any privilege.

The demonstration uses a throwaway system account, made here and removed
afterwards. ``visualizer setup-capture`` gives CAP_NET_RAW to a dedicated
interpreter in a scratch venv (never the real one); a GUI session started as
that user, holding no capability at all, then captures UDP datagrams on lo
through it, while the capture process alone holds CAP_NET_RAW. Without the
dedicated interpreter the same user is told that CAP_NET_RAW is missing.

Where the interpreter's installation is private (here /root/.pyenv, and
/root is 0700) another user cannot even start it. The test does not loosen
that on the machine: its commands run in a private mount namespace in which
the private directory is an empty tmpfs (0755) with only the needed
directories bound back at their original paths. The namespace ends with the
process that holds it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import grp
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

import pytest
from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from visualizer.cli import main
from visualizer.commands.setup_capture import setup_capture_command
from visualizer.core.capture.privileges import (
    CAPTURE_PYTHON_ENV,
    CAPTURE_PYTHON_NAME,
    CapturePermission,
)
from visualizer.core.errors import BadInput, CaptureNotPermitted
from visualizer.core.pcap.reader import CaptureFile
from visualizer.gui import mainwindow
from visualizer.gui.mainwindow import MainWindow

REPO = Path(__file__).resolve().parents[1]
TOOLS = ("useradd", "userdel", "groupadd", "groupdel", "setcap", "getcap", "setpriv",
         "unshare", "nsenter", "mount")
CAP_NET_RAW = 13
DATAGRAMS = 5

# A GUI session reduced to what matters here: the window's Document capturing
# live into a spool, as the window does, after asking check_capture() as the
# window does. It reports as JSON lines and stops after ``wanted`` packets.
SESSION = textwrap.dedent("""
    import json, os, sys
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication
    from visualizer.core.capture.privileges import check_capture
    from visualizer.core.capture.spool import new_spool_path
    from visualizer.gui.document import Document

    def say(event, **fields):
        print(json.dumps({"event": event, **fields}), flush=True)

    bpf, wanted = sys.argv[1], int(sys.argv[2])
    permission = check_capture()
    say("start", pid=os.getpid(), uid=os.getuid(), permitted=permission.permitted,
        python=permission.python, reason=permission.reason)
    app = QApplication([])
    doc = Document()
    spool = str(new_spool_path())

    def poll():
        if doc.session.store is not None and doc.capture_pid is not None:
            say("capturing", capture_pid=doc.capture_pid, spool=spool)
            ready.stop()

    def grown(count):
        if count >= wanted:
            doc.stop()

    def finished(message):
        say("finished", message=message, count=doc.session.count)
        app.quit()

    def give_up():
        say("timeout", count=doc.session.count)
        app.quit()

    ready = QTimer()
    ready.setInterval(20)
    ready.timeout.connect(poll)
    doc.grown.connect(grown)
    doc.finished.connect(finished)
    QTimer.singleShot(30_000, give_up)
    doc.start_capture("lo", bpf, spool)
    ready.start()
    app.exec()
    doc.close()
""")

CHECK = ("import dataclasses, json\n"
         "from visualizer.core.capture.privileges import check_capture\n"
         "print(json.dumps(dataclasses.asdict(check_capture())))\n")


# -- the machinery: an account, a namespace, a scratch venv ------------------------

def proc_status(pid: int | str) -> dict[str, str]:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        return {key: value.strip() for key, _, value in
                (line.partition(":") for line in status)}


def why_not_possible() -> str | None:
    """Why this machine cannot run the demonstration, or None."""
    if os.geteuid() != 0:
        return "needs root: it creates a throwaway user and sets file capabilities"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"needs {', '.join(missing)} (util-linux, passwd, libcap2-bin)"
    status = proc_status("self")
    if status.get("NoNewPrivs", "0") != "0":
        return "no_new_privs is set: file capabilities cannot take effect"
    if not int(status["CapBnd"], 16) >> CAP_NET_RAW & 1:
        return "CAP_NET_RAW is not in the bounding set"
    if os.statvfs(tempfile.gettempdir()).f_flag & os.ST_NOSUID:
        return f"{tempfile.gettempdir()} is mounted nosuid: file capabilities are ignored there"
    return None


def run(args: Sequence[str], env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    """Runs ``args``, which must succeed."""
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=60,
                            check=False, env=env)
    assert result.returncode == 0, f"{' '.join(args)}: {result.stderr}{result.stdout}"
    return result


@dataclasses.dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    capture_group: str      # the group allowed to run the capture interpreter
    capture_gid: int


@contextlib.contextmanager
def throwaway_account() -> Iterator[Account]:
    """A system user (no home, no login) in a capture group of its own; both
    are deleted on the way out, whatever happens."""
    name, group = f"pvtest-{os.getpid()}", f"pvcap-{os.getpid()}"
    shell = "/usr/sbin/nologin" if os.path.exists("/usr/sbin/nologin") else "/bin/false"
    made_group = made_user = False
    try:
        run(["groupadd", "--system", group])
        made_group = True
        run(["useradd", "--system", "--no-create-home", "--user-group", "--shell", shell,
             "--groups", group, name])
        made_user = True
        entry = pwd.getpwnam(name)
        yield Account(name, entry.pw_uid, entry.pw_gid, group, grp.getgrnam(group).gr_gid)
    finally:
        if made_user:
            subprocess.run(["userdel", name], capture_output=True, check=False)
        for leftover in (name, group) if made_group else (name,):
            with contextlib.suppress(KeyError):
                grp.getgrnam(leftover)
                subprocess.run(["groupdel", leftover], capture_output=True, check=False)


def private_ancestor(path: str) -> Path | None:
    """The first directory on the way to ``path`` that other users cannot enter."""
    current = Path("/")
    for part in Path(path).parts[1:]:
        if not current.stat().st_mode & 0o001:
            return current
        current = current / part
    return None


@contextlib.contextmanager
def reachable_namespace(scratch: Path, needed: Sequence[str]
                        ) -> Iterator[Callable[[Sequence[str]], list[str]]]:
    """A private mount namespace in which other users can reach ``needed``.

    Yields a function that turns a command into one run inside it. A
    private directory on the way (at most one) is covered with an empty
    tmpfs, mode 0755, and the directories needed below it are bound back.
    """
    holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--",
                               "sleep", "600"])
    try:
        ours = os.readlink("/proc/self/ns/mnt")
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{holder.pid}/ns/mnt") == ours:
            assert time.monotonic() < deadline, "unshare did not make a mount namespace"
            time.sleep(0.01)

        def inside(args: Sequence[str]) -> list[str]:
            return ["nsenter", f"--target={holder.pid}", "--mount", "--", *args]

        blocked = {private_ancestor(path) for path in needed} - {None}
        if len(blocked) > 1:
            pytest.skip(f"more than one private directory on the way: {sorted(map(str, blocked))}")
        if blocked:
            (top,) = blocked
            assert top is not None
            keep = sorted({top / Path(path).relative_to(top).parts[0] for path in needed
                           if Path(path).is_relative_to(top)})
            stashes = [scratch / f"stash-{n}" for n in range(len(keep))]
            for source, stash in zip(keep, stashes, strict=True):
                stash.mkdir()
                run(inside(["mount", "--bind", str(source), str(stash)]))
            run(inside(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(top)]))
            for source, stash in zip(keep, stashes, strict=True):
                run(inside(["mkdir", "-p", str(source)]))
                run(inside(["mount", "--move", str(stash), str(source)]))
        yield inside
    finally:
        holder.kill()
        holder.wait()


def scratch_venv(root: Path) -> Path:
    """A venv-like directory using this venv's interpreter and packages:
    pyvenv.cfg, bin/python (a symlink, as venv makes) and site-packages (a
    symlink to this venv's)."""
    venv = root / "venv"
    (venv / "bin").mkdir(parents=True)
    shutil.copy(Path(sys.prefix) / "pyvenv.cfg", venv / "pyvenv.cfg")
    (venv / "bin" / "python").symlink_to(os.path.realpath(sys.executable))
    site = venv / Path(sysconfig.get_paths()["purelib"]).relative_to(sys.prefix)
    site.parent.mkdir(parents=True)
    site.symlink_to(os.path.realpath(sysconfig.get_paths()["purelib"]))
    return venv


def as_user(account: Account, args: Sequence[str], *, capture_group: bool = True
            ) -> list[str]:
    """``args`` run as ``account``: its uid and gid, no capability inherited, and
    its supplementary groups (the capture group) unless ``capture_group`` is False."""
    groups = "--init-groups" if capture_group else "--clear-groups"
    return ["setpriv", f"--reuid={account.uid}", f"--regid={account.gid}", groups,
            "--inh-caps=-all", "--", *args]


def user_env(home: Path, **extra: str) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
            "XDG_DATA_HOME": str(home / "data"), "XDG_CACHE_HOME": str(home / "cache"),
            "XDG_RUNTIME_DIR": str(home / "run"), "QT_QPA_PLATFORM": "offscreen", **extra}


def events(stream: IO[str], deadline: float) -> Iterator[dict[str, object]]:
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            return
        with contextlib.suppress(ValueError):
            yield json.loads(line)


# -- the demonstration -------------------------------------------------------------

@pytest.mark.capture
def test_an_unprivileged_gui_captures_through_the_dedicated_interpreter() -> None:
    reason = why_not_possible()
    if reason is not None:
        pytest.skip(reason)
    scratch = Path(tempfile.mkdtemp(prefix="pv-least-privilege-"))
    scratch.chmod(0o755)
    try:
        with throwaway_account() as account:
            name = account.name
            home = scratch / "home"
            for path in (home, home / "data", home / "cache", home / "run"):
                path.mkdir(mode=0o700)
                os.chown(path, account.uid, account.gid)
            venv = scratch_venv(scratch)
            needed = [sys.base_prefix, sys.prefix, str(REPO),
                      os.path.realpath(sysconfig.get_paths()["purelib"])]
            with reachable_namespace(scratch, needed) as inside:
                demonstrate(account, venv, home, inside)
        assert name not in {user.pw_name for user in pwd.getpwall()}
        assert not {name, account.capture_group} & {group.gr_name for group in grp.getgrall()}
    finally:
        shutil.rmtree(scratch)


def demonstrate(account: Account, venv: Path, home: Path,
                inside: Callable[[Sequence[str]], list[str]]) -> None:
    env = user_env(home)
    dedicated = venv / "bin" / CAPTURE_PYTHON_NAME

    # 1. Without a dedicated interpreter the user may not capture, and is told why.
    with udp_sink() as port:
        outcome = run_session(inside(as_user(account, [sys.executable, "-c", SESSION,
                                                       f"udp port {port}", "1"])), env)
    start = outcome["start"]
    assert start["uid"] == account.uid and not start["permitted"]
    assert start["python"] == sys.executable
    assert "CAP_NET_RAW" in str(start["reason"])
    assert "capturing" not in outcome
    assert "CAP_NET_RAW" in str(outcome["finished"]["message"])
    assert outcome["finished"]["count"] == 0

    # setup-capture refuses to run without root, in one line, exit code 3.
    refused = subprocess.run(inside(as_user(account, [sys.executable, "-m", "visualizer",
                                                      "setup-capture"])),
                             capture_output=True, text=True, env=env, timeout=60, check=False)
    assert refused.returncode == 3
    assert refused.stderr.count("\n") == 1 and "run it with sudo" in refused.stderr
    assert not dedicated.exists()

    # 2. Root sets up the dedicated interpreter, as `sudo visualizer setup-capture`
    #    run by this user would.
    sudo_env = {**os.environ, "SUDO_UID": str(account.uid), "SUDO_GID": str(account.gid),
                "SUDO_USER": account.name}
    setup = run(inside([sys.executable, "-m", "visualizer", "setup-capture", "--venv",
                        str(venv), "--group", account.capture_group]), env=sudo_env)
    assert f"run as {account.name} with group {account.capture_group}" in setup.stdout
    assert "note:" not in setup.stdout  # root's venv, and the user is in the group
    info = dedicated.stat()
    assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (0, account.capture_gid, 0o750)
    assert run(["getcap", str(dedicated)]).stdout.split()[-1] == "cap_net_raw=ep"

    # 3. The same user's GUI, told to capture through it, captures, holding no
    #    capability itself; only its capture process holds CAP_NET_RAW.
    env_with = user_env(home, **{CAPTURE_PYTHON_ENV: str(dedicated)})
    with udp_sink() as port:
        payloads = [f"least privilege {n}".encode() for n in range(DATAGRAMS)]

        def on_capturing(session_pid: int, capture_pid: int) -> None:
            gui, capture = proc_status(session_pid), proc_status(capture_pid)
            assert gui["Uid"].split() == [str(account.uid)] * 4
            assert int(gui["CapEff"], 16) == 0 and int(gui["CapPrm"], 16) == 0
            assert capture["Uid"].split() == [str(account.uid)] * 4
            assert int(capture["CapEff"], 16) == 1 << CAP_NET_RAW
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                for payload in payloads:
                    sender.sendto(payload, ("127.0.0.1", port))

        outcome = run_session(inside(as_user(account, [sys.executable, "-c", SESSION,
                                                       f"udp port {port}", str(DATAGRAMS)])),
                              env_with, on_capturing=on_capturing)
    start = outcome["start"]
    assert start["permitted"] and start["python"] == str(dedicated) and start["reason"] == ""
    assert outcome["finished"] == {"event": "finished", "message": "", "count": DATAGRAMS}
    spool = Path(str(outcome["capturing"]["spool"]))
    assert spool.is_relative_to(home) and spool.stat().st_uid == account.uid
    with CaptureFile.open(str(spool)) as capture:
        frames = [capture.frame_bytes(record) for record in capture.frames()]
    assert [frame[-len(p):] for frame, p in zip(frames, payloads, strict=True)] == payloads

    # 4. With no setting at all, a GUI run from that venv finds python-capture
    #    beside its interpreter; without the capture group it may not run it,
    #    and the reason says so.
    found = json.loads(run(inside(as_user(account, [str(venv / "bin" / "python"), "-c",
                                                    CHECK])), env=env).stdout)
    assert found == {"permitted": True, "python": str(dedicated), "reason": ""}
    outsider = json.loads(run(inside(as_user(account, [str(venv / "bin" / "python"), "-c",
                                                       CHECK], capture_group=False)),
                              env=env).stdout)
    assert outsider["permitted"] is False and outsider["python"] == str(venv / "bin" / "python")
    assert "CAP_NET_RAW" in outsider["reason"]
    assert f"{dedicated} exists but this user may not run it" in outsider["reason"]
    assert account.capture_group in outsider["reason"]

    # 5. --remove undoes it.
    removed = run(inside([sys.executable, "-m", "visualizer", "setup-capture", "--venv",
                          str(venv), "--remove"]))
    assert f"removed {dedicated}" in removed.stdout and not dedicated.exists()


@contextlib.contextmanager
def udp_sink() -> Iterator[int]:
    """A bound UDP port on lo, so the datagrams sent there have a receiver."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        yield sink.getsockname()[1]


def run_session(command: list[str], env: dict[str, str], *,
                on_capturing: Callable[[int, int], None] | None = None
                ) -> dict[str, dict[str, object]]:
    """Runs SESSION; returns its events by name. ``on_capturing`` runs (with
    the session's and the capture process's pids) once the capture is ready."""
    session = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    outcome: dict[str, dict[str, object]] = {}
    try:
        assert session.stdout is not None
        for event in events(session.stdout, time.monotonic() + 60):
            outcome[str(event["event"])] = event
            if event["event"] == "start":
                # setpriv and nsenter exec: the session is the process we started
                assert event["pid"] == session.pid
            if event["event"] == "capturing" and on_capturing is not None:
                on_capturing(session.pid, int(str(event["capture_pid"])))
            if event["event"] in ("finished", "timeout"):
                break
        assert session.wait(30) == 0
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()
        stderr = session.stderr.read() if session.stderr is not None else ""
        for stream in (session.stdout, session.stderr):
            if stream is not None:
                stream.close()
    assert "finished" in outcome, f"the session did not finish: {outcome} {stderr}"
    return outcome


# -- setup-capture's refusals (no root needed for these) -----------------------------

def test_setup_capture_without_root_says_to_use_sudo(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["setup-capture"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run it with sudo" in err and "setup-capture" in err
    with pytest.raises(CaptureNotPermitted):
        setup_capture_command(remove=True)


@pytest.fixture
def as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """The refusals below come before anything is changed, so root is pretended."""
    monkeypatch.setattr(os, "geteuid", lambda: 0)


@pytest.mark.usefixtures("as_root")
def test_setup_capture_needs_a_venv(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="is not a virtual environment"):
        setup_capture_command(venv=str(tmp_path), group="root")


@pytest.mark.usefixtures("as_root")
def test_setup_capture_never_creates_a_group(tmp_path: Path) -> None:
    venv = scratch_venv(tmp_path)
    with pytest.raises(BadInput, match="no group 'pv-no-such-group': create it with"):
        setup_capture_command(venv=str(venv), group="pv-no-such-group")
    assert not (venv / "bin" / CAPTURE_PYTHON_NAME).exists()


@pytest.mark.usefixtures("as_root")
def test_setup_capture_without_sudo_needs_a_group(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUDO_GID", raising=False)
    with pytest.raises(BadInput, match="--group GROUP"):
        setup_capture_command(venv=str(scratch_venv(tmp_path)))


@pytest.mark.usefixtures("as_root")
def test_setup_capture_refuses_a_script_interpreter(tmp_path: Path) -> None:
    venv = scratch_venv(tmp_path)
    (venv / "bin" / "python").unlink()
    (venv / "bin" / "python").write_text("#!/bin/sh\nexec python3 \"$@\"\n")
    with pytest.raises(BadInput, match="not a binary executable"):
        setup_capture_command(venv=str(venv), group="root")


@pytest.mark.usefixtures("as_root")
def test_setup_capture_remove_takes_no_other_option(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="--remove takes neither"):
        setup_capture_command(venv=str(scratch_venv(tmp_path)), remove=True,
                              with_net_admin=True)


# -- the window started as root -------------------------------------------------------

def make_window(qtbot: QtBot, tmp_path: Path) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, permission=CapturePermission(True, "python", ""))
    qtbot.addWidget(window)
    return window


def test_a_window_started_as_root_warns_until_told_not_to(
        qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mainwindow, "running_as_root", lambda: True)
    window = make_window(qtbot, tmp_path)
    box = window.warn_if_root()
    assert box is not None and box.isVisible()
    assert box.icon() == QMessageBox.Icon.Warning
    assert "running as root" in box.text() and "setup-capture" in box.informativeText()
    status = window.statusBar()
    assert status is not None and "root" in status.currentMessage()
    box.accept()  # closed without ticking "don't warn me again": it warns next time
    # (Each window stays referenced until the test ends: one the garbage collector
    # deleted while Qt was delivering an event to it would crash the process.)
    second = make_window(qtbot, tmp_path)
    again = second.warn_if_root()
    assert again is not None
    check = again.checkBox()
    assert check is not None
    check.setChecked(True)
    again.accept()
    third = make_window(qtbot, tmp_path)
    assert third.warn_if_root() is None


def test_a_window_started_as_a_user_does_not_warn(
        qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mainwindow, "running_as_root", lambda: False)
    window = make_window(qtbot, tmp_path)
    assert window.warn_if_root() is None
    status = window.statusBar()
    assert status is not None and "root" not in status.currentMessage()
