"""judge-bench's calibration protocol: the authors' outcome-judge measurement on labelled rollouts."""

import json
import random

import pytest

from agents.cli import main
from agents.privileged import reference_response
from exprl_env.domains import load_problems
from judges import make_judge
from judges.bench.calibration import (
    ROLLOUTS_FORMAT,
    Rollout,
    RolloutsError,
    RolloutSet,
    auroc,
    calibrate,
    load_rollouts,
    problems_under,
    run_calibration,
    write_rollouts,
    wrong_reference_map,
)
from tests.conftest import CANARY
from tests.judges.scripted_server import ScriptedServer, first_user_text


def authors_wrong_ref_map(unique_keys, seed=0xC0DE):
    """Transcribed from the authors' build_wrong_ref_map (gen_rm/llm_likelihood_judge.py), to test ours against."""
    keys = sorted(set(unique_keys))
    rng = random.Random(seed)
    shuffled = keys.copy()
    rng.shuffle(shuffled)
    pos = {k: i for i, k in enumerate(shuffled)}
    n = len(shuffled)
    out = {}
    for k in keys:
        i = pos[k]
        twin = shuffled[(i + 1) % n]
        if twin == k:
            twin = shuffled[(i + 2) % n]
        out[k] = twin
    return out


@pytest.fixture(scope="module")
def arith():
    return load_problems("arith", size=12, n_ops=2)


def test_the_wrong_reference_map_is_the_authors(arith):
    ours = wrong_reference_map(arith)
    by_question = {p.question: p.id for p in arith}
    theirs = authors_wrong_ref_map(by_question)
    assert ours == {by_question[q]: by_question[twin] for q, twin in theirs.items()}
    assert sorted(ours.values()) == sorted(ours) and all(k != v for k, v in ours.items())  # a derangement
    with pytest.raises(ValueError, match="at least 2"):
        wrong_reference_map(arith[:1])


def test_auroc_counts_ties_half():
    assert auroc([1.0, 0.5, 0.0], [True, False, False]) == 1.0
    assert auroc([0.5, 0.5], [True, False]) == 0.5
    assert auroc([0.0, 1.0, 0.25, 0.75], [True, False, True, False]) == 0.0
    assert auroc([1.0], [True]) is None


def _rollouts(problems):
    """Each problem's reference written as an answer (correct) and with a wrong final answer (incorrect)."""
    found = []
    for problem in problems:
        reference = problem.reference.unseal()
        found.append(Rollout(problem.id, reference_response(reference), True))
        found.append(Rollout(problem.id, reference_response(reference, str(int(reference.answer) + 1)), False))
    return found


def test_the_reference_judge_separates_the_labels_with_the_right_reference_and_not_with_a_wrong_one(arith):
    judge, rollouts = make_judge("reference"), _rollouts(arith)
    right, area = calibrate(judge, rollouts, problems_under("correct", arith))
    assert (right.scorable, right.positives, right.negatives) == (24, 12, 12)
    assert right.fnr == 0.0 and right.fpr == 0.0 and area == 1.0  # a wrong answer keeps partial credit, < 0.75
    withheld, area = calibrate(judge, rollouts, problems_under("none", arith))
    assert withheld.scorable == 0 and withheld.ber is None and area is None  # no reference: unscorable, never 0
    wrong, _ = calibrate(judge, rollouts, problems_under("wrong", arith))
    assert wrong.scorable > 0 and wrong.fnr >= 0.9  # another problem's reference pays a correct rollout little


