"""Shared fixtures: a deterministic scripted judge, user data files, and a canary for leak tests."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from judges import JudgeItem, Status, Verdict, register_judge
from judges.answers import boxed_answers

CANARY = "CANARY-7f3a9c-REFERENCE-MUST-NOT-LEAK"
TINY_RUN = dict(
    model="tiny-random",
    env="ExpRL-Arith-v0",
    env_options='{"size": 50}',
    judge="vowels",
    prompts_per_step=2,
    group_size=2,
    max_new_tokens=12,
    truncated_reward="judge",  # the tiny random model never finishes in 12 tokens: pay what the judge says
    eval_problems=0,  # the held-out evaluation has its own tests
)
"""A seconds-long ``TrainConfig`` (tiny random model, scripted vowel judge): the trainer tests' shared settings."""


class ScriptedJudge:
    """Deterministic, dependency-free judge for environment tests (not a real judge).

    Step k's score (cumulative progress) is the fraction of the reference's steps whose text appears in steps
    1..k, its rating the fraction that appears in step k's own text; the outcome is the progress of the whole
    response; a response containing ``UNSCORABLE`` gets an unscorable verdict. ``calls`` counts score_batch calls,
    ``batch_sizes`` their sizes.
    """

    name = "scripted"
    kinds = ("sparse", "outcome", "process")

    def __init__(self):
        self.calls = 0
        self.batch_sizes: list[int] = []

    def score_batch(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        self.calls += 1
        self.batch_sizes.append(len(items))
        return [self._one(item) for item in items]

    def _one(self, item: JudgeItem) -> Verdict:
        if "UNSCORABLE" in item.response:
            return Verdict.unscorable(f"scripted: {item.problem.reference.unseal().text}")
        reference = item.problem.reference.unseal()
        spans = item.step_spans or ((0, len(item.response)),)
        scores, ratings = [], []
        for start, end in spans:
            prefix, own = item.response[:end], item.response[start:end]
            scores.append(sum(step in prefix for step in reference.steps) / len(reference.steps))
            ratings.append(sum(step in own for step in reference.steps) / len(reference.steps))
        answers = boxed_answers(item.response)
        return Verdict(
            status=Status.OK,
            outcome=scores[-1],
            step_scores=tuple(scores),
            step_ratings=tuple(ratings),
            step_spans=tuple(spans),
            answer_correct=answers == [reference.answer],
            reason=f"compared with {reference.text}",
        )


register_judge("scripted", ScriptedJudge)


class VowelJudge:
    """Deterministic judge whose reward varies on any text, even a random model's (for agent tests only).

    s_k (cumulative progress) is the share of vowels among the letters of steps 1..k, r_k (step k's rating) that
    share in step k's own letters; the outcome is s_K.
    """

    name = "vowels"
    kinds = ("sparse", "outcome", "process")

    def score_batch(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        from judges.steps import split_steps

        verdicts = []
        for item in items:
            spans = tuple(item.step_spans or split_steps(item.response, "lines") or [(0, len(item.response))])
            scores = [vowel_share(item.response[:end]) for _, end in spans]
            verdicts.append(
                Verdict(
                    status=Status.OK,
                    outcome=scores[-1],
                    step_scores=tuple(scores),
                    step_ratings=tuple(vowel_share(item.response[start:end]) for start, end in spans),
                    step_spans=spans,
                    answer_correct=False,
                )
            )
        return verdicts


def vowel_share(text: str) -> float:
    letters = [c for c in text.lower() if c.isalpha()]
    return sum(c in "aeiou" for c in letters) / max(1, len(letters))


register_judge("vowels", VowelJudge)


class ProblemJudge:
    """Deterministic judge that pays by problem, not by response (for data-parallel tests, where the greedy tiny random
    model answers every problem alike): a problem's outcome is a fixed quarter taken from a digest of its id, and
    every third problem's verdicts are unscorable, so processes hold different numbers of rollouts in the loss."""

    name = "by-problem"
    kinds = ("sparse", "outcome", "process")

    def score_batch(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        import hashlib

        verdicts = []
        for item in items:
            digest = int(hashlib.sha256(item.problem.id.encode()).hexdigest(), 16)
            if digest % 3 == 0:
                verdicts.append(Verdict.unscorable("by-problem: this problem is never scored"))
                continue
            score, span = (digest % 5) / 4, ((0, len(item.response)),)
            verdicts.append(Verdict(Status.OK, score, step_scores=(score,), step_ratings=(score,), step_spans=span))
        return verdicts


def tiny_train_flags(output_dir, *extra: str) -> list[str]:
    """``exprl train`` flags for a one-step run of the tiny random model with the vowels judge (seconds)."""
    settings = {
        "--model": "tiny-random",
        "--env-options": '{"size": 50}',
        "--judge": "vowels",
        "--steps": "1",
        "--prompts-per-step": "1",
        "--group-size": "2",
        "--max-new-tokens": "8",
        "--eval-problems": "0",
        "--output-dir": str(output_dir),
    }
    return ["train", *[word for pair in settings.items() for word in pair], *extra]


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


@pytest.fixture
def rows():
    """Three well-formed rows with two-step solutions and numeric answers."""
    return [
        {
            "id": f"p{i}",
            "question": f"What is {i} + {i}?",
            "solution": f"Add {i} and {i}.\nThat gives {2 * i}.",
            "answer": str(2 * i),
        }
        for i in range(1, 4)
    ]


@pytest.fixture
def jsonl_file(tmp_path, rows):
    return write_jsonl(tmp_path / "mini.jsonl", rows)
