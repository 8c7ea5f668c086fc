"""Least privilege (issue 7, item 5; hardening issue, items 4 and 5): the window
captures without any privilege, and what is granted for capture allows
capture and nothing more.

The demonstrations use a throwaway system account, made here and removed
afterwards, and a scratch venv (never the real one). ``visualizer
setup-capture`` builds the capture helper there and gives it CAP_NET_RAW; a
GUI session started as that user, holding no capability at all, captures
UDP datagrams on lo through it. The user's capture process holds nothing,
the helper gives the capability up before it reads a frame, and nothing
the set-up installed lets the user send a packet. With ``--interpreter``
(the fallback without a C compiler) the same works through a copy of the
interpreter, which does let the user send: the README says so, and the
test checks that the README is right. Without either the user is told that
CAP_NET_RAW is missing.

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
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import threading
import time
import uuid
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
    CAPTURE_HELPER_NAME,
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
            delete_user(name)
        for leftover in (name, group) if made_group else (name,):
            with contextlib.suppress(KeyError):
                grp.getgrnam(leftover)
                subprocess.run(["groupdel", leftover], capture_output=True, check=False)


def delete_user(name: str) -> None:
    """userdel, once no process runs as the user: a test that failed may leave
    one behind for a moment (a capture child that has not yet noticed that its
    session is gone), and userdel refuses a user with processes. Those are
    ended by their pid: only this test's processes run as this account."""
    uid = pwd.getpwnam(name).pw_uid
    deadline = time.monotonic() + 10
    while True:
        pids = [int(entry) for entry in os.listdir("/proc") if entry.isdigit()
                and proc_uid(entry) == uid]
        if not pids or time.monotonic() > deadline:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    result = subprocess.run(["userdel", name], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"userdel {name}: {result.stderr}"


def proc_uid(pid: str) -> int | None:
    try:
        return int(proc_status(pid)["Uid"].split()[0])
    except (OSError, KeyError, ValueError):
        return None


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


REAL_SITE = os.path.realpath(sysconfig.get_paths()["purelib"])
RECORD_UID = "import os; open({mark!r}, 'a').write(str(os.getuid()) + '\\n'); "


def scratch_venv(root: Path, mark: Path | None = None) -> Path:
    """A venv-like directory using this venv's interpreter and packages:
    pyvenv.cfg, bin/python (a symlink, as venv makes) and a site-packages of
    its own whose .pth file puts this checkout first on the import path and
    then adds this venv's site-packages (so every process run with it, even
    with -I, runs this checkout's code). With ``mark``, the .pth file also
    appends the uid of whoever runs the interpreter to ``mark``."""
    venv = root / "venv"
    (venv / "bin").mkdir(parents=True)
    shutil.copy(Path(sys.prefix) / "pyvenv.cfg", venv / "pyvenv.cfg")
    (venv / "bin" / "python").symlink_to(os.path.realpath(sys.executable))
    site = venv_site(venv)
    site.mkdir(parents=True)
    record = RECORD_UID.format(mark=str(mark)) if mark is not None else ""
    (site / "checkout.pth").write_text(
        f"{REPO}\n{record}import site; site.addsitedir({REAL_SITE!r})\n")
    return venv


def venv_site(venv: Path) -> Path:
    return venv / Path(sysconfig.get_paths()["purelib"]).relative_to(sys.prefix)


def as_user(account: Account, args: Sequence[str], *, capture_group: bool = True
            ) -> list[str]:
    """``args`` run as ``account``: its uid and gid, no capability inherited, and
    its supplementary groups (the capture group) unless ``capture_group`` is False."""
    groups = "--init-groups" if capture_group else "--clear-groups"
    return ["setpriv", f"--reuid={account.uid}", f"--regid={account.gid}", groups,
            "--inh-caps=-all", "--", *args]


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """The user's environment; PYTHONPATH makes their sessions and capture
    processes run this checkout's code (the venv's editable install may name
    another)."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
            "XDG_DATA_HOME": str(home / "data"), "XDG_CACHE_HOME": str(home / "cache"),
            "XDG_RUNTIME_DIR": str(home / "run"), "QT_QPA_PLATFORM": "offscreen",
            "PYTHONPATH": str(REPO), **extra}


def events(stream: IO[str], deadline: float) -> Iterator[dict[str, object]]:
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            return
        with contextlib.suppress(ValueError):
            yield json.loads(line)


# -- the demonstrations -----------------------------------------------------------

# What a member of the capture group would try with a file that holds
# CAP_NET_RAW: a UDP datagram with a forged source address through a raw IP
# socket, and an arbitrary frame through a packet socket, each carrying the
# marker argv[1]. It prints what the kernel accepted.
SEND = textwrap.dedent("""
    import socket, struct, sys
    marker = sys.argv[1].encode()
    sent = []
    try:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        udp = struct.pack("!HHHH", 4242, 9, 8 + len(marker), 0) + marker
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                         socket.inet_aton("10.66.66.66"), socket.inet_aton("127.0.0.1"))
        raw.sendto(ip + udp, ("127.0.0.1", 0))
        sent.append("forged-ip")
    except OSError as err:
        print("raw ip:", err, file=sys.stderr)
    try:
        packet = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        packet.bind(("lo", 0))
        packet.send(bytes(12) + b"\\x88\\xb5" + marker)
        sent.append("frame")
    except OSError as err:
        print("packet:", err, file=sys.stderr)
    print(" ".join(sent))
