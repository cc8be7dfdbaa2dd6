"""Advantage estimators registered with verl (``algorithm.adv_estimator=exprl_delta`` or ``exprl_grpo``).

verl computes advantages from ``token_level_rewards`` with a function looked up by name in
``verl.trainer.ppo.core_algos``'s registry (``register_adv_est``); registering these makes the authors' setup run on
stock verl instead of their fork. Both mask an unscorable response (NaN on its tokens) instead of paying it 0: its
advantage is 0 on every token, so it gives no policy gradient, and it is left out of every group statistic. (verl's
estimator interface returns advantages only, so the row's tokens still count in the token-mean denominator and in
a KL loss; verl has no per-row loss mask an estimator can set.)

- ``exprl_delta``: the token values written by :class:`~agents.integrations.verl.manager.ExpRLRewardManager`
  (DeltaNorm step advantages by default), used as they are: the authors apply no group normalisation to them.
- ``exprl_grpo``: GRPO over the scorable responses of each group (:func:`agents.objectives.group_advantages`, or
  :func:`~agents.objectives.centered_advantages` with ``algorithm.norm_adv_by_std_in_grpo=False``), for a sequence
  reward such as :func:`~agents.integrations.verl.scoring.compute_score`'s. Like exprl's own trainer it uses the
  population std (verl's ``grpo``: the unbiased one, a factor sqrt((n-1)/n) apart), and a group with one scorable
  response gives it 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from verl.trainer.ppo.core_algos import register_adv_est

from agents import objectives as ob

DELTA, GRPO = "exprl_delta", "exprl_grpo"


@register_adv_est(DELTA)
def compute_exprl_delta_advantage(
    token_level_rewards: torch.Tensor, response_mask: torch.Tensor, config: Any = None, **_: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """The token-level process rewards as advantages (and returns); a row with NaN on a response token gets 0."""
    if _option(config, "use_kl_in_reward", False):
        raise ValueError(
            f"{DELTA} uses the token rewards as advantages, so algorithm.use_kl_in_reward=True would add each token's "
            "KL penalty to its advantage; use actor_rollout_ref.actor.use_kl_loss=True (the authors' setting) instead"
        )
    valid = scorable_rows(token_level_rewards, response_mask)
    advantages = torch.where(valid[:, None], torch.nan_to_num(token_level_rewards, nan=0.0), 0.0) * response_mask
    return advantages, advantages


@register_adv_est(GRPO)
def compute_exprl_grpo_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index: np.ndarray,
    epsilon: float = 1e-6,
    norm_adv_by_std_in_grpo: bool = True,
    config: Any = None,
    **_: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GRPO over each group's scorable responses (the ``uid`` index); an unscorable response gets 0."""
    mask = response_mask.bool()
    scores = torch.where(mask, token_level_rewards, 0.0).sum(dim=-1)  # NaN stays NaN: the row is unscorable
    groups = torch.tensor(_group_codes(index))
    if _option(config, "norm_adv_by_std_in_grpo", norm_adv_by_std_in_grpo):
        per_response = ob.group_advantages(scores, groups, eps=epsilon)
    else:
        per_response = ob.centered_advantages(scores, groups)
    advantages = torch.nan_to_num(per_response, nan=0.0)[:, None] * response_mask
    return advantages, advantages


def scorable_rows(token_level_rewards: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """[B] True where every response token's reward is finite."""
    return torch.where(response_mask.bool(), token_level_rewards, 0.0).isfinite().all(dim=-1)


def _group_codes(index: Any) -> list[int]:
    codes: dict[Any, int] = {}
    return [codes.setdefault(uid, len(codes)) for uid in list(index)]


def _option(config: Any, key: str, default: Any) -> Any:
    """``config.key`` of verl's algorithm config (a dataclass with ``get``, or a dict), else ``default``."""
    if config is None:
        return default
    getter = getattr(config, "get", None)
    return getter(key, default) if getter is not None else getattr(config, key, default)
