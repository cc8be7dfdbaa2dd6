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


HELD_OUT_MEASURES = ("eval_pass@1", "eval_value_stated", "eval_judged_reward")
"""What the trainer's held-out evaluation logs, before the first step and after the last (see :class:`HeldOut`)."""


class HeldOut:
    """A fixed, seeded slice of an environment's test split, measured the same way before and after training.

    ``problems`` test problems (a seeded choice, the same at every evaluation of a run) x ``samples`` responses
    each, sampled with the run's sampling settings and checked three ways: ``eval_pass@1``, the sparse check (a
    boxed final answer equal to the reference's, math-verify); ``eval_value_stated``, the same check on the value
    the response ends on, boxed or not (``answer_format="boxed_or_stated"``, see :func:`judges.answers.stated_value`),
    which moves before a small model learns to box; and ``eval_judged_reward``, the run's own judged reward, with
    the run's length rule (a response cut off at the token cap earns 0 under ``truncated_reward="zero"``), so it
    means what the training curve means. Unscorable responses are left out of each measure and counted.

    Under a launcher, each process samples its share of the responses (``rank::world_size``); :meth:`metrics`
    takes every share's :meth:`columns`. References stay inside the judges: the slice holds problem ids only.
    """

    def __init__(
        self,
        env_id: str,
        env_options: Mapping[str, Any],
        problems: int,
        samples: int,
        batch: int,
        reward: str,
        judge: str,
        zero_truncated: bool,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ):
        import numpy as np

        options = dict(env_options)
        answer_options = {k: v for k, v in options.items() if k != "judge_kwargs"}  # those are the run judge's
        self.batch = max(1, batch)
        make = lambda **kw: gym.make_vec(env_id, num_envs=self.batch, split="test", **kw)  # noqa: E731
        self.judged = make(reward=reward, judge=judge, **options)
        self.boxed = make(reward="sparse", judge="answer", **answer_options)
        stated_options = {**answer_options, "judge_kwargs": {"answer_format": "boxed_or_stated"}}
        self.stated = make(reward="sparse", judge="answer", **stated_options)
        ids = [p.id for p in self.judged.unwrapped.problems]
        chosen = np.random.default_rng([seed, 17]).permutation(len(ids))[:problems]
        self.problem_ids = [ids[i] for i in sorted(chosen)]
        self.samples = samples
        self.jobs = [pid for pid in self.problem_ids for _ in range(samples)][rank::world_size]
        self.zero_truncated = zero_truncated
        self.seed = seed

    def columns(self, generator, policy: Policy, sampling: SamplingConfig, progress: bool = False) -> dict[str, list]:
        """This process's responses, one value per response: problem id, boxed and stated checks (1, 0 or NaN),
        judged reward (NaN: unscorable) and whether the response finished. Sampled under a fixed seed inside a
        forked torch RNG, so every evaluation of a run draws the same noise and training's random stream is left
        exactly as it was."""
        import torch

        found: dict[str, list] = {"problem": [], "boxed": [], "stated": [], "judged": [], "finished": []}
        devices = [policy.device] if policy.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            starts = range(0, len(self.jobs), self.batch)
            for start in tqdm(starts, desc="held-out eval", unit="batch", leave=False, disable=not progress):
                chunk = self.jobs[start : start + self.batch]
                padded = chunk + [chunk[-1]] * (self.batch - len(chunk))
                observations, _ = self.judged.reset(options={"problem_id": padded})
                self.boxed.reset(options={"problem_id": padded})
                self.stated.reset(options={"problem_id": padded})
                responses = generator.sample([policy.prompt_ids(o) for o in observations[: len(chunk)]], sampling)
                texts = [r.text for r in responses] + [""] * (self.batch - len(chunk))
                for key, envs in (("boxed", self.boxed), ("stated", self.stated), ("judged", self.judged)):
                    found[key] += [float(r) for r in envs.step(texts)[1][: len(chunk)]]
                found["problem"] += chunk
                found["finished"] += [bool(r.finished) for r in responses]
        return found

    def metrics(self, shares: Sequence[Mapping[str, list]], seconds: float) -> dict[str, Any]:
        """The ``eval_*`` record from every process's :meth:`columns` (see :data:`HELD_OUT_MEASURES`)."""
        import numpy as np

        merged = {key: [v for share in shares for v in share[key]] for key in shares[0]}
        judged = [
            0.0 if self.zero_truncated and not done and not is_missing(r) else r
            for r, done in zip(merged["judged"], merged["finished"])
        ]
        record: dict[str, Any] = {}
        for name, key in (("eval_pass@1", "boxed"), ("eval_value_stated", "stated")):
            by_problem: dict[str, list[float]] = {}
            for pid, value in zip(merged["problem"], merged[key]):
                by_problem.setdefault(pid, []).append(value)
            record[name] = pass_at_k_over_problems(by_problem, [1])["pass@1"]
            record[f"{name}_scored"] = len(present(merged[key]))
        kept = present(judged)
        record["eval_judged_reward"] = json_number(mean_of(kept))
        record["eval_judged_reward_std"] = json_number(float(np.std(kept)) if kept else None)
        record["eval_judged_reward_scored"] = len(kept)
        record["eval_problems"] = len(self.problem_ids)
        record["eval_responses"] = len(merged["problem"])
        record["eval_finished_fraction"] = json_number(mean_of(map(float, merged["finished"])))
        record["eval_seconds"] = seconds
        return record
