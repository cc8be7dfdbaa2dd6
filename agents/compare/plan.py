"""``exprl compare``, the plan: the arms, the configuration, the budget they share, and the jobs in order.

Stage 1 trains every *arm* (an agent, a reward and a judge; see :data:`ARMS`) from the same base model
on the same training problems in the same seeded order, with the same budget: optimizer steps, prompts
per step, samples per prompt and new-token cap are shared, so every arm samples at most the same number
of tokens (SFT and self-distillation sample and judge like the others; only their update differs).
Stage 2 continues every stage-1 result for ``stage2_steps`` more steps with the authors' stage-2 recipe
(:data:`STAGE2`: PipelineRL PPO on the binary answer reward): the paper's question of which priming makes the
better start for sparse RL. The base model and every result are evaluated on the held-out (test) split with the
sparse answer check (pass@k) and the offline dense judge; the test split is never used for anything else.

The ExpRL arms are paid by ``--judge`` (the offline ``reference`` judge by default, or the ``llm`` judge at
``--judge-url`` with ``--judge-model`` and ``--judge-protocol``). With ``--preset paper`` every arm takes the
authors' hyperparameters (:mod:`agents.presets`) and the shared flags given explicitly override them, for every
arm (:func:`arm_settings`). Pure: nothing here trains, evaluates or writes.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from typing import Any

import attrs

from agents import presets
from agents.config_cli import has_flag, json_object

KS = (1, 2, 4, 8)
STAGE2_SEED_OFFSET = 10_000
"""Stage 2 of seed s trains with seed s + this, so it draws its own problem order instead of replaying
the first batches stage 1 already trained on (still the same order for every arm)."""


@attrs.frozen
class Arm:
    """One way to spend the budget: an agent, the reward its environment pays and the judge that pays it."""

    agent: str
    """Registered agent name."""
    reward: str
    """sparse, outcome or process."""
    judge: str
    """Judge name (the ExpRL arms' is replaced by the comparison's ``--judge``)."""
    label: str
    """What the arm is, for tables and legends."""
    overrides: tuple[tuple[str, Any], ...] = ()
    """Fields of the agent's config that differ from its defaults."""
    role: str = ""
    """Which of the authors' arms it is, for the ``paper`` preset (:data:`agents.presets.ROLES`)."""
    run: tuple[tuple[str, Any], ...] = ()
    """Fields of the run's :class:`~agents.trainer.TrainConfig` that differ from the shared settings."""
    judged: bool = False
    """An ExpRL arm: the comparison's judge (``--judge``, its server and protocol) pays it."""


_UNFINISHED_JUDGED = (("truncated_reward", "judge"),)
"""The authors' sparse-reward and self-distillation runs do not zero unfinished responses (no ``clip_length``)."""


def _process_arm(norm: str, which: str) -> Arm:
    """An ExpRL-process arm: GRPO on the judged step reward with the process norm ``norm``."""
    label = f"ExpRL-process (GRPO, judged step reward, {which})"
    return Arm("grpo", "process", "reference", label, (("process_norm", norm),), role="process", judged=True)


