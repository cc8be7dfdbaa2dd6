"""Where one GRPO step's time goes: torch.profiler over sampling and over the update, on the race's batch.

    python benchmarks/profile_step.py --output benchmarks/results/profile.json

The batch is the TRL race's (benchmarks/race_trl.py): 4 prompts x 4 samples, 64 new tokens, fp32, CPU. For each
phase it records the wall time, the operators that took the most self time, and the FLOPs the phase needed
(benchmarks/flops.py) against the fp32 matmul rate measured in the same process.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
import race_trl
from flops import forward_flops, matmul_rate

from agents.batch import Batch
from agents.policy import Policy, SamplingConfig
from agents.registry import make_agent


def top_ops(prof, limit: int) -> list[dict]:
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    return [
        {"op": e.key, "self_s": e.self_cpu_time_total / 1e6, "share": e.self_cpu_time_total / total, "calls": e.count}
        for e in events[:limit]
    ]


def profiled(function, limit: int) -> tuple[object, dict]:
    function()  # warm-up: allocator, thread pools, lazy imports
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        started = time.perf_counter()
        result = function()
        seconds = time.perf_counter() - started
    return result, {"seconds": seconds, "top_ops": top_ops(prof, limit)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--top", type=int, default=8, help="operators listed per phase")
    parser.add_argument("--output", default="")
    args = parser.parse_args(argv)

    policy = Policy.from_pretrained(args.model)
    config = policy.model.config
    params = sum(p.numel() for p in policy.model.parameters())
    layers, width = config.num_hidden_layers, config.hidden_size
    prompts = [policy.prompt_ids(text) for text in race_trl.race_prompts(1) for _ in range(race_trl.GENERATIONS)]
    sampling = SamplingConfig(race_trl.TEMPERATURE, 1.0, race_trl.NEW_TOKENS)

    def sample():
        torch.manual_seed(0)
        return policy.sample(prompts, sampling)

    samples, sampling_profile = profiled(sample, args.top)
    rewards = torch.tensor([race_trl.digit_share(s.text) for s in samples])
    n = len(samples)
    batch = Batch(
        tuple(samples),
        rewards,
        torch.arange(n) // race_trl.GENERATIONS,
        "outcome",
        ((),) * n,
        (None,) * n,
        tuple(f"p{i // race_trl.GENERATIONS}" for i in range(n)),
        prompts=("",) * n,
        temperature=race_trl.TEMPERATURE,
    )
    agent = make_agent("grpo", policy, lr=0.0)  # lr 0: the profiled update is the same as the warm-up one
    _, update_profile = profiled(lambda: agent.update(batch, None), args.top)

    prompt_tokens = sum(len(p) for p in prompts[:: race_trl.GENERATIONS])  # each distinct prompt runs once
    prompt_len = prompt_tokens // race_trl.PROMPTS
    new = sum(len(s.response_ids) for s in samples)
    table = config.vocab_size * width  # the embedding lookup is no matmul; the LM head is one
    with_head = params if config.tie_word_embeddings else params - table
    body = with_head - table  # prompt positions need no LM head (only the last one's logits are used)
    forward = forward_flops(body, layers, width, prompt_tokens, prompt_len) + forward_flops(
        with_head, layers, width, new, prompt_len + new // (2 * n)
    )
    needed = {"sampling": forward, "update": 3 * forward}
    peak = matmul_rate()
    report = {
        "model": args.model,
        "rollouts": n,
        "prompt_tokens_distinct": prompt_tokens,
        "new_tokens": new,
        "matmul_gflops": peak / 1e9,
        "threads": torch.get_num_threads(),
    }
    for phase, measured in (("sampling", sampling_profile), ("update", update_profile)):
        report[phase] = {
            **measured,
            "gflop": needed[phase] / 1e9,
            "of_peak": needed[phase] / measured["seconds"] / peak,
        }
    text = json.dumps(report, indent=1)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
