"""Learning margins (issue 17): does each agent still learn, and by how much must a learning test ask it to?

``tests/agents/test_learning.py`` trains every agent for a few steps on a CI-sized testbed model and asserts that
the agent's own held-out measure rose by a margin. This module holds what the test and this study share (the
recipe, the arms, the held-out measures, one learning run) and, run as a script, measures each arm over several
training seeds and writes ``learning_margins.json`` and ``learning_margins.md``: before and after per seed, the
spread, and the margin each test asserts, by the rule below.

**The held-out slice** is the whole test split of ``ExpRL-Arith-v0`` at one operation and operands up to 9
(:data:`ENV_OPTIONS`: 92 problems, never pretrained on), with :data:`EVAL_SAMPLES` responses each, sampled at the
training temperature from the fixed seed :data:`EVAL_SEED`; the same problems and sampling seed before and after.

**Each agent's own measure** (higher is better for every one; see :data:`MEASURES`):

- ``pass@1``: sampled held-out pass@1 with the sparse answer check (the RL agents are paid for reaching the answer).
- ``judged_process_reward``: the held-out mean process reward of the ``reference`` judge, what GRPO with process
  rewards (and PPO, REINFORCE on process rewards) is paid.
- ``reference_logp``: the mean log-likelihood per token of the held-out problems' reference responses given their
  prompts: exactly what SFT maximises (on training references), with no sampling noise.
- ``minus_reverse_kl``: minus the held-out reverse KL from the student to the frozen initial model shown the
  reference (the self-distillation teacher), estimated on the student's own samples as the mean over tokens of
  log p_student - log p_teacher: exactly what self-distillation minimises (on training problems).

**The margin rule** (:func:`margin_rule`): over the seeds, the smallest gain minus three standard deviations of the
evaluation's own noise (the spread of the measure over evaluation seeds on one fixed model), floored at a quarter of
the smallest gain and rounded down to a grid. An arm whose test trains with a seed of the study passes by at least
three evaluation-noise deviations, and a change that loses three quarters of the smallest measured gain fails.

    python -m benchmarks.learning_margins --seeds 0 1 2 3 4 --output-dir benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import attrs

from agents.testbed import TestbedConfig

ENV = "ExpRL-Arith-v0"
ENV_OPTIONS = {"n_ops": 1, "max_operand": 5}
"""Where the learning tests train and evaluate: one-operation chains, the testbed's easiest."""
MAX_NEW_TOKENS = 64
"""A one-operation worked answer is about 45 characters (one token each) plus end-of-sequence."""
TEMPERATURE = 0.8
EVAL_SAMPLES = 4
EVAL_SEED = 0
EVAL_BATCH = 92

CI_TESTBED = TestbedConfig(
    chain_lengths=(1,),
    steps=1000,
    batch_size=16,
    hidden_size=96,
    layers=2,
    heads=4,
    intermediate_size=256,
    lr=5e-3,
)
"""The CI-sized testbed (see ``tests/agents/test_learning.py`` for the recipes tried)."""

MEASURES = ("pass@1", "judged_process_reward", "reference_logp", "minus_reverse_kl")


@attrs.frozen
class Arm:
    """One learning test's configuration: an agent, its reward, its settings and the measure it is judged on."""

    name: str
    agent: str
    measure: str
    reward: str = "process"
    steps: int = 20
    prompts_per_step: int = 4
    group_size: int = 8
    agent_options: dict = attrs.field(factory=dict)
    flip_advantage: bool = False
    """A negative control: the agent's advantages are negated (GRPO only), so it should unlearn."""

    def agent_config(self):
        from agents.registry import agent_classes

        return agent_classes(self.agent)[1](**self.agent_options)

    def train_config(self, model: str, seed: int, output_dir: str):
        from agents.trainer import TrainConfig

        return TrainConfig(
            env=ENV,
            env_options=ENV_OPTIONS,
            reward=self.reward,
            agent=self.agent,
            model=model,
            steps=self.steps,
            prompts_per_step=self.prompts_per_step,
            group_size=self.group_size,
            max_new_tokens=MAX_NEW_TOKENS,
            temperature=TEMPERATURE,
            seed=seed,
            output_dir=output_dir,
            save_every=0,
        )


