"""A ``module:attr`` judge spec calls only what is a judge: never ``os:system`` or ``builtins:eval``."""

import sys
import types

import gymnasium as gym
import pytest

from judges import judge_factory, make_judge, register_judge
from tests.conftest import ScriptedJudge


@pytest.fixture
def user_module(monkeypatch):
    """A user's module of judges (and of things that are not judges), importable as ``user_judges``."""
    module = types.ModuleType("user_judges")

    class MyJudge(ScriptedJudge):
        def __init__(self, strictness: int = 1):
            super().__init__()
            self.strictness = strictness

    class Declared:
        name: str  # set per instance, declared on the class

        def __init__(self):
            self.name = "declared"

        def score_batch(self, items):
            return []

    @judge_factory
    def build(strictness: int = 2):
        return MyJudge(strictness)

    def unmarked(**kwargs):
        raise AssertionError("an unmarked function must never be called")

    class NotAJudge:
        def __init__(self, **kwargs):
            raise AssertionError("a class without score_batch must never be instantiated")

    module.MyJudge, module.Declared, module.build, module.unmarked, module.NotAJudge = (
        MyJudge,
        Declared,
        build,
        unmarked,
        NotAJudge,
    )
    module.instance = MyJudge(3)
    monkeypatch.setitem(sys.modules, "user_judges", module)
    return module


def test_os_system_is_refused_and_runs_nothing(tmp_path):
    target = tmp_path / "pwned"
    with pytest.raises(
        TypeError,
        match=r"judge 'os:system' is a builtin_function_or_method, not a judge.*nothing was "
        r"called",
    ):
        make_judge("os:system", command=f"echo pwned > {target}")
    assert not target.exists()


def test_builtins_eval_and_exec_are_refused_and_run_nothing(tmp_path):
    target = tmp_path / "pwned"
    code = f"open({str(target)!r}, 'w').write('pwned')"
    for spec, kwargs in [("builtins:eval", {"source": code}), ("builtins:exec", {"source": code})]:
        with pytest.raises(TypeError, match="not a judge"):
            make_judge(spec, **kwargs)
    assert not target.exists()


@pytest.mark.parametrize(
    "spec", ["subprocess:Popen", "user_judges:unmarked", "user_judges:NotAJudge", "os:environ", "builtins:type"]
)
def test_other_callables_and_objects_are_refused(user_module, spec):
    with pytest.raises(TypeError, match="not a judge"):
        make_judge(spec, args=["true"])


def test_the_env_refuses_such_a_spec_too(tmp_path):
    target = tmp_path / "pwned"
    with pytest.raises(TypeError, match="not a judge"):
        gym.make("ExpRL-Arith-v0", size=5, judge="os:system", judge_kwargs={"command": f"touch {target}"})
    assert not target.exists()


def test_a_user_judge_class_a_marked_factory_and_an_instance_still_work(user_module):
    judge = make_judge("user_judges:MyJudge", strictness=5)
    assert judge.name == "scripted" and judge.strictness == 5
    assert make_judge("user_judges:Declared").name == "declared"
    assert make_judge("user_judges:build").strictness == 2
    assert make_judge("user_judges:instance") is user_module.instance
    assert gym.make("ExpRL-Arith-v0", size=5, judge="user_judges:MyJudge", reward="outcome").unwrapped.judge.name == (
        "scripted"
    )


def test_options_given_to_a_judge_instance_are_an_error(user_module):
    with pytest.raises(TypeError, match=r"is an instance; options \['strictness'\] cannot be applied"):
        make_judge("user_judges:instance", strictness=1)


def test_a_registered_factory_is_trusted_without_the_mark():
    register_judge("plain-factory-test", lambda: ScriptedJudge())
    assert make_judge("plain-factory-test").name == "scripted"
    with pytest.raises(TypeError, match="must be callable"):
        register_judge("broken", 42)


@pytest.mark.parametrize(
    "spec, message",
    [
        (":Judge", "a judge path is 'module:attr'"),
        ("os:", "'module:attr'"),
        ("no_such_module_exprl:J", "cannot import module"),
        ("os:no_such_attr", "has no attribute"),
    ],
)
def test_malformed_and_missing_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        make_judge(spec)


def test_judge_versions_are_read_without_building_the_judge(user_module):
    """A run records its judge's version so that a changed judge is never mixed with the old; reading it builds
    nothing (the llm judge needs a server, the corrupted judge wraps another) and calls nothing that is not a judge."""
    from judges.llm_judge import PAPER_PROMPT_VERSION, PROMPT_VERSION
    from judges.reference_judge import VERSION
    from judges.registry import judge_version

    assert judge_version("reference") == VERSION
    assert judge_version("answer") is None  # declares none: nothing to record
    assert judge_version("llm", {"model": "m", "protocol": "paper"}) == PAPER_PROMPT_VERSION
    assert judge_version("llm", {"protocol": "batched"}) == PROMPT_VERSION
    assert judge_version("corrupted", {"flip_rate": 0.2}) == f"corrupted-1/{VERSION}"  # its own and the wrapped one's
    assert judge_version("corrupted", {"judge": "answer"}) == "corrupted-1"
    user_module.MyJudge.version = "mine-2"
    assert judge_version("user_judges:MyJudge") == "mine-2"
    with pytest.raises(TypeError, match="not a judge"):
        judge_version("user_judges:NotAJudge")
    with pytest.raises(ValueError, match="unknown judge 'nope'"):
        judge_version("nope")
