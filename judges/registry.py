"""Judges by name: ``make_judge("answer")``, ``make_judge("pkg.mod:MyJudge", k=1)``, or pass an instance.

A ``"module:attr"`` judge spec is code: importing the module runs it, so give only specs you would
``import`` yourself (a spec from a config file or a command line is as trusted as that file). What the
spec names is then checked *before* anything is called: it must be a judge class (one with a ``name``
and a ``score_batch`` method), a function marked with :func:`judge_factory`, or a judge instance.
Anything else (``os:system``, ``builtins:eval``, ``subprocess:Popen``) is an error and nothing is called.
Factories given to :func:`register_judge` are trusted: registering one is the explicit step.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from judges.protocol import Judge

_FACTORIES: dict[str, Callable[..., Judge] | str] = {
    "answer": "judges.answer_judge:AnswerJudge",
    "reference": "judges.reference_judge:ReferenceJudge",
    "llm": "judges.llm_judge:LLMJudge",
    "corrupted": "judges.corrupted:CorruptedJudge",
}
_MARK = "__exprl_judge_factory__"
F = TypeVar("F", bound=Callable[..., Any])


def judge_factory(function: F) -> F:
    """Mark a function that builds a judge, so that ``make_judge("module:function", **kw)`` may call it."""
    if not callable(function):
        raise TypeError(f"judge_factory decorates a function, got {type(function).__name__}")
    setattr(function, _MARK, True)
    return function


def register_judge(name: str, factory: Callable[..., Judge] | str) -> None:
    """Make ``make_judge(name, **kw)`` call ``factory(**kw)``; a ``"module:attr"`` string is imported lazily."""
    if not isinstance(name, str) or not name or ":" in name:
        raise ValueError(f"judge name must be a non-empty string without ':', got {name!r}")
    if not (callable(factory) or isinstance(factory, str)):
        raise TypeError(
            f"judge factory for {name!r} must be callable or a 'module:attr' string, got {type(factory).__name__}"
        )
    _FACTORIES[name] = factory


def judge_names() -> list[str]:
    return sorted(_FACTORIES)


def is_judge_class(target: Any) -> bool:
    """A class that implements the Judge protocol: a ``score_batch`` method and a ``name`` (set or declared)."""
    if not isinstance(target, type):
        return False
    declared = any("name" in _annotations(cls) for cls in target.__mro__)
    return callable(getattr(target, "score_batch", None)) and (hasattr(target, "name") or declared)


def _annotations(cls: type) -> dict:
    annotations = vars(cls).get("__annotations__", {})
    return annotations if isinstance(annotations, dict) else {}  # builtins hold a descriptor here


def _import(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ValueError(f"judge {path!r}: a judge path is 'module:attr', e.g. 'my_pkg.judges:MyJudge'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"judge {path!r}: cannot import module {module_name!r}: {error}") from error
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"judge {path!r}: module {module_name!r} has no attribute {attr!r}") from None


def _checked_target(target: Any, spec: str) -> Any:
    """The target if it may be used as a judge (class, marked factory, instance); else an error, nothing called."""
    if is_judge_class(target) or getattr(target, _MARK, False) is True:
        return target
    if _is_judge_instance(target):
        return target
    raise TypeError(
        f"judge {spec!r} is a {type(target).__name__}, not a judge: give a judge class (with 'name' and "
        "score_batch(items)), a judge instance, or a function decorated with @judges.judge_factory; "
        "nothing was called"
    )


def _target(spec: str) -> Any:
    """What a judge name or ``"module:attr"`` spec names (a registered factory is trusted; a path is checked by
    :func:`_checked_target` first), nothing called yet."""
    if spec in _FACTORIES:
        factory = _FACTORIES[spec]
        return _import(factory) if isinstance(factory, str) else factory
    if ":" in spec:
        return _checked_target(_import(spec), spec)
    raise ValueError(f"unknown judge {spec!r}; registered judges: {judge_names()} (or give 'module:attr')")


def make_judge(spec: str | Judge, **kwargs: Any) -> Judge:
    """A judge from a registered name, a ``"module:attr"`` path (see module docstring), or an instance."""
    if not isinstance(spec, str):
        if kwargs:
            raise TypeError("judge options were given together with a judge instance; configure the instance instead")
        return _checked(spec, repr(spec))
    target = _target(spec)
    if _is_judge_instance(target):
        if kwargs:
            raise TypeError(f"judge {spec!r} is an instance; options {sorted(kwargs)} cannot be applied to it")
        return _checked(target, spec)
    return _checked(target(**kwargs), spec)


def judge_version(spec: str, options: Mapping[str, Any] | None = None) -> str | None:
    """The version of its scoring that a registered or ``"module:attr"`` judge declares for these options, found
    without building it: its ``scoring_version(**options)`` where the version depends on the options (the llm
    judge's prompts, a wrapped judge's), else its ``version`` string; None when it declares none.

    Why: a run records it, so that runs scored by a changed judge are never resumed or reused as if they were the
    same experiment (``agents.compare.run``).
    """
    target = _target(spec)  # as make_judge checks it: nothing else is looked at
    scoring_version = getattr(target, "scoring_version", None)
    if callable(scoring_version):
        return scoring_version(**dict(options or {}))
    version = getattr(target, "version", None)
    return version if isinstance(version, str) else None


def _is_judge_instance(target: Any) -> bool:
    return (
        isinstance(target, Judge)
        and not isinstance(target, type)
        and not inspect.ismodule(target)
        and callable(getattr(target, "score_batch", None))
    )


def _checked(judge: Any, label: str) -> Judge:
    if not isinstance(judge, Judge):
        raise TypeError(f"judge {label} does not implement the Judge protocol (a 'name' and score_batch(items))")
    return judge
