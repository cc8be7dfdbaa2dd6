"""Judge rates: ``pytest benchmarks --benchmark-only``.

- ``reference`` judge: traces per second on policy-like GSM responses (reference steps, one perturbed
  value, a fresh boxed answer each round so math-verify is not answered from its cache);
- ``llm`` judge: calls per second against a local ``transformers serve`` (SmolLM2-135M-Instruct, CPU,
  16 new tokens, no validation retries), at concurrency 1 and 8, on fresh responses (no cache hits).
"""

from __future__ import annotations

import itertools

import pytest

from agents.models import resolve_model
from exprl_env.domains import load_problems
from judges import JudgeItem, make_judge
from judges.local_server import TransformersServer

_fresh = itertools.count(1)
PROBLEMS = load_problems("gsm", size=64, seed=1)


def policy_like(problem, salt: int) -> str:
    steps = list(problem.reference.unseal().steps)
    steps[len(steps) // 2] += f" (so about {salt % 97} more)"
    return "\n\n".join(steps) + f"\n\nThe final answer is \\boxed{{{salt}}}."


@pytest.fixture(scope="module")
def reference_judge():
    judge = make_judge("reference")
    judge.score_batch([JudgeItem(PROBLEMS[0], "warm up \\boxed{1}", "process")])
    return judge


def test_reference_judge_traces_per_second(benchmark, reference_judge):
    def batch():
        salt = next(_fresh) * 1000
        items = [JudgeItem(p, policy_like(p, salt + i), "process") for i, p in enumerate(PROBLEMS)]
        verdicts = reference_judge.score_batch(items)
        assert all(v.ok for v in verdicts)

    benchmark.extra_info["traces_per_round"] = len(PROBLEMS)
    benchmark.pedantic(batch, rounds=5, iterations=1)


@pytest.fixture(scope="module")
def server():
    with TransformersServer(resolve_model("smollm2-135m-instruct")) as server:
        yield server


@pytest.mark.slow
@pytest.mark.parametrize("concurrency", [1, 8])
def test_llm_judge_calls_per_second(benchmark, server, concurrency):
    judge = make_judge(
        "llm", base_url=server.base_url, model=server.model, max_tokens=16, max_concurrency=concurrency, parse_retries=0
    )
    judge.score_batch([JudgeItem(PROBLEMS[0], "warm up", "outcome")])

    def batch():
        salt = next(_fresh)
        items = [JudgeItem(p, f"Attempt {salt}: 6 * 2 = 12.", "outcome") for p in PROBLEMS[:8]]
        assert len(judge.score_batch(items)) == 8

    benchmark.extra_info["calls_per_round"] = 8
    benchmark.pedantic(batch, rounds=2, iterations=1)
