"""Segment rules: a small expression language over profile fields, compiled once at startup.

    affinity.category.grills > 0.5 and history.orders >= 1
    history.revenue.USD >= 50000 or traits.tier in ["gold", "platinum"]
    not behavior.cart_abandoned and affinity.brand["Weber & Co"] >= 0.2

Comparisons (`== != > >= < <=`, `in [..]`) of a field with a literal, joined by `and`, `or`, `not`
and parentheses; a yes/no field can stand alone. Fields and literal types are checked when the
rule is compiled, so a typo fails at startup, not on a page render. No Python `eval`: the parser
below accepts nothing else. A field without a value (no orders yet, a trait never set) makes its
comparison false; a category or brand never seen scores 0.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

Kind = Literal["number", "text", "flag", "any"]
Value = str | int | float | bool

FIELDS: dict[str, Kind] = {
    "context.events": "number",
    "context.devices": "number",
    "context.days_since_last_seen": "number",
    "context.channel": "text",
    "context.city": "text",
    "context.country": "text",
    "behavior.viewed_products": "number",
    "behavior.cart_items": "number",
    "behavior.cart_abandoned": "flag",
    "history.orders": "number",
    "history.online_orders": "number",
    "history.in_store_orders": "number",
    "history.days_since_last_order": "number",
    "history.loyalty_member": "flag",
    "history.email_opens": "number",
    "history.email_clicks": "number",
    "affinity.price_tier": "text",
    "affinity.discount_ratio": "number",
    "affinity.discount_seeker": "flag",
}
MAPS: dict[str, Kind] = {
    "history.revenue": "number",
    "history.aov": "number",
    "affinity.category": "number",
    "affinity.brand": "number",
    "traits": "any",
}
"""Fields keyed by a name: `affinity.category.grills`, `history.revenue.USD`, `traits.tier`."""

CLOCKS = {"context.days_since_last_seen": "last_seen", "history.days_since_last_order": "last_order"}
"""The fields whose value changes with time alone, each growing by one a day from the moment the
profile holds in the named field (ProfileState.last_seen, .last_order). Every other field
changes only with an event — affinity shares included, as all scores decay alike — so a rule's
truth can change without an event only when a clock crosses one of the numbers the rules compare
it with (`clocks`)."""

Lookup = Callable[[str, str | None], Value | None]
"""(field, key within a keyed field or None) → the value, or None when there is none."""
Rule = Callable[[Lookup], bool]


class SegmentError(ValueError):
    pass


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>-?\d+(?:\.\d+)?)
      | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>==|!=|>=|<=|>|<|\(|\)|\[|\]|,|\.)
      | (?P<word>[A-Za-z_][A-Za-z0-9_\-]*)
    )""",
    re.VERBOSE,
)
_OPS = {"==", "!=", ">", ">=", "<", "<="}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokens(src: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(src):
        if src[pos:].strip() == "":
            break
        m = _TOKEN.match(src, pos)
        if m is None or m.end() == pos:
            raise SegmentError(f"unexpected character at {pos + 1}: {src[pos : pos + 10]!r}")
        kind = m.lastgroup or ""
        out.append(_Tok(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return out


def compile_segment(src: str) -> Rule:
    return _parse(src).rule


def compile_segments(rules: Mapping[str, str]) -> dict[str, Rule]:
    return {name: compile_segment(src) for name, src in rules.items()}


def clocks(rules: Mapping[str, str]) -> dict[str, tuple[float, ...]]:
    """For each clock field (CLOCKS) the rules name, the days they compare it with: the moments
    at which time alone can change a segment are `moment + days`."""
    found: dict[str, set[float]] = {}
    for src in rules.values():
        for field, days in _parse(src).clocks:
            found.setdefault(field, set()).add(days)
    return {field: tuple(sorted(days)) for field, days in sorted(found.items())}


@dataclass(frozen=True, slots=True)
class _Parsed:
    rule: Rule
    clocks: list[tuple[str, float]]


def _parse(src: str) -> _Parsed:
    parser = _Parser(src)
    rule = parser.expr()
    if parser.peek() is not None:
        tok = parser.peek()
        assert tok is not None
        raise SegmentError(f"unexpected {tok.text!r} at {tok.pos + 1}")
    return _Parsed(rule, parser.clocks)


class _Parser:
    def __init__(self, src: str) -> None:
        self.toks = _tokens(src)
        self.i = 0
        self.clocks: list[tuple[str, float]] = []
        """(clock field, days) of each comparison of a clock with a number."""
        if not self.toks:
            raise SegmentError("empty rule")

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, text: str | None = None, kind: str | None = None) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise SegmentError(f"rule ends early; expected {text or kind or 'a value'}")
        if (text is not None and tok.text != text) or (kind is not None and tok.kind != kind):
            raise SegmentError(f"expected {text or kind} at {tok.pos + 1}, found {tok.text!r}")
        self.i += 1
        return tok

    def at_word(self, word: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "word" and tok.text == word

    def expr(self) -> Rule:
        parts = [self.conj()]
        while self.at_word("or"):
            self.i += 1
            parts.append(self.conj())
        return parts[0] if len(parts) == 1 else (lambda get: any(p(get) for p in parts))

    def conj(self) -> Rule:
        parts = [self.neg()]
        while self.at_word("and"):
            self.i += 1
            parts.append(self.neg())
        return parts[0] if len(parts) == 1 else (lambda get: all(p(get) for p in parts))

    def neg(self) -> Rule:
        if self.at_word("not"):
            self.i += 1
            inner = self.neg()
            return lambda get: not inner(get)
        tok = self.peek()
        if tok is not None and tok.text == "(":
            self.i += 1
            inner = self.expr()
            self.take(")")
            return inner
        return self.comparison()

    def path(self) -> tuple[str, str | None, Kind]:
        start = self.take(kind="word")
        if start.text in ("and", "or", "not", "in", "true", "false"):
            raise SegmentError(f"expected a field at {start.pos + 1}, found {start.text!r}")
        parts = [start.text]
        while (tok := self.peek()) is not None and tok.text in (".", "["):
            prefix = ".".join(parts)
            if prefix in MAPS:
                if tok.text == ".":
                    self.i += 1
                    key_tok = self.peek()
                    if key_tok is None or key_tok.kind not in ("word", "num"):
                        raise SegmentError(f"expected a name after {prefix}.")
                    self.i += 1
                    key = key_tok.text
                else:
                    self.i += 1
                    key = _unquote(self.take(kind="str").text)
                    self.take("]")
                return prefix, key, MAPS[prefix]
            self.take(".")
            parts.append(self.take(kind="word").text)
        name = ".".join(parts)
        if name in MAPS:
            raise SegmentError(f"{name} needs a name, e.g. {name}.something")
        if name not in FIELDS:
            raise SegmentError(f"unknown field {name!r} (known: {', '.join(sorted(FIELDS))}; keyed: "
                               f"{', '.join(sorted(MAPS))})")  # fmt: skip
        return name, None, FIELDS[name]

    def literal(self) -> Value:
        tok = self.take()
        if tok.kind == "num":
            return float(tok.text) if "." in tok.text else int(tok.text)
        if tok.kind == "str":
            return _unquote(tok.text)
        if tok.kind == "word" and tok.text in ("true", "false"):
            return tok.text == "true"
        raise SegmentError(f"expected a number, string, true or false at {tok.pos + 1}, found {tok.text!r}")

    def comparison(self) -> Rule:
        field, key, kind = self.path()
        label = field if key is None else f"{field}.{key}"
        tok = self.peek()
        if tok is None or (tok.text not in _OPS and not self.at_word("in")):
            if kind != "flag":
                raise SegmentError(f"{label} is not a yes/no field; compare it with a value")
            return lambda get: get(field, key) is True
        self.i += 1
        if tok.text == "in":
            self.take("[")
            options = [self.literal()]
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.i += 1
                options.append(self.literal())
            self.take("]")
            for v in options:
                _check_type(label, kind, "==", v)
            self._note_clock(field, options)
            allowed = tuple(options)
            return lambda get: (v := get(field, key)) is not None and _equal_any(v, allowed)
        op = tok.text
        lit = self.literal()
        _check_type(label, kind, op, lit)
        self._note_clock(field, [lit])
        default: Value | None = 0 if kind == "number" and key is not None else None
        return lambda get: _compare(_or(get(field, key), default), op, lit)

    def _note_clock(self, field: str, literals: list[Value]) -> None:
        if field in CLOCKS:
            self.clocks += [(field, float(v)) for v in literals if not isinstance(v, bool | str)]


def _or(v: Value | None, default: Value | None) -> Value | None:
    return default if v is None else v


def _check_type(label: str, kind: Kind, op: str, lit: Value) -> None:
    is_num = isinstance(lit, int | float) and not isinstance(lit, bool)
    if kind == "number" and not is_num:
        raise SegmentError(f"{label} is a number; {lit!r} is not")
    if kind == "text" and (not isinstance(lit, str) or op not in ("==", "!=")):
        raise SegmentError(f"{label} is text: compare it with == or != to a quoted string")
    if kind == "flag" and (not isinstance(lit, bool) or op not in ("==", "!=")):
        raise SegmentError(f"{label} is yes/no: compare it with == true or == false")
    if kind == "any" and op not in ("==", "!=") and not is_num:
        raise SegmentError(f"{label}: only numbers can be ordered")


def _same_kind(a: Value, b: Value) -> bool:
    num = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    return (isinstance(a, num) and isinstance(b, num)) or (isinstance(a, str) and isinstance(b, str))


def _equal_any(v: Value, options: tuple[Value, ...]) -> bool:
    return any(_same_kind(v, o) and v == o for o in options)


def _compare(v: Value | None, op: str, lit: Value) -> bool:
    if v is None or not _same_kind(v, lit):
        return False
    if op == "==":
        return v == lit
    if op == "!=":
        return v != lit
    a, b = float(v), float(lit)
    return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])
