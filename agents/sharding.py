"""FSDP2 sharding (``--sharding fsdp``): each process holds 1/N of the weights, gradients and AdamW state.

Data parallel (:mod:`agents.distributed`) keeps a whole replica per process: 16 bytes per parameter (fp32 weight,
gradient, two AdamW moments). :func:`shard` applies torch's FSDP2 ``fully_shard`` to every decoder layer and then to
the root (embeddings, final norm, tied head), so the parameters become DTensors sharded on dim 0 over the N
processes and each process keeps 16 / N bytes per parameter; a layer's full weights exist only while it runs. What
exprl decides, and only that, is when the engine's collectives run, because every forward and backward of a sharded
module is one (an all-gather per layer going forward, an all-gather and a reduce-scatter per layer going back) and
a rank that runs one more of them than another waits until the process group times out:

- **Passes without gradient** (sampling, old and reference log-probs, a self-distillation teacher, PPO's old values)
  run inside :func:`gathered`: every layer is all-gathered once on entry and resharded on exit, and nothing in
  between communicates, so each rank may decode for as many steps and score as many chunks as it needs. Entering
  it is the collective, so it is entered at points every rank reaches equally often: once per sampling call, once
  per model per update (the agents compute teacher and reference log-probs before the training pass, in one go).
- **The training pass** runs the same number of micro-batches on every rank: the count is agreed with
  :func:`agents.distributed.largest` and a rank with fewer runs zero-weight micro-batches (:func:`zero_loss`: one
  token through the model, times 0, so its gradients are zeros). Each micro-batch is exactly one forward of the root
  (the policy's one-pass scoring of prompt and response, :meth:`agents.policy.Policy._joint_pass`; the shared prompt
  pass of the unsharded path would be a second forward for responses longer than one token and none for empty ones)
  and one backward.
- **Gradients**: FSDP2 reduce-scatters every layer's gradient in the backward, with SUM (the divide factor is set
  to 1, because each rank's loss is already its share of the global token mean: see :mod:`agents.distributed`), so
  :func:`agents.distributed.sum_gradients` all-reduces only what is not sharded (PPO's value head) and the loss and
  non-finite flags. :func:`clip_grad_norm` sums the squared norms of the local shards over ranks.
- **Backward prefetch is off**, so each layer all-gathers itself when its own backward starts. FSDP2's default
  prefetch follows the order of the forwards it recorded, which the passes without gradient make differ between
  ranks. An explicit one (layer i prefetches layer i - 1, the root the last layer) hung PPO in its second step
  (gloo, 2 processes, ``--micro-batch 1``): one rank stood in a prefetch all-gather issued from a pre-backward hook,
  the other in a layer's reduce-scatter. PPO's micro-batches read the hidden states beside the logits and the
  zero-weight ones only the logits, so the hooks most likely fire in another order relative to the layers'
  reduce-scatters (not pinned down further). Without prefetch the five agents run. On GPUs this gives up
  overlapping a layer's all-gather with the backward's compute.
- **Checkpoints** hold the full state dict, gathered to rank 0's CPU (:func:`full_model_state`,
  :func:`full_optimizer_state`, in torch's own optimizer format), so one loads with any number of processes, sharded
  or not; loading slices each process's shard out of the full tensors locally (:func:`load_model_state`,
  :func:`shard_optimizer_state`), without communication.

Tried on CPU with gloo only (torch 2.13): FSDP2's reduce-scatter with a divide factor uses NCCL's PREMUL_SUM, which
gloo refuses ("Cannot use ReduceOp.PREMUL_SUM with Gloo"), hence ``set_force_sum_reduction_for_comms``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence

import torch

from agents import distributed

SHARDINGS = ("none", "fsdp")
_trained: list[torch.nn.Module] = []  # the sharded model being trained: what zero_loss runs


def _fsdp():
    from torch.distributed import fsdp

    return fsdp


def is_sharded(model: torch.nn.Module) -> bool:
    """Whether ``model`` was sharded by :func:`shard` (False on a torch built without torch.distributed)."""
    return torch.distributed.is_available() and isinstance(model, _fsdp().FSDPModule)


def active() -> bool:
    """Whether a sharded model is being trained in this process (its training pass must be padded)."""
    return bool(_trained)


def decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The model's repeated blocks: the classes transformers names in ``_no_split_modules`` (every causal LM has
    them), else ``model.model.layers``."""
    names = set(getattr(model, "_no_split_modules", None) or ())
    layers = [m for m in model.modules() if type(m).__name__ in names]
    if not layers:
        layers = list(getattr(getattr(model, "model", None), "layers", []))
    if not layers:
        raise ValueError(
            f"{type(model).__name__} has no decoder layers to shard (no _no_split_modules, no .model.layers)"
        )
    return layers


