import csv
import json

import gymnasium as gym
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import exprl_env
from exprl_env.domains import load_problems
from exprl_env.domains.arith import worked_steps
from exprl_env.split import in_test_split, select_split


def test_champ_has_270_problems_with_steps_and_answers():
    problems = load_problems("math")
    assert len(problems) == 270 and len({p.id for p in problems}) == 270
    assert {p.metadata["category"] for p in problems} == {
        "Number-Theory",
        "Inequality",
        "Polynomial",
        "Sequence",
        "Combinatorics",
    }
    first = next(p for p in problems if p.id == "P_Combinatorics_1")
    reference = first.reference.unseal()
    assert reference.answer == "239" and len(reference.steps) == 6


def test_gsm_uses_answer_cot_without_the_marker_line():
    problems = load_problems("gsm", size=20, seed=3)
    assert len(problems) == 20 and problems[0].id == "gsm-3-0"
    for problem in problems:
        reference = problem.reference.unseal()
        assert reference.steps and not any(s.startswith("####") for s in reference.steps)
        assert reference.answer.lstrip("-").isdigit()
    assert load_problems("gsm", size=20, seed=4)[0].question != problems[0].question


def test_arith_worked_solution_evaluates_in_order():
    steps, value = worked_steps([7, 3, 4, 5], ["+", "*", "-"])
    assert steps == ["3 * 4 = 12", "7 + 12 = 19", "19 - 5 = 14"] and value == 14
    for problem in load_problems("arith", size=50, seed=1, n_ops=3, max_operand=9):
        expression = problem.question.removeprefix("What is ").removesuffix("?")
        reference = problem.reference.unseal()
        assert int(reference.answer) == eval(expression)  # noqa: S307 (our own generated integers)
        assert len(reference.steps) == 3


def test_arith_rejects_bad_difficulty():
    with pytest.raises(ValueError, match="operators"):
        load_problems("arith", operators="/")
    with pytest.raises(ValueError, match="n_ops"):
        load_problems("arith", n_ops=0)


def test_split_is_stable_disjoint_and_about_ten_percent():
    problems = load_problems("gsm", size=500)
    train, test = select_split(problems, "train"), select_split(problems, "test")
    assert len(train) + len(test) == 500 and not {p.id for p in train} & {p.id for p in test}
    assert 25 <= len(test) <= 75
    assert all(in_test_split(p.id, 0.1) for p in test)
    assert [p.id for p in select_split(list(reversed(problems)), "test")] == [p.id for p in reversed(test)]


def test_env_split_kwarg(jsonl_file):
    sizes = {
        split: len(gym.make("ExpRL-Arith-v0", size=200, split=split).unwrapped.problems)
        for split in ("train", "test", "all")
    }
    assert sizes["train"] + sizes["test"] == sizes["all"] == 200


def test_user_domain_from_jsonl_registers_makes_and_pays(tmp_path, rows):
    path = tmp_path / "algebra.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    env_id = exprl_env.register_domain("my-algebra", lambda: load_problems(str(path)))
    assert env_id == "ExpRL-my-algebra-v0"
    env = gym.make(env_id, split="all")
    _, info = env.reset(options={"problem_id": "p2"})
    assert info["problem_id"] == "p2"
    _, reward, terminated, _, info = env.step("2 + 2 = 4, so the answer is \\boxed{4}.")
    assert reward == 1.0 and terminated and info["answer_correct"] is True
    env.reset(options={"problem_id": "p2"})
    assert env.step("\\boxed{5}")[1] == 0.0


def test_user_domain_loader_may_return_rows_and_take_options():
    def loader(n: int = 2):
        return [{"question": f"Q{i}?", "solution": ["s"], "answer": str(i)} for i in range(n)]

    env_id = exprl_env.register_domain("rows-domain", loader)
    assert len(gym.make(env_id, split="all", n=5).unwrapped.problems) == 5
    with pytest.raises(TypeError, match="unknown option"):
        gym.make(env_id, m=5)


@pytest.mark.parametrize("suffix", [".json", ".csv", ".parquet"])
def test_other_file_types_load(tmp_path, rows, suffix):
    path = tmp_path / f"data{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps({"data": rows}))
    elif suffix == ".csv":
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    problems = load_problems(str(path))
    assert [p.id for p in problems] == ["p1", "p2", "p3"]
    assert problems[0].reference.unseal().steps == ("Add 1 and 1.", "That gives 2.")


def test_columns_are_configurable(tmp_path):
    path = tmp_path / "renamed.jsonl"
    path.write_text(json.dumps({"problem": "Q?", "worked": ["a", "b"], "final": "3"}) + "\n")
    problems = load_problems(str(path), columns={"question": "problem", "solution": "worked", "answer": "final"})
    assert problems[0].question == "Q?" and problems[0].id == "renamed-0"
    env = gym.make(
        "ExpRL-Math-v0",
        dataset=str(path),
        split="all",
        columns={"question": "problem", "solution": "worked", "answer": "final"},
    )
    assert "Q?" in env.reset()[0]
