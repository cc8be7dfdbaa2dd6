"""Self-distillation as the authors run it (ray_onpolicy_distill.py, core_algos.py's "distill" loss), against values
computed from the definition: the prompt, the teacher, the advantage and its sign, the aggregation. Our earlier
variant (current model, system turn, clipped, token mean) is pinned in tests/agents/test_advantages.py."""

from __future__ import annotations

import pytest
import torch

from agents.batch import Batch
from agents.policy import Policy, Sample
from agents.privileged import TEACHER_USER_TURN, reference_response, teacher_messages
from agents.registry import make_agent
from judges.problem import Reference

REFERENCES = [Reference(("1 + 1 = 2",), "2"), Reference(("2 * 3 = 6", "6 - 1 = 5"), "5")]
PROMPTS = ("What is 1 + 1?", "What is 2 * 3 - 1?")


@pytest.fixture(scope="module")
def tiny():
    return Policy.from_pretrained("tiny-random")


def make_batch(policy, texts=("one two three", "four five six seven eight")):
    samples = []
    for prompt, text in zip(PROMPTS, texts):
        ids = policy.tokenizer.encode(text, add_special_tokens=False)
        samples.append(Sample(tuple(policy.prompt_ids(prompt)), tuple(ids), text, False))
    return Batch(
        tuple(samples),
        torch.tensor([float("nan"), 0.5]),  # the judge's reward is not used: a NaN changes nothing
        torch.tensor([0, 1]),
        "process",
        (None, None),
        (None, None),
        ("p0", "p1"),
        prompts=PROMPTS,
        temperature=0.8,
    )


def plain_logprobs(policy, prompt, response, temperature):
    """The definition: prompt + response through the model in one pass, no padding, no shared prefix."""
    ids = torch.tensor([list(prompt) + list(response)])
    with torch.no_grad():
        logits = policy.model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float() / temperature
    return torch.log_softmax(logits, -1).gather(-1, torch.tensor(response)[:, None])[:, 0]


def test_the_teacher_is_asked_in_one_user_turn_problem_then_reference_then_the_request(tiny):
    system, user = teacher_messages(PROMPTS[1], REFERENCES[1], "user")
    assert system is None
    assert user == TEACHER_USER_TURN.format(problem=PROMPTS[1], reference=reference_response(REFERENCES[1]))
    problem, reference, request = user.index(PROMPTS[1]), user.index("6 - 1 = 5"), user.index("understood")
    assert problem < reference < request  # the authors' order: problem, reference solution, then "solve it"
    agent = make_agent("self_distill", tiny)
    assert agent.teacher_prompt(PROMPTS[1], REFERENCES[1]) == tiny.prompt_ids(user)
    ours = make_agent("self_distill", tiny, teacher_prompt="system", teacher_model="current")
    assert ours.teacher_prompt(PROMPTS[1], REFERENCES[1]) == tiny.prompt_ids(
        PROMPTS[1], system=teacher_messages(PROMPTS[1], REFERENCES[1], "system")[0]
    )


def test_advantage_is_student_minus_teacher_unclipped_and_the_loss_is_each_sequences_token_mean(tiny):
    """Per token a = log p_student - log p_teacher (not clipped, no baseline); loss = mean over sequences of
    (token mean of a * log p_student). A token the student finds likelier than the teacher has a > 0: descending
    the loss lowers its probability."""
    batch = make_batch(tiny)
    agent = make_agent("self_distill", tiny, lr=0.0)
    per_sequence, differences = [], []
    for i, sample in enumerate(batch.samples):
        user = TEACHER_USER_TURN.format(problem=PROMPTS[i], reference=reference_response(REFERENCES[i]))
        student = plain_logprobs(tiny, sample.prompt_ids, sample.response_ids, 0.8)
        teacher = plain_logprobs(tiny, tiny.prompt_ids(user), sample.response_ids, 0.8)
        differences.append(student - teacher)
        per_sequence.append(((student - teacher) * student).mean())
    metrics = agent.update(batch, REFERENCES)
    assert metrics["loss"] == pytest.approx(float(torch.stack(per_sequence).mean()), abs=1e-4)
    every_token = torch.cat(differences)
    assert metrics["reverse_kl"] == pytest.approx(float(every_token.mean()), abs=1e-4)
    assert metrics["teacher_minus_student"] == pytest.approx(float(-every_token.mean()), abs=1e-4)
    assert float(every_token.abs().max()) > 0.01  # a real difference, which a clip of 5 would also leave alone
    token_mean = make_agent("self_distill", tiny, lr=0.0, loss_aggregation="token_mean").update(batch, REFERENCES)
    weighted = torch.cat(
        [d * plain_logprobs(tiny, s.prompt_ids, s.response_ids, 0.8) for d, s in zip(differences, batch.samples)]
    )
    assert token_mean["loss"] == pytest.approx(float(weighted.mean()), abs=1e-4)  # 3 and 5 tokens: differs
    assert token_mean["loss"] != pytest.approx(metrics["loss"], abs=1e-4)


def test_the_advantage_is_data_and_its_gradient_is_the_reverse_kl_gradient(tiny):
    agent = make_agent("self_distill", tiny)
    student = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    advantage, difference = agent.advantages(student, torch.tensor([[-1.5, -1.0]]))
    assert not advantage.requires_grad and torch.equal(difference, torch.tensor([[0.5, -1.0]]))
    (advantage * student).sum().backward()
    assert torch.equal(student.grad, torch.tensor([[0.5, -1.0]]))  # d/dlogp of sum (log s - log t) log s, a fixed
    clipped, _ = make_agent("self_distill", tiny, reward_clip=0.25).advantages(student, torch.tensor([[-1.5, -1.0]]))
    assert torch.equal(clipped, torch.tensor([[0.25, -0.25]]))


def test_the_teacher_is_the_frozen_initial_model_not_the_one_being_trained():
    policy = Policy.from_pretrained("tiny-random")
    batch = make_batch(policy)
    agent = make_agent("self_distill", policy, lr=1e-2)
    teacher_before = agent.teacher_logprobs(batch, REFERENCES, [0, 1])
    student_before, _ = policy.token_logprobs(
        [s.prompt_ids for s in batch.samples], [s.response_ids for s in batch.samples], 0.8
    )
    for _ in range(2):
        assert agent.update(batch, REFERENCES)["applied"] == 1.0
    student_after, _ = policy.token_logprobs(
        [s.prompt_ids for s in batch.samples], [s.response_ids for s in batch.samples], 0.8
    )
    assert not torch.allclose(student_before, student_after, atol=1e-3)  # the student moved
    torch.testing.assert_close(agent.teacher_logprobs(batch, REFERENCES, [0, 1]), teacher_before)  # the teacher not
    assert agent.teacher is not policy and not any(p.requires_grad for p in agent.teacher.model.parameters())

    current = make_agent("self_distill", policy, lr=1e-2, teacher_model="current")
    assert current.teacher is policy  # ours before: the teacher moves with the student
