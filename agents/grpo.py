"""GRPO for ExpRL: one batch, ``mini_batches`` optimizer updates (one by default).

Outcome and sparse rewards: each rollout's reward is normalised within its group (mean, and std unless
``scale_by_std=False``) and every token of the rollout gets that advantage. Process rewards: the step advantages
are used directly, with no group normalisation (see :func:`agents.objectives.step_advantages`). The authors' norms
(``delta``, their DeltaNorm and the default; ``end``; ``group``) difference each step's own rating r_k and need a
judge that gives ``step_ratings``; ours (``delta_zero``, ``group_final``) difference cumulative progress s_k. A
judge without the kind a norm needs is an error at the first batch, naming the judge, the field and the norm.

Rollouts the judge could not score (and, as the authors do, rollouts with a step it could not rate) are left out
of the loss entirely. The loss is the asymmetric-clip surrogate, plus ``kl_coef`` times the low-variance KL
estimate to the frozen starting policy, minus ``entropy_coef`` times the entropy of the policy at each response
token, each aggregated over the update's tokens as ``loss_aggregation`` says (the authors' verl actor: pg_loss -
entropy_coeff * entropy + kl_loss_coef * kl, dp_actor.py:455-471). The batch is cut into ``mini_batches``
consecutive parts, one optimizer update each (the authors' ppo_mini_batch_size, dp_actor.py:391-396); the old
log-probs of the later parts are taken before the first update, so the ratio and its clip act from the second
update on. The first part's old log-probs are its new ones detached: its sampling policy is the current one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import attrs
import torch

from agents import distributed
from agents import objectives as ob
from agents.batch import Batch
from agents.optim import NO_GRADIENT, adamw, chunked, guarded_step
from agents.policy import Policy
from agents.protocol import load_optimizer_state, refuse_references

if TYPE_CHECKING:
    from judges.problem import Reference

StepOfToken = Callable[[Sequence[int], Sequence[tuple[int, int]] | None], list[int]]
"""(response token ids, the judge's character spans) -> each token's step index, as :meth:`Policy.step_of_token`."""


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
            self.reference = policy.frozen_copy()

    def token_advantages(self, batch: Batch) -> torch.Tensor:
        """[B, longest response] advantage of every response token; NaN over the tokens of a masked rollout."""
        if batch.reward_kind == "process":
            return process_advantages(batch, self.config.process_norm, self.policy.step_of_token)
        advantages, valid = _unscored(batch)
        if self.config.scale_by_std:
            per_rollout = ob.group_advantages(batch.rewards, batch.groups)
        else:
            per_rollout = ob.centered_advantages(batch.rewards, batch.groups)
        for i, sample in enumerate(batch.samples):
            if valid[i]:
                advantages[i, : len(sample.response_ids)] = per_rollout[i]
        return advantages

    def update(self, batch: Batch, references: Sequence[Reference] | None = None) -> dict[str, float]:
        refuse_references(self, references)
        advantages = self.token_advantages(batch)
        rows = [i for i in range(len(batch)) if bool(torch.isfinite(advantages[i]).all())]
        advantages = torch.nan_to_num(advantages, nan=0.0)
        in_loss = set(rows)
        parts = [[i for i in part if i in in_loss] for part in _consecutive_parts(len(batch), self.config.mini_batches)]
        if distributed.active() is None:  # under data parallel every rank keeps every part: one update each, together
            parts = [part for part in parts if part] or [[]]
        plans = [chunked(part, self.config.micro_batch) for part in parts]
        old_logp = self._old_logprobs(batch, [chunk for plan in plans[1:] for chunk in plan], len(plans) > 1)
        ref_logp = self._reference_logprobs(batch, [chunk for plan in plans for chunk in plan])
        total_tokens = distributed.total(sum(len(batch.samples[i].response_ids) for i in rows))
        tracked = {"clip_fraction": 0.0, "kl": 0.0, **({"entropy": 0.0} if self.config.entropy_coef > 0 else {})}
        reports = []
        for part, plan in zip(parts, plans):
            norm = _normaliser(batch, part, self.config.loss_aggregation)
            losses = (
                self._micro_loss(batch, c, norm, advantages, old_logp, ref_logp, total_tokens, tracked) for c in plan
            )
            reports.append(guarded_step(self.params, self.optimizer, None, losses, self.config.max_grad_norm))
        valid_adv = advantages[rows] if rows else torch.zeros(1)
        abs_mean = distributed.padded_mean(valid_adv.abs())
        return {**_combined(reports), "advantage_abs_mean": abs_mean, **distributed.totals(tracked)}

    def _old_logprobs(self, batch: Batch, chunks: list[list[int]], later: bool) -> dict[tuple[int, ...], torch.Tensor]:
        """The log-probs, before any update, of the chunks that a later mini-batch trains on (keyed by chunk);
        ``later``: whether there is a later mini-batch (on every rank alike)."""
        return _chunk_logprobs(self.policy, batch, chunks) if later else {}

    def _reference_logprobs(self, batch: Batch, chunks: list[list[int]]) -> dict[tuple[int, ...], torch.Tensor]:
        """The frozen reference's log-probs of every chunk the update trains on (keyed by chunk), all before the
        training pass: a sharded reference is gathered once per update, not once per micro-batch (whose count
        differs between ranks)."""
        return _chunk_logprobs(self.reference, batch, chunks) if self.reference is not None else {}

    def _micro_loss(self, batch, chunk, norm, advantages, old_logp, ref_logp, total_tokens, tracked):
        """The loss of one micro-batch of an update whose normaliser is ``norm`` (:func:`_normaliser`), already
        scaled to its share of that update."""
        config = self.config

        def compute():
            prompts = [batch.samples[i].prompt_ids for i in chunk]
            responses = [batch.samples[i].response_ids for i in chunk]
            if config.entropy_coef > 0:
                logp, mask, entropy = self.policy.token_logprobs_and_entropy(prompts, responses, batch.temperature)
            else:
                logp, mask = self.policy.token_logprobs(prompts, responses, batch.temperature)
            if config.loss_aggregation == "token_mean":
                reduce, scale = ob.masked_mean, mask.sum() / max(norm, 1)
            else:
                reduce, scale = ob.sequence_sum(norm), 1.0
            share = mask.sum() / max(total_tokens, 1)  # of the whole batch: how the metrics are weighed
            old = old_logp.get(tuple(chunk), logp.detach())
            adv = advantages[chunk][:, : logp.shape[1]]
            loss, clipped = ob.clipped_policy_loss(logp, old, adv, mask, config.clip_low, config.clip_high, reduce)
            tracked["clip_fraction"] += float(clipped * share)
            if self.reference is not None:
                per_token_kl = ob.kl_low_variance(logp, ref_logp[tuple(chunk)])
                tracked["kl"] += float(ob.masked_mean(per_token_kl, mask).detach() * share)
                loss = loss + config.kl_coef * reduce(per_token_kl, mask)
            if config.entropy_coef > 0:
                tracked["entropy"] += float(ob.masked_mean(entropy, mask).detach() * share)
                loss = loss - config.entropy_coef * reduce(entropy, mask)
            return loss * scale

        return compute

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        load_optimizer_state(self.optimizer, state)


def _chunk_logprobs(policy: Policy, batch: Batch, chunks: list[list[int]]) -> dict[tuple[int, ...], torch.Tensor]:
    """``policy``'s log-probs of each chunk's responses, without gradient (keyed by chunk); a sharded policy's
    parameters gathered once for all of them (on every rank, however many chunks it has)."""
    scored = {}
    with torch.no_grad(), policy.gathered():
        for chunk in chunks:
            logp, _ = policy.token_logprobs(
                [batch.samples[i].prompt_ids for i in chunk],
                [batch.samples[i].response_ids for i in chunk],
                batch.temperature,
            )
            scored[tuple(chunk)] = logp
    return scored


def process_advantages(batch: Batch, norm: str, step_of_token: StepOfToken) -> torch.Tensor:
    """[B, longest response] process advantage of every response token, no group normalisation: each token gets
    its step's :func:`agents.objectives.step_advantages` under ``norm`` (``step_of_token(response_ids, spans)`` says
    which step a token is in, as :meth:`Policy.step_of_token` does), with the group norms' baselines. NaN over the
    tokens of a rollout the judge could not score (or with a step it could not rate). Shared by :class:`GRPO` and the
    TRL adapter (:mod:`agents.integrations.trl`), so both put the same credit on the same tokens."""
    advantages, valid = _unscored(batch)
    kind = "ratings" if norm in ob.AUTHORS_NORMS else "progress"
    rows = [i for i in range(len(batch)) if valid[i]]
    values = {i: batch.step_values(i, kind, norm) for i in rows}
    steps = {i: step_of_token(batch.samples[i].response_ids, batch.step_spans[i]) for i in rows}
    baselines = _group_baselines(batch, norm, values, steps)
    for i in rows:
        advantages[i, : len(steps[i])] = ob.process_token_advantages(values[i], steps[i], norm, baselines[i])
    return advantages


def _unscored(batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, longest response] zeros, NaN over the tokens of each rollout the judge could not score; and [B] which
    rollouts it could."""
    advantages = torch.zeros(len(batch), max(len(s.response_ids) for s in batch.samples))
    valid = ob.scorable(batch.rewards).bool()
    for i, sample in enumerate(batch.samples):
        if not valid[i]:
            advantages[i, : len(sample.response_ids)] = torch.nan
    return advantages, valid


