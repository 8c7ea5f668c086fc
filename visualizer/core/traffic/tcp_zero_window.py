"""tcp-zero-window: a slow reader with a small receive buffer stops the sender."""

from __future__ import annotations

import socket
import time

from visualizer.core.traffic.logged_socket import LoggedSocket
from visualizer.core.traffic.params import FAMILY, PORT, Param
from visualizer.core.traffic.scenario import Scenario, payload
from visualizer.core.traffic.side import Side


class TcpZeroWindow(Scenario):
    name = "tcp-zero-window"
    summary = "a slow reader with a small receive buffer: zero window, probes, window update"
    description = (
        "The server sets SO_RCVBUF to `rcvbuf` bytes before listen(), so the connection it "
        "accepts inherits a small receive buffer: Linux doubles the value for its own "
        "bookkeeping and offers about half of the result as window, so the SYN-ACK already "
        "says win=`rcvbuf`. The server then reads nothing for `pause` ms while the client "
        "sends `kilobytes` KiB. The client fills the window (window_full) and the server's "
        "next ACK advertises window 0 (zero_window): the client must stop, although its "
        "send() and even its close() have long returned; the kernel keeps the rest in the "
        "client's send buffer. The client's persist timer then probes the closed window, "
        "after about 200 ms and then at doubling intervals. Linux's probe carries no data "
        "and a seq one below the next byte, the same form as a keep-alive (so Wireshark and "
        "this tool label it keep_alive, not zero_window_probe), and makes the server answer "
        "with its window, still 0 (Linux answers such old-seq segments at most twice a "
        "second, so a quick second probe may go unanswered). Once the server reads (`read` "
        "bytes per recv(), one every `interval` ms) its kernel sends a window update, an ACK "
        "that acknowledges nothing new and only opens the window, and the client resumes, "
        "never sending more than the window allows: a slow reader slows the sender down. "
        "That is flow control."
    )
    params = (
        Param("kilobytes", "int", 32, 1, 10_000, help="KiB the client sends"),
        Param("rcvbuf", "int", 4096, 2048, 65_535,
              help="the server's SO_RCVBUF in bytes (Linux doubles it)"),
        Param("pause", "int", 400, 0, 2000,
              help="milliseconds the server waits before it reads anything"),
        Param("read", "int", 1024, 1, 1 << 20, help="bytes per recv() once it reads"),
        Param("interval", "int", 5, 0, 1000,
              help="milliseconds between the server's recv() calls"),
        PORT,
        FAMILY,
    )
    transport = "tcp"

    def total_bytes(self) -> int:
        return int(self.values["kilobytes"]) * 1024

    def bind(self, server: Side) -> LoggedSocket:
        sock = server.bind_loopback(socket.SOCK_STREAM)
        sock.setsockopt("SO_RCVBUF", int(self.values["rcvbuf"]))
        sock.listen(1)
        return sock

    def server(self, side: Side) -> None:
        conn = side.accept_one()
        time.sleep(int(self.values["pause"]) / 1000)  # busy: the buffer fills up
        size, interval = int(self.values["read"]), int(self.values["interval"]) / 1000
        received = 0
        while chunk := conn.recv(size):
            received += len(chunk)
            time.sleep(interval)
        conn.close()
        if received != self.total_bytes():
            side.fail(f"received {received} bytes, expected {self.total_bytes()}")

    def client(self, side: Side) -> None:
        sock = side.socket(socket.SOCK_STREAM)
        sock.connect(side.server_address)
        sock.sendall(payload("data", 1, self.total_bytes()))
        sock.close()
