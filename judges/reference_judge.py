"""The ``reference`` judge: offline, deterministic step-level rewards against the hidden reference.

It implements ExpRL's process judge with rules instead of a model. Each problem's rubric (checkpoints
the reference establishes, :mod:`judges.rubric`) is built once. A response is split into steps, its
notation normalized once (:mod:`judges.notation`) and read once (:mod:`judges.claims`); step k
*establishes* an intermediate checkpoint when it states or derives that value (numeric equality, not
string matching). s_k is the weight of the checkpoints established by steps 1..k (the answer weighs
half when there are intermediate checkpoints); the outcome score is the final s_K. Each step also gets its own
rating r_k on the authors' 1-5 scale (``step_ratings``, what their DeltaNorm differences; see
:func:`_step_ratings`).

The final answer is what the response commits to: its boxed answer (checked by math-verify in the
sandboxed pool, via the ``answer`` judge); with nothing boxed, its explicit answer ("the answer is 5");
with neither, the one value it computes and never uses again. A response that commits to several
different final values (several boxes, several "the answer is", or several unused results) has not
answered: the answer checkpoint is not paid.

Contradiction rule: the first step with false arithmetic (``6 * 2 = 13`` in any notation), a wrong
boxed or stated answer, or a second different one (a hedge) is ``first_error_step``, and no step
from it on earns credit. A response that sprays values earns nothing: listing candidates is not
reasoning. A spray is more than 4 distinct results that nothing uses afterwards and that are not
checkpoints (an honest solution uses what it computes; its final answer, its checkpoints and a few side
values stay unused), or more than ``max(48, 8 x checkpoints)`` distinct values in all.

Other routes: a response whose final answer is right but which skips checkpoints of the reference is
paid in full when its own checked arithmetic computes the answer from the question's numbers (each
equation true, each operand given, a common constant, or computed earlier); when it does not (a bare
answer, or reasoning this judge cannot read), the judge cannot tell a valid route from a lucky guess
and says so: the verdict is unscorable (``Cause.ROUTE_NOT_CHECKABLE``, still carrying ``answer_correct``),
not a partial score. A ``sparse`` item gets the answer check alone, as from the ``answer`` judge.

Problems whose final answer this judge cannot check pay only when the reference establishes at least
``MIN_CHECKPOINTS_WITHOUT_ANSWER`` checkable intermediate values; below that one lucky small value
would be worth the whole problem, so they are unscorable.

Time: the text analysis is linear in the response's length and each item has a wall-clock budget
(``item_time_limit``); an item that exceeds it is unscorable (``Cause.JUDGE_TIMEOUT``).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Sequence

import attrs

from judges.answer_judge import AnswerJudge
from judges.answers import boxed_answers, final_answers, stated_answers
from judges.claims import StepClaims, analyse, same, value_of
from judges.deadline import Deadline, DeadlineExceeded
from judges.math_check import ANSWER_UNPARSABLE, CRASHED, DIFFERENT, EQUAL, GOLD_UNPARSABLE, TIMEOUT, TOO_LONG
from judges.rubric import Rubric, cached_rubric
from judges.steps import split_steps
from judges.verdict import Cause, JudgeItem, Status, Verdict

VERSION = "reference-5"  # 3: step_ratings; 4: computing a result of the reference's path rates 5; 5: see _step_ratings
MIN_CHECKPOINTS_WITHOUT_ANSWER = 3
MAX_UNUSED_VALUES = 4  # results nothing uses and no checkpoint asks for: more is a spray (honest: at most 4)
MAX_VALUES = 48  # distinct values in all, beyond 8 per checkpoint: a spray
MAX_STATED_ANSWERS = 2  # distinct answers in words math-verify checks per response; more count as different
_WRONG_STATUSES = {DIFFERENT, TIMEOUT, TOO_LONG}  # a stated answer that is not the reference's (or stalls the check)
# Checker statuses that say something about the stated answer; any other is the checker's own failure.
_ANSWER_STATUSES = _WRONG_STATUSES | {EQUAL, ANSWER_UNPARSABLE, GOLD_UNPARSABLE}
ROUTE_CONSTANTS = frozenset({0.5, 1.0, 2.0, 3.0, 4.0, 7.0, 10.0, 12.0, 24.0, 30.0, 52.0, 60.0, 100.0, 365.0, 1000.0})
"""Numbers a route may use without the question giving them (halves, units of time, percent)."""
_log = logging.getLogger("exprl")


@attrs.frozen
class Final:
    """What the response commits to as its final answer."""

    step: int | None
    """The step that commits to it (where its credit lands), None when there is no single final answer."""
    correct: bool | None
    """Whether it equals the reference's answer; None when unknown or absent."""
    error: int | None
    """The step that commits to a wrong or a second, different final answer (the contradiction rule)."""
    cause: Cause
    """JUDGED, or the response-side reason the answer is not paid."""


