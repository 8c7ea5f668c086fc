"""``visualizer setup-capture``: give the capture process, and only it, its privilege.

Run once with sudo. It copies the virtual environment's real interpreter
binary to ``<venv>/bin/python-capture``, lets only root and one group run
it (``root:GROUP``, mode 0750) and gives it CAP_NET_RAW with setcap, as
Debian installs Wireshark's dumpcap. Packet Visualizer then starts its
capture process with that copy (``privileges.capture_python()``) while the
window runs as the user, without any capability.

The copy finds its standard library through its original installation
(pyvenv.cfg's ``home``) and the venv's packages because it sits in
``<venv>/bin`` beside ``pyvenv.cfg``. A binary with file capabilities runs
in the loader's secure mode (LD_LIBRARY_PATH and relative library paths
ignored), so the copy is checked after setcap, as an unprivileged member of
the group would run it: it must open a packet socket and import visualizer
and scapy. If it cannot, it is removed again and the command says why.

Who should be in the group: on a personal machine, you (the default group
is the primary group of the user who ran sudo, which on Debian-like systems
is that user alone); in a lab, a group such as ``pcap`` holding the
students' accounts, with the venv in a directory only root can change.

Whoever can change the venv's files decides what its interpreter runs: as
root while this command checks it, and with the capture privilege for
every member of the group afterwards. So before anything of the venv runs,
the venv, its interpreter and its installation are checked with
``trust.venv_changeable()`` (file ownership and modes along every path);
one that a user other than root can change is refused unless
``allow_user_owned`` (``--allow-user-owned``) says that is accepted. Even
then root runs the copy only as ``python -I -S`` (no site-packages, so no
``.pth`` file), to learn where its installation is.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from typing import TextIO

from visualizer.core.capture.privileges import CAPTURE_PYTHON_NAME, check_capture, dedicated_python
from visualizer.core.capture.trust import Changeable, venv_changeable
from visualizer.core.errors import BadInput, CaptureFailed, CaptureNotPermitted, VisualizerError

__all__ = ["setup_capture_command"]

MODE = 0o750
NOBODY_UID = 65534
_IMPORT_CHECK = "import sys, visualizer, scapy; print(sys.base_prefix)"
_BASE_CHECK = "import sys; print(sys.base_prefix)"  # run by root with -I -S
_TIMEOUT = 30.0


def setup_capture_command(*, venv: str | None = None, group: str | None = None,
                          remove: bool = False, with_net_admin: bool = False,
                          allow_user_owned: bool = False, out: TextIO | None = None) -> int:
    """Sets up (or with ``remove`` deletes) ``<venv>/bin/python-capture``;
    says what it did on ``out`` (default: stdout). A venv that a user other
    than root can change is refused (BadInput) unless ``allow_user_owned``."""
    out = out or sys.stdout
    if os.geteuid() != 0:
        raise CaptureNotPermitted(f"setup-capture changes file capabilities: run it with "
                                  f"sudo (sudo {_self_command()} setup-capture)")
    venv_dir = _venv_dir(venv)
    bindir = os.path.join(venv_dir, "bin")
    target = dedicated_python(bindir)
    if remove:
        if group is not None or with_net_admin or allow_user_owned:
            raise BadInput("--remove takes neither --group, --with-net-admin nor "
                           "--allow-user-owned")
        return _remove(target, out)
    gid = _group_id(group)
    changeable = venv_changeable(venv_dir)  # before anything of the venv is run or copied
    if changeable is not None and not allow_user_owned:
        raise BadInput(_refusal(venv_dir, changeable, gid))
    source = _source_interpreter(bindir)
    _check_filesystem(bindir)
    caps = "cap_net_raw,cap_net_admin+ep" if with_net_admin else "cap_net_raw+ep"
    _install(source, bindir, gid, caps)
    uid = _verifying_uid()
    try:
        _verify(target, uid, gid, venv_dir)
    except BaseException:  # never leave an unverified privileged binary behind
        with contextlib.suppress(FileNotFoundError):
            os.remove(target)
        raise
    _report(out, source=source, target=target, venv_dir=venv_dir, uid=uid, gid=gid,
            with_net_admin=with_net_admin, changeable=changeable)
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


def _source_interpreter(bindir: str) -> str:
    """The venv's real interpreter binary (venvs hold symlinks to it)."""
    for name in ("python", "python3"):
        link = os.path.join(bindir, name)
        if os.path.exists(link):
            break
    else:
        raise BadInput(f"{bindir} has no python: not a usable virtual environment")
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


