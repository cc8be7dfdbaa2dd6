"""Judges that hold math-verify workers pickle as their settings and score the same after unpickling."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from exprl_env.domains import load_problems
from judges import JudgeItem, make_judge
from judges.problem import Problem, SealedReference

GOLD = "8675309"
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["answer", "reference"])
def test_a_pickled_judge_scores_like_the_original_and_carries_no_answer(name):
    judge = make_judge(name)
    problems = load_problems("gsm", size=4) + [Problem("p", "t", "Q?", SealedReference(["a step"], GOLD))]
    responses = ["6 * 2 = 12\n\n\\boxed{28080}", "\\boxed{7}", "no answer", "\\boxed{1}", f"\\boxed{{{GOLD}.0}}"]
    items = [JudgeItem(p, r, "process") for p, r in zip(problems, responses)]
    before = judge.score_batch(items)
    blob = pickle.dumps(judge)
    assert GOLD.encode() not in blob and GOLD not in repr(vars(_pool_of(judge)))  # the memo holds digests
    clone = pickle.loads(blob)
    assert clone.score_batch(items) == before
    assert _pool_of(clone) is _pool_of(judge)  # unpickled in the same process: the same shared workers
    assert clone.stats["items"] == judge.stats["items"] + len(items)


def _pool_of(judge):
    return getattr(judge, "answers", judge).pool


def test_a_judge_unpickled_in_a_fresh_process_scores_the_same():
    judge = make_judge("reference")
    items = [JudgeItem(p, "6 * 2 = 12\n\n\\boxed{28080}", "process") for p in load_problems("gsm", size=3)]
    child = (
        "import pickle, sys; judge, items = pickle.load(sys.stdin.buffer); "
        "pickle.dump(judge.score_batch(items), sys.stdout.buffer)"
    )
    done = subprocess.run(
        [sys.executable, "-c", child],
        input=pickle.dumps((judge, items)),
        capture_output=True,
        timeout=120,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert pickle.loads(done.stdout) == judge.score_batch(items)
