"""``Policy.step_of_token``: the judge's character spans onto response tokens, worked out by hand.

A token belongs to the step whose span its text starts in: tokens before the first span go to step 0,
tokens in a gap or after the last span to the step before them. The tokenizer is tiny-random's (SmolLM2's
byte-level BPE); each case first checks how its text tokenizes, so the expected steps can be read off.
"""

from __future__ import annotations

import pytest

from agents.policy import MAX_PENDING, Policy, token_starts


@pytest.fixture(scope="module")
def tiny():
    return Policy.from_pretrained("tiny-random")


def tokens(policy, text, pieces):
    """The ids of ``text``, after checking they decode to ``pieces`` (one string per token)."""
    ids = policy.tokenizer.encode(text, add_special_tokens=False)
    assert [policy.tokenizer.decode([i]) for i in ids] == pieces
    return ids


def test_tokens_follow_the_spans_they_start_in(tiny):
    ids = tokens(tiny, "one two\nthree four", ["one", " two", "\n", "three", " four"])  # starts 0, 3, 7, 8, 13
    assert tiny.step_of_token(ids, [(0, 8), (8, 18)]) == [0, 0, 0, 1, 1]
    assert tiny.step_of_token(ids, [(0, 3), (3, 8), (8, 18)]) == [0, 1, 1, 2, 2]


def test_a_token_straddling_a_boundary_goes_to_the_step_it_starts_in(tiny):
    ids = tokens(tiny, "ab cd", ["ab", " cd"])  # " cd" starts at 2 (the space), the second span at 3 ("c")
    assert tiny.step_of_token(ids, [(0, 3), (3, 5)]) == [0, 0]
    assert tiny.step_of_token(ids, [(0, 2), (2, 5)]) == [0, 1]


def test_tokens_outside_every_span(tiny):
    ids = tokens(tiny, "I am here.", ["I", " am", " here", "."])  # starts 0, 1, 4, 9
    assert tiny.step_of_token(ids, [(2, 4), (5, 9)]) == [0, 0, 0, 1]  # before the first: step 0; in the gap: step 0
    assert tiny.step_of_token(ids, [(0, 2), (2, 4)]) == [0, 0, 1, 1]  # after the last span: the last step


def test_the_end_of_sequence_token_joins_the_last_step(tiny):
    eos = tiny.tokenizer.eos_token_id
    ids = tokens(tiny, "yes\nno", ["yes", "\n", "no"]) + [eos]  # EOS decodes to nothing: it starts at 6, the end
    assert tiny.step_of_token(ids, [(0, 4), (4, 6)]) == [0, 0, 1, 1]
    assert tiny.step_of_token([eos], [(0, 0)]) == [0]


def test_no_spans_and_empty_spans(tiny):
    ids = tokens(tiny, "sun moon star", ["sun", " moon", " star"])  # starts 0, 3, 8
    assert tiny.step_of_token(ids, None) == [0, 0, 0]
    assert tiny.step_of_token(ids, ()) == [0, 0, 0]
    assert tiny.step_of_token(ids, [(0, 3), (3, 3), (3, 13)]) == [0, 2, 2]  # a zero-width step gets no token
    assert tiny.step_of_token([], [(0, 0)]) == []


def test_multi_byte_characters_in_whole_tokens(tiny):
    ids = tokens(tiny, "naïve café", ["na", "ïve", " café"])  # characters, not bytes: starts 0, 2, 5
    assert tiny.step_of_token(ids, [(0, 5), (5, 10)]) == [0, 0, 1]
    assert tiny.step_of_token(ids, [(0, 2), (2, 10)]) == [0, 1, 1]


def test_a_character_split_across_tokens_in_the_middle_of_a_step(tiny):
    # the parrot is 4 bytes in 3 tokens; "b" is character 2. With the boundary before the parrot (character 1)
    # every byte of it lands in the second step.
    ids = tokens(tiny, "a🦜b", ["a", "�", "�", "�", "b"])
    assert tiny.step_of_token(ids, [(0, 1), (1, 3)]) == [0, 1, 1, 1, 1]


def test_a_character_split_across_tokens_stays_in_its_step(tiny):
    ids = tokens(tiny, "a🦜b", ["a", "�", "�", "�", "b"])
    assert tiny.step_of_token(ids, [(0, 2), (2, 3)]) == [0, 0, 0, 0, 1]


def test_starts_equal_prefix_decoding_on_whole_characters_in_linear_decodes(tiny):
    """Against the definition (the length of the decoded prefix before each token) on mixed text, and the number
    of decodes stays linear: prefix decoding of a 16k-token response would take minutes."""
    text = "### Step 1\nnaïve café: 3 × 4 = 12 🦜🦜\n\n### Step 2\n\\boxed{12} — done. " * 20
    ids = tiny.tokenizer.encode(text, add_special_tokens=False)
    calls = []

    def decode(part):
        calls.append(len(part))
        return tiny.tokenizer.decode(part, skip_special_tokens=True)

    starts = token_starts(decode, ids)
    prefix = [len(tiny.tokenizer.decode(ids[:i], skip_special_tokens=True)) for i in range(len(ids))]
    whole = [
        i
        for i in range(len(ids))
        if not tiny.tokenizer.decode(ids[: i + 1]).endswith("\ufffd")
        and (i == 0 or not tiny.tokenizer.decode(ids[:i]).endswith("\ufffd"))
    ]
    assert [starts[i] for i in whole] == [prefix[i] for i in whole]
    assert starts == sorted(starts) and starts[-1] < len(text)
    assert len(calls) <= 3 * len(ids) and max(calls) <= 2 * MAX_PENDING
