"""Judges against people: CHAMP's 540 human first-wrong-step annotations as a judge benchmark.

CHAMP annotates solutions written by GPT-3.5, GPT-4, GPT-4 Turbo and PaLM 2 with the character span of
their first wrong step, or none. A judge holding the problem's reference should agree, so this module
measures, per judge and per reference condition (correct, withheld, another problem's):

- **outcome agreement**, the paper's metric: the balanced error rate, mean of the false-negative and the
  false-positive rate, with "no mistake" as the positive class. A judge *says "no mistake"* when its
  outcome verdict is ``ok``, flags no step (``first_error_step is None``) and scores at least
  :data:`NO_MISTAKE_THRESHOLD` (0.75, the paper's "score >= 4 of 5" after (s - 1) / 4);
- **first-error localisation**, asked of judges that score steps (``"process"`` in ``judge.kinds``): the
  annotated span is mapped to the judge's own segmentation (the first judge step that ends after the
  span starts: the step containing its start, or the next one if it starts between steps); over the
  annotations with a wrong step where the judge flagged one, how often the judge's first error is that
  step exactly, and within one step.

Each annotation is judged twice: as an ``outcome`` item for the first metric (for the llm judge that is
the paper's whole-response 1-5 rating) and as a ``process`` item for the second. Unscorable verdicts are never scores: they are counted (coverage) and every rate is over scorable ones.
With the reference withheld the judge gets the same problem with an empty reference (no steps, answer
``""``); a judge that needs a reference answers unscorable for all of it, a row reported as such. The
wrong reference is the next problem's in the same CHAMP category (cyclic, dataset order) whose final
answer differs. Tuning set: GPT-3.5 and PaLM 2 annotations; GPT-4 and GPT-4 Turbo are held out (they are
also different problems: CHAMP annotates each problem for one model). Reports hold ids and numbers only,
never a reference or a verdict's ``reason`` (which may quote one).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from judges.problem import Problem, SealedReference
from judges.protocol import Judge
from judges.verdict import JudgeItem, Verdict

TUNING_MODELS = ("GPT-3.5", "PaLM 2 Medium")
HELD_OUT_MODELS = ("GPT-4", "GPT-4 Turbo")
REFERENCE_CONDITIONS = ("correct", "none", "wrong")
NO_MISTAKE_THRESHOLD = 0.75
PAPER_BER = {"correct": 0.178, "none": 0.392, "wrong": 0.504}
"""The paper's Qwen3-4B judge on maths (DESIGN.md section 1), for comparison; not measured here."""
DEFINITIONS = {
    "positive_class": "no mistake (the human annotation marks no wrong step)",
    "says_no_mistake": "outcome verdict ok, no first_error_step, and outcome >= threshold",
    "ber": "balanced error rate = (FNR + FPR) / 2 over scorable verdicts",
    "annotated_step": "the first judge step (its own step_spans) ending after the annotated span's start",
    "exact / within_one": "share of flagged annotations whose first_error_step is the annotated step (or +-1)",
    "reference none": "the same problem with an empty reference (no steps, answer '')",
    "reference wrong": "the next problem's reference in the same CHAMP category (cyclic) with a different answer",
    "splits": "tuning = GPT-3.5, PaLM 2 Medium; held_out = GPT-4, GPT-4 Turbo",
}


class AnnotationError(ValueError):
    """A CHAMP annotation record that cannot be benchmarked, named by problem and key."""


@attrs.frozen
class Annotation:
    """One human-annotated model solution."""

    problem_id: str
    """The CHAMP problem the solution answers."""
    model: str
    """The model that wrote it (GPT-3.5, GPT-4, GPT-4 Turbo, PaLM 2 Medium)."""
    prompt: str
    """CHAMP's prompt setting for it, e.g. ``No C w/o H`` (no concepts, no hints)."""
    text: str
    """The model's solution."""
    wrong_span: tuple[int, int] | None
    """Character span of the first wrong step in ``text``; None when the annotator found no mistake."""

    @property
    def has_mistake(self) -> bool:
        return self.wrong_span is not None

    @property
    def split(self) -> str:
        return "tuning" if self.model in TUNING_MODELS else "held_out"


