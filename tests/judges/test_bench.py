"""judge-bench: metrics against hand-computed values, the CHAMP annotation loader, and the command end to end."""

import json
import re
import subprocess
import sys
from types import SimpleNamespace

import attrs
import pytest

from agents.cli import main
from judges import Status, Verdict
from judges.bench import (
    AnnotationError,
    annotations_from_champ,
    load_annotations,
    localisation,
    outcome_agreement,
    parse_annotation,
    problems_for,
    says_no_mistake,
    step_at,
    with_wrong_references,
)
from judges.problem import SealedReference
from judges.steps import split_steps
from tests.conftest import CANARY
from tests.judges.scripted_server import ScriptedServer, first_user_text


@pytest.fixture(scope="module")
def champ():
    """The real annotations and problems, loaded once (about 3 s)."""
    from exprl_env.domains.champ import load_champ

    return load_annotations(), load_champ()


# --- metrics -------------------------------------------------------------------------------------------
def test_outcome_agreement_by_hand():
    truth = [True, True, True, False, False, False, False]  # True: the annotators found no mistake
    said = [True, False, None, False, False, True, None]  # None: unscorable, counted but never a score
    result = outcome_agreement(truth, said)
    assert (result.annotations, result.scorable, result.positives, result.negatives) == (7, 5, 2, 3)
    assert (result.false_negatives, result.false_positives) == (1, 1)
    assert result.fnr == 1 / 2 and result.fpr == 1 / 3 and result.coverage == 5 / 7
    assert result.ber == pytest.approx((1 / 2 + 1 / 3) / 2)


def test_outcome_agreement_without_one_class_or_anything_scorable_has_no_ber():
    assert outcome_agreement([False, False], [True, False]).ber is None  # no positives: FNR undefined
    nothing = outcome_agreement([True, False], [None, None])
    assert nothing.scorable == 0 and nothing.coverage == 0 and nothing.fnr is nothing.fpr is nothing.ber is None
    with pytest.raises(ValueError, match="2 labels but 1"):
        outcome_agreement([True, False], [True])


def ok(outcome, first_error=None):
    return Verdict(Status.OK, outcome, first_error_step=first_error)


def test_says_no_mistake_needs_a_high_outcome_and_no_flagged_step():
    assert says_no_mistake(ok(0.75)) is True and says_no_mistake(ok(0.74)) is False
    assert says_no_mistake(ok(1.0, first_error=3)) is False
    assert says_no_mistake(Verdict.unscorable("server down")) is None
    assert says_no_mistake(ok(0.5), threshold=0.5) is True


def test_step_at_maps_a_position_to_its_step_or_the_next():
    spans = [(0, 5), (7, 12), (14, 20)]
    assert [step_at(spans, p) for p in (0, 4, 5, 6, 7, 12, 19, 20)] == [0, 0, 1, 1, 1, 2, 2, None]


def test_localisation_by_hand():
    pairs = [(2, 2), (2, 3), (2, 0), (1, None), None, (None, 1)]  # (annotated step, judge's first error)
    result = localisation(pairs)
    assert (result.annotated_wrong, result.scorable, result.flagged, result.exact, result.within_one) == (6, 5, 4, 1, 2)
    assert result.coverage == 5 / 6 and result.flag_rate == 4 / 5
    assert result.exact_rate == 1 / 4 and result.within_one_rate == 2 / 4
    assert localisation([None, None]).exact_rate is None


# --- loading -------------------------------------------------------------------------------------------
def test_loader_reads_all_540_annotations_of_four_models(champ):
    annotations, problems = champ
    assert len(annotations) == 540 and len(problems) == 270
    models = {a.model: sum(b.model == a.model for b in annotations) for a in annotations}
    assert models == {"GPT-3.5": 134, "GPT-4": 136, "GPT-4 Turbo": 134, "PaLM 2 Medium": 136}
    assert sum(a.has_mistake for a in annotations) == 444
    assert sum(a.split == "tuning" for a in annotations) == 270
    assert all(0 <= a.wrong_span[0] < a.wrong_span[1] <= len(a.text) for a in annotations if a.has_mistake)
    tuning = {a.problem_id for a in annotations if a.split == "tuning"}
    assert not tuning & {a.problem_id for a in annotations if a.split == "held_out"}  # held out = other problems


