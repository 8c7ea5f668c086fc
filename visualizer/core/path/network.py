"""The path: client and server each in a private network namespace, joined
by the forwarder, built and always taken down again.

::

    client namespace                                  server namespace
    192.0.2.1 / 2001:db8::1  ── pvtun ═ forwarder ═ pvtun ──  192.0.2.2 / 2001:db8::2

Documentation addresses (RFC 5737, RFC 3849), MTU 1500 so that segments
are Ethernet-sized (a TUN has no GSO), txqueuelen 10000 so that a busy
forwarder is not a hidden drop, and no IPv6 link-local address or router
solicitation (``addr_gen_mode=1`` before the link goes up), so that only
the scenario's packets travel the path.

``PathNetwork`` is a context manager: leaving it, by any exit, stops the
forwarder (SIGTERM, then SIGKILL) and removes both namespaces; the TUN
devices vanish with the forwarder. A forwarder that dies early is noticed
(``check``) and reported in one line.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
from types import TracebackType

from visualizer.core.errors import VisualizerError
from visualizer.core.path.forwarder import TUN_NAME
from visualizer.core.path.link import PathParams
from visualizer.core.path.netns import NetworkNamespace

NAMESPACE_PREFIX = "pv-path"
PURPOSE = "the path between client and server"   # what needs root, as errors say it
CLIENT_V4, SERVER_V4 = "192.0.2.1", "192.0.2.2"
CLIENT_V6, SERVER_V6 = "2001:db8::1", "2001:db8::2"
MTU = 1500
TXQUEUELEN = 10_000
READY_TIMEOUT_S = 10.0
STOP_GRACE_S = 3.0


class PathFailed(VisualizerError):
    """The path could not be built, or its forwarder died."""


class PathNetwork:
    """Two namespaces and the forwarder between them (see the module docstring)."""

    def __init__(self, params: PathParams) -> None:
        self.params = params
        self.client: NetworkNamespace | None = None
        self.server: NetworkNamespace | None = None
        self._forwarder: subprocess.Popen[bytes] | None = None
        self._folder = tempfile.mkdtemp(prefix="visualizer-path-")
        self.log_path = os.path.join(self._folder, "fates.jsonl")
        self.fates: list[dict[str, object]] = []

    def __enter__(self) -> PathNetwork:
        try:
            self.client = NetworkNamespace.create(NAMESPACE_PREFIX, purpose=PURPOSE)
            self.server = NetworkNamespace.create(NAMESPACE_PREFIX, purpose=PURPOSE)
            self._start_forwarder()
            self._configure(self.client, CLIENT_V4, CLIENT_V6)
            self._configure(self.server, SERVER_V4, SERVER_V6)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def host(self, side: str, family: str) -> str:
        """The address of ``side`` ("client" or "server") for ``family`` ("ipv4"/"ipv6")."""
        if side == "server":
            return SERVER_V6 if family == "ipv6" else SERVER_V4
        return CLIENT_V6 if family == "ipv6" else CLIENT_V4

    def namespace_of(self, side: str) -> NetworkNamespace:
        """The server side runs in the server's namespace; every other side in the client's."""
        namespace = self.server if side == "server" else self.client
        assert namespace is not None, "the path is not built"
        return namespace

    @property
    def interface(self) -> str:
        return TUN_NAME

    def _start_forwarder(self) -> None:
        assert self.client is not None and self.server is not None
        self._forwarder = subprocess.Popen(
            [sys.executable, "-m", "visualizer.core.path.forwarder", self.client.name,
             self.server.name, self.log_path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self._forwarder.stdin is not None and self._forwarder.stdout is not None
        self._forwarder.stdin.write(json.dumps(self.params.to_dict()).encode() + b"\n")
        self._forwarder.stdin.flush()
        ready, _, _ = select.select([self._forwarder.stdout], [], [], READY_TIMEOUT_S)
        line = self._forwarder.stdout.readline() if ready else b""
        try:
            event = json.loads(line) if line else {}
        except ValueError:
            event = {}
        if event.get("event") != "ready":
            self._stop_forwarder()
            raise PathFailed("the path's forwarder did not start: "
                             + str(event.get("message") or self._forwarder_error()))

    def _forwarder_error(self) -> str:
        assert self._forwarder is not None
        err = self._forwarder.stderr.read().decode(errors="replace") if self._forwarder.stderr \
            else ""
        lines = err.strip().splitlines()
        return lines[-1] if lines else f"exit status {self._forwarder.returncode}"

    def _configure(self, namespace: NetworkNamespace, v4: str, v6: str) -> None:
        namespace.run(["sysctl", "-q", "-w", f"net.ipv6.conf.{TUN_NAME}.addr_gen_mode=1"])
        namespace.run(["ip", "link", "set", TUN_NAME, "mtu", str(MTU), "txqueuelen",
                       str(TXQUEUELEN)])
        namespace.run(["ip", "addr", "add", f"{v4}/24", "dev", TUN_NAME])
        namespace.run(["ip", "-6", "addr", "add", f"{v6}/64", "dev", TUN_NAME, "nodad"])
        namespace.run(["ip", "link", "set", TUN_NAME, "up"])
        namespace.run(["ip", "link", "set", "lo", "up"])

    def check(self) -> None:
        """PathFailed if the forwarder has died."""
        if self._forwarder is not None and self._forwarder.poll() is not None:
            raise PathFailed(f"the path's forwarder died ({self._forwarder_error()})")

    def stop(self) -> list[dict[str, object]]:
        """Stop the forwarder and read its log of fates (idempotent)."""
        self._stop_forwarder()
        if not self.fates and os.path.exists(self.log_path):
            with open(self.log_path, encoding="ascii") as log:
                self.fates = [json.loads(line) for line in log if line.endswith("\n")]
        return self.fates

    def _stop_forwarder(self) -> None:
        proc = self._forwarder
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def close(self) -> None:
        """Stop everything and remove both namespaces; idempotent, for every exit path."""
        try:
            self.stop()
        finally:
            for namespace in (self.client, self.server):
                if namespace is not None:
                    namespace.remove()
            if os.path.isdir(self._folder):
                for name in os.listdir(self._folder):
                    os.unlink(os.path.join(self._folder, name))
                os.rmdir(self._folder)


