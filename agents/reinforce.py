"""REINFORCE, with a leave-one-out baseline (RLOO) by default.

Each token's weight is the rollout's return minus a baseline. Outcome and sparse rewards: the return is
the reward; process rewards: a token of step k gets its reward-to-go s_K - s_{k-1} (the sum of the
environment's step rewards from step k on). Like PPO it takes cumulative progress s_k, whose differences
the environment pays (from a judge that only rates steps, its ratings, by the environment's rule), not the
authors' per-step ratings. The baseline is the mean final reward of the *other* rollouts of the group
(``rloo``), of the whole group (``mean``), or nothing (``none``). Unscorable rollouts are left out of the
loss and of every baseline. Loss: -mean over tokens of (advantage x log-prob).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs
import torch

from agents import distributed
from agents import objectives as ob
from agents.batch import Batch
from agents.optim import adamw, chunked, guarded_step
from agents.policy import Policy
from agents.protocol import load_optimizer_state, refuse_references

if TYPE_CHECKING:
    from judges.problem import Reference

BASELINES = ("rloo", "mean", "none")


@attrs.frozen
class ReinforceConfig:
    lr: float = 1e-6
    """AdamW learning rate."""
    baseline: str = attrs.field(default="rloo", validator=attrs.validators.in_(BASELINES))
    """rloo (leave-one-out group mean), mean (group mean) or none."""
    micro_batch: int = 8
    """Rollouts per forward/backward pass."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""


class Reinforce:
    name = "reinforce"
    needs_reference = False

    def __init__(self, policy: Policy, config: ReinforceConfig = ReinforceConfig()):
        self.policy, self.config = policy, config
        self.params = [p for p in policy.model.parameters() if p.requires_grad]
        self.optimizer = adamw(self.params, config.lr)

    def token_advantages(self, batch: Batch) -> torch.Tensor:
        process = batch.reward_kind == "process"
        valid = torch.isfinite(batch.rewards)
        progress = [batch.step_values(i, "progress") if process and valid[i] else None for i in range(len(batch))]
        finals = torch.tensor([p[-1] if p else float(r) for p, r in zip(progress, batch.rewards)])
        finals = torch.where(valid, finals, batch.rewards)
        if self.config.baseline == "rloo":
            baseline = finals - ob.rloo_advantages(finals, batch.groups)
        elif self.config.baseline == "mean":
            baseline = finals - ob.centered_advantages(finals, batch.groups)
        else:
            baseline = torch.zeros_like(finals)
        longest = max(len(s.response_ids) for s in batch.samples)
        advantages = torch.zeros(len(batch), longest)
        for i, sample in enumerate(batch.samples):
            if not torch.isfinite(finals[i]):
                continue
            n = len(sample.response_ids)
            if progress[i]:
                scores = torch.tensor(progress[i])
                before = torch.cat([torch.zeros(1), scores[:-1]])
                steps = torch.tensor(self.policy.step_of_token(sample.response_ids, batch.step_spans[i]))
                advantages[i, :n] = (scores[-1] - before)[steps.clamp(max=len(scores) - 1)] - baseline[i]
            else:
                advantages[i, :n] = finals[i] - baseline[i]
        return advantages

    def update(self, batch: Batch, references: Sequence[Reference] | None = None) -> dict[str, float]:
        refuse_references(self, references)
        advantages = self.token_advantages(batch)
        rows = [i for i in range(len(batch)) if torch.isfinite(batch.rewards[i])]
        total_tokens = distributed.total(sum(len(batch.samples[i].response_ids) for i in rows))
        chunks = chunked(rows, self.config.micro_batch)

        def micro_loss(chunk):
            def compute():
                logp, mask = self.policy.token_logprobs(
                    [batch.samples[i].prompt_ids for i in chunk],
                    [batch.samples[i].response_ids for i in chunk],
                    batch.temperature,
                )
                adv = advantages[chunk][:, : logp.shape[1]]
                return -(adv * logp * mask).sum() / max(total_tokens, 1)

            return compute

        report = guarded_step(
            self.params, self.optimizer, None, (micro_loss(c) for c in chunks), self.config.max_grad_norm
        )
        valid_adv = advantages[rows] if rows else torch.zeros(1)
        return {**report.metrics(), "advantage_abs_mean": distributed.padded_mean(valid_adv.abs())}

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        load_optimizer_state(self.optimizer, state)
