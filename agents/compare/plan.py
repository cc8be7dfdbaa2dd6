"""``exprl compare``, the plan: the arms, the configuration, the budget they share, and the jobs in order.

Stage 1 trains every *arm* (an agent, a reward and a judge; see :data:`ARMS`) from the same base model
on the same training problems in the same seeded order, with the same budget: optimizer steps, prompts
per step, samples per prompt and new-token cap are shared, so every arm samples at most the same number
of tokens (SFT and self-distillation sample and judge like the others; only their update differs).
Stage 2 continues every stage-1 result with sparse GRPO for ``stage2_steps`` more steps: the paper's
question of which priming makes the better start for sparse RL. The base model and every result are
evaluated on the held-out (test) split with the sparse answer check (pass@k) and the offline dense judge;
the test split is never used for anything else. Pure: nothing here trains, evaluates or writes.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from typing import Any

import attrs

from agents.config_cli import json_object

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
    """Judge name."""
    label: str
    """What the arm is, for tables and legends."""
    overrides: tuple[tuple[str, Any], ...] = ()
    """Fields of the agent's config that differ from its defaults."""


ARMS = {
    "sparse_grpo": Arm("grpo", "sparse", "answer", "sparse GRPO (binary answer reward)"),
    "exprl_outcome": Arm("grpo", "outcome", "reference", "ExpRL-outcome (GRPO, judged outcome reward)"),
    "exprl_process": Arm(
        "grpo",
        "process",
        "reference",
        "ExpRL-process (GRPO, judged step reward, DeltaNorm)",
        (("process_norm", "delta"),),
    ),
    # The two baselines train on references, not on the judge's reward; their environments pay the trainer's
    # default (process reward, reference judge) only so their training curves are comparable.
    "sft": Arm("sft", "process", "reference", "SFT on the reference solutions"),
    "self_distill": Arm("self_distill", "process", "reference", "self-distillation (teacher sees the reference)"),
}
STAGE2 = ARMS["sparse_grpo"]
"""Stage 2 is the sparse-GRPO arm, continued from each stage-1 result."""
BASE = "base"
"""The arm name of the untrained base model's evaluations (stage 0)."""


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
    parse_arms(value)


_positive = attrs.validators.ge(1)


@attrs.frozen
class CompareConfig:
    model: str = "smollm2-135m-instruct"
    """Base policy every arm starts from: a Hugging Face folder or id, smollm2-135m-instruct, or tiny-random."""
    env: str = "ExpRL-Arith-v0"
    """Registered environment id (training on its train split, evaluation on its test split)."""
    env_options: dict = attrs.field(factory=lambda: {"n_ops": 1, "max_operand": 9}, converter=json_object)
    """Extra environment kwargs (JSON on the command line; the default is exprl train's: one-operation
    arithmetic); pass '{}' for environments without these options."""
    arms: str = attrs.field(default=",".join(ARMS), validator=_arms_validator)
    """Comma list of stage-1 arms: sparse_grpo, exprl_outcome, exprl_process, sft, self_distill."""
    seeds: int = attrs.field(default=3, validator=_positive)
    """Number of seeds: 0, 1, ... seeds-1 (each seeds data order, sampling and evaluation, the same for every arm)."""
    steps: int = attrs.field(default=20, validator=_positive)
    """Stage-1 optimizer steps per run."""
    stage2_steps: int = attrs.field(default=20, validator=attrs.validators.ge(0))
    """Stage-2 (sparse GRPO) optimizer steps continued from each stage-1 result; 0 skips stage 2."""
    prompts_per_step: int = attrs.field(default=2, validator=_positive)
    """Distinct training problems per step (every arm, both stages)."""
    group_size: int = attrs.field(default=4, validator=_positive)
    """Responses sampled per problem (every arm, both stages)."""
    max_new_tokens: int = attrs.field(default=96, validator=_positive)
    """Longest sampled response, in tokens, in training and evaluation."""
    temperature: float = 0.8
    """Sampling temperature, in training and evaluation."""
    lr: float = attrs.field(default=1e-5, validator=attrs.validators.gt(0))
    """AdamW learning rate of every arm, both stages: one rate, so the arms differ in their objective alone (the
    agents' own defaults differ: self-distillation's is the paper's 1e-6, a tenth of GRPO's and SFT's 1e-5)."""
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

    @property
    def arm_names(self) -> tuple[str, ...]:
        return parse_arms(self.arms)

    @property
    def sampled_token_budget(self) -> int:
        """The most tokens one stage-1 run can sample: steps x problems x samples x the new-token cap."""
        return self.steps * self.prompts_per_step * self.group_size * self.max_new_tokens

    def command(self) -> str:
        """The ``exprl compare`` command line that reproduces this configuration, every setting explicit."""
        words = ["exprl", "compare"]
        for field in attrs.fields(CompareConfig):
            flag, value = "--" + field.name.replace("_", "-"), getattr(self, field.name)
            if isinstance(value, bool):
                words.append(flag if value else "--no-" + flag[2:])
            elif isinstance(value, dict):
                words += [flag, json.dumps(value)]
            else:
                words += [flag, str(value)]
        return shlex.join(words)


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
