"""Evaluation on a held-out split: pass@1 and pass@k with the sparse answer check, and the judged reward.

For each problem, ``samples`` responses are drawn; c of them are correct. pass@k is the unbiased
estimate 1 - C(n-c, k) / C(n, k) (Chen et al., 2021), averaged over problems; pass@1 is mean accuracy.
The same responses are also paid by a dense judge (``judged_reward``: the ExpRL process reward with the
offline reference judge by default), which shows progress long before answers come out right.

A response the judge could not score (NaN reward) is missing, not wrong (the NaN rule of
:mod:`judges.reporting`): a problem's n counts its scorable responses only, pass@k averages over the problems
with at least k of them (``problems_scored`` says how many), and the counts of unscorable responses are reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import comb
from typing import Any

import gymnasium as gym
from tqdm import tqdm

from agents.policy import Policy, SamplingConfig
from judges.reporting import is_missing, json_number, mean_of, present


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k draws (without replacement) from n samples with c correct is correct."""
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def pass_at_k_over_problems(rewards: Mapping[str, Sequence[float]], ks: Sequence[int]) -> dict[str, Any]:
    """pass@k for each k from each problem's sparse rewards (1 correct, 0 wrong, NaN unscorable), with how many
    problems had at least k scorable responses; pass@k is None where none had."""
    result: dict[str, Any] = {}
    counted: dict[str, int] = {}
    for k in ks:
        scores = [
            pass_at_k(len(kept), sum(r == 1.0 for r in kept), k)
            for kept in map(present, rewards.values())
            if len(kept) >= k
        ]
        result[f"pass@{k}"], counted[str(k)] = json_number(mean_of(scores)), len(scores)
    return {**result, "problems_scored": counted}


def evaluate(
    policy: Policy,
    env_id: str,
    env_options: Mapping[str, Any] | None = None,
    split: str = "test",
    samples: int = 8,
    ks: Sequence[int] = (1, 2, 4, 8),
    limit: int = 0,
    batch: int = 16,
    sampling: SamplingConfig = SamplingConfig(),
    judged_reward: str = "process",
    judge: str = "reference",
    seed: int = 0,
) -> dict:
    """pass@k per k (k <= samples) and the mean judged reward, over the split's problems (first ``limit``)."""
    import torch

    torch.manual_seed(seed)
    options = dict(env_options or {})
    envs = gym.make_vec(env_id, num_envs=batch, split=split, reward="sparse", judge="answer", **options)
    judged = gym.make_vec(env_id, num_envs=batch, split=split, reward=judged_reward, judge=judge, **options)
    dense: list[float] = []
    problem_ids = [p.id for p in envs.unwrapped.problems][: limit or None]
    jobs = [pid for pid in problem_ids for _ in range(samples)]
    sparse: dict[str, list[float]] = {pid: [] for pid in problem_ids}
    for start in tqdm(range(0, len(jobs), batch), desc="eval", unit="batch"):
        chunk = jobs[start : start + batch]
        padded = chunk + [chunk[-1]] * (batch - len(chunk))
        observations, _ = envs.reset(options={"problem_id": padded})
        judged.reset(options={"problem_id": padded})
        responses = policy.sample([policy.prompt_ids(o) for o in observations], sampling)
        _, rewards, _, _, _ = envs.step([r.text for r in responses])
        dense += [float(r) for r in judged.step([r.text for r in responses])[1][: len(chunk)]]
        for pid, reward in zip(chunk, rewards[: len(chunk)]):
            sparse[pid].append(float(reward))
    unscorable = sum(is_missing(r) for rewards in sparse.values() for r in rewards)
    result = pass_at_k_over_problems(sparse, [k for k in ks if k <= samples])
    return {
        "env": env_id,
        "split": split,
        "problems": len(problem_ids),
        "samples": samples,
        "unscorable": unscorable,
        **result,
        f"judged_{judged_reward}_reward": json_number(mean_of(dense)),
        "unscorable_judged": sum(map(is_missing, dense)),
    }
