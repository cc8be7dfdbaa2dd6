import pytest

from judges.claims import evaluate_arithmetic, false_equations, stated_results


@pytest.mark.parametrize("text, values", [
    ("x_6+y_6+z_6=70+99+70=239", [239.0]),
    ("he earns £2340/month * 12 months/year = £28,080", [28080.0]),
    ("The answer is 44.", [44.0]),
    ("It equals -3.5, which gives 7", [-3.5, 7.0]),
    ("a score of 5, and (1, 1, 1), (2, 3, 2)", []),
])
def test_stated_results_only_in_result_position(text, values):
    assert stated_results(text) == values


@pytest.mark.parametrize("text", [
    "So 6 * 2 = 13 days", "(3 + 4) * 2 = 15", "It is 3 + 4 = 8.", "5 / 10 = 40%", "2^10 = 1000", "12 ÷ 3 = 5",
])
def test_false_arithmetic_is_found(text):
    assert false_equations(text)


@pytest.mark.parametrize("text", [
    "70+99+70=239", "72*0.5=36 pebbles", "10/3 = 3.33", "1,000 + 2,000 = 3,000", "5 / 10 = 50.0%",
    "it takes her 10÷1/2=20 minutes",           # the worked-solution reading of ÷
    "The fee is $400,000 x 8/100 = $32,000.",    # part of a larger expression: not checkable, not false
    "x(2)=3^3=27>2*4=2y(1)", "n/2*9=99...99", "9^9^9^9 = 5",
])
def test_true_or_uncheckable_arithmetic_is_not_flagged(text):
    assert false_equations(text) == []


def test_evaluation_is_safe_and_bounded():
    assert evaluate_arithmetic("(3 + 4) * 2") == 14.0
    assert evaluate_arithmetic("__import__('os')") is None
    assert evaluate_arithmetic("9 ** 9 ** 9") is None
    assert evaluate_arithmetic("1 / 0") is None
