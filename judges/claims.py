"""What a reasoning step claims: the values it states as results, the arithmetic it does, and which of it is false.

Pure functions over text, used by the ``reference`` judge and the rule-based rubric builder. Text is
first rewritten into plain notation (:mod:`judges.notation`: LaTeX, Unicode, thousands separators),
then cut into tokens by :mod:`judges.arithmetic` (one regex without nested quantifiers), and everything
after that walks the token list: the whole analysis is linear in the text's length (the old nested-quantifier
patterns backtracked exponentially on ``1 + 2 + ... + 14 is the sum``), and it checks a :class:`Deadline`.

- A value counts as *stated* only in result position (after ``=``, "is", "equals", "gives", ...), and
  only when it is the whole result (``= 70+99`` states nothing); a fraction in lowest terms (``= 3/4``,
  ``\\frac{3}{4}``) counts too. Repeating the question's numbers or listing numbers claims nothing.
- An *arithmetic run* is a stretch of numbers, operators and parentheses; runs joined by ``=`` (or
  "is", "equals", ...) form a chain, and each adjacent pair in a chain is an equation. A run is
  *plain* when it is complete arithmetic on its own: not glued to a name (``2y``, ``x(2)``, ``x_6``),
  a LaTeX command, a factorial or an ellipsis, and not continuing an expression with a variable or an
  operator word (``x - 2 * 3``, ``100 questions x 20/100``, ``mod 11``). Plain runs are evaluated by a
  small parser (no ``eval``; bounded powers, magnitudes and nesting).
- An equation is *false* when both sides are plain, one has an operator, and they differ: a single
  number must match up to the rounding its own decimals imply; two expressions of whole numbers must be
  equal, or the right one must continue from the left one's value (the running total ``3 + 4 = 7 * 2``
  that worked solutions write). Pairs it cannot decide (rounded decimals on both sides) are not false;
  a word links an equation only after an expression (``6 * 2 is 13``, not "... at most 1324 is 2^10"),
  and steps that work modulo something (``mod``, ``≡``) are not checked.
- Each stated result records what it is the result of (:attr:`Claim.source`), and each number used as
  an operand is recorded with its position, so the judge can tell which results a response never uses.
- Values a true chain computes without stating them (``13 - 14 * 2 = 13 - 28``: 28) are *derived*; each
  true equation is also a *derivation* (inputs -> outputs), which the judge uses to tell whether a route
  it does not know still computes the answer from the question's numbers.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence

import attrs

from judges.arithmetic import (
    ARITH_KINDS,
    CHECK_EVERY,
    MAX_LITERAL_CHARS,
    NotArithmetic,
    Token,
    evaluate_arithmetic,
    evaluate_tokens,
    literal,
    number,
    token_readings,
    tokenize,
)
from judges.deadline import Deadline
from judges.notation import Normalized, normalize

LINK_WORDS = frozenset({"is", "equals", "gives", "makes", "are", "yields"})
"""Words that join two sides of an equation, like ``=``."""
RESULT_WORDS = LINK_WORDS | {"get", "gets", "total", "totals"}
"""Words after which a number is a stated result."""
ANSWER_WORDS = frozenset({"answer", "answers"})
ANSWER_WINDOW = 4  # tokens between "answer" and its result marker ("the answer, therefore, is 5")
MAX_LOOKBACK = 40  # tokens read back from a result marker to tell what the result is of
MAX_UNIT_TOKENS = 4  # unit tokens between a number and its operator ("30 fourth graders - 5", "945 patients/week * 2")
# Words that make the number next to them an operand of something this module does not evaluate.
OPERATOR_WORDS = frozenset(
    {
        "mod",
        "modulo",
        "pmod",
        "bmod",
        "choose",
        "over",
        "times",
        "plus",
        "minus",
        "divided",
        "by",
        "per",
        "squared",
        "cubed",
        "than",
        "power",
        "root",
    }
)
MODULAR_WORDS = frozenset({"mod", "modulo", "pmod", "bmod", "congruent"})
"""In a step that works modulo something, ``=`` often means congruence: its equations are not checked."""
ARTICLES = frozenset({"a", "A", "I"})  # single-letter words that are English, not variables or "x"
_SENTENCE_END = ",;:?!]"
_COMPARISONS = "<>≤≥≠"

# --- runs, chains and results --------------------------------------------------------------------------


@attrs.frozen
class Run:
    """A plain arithmetic run: tokens ``[start, end)`` of a step's token list."""

    start: int
    end: int
    readings: tuple[float, ...]
    """Its value under each admissible reading (standard first)."""
    subvalues: tuple[float, ...]
    """Values of its binary operations."""
    literals: tuple[float, ...]
    """Its numbers as written, with their signs (a ``%`` divides by 100)."""
    single: str | None
    """The signed number text when the run is just one number, else None."""
    percent: bool
    """Whether a single number carries ``%``."""
    rounded: bool
    """Whether any of its numbers has decimals (so it may be rounded)."""
    leading: float | None
    """Its first number when it starts with one (a running total continues from it)."""


