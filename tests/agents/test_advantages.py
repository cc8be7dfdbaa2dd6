"""Each agent's per-token credit on a small hand-made batch, against values worked out by hand.

Regression tests of the current behaviour (not of a proposal): GRPO's outcome and process advantages
(DeltaNorm with s_0 = 0, EndNorm, GroupNorm), PPO's rewards on step-end tokens and its GAE targets,
REINFORCE's baselines, and what the SFT and self-distillation losses are taken over. Every batch holds a
rollout the judge could not score (NaN), which must get no credit and move no group statistic.

The process batch (groups 0: rollouts 0-2, 1: rollouts 3-4; tokens and their steps read off by hand, see
tests/agents/test_step_of_token.py for the mapping):

    0  "one two\\nthree four"   spans (0,8) (8,18)       one|two|\\n|three|four  steps 0 0 0 1 1    scores .25 .75
    1  "yes\\nno\\nmaybe" + EOS  spans (0,4) (4,7) (7,12) yes|\\n|no|\\n|maybe|EOS steps 0 0 1 1 2 2  scores .5 .5 1
    2  "sun moon star"         unscorable (NaN)
    3  "red\\nblue green"       spans (0,4) (4,14)       red|\\n|blue|green       steps 0 0 1 1      scores 0 .4
    4  "cat dog\\nbird"         one span (0,12)          cat|dog|\\n|bird         steps 0 0 0 0      scores .6
"""

from __future__ import annotations

import pytest
import torch

from agents.batch import Batch
from agents.policy import Policy, Sample
from agents.ppo import PPOConfig
from agents.privileged import TEACHER_CONTEXT, reference_response
from agents.registry import make_agent
from judges.problem import Reference

NAN = float("nan")


@pytest.fixture(scope="module")
def tiny():
    return Policy.from_pretrained("tiny-random")


def sample(policy, text, eos=False, prompt=(1, 2, 3)):
    ids = policy.tokenizer.encode(text, add_special_tokens=False) + ([policy.tokenizer.eos_token_id] if eos else [])
    return Sample(tuple(prompt), tuple(ids), text, eos)


def rows(*values, width):
    """A [len(values), width] tensor, each row padded with zeros."""
    return torch.tensor([list(v) + [0.0] * (width - len(v)) for v in values])


def close(actual, expected):
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def process_batch(tiny):
    samples = (
        sample(tiny, "one two\nthree four"),
        sample(tiny, "yes\nno\nmaybe", eos=True),
        sample(tiny, "sun moon star"),
        sample(tiny, "red\nblue green"),
        sample(tiny, "cat dog\nbird"),
    )
    assert [len(s.response_ids) for s in samples] == [5, 6, 3, 4, 4]
    return Batch(
        samples,
        torch.tensor([0.75, 1.0, NAN, 0.4, 0.6]),
        torch.tensor([0, 0, 0, 1, 1]),
        "process",
        ((0.25, 0.75), (0.5, 0.5, 1.0), None, (0.0, 0.4), (0.6,)),
        (((0, 8), (8, 18)), ((0, 4), (4, 7), (7, 12)), None, ((0, 4), (4, 14)), ((0, 12),)),
        ("p0", "p0", "p0", "p1", "p1"),
        prompts=("Q0",) * 3 + ("Q1",) * 2,
        temperature=0.8,
    )


@pytest.fixture(scope="module")
def outcome_batch(tiny):
    """Groups 0: rewards 1, 0 (lengths 2, 3); 1: rewards .2, .8, NaN (lengths 4, 1, 3)."""
    samples = (
        sample(tiny, "a b"),
        sample(tiny, "cat dog\nbird"[:7], eos=True),
        sample(tiny, "I am here."),
        sample(tiny, "sun"),
        sample(tiny, "sun moon star"),
    )
    assert [len(s.response_ids) for s in samples] == [2, 3, 4, 1, 3]
    return Batch(
        samples,
        torch.tensor([1.0, 0.0, 0.2, 0.8, NAN]),
        torch.tensor([0, 0, 1, 1, 1]),
        "outcome",
        (None,) * 5,
        (None,) * 5,
        ("p0", "p0", "p1", "p1", "p1"),
        prompts=("Q0",) * 2 + ("Q1",) * 3,
        temperature=0.8,
    )


# --- GRPO ---------------------------------------------------------------------------------------------------


def test_grpo_outcome_advantages_with_and_without_the_group_std(tiny, outcome_batch):
    a, b = 0.5 / (0.5 + 1e-4), 0.3 / (0.3 + 1e-4)  # group 0: mean .5, std .5; group 1 (NaN left out): .5, .3
    with_std = make_agent("grpo", tiny).token_advantages(outcome_batch)
    close(with_std, rows([a] * 2, [-a] * 3, [-b] * 4, [b], [], width=4))
    centred = make_agent("grpo", tiny, scale_by_std=False).token_advantages(outcome_batch)
    close(centred, rows([0.5] * 2, [-0.5] * 3, [-0.3] * 4, [0.3], [], width=4))


