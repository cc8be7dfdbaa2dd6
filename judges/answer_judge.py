"""The ``answer`` judge: the sparse reward, 1 when the final answer equals the reference answer.

Equality is math-verify's, run in killable worker processes (:mod:`judges.math_check`). A response
with several different boxed answers earns nothing (hedging is not answering). A reference answer
that is prose ("No such values") or that math-verify cannot parse makes the verdict unscorable: the
judge cannot judge it, which is not the same as the response being wrong.

Every check the judge could not complete is the judge's failure, never the response's: a worker that
died, stalled or broke the protocol, an exception inside math-verify, or a reference whose own check
did not finish all give an unscorable verdict with ``Cause.CHECKER_FAILED``. Only what the answer
itself did pays 0: it differs, it is not mathematics, or it is too long or too costly to check.
The judge pickles as its settings and reattaches to this process's shared worker pool.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from judges.answers import final_answers, is_prose
from judges.math_check import (
    ANSWER_UNPARSABLE,
    CRASHED,
    DIFFERENT,
    EQUAL,
    GOLD_UNPARSABLE,
    TIMEOUT,
    TOO_LONG,
    CheckResult,
    MathCheckPool,
    shared_pool,
)
from judges.verdict import Cause, JudgeItem, Status, Verdict

# What each checker status of the response's answer means: (cause, reason). Statuses not listed are
# the checker's failure, not the response's, and make the verdict unscorable.
_ANSWER_STATUS = {
    DIFFERENT: (Cause.WRONG_ANSWER, "final answer differs from the reference"),
    ANSWER_UNPARSABLE: (Cause.ANSWER_UNPARSABLE, "final answer could not be parsed"),
    TIMEOUT: (Cause.ANSWER_TOO_COSTLY, "final answer took too long to check"),
    TOO_LONG: (Cause.ANSWER_TOO_COSTLY, "final answer is too long to check"),
}
# The reference's answer checked against itself: these statuses mean it cannot be checked at all. Any
# other status but equal (a timeout, a failed worker, an error) says nothing about the reference and
# makes the verdict the checker's failure: treating it as "not checkable" would let the reference judge
# drop the answer checkpoint and pay a wrong answer.
_GOLD_NOT_CHECKABLE = {GOLD_UNPARSABLE, ANSWER_UNPARSABLE, DIFFERENT, TOO_LONG}
_log = logging.getLogger(__name__)


class AnswerJudge:
    """Sparse outcome judge: outcome 1.0 for an equivalent final answer, 0.0 otherwise."""

    name = "answer"
    kinds = ("sparse", "outcome")
    step_values = ()

    def __init__(
        self,
        time_limit: float = 3.0,
        max_answer_chars: int = 1000,
        workers: int = 2,
        answer_format: str = "boxed",
        pool: MathCheckPool | None = None,
    ):
        self.answer_format = answer_format
        final_answers("", answer_format)  # validates the format name now, not at the first batch
        self.pool = pool if pool is not None else shared_pool(workers, time_limit, max_answer_chars)
        """The math-verify workers; by default this process's pool for these settings, shared by judges."""
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
        results = iter(self._check(pairs))
        verdicts = []
        for gold, found in zip(golds, answers):
            gold_check = next(results)
            answer_check = next(results) if len(found) == 1 else None
            verdicts.append(self._verdict(gold, found, gold_check, answer_check))
        self.stats["items"] += len(verdicts)
        self.stats["unscorable"] += sum(not v.ok for v in verdicts)
        return verdicts

    def counters(self) -> dict[str, float]:
        """Judge counts and the worker pool's (checks, timeouts, errors, worker replacements by reason), flat.

        The pool is shared by every judge with the same settings in this process, so its counts are too.
        """
        return {**self.stats, **{f"math_{key}": value for key, value in self.pool.stats.items()}}

    def _check(self, pairs: list[tuple[str, str]]) -> list[CheckResult]:
        """The pool's results; a bug in the pool itself makes every check a checker failure, never a crash."""
        try:
            return self.pool.check_many(pairs)
        except Exception as error:  # noqa: BLE001 - a bug in the pool must not crash training
            _log.exception("the math-verify pool failed on a batch of %d checks", len(pairs))
            return [CheckResult(CRASHED, detail=f"the pool raised {type(error).__name__}")] * len(pairs)

    @staticmethod
    def _verdict(gold: str, found: list[str], gold_check: CheckResult, answer_check: CheckResult | None) -> Verdict:
        if is_prose(gold) or gold_check.status in _GOLD_NOT_CHECKABLE:
            why = "prose" if is_prose(gold) else gold_check.status
            return Verdict.unscorable(
                f"reference answer is not machine-checkable ({why})", Cause.REFERENCE_NOT_CHECKABLE
            )
        if gold_check.status != EQUAL:  # the checker failed on the reference itself: nothing is known of the response
            return Verdict.unscorable(
                f"answer check failed on the reference ({_why(gold_check)})", Cause.CHECKER_FAILED
            )
        if not found:
            return _wrong(Cause.NO_ANSWER, "no final answer given")
        if len(found) > 1:
            return _wrong(Cause.SEVERAL_ANSWERS, f"{len(found)} different final answers given")
        if answer_check.status == EQUAL:
            return Verdict(status=Status.OK, outcome=1.0, answer_correct=True, reason="final answer matches")
        if answer_check.status in _ANSWER_STATUS:
            return _wrong(*_ANSWER_STATUS[answer_check.status])
        return Verdict.unscorable(f"answer check failed ({_why(answer_check)})", Cause.CHECKER_FAILED)


def _why(check: CheckResult) -> str:
    return f"{check.status}: {check.detail}" if check.detail else check.status


def _wrong(cause: Cause, reason: str) -> Verdict:
    return Verdict(status=Status.OK, outcome=0.0, answer_correct=False, reason=reason, cause=cause)
