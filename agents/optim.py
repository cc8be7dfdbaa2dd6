"""One guarded optimizer step, shared by every agent: accumulate micro-batches, clip, skip what is not finite.

A non-finite loss (from any micro-batch) or gradient norm skips the whole step: gradients are dropped,
parameters and optimizer state stay as they were, and the report says why, so the trainer counts it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import attrs
import torch

from agents import distributed, sharding

NO_GRADIENT = "no gradient (every rollout masked)"
"""Why a step with nothing to learn from was skipped."""


@attrs.frozen
class StepReport:
    applied: bool
    """Whether the optimizer stepped."""
    loss: float
    """Sum of the micro-batch losses (NaN if one was not finite)."""
    grad_norm: float
    """Gradient norm before clipping (NaN when skipped before it was computed)."""
    skipped_reason: str = ""

    def metrics(self) -> dict[str, float]:
        """What every agent logs about its optimizer step."""
        return {
            "loss": self.loss,
            "grad_norm": self.grad_norm,
            "applied": float(self.applied),
            "skipped_non_finite": float("non-finite" in self.skipped_reason),
        }


def adamw(params: list[torch.nn.Parameter], lr: float, weight_decay: float = 0.0) -> torch.optim.AdamW:
    """The optimizer every agent uses, over the given parameters."""
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def chunked(items: list, size: int) -> list[list]:
    """Consecutive micro-batches of at most ``size`` items."""
    return [items[k : k + size] for k in range(0, len(items), size)]


def guarded_step(
    params: list[torch.nn.Parameter],
    optimizer: torch.optim.Optimizer,
    scheduler,
    micro_losses: Iterable[Callable[[], torch.Tensor]],
    max_grad_norm: float,
) -> StepReport:
    """Backward each micro-batch loss (already scaled to its share), then clip and step, or skip. Under data
    parallel the accumulated gradients are summed over ranks first (:func:`agents.distributed.sum_gradients`), so
    every rank clips, steps or skips alike.

    Under ``--sharding fsdp`` (:mod:`agents.sharding`) every micro-batch is a collective: every rank runs as many as
    the rank with the most (zero-weight ones after its own), each with one backward (a micro-batch whose loss has no
    graph, as one of empty responses, backs a zero-weight forward instead), and a non-finite loss does not stop the
    loop early (the step is skipped everywhere all the same, its gradients dropped)."""
    optimizer.zero_grad(set_to_none=True)
    total, finite = 0.0, True
    sharded = sharding.active()
    if sharded:
        micro_losses = sharding.padded(list(micro_losses))
    for compute in micro_losses:
        loss = compute()
        if sharded and not loss.requires_grad:
            loss = loss + sharding.zero_loss()
        if not torch.isfinite(loss):
            finite = False
            if not sharded:
                break
        if loss.requires_grad:
            loss.backward()
        total += float(loss.detach())
    total, finite = distributed.sum_gradients(params, total, finite)
    if not finite:
        optimizer.zero_grad(set_to_none=True)
        return StepReport(False, math.nan, math.nan, "non-finite loss")
    if all(p.grad is None for p in params):
        return StepReport(False, total, 0.0, NO_GRADIENT)
    grad_norm = (
        sharding.clip_grad_norm(params, max_grad_norm)
        if sharded
        else float(torch.nn.utils.clip_grad_norm_(params, max_grad_norm))
    )
    if not math.isfinite(grad_norm):
        optimizer.zero_grad(set_to_none=True)
        return StepReport(False, total, grad_norm, "non-finite gradient")
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return StepReport(True, total, grad_norm)
