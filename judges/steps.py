"""Splitting a response into reasoning steps, each with its character span in the response.

Process judges score steps, and an agent puts each step's credit on that step's tokens, so a split must
keep exact positions.

- ``paper`` is the authors' rule, on characters instead of tokens: a step ends right after every ``###``, and
  nothing else splits (see :func:`split_paper`). It is the ``llm`` judge's default under its paper protocol.
- ``headers`` starts a step at every markdown header line; small models rarely write headers, so ``auto`` falls
  back to numbered steps, then blank-line paragraphs, then lines. These are ours, for policies that do not write
  ``###``; their spans are trimmed of surrounding whitespace.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Span = tuple[int, int]

_HEADER = re.compile(r"^[ \t]*#{1,6}[ \t]+\S", re.MULTILINE)
_NUMBERED = re.compile(r"^[ \t]*(?:\*\*)?(?:step[ \t]*\d+\b|\d+[.)][ \t])", re.IGNORECASE | re.MULTILINE)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_STEP_MARK = re.compile(r"#{3,}")


def _trimmed(text: str, start: int, end: int) -> Span | None:
    """The span without surrounding whitespace, or None if nothing is left."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


def _cut_at(text: str, starts: list[int]) -> list[Span]:
    """Spans that begin at each start (text before the first start is a step of its own)."""
    bounds = sorted({0, *starts, len(text)})
    spans = [_trimmed(text, a, b) for a, b in zip(bounds, bounds[1:])]
    return [s for s in spans if s]


def split_headers(text: str) -> list[Span]:
    """A new step at every markdown header line (``### Step 1`` ...), the header starting its step (ours; the
    authors' ``###`` rule is :func:`split_paper`)."""
    return _cut_at(text, [m.start() for m in _HEADER.finditer(text)])


def split_numbered(text: str) -> list[Span]:
    """A new step at every line starting ``Step N``, ``N.`` or ``N)``."""
    return _cut_at(text, [m.start() for m in _NUMBERED.finditer(text)])


def split_paragraphs(text: str) -> list[Span]:
    """Steps separated by blank lines."""
    return _cut_at(text, [m.end() for m in _PARAGRAPH_BREAK.finditer(text)])


def split_lines(text: str) -> list[Span]:
    """Every non-blank line is a step."""
    return _cut_at(text, [i + 1 for i, char in enumerate(text) if char == "\n"])


def split_paper(text: str) -> list[Span]:
    """The authors' step boundaries: a step ends right after every ``###``; no ``###`` means one step.

    Their ``_find_step_spans`` (stage1_verl/verl/trainer/ppo/ray_trainer_genrm.py:1252-1273) walks the response's
    tokens and closes the current step on every token after which the decoded text ends in ``###``; the rest of
    the response is the last step. On characters that is:

    - the ``###`` belongs to the step it closes, and a header's text (`` Step 2: ...``) opens the next step;
    - a response that starts with ``###`` has the bare ``###`` (with any whitespace before it) as its first step,
      which the authors' judge rates like any other step;
    - a ``###`` at the very end opens no empty step.

    Spans are contiguous and not trimmed, so every character (and every token) belongs to the step the authors'
    rule puts it in. Two departures, both at the edges: a run of four or more ``#`` closes one step after the run
    (their rule, on tokens, may close a one-character ``#`` step inside a run of five or more, depending on how
    the tokenizer cuts it; ``####`` is one token in the tokenizers we checked), and a blank last segment (only
    whitespace after the last ``###``) joins the step before it instead of being sent to the judge as a blank
    step. A blank response has no steps.
    """
    if not text.strip():
        return []
    bounds = [0, *(m.end() for m in _STEP_MARK.finditer(text) if m.end() < len(text)), len(text)]
    spans = list(zip(bounds, bounds[1:]))
    if len(spans) > 1 and not text[spans[-1][0] :].strip():
        spans[-2:] = [(spans[-2][0], len(text))]
    return spans


def split_auto(text: str) -> list[Span]:
    """The first of headers, numbered steps, paragraphs that finds two or more steps; else lines."""
    for splitter in (split_headers, split_numbered, split_paragraphs):
        spans = splitter(text)
        if len(spans) >= 2:
            return spans
    return split_lines(text)


SPLITTERS: dict[str, Callable[[str], list[Span]]] = {
    "paper": split_paper,
    "auto": split_auto,
    "headers": split_headers,
    "numbered": split_numbered,
    "paragraphs": split_paragraphs,
    "lines": split_lines,
}


def split_steps(text: str, method: str = "auto") -> list[Span]:
    """Character spans of the steps of ``text`` by the named method (see :data:`SPLITTERS`)."""
    if method not in SPLITTERS:
        raise ValueError(f"step split method must be one of {sorted(SPLITTERS)}, got {method!r}")
    return SPLITTERS[method](text)