ARMS = {
    arm.name: arm
    for arm in (
        Arm("grpo_process", "grpo", "judged_process_reward", agent_options={"lr": 3e-4}),
        Arm(
            "grpo_process_group",
            "grpo",
            "judged_process_reward",
            steps=60,
            agent_options={"lr": 1e-4, "process_norm": "group"},
        ),
        Arm("grpo_process_flipped", "grpo", "judged_process_reward", agent_options={"lr": 3e-4}, flip_advantage=True),
        Arm("grpo_sparse", "grpo", "pass@1", reward="sparse", steps=60, agent_options={"lr": 1e-4}),
        Arm(
            "grpo_sparse_flipped",
            "grpo",
            "pass@1",
            reward="sparse",
            steps=30,
            agent_options={"lr": 1e-4},
            flip_advantage=True,
        ),
        Arm("ppo", "ppo", "judged_process_reward", agent_options={"lr": 3e-4, "value_lr": 1e-3}),
        Arm("ppo_sparse", "ppo", "pass@1", reward="sparse", steps=60, agent_options={"lr": 1e-4, "value_lr": 1e-3}),
        Arm("reinforce", "reinforce", "judged_process_reward", agent_options={"lr": 3e-4}),
        Arm("reinforce_sparse", "reinforce", "pass@1", reward="sparse", steps=60, agent_options={"lr": 1e-4}),
        Arm("sft", "sft", "reference_logp", agent_options={"lr": 1e-4}),
        Arm("self_distill", "self_distill", "minus_reverse_kl", agent_options={"lr": 1e-3}),
    )
}


def held_out_problems():
    import gymnasium as gym

    return gym.make(ENV, split="test", reward="sparse", judge="answer", **ENV_OPTIONS).unwrapped.problems


def sampled_measures(policy, seed: int = EVAL_SEED) -> dict[str, float]:
    """Held-out pass@1 and judged process reward (:func:`agents.evaluate.evaluate`), leaving the global RNG as found."""
    import torch

    from agents.evaluate import evaluate
    from agents.policy import SamplingConfig

    sampling = SamplingConfig(temperature=TEMPERATURE, max_new_tokens=MAX_NEW_TOKENS)
    with torch.random.fork_rng():
        result = evaluate(
            policy, ENV, ENV_OPTIONS, "test", EVAL_SAMPLES, (1,), 0, EVAL_BATCH, sampling, "process", "reference", seed
        )
    return {"pass@1": result["pass@1"], "judged_process_reward": result["judged_process_reward"]}


def reference_logp(policy) -> float:
    """Mean log-likelihood per token of the held-out reference responses (closed by end-of-sequence)."""
    import torch

    from agents.privileged import reference_response
    from agents.testbed import shared_prefix_length, target_nll
    from exprl_env.prompt import build_prompt

    tokenizer = policy.tokenizer
    examples = [
        (
            policy.prompt_ids(build_prompt(p.question)),
            tokenizer.encode(reference_response(p.reference.unseal()), add_special_tokens=False)
            + [tokenizer.eos_token_id],
        )
        for p in held_out_problems()
    ]
    with torch.no_grad():
        nll, tokens = target_nll(policy, examples, shared_prefix_length([e[0] for e in examples]))
    return -float(nll / tokens)


def minus_reverse_kl(policy, teacher, seed: int = EVAL_SEED) -> float:
    """Minus the mean over the student's sampled held-out tokens of log p_student - log p_teacher, the teacher being
    ``teacher`` (the frozen initial model) shown the reference as self-distillation shows it."""
    import torch

    from agents.policy import SamplingConfig
    from agents.privileged import teacher_messages
    from exprl_env.prompt import build_prompt

    problems = held_out_problems()
    prompts = [build_prompt(p.question) for p in problems for _ in range(EVAL_SAMPLES)]
    references = [p.reference.unseal() for p in problems for _ in range(EVAL_SAMPLES)]
    sampling = SamplingConfig(temperature=TEMPERATURE, max_new_tokens=MAX_NEW_TOKENS)
    total, tokens = 0.0, 0.0
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        for start in range(0, len(prompts), EVAL_BATCH):
            chunk = range(start, min(start + EVAL_BATCH, len(prompts)))
            student_prompts = [policy.prompt_ids(prompts[i]) for i in chunk]
            samples = policy.sample(student_prompts, sampling)
            responses = [s.response_ids for s in samples]
            student, mask = policy.token_logprobs(student_prompts, responses, TEMPERATURE)
            turns = [teacher_messages(prompts[i], references[i], "user") for i in chunk]
            teacher_prompts = [teacher.prompt_ids(user, system=system) for system, user in turns]
            reference, _ = teacher.token_logprobs(teacher_prompts, responses, TEMPERATURE)
            total += float(((student - reference) * mask).sum())
            tokens += float(mask.sum())
    return -total / tokens


def measure(policy, name: str, teacher=None, seed: int = EVAL_SEED) -> float:
    """The held-out measure ``name`` (one of :data:`MEASURES`) of ``policy``."""
    if name in ("pass@1", "judged_process_reward"):
        return sampled_measures(policy, seed)[name]
    if name == "reference_logp":
        return reference_logp(policy)
    if name == "minus_reverse_kl":
        return minus_reverse_kl(policy, teacher, seed)
    raise ValueError(f"unknown measure {name!r}; measures: {MEASURES}")


def flip_advantages(agent) -> None:
    """Negate the agent's token advantages (the negative control): learning then goes the wrong way."""
    original = agent.token_advantages
    agent.token_advantages = lambda batch: -original(batch)


