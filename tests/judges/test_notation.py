import pytest

from judges.deadline import Deadline, DeadlineExceeded
from judges.notation import normalize


@pytest.mark.parametrize(
    "written, plain",
    [
        ("6 \\times 2 = 13", "6 * 2 = 13"),
        ("$6 \\cdot 2 = 13$", " 6 * 2 = 13 "),
        ("\\(6 \\ast 2\\)", " 6 * 2 "),
        ("6 x 2 = 13", "6 * 2 = 13"),
        ("6 X 2", "6 * 2"),
        ("\uff16 \u00d7 \uff12 \uff1d \uff11\uff13", "6 * 2 = 13"),
        ("\u0666 \u2212 \u0662", "6 - 2"),  # Arabic-Indic digits, the minus sign
        ("\\frac{12}{4} = 3", "((12)/(4)) = 3"),
        ("\\dfrac{a}{b}", "((a)/(b))"),
        ("12 \\div 4", "12 ÷ 4"),
        ("2^{10}", "2^(10)"),
        ("3\u00b2 + 4\u00b3", "3^(2) + 4^(3)"),
        ("\u00bd + 1", "(1/2) + 1"),
        ("28,080 and 28{,}080 and 28\\,080 and 28\u2009080", "28080 and 28080 and 28080 and 28080"),
        ("(1, 1, 1) and 1,5 and 1,2345", "(1, 1, 1) and 1,5 and 1,2345"),  # not thousands
        ("\\text{ apples} 5", "   apples  5"),
        ("\\boxed{28080}", "  28080 "),
        ("\\left( 3 + 4 \\right)", "( 3 + 4 )"),
        ("2**10", "2^10"),
        ("6 times 2 plus 1 minus 3 divided by 3", "6 * 2 + 1 - 3 / 3"),
        ("£2,340 and $5 and €3", " 2340 and  5 and  3"),
        ("8+2(19) and (3+4)(5)", "8+2*(19) and (3+4)*(5)"),
        ("32 girls x 2 boys", "32 girls * 2 boys"),
        ("3 \\mod 2 \\equiv 1", "3  mod  2 ≡ 1"),
    ],
)
def test_notation_is_rewritten_plainly(written, plain):
    assert normalize(written).text == plain


@pytest.mark.parametrize(
    "text",
    [
        "$6 \\times 2 = 13$ days, \\frac{1}{2} of \uff12\uff13\uff14\uff10 \u00d7 12 = 28\u2009080 \\boxed{7}",
        "\\text{no maths here}",
        "",
        "\u00bd\u00b2\u2212",
    ],
)
def test_every_character_maps_back_into_the_source(text):
    normalized = normalize(text)
    assert len(normalized.origin) == len(normalized.text)
    assert list(normalized.origin) == sorted(normalized.origin)
    assert all(0 <= i < len(text) for i in normalized.origin)
    for start in range(len(text) + 1):  # a source window maps onto a normalized window and back inside it
        first, last = normalized.window(start, len(text))
        if first < last:
            a, b = normalized.source_span(first, last)
            assert start <= a and b <= len(text)


def test_a_number_in_latex_maps_back_to_where_it_is_written():
    text = "So $6 \\times 2 = 13$ apples"
    normalized = normalize(text)
    at = normalized.text.index("13")
    assert text[slice(*normalized.source_span(at, at + 2))] == "13"
    at = normalized.text.index("*")
    assert text[slice(*normalized.source_span(at, at + 1))] == "\\times"


def test_normalizing_checks_the_deadline():
    deadline = Deadline(60.0)
    deadline.expires = 0.0  # already past
    with pytest.raises(DeadlineExceeded):
        normalize("1 + 1 = 2", deadline)
    with pytest.raises(ValueError, match="positive"):
        Deadline(0)
