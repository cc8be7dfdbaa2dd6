"""TRL's ``GRPOTrainer`` on exprl environments: the problems as a dataset, the judge as a reward function, and the
authors' per-step process advantages in TRL's loss.

    dataset = to_hf_dataset("ExpRL-Arith-v0", n_ops=1)
    reward = make_reward("ExpRL-Arith-v0", "process", eos_token_id=tokenizer.eos_token_id, n_ops=1)
    trainer = ExpRLGRPOTrainer(model=path, reward_funcs=reward, args=GRPOConfig(...), train_dataset=dataset,
                               processing_class=tokenizer)
    trainer.train()

Why it is built this way:

- The dataset has two columns: ``prompt`` (one user turn holding the environment's observation, which TRL
  chat-templates exactly as :meth:`agents.policy.Policy.prompt_ids` does) and ``problem_id``. TRL passes every
  column but the prompt to reward functions, so the id reaches the judge and the reference never leaves it.
- :func:`make_reward` returns a real ``async def`` (TRL tells async from sync with ``inspect.iscoroutinefunction``).
  Each call resets an exprl vector env on the batch's problem ids and steps it with the completions: one batched
  judge call, paying what our trainer pays for the same text (the authors' length rule included), ``None`` for an
  unscorable verdict (TRL leaves such a row out of the group statistics and gives it advantage 0, where our trainer
  drops it from the loss: in TRL its tokens still count in the loss's token normaliser and its KL term). What the
  judge counted and how many rollouts were unscorable, by cause, go to TRL's ``log_metric``.
- A reward function returns one number per completion, so a process reward through a plain ``GRPOTrainer`` is the
  final score s_K: DeltaNorm is lost. :class:`ExpRLGRPOTrainer` puts the per-token step advantages
  (:func:`agents.grpo.process_advantages`, what our GRPO agent uses, on the judge's spans mapped to TRL's completion
  tokens by :func:`agents.policy.step_of_token`) in place of TRL's per-sequence ones. That relies on TRL internals
  (``_generate_and_score_completions`` and the keys of its output), so it refuses any TRL but the tested one.
"""

from __future__ import annotations

import asyncio
import functools
import math
import threading
import time
from collections.abc import Sequence
from typing import Any

import attrs
import gymnasium as gym
import torch
from packaging.specifiers import SpecifierSet
from packaging.version import Version

try:
    import trl
    from trl import GRPOTrainer
except ImportError as missing:  # the adapter is an optional extra
    raise ImportError('agents.integrations.trl needs TRL: pip install "exprl[trl]" (trl>=1.16,<1.17)') from missing

from agents import objectives as ob
from agents.batch import Batch, batch_from_step, info_column, require_step_values, zero_truncated
from agents.grpo import process_advantages
from agents.policy import Sample, step_of_token
from agents.trainer import TRUNCATED_REWARDS, judge_counters, unscorable_by_cause
from exprl_env.env import REWARDS, ExpRLEnv
from exprl_env.vector import ExpRLVectorEnv

TESTED_TRL = ">=1.16,<1.17"
"""The TRL versions :class:`ExpRLGRPOTrainer` is tested with (it overrides a private method)."""
TOKEN_LOSSES = ("grpo", "bnpo", "dr_grpo", "dapo", "cispo", "sapo")
"""TRL loss types that weigh each token by its own advantage; the others (``vespo``, ``luspo``) branch on or sum
a per-sequence advantage, which per-token step advantages do not fit."""
GROUP_NORMS = ("group", "group_final")


@attrs.frozen
class RewardConfig:
    """What one exprl reward function for TRL pays (see :func:`make_reward`)."""

    env_id: str
    """The registered environment id."""
    reward: str = attrs.field(validator=attrs.validators.in_(REWARDS))
    """sparse, outcome or process."""
    process_norm: str = attrs.field(default="delta", validator=attrs.validators.in_(ob.PROCESS_NORMS))
    """The process advantage :class:`ExpRLGRPOTrainer` trains on (see :class:`agents.grpo.GRPOConfig`)."""
    truncated_reward: str = attrs.field(default="zero", validator=attrs.validators.in_(TRUNCATED_REWARDS))
    """zero (the authors' rule: a completion that did not end in an end-of-sequence token earns 0 and all-zero step
    values, and stays in the loss) or judge (paid as judged). Sparse rewards are paid as checked either way."""
    eos_token_ids: tuple[int, ...] = ()
    """The tokens that end a completion: how a finished completion is told from one cut at the length cap."""

    @property
    def zeroes_truncated(self) -> bool:
        return self.truncated_reward == "zero" and self.reward != "sparse"


