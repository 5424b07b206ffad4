"""A small PromQL reader for the lint rules: enough of the grammar to find the metric names a query selects and
the shape of its expressions. It is not a validator (promtool checks the rendered MetricTemplates): a query it
cannot read raises ``PromQLError`` and the rules that use it stay quiet.

Flagger's Go template actions (``{{ interval }}``, ``{{ namespace }}``) are read as opaque literals outside
strings and left as they are inside them; ``{{ variables.x }}`` is replaced by the metric's variable first."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple


class PromQLError(ValueError):
    """The query is not PromQL this reader understands."""


class Token(NamedTuple):
    kind: str  # ident, string, number, duration, template, op, punct, eof
    text: str
    pos: int


_TOKEN = r"""  # compiled on first use (re caches it), so that rules without metrics cost nothing at start-up
    (?P<space>\s+|\#[^\n]*)
  | (?P<template>\{\{.*?\}\})
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<duration>(?:[0-9]+(?:ms|[smhdwy]))+)(?![A-Za-z0-9_])
  | (?P<number>0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_:]*)
  | (?P<op>==|!=|<=|>=|=~|!~|[-+*/%^<>=@])
  | (?P<punct>[(){}\[\],:])
"""

_VARIABLE = re.compile(r"\{\{-?\s*variables\.([A-Za-z0-9_]+)\s*-?\}\}")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f",
            "v": "\v"}


def tokenize(query: str) -> list[Token]:
    out = []
    pos = 0
    token = re.compile(_TOKEN, re.VERBOSE | re.DOTALL)
    while pos < len(query):
        match = token.match(query, pos)
        if match is None:
            raise PromQLError(f"unexpected {query[pos]!r} at offset {pos}")
        kind = match.lastgroup or ""
        if kind != "space":
            out.append(Token(kind, match.group(), pos))
        pos = match.end()
    out.append(Token("eof", "", len(query)))
    return out


def unquote(text: str) -> str:
    if text.startswith("`"):
        return text[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group()), text[1:-1], flags=re.DOTALL)


class Matcher(NamedTuple):
    label: str
    op: str  # = != =~ !~
    value: str

    def __str__(self) -> str:
        return f'{self.label}{self.op}"{self.value}"'

    def matches(self, value: str) -> bool:
        """Whether a series whose label has ``value`` is selected (PromQL regexes are anchored)."""
        if self.op in ("=", "!="):
            hit = value == self.value
        else:
            try:
                hit = re.fullmatch(self.value, value) is not None
            except re.error:
                hit = False
        return hit if self.op in ("=", "=~") else not hit


class Selector(NamedTuple):
    name: str | None
    matchers: tuple[Matcher, ...]


class Literal(NamedTuple):
    text: str


class Call(NamedTuple):
    func: str
    args: tuple[Node, ...]


class Unary(NamedTuple):
    op: str
    expr: Node


class Binary(NamedTuple):
    op: str
    left: Node
    right: Node


Node = Selector | Literal | Call | Unary | Binary

AGGREGATIONS = frozenset({"sum", "avg", "count", "min", "max", "stddev", "stdvar", "topk", "bottomk", "quantile",
                          "count_values", "group", "limitk", "limit_ratio"})
MAX_DEPTH = 64  # far beyond any real query; keeps the recursive reader clear of Python's recursion limit
_PRECEDENCE = {"or": 1, "and": 2, "unless": 2, "==": 3, "!=": 3, "<=": 3, "<": 3, ">=": 3, ">": 3,
               "+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "atan2": 5, "^": 6}


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def expect(self, text: str) -> Token:
        if self.tok.text != text or self.tok.kind in ("string", "template"):
            raise PromQLError(f"expected {text!r} at offset {self.tok.pos}, found {self.tok.text or 'the end'!r}")
        return self.take()

    def parse(self) -> Node:
        node = self.expr(0)
        if self.tok.kind != "eof":
            raise PromQLError(f"unexpected {self.tok.text!r} at offset {self.tok.pos}")
        return node

    def binary_op(self) -> str | None:
        tok = self.tok
        if tok.kind == "op" and tok.text in _PRECEDENCE:
            return tok.text
        if tok.kind == "ident" and tok.text in ("and", "or", "unless", "atan2"):
            return tok.text
        return None

    def expr(self, floor: int) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise PromQLError(f"nested more than {MAX_DEPTH} levels deep")
        try:
            return self.binary(self.unary(), floor)
        finally:
            self.depth -= 1

    def binary(self, left: Node, floor: int) -> Node:
        chained = 0  # a chain a + b + c ... deepens the tree without deepening the reader
        while True:
            op = self.binary_op()
            if op is None or _PRECEDENCE[op] < floor:
                return left
            chained += 1
            if self.depth + chained > MAX_DEPTH:
                raise PromQLError(f"nested more than {MAX_DEPTH} levels deep")
            self.take()
            self.modifiers()
            # ^ is right-associative, every other operator left-associative
            right = self.expr(_PRECEDENCE[op] + (0 if op == "^" else 1))
            left = Binary(op, left, right)

    def modifiers(self) -> None:
        """``bool``, ``on(...)``/``ignoring(...)``, ``group_left(...)``/``group_right(...)`` after an operator."""
        if self.tok.text == "bool":
            self.take()
        if self.tok.text in ("on", "ignoring"):
            self.take()
            self.label_list()
        if self.tok.text in ("group_left", "group_right"):
            self.take()
            if self.tok.text == "(":
                self.label_list()

    def label_list(self) -> None:
        """``(label, ...)`` of a grouping or vector matching; the names do not matter to the rules."""
        self.expect("(")
        while self.tok.text != ")":
            tok = self.take()
            if tok.kind not in ("ident", "string"):
                raise PromQLError(f"expected a label name at offset {tok.pos}")
            if self.tok.text == ",":
                self.take()
            elif self.tok.text != ")":
                raise PromQLError(f"expected ',' or ')' at offset {self.tok.pos}")
        self.take()

    def unary(self) -> Node:
        if self.tok.kind == "op" and self.tok.text in ("-", "+"):
            op = self.take().text
            # unary minus binds looser than ^ (-2^2 is -4) and tighter than * /
            return Unary(op, self.expr(_PRECEDENCE["^"]))
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            if self.tok.text == "[" and self.tok.kind == "punct":
                self.take()
                while self.tok.kind in ("duration", "number", "template", "op") or self.tok.text == ":":
                    self.take()
                self.expect("]")
            elif self.tok.text == "offset" and self.tok.kind == "ident":
                self.take()
                if self.tok.text in ("-", "+"):
                    self.take()
                if self.tok.kind not in ("duration", "number", "template"):
                    raise PromQLError(f"expected a duration after offset at offset {self.tok.pos}")
                self.take()
            elif self.tok.text == "@" and self.tok.kind == "op":
                self.take()
                if self.tok.text in ("start", "end"):
                    self.take()
                    self.expect("(")
                    self.expect(")")
                else:
                    self.take()
            else:
                return node

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind == "punct" and tok.text == "(":
            self.take()
            node = self.expr(0)
            self.expect(")")
            return node
        if tok.kind in ("number", "string", "template", "duration"):
            self.take()
            return Literal(tok.text)
        if tok.kind == "punct" and tok.text == "{":
            return self.selector(None)
        if tok.kind != "ident":
            raise PromQLError(f"unexpected {tok.text or 'end of query'!r} at offset {tok.pos}")
        self.take()
        name = tok.text
        if name.lower() in ("inf", "nan"):
            return Literal(name)
        if name in AGGREGATIONS and (self.tok.text in ("by", "without") or self.tok.text == "("):
            return self.aggregation(name)
        if self.tok.kind == "punct" and self.tok.text == "(":
            return Call(name, self.arguments())
        return self.selector(name)

    def aggregation(self, name: str) -> Node:
        if self.tok.text in ("by", "without"):
            self.take()
            self.label_list()
        args = self.arguments()
        if self.tok.text in ("by", "without"):
            self.take()
            self.label_list()
        return Call(name, args)

    def arguments(self) -> tuple[Node, ...]:
        self.expect("(")
        args = []
        while self.tok.text != ")" or self.tok.kind != "punct":
            args.append(self.expr(0))
            if self.tok.text == "," and self.tok.kind == "punct":
                self.take()
            elif self.tok.text != ")":
                raise PromQLError(f"expected ',' or ')' at offset {self.tok.pos}")
        self.take()
        return tuple(args)

    def selector(self, name: str | None) -> Node:
        matchers: list[Matcher] = []
        if self.tok.kind == "punct" and self.tok.text == "{":
            self.take()
            while not (self.tok.kind == "punct" and self.tok.text == "}"):
                label = self.take()
                if label.kind == "string" and self.tok.text in (",", "}"):
                    name = unquote(label.text)  # {"metric.name"}: a quoted metric name (Prometheus 3)
                else:
                    if label.kind not in ("ident", "string"):
                        raise PromQLError(f"expected a label name at offset {label.pos}")
                    op = self.take()
                    if op.kind != "op" or op.text not in ("=", "!=", "=~", "!~"):
                        raise PromQLError(f"expected a label matcher operator at offset {op.pos}")
                    value = self.take()
                    if value.kind != "string":
                        raise PromQLError(f"expected a quoted label value at offset {value.pos}")
                    key = unquote(label.text) if label.kind == "string" else label.text
                    matchers.append(Matcher(key, op.text, unquote(value.text)))
                if self.tok.kind == "punct" and self.tok.text == ",":
                    self.take()
                elif not (self.tok.kind == "punct" and self.tok.text == "}"):
                    raise PromQLError(f"expected ',' or '}}' at offset {self.tok.pos}")
            self.take()
        for m in matchers:
            if m.label == "__name__" and m.op == "=":
                name = m.value
        if name is None and not matchers:
            raise PromQLError("empty selector")
        return Selector(name, tuple(matchers))


def parse(query: str, variables: dict[str, str] | None = None) -> Node:
    """The expression tree of a Flagger query, ``{{ variables.x }}`` replaced from ``variables``."""
    values = variables or {}
    return _parse(_VARIABLE.sub(lambda m: values.get(m.group(1), m.group()), query))


@lru_cache(maxsize=1024)  # each metric rule reads the same queries, in every environment
def _parse(text: str) -> Node:
    return _Parser(tokenize(text)).parse()


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Call):
        return node.args
    if isinstance(node, Unary):
        return (node.expr,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    return ()


def selectors(node: Node) -> list[Selector]:
    """Every series selector in the expression, left to right."""
    if isinstance(node, Selector):
        return [node]
    return [s for child in children(node) for s in selectors(child)]
