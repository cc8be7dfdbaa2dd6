"""judge-bench, the run: judging every annotation under a reference condition, and the metrics (outcome
agreement, first-error localisation) as counts and rates. See :mod:`judges.bench` for the definitions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from judges.bench.plan import (
    DEFINITIONS,
    NO_MISTAKE_THRESHOLD,
    PAPER_BER,
    Annotation,
    BenchConfig,
    groups,
    problems_for,
)
from judges.problem import Problem
from judges.protocol import Judge
from judges.steps import split_steps
from judges.verdict import JudgeItem, Verdict


def says_no_mistake(verdict: Verdict, threshold: float = NO_MISTAKE_THRESHOLD) -> bool | None:
    """The judge's outcome call: True "no mistake", False "a mistake", None unscorable (see module doc)."""
    if not verdict.ok or verdict.outcome is None:
        return None
    return verdict.first_error_step is None and verdict.outcome >= threshold


def step_at(spans: Sequence[tuple[int, int]], position: int) -> int | None:
    """The first step ending after ``position`` (the one containing it, or the next); None past the end."""
    return next((index for index, (_, end) in enumerate(spans) if end > position), None)


def _rate(count: int, total: int) -> float | None:
    return count / total if total else None


@attrs.frozen
class OutcomeAgreement:
    """How a judge's "no mistake" calls agree with the annotators'."""

    annotations: int
    """Annotations judged."""
    scorable: int
    """Of those, with an ok verdict (coverage = scorable / annotations)."""
    positives: int
    """Scorable annotations the humans found no mistake in."""
    negatives: int
    """Scorable annotations with a human-marked wrong step."""
    false_negatives: int
    """Positives the judge said had a mistake."""
    false_positives: int
    """Negatives the judge said had none."""

    @property
    def coverage(self) -> float | None:
        return _rate(self.scorable, self.annotations)

    @property
    def fnr(self) -> float | None:
        return _rate(self.false_negatives, self.positives)

    @property
    def fpr(self) -> float | None:
        return _rate(self.false_positives, self.negatives)

    @property
    def ber(self) -> float | None:
        """Balanced error rate; None unless both classes have scorable members."""
        return None if self.fnr is None or self.fpr is None else (self.fnr + self.fpr) / 2

    def as_dict(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "coverage": self.coverage, "fnr": self.fnr, "fpr": self.fpr, "ber": self.ber}


def outcome_agreement(truth: Sequence[bool], said: Sequence[bool | None]) -> OutcomeAgreement:
    """Counts from the human labels (True: no mistake) and the judge's calls (None: unscorable)."""
    if len(truth) != len(said):
        raise ValueError(f"{len(truth)} labels but {len(said)} judge calls")
    scored = [(human, judge) for human, judge in zip(truth, said) if judge is not None]
    return OutcomeAgreement(
        annotations=len(truth),
        scorable=len(scored),
        positives=sum(human for human, _ in scored),
        negatives=sum(not human for human, _ in scored),
        false_negatives=sum(human and not judge for human, judge in scored),
        false_positives=sum(judge and not human for human, judge in scored),
    )


@attrs.frozen
class Localisation:
    """Where a judge puts the first error, against the annotated wrong step."""

    annotated_wrong: int
    """Annotations with a human-marked wrong step."""
    scorable: int
    """Of those, with an ok step-level verdict (coverage = scorable / annotated_wrong)."""
    flagged: int
    """Of those, where the judge flagged a first error step."""
    exact: int
    """Flagged ones whose first error step is the annotated step."""
    within_one: int
    """Flagged ones at most one step away from it."""

    @property
    def coverage(self) -> float | None:
        return _rate(self.scorable, self.annotated_wrong)

    @property
    def flag_rate(self) -> float | None:
        return _rate(self.flagged, self.scorable)

    @property
    def exact_rate(self) -> float | None:
        return _rate(self.exact, self.flagged)

    @property
    def within_one_rate(self) -> float | None:
        return _rate(self.within_one, self.flagged)

    def as_dict(self) -> dict[str, Any]:
        return {
            **attrs.asdict(self),
            "coverage": self.coverage,
            "flag_rate": self.flag_rate,
            "exact_rate": self.exact_rate,
            "within_one_rate": self.within_one_rate,
        }


def localisation(pairs: Sequence[tuple[int | None, int | None] | None]) -> Localisation:
    """From (annotated step, judge's first error step) per annotated-wrong solution; None: unscorable.

    An annotated step of None (the span lies past the judge's last step) matches no flag.
    """
    scored = [pair for pair in pairs if pair is not None]
    flagged = [(human, judge) for human, judge in scored if judge is not None]
    return Localisation(
        annotated_wrong=len(pairs),
        scorable=len(scored),
        flagged=len(flagged),
        exact=sum(human == judge for human, judge in flagged),
        within_one=sum(human is not None and abs(human - judge) <= 1 for human, judge in flagged),
    )


