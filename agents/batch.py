"""What every agent's update receives: sampled responses, their rewards, and the judge's step credit.

Built by the trainer from the policy's samples and the vector env's step. It carries problem ids, never
problems: a reference cannot reach an RL agent through it. (SFT and self-distillation get references
through :mod:`agents.privileged`, which the trainer calls only for agents that declare the need.)
"""

from __future__ import annotations

import math
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
    max_new_tokens: int | None = None
    """The token cap the responses were sampled under (the authors' GroupNorm divides by it); None: unknown."""
    judge: str = ""
    """The name of the judge that paid the rewards (for error messages)."""

    def __len__(self) -> int:
        return len(self.samples)

    def ratings(self, i: int) -> tuple[float, ...] | None:
        """Rollout i's step ratings r_k, or None."""
        return self.step_ratings[i] if self.step_ratings else None

    def step_values(self, i: int, kind: str, norm: str = "") -> tuple[float, ...]:
        """Rollout i's step values of one kind (see :func:`step_values`)."""
        where = f"rollout {i} (problem {self.problem_ids[i]!r})"
        return step_values(self.step_scores[i], self.ratings(i), float(self.rewards[i]), kind, norm, self.judge, where)


def step_values(
    scores: tuple[float, ...] | None,
    ratings: tuple[float, ...] | None,
    reward: float,
    kind: str,
    norm: str = "",
    judge: str = "",
    where: str = "a rollout",
) -> tuple[float, ...]:
    """A scorable rollout's step values of one kind: ``"ratings"`` (each step's own rating r_k, what the authors'
    norms difference) or ``"progress"`` (cumulative progress s_k; from a judge that only rates steps, its ratings, by
    the environment's rule: it pays such a judge's last rating as the process score).

    A rollout the environment paid without a verdict (an over-long response: reward 0, nothing judged) has one step
    worth its reward. A verdict without the kind asked for is a :class:`MissingStepValues` error naming the judge,
    the field and ``norm``: never a silent substitute of the other kind.
    """
    if not scores and not ratings:
        return (reward,)
    if kind == "ratings":
        if ratings:
            return ratings
        raise MissingStepValues(
            f"process_norm={norm!r} differences each step's own rating (Verdict.step_ratings), but judge "
            f"{judge or '?'!r} gave none for {where}: it gives only step_scores (cumulative progress). Use a judge "
            "that rates steps, or process_norm='delta_zero' or 'group_final', which difference cumulative progress."
        )
    return scores or ratings


class MissingStepValues(ValueError):
    """An advantage needs a kind of step value (ratings or progress) that the judge's verdicts do not carry."""


def require_step_values(judge, kind: str, norm: str) -> None:
    """Before training: a judge that declares its ``step_values`` must give the kind a process norm differences
    (a judge that declares nothing is checked at its first verdicts, by :meth:`Batch.step_values`)."""
    declared = getattr(judge, "step_values", None)
    if declared is not None and kind not in declared and not (kind == "progress" and "ratings" in declared):
        field = "step_ratings (each step's own rating)" if kind == "ratings" else "step_scores (cumulative progress)"
        raise MissingStepValues(
            f"process_norm={norm!r} differences {field}, but judge {getattr(judge, 'name', '?')!r} gives "
            f"{' and '.join(declared) or 'no step values'}. Use a judge that does, or another process_norm "
            "(delta, end, group: ratings; delta_zero, group_final: progress)."
        )


def info_column(infos: dict, key: str, n: int) -> list:
    """One key of a vector-env step's ``infos`` as a list of n values, None where an env did not set it."""
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
    max_new_tokens: int | None = None,
    judge: str = "",
) -> Batch:
    """The batch for one vector-env step whose envs were reset group by group (``group_size`` each)."""
    n = len(samples)
    scores = [tuple(s) if s is not None else None for s in info_column(infos, "step_scores", n)]
    ratings = [tuple(s) if s is not None else None for s in info_column(infos, "step_ratings", n)]
    spans = [tuple(tuple(span) for span in s) if s is not None else None for s in info_column(infos, "step_spans", n)]
    return Batch(
        samples=tuple(samples),
        rewards=torch.tensor(np.asarray(rewards, dtype=np.float64), dtype=torch.float32),
        groups=torch.arange(n) // group_size,
        reward_kind=reward_kind,
        step_scores=tuple(scores),
        step_spans=tuple(spans),
        problem_ids=tuple(info_column(infos, "problem_id", n)),
        prompts=tuple(prompts),
        temperature=temperature,
        step_ratings=tuple(ratings),
        max_new_tokens=max_new_tokens,
        judge=judge,
    )


def zero_truncated(batch: Batch) -> tuple[Batch, int]:
    """The authors' length rule on a judged batch: a response that hit the token cap without finishing earns 0 and
    all-zero step scores and ratings, and stays in the loss (ray_trainer_genrm.py:1087-1089 and 1176-1177 for the
    outcome score, 1302-1306 and 1447-1456 for the process reward tensor, with ``clip_length=True`` in every dense
    script). One whose verdict is unscorable stays unscorable: the authors zero only rollouts they do not mask
    (``if clip_reward_for_length and not (reward_tensor[i] == -100).any()``, line 1452), and a NaN is never made a 0.

    "Without finishing" is :attr:`Sample.finished` (no end-of-sequence token); the authors test ``length ==
    max_response_length``, which also zeroes a response whose end-of-sequence token is exactly the last one allowed.
    Returns the batch and how many rollouts it zeroed.
    """
    zeroed = [i for i, s in enumerate(batch.samples) if not s.finished and math.isfinite(float(batch.rewards[i]))]
    if not zeroed:
        return batch, 0
    rewards = batch.rewards.clone()
    rewards[zeroed] = 0.0

    def zeros(column: tuple) -> tuple:
        return tuple(tuple(0.0 for _ in v) if (i in zeroed and v) else v for i, v in enumerate(column))

    return attrs.evolve(
        batch, rewards=rewards, step_scores=zeros(batch.step_scores), step_ratings=zeros(batch.step_ratings)
    ), len(zeroed)
