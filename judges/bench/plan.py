"""judge-bench, the plan: CHAMP's annotations (loaded and checked), the reference conditions a judge is run
under, the groups rows are reported for, and the benchmark's configuration. See :mod:`judges.bench`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from judges.problem import Problem, SealedReference

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
        raise AnnotationError(
            f"{where}: fields 'start_idx', 'end_idx' = ({start}, {end}) are not a span "
            f"inside the {len(text)}-character solution"
        )
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
        raise AnnotationError(
            f"{where}: field 'author': unknown model {model!r}; the tuning/held-out split "
            f"knows {list(TUNING_MODELS + HELD_OUT_MODELS)}"
        )
    return Annotation(problem_id, model, prompt, text, _wrong_span(where, record, text))


def annotations_from_champ(problems: Iterable[Any]) -> list[Annotation]:
    """Every annotation of CHAMP problem records (attributes identifier, fws_annotations), in dataset order."""
    found = []
    for problem in problems:
        identifier = _field("CHAMP problem", problem, "identifier")
        records = _field(f"CHAMP problem {identifier}", problem, "fws_annotations") or {}
        if not isinstance(records, Mapping):
            raise AnnotationError(
                f"CHAMP problem {identifier}: field 'fws_annotations' must be a mapping, got {type(records).__name__}"
            )
        found += [parse_annotation(identifier, key, record) for key, record in records.items()]
    return found


def load_annotations(version: str = "v0") -> list[Annotation]:
    """CHAMP's annotations from the installed champ-dataset (the problems come from ``exprl_env``'s CHAMP domain)."""
    import champ_dataset

    return annotations_from_champ(champ_dataset.load(version).problems.values())


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
            others = group[index + 1 :] + group[:index]
            donor = next((o for o in others if answers[o.id] != answers[problem.id]), None)
            if donor is None:
                raise ValueError(
                    f"no other problem in category {problem.metadata.get('category')!r} has a "
                    f"different answer from {problem.id}; cannot build a wrong reference"
                )
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


def groups(annotations: Sequence[Annotation]) -> list[tuple[str, str, Callable[[Annotation], bool]]]:
    """(group, split, membership) for: everything, each split, each annotated model."""
    found = [
        ("all", "all", lambda a: True),
        ("tuning", "tuning", lambda a: a.split == "tuning"),
        ("held_out", "held_out", lambda a: a.split == "held_out"),
    ]
    for model in TUNING_MODELS + HELD_OUT_MODELS:
        if any(a.model == model for a in annotations):
            split = "tuning" if model in TUNING_MODELS else "held_out"
            found.append((model, split, lambda a, m=model: a.model == m))
    return found


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
    llm_protocol: str = "paper"
    """How the llm judge asks: paper (the authors' questions, one call per step) or batched (ours, one per response)."""
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
    protocol: str = "champ"
    """champ: against CHAMP's human first-wrong-step labels; calibration: the authors' outcome-judge calibration on
    policy rollouts labelled by math-verify (--rollouts, made by `exprl rollouts`; see judges/bench/calibration.py)."""
    rollouts: str = ""
    """The rollouts file --protocol calibration judges."""

    def __attrs_post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0 or self.batch < 1 or self.limit < 0:
            raise ValueError(
                f"judge-bench: need 0 < threshold <= 1, batch >= 1 and limit >= 0; got threshold "
                f"{self.threshold}, batch {self.batch}, limit {self.limit}"
            )
        if self.protocol not in ("champ", "calibration"):
            raise ValueError(f"judge-bench: --protocol must be champ or calibration, got {self.protocol!r}")
        if (self.protocol == "calibration") != bool(self.rollouts):
            raise ValueError("judge-bench: --rollouts goes with --protocol calibration, and that protocol needs it")
        if self.llm_protocol not in ("paper", "batched"):
            raise ValueError(f"judge-bench: --llm-protocol must be paper or batched, got {self.llm_protocol!r}")
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
            return {"base_url": self.llm_url, "model": self.llm_model, "protocol": self.llm_protocol}
        if name in ("answer", "reference"):
            return {"answer_format": self.answer_format}
        return {}
