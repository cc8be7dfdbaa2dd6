"""Gymnasium ids for every registered domain: ``ExpRL-Math-v0``, ``ExpRL-GSM-v0``, ``ExpRL-Arith-v0``, ...

Entry points are strings, so registering imports nothing heavy; ``gymnasium.make_vec`` uses our own
vector env (one batched judge call per step) through ``vector_entry_point``.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

ENTRY_POINT = "exprl_env.env:ExpRLEnv"
VECTOR_ENTRY_POINT = "exprl_env.vector:ExpRLVectorEnv"


def register_domain_env(domain) -> None:
    """Register (or re-register) the Gymnasium id of one domain."""
    if domain.env_id in registry:
        del registry[domain.env_id]
    register(
        id=domain.env_id,
        entry_point=ENTRY_POINT,
        vector_entry_point=VECTOR_ENTRY_POINT,
        kwargs={"domain": domain.name},
        disable_env_checker=False,
    )


def register_envs() -> None:
    """Register every known domain's id that is not registered yet (safe to call repeatedly)."""
    from exprl_env.domains import domains

    for domain in domains().values():
        if domain.env_id not in registry:
            register_domain_env(domain)
