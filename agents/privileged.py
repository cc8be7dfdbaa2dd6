"""The one channel through which reference solutions reach an agent: the SFT and self-distillation baselines.

Both baselines are defined by their use of the reference (fine-tune on it; distil from a teacher that
reads it), so they must see it; RL agents must not. The trainer calls :func:`references_for` only for an
agent whose class declares ``needs_reference = True``, and passes the result as a separate argument to
``update``: it never enters a :class:`~agents.batch.Batch`, an observation or ``info``.
"""

from __future__ import annotations

from typing import Sequence

from judges.problem import Problem, Reference


def references_for(problems: Sequence[Problem], problem_ids: Sequence[str]) -> list[Reference]:
    """The opened reference of each id, in order (ids from a batch; problems from the environment)."""
    by_id = {problem.id: problem for problem in problems}
    return [by_id[pid].reference.unseal() for pid in problem_ids]


def reference_response(reference: Reference, answer: str | None = None) -> str:
    """A reference written the way the policy is asked to answer: steps, then the boxed final answer
    (``answer`` replaces the reference's, e.g. to build a wrong-answer variant)."""
    final = reference.answer if answer is None else answer
    return "\n\n".join(reference.steps) + f"\n\nThe final answer is \\boxed{{{final}}}."


TEACHER_CONTEXT = (
    "A correct reference solution to the problem follows. Use it to reason well, but write your own solution "
    "step by step and do not mention that you were given a reference.\n\n{reference}"
)
