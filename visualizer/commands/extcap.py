"""``visualizer extcap``: the built-in scenarios as Wireshark capture interfaces.

Wireshark (and tshark) run every program in their extcap folders with
these options (Wireshark's doc/extcap.adoc), and ``setup-extcap`` puts a
launcher for this command there:

- ``--extcap-interfaces``: an ``extcap {version=..}{help=..}`` line, then one
  ``interface {value=..}{display=..}`` line per scenario;
- ``--extcap-interface NAME --extcap-dlts``: the link type it delivers;
- ``--extcap-interface NAME --extcap-config``: its parameters, one ``arg`` line
  each (integer with its range, string, or a selector with ``value`` lines),
  passed back at capture time as ``--param-NAME VALUE``;
- ``--capture --extcap-interface NAME --fifo PATH``: record the scenario
  (``visualizer.core.record``, as ``visualizer record`` does) and write the
  recording into the FIFO Wireshark reads, when the scenario has run.

Options Wireshark may add that mean nothing here (a capture filter: the
scenario captures only its own traffic; debug logging) are accepted and
ignored. Errors are one line on stderr, which Wireshark shows.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from visualizer import __version__
from visualizer.core.errors import BadInput
from visualizer.core.traffic import list_scenarios
from visualizer.core.traffic.params import Param
from visualizer.core.traffic.scenario import Scenario

PREFIX = "visualizer-"   # interface names: visualizer-tcp-handshake, ...
HELP_URL = "https://example.invalid/packet-visualizer/docs"   # pyproject.toml's Documentation
# Loopback scenarios deliver Ethernet frames (lo's all-zero header); those
# on a path deliver bare IP from its TUN devices, in a pcapng with two.
_DLT_ETHERNET = "dlt {number=1}{name=EN10MB}{display=Ethernet}"
_DLT_RAW = "dlt {number=12}{name=RAW}{display=Raw IP}"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise BadInput(f"extcap: {message}")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="visualizer extcap", add_help=False)
    p.add_argument("--extcap-interfaces", action="store_true")
    p.add_argument("--extcap-version")
    p.add_argument("--extcap-interface")
    p.add_argument("--extcap-dlts", action="store_true")
    p.add_argument("--extcap-config", action="store_true")
    p.add_argument("--extcap-reload-option")
    p.add_argument("--capture", action="store_true")
    p.add_argument("--fifo")
    p.add_argument("--extcap-capture-filter")
    p.add_argument("--debug", action="store_true")
    p.add_argument("--debug-file")
    names = {param.name for cls in list_scenarios() for param in cls.params}
    for name in sorted(names):   # --param-NAME for every parameter of any scenario
        p.add_argument(f"--param-{name}", dest=f"param_{name}")
    return p


def _text(value: object) -> str:
    """A value inside ``{...}``: no braces, no line breaks."""
    return (str(value).replace("{", "(").replace("}", ")").replace("\n", " ")
            .replace("\r", " "))


def interface_name(cls: type[Scenario]) -> str:
    return PREFIX + cls.name


def _scenario(name: str | None) -> type[Scenario]:
    for cls in list_scenarios():
        if name == interface_name(cls):
            return cls
    raise BadInput(f"extcap: no interface {name!r}: the interfaces are "
                   + ", ".join(interface_name(c) for c in list_scenarios()))


def interfaces_text() -> str:
    lines = [f"extcap {{version={__version__}}}{{help={HELP_URL}}}"
             "{display=Packet Visualizer scenarios}"]
    for cls in list_scenarios():
        lines.append(f"interface {{value={interface_name(cls)}}}"
                     f"{{display=Packet Visualizer: {_text(cls.summary)}}}")
    return "\n".join(lines) + "\n"


def dlts_text(cls: type[Scenario]) -> str:
    return (_DLT_RAW if cls.path_defaults else _DLT_ETHERNET) + "\n"


def _arg_lines(number: int, param: Param) -> list[str]:
    head = (f"arg {{number={number}}}{{call=--param-{param.name}}}"
            f"{{display={_text(param.name)}}}{{tooltip={_text(param.help or param.allowed())}}}")
    if param.kind == "int":
        low = "" if param.minimum is None else param.minimum
        high = "" if param.maximum is None else param.maximum
        span = f"{{range={low},{high}}}" if param.minimum is not None and \
            param.maximum is not None else ""
        return [f"{head}{{type=integer}}{span}{{default={param.default}}}"]
    if param.kind == "choice":
        return [f"{head}{{type=selector}}"] + [
            f"value {{arg={number}}}{{value={_text(choice)}}}{{display={_text(choice)}}}"
            f"{{default={'true' if choice == param.default else 'false'}}}"
            for choice in param.choices]
    return [f"{head}{{type=string}}{{default={_text(param.default)}}}"]


def config_text(cls: type[Scenario]) -> str:
    lines: list[str] = []
    for number, param in enumerate(cls.params):
        lines.extend(_arg_lines(number, param))
    return "".join(line + "\n" for line in lines)


def _capture(cls: type[Scenario], args: argparse.Namespace) -> int:
    from visualizer.core.record import record

    if not args.fifo:
        raise BadInput("extcap: --capture needs --fifo PATH")
    pairs = [f"{p.name}={getattr(args, 'param_' + p.name)}" for p in cls.params
             if getattr(args, "param_" + p.name, None) not in (None, "")]
    result = record(cls.name, pairs, args.fifo, fmt="pcapng")
    # Nothing on stderr unless it failed: Wireshark shows any of it as an error.
    if result.run.error is not None:
        print(f"visualizer: extcap: the scenario failed: {result.run.error}", file=sys.stderr)
        return result.run.error.exit_code
    return 0


def extcap_command(argv: Sequence[str], out: TextIO) -> int:
    args = _parser().parse_args(list(argv))
    if args.extcap_interfaces:
        out.write(interfaces_text())
        return 0
    cls = _scenario(args.extcap_interface)
    if args.extcap_dlts:
        out.write(dlts_text(cls))
        return 0
    if args.extcap_config:
        out.write(config_text(cls))
        return 0
    if args.capture:
        return _capture(cls, args)
    raise BadInput("extcap: give --extcap-interfaces, --extcap-dlts, "
                   "--extcap-config or --capture (Wireshark does)")
