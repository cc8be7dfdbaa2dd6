"""The verl side that needs no verl: the parquet export (problem ids, never references) and ``compute_score``.

These run in exprl's own environment; the verl classes themselves are exercised in tests/agents/integrations/
test_verl.py, in verl's environment (.ci/verl/test).
"""

import json
import math
import subprocess
import sys

import gymnasium as gym
import pyarrow.parquet as pq
import pytest

import tests.exprl_env.test_canary  # noqa: F401  (registers the canary domains)
from agents.integrations.verl.data import to_verl_parquet, verl_rows
from agents.integrations.verl.scoring import compute_score
from tests.conftest import CANARY

ARITH = {"size": 20, "n_ops": 2}


def _row_score(row, response, **reward_kwargs):
    return compute_score(
        row["data_source"], response, row["reward_model"]["ground_truth"], row["extra_info"], **reward_kwargs
    )


def _solution(env_id, problem_id, **options):
    """The reference's own steps as a response (read judge-side, as a test may)."""
    env = gym.make(env_id, split="all", **options).unwrapped
    env.reset(options={"problem_id": problem_id})
    reference = env.problem.reference.unseal()
    steps = [f"### Step {k + 1}\n{step}" for k, step in enumerate(reference.steps)]
    return "\n\n".join(steps) + f"\n\nSo the answer is \\boxed{{{reference.answer}}}."


def test_rows_are_verl_format_with_the_problem_id_as_ground_truth():
    rows = verl_rows("ExpRL-Arith-v0", split="train", **ARITH)
    env = gym.make("ExpRL-Arith-v0", split="train", **ARITH).unwrapped
    assert len(rows) == len(env.problems)
    for index, row in enumerate(rows):
        prompt, info = env.reset(options={"index": index})
        assert row["data_source"] == "ExpRL-Arith-v0"
        assert row["prompt"] == [{"role": "user", "content": prompt}]
        assert row["reward_model"]["ground_truth"] == info["problem_id"] == row["extra_info"]["problem_id"]
        assert row["extra_info"]["index"] == index
        assert json.loads(row["extra_info"]["exprl_env"]) == ARITH


def test_parquet_round_trip(tmp_path):
    path = to_verl_parquet(tmp_path / "data" / "train.parquet", "ExpRL-Arith-v0", **ARITH)
    assert pq.read_table(path).to_pylist() == verl_rows("ExpRL-Arith-v0", **ARITH)


def test_compute_score_pays_the_environment_reward():
    row = verl_rows("ExpRL-Arith-v0", **ARITH)[0]
    right = _solution("ExpRL-Arith-v0", row["reward_model"]["ground_truth"], **ARITH)
    scored = _row_score(row, right)
    assert scored == {"score": 1.0, "exprl_scorable": 1.0, "exprl_answer_correct": 1.0, "exprl_overlong": 0.0}
    assert _row_score(row, "### Step 1\n2 + 2 = 5\n\nSo \\boxed{5}.", reward="sparse")["score"] == 0.0


def test_unscorable_is_nan_never_zero():
    row = verl_rows("ExpRL-Arith-v0", **ARITH)[0]
    answer = _solution("ExpRL-Arith-v0", row["reward_model"]["ground_truth"], **ARITH).split("So the answer is ")[1]
    scored = _row_score(row, f"The answer is {answer}")  # a bare right answer: the reference judge cannot judge it
    assert math.isnan(scored["score"]) and scored["exprl_scorable"] == 0.0


def test_reward_kwargs_override_the_rows_options():
    row = verl_rows("ExpRL-Arith-v0", **ARITH)[0]
    scored = _row_score(row, "UNSCORABLE", judge="scripted")
    assert math.isnan(scored["score"])
    with pytest.raises(TypeError, match=r"unknown reward_kwargs \['judeg'\]"):
        _row_score(row, "x", judeg="scripted")


@pytest.mark.parametrize("ground_truth", [None, "", 3])
def test_a_row_without_a_problem_id_names_the_row_and_field(ground_truth):
    row = verl_rows("ExpRL-Arith-v0", **ARITH)[2]
    with pytest.raises(ValueError, match=r"verl row 2 \(data_source 'ExpRL-Arith-v0'\): field reward_model"):
        compute_score(row["data_source"], "x", ground_truth, row["extra_info"])


def test_a_foreign_ground_truth_is_not_quoted():
    row = verl_rows("ExpRL-Arith-v0", **ARITH)[1]
    with pytest.raises(ValueError, match=r"verl row 1 .*a str of 18 characters\) is not a problem id") as error:
        compute_score(row["data_source"], "x", "the answer is -15.", row["extra_info"])
    assert "-15" not in str(error.value)


def test_bad_extra_info_is_named():
    with pytest.raises(ValueError, match=r"verl row 4 .*extra_info.exprl_env is not JSON"):
        compute_score("ExpRL-Arith-v0", "x", "p", {"index": 4, "exprl_env": "{size"})


@pytest.mark.parametrize("domain", ["canary-gsm", "canary-answers"])
def test_canary_never_reaches_the_exported_data_or_the_scores(tmp_path, domain, capsys):
    env_id = f"ExpRL-{domain}-v0"
    path = to_verl_parquet(tmp_path / "train.parquet", env_id, split="all", judge="scripted")
    rows = verl_rows(env_id, split="all", judge="scripted")
    seen = [path.read_bytes().decode("latin-1"), repr(rows)]
    for row in rows[:4]:
        for response in ["Let me think. \\boxed{12}", "UNSCORABLE"]:
            seen.append(repr(_row_score(row, response)))
        with pytest.raises(ValueError) as error:
            compute_score(row["data_source"], "x", f"{row['reward_model']['ground_truth']}?", row["extra_info"])
        seen.append(str(error.value))
    seen += list(capsys.readouterr())
    assert not [text for text in seen if CANARY in text]


def test_a_judge_instance_cannot_be_exported():
    from tests.conftest import ScriptedJudge

    with pytest.raises(TypeError, match="must be JSON values"):
        verl_rows("ExpRL-Arith-v0", judge=ScriptedJudge(), **ARITH)


def test_importing_agents_and_the_export_never_imports_verl():
    code = (
        "import sys, agents, agents.integrations.verl, agents.integrations.verl.data, agents.integrations.verl.scoring;"
        "print(sorted(m for m in sys.modules if m == 'verl' or m.startswith('verl.')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