def test_grpo_process_delta_norm(tiny, process_batch):
    """Step k's tokens get s_k - s_{k-1} with s_0 = 0 (so step 1 gets s_1); no group normalisation."""
    advantages = make_agent("grpo", tiny, process_norm="delta").token_advantages(process_batch)
    close(
        advantages,
        rows([0.25] * 3 + [0.5] * 2, [0.5, 0.5, 0.0, 0.0, 0.5, 0.5], [], [0.0, 0.0, 0.4, 0.4], [0.6] * 4, width=6),
    )


def test_grpo_process_end_norm(tiny, process_batch):
    """Step k's tokens get s_k - s_K."""
    advantages = make_agent("grpo", tiny, process_norm="end").token_advantages(process_batch)
    close(
        advantages, rows([-0.5] * 3 + [0.0] * 2, [-0.5] * 4 + [0.0] * 2, [], [-0.4, -0.4, 0.0, 0.0], [0.0] * 4, width=6)
    )


def test_grpo_process_group_norm(tiny, process_batch):
    """Step k's tokens get s_k minus the mean final score of the scorable rollouts of the group: (.75 + 1) / 2 =
    .875 in group 0 (the NaN rollout left out), (.4 + .6) / 2 = .5 in group 1."""
    advantages = make_agent("grpo", tiny, process_norm="group").token_advantages(process_batch)
    close(
        advantages,
        rows([-0.625] * 3 + [-0.125] * 2, [-0.375] * 4 + [0.125] * 2, [], [-0.5, -0.5, -0.1, -0.1], [0.1] * 4, width=6),
    )


# --- PPO ----------------------------------------------------------------------------------------------------


def test_ppo_puts_each_step_reward_on_the_step_end_token(tiny, process_batch, outcome_batch):
    ppo = make_agent("ppo", tiny)
    expected = {0: [0, 0, 0.25, 0, 0.5], 1: [0, 0.5, 0, 0, 0, 0.5], 3: [0, 0, 0, 0.4], 4: [0, 0, 0, 0.6]}
    for i, rewards in expected.items():
        close(ppo.token_rewards(process_batch, i), torch.tensor(rewards))
        assert float(ppo.token_rewards(process_batch, i).sum()) == pytest.approx(process_batch.step_scores[i][-1])
    close(ppo.token_rewards(outcome_batch, 2), torch.tensor([0, 0, 0, 0.2]))  # outcome: on the last token


def test_ppo_a_step_without_tokens_pays_on_the_last_token(tiny, process_batch):
    ids = sample(tiny, "sun moon star").response_ids  # starts 0, 3, 8: the zero-width step 2 gets no token
    batch = Batch(
        (Sample((1, 2, 3), ids, "sun moon star", False),),
        torch.tensor([0.9]),
        torch.tensor([0]),
        "process",
        ((0.2, 0.5, 0.9),),
        (((0, 3), (3, 3), (3, 13)),),
        ("p0",),
    )
    close(make_agent("ppo", tiny).token_rewards(batch, 0), torch.tensor([0.2, 0.0, 0.7]))  # .3 and .4 on the last


def test_ppo_gae_targets_and_whitening(tiny, process_batch):
    """lam = 1, gamma = 1, values 0: advantages and returns are each token's reward-to-go; with values
    v and lam = .5, rollout 4 (rewards 0 0 0 .6, v = .1 .2 .3 .4): deltas .1 .1 .1 .2, advantages .2 each,
    returns .3 .4 .5 .6. Advantages are then whitened over the scorable tokens."""
    ppo = make_agent("ppo", tiny, lam=1.0)
    advantages, returns, mask = ppo.token_targets(process_batch, torch.zeros(5, 6))
    to_go = rows([0.75] * 3 + [0.5] * 2, [1.0, 1.0, 0.5, 0.5, 0.5, 0.5], [], [0.4] * 4, [0.6] * 4, width=6)
    close(returns, to_go)
    close(mask, rows([1] * 5, [1] * 6, [], [1] * 4, [1] * 4, width=6))
    valid = to_go[mask.bool()]
    mean, std = valid.mean(), ((valid - valid.mean()) ** 2).mean().sqrt()
    close(advantages, (to_go - mean) / (std + 1e-6) * mask)

    values = torch.zeros(5, 6)
    values[4, :4] = torch.tensor([0.1, 0.2, 0.3, 0.4])
    gae = make_agent("ppo", tiny, lam=0.5)
    assert isinstance(gae.config, PPOConfig)
    _, returns, _ = gae.token_targets(process_batch, values)
    close(returns[4, :4], torch.tensor([0.3, 0.4, 0.5, 0.6]))


