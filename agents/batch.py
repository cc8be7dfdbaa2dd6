"""What every agent's update receives: sampled responses, their rewards, and the judge's step credit.

Built by the trainer from the policy's samples and the vector env's step. It carries problem ids, never
problems: a reference cannot reach an RL agent through it. (SFT and self-distillation get references
through :mod:`agents.privileged`, which the trainer calls only for agents that declare the need.)
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np
import torch

from agents.policy import Sample


@attrs.frozen
class Batch:
    samples: tuple[Sample, ...]
    """One sampled response per rollout."""
    rewards: torch.Tensor
    """[B] reward per rollout; NaN where the judge could not judge (masked, never 0)."""
    groups: torch.Tensor
    """[B] group index: rollouts of the same problem share one (GRPO normalises within it)."""
    reward_kind: str
    """``sparse``, ``outcome`` or ``process``."""
    step_scores: tuple[tuple[float, ...] | None, ...]
    """Per rollout, the judge's cumulative progress after each step (``Verdict.step_scores``), else None."""
    step_spans: tuple[tuple[tuple[int, int], ...] | None, ...]
    """Per rollout, each judged step's character span in the response text."""
    problem_ids: tuple[str, ...]
    prompts: tuple[str, ...] = ()
    """The observation (prompt text) of each rollout: public, what the policy was shown."""
    temperature: float = 1.0
    """The sampling temperature: log-probs for the loss are taken from the same tempered distribution."""
    step_ratings: tuple[tuple[float, ...] | None, ...] = ()
    """Per rollout, the judge's own rating of each step (``Verdict.step_ratings``), else None; () when not given."""

    def __len__(self) -> int:
        return len(self.samples)


def _column(infos: dict, key: str, n: int) -> list:
    values, present = infos.get(key), infos.get(f"_{key}")
    if values is None:
        return [None] * n
    return [values[i] if present is None or present[i] else None for i in range(n)]


def batch_from_step(
    samples: Sequence[Sample],
    prompts: Sequence[str],
    rewards: np.ndarray,
    infos: dict,
    group_size: int,
    reward_kind: str,
    temperature: float,
) -> Batch:
    """The batch for one vector-env step whose envs were reset group by group (``group_size`` each)."""
    n = len(samples)
    scores = [tuple(s) if s is not None else None for s in _column(infos, "step_scores", n)]
    ratings = [tuple(s) if s is not None else None for s in _column(infos, "step_ratings", n)]
    spans = [tuple(tuple(span) for span in s) if s is not None else None for s in _column(infos, "step_spans", n)]
    return Batch(
        samples=tuple(samples),
        rewards=torch.tensor(np.asarray(rewards, dtype=np.float64), dtype=torch.float32),
        groups=torch.arange(n) // group_size,
        reward_kind=reward_kind,
        step_scores=tuple(scores),
        step_spans=tuple(spans),
        problem_ids=tuple(_column(infos, "problem_id", n)),
        prompts=tuple(prompts),
        temperature=temperature,
        step_ratings=tuple(ratings),
    )
