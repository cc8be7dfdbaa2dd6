"""What a judge is asked (:class:`JudgeItem`) and what it answers (:class:`Verdict`).

A verdict is either ``ok`` (scores are meaningful) or ``unscorable`` (the judge could not judge: the
server was down, its answer did not parse, the reference is not machine-checkable). Unscorable is
never a score of 0: agents mask it out of the loss and metrics count it. ``reason`` is for people and
may quote the reference, so it stays on the judge side; :meth:`Verdict.public` is what the policy side
(observations, ``info``) may carry.
"""

from __future__ import annotations

import enum
import math
from typing import Any, Literal

import attrs

from judges.problem import Problem

RewardKind = Literal["sparse", "outcome", "process"]
Span = tuple[int, int]


class Status(str, enum.Enum):
    OK = "ok"
    UNSCORABLE = "unscorable"


class Cause(str, enum.Enum):
    """Why a verdict is what it is, for code to branch on (``reason`` is prose, for people).

    The first group are the response's doing: the verdict is ``ok`` and pays what it pays. The second
    are the judge's side: the verdict is ``unscorable`` (masked and counted, never a 0).
    """

    JUDGED = "judged"
    """An ordinary judgement."""
    NO_ANSWER = "no_answer"
    """The response gives no final answer."""
    SEVERAL_ANSWERS = "several_answers"
    """The response commits to several different final answers (a hedge is not an answer)."""
    WRONG_ANSWER = "wrong_answer"
    """The final answer differs from the reference's."""
    ANSWER_UNPARSABLE = "answer_unparsable"
    """The final answer is not mathematics the checker can read."""
    ANSWER_TOO_COSTLY = "answer_too_costly"
    """The final answer is too long or too slow to check (an answer built to stall the checker)."""
    SPRAY = "spray"
    """The response states so many different values that stating them is not reasoning."""

    REFERENCE_NOT_CHECKABLE = "reference_not_checkable"
    """The reference gives this judge nothing it can check (a prose answer, no checkpoint)."""
    CHECKER_FAILED = "checker_failed"
    """The judge's own machinery failed on this item (a checker process died or stalled, an internal error)."""
    ROUTE_NOT_CHECKABLE = "route_not_checkable"
    """The final answer is right but the response skips the reference's checkpoints by a route this judge
    cannot check (a bare answer, or reasoning it cannot read): it cannot tell a valid route from a guess."""
    JUDGE_TIMEOUT = "judge_timeout"
    """The judge ran past its deadline for this item."""
    BACKEND_FAILED = "backend_failed"
    """The model behind the judge could not be reached or answered with an error."""
    VERDICT_UNPARSABLE = "verdict_unparsable"
    """The model behind the judge did not give a valid verdict."""

    @property
    def scorable(self) -> bool:
        """Whether this cause belongs with an ``ok`` verdict (the response's doing)."""
        return self in _RESPONSE_CAUSES


_RESPONSE_CAUSES = frozenset(
    {
        Cause.JUDGED,
        Cause.NO_ANSWER,
        Cause.SEVERAL_ANSWERS,
        Cause.WRONG_ANSWER,
        Cause.ANSWER_UNPARSABLE,
        Cause.ANSWER_TOO_COSTLY,
        Cause.SPRAY,
    }
)


def _default_cause(verdict: Verdict) -> Cause:
    return Cause.JUDGED if verdict.status is Status.OK else Cause.CHECKER_FAILED


def _unit_interval(instance, attribute, value) -> None:
    if value is not None and not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"Verdict.{attribute.name} must be in [0, 1], got {value!r}")


@attrs.frozen
class JudgeItem:
    """One response to judge against one problem's hidden reference."""

    problem: Problem
    """The problem, carrying its sealed reference."""
    response: str
    """The policy's text so far (a whole response, or the steps taken in step mode)."""
    kind: RewardKind = "outcome"
    """Which reward the caller needs; a judge may skip work the others need."""
    step_spans: tuple[Span, ...] | None = None
    """Character spans of the steps when the caller already knows them (step mode); else the judge splits."""


@attrs.frozen
class Verdict:
    """A judge's answer for one item."""

    status: Status
    """``ok``, or ``unscorable`` when the judge could not judge (masked, counted, never 0)."""
    outcome: float | None = attrs.field(default=None, validator=_unit_interval)
    """Outcome-level score in [0, 1]; None when unscorable."""
    step_scores: tuple[float, ...] | None = None
    """Cumulative progress s_k in [0, 1] after each step k: the credit steps 1..k have earned together (the
    environment's process reward pays s_k - s_{k-1}); None if the judge does not measure progress."""
    step_ratings: tuple[float, ...] | None = None
    """Each step's own rating r_k in [0, 1], judged as a next move on the reference's path, whatever came before
    (the paper's step score, (rating - 1) / 4 on its 1-5 scale; what DeltaNorm differences); None if not rated."""
    step_spans: tuple[Span, ...] | None = None
    """Character span of each scored step in the response, aligned with ``step_scores`` and ``step_ratings``."""
    first_error_step: int | None = None
    """0-based index of the first step the judge found wrong, None if none (or not judged)."""
    answer_correct: bool | None = None
    """Whether the final answer matches the reference; None if unknown."""
    reason: str = ""
    """Judge-side explanation; may quote the reference, so it never goes to the policy."""
    cause: Cause = attrs.field(default=attrs.Factory(_default_cause, takes_self=True), converter=Cause)
    """Why, as a value code can branch on; an ``ok`` verdict has a response-side cause, an unscorable one not."""

    def __attrs_post_init__(self) -> None:
        if self.cause.scorable != (self.status is Status.OK):
            raise ValueError(f"Verdict.cause {self.cause.value!r} does not go with status {self.status.value!r}")
        for field in (attrs.fields(Verdict).step_scores, attrs.fields(Verdict).step_ratings):
            scores = getattr(self, field.name)
            if scores is None:
                continue
            for score in scores:
                _unit_interval(self, field, score)
            if self.step_spans is not None and len(self.step_spans) != len(scores):
                raise ValueError(f"Verdict.step_spans and {field.name} must have the same length")

    @classmethod
    def unscorable(cls, reason: str, cause: Cause = Cause.CHECKER_FAILED) -> Verdict:
        return cls(status=Status.UNSCORABLE, reason=reason, cause=cause)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def public(self) -> dict[str, Any]:
        """The fields the policy side may see: scores and positions, never the reason."""
        return {
            "verdict_status": self.status.value,
            "verdict_cause": self.cause.value,
            "outcome_score": self.outcome,
            "step_scores": self.step_scores,
            "step_ratings": self.step_ratings,
            "step_spans": self.step_spans,
            "first_error_step": self.first_error_step,
            "answer_correct": self.answer_correct,
        }
