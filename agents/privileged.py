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
"""Our earlier teacher context (``teacher_prompt="system"``): a system turn before the student's unchanged prompt."""

TEACHER_USER_TURN = (
    "Problem: {problem}\n\n"
    "A reference solution to it: {reference}\n\n"
    "Once you have understood the reference solution, solve the problem below in your own way.\n"
)
"""The authors' teacher prompt (``teacher_prompt="user"``), in our words with their structure: one user turn holding
the problem, then the reference solution, then the request to solve it after understanding the reference
(``stage1_verl/verl/trainer/ppo/ray_onpolicy_distill.py:1005-1008``, built as the only turn at 1017-1018)."""


def teacher_messages(problem: str, reference: Reference, turn: str) -> tuple[str | None, str]:
    """(system turn or None, user turn) of the self-distillation teacher's prompt.

    ``turn="user"``: the authors' form, the reference inside the user turn after the problem, no system turn.
    ``turn="system"``: ours before issue 13, the reference in a system turn before the student's own prompt.
    """
    written = reference_response(reference)
    if turn == "user":
        return None, TEACHER_USER_TURN.format(problem=problem, reference=written)
    if turn == "system":
        return TEACHER_CONTEXT.format(reference=written), problem
    raise ValueError(f"teacher_prompt must be 'user' or 'system', got {turn!r}")