def to_hf_dataset(env_id: str, split: str = "train", *, problem_ids: Sequence[str] | None = None, **env_kwargs):
    """A ``datasets.Dataset`` of an environment's problems for TRL: ``prompt`` (one user turn, the observation) and
    ``problem_id``, never the reference. ``problem_ids`` picks and orders rows (repeats allowed; e.g. our trainer's
    order, :func:`agents.trainer.step_problem_ids`); by default every problem of the split, in the env's order."""
    from datasets import Dataset

    env = gym.make(env_id, split=split, **env_kwargs).unwrapped
    ids = [p.id for p in env.problems] if problem_ids is None else list(problem_ids)
    prompts = [env.reset(options={"problem_id": i})[0] for i in ids]
    return Dataset.from_dict({"prompt": [[{"role": "user", "content": p}] for p in prompts], "problem_id": ids})


class ExpRLReward:
    """The state behind one reward function: the environment's problems and judge, a vector env per batch size,
    the judge's counts at the last call, and the batch it last judged (which :class:`ExpRLGRPOTrainer` takes)."""

    def __init__(self, config: RewardConfig, env: ExpRLEnv):
        self.config, self.env = config, env
        self._envs: dict[int, ExpRLVectorEnv] = {}
        self._lock = threading.Lock()
        self._counts = judge_counters(env.judge)
        self.last: Batch | None = None

    def score(self, problem_ids, prompts, completions, completion_ids) -> tuple[Batch, dict[str, float], list]:
        """Judge one TRL batch in one call: the batch (rewards NaN where unscorable, the length rule applied), the
        metrics for ``log_metric`` and each row's verdict cause."""
        with self._lock:
            started = time.perf_counter()
            texts = [completion_text(c) for c in completions]
            envs = self._vector_env(len(texts))
            observations, _ = envs.reset(options={"problem_id": _checked_ids(problem_ids, len(texts))})
            _check_prompts(prompts, observations, problem_ids)
            _, rewards, _, _, infos = envs.step(texts)
            samples = [Sample((), tuple(ids), text, self._finished(ids)) for ids, text in zip(completion_ids, texts)]
            batch = batch_from_step(
                samples, observations, rewards, infos, len(texts), self.config.reward, 1.0, judge=self.env.judge.name
            )
            zeroed = 0
            if self.config.zeroes_truncated:
                batch, zeroed = zero_truncated(batch)
            self.last = batch
            metrics = {**self._metrics(batch, infos, zeroed), "seconds_reward": time.perf_counter() - started}
            return batch, metrics, info_column(infos, "verdict_cause", len(texts))

    def take(self) -> Batch:
        """The batch judged last, once: a trainer that finds none did not call this reward function."""
        batch, self.last = self.last, None
        if batch is None:
            raise RuntimeError(
                f"the exprl reward function was not called while TRL scored this batch; ExpRLGRPOTrainer relies on "
                f"GRPOTrainer internals and is tested with trl{TESTED_TRL} only (installed: {trl.__version__})"
            )
        return batch

    def _vector_env(self, n: int) -> ExpRLVectorEnv:
        if n not in self._envs:
            base = self.env
            self._envs[n] = ExpRLVectorEnv(
                num_envs=n, problems=base.problems, judge=base.judge, reward=base.reward_mode, max_chars=base.max_chars
            )
        return self._envs[n]

    def _finished(self, ids: Sequence[int]) -> bool:
        """Whether a completion ended by itself (True when no end tokens were given: nothing is zeroed then)."""
        return not self.config.eos_token_ids or (len(ids) > 0 and int(ids[-1]) in self.config.eos_token_ids)

    def _metrics(self, batch: Batch, infos: dict, zeroed: int) -> dict[str, float]:
        before, self._counts = self._counts, judge_counters(self.env.judge)
        return {
            "unscorable": float((~torch.isfinite(batch.rewards)).sum()),
            **unscorable_by_cause(infos),
            "truncated_zeroed": float(zeroed),
            **{f"judge_{k}": v - before.get(k, 0) for k, v in self._counts.items()},
        }


