"""``exprl compare``: ExpRL against its baselines under one budget, then sparse GRPO from each result.

Stage 1 trains every *arm* (an agent, a reward and a judge; see :data:`ARMS`) from the same base model
on the same training problems in the same seeded order, with the same budget: optimizer steps, prompts
per step, samples per prompt and new-token cap are shared, so every arm samples at most the same number
of tokens (SFT and self-distillation sample and judge like the others; only their update differs).
Stage 2 continues every stage-1 result with sparse GRPO for ``stage2_steps`` more steps: the paper's
question of which priming makes the better start for sparse RL. The base model and every result are
evaluated on the held-out (test) split with the sparse answer check (pass@k) and the offline dense judge;
the test split is never used for anything else.

Every training run and every evaluation has its own folder under ``output_dir`` and a JSON file that
marks it finished (``train.json``, ``eval.json``), so an interrupted compare picks up where it stopped:
finished runs and evaluations are skipped, an unfinished run resumes from its latest trainer checkpoint
(the trainer's exact resume), and a folder started with other settings is an error rather than silently
mixed in. Outputs: ``results.jsonl`` (one record per run and evaluation), ``results.md`` (the tables,
under the command that reproduces them), ``learning_curves.png`` and ``pass_at_k.png``.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

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
    "exprl_process": Arm("grpo", "process", "reference", "ExpRL-process (GRPO, judged step reward, DeltaNorm)",
                         (("process_norm", "delta"),)),
    # The two baselines train on references, not on the judge's reward; their environments pay the trainer's
    # default (process reward, reference judge) only so their training curves are comparable.
    "sft": Arm("sft", "process", "reference", "SFT on the reference solutions"),
    "self_distill": Arm("self_distill", "process", "reference", "self-distillation (teacher sees the reference)"),
}
STAGE2 = ARMS["sparse_grpo"]
"""Stage 2 is the sparse-GRPO arm, continued from each stage-1 result."""
BASE = "base"
"""The arm name of the untrained base model's evaluations (stage 0)."""
GITIGNORE = ("# written by exprl compare: models and trainer state are large; records, metrics and plots are not\n"
             "model/\ncheckpoints/\ntensorboard/\n*.partial\n")
"""The output folder's .gitignore (the default folder is inside the repository, and results get committed)."""


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


# --- the plan --------------------------------------------------------------------------------------------


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


# --- resumable runs and evaluations ----------------------------------------------------------------------