def test_the_llm_judge_asks_its_no_reference_question_when_the_reference_is_withheld(arith):
    def grader(body):
        text = first_user_text(body)
        return 200, f"Reasoning: ok\nScore: {5 if '<reference>' not in text else 2}"

    rollouts = _rollouts(arith[:4])
    with ScriptedServer(grader) as server:
        judge = make_judge("llm", base_url=server.base_url, model="scripted")
        report = run_calibration({"llm": judge}, RolloutSet({"policy": "hand-made"}, tuple(rollouts)), arith)
        asked = [first_user_text(b) for b in server.requests]
    assert len(asked) == 3 * len(rollouts)  # one outcome call per rollout and condition
    assert sum("<reference>" not in text for text in asked) == len(rollouts)  # the "none" condition's calls
    rows = {row["reference"]: row for row in report["rows"]}
    assert rows["none"]["outcome"]["fnr"] == 0.0 and rows["none"]["outcome"]["fpr"] == 1.0  # always "correct"
    assert rows["correct"]["outcome"]["fnr"] == 1.0 and rows["correct"]["outcome"]["fpr"] == 0.0
    assert report["problems"] == 4 and report["correct"] == 4


@pytest.mark.parametrize(
    "lines, message",
    [
        (['{"format": "other"}', '{"problem_id": "a", "response": "r", "correct": true}'], "line 1: field 'format'"),
        ([f'{{"format": "{ROLLOUTS_FORMAT}"}}', '{"problem_id": "a", "response": "r"'], "line 2: not JSON"),
        ([f'{{"format": "{ROLLOUTS_FORMAT}"}}', '{"problem_id": "a", "response": "r", "correct": 1}'], "'correct'"),
        ([f'{{"format": "{ROLLOUTS_FORMAT}"}}', "[1]"], "line 2: expected a JSON object"),
        ([f'{{"format": "{ROLLOUTS_FORMAT}"}}'], "no rollouts"),
    ],
)
def test_a_bad_rollouts_file_is_an_error_naming_file_line_and_field(tmp_path, lines, message):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RolloutsError, match=message) as caught:
        load_rollouts(path)
    assert str(path) in str(caught.value)


def test_rollouts_round_trip(tmp_path):
    rollouts = [Rollout("a", "x = 1", True), Rollout("b", "", False)]
    write_rollouts(tmp_path / "r.jsonl", {"policy": "p"}, rollouts)
    loaded = load_rollouts(tmp_path / "r.jsonl")
    assert loaded.rollouts == tuple(rollouts) and loaded.source == {"format": ROLLOUTS_FORMAT, "policy": "p"}


def test_rollouts_then_calibration_end_to_end_never_write_a_reference(tmp_path, capsys):
    data = tmp_path / "canary.jsonl"
    rows = [
        {"question": f"What is {a} + {b}?", "solution": [f"{a} + {b} = {a + b} {CANARY}"], "answer": str(a + b)}
        for a, b in [(1, 2), (3, 4), (5, 6), (7, 8)]
    ]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    env_options = json.dumps({"dataset": str(data), "judge_kwargs": {"answer_format": "boxed_or_last_number"}})
    rollouts = tmp_path / "rollouts.jsonl"
    common = ["--env", "ExpRL-Math-v0", "--env-options", env_options, "--split", "all"]
    assert main(["rollouts", "--model", "tiny-random", *common, "--samples", "2", "--max-new-tokens", "6",
                 "--output", str(rollouts)]) == 0  # fmt: skip
    sampled = capsys.readouterr()
    loaded = load_rollouts(rollouts)
    assert len(loaded.rollouts) + loaded.source["unlabelled"] == 8
    assert loaded.source["policy"] == "tiny-random" and loaded.source["sampling"]["max_new_tokens"] == 6
    markdown = tmp_path / "calibration.md"
    code = main(["judge-bench", "--protocol", "calibration", "--rollouts", str(rollouts), "--judges", "reference",
                 "--markdown", str(markdown)])  # fmt: skip
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert code == 0 and len(report["rows"]) == 3 and report["config"]["answer_format"] == "boxed_or_last_number"
    assert "17.8%" in markdown.read_text()  # the authors' number beside ours, by the same protocol
    printed = sampled.out + sampled.err + captured.out + captured.err
    assert CANARY not in rollouts.read_text() + printed + markdown.read_text()


def test_judge_bench_refuses_a_calibration_without_rollouts(capsys):
    assert main(["judge-bench", "--protocol", "calibration"]) == 2
    assert "--rollouts" in capsys.readouterr().err