@attrs.frozen
class Claim:
    """A value stated as a result."""

    value: float
    position: int
    """Start of its number in the normalized text."""
    marker: str
    """What put it in result position: ``=``, ``≈``, a result word, or ``answer`` ("the answer is 5")."""
    source: str = "named"
    """What it is the result of: ``computed`` (arithmetic on numbers, units allowed: ``84 years - 80 years =
    4``), ``equation`` (arithmetic with an unknown: ``2x + 70 = 272``) or ``named`` (no arithmetic:
    ``x = 101``, "the total is 28080")."""


@attrs.frozen
class Derivation:
    """One true equation: outputs computed from inputs."""

    inputs: tuple[float, ...]
    outputs: tuple[float, ...]


@attrs.frozen
class StepClaims:
    """Everything the judge reads from one step."""

    results: tuple[Claim, ...] = ()
    """Stated results, in order."""
    false: tuple[tuple[int, int], ...] = ()
    """Normalized spans of false equations."""
    derived: tuple[float, ...] = ()
    """Values true chains compute without stating them."""
    derivations: tuple[Derivation, ...] = ()
    """True equations, in order."""
    operands: tuple[tuple[float, int], ...] = ()
    """(value with its sign, position) of every number used as an operand (see :func:`_is_operand`)."""

    @property
    def answers(self) -> tuple[Claim, ...]:
        return tuple(c for c in self.results if c.marker == "answer")

    @property
    def values(self) -> tuple[float, ...]:
        """Every value the step states or derives."""
        return tuple(c.value for c in self.results) + self.derived


def _is_link(token: Token) -> bool:
    return token.kind == "eq" or (token.kind == "word" and token.text.lower() in LINK_WORDS)


def _adjacent(left: Token, right: Token) -> bool:
    return left.end == right.start


def _prose(word: str) -> bool:
    """Whether a word next to a number is prose rather than a variable or an operator word."""
    return (len(word) > 1 or word in ARTICLES) and word.lower() not in OPERATOR_WORDS


def _clean_before(tokens: Sequence[Token], index: int, signed: bool) -> bool:
    """Whether the token before ``tokens[index]`` ends whatever came before (a run may start here)."""
    if index == 0:
        return True
    before, first = tokens[index - 1], tokens[index]
    if _is_link(before):
        return True
    if before.kind == "word":  # "a 6 * 2" starts a run; "x - 2", "x 20/100", "mod 11" and "2y" do not
        return not _adjacent(before, first) and not signed and _prose(before.text)
    if before.kind == "other":
        if before.text == ".":  # a sentence end, not "...99"
            dots = index >= 2 and tokens[index - 2].text == "." and _adjacent(tokens[index - 2], before)
            return not _adjacent(before, first) and not dots
        return before.text in _SENTENCE_END + _COMPARISONS + "["
    return False