def make_reward(
    env_id: str,
    reward: str = "outcome",
    judge: Any = None,
    *,
    split: str = "train",
    eos_token_id: int | Sequence[int] | None = None,
    truncated_reward: str = "zero",
    process_norm: str = "delta",
    **env_kwargs: Any,
):
    """A reward function for ``GRPOTrainer(reward_funcs=...)``: ``async def exprl_<reward>(prompts, completions,
    completion_ids, problem_id, log_metric=None, log_extra=None, **kwargs) -> list[float | None]``.

    ``judge`` and ``env_kwargs`` are the environment's (a judge name, ``"module:attr"`` or instance;
    ``judge_kwargs=``, domain options); give the dataset (:func:`to_hf_dataset`) the same env id, split and domain
    options. ``eos_token_id`` (one id or several: every token the model stops on) is needed by the authors' length
    rule (``truncated_reward="zero"``, the default for outcome and process rewards). ``process_norm`` is what
    :class:`ExpRLGRPOTrainer` trains a process reward with; a plain ``GRPOTrainer`` gets the final process score.
    The function carries its state as ``.exprl`` (an :class:`ExpRLReward`).
    """
    eos = (eos_token_id,) if isinstance(eos_token_id, int) else tuple(int(i) for i in eos_token_id or ())
    config = RewardConfig(env_id, reward, process_norm, truncated_reward, eos)
    if config.zeroes_truncated and not eos:
        raise ValueError(
            "truncated_reward='zero' (the authors' length rule: a completion cut off at the length cap earns 0) "
            "needs eos_token_id= (e.g. tokenizer.eos_token_id, and any other token the model stops on) to tell a "
            "finished completion from a cut-off one; or pass truncated_reward='judge' to pay every completion as judged"
        )
    if env_kwargs.get("step_mode", "completion") != "completion":
        raise ValueError("a TRL completion is a whole response: make_reward needs step_mode='completion'")
    env = gym.make(env_id, split=split, reward=reward, judge=judge, **env_kwargs).unwrapped
    if reward == "process":
        require_step_values(env.judge, "ratings" if process_norm in ob.AUTHORS_NORMS else "progress", process_norm)
    state = ExpRLReward(config, env)

    async def exprl_reward(
        prompts, completions, completion_ids, problem_id=None, log_metric=None, log_extra=None, **kwargs
    ):
        batch, metrics, causes = await asyncio.to_thread(state.score, problem_id, prompts, completions, completion_ids)
        if log_metric is not None:
            for name, value in metrics.items():
                log_metric(f"exprl/{name}", value)
        if log_extra is not None:
            log_extra("exprl_verdict_cause", causes)
        return [None if math.isnan(r) else r for r in batch.rewards.tolist()]

    exprl_reward.__name__ = exprl_reward.__qualname__ = f"exprl_{reward}"
    exprl_reward.exprl = state
    return exprl_reward


def completion_text(completion: Any) -> str:
    """The response text of one TRL completion: a string, or a conversation of one assistant message."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and len(completion) == 1 and isinstance(completion[0].get("content"), str):
        return completion[0]["content"]
    raise TypeError(
        "an exprl judge scores one text response per completion: a string or one assistant message with text "
        f"content, got {type(completion).__name__} of {len(completion) if isinstance(completion, list) else 1} "
        "(tool calls and multimodal completions are not supported)"
    )


def _checked_ids(problem_ids: Any, n: int) -> list[str]:
    if problem_ids is None:
        raise ValueError(
            "the TRL dataset has no problem_id column, so the judge cannot tell which problem a completion answers: "
            "build it with agents.integrations.trl.to_hf_dataset"
        )
    if len(problem_ids) != n:
        raise ValueError(f"got {len(problem_ids)} problem ids for {n} completions")
    return list(problem_ids)


def _check_prompts(prompts: Sequence[Any], observations: Sequence[str], problem_ids: Sequence[str]) -> None:
    """A prompt whose user turn is not the environment's prompt for its problem means the dataset and the reward
    were built from different environments (another domain option, another split): an error, never a wrong reward."""
    for prompt, observation, problem_id in zip(prompts, observations, problem_ids):
        text = prompt if isinstance(prompt, str) else prompt[-1].get("content") if prompt else None
        if isinstance(text, str) and text != observation:
            raise ValueError(
                f"the prompt TRL sampled for problem {problem_id!r} is not the environment's prompt for it: build "
                "the dataset (to_hf_dataset) and the reward (make_reward) with the same env id, split and options"
            )


def check_trl_version(version: str | None = None) -> None:
    """Refuse a TRL other than the tested one, naming both (the trainer subclass relies on its internals)."""
    version = version or trl.__version__
    if Version(version) not in SpecifierSet(TESTED_TRL):
        raise RuntimeError(
            f"ExpRLGRPOTrainer overrides GRPOTrainer._generate_and_score_completions, a private method, and is tested "
            f'with trl{TESTED_TRL} only; trl {version} is installed. Install "trl{TESTED_TRL}" (pip install '
            '"exprl[trl]"), or use make_reward with a plain GRPOTrainer (outcome rewards; process: the final score).'
        )


class ExpRLGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` that trains an exprl process reward on per-token step advantages (the authors' DeltaNorm by
    default: ``make_reward(..., "process", process_norm=...)``), as our GRPO agent does; with any other reward
    functions it is ``GRPOTrainer`` unchanged. See the module docstring for what it relies on."""

    def __init__(self, *args: Any, **kwargs: Any):
        check_trl_version()
        super().__init__(*args, **kwargs)
        self.exprl_process = _process_reward(self.reward_funcs)
        if self.exprl_process is not None:
            _check_process_setup(self, self.exprl_process.config)

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        output = super()._generate_and_score_completions(inputs)
        if self.exprl_process is None:
            return output
        mode, started = "train" if self.model.training else "eval", time.perf_counter()
        groups = self.num_generations if mode == "train" else self.num_generations_eval
        advantages = self._step_advantages(self.exprl_process.take(), output, groups)
        scored, mask = torch.isfinite(advantages).all(dim=1), output["completion_mask"].cpu().float()
        metrics = self._metrics[mode]
        size = ob.masked_mean(advantages[scored].abs(), mask[scored]).item()
        metrics["exprl/process_advantage_abs_mean"].append(size)
        metrics["exprl/seconds_step_advantages"].append(time.perf_counter() - started)
        output["advantages"] = torch.nan_to_num(advantages, nan=0.0).to(output["completion_ids"].device)
        return output

    def _step_advantages(self, batch: Batch, output: dict[str, Any], group_size: int) -> torch.Tensor:
        """[B, T] step advantages on TRL's padded completion tokens; NaN rows where the judge could not score."""
        tokenizer = getattr(self.processing_class, "tokenizer", self.processing_class)
        _check_alignment(batch, output["completion_ids"], tokenizer)
        batch = attrs.evolve(
            batch, groups=torch.arange(len(batch)) // group_size, max_new_tokens=self.max_completion_length
        )
        norm = self.exprl_process.config.process_norm
        per_token = process_advantages(batch, norm, functools.partial(step_of_token, tokenizer))
        advantages = torch.zeros(output["completion_ids"].shape)
        advantages[:, : per_token.shape[1]] = per_token
        advantages[~torch.isfinite(per_token).all(dim=1)] = math.nan
        return advantages


