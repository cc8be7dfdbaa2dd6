"""Evaluation on a held-out split: pass@1 and pass@k with the sparse answer check, and the judged reward.

For each problem, ``samples`` responses are drawn; c of them are correct. pass@k is the unbiased
estimate 1 - C(n-c, k) / C(n, k) (Chen et al., 2021), averaged over problems; pass@1 is mean accuracy.
The same responses are also paid by a dense judge (``judged_reward``: the ExpRL process reward with the
offline reference judge by default), which shows progress long before answers come out right.
"""

from __future__ import annotations

from math import comb
from typing import Any, Mapping, Sequence

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from agents.policy import Policy, SamplingConfig


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k draws (without replacement) from n samples with c correct is correct."""
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def evaluate(
    policy: Policy, env_id: str, env_options: Mapping[str, Any] | None = None, split: str = "test", samples: int = 8,
    ks: Sequence[int] = (1, 2, 4, 8), limit: int = 0, batch: int = 16, sampling: SamplingConfig = SamplingConfig(),
    judged_reward: str = "process", judge: str = "reference", seed: int = 0,
) -> dict:
    """pass@k per k (k <= samples) and the mean judged reward, over the split's problems (first ``limit``)."""
    import torch

    torch.manual_seed(seed)
    options = dict(env_options or {})
    envs = gym.make_vec(env_id, num_envs=batch, split=split, reward="sparse", judge="answer", **options)
    judged = gym.make_vec(env_id, num_envs=batch, split=split, reward=judged_reward, judge=judge, **options)
    paid: list[float] = []
    problem_ids = [p.id for p in envs.unwrapped.problems][: limit or None]
    jobs = [pid for pid in problem_ids for _ in range(samples)]
    correct: dict[str, int] = {pid: 0 for pid in problem_ids}
    unscorable = 0
    for start in tqdm(range(0, len(jobs), batch), desc="eval", unit="batch"):
        chunk = jobs[start : start + batch]
        padded = chunk + [chunk[-1]] * (batch - len(chunk))
        observations, _ = envs.reset(options={"problem_id": padded})
        judged.reset(options={"problem_id": padded})
        responses = policy.sample([policy.prompt_ids(o) for o in observations], sampling)
        _, rewards, _, _, _ = envs.step([r.text for r in responses])
        dense = judged.step([r.text for r in responses])[1][: len(chunk)]
        paid += [float(r) for r in dense if not np.isnan(r)]
        for pid, reward in zip(chunk, rewards[: len(chunk)]):
            if np.isnan(reward):
                unscorable += 1
            else:
                correct[pid] += int(reward == 1.0)
    ks = [k for k in ks if k <= samples]
    result = {f"pass@{k}": float(np.mean([pass_at_k(samples, c, k) for c in correct.values()])) for k in ks}
    return {"env": env_id, "split": split, "problems": len(problem_ids), "samples": samples,
            "unscorable": unscorable, **result, f"judged_{judged_reward}_reward": float(np.mean(paid)) if paid else None}