""")

NO_COMPILER = ("import sys\n"
               "from visualizer.commands import setup_capture\n"
               "from visualizer.cli import main\n"
               "setup_capture._compiler = lambda: None\n"
               "sys.exit(main(sys.argv[1:]))\n")

LIST_FDS = ("import os, sys\n"
            "try:\n"
            "    print(os.listdir(f'/proc/{sys.argv[1]}/fd'))\n"
            "except PermissionError:\n"
            "    print('denied')\n")


@dataclasses.dataclass
class Stage:
    """A throwaway account with a home, a scratch venv and a namespace in which
    the account can reach what it needs."""

    account: Account
    home: Path
    venv: Path
    inside: Callable[[Sequence[str]], list[str]]

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def sudo_env(self) -> dict[str, str]:
        return {**os.environ, "SUDO_UID": str(self.account.uid),
                "SUDO_GID": str(self.account.gid), "SUDO_USER": self.account.name}

    def setup_capture(self, *options: str, compiler: bool = True
                      ) -> subprocess.CompletedProcess[str]:
        """Root runs setup-capture for this venv and the capture group, as
        `sudo visualizer setup-capture` run by the account would; without
        ``compiler`` as on a machine with no C compiler."""
        args = ["setup-capture", "--venv", str(self.venv), "--group",
                self.account.capture_group, *options]
        command = [sys.executable, "-m", "visualizer", *args] if compiler else [
            sys.executable, "-c", NO_COMPILER, *args]
        return run(self.inside(command), env=self.sudo_env())

    def as_member(self, args: Sequence[str], *, capture_group: bool = True) -> list[str]:
        return self.inside(as_user(self.account, args, capture_group=capture_group))


@contextlib.contextmanager
def stage() -> Iterator[Stage]:
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
            needed = [sys.base_prefix, sys.prefix, str(REPO), REAL_SITE]
            with reachable_namespace(scratch, needed) as inside:
                yield Stage(account, home, venv, inside)
        assert name not in {user.pw_name for user in pwd.getpwall()}
        assert not {name, account.capture_group} & {group.gr_name for group in grp.getgrall()}
    finally:
        shutil.rmtree(scratch)


def privileged_files(folder: Path) -> dict[str, str]:
    """The files in ``folder`` with file capabilities, and those capabilities."""
    found = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.is_symlink():
            caps = run(["getcap", str(path)]).stdout.split()
            if caps:
                found[path.name] = caps[-1]
    return found


def children(pid: int) -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()
            and proc_status_or_none(entry).get("PPid") == str(pid)]


def proc_status_or_none(pid: str) -> dict[str, str]:
    try:
        return proc_status(pid)
    except OSError:
        return {}


def holds_nothing(status: dict[str, str]) -> bool:
    return all(int(status[key], 16) == 0 for key in ("CapEff", "CapPrm", "CapInh", "CapAmb"))


@contextlib.contextmanager
def sniff_lo() -> Iterator[Callable[[bytes], int]]:
    """Root's packet socket on lo, both directions, read by a thread (so no
    frame is lost while the test waits for a child); yields a function that
    counts the frames holding a marker, seen so far and in another 0.5 s."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    sock.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE
    sock.bind(("lo", 0))
    sock.settimeout(0.1)
    frames: list[bytes] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                frame = sock.recv(65535)
                if b"pv-spoof-" in frame:
                    frames.append(frame)

    def seen(marker: bytes) -> int:
        time.sleep(0.5)
        return sum(marker in frame for frame in list(frames))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield seen
    finally:
        done.set()
        reader.join(5)
        sock.close()


