"""Each agent's per-token credit on a small hand-made batch, against values worked out by hand.

GRPO's outcome and process advantages (the authors' DeltaNorm, EndNorm and GroupNorm on step ratings, ours on
cumulative progress), PPO's rewards on step-end tokens and its GAE targets, REINFORCE's baselines, and what the SFT
and self-distillation losses are taken over. Every batch holds a rollout the judge could not score (NaN), which must
get no credit (NaN advantages, out of the loss) and move no group statistic.

The process batch (groups 0: rollouts 0-2, 1: rollouts 3-4; tokens and their steps read off by hand, see
tests/agents/test_step_of_token.py for the mapping; progress s_k and ratings r_k per step; token cap 8):

    0  "one two\nthree four"   spans (0,8) (8,18)       one|two|\n|three|four  steps 0 0 0 1 1    s .25 .75  r .5 .25
    1  "yes\nno\nmaybe" + EOS  spans (0,4) (4,7) (7,12) yes|\n|no|\n|maybe|EOS steps 0 0 1 1 2 2  s .5 .5 1  r .75 .5 1
    2  "sun moon star"         unscorable (NaN)
    3  "red\nblue green"       spans (0,4) (4,14)       red|\n|blue|green       steps 0 0 1 1      s 0 .4     r .25 1
    4  "cat dog\nbird"         one span (0,12)          cat|dog|\n|bird         steps 0 0 0 0      s .6       r .5
"""

from __future__ import annotations

import copy

import attrs
import pytest
import torch

from agents import objectives as ob
from agents.batch import Batch, MissingStepValues
from agents.optim import adamw, chunked, guarded_step
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
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0, equal_nan=True)


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
        step_ratings=((0.5, 0.25), (0.75, 0.5, 1.0), None, (0.25, 1.0), (0.5,)),
        max_new_tokens=8,
        judge="handmade",
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
    close(with_std, rows([a] * 2, [-a] * 3, [-b] * 4, [b], [NAN] * 3, width=4))
    centred = make_agent("grpo", tiny, scale_by_std=False).token_advantages(outcome_batch)
    close(centred, rows([0.5] * 2, [-0.5] * 3, [-0.3] * 4, [0.3], [NAN] * 3, width=4))


def test_grpo_process_delta_norm_is_the_authors(tiny, process_batch):
    """The authors' DeltaNorm on ratings: step k >= 2 gets r_k - r_{k-1}, step 1 gets r_1 - r_K, so each rollout's
    step advantages sum to 0; a one-step response (rollout 4) gets r_1. Rollout 1 is the issue's example: ratings
    (.75, .5, 1) give (-.25, -.25, .5). The NaN rollout gets NaN (out of the loss); no group normalisation."""
    advantages = make_agent("grpo", tiny, process_norm="delta").token_advantages(process_batch)
    close(
        advantages,
        rows(
            [0.25] * 3 + [-0.25] * 2,
            [-0.25] * 4 + [0.5] * 2,
            [NAN] * 3,
            [-0.75, -0.75, 0.75, 0.75],
            [0.5] * 4,
            width=6,
        ),
    )


def test_grpo_process_delta_zero_is_the_env_reward_on_progress(tiny, process_batch):
    """Ours: step k's tokens get s_k - s_{k-1} with s_0 = 0 (step 1 gets s_1), on cumulative progress."""
    advantages = make_agent("grpo", tiny, process_norm="delta_zero").token_advantages(process_batch)
    close(
        advantages,
        rows([0.25] * 3 + [0.5] * 2, [0.5, 0.5, 0, 0, 0.5, 0.5], [NAN] * 3, [0, 0, 0.4, 0.4], [0.6] * 4, width=6),
    )


def test_grpo_process_end_norm(tiny, process_batch):
    """The authors' EndNorm on ratings: step k's tokens get r_k - r_K."""
    advantages = make_agent("grpo", tiny, process_norm="end").token_advantages(process_batch)
    close(
        advantages,
        rows([0.25] * 3 + [0] * 2, [-0.25, -0.25, -0.5, -0.5, 0, 0], [NAN] * 3, [-0.75, -0.75, 0, 0], [0] * 4, width=6),
    )


def test_grpo_process_group_norm_as_the_authors_code_computes_it(tiny, process_batch):
    """GPPO: r_k minus (the group mean of each rollout's token-mean rating) / the token cap T = 8, the masked rollout
    counting with 0. Group 0 (G = 3): token means (.5 * 3 + .25 * 2) / 5 = .4 and (.75 + .5 + 1) * 2 / 6 = .75, so
    the baseline is 1.15 / 24; group 1 (G = 2): (.25 + 1) * 2 / 4 = .625 and .5, so 1.125 / 16."""
    g0, g1 = 1.15 / 24, 1.125 / 16
    advantages = make_agent("grpo", tiny, process_norm="group").token_advantages(process_batch)
    expected = rows(
        [0.5 - g0] * 3 + [0.25 - g0] * 2,
        [0.75 - g0] * 2 + [0.5 - g0] * 2 + [1.0 - g0] * 2,
        [NAN] * 3,
        [0.25 - g1] * 2 + [1.0 - g1] * 2,
        [0.5 - g1] * 4,
        width=6,
    )
    close(advantages, expected)


