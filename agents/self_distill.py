"""The on-policy self-distillation baseline: the model, shown the reference, is the teacher of itself.

As the authors do it (``stage1_verl/verl/trainer/ppo/ray_onpolicy_distill.py:1003-1141``, loss
``stage1_verl/verl/trainer/ppo/core_algos.py:1092-1110``, script
``stage1_verl/variational_inference/math/exp_rl/train_stage1/qwen4b/self_distill_lr1e-7.sh``):

- the teacher is the frozen *initial* model (a separate reference-policy worker, ``main_onpolicy_distill.py:221-223``),
  asked with one user turn holding the problem, the reference solution and the request to solve the problem after
  understanding it (:data:`agents.privileged.TEACHER_USER_TURN`);
- on the student's own samples every token gets the advantage log pi_student(y_t | x, y_<t) -
  log pi_teacher(y_t | x, reference, y_<t) (their line 1126), computed without gradient and not clipped;
- the loss is advantage x log pi_student (core_algos.py:1104): its gradient is the reverse-KL gradient
  E[(log s - log t) grad log s], so minimising it pulls the student towards the teacher where the student is
  likelier than the teacher and pushes it up where it is less likely. No clip, no baseline, no KL term;
- aggregation: verl's token mean per micro-batch of one sequence, averaged over the micro-batches
  (``ppo_micro_batch_size_per_gpu=1``, ``use_dynamic_bsz=False``; ``dp_actor.py:538-584``): each sequence's token
  mean, averaged over sequences (``loss_aggregation="seq_mean_token_mean"``);
- their learning rate is 1e-7 on Qwen3-4B with 16 samples per prompt and 32 prompts (the ``paper`` preset sets it);
  our default stays a tenth of GRPO's default, as theirs is a tenth of their GRPO rate.

Ours before issue 13 is available as options: ``teacher_model="current"`` (the model being trained is its own
teacher, so the target moves with it), ``teacher_prompt="system"`` (the reference in a system turn before the
student's prompt), ``reward_clip=5`` (advantages clipped to +-5) and ``loss_aggregation="token_mean"`` (every token
of the batch weighs the same, so long responses weigh more). The reference comes through the privileged channel;
the judge's reward is not used, so unscorable verdicts do not matter here.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import torch

from agents import distributed
from agents.batch import Batch
from agents.optim import adamw, chunked, guarded_step
from agents.policy import Policy
from agents.privileged import teacher_messages
from agents.protocol import load_optimizer_state, require_references
from judges.problem import Reference

TEACHER_MODELS = ("initial", "current")
TEACHER_PROMPTS = ("user", "system")
AGGREGATIONS = ("seq_mean_token_mean", "token_mean")


@attrs.frozen
class SelfDistillConfig:
    lr: float = 1e-6
    """AdamW learning rate (the authors': 1e-7 on Qwen3-4B, a tenth of their GRPO rate, as this is of ours)."""
    micro_batch: int = 8
    """Rollouts per forward/backward pass."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    weight_decay: float = 0.0
    """AdamW weight decay (the authors': 0.01, verl's actor default)."""
    teacher_model: str = attrs.field(default="initial", validator=attrs.validators.in_(TEACHER_MODELS))
    """initial: a frozen copy of the starting model (the authors'); current: the model being trained (ours before)."""
    teacher_prompt: str = attrs.field(default="user", validator=attrs.validators.in_(TEACHER_PROMPTS))
    """user: problem, reference and request in one user turn (the authors'); system: the reference in a system turn
    before the student's prompt (ours before)."""
    reward_clip: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))
    """Clip each token's advantage to +-this; 0 does not clip (the authors'; ours before: 5)."""
    loss_aggregation: str = attrs.field(default="seq_mean_token_mean", validator=attrs.validators.in_(AGGREGATIONS))
    """seq_mean_token_mean: each response's token mean, averaged over responses (the authors'); token_mean: one mean
    over every token of the batch (ours before)."""


class SelfDistill:
    name = "self_distill"
    needs_reference = True

    def __init__(self, policy: Policy, config: SelfDistillConfig = SelfDistillConfig()):
        self.policy, self.config = policy, config
        self.params = [p for p in policy.model.parameters() if p.requires_grad]
        self.optimizer = adamw(self.params, config.lr, config.weight_decay)
        self.teacher = policy
        if config.teacher_model == "initial":  # made before any update, and before a resumed run loads its weights
            self.teacher = policy.frozen_copy()

    def teacher_prompt(self, prompt: str, reference: Reference) -> list[int]:
        """The teacher's chat-templated prompt for a rollout whose student prompt was ``prompt``."""
        system, user = teacher_messages(prompt, reference, self.config.teacher_prompt)
        return self.policy.prompt_ids(user, system=system)

    def teacher_logprobs(self, batch: Batch, references: Sequence[Reference], rows: Sequence[int]) -> torch.Tensor:
        """[rows, longest response] log pi_teacher(y_t | teacher prompt, y_<t) of the student's samples, no gradient."""
        prompts = [self.teacher_prompt(batch.prompts[i], references[i]) for i in rows]
        with torch.no_grad(), self.teacher.gathered():
            teacher, _ = self.teacher.token_logprobs(
                prompts, [batch.samples[i].response_ids for i in rows], batch.temperature
            )
        return teacher

    def advantages(self, student: torch.Tensor, teacher: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-token advantage, unclipped log pi_student - log pi_teacher), both detached (the authors' advantage is
        data: ``ray_onpolicy_distill.py:1126-1136`` builds it from log-probs computed without gradient)."""
        difference = student.detach() - teacher
        clip = self.config.reward_clip
        return (difference.clamp(-clip, clip) if clip > 0 else difference), difference

    def update(self, batch: Batch, references: Sequence[Reference] | None = None) -> dict[str, float]:
        references = require_references(self, batch, references)
        total_tokens = max(distributed.total(sum(len(s.response_ids) for s in batch.samples)), 1)
        sequences = distributed.total(len(batch))
        tracked = {"teacher_minus_student": 0.0, "reverse_kl": 0.0}
        chunks = chunked(list(range(len(batch))), self.config.micro_batch)
        with self.teacher.gathered():  # every chunk's teacher before the training pass: one gather per update
            teachers = [self.teacher_logprobs(batch, references, chunk) for chunk in chunks]

        def micro_loss(chunk, teacher):
            def compute():
                logp, mask = self.policy.token_logprobs(
                    [batch.samples[i].prompt_ids for i in chunk],
                    [batch.samples[i].response_ids for i in chunk],
                    batch.temperature,
                )
                advantage, difference = self.advantages(logp, teacher)
                tracked["teacher_minus_student"] -= float((advantage * mask).sum()) / total_tokens
                tracked["reverse_kl"] += float((difference * mask).sum()) / total_tokens
                per_token = advantage * logp * mask  # core_algos.py:1104: advantages * log_prob
                if self.config.loss_aggregation == "token_mean":
                    return per_token.sum() / total_tokens
                return (per_token.sum(1) / mask.sum(1).clamp(min=1.0)).sum() / sequences  # verl: / grad. accumulation

            return compute

        report = guarded_step(
            self.params,
            self.optimizer,
            None,
            (micro_loss(c, t) for c, t in zip(chunks, teachers)),
            self.config.max_grad_norm,
        )
        return {**report.metrics(), **distributed.totals(tracked)}

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        load_optimizer_state(self.optimizer, state)
