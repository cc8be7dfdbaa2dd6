"""The ``paper`` preset: every hyperparameter of every arm as the authors set it, each with the file that sets it.

``exprl train --preset paper`` and ``exprl compare --preset paper`` start from these values; any flag the user
gives explicitly wins, and the command prints a table of the preset fields the user changed. The values are
read from the authors' public code (GitHub ``violetxi/ExpRL`` at dde1f7c); :data:`PAPER` cites the file (and
the key or line) for each. Paths starting ``qwen4b/`` are under
``stage1_verl/variational_inference/math/exp_rl/train_stage1/``, ``verl/`` under ``stage1_verl/``, and ``conf/``
under ``stage2_pipeline_rl/``.

An arm is a *role*: ``outcome``, ``process`` and ``sparse`` (GRPO with the judged outcome reward, the judged step
reward and the binary answer reward), ``self_distill``, ``sft``, and ``stage2`` (the authors' second stage,
PipelineRL PPO on the binary reward, continued from each stage-1 model). Each value belongs to a section: ``run``
(fields of :class:`agents.trainer.TrainConfig`, plus ``epochs``, which becomes ``steps`` once the number of
training problems is known), ``agent`` (the agent's config) or ``judge`` (options of the judge, for the roles
that a judge pays).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

PRESETS = ("paper", "paper-stage2")
"""``paper``: stage 1 (the role follows from the agent and the reward); ``paper-stage2``: the stage-2 recipe."""
PAPER_JUDGE_MODEL = "Qwen/Qwen3-4B-Instruct-2507"
ROLES = ("outcome", "process", "sparse", "self_distill", "sft", "stage2")
ROLE_AGENT = {
    "outcome": ("grpo", "outcome"),
    "process": ("grpo", "process"),
    "sparse": ("grpo", "sparse"),
    "self_distill": ("self_distill", None),
    "sft": ("sft", None),
    "stage2": ("grpo", "sparse"),
}
"""The agent (and reward, where the agent's update uses it) each role trains with."""


class PresetError(ValueError):
    """A preset asked for where it has no values (an unknown name, or an agent the authors did not run)."""


@attrs.frozen
class PaperValue:
    """One of the authors' settings."""

    role: str
    """The arm it belongs to (see :data:`ROLES`)."""
    section: str
    """run, agent or judge."""
    field: str
    """The exprl field it sets."""
    value: Any
    """The authors' value, in exprl's terms."""
    source: str
    """Where the authors set it: file and key or line."""


OUTCOME = "qwen4b/dense_outcome.sh"
PROCESS = "qwen4b/dense_pr_delta.sh"
SPARSE = "qwen4b/grpo.sh"
DISTILL = "qwen4b/self_distill_lr1e-7.sh"
SFT = "qwen4b/sft.sh"
STAGE2 = "conf/exp_stage2_grpo.yaml (the same in exp_stage2_{dense_outcome,dense_process,self_distill,sft}.yaml)"
STAGE2_BASE = "conf/finetune/base.yaml"
ACTOR = "verl/trainer/config/actor/actor.yaml"
DP_ACTOR = "verl/trainer/config/actor/dp_actor.yaml"
RTG = "verl/trainer/ppo/ray_trainer_genrm.py"
PROTOCOL_SOURCE = {
    "outcome": f"{RTG}:1120-1180 with verl/utils/prompt_templates/math_likelihood_judge.py: one call per response, "
    "'Score: N'",
    "process": f"{RTG}:1320-1340 with verl/utils/prompt_templates/math_likelihood_process.py: one call per '###' "
    "step, showing that step alone",
}


def _stage1_rl(role: str, script: str, group: int, prompts: int, mini_batch: int, clip_high: float) -> list[PaperValue]:
    """The values every stage-1 GRPO script shares, and the four in which they differ."""
    rows = [
        ("run", "group_size", group, f"{script}: actor_rollout_ref.rollout.n={group}"),
        ("run", "prompts_per_step", prompts, f"{script}: data.train_batch_size={prompts}"),
        ("run", "epochs", 5, f"{script}: trainer.total_epochs=5 (verl: steps = epochs x (problems // batch))"),
        ("run", "max_new_tokens", 16384, f"{script}: data.max_response_length=16384"),
        ("run", "temperature", 0.8, f"{script}: actor_rollout_ref.rollout.temperature=0.8"),
        ("agent", "lr", 1e-6, f"{script}: actor_rollout_ref.actor.optim.lr=1e-6"),
        ("agent", "clip_low", 0.2, f"{script}: actor_rollout_ref.actor.clip_ratio_low=0.2"),
        ("agent", "clip_high", clip_high, f"{script}: actor_rollout_ref.actor.clip_ratio_high={clip_high}"),
        ("agent", "kl_coef", 0.001, f"{script}: use_kl_loss=True, kl_loss_coef=0.001, kl_loss_type=low_var_kl"),
        ("agent", "entropy_coef", 0.0, f"{script}: actor_rollout_ref.actor.entropy_coeff=0"),
        (
            "agent",
            "mini_batches",
            prompts // mini_batch,
            f"{script}: ppo_mini_batch_size={mini_batch} of train_batch_size={prompts} "
            f"({prompts // mini_batch} update{'s' if prompts // mini_batch > 1 else ''} per batch)",
        ),
        ("agent", "weight_decay", 0.01, f"{ACTOR}: optim.weight_decay: 0.01 (not overridden)"),
        ("agent", "max_grad_norm", 1.0, f"{DP_ACTOR}: grad_clip: 1.0"),
        ("agent", "loss_aggregation", "token_mean", f"{ACTOR}: loss_agg_mode: token-mean"),
    ]
    return [PaperValue(role, *row) for row in rows]


def _judged(role: str, script: str) -> list[PaperValue]:
    """The judge and length rule of the two judged (ExpRL) arms."""
    rows = [
        (
            "run",
            "truncated_reward",
            "zero",
            f"{script}: +custom_reward_function.clip_length=True ({RTG}:1176-1177, "
            "1445-1453: a response that reaches the token cap earns 0 and stays in the loss)",
        ),
        ("judge", "split", "paper", f"{RTG}:1252-1290 _find_step_spans: a step ends at each '###'"),
        ("judge", "model", PAPER_JUDGE_MODEL, f"{script}: genrm.model.path=Qwen/Qwen3-4B-Instruct-2507"),
        ("judge", "temperature", 0.0, f"{RTG}:1148 (and 1383): do_sample=False, greedy"),
        ("judge", "max_tokens", 2048, f"{script}: genrm.rollout.response_length=2048"),
        ("judge", "protocol", "paper", PROTOCOL_SOURCE[role]),
    ]
    return [PaperValue(role, *row) for row in rows]


def _build() -> tuple[PaperValue, ...]:
    rows = [
        *_stage1_rl("outcome", OUTCOME, group=10, prompts=36, mini_batch=18, clip_high=0.28),
        PaperValue(
            "outcome",
            "agent",
            "scale_by_std",
            True,
            "verl/trainer/config/ppo_trainer.yaml: algorithm.norm_adv_by_std_in_grpo: True (adv_estimator=grpo)",
        ),
        *_judged("outcome", OUTCOME),
        *_stage1_rl("process", PROCESS, group=16, prompts=36, mini_batch=36, clip_high=0.26),
        PaperValue(
            "process",
            "agent",
            "process_norm",
            "delta",
            f"{PROCESS}: algorithm.adv_estimator=delta_process ({RTG}:1428-1436)",
        ),
        *_judged("process", PROCESS),
        *_stage1_rl("sparse", SPARSE, group=16, prompts=32, mini_batch=16, clip_high=0.26),
        PaperValue(
            "sparse",
            "agent",
            "scale_by_std",
            True,
            "verl/trainer/config/ppo_trainer.yaml: algorithm.norm_adv_by_std_in_grpo: True (adv_estimator=grpo)",
        ),
        PaperValue(
            "sparse",
            "run",
            "truncated_reward",
            "judge",
            f"{SPARSE}: no clip_length (main_ppo's rule-based "
            "reward checks the answer of every response, finished or not)",
        ),
    ]
    distill = [
        ("run", "group_size", 16, f"{DISTILL}: actor_rollout_ref.rollout.n=16"),
        ("run", "prompts_per_step", 32, f"{DISTILL}: data.train_batch_size=32 (ppo_mini_batch_size=32: one update)"),
        ("run", "epochs", 5, f"{DISTILL}: trainer.total_epochs=5"),
        ("run", "max_new_tokens", 16384, f"{DISTILL}: data.max_response_length=16384"),
        ("run", "temperature", 0.8, f"{DISTILL}: actor_rollout_ref.rollout.temperature=0.8"),
        (
            "run",
            "truncated_reward",
            "judge",
            f"{DISTILL}: +custom_reward_function.clip_length=False (the judge's "
            "reward is not used; it only draws exprl's training curve)",
        ),
        ("agent", "lr", 1e-7, f"{DISTILL}: actor_rollout_ref.actor.optim.lr=1e-7"),
        ("agent", "weight_decay", 0.01, f"{ACTOR}: optim.weight_decay: 0.01 (not overridden)"),
        ("agent", "max_grad_norm", 1.0, f"{DP_ACTOR}: grad_clip: 1.0"),
        (
            "agent",
            "teacher_model",
            "initial",
            "verl/trainer/main_onpolicy_distill.py:221-223: a standalone "
            "reference-policy worker (the starting weights) computes the teacher's log-probs",
        ),
        ("agent", "teacher_prompt", "user", "verl/trainer/ppo/ray_onpolicy_distill.py:1005-1018"),
        (
            "agent",
            "reward_clip",
            0.0,
            "verl/trainer/ppo/ray_onpolicy_distill.py:1126-1136 (no clip), verl/trainer/ppo/core_algos.py:1104",
        ),
        (
            "agent",
            "loss_aggregation",
            "seq_mean_token_mean",
            f"{DISTILL}: ppo_micro_batch_size_per_gpu=1, "
            "use_dynamic_bsz=False; verl/workers/actor/dp_actor.py:538-584 (token mean per one-sequence micro-batch)",
        ),
    ]
    sft = [
        ("run", "prompts_per_step", 32, f"{SFT}: data.train_batch_size=32"),
        ("run", "steps", 600, f"{SFT}: trainer.total_training_steps=600"),
        (
            "run",
            "group_size",
            1,
            f"{SFT}: offline, nothing sampled (exprl samples one response per problem, only for the training curve)",
        ),
        ("run", "max_new_tokens", 16384, "as the RL arms (the training curve's responses only)"),
        ("run", "temperature", 0.8, "as the RL arms (the training curve's responses only)"),
        ("agent", "lr", 1e-6, f"{SFT}: optim.lr=1e-6"),
        ("agent", "weight_decay", 0.01, "verl/trainer/config/sft_trainer.yaml: optim.weight_decay: 0.01"),
        ("agent", "max_grad_norm", 1.0, "verl/trainer/config/sft_trainer.yaml: optim.clip_grad: 1.0"),
        ("agent", "max_target_tokens", 20480, f"{SFT}: data.max_length=20480 (prompt and target together)"),
    ]
    stage2 = [
        ("run", "group_size", 32, f"{STAGE2}: finetune.attempts: 32"),
        (
            "run",
            "prompts_per_step",
            16,
            f"{STAGE2}: train_batch_size 32 x gradient_accumulation_passes 16 = 512 "
            "samples per optimizer step (pipelinerl/finetune_loop.py:566-585), 512 / 32 attempts",
        ),
        ("run", "steps", 720, f"{STAGE2}: finetune.max_train_steps: 720"),
        ("run", "max_new_tokens", 16384, f"{STAGE2}: llm.parameters.max_tokens: 16384"),
        ("run", "temperature", 0.8, f"{STAGE2}: llm.parameters.temperature: 0.8"),
        (
            "run",
            "truncated_reward",
            "judge",
            "conf/rewards/pure_success.yaml: correct_answer_not_finished: 1.0 "
            "(conf/base.yaml defaults: rewards: pure_success)",
        ),
        ("agent", "lr", 1e-6, f"{STAGE2}: finetune.learning_rate: 1.0e-6, constant, no warm-up"),
        (
            "agent",
            "scale_by_std",
            False,
            f"{STAGE2_BASE}: rl.divide_advantage_by_std: false "
            "(pipelinerl/finetune/rl/__init__.py:424-431: r - group mean)",
        ),
        (
            "agent",
            "clip_low",
            4.0,
            f"{STAGE2_BASE}: rl.epsilon: 4, with policy_loss: ppo from conf/finetune/grpo.yaml "
            "(rl/__init__.py:270-275: ratio clipped to [1 - 4, 1 + 4])",
        ),
        ("agent", "clip_high", 4.0, f"{STAGE2_BASE}: rl.epsilon: 4"),
        ("agent", "kl_coef", 0.0, f"{STAGE2_BASE}: rl.kl_coef: 0.0"),
        ("agent", "entropy_coef", 1e-4, f"{STAGE2}: finetune.rl.entropy_bonus: 0.0001"),
        (
            "agent",
            "loss_aggregation",
            "seq_sum_per_batch",
            "pipelinerl/finetune/rl/__init__.py:225, 290-292: each "
            "token weighs 1 / batch_size (samples per step), summed",
        ),
        ("agent", "mini_batches", 1, "pipelinerl/finetune_loop.py:566-585: one optimizer step per 512 samples"),
        ("agent", "weight_decay", 0.01, f"{STAGE2_BASE}: weight_decay: 0.01"),
        ("agent", "max_grad_norm", 0.3, f"{STAGE2_BASE}: gradient_clipping_threshold: 0.3"),
    ]
    rows += [PaperValue("self_distill", *row) for row in distill]
    rows += [PaperValue("sft", *row) for row in sft]
    rows += [PaperValue("stage2", *row) for row in stage2]
    return tuple(rows)


PAPER: tuple[PaperValue, ...] = _build()
"""Every value of the ``paper`` preset, by role, section and field, with its source."""


def role_for(preset: str, agent: str, reward: str) -> str:
    """The role ``exprl train --preset`` takes its values from: the agent and reward say which arm the run is."""
    if preset not in PRESETS:
        raise PresetError(f"unknown preset {preset!r}; presets: {list(PRESETS)}")
    if preset == "paper-stage2":
        if (agent, reward) != ROLE_AGENT["stage2"]:
            raise PresetError(f"the paper-stage2 preset is GRPO on the sparse reward, not {agent} on {reward}")
        return "stage2"
    if agent in ("self_distill", "sft"):
        return agent
    if agent == "grpo" and reward in ("outcome", "process", "sparse"):
        return reward
    raise PresetError(
        f"the paper preset has no values for the {agent} agent: the authors ran GRPO (outcome, process and sparse "
        "rewards), SFT and self-distillation in stage 1 (paper-stage2: their stage 2)"
    )


def values(role: str, section: str) -> dict[str, PaperValue]:
    """The preset's values of one role and section, by field."""
    if role not in ROLES:
        raise PresetError(f"unknown role {role!r}; roles: {list(ROLES)}")
    return {v.field: v for v in PAPER if v.role == role and v.section == section}


def judge_values(role: str, judge: str) -> dict[str, PaperValue]:
    """The judge options the preset sets for a judge by name: all of them for the llm judge, the step split for the
    reference judge, none for the others (the answer judge has neither)."""
    found = values(role, "judge")
    if judge == "llm":
        return found
    if judge == "reference":
        return {k: v for k, v in found.items() if k == "split"}
    return {}


def steps_for_epochs(epochs: int, problems: int, prompts_per_step: int) -> int:
    """verl's step count: ``epochs`` passes of ``problems // prompts_per_step`` full batches (its training data
    loader drops the last, partial batch), at least one step."""
    return max(1, epochs * (problems // prompts_per_step))


def train_problem_count(env: str, env_options: dict) -> int:
    """How many training problems the environment has (for the authors' epochs); builds no policy and no judge
    beyond the answer check."""
    return _problem_count(env, json.dumps(env_options, sort_keys=True))


@functools.lru_cache(maxsize=8)
def _problem_count(env: str, options_json: str) -> int:
    import gymnasium as gym

    options = {k: v for k, v in json.loads(options_json).items() if k not in ("judge", "judge_kwargs", "reward")}
    environment = gym.make(env, split="train", reward="sparse", judge="answer", **options)
    try:
        return len(environment.unwrapped.problems)
    finally:
        environment.close()


@attrs.frozen
class Override:
    """A preset field the user set to something else."""

    field: str
    paper: Any
    yours: Any


def apply(
    current: Mapping[str, Any], preset: Mapping[str, PaperValue], given: Iterable[str]
) -> tuple[dict[str, Any], list[Override]]:
    """``current`` with every preset field the user did not give set to the authors' value, and the given ones
    that differ from it (each preset field is listed once)."""
    given = set(given)
    result, overrides = dict(current), []
    for field, paper in preset.items():
        if field in given:
            if field in current and not _same(current[field], paper.value):
                overrides.append(Override(field, paper.value, current[field]))
        else:
            result[field] = paper.value
    return result, overrides


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
        except (TypeError, ValueError):
            return False
    return a == b


def resolve(
    role: str,
    run: Mapping[str, Any],
    agent: Mapping[str, Any],
    judge_name: str,
    judge: Mapping[str, Any],
    given: Iterable[str],
    train_problems: Callable[[], int] | None = None,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[Override]]:
    """(run, agent, judge options, overrides) of one arm with the preset applied.

    ``run`` (TrainConfig fields), ``agent`` (agent config fields) and ``judge`` (judge options) hold the values
    so far; ``given`` names those set on purpose (judge options as ``judge.<option>``), which stay. The authors'
    epochs become steps through ``train_problems()`` (the number of training problems) unless ``steps`` was given.
    """
    given = set(given)
    run_values = values(role, "run")
    epochs = run_values.pop("epochs", None)
    run, overrides = apply(run, run_values, given)
    if epochs is not None and "steps" in given:
        overrides.append(Override("steps", f"{epochs.value} epochs", run["steps"]))
    elif epochs is not None:
        if train_problems is None:
            raise PresetError(f"the {role} arm trains {epochs.value} epochs: the number of training problems is needed")
        run["steps"] = steps_for_epochs(epochs.value, train_problems(), run["prompts_per_step"])
    agent, more = apply(agent, {k: v for k, v in values(role, "agent").items()}, given)
    judge_given = {name.split(".", 1)[1] for name in given if name.startswith("judge.")}
    judge, judged = apply(judge, judge_values(role, judge_name), judge_given)
    judged = [attrs.evolve(o, field=f"judge.{o.field}") for o in judged]
    return run, agent, judge, overrides + more + judged


def overrides_table(overrides: Iterable[Override], preset: str = "paper") -> str:
    """The short table the commands print: each preset field the user changed, the authors' value and theirs."""
    rows = [(o.field, shown(o.paper), shown(o.yours)) for o in overrides]
    if not rows:
        return f"preset {preset}: every setting is the authors'"
    widths = [max(len(r[i]) for r in [("field", f"{preset} value", "yours"), *rows]) for i in range(3)]
    lines = [f"preset {preset}: fields you changed"]
    for row in [("field", f"{preset} value", "yours"), *rows]:
        lines.append("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return "\n".join(lines)


def shown(value: Any) -> str:
    """A value as the tables show it."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def markdown(rows: Iterable[PaperValue] = PAPER) -> str:
    """The preset as a markdown table (role, section, field, value, source): the README's table."""
    lines = ["| arm | section | field | value | authors' source |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row.role} | {row.section} | `{row.field}` | `{shown(row.value)}` | {row.source} |")
    return "\n".join(lines)
