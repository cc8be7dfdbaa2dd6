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