def _clean_after(tokens: Sequence[Token], index: int) -> bool:
    """Whether the token at ``index`` (just after a run) ends it."""
    if index >= len(tokens):
        return True
    after, last = tokens[index], tokens[index - 1]
    if _is_link(after):
        return True
    if after.kind == "word":  # "= 13 days" ends; "= 2y", "= 2 mod 7" continue
        return not _adjacent(last, after) and _prose(after.text)
    if after.kind == "other":
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        glued_next = following is not None and _adjacent(after, following)
        if after.text in ".,":  # "12." ends a sentence; "99...99" and "1,5" continue
            return not (glued_next and (following.kind == "num" or following.text == "."))
        if after.text == "!":  # factorial
            return not _adjacent(last, after)
        return after.text in _SENTENCE_END + _COMPARISONS
    return False


def _trim(tokens: Sequence[Token], start: int, end: int) -> tuple[int, int] | None:
    """The run without unmatched outer parentheses (``(3 + 4 = 7)``); None if unbalanced inside."""
    opens, closes = [], []
    for index in range(start, end):
        kind = tokens[index].kind
        if kind == "lp":
            opens.append(index)
        elif kind == "rp":
            if opens:
                opens.pop()
            else:
                closes.append(index)
    if opens != list(range(start, start + len(opens))):
        return None
    first_close = end - len(closes)
    if closes != list(range(first_close, end)):
        return None
    return start + len(opens), first_close


def _plain_run(tokens: Sequence[Token], start: int, end: int) -> Run | None:
    """The run ``[start, end)`` as plain arithmetic, or None when it is not (see module docstring)."""
    trimmed = _trim(tokens, start, end)
    if trimmed is None or trimmed[0] >= trimmed[1]:
        return None
    core_start, core_end = trimmed
    first, last = tokens[core_start], tokens[core_end - 1]
    signed = first.kind == "op"
    if (signed and first.text not in "+-") or last.kind == "op":
        return None
    if core_start == start and not _clean_before(tokens, start, signed):
        return None
    if core_end == end and not _clean_after(tokens, end):
        return None
    readings = token_readings(tokens, core_start, core_end)
    if not readings:
        return None
    try:
        subvalues = evaluate_tokens(tokens, core_start, core_end)[1]
    except NotArithmetic:
        subvalues = []
    literals, body = [], []
    for index in range(core_start, core_end):
        token = tokens[index]
        if token.kind == "num":
            percent = index + 1 < core_end and tokens[index + 1].kind == "pct"
            negative = (
                index > core_start
                and tokens[index - 1].text == "-"
                and (index - 1 == core_start or tokens[index - 2].kind in ("op", "lp"))
            )  # a sign, not a subtraction
            literals.append((-1 if negative else 1) * literal(token.text) / (100 if percent else 1))
        if token.kind not in ("pct", "lp", "rp"):
            body.append(token)
    single = None
    if len(body) == 1 or (len(body) == 2 and body[0].kind == "op"):
        single = ("-" if body[0].text == "-" else "") + body[-1].text
    numbers = [t for t in body if t.kind == "num"]
    return Run(
        start=core_start,
        end=core_end,
        readings=tuple(readings),
        subvalues=tuple(subvalues),
        literals=tuple(literals),
        single=single,
        percent=single is not None and tokens[core_end - 1].kind == "pct",
        rounded=any("." in t.text for t in numbers),
        leading=literal(first.text) if first.kind == "num" else None,
    )


def _rounds_to(exact: float, stated_text: str) -> bool:
    """True when the stated number equals ``exact`` up to the rounding its own decimals imply."""
    stated = float(stated_text)
    decimals = len(stated_text.split(".", 1)[1]) if "." in stated_text else 0
    return abs(exact - stated) <= 0.5 * 10**-decimals + 1e-9 * max(1.0, abs(exact))


def same(a: float, b: float) -> bool:
    """Numeric equality up to float noise (how checkpoints and answers are matched)."""
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


def _equation(left: Run, right: Run) -> bool | None:
    """True/False for an equation between two plain runs, None when it cannot be decided."""
    if left.single is not None and right.single is not None:
        return None  # "12 = 12", "x = 5 = n": no arithmetic to check
    if right.single is not None or left.single is not None:
        stated, expression = (right, left) if right.single is not None else (left, right)
        scale = 100 if stated.percent else 1
        text = stated.single
        return any(_rounds_to(value * scale, text) for value in expression.readings)
    if left.rounded or right.rounded:
        return None
    for value in left.readings:
        if any(same(value, other) for other in right.readings):
            return True
        if right.leading is not None and same(value, right.leading):
            return True  # a running total: "3 + 4 = 7 * 2"
    return False


