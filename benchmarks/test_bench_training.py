"""Policy and agent rates: ``pytest benchmarks/test_bench_training.py --benchmark-only``.

The model is ``tiny-random`` unless ``EXPRL_BENCH_MODEL`` names another (``smollm2-135m-instruct`` for the
published numbers). Each benchmark stores its token count and the FLOPs it needed in ``extra_info``, and
the matmul benchmark measures the machine's fp32 ceiling, so achieved fractions can be computed from one run.
"""

from __future__ import annotations

import os

import pytest
import torch

from agents.policy import Policy, SamplingConfig
from agents.registry import make_agent
from agents.trainer import TrainConfig, Trainer
from benchmarks.ab_updates import bench_prompts, process_batch, stand_in_references
from benchmarks.flops import generation_flops, matmul_rate, training_flops

MODEL = os.environ.get("EXPRL_BENCH_MODEL", "tiny-random")
BATCH, NEW_TOKENS = 8, 64


@pytest.fixture(scope="module")
def policy():
    return Policy.from_pretrained(MODEL)


def shape(policy):
    config = policy.model.config
    params = sum(p.numel() for p in policy.model.parameters())
    return params, config.num_hidden_layers, config.hidden_size


@pytest.fixture(scope="module")
def prompts(policy):
    return bench_prompts(policy, BATCH)


def test_matmul_rate(benchmark):
    rate = benchmark.pedantic(matmul_rate, kwargs={"repeats": 5}, rounds=3, iterations=1)
    benchmark.extra_info["gflops_fp32"] = round(rate / 1e9, 1)
    assert rate > 0


def test_generation_tokens_per_second(benchmark, policy, prompts):
    config = SamplingConfig(temperature=0.8, max_new_tokens=NEW_TOKENS)

    def generate():
        torch.manual_seed(0)
        return policy.sample(prompts, config)

    samples = benchmark.pedantic(generate, rounds=2, iterations=1)
    new = sum(len(s.response_ids) for s in samples)
    params, layers, width = shape(policy)
    prompt = sum(len(p) for p in prompts) // len(prompts)
    benchmark.extra_info.update(
        new_tokens=new, flops=generation_flops(params, layers, width, BATCH, prompt, new // BATCH)
    )


@pytest.fixture(scope="module")
def batch(policy):
    return process_batch(policy, BATCH, NEW_TOKENS)


@pytest.mark.parametrize("agent", ["grpo", "ppo", "reinforce", "self_distill", "sft"])
def test_agent_update_tokens_per_second(benchmark, policy, batch, agent):
    learner = make_agent(agent, policy, lr=0.0)  # lr 0: every round measures the same update
    references = stand_in_references(learner, batch)
    metrics = benchmark.pedantic(learner.update, args=(batch, references), rounds=2, iterations=1)
    if agent == "sft":  # SFT trains on one reference per distinct problem, not on the samples
        sequences = [len(p) + len(t) for p, t in learner.examples(batch, references)]
    else:
        sequences = [len(s.prompt_ids) + len(s.response_ids) for s in batch.samples]
    params, layers, width = shape(policy)
    passes = 2 if agent == "ppo" else 1  # PPO: two epochs over the batch (plus one no-grad pass, not counted)
    flops = passes * training_flops(params, layers, width, len(sequences), sum(sequences) // len(sequences))
    benchmark.extra_info.update(tokens=sum(sequences), flops=flops)
    assert metrics["applied"] == 1.0


def test_one_trainer_step(benchmark, tmp_path):
    config = TrainConfig(
        model=MODEL,
        env_options='{"n_ops": 1, "max_operand": 9, "size": 200}',
        prompts_per_step=2,
        group_size=4,
        max_new_tokens=NEW_TOKENS,
        eval_problems=0,
        output_dir=str(tmp_path),
    )
    trainer = Trainer(config)
    record = benchmark.pedantic(trainer.train_step, rounds=2, iterations=1)
    benchmark.extra_info.update({k: round(v, 2) for k, v in record.items() if k.startswith("seconds")})