def record(**changes):
    fields = {"text": "Step one.\nStep two.", "start_idx": 10, "end_idx": 19, "author": "GPT-4"}
    return SimpleNamespace(**{**fields, **changes})


@pytest.mark.parametrize(
    "changes, key, message",
    [
        ({"start_idx": 12, "end_idx": 40}, "GPT-4|x", r"'start_idx', 'end_idx' = \(12, 40\)"),
        ({"start_idx": 5, "end_idx": 5}, "GPT-4|x", r"'start_idx', 'end_idx' = \(5, 5\)"),
        ({"end_idx": None}, "GPT-4|x", r"field 'end_idx' must be an integer"),
        ({"start_idx": True}, "GPT-4|x", r"field 'start_idx' must be an integer"),
        ({"text": ""}, "GPT-4|x", r"field 'text' must be a non-empty string"),
        ({"author": "GPT-3.5"}, "GPT-4|x", r"field 'author' is 'GPT-3.5' but the key names 'GPT-4'"),
        ({"author": "Llama"}, "Llama|x", r"field 'author': unknown model 'Llama'"),
        ({}, "GPT-4", r"key must be 'model\|prompt setting'"),
    ],
)
def test_malformed_records_name_the_record_and_field(changes, key, message):
    with pytest.raises(AnnotationError, match=r"P_7 \[" + re.escape(key) + r"\]: .*" + message):
        parse_annotation("P_7", key, record(**changes))


def test_missing_fields_and_bad_containers_are_named():
    broken = SimpleNamespace(text="x y", start_idx=None, author="GPT-4")
    with pytest.raises(AnnotationError, match=r"P_7 \[GPT-4\|x\]: field 'end_idx' is missing"):
        parse_annotation("P_7", "GPT-4|x", broken)
    with pytest.raises(AnnotationError, match="P_9: field 'fws_annotations' must be a mapping"):
        annotations_from_champ([SimpleNamespace(identifier="P_9", fws_annotations=["not", "a", "dict"])])
    parsed = parse_annotation("P_7", "GPT-4|No C w/o H", record(start_idx=None, end_idx=None))
    assert parsed.wrong_span is None and parsed.prompt == "No C w/o H" and parsed.split == "held_out"


# --- reference conditions ------------------------------------------------------------------------------
def test_withheld_and_wrong_references(champ):
    _, problems = champ
    none = problems_for("none", problems)
    assert all(p.reference.unseal().steps == () and p.reference.unseal().answer == "" for p in none.values())
    wrong = with_wrong_references(problems)
    assert wrong == with_wrong_references(problems)  # deterministic
    by_fingerprint = {p.reference.fingerprint: p for p in problems}
    for original, swapped in zip(problems, wrong):
        donor = by_fingerprint[swapped.reference.fingerprint]
        assert (swapped.id, swapped.question) == (original.id, original.question) and donor.id != original.id
        assert donor.metadata["category"] == original.metadata["category"]
        assert donor.reference.unseal().answer.strip() != original.reference.unseal().answer.strip()
    with pytest.raises(ValueError, match="reference condition"):
        problems_for("perfect", problems)


# --- the command ---------------------------------------------------------------------------------------
def row(report, judge, reference, group="all"):
    return next(r for r in report["rows"] if (r["judge"], r["reference"], r["group"]) == (judge, reference, group))


