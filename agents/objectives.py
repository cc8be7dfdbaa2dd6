"""The shared math of every agent: advantages and losses as pure functions on tensors.

Conventions: a batch is [B, T] (rollouts x response tokens) with a 0/1 ``mask`` for real tokens; a
rollout whose reward is NaN (the judge could not judge) has NaN reward and is masked by the caller via
:func:`scorable`; nothing here turns NaN into 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

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


def step_advantages(values: Sequence[float], norm: str = "delta", baseline: float = 0.0) -> torch.Tensor:
    """Per-step process advantages [K] of one rollout from its step values v_1..v_K (no group normalisation).

    The authors' norms take step ratings r_k (each step's own rating); ours take cumulative progress s_k:

    - ``delta`` (the authors' DeltaNorm; ray_trainer_genrm.py:1426-1437 with core_algos.py PR_DELTA, an identity):
      step k >= 2 gets r_k - r_{k-1} and step 1 gets r_1 - r_K, so a rollout's step advantages sum to 0 (pure credit
      reassignment between steps); a one-step response gets r_1.
    - ``end`` (EndNorm, core_algos.py GPR_E:264-284): r_k - r_K.
    - ``group`` (GroupNorm as core_algos.py GPPO:394-417 computes it): r_k - ``baseline``, see
      :func:`authors_group_baseline` (about r_k: the authors' baseline is divided by the token cap).
    - ``delta_zero`` (ours): s_k - s_{k-1} with s_0 = 0, the environment's own step reward; the steps sum to s_K, so
      it also carries the outcome.
    - ``group_final`` (ours): s_k - ``baseline``, the mean final score s_K of the rollout's group.

    A NaN value (a step the judge could not rate) makes every step NaN: one unrated step masks the whole rollout, as
    the authors' -100 marker does (ray_trainer_genrm.py:1441-1443, 1459-1462).
    """
    if norm not in PROCESS_NORMS:
        raise ValueError(f"process norm must be one of {PROCESS_NORMS}, got {norm!r}")
    v = torch.tensor([float(x) for x in values])
    if len(v) == 0:
        raise ValueError("a process advantage needs at least one step value")
    if not bool(torch.isfinite(v).all()):
        return torch.full_like(v, math.nan)
    if norm == "delta":
        return v.clone() if len(v) == 1 else v - torch.roll(v, 1)  # roll: (v_K, v_1, ..., v_{K-1})
    if norm == "delta_zero":
        return v - torch.cat([torch.zeros(1), v[:-1]])
    if norm == "end":
        return v - v[-1]
    return v - baseline


def process_token_advantages(
    values: Sequence[float], token_steps: Sequence[int], norm: str = "delta", baseline: float = 0.0
) -> torch.Tensor:
    """Every token of step k gets step k's advantage (:func:`step_advantages`), as the authors broadcast it
    (ray_trainer_genrm.py:1437); ``token_steps`` is each token's step index (tokens past the last step: the last)."""
    per_step = step_advantages(values, norm, baseline)
    index = torch.tensor(list(token_steps), dtype=torch.long).clamp(max=len(per_step) - 1)
    return per_step[index]


def token_mean_value(values: Sequence[float], token_steps: Sequence[int]) -> float:
    """The mean over a rollout's tokens of its step value (each token carrying its step's value)."""
    index = torch.tensor(list(token_steps), dtype=torch.long).clamp(max=len(values) - 1)
    return float(torch.tensor([float(x) for x in values])[index].mean()) if len(index) else 0.0


def authors_group_baseline(token_means: Sequence[float], group_size: int, width: int) -> float:
    """The baseline the authors' GPPO subtracts (core_algos.py:406-415), as their code computes it.

    Per rollout j it forms ``reward_j * mask_j / mask_j.sum()``, a vector over the padded response width T (not a
    sum), then takes ``.mean()`` over the group's G x T entries: the group mean of each rollout's token-mean reward,
    divided by T. verl pads responses to the token cap (vllm_rollout_spmd.py:354), 16,384 in every script, so the
    baseline is below 1/16,384 and the advantage is about r_k. Masked rollouts count in G with 0 (their mask is 0).
    ``token_means`` are the scorable rollouts' token-mean ratings; ``group_size`` counts every rollout of the group.
    """
    return float(sum(token_means)) / (group_size * width)


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
    reduce: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = masked_mean,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO/GRPO surrogate with asymmetric clipping, aggregated over the valid tokens by ``reduce`` (token-mean
    unless told otherwise, e.g. :func:`sequence_sum`).

    Returns (loss, fraction of tokens whose ratio was clipped).
    """
    ratio = torch.exp(logp - old_logp)
    unclipped = ratio * advantages
    clipped = ratio.clamp(1 - clip_low, 1 + clip_high) * advantages
    loss = -reduce(torch.minimum(unclipped, clipped), mask)
    was_clipped = ((ratio < 1 - clip_low) | (ratio > 1 + clip_high)).float()
    return loss, masked_mean(was_clipped, mask)


def sequence_sum(sequences: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A ``reduce`` that sums the valid tokens' values and divides by ``sequences``: the PipelineRL aggregation of the
    authors' stage 2 (stage2_pipeline_rl/pipelinerl/finetune/rl/__init__.py:225,290-292: token weight 1 / batch_size,
    batch_size = the sequences of one optimizer step, finetune_loop.py:585), so a long sequence weighs more."""
    return lambda values, mask: (values * mask).sum() / max(sequences, 1)


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
