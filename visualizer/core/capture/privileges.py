"""May this user capture? And if not, what would let them?

Only the capture process needs CAP_NET_RAW (DESIGN: Capture), and only to
open its packet socket. ``visualizer setup-capture`` grants it in one of two
ways, each runnable by root and one group only:

- the capture helper ``capture-helper`` beside this interpreter (or the
  program ``VISUALIZER_CAPTURE_HELPER`` names): a small C program that opens
  the socket, gives up the capability and only ever reads from it. The
  capture process runs with this interpreter and no privilege, and starts
  the helper when it cannot open a packet socket itself
  (``capture_helper()``);
- the fallback, without a C compiler: a copy of the interpreter,
  ``python-capture``, that holds CAP_NET_RAW itself. The capture process
  runs with it (``capture_python()``: ``VISUALIZER_CAPTURE_PYTHON``, else
  that copy, else this interpreter). Any Python code run with it holds the
  capability.

``check_capture()`` asks the capture interpreter, or the helper, to open a
packet socket, so the answer is the real one, whatever granted (or withheld)
the privilege. The GUI itself never needs a capability.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
from dataclasses import dataclass

__all__ = ["CAPTURE_HELPER_ENV", "CAPTURE_HELPER_NAME", "CAPTURE_PYTHON_ENV",
           "CAPTURE_PYTHON_NAME", "CapturePermission", "capture_helper", "capture_python",
           "check_capture", "check_helper", "dedicated_helper", "dedicated_python",
           "grant_commands", "helper_source", "manual_commands", "running_as_root"]

CAPTURE_PYTHON_NAME = "python-capture"
CAPTURE_PYTHON_ENV = "VISUALIZER_CAPTURE_PYTHON"
CAPTURE_HELPER_NAME = "capture-helper"
CAPTURE_HELPER_ENV = "VISUALIZER_CAPTURE_HELPER"
_PROBE = ("import socket\n"
          "try:\n"
          "    socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()\n"
          "except PermissionError:\n"
          "    raise SystemExit(3)\n")
_PROBE_TIMEOUT = 10.0


@dataclass(frozen=True)
class CapturePermission:
    permitted: bool
    python: str          # the interpreter the capture process runs with
    reason: str          # why not ("" when permitted)
    helper: str = ""     # the capture helper that opens its socket, if it needs one


def dedicated_python(bindir: str | None = None) -> str:
    """Where the dedicated capture interpreter lives: beside this interpreter
    (in a venv, ``<venv>/bin/python-capture``), or in ``bindir``."""
    return os.path.join(bindir or os.path.dirname(sys.executable), CAPTURE_PYTHON_NAME)


def dedicated_helper(bindir: str | None = None) -> str:
    """Where the capture helper lives: beside this interpreter, or in ``bindir``."""
    return os.path.join(bindir or os.path.dirname(sys.executable), CAPTURE_HELPER_NAME)


def helper_source() -> str:
    """The C source of the capture helper, shipped with this package."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "capture_helper.c")


def capture_helper() -> str | None:
    """The capture helper this user may run, if there is one."""
    chosen = os.environ.get(CAPTURE_HELPER_ENV)
    if chosen:
        return chosen
    helper = dedicated_helper()
    return helper if os.access(helper, os.X_OK) else None


def capture_python() -> str:
    """The interpreter the capture process should run with."""
    chosen = os.environ.get(CAPTURE_PYTHON_ENV)
    if chosen:
        return chosen
    dedicated = dedicated_python()
    if os.access(dedicated, os.X_OK):
        return dedicated
    return sys.executable


def running_as_root() -> bool:
    return os.geteuid() == 0


def check_capture(python: str | None = None, *, uid: int | None = None,
                  gid: int | None = None) -> CapturePermission:
    """Whether ``python`` (default: ``capture_python()``) may open a packet socket.

    With ``uid`` (and ``gid``) the probe runs as that user with that group
    and no supplementary groups, which only root may ask for: that is how
    ``setup-capture`` checks the capability as an unprivileged user would
    see it, since root may capture with any interpreter.
    """
    python = python or capture_python()
    if uid is None and python == sys.executable:
        return _check_here(python)
    reason = _probe([python, "-I", "-c", _PROBE], f"the capture interpreter {python}", uid, gid)
    return CapturePermission(not reason, python, reason)


