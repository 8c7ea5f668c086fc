"""A display filter, checked once and evaluated over every packet at once.

``DisplayFilter(text)`` parses the text (``grammar.py``) and checks it
against the fields (``fields.py``): an unknown field, a value that does not
fit its field (``tcp.port == "x"``, ``ip.src == 1.2.3``) or an operator the
field has no use for (``tcp == 1``) is a BadInput naming the column, never a
filter that silently matches nothing. ``mask`` then gives, per packet, True
where the filter matches, with numpy over the columns.

Semantics are tshark 4.0's: a field with several occurrences (``ip.addr``,
``tcp.port``) matches ``==``, ``<``, ``in``... when any occurrence does;
``a != b`` is true when the field is there and no occurrence equals ``b``
(so ``tcp.port != 80`` matches no UDP packet, and ``ip.addr != X`` is
``ip.src != X and ip.dst != X``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

from visualizer.core.decode.store import PacketStore
from visualizer.core.errors import BadInput
from visualizer.core.filter import grammar as g
from visualizer.core.filter import raw
from visualizer.core.filter.fields import (
    BYTES,
    ETHER,
    FIELDS,
    INTEGER,
    IPV4,
    IPV6,
    PROTOCOL,
    TIME,
    Context,
    Spec,
)
from visualizer.core.flows.analysis import Analysis

Test = Callable[[Context], np.ndarray]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# typed loosely: numpy's ufunc overloads reject a column with a Python int, and
# an ignore comment would be unused where numpy is absent (the package's build
# type-checks this module without it)
_ORDER: dict[str, Callable[[Any, Any], np.ndarray]] = {
    "<": np.less, ">": np.greater, "<=": np.less_equal, ">=": np.greater_equal}
_HEX_BYTES = re.compile(r"^[0-9A-Fa-f]{2}(?:[:.\-]?[0-9A-Fa-f]{2})*$")
_ETHER = re.compile(r"^[0-9A-Fa-f]{2}(?:[:.\-][0-9A-Fa-f]{2}){5}$|^[0-9A-Fa-f]{12}$")


class DisplayFilter:
    """A display filter in Wireshark's syntax (module docstring)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._test = _compile(g.parse(text))

    def mask(self, store: PacketStore, analysis: Analysis | None, count: int | None = None,
             first_number: int = 1, start: int = 0) -> np.ndarray:
        """Per packet in [start, count): does it match? (``first_number``: the frame
        number of index 0, for ``frame.number`` in a ring buffer). A packet's
        answer never changes as the capture grows (the columns only grow), so
        a live view evaluates only the packets that are new."""
        n = len(store) if count is None else count
        return np.asarray(self._test(Context(store, analysis, n, first_number, start)), bool)

    def indices(self, store: PacketStore, analysis: Analysis | None, count: int | None = None,
                first_number: int = 1) -> np.ndarray:
        """The indices of the packets that match, ascending."""
        return np.flatnonzero(self.mask(store, analysis, count, first_number))


def _fail(what: str, column: int) -> BadInput:
    return BadInput(f"display filter: {what} (column {column})")


def _spec(field: g.Field) -> Spec:
    spec = FIELDS.get(field.name)
    if spec is None:
        raise _fail(f'"{field.name}" is not a field or protocol this app knows',
                    field.column)
    return spec


def _compile(node: g.Node) -> Test:
    if isinstance(node, g.Or):
        left, right = _compile(node.left), _compile(node.right)
        return lambda c: left(c) | right(c)
    if isinstance(node, g.And):
        left, right = _compile(node.left), _compile(node.right)
        return lambda c: left(c) & right(c)
    if isinstance(node, g.Not):
        inner = _compile(node.operand)
        return lambda c: ~inner(c)
    if isinstance(node, g.Field):
        return _present(_spec(node))
    if isinstance(node, g.Member):
        return _member(node)
    return _compare(node)


def _present(spec: Spec) -> Test:
    def test(c: Context) -> np.ndarray:
        if spec.values is None:
            assert spec.extent is not None
            return spec.extent(c)[0].copy()
        mask = np.zeros(c.n, bool)
        for _, present in spec.values(c):
            mask |= present
        return mask
    return test


def _compare(node: g.Compare) -> Test:
    spec = _spec(node.field)
    name, op = node.field.name, node.op
    if op == "contains":
        if spec.extent is None:
            raise _fail(f'"contains" needs bytes, and {name} is {_a(spec.kind)}',
                        node.field.column)
        return _contains(spec, _needle(node.value))
    if spec.kind in (PROTOCOL, BYTES):
        raise _fail(f'{name} is {_a(spec.kind)}: test it alone or with "contains", '
                    f'not with "{op}"', node.field.column)
    if spec.kind in (IPV4, IPV6, ETHER) and op in _ORDER:
        raise _fail(f'{name} is {_a(spec.kind)}: only "==", "!=" and "in" compare it',
                    node.field.column)
    value = _value(spec.kind, name, node.value)
    values = spec.values
    assert values is not None

    def test(c: Context) -> np.ndarray:
        hit, there = np.zeros(c.n, bool), np.zeros(c.n, bool)
        for column, present in values(c):
            assert column is not None
            there |= present
            if op in _ORDER:
                hit |= present & _ORDER[op](column, value)
            else:
                hit |= present & _equal(c, column, spec.kind, value)
        return there & ~hit if op == "!=" else hit
    return test


