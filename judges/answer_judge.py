"""The ``answer`` judge: the sparse reward, 1 when the final answer equals the reference answer.

Equality is math-verify's, run in killable worker processes (:mod:`judges.math_check`). A response
with several different boxed answers earns nothing (hedging is not answering). A reference answer
that is prose ("No such values") or that math-verify cannot parse makes the verdict unscorable: the
judge cannot judge it, which is not the same as the response being wrong.
"""

from __future__ import annotations

from typing import Sequence

from judges.answers import final_answers, is_prose
from judges.math_check import ANSWER_UNPARSABLE, DIFFERENT, EQUAL, GOLD_UNPARSABLE, TIMEOUT, TOO_LONG, shared_pool
from judges.verdict import Cause, JudgeItem, Status, Verdict

# What each checker status of the response's answer means: (cause, reason). Statuses not listed are
# the checker's failure, not the response's, and make the verdict unscorable.
_ANSWER_STATUS = {
    DIFFERENT: (Cause.WRONG_ANSWER, "final answer differs from the reference"),
    ANSWER_UNPARSABLE: (Cause.ANSWER_UNPARSABLE, "final answer could not be parsed"),
    TIMEOUT: (Cause.ANSWER_TOO_COSTLY, "final answer took too long to check"),
    TOO_LONG: (Cause.ANSWER_TOO_COSTLY, "final answer is too long to check"),
}
# The reference's answer checked against itself: these statuses mean it cannot be checked at all.
_GOLD_NOT_CHECKABLE = {GOLD_UNPARSABLE, ANSWER_UNPARSABLE, DIFFERENT, TOO_LONG}


class AnswerJudge:
    """Sparse outcome judge: outcome 1.0 for an equivalent final answer, 0.0 otherwise."""

    name = "answer"
    kinds = ("sparse", "outcome")

    def __init__(
        self,
        time_limit: float = 3.0,
        max_answer_chars: int = 1000,
        workers: int = 2,
        answer_format: str = "boxed",
    ):
        self.answer_format = answer_format
        final_answers("", answer_format)  # validates the format name now, not at the first batch
        self.pool = shared_pool(workers, time_limit, max_answer_chars)
        self.stats = {"items": 0, "unscorable": 0}

    def score_batch(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        """Judge every item; reference answers are first checked against themselves (memoised)."""
        golds = [item.problem.reference.unseal().answer for item in items]
        answers = [final_answers(item.response, self.answer_format) for item in items]
        pairs = []
        for gold, found in zip(golds, answers):
            pairs.append((gold, gold))
            if len(found) == 1:
                pairs.append((gold, found[0]))
        results = iter(self.pool.check_many(pairs))
        verdicts = []
        for gold, found in zip(golds, answers):
            gold_check = next(results)
            answer_check = next(results) if len(found) == 1 else None
            verdicts.append(self._verdict(gold, found, gold_check.status, answer_check and answer_check.status))
        self.stats["items"] += len(verdicts)
        self.stats["unscorable"] += sum(not v.ok for v in verdicts)
        return verdicts

    @staticmethod
    def _verdict(gold: str, found: list[str], gold_status: str, answer_status: str | None) -> Verdict:
        if is_prose(gold) or gold_status in _GOLD_NOT_CHECKABLE:
            why = "prose" if is_prose(gold) else gold_status
            return Verdict.unscorable(f"reference answer is not machine-checkable ({why})", Cause.REFERENCE_NOT_CHECKABLE)
        if gold_status != EQUAL:  # the checker failed on the reference itself: nothing about the response is known
            return Verdict.unscorable(f"answer check failed on the reference ({gold_status})")
        if not found:
            return _wrong(Cause.NO_ANSWER, "no final answer given")
        if len(found) > 1:
            return _wrong(Cause.SEVERAL_ANSWERS, f"{len(found)} different final answers given")
        if answer_status == EQUAL:
            return Verdict(status=Status.OK, outcome=1.0, answer_correct=True, reason="final answer matches")
        if answer_status in _ANSWER_STATUS:
            return _wrong(*_ANSWER_STATUS[answer_status])
        return Verdict.unscorable(f"answer check failed ({answer_status})")


def _wrong(cause: Cause, reason: str) -> Verdict:
    return Verdict(status=Status.OK, outcome=0.0, answer_correct=False, reason=reason, cause=cause)
