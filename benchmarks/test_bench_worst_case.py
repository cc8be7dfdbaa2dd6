"""Worst-case inputs for the `reference` judge's text analysis: ``pytest benchmarks/test_bench_worst_case.py``.

Responses built to make a regex-based reader backtrack or go quadratic: long sums and products that
never close (``1 + 2 + ... + 14 is the sum`` took ~49 s before the tokenizer, x4 per term), a 7 KB
single-paragraph response and one of 2,000 steps, unclosed boxes, deep parentheses and huge numbers.
Each is one judge call; the judge must answer every one (ok, or unscorable past its deadline), never
hang. In CI they run once as smoke tests (``--benchmark-disable``); times are in the benchmark report.
"""

from __future__ import annotations

import pytest

from exprl_env.domains import load_problems
from judges import JudgeItem, make_judge

PARAGRAPH = (
    "He works 6 days a week for 2 weeks, so 6 * 2 = 12 days a month, and at £195 a day he earns "
    "195 * 12 = 2340 a month, which over 12 months is 2340 * 12 = 28080 in all. "
)
WORST_CASES = {
    "sum of 14 terms, never closed": " + ".join(str(i) for i in range(1, 15)) + " is the sum",
    "sum of 400 terms, never closed": " + ".join(str(i) for i in range(1, 401)) + " is the sum",
    "product of 12 twos = x": "So " + " * ".join(["2"] * 12) + " = x",
    "product of 2,000 twos = x": "So " + " * ".join(["2"] * 2000) + " = x",
    "7 KB paragraph": PARAGRAPH * (7000 // len(PARAGRAPH)),
    "7 KB of 1+1+... never closed": "+".join(["1"] * 3500),
    "7 KB of 12*3-4/5... never closed": "12*3-4/5+" * 780 + "x",
    "70 KB paragraph": PARAGRAPH * (70000 // len(PARAGRAPH)),
    "2,000 steps": "\n".join(f"{i} + 1 = {i + 1}" for i in range(2000)),
    "5,000 unclosed boxes": "\\boxed{" * 5000,
    "parentheses 3,000 deep": "(" * 3000 + "1" + ")" * 3000 + " = 1",
    "5,000-digit number": "1" * 5000 + " + 1 = 2",
    "nested \\frac 500 deep": "\\frac{" * 500 + "1" + "}{2}" * 500 + " = 3",
    "answer stated 2,000 times": " ".join(f"The answer is {i}." for i in range(2000)),
    "answer stated on 2,000 lines": "\n".join(f"The answer is {i}." for i in range(2000)),
}


@pytest.fixture(scope="module")
def judge():
    judge = make_judge("reference")
    judge.score_batch([JudgeItem(PROBLEM, "warm up \\boxed{1}", "process")])
    return judge


PROBLEM = load_problems("gsm", size=1)[0]


@pytest.mark.parametrize("name", list(WORST_CASES))
def test_worst_case_response(benchmark, judge, name):
    item = JudgeItem(PROBLEM, WORST_CASES[name], "process")
    verdicts = benchmark.pedantic(judge.score_batch, args=([item],), rounds=3, iterations=1)
    assert len(verdicts) == 1
    verdict = verdicts[0]
    assert verdict.ok or verdict.outcome is None
    if name == "sum of 14 terms, never closed":
        assert verdict.ok and verdict.first_error_step is None  # true arithmetic is not flagged
