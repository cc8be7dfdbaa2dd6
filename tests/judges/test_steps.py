from collections import deque

import pytest

from judges.steps import split_steps

HEADERS = "Intro line.\n### Step 1\nAdd 2 and 3.\n\n### Step 2\nSo 5.\n"
NUMBERED = "1. Add 2 and 3.\n2. That is 5.\n3) Box it: \\boxed{5}"
PARAGRAPHS = "First we add.\n2 + 3 = 5.\n\n  \nThen we box \\boxed{5}."


def texts(text, method="auto"):
    return [text[a:b] for a, b in split_steps(text, method)]


def test_headers_split_at_header_lines():
    assert texts(HEADERS) == ["Intro line.", "### Step 1\nAdd 2 and 3.", "### Step 2\nSo 5."]


def test_numbered_steps():
    assert texts(NUMBERED) == ["1. Add 2 and 3.", "2. That is 5.", "3) Box it: \\boxed{5}"]
    assert texts("Step 1: a\nmore a\nStep 2: b") == ["Step 1: a\nmore a", "Step 2: b"]


def test_paragraphs_then_lines():
    assert texts(PARAGRAPHS) == ["First we add.\n2 + 3 = 5.", "Then we box \\boxed{5}."]
    assert texts("one\ntwo\n\n") == ["one", "two"]
    assert texts("just one") == ["just one"]
    assert texts("   \n ") == []


@pytest.mark.parametrize("method", ["auto", "headers", "numbered", "paragraphs", "lines"])  # "paper" is untrimmed
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


# --- the authors' ### rule ("paper") ----------------------------------------------------------------------
def authors_find_step_spans(tokenizer, ids, step_str="###", lookback=10):
    """A transcription of the authors' ``_find_step_spans`` (stage1_verl/verl/trainer/ppo/ray_trainer_genrm.py:
    1252-1273) on a plain list of token ids: the 1-based step of each token."""
    step_mask = [0] * len(ids)
    window = deque(maxlen=lookback)
    last_step_idx, cur_step = 0, 1
    for cur_idx, token in enumerate(ids):
        window.append(token)
        if tokenizer.decode(list(window)).endswith(step_str):
            step_mask[last_step_idx : cur_idx + 1] = [cur_step] * (cur_idx + 1 - last_step_idx)
            last_step_idx, cur_step = cur_idx + 1, cur_step + 1
    step_mask[last_step_idx:] = [cur_step] * (len(ids) - last_step_idx)
    return step_mask


def authors_step_texts(tokenizer, text):
    """Each step's text as the authors' judge receives it (their RTG:1328-1332 decode of each step's tokens)."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    mask = authors_find_step_spans(tokenizer, ids)
    steps = range(1, max(mask, default=0) + 1)
    return [tokenizer.decode([t for t, s in zip(ids, mask) if s == k], skip_special_tokens=True) for k in steps]


AUTHORS_CASES = [
    "Intro line.\n### Step 1\nAdd 2 and 3.\n\n### Step 2\nSo 5.\n\\boxed{5}",
    "### Step 1: Understand the problem\nWe need 12 days.\n\n### Step 2: Multiply\n12 * 195 = 2340.\n",
    "No headers at all, just 6 * 2 = 12 and \\boxed{12}.",
    "Compute.\n#### 72",
    "a###b### c",
    "The steps:\n###\n### Step 2\nDone ###",
]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from agents.models import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model("smollm2-135m-instruct"))


@pytest.mark.parametrize("text", AUTHORS_CASES)
def test_the_paper_split_gives_the_steps_the_authors_token_rule_gives(tokenizer, text):
    assert texts(text, "paper") == authors_step_texts(tokenizer, text)


def test_the_paper_split_by_hand():
    assert texts(HEADERS, "paper") == ["Intro line.\n###", " Step 1\nAdd 2 and 3.\n\n###", " Step 2\nSo 5.\n"]
    leading = "### Step 1\nAdd.\n### Step 2\nSo 5."
    assert texts(leading, "paper") == ["###", " Step 1\nAdd.\n###", " Step 2\nSo 5."]  # a bare ### first step
    assert texts("1. Add.\n2. So 5.\n\nDone.", "paper") == ["1. Add.\n2. So 5.\n\nDone."]  # no ###: one step
    assert texts("Add.\n### So 5. ###", "paper") == ["Add.\n###", " So 5. ###"]  # a final ### opens no step
    assert texts("Add.\n### So 5.\n###\n\n", "paper") == ["Add.\n###", " So 5.\n###\n\n"]  # blank tail joins
    assert texts("x ###### y", "paper") == ["x ######", " y"]  # a run closes one step
    assert split_steps("  \n", "paper") == [] and split_steps("", "paper") == []


@pytest.mark.parametrize("text", [*AUTHORS_CASES, HEADERS, NUMBERED, "x", "###", "a\n###\n\n"])
def test_paper_spans_cover_the_text_contiguously(text):
    spans = split_steps(text, "paper")
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(b == c for (_, b), (c, _) in zip(spans, spans[1:])) and all(a < b for a, b in spans)


def test_where_the_authors_token_rule_and_ours_part(tokenizer):
    """Documented departures: their rule can close a one-character step inside a run of five #'s (the tokenizer
    cuts it as '####' + '#'), and it sends a blank last step to the judge."""
    assert authors_step_texts(tokenizer, "x ##### y") == ["x ####", "#", " y"]
    assert texts("x ##### y", "paper") == ["x #####", " y"]
    assert authors_step_texts(tokenizer, "x ###\n") == ["x ###", "\n"]
    assert texts("x ###\n", "paper") == ["x ###\n"]