def _member(node: g.Member) -> Test:
    spec = _spec(node.field)
    name = node.field.name
    if spec.kind in (PROTOCOL, BYTES):
        raise _fail(f'{name} is {_a(spec.kind)}: test it alone or with "contains", not '
                    'with "in"', node.field.column)
    singles: list[object] = []
    spans: list[tuple[int, int]] = []
    for item in node.items:
        if isinstance(item, g.Span):
            if spec.kind not in (INTEGER, TIME):
                raise _fail(f"{name} is {_a(spec.kind)}: a range needs numbers",
                            item.low.column)
            low, high = _value(spec.kind, name, item.low), _value(spec.kind, name, item.high)
            assert isinstance(low, int) and isinstance(high, int)
            spans.append((low, high))
        else:
            singles.append(_value(spec.kind, name, item))
    values = spec.values
    assert values is not None

    def test(c: Context) -> np.ndarray:
        hit = np.zeros(c.n, bool)
        for column, present in values(c):
            assert column is not None
            match = np.zeros(c.n, bool)
            for value in singles:
                match |= _equal(c, column, spec.kind, value)
            for low, high in spans:
                match |= (column >= low) & (column <= high)
            hit |= present & match
        return hit
    return test


def _equal(c: Context, column: np.ndarray, kind: str, value: object) -> np.ndarray:
    if kind in (IPV4, IPV6):
        assert isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network)
        return np.isin(column, _address_ids(c.store, column, value))
    return column == value


def _address_ids(store: PacketStore, column: np.ndarray, network: Network) -> np.ndarray:
    """The ids of the store's addresses inside ``network`` among ``column``'s."""
    if network.num_addresses == 1:
        found = store.address_id(network.network_address.packed)
        return np.array([] if found is None else [found], np.int64)
    ids = np.unique(column[column >= 0])
    inside = [i for i in ids.tolist() if _within(store.address(i), network)]
    return np.array(inside, np.int64)


def _within(packed: bytes, network: Network) -> bool:
    if len(packed) != (4 if network.version == 4 else 16):
        return False
    return ipaddress.ip_address(packed) in network


def _contains(spec: Spec, needle: bytes) -> Test:
    extent = spec.extent
    assert extent is not None

    def test(c: Context) -> np.ndarray:
        present, start, stop = extent(c)
        rows = np.flatnonzero(present & (start >= 0))
        found = np.zeros(c.n, bool)
        found[rows] = raw.contains(c.store, rows + c.start, start[rows].astype(np.int64),
                                   stop[rows].astype(np.int64), needle)
        return found
    return test


# --------------------------------------------------------------------------
# Values


def _a(kind: str) -> str:
    return f"{'an' if kind[0] in 'aeiouAEIOU' else 'a'} {kind}"


def _value(kind: str, name: str, lit: g.Literal) -> object:
    """``lit`` as a value of field ``name`` of kind ``kind``, or BadInput."""
    text = lit.text
    wrong = _fail(f'"{text}" is not {_a(kind)}, which {name} is', lit.column)
    if kind == INTEGER:
        if lit.quoted:
            raise wrong
        try:
            return int(text, 0)
        except ValueError:
            try:
                return int(text, 10)
            except ValueError:
                raise wrong from None
    if kind == TIME:
        try:
            seconds = Decimal(text)
        except InvalidOperation:
            raise wrong from None
        if not seconds.is_finite():
            raise wrong
        return int(seconds * 1_000_000_000)
    if kind in (IPV4, IPV6):
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise wrong from None
        if network.version != (4 if kind == IPV4 else 6):
            raise wrong
        return network
    if kind == ETHER:
        if not _ETHER.match(text):
            raise wrong
        return int(re.sub(r"[:.\-]", "", text), 16)
    raise wrong


def _needle(lit: g.Literal) -> bytes:
    """What ``contains`` looks for: a quoted string's UTF-8 bytes, or bytes in hex
    (``03:77:77``)."""
    if lit.quoted:
        needle = lit.text.encode("utf-8", "surrogateescape")
    elif _HEX_BYTES.match(lit.text):
        needle = bytes.fromhex(re.sub(r"[:.\-]", "", lit.text))
    else:
        raise _fail(f'"{lit.text}" is neither a quoted string nor bytes in hex '
                    "(47:45:54)", lit.column)
    if not needle:
        raise _fail('"contains" needs at least one byte', lit.column)
    return needle
