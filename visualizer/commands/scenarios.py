"""``visualizer scenarios``: the built-in scenarios and their parameters."""

from __future__ import annotations

import textwrap
from typing import TextIO

from visualizer.core.traffic import list_scenarios


def print_scenarios(out: TextIO) -> int:
    for cls in list_scenarios():
        out.write(f"{cls.name}\n    {cls.summary}\n")
        for param in cls.params:
            out.write(f"    --param {param.name}={param.default}"
                      f"    ({param.allowed()}) {param.help}\n")
        out.write(textwrap.fill(cls.description, width=88, initial_indent="    ",
                                subsequent_indent="    ") + "\n\n")
    out.write("Record one with: visualizer record NAME -o FILE.pcapng [--param k=v ...]\n")
    return 0
