"""Multi-step integer arithmetic with a generated worked solution, difficulty set by kwargs.

The point of this domain is control: SmolLM2-135M answers one-operation questions a few times in 24
and longer ones almost never, so ``n_ops`` and ``max_operand`` put the sparse base rate where a study
needs it. The worked solution evaluates one operation per step in the usual order (``*`` before
``+``/``-``, then left to right), which is exactly the step structure a process judge rewards.
"""

from __future__ import annotations

import operator
import random
from collections.abc import Callable

from exprl_env.checks import check_int, check_str
from judges.problem import Problem, SealedReference

_APPLY = {"+": operator.add, "-": operator.sub, "*": operator.mul}


def worked_steps(
    operands: list[int], operators: list[str], slip: Callable[[int], int] | None = None
) -> tuple[list[str], int]:
    """Evaluate ``operands[0] op operands[1] ...`` one operation at a time; returns (steps, value).

    ``slip`` (the testbed's pretraining noise) may replace each step's result: later steps carry on from the
    slipped value, as a solver who miscalculates once and goes on does."""
    values, ops, steps = list(operands), list(operators), []
    while ops:
        index = ops.index("*") if "*" in ops else 0
        left, right, op = values[index], values[index + 1], ops[index]
        result = _APPLY[op](left, right)
        result = result if slip is None else slip(result)
        steps.append(f"{left} {op} {right} = {result}")
        values[index : index + 2] = [result]
        del ops[index]
    return steps, values[0]


def load_arith(
    size: int = 1000, seed: int = 0, n_ops: int = 2, max_operand: int = 20, operators: str = "+-*"
) -> list[Problem]:
    """``size`` problems of ``n_ops`` operations on integers in [1, max_operand], drawn from ``operators``."""
    size, n_ops, max_operand = (
        check_int(name, value, minimum=1)
        for name, value in [("size", size), ("n_ops", n_ops), ("max_operand", max_operand)]
    )
    seed = check_int("seed", seed)
    check_str("operators", operators)
    unknown = sorted(set(operators) - set(_APPLY))
    if unknown or not operators:
        raise ValueError(f"operators must be a non-empty string over '+-*', got {operators!r}")
    rng = random.Random(seed)
    problems = []
    for index in range(size):
        operands = [rng.randint(1, max_operand) for _ in range(n_ops + 1)]
        ops = [rng.choice(operators) for _ in range(n_ops)]
        expression = " ".join(f"{a} {op}" for a, op in zip(operands, ops)) + f" {operands[-1]}"
        steps, value = worked_steps(operands, ops)
        problems.append(
            Problem(
                id=f"arith-{seed}-{n_ops}-{max_operand}-{index}",
                domain="arith",
                question=f"What is {expression}?",
                reference=SealedReference(tuple(steps), str(value)),
                metadata={"n_ops": n_ops, "max_operand": max_operand},
            )
        )
    return problems
