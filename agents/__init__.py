"""Agents that train language-model policies against ExpRL environments, and the trainer that runs them.

``make_agent(name, policy=..., config=...)`` builds one (``grpo`` ...); ``Policy.from_pretrained`` loads a
model (``smollm2-135m-instruct``, ``tiny-random``, ``testbed`` or any Hugging Face folder). Heavy imports load lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "make_agent": "agents.registry",
    "agent_names": "agents.registry",
    "Policy": "agents.policy",
    "SamplingConfig": "agents.policy",
    "Trainer": "agents.trainer",
    "TrainConfig": "agents.trainer",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
