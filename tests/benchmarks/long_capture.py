"""Memory over a long live capture (issue 7: long captures).

A Document captures UDP datagrams sent at a steady rate on lo, as the GUI
does, for ``--minutes``; RSS is sampled every ``--every`` seconds. Run it
without and with the ring buffer: without, memory grows with the packets
kept (about 200 bytes each: store and analysis columns); with
``--keep N`` it levels off once N packets are in view.

    .venv/bin/python tests/benchmarks/long_capture.py --minutes 10 --rate 1000
    .venv/bin/python tests/benchmarks/long_capture.py --minutes 10 --rate 1000 --keep 100000

Needs CAP_NET_RAW (run as root).
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import threading
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def send(stop: threading.Event, port: int, rate: int, sent: list[int]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        start = time.monotonic()
        n = 0
        while not stop.is_set():
            due = start + n / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            s.sendto(b"x" * 64, ("127.0.0.1", port))
            n += 1
        sent.append(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=1000, help="datagrams per second")
    parser.add_argument("--keep", type=int, default=0, help="ring buffer size (0: keep all)")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    args = parser.parse_args()

    from PyQt6.QtWidgets import QApplication

    from visualizer.gui.document import Document

    app = QApplication([])
    with tempfile.TemporaryDirectory() as tmp, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        port = sink.getsockname()[1]
        doc = Document()
        doc.start_capture("lo", f"udp port {port}", os.path.join(tmp, "spool.pcap"),
                          keep_last=args.keep)
        while doc.session.store is None:
            app.processEvents()
            time.sleep(0.01)
        stop, sent = threading.Event(), list[int]()
        sender = threading.Thread(target=send, args=(stop, port, args.rate, sent))
        start = time.monotonic()
        sender.start()
        print(f"{'elapsed s':>9} {'captured':>10} {'in view':>9} {'RSS MB':>8}")
        next_sample = start
        end = start + args.minutes * 60
        samples = []
        while time.monotonic() < end:
            app.processEvents()
            now = time.monotonic()
            if now >= next_sample:
                captured = doc.session.first_number - 1 + doc.session.count
                samples.append((now - start, captured, doc.session.count, rss_mb()))
                print(f"{now - start:9.0f} {captured:10,} {doc.session.count:9,} {rss_mb():8.1f}",
                      flush=True)
                next_sample += args.every
            time.sleep(0.01)
        stop.set()
        sender.join()
        doc.stop()
        while doc.busy:
            app.processEvents()
            time.sleep(0.01)
        captured = doc.session.first_number - 1 + doc.session.count
        print(f"sent {sent[0]:,}, captured {captured:,}, lost {sent[0] - captured:,}; "
              f"RSS first sample {samples[0][3]:.1f} MB, last {rss_mb():.1f} MB; "
              f"keep_last={args.keep or 'all'}")
        doc.close()


if __name__ == "__main__":
    main()
