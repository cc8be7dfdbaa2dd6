"""Grade-school word problems from reasoning-gym's ``gsm_symbolic`` generator, with worked solutions."""

from __future__ import annotations

from exprl_env.checks import check_int, check_number
from judges.problem import Problem, SealedReference


def _cot_steps(answer_cot: str) -> tuple[str, ...]:
    """The worked solution's lines, minus GSM8K's trailing ``#### answer`` marker line."""
    lines = [line.strip() for line in answer_cot.splitlines() if line.strip()]
    return tuple(line for line in lines if not line.startswith("####"))


def load_gsm(size: int = 500, seed: int = 0, difficulty: float = 1.0) -> list[Problem]:
    """``size`` generated problems; the reference is ``metadata["answer_cot"]`` and the answer field."""
    size, seed = check_int("size", size, minimum=1), check_int("seed", seed)
    difficulty = check_number("difficulty", difficulty, low=0.0)
    import reasoning_gym

    dataset = reasoning_gym.create_dataset("gsm_symbolic", size=size, seed=seed, difficulty=difficulty)
    return [
        Problem(
            id=f"gsm-{seed}-{index}",
            domain="gsm",
            question=entry["question"],
            reference=SealedReference(_cot_steps(entry["metadata"]["answer_cot"]), str(entry["answer"])),
            metadata={"difficulty": difficulty},
        )
        for index, entry in enumerate(dataset)
    ]
