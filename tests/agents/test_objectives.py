"""Each function of agents.objectives against values computed by hand."""

import math

import pytest
import torch

from agents import objectives as ob

NAN = float("nan")


def close(a, b):
    return torch.allclose(
        torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32), atol=1e-4, equal_nan=True
    )


def test_group_advantages():
    rewards = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.5, 0.5])
    groups = torch.tensor([0, 0, 0, 0, 1, 1])
    # group 0: mean 0.5, std 0.5 -> +-0.5 / (0.5 + eps); group 1: std 0 -> 0
    a = 0.5 / 0.5001
    assert close(ob.group_advantages(rewards, groups, eps=1e-4), [a, -a, a, -a, 0, 0])


def test_unscorable_rollouts_stay_nan_and_do_not_move_the_group():
    rewards = torch.tensor([1.0, NAN, 0.0])
    advantages = ob.group_advantages(rewards, torch.zeros(3, dtype=torch.long), eps=1e-4)
    assert close(advantages, [0.5 / 0.5001, NAN, -0.5 / 0.5001])
    assert close(ob.scorable(rewards), [1, 0, 1])


def test_centered_and_rloo():
    rewards = torch.tensor([3.0, 1.0, 2.0, NAN])
    groups = torch.zeros(4, dtype=torch.long)
    assert close(ob.centered_advantages(rewards, groups), [1.0, -1.0, 0.0, NAN])
    # leave-one-out means: (1+2)/2=1.5, (3+2)/2=2.5, (3+1)/2=2
    assert close(ob.rloo_advantages(rewards, groups), [1.5, -1.5, 0.0, NAN])
    assert close(ob.rloo_advantages(torch.tensor([5.0]), torch.zeros(1, dtype=torch.long)), [0.0])


def test_process_advantages_per_norm():
    values, steps = [0.2, 0.5, 0.5, 1.0], [0, 0, 1, 2, 3, 3]
    # the authors' DeltaNorm: step 1 gets r_1 - r_K = .2 - 1, then r_k - r_{k-1}
    assert close(ob.process_token_advantages(values, steps, "delta"), [-0.8, -0.8, 0.3, 0.0, 0.5, 0.5])
    assert close(ob.process_token_advantages(values, steps, "delta_zero"), [0.2, 0.2, 0.3, 0.0, 0.5, 0.5])
    assert close(ob.process_token_advantages(values, steps, "end"), [-0.8, -0.8, -0.5, -0.5, 0.0, 0.0])
    for norm in ("group", "group_final"):
        assert close(ob.process_token_advantages(values, steps, norm, 0.6), [-0.4, -0.4, -0.1, -0.1, 0.4, 0.4])
    with pytest.raises(ValueError, match="process norm"):
        ob.process_token_advantages(values, steps, "sum")


def test_delta_norm_pins_the_authors_numbers():
    assert close(ob.step_advantages([0.75, 0.5, 1.0], "delta"), [-0.25, -0.25, 0.5])
    assert close(ob.step_advantages([0.75], "delta"), [0.75])  # one step: r_1
    assert close(ob.step_advantages([0.75], "end"), [0.0])
    assert close(ob.step_advantages([0.3, 0.9], "delta"), [-0.6, 0.6])


def test_delta_steps_sum_to_zero_and_delta_zero_steps_to_the_final_value():
    values = [0.25, 0.75, 0.5, 0.0, 1.0]
    assert math.isclose(float(ob.step_advantages(values, "delta").sum()), 0.0, abs_tol=1e-6)
    assert math.isclose(float(ob.step_advantages(values, "delta_zero").sum()), values[-1], abs_tol=1e-6)


@pytest.mark.parametrize("norm", ob.PROCESS_NORMS)
def test_one_unrated_step_makes_every_step_nan(norm):
    assert torch.isnan(ob.step_advantages([0.5, NAN, 1.0], norm, 0.1)).all()


