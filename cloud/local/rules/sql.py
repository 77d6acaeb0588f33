"""The subset of AWS IoT SQL (version 2016-03-23) the platform's topic rules use.

Supported:
  SELECT *                      the whole JSON message
  SELECT a, b.c AS d, *         fields (dotted paths), aliases, mixed with *
  topic() / topic(n)            the topic / its n-th level (1-based)
  clientid()                    the publisher's client id (see RuleMessage.client_id)
  timestamp()                   milliseconds since the epoch when the rule ran
  'text', 12, 1.5, true, false  literals
  FROM 'filter'                 one MQTT topic filter (+ and # wildcards)
  WHERE x = y AND (a > 1 OR b <> 'c'), NOT, with = <> != < <= > >=

Anything else (other functions, arithmetic, CASE, nested SELECT, ...) is rejected when the
rule is parsed, with a message naming the construct. As in IoT Core, a selected field that
is missing from the message is left out of the result, and a comparison with a missing field
is false.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MISSING: Any = object()


class RuleSqlError(ValueError):
    """A rule's SQL uses something outside the supported subset, or is malformed."""


@dataclass(frozen=True)
class RuleMessage:
    """What a rule sees: topic, decoded JSON payload, publisher's client id, rule time (ms)."""

    topic: str
    payload: Any
    client_id: str
    timestamp_ms: int


Expr = Callable[[RuleMessage], Any]

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
    | (?P<op><>|!=|<=|>=|=|<|>)
    | (?P<punct>[(),*])
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    | (?P<other>\S)
    )""", re.VERBOSE)
_KEYWORDS = {"SELECT", "FROM", "WHERE", "AS", "AND", "OR", "NOT", "TRUE", "FALSE"}
# IoT SQL keywords outside the subset, refused by name rather than misread as field names.
_UNSUPPORTED_KEYWORDS = {"CASE", "WHEN", "THEN", "ELSE", "END", "IN", "LIKE", "IS", "NULL",
                         "BETWEEN", "DISTINCT", "GROUP", "ORDER", "BY", "LIMIT", "JOIN",
                         "UNION", "EXISTS"}
_COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def _tokenize(sql: str) -> list[_Token]:
    tokens = []
    position = 0
    while position < len(sql):
        match = _TOKEN.match(sql, position)
        if match is None or match.end() == position:
            break
        position = match.end()
        kind = match.lastgroup or "other"
        text = match.group(kind)
        if kind == "other":
            raise RuleSqlError(f"unsupported character {text!r}")
        if kind == "name" and text.upper() in _UNSUPPORTED_KEYWORDS:
            raise RuleSqlError(f"unsupported keyword {text.upper()!r}")
        if kind == "name" and text.upper() in _KEYWORDS:
            kind, text = "keyword", text.upper()
        tokens.append(_Token(kind, text))
    return tokens


@dataclass(frozen=True)
class _Projection:
    name: str | None  # None for `*`
    expr: Expr | None


@dataclass(frozen=True)
class RuleQuery:
    """A parsed rule: what to select, from which topic filter, under which condition."""

    sql: str
    topic_filter: str
    projections: tuple[_Projection, ...]
    where: Expr | None

    def evaluate(self, message: RuleMessage) -> dict[str, Any] | None:
        """The rule's output for `message`, or None when WHERE does not hold."""
        if self.where is not None and self.where(message) is not True:
            return None
        result: dict[str, Any] = {}
        for projection in self.projections:
            if projection.expr is None:
                if not isinstance(message.payload, dict):
                    raise RuleSqlError("SELECT * needs a JSON object payload")
                result.update(message.payload)
                continue
            value = projection.expr(message)
            if value is not MISSING:
                assert projection.name is not None
                result[projection.name] = value
        return result


def _field(path: str) -> Expr:
    keys = path.split(".")

    def read(message: RuleMessage) -> Any:
        value = message.payload
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return MISSING
            value = value[key]
        return value

    return read


def _topic(level: int | None) -> Expr:
    def read(message: RuleMessage) -> Any:
        if level is None:
            return message.topic
        parts = message.topic.split("/")
        return parts[level - 1] if level <= len(parts) else MISSING

    return read


