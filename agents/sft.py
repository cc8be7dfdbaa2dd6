"""The SFT baseline: fine-tune on the reference solutions of the step's problems.

The paper's first baseline: what the references teach when imitated directly. Each step trains on the
reference of every distinct problem in the batch, written as the policy is asked to answer (steps, then
the boxed answer, then end-of-turn), after the same chat-templated prompt. The references come through
the privileged channel (:mod:`agents.privileged`); the policy's own samples are not trained on.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from agents import objectives as ob
from agents.batch import Batch
from agents.optim import adamw, chunked, guarded_step
from agents.policy import Policy
from agents.privileged import reference_response
from agents.protocol import load_optimizer_state, require_references
from judges.problem import Reference


@attrs.frozen
class SFTConfig:
    lr: float = 1e-5
    """AdamW learning rate."""
    micro_batch: int = 8
    """Examples per forward/backward pass."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    max_target_tokens: int = 512
    """Longest reference kept (longer ones are cut)."""


class SFT:
    name = "sft"
    needs_reference = True

    def __init__(self, policy: Policy, config: SFTConfig = SFTConfig()):
        self.policy, self.config = policy, config
        self.params = [p for p in policy.model.parameters() if p.requires_grad]
        self.optimizer = adamw(self.params, config.lr)

    def examples(self, batch: Batch, references: Sequence[Reference]) -> list[tuple[tuple[int, ...], list[int]]]:
        """(prompt ids, target ids) once per distinct problem of the batch."""
        seen, examples = set(), []
        eos = self.policy.tokenizer.eos_token_id
        for sample, pid, reference in zip(batch.samples, batch.problem_ids, references):
            if pid in seen:
                continue
            seen.add(pid)
            target = self.policy.tokenizer.encode(reference_response(reference), add_special_tokens=False)
            examples.append((sample.prompt_ids, target[: self.config.max_target_tokens - 1] + [eos]))
        return examples

    def update(self, batch: Batch, references: Sequence[Reference] | None = None) -> dict[str, float]:
        examples = self.examples(batch, require_references(self, batch, references))
        total_tokens = sum(len(target) for _, target in examples)
        chunks = chunked(examples, self.config.micro_batch)

        def micro_loss(chunk):
            def compute():
                logp, mask = self.policy.token_logprobs([p for p, _ in chunk], [t for _, t in chunk])
                return ob.negative_log_likelihood(logp, mask) * mask.sum() / total_tokens

            return compute

        report = guarded_step(
            self.params, self.optimizer, None, (micro_loss(c) for c in chunks), self.config.max_grad_norm
        )
        return {**report.metrics(), "sft_examples": float(len(examples))}

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        load_optimizer_state(self.optimizer, state)
