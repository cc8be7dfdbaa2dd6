"""Data-parallel training: several processes, one per device, each with a share of every step's problems.

``torchrun --nproc_per_node N -m agents.cli train ...`` or ``accelerate launch --multi_gpu --num_processes N -m
agents.cli train ...`` (on CPU too: ``--multi_gpu`` only picks accelerate's torchrun launcher) starts N copies of
the trainer. :func:`start` joins the process group the launcher describes through accelerate's ``PartialState``
(gloo on CPU, NCCL on GPUs, one device per local rank, multi-node from the same environment variables); without a
launcher (``WORLD_SIZE`` unset or 1) nothing here is active and every function below is the identity, so the
single-process path computes exactly what it computed before this module existed.

What exprl decides, and only that: rank r takes problems ``step_ids[r::N]`` (whole GRPO groups, so group statistics
need no communication), samples, judges and computes its loss on them; rank 0 alone writes. The communication is
torch.distributed's (all-reduce, all-gather, broadcast), in four places:

- :func:`total`: every batch-level sum an agent normalises its loss by (tokens, sequences, PPO's whitening moments,
  its logged sums) is summed over ranks. Each rank's loss is then its own rollouts' share of the *global* token mean,
  sum_{i in rank} l_i / N_global, and the global loss is the sum of the ranks' losses: two processes with global
  batch B compute the gradient one process computes with batch B.
- :func:`sum_gradients`: after a rank's micro-batches are all accumulated, once per optimizer step, the gradients
  are all-reduced with SUM (not mean: the weighting is already in the loss), together with the loss and a flag for a
  non-finite loss, so every rank clips, steps or skips identically and the replicas stay equal.
- :func:`gather` of per-rollout columns and counters, so rank 0 logs the metrics of the whole batch.
- :func:`on_main` and :func:`broadcast`: rank 0 alone reads and decides about the run folder (resume, settings
  check, damaged checkpoints); the others learn its answer, or its error, and load the same checkpoint.

Why not ``accelerator.prepare(model)`` (DDP): DDP all-reduces inside every backward pass and needs every rank to run
the same number of them, while our ranks run as many micro-batch backwards as they have scorable rollouts (an
all-masked rank runs none; a non-finite loss stops early). A rank with one more backward than another blocks until
the collective times out (tried: two micro-batches against one, gloo, a 15 s timeout). One all-reduce per optimizer
step after accumulation moves the same bytes as DDP with ``no_sync`` on all but the last micro-batch, without its
overlap of communication and backward (which matters on GPUs, not here) and without an unwrap before every
no-grad pass (sampling, old and reference log-probs). ``--sharding fsdp`` (:mod:`agents.sharding`) shards the model
with FSDP2 instead, and then does make every rank run the same number of forwards and backwards.
"""

from __future__ import annotations

import atexit
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import attrs
import torch

T = TypeVar("T")


@attrs.frozen
class World:
    """This process's place among the trainer's processes."""

    rank: int
    """0 .. size - 1; rank 0 writes the run folder."""
    size: int
    """How many processes train together (more than one: a single process has no World)."""
    device: torch.device
    """The device the launcher gave this process (``cuda:<local rank>`` on GPUs)."""

    @property
    def main(self) -> bool:
        return self.rank == 0


_world: World | None = None
_communicating = 0.0  # seconds spent inside collectives since the last take_seconds()


def launched_processes() -> int:
    """How many processes the launcher started (``WORLD_SIZE``; 1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def start(device: str) -> World | None:
    """Join the launcher's process group when there is more than one process (idempotent); None otherwise."""
    global _world
    if _world is not None or launched_processes() <= 1:
        return _world
    from accelerate import PartialState

    state = PartialState(cpu=device == "cpu")
    _world = World(state.process_index, state.num_processes, torch.device(state.device))
    atexit.register(_stop)
    return _world


def _stop() -> None:
    global _world
    if _world is not None and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    _world = None


def active() -> World | None:
    """The world this process trains in, or None in a single process."""
    return _world


def take_seconds() -> float:
    """Seconds spent in collectives (waiting for the slowest rank included) since the last call."""
    global _communicating
    seconds, _communicating = _communicating, 0.0
    return seconds


def _timed(collective: Callable[[], T]) -> T:
    global _communicating
    started = time.perf_counter()
    try:
        return collective()
    finally:
        _communicating += time.perf_counter() - started


def _on_device(values: Sequence[float], dtype: torch.dtype = torch.float64) -> torch.Tensor:
    device = _world.device if _world is not None else torch.device("cpu")
    return torch.tensor(list(values), dtype=dtype, device=device)


def total(value: T) -> T:
    """``value`` summed over every rank: a Python number stays one (an int stays an int), a tensor stays a tensor.
    The identity in a single process. Every rank must call it, in the same order (it is a collective)."""
    if _world is None:
        return value
    if isinstance(value, torch.Tensor):
        summed = value.detach().to(_world.device, copy=True)
        _timed(lambda: torch.distributed.all_reduce(summed))
        return summed.to(value.device)  # type: ignore[return-value]
    summed = _on_device([value])
    _timed(lambda: torch.distributed.all_reduce(summed))
    return type(value)(summed.item())  # type: ignore[call-arg,return-value]