def _runs(tokens: Sequence[Token]) -> list[tuple[int, int]]:
    """Maximal stretches of arithmetic tokens, as [start, end) index pairs."""
    runs, start = [], None
    for index, token in enumerate(tokens):
        if token.kind in ARITH_KINDS:
            if start is None:
                start = index
        elif start is not None:
            runs.append((start, index))
            start = None
    if start is not None:
        runs.append((start, len(tokens)))
    return runs


def _fraction(tokens: Sequence[Token], start: int, end: int) -> float | None:
    """The value of a stated fraction in lowest terms (``3/4``, ``((3)/(4))``, ``-(1/2)``), or None."""
    body = [t for t in tokens[start:end] if t.kind not in ("lp", "rp")]
    sign = 1.0
    if body and body[0].kind == "op" and body[0].text in "+-":
        sign, body = (-1.0 if body[0].text == "-" else 1.0), body[1:]
    if len(body) != 3 or body[1].text != "/" or body[0].kind != "num" or body[2].kind != "num":
        return None
    if any("." in t.text or len(t.text) > MAX_LITERAL_CHARS for t in (body[0], body[2])):
        return None
    if _trim(tokens, start, end) is None:
        return None
    numerator, denominator = int(body[0].text), int(body[2].text)
    if denominator <= 1 or math.gcd(numerator, denominator) != 1:
        return None
    return sign * numerator / denominator


def _result_after(tokens: Sequence[Token], index: int, run_end: dict[int, int]) -> tuple[float, int] | None:
    """(value, token index) of the result stated right after a marker at ``index - 1``, or None."""
    count, position, sign = len(tokens), index, 1.0
    signed = position + 1 < count and tokens[position].kind == "op" and tokens[position].text in "+-"
    if signed and tokens[position + 1].kind == "num":
        sign, position = (-1.0 if tokens[position].text == "-" else 1.0), position + 1
    if position < count and tokens[position].kind == "num":
        after = position + 1
        if after < count and tokens[after].kind == "pct":
            after += 1
        value = number(tokens[position].text)
        if value is not None and not _continued(tokens, position, after):
            return sign * value, position
    if index in run_end:
        value = _fraction(tokens, index, run_end[index])
        if value is not None and _clean_after(tokens, run_end[index]):
            return value, index
    return None


def _continued(tokens: Sequence[Token], number: int, after: int) -> bool:
    """Whether the number at ``number`` goes on into a larger expression at ``after``."""
    if after >= len(tokens):
        return False
    token = tokens[after]
    following = tokens[after + 1] if after + 1 < len(tokens) else None
    if token.kind == "op":
        return token.text == "^" or (following is not None and following.kind in ("num", "lp"))
    if token.kind == "lp":
        return _adjacent(tokens[after - 1], token)
    if token.kind == "word" and len(token.text) == 1:
        return _adjacent(tokens[after - 1], token)  # "2x" is a coefficient, not a result
    if token.text in ".," and following is not None and following.kind == "num":
        return _adjacent(tokens[number], token) and _adjacent(token, following)
    return False


def _marker(tokens: Sequence[Token], index: int) -> str | None:
    """What makes ``tokens[index]`` a result marker (``=``, a result word, ``answer``), or None."""
    token = tokens[index]
    if token.kind == "eq" or (token.kind == "word" and token.text.lower() in RESULT_WORDS):
        kind = token.text.lower()
    elif token.text.lower() == "to" and index > 0 and tokens[index - 1].text.lower() == "equal":
        kind = "equals"  # "is equal to 23"
    elif token.text == ":":
        kind = None
    else:
        return None
    for before in tokens[max(0, index - ANSWER_WINDOW) : index]:
        if before.kind == "word" and before.text.lower() in ANSWER_WORDS:
            return "answer"
    return kind