def shard(model: torch.nn.Module, trained: bool = True) -> torch.nn.Module:
    """Shard ``model`` in place with FSDP2 over every process of the launcher's group: each decoder layer, then the
    root (which is not resharded after its forward, as FSDP2 does for the root anyway; saying so here keeps that the
    same on every rank whatever forward ran first). ``trained``: the model the optimizer trains (one per process)."""
    fsdp = _fsdp()
    if distributed.active() is None:
        raise ValueError(
            "--sharding fsdp needs several processes: start the trainer with torchrun or accelerate launch"
        )
    layers = decoder_layers(model)
    for layer in layers:
        fsdp.fully_shard(layer)
    fsdp.fully_shard(model, reshard_after_forward=False)
    for module in _modules(model):
        module.set_gradient_divide_factor(1.0)  # SUM: each rank's loss is already its share of the global mean
        module.set_force_sum_reduction_for_comms(True)  # gloo has no PREMUL_SUM
    for module in _modules(model):
        module.set_modules_to_backward_prefetch([])
    if trained:
        _trained[:] = [model]
    return model


def release() -> None:
    """Forget the trained model (a process that trains several runs one after another)."""
    _trained.clear()


def _modules(model: torch.nn.Module) -> list:
    fsdp = _fsdp()
    return [m for m in model.modules() if isinstance(m, fsdp.FSDPModule)]


@contextlib.contextmanager
def gathered(model: torch.nn.Module) -> Iterator[None]:
    """Within: ``model``'s parameters are whole on every rank and its forwards do not communicate (for passes
    without gradient). Entering is a collective (an all-gather per layer): every rank must enter equally often.
    Nested entries are free; an unsharded model is left as it is."""
    if not is_sharded(model) or getattr(model, "_exprl_gathered", False):
        yield
        return
    modules = _modules(model)
    layers = [m for m in modules if m is not model]
    for module in modules:
        module.unshard()
    for layer in layers:
        layer.set_reshard_after_forward(False)
    model._exprl_gathered = True
    try:
        yield
    finally:
        model._exprl_gathered = False
        for layer in layers:
            layer.set_reshard_after_forward(True)
        for module in modules:
            module.reshard()


def zero_loss() -> torch.Tensor:
    """A micro-batch of zero weight: one token through the trained model, times 0 (one forward, and in its
    backward one reduce-scatter per layer, of zeros)."""
    model = _trained[0]
    device = next(model.parameters()).device
    logits = model(input_ids=torch.zeros(1, 1, dtype=torch.long, device=device), use_cache=False).logits
    return logits.float().sum() * 0.0


def padded(micro_losses: list[Callable[[], torch.Tensor]]) -> list[Callable[[], torch.Tensor]]:
    """The micro-batches of this rank, followed by zero-weight ones up to the most any rank has (a collective)."""
    most = distributed.largest(len(micro_losses))
    return micro_losses + [zero_loss] * (most - len(micro_losses))


def clip_grad_norm(params: Sequence[torch.nn.Parameter], max_norm: float) -> float:
    """``torch.nn.utils.clip_grad_norm_`` over sharded (DTensor) and replicated gradients together (PPO's value head
    is not sharded): the squared norms of the local shards summed over ranks, plus the replicated ones once; the
    same clip coefficient as torch's, max_norm / (norm + 1e-6), at most 1."""
    from torch.distributed.tensor import DTensor

    grads = [p.grad for p in params if p.grad is not None]
    sharded = [g for g in grads if isinstance(g, DTensor)]
    if not sharded:
        return float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    local = torch.stack([g.to_local().detach().double().pow(2).sum() for g in sharded]).sum()
    squares = float(distributed.total(local))
    squares += sum(float(g.detach().double().pow(2).sum()) for g in grads if not isinstance(g, DTensor))
    norm = math.sqrt(squares)
    if math.isfinite(norm):
        coefficient = min(max_norm / (norm + 1e-6), 1.0)
        for g in grads:
            g.mul_(coefficient)
    return norm


