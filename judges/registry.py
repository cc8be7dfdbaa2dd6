"""Judges by name: ``make_judge("answer")``, ``make_judge("pkg.mod:MyJudge", k=1)``, or pass an instance."""

from __future__ import annotations

import importlib
from typing import Any, Callable

from judges.protocol import Judge

_FACTORIES: dict[str, Callable[..., Judge] | str] = {
    "answer": "judges.answer_judge:AnswerJudge",
    "reference": "judges.reference_judge:ReferenceJudge",
    "llm": "judges.llm_judge:LLMJudge",
}


def register_judge(name: str, factory: Callable[..., Judge] | str) -> None:
    """Make ``make_judge(name, **kw)`` call ``factory(**kw)``; a ``"module:attr"`` string is imported lazily."""
    if not name or ":" in name:
        raise ValueError(f"judge name must be non-empty and without ':', got {name!r}")
    _FACTORIES[name] = factory


def judge_names() -> list[str]:
    return sorted(_FACTORIES)


def _import(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"judge {path!r}: cannot import module {module_name!r}: {error}") from error
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"judge {path!r}: module {module_name!r} has no attribute {attr!r}") from None


def make_judge(spec: str | Judge, **kwargs: Any) -> Judge:
    """A judge from a registered name, a ``"module:attr"`` path (class, factory or instance), or an instance."""
    if not isinstance(spec, str):
        if kwargs:
            raise TypeError("judge options were given together with a judge instance; configure the instance instead")
        return _checked(spec, repr(spec))
    if spec in _FACTORIES:
        factory = _FACTORIES[spec]
        target = _import(factory) if isinstance(factory, str) else factory
    elif ":" in spec:
        target = _import(spec)
    else:
        raise ValueError(f"unknown judge {spec!r}; registered judges: {judge_names()} (or give 'module:attr')")
    judge = target if isinstance(target, Judge) and not isinstance(target, type) else target(**kwargs)
    return _checked(judge, spec)


def _checked(judge: Any, label: str) -> Judge:
    if not isinstance(judge, Judge):
        raise TypeError(f"judge {label} does not implement the Judge protocol (a 'name' and score_batch(items))")
    return judge
