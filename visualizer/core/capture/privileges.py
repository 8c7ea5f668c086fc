"""May this user capture? And if not, what would let them?

Only the capture process needs CAP_NET_RAW (DESIGN: Capture). It runs with
``capture_python()``: the interpreter named by ``VISUALIZER_CAPTURE_PYTHON``,
else a dedicated copy ``python-capture`` beside this interpreter when one
was set up (``visualizer setup-capture`` gives it the capability), else this
interpreter. ``check_capture()`` asks that interpreter to open a packet
socket, so the answer is the real one, whatever granted (or withheld) the
privilege. The GUI itself never needs a capability.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
from dataclasses import dataclass

__all__ = ["CAPTURE_PYTHON_ENV", "CAPTURE_PYTHON_NAME", "CapturePermission", "capture_python",
           "check_capture", "dedicated_python", "grant_commands", "manual_commands",
           "running_as_root"]

CAPTURE_PYTHON_NAME = "python-capture"
CAPTURE_PYTHON_ENV = "VISUALIZER_CAPTURE_PYTHON"
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


def dedicated_python(bindir: str | None = None) -> str:
    """Where the dedicated capture interpreter lives: beside this interpreter
    (in a venv, ``<venv>/bin/python-capture``), or in ``bindir``."""
    return os.path.join(bindir or os.path.dirname(sys.executable), CAPTURE_PYTHON_NAME)


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
    user: int | None = None
    group: int | None = None
    extra_groups: list[int] | None = None
    if uid is not None:
        user, group, extra_groups = uid, (gid if gid is not None else os.getgid()), []
    try:
        result = subprocess.run([python, "-I", "-c", _PROBE], capture_output=True,
                                timeout=_PROBE_TIMEOUT, check=False,
                                user=user, group=group, extra_groups=extra_groups)
    except (OSError, subprocess.SubprocessError) as err:
        return CapturePermission(False, python, f"cannot run the capture interpreter "
                                 f"{python}: {getattr(err, 'strerror', None) or err}")
    if result.returncode == 0:
        return CapturePermission(True, python, "")
    if result.returncode == 3:
        return CapturePermission(False, python, f"the capture interpreter {python} lacks "
                                 "CAP_NET_RAW")
    output = result.stderr.decode(errors="replace").strip()
    return CapturePermission(False, python, f"the capture interpreter {python} failed: "
                             f"{output[-300:] or f'exit status {result.returncode}'}")


def _check_here(python: str) -> CapturePermission:
    """The probe in this process: no child needed when it is the interpreter."""
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except PermissionError:
        return CapturePermission(False, python, "capture needs CAP_NET_RAW, which this "
                                 "user does not have" + _dedicated_hint())
    except OSError as err:
        return CapturePermission(False, python, f"packet sockets are unavailable: "
                                 f"{err.strerror}")
    return CapturePermission(True, python, "")


def _dedicated_hint() -> str:
    """Why a dedicated interpreter that exists was not used, if one exists."""
    dedicated = dedicated_python()
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
    """What ``setup-capture`` does, as shell commands (the README's recipe);
    ``group`` defaults to the primary group of whoever runs them.

    chgrp comes before setcap because changing a file's owner or group
    clears its capabilities.
    """
    target = shlex.quote(dedicated_python())
    source = shlex.quote(sys.executable)
    owner = shlex.quote(group) if group else '"$(id -gn)"'
    return [f'sudo cp "$(readlink -f {source})" {target}',
            f"sudo chgrp {owner} {target}",
            f"sudo chmod 0750 {target}",
            f"sudo setcap cap_net_raw+ep {target}"]