class SettingsMismatch(ValueError):
    """A run folder holds a run started with other settings."""


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _write_json(path: Path, data: dict) -> None:
    """Write-then-rename, so a marker file is either complete or absent."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(partial, path)


def differences(old: dict, new: dict) -> list[str]:
    """``key: old -> new`` for every top-level or nested key whose value differs (pure; for error messages)."""
    found = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += [f"{key}.{line}" for line in differences(a, b)]
        elif a != b:
            found.append(f"{key}: {a!r} -> {b!r}")
    return found


def _train_settings(config: CompareConfig, job: Job, root: Path):
    """(TrainConfig, agent config, start label) of a training job."""
    from agents.registry import agent_classes
    from agents.trainer import TrainConfig

    arm = ARMS[job.arm] if job.stage == 1 else STAGE2
    start = config.model if job.stage == 1 else f"stage1/{job.arm}/seed-{job.seed}/model"
    train = TrainConfig(
        env=config.env, env_options=config.env_options, reward=arm.reward, judge=arm.judge, agent=arm.agent,
        model=config.model if job.stage == 1 else str(root / start),
        steps=config.steps if job.stage == 1 else config.stage2_steps, prompts_per_step=config.prompts_per_step,
        group_size=config.group_size, max_new_tokens=config.max_new_tokens, temperature=config.temperature,
        seed=job.seed if job.stage == 1 else job.seed + STAGE2_SEED_OFFSET, output_dir=str(root / job.folder),
        save_every=config.save_every, device=config.device)
    agent_config = attrs.evolve(agent_classes(arm.agent)[1](), lr=config.lr, **dict(arm.overrides))
    return train, agent_config, start


def _identity(config: CompareConfig, train: Any, agent_config: Any, start: str) -> dict:
    """What makes a run this run: its settings, minus where it lives and which device it runs on."""
    settings = {k: v for k, v in attrs.asdict(train).items() if k not in ("output_dir", "model", "device")}
    return {"base_model": config.model, "start": start, "train": settings, "agent": attrs.asdict(agent_config)}


def _check_same_settings(folder: Path, identity: dict) -> None:
    """A folder holding a run started with other settings is an error: resuming it would mix two experiments."""
    started = _read_json(folder / "run.json")
    if started is not None and started != identity:
        raise SettingsMismatch(f"{folder} holds a run started with other settings "
                               f"({'; '.join(differences(started, identity))}); use another --output-dir, or "
                               "delete that folder to train it again")


def train_job(config: CompareConfig, job: Job, root: Path) -> bool:
    """Train one run unless it is finished; False when skipped. Its final model goes to ``<run>/model``.

    ``run.json`` (the settings) is written before training and ``train.json`` (the record) after the model
    is exported, so a folder with the first and not the second is an unfinished run: the trainer resumes
    it from its latest checkpoint.
    """
    from agents.trainer import Trainer

    folder = root / job.folder
    train, agent_config, start = _train_settings(config, job, root)
    identity = json.loads(json.dumps(_identity(config, train, agent_config, start)))  # as run.json holds it
    _check_same_settings(folder, identity)
    finished = (folder / "train.json").is_file()
    if not finished:
        folder.mkdir(parents=True, exist_ok=True)
        _write_json(folder / "run.json", identity)
        trainer = Trainer(train, agent_config)
        records = trainer.train()
        trainer.envs.close()
        _export_model(trainer.policy, folder / "model")
        _write_json(folder / "train.json", {
            "kind": "train", "stage": job.stage, "arm": job.arm, "seed": job.seed,
            "config": {**identity, "train": attrs.asdict(train)}, "result": run_summary(records, config),
            "metrics": f"{job.folder}/metrics.jsonl"})
    if not config.keep_checkpoints:  # optimizer states are only for resuming; the model is exported
        shutil.rmtree(folder / "checkpoints", ignore_errors=True)
    return not finished


def _export_model(policy: Any, folder: Path) -> None:
    """The policy as a plain Hugging Face folder (weights and tokenizer): what stage 2 and evaluation load."""
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    policy.model.save_pretrained(staging)
    policy.tokenizer.save_pretrained(staging)
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)


def run_summary(records: Sequence[dict], config: CompareConfig) -> dict:
    """A training run in a few numbers: start and end of its curves, what it sampled, how long it took."""
    fifth = max(1, len(records) // 5)
    head, tail = records[:fifth], records[-fifth:]
    rows = config.prompts_per_step * config.group_size
    return {
        "steps": len(records),
        "reward_first_fifth": nanmean(r["reward_mean"] for r in head),
        "reward_last_fifth": nanmean(r["reward_mean"] for r in tail),
        "accuracy_first_fifth": nanmean(r["answer_accuracy"] for r in head),
        "accuracy_last_fifth": nanmean(r["answer_accuracy"] for r in tail),
        "sampled_tokens": round(sum(r["response_tokens"] * rows for r in records)),
        "unscorable": int(sum(r.get("unscorable", 0) for r in records)),
        "skipped_steps": int(records[-1].get("skipped_steps_total", 0)) if records else 0,
        "seconds": float(sum(r["seconds_step"] for r in records)),
    }


def _eval_identity(config: CompareConfig, job: Job) -> dict:
    return {"model": config.model if job.stage == 0 else f"{job.folder}/model", "env": config.env,
            "env_options": config.env_options, "split": "test", "samples": config.eval_samples,
            "limit": config.eval_limit, "batch": config.eval_batch, "max_new_tokens": config.max_new_tokens,
            "temperature": config.temperature, "seed": job.seed}


def eval_job(config: CompareConfig, job: Job, root: Path) -> bool:
    """Evaluate one model unless it was already evaluated with these settings; False when skipped.

    Evaluation is a pure function of the model and its settings, so other settings (say a larger
    ``--eval-limit``) re-evaluate instead of failing.
    """
    from agents.evaluate import evaluate
    from agents.policy import Policy, SamplingConfig

    folder = root / job.folder
    identity = _eval_identity(config, job)
    previous = _read_json(folder / "eval.json")
    if previous is not None and previous["config"] == identity:
        return False
    model = config.model if job.stage == 0 else str(root / identity["model"])
    policy = Policy.from_pretrained(model, device=config.device)
    sampling_config = SamplingConfig(temperature=config.temperature, max_new_tokens=config.max_new_tokens)
    report = evaluate(policy, config.env, config.env_options, "test", config.eval_samples, ks=KS,
                      limit=config.eval_limit, batch=config.eval_batch, sampling=sampling_config, seed=job.seed)
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / "eval.json", {"kind": "eval", "stage": job.stage, "arm": job.arm, "seed": job.seed,
                                       "config": identity, "result": report})
    return True


def collect_records(root: Path, jobs: Iterable[Job]) -> list[dict]:
    """The finished jobs' records, in plan order."""
    records = []
    for job in jobs:
        record = _read_json(root / job.folder / f"{job.kind}.json")
        if record is not None:
            records.append(record)
    return records