def _source(tokens: Sequence[Token], marker: int) -> str:
    """What the statement before the result marker at ``marker`` computes (see :attr:`Claim.source`); after a
    word ("the smallest value is 2") the statement is prose: ``named``."""
    if tokens[marker].kind != "eq":
        return "named"
    operator = unknown = False
    index = marker - 1
    while index >= 0 and marker - index <= MAX_LOOKBACK:
        token = tokens[index]
        if token.kind == "eq" or (token.kind == "other" and token.text in ".,;:!?") or _is_link(token):
            break
        following = tokens[index + 1] if index + 1 < marker else None
        glued = following is not None and _adjacent(token, following)
        if token.kind == "op" and index > 0 and tokens[index - 1].kind in ("num", "rp", "pct", "word"):
            operator = True
        elif token.kind == "word" and (
            not _prose(token.text)
            or "_" in token.text
            or any(c.isdigit() for c in token.text)
            or (glued and following.kind == "lp")
        ):
            unknown = unknown or token.text.lower() not in OPERATOR_WORDS
        elif token.kind == "num" and glued and following.kind == "word":
            operator = unknown = True  # "2x"
        index -= 1
    if operator:
        return "equation" if unknown else "computed"
    return "named"


def analyse_tokens(tokens: Sequence[Token], deadline: Deadline | None = None) -> StepClaims:
    """The claims of one step, from its tokens (see the module docstring)."""
    run_bounds = _runs(tokens)
    run_end = {start: end for start, end in run_bounds}
    plain: dict[int, Run | None] = {}
    results, false, derived, derivations, operands = [], [], [], [], []
    for count, (start, end) in enumerate(run_bounds):
        if deadline is not None and count % CHECK_EVERY == 0:
            deadline.check()
        plain[start] = _plain_run(tokens, start, end)
    for index, token in enumerate(tokens):
        if token.kind == "num" and _is_operand(tokens, index):
            value = number(token.text)
            if value is not None:
                operands.append((-value if _signed_negative(tokens, index) else value, token.start))
        fraction = _fraction_operand(tokens, index)
        if fraction is not None:
            operands.append((fraction, token.start))
    modular = any(t.kind == "word" and t.text.lower() in MODULAR_WORDS or t.text == "≡" for t in tokens)
    for previous, following in itertools.pairwise(run_bounds):
        link = previous[1]
        if following[0] != link + 1 or not _is_link(tokens[link]) or tokens[link].text == "≈":
            continue
        left, right = plain[previous[0]], plain[following[0]]
        if left is None or right is None or modular:
            continue
        if tokens[link].kind == "word" and left.single is not None:
            continue  # "... less than or equal to 1324 is 2^10": a word links prose, not two numbers
        verdict = _equation(left, right)
        if verdict is False:
            false.append((tokens[left.start].start, tokens[right.end - 1].end))
        elif verdict is True:
            found = [
                v
                for v in right.literals
                if right.single is None
                and any(same(v, s) for s in left.subvalues)
                and not any(same(v, x) for x in left.literals)
            ]
            derived.extend(found)
            rest = tuple(v for v in right.literals if not any(same(v, d) for d in found))
            if right.single is not None:
                inputs = left.literals
            elif left.single is not None:
                inputs = rest
            else:
                inputs = left.literals + rest
            outputs = (*left.readings[:1], *right.readings[:1], *left.subvalues, *right.subvalues)
            derivations.append(Derivation(inputs, outputs))
    for index, token in enumerate(tokens):
        if token.kind not in ("eq", "word", "other"):
            continue
        marker = _marker(tokens, index)
        if marker is not None:
            found = _result_after(tokens, index + 1, run_end)
            if found is not None:
                results.append(Claim(found[0], tokens[found[1]].start, marker, _source(tokens, index)))
    return StepClaims(tuple(results), tuple(false), tuple(derived), tuple(derivations), tuple(operands))


