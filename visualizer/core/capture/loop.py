"""The capture loop: raw frames from a packet socket to a pcap stream.

This is what runs inside the capture process (``visualizer capture``, see
DESIGN.md: Capture). It reads raw frames and their kernel timestamps from a
Linux ``AF_PACKET`` socket with the BPF filter attached in the kernel, and
writes them as a nanosecond pcap stream, whole records only, flushed as soon
as they are read. Frames come through a TPACKET_V3 ring shared with the
kernel (no system call per frame), or one ``recvmsg()`` each where the ring
is unavailable. A process that may not open a packet socket itself has the
capture helper (``capture_helper.c``, given CAP_NET_RAW by setup-capture)
open it and read the same ring, and reads the helper's pcap records from a
pipe. It never builds scapy ``Packet`` objects; scapy is only used to
compile the filter with libpcap.

Status goes to ``status`` as one JSON object a line::

    {"event": "ready", "interface": "lo", "linktype": 1, "filter": null, ...}
    {"event": "stats", "received": 10, "dropped": 0}        (about once a second)
    {"event": "stopped", "received": 10, "dropped": 0, "reason": "signal"}
    {"event": "error", "message": "...", "exit_code": 2}    (then it raises)

The file is created only once the socket is open, bound and filtered; its
24-byte header is written and flushed at that moment, which is the ready
signal for a reader of the file.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import json
import mmap
import os
import platform
import select
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import BinaryIO, TextIO

from visualizer.core.capture.capabilities import drop_all_capabilities
from visualizer.core.capture.privileges import capture_helper
from visualizer.core.errors import BadInput, CaptureFailed, CaptureNotPermitted, VisualizerError
from visualizer.core.output import GrowingOutput
from visualizer.core.pcap.format import (
    LINKTYPE_ETHERNET,
    LINKTYPE_RAW,
    PCAP_RECORD_HEADER,
    PCAP_SNAPLEN,
    pcap_file_header,
    pcap_record_header,
)

__all__ = ["CaptureStats", "run_capture"]

# Linux constants the socket module does not export (x86-64 / arm64 values).
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
TPACKET_V3 = 2
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
SO_TIMESTAMPNS = 35            # SO_TIMESTAMPNS_OLD: a struct timespec of two longs
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772
ARPHRD_NONE = 65534
IFF_LOOPBACK = 0x8

_LINKTYPE_OF_ARPHRD = {
    ARPHRD_ETHER: LINKTYPE_ETHERNET,     # frames with their Ethernet header
    ARPHRD_LOOPBACK: LINKTYPE_ETHERNET,  # lo: a fake all-zero Ethernet header
    ARPHRD_NONE: LINKTYPE_RAW,           # tun and the like: bare IPv4/IPv6
}

RCVBUF_BYTES = 64 * 1024 * 1024   # recvmsg(): the socket's receive buffer
# The ring is sized by memory (64 MiB, as tcpdump -B 65536) *and* by time:
# the kernel hands a block over when it is full or RING_BLOCK_TIMEOUT_MS
# after its first frame, so at a modest rate every block carries only about
# 10 ms of traffic (100 frames at 10k packets/s) and a stalled reader has
# RING_BLOCKS x 10 ms before the kernel drops. 512 blocks of 128 KiB keep
# 5 s at low rates and 64 MiB of frames at high ones (64 blocks of 1 MiB
# kept 0.64 s). A block holds any frame up to 128 KiB (lo's MTU is 64 KiB);
# a longer one (a BIG TCP aggregate) is cut to fit: caplen < len.
RING_BYTES = 64 * 1024 * 1024
RING_BLOCK_BYTES = 128 * 1024
RING_BLOCKS = RING_BYTES // RING_BLOCK_BYTES
RING_FRAME_BYTES = 2048           # required by the kernel, unused by TPACKET_V3
RING_BLOCK_TIMEOUT_MS = 10        # a block with frames is ours within 2x this
POLL_MS = 50                 # upper bound on latency and on stop-flag checks
STATS_EVERY_S = 1.0
BATCH_BYTES = 1 << 20        # write out (and check the flags) at least this often

# Classic BPF instructions (linux/filter.h) for the loopback "inbound" prefix.
_BPF_LD_H_ABS = 0x28
_BPF_JEQ_K = 0x15
_BPF_RET_K = 0x06
_SKF_AD_PKTTYPE = 0xFFFFF000 + 4  # SKF_AD_OFF + SKF_AD_PKTTYPE
_BPF_MAXINSNS = 4096
_SCAPY_SNAPLEN = 65535           # scapy compiles with snaplen MTU; we want PCAP_SNAPLEN

_TIMESPEC = struct.Struct("@ll")
_SOCK_FILTER = struct.Struct("@HBBI")
_SOCK_FPROG = struct.Struct("@HP")
_TPACKET_STATS = struct.Struct("@II")
_TPACKET_REQ3 = struct.Struct("=7I")
_BLOCK_STATUS_OFFSET = 8                 # tpacket_block_desc.hdr.bh1.block_status
_BLOCK_STATUS = struct.Struct("=I")
_BLOCK_HDR = struct.Struct("=III")        # block_status, num_pkts, offset_to_first_pkt
_FRAME_HDR = struct.Struct("=IIIIIIH")    # tpacket3_hdr: next, sec, nsec, snaplen, len,
                                          # status, mac

_LIBPCAP_HINT = "capture filters need libpcap: apt install libpcap0.8"

Instruction = tuple[int, int, int, int]  # code, jt, jf, k


@dataclass(frozen=True)
class CaptureStats:
    """What a finished capture recorded."""

    received: int  # packets written to the output
    dropped: int   # packets the kernel dropped for lack of buffer space
    reason: str    # why it stopped: "signal", "count", "duration" or "closed"


# --------------------------------------------------------------------------
# The interface


def _check_interface_name(interface: str) -> None:
    if (not interface or len(interface) > 15 or "/" in interface
            or interface in (".", "..") or any(c.isspace() for c in interface)):
        raise BadInput(f"{interface!r} is not a valid interface name")


def _available_interfaces() -> str:
    try:
        names = sorted(os.listdir("/sys/class/net"))
    except OSError:
        names = sorted(name for _, name in socket.if_nameindex())
    return ", ".join(names) or "none"


def _no_such_interface(interface: str) -> BadInput:
    return BadInput(f"no such interface {interface!r} (available: {_available_interfaces()})")


def _read_sys(interface: str, attribute: str) -> str:
    with open(f"/sys/class/net/{interface}/{attribute}", encoding="ascii") as f:
        return f.read().strip()


def interface_linktype(interface: str) -> tuple[int, bool]:
    """The pcap link type of ``interface`` and whether it is a loopback."""
    _check_interface_name(interface)
    try:
        arphrd = int(_read_sys(interface, "type"))
        flags = int(_read_sys(interface, "flags"), 16)
    except FileNotFoundError:
        raise _no_such_interface(interface) from None
    except (OSError, ValueError) as err:
        raise CaptureFailed(f"cannot read the type of interface {interface!r}: {err}") from None
    linktype = _LINKTYPE_OF_ARPHRD.get(arphrd)
    if linktype is None:
        raise BadInput(f"interface {interface!r} has hardware type {arphrd} (ARPHRD), "
                       "which capture does not support (Ethernet, loopback and tun only)")
    return linktype, arphrd == ARPHRD_LOOPBACK or bool(flags & IFF_LOOPBACK)


# --------------------------------------------------------------------------
# The filter


def compile_bpf(expression: str, linktype: int) -> list[Instruction]:
    """Compiles a tcpdump-syntax filter to classic BPF with libpcap (via scapy)."""
    try:
        # Imported here: scapy loads libpcap lazily, and only filters need it.
        from scapy.arch.common import compile_filter, free_filter
        from scapy.error import Scapy_Exception
    except (ImportError, OSError) as err:  # pragma: no cover - scapy is a dependency
        raise CaptureFailed(f"cannot load scapy to compile the filter: {err}") from None
    try:
        program = compile_filter(expression, linktype=linktype)
    except (ImportError, OSError):
        # scapy raises ImportError when ctypes cannot find libpcap.so.
        raise CaptureFailed(_LIBPCAP_HINT) from None
    except Scapy_Exception as err:
        # "Failed to compile filter expression 'x' (<libpcap's message>)": the
        # expression itself may hold parentheses, so cut it off by its repr.
        text = str(err)
        head = f"Failed to compile filter expression {expression!r} ("
        reason = text[len(head):-1] if text.startswith(head) and text.endswith(")") else text
        raise BadInput(f"invalid capture filter {expression!r}: {reason}") from None
    try:
        insns = [program.bf_insns[i] for i in range(program.bf_len)]
        result = []
        for insn in insns:
            k = insn.k & 0xFFFFFFFF
            if insn.code == _BPF_RET_K and k == _SCAPY_SNAPLEN:
                k = PCAP_SNAPLEN  # accept whole frames, as tcpdump does
            result.append((insn.code, insn.jt, insn.jf, k))
        return result
    finally:
        free_filter(program)


def _inbound_only(program: list[Instruction]) -> list[Instruction]:
    """``program`` behind a check that drops outgoing copies: "(program) and inbound".

    On lo the kernel shows every packet twice, as it leaves and as it comes
    back in. These three instructions are libpcap's code for ``inbound``;
    prepending them keeps the program's relative jumps valid and needs no
    libpcap when there is no user filter.
    """
    return [
        (_BPF_LD_H_ABS, 0, 0, _SKF_AD_PKTTYPE),
        (_BPF_JEQ_K, 0, 1, socket.PACKET_OUTGOING),
        (_BPF_RET_K, 0, 0, 0),
        *program,
    ]


def kernel_program(bpf: str | None, linktype: int, loopback: bool
                   ) -> tuple[list[Instruction] | None, str | None]:
    """The BPF program to attach and its description in filter syntax."""
    program = compile_bpf(bpf, linktype) if bpf else None
    if not loopback:
        return program, bpf
    description = f"({bpf}) and inbound" if bpf else "inbound"
    return _inbound_only(program or [(_BPF_RET_K, 0, 0, PCAP_SNAPLEN)]), description


def _attach_filter(sock: socket.socket, program: list[Instruction], bpf: str | None) -> None:
    if len(program) > _BPF_MAXINSNS:
        raise BadInput(f"capture filter {bpf!r} is too long for the kernel "
                       f"({len(program)} BPF instructions, at most {_BPF_MAXINSNS})")
    code = b"".join(_SOCK_FILTER.pack(*insn) for insn in program)
    array = ctypes.create_string_buffer(code, len(code))
    fprog = _SOCK_FPROG.pack(len(program), ctypes.addressof(array))
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    except OSError as err:
        raise BadInput(f"the kernel rejected capture filter {bpf!r}: {err.strerror}") from None


# --------------------------------------------------------------------------
# The socket and its two readers


def _not_permitted(interface: str) -> CaptureNotPermitted:
    return CaptureNotPermitted(
        f"capturing on {interface!r} needs the CAP_NET_RAW capability: run as root, or give "
        "it to a dedicated capture interpreter once with "
        "'sudo .venv/bin/visualizer setup-capture' (see README, Capture privileges)")


class _Reader:
    """Frames, appended to ``out`` as whole pcap records."""

    name = ""

    def __init__(self) -> None:
        self.received = 0  # records written
        self.dropped = 0

    def fileno(self) -> int:
        """What to poll for frames."""
        raise NotImplementedError

    def check(self) -> None:
        """Raises if the source of frames failed (after poll said it is ready)."""

    def drain(self, out: BinaryIO, limit: int | None) -> None:
        """Writes every frame ready now (at most ``limit`` in all) and flushes."""
        raise NotImplementedError

    def finish(self, out: BinaryIO, limit: int | None) -> None:
        """The last drain before stopping: also what the kernel holds back."""
        self.drain(out, limit)

    def update_drops(self) -> int:
        """The packets the kernel dropped so far."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _SocketReader(_Reader):
    """Frames from a packet socket of this process."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()

    def check(self) -> None:
        error = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:  # e.g. ENETDOWN: the interface went down or away
            raise OSError(error, os.strerror(error))

    def update_drops(self) -> int:
        # PACKET_STATISTICS resets on each read, so the total is ours to keep.
        raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _TPACKET_STATS.size)
        self.dropped += _TPACKET_STATS.unpack(raw)[1]
        return self.dropped

    def close(self) -> None:
        self.sock.close()


class _RecvmsgReader(_SocketReader):
    """One recvmsg() per frame, its kernel time stamp as SO_TIMESTAMPNS ancillary data.

    Simple and portable; about 3 µs of CPU per frame.
    """

    name = "recvmsg"

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF_BYTES)
        except PermissionError:  # no CAP_NET_ADMIN: up to net.core.rmem_max
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self._frame = bytearray(PCAP_SNAPLEN)
        self._pending = bytearray()

    def drain(self, out: BinaryIO, limit: int | None) -> None:
        recvmsg_into = self.sock.recvmsg_into
        buffers = [self._frame]
        frame = memoryview(self._frame)
        ancsize = socket.CMSG_SPACE(_TIMESPEC.size)
        pending = self._pending
        received = self.received
        while (limit is None or received < limit) and len(pending) < BATCH_BYTES:
            try:
                origlen, ancdata, _, _ = recvmsg_into(buffers, ancsize, socket.MSG_TRUNC)
            except BlockingIOError:
                break
            ts_ns = 0
            for level, kind, data in ancdata:
                if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS:
                    sec, nsec = _TIMESPEC.unpack(data)
                    ts_ns = sec * 1_000_000_000 + nsec
            if not ts_ns:  # pragma: no cover - the kernel always stamps
                ts_ns = time.time_ns()
            caplen = min(origlen, PCAP_SNAPLEN)
            pending += pcap_record_header(ts_ns, caplen, origlen)
            pending += frame[:caplen]
            received += 1
        if pending:
            _write_all(out, pending)
            pending.clear()
        self.received = received


class _RingReader(_SocketReader):
    """A TPACKET_V3 ring shared with the kernel: no system call per frame.

    The kernel fills blocks of frames and hands a block over when it is full
    or soon after RING_BLOCK_TIMEOUT_MS; poll() says when. About 0.5 µs of
    CPU per frame, six times less than recvmsg().
    """

    name = "ring"

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        sock.setsockopt(SOL_PACKET, PACKET_RX_RING, _TPACKET_REQ3.pack(
            RING_BLOCK_BYTES, RING_BLOCKS, RING_FRAME_BYTES,
            RING_BLOCK_BYTES // RING_FRAME_BYTES * RING_BLOCKS, RING_BLOCK_TIMEOUT_MS, 0, 0))
        self._ring = mmap.mmap(sock.fileno(), RING_BLOCK_BYTES * RING_BLOCKS,
                               mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self._view = memoryview(self._ring)
        self._block = 0  # the next block the kernel hands over, in order
        self._pending = bytearray()

    def drain(self, out: BinaryIO, limit: int | None) -> None:
        ring, view, pending = self._ring, self._view, self._pending
        unpack_block, unpack_frame = _BLOCK_HDR.unpack_from, _FRAME_HDR.unpack_from
        pack_record = PCAP_RECORD_HEADER.pack  # straight from the ring's (sec, nsec)
        received = self.received
        while (limit is None or received < limit) and len(pending) < BATCH_BYTES:
            base = self._block * RING_BLOCK_BYTES
            status, frames, offset = unpack_block(ring, base + _BLOCK_STATUS_OFFSET)
            if not status & TP_STATUS_USER:
                break
            # x86's ordered loads make the frames visible once the status is;
            # see _ring_is_safe() for other processors.
            offset += base
            if limit is not None:
                frames = min(frames, limit - received)
            for _ in range(frames):
                next_offset, sec, nsec, caplen, origlen, _, mac = unpack_frame(ring, offset)
                start = offset + mac
                pending += pack_record(sec, nsec, caplen, origlen)
                pending += view[start:start + caplen]
                offset += next_offset
            received += frames
            _BLOCK_STATUS.pack_into(ring, base + _BLOCK_STATUS_OFFSET, TP_STATUS_KERNEL)
            self._block = (self._block + 1) % RING_BLOCKS
        if pending:
            _write_all(out, pending)
            pending.clear()
        self.received = received

    def finish(self, out: BinaryIO, limit: int | None) -> None:
        # Everything the ring holds (after a stall, far more than one drain
        # takes); then the frames in the block the kernel is still filling,
        # which become ours when the block times out: wait for that once.
        self._drain_all(out, limit)
        if limit is None or self.received < limit:
            select.select([self.sock], [], [], 3 * RING_BLOCK_TIMEOUT_MS / 1000)
            self._drain_all(out, limit)

    def _drain_all(self, out: BinaryIO, limit: int | None) -> None:
        while limit is None or self.received < limit:
            before = self.received, self._block
            self.drain(out, limit)
            if (self.received, self._block) == before:
                return

    def close(self) -> None:
        self._view.release()
        self._ring.close()
        super().close()


class _HelperReader(_Reader):
    """Frames from the capture helper (``capture_helper.c``), which holds the
    packet socket and its ring and writes whole pcap records to a pipe.

    The capture process runs it when it may not open a packet socket itself
    (setup-capture gave CAP_NET_RAW to the helper alone). The helper says
    ``ready`` (or ``error CODE MESSAGE``) and then ``stats DROPPED`` lines
    on its stderr; closing its stdin asks it to take what the kernel still
    holds and exit.
    """

    name = "helper"

    def __init__(self, helper: str, interface: str, program: list[Instruction] | None) -> None:
        super().__init__()
        self.helper = helper
        command = [helper, interface, *([_program_hex(program)] if program else [])]
        try:
            self._proc = subprocess.Popen(command, stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except PermissionError:
            raise CaptureNotPermitted(f"capturing on {interface!r}: this user may not run "
                                      f"the capture helper {helper}") from None
        except OSError as err:
            raise CaptureFailed(f"cannot run the capture helper {helper}: {err.strerror}"
                                ) from None
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._frames = self._proc.stdout.fileno()
        self._status = self._proc.stderr.fileno()
        self._buffer = bytearray()
        self._status_text = b""
        self._error = ""
        self._eof = False
        self._stopping = False
        try:
            self._wait_ready(interface)
        except BaseException:
            self.close()
            raise
        os.set_blocking(self._frames, False)
        os.set_blocking(self._status, False)

    def _wait_ready(self, interface: str) -> None:
        deadline = time.monotonic() + 10
        while b"\n" not in self._status_text:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._status], [], [], left)[0]:
                raise CaptureFailed(f"the capture helper {self.helper} did not become ready")
            chunk = os.read(self._status, 4096)
            if not chunk:
                break
            self._status_text += chunk
        line, _, self._status_text = self._status_text.partition(b"\n")
        if line == b"ready":
            return
        code, _, message = line.decode("utf-8", "replace").removeprefix("error ").partition(" ")
        self._proc.wait(5)
        if code == "3":
            raise CaptureNotPermitted(f"capturing on {interface!r}: the capture helper "
                                      f"{self.helper} may not: {message}; run "
                                      "'sudo .venv/bin/visualizer setup-capture' again")
        if code == "2":
            raise BadInput(message)
        raise CaptureFailed(f"the capture helper {self.helper} failed: "
                            f"{message or f'exit status {self._proc.returncode}'}")

    def fileno(self) -> int:
        return self._frames

    def drain(self, out: BinaryIO, limit: int | None) -> None:
        buffer = self._buffer
        while len(buffer) < BATCH_BYTES and not self._eof:
            try:
                chunk = os.read(self._frames, BATCH_BYTES)
            except BlockingIOError:
                break
            if not chunk:
                self._eof = True
            buffer += chunk
        end, received, size = 0, self.received, len(buffer)
        while (limit is None or received < limit) and end + PCAP_RECORD_HEADER.size <= size:
            record_end = end + PCAP_RECORD_HEADER.size + int.from_bytes(
                buffer[end + 8:end + 12], "little")
            if record_end > size:
                break
            end = record_end
            received += 1
        if end:
            _write_all(out, bytes(buffer[:end]))
            del buffer[:end]
        self.received = received
        if self._eof and not self._stopping:
            self.update_drops()
            raise CaptureFailed(f"the capture helper stopped: "
                                f"{self._error or f'exit status {self._proc.wait(5)}'}")

    def finish(self, out: BinaryIO, limit: int | None) -> None:
        # The helper takes what the kernel still holds once its stdin ends.
        self._stopping = True
        self._close_stdin()
        os.set_blocking(self._frames, True)
        while not self._eof and (limit is None or self.received < limit):
            self.drain(out, limit)

    def update_drops(self) -> int:
        with contextlib.suppress(BlockingIOError, OSError):
            while chunk := os.read(self._status, 4096):
                self._status_text += chunk
        *lines, self._status_text = self._status_text.split(b"\n")
        for line in lines:
            text = line.decode("utf-8", "replace")
            if text.startswith("stats ") and text[6:].isdigit():
                self.dropped = int(text[6:])
            elif text.startswith("error "):
                self._error = text.removeprefix("error ").partition(" ")[2]
        return self.dropped

    def _close_stdin(self) -> None:
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()

    def close(self) -> None:
        # Its frames' pipe first: a helper still writing gets EPIPE and exits.
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()
        self._close_stdin()
        try:
            self._proc.wait(2)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def _program_hex(program: list[Instruction]) -> str:
    """A BPF program as the helper takes it: 16 hex digits an instruction."""
    return "".join(f"{code:04x}{jt:02x}{jf:02x}{k:08x}" for code, jt, jf, k in program)


def _ring_is_safe() -> bool:
    """Reading the ring needs the frames' stores to be visible once the block
    status is. Python has no read barrier; x86's loads are not reordered with
    older loads, so there the order of the reads is enough."""
    return platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


def open_capture(interface: str, program: list[Instruction] | None, bpf: str | None,
                 method: str = "auto") -> _Reader:
    """A non-blocking packet socket on ``interface`` with ``program`` attached,
    read through a TPACKET_V3 ring ("ring") or recvmsg() ("recvmsg");
    "auto" takes the ring where it is safe and falls back to recvmsg(), and
    without the privilege to open a packet socket uses the capture helper
    when there is one ("helper": the helper in any case).

    The socket is created for no protocol, filtered, and only then bound to
    the interface for all protocols, so nothing unfiltered is ever queued.
    """
    if method not in ("auto", "ring", "recvmsg", "helper"):
        raise ValueError(f"unknown capture method {method!r}")
    if method == "helper":
        helper = capture_helper()
        if helper is None:
            raise _not_permitted(interface)
        return _HelperReader(helper, interface, program)
    auto = method == "auto"
    if auto:
        method = "ring" if _ring_is_safe() else "recvmsg"
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError:
        helper = capture_helper() if auto else None
        if helper is None:
            raise _not_permitted(interface) from None
        return _HelperReader(helper, interface, program)
    except OSError as err:
        raise CaptureFailed(f"cannot open a packet socket: {err.strerror}") from None
    try:
        if program is not None:
            _attach_filter(sock, program, bpf)
        reader: _Reader
        try:
            reader = _RingReader(sock) if method == "ring" else _RecvmsgReader(sock)
        except OSError as err:
            if method != "ring":
                raise CaptureFailed(f"cannot set up the capture socket: {err}") from None
            sock.close()  # no ring (memory, an old kernel): start over without one
            return open_capture(interface, program, bpf, "recvmsg")
        try:
            sock.bind((interface, ETH_P_ALL))
        except OSError as err:
            if err.errno in (errno.ENODEV, errno.ENXIO):
                raise _no_such_interface(interface) from None
            if err.errno in (errno.EPERM, errno.EACCES):
                raise _not_permitted(interface) from None
            raise CaptureFailed(f"cannot bind to interface {interface!r}: {err.strerror}"
                                ) from None
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return reader

# --------------------------------------------------------------------------
# Status, signals, output


class _Status:
    """JSON lines on the status stream; notes when its reader has gone.

    A person at a terminal gets plain sentences instead (and no line for an
    error: the CLI prints that one); a parent process gets the JSON.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._human = _isatty(stream)
        self.closed = False

    def emit(self, event: str, **fields: object) -> None:
        if self.closed:
            return
        line = _human_status(event, fields) if self._human else json.dumps(
            {"event": event, **fields})
        if line is None:
            return
        try:
            self._stream.write(line + "\n")
            self._stream.flush()
        except (OSError, ValueError):  # a broken pipe, or a closed stream
            self.closed = True


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _human_status(event: str, fields: dict[str, object]) -> str | None:
    if event == "ready":
        on = f"capturing on {fields.get('interface')}"
        return on + (f" (filter: {fields['filter']})" if fields.get("filter") else "") + \
            "; Ctrl-C stops"
    if event == "stopped":
        return (f"stopped ({fields.get('reason')}): {fields.get('received')} packets "
                f"written, {fields.get('dropped')} dropped by the kernel")
    return None  # stats would scroll; errors are printed by the CLI