def test_cli_runs_the_answer_and_reference_judges_and_leaks_no_reference(tmp_path, champ):
    annotations, problems = champ
    markdown_path = tmp_path / "bench.md"
    result = subprocess.run(
        [sys.executable, "-m", "agents.cli", "judge-bench", "--limit", "16", "--markdown", str(markdown_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "reference/wrong" in result.stderr and "item/s" in result.stderr  # the progress bars
    report = json.loads(result.stdout)
    assert report["annotations"] == 16 and report["command"].startswith("exprl judge-bench --judges answer,reference")
    assert {(r["judge"], r["reference"]) for r in report["rows"]} == {
        (j, c) for j in ("answer", "reference") for c in ("correct", "none", "wrong")
    }
    assert {r["group"] for r in report["rows"]} >= {"all", "tuning", "held_out", "GPT-3.5"}
    for judge in ("answer", "reference"):  # neither can judge without a reference: unscorable, not zeros
        withheld = row(report, judge, "none")["outcome"]
        assert withheld["annotations"] == 16 and withheld["scorable"] == 0 and withheld["ber"] is None
    correct = row(report, "reference", "correct")
    assert correct["outcome"]["scorable"] > 0 and 0.0 <= correct["outcome"]["ber"] <= 1.0
    assert correct["localisation"]["annotated_wrong"] == sum(a.has_mistake for a in annotations[:16])
    assert row(report, "answer", "correct")["localisation"] is None  # the answer judge scores no steps
    markdown = markdown_path.read_text()
    assert markdown.splitlines()[3].startswith("exprl judge-bench ") and "all unscorable" in markdown
    printed = result.stdout + result.stderr + markdown
    ids = {a.problem_id for a in annotations[:16]}
    secrets = [s for p in problems if p.id in ids for s in p.reference.unseal().steps if len(s) >= 24]
    assert secrets and not [s for s in secrets if s in printed]


def scripted_grader(body):
    """Rates every whole response 5 when the reference is withheld and 1 otherwise. Steps: the batched protocol
    (all steps in one call) flags step 2 of every response; the paper protocol (one step per call, no context)
    flags every step. Quotes a canary in checkpoints and reasoning, which must never reach the bench's output."""
    text = first_user_text(body)
    if "Score: <one number" in body["messages"][0]["content"]:  # the paper protocol
        withheld = "<step>" not in text and "<reference>" not in text  # the authors' no-reference question
        return 200, f"Reasoning: {CANARY}\nScore: {5 if withheld else 1}"
    if "List the key checkpoints" in text:
        return 200, json.dumps({"checkpoints": [f"{CANARY} a", "b"]})
    if "Rate each numbered step" in text:
        count = len(re.findall(r"^Step \d+:$", text, re.MULTILINE))
        steps = [{"reasoning": CANARY, "score": 1 if k == 1 else 5} for k in range(count)]
        return 200, json.dumps({"steps": steps})
    empty = "<reference>\n\nFinal answer: \n</reference>" in text
    return 200, json.dumps({"reasoning": CANARY, "score": 5 if empty else 1})


@pytest.mark.parametrize("protocol, flagged_step", [("batched", 1), ("paper", 0)])
def test_llm_judge_against_a_scripted_server(tmp_path, monkeypatch, capsys, champ, protocol, flagged_step):
    annotations, problems = champ
    canaried = [
        attrs.evolve(p, reference=SealedReference((*p.reference.unseal().steps, CANARY), p.reference.unseal().answer))
        for p in problems
    ]
    monkeypatch.setattr("judges.bench.load_annotations", lambda version: annotations)
    monkeypatch.setattr("exprl_env.domains.champ.load_champ", lambda version: canaried)
    flags = ["--llm-url", "", "--llm-model", "scripted", "--llm-protocol", protocol, "--limit", "10"]
    with ScriptedServer(scripted_grader) as server:
        flags[1] = server.base_url
        code = main(
            [
                "judge-bench",
                "--judges",
                "answer",
                *flags,
                "--references",
                "correct,none",
                "--markdown",
                str(tmp_path / "b.md"),
            ]
        )
        assert any(CANARY in first_user_text(b) for b in server.requests)  # the judge did see the reference
        steps_asked = sum("<step>" in first_user_text(b) for b in server.requests)
    captured = capsys.readouterr()
    assert code == 0 and "llm/none" in captured.err
    report = json.loads(captured.out)
    correct, withheld = row(report, "llm", "correct"), row(report, "llm", "none")
    assert correct["outcome"]["fnr"] == 1.0 and correct["outcome"]["fpr"] == 0.0  # always "a mistake"
    assert withheld["outcome"]["fnr"] == 0.0 and withheld["outcome"]["fpr"] == 1.0  # always "no mistake"
    wrong = [a for a in annotations[:10] if a.has_mistake]
    annotated = [step_at(split_steps(a.text), a.wrong_span[0]) for a in wrong]
    located = correct["localisation"]
    assert located["flagged"] == located["scorable"] == len(wrong)  # the judge flags one step everywhere
    assert located["exact"] == annotated.count(flagged_step)
    assert located["within_one"] == sum(abs(s - flagged_step) <= 1 for s in annotated)
    # The paper protocol asks once per step of every annotation (the bench's own split), the batched one never.
    assert steps_asked == (sum(len(split_steps(a.text)) for a in annotations[:10]) if protocol == "paper" else 0)
    assert CANARY not in captured.out + captured.err + (tmp_path / "b.md").read_text()
