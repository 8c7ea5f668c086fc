"""The display filter's syntax: Wireshark's, parsed by lark into a small tree.

Only the shape of an expression is decided here; whether its fields exist
and its values fit them is ``compile.py``'s work. Every node keeps the
column (1-based) where it starts, so an error can point at it.

Precedence, as in Wireshark 4.0's grammar: ``not`` binds tightest, then
``and``, then ``or``; parentheses group. A set is ``{1, 3..5, 8}`` (tshark
4.0 wants the commas).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from visualizer.core.errors import BadInput

_GRAMMAR = r"""
?start: or_test
?or_test: and_test | or_test OR and_test -> either
?and_test: not_test | and_test AND not_test -> both
?not_test: not_op not_test -> negation | atom
not_op: "!" | NOT
?atom: "(" or_test ")"
     | WORD -> present
     | WORD CMP value -> compare
     | WORD CONTAINS value -> contains
     | WORD IN "{" items "}" -> member
items: item ("," item)*
?item: value | value RANGE value -> span
?value: WORD -> word
      | STRING -> text

OR: "||" | "or"
AND: "&&" | "and"
NOT: "not"    // a plain string, so that lark prefers it to a WORD
CMP: "==" | "!=" | "<=" | ">=" | "<" | ">" | "eq" | "ne" | "le" | "ge" | "lt" | "gt"
CONTAINS: "contains"
IN: "in"
RANGE: ".."
// a field name or a literal: 80, 0x12, 1.5, 10.0.0.0/8, fe80::1, 00:11:22:33:44:55
// (a dot not followed by another, so that 3..5 is a range)
WORD: /(?:[A-Za-z0-9_:\/\-]|\.(?!\.))+/
STRING: /"(?:[^"\\]|\\.)*"/
%ignore /\s+/
"""



@functools.cache
def _parser() -> Lark:
    """Built on first use: 30 ms that every command importing the session
    paid at start-up, filter or not."""
    return Lark(_GRAMMAR, parser="lalr", propagate_positions=False, maybe_placeholders=False)

_OPERATORS = {"eq": "==", "ne": "!=", "le": "<=", "ge": ">=", "lt": "<", "gt": ">"}


@dataclass(frozen=True)
class Literal:
    """A value as written: ``text`` is a bare word or the unquoted string."""

    text: str
    quoted: bool
    column: int


@dataclass(frozen=True)
class Span:
    low: Literal
    high: Literal


@dataclass(frozen=True)
class Field:
    """A field as an operand: a comparison's left side, or bare (present?)."""

    name: str
    column: int


@dataclass(frozen=True)
class Compare:
    field: Field
    op: str          # "==", "!=", "<", ">", "<=", ">=" or "contains"
    value: Literal


@dataclass(frozen=True)
class Member:
    field: Field
    items: tuple[Literal | Span, ...]


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node


Node = Field | Compare | Member | Not | And | Or


def _field(token: Token) -> Field:
    return Field(str(token), token.column or 0)


@v_args(inline=True)
class _ToTree(Transformer[Token, Node]):
    def either(self, left: Node, _op: Token, right: Node) -> Node:
        return Or(left, right)

    def both(self, left: Node, _op: Token, right: Node) -> Node:
        return And(left, right)

    def negation(self, _op: object, operand: Node) -> Node:
        return Not(operand)

    def present(self, name: Token) -> Node:
        return _field(name)

    def compare(self, name: Token, op: Token, value: Literal) -> Node:
        return Compare(_field(name), _OPERATORS.get(str(op), str(op)), value)

    def contains(self, name: Token, _op: Token, value: Literal) -> Node:
        return Compare(_field(name), "contains", value)

    def member(self, name: Token, _op: Token, items: tuple[Literal | Span, ...]) -> Node:
        return Member(_field(name), items)

    def items(self, *items: Literal | Span) -> tuple[Literal | Span, ...]:
        return items

    def span(self, low: Literal, _op: Token, high: Literal) -> Span:
        return Span(low, high)

    def word(self, token: Token) -> Literal:
        return Literal(str(token), False, token.column or 0)

    def text(self, token: Token) -> Literal:
        raw = str(token)[1:-1]
        try:
            text = raw.encode("latin-1", "backslashreplace").decode("unicode_escape")
        except UnicodeDecodeError as err:
            raise BadInput(f"display filter: bad escape in the string at column "
                           f"{token.column}") from err
        return Literal(text, True, token.column or 0)


def parse(text: str) -> Node:
    """The tree of filter ``text``; BadInput (with the column) for bad syntax."""
    if not text.strip():
        raise BadInput("display filter: empty expression")
    try:
        tree = _parser().parse(text)
        return _ToTree().transform(tree)
    except UnexpectedEOF:
        raise BadInput(f"display filter: the expression ends too early (column "
                       f"{len(text.rstrip()) + 1})") from None
    except UnexpectedToken as err:
        if err.token.type == "$END":
            raise BadInput(f"display filter: the expression ends too early (column "
                           f"{len(text.rstrip()) + 1})") from None
        raise BadInput(f'display filter: "{err.token}" was unexpected at column '
                       f"{err.column}") from None
    except UnexpectedCharacters as err:
        where = err.pos_in_stream or 0
        raise BadInput(f'display filter: "{text[where:where + 1]}" was unexpected at '
                       f"column {err.column}") from None
    except UnexpectedInput as err:
        raise BadInput(f"display filter: syntax error at column {err.column}") from None
