"""What the exprl reward adds to a TRL GRPO step: ``pytest benchmarks/test_bench_trl.py --benchmark-only``.

Side by side in one run, on the same model and the same batches (race_trl's: 4 prompts x 4 completions of
``ExpRL-Arith-v0`` in our trainer's order, 64 new tokens, fp32 on the CPU; learning rate 0 and the same seed, so
every row samples the same completions at every step):

- ``trivial``: TRL's ``GRPOTrainer`` with race_trl's digit-share reward (microseconds; the baseline);
- ``exprl_outcome``: ``GRPOTrainer`` with ``make_reward(..., "outcome")`` (the offline ``reference`` judge);
- ``exprl_process``: ``ExpRLGRPOTrainer`` with ``make_reward(..., "process")``: the judge plus the per-token
  DeltaNorm step advantages.

A benchmark round is ``trainer.train()`` for ``STEPS`` steps (sampling, the reward, the loss, backward, the
optimizer); pytest-benchmark's table gives each row's ratio to the fastest in parentheses. On a shared machine the
rows drift apart by more than the reward costs, so ``extra_info`` also holds what was measured inside each step:
``step_s``, ``exprl_s`` (our reward call plus the step advantages, from the run's own ``exprl/seconds_*`` metrics)
and their ratio ``exprl_share_of_step``. ``test_exprl_reward_call_alone`` times the reward function by itself on
completions of the same batch. The model is ``tiny-random`` unless ``EXPRL_BENCH_MODEL`` names another
(``smollm2-135m-instruct`` for the published numbers). Nothing here asserts a time.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics

import pytest
import torch

pytest.importorskip("trl", reason='the TRL benchmark needs the trl extra: pip install "exprl[trl]"')

from trl import GRPOTrainer  # noqa: E402

from agents.integrations.trl import ExpRLGRPOTrainer, make_reward, to_hf_dataset  # noqa: E402
from agents.policy import Policy, SamplingConfig  # noqa: E402
from benchmarks import race_trl  # noqa: E402

MODEL = os.environ.get("EXPRL_BENCH_MODEL", "tiny-random")
OPTIONS = json.loads(race_trl.ENV_OPTIONS)
STEPS = int(os.environ.get("EXPRL_BENCH_TRL_STEPS", "3"))


def dataset(steps: int):
    return to_hf_dataset(race_trl.ENV, problem_ids=race_trl.race_prompt_ids(steps), **OPTIONS)


def trainer_for(reward: str, policy: Policy, output_dir: str, timer):
    if reward == "trivial":
        funcs, trainer_class = race_trl.digit_reward, GRPOTrainer
    else:
        kind = reward.removeprefix("exprl_")
        funcs = make_reward(race_trl.ENV, kind, eos_token_id=policy.tokenizer.eos_token_id, **OPTIONS)
        trainer_class = ExpRLGRPOTrainer if kind == "process" else GRPOTrainer
    return trainer_class(
        model=policy.model,
        reward_funcs=funcs,
        args=race_trl.trl_config(output_dir, STEPS, learning_rate=0.0),  # lr 0: the same weights at every step
        train_dataset=dataset(STEPS),
        processing_class=policy.tokenizer,
        callbacks=[timer],
    )


@pytest.mark.slow  # minutes: three TRL runs (with SmolLM2 on a busy CPU, more than pytest's 600 s: --timeout 0)
@pytest.mark.parametrize("reward", ["trivial", "exprl_outcome", "exprl_process"])
def test_trl_grpo_steps(benchmark, tmp_path, reward):
    benchmark.group = f"TRL GRPO, {STEPS} steps, {MODEL}"
    timer = race_trl.step_timer()
    trainer = trainer_for(reward, Policy.from_pretrained(MODEL), str(tmp_path), timer)

    def seeded():
        torch.manual_seed(race_trl.SEED)  # with lr 0, every row samples the same completions at every step

    benchmark.pedantic(trainer.train, setup=seeded, rounds=1)
    steps = [record for record in trainer.state.log_history if "exprl/seconds_reward" in record or "loss" in record]
    ours = [r.get("exprl/seconds_reward", 0.0) + r.get("exprl/seconds_step_advantages", 0.0) for r in steps]
    benchmark.extra_info.update(
        model=MODEL,
        step_s=[round(s, 3) for s in timer.seconds],
        steady_step_median_s=round(statistics.median(timer.seconds[1:] or timer.seconds), 3),
        exprl_s=[round(s, 4) for s in ours],  # inside those steps: our reward call plus the step advantages
        exprl_share_of_step=round(sum(ours) / sum(timer.seconds), 4),
        batch=race_trl.PROMPTS * race_trl.GENERATIONS,
        new_tokens=race_trl.NEW_TOKENS,
    )
    assert trainer.state.global_step == STEPS


@pytest.mark.parametrize("reward", ["exprl_outcome", "exprl_process"])
def test_exprl_reward_call_alone(benchmark, reward):
    """The reward function alone (one batched judge call) on completions sampled for the race's first batch."""
    benchmark.group = f"exprl reward call, {MODEL}"
    policy = Policy.from_pretrained(MODEL)
    rows = [row for row in dataset(1) for _ in range(race_trl.GENERATIONS)]
    prompts, problem_ids = [row["prompt"] for row in rows], [row["problem_id"] for row in rows]
    torch.manual_seed(race_trl.SEED)
    sampling = SamplingConfig(race_trl.TEMPERATURE, max_new_tokens=race_trl.NEW_TOKENS)
    samples = policy.sample([policy.prompt_ids(p[0]["content"]) for p in prompts], sampling)
    completions = [[{"role": "assistant", "content": s.text}] for s in samples]
    funcs = make_reward(race_trl.ENV, reward.removeprefix("exprl_"), truncated_reward="judge", **OPTIONS)

    def call():
        return asyncio.run(funcs(prompts, completions, [list(s.response_ids) for s in samples], problem_ids))

    paid = benchmark.pedantic(call, rounds=3, warmup_rounds=1)
    benchmark.extra_info.update(model=MODEL, batch=len(rows))
    assert len(paid) == len(rows)