def _group_baselines(batch: Batch, norm: str, values: dict, steps: dict) -> dict[int, float]:
    """Each scorable rollout's group baseline for the group norms (0 for the others)."""
    baselines = dict.fromkeys(values, 0.0)
    width = batch.max_new_tokens or max(len(s.response_ids) for s in batch.samples)
    for group in batch.groups.unique():
        members = [i for i in range(len(batch)) if batch.groups[i] == group]
        rated = [i for i in members if i in values and all(map(math.isfinite, values[i]))]
        if norm == "group":
            means = [ob.token_mean_value(values[i], steps[i]) for i in rated]
            baseline = ob.authors_group_baseline(means, len(members), width)
        elif norm == "group_final":
            baseline = sum(values[i][-1] for i in rated) / max(len(rated), 1)
        else:
            continue
        baselines.update(dict.fromkeys((i for i in members if i in values), baseline))
    return baselines


def _normaliser(batch: Batch, part: list[int], aggregation: str) -> int:
    """What an update over ``part`` divides its summed token losses by, over every rank's part: its response tokens
    (``token_mean``) or its sequences (``seq_sum_per_batch``)."""
    if aggregation == "token_mean":
        return distributed.total(sum(len(batch.samples[i].response_ids) for i in part))
    return distributed.total(len(part))


