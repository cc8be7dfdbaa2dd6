"""The SFT baseline: fine-tune on the reference solutions of the step's problems.

The paper's first baseline: what the references teach when imitated directly. Each step trains on the
reference of every distinct problem in the batch, written as the policy is asked to answer (steps, then
the boxed answer, then end-of-turn), after the same chat-templated prompt. The references come through
the privileged channel (:mod:`agents.privileged`); the policy's own samples are not trained on.

Against the authors' (``stage1_verl/variational_inference/math/exp_rl/train_stage1/qwen4b/sft.sh``, verl's
``fsdp_sft_trainer`` with ``sft_dataset.py``):

- *Offline there, in the loop here.* They run 600 steps of 32 examples over all of POPE + InT; this agent runs
  inside the trainer, but what it trains on does not depend on the policy: each step is the next
  ``prompts_per_step`` distinct problems of the trainer's seeded per-epoch order, so it is offline SFT with a batch
  of ``prompts_per_step`` problems. The sampling and judging the trainer does meanwhile only draw the training
  curve (the ``paper`` preset samples one response per problem for it).
- *Target.* Theirs is the dataset's raw ``solution`` (Gemini solutions, asked to box the final answer and kept
  only when correct: ``difficult_set/get_llm_solutions.py:24``, ``difficult_set/data_processing/``), so it ends in
  a boxed answer written in the solver's words. Our references are stored as steps plus a separate answer, so the
  target is those steps and then ``The final answer is \\boxed{...}.``: the same content and the same boxed
  ending. A target without the boxed answer would teach the policy to stop boxing, which the answer check and the
  authors' evaluation both need.
- *Prompt.* Theirs is the bare question in a user turn (``data.prompt_dict_keys=['question']``, no instruction);
  ours is the observation the policy is evaluated and trained with everywhere else (the instruction and the
  question), so SFT does not train on a prompt the policy never sees again.
- *Optimisation.* Theirs: lr 1e-6, weight decay 0.01, gradient clip 1, AdamW betas (0.9, 0.95) with 10% warm-up
  and a cosine schedule (``verl/trainer/config/sft_trainer.yaml``), at most 20,480 tokens of prompt and target.
  The ``paper`` preset sets the first three and the length; exprl has no schedule and keeps AdamW's default betas.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from agents import distributed
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
    weight_decay: float = 0.0
    """AdamW weight decay (the authors': 0.01)."""


class SFT:
    name = "sft"
    needs_reference = True

    def __init__(self, policy: Policy, config: SFTConfig = SFTConfig()):
        self.policy, self.config = policy, config
        self.params = [p for p in policy.model.parameters() if p.requires_grad]
        self.optimizer = adamw(self.params, config.lr, config.weight_decay)

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
        total_tokens = distributed.total(sum(len(target) for _, target in examples))
        chunks = chunked(examples, self.config.micro_batch)

        def micro_loss(chunk):
            def compute():
                logp, mask = self.policy.token_logprobs([p for p, _ in chunk], [t for _, t in chunk])
                return ob.negative_log_likelihood(logp, mask) * mask.sum() / total_tokens

            return compute

        report = guarded_step(
            self.params, self.optimizer, None, (micro_loss(c) for c in chunks), self.config.max_grad_norm
        )
        return {**report.metrics(), "sft_examples": float(distributed.total(len(examples)))}

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        load_optimizer_state(self.optimizer, state)
