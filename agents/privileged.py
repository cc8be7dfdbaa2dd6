"""The one channel through which reference solutions reach an agent: the SFT and self-distillation baselines.

Both baselines are defined by their use of the reference (fine-tune on it; distil from a teacher that
reads it), so they must see it; RL agents must not. :func:`references_for_agent` opens references only for
an agent that declares ``needs_reference = True`` (see :mod:`agents.protocol`), and the trainer passes the
result as ``update``'s separate ``references`` argument: it never enters a :class:`~agents.batch.Batch`, an
observation or ``info``, and an RL agent refuses any it is handed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from judges.problem import Problem, Reference

if TYPE_CHECKING:
    from agents.protocol import Agent


def references_for(problems: Sequence[Problem], problem_ids: Sequence[str]) -> list[Reference]:
    """The opened reference of each id, in order (ids from a batch; problems from the environment)."""
    by_id = {problem.id: problem for problem in problems}
    return [by_id[pid].reference.unseal() for pid in problem_ids]


def references_for_agent(
    agent: Agent, problems: Sequence[Problem], problem_ids: Sequence[str]
) -> list[Reference] | None:
    """What ``agent.update`` takes as ``references``: the opened references for an agent that declares the
    need, None for every other (an RL agent never sees one)."""
    return references_for(problems, problem_ids) if agent.needs_reference else None


def reference_response(reference: Reference, answer: str | None = None) -> str:
    """A reference written the way the policy is asked to answer: steps, then the boxed final answer
    (``answer`` replaces the reference's, e.g. to build a wrong-answer variant)."""
    final = reference.answer if answer is None else answer
    return "\n\n".join(reference.steps) + f"\n\nThe final answer is \\boxed{{{final}}}."


TEACHER_CONTEXT = (
    "A correct reference solution to the problem follows. Use it to reason well, but write your own solution "
    "step by step and do not mention that you were given a reference.\n\n{reference}"
)
