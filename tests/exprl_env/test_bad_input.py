"""Every bad input gets an error that names the file, row and field, and nothing is half-loaded."""

import json

import gymnasium as gym
import numpy as np
import pytest

from exprl_env import DatasetError
from exprl_env.domains import load_problems
from exprl_env.domains.rows import MAX_QUESTION_CHARS
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
        ({"question": "Q?", "solution": "s", "answer": 42}, r"row 1: field 'answer': must be a string, got int;"),
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


# --- files that are not UTF-8, or not readable ------------------------------------------------------
LATIN1_ROW = '{"question": "Combien coûte un café ?", "solution": "s", "answer": "2"}\n'.encode("latin-1")


@pytest.mark.parametrize(
    "suffix, content, line",
    [
        (".jsonl", b'{"question": "Q?", "solution": "s", "answer": "1"}\n' + LATIN1_ROW, 2),
        (".json", b'[\n{"question": "caf\xe9", "solution": "s", "answer": "1"}\n]', 2),
        (".csv", b"question,solution,answer\nQ?,s,1\ncaf\xe9,s,2\n", 3),
    ],
    ids=["jsonl", "json", "csv"],
)
def test_a_file_that_is_not_utf8_is_named_with_line_byte_offset_and_encoding(tmp_path, suffix, content, line):
    offset = next(i for i, byte in enumerate(content) if byte >= 0x80)
    path = tmp_path / f"latin{suffix}"
    path.write_bytes(content)
    with pytest.raises(DatasetError) as caught:
        load_problems(str(path))
    message = str(caught.value)
    assert f"latin{suffix}: line {line}: not valid UTF-8" in message
    assert f"byte offset {offset}" in message and "nothing was loaded" in message


def test_every_undecodable_line_of_a_jsonl_file_is_listed(tmp_path):
    path = tmp_path / "two.jsonl"
    path.write_bytes(LATIN1_ROW + b'{"question": "ok", "solution": "s", "answer": "1"}\n' + LATIN1_ROW)
    with pytest.raises(DatasetError) as caught:
        load_problems(str(path))
    assert [p.split(" (")[0] for p in caught.value.problems] == ["line 1: not valid UTF-8", "line 3: not valid UTF-8"]


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv"])
def test_a_utf8_byte_order_mark_is_accepted(tmp_path, rows, suffix):
    if suffix == ".csv":
        text = "question,solution,answer\n" + "".join(f"{r['question']},{r['answer']},{r['answer']}\n" for r in rows)
    elif suffix == ".json":
        text = json.dumps(rows)
    else:
        text = "".join(json.dumps(r) + "\n" for r in rows)
    path = tmp_path / f"bom{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert [p.question for p in load_problems(str(path))] == [r["question"] for r in rows]


def test_a_damaged_parquet_file_and_a_csv_field_over_the_csv_limit_are_dataset_errors(tmp_path):
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really parquet")
    with pytest.raises(DatasetError, match=r"broken.parquet: not a readable Parquet file"):
        load_problems(str(tmp_path / "broken.parquet"))
    (tmp_path / "wide.csv").write_text("question,solution,answer\nQ?,s,1\n" + "x" * 200_000 + ",s,1\n")
    with pytest.raises(DatasetError, match=r"wide.csv: line 3: not valid CSV \(field larger than field limit"):
        load_problems(str(tmp_path / "wide.csv"))


def test_an_unreadable_file_is_a_dataset_error(tmp_path, rows, monkeypatch):
    from pathlib import Path

    def refuse(self):
        raise PermissionError(13, "Permission denied")

    path = write_jsonl(tmp_path / "locked.jsonl", rows)
    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(DatasetError, match=r"locked.jsonl: cannot read the file: Permission denied"):
        load_problems(path)


