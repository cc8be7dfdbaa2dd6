import json
import subprocess
import sys

import pytest


def judge_check(*extra):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "agents.cli",
            "judge-check",
            "--env",
            "ExpRL-Arith-v0",
            "--limit",
            "24",
            "--batch",
            "8",
            "--env-options",
            '{"size": 40}',
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "batch" in result.stderr  # the progress bar
    report = json.loads(result.stdout)
    assert report["problems"] == 24
    return report["reference"]["mean_reward"], report["wrong_answer"]["mean_reward"]


def test_judge_check_sparse_pays_references_one_and_wrong_answers_zero():
    assert judge_check("--judge", "answer", "--reward", "sparse") == (1.0, 0.0)


@pytest.mark.parametrize("reward", ["process", "outcome"])
def test_judge_check_dense_keeps_partial_credit_for_right_steps_and_a_wrong_answer(reward):
    reference, wrong = judge_check("--reward", reward)
    assert reference == 1.0 and 0.0 < wrong < reference


def test_console_script_is_installed():
    result = subprocess.run(["exprl", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "judge-check" in result.stdout


def test_pass_at_k_estimator():
    from agents.evaluate import pass_at_k

    assert pass_at_k(4, 0, 1) == 0.0 and pass_at_k(4, 4, 1) == 1.0
    assert abs(pass_at_k(4, 1, 1) - 0.25) < 1e-9
    assert abs(pass_at_k(4, 1, 2) - 0.5) < 1e-9  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    assert pass_at_k(4, 3, 2) == 1.0


def test_pass_at_k_leaves_unscorable_responses_out_instead_of_counting_them_wrong():
    from agents.evaluate import pass_at_k_over_problems

    nan = float("nan")
    rewards = {"a": [1.0, 0.0, nan, 1.0], "b": [nan, nan, nan, 0.0], "c": [0.0, 0.0, 1.0, 1.0]}
    result = pass_at_k_over_problems(rewards, [1, 2, 4])
    # k=1: a 2 of 3 scorable, b 0 of 1, c 2 of 4: (2/3 + 0 + 1/2) / 3 = 7/18 (counting NaN as wrong: a is 1/2)
    assert abs(result["pass@1"] - 7 / 18) < 1e-12
    # k=2: a 1 - C(1,2)/C(3,2) = 1; b has 1 scorable response, too few; c 1 - C(2,2)/C(4,2) = 5/6
    assert abs(result["pass@2"] - (1 + 5 / 6) / 2) < 1e-12
    assert result["pass@4"] == 1.0 and result["problems_scored"] == {"1": 3, "2": 2, "4": 1}  # only c has 4
    nothing = pass_at_k_over_problems({"a": [nan, nan]}, [1])
    assert nothing == {"pass@1": None, "problems_scored": {"1": 0}}  # missing, not 0


def test_eval_reports_pass_at_k_on_the_test_split():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "agents.cli",
            "eval",
            "--model",
            "tiny-random",
            "--env",
            "ExpRL-Arith-v0",
            "--env-options",
            '{"size": 60}',
            "--samples",
            "2",
            "--limit",
            "3",
            "--max-new-tokens",
            "8",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["split"] == "test" and report["problems"] == 3 and report["samples"] == 2
    assert set(report) >= {"pass@1", "pass@2"} and 0.0 <= report["pass@1"] <= report["pass@2"] <= 1.0
    assert 0.0 <= report["judged_process_reward"] <= 1.0
    assert report["problems_scored"] == {"1": 3, "2": 3} and report["unscorable"] == report["unscorable_judged"] == 0


def test_train_summary_leaves_a_step_with_nothing_scorable_out_instead_of_reporting_nan():
    from agents.cli import _summary

    records = [
        {"step": k + 1, "reward_mean": r, "answer_accuracy": 0.0, "seconds_step": 1.0}
        for k, r in enumerate([0.5, float("nan"), 0.25, 0.75, 1.0])
    ]
    summary = _summary(records, "runs/x")
    assert summary["reward_first_fifth"] == 0.5 and summary["reward_last_fifth"] == 1.0
    assert _summary(records[1:2], "runs/x")["reward_first_fifth"] is None  # nothing scored: missing, not NaN or 0


class ProgressOnlyJudge:
    """Gives cumulative progress but no step ratings (like a judge written before ratings existed)."""

    name = "progress-only"
    kinds = ("process",)

    def score_batch(self, items):
        from judges import Status, Verdict

        return [
            Verdict(Status.OK, outcome=0.5, step_scores=(0.5,), step_spans=((0, len(item.response)),)) for item in items
        ]


class DeclaredProgressOnlyJudge(ProgressOnlyJudge):
    """The same, saying so (``step_values``): the trainer refuses it before it samples anything."""

    step_values = ("progress",)


@pytest.mark.parametrize("judge", [ProgressOnlyJudge, DeclaredProgressOnlyJudge])
def test_train_with_an_authors_norm_and_a_judge_without_ratings_is_a_clear_error_not_a_traceback(
    tmp_path, capsys, judge
):
    from agents.cli import main
    from judges import register_judge
    from tests.conftest import tiny_train_flags

    register_judge(f"{judge.__name__}-test", judge)
    flags = tiny_train_flags(tmp_path, "--judge", f"{judge.__name__}-test", "--process-norm", "delta")
    assert main(flags) == 2
    error = capsys.readouterr().err
    assert "exprl train: error:" in error and "step_ratings" in error and "Traceback" not in error
    if judge is DeclaredProgressOnlyJudge:  # refused before the model is sampled: no step ran, nothing logged
        assert not list(tmp_path.rglob("metrics.jsonl"))


def test_train_evaluates_held_out_problems_and_ends_with_a_summary_in_words(tmp_path):
    folder = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "agents.cli",
            "train",
            "--model",
            "tiny-random",
            "--env-options",
            '{"size": 60}',
            "--steps",
            "2",
            "--prompts-per-step",
            "1",
            "--group-size",
            "2",
            "--max-new-tokens",
            "8",
            "--eval-problems",
            "4",
            "--eval-samples",
            "2",
            "--output-dir",
            str(folder),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1, 2]
    for record in (records[0], records[-1]):
        assert record["eval_problems"] == 4 and record["eval_responses"] == 8
        assert {"eval_pass@1", "eval_value_stated", "eval_judged_reward"} <= set(record)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["held_out"]["before"]["step"] == 0 and summary["held_out"]["after"]["step"] == 2
    assert result.stdout.startswith("In 2 steps (") and summary["in_words"] in result.stdout
    assert "On 4 held-out problems (8 responses), before -> after training:" in result.stdout
    assert "summary.json" in result.stdout.splitlines()[-1]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("eval_value_stated")] == [0, 2]
