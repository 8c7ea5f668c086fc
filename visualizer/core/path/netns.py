"""A private network namespace for one run, created and always removed by us.

A scenario on a path runs its client and its server each in a network
namespace of its own: their own interfaces, addresses and routes, no effect
on the rest of the machine. This module creates one with ``ip netns add``
under a name unique per run (``pv-path-<pid>-<n>``, so ``ip netns list``
shows what is ours and whose),
configures it with commands run inside it, lets threads enter it, and
removes it.

Network namespaces belong to threads, not processes: ``setns`` moves only
the calling thread, a thread (or child process) starts in the namespace of
the thread that started it, and a socket stays in the namespace it was
created in. So a side thread calls :meth:`NetworkNamespace.enter_thread` before it opens
a socket; code that must create one socket inside and go on outside uses
:meth:`NetworkNamespace.entered`. A child process is started inside with
:meth:`NetworkNamespace.command` (``ip netns exec NAME ...``).

Removal is guaranteed as far as a process can guarantee it: ``remove()`` in
the owner's ``finally``, a finalizer at garbage collection and interpreter
exit, and on every ``create`` the namespaces of runs whose process has died
(killed with SIGKILL, say) are removed too.

Creating a namespace and changing its network needs CAP_SYS_ADMIN and
CAP_NET_ADMIN, in practice root; without them ``create`` raises
``NamespaceNotPermitted`` (exit code 3, as a capture that is not permitted).
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import shutil
import subprocess
import threading
import weakref
from collections.abc import Iterator, Sequence
from types import TracebackType

from visualizer.core.errors import VisualizerError

__all__ = ["NamespaceError", "NamespaceNotPermitted", "NetworkNamespace",
           "missing_capabilities", "remove_stale", "require"]

NETNS_DIR = "/run/netns"           # where `ip netns` keeps its named namespaces
CLONE_NEWNET = 0x40000000          # linux/sched.h
CAP_NET_ADMIN = 12                 # linux/capability.h
CAP_SYS_ADMIN = 21
_COMMAND_TIMEOUT = 10.0

_counter = itertools.count()
_counter_lock = threading.Lock()


class NamespaceNotPermitted(VisualizerError):
    """This user may not create or configure a network namespace.

    Exit code 3, as for a capture that is not permitted, but not a
    ``CaptureNotPermitted``: the fix is root, not CAP_NET_RAW for the
    capture interpreter, and front ends that offer that fix must not offer it here.
    """

    exit_code = 3


class NamespaceError(VisualizerError):
    """A namespace command failed for a reason other than privilege."""


def missing_capabilities() -> list[str]:
    """The capabilities a namespace needs that this process lacks (empty: none)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            line = next(x for x in status if x.startswith("CapEff:"))
        effective = int(line.split()[1], 16)
    except (OSError, StopIteration, ValueError, IndexError):
        return []  # cannot tell: let the commands themselves decide
    wanted = {"CAP_NET_ADMIN": CAP_NET_ADMIN, "CAP_SYS_ADMIN": CAP_SYS_ADMIN}
    return [name for name, bit in wanted.items() if not effective >> bit & 1]


_libc = ctypes.CDLL(None, use_errno=True)


def set_thread_netns(fd: int) -> None:
    """setns(fd, CLONE_NEWNET) for the calling thread (os.setns is Python 3.12+)."""
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


_PACKAGES = {"ip": "iproute2", "sysctl": "procps"}  # Debian packages of the commands used


def require(program: str) -> None:
    """``NamespaceError`` naming the package to install if ``program`` is missing."""
    if shutil.which(program) is None:
        package = _PACKAGES.get(program, program)
        raise NamespaceError(f"the command {program!r} is not installed: a private network "
                             f"namespace needs it (Debian package {package})")


