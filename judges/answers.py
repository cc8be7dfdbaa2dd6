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


def final_answers(text: str, answer_format: str = "boxed") -> list[str]:
    """The distinct final answers a response gives (whitespace-insensitive), in order of appearance.

    ``answer_format="boxed"`` reads only ``\\boxed{}``; ``"boxed_or_last_number"`` falls back to the last
    number in the text when nothing is boxed (useful for tiny models that rarely box).
    """
    if answer_format not in ("boxed", "boxed_or_last_number"):
        raise ValueError(f"answer_format must be 'boxed' or 'boxed_or_last_number', got {answer_format!r}")
    found = boxed_answers(text)
    if not found and answer_format == "boxed_or_last_number":
        numbers = _LAST_NUMBER.findall(text)
        found = numbers[-1:]
    distinct: dict[str, str] = {}
    for answer in found:
        distinct.setdefault(re.sub(r"\s+", "", answer), answer)
    return [a for a in distinct.values() if a]


_VERDICT_WORDS = re.compile(r"^\W*(yes|no|true|false|none|never|always)\b", re.IGNORECASE)


def is_prose(answer: str) -> bool:
    """True for a worded answer: "Yes"/"No"-style, or words (3+ letters) that are not maths ("No such values")."""
    words = re.findall(r"[A-Za-z]{3,}", answer)
    return bool(_VERDICT_WORDS.match(answer)) or any(word.lower() not in _MATH_WORDS for word in words)