class _StopRequest:
    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum


@contextlib.contextmanager
def _stop_on_signals(stop: _StopRequest) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` (only the main thread may handle signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No collector pauses in the loop, which keeps no cyclic garbage anyway."""
    was_enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.unfreeze()


def _write_all(out: BinaryIO, data: bytearray | bytes) -> None:
    view = memoryview(data)
    while view:
        written = out.write(view)
        if written is None:  # a non-blocking pipe that is full; wait for the reader
            select.select([], [out], [])
            continue
        view = view[written:]
    out.flush()


# --------------------------------------------------------------------------
# The loop


def _loop(reader: _Reader, out: BinaryIO, count: int | None, duration: float | None,
          stop: _StopRequest, status: _Status) -> str:
    """Records until a stop condition holds; returns the reason."""
    poller = select.poll()
    poller.register(reader.fileno(), select.POLLIN)
    now = time.monotonic()
    deadline = now + duration if duration is not None else None
    next_stats = now + STATS_EVERY_S
    while True:
        if stop.signum is not None:
            reader.finish(out, count)  # what the kernel had before the signal
            return "signal"
        if count is not None and reader.received >= count:
            return "count"
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            reader.finish(out, count)
            return "count" if count is not None and reader.received >= count else "duration"
        if now >= next_stats:
            status.emit("stats", received=reader.received, dropped=reader.update_drops())
            next_stats = now + STATS_EVERY_S
            if status.closed:
                return "closed"
        timeout_ms = POLL_MS if deadline is None else min(POLL_MS, (deadline - now) * 1000)
        if poller.poll(max(0.0, timeout_ms)):
            reader.check()
        reader.drain(out, count)


def run_capture(*, interface: str, bpf: str | None, output: str, count: int | None,
                duration: float | None, status: TextIO, method: str = "auto",
                drop_privileges: bool = False) -> CaptureStats:
    """Captures on ``interface`` into the pcap file ``output`` ("-": stdout).

    Stops on SIGTERM or SIGINT (when called in the main thread), after
    ``count`` packets, after ``duration`` seconds, or when the reader of
    ``output`` or ``status`` goes away; the file is complete in every case.
    ``method`` picks how frames are read (see ``open_capture``). With
    ``drop_privileges`` (the capture process; never a process that goes on
    to do other things) every capability is given up for good once the
    socket is open and the output created, before the ready event. Raises
    BadInput, CaptureNotPermitted or CaptureFailed, each after an ``error``
    event on ``status``.
    """
    reporter = _Status(status)
    try:
        return _run(interface, bpf or None, output, count, duration, reporter, method,
                    drop_privileges)
    except VisualizerError as err:
        reporter.emit("error", message=str(err), exit_code=err.exit_code)
        raise


def _run(interface: str, bpf: str | None, output: str, count: int | None,
         duration: float | None, status: _Status, method: str,
         drop_privileges: bool) -> CaptureStats:
    linktype, loopback = interface_linktype(interface)
    program, description = kernel_program(bpf, linktype, loopback)
    stop = _StopRequest()
    with (_stop_on_signals(stop),
          contextlib.closing(open_capture(interface, program, bpf, method)) as reader):
        output_file = GrowingOutput(output)
        out = output_file.file
        try:
            try:
                _write_all(out, pcap_file_header(linktype))
                output_file.publish()
                if drop_privileges:  # nothing from here on needs one
                    drop_all_capabilities()
                status.emit("ready", interface=interface, linktype=linktype, filter=bpf,
                            kernel_filter=description, snaplen=PCAP_SNAPLEN,
                            method=reader.name)
                with _gc_paused():
                    reason = _loop(reader, out, count, duration, stop, status)
            except BrokenPipeError:
                reason = "closed"  # the reader of the output went away
            except OSError as err:
                raise CaptureFailed(f"capture on {interface!r} failed: {err.strerror or err}"
                                    ) from None
        finally:
            output_file.close()
        stats = CaptureStats(received=reader.received, dropped=reader.update_drops(),
                             reason=reason)
    status.emit("stopped", received=stats.received, dropped=stats.dropped, reason=stats.reason)
    return stats
