"""What the policy is told: the paper's minimal instruction plus the question, and nothing else.

ExpRL tells the policy only to reason step by step and box the final answer; the step structure the
process judge scores comes from the policy's own text. Changing this text changes what the
environment means, so it bumps the environment version (``-v0`` -> ``-v1``).
"""

from __future__ import annotations

INSTRUCTION = "Solve the following problem. Reason step by step, and put your final answer in \\boxed{}."
STEP_SEPARATOR = "\n\n"


def build_prompt(question: str) -> str:
    """The observation at reset: instruction, blank line, question."""
    return f"{INSTRUCTION}\n\n{question}"


def join_steps(steps: list[str]) -> tuple[str, tuple[tuple[int, int], ...]]:
    """The response made of step-mode actions, and each step's character span within it."""
    spans, position = [], 0
    for step in steps:
        spans.append((position, position + len(step)))
        position += len(step) + len(STEP_SEPARATOR)
    return STEP_SEPARATOR.join(steps), tuple(spans)
