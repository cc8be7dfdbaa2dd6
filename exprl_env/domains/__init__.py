"""The domain registry: where problems come from.

A domain is a name, a loader (a function whose keyword arguments are the domain's knobs, returning
problems or plain rows) and the Gymnasium id it is exposed as. Built-ins are CHAMP competition math,
GSM-style word problems and generated arithmetic; :func:`register_domain` adds a user's own.
:func:`load_problems` also accepts a local data file or a Hugging Face dataset id in place of a name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from exprl_env.domains.arith import load_arith
from exprl_env.domains.champ import load_champ
from exprl_env.domains.files import load_file, load_hub, looks_like_file
from exprl_env.domains.gsm import load_gsm
from exprl_env.domains.rows import rows_to_problems
from judges.problem import Problem

Loader = Callable[..., Iterable[Problem | Mapping[str, Any]]]


@attrs.frozen
class Domain:
    """A registered source of problems and the environment id that serves it."""

    name: str
    """Registry key, also accepted as ``dataset=`` by every ExpRL environment."""
    loader: Loader = attrs.field(eq=False)
    """Called with the domain's keyword arguments; returns problems or rows (question/solution/answer/id)."""
    env_id: str
    """The Gymnasium id registered for it, e.g. ``ExpRL-Math-v0``."""
    description: str = ""
    """One line for listings."""

    def parameters(self) -> list[str]:
        """The keyword arguments the loader accepts."""
        return [
            p.name
            for p in inspect.signature(self.loader).parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]


_DOMAINS: dict[str, Domain] = {}
_CACHE: dict[Any, list[Problem]] = {}


def _add(domain: Domain) -> None:
    _DOMAINS[domain.name] = domain


_add(Domain("math", load_champ, "ExpRL-Math-v0", "CHAMP competition problems with human step solutions"))
_add(Domain("gsm", load_gsm, "ExpRL-GSM-v0", "reasoning-gym gsm_symbolic word problems with worked solutions"))
_add(Domain("arith", load_arith, "ExpRL-Arith-v0", "multi-step integer arithmetic with generated worked solutions"))


def domains() -> dict[str, Domain]:
    """The registered domains by name (a copy)."""
    return dict(_DOMAINS)


def register_domain(name: str, loader: Loader, *, env_id: str | None = None, description: str = "") -> str:
    """Add a domain and register its Gymnasium id (default ``ExpRL-<name>-v0``); returns the id.

    Re-registering a name replaces it (useful in notebooks); the old problems are dropped from the cache.
    """
    if not name or not isinstance(name, str):
        raise ValueError(f"domain name must be a non-empty string, got {name!r}")
    if not callable(loader):
        raise TypeError(f"loader for domain {name!r} must be callable, got {type(loader).__name__}")
    domain = Domain(name, loader, env_id or f"ExpRL-{name}-v0", description)
    _add(domain)
    for key in [k for k in _CACHE if k[0] == name]:
        del _CACHE[key]
    from exprl_env.registration import register_domain_env

    register_domain_env(domain)
    return domain.env_id


def _check_kwargs(domain: Domain, kwargs: Mapping[str, Any]) -> None:
    takes_any = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(domain.loader).parameters.values())
    unknown = sorted(set(kwargs) - set(domain.parameters()))
    if unknown and not takes_any:
        raise TypeError(
            f"domain {domain.name!r} does not take {unknown}; its options are {domain.parameters() or 'none'}"
        )


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def load_problems(
    source: str, *, columns: Mapping[str, str] | None = None, hf_split: str = "train", **domain_kwargs: Any
) -> list[Problem]:
    """Problems from a registered domain name, a local data file, or a Hugging Face dataset id.

    Results are cached per (source, options) in this process; problems are immutable, so sharing is safe.
    """
    key = (source, _freeze(columns), hf_split, _freeze(domain_kwargs))
    if key not in _CACHE:
        _CACHE[key] = _load(source, columns, hf_split, domain_kwargs)
    return _CACHE[key]


def _load(source: str, columns, hf_split: str, domain_kwargs: Mapping[str, Any]) -> list[Problem]:
    domain = _DOMAINS.get(source)
    if domain is None and domain_kwargs:
        raise TypeError(
            f"options {sorted(domain_kwargs)} apply to registered domains only, and {source!r} is not one "
            f"(registered: {sorted(_DOMAINS)})"
        )
    if domain is None:
        if looks_like_file(source):
            return load_file(source, columns)
        return load_hub(source, hf_split, columns)
    _check_kwargs(domain, domain_kwargs)
    items = list(domain.loader(**domain_kwargs))
    if items and all(isinstance(item, Problem) for item in items):
        return items
    return rows_to_problems(f"domain {domain.name!r}", items, domain=domain.name, columns=columns)
