"""Agent updates side by side: each agent's update of one batch, alternating in one process.

    python benchmarks/ab_updates.py --agents grpo,reinforce --rounds 3 --output benchmarks/results/ab_updates.json

The pytest-benchmark suite times each agent in its own block, one after another, so on a shared machine a slow
minute can land on one agent only (its GRPO and REINFORCE updates once differed 2x). Alternating the agents
round by round over the same batch puts them under the same conditions; the medians and their ratios to the
first agent are what to compare. Learning rate 0, so every round repeats the same update.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from agents.batch import Batch
from agents.policy import Policy, SamplingConfig
from agents.protocol import Agent
from agents.registry import make_agent
from judges.problem import Reference


def bench_prompts(policy: Policy, rows: int = 8) -> list[list[int]]:
    """Distinct simple prompts, chat-templated: the benchmarks' generation and update inputs."""
    return [policy.prompt_ids(f"What is {i} + {i + 3}? Reason step by step.") for i in range(rows)]


def process_batch(policy: Policy, rows: int = 8, new_tokens: int = 64) -> Batch:
    """Sampled responses to simple prompts, groups of 4, one judged step each (progress and rating alike) with rewards
    spread over [0, 1]."""
    prompts = bench_prompts(policy, rows)
    torch.manual_seed(0)
    samples = policy.sample(prompts, SamplingConfig(temperature=0.8, max_new_tokens=new_tokens))
    rewards = torch.linspace(0, 1, rows)
    return Batch(
        tuple(samples),
        rewards,
        torch.arange(rows) // 4,
        "process",
        tuple((float(r),) for r in rewards),
        tuple(((0, len(s.text)),) for s in samples),
        tuple(f"p{i}" for i in range(rows)),
        prompts=tuple(f"Q{i}" for i in range(rows)),
        temperature=0.8,
        step_ratings=tuple((float(r),) for r in rewards),  # one step: its rating is its progress
    )


def stand_in_references(learner: Agent, batch: Batch) -> list[Reference] | None:
    """``update``'s ``references``: a stand-in reference per rollout for an agent that needs one, else None."""
    return [Reference(("1 + 1 = 2",), "2")] * len(batch) if learner.needs_reference else None


def alternate(model: str, agents: list[str], rounds: int) -> dict:
    """Seconds of each agent's update, round by round, and the medians' ratios to the first agent."""
    policy = Policy.from_pretrained(model)
    batch = process_batch(policy)
    learners = {name: make_agent(name, policy, lr=0.0) for name in agents}
    seconds: dict[str, list[float]] = {name: [] for name in agents}
    for _ in range(rounds):
        for name, learner in learners.items():
            references = stand_in_references(learner, batch)
            start = time.perf_counter()
            learner.update(batch, references)
            seconds[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    first = medians[agents[0]]
    return {
        "model": model,
        "rows": len(batch),
        "rounds": rounds,
        "seconds": seconds,
        "median_s": medians,
        "ratio_to_" + agents[0]: {name: m / first for name, m in medians.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--agents", default="grpo,reinforce", help="comma list; ratios are to the first")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", default="")
    args = parser.parse_args(argv)
    report = alternate(args.model, [a.strip() for a in args.agents.split(",") if a.strip()], args.rounds)
    text = json.dumps(report, indent=1)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
