"""``visualizer setup-capture``: give the capture process, and only it, its privilege.

Run once with sudo. By default it builds the capture helper: it compiles
``core/capture/capture_helper.c`` with the system's C compiler into
``<venv>/bin/capture-helper``, lets only root and one group run it
(``root:GROUP``, mode 0750) and gives it CAP_NET_RAW with setcap, as Debian
does with Wireshark's dumpcap. The capture process then runs with the
venv's own interpreter and no privilege, and starts the helper to open the
packet socket (``privileges.capture_helper()``). The helper opens, filters
and binds the socket, gives the capability up, and copies frames to the
capture process: it has no code that sends, and never hands the socket on,
so the group gains capture and nothing else.

Without a C compiler (or with ``--interpreter``) it falls back to what it
did before: it copies the venv's real interpreter binary to
``<venv>/bin/python-capture`` with the same owner, mode and capability.
Any Python code run with that copy holds CAP_NET_RAW (raw IP and packet
sockets: sending forged packets included); the report says so. The copy
finds its standard library through its original installation (pyvenv.cfg's
``home``) and the venv's packages because it sits in ``<venv>/bin`` beside
``pyvenv.cfg``. Only one of the two is installed at a time.

A binary with file capabilities runs in the loader's secure mode
(LD_LIBRARY_PATH and relative library paths ignored), so the result is
checked after setcap, as an unprivileged member of the group would run it:
the helper must open a packet socket and a capture through it must work;
the copy must open a packet socket and import visualizer and scapy. If it
cannot, it is removed again and the command says why.

Who should be in the group: on a personal machine, you (the default group
is the primary group of the user who ran sudo, which on Debian-like systems
is that user alone); in a lab, a group such as ``pcap`` holding the
students' accounts, with the venv in a directory only root can change.

Whoever can change the venv's files decides what its interpreter runs: as
root while this command checks it, and for every member of the group
afterwards. So before anything of the venv runs, the venv, its interpreter
and its installation are checked with ``trust.venv_changeable()`` (file
ownership and modes along every path); one that a user other than root can
change is refused unless ``allow_user_owned`` (``--allow-user-owned``) says
that is accepted. Even then root runs the venv's interpreter only as
``python -I -S`` (no site-packages, so no ``.pth`` file), to learn where
its installation is.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import TextIO

from visualizer.core.capture import loop
from visualizer.core.capture.privileges import (
    CAPTURE_HELPER_NAME,
    CAPTURE_PYTHON_NAME,
    check_capture,
    check_helper,
    dedicated_helper,
    dedicated_python,
    helper_source,
)
from visualizer.core.capture.trust import Changeable, venv_changeable
from visualizer.core.errors import BadInput, CaptureFailed, CaptureNotPermitted, VisualizerError

__all__ = ["setup_capture_command"]

MODE = 0o750
NOBODY_UID = 65534
_IMPORT_CHECK = "import sys, visualizer, scapy; print(sys.base_prefix)"
_BASE_CHECK = "import sys; print(sys.base_prefix)"  # run by root with -I -S
_TIMEOUT = 30.0
# The helper's ring is loop.py's; the rest hardens the binary.
_CFLAGS = ["-std=c11", "-O2", "-Wall", "-Wextra", "-D_FORTIFY_SOURCE=2",
           "-fstack-protector-strong", "-fPIE", "-pie", "-Wl,-z,relro,-z,now",
           f"-DRING_BLOCK_BYTES={loop.RING_BLOCK_BYTES}", f"-DRING_BLOCKS={loop.RING_BLOCKS}",
           f"-DRING_FRAME_BYTES={loop.RING_FRAME_BYTES}",
           f"-DRING_BLOCK_TIMEOUT_MS={loop.RING_BLOCK_TIMEOUT_MS}"]


def setup_capture_command(*, venv: str | None = None, group: str | None = None,
                          remove: bool = False, with_net_admin: bool = False,
                          allow_user_owned: bool = False, interpreter: bool = False,
                          out: TextIO | None = None) -> int:
    """Sets up ``<venv>/bin/capture-helper`` (or, with ``interpreter`` or
    without a C compiler, ``<venv>/bin/python-capture``); with ``remove``
    deletes both. Says what it did on ``out`` (default: stdout). A venv that
    a user other than root can change is refused (BadInput) unless
    ``allow_user_owned``."""
    out = out or sys.stdout
    if os.geteuid() != 0:
        raise CaptureNotPermitted(f"setup-capture changes file capabilities: run it with "
                                  f"sudo (sudo {_self_command()} setup-capture)")
    venv_dir = _venv_dir(venv)
    bindir = os.path.join(venv_dir, "bin")
    helper, copy = dedicated_helper(bindir), dedicated_python(bindir)
    if remove:
        if group is not None or with_net_admin or allow_user_owned or interpreter:
            raise BadInput("--remove takes neither --group, --with-net-admin, "
                           "--allow-user-owned nor --interpreter")
        return _remove([helper, copy], out)
    if with_net_admin and not interpreter:
        raise BadInput("--with-net-admin goes with --interpreter only: the capture helper "
                       "reads through a ring, which CAP_NET_ADMIN does not enlarge")
    gid = _group_id(group)
    changeable = venv_changeable(venv_dir)  # before anything of the venv is run or copied
    if changeable is not None and not allow_user_owned:
        raise BadInput(_refusal(venv_dir, changeable, gid))
    python = _venv_python(bindir)
    source = _source_interpreter(python)
    _check_filesystem(bindir)
    uid = _verifying_uid()
    fallback = "" if interpreter else _build_helper(bindir, gid)
    if interpreter or fallback:
        caps = "cap_net_raw,cap_net_admin+ep" if with_net_admin else "cap_net_raw+ep"
        target, stale = _install(bindir, CAPTURE_PYTHON_NAME, gid, caps, _copier(source)), helper
    else:
        target, stale = helper, copy
    try:
        if target == helper:
            _verify_helper(target, python, uid, gid, venv_dir)
        else:
            _verify_copy(target, uid, gid, venv_dir)
    except BaseException:  # never leave an unverified privileged binary behind
        with contextlib.suppress(FileNotFoundError):
            os.remove(target)
        raise
    with contextlib.suppress(FileNotFoundError):
        os.remove(stale)  # one way to capture at a time
    if target == helper:
        _report_helper(out, target=target, venv_dir=venv_dir, uid=uid, gid=gid,
                       changeable=changeable)
    else:
        _report_copy(out, source=source, target=target, venv_dir=venv_dir, uid=uid, gid=gid,
                     with_net_admin=with_net_admin, changeable=changeable, fallback=fallback)
    return 0


# -- what to set up ---------------------------------------------------------------

def _self_command() -> str:
    script = os.path.join(os.path.dirname(sys.executable), "visualizer")
    return script if os.access(script, os.X_OK) else f"{sys.executable} -m visualizer"


def _venv_dir(venv: str | None) -> str:
    path = os.path.abspath(venv or sys.prefix)
    if not os.path.isfile(os.path.join(path, "pyvenv.cfg")):
        raise BadInput(f"{path} is not a virtual environment (no pyvenv.cfg): the capture "
                       "interpreter must sit in a venv's bin to find its packages; "
                       "install Packet Visualizer in a venv, or pass --venv DIR")
    return path


def _venv_python(bindir: str) -> str:
    """The venv's interpreter, as its users run it (a symlink, usually)."""
    for name in ("python", "python3"):
        link = os.path.join(bindir, name)
        if os.path.exists(link):
            return link
    raise BadInput(f"{bindir} has no python: not a usable virtual environment")


