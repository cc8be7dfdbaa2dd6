"""GRPO for ExpRL, one on-policy update per batch.

Outcome and sparse rewards: each rollout's reward is normalised within its group (mean, and std unless
``scale_by_std=False``) and every token of the rollout gets that advantage. Process rewards: the paper's
step advantages are used directly, with no group normalisation: with ``process_norm="delta"``
(DeltaNorm) every token of step k gets s_k - s_{k-1}; ``"end"`` and ``"group"`` are its ablations.
Rollouts the judge could not score are left out of the loss entirely. The loss is the asymmetric-clip
surrogate (0.2 / 0.28) averaged over all tokens of the batch, plus ``kl_coef`` times the low-variance KL
estimate to the frozen starting policy. With one update per batch the sampling policy is the current
policy, so the old log-probs are the new ones detached: no second forward pass is needed.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs
import torch

from agents import objectives as ob
from agents.batch import Batch
from agents.optim import adamw, chunked, guarded_step
from agents.policy import Policy
from agents.protocol import load_optimizer_state, refuse_references

if TYPE_CHECKING:
    from judges.problem import Reference


@attrs.frozen
class GRPOConfig:
    lr: float = 1e-5
    """AdamW learning rate (the paper used 1e-6 on a 4B model; 1e-5 moves a 135M model in tens of steps)."""
    clip_low: float = 0.2
    """Lower ratio clip: 1 - clip_low."""
    clip_high: float = 0.28
    """Upper ratio clip: 1 + clip_high (asymmetric, as in the paper)."""
    kl_coef: float = 0.0
    """Weight of the KL to the starting policy (the paper's: 0.001); 0 turns it off and saves its forward pass."""
    process_norm: str = attrs.field(default="delta", validator=attrs.validators.in_(ob.PROCESS_NORMS))
    """Process advantage. The authors', on step ratings r_k: delta (DeltaNorm: step 1 gets r_1 - r_K, step k >= 2
    r_k - r_{k-1}), end (EndNorm: r_k - r_K), group (GroupNorm as their code computes it: r_k minus the group's mean
    token reward / the token cap, about r_k). Ours, on cumulative progress s_k: delta_zero (s_k - s_{k-1}, s_0 = 0:
    the env's own step reward), group_final (s_k minus the group's mean final score)."""
    scale_by_std: bool = True
    """Divide outcome advantages by the group's std (GRPO); False only centres them."""
    micro_batch: int = 8
    """Rollouts per forward/backward pass (gradient accumulation over the batch)."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    entropy_coef: float = attrs.field(default=0.0, validator=attrs.validators.ge(0.0))
    """Weight of an entropy bonus on response tokens (the authors' stage 2: 1e-4); 0 turns it off."""
    loss_aggregation: str = attrs.field(default="token_mean", validator=attrs.validators.in_(ob.LOSS_AGGREGATIONS))
    """token_mean (every response token of an update weighs the same) or seq_sum_per_batch (each sequence's summed
    token loss, divided by the number of sequences: the authors' stage 2, PipelineRL)."""
    mini_batches: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    """Optimizer updates per batch, on consecutive parts of it (the authors' ppo_mini_batch); the old log-probs are
    taken once before the first, so the clip acts from the second update on."""


class GRPO:
    name = "grpo"
    needs_reference = False

    def __init__(self, policy: Policy, config: GRPOConfig = GRPOConfig()):
        self.policy, self.config = policy, config
        self.params = [p for p in policy.model.parameters() if p.requires_grad]
        self.optimizer = adamw(self.params, config.lr, config.weight_decay)
        self.reference = None
        if config.kl_coef > 0:
            frozen = copy.deepcopy(policy.model).eval().requires_grad_(False)
            self.reference = Policy(frozen, policy.tokenizer, policy.name)

    def token_advantages(self, batch: Batch) -> torch.Tensor:
        """[B, longest response] advantage of every response token (0 for masked rollouts)."""
        longest = max(len(s.response_ids) for s in batch.samples)
        advantages = torch.zeros(len(batch), longest)
        valid = ob.scorable(batch.rewards).bool()
        if batch.reward_kind != "process":
            if self.config.scale_by_std:
                per_rollout = ob.group_advantages(batch.rewards, batch.groups)
            else:
                per_rollout = ob.centered_advantages(batch.rewards, batch.groups)
            for i, sample in enumerate(batch.samples):
                if valid[i]:
                    advantages[i, : len(sample.response_ids)] = per_rollout[i]
            return advantages
        finals = torch.tensor([s[-1] if s else 0.0 for s in batch.step_scores])
        for i, sample in enumerate(batch.samples):
            if not valid[i]:
                continue
            members = (batch.groups == batch.groups[i]) & valid
            scores = batch.step_scores[i] or (0.0,)
            steps = self.policy.step_of_token(sample.response_ids, batch.step_spans[i])
            advantages[i, : len(steps)] = ob.process_token_advantages(
                scores, steps, self.config.process_norm, float(finals[members].mean())
            )
        return advantages

    def update(self, batch: Batch, references: Sequence[Reference] | None = None) -> dict[str, float]:
        refuse_references(self, references)
        advantages = self.token_advantages(batch)
        rows = [i for i in range(len(batch)) if torch.isfinite(batch.rewards[i])]
        total_tokens = sum(len(batch.samples[i].response_ids) for i in rows)
        chunks = chunked(rows, self.config.micro_batch)
        tracked = {"clip_fraction": 0.0, "kl": 0.0}

        def micro_loss(chunk):
            def compute():
                prompts = [batch.samples[i].prompt_ids for i in chunk]
                responses = [batch.samples[i].response_ids for i in chunk]
                logp, mask = self.policy.token_logprobs(prompts, responses, batch.temperature)
                share = mask.sum() / max(total_tokens, 1)
                adv = advantages[chunk][:, : logp.shape[1]]
                loss, clipped = ob.clipped_policy_loss(
                    logp, logp.detach(), adv, mask, self.config.clip_low, self.config.clip_high
                )
                tracked["clip_fraction"] += float(clipped * share)
                if self.reference is not None:
                    with torch.no_grad():
                        ref_logp, _ = self.reference.token_logprobs(prompts, responses, batch.temperature)
                    kl = ob.masked_mean(ob.kl_low_variance(logp, ref_logp), mask)
                    tracked["kl"] += float(kl.detach() * share)
                    loss = loss + self.config.kl_coef * kl
                return loss * share

            return compute

        report = guarded_step(
            self.params, self.optimizer, None, (micro_loss(c) for c in chunks), self.config.max_grad_norm
        )
        valid_adv = advantages[rows] if rows else torch.zeros(1)
        return {**report.metrics(), "advantage_abs_mean": float(valid_adv.abs().mean()), **tracked}

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        load_optimizer_state(self.optimizer, state)