def _is_operand(tokens: Sequence[Token], index: int) -> bool:
    """Whether the number at ``index`` is used: an operator and another operand after it (a unit may come
    between: ``30 boys - 5``, ``945 patients/week * 2``), an operator before it (possibly through an opening
    parenthesis) with an operand or a unit before that (``32 girls + 64 boys``, ``5*(46)``; not the sign in
    ``= -5``), or ``=`` right after it."""
    count, after = len(tokens), index + 1
    if after < count and tokens[after].kind == "pct":
        after += 1
    for _ in range(MAX_UNIT_TOKENS):
        if after < count and tokens[after].kind == "word" and _unit(tokens[after].text):
            after += 1
        elif after + 1 < count and tokens[after].text == "/" and tokens[after + 1].kind == "word":
            after += 2  # "patients/week"
    if after + 1 < count and tokens[after].kind == "op" and tokens[after + 1].kind in ("num", "lp"):
        return True
    if index + 1 < count and tokens[index + 1].text == "=":
        return True  # the left side of an equation: "9 = x_1^2 + ..."
    before = index - 1
    while before > 0 and tokens[before].kind == "lp":
        before -= 1
    if before < 1 or tokens[before].kind != "op":
        return False
    operand = tokens[before - 1]
    return operand.kind in ("num", "rp", "pct") or (operand.kind == "word" and _unit(operand.text))


def _signed_negative(tokens: Sequence[Token], index: int) -> bool:
    """Whether the number at ``index`` carries a minus sign (``-1 * 2``, ``= -15``), not a subtraction."""
    if index == 0 or tokens[index - 1].text != "-":
        return False
    before = tokens[index - 2] if index >= 2 else None
    return before is None or before.kind in ("op", "lp", "eq") or _is_link(before) or before.kind == "other"


def _fraction_operand(tokens: Sequence[Token], index: int) -> float | None:
    """The value of a fraction ``a/b`` starting at ``index`` that is itself an operand (``2 * 1/3``,
    ``149/180*1440``), else None."""
    if index + 2 >= len(tokens) or tokens[index + 1].text != "/" or tokens[index].kind != "num":
        return None
    numerator, denominator = tokens[index], tokens[index + 2]
    before = index > 0 and tokens[index - 1].kind == "op"
    after = index + 3 < len(tokens) and tokens[index + 3].kind == "op"
    if denominator.kind != "num" or not (before or after):
        return None
    a, b = number(numerator.text), number(denominator.text)
    return a / b if a is not None and b else None


def _unit(word: str) -> bool:
    """Whether a word may be a unit after a number ("boys", "km"), not a result word or a conjunction."""
    return word.lower() not in RESULT_WORDS and word.lower() not in ("and", "or", "so", "then", "but")


# --- whole responses -----------------------------------------------------------------------------------


@attrs.frozen
class ResponseClaims:
    """A response read once: its normalized text and the claims of each step."""

    normalized: Normalized
    steps: tuple[StepClaims, ...]


def analyse(text: str, spans: Sequence[tuple[int, int]], deadline: Deadline | None = None) -> ResponseClaims:
    """Normalize ``text`` once, tokenize it once, and read the claims of each step span (source positions)."""
    normalized = normalize(text, deadline)
    tokens = tokenize(normalized.text, deadline)
    starts = [token.start for token in tokens]
    steps = []
    for start, end in spans:
        first, last = normalized.window(start, end)
        steps.append(
            analyse_tokens(tokens[bisect.bisect_left(starts, first) : bisect.bisect_left(starts, last)], deadline)
        )
    return ResponseClaims(normalized, tuple(steps))


def _whole(text: str) -> tuple[ResponseClaims, StepClaims]:
    claims = analyse(text, [(0, len(text))])
    return claims, claims.steps[0]


def stated_results(step: str) -> list[float]:
    """Values the step states as results, in order."""
    return [claim.value for claim in _whole(step)[1].results]


def false_equations(step: str) -> list[str]:
    """The equations in the step whose stated result is wrong, as written in the step."""
    claims, found = _whole(step)
    spans = (claims.normalized.source_span(a, b) for a, b in found.false)
    return [step[a:b] for a, b in spans]


def value_of(answer: str) -> float | None:
    """The number an answer denotes (``28,080``, ``-15``, ``\\frac{1}{2}``, ``2^{10}``), or None."""
    return evaluate_arithmetic(answer)


def tonumber(text: str) -> float | None:
    """The number a token like ``£2,340`` or ``-3.5`` denotes, or None."""
    return value_of(text)