# --- loading -------------------------------------------------------------------------------------------
def _field(where: str, record: Any, name: str) -> Any:
    if not hasattr(record, name):
        raise AnnotationError(f"{where}: field {name!r} is missing")
    return getattr(record, name)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _wrong_span(where: str, record: Any, text: str) -> tuple[int, int] | None:
    start, end = _field(where, record, "start_idx"), _field(where, record, "end_idx")
    if start is None and end is None:
        return None
    for name, value in (("start_idx", start), ("end_idx", end)):
        if not _is_int(value):
            raise AnnotationError(f"{where}: field {name!r} must be an integer (or both None), got {value!r}")
    if not 0 <= start < end <= len(text):
        raise AnnotationError(f"{where}: fields 'start_idx', 'end_idx' = ({start}, {end}) are not a span "
                              f"inside the {len(text)}-character solution")
    return start, end


def parse_annotation(problem_id: str, key: str, record: Any) -> Annotation:
    """One ``fws_annotations[key]`` record (attributes text, start_idx, end_idx, author) as an Annotation."""
    where = f"CHAMP annotation {problem_id} [{key}]"
    model, separator, prompt = key.partition("|")
    if not separator or "|" in prompt:
        raise AnnotationError(f"{where}: key must be 'model|prompt setting'")
    text = _field(where, record, "text")
    if not isinstance(text, str) or not text.strip():
        raise AnnotationError(f"{where}: field 'text' must be a non-empty string, got {type(text).__name__}")
    author = _field(where, record, "author")
    if author != model:
        raise AnnotationError(f"{where}: field 'author' is {author!r} but the key names {model!r}")
    if model not in TUNING_MODELS + HELD_OUT_MODELS:
        raise AnnotationError(f"{where}: field 'author': unknown model {model!r}; the tuning/held-out split "
                              f"knows {list(TUNING_MODELS + HELD_OUT_MODELS)}")
    return Annotation(problem_id, model, prompt, text, _wrong_span(where, record, text))


def annotations_from_champ(problems: Iterable[Any]) -> list[Annotation]:
    """Every annotation of CHAMP problem records (attributes identifier, fws_annotations), in dataset order."""
    found = []
    for problem in problems:
        identifier = _field("CHAMP problem", problem, "identifier")
        records = _field(f"CHAMP problem {identifier}", problem, "fws_annotations") or {}
        if not isinstance(records, Mapping):
            raise AnnotationError(f"CHAMP problem {identifier}: field 'fws_annotations' must be a mapping, "
                                  f"got {type(records).__name__}")
        found += [parse_annotation(identifier, key, record) for key, record in records.items()]
    return found


def load_annotations(version: str = "v0") -> list[Annotation]:
    """CHAMP's annotations from the installed champ-dataset (the problems come from ``exprl_env``'s CHAMP domain)."""
    import champ_dataset

    return annotations_from_champ(champ_dataset.load(version).problems.values())


# --- reference conditions ------------------------------------------------------------------------------
def withheld(problem: Problem) -> Problem:
    """The problem with an empty reference: nothing for the judge to compare with."""
    return attrs.evolve(problem, reference=SealedReference((), ""))


def with_wrong_references(problems: Sequence[Problem]) -> list[Problem]:
    """Each problem carrying the next same-category problem's reference whose final answer differs (cyclic)."""
    by_category: dict[Any, list[Problem]] = {}
    for problem in problems:
        by_category.setdefault(problem.metadata.get("category"), []).append(problem)
    answers = {problem.id: problem.reference.unseal().answer.strip() for problem in problems}
    swapped = {}
    for group in by_category.values():
        for index, problem in enumerate(group):
            others = group[index + 1:] + group[:index]
            donor = next((o for o in others if answers[o.id] != answers[problem.id]), None)
            if donor is None:
                raise ValueError(f"no other problem in category {problem.metadata.get('category')!r} has a "
                                 f"different answer from {problem.id}; cannot build a wrong reference")
            swapped[problem.id] = attrs.evolve(problem, reference=donor.reference)
    return [swapped[problem.id] for problem in problems]


def problems_for(condition: str, problems: Sequence[Problem]) -> dict[str, Problem]:
    """Problems by id as the judge sees them under a reference condition."""
    if condition == "correct":
        chosen = list(problems)
    elif condition == "none":
        chosen = [withheld(problem) for problem in problems]
    elif condition == "wrong":
        chosen = with_wrong_references(problems)
    else:
        raise ValueError(f"reference condition must be one of {REFERENCE_CONDITIONS}, got {condition!r}")
    return {problem.id: problem for problem in chosen}


# --- metrics (pure) ------------------------------------------------------------------------------------
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
        return {**attrs.asdict(self), "coverage": self.coverage, "flag_rate": self.flag_rate,
                "exact_rate": self.exact_rate, "within_one_rate": self.within_one_rate}


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


