import pytest

from judges.problem import Problem, SealedReference
from judges import Judge, JudgeItem, Status, make_judge, register_judge
from judges.answer_judge import AnswerJudge


def item(answer: str, response: str) -> JudgeItem:
    return JudgeItem(Problem("p", "t", "Q?", SealedReference(["step"], answer)), response, "sparse")


@pytest.fixture(scope="module")
def judge():
    return make_judge("answer", time_limit=2.0)


def test_correct_wrong_missing_and_hedged_answers(judge):
    verdicts = judge.score_batch([
        item("42", r"so \boxed{42}"),
        item("1/2", r"\boxed{0.5}"),
        item("42", r"\boxed{41}"),
        item("42", "forty-two"),
        item("42", r"\boxed{41} or maybe \boxed{42}"),
        item("42", r"\boxed{42} and again \boxed{42}"),
    ])
    assert [v.answer_correct for v in verdicts] == [True, True, False, False, False, True]
    assert [v.outcome for v in verdicts] == [1.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    assert all(v.status is Status.OK for v in verdicts)
    assert "2 different final answers" in verdicts[4].reason


def test_unparseable_or_prose_reference_is_unscorable_never_one(judge):
    verdicts = judge.score_batch([item("No such values", r"\boxed{No such values}"),
                                  item(r"\frac{", r"\boxed{\frac{}")])
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