def _weights(rubric: Rubric, answer_checkable: bool) -> tuple[float, float]:
    """(weight of each intermediate checkpoint, weight of the answer checkpoint)."""
    count = len(rubric.intermediate)
    if not answer_checkable:
        return (1.0 / count if count else 0.0), 0.0
    answer = 0.5 if count else 1.0
    return ((1.0 - answer) / count if count else 0.0), answer


def _key(value: float) -> float:
    """A value rounded to 9 significant digits, sign dropped (how a route's numbers are matched)."""
    return float(f"{abs(value):.9g}")


def _signed_key(value: float) -> float:
    """A value rounded to 9 significant digits (how results and their later uses are matched)."""
    return float(f"{value:.9g}")


def _step_at(starts: Sequence[int], position: int) -> int:
    """The step (given the steps' start positions) that holds ``position``, or the last one starting before it."""
    return max(0, bisect.bisect_right(starts, position) - 1)


class ReferenceJudge:
    """Rule-based outcome and process judge (see module docstring)."""

    name = "reference"
    kinds = ("sparse", "outcome", "process")
    step_values = ("progress", "ratings")
    version = VERSION

    def __init__(
        self,
        split: str = "auto",
        time_limit: float = 3.0,
        workers: int = 2,
        answer_format: str = "boxed",
        item_time_limit: float = 2.0,
    ):
        split_steps("", split)  # validates the method name now
        Deadline(item_time_limit)  # validates the budget now
        self.split = split
        self.item_time_limit = item_time_limit
        self.answers = AnswerJudge(time_limit=time_limit, workers=workers, answer_format=answer_format)
        self.stats = {"items": 0, "unscorable": 0, "timeouts": 0, "errors": 0}

    def score_batch(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        answer_verdicts = self.answers.score_batch(items)  # one pooled math-verify batch for all answers
        stated = self._check_stated_answers(items)
        verdicts = [self._bounded(item, answer, said) for item, answer, said in zip(items, answer_verdicts, stated)]
        self.stats["items"] += len(verdicts)
        self.stats["unscorable"] += sum(not v.ok for v in verdicts)
        self.stats["timeouts"] += sum(v.cause is Cause.JUDGE_TIMEOUT for v in verdicts)
        return verdicts

    def counters(self) -> dict[str, float]:
        """Judge counts and its math-verify pool's (checks, timeouts, worker replacements by reason), flat."""
        pool = {key: value for key, value in self.answers.counters().items() if key.startswith("math_")}
        return {**self.stats, **pool}

    def _check_stated_answers(self, items: Sequence[JudgeItem]) -> list[list[tuple[int, str, str]]]:
        """(position, answer, status) of each final answer stated in words, for responses that box nothing.

        A number is compared with a numeric reference answer directly; anything else is checked with
        math-verify in the pool (one batch for all items, at most ``MAX_STATED_ANSWERS`` distinct answers per
        response, so a response cannot make the judge run many slow checks); answers beyond count as
        different ones.
        """
        plans, pairs = [], []
        for item in items:
            said = [] if boxed_answers(item.response) else stated_answers(item.response)
            gold = item.problem.reference.unseal().answer if said else ""
            gold_number = value_of(gold) if said else None
            statuses: dict[str, str | int] = {}
            for text in dict.fromkeys(text for _, text in said):
                number = value_of(text) if gold_number is not None else None
                if number is not None:
                    statuses[text] = EQUAL if same(number, gold_number) else DIFFERENT
                elif sum(isinstance(v, int) for v in statuses.values()) < MAX_STATED_ANSWERS:
                    statuses[text] = len(pairs)
                    pairs.append((gold, text))
                else:
                    statuses[text] = DIFFERENT
            plans.append((said, statuses))
        try:
            results = [r.status for r in self.answers.pool.check_many(pairs)] if pairs else []
        except Exception:  # noqa: BLE001 - a bug in the pool makes these items unscorable, never a crash
            results = [CRASHED] * len(pairs)
        return [
            [
                (position, text, results[statuses[text]] if isinstance(statuses[text], int) else statuses[text])
                for position, text in said
            ]
            for said, statuses in plans
        ]

    def _bounded(self, item: JudgeItem, answer: Verdict, stated: list[tuple[int, str, str]]) -> Verdict:
        """One item's verdict within its time budget; a fault of this judge is that item's unscorable verdict."""
        try:
            return self._score(item, answer, stated, Deadline(self.item_time_limit))
        except DeadlineExceeded as error:
            return Verdict.unscorable(f"text analysis {error}", Cause.JUDGE_TIMEOUT)
        except Exception as error:  # noqa: BLE001 - a bug here must cost one item, never the training run
            _log.exception("the reference judge failed on an item of problem %s", item.problem.id)
            self.stats["errors"] += 1
            return Verdict.unscorable(f"text analysis failed ({type(error).__name__})", Cause.CHECKER_FAILED)

    def _score(
        self, item: JudgeItem, answer: Verdict, stated: list[tuple[int, str, str]], deadline: Deadline
    ) -> Verdict:
        if item.kind == "sparse":  # the sparse reward is the answer check alone
            return answer
        rubric = cached_rubric(item.problem)
        if not answer.ok and answer.cause is not Cause.REFERENCE_NOT_CHECKABLE:  # the checker failed: judge nothing
            return Verdict.unscorable(f"answer check failed: {answer.reason}", answer.cause)
        answer_checkable = rubric.answer is not None and answer.ok
        if not answer_checkable and len(rubric.intermediate) < MIN_CHECKPOINTS_WITHOUT_ANSWER:
            return Verdict.unscorable(
                f"the final answer cannot be checked and the reference has {len(rubric.intermediate)} checkable "
                f"intermediate values (fewer than {MIN_CHECKPOINTS_WITHOUT_ANSWER})",
                Cause.REFERENCE_NOT_CHECKABLE,
            )
        response = item.response
        spans = list(item.step_spans or split_steps(response, self.split) or [(0, len(response))])
        claims = analyse(response, spans, deadline).steps
        spray = _spray(claims, rubric)
        if spray:
            zeros = tuple(0.0 for _ in spans)
            return Verdict(
                Status.OK,
                outcome=0.0,
                step_scores=zeros,
                step_ratings=zeros,
                step_spans=tuple(spans),
                first_error_step=0,
                answer_correct=answer.answer_correct,
                cause=Cause.SPRAY,
                reason=spray,
            )
        if any(status not in _ANSWER_STATUSES for _, _, status in stated):
            return Verdict.unscorable("the answer checker failed on an answer stated in words", Cause.CHECKER_FAILED)
        final = self._final(response, spans, claims, answer, rubric, answer_checkable, stated)
        false_steps = [k for k, step in enumerate(claims) if step.false]
        errors = [k for k in (false_steps[:1] + [final.error]) if k is not None]
        first_error = min(errors) if errors else None
        per_step, per_answer = _weights(rubric, answer_checkable)
        established, scores, total = set(), [], 0.0
        for k, step in enumerate(claims):
            if first_error is None or k < first_error:
                values = step.values
                for index, checkpoint in enumerate(rubric.intermediate):
                    if (
                        index not in established
                        and checkpoint.number is not None
                        and any(same(checkpoint.number, v) for v in values)
                    ):
                        established.add(index)
                        total += per_step
                if answer_checkable and final.correct and final.step == k:
                    established.add("answer")
                    total += per_answer
            scores.append(min(1.0, round(total, 9)))
        route = ""
        if "answer" in established and len(established) < len(rubric.checkpoints) and first_error is None:
            known = [c.number for i, c in enumerate(rubric.intermediate) if i in established]
            if not self._route_checks(claims[: final.step + 1], rubric, known):
                return Verdict(
                    Status.UNSCORABLE,
                    answer_correct=answer.answer_correct,
                    cause=Cause.ROUTE_NOT_CHECKABLE,
                    reason=f"the final answer is right but the response establishes {len(established) - 1} "
                    f"of {len(rubric.intermediate)} reference checkpoints by a route this judge "
                    "cannot check",
                )
            scores[final.step :] = [1.0] * (len(scores) - final.step)
            route = "; the answer is computed by another checked route"
        reason = (
            f"{len(established)}/{len(rubric.checkpoints)} checkpoints; first error step {first_error}; "
            f"final answer: {final.cause.value}{route}"
        )
        return Verdict(
            Status.OK,
            outcome=scores[-1],
            step_scores=tuple(scores),
            step_ratings=_step_ratings(claims, rubric, final, answer_checkable),
            step_spans=tuple(spans),
            first_error_step=first_error,
            answer_correct=answer.answer_correct,
            cause=final.cause,
            reason=reason,
        )

    @staticmethod
    def _final(
        response: str,
        spans: list,
        claims: Sequence[StepClaims],
        answer: Verdict,
        rubric: Rubric,
        answer_checkable: bool,
        stated: list[tuple[int, str, str]],
    ) -> Final:
        """The final answer the response commits to (see module docstring)."""
        starts = [start for start, _ in spans]
        if boxed_answers(response):
            step = _step_at(starts, response.find("\\boxed") if "\\boxed" in response else response.find("\\fbox"))
            if not answer.ok:  # the reference's answer cannot be checked; several boxes are still a hedge
                hedged = len(final_answers(response)) > 1
                return Final(None, None, step if hedged else None, Cause.SEVERAL_ANSWERS if hedged else Cause.JUDGED)
            wrong = answer.answer_correct is False
            return Final(step, answer.answer_correct, step if wrong else None, answer.cause)
        if not answer_checkable:  # nothing to compare with, but several different answers are still a hedge
            said = [(k, claim.value) for k, step in enumerate(claims) for claim in step.answers]
            second = next((k for k, value in said if not same(value, said[0][1])), None)
            if second is not None:
                return Final(None, None, second, Cause.SEVERAL_ANSWERS)
            return Final(None, None, None, Cause.JUDGED)
        right = [_step_at(starts, position) for position, _, status in stated if status == EQUAL]
        wrong = [_step_at(starts, position) for position, _, status in stated if status in _WRONG_STATUSES]
        if wrong:
            several = right or len({text for _, text, status in stated if status in _WRONG_STATUSES}) > 1
            return Final(None, False, wrong[0], Cause.SEVERAL_ANSWERS if several else Cause.WRONG_ANSWER)
        if right:
            return Final(right[0], True, None, Cause.JUDGED)
        gold = rubric.answer.number
        terminals = _final_candidates(claims, rubric)
        if len({_signed_key(v) for _, v in terminals}) > 1:
            return Final(None, False, None, Cause.SEVERAL_ANSWERS)
        if not terminals or gold is None:
            return Final(None, None, None, Cause.NO_ANSWER)
        step, value = terminals[0]
        correct = same(value, gold)
        return Final(step, correct, None, Cause.JUDGED if correct else Cause.NO_ANSWER)

    @staticmethod
    def _route_checks(claims: Sequence[StepClaims], rubric: Rubric, established: Sequence[float]) -> bool:
        """Whether the response's true equations compute the answer from the question's numbers (and the
        reference checkpoints it established)."""
        if rubric.answer is None or rubric.answer.number is None:
            return False
        return _key(rubric.answer.number) in _grounded(claims, (*rubric.givens, *established))


def _grounded(claims: Sequence[StepClaims], start: Sequence[float]) -> set[float]:
    """What the response's true equations compute from ``start`` (the question's numbers, say), by :func:`_key`.
    An equation counts when every input is known (from ``start``, computed earlier, or a :data:`ROUTE_CONSTANTS`
    constant) and at least one is not a constant."""
    known, grounded = {_key(v) for v in start}, set()
    for step in claims:
        for derivation in step.derivations:
            if _from_known([_key(v) for v in derivation.inputs], known | grounded):
                grounded.update(_key(v) for v in derivation.outputs)
    return grounded


def _from_known(inputs: Sequence[float], known: set[float]) -> bool:
    """Whether numbers (by :func:`_key`) are all known or common constants, and not constants alone."""
    return bool(inputs) and all(v in known or v in ROUTE_CONSTANTS for v in inputs) and any(v in known for v in inputs)


ESTABLISHES, SUPPORTS, WEAK, IRRELEVANT, CONTRADICTS = 5, 4, 3, 2, 1
"""The authors' 1-5 step scale (math_likelihood_process.py), as this judge's rules assign it."""


def _step_ratings(claims: Sequence[StepClaims], rubric: Rubric, final: Final, answer_checkable: bool) -> tuple:
    """Each step's own rating r_k = (rating - 1) / 4 on the authors' scale, as a next move on the reference's path:

    - 1 (contradicts): the step has false arithmetic, or commits to a wrong or a second, different final answer, or,
      in a response whose final answer is wrong, it computes only values off the reference's path (``6 * 4 = 24`` or
      ``6 + 5 = 11`` for "What is 6 * 5?"): true arithmetic that heads away from the reference and ends wrong, the
      authors' "misleading". Rated 4 as work on another route, a misquote of the question was worth more than a
      right solution to the authors' DeltaNorm (r_1 - r_K: 0.75 against 0), and ExpRL-process learned to misquote
      (issue 17, one-operation chains). A response whose answer is right keeps its other route's 4s;
    - 5 (establishes): it states a reference checkpoint that no earlier step stated, commits to the right final
      answer, or computes from known numbers a result of the reference's path (``Rubric.path``, the final value
      included) that no earlier step computed: the authors' "plainly establishes a key checkpoint or a sub-claim
      needed right away". Without the last clause a correct step computing a value the question also gives
      (``9 * 1 = 9``), a trivial one (``5 - 6 = -1``) or the final value before the box rated 4, so the authors'
      zero-sum DeltaNorm (r_1 - r_K first) pushed against the tokens of a right solution (issue 17);
    - 4 (supports): it does arithmetic on known numbers (the question's, the reference's checkpoints, or results of
      earlier steps rated 4 or 5) without a new checkpoint or path result: work on another route;
    - 3 (weak): it states or computes values, but not from known numbers (numbers from nowhere), or it restates a
      checkpoint an earlier step already established;
    - 2 (irrelevant): it states nothing this judge can read (prose, setting up, restating the question).

    Unlike the cumulative ``step_scores``, a step is rated on its own: a step after an error can rate high again,
    as the authors' judge rates each step without the ones before it. Three departures, deliberate, look beyond
    the step: a checkpoint counts as new once (repeating it in every step is not paid as establishing it every
    time), results of earlier sound steps count as known numbers, and whether the final answer is wrong decides
    between 4 and 1 for arithmetic off the reference's path (the authors' LLM sees the reference beside the step and
    can tell a misquote from another route; these rules cannot without the answer).
    """
    checkpoints = [c.number for c in rubric.intermediate if c.number is not None]
    known = {_key(v) for v in (*rubric.givens, *checkpoints)}
    seen: set[int] = set()
    computed: set[int] = set()
    ratings = []
    for k, step in enumerate(claims):
        new = {i for i, number in enumerate(checkpoints) if i not in seen and any(same(number, v) for v in step.values)}
        computes = step.derivations or any(claim.source == "computed" for claim in step.results)
        grounded = bool(computes) and _from_known([_key(v) for v, _ in step.operands], known)
        values = _computed_values(step)
        on_path = {i for i, p in enumerate(rubric.path) if i not in computed and any(same(p, v) for v in values)}
        on_path = on_path if grounded else set()  # a path value computed from numbers from nowhere is not a move
        heads_away = final.correct is False and values and not any(same(v, p) for v in values for p in rubric.path)
        if step.false or final.error == k or heads_away:
            rating = CONTRADICTS
        elif new or on_path or (answer_checkable and final.correct and final.step == k):
            rating = ESTABLISHES
        elif grounded:
            rating = SUPPORTS
        elif step.values:
            rating = WEAK
        else:
            rating = IRRELEVANT
        seen |= new
        computed |= on_path
        if rating >= SUPPORTS:
            known |= {_key(v) for v in step.values}
            known |= {_key(v) for derivation in step.derivations for v in derivation.outputs}
        ratings.append((rating - 1) / 4)
    return tuple(ratings)


def _computed_values(step: StepClaims) -> tuple[float, ...]:
    """What the step computes: its equations' outputs and its computed results, not values merely stated."""
    outputs = tuple(v for derivation in step.derivations for v in derivation.outputs)
    return outputs + tuple(claim.value for claim in step.results if claim.source == "computed")


def _final_candidates(claims: Sequence[StepClaims], rubric: Rubric) -> list[tuple[int, float]]:
    """(step, value) of what an unboxed response without a stated answer may have meant as its final answer:
    its last stated result (unless it only repeats a value the question states), and every computed result
    (``84 - 80 = 4``) that nothing uses afterwards, in order. Two different ones are two final answers
    (computing both evaluation orders, say)."""
    last_use = _last_uses(claims)
    found: dict[float, tuple[int, int, float]] = {}
    repeated = {_signed_key(v) for v in rubric.stated}
    last = max(
        (
            (claim.position, k, claim.value)
            for k, step in enumerate(claims)
            for claim in step.results
            if claim.source == "computed" or _signed_key(claim.value) not in repeated
        ),
        default=None,
    )
    for k, step in enumerate(claims):
        for claim in step.results:
            key = _signed_key(claim.value)
            if claim.source == "computed" and claim.position > last_use.get(key, -1):
                found.setdefault(key, (claim.position, k, claim.value))
    if last is not None and last[0] > last_use.get(_signed_key(last[2]), -1):
        found.setdefault(_signed_key(last[2]), last)
    return [(k, value) for _, k, value in sorted(found.values())]


def _last_uses(claims: Sequence[StepClaims]) -> dict[float, int]:
    """Where each value (by :func:`_signed_key`) is last used as an operand."""
    last_use: dict[float, int] = {}
    for step in claims:
        for value, position in step.operands:
            last_use[_signed_key(value)] = max(last_use.get(_signed_key(value), -1), position)
    return last_use


def _spray(claims: Sequence[StepClaims], rubric: Rubric) -> str:
    """Why the response is a spray of values rather than reasoning, or "" when it is not."""
    expected = {_signed_key(c.number) for c in rubric.checkpoints if c.number is not None}
    unused = len({_signed_key(v) for _, v in _unused_results(claims, rubric)} - expected)
    if unused > MAX_UNUSED_VALUES:
        return f"{unused} distinct unused values that no checkpoint asks for (limit {MAX_UNUSED_VALUES})"
    distinct = len({round(v, 6) for step in claims for v in step.values})
    limit = max(MAX_VALUES, 8 * len(rubric.checkpoints))
    return f"{distinct} distinct stated values (limit {limit})" if distinct > limit else ""


def _unused_results(claims: Sequence[StepClaims], rubric: Rubric) -> list[tuple[int, float]]:
    """(step, value) of each stated result that no later arithmetic uses, in order: what a spray leaves.
    Results of equations with unknowns (``2x = 202``) do not count, nor a number the question gives
    unless it is computed (``5 * 1 = 5``) rather than restated ("there are 5 apples")."""
    givens = {_key(g) for g in rubric.givens}
    last_use = _last_uses(claims)
    found: dict[float, tuple[int, int, float]] = {}
    for k, step in enumerate(claims):
        for claim in step.results:
            key = _signed_key(claim.value)
            candidate = claim.source == "computed" or (claim.source == "named" and _key(claim.value) not in givens)
            if candidate and claim.position > last_use.get(key, -1):
                found.setdefault(key, (claim.position, k, claim.value))
    return [(k, value) for _, k, value in sorted(found.values())]
