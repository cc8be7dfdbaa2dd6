"""judge-bench's calibration protocol: the authors' measurement of an outcome judge, on policy rollouts.

The paper's 17.8 / 39.2 / 50.4% (DESIGN.md section 1) come from this protocol, not from CHAMP's step labels
(their ``gen_rm/make_calibration_plots.py`` and ``llm_likelihood_judge.py --multi_ref``):

- the data are a policy's own rollouts (theirs: Qwen3-8B on their INT set), each labelled by a verifier as
  correct or not by its final answer (ours: math-verify, through the ``answer`` judge, when the rollouts are
  made by ``exprl rollouts``);
- each rollout is judged as an ``outcome`` item under three reference conditions: the correct reference, none
  (the judge's no-reference question: for the ``llm`` judge the authors' separate prompt, used when a reference
  is empty) and a wrong one, another problem's, by their seeded map (:func:`wrong_reference_map`);
- the judge *asserts correct* iff its score is at least 4 of 5, (4 - 1) / 4 = 0.75 after normalising;
  FNR = P(asserts incorrect | correct), FPR = P(asserts correct | incorrect), and the reported rate is their
  mean, the balanced error rate; AUROC (the Mann-Whitney statistic, ties counted half) is their companion.

Unscorable verdicts are left out of every rate and counted. The rollouts file holds problem ids, responses and
labels, never a reference; its first line records the policy, the sampling and the labelling (:func:`load_rollouts`).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from judges.bench.plan import withheld
from judges.bench.run import OutcomeAgreement, outcome_agreement
from judges.problem import Problem
from judges.protocol import Judge
from judges.verdict import JudgeItem

ROLLOUTS_FORMAT = "exprl-rollouts-1"
"""The first line's ``format``: what :func:`load_rollouts` reads."""
WRONG_REFERENCE_SEED = 0xC0DE
"""The authors' seed for the wrong-reference map (llm_likelihood_judge.py: WRONG_REF_SEED)."""
ASSERTS_CORRECT = 0.75
"""Outcome score at or above which the judge asserts "correct": a Likert 4 of 5 (their THRESH = 4)."""
CONDITIONS = ("correct", "none", "wrong")
PAPER_BER = {"correct": 0.178, "none": 0.392, "wrong": 0.504}
"""The authors' Qwen3-4B outcome judge on Qwen3-8B rollouts of their INT maths set, by this very protocol."""
DEFINITIONS = {
    "label": "a rollout is correct when the verifier (math-verify) accepts its final answer",
    "asserts_correct": f"outcome verdict ok and outcome >= {ASSERTS_CORRECT} (Likert >= 4)",
    "ber": "balanced error rate = (FNR + FPR) / 2 over scorable verdicts, correct rollouts the positive class",
    "auroc": "P(a correct rollout scores above an incorrect one), ties counted half, over scorable verdicts",
    "reference none": "the same problem with an empty reference (the llm judge asks its no-reference question)",
    "reference wrong": "another problem's reference: the authors' map (problems sorted by question, shuffled with "
    "seed 0xC0DE, each given the next one's)",
}


class RolloutsError(ValueError):
    """A rollouts file that cannot be read, named by file, line and field."""


@attrs.frozen
class Rollout:
    problem_id: str
    response: str
    correct: bool
    """The verifier's label: the final answer is the reference's."""


@attrs.frozen
class RolloutSet:
    source: Mapping[str, Any]
    """The first line: how the rollouts were made and labelled (policy, sampling, environment, labeller)."""
    rollouts: tuple[Rollout, ...]


def write_rollouts(path: str | Path, source: Mapping[str, Any], rollouts: Sequence[Rollout]) -> None:
    """A rollouts file: one JSON line describing them, then one line per rollout."""
    lines = [json.dumps({"format": ROLLOUTS_FORMAT, **source})]
    lines += [json.dumps(attrs.asdict(rollout)) for rollout in rollouts]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def load_rollouts(path: str | Path) -> RolloutSet:
    """A rollouts file, checked line by line; a bad line is an error naming the file, the line and the field."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise RolloutsError(f"{path}: cannot read the rollouts file ({error})") from error
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise RolloutsError(f"{path}, line {number}: not JSON ({error.msg})") from error
        if not isinstance(record, dict):
            raise RolloutsError(f"{path}, line {number}: expected a JSON object, got {type(record).__name__}")
        records.append((number, record))
    if not records or records[0][1].get("format") != ROLLOUTS_FORMAT:
        raise RolloutsError(f"{path}, line 1: field 'format' must be {ROLLOUTS_FORMAT!r} (made by `exprl rollouts`)")
    rollouts = tuple(_rollout(path, number, record) for number, record in records[1:])
    if not rollouts:
        raise RolloutsError(f"{path}: no rollouts after the first line")
    return RolloutSet(records[0][1], rollouts)


def _rollout(path: str | Path, number: int, record: dict) -> Rollout:
    for field, kind in (("problem_id", str), ("response", str), ("correct", bool)):
        if not isinstance(record.get(field), kind):
            raise RolloutsError(
                f"{path}, line {number}: field {field!r} must be a {kind.__name__}, got {record.get(field)!r:.40}"
            )
    return Rollout(record["problem_id"], record["response"], record["correct"])


def wrong_reference_map(problems: Sequence[Problem], seed: int = WRONG_REFERENCE_SEED) -> dict[str, str]:
    """Problem id -> the id whose reference it gets under the wrong condition: the authors' map (their
    build_wrong_ref_map): distinct questions sorted, shuffled with ``seed``, each given the next one's (cyclic)."""
    by_question = {}
    for problem in problems:
        by_question.setdefault(problem.question, problem.id)
    questions = sorted(by_question)
    if len(questions) < 2:
        raise ValueError("the wrong-reference condition needs rollouts of at least 2 different problems")
    shuffled = list(questions)
    random.Random(seed).shuffle(shuffled)
    twin = {question: shuffled[(i + 1) % len(shuffled)] for i, question in enumerate(shuffled)}
    return {problem.id: by_question[twin[problem.question]] for problem in problems}