# --- checkpoints -------------------------------------------------------------------------------------------------
def full_model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The whole state dict on rank 0's CPU, one entry per tensor (a tied head under the name safetensors'
    ``save_model`` keeps, so the file is the one an unsharded run writes); {} on the other ranks. A collective."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if not state:
        return {}
    for names in _tied(model):
        for name in sorted(names)[1:]:  # safetensors keeps the alphabetically first name of shared tensors
            state.pop(name, None)
    return {name: tensor.contiguous() for name, tensor in state.items()}


def _tied(model: torch.nn.Module) -> list[list[str]]:
    """Names sharing one parameter (a tied input embedding and output head), each group of two or more."""
    groups: dict[int, list[str]] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        groups.setdefault(id(param), []).append(name)
    return [names for names in groups.values() if len(names) > 1]


def load_model_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load a full state dict (every rank holds it) into a sharded model: each rank copies out its own shard,
    without communication. A tied parameter may appear under any of its names."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    named = dict(model.named_parameters(remove_duplicate=False))
    persistent = set(model.state_dict())  # not the buffers a model recomputes (rotary frequencies)
    named.update({name: buffer for name, buffer in model.named_buffers() if name in persistent})
    for names in _tied(model):
        found = [state[n] for n in names if n in state]
        if found:
            state = {**state, **{n: found[0] for n in names}}
    missing = sorted(set(named) - set(state))
    if missing:
        raise KeyError(f"the checkpoint lacks {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    with torch.no_grad():
        for name, target in named.items():
            value = state[name]
            if isinstance(target, DTensor):
                value = distribute_tensor(
                    value.to(target.device, target.dtype), target.device_mesh, target.placements, src_data_rank=None
                )
            target.copy_(value.to(target.dtype))


def full_optimizer_state(optimizer: torch.optim.Optimizer) -> dict | None:
    """The optimizer's ``state_dict()`` with every sharded tensor gathered whole onto rank 0's CPU: torch's own format
    (states keyed by parameter index), so an unsharded run loads it as it is. A collective: every rank gathers the
    same tensors in the same order, one at a time; the other ranks drop each at once and get None.

    Not ``torch.distributed.checkpoint``'s ``get_optimizer_state_dict``: that keys states by parameter names within
    one model, and PPO's optimizer also trains its value head, which lives outside the policy's model."""
    from torch.distributed.tensor import DTensor

    state = optimizer.state_dict()
    main = distributed.active() is None or distributed.active().main
    whole = {}
    for index, values in state["state"].items():
        whole[index] = {}
        for key, value in values.items():
            if isinstance(value, DTensor):
                value = value.full_tensor()
                value = value.cpu() if main else None
            whole[index][key] = value
    return {"state": whole, "param_groups": state["param_groups"]} if main else None


def shard_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """After ``optimizer.load_state_dict`` of a full state (as :func:`full_optimizer_state` or an unsharded run writes
    it): each state tensor of a sharded parameter replaced by this rank's shard of it, without communication."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    for param, values in optimizer.state.items():
        if not isinstance(param, DTensor):
            continue
        for key, value in values.items():
            if isinstance(value, torch.Tensor) and not isinstance(value, DTensor) and value.shape == param.shape:
                values[key] = distribute_tensor(
                    value.to(param.device), param.device_mesh, param.placements, src_data_rank=None
                )


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A frozen, sharded copy of a sharded model (a KL reference, a teacher): built from its config, filled from its
    full state (gathered on every rank: a collective), then sharded the same way. Each rank holds the whole model
    twice while it is built (once, at the start of a run): 8 bytes per parameter in fp32, 32 GB for a 4B model."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
    from transformers import AutoModelForCausalLM

    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=False))
    param = next(model.parameters())
    fresh = AutoModelForCausalLM.from_config(model.config, dtype=param.dtype).to(param.device)
    fresh.load_state_dict({k: v.to(param.device) for k, v in state.items()}, strict=False)
    fresh.eval().requires_grad_(False)
    return shard(fresh, trained=False)