ARMS = {
    "sparse_grpo": Arm(
        "grpo", "sparse", "answer", "sparse GRPO (binary answer reward)", role="sparse", run=_UNFINISHED_JUDGED
    ),
    "exprl_outcome": Arm(
        "grpo", "outcome", "reference", "ExpRL-outcome (GRPO, judged outcome reward)", role="outcome", judged=True
    ),
    "exprl_process": _process_arm("delta", "DeltaNorm"),
    # The authors' other two process norms, and ours (opt-in with --arms: the issue-17 testbed study runs them).
    "exprl_process_end": _process_arm("end", "EndNorm: r_k - r_K"),
    "exprl_process_group": _process_arm("group", "GroupNorm as the authors' code computes it"),
    "exprl_process_zero": _process_arm("delta_zero", "ours: s_k - s_{k-1} with s_0 = 0"),
    # Our other RL agents on the judged step reward (opt-in; the authors ran neither, so no paper recipe).
    "ppo_process": Arm("ppo", "process", "reference", "PPO (value head, GAE) on the judged step reward", judged=True),
    "reinforce_process": Arm(
        "reinforce", "process", "reference", "REINFORCE (leave-one-out baseline) on the judged outcome", judged=True
    ),
    # The two baselines train on references, not on the judge's reward; their environments pay the trainer's
    # default (process reward, offline reference judge) only so their training curves are comparable.
    "sft": Arm("sft", "process", "reference", "SFT on the reference solutions", role="sft"),
    "self_distill": Arm(
        "self_distill",
        "process",
        "reference",
        "self-distillation (frozen initial model as teacher, shown the reference)",
        role="self_distill",
        run=_UNFINISHED_JUDGED,
    ),
}
DEFAULT_ARMS = ("sparse_grpo", "exprl_outcome", "exprl_process", "sft", "self_distill")
"""The arms ``exprl compare`` runs unless ``--arms`` names others: the paper's five."""
STAGE2_RECIPE = tuple((field, v.value) for field, v in presets.values("stage2", "agent").items() if field != "lr")
"""The authors' stage-2 PPO as GRPO settings, each cited in :data:`agents.presets.PAPER`: advantage r - group mean
(``scale_by_std=False``), ratio clip 4 on both sides, entropy bonus 1e-4, each sequence's token sum over the
number of sequences, gradient clip 0.3, no KL, weight decay 0.01, one update per batch. The learning rate is the
shared ``--lr`` (theirs is 1e-6 in both stages)."""
STAGE2 = Arm(
    "grpo",
    "sparse",
    "answer",
    "stage 2: the authors' PipelineRL PPO on the binary answer reward (r - group mean, clip 4, entropy 1e-4)",
    STAGE2_RECIPE,
    role="stage2",
    run=tuple((f, v.value) for f, v in presets.values("stage2", "run").items() if f == "truncated_reward"),
)
"""Stage 2, continued from each stage-1 result: the authors' recipe, scaled by the shared flags (and the
``stage2_*`` ones). A correct answer is paid 1 even when the response was cut off at the token cap."""
BASE = "base"
"""The arm name of the untrained base model's evaluations (stage 0)."""
JUDGES = ("reference", "llm", "corrupted")
PROTOCOLS = ("paper", "batched")