def _source_interpreter(link: str) -> str:
    """The venv's real interpreter binary (venvs hold symlinks to it)."""
    source = os.path.realpath(link)
    if os.path.basename(source) == CAPTURE_PYTHON_NAME:
        raise BadInput(f"{link} leads to {source}: refusing to copy the capture interpreter")
    try:  # O_NONBLOCK: a FIFO planted there must not hang root
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        raise BadInput(f"cannot read {source}: {err.strerror}") from None
    with open(fd, "rb") as binary:
        if not stat.S_ISREG(os.fstat(fd).st_mode) or binary.read(4) != b"\x7fELF":
            raise BadInput(f"{source} is not a binary executable (file capabilities are "
                           "ignored on scripts)")
    return source


def _refusal(venv_dir: str, changeable: Changeable, gid: int) -> str:
    group = _group_name(gid)
    return (f"refusing {venv_dir}: {changeable.path} is {changeable.why}, so a user other "
            f"than root could change what this set-up runs as root and what every member "
            f"of {group} runs with the capture privilege; install the venv where only root "
            "can change it (e.g. /opt/packet-visualizer), or pass --allow-user-owned if "
            f"every member of {group} may trust that user (a personal machine)")


def _group_id(group: str | None) -> int:
    if group is None:
        sudo_gid = os.environ.get("SUDO_GID", "")
        if sudo_gid.isdigit() and int(sudo_gid) != 0:
            return int(sudo_gid)
        raise BadInput("say which group may capture: --group GROUP (run without sudo "
                       "from a user's shell, there is no user to default to)")
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise BadInput(f"no group {group!r}: create it with 'sudo groupadd --system {group}' "
                       f"and add users with 'sudo usermod -aG {group} USER'") from None


