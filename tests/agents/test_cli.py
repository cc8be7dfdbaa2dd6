import json
import subprocess
import sys


def test_judge_check_pays_references_one_and_wrong_answers_zero():
    result = subprocess.run(
        [sys.executable, "-m", "agents.cli", "judge-check", "--env", "ExpRL-Arith-v0", "--limit", "24",
         "--batch", "8", "--env-options", '{"size": 40}'],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["problems"] == 24
    assert report["reference"]["mean_reward"] == 1.0 and report["wrong_answer"]["mean_reward"] == 0.0
    assert "batch" in result.stderr  # the progress bar


def test_console_script_is_installed():
    result = subprocess.run(["exprl", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "judge-check" in result.stdout