class _Parser:
    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.tokens = _tokenize(sql)
        self.position = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise RuleSqlError("unexpected end of the statement")
        self.position += 1
        return token

    def expect(self, kind: str, text: str | None = None) -> _Token:
        token = self.take()
        if token.kind != kind or (text is not None and token.text != text):
            raise RuleSqlError(f"expected {text or kind} but found {token.text!r}")
        return token

    def accept(self, kind: str, text: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == kind and token.text == text:
            self.position += 1
            return True
        return False

    def statement(self) -> RuleQuery:
        self.expect("keyword", "SELECT")
        projections = [self.projection()]
        while self.accept("punct", ","):
            projections.append(self.projection())
        self.expect("keyword", "FROM")
        source = self.take()
        if source.kind != "string":
            raise RuleSqlError(f"FROM needs a quoted topic filter, found {source.text!r}")
        topic_filter = source.text[1:-1].replace("''", "'")
        where = None
        if self.accept("keyword", "WHERE"):
            where = self.condition()
        trailing = self.peek()
        if trailing is not None:
            raise RuleSqlError(f"unsupported construct {trailing.text!r} after the statement")
        return RuleQuery(self.sql, topic_filter, tuple(projections), where)

    def projection(self) -> _Projection:
        if self.accept("punct", "*"):
            return _Projection(None, None)
        start = self.peek()
        expr = self.value()
        if self.accept("keyword", "AS"):
            name = self.expect("name").text
            if "." in name:
                raise RuleSqlError(f"alias {name!r} must be a plain name")
            return _Projection(name, expr)
        assert start is not None
        if start.kind != "name" or self.tokens[self.position - 1] is not start:
            raise RuleSqlError(f"expression starting at {start.text!r} needs an alias (AS name)")
        return _Projection(start.text.rsplit(".", 1)[-1], expr)

    def value(self) -> Expr:
        token = self.take()
        if token.kind == "string":
            text = token.text[1:-1].replace("''", "'")
            return lambda _m: text
        if token.kind == "number":
            number: float | int = float(token.text) if any(c in token.text for c in ".eE") \
                else int(token.text)
            return lambda _m: number
        if token.kind == "keyword" and token.text in ("TRUE", "FALSE"):
            flag = token.text == "TRUE"
            return lambda _m: flag
        if token.kind == "name":
            if self.accept("punct", "("):
                return self.function(token.text)
            return _field(token.text)
        raise RuleSqlError(f"unsupported construct {token.text!r} where a value was expected")

    def function(self, name: str) -> Expr:
        lowered = name.lower()
        if lowered == "topic":
            if self.accept("punct", ")"):
                return _topic(None)
            level = self.expect("number").text
            self.expect("punct", ")")
            if not level.isdigit() or int(level) < 1:
                raise RuleSqlError(f"topic({level}) needs a level of 1 or more")
            return _topic(int(level))
        if lowered == "clientid":
            self.expect("punct", ")")
            return lambda m: m.client_id
        if lowered == "timestamp":
            self.expect("punct", ")")
            return lambda m: m.timestamp_ms
        raise RuleSqlError(f"unsupported function {name}()")

    def condition(self) -> Expr:
        left = self.conjunction()
        while self.accept("keyword", "OR"):
            right = self.conjunction()
            left = (lambda a, b: lambda m: a(m) is True or b(m) is True)(left, right)
        return left

    def conjunction(self) -> Expr:
        left = self.negation()
        while self.accept("keyword", "AND"):
            right = self.negation()
            left = (lambda a, b: lambda m: a(m) is True and b(m) is True)(left, right)
        return left

    def negation(self) -> Expr:
        if self.accept("keyword", "NOT"):
            inner = self.negation()
            return lambda m: inner(m) is not True
        if self.accept("punct", "("):
            inner = self.condition()
            self.expect("punct", ")")
            return inner
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.value()
        token = self.peek()
        if token is None or token.kind != "op":
            found = token.text if token else "the end"
            raise RuleSqlError(f"WHERE needs a comparison (= <> < <= > >=), found {found!r}")
        self.position += 1
        compare = _COMPARATORS[token.text]
        right = self.value()

        def evaluate(message: RuleMessage) -> bool:
            a, b = left(message), right(message)
            if a is MISSING or b is MISSING:
                return False
            try:
                return compare(a, b)
            except TypeError:
                return False  # comparing e.g. a string with a number: undefined, so false

        return evaluate


def parse(sql: str) -> RuleQuery:
    """Parse a rule's SQL; raise RuleSqlError naming the unsupported construct."""
    if not isinstance(sql, str) or not sql.strip():
        raise RuleSqlError("the rule has no SQL statement")
    return _Parser(sql).statement()