def sends_through(st: Stage, files: Sequence[str]) -> dict[str, str]:
    """The member runs SEND with each privileged file (with and without -I);
    returns, for each, what the kernel accepted ("" for nothing)."""
    accepted = {}
    for name in files:
        for flags in ([], ["-I"]):
            marker = f"pv-spoof-{uuid.uuid4().hex}"
            result = subprocess.run(
                st.as_member([str(st.venv / "bin" / name), *flags, "-c", SEND, marker]),
                capture_output=True, text=True, env=user_env(st.home), timeout=60, check=False)
            accepted[" ".join([name, *flags])] = result.stdout.strip()
    return accepted


def capture_as_member(st: Stage, env: dict[str, str],
                      on_capturing: Callable[[int, int], None]) -> None:
    """The member's GUI session (the scratch venv's interpreter) captures
    DATAGRAMS datagrams; ``on_capturing`` runs while it does."""
    with udp_sink() as port:
        payloads = [f"least privilege {n}".encode() for n in range(DATAGRAMS)]

        def capturing(session_pid: int, capture_pid: int) -> None:
            gui = proc_status(session_pid)
            assert gui["Uid"].split() == [str(st.account.uid)] * 4
            assert holds_nothing(gui)
            on_capturing(session_pid, capture_pid)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                for payload in payloads:
                    sender.sendto(payload, ("127.0.0.1", port))

        outcome = run_session(st.as_member([str(st.python), "-c", SESSION,
                                            f"udp port {port}", str(DATAGRAMS)]),
                              env, on_capturing=capturing)
    start = outcome["start"]
    assert start["permitted"] and start["reason"] == "", start
    assert outcome["finished"] == {"event": "finished", "message": "", "count": DATAGRAMS}
    spool = Path(str(outcome["capturing"]["spool"]))
    assert spool.is_relative_to(st.home) and spool.stat().st_uid == st.account.uid
    with CaptureFile.open(str(spool)) as capture:
        frames = [capture.frame_bytes(record) for record in capture.frames()]
    assert [frame[-len(p):] for frame, p in zip(frames, payloads, strict=True)] == payloads


@pytest.mark.capture
def test_an_unprivileged_gui_captures_through_the_capture_helper_which_cannot_send() -> None:
    with stage() as st:
        account, env = st.account, user_env(st.home)
        helper = st.venv / "bin" / CAPTURE_HELPER_NAME

        # 1. Without anything set up the user may not capture, and is told why.
        with udp_sink() as port:
            outcome = run_session(st.as_member([str(st.python), "-c", SESSION,
                                                f"udp port {port}", "1"]), env)
        start = outcome["start"]
        assert start["uid"] == account.uid and not start["permitted"]
        assert "CAP_NET_RAW" in str(start["reason"])
        assert "capturing" not in outcome
        assert "CAP_NET_RAW" in str(outcome["finished"]["message"])
        assert outcome["finished"]["count"] == 0

        # setup-capture refuses to run without root, in one line, exit code 3.
        refused = subprocess.run(st.as_member([sys.executable, "-m", "visualizer",
                                               "setup-capture"]),
                                 capture_output=True, text=True, env=env, timeout=60,
                                 check=False)
        assert refused.returncode == 3
        assert refused.stderr.count("\n") == 1 and "run it with sudo" in refused.stderr

        # 2. Root builds the capture helper; it is the only privileged file.
        setup = st.setup_capture()
        assert f"set up {helper}" in setup.stdout
        assert f"run as {account.name} with group {account.capture_group}" in setup.stdout
        assert "note:" not in setup.stdout  # root's venv, and the user is in the group
        info = helper.stat()
        assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (0, account.capture_gid,
                                                                     0o750)
        assert privileged_files(st.venv / "bin") == {CAPTURE_HELPER_NAME: "cap_net_raw=ep"}

        # 3. The user's GUI captures through it with no setting at all: the GUI and
        #    its capture process hold no capability; the helper held CAP_NET_RAW
        #    only until its socket was open, and the user cannot take that socket.
        found = json.loads(run(st.as_member([str(st.python), "-c", CHECK]), env=env).stdout)
        assert found == {"permitted": True, "python": str(st.python), "reason": "",
                         "helper": str(helper)}

        def on_capturing(session_pid: int, capture_pid: int) -> None:
            capture = proc_status(capture_pid)
            assert capture["Uid"].split() == [str(account.uid)] * 4 and holds_nothing(capture)
            (helper_pid,) = children(capture_pid)
            helper_status = proc_status(helper_pid)
            assert helper_status["Name"] == CAPTURE_HELPER_NAME[:15]
            assert helper_status["Uid"].split() == [str(account.uid)] * 4
            assert holds_nothing(helper_status) and helper_status["NoNewPrivs"] == "1"
            fds = run(st.as_member([sys.executable, "-c", LIST_FDS, str(helper_pid)]), env=env)
            assert fds.stdout.strip() == "denied"

        capture_as_member(st, env, on_capturing)

        # 4. Nothing setup-capture installed lets the user send a packet.
        with sniff_lo() as seen:
            accepted = sends_through(st, list(privileged_files(st.venv / "bin")))
            assert accepted == {CAPTURE_HELPER_NAME: "", f"{CAPTURE_HELPER_NAME} -I": ""}
            assert seen(b"pv-spoof-") == 0

        # 5. Without the capture group the user may not run the helper, and the
        #    reason says so.
        outsider = json.loads(run(st.as_member([str(st.python), "-c", CHECK],
                                               capture_group=False), env=env).stdout)
        assert outsider["permitted"] is False and outsider["python"] == str(st.python)
        assert "CAP_NET_RAW" in outsider["reason"]
        assert f"{helper} exists but this user may not run it" in outsider["reason"]
        assert account.capture_group in outsider["reason"]

        # 6. --remove undoes it.
        removed = run(st.inside([sys.executable, "-m", "visualizer", "setup-capture",
                                 "--venv", str(st.venv), "--remove"]))
        assert f"removed {helper}" in removed.stdout and not helper.exists()


