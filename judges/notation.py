"""One plain notation for arithmetic, whatever way a response writes it, with every position traceable back.

The rule-based judge reads numbers, operators and ``=`` out of free text, and a rule that only knows
``6 * 2 = 13`` misses the same claim written ``6 \\times 2 = 13``, ``$6 \\cdot 2 = 13$``, ``6 x 2 = 13`` or
in full-width digits. So every response (and every reference) is rewritten once, before any rule
runs, into plain ASCII arithmetic:

- LaTeX: ``\\times \\cdot \\ast`` -> ``*``, ``\\div`` -> ``÷`` (kept apart from ``/``, see
  :func:`judges.claims.readings`), ``\\frac{a}{b}`` -> ``((a)/(b))``, other braces -> parentheses,
  ``\\text{..}`` and ``\\boxed{..}`` keep their content, ``\\left``/``\\right`` and spacing commands go,
  math-mode delimiters (``$``, ``\\(``, ``\\[``) become spaces, ``**`` -> ``^``;
- Unicode: other scripts' digits and full-width forms -> ASCII (NFKC), ``× · ⋅ ∗`` -> ``*``, ``− –`` -> ``-``,
  ``∕ ⁄`` -> ``/``, superscript digits -> ``^(..)``, vulgar fractions -> ``(n/d)``, currency signs -> spaces;
- numbers: thousands separators (``28,080``, ``28{,}080``, ``28\\,080``, thin spaces) are dropped;
  ``x`` between two numbers (or a unit and a number: ``32 girls x 2``) and the words times / plus / minus /
  divided by between two numbers become operators; a number or ``)`` right before ``(`` multiplies
  (``2(19)``, ``(3+4)(5)``).

The result keeps, for each of its characters, the index of the response character it came from
(:class:`Normalized`), so steps split on the original text map onto it exactly. Both passes are
single regex scans whose patterns have no nested quantifiers: linear time in the text's length.
"""

from __future__ import annotations

import bisect
import re
import unicodedata

import attrs

from judges.deadline import Deadline

THIN_SPACE = "\u2009"  # kept through the first pass only, as a candidate thousands separator

