import pytest

from judges.steps import split_steps

HEADERS = "Intro line.\n### Step 1\nAdd 2 and 3.\n\n### Step 2\nSo 5.\n"
NUMBERED = "1. Add 2 and 3.\n2. That is 5.\n3) Box it: \\boxed{5}"
PARAGRAPHS = "First we add.\n2 + 3 = 5.\n\n  \nThen we box \\boxed{5}."


def texts(text, method="auto"):
    return [text[a:b] for a, b in split_steps(text, method)]


def test_headers_are_the_papers_split():
    assert texts(HEADERS) == ["Intro line.", "### Step 1\nAdd 2 and 3.", "### Step 2\nSo 5."]


def test_numbered_steps():
    assert texts(NUMBERED) == ["1. Add 2 and 3.", "2. That is 5.", "3) Box it: \\boxed{5}"]
    assert texts("Step 1: a\nmore a\nStep 2: b") == ["Step 1: a\nmore a", "Step 2: b"]


def test_paragraphs_then_lines():
    assert texts(PARAGRAPHS) == ["First we add.\n2 + 3 = 5.", "Then we box \\boxed{5}."]
    assert texts("one\ntwo\n\n") == ["one", "two"]
    assert texts("just one") == ["just one"]
    assert texts("   \n ") == []


@pytest.mark.parametrize("method", ["auto", "headers", "numbered", "paragraphs", "lines"])
@pytest.mark.parametrize("text", [HEADERS, NUMBERED, PARAGRAPHS, "x"])
def test_spans_are_ordered_disjoint_trimmed_and_inside_the_text(method, text):
    spans = split_steps(text, method)
    for (_, b), (c, _) in zip(spans, spans[1:]):
        assert b <= c
    for a, b in spans:
        assert 0 <= a < b <= len(text) and text[a:b] == text[a:b].strip()


def test_unknown_method():
    with pytest.raises(ValueError, match="step split method must be one of"):
        split_steps("x", "sentences")
