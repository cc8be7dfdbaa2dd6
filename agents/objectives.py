"""The shared math of every agent: advantages and losses as pure functions on tensors.

Conventions: a batch is [B, T] (rollouts x response tokens) with a 0/1 ``mask`` for real tokens; a
rollout whose reward is NaN (the judge could not judge) has NaN reward and is masked by the caller via
:func:`scorable`; nothing here turns NaN into 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

AUTHORS_NORMS = ("delta", "end", "group")
"""The authors' process advantages (their PR_DELTA, GPR_E, GPPO): each differences per-step ratings r_k."""
OUR_NORMS = ("delta_zero", "group_final")
"""Ours: each differences cumulative progress s_k (or, from a judge that only rates steps, its ratings)."""
PROCESS_NORMS = AUTHORS_NORMS + OUR_NORMS
LOSS_AGGREGATIONS = ("token_mean", "seq_sum_per_batch")


def scorable(rewards: torch.Tensor) -> torch.Tensor:
    """1.0 where a reward is finite, 0.0 where the judge could not judge (NaN)."""
    return torch.isfinite(rewards).float()


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the entries where mask is 1 (0 when there are none)."""
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def _group_stats(rewards: torch.Tensor, groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-rollout (group mean, group std, valid count) over the scorable rollouts of its group."""
    valid = scorable(rewards)
    clean = torch.where(valid.bool(), rewards, torch.zeros_like(rewards))
    means, stds, counts = torch.zeros_like(clean), torch.zeros_like(clean), torch.zeros_like(clean)
    for group in groups.unique():
        members = groups == group
        count = valid[members].sum()
        mean = clean[members].sum() / count.clamp(min=1)
        var = (((clean[members] - mean) ** 2) * valid[members]).sum() / count.clamp(min=1)
        means[members], stds[members], counts[members] = mean, var.sqrt(), count
    return means, stds, counts


def group_advantages(rewards: torch.Tensor, groups: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """GRPO: (r - group mean) / (group std + eps), over scorable rollouts; NaN stays NaN."""
    means, stds, _ = _group_stats(rewards, groups)
    return (rewards - means) / (stds + eps)


def centered_advantages(rewards: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """r - group mean (the paper's stage-2 sparse RL, and a GRPO option without std scaling)."""
    means, _, _ = _group_stats(rewards, groups)
    return rewards - means


def rloo_advantages(rewards: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """REINFORCE leave-one-out: r_i - mean of the other scorable rewards in its group (0 if it is alone)."""
    means, _, counts = _group_stats(rewards, groups)
    others = counts - 1
    loo_mean = (means * counts - torch.nan_to_num(rewards)) / others.clamp(min=1)
    return torch.where(others > 0, rewards - loo_mean, torch.zeros_like(rewards) * rewards)


def process_token_advantages(
    step_scores: Sequence[float], token_steps: Sequence[int], norm: str = "delta", group_mean: float = 0.0
) -> torch.Tensor:
    """Per-token advantages from step scores s_1..s_K (ExpRL's process advantage, no group normalization).

    ``delta`` (DeltaNorm, the paper's): step k's tokens get s_k - s_{k-1}, with s_0 = 0.
    ``end`` (EndNorm): s_k minus the last step's score s_K.
    ``group`` (GroupNorm): s_k minus ``group_mean``, the mean final score of the rollout's group.
    """
    if norm not in PROCESS_NORMS:
        raise ValueError(f"process norm must be one of {PROCESS_NORMS}, got {norm!r}")
    scores = torch.tensor([float(s) for s in step_scores])
    if norm in ("delta", "delta_zero"):
        per_step = scores - torch.cat([torch.zeros(1), scores[:-1]])
    elif norm == "end":
        per_step = scores - scores[-1]
    else:
        per_step = scores - group_mean
    index = torch.tensor(list(token_steps), dtype=torch.long).clamp(max=len(scores) - 1)
    return per_step[index]


def gae(
    rewards: torch.Tensor, values: torch.Tensor, gamma: float = 1.0, lam: float = 0.95
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation over one rollout's tokens; the value after the last token is 0.

    Returns (advantages, returns), each [T].
    """
    advantages = torch.zeros_like(rewards)
    running = torch.zeros(())
    for t in reversed(range(len(rewards))):
        next_value = values[t + 1] if t + 1 < len(rewards) else torch.zeros(())
        delta = rewards[t] + gamma * next_value - values[t]
        running = delta + gamma * lam * running
        advantages[t] = running
    return advantages, advantages + values


def clipped_policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_low: float = 0.2,
    clip_high: float = 0.28,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO/GRPO surrogate with asymmetric clipping, averaged over all valid tokens (token-mean).

    Returns (loss, fraction of tokens whose ratio was clipped).
    """
    ratio = torch.exp(logp - old_logp)
    unclipped = ratio * advantages
    clipped = ratio.clamp(1 - clip_low, 1 + clip_high) * advantages
    loss = -masked_mean(torch.minimum(unclipped, clipped), mask)
    was_clipped = ((ratio < 1 - clip_low) | (ratio > 1 + clip_high)).float()
    return loss, masked_mean(was_clipped, mask)


def kl_low_variance(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token KL(policy || reference) estimate k3 = exp(ref - logp) - (ref - logp) - 1 (>= 0)."""
    diff = ref_logp - logp
    return torch.exp(diff) - diff - 1


def clipped_value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, clip: float = 0.2
) -> torch.Tensor:
    """PPO value loss: half the larger of the plain and clipped squared errors, token-mean."""
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    return 0.5 * masked_mean(torch.maximum((values - returns) ** 2, (clipped - returns) ** 2), mask)


def negative_log_likelihood(logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """SFT loss: mean negative log-likelihood of the target tokens."""
    return -masked_mean(logp, mask)