def _install(source: str, bindir: str, gid: int, caps: str) -> None:
    """Copies ``source`` to ``bindir/python-capture`` as root:gid 0750 with ``caps``.

    The copy is made in a private directory (root's, mode 0700) inside
    ``bindir`` and renamed into place, so a venv owned by a user never shows
    a half-made file, and setcap, which names its file by path, is run in
    that directory: whoever owns the venv cannot swap in another file for
    the capability. chown comes before setcap because it clears capabilities.
    """
    setcap = _setcap()
    bin_fd = os.open(bindir, os.O_RDONLY | os.O_DIRECTORY)
    private = tempfile.mkdtemp(prefix=f".{CAPTURE_PYTHON_NAME}-", dir=bindir)
    private_fd = os.open(private, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with open(source, "rb") as src, open(
                os.open(CAPTURE_PYTHON_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                        0o700, dir_fd=private_fd), "wb") as dst:
            shutil.copyfileobj(src, dst)
            dst.flush()
            os.fchown(dst.fileno(), 0, gid)
            os.fchmod(dst.fileno(), MODE)
            os.fsync(dst.fileno())
        result = subprocess.run([setcap, caps, CAPTURE_PYTHON_NAME],
                                cwd=f"/proc/{os.getpid()}/fd/{private_fd}",
                                capture_output=True, text=True, timeout=_TIMEOUT, check=False)
        if result.returncode != 0:
            raise VisualizerError(f"setcap {caps} failed: {result.stderr.strip()}")
        os.rename(CAPTURE_PYTHON_NAME, CAPTURE_PYTHON_NAME, src_dir_fd=private_fd,
                  dst_dir_fd=bin_fd)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(CAPTURE_PYTHON_NAME, dir_fd=private_fd)
        os.close(private_fd)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.basename(private), dir_fd=bin_fd)
        os.close(bin_fd)


def _verifying_uid() -> int:
    """Who checks the result: the user who ran sudo, else nobody."""
    sudo_uid = os.environ.get("SUDO_UID", "")
    if sudo_uid.isdigit() and int(sudo_uid) != 0:
        return int(sudo_uid)
    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        return NOBODY_UID


def _verify(target: str, uid: int, gid: int, venv_dir: str) -> None:
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
    as_root = _run_check(target, None, None, _BASE_CHECK)
    as_user = _run_check(target, uid, gid, _IMPORT_CHECK)
    if as_root.returncode != 0:
        raise CaptureFailed(f"{target}, run as root, does not start: "
                            f"{as_root.stderr.strip()[-300:]}; it was removed again")
    if as_user.returncode != 0:
        raise CaptureFailed(f"{target}, run as {as_whom}, cannot import visualizer and "
                            f"scapy: {as_user.stderr.strip()[-300:]}"
                            f"{_readability_hint(venv_dir)}; it was removed again")
    if as_user.stdout != as_root.stdout:
        # It started, but with another Python found in the default places
        # (/usr/lib...), because the users cannot read the one it belongs to.
        raise CaptureFailed(f"{target}, run as {as_whom}, does not find its own Python "
                            f"installation {as_root.stdout.strip()} and falls back to "
                            f"{as_user.stdout.strip()}{_readability_hint(venv_dir)}; "
                            "it was removed again")


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


def _remove(target: str, out: TextIO) -> int:
    try:
        os.remove(target)
    except FileNotFoundError:
        print(f"nothing to remove: {target} does not exist", file=out)
        return 0
    print(f"removed {target}: capture runs with the venv's own interpreter again "
          "(permitted only to root)", file=out)
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


def _report(out: TextIO, *, source: str, target: str, venv_dir: str, uid: int, gid: int,
            with_net_admin: bool, changeable: Changeable | None) -> None:
    group = _group_name(gid)
    members = _members(gid)
    caps = "cap_net_raw,cap_net_admin=ep" if with_net_admin else "cap_net_raw=ep"
    venv_option = "" if venv_dir == os.path.abspath(sys.prefix) else f" --venv {venv_dir}"
    print(f"set up {target}\n"
          f"  copied from   {source}\n"
          f"  owner, mode   root:{group} 0750; may run it: root"
          f"{', ' + ', '.join(members) if members else f' only ({group} has no members yet)'}\n"
          f"  capabilities  {caps}\n"
          f"  verified      run as {_user_name(uid)} with group {group}, it opens a packet "
          "socket and imports visualizer and scapy\n"
          f"Members of {group} now capture through it while the application runs without "
          "privileges; restart Packet Visualizer.\n"
          f"Undo with: sudo {_self_command()} setup-capture --remove{venv_option}", file=out)
    sudo_user = os.environ.get("SUDO_USER")
    if sudo_user and sudo_user not in members:
        print(f"note: {sudo_user} is not in {group}: 'sudo usermod -aG {group} {sudo_user}', "
              "then log in again", file=out)
    if changeable is not None:
        print(f"note: accepted with --allow-user-owned: {changeable.path} is "
              f"{changeable.why}; whoever can change it can run code with the capture "
              f"privilege as any member of {group}", file=out)
    if with_net_admin:
        print(f"note: with CAP_NET_ADMIN, members of {group} can also reconfigure this "
              "machine's network (interfaces, routes, firewall) through this interpreter",
              file=out)