def learning_run(model: str, arm: Arm, seed: int, output_dir: str | None = None) -> dict:
    """Train ``arm`` from ``model`` with ``seed`` and return its held-out measure before and after (and the seconds).

    The starting policy's measure does not depend on the seed (same model, same evaluation seed): callers that run
    many seeds may pass it in through ``before`` themselves; here it is measured each time for clarity.
    """
    from agents.trainer import Trainer

    with tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer(arm.train_config(model, seed, output_dir or scratch), arm.agent_config())
        teacher = trainer.policy.frozen_copy() if arm.measure == "minus_reverse_kl" else None
        if arm.flip_advantage:
            flip_advantages(trainer.agent)
        before = measure(trainer.policy, arm.measure, teacher)
        started = time.perf_counter()
        records = [trainer.train_step() for _ in range(arm.steps)]
        seconds = time.perf_counter() - started
        after = measure(trainer.policy, arm.measure, teacher)
    return {
        "arm": arm.name,
        "seed": seed,
        "before": before,
        "after": after,
        "gain": after - before,
        "train_seconds": round(seconds, 1),
        "train_reward_first": records[0]["reward_mean"],
        "train_reward_last": records[-1]["reward_mean"],
    }


def margin_rule(gains: Sequence[float], eval_std: float, grid: float = 0.01) -> float:
    """The margin a learning test asserts (see the module docstring), rounded down to ``grid``."""
    smallest = min(gains)
    margin = max(smallest - 3 * eval_std, smallest / 4)
    return math.floor(margin / grid) * grid


def evaluation_noise(model: str, name: str, seeds: Sequence[int]) -> dict:
    """The spread of measure ``name`` of the fixed starting model over evaluation seeds (0 for reference_logp)."""
    from agents.policy import Policy

    policy = Policy.from_pretrained(model)
    teacher = policy.frozen_copy() if name == "minus_reverse_kl" else None
    values = [measure(policy, name, teacher, seed=100 + s) for s in seeds]
    return {"values": values, "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--arms", nargs="+", default=list(ARMS))
    parser.add_argument("--output-dir", default="benchmarks/results")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from agents.models import testbed_folder

    started = time.process_time()
    model = str(testbed_folder(CI_TESTBED))
    build = json.loads((Path(model) / "testbed.json").read_text())
    noise = {name: evaluation_noise(model, name, args.seeds) for name in {ARMS[a].measure for a in args.arms}}
    arms = {}
    for name in args.arms:
        runs = [learning_run(model, ARMS[name], seed) for seed in args.seeds]
        gains = [r["gain"] for r in runs]
        arm = ARMS[name]
        arms[name] = {
            "arm": attrs.asdict(arm),
            "runs": runs,
            "gain_mean": statistics.mean(gains),
            "gain_std": statistics.stdev(gains) if len(gains) > 1 else 0.0,
            "gain_min": min(gains),
            "gain_max": max(gains),
            "margin": None if arm.flip_advantage else margin_rule(gains, noise[arm.measure]["std"], grid=0.001),
        }
        print(json.dumps({name: {k: v for k, v in arms[name].items() if k != "arm"}}), flush=True)
    result = {
        "command": "python -m benchmarks.learning_margins " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "testbed": {"config": build["config"], "fingerprint": build["fingerprint"], "build_seconds": build["seconds"]},
        "evaluation_noise": noise,
        "arms": arms,
        "cpu_seconds": round(time.process_time() - started, 1),
    }
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "learning_margins.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "learning_margins.md").write_text(markdown(result))
    return 0


def markdown(result: dict) -> str:
    lines = [
        "# Learning margins",
        "",
        f"`{result['command']}`",
        "",
        f"CI testbed {result['testbed']['fingerprint']}, built in {result['testbed']['build_seconds']} s; "
        f"held-out: the test split of {ENV} {ENV_OPTIONS}, {EVAL_SAMPLES} samples per problem at temperature "
        f"{TEMPERATURE}, evaluation seed {EVAL_SEED}. Margin = max(min gain - 3 x evaluation std, min gain / 4), "
        "rounded down to 0.001 (benchmarks/learning_margins.py).",
        "",
        "| arm | measure | before | after per seed | gain mean ± std (min) | evaluation std | margin |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, arm in result["arms"].items():
        measure_name = arm["arm"]["measure"]
        after = " / ".join(f"{r['after']:.3f}" for r in arm["runs"])
        margin = "(negative control)" if arm["margin"] is None else f"{arm['margin']:.3f}"
        lines.append(
            f"| {name} | {measure_name} | {arm['runs'][0]['before']:.3f} | {after} | {arm['gain_mean']:+.3f} ± "
            f"{arm['gain_std']:.3f} ({arm['gain_min']:+.3f}) | {result['evaluation_noise'][measure_name]['std']:.3f} "
            f"| {margin} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
