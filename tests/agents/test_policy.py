"""The policy's sampling loop and scoring pass against the plain definitions they optimise."""

import logging
import warnings

import pytest
import torch

from agents.policy import Policy, SamplingConfig, next_tokens


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return Policy.from_pretrained("tiny-random")


def full_forward_logprobs(policy, prompts, responses, temperature):
    """The definition: each row's prompt + response through the model alone, no padding, no sharing."""
    rows = []
    for prompt, response in zip(prompts, responses):
        ids = torch.tensor([list(prompt) + list(response)])
        logits = policy.model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float() / temperature
        rows.append(torch.log_softmax(logits, -1).gather(-1, torch.tensor(response)[:, None])[:, 0])
    return rows


SECOND_PROMPTS = {
    "padded": "Name a prime number larger than ten, then explain why it is prime.",
    "unpadded": "What is 3 + 3?",
}


@pytest.mark.parametrize("layout", SECOND_PROMPTS)
def test_shared_prefix_scoring_equals_one_full_forward_per_row(tiny, layout):
    prompts = [tiny.prompt_ids("What is 2 + 2?")] * 3 + [tiny.prompt_ids(SECOND_PROMPTS[layout])] * 2
    assert (len(set(map(len, prompts))) == 1) == (layout == "unpadded")
    responses = [[5, 6, 7, 8], [9], [10, 11, 12, 13, 14, 15], [16, 17], [18, 19, 20]]
    weights = torch.randn(len(prompts), 6)

    logp, mask = tiny.token_logprobs(prompts, responses, temperature=0.8)
    (logp * weights).sum().backward()
    shared_grads = [p.grad.clone() for p in tiny.model.parameters()]
    tiny.model.zero_grad()

    expected = full_forward_logprobs(tiny, prompts, responses, 0.8)
    sum((row * weights[i, : len(row)]).sum() for i, row in enumerate(expected)).backward()
    for i, row in enumerate(expected):
        assert mask[i].sum() == len(row)
        torch.testing.assert_close(logp[i, : len(row)], row, atol=1e-5, rtol=1e-5)
        assert torch.all(logp[i, len(row) :] == 0)
    for shared, plain in zip(shared_grads, (p.grad for p in tiny.model.parameters())):
        torch.testing.assert_close(shared, plain, atol=1e-4, rtol=1e-3)  # summation order only
    tiny.model.zero_grad()


def test_value_head_states_are_the_states_that_predict_each_token(tiny):
    prompts, responses = [tiny.prompt_ids("Hi"), tiny.prompt_ids("Hello there, friend")], [[5, 6, 7], [8, 9]]
    with torch.no_grad():
        _, mask, states = tiny.forward_responses(prompts, responses, hidden=True)
        for i, (prompt, response) in enumerate(zip(prompts, responses)):
            ids = torch.tensor([prompt + response])
            last = tiny.model(input_ids=ids, output_hidden_states=True).hidden_states[-1][0]
            expected = last[len(prompt) - 1 : len(prompt) - 1 + len(response)]
            torch.testing.assert_close(states[i, : len(response)], expected, atol=1e-5, rtol=1e-5)
            assert torch.all(states[i, len(response) :] == 0)


@pytest.mark.parametrize("layout", SECOND_PROMPTS)
def test_greedy_sampling_equals_generate_on_each_prompt_alone(tiny, layout):
    prompts = [tiny.prompt_ids("What is 2 + 2?"), tiny.prompt_ids(SECOND_PROMPTS[layout])] * 2
    samples = tiny.sample(prompts, SamplingConfig(temperature=0.0, max_new_tokens=12))
    for prompt, sample in zip(prompts, samples):
        alone = tiny.model.generate(
            input_ids=torch.tensor([prompt]),
            attention_mask=torch.ones(1, len(prompt)),
            max_new_tokens=12,
            do_sample=False,
            pad_token_id=tiny.tokenizer.pad_token_id,
        )
        expected = alone[0, len(prompt) :].tolist()
        eos = tiny.tokenizer.eos_token_id
        expected = expected[: expected.index(eos) + 1] if eos in expected else expected
        assert list(sample.response_ids) == expected
        assert sample.prompt_ids == tuple(prompt)
        assert sample.finished == (eos in expected)


def test_sampling_is_reproducible_from_the_seed_and_rows_differ(tiny):
    prompts = [tiny.prompt_ids("Count to three.")] * 4
    config = SamplingConfig(temperature=1.0, max_new_tokens=10)
    torch.manual_seed(3)
    first = tiny.sample(prompts, config)
    torch.manual_seed(3)
    again = tiny.sample(prompts, config)
    assert [s.response_ids for s in first] == [s.response_ids for s in again]
    assert len({s.response_ids for s in first}) > 1  # a group shares its prefill, not its randomness


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_sampling_and_scoring_warn_of_no_deprecated_transformers_api(tiny):
    """transformers 5.24 renamed the KV-cache argument ``past_key_values`` to ``cache`` and warns (a FutureWarning,
    plus a log line) on every call that uses the old name; 5.40 removes it. Every path through the cache: sampling
    (greedy and sampled), scoring with gradients, value-head states."""
    prompts = [tiny.prompt_ids("What is 2 + 2?")] * 2 + [tiny.prompt_ids("Name a prime number larger than ten.")]
    responses = [[5, 6, 7], [8], [9, 10, 11, 12]]
    logging.Logger.warning_once.cache_clear()  # transformers logs some deprecations once per process
    records = Records()
    logging.getLogger("transformers").addHandler(records)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            warnings.simplefilter("error", DeprecationWarning)
            tiny.sample(prompts, SamplingConfig(temperature=0.0, max_new_tokens=4))
            tiny.sample(prompts, SamplingConfig(temperature=0.8, max_new_tokens=4))
            logp, _ = tiny.token_logprobs(prompts, responses, temperature=0.8)
            logp.sum().backward()
            with torch.no_grad():
                tiny.forward_responses(prompts, responses, hidden=True)
    finally:
        logging.getLogger("transformers").removeHandler(records)
        tiny.model.zero_grad()
    assert not [m for m in records.messages if "deprecated" in m.lower()]


def test_next_tokens_greedy_temperature_and_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert next_tokens(logits, 0.0).item() == 0
    torch.manual_seed(0)
    nucleus = {next_tokens(logits, 1.0, top_p=0.7).item() for _ in range(200)}
    assert nucleus == {0, 1}  # 0.5 < 0.7 so token 1 is needed; 0.5 + 0.3 >= 0.7 so token 2 is not
    torch.manual_seed(0)
    everything = {next_tokens(logits, 1.0).item() for _ in range(400)}
    assert everything == {0, 1, 2, 3}


def test_next_tokens_draws_each_token_with_its_probability():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2, 0.0]]).expand(4000, 4))
    torch.manual_seed(1)
    counts = torch.bincount(next_tokens(logits, 1.0), minlength=4).float() / 4000
    torch.testing.assert_close(counts, torch.tensor([0.5, 0.3, 0.2, 0.0]), atol=0.03, rtol=0)  # ~4 sigma