def parse_arms(text: str) -> tuple[str, ...]:
    """Arm names from a comma list, in the given order; an unknown or repeated name is an error naming it."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise ValueError(f"no arms given; arms: {list(ARMS)}")
    for name in names:
        if name not in ARMS:
            raise ValueError(f"unknown arm {name!r}; arms: {list(ARMS)}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"arm(s) given twice: {repeated}")
    return names


def _arms_validator(instance: Any, attribute: Any, value: str) -> None:
    without = [name for name in parse_arms(value) if instance.preset and not ARMS[name].role]
    if without:
        raise ValueError(f"arm(s) {without} have no recipe in --preset {instance.preset} (the authors ran no such arm)")


_positive = attrs.validators.ge(1)


@attrs.frozen
class CompareConfig:
    preset: str = attrs.field(default="", validator=attrs.validators.in_(("", "paper")))
    """paper: every arm's hyperparameters as the authors set them (agents/presets.py); the flags given explicitly
    override them for every arm. Empty: the shared flags below, each agent's defaults otherwise."""
    model: str = "smollm2-135m-instruct"
    """Base policy every arm starts from: a Hugging Face folder or id, smollm2-135m-instruct, tiny-random or testbed."""
    env: str = "ExpRL-Arith-v0"
    """Registered environment id (training on its train split, evaluation on its test split)."""
    env_options: dict = attrs.field(factory=lambda: {"n_ops": 1, "max_operand": 9}, converter=json_object)
    """Extra environment kwargs (JSON on the command line; the default is exprl train's: one-operation
    arithmetic); pass '{}' for environments without these options."""
    arms: str = attrs.field(default=",".join(DEFAULT_ARMS), validator=_arms_validator)
    """Comma list of stage-1 arms: sparse_grpo, exprl_outcome, exprl_process, sft, self_distill (the default), and
    exprl_process_end, exprl_process_group, exprl_process_zero (the other process norms), ppo_process and
    reinforce_process (our other RL agents on the judged step reward; not under --preset paper)."""
    seeds: int = attrs.field(default=3, validator=_positive)
    """Number of seeds: 0, 1, ... seeds-1 (each seeds data order, sampling and evaluation, the same for every arm)."""
    steps: int = attrs.field(default=20, validator=_positive)
    """Stage-1 optimizer steps per run."""
    stage2_steps: int = attrs.field(default=20, validator=attrs.validators.ge(0))
    """Stage-2 optimizer steps continued from each stage-1 result (the authors' PPO on the binary reward); 0 skips
    stage 2."""
    stage2_group_size: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    """Responses per problem in stage 2 (the authors': 32); 0: --group-size."""
    stage2_prompts_per_step: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    """Distinct problems per stage-2 step (the authors': 16); 0: --prompts-per-step."""
    prompts_per_step: int = attrs.field(default=2, validator=_positive)
    """Distinct training problems per step, every arm (and stage 2 unless --stage2-prompts-per-step is set)."""
    group_size: int = attrs.field(default=4, validator=_positive)
    """Responses sampled per problem, every arm (and stage 2 unless --stage2-group-size is set)."""
    max_new_tokens: int = attrs.field(default=96, validator=_positive)
    """Longest sampled response, in tokens, in training and evaluation."""
    temperature: float = 0.8
    """Sampling temperature, in training and evaluation."""
    lr: float = attrs.field(default=1e-5, validator=attrs.validators.gt(0))
    """AdamW learning rate of every arm, both stages: one rate, so the arms differ in their objective alone (the
    authors': 1e-6, and 1e-7 for self-distillation, which --preset paper sets)."""
    judge: str = attrs.field(default="reference", validator=attrs.validators.in_(JUDGES))
    """What pays the ExpRL arms: reference (offline, rule-based), llm (a language model at --judge-url) or corrupted
    (a judge made wrong at a set rate, for the judge-error study: --judge-options '{"flip_rate": 0.2}')."""
    judge_options: dict = attrs.field(factory=dict, converter=json_object)
    """Extra keyword arguments of the ExpRL arms' judge (JSON), e.g. the corrupted judge's flip_rate,
    wrong_reference and seed, or the reference judge's settings."""
    judge_url: str = ""
    """The llm judge's OpenAI-compatible server (vLLM, SGLang, transformers serve), e.g. http://host:8000/v1; empty:
    the judge model runs in this process."""
    judge_model: str = ""
    """The llm judge's model (the authors': Qwen/Qwen3-4B-Instruct-2507, which --preset paper sets)."""
    judge_protocol: str = attrs.field(default="paper", validator=attrs.validators.in_(PROTOCOLS))
    """How the llm judge is asked: paper (one call per response, or per step for process rewards, as the authors
    ask) or batched (one call rating every step)."""
    eval_limit: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    """Evaluate on the first N test problems only (0: the whole test split)."""
    eval_samples: int = attrs.field(default=8, validator=_positive)
    """Responses per test problem; pass@k is reported for k in 1, 2, 4, 8 up to this."""
    eval_batch: int = attrs.field(default=40, validator=_positive)
    """Responses sampled together in evaluation. Decoding on CPU is bound by streaming the weights, so more
    rows per step cost little: 40 rows took 0.42 s per response against 0.60 s for 16 (SmolLM2-135M, 96 tokens)."""
    output_dir: str = "benchmarks/results/compare"
    """Where runs, evaluations, results.jsonl, results.md and the plots go; rerunning resumes there."""
    save_every: int = attrs.field(default=5, validator=attrs.validators.ge(0))
    """Trainer checkpoint interval in steps: how much an interrupted run can lose (0: only at the end)."""
    keep_checkpoints: bool = False
    """Keep trainer checkpoints of finished runs (optimizer state included: about 1.6 GB each for SmolLM2-135M);
    by default a finished run keeps only its final model, which is all that evaluation and stage 2 need."""
    device: str = "cpu"
    """cpu or cuda."""
    workers: int = attrs.field(default=1, validator=_positive)
    """Runs trained and evaluated at once, each in its own process with cores / workers torch threads: chains of
    jobs that do not depend on each other (each arm and seed's runs, each base evaluation) go to a process pool.
    Results do not depend on it (each run seeds itself); 2 on this 2-core machine halves a CPU study's time."""
    given: frozenset[str] | None = attrs.field(
        default=None, converter=attrs.converters.optional(frozenset), metadata={"flag": False}
    )
    """The fields set on purpose (the command line's explicit flags), which a preset does not replace; None: those
    that differ from their defaults."""

    def __attrs_post_init__(self) -> None:
        if self.judge == "llm" and not (self.judge_model or self.preset):
            raise ValueError("--judge llm needs --judge-model (and --judge-url for a server)")
        if self.judge != "llm" and (self.judge_url or self.judge_model):
            raise ValueError(f"--judge-url and --judge-model are the llm judge's; --judge is {self.judge!r}")

    @property
    def explicit(self) -> frozenset[str]:
        """The fields that a preset leaves as they are (see ``given``)."""
        if self.given is not None:
            return self.given
        return frozenset(f.name for f in _flag_fields() if getattr(self, f.name) != _default(f))

    @property
    def eval_sampling(self) -> tuple[int, float]:
        """(new-token cap, temperature) of evaluation: the flags, or with a preset the authors' sampling (16,384
        tokens at 0.8, as they train and validate) where the flag was not given."""
        tokens, temperature = self.max_new_tokens, self.temperature
        if self.preset:
            paper = presets.values("outcome", "run")
            tokens = tokens if "max_new_tokens" in self.explicit else paper["max_new_tokens"].value
            temperature = temperature if "temperature" in self.explicit else paper["temperature"].value
        return tokens, temperature

    @property
    def arm_names(self) -> tuple[str, ...]:
        return parse_arms(self.arms)

    @property
    def sampled_token_budget(self) -> int:
        """The most tokens one stage-1 run can sample: steps x problems x samples x the new-token cap."""
        return self.steps * self.prompts_per_step * self.group_size * self.max_new_tokens

    def command(self) -> str:
        """The ``exprl compare`` command line that reproduces this configuration: every setting explicit, or with a
        preset the preset and the settings given on purpose (the rest is the preset's)."""
        words = ["exprl", "compare"]
        for field in _flag_fields():
            flag, value = "--" + field.name.replace("_", "-"), getattr(self, field.name)
            if value == "" or (self.preset and field.name != "preset" and field.name not in self.explicit):
                continue
            if isinstance(value, bool):
                words.append(flag if value else "--no-" + flag[2:])
            elif isinstance(value, dict):
                words += [flag, json.dumps(value)]
            else:
                words += [flag, str(value)]
        return shlex.join(words)