def totals(values: Mapping[str, float]) -> dict[str, float]:
    """Each value summed over every rank, in one collective (the identity in a single process)."""
    if _world is None:
        return dict(values)
    summed = _on_device(list(values.values()))
    _timed(lambda: torch.distributed.all_reduce(summed))
    return {key: float(v) for key, v in zip(values, summed.tolist())}


def largest(value: int) -> int:
    """The largest ``value`` of any rank (the identity in a single process)."""
    if _world is None:
        return value
    found = _on_device([value], torch.int64)
    _timed(lambda: torch.distributed.all_reduce(found, op=torch.distributed.ReduceOp.MAX))
    return int(found.item())


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean over the entries where mask is 1 on every rank (0 when there are none): the global version of
    :func:`agents.objectives.masked_mean`, computed by it in a single process."""
    if _world is None:
        from agents.objectives import masked_mean as local

        return local(values, mask)
    return total((values * mask).sum()) / total(mask.sum()).clamp(min=1.0)


def padded_mean(rows: torch.Tensor) -> float:
    """The mean of a [rows, width] tensor, zero-padded to the widest rank's width, over every rank's rows (a
    single process: ``rows.mean()``). How GRPO and REINFORCE log ``advantage_abs_mean``."""
    if _world is None:
        return float(rows.mean())
    width = largest(rows.shape[-1] if rows.dim() == 2 else 0)
    count = total(rows.shape[0] if rows.dim() == 2 else 0)
    return total(float(rows.sum())) / max(count * width, 1)


def sum_gradients(params: Sequence[torch.nn.Parameter], loss: float, finite: bool) -> tuple[float, bool]:
    """All-reduce (SUM) the accumulated gradients of every rank, once per optimizer step; returns the loss summed
    over ranks and whether every rank's loss was finite. A non-finite loss anywhere skips the step everywhere (no
    gradient is sent); a parameter no rank has a gradient for keeps none (every rollout masked everywhere). A sharded
    parameter (a DTensor, under ``--sharding fsdp``) is left out: FSDP2 has already reduce-scattered its gradient."""
    if _world is None:
        return loss, finite
    from torch.distributed.tensor import DTensor

    replicated = [p for p in params if not isinstance(p, DTensor)]
    flags = _on_device(
        [loss if finite else 0.0, 0.0 if finite else 1.0, float(any(p.grad is not None for p in params))]
    )
    _timed(lambda: torch.distributed.all_reduce(flags))
    loss_sum, non_finite, with_gradient = flags.tolist()
    if non_finite or not with_gradient:
        return loss_sum, not non_finite
    for p in replicated:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    _timed(lambda: [work.wait() for work in [torch.distributed.all_reduce(p.grad, async_op=True) for p in replicated]])
    return loss_sum, True


def gather(value: T) -> list[T]:
    """Every rank's ``value`` (picklable), in rank order; ``[value]`` in a single process."""
    if _world is None:
        return [value]
    found: list[Any] = [None] * _world.size
    _timed(lambda: torch.distributed.all_gather_object(found, value))
    return found


def on_main(work: Callable[[], T]) -> T | None:
    """Run ``work`` on rank 0 only and return its result there (None on the other ranks); an exception it raises is
    raised on every rank, so no rank waits for one that has given up. In a single process: ``work()``."""
    if _world is None:
        return work()
    failure: list[Any] = [None]
    result = None
    if _world.main:
        try:
            result = work()
        except Exception as error:  # handed to the other ranks, then raised here too
            failure = [error if _picklable(error) else RuntimeError(f"rank 0: {type(error).__name__}: {error}")]
    _timed(lambda: torch.distributed.broadcast_object_list(failure, src=0))
    if failure[0] is not None:
        raise failure[0]
    return result


def broadcast(value: T) -> T:
    """Rank 0's ``value`` (picklable) on every rank; ``value`` itself in a single process."""
    if _world is None:
        return value
    shared: list[Any] = [value]
    _timed(lambda: torch.distributed.broadcast_object_list(shared, src=0))
    return shared[0]


def _picklable(value: Any) -> bool:
    import pickle

    try:
        pickle.dumps(value)
    except Exception:
        return False
    return True


def barrier() -> None:
    if _world is not None:
        _timed(torch.distributed.barrier)


def global_order(per_rank: Sequence[Sequence[T]], group_size: int) -> list[T]:
    """Per-rollout values gathered from ranks that took problems ``ids[r::N]``, back in the order one process
    would hold them: rank r's k-th group is the step's group ``k * N + r``."""
    groups = [[rows[k : k + group_size] for k in range(0, len(rows), group_size)] for rows in per_rank]
    ordered: list[T] = []
    for k in range(max(len(g) for g in groups)):
        for rank_groups in groups:
            if k < len(rank_groups):
                ordered.extend(rank_groups[k])
    return ordered


def rank_seed(seed: int, rank: int, step: int = 0) -> int:
    """The seed of rank ``rank`` (rank 0 of a fresh run: ``seed`` itself, so one process seeds as it always did);
    other ranks, and every rank of a run resumed with another world size, get their own stream."""
    if rank == 0 and step == 0:
        return seed
    import numpy as np

    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1)[0])