def _check_filesystem(bindir: str) -> None:
    if os.statvfs(bindir).f_flag & os.ST_NOSUID:
        raise BadInput(f"{bindir} is on a file system mounted nosuid, where file "
                       "capabilities are ignored: put the venv elsewhere")


# -- doing it ---------------------------------------------------------------------

def _setcap() -> str:
    found = shutil.which("setcap") or shutil.which("setcap", path="/usr/sbin:/sbin")
    if found is None:
        raise VisualizerError("setcap is not installed (Debian package libcap2-bin)")
    return found


class _BuildFailed(Exception):
    pass


def _install(bindir: str, name: str, gid: int, caps: str,
             make: Callable[[int, str], None]) -> str:
    """Makes ``bindir/name`` as root:gid 0750 with ``caps``; returns its path.

    ``make(dir_fd, cwd)`` creates ``name`` in a private directory (root's,
    mode 0700) inside ``bindir``, reachable as ``dir_fd`` or the path
    ``cwd``; the file is renamed into place once complete, so a venv owned
    by a user never shows a half-made file, and setcap, which names its file
    by path, is run in that directory: whoever owns the venv cannot swap in
    another file for the capability. chown comes before setcap because it
    clears capabilities.
    """
    setcap = _setcap()
    bin_fd = os.open(bindir, os.O_RDONLY | os.O_DIRECTORY)
    private = tempfile.mkdtemp(prefix=f".{name}-", dir=bindir)
    private_fd = os.open(private, os.O_RDONLY | os.O_DIRECTORY)
    cwd = f"/proc/{os.getpid()}/fd/{private_fd}"
    try:
        make(private_fd, cwd)
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=private_fd)
        try:
            os.fchown(fd, 0, gid)
            os.fchmod(fd, MODE)
            os.fsync(fd)
        finally:
            os.close(fd)
        result = subprocess.run([setcap, caps, name], cwd=cwd, capture_output=True,
                                text=True, timeout=_TIMEOUT, check=False)
        if result.returncode != 0:
            raise VisualizerError(f"setcap {caps} failed: {result.stderr.strip()}")
        os.rename(name, name, src_dir_fd=private_fd, dst_dir_fd=bin_fd)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=private_fd)
        os.close(private_fd)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.basename(private), dir_fd=bin_fd)
        os.close(bin_fd)
    return os.path.join(bindir, name)


def _copier(source: str) -> Callable[[int, str], None]:
    """Copies the interpreter binary ``source`` (for _install)."""
    def copy(private_fd: int, cwd: str) -> None:
        with open(source, "rb") as src, open(
                os.open(CAPTURE_PYTHON_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                        0o700, dir_fd=private_fd), "wb") as dst:
            shutil.copyfileobj(src, dst)
    return copy


def _compiler() -> str | None:
    return shutil.which("cc") or shutil.which("gcc")


def _build_helper(bindir: str, gid: int) -> str:
    """Builds the capture helper into ``bindir``; "" when done, else why not
    (then the caller falls back to the interpreter copy)."""
    cc = _compiler()
    if cc is None:
        return "no C compiler (cc) is installed"

    def build(private_fd: int, cwd: str) -> None:
        try:
            result = subprocess.run([cc, *_CFLAGS, "-o", CAPTURE_HELPER_NAME, helper_source()],
                                    cwd=cwd, capture_output=True, text=True, timeout=120,
                                    check=False)
        except (OSError, subprocess.SubprocessError) as err:
            raise _BuildFailed(str(err)) from None
        if result.returncode != 0:
            lines = [line for line in result.stderr.splitlines() if "error" in line]
            raise _BuildFailed((lines or result.stderr.splitlines() or ["failed"])[0])

    try:
        _install(bindir, CAPTURE_HELPER_NAME, gid, "cap_net_raw+ep", build)
    except _BuildFailed as err:
        return f"{cc} could not build the capture helper ({err})"
    return ""


def _verifying_uid() -> int:
    """Who checks the result: the user who ran sudo, else nobody."""
    sudo_uid = os.environ.get("SUDO_UID", "")
    if sudo_uid.isdigit() and int(sudo_uid) != 0:
        return int(sudo_uid)
    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        return NOBODY_UID