@attrs.frozen
class Judged:
    """What one judge said about one annotation under one reference condition (no reason, no reference)."""

    annotation: Annotation
    """The annotated solution."""
    said_no_mistake: bool | None
    """The outcome call (None: unscorable)."""
    steps: tuple[int | None, int | None] | None
    """(annotated step, judge's first error step) for an annotated-wrong solution with an ok step
    verdict; None otherwise (no mistake annotated, unscorable, or the judge does not score steps)."""


def scores_steps(judge: Judge) -> bool:
    """Whether a judge claims step-level verdicts (its ``kinds`` name ``process``)."""
    return "process" in getattr(judge, "kinds", ("process",))


def _steps(annotation: Annotation, verdict: Verdict | None) -> tuple[int | None, int | None] | None:
    if verdict is None or annotation.wrong_span is None or not verdict.ok or verdict.step_spans is None:
        return None
    return step_at(verdict.step_spans, annotation.wrong_span[0]), verdict.first_error_step


def _annotated_steps(annotation: Annotation) -> tuple[tuple[int, int], ...] | None:
    """The steps every judge is given for an annotated solution: its lines and paragraphs (``auto``), the same for
    every judge, so localisation compares like with like. CHAMP's solutions have no ``###`` headers: the authors'
    split would make each one a single step, and localising the first error would mean nothing."""
    return tuple(split_steps(annotation.text, "auto")) or None


def _verdicts(judge: Judge, items: list[JudgeItem], batch: int, advance: Callable[[int], Any]) -> list[Verdict]:
    verdicts: list[Verdict] = []
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        answered = judge.score_batch(chunk)
        if len(answered) != len(chunk):
            raise RuntimeError(f"judge {judge.name!r} returned {len(answered)} verdicts for {len(chunk)} items")
        verdicts += answered
        advance(len(chunk))
    return verdicts


def judge_annotations(
    judge: Judge,
    annotations: Sequence[Annotation],
    problems: Mapping[str, Problem],
    threshold: float = NO_MISTAKE_THRESHOLD,
    batch: int = 32,
    advance: Callable[[int], Any] = lambda n: None,
) -> list[Judged]:
    """Outcome verdicts (kind ``outcome``) and, where the judge scores steps, step verdicts (``process``)."""
    missing = sorted({a.problem_id for a in annotations} - set(problems))
    if missing:
        raise KeyError(f"no problem for annotated ids {missing[:5]}")
    outcome = _verdicts(
        judge, [JudgeItem(problems[a.problem_id], a.text, "outcome") for a in annotations], batch, advance
    )
    process: list[Verdict | None] = [None] * len(annotations)
    if scores_steps(judge):
        items = [JudgeItem(problems[a.problem_id], a.text, "process", _annotated_steps(a)) for a in annotations]
        process = _verdicts(judge, items, batch, advance)
    return [Judged(a, says_no_mistake(o, threshold), _steps(a, p)) for a, o, p in zip(annotations, outcome, process)]


def bench_rows(judge: str, condition: str, judged: Sequence[Judged], steps_scored: bool) -> list[dict[str, Any]]:
    """One row per group: outcome agreement and (for step judges) localisation, as plain numbers."""
    rows = []
    for group, split, member in groups([j.annotation for j in judged]):
        chosen = [j for j in judged if member(j.annotation)]
        agreement = outcome_agreement(
            [not j.annotation.has_mistake for j in chosen], [j.said_no_mistake for j in chosen]
        )
        located = localisation([j.steps for j in chosen if j.annotation.has_mistake]) if steps_scored else None
        rows.append(
            {
                "judge": judge,
                "reference": condition,
                "group": group,
                "split": split,
                "outcome": agreement.as_dict(),
                "localisation": located and located.as_dict(),
            }
        )
    return rows


def run_bench(
    config: BenchConfig,
    annotations: Sequence[Annotation],
    problems: Sequence[Problem],
    progress: Callable[..., Any] | None = None,
) -> dict[str, Any]:
    """Every judge under every reference condition; ``progress(total=, desc=)`` makes a tqdm-like bar."""
    from judges.registry import make_judge

    chosen = list(annotations[: config.limit or None])
    conditions, rows, runs = config.conditions(), [], []
    for name in config.judge_names():
        judge = make_judge(name, **config.judge_options(name))
        steps_scored = scores_steps(judge)
        for condition in conditions:
            visible = problems_for(condition, problems)
            bar = (
                progress(total=len(chosen) * (2 if steps_scored else 1), desc=f"{name}/{condition}")
                if progress
                else None
            )
            started = time.perf_counter()
            judged = judge_annotations(
                judge, chosen, visible, config.threshold, config.batch, bar.update if bar else (lambda n: None)
            )
            if bar:
                bar.close()
            runs.append({"judge": name, "reference": condition, "seconds": round(time.perf_counter() - started, 1)})
            rows += bench_rows(name, condition, judged, steps_scored)
        if hasattr(judge, "close"):
            judge.close()
    return {
        "benchmark": f"champ-dataset {config.champ_version} fws_annotations",
        "annotations": len(chosen),
        "config": attrs.asdict(config),
        "definitions": DEFINITIONS,
        "paper_ber": PAPER_BER,
        "rows": rows,
        "runs": runs,
    }
