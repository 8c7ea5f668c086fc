"""May this user capture? And if not, what would let them?

Only the capture process needs CAP_NET_RAW (DESIGN: Capture). It runs with
``capture_python()``: the interpreter named by ``VISUALIZER_CAPTURE_PYTHON``,
else a dedicated copy ``python-capture`` beside this interpreter when one
was set up (and granted the capability with setcap), else this interpreter.
``check_capture()`` asks that interpreter to open a packet socket, so the
answer is the real one, whatever granted (or withheld) the privilege.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass

CAPTURE_PYTHON_NAME = "python-capture"
_PROBE = ("import socket\n"
          "try:\n"
          "    socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()\n"
          "except PermissionError:\n"
          "    raise SystemExit(3)\n")


@dataclass(frozen=True)
class CapturePermission:
    permitted: bool
    python: str          # the interpreter the capture process runs with
    reason: str          # why not ("" when permitted)


def capture_python() -> str:
    """The interpreter the capture process should run with."""
    chosen = os.environ.get("VISUALIZER_CAPTURE_PYTHON")
    if chosen:
        return chosen
    dedicated = os.path.join(os.path.dirname(sys.executable), CAPTURE_PYTHON_NAME)
    if os.access(dedicated, os.X_OK):
        return dedicated
    return sys.executable


def running_as_root() -> bool:
    return os.geteuid() == 0


def check_capture(python: str | None = None) -> CapturePermission:
    """Whether ``python`` (default: ``capture_python()``) may open a packet socket."""
    python = python or capture_python()
    if os.path.realpath(python) == os.path.realpath(sys.executable) and python == sys.executable:
        try:
            socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
        except PermissionError:
            return CapturePermission(False, python, "capture needs CAP_NET_RAW, which this "
                                     "user does not have")
        except OSError as err:
            return CapturePermission(False, python, f"packet sockets are unavailable: "
                                     f"{err.strerror}")
        return CapturePermission(True, python, "")
    try:
        result = subprocess.run([python, "-I", "-c", _PROBE], capture_output=True,
                                timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return CapturePermission(False, python, f"cannot run the capture interpreter "
                                 f"{python}: {err}")
    if result.returncode == 0:
        return CapturePermission(True, python, "")
    if result.returncode == 3:
        return CapturePermission(False, python, f"the capture interpreter {python} lacks "
                                 "CAP_NET_RAW")
    return CapturePermission(False, python, f"the capture interpreter {python} failed: "
                             f"{result.stderr.decode(errors='replace').strip()[-200:]}")


def grant_commands(python: str | None = None) -> list[str]:
    """Shell commands that give a dedicated interpreter copy CAP_NET_RAW
    (the README's recipe, with this installation's paths)."""
    base = python or sys.executable
    target = os.path.join(os.path.dirname(base), CAPTURE_PYTHON_NAME)
    return [f'cp "$(readlink -f {base})" {target}',
            f"sudo setcap cap_net_raw+ep {target}"]