def problems_under(condition: str, problems: Sequence[Problem]) -> dict[str, Problem]:
    """Problems by id as the judge sees them under a reference condition."""
    by_id = {problem.id: problem for problem in problems}
    if condition == "correct":
        return by_id
    if condition == "none":
        return {pid: withheld(problem) for pid, problem in by_id.items()}
    if condition == "wrong":
        donors = wrong_reference_map(list(by_id.values()))
        return {pid: attrs.evolve(p, reference=by_id[donors[pid]].reference) for pid, p in by_id.items()}
    raise ValueError(f"calibration: reference condition must be one of {CONDITIONS}, got {condition!r}")


def auroc(scores: Sequence[float], correct: Sequence[bool]) -> float | None:
    """P(a correct rollout's score is above an incorrect one's), ties counted half; None without both classes."""
    positives = [s for s, c in zip(scores, correct) if c]
    negatives = [s for s, c in zip(scores, correct) if not c]
    if not positives or not negatives:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def calibrate(
    judge: Judge,
    rollouts: Sequence[Rollout],
    problems: Mapping[str, Problem],
    batch: int = 32,
    threshold: float = ASSERTS_CORRECT,
    advance: Callable[[int], Any] = lambda n: None,
) -> tuple[OutcomeAgreement, float | None]:
    """The judge's outcome verdicts on the rollouts (against ``problems`` as a condition shows them): how its
    "correct" calls agree with the labels, and its AUROC."""
    missing = sorted({r.problem_id for r in rollouts} - set(problems))
    if missing:
        raise KeyError(f"rollouts of problems this environment does not have: {missing[:5]}")
    items = [JudgeItem(problems[r.problem_id], r.response, "outcome") for r in rollouts]
    scores: list[float | None] = []
    for start in range(0, len(items), batch):
        verdicts = judge.score_batch(items[start : start + batch])
        scores += [v.outcome if v.ok and v.outcome is not None and math.isfinite(v.outcome) else None for v in verdicts]
        advance(len(verdicts))
    calls = [None if s is None else s >= threshold for s in scores]
    agreement = outcome_agreement([r.correct for r in rollouts], calls)
    scored = [(s, r.correct) for s, r in zip(scores, rollouts) if s is not None]
    return agreement, auroc([s for s, _ in scored], [c for _, c in scored])


def run_calibration(
    judges: Mapping[str, Judge],
    rollout_set: RolloutSet,
    problems: Sequence[Problem],
    conditions: Sequence[str] = CONDITIONS,
    batch: int = 32,
    progress: Callable[..., Any] | None = None,
    threshold: float = ASSERTS_CORRECT,
) -> dict[str, Any]:
    """Every judge under every reference condition: one row each, and the rollouts' provenance."""
    needed = {r.problem_id for r in rollout_set.rollouts}
    chosen = [p for p in problems if p.id in needed]
    rows = []
    for name, judge in judges.items():
        for condition in conditions:
            bar = progress(total=len(rollout_set.rollouts), desc=f"{name}/{condition}") if progress else None
            advance = bar.update if bar else (lambda n: None)
            visible = problems_under(condition, chosen)
            agreement, area = calibrate(judge, rollout_set.rollouts, visible, batch, threshold, advance)
            if bar:
                bar.close()
            rows.append({"judge": name, "reference": condition, "outcome": agreement.as_dict(), "auroc": area})
    return {
        "benchmark": "calibration: outcome judge on labelled policy rollouts (the authors' protocol)",
        "rollouts": len(rollout_set.rollouts),
        "problems": len(chosen),
        "correct": sum(r.correct for r in rollout_set.rollouts),
        "threshold": threshold,
        "source": dict(rollout_set.source),
        "definitions": DEFINITIONS,
        "paper_ber": PAPER_BER,
        "rows": rows,
    }