# --- REINFORCE ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "baseline, group0, group1",
    [
        ("rloo", (1.0, -1.0), (-0.6, 0.6)),  # r minus the mean of the other scorable rewards of its group
        ("mean", (0.5, -0.5), (-0.3, 0.3)),  # r minus the group's mean (NaN left out)
        ("none", (1.0, 0.0), (0.2, 0.8)),
    ],
)
def test_reinforce_outcome_advantages(tiny, outcome_batch, baseline, group0, group1):
    advantages = make_agent("reinforce", tiny, baseline=baseline).token_advantages(outcome_batch)
    close(advantages, rows([group0[0]] * 2, [group0[1]] * 3, [group1[0]] * 4, [group1[1]], [], width=4))


def test_reinforce_process_reward_to_go_minus_the_leave_one_out_baseline(tiny, process_batch):
    """Step k's tokens get s_K - s_{k-1}; baselines: rollout 0: 1.0 (rollout 1's final), rollout 1: .75,
    rollout 3: .6, rollout 4: .4."""
    advantages = make_agent("reinforce", tiny).token_advantages(process_batch)
    close(
        advantages,
        rows([-0.25] * 3 + [-0.5] * 2, [0.25, 0.25, -0.25, -0.25, -0.25, -0.25], [], [-0.2] * 4, [0.2] * 4, width=6),
    )


# --- the baselines: what their losses are over --------------------------------------------------------------

REFERENCES = {"p0": Reference(("1 + 1 = 2",), "2"), "p1": Reference(("2 * 3 = 6", "6 - 1 = 5"), "5")}


def plain_logprobs(policy, prompt, response, temperature=1.0):
    """The definition: prompt + response through the model in one pass, no padding, no shared prefix."""
    ids = torch.tensor([list(prompt) + list(response)])
    with torch.no_grad():
        logits = policy.model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float() / temperature
    return torch.log_softmax(logits, -1).gather(-1, torch.tensor(response)[:, None])[:, 0]


def test_sft_trains_on_one_reference_per_problem_not_on_the_samples(tiny, process_batch):
    sft = make_agent("sft", tiny, lr=0.0, max_target_tokens=8)
    references = [REFERENCES[pid] for pid in process_batch.problem_ids]
    examples = sft.examples(process_batch, references)
    eos = tiny.tokenizer.eos_token_id
    expected = []
    for first, pid in ((0, "p0"), (3, "p1")):  # one per distinct problem, even the one whose rollout was NaN
        target = tiny.tokenizer.encode(reference_response(REFERENCES[pid]), add_special_tokens=False)
        expected.append((process_batch.samples[first].prompt_ids, target[:7] + [eos]))  # cut to 8 with EOS
    assert examples == expected
    metrics = sft.update(process_batch, references)
    nll = torch.cat([plain_logprobs(tiny, p, t) for p, t in expected])
    assert metrics["sft_examples"] == 2.0
    assert metrics["loss"] == pytest.approx(float(-nll.mean()), abs=1e-4)  # token mean over both targets


@pytest.mark.parametrize("reward_clip", [5.0, 0.01])
def test_self_distillation_rewards_every_sampled_token_by_teacher_minus_student(tiny, process_batch, reward_clip):
    """Our variant before issue 13 (the authors' is tests/agents/test_self_distill.py). Every rollout counts, the
    judge's NaN included: the reward is not used. Per token: clamp(log p_teacher - log p_student); loss: -mean over
    all tokens of reward x log p_student."""
    ours = dict(teacher_model="current", teacher_prompt="system", loss_aggregation="token_mean")
    agent = make_agent("self_distill", tiny, lr=0.0, reward_clip=reward_clip, **ours)
    references = [REFERENCES[pid] for pid in process_batch.problem_ids]
    rewards, weighted = [], []
    for i, s in enumerate(process_batch.samples):
        system = TEACHER_CONTEXT.format(reference=reference_response(references[i]))
        teacher_prompt = tiny.prompt_ids(process_batch.prompts[i], system=system)
        student = plain_logprobs(tiny, s.prompt_ids, s.response_ids, 0.8)
        teacher = plain_logprobs(tiny, teacher_prompt, s.response_ids, 0.8)
        reward = (teacher - student).clamp(-reward_clip, reward_clip)
        rewards.append(reward)
        weighted.append(reward * student)
    metrics = agent.update(process_batch, references)
    assert metrics["teacher_minus_student"] == pytest.approx(float(torch.cat(rewards).mean()), abs=1e-4)
    assert metrics["loss"] == pytest.approx(float(-torch.cat(weighted).mean()), abs=1e-4)
    if reward_clip == 0.01:
        assert float(torch.cat(rewards).abs().max()) == pytest.approx(0.01)  # the clip is what was reached
