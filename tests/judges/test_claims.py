import pytest

from judges.claims import analyse, evaluate_arithmetic, false_equations, stated_results


@pytest.mark.parametrize(
    "text, values",
    [
        ("x_6+y_6+z_6=70+99+70=239", [239.0]),
        ("he earns £2340/month * 12 months/year = £28,080", [28080.0]),
        ("The answer is 44.", [44.0]),
        ("It equals -3.5, which gives 7", [-3.5, 7.0]),
        ("a score of 5, and (1, 1, 1), (2, 3, 2)", []),
        ("so it is 3/4 of the cake, which is \\frac{1}{2} of it", [0.75, 0.5]),  # fractions in lowest terms
        ("= 6/8", []),
        ("we get 2x+70=272", [272.0]),
        ("is 2^n", []),
        ("= 84(y^2+1)", []),
        ("The total is \\boxed{28{,}080}.", [28080.0]),
        ("x = \uff11\uff12", [12.0]),
        ("it is equal to 23", [23.0]),
    ],
)
def test_stated_results_only_in_result_position(text, values):
    assert stated_results(text) == values


@pytest.mark.parametrize(
    "text",
    [
        "So 6 * 2 = 13 days",
        "(3 + 4) * 2 = 15",
        "It is 3 + 4 = 8.",
        "5 / 10 = 40%",
        "2^10 = 1000",
        "12 ÷ 3 = 5",
        "6 \\times 2 = 13",
        "6 \\cdot 2 = 13",
        "6 x 2 = 13",
        "\uff16 * \uff12 = \uff11\uff13",
        "So a 6 * 2 = 13.",
        "$6 \\cdot 2 = 13$",
        "6 times 2 is 13",
        "\\frac{12}{4} = 4",
        "3\u00b2 = 10",
        "13 = 6 * 2",
        "2(3 + 4) = 15",
        "13 - 14 * 2 = 13 - 28 = -16",
        "13 - 14 * 2 = 13 - 27 = -14",
        "1,000 + 2{,}000 = 3\\,001",
        "6 − 2 = 5",
    ],
)
def test_false_arithmetic_is_found(text):
    assert false_equations(text)


@pytest.mark.parametrize(
    "text",
    [
        "70+99+70=239",
        "72*0.5=36 pebbles",
        "10/3 = 3.33",
        "1,000 + 2,000 = 3,000",
        "5 / 10 = 50.0%",
        "it takes her 10÷1/2=20 minutes",  # the worked-solution reading of ÷
        "The fee is $400,000 x 8/100 = $32,000.",  # part of a larger expression: not checkable, not false
        "x(2)=3^3=27>2*4=2y(1)",
        "n/2*9=99...99",
        "9^9^9^9 = 5",
        "13 - 14 * 2 = 13 - 28 = -15",  # a one-line chain
        "3 + 4 = 7 * 2 = 14",  # a running total
        "84 years - 80 years = 4 years old",  # units
        "x - 2 * 3 = 6",
        "100 questions x 20/100 = 20 questions",  # continues an expression with a name
        "We have 12 mod 11 = 1 and 5 \\times 3^2 = 45 \\mod 11 = 1",  # congruences, not equalities
        "the largest power of 2 less than 1324 is 2^10 = 1024",
        "1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10 + 11 + 12 + 13 + 14 is the sum",
    ],
)
def test_true_or_uncheckable_arithmetic_is_not_flagged(text):
    assert false_equations(text) == []


def test_evaluation_is_safe_and_bounded():
    assert evaluate_arithmetic("(3 + 4) * 2") == 14.0
    assert evaluate_arithmetic("__import__('os')") is None
    assert evaluate_arithmetic("9 ** 9 ** 9") is None
    assert evaluate_arithmetic("1 / 0") is None


def test_false_equations_are_quoted_from_the_original_text():
    text = "First $6 \\times 2 = 13$ apples, then \uff11 + \uff11 = \uff13."
    assert false_equations(text) == ["6 \\times 2 = 13", "\uff11 + \uff11 = \uff13"]


def test_pathological_sums_and_products_are_read_correctly():
    assert false_equations(" + ".join(str(i) for i in range(1, 300)) + " is the sum") == []
    assert false_equations("So " + " * ".join(["2"] * 1000) + " = x") == []
    assert false_equations(" + ".join(["1"] * 3000) + " = 3001") == [" + ".join(["1"] * 3000) + " = 3001"]
    assert stated_results("(" * 2000 + "1" + ")" * 2000 + " = 1") == [1.0]


def test_a_true_chain_derives_the_values_it_computes():
    claims = analyse("13 - 14 * 2 = 13 - 28 = -15", [(0, 27)]).steps[0]
    assert claims.derived == (28.0,) and [c.value for c in claims.results] == [-15.0]
    assert claims.false == () and claims.derivations[-1].outputs[0] == -15.0


def test_results_know_what_they_are_the_result_of():
    claims = analyse("84 years - 80 years = 4. So 2x + 70 = 272 and x = 101, the total is 9.", [(0, 73)]).steps[0]
    assert [(c.value, c.source) for c in claims.results] == [
        (4.0, "computed"),
        (272.0, "equation"),
        (101.0, "named"),
        (9.0, "named"),
    ]
