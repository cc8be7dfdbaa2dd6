"""CHAMP (champ-dataset): 270 competition problems with human-written step-by-step solutions."""

from __future__ import annotations

from exprl_env.checks import check_str
from judges.problem import Problem, SealedReference


def load_champ(version: str = "v0") -> list[Problem]:
    """All CHAMP problems; the reference is the human solution steps and the final answer (``_answer``)."""
    check_str("version", version)
    import champ_dataset

    dataset = champ_dataset.load(version)
    return [
        Problem(
            id=problem.identifier,
            domain="math",
            question=problem.text,
            reference=SealedReference(tuple(step.text for step in problem.solution.steps), problem.answer),
            metadata={"category": problem.category},
        )
        for problem in dataset.problems.values()
    ]
