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

Each annotation is judged twice: as an ``outcome`` item for the first metric (for the llm judge that is the
paper's whole-response 1-5 rating) and as a ``process`` item for the second, with its steps given (its lines
and paragraphs, the ``auto`` split) so that every judge rates the same steps (CHAMP's solutions have no
``###``). Unscorable verdicts are never scores: they are counted (coverage) and every rate is over scorable
ones (a rate over nothing is None). With the reference withheld the judge gets the same problem with an empty
reference (no steps, answer ``""``); a judge that needs a reference answers unscorable for all of it, a row
reported as such. The wrong reference is the next problem's in the same CHAMP category (cyclic, dataset order)
whose final answer differs. Tuning set: GPT-3.5 and PaLM 2 annotations; GPT-4 and GPT-4 Turbo are held out (they are
also different problems: CHAMP annotates each problem for one model). Reports hold ids and numbers only,
never a reference or a verdict's ``reason`` (which may quote one).

Three modules: :mod:`~judges.bench.plan` (the annotations, the reference conditions, the configuration),
:mod:`~judges.bench.run` (judging, the metrics) and :mod:`~judges.bench.report` (the markdown tables).
"""

from __future__ import annotations

from judges.bench.plan import (
    DEFINITIONS,
    HELD_OUT_MODELS,
    NO_MISTAKE_THRESHOLD,
    PAPER_BER,
    REFERENCE_CONDITIONS,
    TUNING_MODELS,
    Annotation,
    AnnotationError,
    BenchConfig,
    annotations_from_champ,
    groups,
    load_annotations,
    parse_annotation,
    problems_for,
    with_wrong_references,
    withheld,
)
from judges.bench.report import markdown
from judges.bench.run import (
    Judged,
    Localisation,
    OutcomeAgreement,
    bench_rows,
    judge_annotations,
    localisation,
    outcome_agreement,
    run_bench,
    says_no_mistake,
    scores_steps,
    step_at,
)

__all__ = [
    "DEFINITIONS",
    "HELD_OUT_MODELS",
    "NO_MISTAKE_THRESHOLD",
    "PAPER_BER",
    "REFERENCE_CONDITIONS",
    "TUNING_MODELS",
    "Annotation",
    "AnnotationError",
    "BenchConfig",
    "Judged",
    "Localisation",
    "OutcomeAgreement",
    "annotations_from_champ",
    "bench_rows",
    "groups",
    "judge_annotations",
    "load_annotations",
    "localisation",
    "markdown",
    "outcome_agreement",
    "parse_annotation",
    "problems_for",
    "run_bench",
    "says_no_mistake",
    "scores_steps",
    "step_at",
    "with_wrong_references",
    "withheld",
]