_FIRST = re.compile(
    r"(?P<frac>\\[dtc]?frac(?=\s*\{))"
    r"|(?P<textual>\\(?:text|textbf|textit|textrm|textsf|mathrm|mathbf|mathit|mathsf|mbox|operatorname)(?=\s*\{))"
    r"|(?P<box>\\(?:boxed|fbox)(?=\s*\{))"
    r"|(?P<command>\\[A-Za-z]+)"
    r"|(?P<symbol>\\[^A-Za-z])"
    r"|(?P<brace_comma>\{,\})"
    r"|(?P<open>\{)"
    r"|(?P<close>\})"
    r"|(?P<power>\*\*)"
    r"|(?P<dollar>\$)"
    r"|(?P<superscript>[⁺⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)"
    r"|(?P<wide>[^\x00-\x7f])"
)
_SECOND = re.compile(
    r"(?P<thousands>(?<![\d.,])\d{1,3}(?:[,\u2009]\d{3})+(?![\d]|[,\u2009]\d))"
    r"|(?P<times>(?<=\d)[ \t]*[xX][ \t]*(?=[\d(])|(?<=[A-Za-z])[ \t]+x[ \t]+(?=\d))"
    r"|(?P<word_op>(?<=\d)[ \t]+(?:times|multiplied[ \t]+by|plus|minus|divided[ \t]+by)[ \t]+(?=[\d(]))"
    r"|(?P<implicit>(?<=[\d)])(?=\())"
    r"|(?P<thin>\u2009)",
    re.IGNORECASE,
)
_COMMANDS = {
    "times": "*",
    "cdot": "*",
    "ast": "*",
    "cdotp": "*",
    "div": "÷",
    "approx": "≈",
    "simeq": "≈",
    "neq": "≠",
    "ne": "≠",
    "leq": "≤",
    "le": "≤",
    "geq": "≥",
    "ge": "≥",
    "lt": "<",
    "gt": ">",
    "cdots": "...",
    "ldots": "...",
    "dots": "...",
    "dotsb": "...",
    "dotsc": "...",
    "quad": " ",
    "qquad": " ",
    "left": "",
    "right": "",
    "big": "",
    "Big": "",
    "bigg": "",
    "Bigg": "",
    "bigl": "",
    "bigr": "",
    "Bigl": "",
    "Bigr": "",
    "biggl": "",
    "biggr": "",
    "Biggl": "",
    "Biggr": "",
    "displaystyle": "",
    "textstyle": "",
    "scriptstyle": "",
    "limits": "",
    "nolimits": "",
    "mod": " mod ",
    "bmod": " mod ",
    "pmod": " mod ",
    "equiv": "≡",
}
_SYMBOLS = {"\\,": THIN_SPACE, "\\%": "%", "\\#": "#", "\\&": "&", "\\_": "_"}  # all others: a space
_WIDE = {
    "×": "*",
    "⋅": "*",
    "·": "*",
    "∙": "*",
    "∗": "*",
    "✕": "*",
    "✖": "*",
    "⨉": "*",
    "÷": "÷",
    "∕": "/",
    "⁄": "/",
    "−": "-",
    "‒": "-",
    "–": "-",
    "﹣": "-",
    "－": "-",
    "≃": "≈",
    "≅": "≈",
    "£": " ",
    "€": " ",
    "¥": " ",
    "₹": " ",
    "¢": " ",
    "₩": " ",
    "₽": " ",
    "\u00a0": " ",
    "\u2009": THIN_SPACE,
    "\u202f": THIN_SPACE,
    "\u2007": THIN_SPACE,
    "…": "...",
}
_SUPERSCRIPT = str.maketrans("⁺⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "+-0123456789")
_WORD_OPS = {"times": "*", "multiplied": "*", "plus": "+", "minus": "-", "divided": "/"}
_NEXT_BRACE = re.compile(r"\s*\{")
_CHECK_EVERY = 512  # matches between deadline checks


@attrs.frozen
class Normalized:
    """A text rewritten into plain notation, and where each of its characters came from."""

    text: str
    """The rewritten text."""
    origin: tuple[int, ...]
    """``origin[i]``: where the source construct that produced ``text[i]`` starts (non-decreasing)."""
    ends: tuple[int, ...]
    """``ends[i]``: where that construct ends (exclusive): ``\\times`` -> ``*`` covers all of ``\\times``."""
    source_length: int
    """Length of the source text."""

    def window(self, start: int, end: int) -> tuple[int, int]:
        """The slice of :attr:`text` produced by the source characters ``start..end`` (exclusive)."""
        return bisect.bisect_left(self.origin, start), bisect.bisect_left(self.origin, end)

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The source span that produced ``text[start:end]`` (a non-empty slice)."""
        if end <= start:
            position = self.origin[start] if start < len(self.origin) else self.source_length
            return position, position
        return self.origin[start], self.ends[end - 1]


class _Writer:
    """Accumulates output pieces and, per output character, the source span it came from."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.origin: list[int] = []
        self.ends: list[int] = []

    def copy(self, text: str, start: int, end: int, back: tuple[list[int], list[int]] | None = None) -> None:
        """Copy ``text[start:end]`` unchanged (``back`` maps those positions further back, if given)."""
        if end > start:
            self.pieces.append(text[start:end])
            if back is None:
                self.origin.extend(range(start, end))
                self.ends.extend(range(start + 1, end + 1))
            else:
                self.origin.extend(back[0][start:end])
                self.ends.extend(back[1][start:end])

    def put(self, replacement: str, source: int, source_end: int) -> None:
        """Write ``replacement`` for the construct at ``source..source_end``."""
        if replacement:
            self.pieces.append(replacement)
            self.origin.extend([source] * len(replacement))
            self.ends.extend([source_end] * len(replacement))

    def result(self) -> tuple[str, list[int], list[int]]:
        return "".join(self.pieces), self.origin, self.ends


def _wide(char: str) -> str:
    """The plain form of one non-ASCII character."""
    if char in _WIDE:
        return _WIDE[char]
    if unicodedata.category(char) == "Nd":
        return str(unicodedata.decimal(char))
    if unicodedata.numeric(char, None) is not None and "⁄" in unicodedata.normalize("NFKC", char):
        return "(" + unicodedata.normalize("NFKC", char).replace("⁄", "/") + ")"  # ½ -> (1/2)
    folded = unicodedata.normalize("NFKC", char)
    return "".join(_WIDE.get(c, c) for c in folded)


def _first_pass(text: str, deadline: Deadline | None) -> tuple[str, list[int], list[int]]:
    """LaTeX, math mode and Unicode to plain characters (thousands separators still in place)."""
    out, stack, pending, last = _Writer(), [], None, 0
    for count, match in enumerate(_FIRST.finditer(text)):
        if deadline is not None and count % _CHECK_EVERY == 0:
            deadline.check()
        start, kind, token = match.start(), match.lastgroup, match.group()
        out.copy(text, last, start)
        last = match.end()
        if kind == "frac":
            out.put("(", start, last)
            pending = "numerator"
        elif kind in ("textual", "box"):
            out.put(" ", start, last)
            pending = "words"
        elif kind == "command":
            out.put(_COMMANDS.get(token[1:], token), start, last)
        elif kind == "symbol":
            out.put(_SYMBOLS.get(token, " "), start, last)
        elif kind == "brace_comma":
            out.put(",", start + 1, start + 2)
        elif kind == "open":
            group = pending or "group"
            stack.append(group)
            out.put(" " if group == "words" else "(", start, last)
            pending = None
        elif kind == "close":
            group = stack.pop() if stack else "group"
            if group == "numerator":
                followed = _NEXT_BRACE.match(text, last) is not None
                out.put(")/" if followed else "))", start, last)
                pending = "denominator" if followed else None
            else:
                out.put({"words": " ", "denominator": "))"}.get(group, ")"), start, last)
        elif kind == "power":
            out.put("^", start, last)
        elif kind == "dollar":
            out.put(" ", start, last)
        elif kind == "superscript":
            out.put("^(" + token.translate(_SUPERSCRIPT) + ")", start, last)
        else:
            out.put(_wide(token), start, last)
    out.copy(text, last, len(text))
    return out.result()


def _second_pass(
    text: str, back: tuple[list[int], list[int]], deadline: Deadline | None
) -> tuple[str, list[int], list[int]]:
    """Thousands separators out; ``x`` and operator words between numbers to operators."""
    out, last = _Writer(), 0
    origin, ends = back
    for count, match in enumerate(_SECOND.finditer(text)):
        if deadline is not None and count % _CHECK_EVERY == 0:
            deadline.check()
        start, kind, token = match.start(), match.lastgroup, match.group()
        out.copy(text, last, start, back)
        last = match.end()
        if kind == "thousands":
            for offset, char in enumerate(token):
                if char.isdigit():
                    out.put(char, origin[start + offset], ends[start + offset])
        elif kind == "implicit":
            out.put("*", origin[start], origin[start])
        else:
            replacement = {"times": " * ", "thin": " "}.get(kind) or f" {_WORD_OPS[token.split()[0].lower()]} "
            out.put(replacement, origin[start], ends[last - 1])
    out.copy(text, last, len(text), back)
    return out.result()


def normalize(text: str, deadline: Deadline | None = None) -> Normalized:
    """``text`` in plain arithmetic notation (see the module docstring), with positions back into ``text``."""
    if deadline is not None:
        deadline.check()
    first, origin, ends = _first_pass(text, deadline)
    second, origin, ends = _second_pass(first, (origin, ends), deadline)
    return Normalized(second, tuple(origin), tuple(ends), len(text))