def _verify_helper(helper: str, python: str, uid: int, gid: int, venv_dir: str) -> None:
    """Run as ``uid`` with only group ``gid``, the helper opens a packet socket,
    the venv's interpreter imports visualizer and scapy from its own
    installation, and a capture through the helper works."""
    as_whom = f"{_user_name(uid)} with group {_group_name(gid)}"
    permission = check_helper(helper, uid=uid, gid=gid)
    if not permission.permitted:
        hint = ("; is the file system mounted nosuid, or does a security module ignore "
                "file capabilities?" if permission.reason.endswith("lacks CAP_NET_RAW")
                else "")
        raise CaptureFailed(f"{helper} does not work when run as {as_whom}: "
                            f"{permission.reason}{hint}; it was removed again")
    _verify_imports(python, uid, gid, venv_dir, as_whom, helper)
    try:
        result = subprocess.run(
            [python, "-I", "-m", "visualizer", "capture", "-i", "lo", "--duration", "0.2",
             "-o", os.devnull], capture_output=True, text=True, timeout=_TIMEOUT, check=False,
            user=uid, group=gid, extra_groups=[], cwd="/",
            env={"PATH": os.defpath, "LANG": "C.UTF-8"})
    except (OSError, subprocess.SubprocessError) as err:
        raise CaptureFailed(f"cannot run {python}: {err}; {helper} was removed again") from None
    events: dict[str, dict[str, object]] = {}
    for line in result.stderr.splitlines():
        with contextlib.suppress(ValueError, AttributeError):
            events[json.loads(line)["event"]] = json.loads(line)
    if result.returncode != 0 or events.get("ready", {}).get("method") != "helper":
        detail = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])
        raise CaptureFailed(f"a capture through {helper}, run as {as_whom}, did not work: "
                            f"{detail[-1][-300:]}; it was removed again")


def _verify_copy(target: str, uid: int, gid: int, venv_dir: str) -> None:
    """The copy, run as ``uid`` with only group ``gid``, captures and imports."""
    as_whom = f"{_user_name(uid)} with group {_group_name(gid)}"
    permission = check_capture(target, uid=uid, gid=gid)
    if not permission.permitted:
        # It ran but was refused (exit 3): the capability did not take effect.
        # Otherwise it did not even run, which is mostly about readability.
        hint = ("; is the file system mounted nosuid, or does a security module ignore "
                "file capabilities?" if permission.reason.endswith("lacks CAP_NET_RAW")
                else _readability_hint(venv_dir))
        raise CaptureFailed(f"{target} does not work when run as {as_whom}: "
                            f"{permission.reason}{hint}; it was removed again")
    _verify_imports(target, uid, gid, venv_dir, as_whom, target)


def _verify_imports(target: str, uid: int, gid: int, venv_dir: str, as_whom: str,
                    removed: str) -> None:
    """``target`` imports visualizer and scapy as ``uid``, from the Python
    installation root finds (``-I -S``: nothing of the venv's site-packages);
    else CaptureFailed, saying that ``removed`` was removed again."""
    as_root = _run_check(target, None, None, _BASE_CHECK)
    as_user = _run_check(target, uid, gid, _IMPORT_CHECK)
    if as_root.returncode != 0:
        raise CaptureFailed(f"{target}, run as root, does not start: "
                            f"{as_root.stderr.strip()[-300:]}; {removed} was removed again")
    if as_user.returncode != 0:
        raise CaptureFailed(f"{target}, run as {as_whom}, cannot import visualizer and "
                            f"scapy: {as_user.stderr.strip()[-300:]}"
                            f"{_readability_hint(venv_dir)}; {removed} was removed again")
    if as_user.stdout != as_root.stdout:
        # It started, but with another Python found in the default places
        # (/usr/lib...), because the users cannot read the one it belongs to.
        raise CaptureFailed(f"{target}, run as {as_whom}, does not find its own Python "
                            f"installation {as_root.stdout.strip()} and falls back to "
                            f"{as_user.stdout.strip()}{_readability_hint(venv_dir)}; "
                            f"{removed} was removed again")


def _run_check(target: str, uid: int | None, gid: int | None, code: str
               ) -> subprocess.CompletedProcess[str]:
    """``code`` run as ``uid`` with only ``gid``, or as root (``uid`` None) with
    ``-S``: root never loads the venv's site-packages and their ``.pth`` files."""
    flags = ["-I"] if uid is not None else ["-I", "-S"]
    try:
        return subprocess.run([target, *flags, "-c", code], capture_output=True,
                              text=True, timeout=_TIMEOUT, check=False, user=uid,
                              group=gid, extra_groups=None if uid is None else [])
    except (OSError, subprocess.SubprocessError) as err:
        raise CaptureFailed(f"cannot run {target}: {err}; it was removed again") from None