def _process_reward(reward_funcs: Sequence[Any]) -> ExpRLReward | None:
    """The state of the exprl process reward among TRL's reward functions, if there is one (then it must be alone:
    its step advantages replace TRL's, so another reward function would be silently ignored)."""
    states = [getattr(f, "exprl", None) for f in reward_funcs]
    process = [s for s in states if isinstance(s, ExpRLReward) and s.config.reward == "process"]
    if process and len(reward_funcs) > 1:
        raise ValueError(
            "an exprl process reward trains on its own per-token step advantages, which replace TRL's: give it as "
            f"the only reward function (got {len(reward_funcs)})"
        )
    return process[0] if process else None


def _check_process_setup(trainer: GRPOTrainer, config: RewardConfig) -> None:
    """Settings under which per-token step advantages would be wrong are errors before training starts."""
    if trainer.loss_type not in TOKEN_LOSSES:
        raise ValueError(
            f"loss_type={trainer.loss_type!r} weighs whole sequences; per-token step advantages need one of "
            f"{TOKEN_LOSSES}"
        )
    if config.process_norm in GROUP_NORMS and trainer.accelerator.num_processes > 1:
        raise ValueError(
            f"process_norm={config.process_norm!r} needs a whole group's verdicts, which TRL spreads over "
            f"{trainer.accelerator.num_processes} processes; use delta, end or delta_zero, or one process"
        )
    missing = sorted(set(trainer.eos_token_ids) - set(config.eos_token_ids))
    if config.zeroes_truncated and missing:
        raise ValueError(
            f"TRL stops generation at tokens {sorted(trainer.eos_token_ids)} but the reward was told only "
            f"{list(config.eos_token_ids)}: a completion ending in {missing} would be paid 0 as cut off. Pass "
            "make_reward(..., eos_token_id=trainer.eos_token_ids)"
        )


def _check_alignment(batch: Batch, completion_ids: torch.Tensor, tokenizer) -> None:
    """The judged rows are TRL's rows, and each judged text is its tokens' decoded text (so the judge's character
    spans land on the right tokens); anything else is a TRL change this adapter does not know."""
    if len(batch) != len(completion_ids):
        raise RuntimeError(f"the exprl reward judged {len(batch)} completions but TRL scored {len(completion_ids)}")
    for i, sample in enumerate(batch.samples):
        ids = sample.response_ids
        if tuple(completion_ids[i, : len(ids)].tolist()) != ids:
            raise RuntimeError(f"completion {i}: the judged tokens are not TRL's (trl {trl.__version__})")
        if batch.step_spans[i] and tokenizer.decode(ids, skip_special_tokens=True) != sample.text:
            raise ValueError(
                f"completion {i}: the judged text is not its tokens' decoded text (a parsed or tool-calling "
                "response?), so step spans cannot be put on its tokens"
            )
