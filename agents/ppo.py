"""PPO with a value head on the language model, GAE over tokens.

Rewards sit on tokens: with process rewards, step k's reward s_k - s_{k-1} is placed on the last token of
step k (so the rewards of a rollout add up to its final process score); with outcome or sparse rewards the
reward sits on the last token. These are the environment's own rewards, differences of cumulative progress
s_k (from a judge that only rates steps, of its ratings, whose last one the environment pays); never the
authors' DeltaNorm, an advantage whose steps sum to 0, which as a reward would leave every return 0 (the
critic is PPO's baseline). A linear value head reads the LM's last hidden state at each response
position (the trunk is shared, and trained by both losses). Old log-probs and values are taken once
before the update epochs; advantages come from GAE and are whitened over the batch's tokens. Each
epoch is one guarded optimizer step over all micro-batches: clipped surrogate plus ``vf_coef`` times the
clipped value loss. Unscorable rollouts are left out entirely.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs
import torch

from agents import distributed
from agents import objectives as ob
from agents.batch import Batch
from agents.optim import chunked, guarded_step
from agents.policy import Policy
from agents.protocol import load_optimizer_state, refuse_references

if TYPE_CHECKING:
    from judges.problem import Reference


@attrs.frozen
class PPOConfig:
    lr: float = 1e-6
    """AdamW learning rate of the language model."""
    value_lr: float = 1e-4
    """AdamW learning rate of the value head."""
    clip_low: float = 0.2
    """Lower ratio clip."""
    clip_high: float = 0.2
    """Upper ratio clip."""
    value_clip: float = 0.2
    """How far a value may move from its old estimate before the loss clips it."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    gamma: float = 1.0
    """Discount over tokens."""
    lam: float = 0.95
    """GAE lambda."""
    epochs: int = 2
    """Optimizer steps per batch (each over the whole batch)."""
    micro_batch: int = 8
    """Rollouts per forward/backward pass."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""


class PPO:
    name = "ppo"
    needs_reference = False

    def __init__(self, policy: Policy, config: PPOConfig = PPOConfig()):
        self.policy, self.config = policy, config
        self.value_head = torch.nn.Linear(policy.model.config.hidden_size, 1).to(policy.device)
        torch.nn.init.zeros_(self.value_head.weight)
        torch.nn.init.zeros_(self.value_head.bias)
        self.lm_params = [p for p in policy.model.parameters() if p.requires_grad]
        self.params = self.lm_params + list(self.value_head.parameters())
        self.optimizer = torch.optim.AdamW(
            [
                {"params": self.lm_params, "lr": config.lr},
                {"params": list(self.value_head.parameters()), "lr": config.value_lr},
            ],
            weight_decay=0.0,
        )

    def token_rewards(self, batch: Batch, i: int) -> torch.Tensor:
        """Rollout i's reward per response token (zeros except at step ends / the last token)."""
        sample = batch.samples[i]
        rewards = torch.zeros(len(sample.response_ids))
        if batch.reward_kind != "process":
            rewards[-1] = batch.rewards[i]
            return rewards
        scores = batch.step_values(i, "progress")
        steps = self.policy.step_of_token(sample.response_ids, batch.step_spans[i])
        previous = 0.0
        for k, score in enumerate(scores):
            positions = [t for t, step in enumerate(steps) if step == k]
            rewards[positions[-1] if positions else len(steps) - 1] += score - previous
            previous = score
        return rewards

    def token_targets(self, batch: Batch, old_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(advantages, returns, token mask), each [B, longest response]: GAE over each scorable rollout's token
        rewards and old values, then the advantages whitened over all scorable tokens of the batch."""
        rows = [i for i in range(len(batch)) if torch.isfinite(batch.rewards[i])]
        longest = max(len(s.response_ids) for s in batch.samples)
        advantages, returns = torch.zeros(len(batch), longest), torch.zeros(len(batch), longest)
        for i in rows:
            n = len(batch.samples[i].response_ids)
            advantages[i, :n], returns[i, :n] = ob.gae(
                self.token_rewards(batch, i), old_values[i, :n], self.config.gamma, self.config.lam
            )
        token_mask = torch.zeros(len(batch), longest)
        for i in rows:
            token_mask[i, : len(batch.samples[i].response_ids)] = 1.0
        if rows or distributed.active():  # the moments are over every rank's tokens (a collective: every rank takes it)
            mean = distributed.masked_mean(advantages, token_mask)
            std = distributed.masked_mean((advantages - mean) ** 2, token_mask).sqrt()
            advantages = (advantages - mean) / (std + 1e-6) * token_mask
        return advantages, returns, token_mask

    def _forward(self, batch: Batch, chunk: list[int]):
        logp, mask, hidden = self.policy.forward_responses(
            [batch.samples[i].prompt_ids for i in chunk],
            [batch.samples[i].response_ids for i in chunk],
            batch.temperature,
            hidden=True,
        )
        return logp, mask, self.value_head(hidden).squeeze(-1) * mask

    def update(self, batch: Batch, references: Sequence[Reference] | None = None) -> dict[str, float]:
        refuse_references(self, references)
        rows = [i for i in range(len(batch)) if torch.isfinite(batch.rewards[i])]
        chunks = chunked(rows, self.config.micro_batch)
        longest = max(len(s.response_ids) for s in batch.samples)
        old_logp, old_values = torch.zeros(len(batch), longest), torch.zeros(len(batch), longest)
        with torch.no_grad(), self.policy.gathered():  # once per update on every rank (a collective when sharded)
            for chunk in chunks:
                logp, _, values = self._forward(batch, chunk)
                old_logp[chunk, : logp.shape[1]], old_values[chunk, : values.shape[1]] = logp, values
        advantages, returns, token_mask = self.token_targets(batch, old_values)
        total_tokens = max(distributed.total(float(token_mask.sum())), 1.0)
        tracked = {"clip_fraction": 0.0, "value_loss": 0.0}

        def micro_loss(chunk):
            def compute():
                logp, mask, values = self._forward(batch, chunk)
                width = logp.shape[1]
                share = mask.sum() / total_tokens
                policy_loss, clipped = ob.clipped_policy_loss(
                    logp,
                    old_logp[chunk, :width],
                    advantages[chunk, :width],
                    mask,
                    self.config.clip_low,
                    self.config.clip_high,
                )
                value_loss = ob.clipped_value_loss(
                    values, old_values[chunk, :width], returns[chunk, :width], mask, self.config.value_clip
                )
                tracked["clip_fraction"] += float(clipped * share)
                tracked["value_loss"] += float(value_loss.detach() * share)
                return (policy_loss + self.config.vf_coef * value_loss) * share

            return compute

        reports = []
        for _ in range(self.config.epochs):
            tracked.update(clip_fraction=0.0, value_loss=0.0)
            reports.append(
                guarded_step(
                    self.params, self.optimizer, None, (micro_loss(c) for c in chunks), self.config.max_grad_norm
                )
            )
        last = reports[-1]
        return {
            "loss": last.loss,
            "grad_norm": last.grad_norm,
            "applied": float(all(r.applied for r in reports)),
            "skipped_non_finite": float(any("non-finite" in r.skipped_reason for r in reports)),
            **distributed.totals(tracked),
        }

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "value_head": self.value_head.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        load_optimizer_state(self.optimizer, state)
        self.value_head.load_state_dict(state["value_head"])