def check_helper(helper: str, *, uid: int | None = None, gid: int | None = None
                 ) -> CapturePermission:
    """Whether the capture helper ``helper`` may open a packet socket (run as
    ``uid`` with only group ``gid`` when given, as for check_capture)."""
    reason = _probe([helper, "--check"], f"the capture helper {helper}", uid, gid)
    return CapturePermission(not reason, sys.executable, reason, helper)


def _probe(command: list[str], what: str, uid: int | None, gid: int | None) -> str:
    """Runs a probe that exits 0 when permitted, 3 when not; "" or why not."""
    user: int | None = None
    group: int | None = None
    extra_groups: list[int] | None = None
    if uid is not None:
        user, group, extra_groups = uid, (gid if gid is not None else os.getgid()), []
    try:
        result = subprocess.run(command, capture_output=True, stdin=subprocess.DEVNULL,
                                timeout=_PROBE_TIMEOUT, check=False,
                                user=user, group=group, extra_groups=extra_groups)
    except (OSError, subprocess.SubprocessError) as err:
        return f"cannot run {what}: {getattr(err, 'strerror', None) or err}"
    if result.returncode == 0:
        return ""
    if result.returncode == 3:
        return f"{what} lacks CAP_NET_RAW"
    output = result.stderr.decode(errors="replace").strip()
    return f"{what} failed: {output[-300:] or f'exit status {result.returncode}'}"


def _check_here(python: str) -> CapturePermission:
    """The probe in this process: no child needed when it is the interpreter;
    without the privilege, the capture helper's probe if there is one."""
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except PermissionError:
        helper = capture_helper()
        if helper is not None:
            return check_helper(helper)
        return CapturePermission(False, python, "capture needs CAP_NET_RAW, which this "
                                 "user does not have" + _dedicated_hint())
    except OSError as err:
        return CapturePermission(False, python, f"packet sockets are unavailable: "
                                 f"{err.strerror}")
    return CapturePermission(True, python, "")


def _dedicated_hint() -> str:
    """Why a capture helper or interpreter that exists was not used, if one exists."""
    for dedicated in (dedicated_helper(), dedicated_python()):
        if os.path.exists(dedicated) and not os.access(dedicated, os.X_OK):
            try:
                import grp

                group = grp.getgrgid(os.stat(dedicated).st_gid).gr_name
            except (OSError, KeyError):
                group = "its group"
            return (f"; {dedicated} exists but this user may not run it: only members of "
                    f"{group} may (log in again after being added to the group)")
    return ""


def grant_commands() -> list[str]:
    """The command that sets up the dedicated capture interpreter for this
    installation (``visualizer setup-capture``, run with sudo)."""
    bindir = os.path.dirname(sys.executable)
    script = os.path.join(bindir, "visualizer")
    if os.access(script, os.X_OK):
        return [f"sudo {shlex.quote(script)} setup-capture"]
    return [f"sudo {shlex.quote(sys.executable)} -m visualizer setup-capture"]


def manual_commands(group: str | None = None) -> list[str]:
    """What ``setup-capture`` does, as shell commands (the README's recipe):
    build the capture helper, let root and ``group`` (default: the primary
    group of whoever runs them) run it, give it CAP_NET_RAW.

    chgrp comes before setcap because changing a file's owner or group
    clears its capabilities.
    """
    target = shlex.quote(dedicated_helper())
    source = shlex.quote(helper_source())
    owner = shlex.quote(group) if group else '"$(id -gn)"'
    return [f"sudo cc -O2 -o {target} {source}",
            f"sudo chgrp {owner} {target}",
            f"sudo chmod 0750 {target}",
            f"sudo setcap cap_net_raw+ep {target}"]
