"""Rubrics: the key checkpoints a solution must establish, built once per problem from its reference.

ExpRL's process judge first extracts 2-6 checkpoints from the reference, then rates each response step
against them. This module holds the rubric value and the rule-based builder: the results the
reference's steps establish (the value after the last ``=`` of each equation chain; quantities the
question already gives, and 0 and ±1, are excluded: restating a given or a trivial value is no
progress) plus the final answer. An
LLM-based builder produces the same :class:`Rubric`. Rubrics quote the reference, so they are
judge-side only, like the reference itself.
"""

from __future__ import annotations

import re

import attrs

from judges.problem import Problem
from judges.answers import is_prose
from judges.claims import NOT_CONTINUED, NUMBER, to_number

RULE_BUILDER_VERSION = "rule-1"
MAX_INTERMEDIATE = 5
TRIVIAL = {0.0, 1.0, -1.0}  # too common in any solution to show progress on this one

# A result: a number right after "=", not itself the start of a longer expression ("= 70+99" is not one).
_RESULT = re.compile(r"=\s*(" + NUMBER + ")" + NOT_CONTINUED)
_ANY_NUMBER = re.compile(NUMBER)


@attrs.frozen
class Checkpoint:
    """One thing a correct solution establishes."""

    description: str
    """What to establish, in words (may quote the reference)."""
    value: str | None
    """The value a response must state, as maths; None for checkpoints only an LLM can check."""
    is_answer: bool = False
    """Whether this is the final answer."""


@attrs.frozen
class Rubric:
    """The checkpoints of one problem, in the order the reference establishes them."""

    problem_id: str
    checkpoints: tuple[Checkpoint, ...]
    builder: str
    """Which builder and version made it (part of the cache key)."""

    @property
    def answer(self) -> Checkpoint | None:
        return next((c for c in self.checkpoints if c.is_answer), None)

    @property
    def intermediate(self) -> tuple[Checkpoint, ...]:
        return tuple(c for c in self.checkpoints if not c.is_answer)


def _spread(items: list, keep: int) -> list:
    """At most ``keep`` items, evenly spaced, always keeping the last."""
    if len(items) <= keep:
        return items
    step = (len(items) - 1) / (keep - 1)
    return [items[round(i * step)] for i in range(keep)]


def build_rule_rubric(problem: Problem) -> Rubric:
    """Checkpoints from the reference's equation results and its final answer (see module docstring)."""
    reference = problem.reference.unseal()
    givens = {to_number(m) for m in _ANY_NUMBER.findall(problem.question)} | TRIVIAL
    answer_value = to_number(reference.answer)
    seen, intermediate = set(givens) | {answer_value}, []
    for step in reference.steps:
        for match in _RESULT.finditer(step):
            value = to_number(match.group(1))
            if value is not None and value not in seen:
                seen.add(value)
                intermediate.append(Checkpoint(f"establishes {match.group(1).strip()} ({step})", _plain(value)))
    checkpoints = _spread(intermediate, MAX_INTERMEDIATE)
    if not is_prose(reference.answer):
        checkpoints.append(Checkpoint(f"final answer {reference.answer}", reference.answer, is_answer=True))
    return Rubric(problem.id, tuple(checkpoints), RULE_BUILDER_VERSION)


def _plain(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


_CACHE: dict[tuple[str, str, str], Rubric] = {}


def cached_rubric(problem: Problem, builder=build_rule_rubric, version: str = RULE_BUILDER_VERSION) -> Rubric:
    """The problem's rubric, built once per (problem id, reference fingerprint, builder version)."""
    key = (problem.id, problem.reference.fingerprint, version)
    if key not in _CACHE:
        _CACHE[key] = builder(problem)
    return _CACHE[key]
