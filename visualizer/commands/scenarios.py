"""``visualizer scenarios``: the built-in scenarios and their parameters."""

from __future__ import annotations

import textwrap
from typing import TextIO

from visualizer.core.path.link import PATH_PARAMS, PathParams, number_text
from visualizer.core.traffic import list_scenarios


def print_scenarios(out: TextIO) -> int:
    for cls in list_scenarios():
        out.write(f"{cls.name}\n    {cls.summary}\n")
        for param in cls.params:
            out.write(f"    --param {param.name}={param.default}"
                      f"    ({param.allowed()}) {param.help}\n")
        if cls.path_defaults:
            out.write("    runs on a path: " + " ".join(f"{k}={v}" for k, v in
                                                      cls.path_defaults.items()) + "\n")
        out.write(textwrap.fill(cls.description, width=88, initial_indent="    ",
                                subsequent_indent="    ") + "\n\n")
    out.write("Path parameters (any scenario; with any of them it runs on a path: client and "
              "server in\ntwo network namespaces joined by an emulated link, captured at "
              "both ends; needs root):\n")
    for name, (_kind, low, high, help_) in PATH_PARAMS.items():
        default = getattr(PathParams(), name)
        shown = (",".join(map(str, default)) or "none") if isinstance(default, tuple) \
            else number_text(default)
        out.write(f"    --param {name}={shown}    ({number_text(low)}..{number_text(high)}) "
                  f"{help_}\n")
    out.write("\nRecord one with: visualizer record NAME -o FILE.pcapng [--param k=v ...]\n")
    return 0