# --- running judges ------------------------------------------------------------------------------------
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


def _verdicts(judge: Judge, items: list[JudgeItem], batch: int, advance: Callable[[int], Any]) -> list[Verdict]:
    verdicts: list[Verdict] = []
    for start in range(0, len(items), batch):
        chunk = items[start:start + batch]
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
    outcome = _verdicts(judge, [JudgeItem(problems[a.problem_id], a.text, "outcome") for a in annotations],
                        batch, advance)
    process: list[Verdict | None] = [None] * len(annotations)
    if scores_steps(judge):
        process = _verdicts(judge, [JudgeItem(problems[a.problem_id], a.text, "process") for a in annotations],
                            batch, advance)
    return [Judged(a, says_no_mistake(o, threshold), _steps(a, p)) for a, o, p in zip(annotations, outcome, process)]


# --- report --------------------------------------------------------------------------------------------
def groups(annotations: Sequence[Annotation]) -> list[tuple[str, str, Callable[[Annotation], bool]]]:
    """(group, split, membership) for: everything, each split, each annotated model."""
    found = [("all", "all", lambda a: True),
             ("tuning", "tuning", lambda a: a.split == "tuning"),
             ("held_out", "held_out", lambda a: a.split == "held_out")]
    for model in TUNING_MODELS + HELD_OUT_MODELS:
        if any(a.model == model for a in annotations):
            split = "tuning" if model in TUNING_MODELS else "held_out"
            found.append((model, split, lambda a, m=model: a.model == m))
    return found


def bench_rows(judge: str, condition: str, judged: Sequence[Judged], steps_scored: bool) -> list[dict[str, Any]]:
    """One row per group: outcome agreement and (for step judges) localisation, as plain numbers."""
    rows = []
    for group, split, member in groups([j.annotation for j in judged]):
        chosen = [j for j in judged if member(j.annotation)]
        agreement = outcome_agreement([not j.annotation.has_mistake for j in chosen],
                                      [j.said_no_mistake for j in chosen])
        located = localisation([j.steps for j in chosen if j.annotation.has_mistake]) if steps_scored else None
        rows.append({"judge": judge, "reference": condition, "group": group, "split": split,
                     "outcome": agreement.as_dict(), "localisation": located and located.as_dict()})
    return rows


@attrs.frozen
class BenchConfig:
    """What ``exprl judge-bench`` runs (its flags are generated from these fields)."""

    judges: str = "answer,reference"
    """Comma-separated judge names; llm is added when --llm-url is given."""
    references: str = ",".join(REFERENCE_CONDITIONS)
    """Reference conditions to run: correct, none (withheld), wrong (another problem's)."""
    llm_url: str = ""
    """Base URL of an OpenAI-compatible server (vLLM, SGLang, transformers serve) for the llm judge."""
    llm_model: str = "Qwen/Qwen3-4B-Instruct-2507"
    """Model name the llm judge asks that server for (the paper's judge by default)."""
    answer_format: str = "boxed"
    """How the answer and reference judges read a final answer: boxed, or boxed_or_last_number."""
    threshold: float = NO_MISTAKE_THRESHOLD
    """Outcome score at or above which an unflagged verdict means "no mistake" (paper: 4 of 5 = 0.75)."""
    batch: int = 32
    """Items per judge call."""
    limit: int = 0
    """First N annotations only (0: all 540)."""
    champ_version: str = "v0"
    """champ-dataset version to load."""

    def __attrs_post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0 or self.batch < 1 or self.limit < 0:
            raise ValueError(f"judge-bench: need 0 < threshold <= 1, batch >= 1 and limit >= 0; got threshold "
                             f"{self.threshold}, batch {self.batch}, limit {self.limit}")
        self.judge_names()
        self.conditions()

    def flags(self) -> list[str]:
        """Every setting as a command-line flag, so a report names the exact command that reproduces it."""
        flags = []
        for field in attrs.fields(BenchConfig):
            flags += ["--" + field.name.replace("_", "-"), str(getattr(self, field.name))]
        return flags

    def judge_names(self) -> list[str]:
        names = [name.strip() for name in self.judges.split(",") if name.strip()]
        if self.llm_url and "llm" not in names:
            names.append("llm")
        if not names:
            raise ValueError("judge-bench: no judges given (--judges)")
        if "llm" in names and not self.llm_url:
            raise ValueError("judge-bench: the llm judge needs --llm-url (an OpenAI-compatible server)")
        return names

    def conditions(self) -> list[str]:
        names = [name.strip() for name in self.references.split(",") if name.strip()]
        unknown = [name for name in names if name not in REFERENCE_CONDITIONS]
        if unknown or not names:
            raise ValueError(f"judge-bench: --references must list some of {REFERENCE_CONDITIONS}, got {names}")
        return names

    def judge_options(self, name: str) -> dict[str, Any]:
        if name == "llm":
            return {"base_url": self.llm_url, "model": self.llm_model}
        if name in ("answer", "reference"):
            return {"answer_format": self.answer_format}
        return {}