def test_authors_group_baseline_divides_the_mean_token_mean_by_the_width():
    # rollouts: two steps (.5 on 3 tokens, .25 on 2) -> token mean .4; one masked; G = 3, T = 8
    assert math.isclose(ob.token_mean_value([0.5, 0.25], [0, 0, 0, 1, 1]), 0.4, abs_tol=1e-6)
    assert math.isclose(ob.authors_group_baseline([0.4, 0.75], group_size=3, width=8), 1.15 / 24)
    # what their code does, on (G, T) tensors: (reward * mask / mask.sum()).stack().mean()
    rewards = torch.tensor([[0.5] * 3 + [0.25] * 2 + [0] * 3, [0.75] * 2 + [0.5] * 2 + [1.0] * 2 + [0] * 2, [0.0] * 8])
    masks = torch.tensor([[1.0] * 5 + [0] * 3, [1.0] * 6 + [0] * 2, [0.0] * 8])
    theirs = torch.stack([r * m / (m.sum() + 1e-8) for r, m in zip(rewards, masks)]).mean()
    assert math.isclose(float(theirs), 1.15 / 24, rel_tol=1e-5)


def test_gae():
    rewards, values = torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.5, 0.5, 0.5])
    advantages, returns = ob.gae(rewards, values, gamma=1.0, lam=1.0)
    # lam=1: advantage = return - value, return = 1 at every step
    assert close(advantages, [0.5, 0.5, 0.5]) and close(returns, [1.0, 1.0, 1.0])
    advantages, _ = ob.gae(rewards, values, gamma=1.0, lam=0.0)
    # lam=0: one-step TD errors: 0+0.5-0.5, 0+0.5-0.5, 1+0-0.5
    assert close(advantages, [0.0, 0.0, 0.5])


def test_clipped_policy_loss_asymmetric():
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.1, 1.0]]))
    old = torch.zeros(1, 4)
    advantages = torch.tensor([[1.0, -1.0, 1.0, 5.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    loss, clipped = ob.clipped_policy_loss(logp, old, advantages, mask, 0.2, 0.28)
    # ratios 1.5 (A>0: min(1.5, 1.28)=1.28), 0.5 (A<0: min(-0.5, -0.8)=-0.8), 1.1 (1.1); masked token ignored
    assert close(loss, -(1.28 - 0.8 + 1.1) / 3)
    assert close(clipped, 2 / 3)


def test_the_surrogate_summed_per_sequence():
    logp, old = torch.zeros(2, 3), torch.zeros(2, 3)
    advantages = torch.tensor([[1.0, 1.0, 1.0], [2.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    token_mean, _ = ob.clipped_policy_loss(logp, old, advantages, mask)
    assert close(token_mean, -(3 + 2) / 4)  # 4 tokens
    per_sequence, _ = ob.clipped_policy_loss(logp, old, advantages, mask, reduce=ob.sequence_sum(2))
    assert close(per_sequence, -(3 + 2) / 2)  # 2 sequences


def test_kl_low_variance():
    assert close(ob.kl_low_variance(torch.tensor([0.0]), torch.tensor([0.0])), [0.0])
    # diff = ref - logp = -1: e^-1 + 1 - 1
    assert close(ob.kl_low_variance(torch.tensor([1.0]), torch.tensor([0.0])), [math.exp(-1)])


def test_value_and_sft_losses():
    values, old, returns = torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.0]), torch.tensor([0.0, 1.0])
    mask = torch.ones(2)
    # token 0: plain (1-0)^2=1, clipped value 0.7 -> 0.49, max 1; token 1: 1 and 1 -> mean 1, half 0.5
    assert close(ob.clipped_value_loss(values, old, returns, mask, 0.2), 0.5)
    assert close(ob.negative_log_likelihood(torch.tensor([[-1.0, -3.0]]), torch.tensor([[1.0, 1.0]])), 2.0)


def test_the_vllm_backend_says_what_it_needs_when_vllm_is_absent():
    import importlib.util

    from agents.generation import VLLMGenerator

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here; this checks the message on machines without it")
    with pytest.raises(ImportError, match="pip install vllm"):
        VLLMGenerator("tiny-random")