@pytest.mark.capture
def test_the_interpreter_fallback_captures_and_lets_members_send_as_the_readme_says() -> None:
    with stage() as st:
        account = st.account
        dedicated = st.venv / "bin" / CAPTURE_PYTHON_NAME
        setup = st.setup_capture(compiler=False)  # as with --interpreter
        assert f"set up {dedicated}" in setup.stdout
        assert "it can send forged packets, not only capture; no C compiler (cc) is " \
               "installed, so the capture helper, which only captures, was not built" \
               in setup.stdout
        info = dedicated.stat()
        assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (0, account.capture_gid,
                                                                     0o750)
        assert privileged_files(st.venv / "bin") == {CAPTURE_PYTHON_NAME: "cap_net_raw=ep"}

        # The user's GUI finds python-capture beside its interpreter and captures
        # through it; the capture process gives CAP_NET_RAW up once its socket
        # is open.
        env = user_env(st.home)
        found = json.loads(run(st.as_member([str(st.python), "-c", CHECK]), env=env).stdout)
        assert found == {"permitted": True, "python": str(dedicated), "reason": "",
                         "helper": ""}

        def on_capturing(session_pid: int, capture_pid: int) -> None:
            capture = proc_status(capture_pid)
            assert capture["Uid"].split() == [str(account.uid)] * 4
            assert holds_nothing(capture) and capture["NoNewPrivs"] == "1"
            assert children(capture_pid) == []

        capture_as_member(st, env, on_capturing)

        # But any code run with python-capture holds CAP_NET_RAW: the user sends
        # a datagram with a forged source address and an arbitrary frame.
        with sniff_lo() as seen:
            accepted = sends_through(st, [CAPTURE_PYTHON_NAME])
            assert accepted == {CAPTURE_PYTHON_NAME: "forged-ip frame",
                                f"{CAPTURE_PYTHON_NAME} -I": "forged-ip frame"}
            assert seen(b"pv-spoof-") >= 4

        # With a compiler, setup-capture replaces the copy with the helper.
        st.setup_capture()
        assert privileged_files(st.venv / "bin") == {CAPTURE_HELPER_NAME: "cap_net_raw=ep"}
        assert not dedicated.exists()
        removed = run(st.inside([sys.executable, "-m", "visualizer", "setup-capture",
                                 "--venv", str(st.venv), "--remove"]))
        assert f"removed {st.venv / 'bin' / CAPTURE_HELPER_NAME}" in removed.stdout


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


# -- a venv that another user can change (hardening issue, item 4) ----------------------

def venv_with_own_site(root: Path, mark: Path) -> tuple[Path, Path]:
    """scratch_venv() recording in ``mark`` the uid of whoever runs it."""
    venv = scratch_venv(root, mark)
    return venv, venv_site(venv)