def _flag_fields() -> list[attrs.Attribute]:
    return [f for f in attrs.fields(CompareConfig) if has_flag(f)]


def _default(field: attrs.Attribute) -> Any:
    return field.default.factory() if isinstance(field.default, attrs.Factory) else field.default


@attrs.frozen
class ArmSettings:
    """What one training run of an arm is: its run settings, its agent's settings and the preset fields changed."""

    run: dict[str, Any]
    """Fields of :class:`~agents.trainer.TrainConfig` (those the plan decides)."""
    agent: dict[str, Any]
    """Fields of the agent's config that differ from its defaults."""
    overrides: tuple[presets.Override, ...] = ()
    """With a preset: the preset's fields the comparison set to something else."""


_SHARED = {1: {"steps": "steps", "prompts_per_step": "prompts_per_step", "group_size": "group_size"}}
_SHARED[2] = {"steps": "stage2_steps", "prompts_per_step": "stage2_prompts_per_step", "group_size": "stage2_group_size"}
_BOTH_STAGES = {"max_new_tokens": "max_new_tokens", "temperature": "temperature", "lr": "lr"}


def arm_settings(config: CompareConfig, arm_name: str, stage: int, train_problems: Any = None) -> ArmSettings:
    """The settings of a stage-1 arm (``stage=1``) or of the stage-2 run continuing it (``stage=2``).

    Without a preset: the shared flags for every arm (stage 2 takes ``stage2_*`` where set, else the stage-1
    value), then the arm's own settings. With ``--preset paper``: the authors' values of the arm's role, except the
    shared flags given explicitly, which override the preset for every arm. ``train_problems`` (a function returning
    the number of training problems) turns the authors' epochs into steps; it is called only when needed.
    """
    arm = ARMS[arm_name] if stage == 1 else STAGE2
    shared = {field: getattr(config, name) for field, name in {**_SHARED[stage], **_BOTH_STAGES}.items()}
    if stage == 2:
        shared["prompts_per_step"] = shared["prompts_per_step"] or config.prompts_per_step
        shared["group_size"] = shared["group_size"] or config.group_size
    agent = {"lr": shared.pop("lr"), **dict(arm.overrides)}
    run = {"agent": arm.agent, "reward": arm.reward, "judge": arm.judge, **shared, **dict(arm.run)}
    judge_options: dict[str, Any] = {}
    if arm.judged:
        run["judge"] = config.judge
        if config.judge == "llm":
            judge_options = {"model": config.judge_model, "protocol": config.judge_protocol}
        judge_options = {**judge_options, **config.judge_options}
    if config.preset:
        given = {field for field, name in {**_SHARED[stage], **_BOTH_STAGES}.items() if name in config.explicit}
        given |= {
            f"judge.{key}"
            for key, name in (("model", "judge_model"), ("protocol", "judge_protocol"))
            if name in config.explicit
        }
        resolved = presets.resolve(arm.role, run, agent, run["judge"], judge_options, given, train_problems)
        run, agent, judge_options, overrides = resolved
    else:
        overrides = []
    if config.judge == "llm" and arm.judged and config.judge_url:
        judge_options = {"base_url": config.judge_url, **judge_options}
    if judge_options:
        run["env_options"] = {**config.env_options, "judge_kwargs": judge_options}
    return ArmSettings(run, agent, tuple(overrides))


