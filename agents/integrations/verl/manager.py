"""``ExpRLRewardManager``: a verl reward-loop manager that pays the authors' process reward token by token.

verl's reward loop calls ``run_single`` once per response and builds the ``rm_scores`` tensor with the manager's
``assemble_rm_scores``. Here ``run_single`` scores the response with the exprl environment (:mod:`.scoring`), maps
the judge's step spans onto the response tokens (the same linear incremental detokenisation as exprl's own trainer)
and returns one value per token: by default the authors' DeltaNorm step advantage of the token's step
(``process_norm="delta"``: r_k - r_{k-1}, step 1 r_1 - r_K, on each step's own rating). ``assemble_rm_scores`` lays
those values on the tokens, and the ``exprl_delta`` estimator (:mod:`.estimators`) uses them as advantages, as the
authors do (no group normalisation). An unscorable response is NaN on every token, masked by the estimator.
``reward="outcome"`` or ``"sparse"`` returns one value on the last token, like verl's own managers.

Where verl 0.9.1 uses this: it builds ``rm_scores`` with ``assemble_rm_scores`` only on its *colocated* reward path
(``reward.reward_model.enable=True``, ``enable_resource_pool=False``: a reward model served by verl, the authors'
LLM judge), and there it calls a manager only when ``reward.custom_reward_function.path`` is set. Its default
path (rewards computed inside the rollout's agent loop) keeps one float per response and writes it on the last
token itself, so a token-level reward cannot pass. The manager checks the config at start and refuses a process
reward on that path rather than lose the step structure silently; there, ``compute_score`` pays the outcome.

Options come from ``reward.reward_kwargs`` (as verl's DAPO manager reads its own): ``env_id`` and ``env_kwargs``
(for rows that carry no ``data_source`` / ``extra_info``: verl's v1 colocated path passes only the prompt, whose
problem is then found by its text), ``reward``, ``judge``, ``judge_kwargs``, ``process_norm`` (``delta``,
``delta_zero``, ``end``) and ``truncated_reward`` (``zero``: the authors' length rule, a response as long as
``actor_rollout_ref.rollout.response_length`` earns 0; ``judge``: pay it as judged).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import torch
from verl import DataProto
from verl.experimental.reward_loop.reward_manager import register
from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

from agents import objectives as ob
from agents.batch import step_values
from agents.integrations.verl.scoring import (
    Scored,
    exported_options,
    problem_id_of,
    row_label,
    scorer,
    with_reward_model_judge,
)
from agents.policy import steps_of_tokens
from exprl_env.checks import check_choice, check_mapping, check_str

MANAGER_NORMS = ("delta", "delta_zero", "end")
"""The process norms a per-response manager can compute (the group norms need the whole group)."""
REWARDS = ("sparse", "outcome", "process")
TRUNCATED_REWARDS = ("zero", "judge")


@attrs.frozen
class ManagerOptions:
    """``reward.reward_kwargs`` of an exprl reward manager."""

    env_id: str | None = None
    """The environment id for rows without ``data_source``."""
    env_kwargs: dict = attrs.field(factory=dict)
    """Environment options for rows without ``extra_info["exprl_env"]``."""
    reward: str = "process"
    """``process`` (token-level step advantages), ``outcome`` or ``sparse`` (one value per response)."""
    judge: str | None = None
    """A judge name overriding the rows' (None: the rows' own, else the environment's default)."""
    judge_kwargs: dict | None = None
    """The judge's options, overriding the rows'."""
    process_norm: str = "delta"
    """How step values become token values: ``delta`` (the authors' DeltaNorm), ``delta_zero``, ``end``."""
    truncated_reward: str = "zero"
    """``zero``: a response that reaches the token cap earns 0 (the authors' rule); ``judge``: paid as judged."""

    def __attrs_post_init__(self) -> None:
        check_str("reward_kwargs.env_id", self.env_id, optional=True)
        check_mapping("reward_kwargs.env_kwargs", self.env_kwargs)
        check_choice("reward_kwargs.reward", self.reward, REWARDS)
        check_str("reward_kwargs.judge", self.judge, optional=True)
        check_mapping("reward_kwargs.judge_kwargs", self.judge_kwargs)
        check_choice("reward_kwargs.process_norm", self.process_norm, MANAGER_NORMS)
        check_choice("reward_kwargs.truncated_reward", self.truncated_reward, TRUNCATED_REWARDS)

    @classmethod
    def from_config(cls, config: Any) -> ManagerOptions:
        raw = _plain(_get(_get(config, "reward"), "reward_kwargs")) or {}
        known = {field.name for field in attrs.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise TypeError(f"exprl reward manager: unknown reward.reward_kwargs {unknown}; it takes {sorted(known)}")
        return cls(**raw)

    def overrides(self) -> dict[str, Any]:
        """The scoring options these settings impose on every row."""
        chosen = {"reward": self.reward, "judge": self.judge, "judge_kwargs": self.judge_kwargs}
        return {key: value for key, value in chosen.items() if value is not None}


@register("exprl")
class ExpRLRewardManager(RewardManagerBase):
    """exprl's judge as a verl reward manager: token-level process rewards, NaN for unscorable (module docstring)."""

    def __init__(self, config, tokenizer, compute_score=None, reward_router_address=None, reward_model_tokenizer=None):
        super().__init__(config, tokenizer, compute_score)
        self.options = ManagerOptions.from_config(config)
        if self.options.reward == "process":
            check_token_path(config)
        self.reward_router_address = reward_router_address
        self.response_length = _get(_get(_get(config, "actor_rollout_ref"), "rollout"), "response_length")

    async def run_single(self, data: DataProto) -> dict:
        item = data[-1:][0]  # a multi-turn trajectory is scored on its last output, as verl's managers do
        ids = _response_ids(item)
        text = await self.loop.run_in_executor(None, self.decode, ids)
        scored = await self.loop.run_in_executor(None, self.score, item, text)
        finished = self.response_length is None or len(ids) < int(self.response_length)
        value = self.reward_value(scored, ids, finished)
        return {"reward_score": value, "reward_extra_info": scored.extras()}

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def score(self, item: Any, text: str) -> Scored:
        """Score one row: its environment from ``data_source`` (or ``env_id``), its problem from the row."""
        fields = item.non_tensor_batch
        extra_info = fields.get("extra_info")
        env_id = fields.get("data_source", self.options.env_id)
        where = row_label(extra_info, env_id)
        if env_id is None:
            raise ValueError(f"{where}: no data_source field, and reward.reward_kwargs.env_id is not set")
        options = exported_options(extra_info, where) if extra_info is not None else dict(self.options.env_kwargs)
        options.update(self.options.overrides())
        options = with_reward_model_judge(options, self.reward_router_address)
        problem_id = self.problem_id(fields, env_id, options, where)
        return scorer(env_id, options).score(problem_id, text, where)

    def problem_id(self, fields: Mapping, env_id: str, options: dict, where: str) -> str:
        reward_model = fields.get("reward_model")
        if reward_model is None and "raw_prompt" in fields:
            found = scorer(env_id, options).problem_id_for_prompt(_last_user_turn(fields["raw_prompt"]))
            if found is None:
                raise ValueError(f"{where}: no reward_model field, and the prompt is not one of {env_id}'s prompts")
            return found
        if not isinstance(reward_model, Mapping):
            raise ValueError(f"{where}: field reward_model must be a dict holding ground_truth (the problem id)")
        return problem_id_of(reward_model.get("ground_truth"), where)

    def reward_value(self, scored: Scored, ids: Sequence[int], finished: bool) -> float | list[float]:
        """One value per token (process) or one per response; NaN (every token) when unscorable."""
        zeroed = not finished and self.options.truncated_reward == "zero" and scored.scorable
        if self.options.reward != "process":
            return 0.0 if zeroed else scored.reward
        if not scored.scorable:
            return [math.nan] * len(ids)
        if zeroed:
            return [0.0] * len(ids)
        return token_values(scored, ids, self.options.process_norm, self.decode)

    @classmethod
    def assemble_rm_scores(cls, data: DataProto, scores: list) -> torch.Tensor:
        """``rm_scores``: a process row's values on its response tokens, a scalar on the last token."""
        prompt_length = data.batch["prompts"].size(1)
        lengths = data.batch["attention_mask"][:, prompt_length:].sum(dim=1).tolist()
        rm_scores = torch.zeros_like(data.batch["responses"], dtype=torch.float32)
        for row, (score, length) in enumerate(zip(scores, lengths)):
            if isinstance(score, Sequence):
                if len(score) != length:
                    raise ValueError(f"rm_scores row {row}: {len(score)} token values for {length} response tokens")
                rm_scores[row, :length] = torch.tensor(list(score), dtype=torch.float32)
            elif length > 0:
                rm_scores[row, length - 1] = float(score)
        return rm_scores


def token_values(scored: Scored, ids: Sequence[int], norm: str, decode) -> list[float]:
    """Each token's process advantage: its step's value under ``norm`` (:func:`agents.objectives.step_advantages`)."""
    info = scored.info
    kind = "ratings" if norm in ob.AUTHORS_NORMS else "progress"
    values = step_values(info.get("step_scores"), info.get("step_ratings"), scored.reward, kind, norm, scored.judge)
    steps = steps_of_tokens(decode, ids, info.get("step_spans"))
    return ob.process_token_advantages(values, steps, norm).tolist() if steps else []


def check_token_path(config: Any) -> None:
    """Refuse a process reward where verl 0.9.1 would reduce it to one float per response (module docstring)."""
    reward = _get(config, "reward")
    model = _get(reward, "reward_model")
    if not _get(model, "enable") or _get(model, "enable_resource_pool"):
        raise ValueError(
            "exprl reward manager: reward='process' writes one value per token, which verl 0.9.1 passes to training "
            "only on its colocated reward path (reward.reward_model.enable=True with enable_resource_pool=False); "
            "on the agent-loop path it keeps one float per response. Use that path, or reward_kwargs.reward="
            "'outcome' / custom_reward_function=agents.integrations.verl.scoring.compute_score for one value."
        )
    if not _get(_get(reward, "custom_reward_function"), "path"):
        raise ValueError(
            "exprl reward manager: with a reward model enabled, verl 0.9.1 calls a reward manager only when "
            "reward.custom_reward_function.path is set; set it to pkg://agents.integrations.verl.scoring "
            "(name compute_score)"
        )


def _response_ids(item: Any) -> list[int]:
    """The response's real tokens (verl right-pads responses; the attention mask's tail marks them)."""
    responses = item.batch["responses"]
    length = int(item.batch["attention_mask"][-responses.shape[-1] :].sum())
    return responses[:length].tolist()


def _last_user_turn(messages: Any) -> str:
    turns = [m for m in list(messages) if isinstance(m, Mapping) and m.get("role") == "user"]
    return str(turns[-1].get("content", "")) if turns else ""


def _get(node: Any, key: str) -> Any:
    """``node[key]`` for a dict or an OmegaConf config, None when absent."""
    if node is None:
        return None
    getter = getattr(node, "get", None)
    return getter(key) if getter is not None else getattr(node, key, None)


def _plain(node: Any) -> Any:
    """An OmegaConf node as plain Python containers (anything else unchanged)."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:
        return node
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig | ListConfig) else node
