"""Recordings: a pcapng file that also carries what made its packets.

Besides the packets, a recording stores the scenario name, its parameters,
the socket-call log of both sides and the capture statistics, as zlib-compressed
JSON in a custom option of the pcapng section header under our Private Enterprise
Number. Wireshark and tshark skip custom options they do not know, so the
file opens there unchanged (a custom *block* would not do: Wireshark 4.0
lists it as a frame and shifts every frame number). The section comment
carries a one-line summary that Wireshark shows under Statistics > Capture
File Properties.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from visualizer.core.pcap import format as fmt
from visualizer.core.pcap.reader import CaptureFile

FORMAT_VERSION = 1
MAX_METADATA = 1 << 30  # bytes of JSON, after inflating


@dataclass
class RecordingInfo:
    """What a recording says about itself (empty for a foreign capture)."""

    scenario: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    capture: dict[str, Any] = field(default_factory=dict)  # received, dropped, filter...
    app_version: str = ""
    path: dict[str, Any] = field(default_factory=dict)    # path.fates.PathRecord, on a path
    # A recording of the user's own commands (``record --server/--run``): one
    # {"side", "command", "exit_code", "cwd"} per command.
    programs: list[dict[str, Any]] = field(default_factory=list)

    def to_payload(self) -> bytes:
        doc = {"format": FORMAT_VERSION, "scenario": self.scenario, "params": self.params,
               "calls": self.calls, "capture": self.capture, "app_version": self.app_version}
        if self.path:
            doc["path"] = self.path
        if self.programs:
            doc["programs"] = self.programs
        text = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
        body = zlib.compress(text, 1)  # socket-call logs are repetitive: ~10x smaller
        return fmt.VISUALIZER_BLOCK_MAGIC + struct.pack("<I", len(body)) + body

    def summary(self) -> str:
        if self.programs:
            commands = "; ".join(f"{p.get('side')}: {p.get('command')} (exit code "
                                 f"{p.get('exit_code')})" for p in self.programs)
            return (f"Packet Visualizer recording of programs: {commands}; "
                    f"{len(self.calls)} socket calls logged")
        params = " ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return (f"Packet Visualizer recording: scenario {self.scenario}"
                + (f" ({params})" if params else "")
                + f"; {len(self.calls)} socket calls logged")

    @classmethod
    def from_capture(cls, capture: CaptureFile) -> RecordingInfo | None:
        """The info stored in ``capture``, or None if it has none we can read."""
        if not capture.custom_data:
            return None
        return cls.from_payload(b"".join(capture.custom_data))

    @classmethod
    def from_payload(cls, payload: bytes) -> RecordingInfo | None:
        magic = fmt.VISUALIZER_BLOCK_MAGIC
        if not payload.startswith(magic) or len(payload) < len(magic) + 4:
            return None
        (length,) = struct.unpack_from("<I", payload, len(magic))
        body = payload[len(magic) + 4:len(magic) + 4 + length]
        try:
            inflater = zlib.decompressobj()
            text = inflater.decompress(body, MAX_METADATA)
            if inflater.unconsumed_tail:
                return None  # larger than any recording we write: not ours
            doc = json.loads(text)
        except (ValueError, UnicodeDecodeError, zlib.error):
            return None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT_VERSION:
            return None
        return cls(scenario=str(doc.get("scenario", "")),
                   params=dict(doc.get("params") or {}),
                   calls=list(doc.get("calls") or []),
                   capture=dict(doc.get("capture") or {}),
                   app_version=str(doc.get("app_version", "")),
                   path=dict(doc.get("path") or {}),
                   programs=[p for p in doc.get("programs") or [] if isinstance(p, dict)])