def _run(args: Sequence[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    require(args[0])
    try:
        return subprocess.run(list(args), input=stdin, capture_output=True, text=True,
                              timeout=_COMMAND_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise NamespaceError(f"{' '.join(args)} did not finish within "
                             f"{_COMMAND_TIMEOUT:g} s") from None


def _not_permitted(text: str) -> bool:
    return "Operation not permitted" in text or "Permission denied" in text


def _delete(name: str) -> None:
    """Remove the namespace ``name`` if it still exists (finalizer: never raises)."""
    if os.path.exists(os.path.join(NETNS_DIR, name)):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True,
                           timeout=_COMMAND_TIMEOUT, check=False)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(prefix: str) -> list[str]:
    """Remove the ``prefix-<pid>-<n>`` namespaces whose process is gone; their names."""
    try:
        names = os.listdir(NETNS_DIR)
    except OSError:
        return []
    removed = []
    for name in names:
        rest = name.removeprefix(f"{prefix}-")
        pid, _sep, number = rest.partition("-")
        if rest == name or not (pid.isdigit() and number.isdigit()):
            continue
        if int(pid) != os.getpid() and not _pid_alive(int(pid)):
            _delete(name)
            removed.append(name)
    return removed


class NetworkNamespace:
    """A named network namespace owned by this process; see the module docstring.

    Use as a context manager, or call :meth:`remove` (idempotent).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = os.path.join(NETNS_DIR, name)
        self._finalizer = weakref.finalize(self, _delete, name)

    @classmethod
    def create(cls, prefix: str, *, purpose: str = "this scenario") -> NetworkNamespace:
        """A new namespace ``prefix-<pid>-<n>`` (with ``lo`` still down).

        ``purpose`` names what needs it in the error raised without privilege.
        """
        missing = missing_capabilities()
        if missing:
            raise cls._not_permitted_error(purpose, missing)
        require("ip")
        remove_stale(prefix)
        with _counter_lock:
            number = next(_counter)
        name = f"{prefix}-{os.getpid()}-{number}"
        result = _run(["ip", "netns", "add", name])
        if result.returncode != 0:
            _delete(name)  # `ip netns add` can fail half-way and leave the name behind
            message = result.stderr.strip().splitlines()[-1:] or ["no message"]
            if _not_permitted(result.stderr):
                raise cls._not_permitted_error(purpose, ["CAP_NET_ADMIN", "CAP_SYS_ADMIN"])
            raise NamespaceError(f"cannot create the network namespace {name}: {message[0]}")
        return cls(name)

    @staticmethod
    def _not_permitted_error(purpose: str, missing: list[str]) -> NamespaceNotPermitted:
        return NamespaceNotPermitted(
            f"{purpose} needs {' and '.join(missing)} to create a private network namespace: "
            "run it as root (e.g. with sudo)")

    # -- inside the namespace ----------------------------------------------------

    def command(self, args: Sequence[str]) -> list[str]:
        """``args`` as a command that runs inside this namespace."""
        return ["ip", "netns", "exec", self.name, *args]

    def run(self, args: Sequence[str], stdin: str | None = None) -> None:
        """Run ``args`` inside the namespace; ``NamespaceError`` (or
        ``NamespaceNotPermitted``) with the command's message if it fails."""
        require(args[0])
        result = _run(self.command(args), stdin)
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines() or [f"exit status {result.returncode}"]
            text = f"{' '.join(args)} failed in the network namespace {self.name}: {lines[-1]}"
            if _not_permitted(result.stderr):
                raise NamespaceNotPermitted(text)
            raise NamespaceError(text)

    def enter_thread(self) -> None:
        """Move the calling thread into this namespace for the rest of its life."""
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            set_thread_netns(fd)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """The calling thread inside this namespace for the ``with`` block, then
        back where it was; sockets created inside stay inside."""
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            self.enter_thread()
            try:
                yield
            finally:
                set_thread_netns(home)
        finally:
            os.close(home)

    # -- life cycle ----------------------------------------------------------------

    @property
    def exists(self) -> bool:
        return os.path.exists(self.path)

    def remove(self) -> None:
        """Delete the namespace: its interfaces and rules go with it (sockets still
        open inside keep it alive, unnamed, until they close). Idempotent."""
        if self._finalizer.alive:
            self._finalizer()

    def __enter__(self) -> NetworkNamespace:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"NetworkNamespace({self.name!r})"