def test_grpo_process_group_final_is_ours(tiny, process_batch):
    """Step k's tokens get s_k minus the mean final progress of the scorable rollouts of the group: (.75 + 1) / 2 =
    .875 in group 0 (the NaN rollout left out), (.4 + .6) / 2 = .5 in group 1."""
    advantages = make_agent("grpo", tiny, process_norm="group_final").token_advantages(process_batch)
    close(
        advantages,
        rows(
            [-0.625] * 3 + [-0.125] * 2,
            [-0.375] * 4 + [0.125] * 2,
            [NAN] * 3,
            [-0.5, -0.5, -0.1, -0.1],
            [0.1] * 4,
            width=6,
        ),
    )


def with_values(batch, step_scores, step_ratings):
    return attrs.evolve(batch, step_scores=step_scores, step_ratings=step_ratings)


@pytest.mark.parametrize("norm", ["delta", "end", "group"])
def test_an_authors_norm_with_a_judge_that_gives_no_ratings_is_an_error_naming_the_judge_field_and_norm(
    tiny, process_batch, norm
):
    progress_only = with_values(process_batch, process_batch.step_scores, ())
    with pytest.raises(MissingStepValues, match=rf"process_norm='{norm}'.*step_ratings.*judge 'handmade'"):
        make_agent("grpo", tiny, process_norm=norm).update(progress_only)


def test_our_norms_take_a_rating_only_judges_ratings_as_its_progress(tiny, process_batch):
    """By the environment's rule (it pays such a judge's last rating), the ratings stand in for progress."""
    ratings_only = with_values(process_batch, (None,) * 5, process_batch.step_ratings)
    advantages = make_agent("grpo", tiny, process_norm="delta_zero").token_advantages(ratings_only)
    close(advantages[1], torch.tensor([0.75, 0.75, -0.25, -0.25, 0.5, 0.5]))
    close(advantages[4, :4], torch.tensor([0.5] * 4))


def test_a_step_the_judge_could_not_rate_masks_the_whole_rollout(tiny, process_batch):
    """The authors' rule (a -100 step masks the rollout): a NaN rating anywhere leaves the rollout out of the loss,
    under every norm, and out of the authors' group baseline's sum (it still counts in G)."""
    ratings = list(process_batch.step_ratings)
    ratings[0] = (NAN, 0.25)  # the authors' code would pay step 1 -100 - r_K and keep it (their bug); we mask it
    batch = with_values(process_batch, process_batch.step_scores, tuple(ratings))
    for norm in ("delta", "end", "group"):
        advantages = make_agent("grpo", tiny, process_norm=norm).token_advantages(batch)
        assert torch.isnan(advantages[0, :5]).all() and torch.isfinite(advantages[1]).all()
    group = make_agent("grpo", tiny, process_norm="group").token_advantages(batch)
    close(group[1, 0], torch.tensor(0.75 - 0.75 / 24))  # rollout 0 no longer adds its .4
    lr0 = make_agent("grpo", tiny, process_norm="delta", lr=0.0)
    metrics = lr0.update(batch)
    assert metrics["advantage_abs_mean"] == pytest.approx(float(lr0.token_advantages(batch)[[1, 3, 4]].abs().mean()))


# --- GRPO's update: mini-batches, entropy bonus, loss aggregation -------------------------------------------


def fresh(policy):
    """A copy of the policy whose weights an update may change (the module's ``tiny`` stays as loaded)."""
    return Policy(copy.deepcopy(policy.model), policy.tokenizer, policy.name)


def reference_update(policy, batch, advantages, parts, config):
    """GRPO's update written out from the shared primitives: one guarded AdamW step per part, token-mean over the
    part's tokens, the ratio against log-probs taken before the first step (for the first part: the new ones
    detached, as the code at 3a14986 did for its single update)."""
    params = [p for p in policy.model.parameters() if p.requires_grad]
    optimizer = adamw(params, config.lr, config.weight_decay)

    def inputs(chunk):
        return [batch.samples[i].prompt_ids for i in chunk], [batch.samples[i].response_ids for i in chunk]

    plans = [chunked(part, config.micro_batch) for part in parts]
    with torch.no_grad():
        before = {tuple(c): policy.token_logprobs(*inputs(c), batch.temperature)[0] for plan in plans[1:] for c in plan}
    for part, plan in zip(parts, plans):
        tokens = sum(len(batch.samples[i].response_ids) for i in part)

        def micro(chunk, tokens=tokens):
            def compute():
                logp, mask = policy.token_logprobs(*inputs(chunk), batch.temperature)
                old = before.get(tuple(chunk), logp.detach())
                adv = advantages[chunk][:, : logp.shape[1]]
                loss, _ = ob.clipped_policy_loss(logp, old, adv, mask, config.clip_low, config.clip_high)
                return loss * (mask.sum() / max(tokens, 1))

            return compute

        guarded_step(params, optimizer, None, (micro(c) for c in plan), config.max_grad_norm)


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.model.parameters(), b.model.parameters()))


