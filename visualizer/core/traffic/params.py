"""Scenario parameters: declared as ``Param``, given as ``key=value`` text.

``parse_params`` turns the CLI's ``--param count=3`` pairs into a checked
dict with the defaults filled in; ``check_values`` does the same checks on
a dict built in code (the GUI's form). Both raise ``BadInput`` with a
message that names the parameter and what it accepts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from visualizer.core.errors import BadInput

ParamKind = Literal["int", "str", "choice"]
ParamValue = int | str


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a scenario: its type, default and allowed values."""

    name: str
    kind: ParamKind
    default: ParamValue
    minimum: int | None = None   # for "int"
    maximum: int | None = None   # for "int"
    choices: tuple[str, ...] = ()  # for "choice"
    help: str = ""

    def allowed(self) -> str:
        """What the parameter accepts, as text: ``0..10000``, ``ipv4|ipv6``, ``text``."""
        if self.kind == "choice":
            return "|".join(self.choices)
        if self.kind == "int":
            low = "" if self.minimum is None else str(self.minimum)
            high = "" if self.maximum is None else str(self.maximum)
            return f"{low}..{high}" if low or high else "a whole number"
        return "text"

    def parse(self, text: str) -> ParamValue:
        """The value of ``text`` for this parameter, checked."""
        if self.kind == "int":
            text = text.strip()
            try:
                # int() also takes "1_000" and other scripts' digits ("٣"): not here.
                if not _DECIMAL.fullmatch(text):
                    raise ValueError(text)
                number = int(text)
            except ValueError:
                raise BadInput(f"{self.name} must be a whole number, not {text!r} "
                               f"(allowed: {self.allowed()})") from None
            return self.check(number)
        return self.check(text)

    def check(self, value: object) -> ParamValue:
        """``value`` if it is allowed, else ``BadInput`` saying what is."""
        if self.kind == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                raise BadInput(f"{self.name} must be a whole number, not {value!r} "
                               f"(allowed: {self.allowed()})")
            if ((self.minimum is not None and value < self.minimum)
                    or (self.maximum is not None and value > self.maximum)):
                raise BadInput(f"{self.name}={value} is out of range: allowed {self.allowed()}")
            return value
        if not isinstance(value, str):
            raise BadInput(f"{self.name} must be text, not {value!r}")
        if self.kind == "choice" and value not in self.choices:
            raise BadInput(f"{self.name} must be one of {', '.join(self.choices)}, "
                           f"not {value!r}")
        return value


_DECIMAL = re.compile(r"[+-]?[0-9]+", re.ASCII)

# Parameters most scenarios share.
PORT = Param("port", "int", 0, 0, 65535,
             help="server port on loopback; 0 picks any free port")
FAMILY = Param("family", "choice", "ipv4", choices=("ipv4", "ipv6"),
               help="ipv4 runs on 127.0.0.1, ipv6 on ::1")


def _by_name(params: Iterable[Param]) -> dict[str, Param]:
    return {p.name: p for p in params}


def _unknown(owner: str, key: str, params: Iterable[Param]) -> BadInput:
    names = ", ".join(p.name for p in params) or "none"
    return BadInput(f"{owner} has no parameter {key!r}: its parameters are {names}")


def parse_pairs(owner: str, params: tuple[Param, ...], pairs: Iterable[str]
                ) -> dict[str, ParamValue]:
    """Checked values from ``["count=3", ...]``, defaults filled in."""
    known = _by_name(params)
    given: dict[str, ParamValue] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise BadInput(f"parameter {pair!r} must be key=value, e.g. "
                           f"{params[0].name}={params[0].default}" if params
                           else f"parameter {pair!r} must be key=value")
        if key not in known:
            raise _unknown(owner, key, params)
        if key in given:
            raise BadInput(f"parameter {key} is given twice")
        given[key] = known[key].parse(text)
    return {p.name: given.get(p.name, p.default) for p in params}


def check_values(owner: str, params: tuple[Param, ...], values: Mapping[str, object]
                 ) -> dict[str, ParamValue]:
    """Checked values from a dict, defaults filled in."""
    known = _by_name(params)
    for key in values:
        if key not in known:
            raise _unknown(owner, key, params)
    return {p.name: p.check(values[p.name]) if p.name in values else p.default
            for p in params}