def weaken(kind: str, root: Path, venv: Path, site: Path, account: Account) -> Path:
    """Gives ``account`` a way to change what ``venv`` runs; returns the path
    that a refusal must name."""
    if kind == "site-packages owned by the user":
        os.chown(site, account.uid, account.gid)
        return site
    if kind == "bin writable by the capture group":
        os.chown(venv / "bin", 0, account.capture_gid)
        (venv / "bin").chmod(0o775)
        return venv / "bin"
    if kind == "interpreter owned by the user":
        theirs = root / "their-python"
        theirs.mkdir()
        binary = theirs / os.path.basename(os.path.realpath(sys.executable))
        shutil.copy(os.path.realpath(sys.executable), binary)
        os.chown(binary, account.uid, account.gid)
        (venv / "bin" / "python").unlink()
        (venv / "bin" / "python").symlink_to(binary)
        return binary
    if kind == "a folder above the venv owned by the user":
        above = root / "theirs"
        above.mkdir()
        (root / "venv").rename(above / "venv")
        os.chown(above, account.uid, account.gid)
        return above
    if kind == "a .pth path the user owns":
        theirs = root / "their-lib"
        theirs.mkdir()
        os.chown(theirs, account.uid, account.gid)
        (site / "their-lib.pth").write_text(f"{theirs}\n")
        return theirs
    raise AssertionError(kind)


WEAKNESSES = ["site-packages owned by the user", "bin writable by the capture group",
              "interpreter owned by the user", "a folder above the venv owned by the user",
              "a .pth path the user owns"]


@pytest.mark.capture
def test_setup_capture_refuses_a_venv_another_user_can_change_before_running_it() -> None:
    reason = why_not_possible()
    if reason is not None:
        pytest.skip(reason)
    scratch = Path(tempfile.mkdtemp(prefix="pv-user-owned-"))
    scratch.chmod(0o755)
    try:
        with throwaway_account() as account:
            sudo_env = {**os.environ, "SUDO_UID": str(account.uid),
                        "SUDO_GID": str(account.gid), "SUDO_USER": account.name}
            for n, kind in enumerate(WEAKNESSES):
                root = scratch / f"case-{n}"
                root.mkdir()
                mark = root / "ran-as"
                venv, site = venv_with_own_site(root, mark)
                named = weaken(kind, root, venv, site, account)
                if not venv.exists():
                    venv = named / "venv"
                refused = subprocess.run(
                    [sys.executable, "-m", "visualizer", "setup-capture", "--venv", str(venv),
                     "--group", account.capture_group],
                    capture_output=True, text=True, env=sudo_env, timeout=120, check=False)
                assert not mark.exists(), f"{kind}: the venv ran as uid {mark.read_text()}"
                assert refused.returncode == 2, (kind, refused.stderr, refused.stdout)
                assert refused.stderr.count("\n") == 1, (kind, refused.stderr)
                assert f"refusing {venv}: {named} is " in refused.stderr, (kind, refused.stderr)
                assert "--allow-user-owned" in refused.stderr
                assert not list((venv / "bin").glob("*capture*")), kind
    finally:
        shutil.rmtree(scratch)


@pytest.mark.capture
def test_allowed_a_user_owned_venv_is_never_run_as_root_from_its_site_packages() -> None:
    reason = why_not_possible()
    if reason is not None:
        pytest.skip(reason)
    scratch = Path(tempfile.mkdtemp(prefix="pv-user-owned-"))
    scratch.chmod(0o755)
    try:
        with throwaway_account() as account:
            marks = scratch / "marks"
            marks.mkdir()
            os.chown(marks, account.uid, account.gid)
            mark = marks / "ran-as"
            venv, site = venv_with_own_site(scratch, mark)
            weaken("site-packages owned by the user", scratch, venv, site, account)
            needed = [sys.base_prefix, sys.prefix, str(REPO), REAL_SITE]
            sudo_env = {**os.environ, "SUDO_UID": str(account.uid),
                        "SUDO_GID": str(account.gid), "SUDO_USER": account.name}
            with reachable_namespace(scratch, needed) as inside:
                setup = run(inside([sys.executable, "-m", "visualizer", "setup-capture",
                                    "--venv", str(venv), "--group", account.capture_group,
                                    "--allow-user-owned", "--interpreter"]), env=sudo_env)
                assert f"note: accepted with --allow-user-owned: {site} is owned by " \
                       f"{account.name}" in setup.stdout
                # The check as the user ran the venv's .pth; root never did.
                assert set(mark.read_text().split()) == {str(account.uid)}
                run(inside([sys.executable, "-m", "visualizer", "setup-capture", "--venv",
                            str(venv), "--remove"]))
    finally:
        shutil.rmtree(scratch)


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
def test_setup_capture_gives_net_admin_only_to_the_interpreter(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="--with-net-admin goes with --interpreter only"):
        setup_capture_command(venv=str(scratch_venv(tmp_path)), group="root",
                              with_net_admin=True)


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
