"""Rubrics: the key checkpoints a solution must establish, built once per problem from its reference.

ExpRL's process judge first extracts 2-6 checkpoints from the reference, then rates each response step
against them. This module holds the rubric value and the rule-based builder: the results the
reference's steps establish (the value after the last ``=`` of each equation chain, read by
:mod:`judges.claims` after notation is normalized; quantities the question already gives, and 0 and ±1,
are excluded: restating a given or a trivial value is no progress) plus the final answer. It also
records the numbers the question gives (digits and number words such as "twice"), which the judge uses
to tell whether a route it does not know starts from the question. An LLM-based
builder produces the same :class:`Rubric`.

A rubric's values are the reference's results, so it is as secret as the reference: checkpoints carry
no text quoted from the reference, and the cache keeps each rubric sealed (compressed and encoded, like
:class:`~judges.problem.SealedReference`), keyed by the reference's fingerprint. Only the judge opens
one, for the item it is scoring.
"""

from __future__ import annotations

import base64
import itertools
import json
import zlib
from collections import OrderedDict

import attrs

from judges.answers import is_prose
from judges.arithmetic import tokenize
from judges.claims import analyse_tokens, value_of
from judges.notation import normalize
from judges.problem import Problem

RULE_BUILDER_VERSION = "rule-3"  # 3: rubrics carry the reference's path
MAX_INTERMEDIATE = 5
TRIVIAL = {0.0, 1.0, -1.0}  # too common in any solution to show progress on this one
CACHE_SIZE = 65536
# Quantities a question may give in words; they count as given like its digits.
NUMBER_WORDS = {
    "half": 0.5,
    "halves": 0.5,
    "quarter": 0.25,
    "twice": 2.0,
    "double": 2.0,
    "doubles": 2.0,
    "triple": 3.0,
    "thrice": 3.0,
    "dozen": 12.0,
    "dozens": 12.0,
    "one": 1.0,
    "two": 2.0,
    "three": 3.0,
    "four": 4.0,
    "five": 5.0,
    "six": 6.0,
    "seven": 7.0,
    "eight": 8.0,
    "nine": 9.0,
    "ten": 10.0,
    "eleven": 11.0,
    "twelve": 12.0,
    "percent": 100.0,
    "hundred": 100.0,
    "thousand": 1000.0,
}


@attrs.frozen
class Checkpoint:
    """One thing a correct solution establishes."""

    description: str
    """Where it comes from ("result of reference step 2", "final answer"); never quotes the reference."""
    value: str | None
    """The value a response must state, as maths; None for checkpoints only an LLM can check."""
    is_answer: bool = False
    """Whether this is the final answer."""
    number: float | None = None
    """The value as a number, when it is one (what the rule-based judge compares)."""


@attrs.frozen
class Rubric:
    """The checkpoints of one problem, in the order the reference establishes them."""

    problem_id: str
    checkpoints: tuple[Checkpoint, ...]
    builder: str
    """Which builder and version made it (part of the cache key)."""
    givens: tuple[float, ...] = ()
    """Numbers the question gives (digits and number words), which a route may start from."""
    stated: tuple[float, ...] = ()
    """Values the question itself states as results (``a_3 = -1``): repeating them answers nothing."""
    path: tuple[float, ...] = ()
    """Every result the reference's equations establish, in order, once each, the final answer included, givens
    and trivial values too (``9 * 1 = 9``): what a step *computing* one of them moves forward. Checkpoints leave
    givens and trivial values out because stating one shows nothing; computing one on the reference's path
    does (the authors' rating 5, "a sub-claim needed right away")."""

    @property
    def answer(self) -> Checkpoint | None:
        return next((c for c in self.checkpoints if c.is_answer), None)

    @property
    def intermediate(self) -> tuple[Checkpoint, ...]:
        return tuple(c for c in self.checkpoints if not c.is_answer)


class SealedRubric:
    """A rubric kept compressed and encoded: ``repr``, ``vars`` and tracebacks show no reference values."""

    __slots__ = ("_blob", "builder", "fingerprint", "problem_id")

    def __init__(self, rubric: Rubric, fingerprint: str):
        payload = json.dumps(attrs.asdict(rubric), ensure_ascii=True).encode()
        object.__setattr__(self, "_blob", base64.b85encode(zlib.compress(payload, 9)))
        object.__setattr__(self, "problem_id", rubric.problem_id)
        object.__setattr__(self, "builder", rubric.builder)
        object.__setattr__(self, "fingerprint", fingerprint)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("SealedRubric is immutable")

    def open(self) -> Rubric:
        """The rubric itself. Only judges call this."""
        data = json.loads(zlib.decompress(base64.b85decode(self._blob)))
        checkpoints = tuple(Checkpoint(**c) for c in data.pop("checkpoints"))
        givens, stated, path = (tuple(data.pop(name)) for name in ("givens", "stated", "path"))
        return Rubric(checkpoints=checkpoints, givens=givens, stated=stated, path=path, **data)

    def __repr__(self) -> str:
        return f"<SealedRubric {self.problem_id} {self.builder} {self.fingerprint}>"

    def __reduce__(self):
        return (_sealed_from_blob, (self._blob, self.problem_id, self.builder, self.fingerprint))

    __str__ = __repr__


