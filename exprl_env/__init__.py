"""exprl_env: math question/answer problems as Gymnasium environments rewarded by hidden-reference judges.

``gymnasium.make("ExpRL-Math-v0")`` works once the package is installed (the ids are registered as soon
as gymnasium is imported). Importing this package stays cheap: names load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from exprl_env import _autoregister  # noqa: F401  (registers the ids now or when gymnasium loads)

_EXPORTS = {
    "ExpRLEnv": "exprl_env.env",
    "ExpRLVectorEnv": "exprl_env.vector",
    "Problem": "judges.problem",
    "SealedReference": "judges.problem",
    "Reference": "judges.problem",
    "DatasetError": "exprl_env.errors",
    "register_domain": "exprl_env.domains",
    "load_problems": "exprl_env.domains",
    "domains": "exprl_env.domains",
    "select_split": "exprl_env.split",
    "build_prompt": "exprl_env.prompt",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'exprl_env' has no attribute {name!r}")
