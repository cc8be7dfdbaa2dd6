"""Counting the work a training step must do, to compare with what the machine can do.

Dense-transformer rule of thumb (Kaplan et al. 2020): a forward pass costs about 2 x parameters FLOPs per token
and forward + backward about 6 x; attention over the context adds 2 x layers x context x width per token
(forward). Generation with a KV cache processes each prompt token once and each new token once.
"""

from __future__ import annotations

import time

import torch


def matmul_rate(size: int = 1024, repeats: int = 20, dtype: torch.dtype = torch.float32) -> float:
    """Measured FLOP/s of a square matmul on this machine (the best of ``repeats``), the ceiling we compare to."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b  # warm up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best


def forward_flops(params: int, layers: int, width: int, tokens: int, context: int) -> float:
    """One forward pass over ``tokens`` tokens attending to about ``context`` positions each."""
    return 2 * params * tokens + 2 * layers * context * width * tokens


def generation_flops(params: int, layers: int, width: int, batch: int, prompt: int, new: int) -> float:
    """Prefill the prompts, then one token at a time with a KV cache (average context prompt + new/2)."""
    return forward_flops(params, layers, width, batch * prompt, prompt) + forward_flops(
        params, layers, width, batch * new, prompt + new // 2
    )


def training_flops(params: int, layers: int, width: int, batch: int, sequence: int) -> float:
    """Forward and backward (3x the forward) over whole sequences."""
    return 3 * forward_flops(params, layers, width, batch * sequence, sequence)