def preset_overrides(config: CompareConfig) -> list[presets.Override]:
    """The preset fields this comparison changes, over every arm of both stages: one row per field and value, the
    authors' values listed with the arms that have them (stage-2 fields are named ``stage 2 <field>``)."""
    found: dict[tuple[str, str], tuple[Any, dict[str, list[str]]]] = {}
    for stage in (1, 2) if config.stage2_steps else (1,):
        for arm in config.arm_names if stage == 1 else ("stage2",):
            name = arm if stage == 1 else config.arm_names[0]
            # only the overrides are read here: no problem count is needed for them
            for override in arm_settings(config, name, stage, train_problems=lambda: 0).overrides:
                field = override.field if stage == 1 else f"stage 2 {override.field}"
                _, papers = found.setdefault((field, repr(override.yours)), (override.yours, {}))
                papers.setdefault(presets.shown(override.paper), []).append(arm)
    return [
        presets.Override(field, "; ".join(f"{paper} ({', '.join(arms)})" for paper, arms in papers.items()), yours)
        for (field, _), (yours, papers) in found.items()
    ]


@attrs.frozen
class Job:
    """One unit of resumable work: a training run or an evaluation of (stage, arm, seed)."""

    kind: str
    """train or eval."""
    stage: int
    """0 (the base model), 1 or 2."""
    arm: str
    """The stage-1 arm (stage 2 continues it), or ``base``."""
    seed: int
    """The seed."""

    @property
    def folder(self) -> str:
        """The job's folder relative to the output folder; a run and its evaluation share it."""
        return f"stage{self.stage}/{self.arm}/seed-{self.seed}"

    @property
    def label(self) -> str:
        return f"{self.kind} stage {self.stage} {self.arm} seed {self.seed}"


def plan_jobs(arms: Sequence[str], seeds: int, stage2: bool) -> list[Job]:
    """Every job in the order it runs: the base model's evaluations, then stage 1 and stage 2, each seed-major
    (all arms of seed 0 first), so an interrupted compare already holds comparable arms."""
    jobs = [Job("eval", 0, BASE, seed) for seed in range(seeds)]
    for stage in (1, 2) if stage2 else (1,):
        jobs += [Job(kind, stage, arm, seed) for seed in range(seeds) for arm in arms for kind in ("train", "eval")]
    return jobs


def ks_for(samples: int) -> list[int]:
    """The k of pass@k reported for ``samples`` responses per problem."""
    return [k for k in KS if k <= samples]