def test_one_mini_batch_updates_bitwise_as_before(tiny, outcome_batch):
    agent = make_agent("grpo", fresh(tiny), lr=1e-2, micro_batch=2)
    by_hand = fresh(tiny)
    advantages = torch.nan_to_num(agent.token_advantages(outcome_batch))
    reference_update(by_hand, outcome_batch, advantages, [[0, 1, 2, 3]], agent.config)
    metrics = agent.update(outcome_batch)
    assert metrics["applied"] == 1.0 and metrics["clip_fraction"] == 0.0  # ratio 1: nothing to clip
    assert same_weights(agent.policy, by_hand) and not same_weights(agent.policy, tiny)


def test_two_mini_batches_take_the_old_log_probs_once_so_the_clip_acts_on_the_second(tiny, outcome_batch):
    """Rollouts 0-2 and 3-4 (rollout 4, NaN, left out): two AdamW steps; the second part's ratio is against the
    policy that sampled, so after a large first step its tokens are clipped."""
    agent = make_agent("grpo", fresh(tiny), lr=0.5, micro_batch=2, mini_batches=2)
    by_hand = fresh(tiny)
    advantages = torch.nan_to_num(agent.token_advantages(outcome_batch))
    reference_update(by_hand, outcome_batch, advantages, [[0, 1, 2], [3]], agent.config)
    metrics = agent.update(outcome_batch)
    assert metrics["updates_applied"] == 2.0 and metrics["clip_fraction"] > 0.0
    assert same_weights(agent.policy, by_hand)
    assert agent.optimizer.state[agent.params[0]]["step"] == 2


def test_seq_sum_per_batch_divides_the_summed_token_loss_by_the_sequences(tiny, outcome_batch):
    """lr 0, ratio 1: the loss is -sum of the advantages over the tokens, over 10 tokens (token_mean) or over the 4
    scorable sequences (seq_sum_per_batch)."""
    advantages = torch.nan_to_num(make_agent("grpo", tiny).token_advantages(outcome_batch))
    total = float(advantages.sum())
    for aggregation, divisor in (("token_mean", 10), ("seq_sum_per_batch", 4)):
        metrics = make_agent("grpo", tiny, lr=0.0, loss_aggregation=aggregation).update(outcome_batch)
        assert metrics["loss"] == pytest.approx(-total / divisor, abs=1e-5)


def entropy_by_hand(policy, prompt, response, temperature):
    ids = torch.tensor([list(prompt) + list(response)])
    with torch.no_grad():
        logits = policy.model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float() / temperature
    probs = torch.softmax(logits, -1)
    return -(probs * torch.log(probs)).sum(-1)


def test_the_entropy_bonus_is_the_tempered_entropy_at_each_response_token(tiny, outcome_batch):
    """Group 0 has rewards 1 and 0, group 1 .2 and .8: set them all to .5 and every advantage is 0, so the loss is
    -entropy_coef x the token-mean entropy (10 tokens of the 4 scorable rollouts), and a step raises the entropy."""
    flat = attrs.evolve(outcome_batch, rewards=torch.tensor([0.5, 0.5, 0.5, 0.5, NAN]))
    entropies = torch.cat([entropy_by_hand(tiny, s.prompt_ids, s.response_ids, 0.8) for s in flat.samples[:4]])
    metrics = make_agent("grpo", tiny, lr=0.0, entropy_coef=0.1).update(flat)
    assert metrics["entropy"] == pytest.approx(float(entropies.mean()), abs=1e-5)
    assert metrics["loss"] == pytest.approx(-0.1 * float(entropies.mean()), abs=1e-6)
    agent = make_agent("grpo", fresh(tiny), lr=1e-3, entropy_coef=1.0)
    agent.update(flat)
    after = agent.update(flat)  # its entropy is measured with the weights the first update stepped
    assert after["entropy"] > metrics["entropy"] + 1e-3  # 10.7826 -> 10.7868 (the maximum, ln 49152, is 10.8025)


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


def test_ppo_and_reinforce_take_a_rating_only_judges_ratings_as_progress(tiny, process_batch):
    """Rollout 1 rated (.75, .5, 1) and no progress: PPO pays r_k - r_{k-1} on each step's last token (adding up to r_K,
    what the environment pays); REINFORCE's reward-to-go is r_K - r_{k-1}, minus rollout 0's final rating .25 (rloo)."""
    ratings_only = attrs.evolve(process_batch, step_scores=(None,) * 5)
    close(make_agent("ppo", tiny).token_rewards(ratings_only, 1), torch.tensor([0, 0.75, 0, -0.25, 0, 0.5]))
    advantages = make_agent("reinforce", tiny).token_advantages(ratings_only)
    close(advantages[1], torch.tensor([0.75, 0.75, 0.0, 0.0, 0.25, 0.25]))


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
