"""The corrupted judge: flips scores at the rate asked, judges against another problem's reference, by a hash."""

import pytest

from agents.privileged import reference_response
from exprl_env.domains.arith import load_arith
from judges import Cause, JudgeItem, make_judge
from judges.corrupted import donors, flipped


@pytest.fixture(scope="module")
def problems():
    return load_arith(size=40, seed=3, n_ops=3, max_operand=9)


def _items(problems, kind="process"):
    return [JudgeItem(p, reference_response(p.reference.unseal()), kind) for p in problems]


def test_flip_rate_zero_is_the_wrapped_judge(problems):
    items = _items(problems[:6])
    plain = make_judge("reference").score_batch(items)
    assert make_judge("corrupted", flip_rate=0.0).score_batch(items) == plain


def test_flips_happen_at_the_rate_asked(problems):
    """A right reference solution's steps are rated 0.75 or 1 (supports or establishes the reference's path), so
    every rating below 0.5 is a flip: the share of flips is the rate (to within 3 binomial standard errors over the
    ratings of 40 responses)."""
    items = _items(problems)
    judge = make_judge("corrupted", flip_rate=0.3, seed=1)
    verdicts = judge.score_batch(items)
    ratings = [r for v in verdicts for r in v.step_ratings]
    plain = [r for v in make_judge("reference").score_batch(items) for r in v.step_ratings]
    assert min(plain) >= 0.75
    share = sum(r < 0.5 for r in ratings) / len(ratings)
    assert abs(share - 0.3) < 3 * (0.3 * 0.7 / len(ratings)) ** 0.5
    counters = judge.counters()
    assert (
        counters["corrupted_scores"] > len(ratings) and 0 < counters["corrupted_flipped"] < counters["corrupted_scores"]
    )
    assert "math_checks" in counters  # the wrapped judge's counters pass through


def test_a_flip_depends_on_the_response_not_on_the_batch_or_call_order(problems):
    items = _items(problems[:10])
    judge = make_judge("corrupted", flip_rate=0.5, seed=7)
    forward = judge.score_batch(items)
    backward = judge.score_batch(items[::-1])[::-1]
    assert forward == backward
    other_seed = make_judge("corrupted", flip_rate=0.5, seed=8).score_batch(items)
    assert other_seed != forward


def test_flipped_is_the_complement():
    assert flipped(0.25, 1.0, "k") == (0.75, True)
    assert flipped(0.25, 0.0, "k") == (0.25, False)


def test_wrong_reference_judges_each_problem_against_the_next_ones(problems):
    """Each response is a right solution of its own problem, so against another problem's reference its answer is
    wrong (arithmetic chains with different answers)."""
    chosen = [p for p in problems if p.reference.unseal().answer != problems[0].reference.unseal().answer][:2]
    chosen = [problems[0], *chosen[:1]]
    items = _items(chosen) * 2
    verdicts = make_judge("corrupted", wrong_reference=True).score_batch(items)
    assert all(v.ok and v.answer_correct is False for v in verdicts)
    right = make_judge("reference").score_batch(items)
    assert all(v.answer_correct for v in right)


def test_wrong_reference_without_a_donor_is_unscorable_not_scored_right(problems):
    items = _items(problems[:1]) * 3
    judge = make_judge("corrupted", wrong_reference=True)
    verdicts = judge.score_batch(items)
    assert all(not v.ok and v.cause is Cause.REFERENCE_NOT_CHECKABLE for v in verdicts)
    assert judge.counters()["corrupted_no_donor"] == 3


def test_donors_are_a_cycle_over_the_distinct_problems():
    assert donors(["b", "a", "b", "c"]) == {"a": "b", "b": "c", "c": "a"}
    assert donors(["a", "a"]) == {}


def test_it_declares_what_the_wrapped_judge_declares():
    judge = make_judge("corrupted", judge="answer")
    assert judge.kinds == make_judge("answer").kinds
    with pytest.raises(ValueError, match="flip_rate"):
        make_judge("corrupted", flip_rate=1.5)
