import pytest

from judges.answers import boxed_answers, final_answers, is_prose, stated_answers


def test_boxed_answers_balance_braces_and_skip_unclosed():
    text = r"x \boxed{\frac{1}{2}} then \fbox{3} and \boxed{unclosed"
    assert boxed_answers(text) == [r"\frac{1}{2}", "3"]


def test_final_answers_are_distinct_ignoring_whitespace():
    assert final_answers(r"\boxed{1 + 1} and again \boxed{1+1}") == ["1 + 1"]
    assert final_answers(r"\boxed{4} or \boxed{5}") == ["4", "5"]
    assert final_answers(r"\boxed{}") == []


def test_last_number_fallback_is_opt_in():
    assert final_answers("so it is 1,234.5 apples") == []
    assert final_answers("so it is 1,234.5 apples", "boxed_or_last_number") == ["1,234.5"]
    assert final_answers(r"12 then \boxed{7}", "boxed_or_last_number") == ["7"]


def test_prose_answers_are_recognised():
    assert is_prose("No such values") and is_prose("999 (i.e., all except for one value)")
    assert not is_prose(r"\frac{\sqrt{3}}{2}") and not is_prose("2^(m+1)") and not is_prose(r"\infty")


def test_many_unclosed_boxes_are_ignored():
    assert boxed_answers("\\boxed{" * 20000) == []
    assert boxed_answers("\\boxed{" * 3 + "1}") == ["1"]


@pytest.mark.parametrize(
    "text, found",
    [
        ("The answer is 28081. Or the answer is 28080.", ["28081", "28080"]),
        ("So the final answer is $\\frac{1}{2}$.", ["\\frac{1}{2}"]),
        ("Answer: x=2, y=1", ["x=2, y=1"]),
        ("The answer, therefore, is 3.5.", ["3.5"]),
        ("The answer is C(10, 5).\nMore", ["C(10, 5)"]),
        ("the answer is not 5", []),
        ("the answer is that it works", []),
        ("To answer this we note 3 + 4 = 7", []),
        ("The answer is \\boxed{5}", []),  # boxed answers are read as boxes
    ],
)
def test_answers_stated_in_words(text, found):
    assert [answer for _, answer in stated_answers(text)] == found


@pytest.mark.parametrize(
    "text, found",
    [
        ("8 - 9 = -1\n\nFirst we subtract: it gives us -1.", ["-1"]),  # the last number
        ("So the answer is 7. Check: 7 - 4 = 3.", ["7"]),  # an answer in words wins over a later number
        ("The answer is 6. No wait, the answer is 7.", ["7"]),  # only the last statement counts
        ("1 2 3 4 5 6 7 8 9 10", ["10"]),  # a list of numbers is read as its last one, not as ten candidates
        ("What is 3 + 4?", ["4"]),  # restating the question ends on an operand
        (r"7 is the value, so \boxed{8}", ["8"]),  # a box wins over the text
        (r"\boxed{7} or \boxed{8}", ["7", "8"]),  # several boxes: hedging, as in the boxed check
        ("no numbers here", []),
    ],
)
def test_the_stated_value_is_the_one_value_a_response_ends_on(text, found):
    assert final_answers(text, "boxed_or_stated") == found


def test_an_unknown_answer_format_names_the_valid_ones():
    with pytest.raises(ValueError, match="boxed_or_stated"):
        final_answers("1", "anywhere")
