"""Followed payload as text, in tshark's ``-z follow`` layouts (raw, ascii, hex)."""

from __future__ import annotations

from visualizer.core.follow.reassembly import Chunk
from visualizer.core.follow.streams import Followed

FORMATS = ("ascii", "hex", "raw")
RULE = "=" * 67


def printable(data: bytes, *, keep_newlines: bool = True) -> str:
    """Bytes as ASCII, anything unprintable as a dot (CR and LF kept unless told)."""
    keep = b"\r\n" if keep_newlines else b""
    return "".join(chr(b) if 0x20 <= b < 0x7F or b in keep else "." for b in data)


def hex_lines(data: bytes, start: int = 0) -> list[str]:
    """A hex dump: offset, 16 bytes in two groups of 8, their ASCII in two groups."""
    lines = []
    for pos in range(0, len(data), 16):
        row = data[pos:pos + 16]
        left, right = row[:8].hex(" "), row[8:].hex(" ")
        text = printable(row[:8], keep_newlines=False)
        if len(row) > 8:
            text += " " + printable(row[8:], keep_newlines=False)
        # tshark strips the trailing blanks (of a short last line, or ASCII spaces)
        lines.append(f"{start + pos:08X}  {left:<23}  {right:<23}  {text}".rstrip(" "))
    return lines


def _chunk_lines(chunk: Chunk, fmt: str, position: int) -> list[str]:
    tab = "\t" if chunk.direction else ""
    if fmt == "raw":
        return [tab + chunk.data.hex()]
    if fmt == "ascii":
        return [f"{tab}{len(chunk.data)}", printable(chunk.data)]
    return [tab + line for line in hex_lines(chunk.data, position)]


def render(followed: Followed, fmt: str) -> str:
    """The whole output tshark prints for ``-q -z follow,PROTO,FMT,N``."""
    lines = ["", RULE, f"Follow: {followed.protocol},{fmt}",
             f"Filter: {followed.protocol}.stream eq {followed.number}",
             f"Node 0: {followed.nodes[0]}", f"Node 1: {followed.nodes[1]}"]
    position = [0, 0]
    for chunk in followed.chunks:
        lines += _chunk_lines(chunk, fmt, position[chunk.direction])
        position[chunk.direction] += len(chunk.data)
    lines.append(RULE)
    return "\n".join(lines) + "\n"