# --- aggregation (pure) ----------------------------------------------------------------------------------


def nanmean(values: Iterable[float]) -> float:
    """Mean of the finite values (NaN marks an all-unscorable step); NaN when there are none."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


@attrs.frozen
class Stats:
    """A metric over seeds."""

    n: int
    """How many seeds had a value."""
    mean: float
    """Mean over those seeds."""
    std: float
    """Sample standard deviation (n - 1); NaN for a single seed."""
    low: float
    """Smallest value."""
    high: float
    """Largest value."""


def seed_stats(values: Sequence[float]) -> Stats:
    """Mean, sample std, min and max of one metric over seeds (missing values, None, are left out)."""
    present = np.array([v for v in values if v is not None], dtype=float)
    if present.size == 0:
        return Stats(0, math.nan, math.nan, math.nan, math.nan)
    std = float(present.std(ddof=1)) if present.size > 1 else math.nan
    return Stats(int(present.size), float(present.mean()), std, float(present.min()), float(present.max()))


def format_stats(stats: Stats, digits: int = 3) -> str:
    """``mean ± std [min, max]``; just the mean for one seed, a dash for none."""
    if stats.n == 0:
        return "–"
    mean = f"{stats.mean:.{digits}f}"
    if stats.n == 1:
        return mean
    return f"{mean} ± {stats.std:.{digits}f} [{stats.low:.{digits}f}, {stats.high:.{digits}f}]"


def mean_curve(curves: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Per-step mean and sample std over runs (seeds; std 0 where one run has a value), ignoring NaN; runs may
    differ in length."""
    longest = max((len(c) for c in curves), default=0)
    table = np.full((len(curves), longest), np.nan)
    for row, curve in enumerate(curves):
        table[row, : len(curve)] = curve
    means, stds = np.full(longest, np.nan), np.full(longest, np.nan)
    for step in range(longest):
        column = table[:, step][np.isfinite(table[:, step])]
        if column.size:
            means[step], stds[step] = column.mean(), column.std(ddof=1) if column.size > 1 else 0.0
    return means, stds


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean of the finite values among the last ``window`` steps up to each step (fewer at the start)."""
    values = np.asarray(values, dtype=float)
    out = np.full(values.shape, np.nan)
    for i in range(len(values)):
        recent = values[max(0, i + 1 - window) : i + 1]
        recent = recent[np.isfinite(recent)]
        if recent.size:
            out[i] = recent.mean()
    return out


def ks_for(samples: int) -> list[int]:
    return [k for k in KS if k <= samples]


def eval_rows(records: Sequence[dict]) -> dict[tuple[int, str], dict[str, Stats]]:
    """Evaluation metrics over seeds, by (stage, arm) in order of appearance: pass@k, the judged process reward,
    and from the matching training runs the tokens they sampled and their minutes."""
    grouped: dict[tuple[int, str], dict[str, list]] = {}
    for record in records:
        values = grouped.setdefault((record["stage"], record["arm"]), {})
        if record["kind"] == "eval":
            for key, value in record["result"].items():
                if key.startswith(("pass@", "judged_")):
                    values.setdefault(key, []).append(value)
        else:
            values.setdefault("sampled_tokens", []).append(record["result"]["sampled_tokens"])
            values.setdefault("minutes", []).append(record["result"]["seconds"] / 60)
    return {key: {metric: seed_stats(v) for metric, v in values.items()} for key, values in grouped.items()}


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def stage_table(rows: dict[tuple[int, str], dict[str, Stats]], stages: Sequence[int], ks: Sequence[int]) -> str:
    """One markdown table of the given stages: a row per (stage, arm), a column per metric."""
    header = ["stage", "arm", "seeds", *[f"pass@{k}" for k in ks], "judged process reward", "sampled tokens/run",
              "train min/run"]
    body = []
    for (stage, arm), metrics in rows.items():
        if stage not in stages:
            continue
        seeds = metrics.get("pass@1", seed_stats([])).n
        cells = [format_stats(metrics.get(f"pass@{k}", seed_stats([]))) for k in ks]
        cells.append(format_stats(metrics.get("judged_process_reward", seed_stats([]))))
        cells.append(format_stats(metrics.get("sampled_tokens", seed_stats([])), 0))
        cells.append(format_stats(metrics.get("minutes", seed_stats([])), 1))
        body.append([str(stage), arm, str(seeds), *cells])
    return markdown_table(header, body)


def _budget_text(config: CompareConfig) -> str:
    per_run = config.prompts_per_step * config.group_size
    seeds = ", ".join(str(s) for s in range(config.seeds))
    return (f"Base model `{config.model}`, environment `{config.env}` `{json.dumps(config.env_options)}`; seeds {seeds}. "
            f"Budget per run: {config.steps} optimizer steps x {config.prompts_per_step} problems x "
            f"{config.group_size} samples, at most {config.max_new_tokens} new tokens each (at most "
            f"{config.steps * per_run * config.max_new_tokens} sampled tokens), temperature {config.temperature}, "
            f"learning rate {config.lr:g}; the same for every arm, otherwise each agent's default hyperparameters. "
            "Training uses the train split only.\n")


def _evaluation_text(config: CompareConfig) -> str:
    return (f"Evaluation: the test split, {config.eval_limit or 'all'} problems x {config.eval_samples} samples; "
            "pass@k by the sparse answer check (unbiased estimator), and the mean process reward of the offline "
            "`reference` judge on the same responses. Cells: mean ± sample std [min, max] over seeds.\n")


def render_markdown(config: CompareConfig, records: Sequence[dict]) -> str:
    """results.md: the command, the budget, what each arm is, then one table per stage."""
    ks, rows = ks_for(config.eval_samples), eval_rows(records)
    arms = "\n".join(f"- `{name}`: {ARMS[name].label}; agent `{ARMS[name].agent}`, reward `{ARMS[name].reward}`, "
                     f"judge `{ARMS[name].judge}`" for name in config.arm_names)
    parts = ["# exprl compare: ExpRL against its baselines under one budget\n", f"```\n{config.command()}\n```\n",
             _budget_text(config), f"Arms (stage 1):\n{arms}\n", _evaluation_text(config),
             "## Stage 1 (and the base model)\n", stage_table(rows, (0, 1), ks)]
    if config.stage2_steps:
        parts += [f"\n## Stage 2: sparse GRPO for {config.stage2_steps} steps from each stage-1 result\n",
                  "Rows are named by the stage-1 arm they continue.\n", stage_table(rows, (0, 2), ks)]
    parts.append("\nPlots: `learning_curves.png` (training reward and answer accuracy: mean over seeds, "
                 "moving average over an eighth of the run, shaded ± std), "
                 "`pass_at_k.png`. Raw records: `results.jsonl`.\n")
    return "\n".join(parts)


# --- plots -----------------------------------------------------------------------------------------------


def _training_curves(root: Path, records: Sequence[dict], stage: int, key: str) -> dict[str, list[list[float]]]:
    curves: dict[str, list[list[float]]] = {}
    for record in records:
        if record["kind"] == "train" and record["stage"] == stage:
            lines = (root / record["metrics"]).read_text().splitlines()
            curves.setdefault(record["arm"], []).append([json.loads(line).get(key, math.nan) for line in lines])
    return curves


def plot_learning_curves(root: Path, records: Sequence[dict], stages: Sequence[int], path: Path) -> None:
    """Training reward and answer accuracy per arm, mean over seeds (moving average), shaded by the std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rewards = {1: "training reward (each arm's own)", 2: "training reward (sparse)"}
    figure, axes = plt.subplots(len(stages), 2, figsize=(11, 3.8 * len(stages)), squeeze=False)
    for row, stage in enumerate(stages):
        for column, (key, title) in enumerate((("reward_mean", rewards[stage]),
                                               ("answer_accuracy", "answer accuracy (training)"))):
            axis = axes[row][column]
            for arm, curves in _training_curves(root, records, stage, key).items():
                mean, std = mean_curve(curves)
                window = max(1, len(mean) // 8)
                mean, std = moving_average(mean, window), moving_average(std, window)
                steps = np.arange(1, len(mean) + 1)
                axis.plot(steps, mean, marker=".", label=arm)
                axis.fill_between(steps, mean - std, mean + std, alpha=0.15)
            axis.set_title(f"stage {stage}: {title}")
            axis.set_xlabel("step")
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            axis.legend(fontsize=8, title="from stage-1 arm" if stage == 2 else None, title_fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_pass_at_k(rows: dict[tuple[int, str], dict[str, Stats]], stages: Sequence[int], ks: Sequence[int],
                   path: Path) -> None:
    """pass@k against k per arm, one panel per stage, the base model dashed in each; bars: std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(stages), figsize=(5.5 * len(stages), 4), squeeze=False)
    for axis, stage in zip(axes[0], stages):
        for (row_stage, arm), metrics in rows.items():
            if row_stage not in (0, stage):
                continue
            stats = [metrics.get(f"pass@{k}", seed_stats([])) for k in ks]
            axis.errorbar(ks, [s.mean for s in stats], yerr=[0.0 if s.n < 2 else s.std for s in stats], capsize=3,
                          marker="o", label=arm, linestyle="--" if row_stage == 0 else "-",
                          color="black" if row_stage == 0 else None)
        axis.set_xscale("log", base=2)
        axis.set_xticks(list(ks), [str(k) for k in ks])
        axis.set_xlabel("k")
        axis.set_ylabel("pass@k (test split)")
        axis.set_title(f"after stage {stage}")
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# --- the whole comparison --------------------------------------------------------------------------------


def write_outputs(config: CompareConfig, root: Path, records: Sequence[dict]) -> dict[str, str]:
    """results.jsonl, results.md and the two plots from the finished jobs' records."""
    stages = (1, 2) if config.stage2_steps else (1,)
    paths = {name: root / name for name in ("results.jsonl", "results.md", "learning_curves.png", "pass_at_k.png")}
    paths["results.jsonl"].write_text("".join(json.dumps(r) + "\n" for r in records))
    paths["results.md"].write_text(render_markdown(config, records))
    plot_learning_curves(root, records, stages, paths["learning_curves.png"])
    plot_pass_at_k(eval_rows(records), stages, ks_for(config.eval_samples), paths["pass_at_k.png"])
    return {name: str(path) for name, path in paths.items()}


def run_compare(config: CompareConfig) -> dict:
    """Run (or resume) every job of the comparison, then write the outputs; returns what it did and where."""
    from tqdm import tqdm

    root = Path(config.output_dir)
    root.mkdir(parents=True, exist_ok=True)
    (root / ".gitignore").write_text(GITIGNORE)
    jobs = plan_jobs(config.arm_names, config.seeds, config.stage2_steps > 0)
    counts: Counter[str] = Counter()
    with tqdm(jobs, desc="compare", unit="job", file=sys.stderr) as bar:
        for job in bar:
            bar.set_postfix_str(job.label)
            ran = (train_job if job.kind == "train" else eval_job)(config, job, root)
            counts[("trained" if job.kind == "train" else "evaluated") if ran else f"skipped_{job.kind}"] += 1
    records = collect_records(root, jobs)
    outputs = write_outputs(config, root, records)
    return {"output_dir": str(root), "jobs": len(jobs), "trained": counts["trained"],
            "evaluated": counts["evaluated"], "skipped_train": counts["skipped_train"],
            "skipped_eval": counts["skipped_eval"], **outputs}