def test_deeply_nested_json_is_a_dataset_error(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(DatasetError, match=r"deep.jsonl: line 1: JSON nested too deeply"):
        load_problems(str(path))


# --- over-long questions ----------------------------------------------------------------------------
def test_an_over_long_question_is_refused_at_load_naming_row_field_and_limit(tmp_path, rows):
    huge = {"question": "What is " + "1 + " * 2_500_000 + "1?", "solution": "s", "answer": "1"}  # 10 MB
    path = write_jsonl(tmp_path / "huge.jsonl", [rows[0], huge])
    with pytest.raises(DatasetError) as caught:
        load_problems(path)
    assert f"row 1: field 'question': 10,000,010 characters, over the limit of {MAX_QUESTION_CHARS:,}" in str(
        caught.value
    )


# --- options of the wrong type or range ---------------------------------------------------------------
@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"max_steps": 2.5}, TypeError, r"max_steps must be an int, got float 2.5"),
        ({"max_steps": True}, TypeError, r"max_steps must be an int, got bool True"),
        ({"max_steps": 0}, ValueError, r"max_steps must be an int >= 1, got 0"),
        ({"max_chars": True}, TypeError, r"max_chars must be an int, got bool True"),
        ({"max_chars": "8192"}, TypeError, r"max_chars must be an int, got str '8192'"),
        ({"test_fraction": 1.5}, ValueError, r"test_fraction must be a number in \[0.0, 1.0\], got 1.5"),
        ({"test_fraction": -0.1}, ValueError, r"test_fraction must be a number in"),
        ({"test_fraction": float("nan")}, ValueError, r"test_fraction must be a number in"),
        ({"test_fraction": "0.1"}, TypeError, r"test_fraction must be a number, got str"),
        ({"test_fraction": True}, TypeError, r"test_fraction must be a number, got bool"),
        ({"split": 1}, TypeError, r"split must be a str, got int 1"),
        ({"split": "validation"}, ValueError, r"split must be one of \('train', 'test', 'all'\)|split must be one of"),
        ({"reward": 1}, ValueError, r"reward must be one of"),
        ({"judge_kwargs": ["x"]}, TypeError, r"judge_kwargs must be a dict"),
        ({"columns": ["question"]}, TypeError, r"columns must be a dict"),
        ({"size": 2.5}, TypeError, r"size must be an int, got float 2.5"),
        ({"n_ops": True}, TypeError, r"n_ops must be an int, got bool True"),
        ({"max_operand": 0}, ValueError, r"max_operand must be an int >= 1"),
        ({"operators": 3}, TypeError, r"operators must be a str"),
    ],
)
def test_env_options_of_the_wrong_type_or_range_are_named(options, error, message):
    with pytest.raises(error, match=message):
        gym.make("ExpRL-Arith-v0", **{"size": 10, **options})


def test_numpy_integers_are_ints_and_numpy_bools_are_not():
    env = gym.make("ExpRL-Arith-v0", size=10, max_steps=np.int64(3), disable_env_checker=True).unwrapped
    assert env.max_steps == 3 and type(env.max_steps) is int
    assert env.reset(options={"index": np.int64(2)})[1]["index"] == 2
    with pytest.raises(TypeError, match="max_steps must be an int, got bool"):
        gym.make("ExpRL-Arith-v0", size=10, max_steps=np.bool_(True))


@pytest.mark.parametrize(
    "num_envs, error, message",
    [
        (2.0, TypeError, r"num_envs must be an int, got float 2.0"),
        (True, TypeError, r"num_envs must be an int, got bool True"),
        (0, ValueError, r"num_envs must be an int >= 1, got 0"),
    ],
)
def test_num_envs_of_the_wrong_type_or_range(num_envs, error, message):
    with pytest.raises(error, match=message):
        gym.make_vec("ExpRL-Arith-v0", num_envs=num_envs, size=10)


@pytest.mark.parametrize(
    "seed, options, error, message",
    [
        (None, {"index": True}, TypeError, r"reset option 'index' must be an int, got bool True"),
        (None, {"index": 1.0}, TypeError, r"reset option 'index' must be an int, got float"),
        (None, {"problem_id": ["arith-0-2-20-0"]}, TypeError, r"reset option 'problem_id' must be a str, got list"),
        (None, {"index": 0, "problem_id": "x"}, ValueError, r"not both"),
        (None, ["index"], TypeError, r"reset options must be a dict"),
        (True, None, TypeError, r"reset seed must be an int, got bool True"),
        (1.5, None, TypeError, r"reset seed must be an int, got float"),
    ],
)
def test_reset_arguments_of_the_wrong_type(seed, options, error, message):
    env = gym.make("ExpRL-Arith-v0", size=10, disable_env_checker=True).unwrapped
    env.reset(seed=0)
    before = (env.problem, env.np_random.bit_generator.state)
    with pytest.raises(error, match=message):
        env.reset(seed=seed, options=options)
    assert (env.problem, env.np_random.bit_generator.state) == before  # a refused reset changes nothing


def test_problems_must_be_problems():
    with pytest.raises(TypeError, match="problems must be a sequence of judges.Problem; one is a dict"):
        gym.make("ExpRL-Arith-v0", problems=[{"question": "Q"}])