def _consecutive_parts(n: int, parts: int) -> list[list[int]]:
    """0..n-1 cut into ``parts`` consecutive runs as equal as can be (the first ones one longer), as verl splits a
    batch into mini-batches (DataProto.split); the last ones empty when n < parts (a process drops empty parts;
    under data parallel every rank keeps all ``parts``, so that the ranks step together)."""
    size, extra = divmod(n, parts)
    bounds = [0]
    for k in range(parts):
        bounds.append(bounds[-1] + size + (1 if k < extra else 0))
    return [list(range(a, b)) for a, b in zip(bounds, bounds[1:])]


def _combined(reports: list) -> dict[str, float]:
    """One batch's optimizer metrics over its mini-batch updates: losses summed over updates divided by their number,
    the last gradient norm, applied only if every update was. An update with no rollout in the loss (a mini-batch
    empty on every rank, kept under data parallel so that ranks step together) is left out, as one process drops it."""
    reports = [r for r in reports if r.skipped_reason != NO_GRADIENT] or reports[:1]
    if len(reports) == 1:
        return reports[0].metrics()
    return {
        "loss": sum(r.loss for r in reports) / len(reports),
        "grad_norm": reports[-1].grad_norm,
        "applied": float(all(r.applied for r in reports)),
        "skipped_non_finite": float(any("non-finite" in r.skipped_reason for r in reports)),
        "updates_applied": float(sum(r.applied for r in reports)),
    }