def run_bench(
    config: BenchConfig,
    annotations: Sequence[Annotation],
    problems: Sequence[Problem],
    progress: Callable[..., Any] | None = None,
) -> dict[str, Any]:
    """Every judge under every reference condition; ``progress(total=, desc=)`` makes a tqdm-like bar."""
    from judges.registry import make_judge

    chosen = list(annotations[:config.limit or None])
    conditions, rows, runs = config.conditions(), [], []
    for name in config.judge_names():
        judge = make_judge(name, **config.judge_options(name))
        steps_scored = scores_steps(judge)
        for condition in conditions:
            visible = problems_for(condition, problems)
            bar = progress(total=len(chosen) * (2 if steps_scored else 1), desc=f"{name}/{condition}") \
                if progress else None
            started = time.perf_counter()
            judged = judge_annotations(judge, chosen, visible, config.threshold, config.batch,
                                       bar.update if bar else (lambda n: None))
            if bar:
                bar.close()
            runs.append({"judge": name, "reference": condition, "seconds": round(time.perf_counter() - started, 1)})
            rows += bench_rows(name, condition, judged, steps_scored)
        if hasattr(judge, "close"):
            judge.close()
    return {"benchmark": f"champ-dataset {config.champ_version} fws_annotations", "annotations": len(chosen),
            "config": attrs.asdict(config), "definitions": DEFINITIONS, "paper_ber": PAPER_BER,
            "rows": rows, "runs": runs}


# --- markdown ------------------------------------------------------------------------------------------
def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _cells(row: dict[str, Any]) -> list[str]:
    outcome, located = row["outcome"], row["localisation"]
    scored = f"{outcome['scorable']}/{outcome['annotations']}"
    if outcome["scorable"] == 0:
        agreement = ["all unscorable", "–", "–"]
    else:
        agreement = [_percent(outcome["ber"]), _percent(outcome["fnr"]), _percent(outcome["fpr"])]
    classes = f"{outcome['positives']}/{outcome['negatives']}"
    if located is None:
        steps = ["no steps", "–", "–"]
    elif located["scorable"] == 0:
        steps = ["all unscorable", "–", "–"]
    else:
        steps = [f"{located['flagged']}/{located['scorable']}", _percent(located["exact_rate"]),
                 _percent(located["within_one_rate"])]
    return [row["judge"], row["reference"], row["group"], row["split"], scored, classes, *agreement, *steps]


HEADER = ["judge", "reference", "group", "split", "scored", "pos/neg", "BER", "FNR", "FPR",
          "flagged/scored wrong", "exact step", "within 1 step"]


def _table(rows: Iterable[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in rows]
    return "\n".join(lines)


def markdown(report: dict[str, Any], command: str) -> str:
    """The report as markdown: the command, the definitions, a table by split and one by annotated model."""
    splits = [r for r in report["rows"] if r["group"] in ("all", "tuning", "held_out")]
    models = [r for r in report["rows"] if r["group"] not in ("all", "tuning", "held_out")]
    paper = ", ".join(f"BER {_percent(ber)} with reference {name}" for name, ber in report["paper_ber"].items())
    definitions = "\n".join(f"- **{key}**: {text}" for key, text in report["definitions"].items())
    return (f"# Judge bench: {report['benchmark']}\n\n```\n{command}\n```\n\n"
            f"{report['annotations']} annotations; threshold {report['config']['threshold']}; "
            f"answer format {report['config']['answer_format']}. Rates are over scorable verdicts "
            f"(`scored`); `pos/neg` counts scorable no-mistake / wrong-step annotations. For comparison, the "
            f"paper's Qwen3-4B judge: {paper} (its own maths set, not this one).\n\n{definitions}\n\n"
            f"## By split\n\n{_table(splits)}\n\n## By annotated model\n\n{_table(models)}\n")
