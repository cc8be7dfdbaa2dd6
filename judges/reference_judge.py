"""The ``reference`` judge: offline, deterministic step-level rewards against the hidden reference.

It implements ExpRL's process judge with rules instead of a model. Each problem's rubric (checkpoints
the reference establishes, :mod:`judges.rubric`) is built once. A response is split into steps; step k
*establishes* an intermediate checkpoint when it states that value as a result (numeric equality, not
string matching), and the answer checkpoint when its boxed final answer is equivalent to the
reference's (math-verify in the sandboxed pool, via the ``answer`` judge); a response that boxes nothing
may still establish the answer value as a stated result, for partial credit. s_k is the weight of the
checkpoints established by steps 1..k (the answer weighs half when there are intermediate checkpoints).

Contradiction rule: the first step with false arithmetic (``6 * 2 = 13``) or a wrong or hedged boxed
answer is ``first_error_step``, and no step from it on earns credit. A response that sprays many
distinct values (more than ``max(12, 4 x checkpoints)``) earns nothing: listing candidates is not
reasoning. The outcome score is the final s_K.
"""

from __future__ import annotations

from typing import Sequence

from judges.answer_judge import AnswerJudge
from judges.answers import boxed_answers
from judges.claims import false_equations, stated_results, to_number
from judges.rubric import Rubric, cached_rubric
from judges.steps import split_steps
from judges.verdict import Cause, JudgeItem, Status, Verdict

VERSION = "reference-1"


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


def _weights(rubric: Rubric, answer_checkable: bool) -> tuple[float, float]:
    """(weight of each intermediate checkpoint, weight of the answer checkpoint)."""
    count = len(rubric.intermediate)
    if not answer_checkable:
        return (1.0 / count if count else 0.0), 0.0
    answer = 0.5 if count else 1.0
    return ((1.0 - answer) / count if count else 0.0), answer


class ReferenceJudge:
    """Rule-based outcome and process judge (see module docstring)."""

    name = "reference"
    kinds = ("sparse", "outcome", "process")
    version = VERSION

    def __init__(self, split: str = "auto", time_limit: float = 3.0, workers: int = 2, answer_format: str = "boxed"):
        split_steps("", split)  # validates the method name now
        self.split = split
        self.answers = AnswerJudge(time_limit=time_limit, workers=workers, answer_format=answer_format)
        self.stats = {"items": 0, "unscorable": 0}

    def score_batch(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        answer_verdicts = self.answers.score_batch(items)  # one pooled math-verify batch for all answers
        verdicts = [self._score(item, answer) for item, answer in zip(items, answer_verdicts)]
        self.stats["items"] += len(verdicts)
        self.stats["unscorable"] += sum(not v.ok for v in verdicts)
        return verdicts

    def _score(self, item: JudgeItem, answer: Verdict) -> Verdict:
        rubric = cached_rubric(item.problem)
        if not answer.ok and answer.cause is not Cause.REFERENCE_NOT_CHECKABLE:  # the checker failed: judge nothing
            return Verdict.unscorable(f"answer check failed: {answer.reason}", answer.cause)
        answer_checkable = rubric.answer is not None and answer.ok
        if not rubric.intermediate and not answer_checkable:
            return Verdict.unscorable("the reference has no checkpoint this judge can check", Cause.REFERENCE_NOT_CHECKABLE)
        response = item.response
        spans = list(item.step_spans or split_steps(response, self.split) or [(0, len(response))])
        steps = [response[a:b] for a, b in spans]
        claims = [stated_results(step) for step in steps]
        distinct = {round(v, 6) for values in claims for v in values}
        spray_limit = max(12, 4 * len(rubric.checkpoints))
        if len(distinct) > spray_limit:
            zeros = tuple(0.0 for _ in spans)
            return Verdict(Status.OK, outcome=0.0, step_scores=zeros, step_spans=tuple(spans), first_error_step=0,
                           answer_correct=answer.answer_correct, cause=Cause.SPRAY,
                           reason=f"{len(distinct)} distinct stated values (limit {spray_limit})")
        first_error = self._first_error(steps, answer)
        per_step, per_answer = _weights(rubric, answer_checkable)
        boxed_anywhere = bool(boxed_answers(response))
        answer_value = to_number(rubric.answer.value) if rubric.answer else None
        established, scores, total = set(), [], 0.0
        for k, (step, values) in enumerate(zip(steps, claims)):
            if first_error is None or k < first_error:
                for index, checkpoint in enumerate(rubric.intermediate):
                    if index not in established and any(_same(to_number(checkpoint.value), v) for v in values):
                        established.add(index)
                        total += per_step
                if answer_checkable and "answer" not in established and (
                    (answer.answer_correct and boxed_answers(step))
                    or (not boxed_anywhere and answer_value is not None and any(_same(answer_value, v) for v in values))
                ):
                    established.add("answer")
                    total += per_answer
            scores.append(min(1.0, round(total, 9)))
        reason = f"{len(established)}/{len(rubric.checkpoints)} checkpoints; first error step {first_error}"
        return Verdict(Status.OK, outcome=scores[-1], step_scores=tuple(scores), step_spans=tuple(spans),
                       first_error_step=first_error, answer_correct=answer.answer_correct, reason=reason)

    @staticmethod
    def _first_error(steps: list[str], answer: Verdict) -> int | None:
        """The first step with false arithmetic, or with a boxed answer when the final answer is wrong."""
        for k, step in enumerate(steps):
            if false_equations(step) or (answer.answer_correct is False and boxed_answers(step)):
                return k
        return None
