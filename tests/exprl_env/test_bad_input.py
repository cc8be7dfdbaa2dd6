"""Every bad input gets an error that names the file, row and field, and nothing is half-loaded."""

import json

import gymnasium as gym
import pytest

from exprl_env import DatasetError
from exprl_env.domains import load_problems
from tests.conftest import write_jsonl


def test_missing_file(tmp_path):
    missing = str(tmp_path / "nope.jsonl")
    with pytest.raises(DatasetError, match="nope.jsonl: file not found"):
        load_problems(missing)
    with pytest.raises(DatasetError, match="file not found"):
        gym.make("ExpRL-Math-v0", dataset=missing)


@pytest.mark.parametrize(
    "bad_row, message",
    [
        ({"solution": "s", "answer": "1"}, r"row 1: field 'question': missing"),
        ({"question": "Q?", "solution": "s"}, r"row 1: field 'answer': missing"),
        ({"question": "   ", "solution": "s", "answer": "1"}, r"row 1: field 'question': empty"),
        ({"question": "Q?", "solution": "s", "answer": 42}, r"row 1: field 'answer': must be a string, got int 42"),
        ({"question": "Q?", "solution": 3, "answer": "1"}, r"row 1: field 'solution': must be a string or a list"),
        ({"question": "Q?", "answer": "1"}, r"row 1: field 'solution': missing"),
        ({"id": "p1", "question": "Q?", "solution": "s", "answer": "1"}, r"row 1: field 'id': duplicate id 'p1'"),
    ],
)
def test_bad_rows_are_named_and_nothing_loads(tmp_path, rows, bad_row, message):
    path = write_jsonl(tmp_path / "bad.jsonl", [rows[0], bad_row, rows[2]])
    with pytest.raises(DatasetError, match=message) as caught:
        load_problems(path)
    assert "bad.jsonl" in str(caught.value) and "nothing was loaded" in str(caught.value)


def test_all_defects_are_listed_at_once(tmp_path):
    path = write_jsonl(tmp_path / "many.jsonl", [{"question": "Q"}, {"answer": 1}])
    with pytest.raises(DatasetError) as caught:
        load_problems(path)
    assert len(caught.value.problems) == 5  # row 0: solution, answer; row 1: question, solution, answer type


def test_invalid_json_line_is_named(tmp_path, rows):
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(rows[0]) + "\n{not json\n")
    with pytest.raises(DatasetError, match=r"broken.jsonl: line 2: not valid JSON"):
        load_problems(str(path))


def test_unsupported_suffix_and_empty_file(tmp_path):
    (tmp_path / "data.txt").write_text("x")
    with pytest.raises(DatasetError, match="unsupported file type"):
        load_problems(str(tmp_path / "data.txt"))
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(DatasetError, match="no rows"):
        load_problems(str(tmp_path / "empty.jsonl"))


def test_unknown_hub_dataset_is_a_dataset_error():
    with pytest.raises(DatasetError, match="could not load as a Hugging Face dataset"):
        load_problems("no-such-user/no-such-dataset-exprl")


def test_unknown_env_kwarg_names_it_and_the_valid_ones():
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['rewrad'\]; environment options are \[.*'reward'"):
        gym.make("ExpRL-Arith-v0", rewrad="process")


def test_domain_options_on_a_file_source(jsonl_file):
    with pytest.raises(TypeError, match="unknown option"):
        gym.make("ExpRL-Math-v0", dataset=jsonl_file, size=3)


def test_unknown_reward_mode_and_step_mode():
    with pytest.raises(ValueError, match=r"reward must be one of \['sparse', 'outcome', 'process'\], got 'dense'"):
        gym.make("ExpRL-Arith-v0", reward="dense")
    with pytest.raises(ValueError, match="step_mode must be one of"):
        gym.make("ExpRL-Arith-v0", step_mode="token")


def test_unknown_judge_name():
    with pytest.raises(ValueError, match=r"unknown judge 'gpt-judge'; registered judges: \[.*'answer'"):
        gym.make("ExpRL-Arith-v0", judge="gpt-judge")
    with pytest.raises(ValueError, match="cannot import module"):
        gym.make("ExpRL-Arith-v0", judge="no_such_module:Judge")


def test_judge_that_cannot_pay_the_reward():
    with pytest.raises(ValueError, match=r"judge 'answer' cannot pay reward='process'"):
        gym.make("ExpRL-Arith-v0", reward="process", judge="answer")


def test_reset_with_unknown_problem_id_or_option():
    env = gym.make("ExpRL-Arith-v0", size=10)
    with pytest.raises(KeyError, match="no problem with id 'nope'"):
        env.reset(options={"problem_id": "nope"})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['problem'\]"):
        env.reset(options={"problem": "x"})
    with pytest.raises(IndexError, match="index must be an int"):
        env.reset(options={"index": 10_000})


def test_action_that_is_not_a_string():
    env = gym.make("ExpRL-Arith-v0", size=10, disable_env_checker=True)
    env.reset(seed=0)
    with pytest.raises(TypeError, match="action must be a str"):
        env.step(123)
    with pytest.raises(TypeError, match="action must be a str"):
        env.step(["\\boxed{1}"])


def test_step_before_reset():
    env = gym.make("ExpRL-Arith-v0", size=10, disable_env_checker=True)
    with pytest.raises(RuntimeError, match="reset"):
        env.unwrapped.step("x")
