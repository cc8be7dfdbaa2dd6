import os
import signal
import threading
import time

import pytest

from judges import Cause, Judge, JudgeItem, Status, make_judge, register_judge
from judges.answer_judge import AnswerJudge
from judges.math_check import MathCheckPool
from judges.problem import Problem, SealedReference
from tests.judges.test_math_check import PATCHED_WORKER, command, stop


def item(answer: str, response: str) -> JudgeItem:
    return JudgeItem(Problem("p", "t", "Q?", SealedReference(["step"], answer)), response, "sparse")


@pytest.fixture(scope="module")
def judge():
    return make_judge("answer", time_limit=2.0)


def test_correct_wrong_missing_and_hedged_answers(judge):
    verdicts = judge.score_batch(
        [
            item("42", r"so \boxed{42}"),
            item("1/2", r"\boxed{0.5}"),
            item("42", r"\boxed{41}"),
            item("42", "forty-two"),
            item("42", r"\boxed{41} or maybe \boxed{42}"),
            item("42", r"\boxed{42} and again \boxed{42}"),
        ]
    )
    assert [v.answer_correct for v in verdicts] == [True, True, False, False, False, True]
    assert [v.outcome for v in verdicts] == [1.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    assert all(v.status is Status.OK for v in verdicts)
    assert "2 different final answers" in verdicts[4].reason


def test_unparseable_or_prose_reference_is_unscorable_never_one(judge):
    verdicts = judge.score_batch(
        [item("No such values", r"\boxed{No such values}"), item(r"\frac{", r"\boxed{\frac{}")]
    )
    assert all(v.status is Status.UNSCORABLE and v.outcome is None and v.answer_correct is None for v in verdicts)


def test_a_bomb_answer_is_wrong_not_a_hang(judge):
    verdict = judge.score_batch([item("5", r"\boxed{9^{9^{9^{9}}}}")])[0]
    assert verdict.ok and verdict.answer_correct is False


def test_public_verdict_has_no_reason(judge):
    public = judge.score_batch([item("42", r"\boxed{41}")])[0].public()
    assert "reason" not in public and public["answer_correct"] is False


def test_registry_names_paths_instances_and_errors():
    assert isinstance(make_judge("answer"), AnswerJudge)
    assert make_judge("judges.answer_judge:AnswerJudge").name == "answer"
    instance = make_judge("answer")
    assert make_judge(instance) is instance
    register_judge("answer-alias", lambda **kw: AnswerJudge(**kw))
    assert isinstance(make_judge("answer-alias", time_limit=1.0), Judge)
    with pytest.raises(ValueError, match="unknown judge 'nope'"):
        make_judge("nope")
    with pytest.raises(ValueError, match="has no attribute 'Missing'"):
        make_judge("judges.answer_judge:Missing")
    with pytest.raises(TypeError, match="does not implement the Judge protocol"):
        make_judge(object())
    with pytest.raises(ValueError, match="answer_format"):
        make_judge("answer", answer_format="last")


# --- checker faults are the judge's (unscorable), costly answers the response's (0) -------------------------------

FAST = 1.0


def problem_with_checkpoints(answer: str) -> Problem:
    """A reference with an intermediate value (12) besides its answer, as the reference judge needs."""
    steps = ["She has 3 * 4 = 12 apples.", f"Then 12 + {int(answer) - 12} = {answer} apples."]
    return Problem(f"p{answer}", "t", "How many apples?", SealedReference(steps, answer))


def stop_workers(pool) -> None:
    stop([worker.process.pid for worker in pool._pool])


@pytest.mark.parametrize("bomb", [r"9^{9^{9^{9}}}", r"(10^8)!"])
def test_a_bomb_answer_is_a_costly_zero_at_about_the_limit(judge, bomb):
    started = time.monotonic()
    verdict = judge.score_batch([item("5", rf"\boxed{{{bomb}}}")])[0]
    assert verdict.ok and verdict.outcome == 0.0 and verdict.cause is Cause.ANSWER_TOO_COSTLY
    assert time.monotonic() - started < 2.0 + 3.0
    assert judge.score_batch([item("6", r"\boxed{6}")])[0].outcome == 1.0


def test_a_reference_too_costly_to_check_is_the_checkers_failure_not_a_zero(judge):
    verdict = judge.score_batch([item(r"9^{9^{9^{9}}}", r"\boxed{1}")])[0]
    assert not verdict.ok and verdict.cause is Cause.CHECKER_FAILED


@pytest.fixture(scope="module")
def patched_judge():
    judge = AnswerJudge(pool=MathCheckPool(workers=1, time_limit=FAST, command=command(PATCHED_WORKER)))
    yield judge
    judge.pool.close()


@pytest.mark.parametrize(
    "gold, response, cause",
    [
        ("31337", r"\boxed{31337}", Cause.CHECKER_FAILED),  # math-verify raised on the reference
        ("5", r"\boxed{31337}", Cause.CHECKER_FAILED),  # ... on a valid-looking answer
        ("2", r"\boxed{271828}", Cause.CHECKER_FAILED),  # ... while comparing
        ("5", r"\boxed{5555}", Cause.CHECKER_FAILED),  # the worker stalled
        ("5", r"\boxed{7777}", Cause.CHECKER_FAILED),  # the worker exited mid-check
        ("5", r"\boxed{6666}", Cause.ANSWER_TOO_COSTLY),  # the worker computed past the limit
        ("5", r"\boxed{2323}", Cause.ANSWER_TOO_COSTLY),  # the answer ran out math-verify's recursion depth
        ("5", r"\boxed{x +* }", Cause.ANSWER_UNPARSABLE),  # not mathematics: the response's doing
        ("5", r"\boxed{6}", Cause.WRONG_ANSWER),
    ],
)
def test_who_pays_for_a_failed_check(patched_judge, gold, response, cause):
    verdict = patched_judge.score_batch([item(gold, response)])[0]
    assert verdict.cause is cause
    assert verdict.ok == cause.scorable and (verdict.outcome == 0.0 if verdict.ok else verdict.outcome is None)
    assert patched_judge.score_batch([item("12", r"\boxed{12.0}")])[0].outcome == 1.0


def test_a_worker_that_cannot_start_makes_verdicts_unscorable():
    broken = command("import sys; sys.modules['math_verify'] = None\nimport judges.math_worker as w; w.main()")
    judge = AnswerJudge(pool=MathCheckPool(workers=1, time_limit=FAST, command=broken))
    verdicts = judge.score_batch([item("5", r"\boxed{5}"), item("6", r"\boxed{7}")])
    assert all(not v.ok and v.cause is Cause.CHECKER_FAILED for v in verdicts)
    assert judge.counters()["math_start_failures"] == 2 and judge.counters()["unscorable"] == 2  # a start, a retry


def test_a_bug_in_the_pool_itself_makes_verdicts_unscorable_not_a_crash(monkeypatch):
    judge = AnswerJudge(pool=MathCheckPool(workers=1, time_limit=FAST))

    def broken(pairs):
        raise RuntimeError("a bug in the pool")

    monkeypatch.setattr(judge.pool, "check_many", broken)
    verdicts = judge.score_batch([item("5", r"\boxed{5}")])
    assert not verdicts[0].ok and verdicts[0].cause is Cause.CHECKER_FAILED and "RuntimeError" in verdicts[0].reason


def test_reference_judge_never_pays_a_wrong_answer_when_math_verify_fails_on_the_reference():
    judge = make_judge("reference")
    judge.answers.pool = MathCheckPool(workers=1, time_limit=FAST, command=command(PATCHED_WORKER))
    try:
        problem = problem_with_checkpoints("31337")  # the patched math-verify raises on this reference
        verdict = judge.score_batch([JudgeItem(problem, "3 * 4 = 12\n\n\\boxed{12}", "process")])[0]
        assert not verdict.ok and verdict.cause is Cause.CHECKER_FAILED
    finally:
        judge.answers.pool.close()


def test_reference_judge_never_pays_when_a_worker_stalls_on_the_reference_or_the_answer():
    judge = make_judge("reference")
    judge.answers.pool = MathCheckPool(workers=1, time_limit=FAST, command=command(PATCHED_WORKER))
    try:
        stalls, solved = problem_with_checkpoints("5555"), problem_with_checkpoints("47")  # math-verify sleeps on 5555
        verdicts = judge.score_batch(
            [
                JudgeItem(stalls, "3 * 4 = 12\n\n12 + 5543 = 5555\n\n\\boxed{5556}", "process"),  # its reference stalls
                JudgeItem(
                    solved, "3 * 4 = 12\n\n12 + 35 = 47\n\n\\boxed{47.0}", "process"
                ),  # on the replacement worker
                JudgeItem(solved, "3 * 4 = 12\n\n\\boxed{5555}", "process"),  # its answer's check stalls
            ]
        )
        assert [(v.ok, v.cause) for v in verdicts] == [
            (False, Cause.CHECKER_FAILED),
            (True, Cause.JUDGED),
            (False, Cause.CHECKER_FAILED),
        ]
        assert verdicts[1].outcome == 1.0  # three checks stalled: the reference's own, and both pairs with 5555
        assert judge.answers.counters()["math_replaced_stalled"] == 3
    finally:
        judge.answers.pool.close()


def test_reference_judge_with_a_stopped_worker_is_unscorable_and_then_recovers():
    judge = make_judge("reference", time_limit=FAST, workers=1)  # one worker: which check it holds is known
    pool = judge.answers.pool
    solved = problem_with_checkpoints("47")
    honest = JudgeItem(solved, "3 * 4 = 12\n\n12 + 35 = 47\n\n\\boxed{47}", "process")
    assert judge.score_batch([honest])[0].outcome == 1.0
    stalled_before = pool.stats.get("replaced_stalled", 0)
    (pid,) = [worker.process.pid for worker in pool._pool]
    threading.Timer(0.3, os.kill, (pid, signal.SIGSTOP)).start()  # stopped while it checks a bomb
    bomb = JudgeItem(solved, "3 * 4 = 12\n\n\\boxed{9^{9^{9^{9}}}}", "process")
    verdict = judge.score_batch([bomb])[0]
    assert not verdict.ok and verdict.cause is Cause.CHECKER_FAILED  # a stall is not the answer's cost
    assert judge.score_batch([JudgeItem(solved, "\\boxed{47.0}", "process")])[0].answer_correct is True
    stop_workers(pool)  # stopped while idle: replaced before it is given a check, so nothing is lost
    assert judge.score_batch([JudgeItem(solved, "\\boxed{47.00}", "process")])[0].answer_correct is True
    verdict = judge.score_batch([bomb])[0]  # and the bomb itself is a wrong answer
    assert verdict.ok and verdict.answer_correct is False and verdict.first_error_step == 1
    assert pool.stats["replaced_stalled"] - stalled_before == 2
    assert judge.answers.counters()["math_replaced_stalled"] == pool.stats["replaced_stalled"]


def test_the_stated_value_check_pays_the_right_value_boxed_or_not_and_never_a_spray():
    judge = make_judge("answer", time_limit=2.0, answer_format="boxed_or_stated")
    verdicts = judge.score_batch(
        [
            item("2", "First, 7 minus 5 gives us 2."),  # right value, not boxed
            item("2", "7 minus 5 gives us 2, and adding 2 to 7 gives 11."),  # the right value, then more: the last
            item("7", "Maybe 1, 2, 3, 4, 5, 6, 7, 8 or 9."),  # a spray holding the answer
            item("7", "The answer is 7. Check: 7 - 4 = 3."),
            item("7", r"The value is 7, so \boxed{8}."),  # a wrong box is not rescued by the text
            item("0.5", "so the answer is 1/2."),  # equivalence is math-verify's
            item("7", "I cannot say."),
        ]
    )
    assert [v.outcome for v in verdicts] == [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    assert all(v.ok for v in verdicts) and verdicts[-1].cause == Cause.NO_ANSWER
    assert all("2" not in v.reason and "7" not in v.reason for v in verdicts)  # the reason quotes no reference
