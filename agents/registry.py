"""Agents by name: ``make_agent("grpo", policy=..., config=GRPOConfig(...))``; each maps to its config class."""

from __future__ import annotations

import importlib
from typing import Any

_AGENTS = {
    "grpo": ("agents.grpo", "GRPO", "GRPOConfig"),
    "ppo": ("agents.ppo", "PPO", "PPOConfig"),
    "reinforce": ("agents.reinforce", "Reinforce", "ReinforceConfig"),
    "sft": ("agents.sft", "SFT", "SFTConfig"),
    "self_distill": ("agents.self_distill", "SelfDistill", "SelfDistillConfig"),
}


def agent_names() -> list[str]:
    return sorted(_AGENTS)


def agent_classes(name: str) -> tuple[type, type]:
    """(agent class, config class) for a registered name."""
    if name not in _AGENTS:
        raise ValueError(f"unknown agent {name!r}; agents: {agent_names()}")
    module_name, agent, config = _AGENTS[name]
    module = importlib.import_module(module_name)
    return getattr(module, agent), getattr(module, config)


def make_agent(name: str, policy, config: Any = None, **overrides: Any):
    """Build an agent; ``overrides`` replace fields of its default (or given) config."""
    agent_class, config_class = agent_classes(name)
    config = config or config_class()
    if overrides:
        import attrs

        config = attrs.evolve(config, **overrides)
    return agent_class(policy, config)
