"""Finding the final answer in a response, and telling whether a reference answer can be checked by machine."""

from __future__ import annotations

import re

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_LAST_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
# LaTeX commands and function names that are maths, not prose, when deciding if an answer is prose.
_MATH_WORDS = {
    "frac",
    "dfrac",
    "tfrac",
    "sqrt",
    "cdot",
    "times",
    "div",
    "pm",
    "mp",
    "infty",
    "pi",
    "sin",
    "cos",
    "tan",
    "cot",
    "sec",
    "csc",
    "log",
    "ln",
    "exp",
    "lim",
    "sum",
    "prod",
    "binom",
    "choose",
    "left",
    "right",
    "le",
    "leq",
    "ge",
    "geq",
    "neq",
    "ne",
    "text",
    "mathrm",
    "mathbf",
    "emptyset",
    "cup",
    "cap",
    "in",
    "and",
    "max",
    "min",
    "gcd",
    "lcm",
    "mod",
    "pmod",
    "bmod",
    "floor",
    "ceil",
    "lfloor",
    "rfloor",
    "lceil",
    "rceil",
    "circ",
    "degree",
    "alpha",
    "beta",
    "gamma",
    "delta",
    "theta",
    "lambda",
    "mu",
    "sigma",
    "omega",
    "phi",
    "dots",
    "ldots",
    "cdots",
    "boxed",
    "arcsin",
    "arccos",
    "arctan",
    "sinh",
    "cosh",
    "tanh",
    "det",
}


def boxed_answers(text: str) -> list[str]:
    """The contents of every ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced, in order.

    An unclosed box is ignored: a response that was cut off has not given that answer. Braces are
    matched in one pass, so many unclosed boxes cost linear time, not quadratic.
    """
    starts = [match.end() for match in _BOXED.finditer(text)]
    if not starts:
        return []
    closing, stack = {}, []
    for position in range(starts[0] - 1, len(text)):
        char = text[position]
        if char == "{":
            stack.append(position)
        elif char == "}" and stack:
            closing[stack.pop()] = position
    return [text[start : closing[start - 1]].strip() for start in starts if start - 1 in closing]


# "the answer is X", "Answer: X", "final answer = X": X runs to the end of its sentence or line.
_STATED_ANSWER = re.compile(
    r"\banswers?\b[^.\n\d=:]{0,24}?(?:\bis\b|:|=)[ \t]*(?P<answer>[^\n]{1,300}?)(?=\.(?:\s|$)|\n|$)", re.IGNORECASE
)
_FILLER = re.compile(r"^(?:(?:therefore|thus|then|hence|simply|exactly|just|so|indeed)\b[ ,]*)+", re.IGNORECASE)
_DELIMITERS = re.compile(r"^(?:\$+|\\\(|\\\[)|(?:\$+|\\\)|\\\])$")


def stated_answers(text: str) -> list[tuple[int, str]]:
    """(position, text) of every final answer stated in words ("the answer is 5", "Answer: $x=2$"), in order.

    Prose after "is" ("the answer is not 5", "the answer is that ...") is not an answer; boxed answers
    are read by :func:`boxed_answers` instead.
    """
    found = []
    for match in _STATED_ANSWER.finditer(text):
        answer = _FILLER.sub("", match.group("answer").strip())
        for _ in range(2):
            answer = _DELIMITERS.sub("", answer.strip().rstrip(",;:")).strip()
        word = re.match(r"[A-Za-z]{2,}", answer)
        if not answer or "\\boxed" in answer or (word and word.group().lower() not in _MATH_WORDS):
            continue
        found.append((match.start(), answer))
    return found


ANSWER_FORMATS = ("boxed", "boxed_or_last_number", "boxed_or_stated")


def final_answers(text: str, answer_format: str = "boxed") -> list[str]:
    """The distinct final answers a response gives (whitespace-insensitive), in order of appearance.

    ``answer_format="boxed"`` reads only ``\\boxed{}``; ``"boxed_or_last_number"`` falls back to the last
    number in the text when nothing is boxed (useful for tiny models that rarely box); ``"boxed_or_stated"``
    (see :func:`stated_value`) falls back to the last answer stated in words, then to the last number.
    """
    if answer_format not in ANSWER_FORMATS:
        raise ValueError(f"answer_format must be one of {', '.join(map(repr, ANSWER_FORMATS))}, got {answer_format!r}")
    found = boxed_answers(text)
    if not found and answer_format == "boxed_or_last_number":
        numbers = _LAST_NUMBER.findall(text)
        found = numbers[-1:]
    elif not found and answer_format == "boxed_or_stated":
        found = stated_value(text)
    distinct: dict[str, str] = {}
    for answer in found:
        distinct.setdefault(re.sub(r"\s+", "", answer), answer)
    return [a for a in distinct.values() if a]


def stated_value(text: str) -> list[str]:
    """The value an unboxed response ends on: its last answer stated in words ("the answer is 7", "Final
    Answer: 7"), else its last number; [] when it states no number at all.

    This is the "correct value stated, boxed or not" check (``answer_format="boxed_or_stated"``), a held-out
    measure that moves before a small model learns to box. It reads *one* value, the response's final one, and
    never asks whether the reference's value occurs somewhere in the text, because that would be easy to game
    and would measure nothing: a response listing many numbers, or saying "the answer is 1 ... the answer is
    2 ...", would pass as soon as one of them is right. With one value read, spraying candidates is worth no
    more than stating a single guess, and restating the question ("What is 3 + 4?") ends on an operand, which
    passes only where that operand is the answer (as any single guess would). An answer stated in words wins over
    a later number, so "the answer is 7. Check: 7 - 4 = 3" reads 7; a box wins over both (in
    :func:`final_answers`), so on the same responses this check passes wherever the boxed check passes, and a
    wrong box is not rescued by a right value in the text. The price: a right value followed by more numbers (a
    response that computes 2, then rambles on to 11) fails, so the measure errs on the strict side.
    """
    stated = stated_answers(text)
    if stated:
        return [stated[-1][1]]
    return _LAST_NUMBER.findall(text)[-1:]


_VERDICT_WORDS = re.compile(r"^\W*(yes|no|true|false|none|never|always)\b", re.IGNORECASE)


def is_prose(answer: str) -> bool:
    """True for a worded answer: "Yes"/"No"-style, or words (3+ letters) that are not maths ("No such values")."""
    words = re.findall(r"[A-Za-z]{3,}", answer)
    return bool(_VERDICT_WORDS.match(answer)) or any(word.lower() not in _MATH_WORDS for word in words)