def _readability_hint(venv_dir: str) -> str:
    home = _pyvenv_home(venv_dir)
    where = f" in {home}" if home else ""
    return (f"; the interpreter's installation{where}, the venv and the application "
            "must be readable by the users who capture")


def _pyvenv_home(venv_dir: str) -> str:
    with contextlib.suppress(OSError), open(os.path.join(venv_dir, "pyvenv.cfg"),
                                            encoding="utf-8") as cfg:
        for line in cfg:
            key, _, value = line.partition("=")
            if key.strip() == "home":
                return value.strip()
    return ""


def _remove(targets: list[str], out: TextIO) -> int:
    removed = []
    for target in targets:
        with contextlib.suppress(FileNotFoundError):
            os.remove(target)
            removed.append(target)
    if not removed:
        print(f"nothing to remove: neither {' nor '.join(targets)} exists", file=out)
        return 0
    print(f"removed {', '.join(removed)}: capture runs with the venv's own interpreter "
          "again (permitted only to root)", file=out)
    return 0


# -- telling what was done ----------------------------------------------------------

def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return f"gid {gid}"


def _members(gid: int) -> list[str]:
    """Users who may run the copy: the group's members and whose primary group it is."""
    try:
        names = set(grp.getgrgid(gid).gr_mem)
    except KeyError:
        names = set()
    names.update(user.pw_name for user in pwd.getpwall() if user.pw_gid == gid)
    return sorted(names)


def _may_run(gid: int) -> str:
    group, members = _group_name(gid), _members(gid)
    return (f"root:{group} 0750; may run it: root"
            f"{', ' + ', '.join(members) if members else f' only ({group} has no members yet)'}")


def _undo(venv_dir: str) -> str:
    venv_option = "" if venv_dir == os.path.abspath(sys.prefix) else f" --venv {venv_dir}"
    return f"Undo with: sudo {_self_command()} setup-capture --remove{venv_option}"


def _notes(out: TextIO, gid: int, changeable: Changeable | None) -> None:
    group, members = _group_name(gid), _members(gid)
    sudo_user = os.environ.get("SUDO_USER")
    if sudo_user and sudo_user not in members:
        print(f"note: {sudo_user} is not in {group}: 'sudo usermod -aG {group} {sudo_user}', "
              "then log in again", file=out)
    if changeable is not None:
        print(f"note: accepted with --allow-user-owned: {changeable.path} is "
              f"{changeable.why}; whoever can change it can run code as any member of "
              f"{group} who captures", file=out)


def _report_helper(out: TextIO, *, target: str, venv_dir: str, uid: int, gid: int,
                   changeable: Changeable | None) -> None:
    group = _group_name(gid)
    print(f"set up {target}\n"
          f"  built from    {helper_source()}\n"
          f"  owner, mode   {_may_run(gid)}\n"
          "  capabilities  cap_net_raw=ep, given up once its packet socket is open\n"
          f"  verified      run as {_user_name(uid)} with group {group}, it opens a packet "
          "socket, and a capture through it works\n"
          f"Members of {group} now capture through it (any interface, any filter); it "
          "cannot send packets, and the application runs without privileges; restart "
          f"Packet Visualizer.\n{_undo(venv_dir)}", file=out)
    _notes(out, gid, changeable)


def _report_copy(out: TextIO, *, source: str, target: str, venv_dir: str, uid: int, gid: int,
                 with_net_admin: bool, changeable: Changeable | None, fallback: str) -> None:
    group = _group_name(gid)
    caps = "cap_net_raw,cap_net_admin=ep" if with_net_admin else "cap_net_raw=ep"
    print(f"set up {target}\n"
          f"  copied from   {source}\n"
          f"  owner, mode   {_may_run(gid)}\n"
          f"  capabilities  {caps}\n"
          f"  verified      run as {_user_name(uid)} with group {group}, it opens a packet "
          "socket and imports visualizer and scapy\n"
          f"Members of {group} now capture through it while the application runs without "
          f"privileges; restart Packet Visualizer.\n{_undo(venv_dir)}", file=out)
    print(f"note: any Python code a member of {group} runs with {target} holds "
          f"{caps.removesuffix('=ep').upper().replace(',', ' and ')}: it can send forged "
          "packets, not only capture"
          + (f"; {fallback}, so the capture helper, which only captures, was not built "
             "(install gcc and run setup-capture again)" if fallback else ""), file=out)
    _notes(out, gid, changeable)
    if with_net_admin:
        print(f"note: with CAP_NET_ADMIN, members of {group} can also reconfigure this "
              "machine's network (interfaces, routes, firewall) through this interpreter",
              file=out)
