"""A real OpenSSH server on 127.0.0.1 for the remote-capture tests.

``TestSshd`` generates a host key and two user keys, writes its own
sshd_config and authorized_keys in a temporary folder, starts
``/usr/sbin/sshd -D`` on a free loopback port (as root: sshd switches to the
user who logs in) and an ssh client config naming it ``testhost``. It stops
sshd (by its PID) and removes what it made when the ``with`` block ends.

Keys:
- ``key``: logs in as root;
- ``bare_key``: logs in as root with PATH=/nonexistent (no tcpdump there);
- ``unprivileged_key``: logs in as root, but its commands run as nobody
  (``setpriv``), who may not capture;
- ``wrong_key``: is not authorised at all.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")   # Debian's sshd refuses to start without it


def sshd_missing() -> str | None:
    """Why the tests cannot run a real sshd here, or None."""
    if not os.path.exists(SSHD) or shutil.which("ssh") is None:
        return "openssh-server is not installed (apt install openssh-server)"
    if os.geteuid() != 0:
        return "sshd must run as root to log a user in"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                   check=True)
    return path.with_suffix(".pub").read_text().strip()


class TestSshd:
    """The server and a client config for it (module docstring)."""

    __test__ = False   # not a test class, despite its name

    def __init__(self, tmp: Path) -> None:
        self.dir = tmp
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._made_privsep = False

    def __enter__(self) -> TestSshd:
        d = self.dir
        host_pub = _keygen(d / "host_key")
        user_pub = _keygen(d / "key")
        bare_pub = _keygen(d / "bare_key")
        unprivileged_pub = _keygen(d / "unprivileged_key")
        as_nobody = ('command="exec setpriv --reuid=65534 --regid=65534 --clear-groups '
                     'sh -c \\"$SSH_ORIGINAL_COMMAND\\""')
        _keygen(d / "wrong_key")
        (d / "authorized_keys").write_text(
            f"{user_pub}\nenvironment=\"PATH=/nonexistent\" {bare_pub}\n"
            f"{as_nobody} {unprivileged_pub}\n")
        (d / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\nPidFile {d / 'sshd.pid'}\n"
            "StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nUsePAM no\n"
            "PermitUserEnvironment yes\n")
        (d / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {host_pub}\n")
        self.write_client_config("ssh_config", "key")
        self.write_client_config("ssh_config_bare", "bare_key")
        self.write_client_config("ssh_config_wrong", "wrong_key")
        self.write_client_config("ssh_config_unprivileged", "unprivileged_key")
        if not PRIVSEP_DIR.exists():
            PRIVSEP_DIR.mkdir(mode=0o755)
            self._made_privsep = True
        with open(d / "sshd.log", "wb") as log:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=log)
        deadline = time.monotonic() + 20
        while True:   # ready when it accepts connections (or it died: say why)
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(d / 'sshd.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        return self

    def write_client_config(self, name: str, key: str, port: int | None = None) -> Path:
        path = self.dir / name
        path.write_text(
            f"Host testhost\n  HostName 127.0.0.1\n  Port {port or self.port}\n"
            f"  IdentityFile {self.dir / key}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {self.dir / 'known_hosts'}\n"
            "  StrictHostKeyChecking yes\n  GlobalKnownHostsFile /dev/null\n")
        return path

    def config(self, which: str = "") -> str:
        return str(self.dir / (f"ssh_config_{which}" if which else "ssh_config"))

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._made_privsep:
            shutil.rmtree(PRIVSEP_DIR, ignore_errors=True)
