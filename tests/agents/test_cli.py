import json
import subprocess
import sys

import pytest


def judge_check(*extra):
    result = subprocess.run(
        [sys.executable, "-m", "agents.cli", "judge-check", "--env", "ExpRL-Arith-v0", "--limit", "24",
         "--batch", "8", "--env-options", '{"size": 40}', *extra],
        capture_output=True, text=True, timeout=300,
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


def test_eval_reports_pass_at_k_on_the_test_split():
    result = subprocess.run(
        [sys.executable, "-m", "agents.cli", "eval", "--model", "tiny-random", "--env", "ExpRL-Arith-v0",
         "--env-options", '{"size": 60}', "--samples", "2", "--limit", "3", "--max-new-tokens", "8"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["split"] == "test" and report["problems"] == 3 and report["samples"] == 2
    assert set(report) >= {"pass@1", "pass@2"} and 0.0 <= report["pass@1"] <= report["pass@2"] <= 1.0
    assert 0.0 <= report["judged_process_reward"] <= 1.0
