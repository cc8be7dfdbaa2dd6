"""Plain arithmetic in text: one tokenizer and a small evaluator, both linear and bounded.

The ``reference`` judge must read ordinary model output without ever freezing the trainer, so nothing here
uses a regex with nested quantifiers or ``eval``: text (already rewritten into plain notation by
:mod:`judges.notation`) is cut into tokens by one flat regex, and a recursive-descent parser evaluates a
token range with ``+ - * / ÷ ^``, parentheses and ``%``, under bounds on literal length, magnitude, powers and
nesting. :mod:`judges.claims` builds on these tokens to find what a step states and which equations are false.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import re
from collections.abc import Sequence
from typing import NamedTuple

from judges.deadline import Deadline
from judges.notation import normalize

MAX_MAGNITUDE = 1e30
MAX_LITERAL_CHARS = 40
MAX_NESTING = 60
CHECK_EVERY = 512  # tokens between deadline checks

_TOKEN = re.compile(
    r"(?P<num>[0-9]+(?:\.[0-9]+)?)"
    r"|(?P<word>[^\W\d_]\w*)"
    r"|(?P<cmd>\\[A-Za-z]+|\\.)"
    r"|(?P<op>[-+*/÷^])"
    r"|(?P<eq>[=≈])"
    r"|(?P<lp>\()"
    r"|(?P<rp>\))"
    r"|(?P<pct>%)"
    r"|(?P<space>\s+)"
    r"|(?P<other>.)",
    re.DOTALL,
)
ARITH_KINDS = frozenset({"num", "op", "lp", "rp", "pct"})


class Token(NamedTuple):
    kind: str
    """num, word, cmd, op, eq, lp, rp, pct or other."""
    text: str
    start: int
    end: int


def tokenize(text: str, deadline: Deadline | None = None) -> list[Token]:
    """The tokens of (normalized) text, whitespace dropped; positions index ``text``."""
    tokens = []
    for count, match in enumerate(_TOKEN.finditer(text)):
        if deadline is not None and count % CHECK_EVERY == 0:
            deadline.check()
        if match.lastgroup != "space":
            tokens.append(Token(match.lastgroup, match.group(), match.start(), match.end()))
    return tokens


# --- evaluation ----------------------------------------------------------------------------------------


class NotArithmetic(ValueError):
    """The tokens are not plain arithmetic this module can evaluate."""


def literal(text: str) -> float:
    if len(text) > MAX_LITERAL_CHARS:
        raise NotArithmetic("number too long to check")
    return float(text)


def number(text: str) -> float | None:
    """A number token's value, or None when it is too long to be a checkable value."""
    return float(text) if len(text) <= MAX_LITERAL_CHARS else None


def apply(op: str, left: float, right: float) -> float:
    if op == "+":
        result = left + right
    elif op == "-":
        result = left - right
    elif op == "*":
        result = left * right
    elif op in "/÷":
        if right == 0:
            raise NotArithmetic("division by zero")
        result = left / right
    else:
        if abs(right) > 64 or abs(left) > 1e6:
            raise NotArithmetic("power too large to check")
        result = left**right
    if isinstance(result, complex) or not math.isfinite(result) or abs(result) > MAX_MAGNITUDE:
        raise NotArithmetic("result out of range")
    return result


class _Parser:
    """Recursive descent over tokens ``[start, end)``: ``+ -`` < ``* / ÷`` < unary sign < ``^`` (right)."""

    def __init__(self, tokens: Sequence[Token], start: int, end: int):
        self.tokens, self.position, self.end, self.depth = tokens, start, end, 0
        self.subvalues: list[float] = []

    def parse(self) -> float:
        value = self._sum()
        if self.position != self.end:
            raise NotArithmetic("trailing tokens")
        return value

    def _peek(self, kind: str, texts: str | None = None) -> Token | None:
        if self.position < self.end:
            token = self.tokens[self.position]
            if token.kind == kind and (texts is None or token.text in texts):
                return token
        return None

    def _binary(self, left: float, op: str, right: float) -> float:
        value = apply(op, left, right)
        self.subvalues.append(value)
        return value

    def _sum(self) -> float:
        value = self._product()
        while token := self._peek("op", "+-"):
            self.position += 1
            value = self._binary(value, token.text, self._product())
        return value

    def _product(self) -> float:
        value = self._signed()
        while token := self._peek("op", "*/÷"):
            self.position += 1
            value = self._binary(value, token.text, self._signed())
        return value

    def _signed(self) -> float:
        if token := self._peek("op", "+-"):
            self.position += 1
            value = self._nested(self._signed)
            return -value if token.text == "-" else value
        return self._power()

    def _power(self) -> float:
        base = self._atom()
        if self._peek("op", "^"):
            self.position += 1
            return self._binary(base, "^", self._nested(self._signed))
        return base

    def _atom(self) -> float:
        if token := self._peek("num"):
            self.position += 1
            value = literal(token.text)
        elif self._peek("lp"):
            self.position += 1
            value = self._nested(self._sum)
            if not self._peek("rp"):
                raise NotArithmetic("unbalanced parentheses")
            self.position += 1
        else:
            raise NotArithmetic("expected a number")
        if self._peek("pct"):
            self.position += 1
            value /= 100
        return value

    def _nested(self, parse) -> float:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise NotArithmetic("nested too deeply")
        value = parse()
        self.depth -= 1
        return value


def evaluate_tokens(tokens: Sequence[Token], start: int, end: int) -> tuple[float, list[float]]:
    """(value, values of its binary operations) of tokens ``[start, end)``; raises NotArithmetic."""
    parser = _Parser(tokens, start, end)
    return parser.parse(), parser.subvalues


def token_readings(tokens: Sequence[Token], start: int, end: int) -> list[float]:
    """The values a person may mean: standard precedence, and ``÷`` splitting the whole expression
    (``10÷1/2`` read as 10 ÷ (1/2), as worked solutions commonly write it)."""
    values = []
    with contextlib.suppress(NotArithmetic):
        values.append(evaluate_tokens(tokens, start, end)[0])
    splits = [i for i in range(start, end) if tokens[i].text == "÷"]
    if splits:
        try:
            bounds = [start, *splits, end]
            parts = [evaluate_tokens(tokens, a + (a != start), b)[0] for a, b in itertools.pairwise(bounds)]
            total = parts[0]
            for part in parts[1:]:
                total = apply("/", total, part)
            values.append(total)
        except NotArithmetic:
            pass
    return values


def evaluate_arithmetic(expression: str) -> float | None:
    """The value of a plain arithmetic expression (``+ - * / × ÷ ^``, parentheses, LaTeX), or None."""
    tokens = tokenize(normalize(expression).text)
    try:
        return evaluate_tokens(tokens, 0, len(tokens))[0] if tokens else None
    except NotArithmetic:
        return None
