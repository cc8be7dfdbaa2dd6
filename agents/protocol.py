"""What the trainer, the benchmarks and the comparison may assume of an agent: the ``Agent`` protocol.

Every agent (GRPO, PPO, REINFORCE, SFT, self-distillation) is one file with its own config and update; this
protocol is the whole of what they share, so code that drives agents needs no per-agent special case:

- ``name``: the registered name; ``config``: its frozen attrs config (recorded in checkpoints).
- ``needs_reference``: True only for the two baselines that are defined by their use of the reference
  solution (SFT imitates it, self-distillation's teacher reads it). :func:`agents.privileged.references_for_agent`
  opens references for those agents and for no other.
- ``update(batch, references=None)``: one optimizer update on a batch, returning scalar metrics. An agent that
  needs references raises :class:`ReferencesRequired` without them; an RL agent raises
  :class:`ReferencesRefused` when given any, so a reference can never reach an RL policy by mistake.
- ``state_dict()`` / ``load_state_dict(state)``: what a checkpoint must hold besides the model weights to
  continue exactly. The entry ``"optimizer"`` is the optimizer state and is optional on load (a final
  checkpoint may leave it out, see ``TrainConfig.final_optimizer``): without it the optimizer starts afresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from agents.batch import Batch
    from judges.problem import Reference

OPTIMIZER_KEY = "optimizer"


@runtime_checkable
class Agent(Protocol):
    name: str
    """The registered name (``grpo``, ``ppo``, ...)."""
    needs_reference: bool
    """Whether ``update`` must be given the reference solution of every rollout (the SFT and
    self-distillation baselines only)."""
    config: Any
    """The agent's frozen attrs config."""

    def update(self, batch: Batch, references: Sequence[Reference] | None = None) -> dict[str, float]:
        """One optimizer update on ``batch``; scalar metrics (``loss``, ``applied``, ...) for the log."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything besides the model weights that a checkpoint needs to continue exactly."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (``"optimizer"`` may be missing)."""
        ...


class ReferencesRequired(ValueError):
    """An agent that trains on reference solutions was updated without them."""


class ReferencesRefused(ValueError):
    """An RL agent was handed reference solutions: they must never reach an RL policy's update."""


def require_references(agent: Agent, batch: Batch, references: Sequence[Reference] | None) -> Sequence[Reference]:
    """The references, one per rollout of ``batch``; a clear error if they are missing or miscounted."""
    if references is None:
        raise ReferencesRequired(
            f"the {agent.name} agent trains on reference solutions: call update(batch, references) with one "
            "reference per rollout (agents.privileged.references_for_agent opens them)"
        )
    if len(references) != len(batch):
        raise ReferencesRequired(
            f"the {agent.name} agent got {len(references)} references for a batch of "
            f"{len(batch)} rollouts; it needs one per rollout, in order"
        )
    return references


def refuse_references(agent: Agent, references: Sequence[Reference] | None) -> None:
    """Raise if an RL agent is handed references (their absence is the point of the method)."""
    if references is not None:
        raise ReferencesRefused(
            f"the {agent.name} agent learns from the judge's reward only and must not be given "
            "reference solutions; call update(batch)"
        )


def load_optimizer_state(optimizer: Any, state: dict[str, Any]) -> None:
    """Restore the optimizer from ``state["optimizer"]`` when the checkpoint kept it; otherwise leave it fresh."""
    if OPTIMIZER_KEY in state:
        optimizer.load_state_dict(state[OPTIMIZER_KEY])
    else:
        optimizer.state.clear()  # AdamW's moments and step counts start from zero