def _sealed_from_blob(blob: bytes, problem_id: str, builder: str, fingerprint: str) -> SealedRubric:
    sealed = object.__new__(SealedRubric)
    fields = {"_blob": blob, "problem_id": problem_id, "builder": builder, "fingerprint": fingerprint}
    for name, value in fields.items():
        object.__setattr__(sealed, name, value)
    return sealed


def _spread(items: list, keep: int) -> list:
    """At most ``keep`` items, evenly spaced, always keeping the last."""
    if len(items) <= keep:
        return items
    step = (len(items) - 1) / (keep - 1)
    return [items[round(i * step)] for i in range(keep)]


def _question_tokens(question: str) -> list:
    return tokenize(normalize(question).text)


def question_results(question: str, tokens: list | None = None) -> set[float]:
    """The values a question states as results (``x_1 = 1/2`` gives 0.5)."""
    tokens = _question_tokens(question) if tokens is None else tokens
    return {claim.value for claim in analyse_tokens(tokens).results}


def _written(question: str, tokens: list | None = None) -> set[float]:
    """Numbers written in the question, percentages as fractions too, and the values it states."""
    tokens = _question_tokens(question) if tokens is None else tokens
    numbers = {float(t.text) for t in tokens if t.kind == "num" and len(t.text) <= 40}
    percents = {float(a.text) / 100 for a, b in itertools.pairwise(tokens) if a.kind == "num" and b.kind == "pct"}
    return numbers | percents | question_results(question, tokens)


def question_givens(question: str, tokens: list | None = None) -> tuple[float, ...]:
    """The numbers a question gives: every number written or stated in it, and every number word."""
    tokens = _question_tokens(question) if tokens is None else tokens
    words = {NUMBER_WORDS[t.text.lower()] for t in tokens if t.kind == "word" and t.text.lower() in NUMBER_WORDS}
    return tuple(sorted(_written(question, tokens) | words))


def equation_results(step: str) -> list[float]:
    """The values a reference step establishes: what follows each ``=`` as a whole result."""
    claims = analyse_tokens(tokenize(normalize(step).text))
    return [claim.value for claim in claims.results if claim.marker == "="]


def build_rule_rubric(problem: Problem) -> Rubric:
    """Checkpoints from the reference's equation results and its final answer (see module docstring)."""
    reference = problem.reference.unseal()
    tokens = _question_tokens(problem.question)
    written = _written(problem.question, tokens)
    answer_number = value_of(reference.answer)
    seen = {v for g in written for v in (g, -g)} | TRIVIAL | {answer_number}
    intermediate, path = [], []
    for index, step in enumerate(reference.steps):
        for value in equation_results(step):
            if value not in path:
                path.append(value)
            if value not in seen:
                seen.add(value)
                intermediate.append(Checkpoint(f"result of reference step {index + 1}", _plain(value), number=value))
    checkpoints = _spread(intermediate, MAX_INTERMEDIATE)
    if not is_prose(reference.answer):
        checkpoints.append(Checkpoint("final answer", reference.answer, is_answer=True, number=answer_number))
    return Rubric(
        problem.id,
        tuple(checkpoints),
        RULE_BUILDER_VERSION,
        question_givens(problem.question, tokens),
        tuple(sorted(question_results(problem.question, tokens))),
        tuple(path + ([answer_number] if answer_number is not None and answer_number not in path else [])),
    )


def _plain(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


_CACHE: OrderedDict[tuple[str, str, str], SealedRubric] = OrderedDict()


def cached_rubric(problem: Problem, builder=build_rule_rubric, version: str = RULE_BUILDER_VERSION) -> Rubric:
    """The problem's rubric, built once per (problem id, reference fingerprint, builder version) and kept sealed."""
    key = (problem.id, problem.reference.fingerprint, version)
    sealed = _CACHE.get(key)
    if sealed is None:
        sealed = _CACHE[key] = SealedRubric(builder(problem), problem.reference.fingerprint)
        if len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return sealed.open()
