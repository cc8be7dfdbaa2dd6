import pickle

import judges.rubric
from exprl_env.domains import load_problems
from judges.problem import Problem, SealedReference
from judges.rubric import MAX_INTERMEDIATE, SealedRubric, build_rule_rubric, cached_rubric


def problem(question, steps, answer, pid="p"):
    return Problem(pid, "t", question, SealedReference(steps, answer))


def test_gsm_rubric_has_the_chain_results_and_the_answer():
    rubric = build_rule_rubric(load_problems("gsm", size=1, seed=0)[0])
    assert [(c.value, c.is_answer) for c in rubric.checkpoints] == [("12", False), ("2340", False), ("28080", True)]


def test_givens_expressions_and_repeats_are_not_checkpoints():
    rubric = build_rule_rubric(
        problem(
            "Ann has 7 apples and buys 5 more, then 3 more.",
            ["7 + 5 = 12 apples", "So 12 + 3 = 15.", "Total 7=7 and 2 = 1+1 is fine"],
            "15",
        )
    )
    assert [c.value for c in rubric.intermediate] == ["12"]
    assert rubric.answer.value == "15"


def test_prose_answer_has_no_answer_checkpoint_and_long_chains_are_spread():
    steps = [f"x_{i} = {100 + i}" for i in range(12)]
    rubric = build_rule_rubric(problem("Find all x.", steps, "No such values"))
    assert rubric.answer is None and len(rubric.intermediate) == MAX_INTERMEDIATE
    assert rubric.intermediate[-1].value == "111"


def test_rubrics_are_built_once_per_problem_and_reference():
    built = []

    def builder(p):
        built.append(p.id)
        return build_rule_rubric(p)

    a = problem("Q", ["1 + 1 = 2"], "2", pid="same")
    b = problem("Q", ["2 + 2 = 4"], "4", pid="same")
    assert cached_rubric(a, builder, "test-1") == cached_rubric(a, builder, "test-1") and built == ["same"]
    assert cached_rubric(b, builder, "test-1").answer.value == "4" and built == ["same", "same"]


def test_the_rubric_cache_holds_no_readable_reference_values():
    secret = problem("How much?", ["So 98765 + 11111 = 109876 coins, by the CANARYSTEP rule."], "109876", pid="s")
    rubric = cached_rubric(secret)
    assert rubric.intermediate == () and rubric.answer.value == "109876"  # the judge still gets the values
    assert all("CANARYSTEP" not in c.description for c in build_rule_rubric(secret).checkpoints)
    cache = judges.rubric._CACHE
    sealed = cache[(secret.id, secret.reference.fingerprint, judges.rubric.RULE_BUILDER_VERSION)]
    assert isinstance(sealed, SealedRubric) and secret.reference.fingerprint in repr(sealed)
    for shown in (repr(cache), str(sealed), pickle.dumps(cache)):
        for value in ("109876", "98765", "CANARYSTEP"):
            assert (value.encode() if isinstance(shown, bytes) else value) not in shown
    assert pickle.loads(pickle.dumps(sealed)).open() == rubric


def test_reference_steps_are_read_in_any_notation():
    steps = ["$6 \\times 2 = 12$ days", "\\(\\frac{3}{4} \\cdot 20 = 15\\)", "so 2{,}340 \u00d7 12 = 28\u2009080"]
    rubric = build_rule_rubric(problem("6 days, 2 weeks, 20 items", steps, "99999"))
    assert [c.number for c in rubric.intermediate] == [12.0, 15.0, 28080.0]


def test_every_builtin_domain_gets_rubrics():
    for name, kwargs in [("gsm", {"size": 100}), ("arith", {"size": 50})]:
        assert all(build_rule_rubric(p).answer is not None for p in load_problems(name, **kwargs))
    champ = [build_rule_rubric(p) for p in load_problems("math")]
    assert sum(bool(r.checkpoints) for r in champ) >= 180  # 186 of 270 today; the rest need the LLM builder
