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

from exprl_env.problem import Problem

RewardKind = Literal["sparse", "outcome", "process"]
Span = tuple[int, int]


class Status(str, enum.Enum):
    OK = "ok"
    UNSCORABLE = "unscorable"


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
    """Process score s_k in [0, 1] after each step k (credit for steps 1..k); None if not computed."""
    step_spans: tuple[Span, ...] | None = None
    """Character span of each scored step in the response, aligned with ``step_scores``."""
    first_error_step: int | None = None
    """0-based index of the first step the judge found wrong, None if none (or not judged)."""
    answer_correct: bool | None = None
    """Whether the final answer matches the reference; None if unknown."""
    reason: str = ""
    """Judge-side explanation; may quote the reference, so it never goes to the policy."""

    def __attrs_post_init__(self) -> None:
        if self.step_scores is not None:
            for score in self.step_scores:
                _unit_interval(self, attrs.fields(Verdict).step_scores, score)
            if self.step_spans is not None and len(self.step_spans) != len(self.step_scores):
                raise ValueError("Verdict.step_spans and step_scores must have the same length")

    @classmethod
    def unscorable(cls, reason: str) -> "Verdict":
        return cls(status=Status.UNSCORABLE, reason=reason)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def public(self) -> dict[str, Any]:
        """The fields the policy side may see: scores and positions, never the reason."""
        return {
            "verdict_status": self.status.value,
            "outcome_score": self.outcome,
            "step_scores": self.step_scores,
            "step_spans": self.step_spans,
            "first_error_step": self.first_error_step,
            "answer_correct": self.answer_correct,
        }
