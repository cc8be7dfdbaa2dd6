"""The on-policy self-distillation baseline: the same model, shown the reference, is the teacher.

On the student's own samples, each token's reward is log p_teacher(y_t | x, reference, y_<t) -
log p_student(y_t | x, y_<t): tokens the reference-aware teacher finds likelier are reinforced. The teacher
is the current model with the reference in a system turn (no gradient through it). Following the
gradient of this per-token reward is minimising the reverse KL from student to teacher on the student's
own distribution. The reference comes through the privileged channel; the judge's reward is not used,
so unscorable verdicts do not matter here.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import torch

from agents import objectives as ob
from agents.batch import Batch
from agents.optim import adamw, chunked, guarded_step
from agents.policy import Policy
from agents.privileged import TEACHER_CONTEXT, reference_response
from agents.protocol import load_optimizer_state, require_references
from judges.problem import Reference


@attrs.frozen
class SelfDistillConfig:
    lr: float = 1e-6
    """AdamW learning rate."""
    micro_batch: int = 8
    """Rollouts per forward/backward pass."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    reward_clip: float = 5.0
    """Per-token rewards are clipped to [-reward_clip, reward_clip] (a rare token can be very unlikely)."""


class SelfDistill:
    name = "self_distill"
    needs_reference = True

    def __init__(self, policy: Policy, config: SelfDistillConfig = SelfDistillConfig()):
        self.policy, self.config = policy, config
        self.params = [p for p in policy.model.parameters() if p.requires_grad]
        self.optimizer = adamw(self.params, config.lr)

    def teacher_prompt(self, prompt: str, reference: Reference) -> list[int]:
        return self.policy.prompt_ids(prompt, system=TEACHER_CONTEXT.format(reference=reference_response(reference)))

    def update(self, batch: Batch, references: Sequence[Reference] | None = None) -> dict[str, float]:
        references = require_references(self, batch, references)
        rows = list(range(len(batch)))
        total_tokens = sum(len(s.response_ids) for s in batch.samples)
        chunks = chunked(rows, self.config.micro_batch)
        tracked = {"teacher_minus_student": 0.0}

        def micro_loss(chunk):
            def compute():
                responses = [batch.samples[i].response_ids for i in chunk]
                logp, mask = self.policy.token_logprobs(
                    [batch.samples[i].prompt_ids for i in chunk], responses, batch.temperature
                )
                with torch.no_grad():
                    teacher_prompts = [self.teacher_prompt(batch.prompts[i], references[i]) for i in chunk]
                    teacher, _ = self.policy.token_logprobs(teacher_prompts, responses, batch.temperature)
                reward = (teacher - logp.detach()).clamp(-self.config.reward_clip, self.config.reward_clip)
                share = mask.sum() / max(total_tokens, 1)
                tracked["teacher_minus_student"] += float(ob.masked_mean(reward, mask) * share)
                return -ob.masked_mean(reward * logp, mask) * share

            return compute

        report = guarded_step(
            self.params, self.optimizer, None, (micro_loss(c) for c in chunks), self.config.max_grad_norm
        )
        return {**report.metrics(), **tracked}

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        load_optimizer_state(self.optimizer, state)
