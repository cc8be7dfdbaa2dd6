"""Labelled policy rollouts for judge calibration (``exprl rollouts``): what the authors' calibration judges.

A policy answers each problem of a split ``samples`` times; each response is labelled correct or not by the
``answer`` judge (math-verify) through the sparse environment, exactly as a sparse reward would pay it. A
response the checker could not label (an unscorable verdict) is left out and counted, never labelled wrong.
The file (:func:`judges.bench.calibration.write_rollouts`) holds problem ids, responses and labels, never a
reference, and its first line records the policy, the sampling and the labelling, so a calibration number always
names the rollouts it was measured on. ``exprl judge-bench --protocol calibration --rollouts FILE`` judges them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
from tqdm import tqdm

from agents.policy import Policy, SamplingConfig
from judges.bench.calibration import Rollout


def labelled_rollouts(
    policy: Policy,
    env_id: str,
    env_options: Mapping[str, Any] | None = None,
    split: str = "test",
    samples: int = 4,
    limit: int = 0,
    sampling: SamplingConfig = SamplingConfig(),
    batch: int = 16,
    seed: int = 0,
) -> tuple[list[Rollout], int]:
    """(rollouts labelled by the answer judge, how many responses it could not label)."""
    import torch

    torch.manual_seed(seed)
    envs = gym.make_vec(env_id, num_envs=batch, split=split, reward="sparse", judge="answer", **dict(env_options or {}))
    problem_ids = [p.id for p in envs.unwrapped.problems][: limit or None]
    jobs = [pid for pid in problem_ids for _ in range(samples)]
    rollouts, unlabelled = [], 0
    for start in tqdm(range(0, len(jobs), batch), desc="rollouts", unit="batch"):
        chunk = jobs[start : start + batch]
        padded = chunk + [chunk[-1]] * (batch - len(chunk))
        observations, _ = envs.reset(options={"problem_id": padded})
        responses = policy.sample([policy.prompt_ids(o) for o in observations], sampling)
        rewards = envs.step([r.text for r in responses])[1]
        for pid, response, reward in zip(chunk, responses, rewards):
            if math.isnan(float(reward)):
                unlabelled += 1
            else:
                rollouts.append(Rollout(pid, response.text, bool(reward == 1.0)))
    envs.close()
    return rollouts, unlabelled
