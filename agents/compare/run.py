"""``exprl compare``, the run: train and evaluate each planned job unless it is done, resumably.

Every training run and every evaluation has its own folder under ``output_dir`` and a JSON file that
marks it finished (``train.json``, ``eval.json``), so an interrupted compare picks up where it stopped:
finished runs and evaluations are skipped, an unfinished run resumes from its latest trainer checkpoint
(the trainer's exact resume), and a folder started with other settings is an error rather than silently
mixed in. When every job is done, :func:`agents.compare.report.write_outputs` writes the results.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from agents.compare.plan import KS, STAGE2_SEED_OFFSET, CompareConfig, Job, arm_settings, plan_jobs
from agents.compare.report import write_outputs
from agents.presets import train_problem_count
from judges.registry import judge_version
from judges.reporting import json_number, mean_of

GITIGNORE = (
    "# written by exprl compare: models and trainer state are large; records, metrics and plots are not\n"
    "model/\ncheckpoints/\ntensorboard/\n*.partial\n"
)
"""The output folder's .gitignore (the default folder is inside the repository, and results get committed)."""


EVAL_JUDGE = "reference"
"""The judge of every evaluation's judged measure (the offline one, whatever pays the arms)."""


class SettingsMismatch(ValueError):
    """A run folder holds a run started with other settings."""


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _write_json(path: Path, data: dict) -> None:
    """Write, fsync, then rename, so a marker file is either complete or absent, even after a power cut."""
    partial = path.with_suffix(".partial")
    with open(partial, "w", encoding="utf-8") as file:
        file.write(json.dumps(data, indent=2) + "\n")
        file.flush()
        os.fsync(file.fileno())
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
    """(TrainConfig, agent config, start label, preset overrides) of a training job."""
    from agents.registry import agent_classes
    from agents.trainer import TrainConfig

    start = config.model if job.stage == 1 else f"stage1/{job.arm}/seed-{job.seed}/model"
    settings = arm_settings(config, job.arm, job.stage, lambda: train_problem_count(config.env, config.env_options))
    train = TrainConfig(
        **{
            "env": config.env,
            "env_options": config.env_options,
            "model": config.model if job.stage == 1 else str(root / start),
            "seed": job.seed if job.stage == 1 else job.seed + STAGE2_SEED_OFFSET,
            "output_dir": str(root / job.folder),
            "save_every": config.save_every,
            "device": config.device,
            "final_optimizer": False,  # only the model is kept
            "eval_problems": 0,  # every arm is evaluated by the comparison itself, on the whole test split
            **settings.run,  # agent, reward, judge, budget, the arm's own (env_options with the judge's options)
        }
    )
    agent_config = attrs.evolve(agent_classes(train.agent)[1](), **settings.agent)
    return train, agent_config, start, settings.overrides


def _identity(config: CompareConfig, train: Any, agent_config: Any, start: str, overrides: Sequence = ()) -> dict:
    """What makes a run this run: its settings, minus where it lives and the ones that cannot change results; with a
    preset, its name and the preset fields this comparison changed."""
    from agents.trainer import RESULT_NEUTRAL, run_judge_version

    # A finished run is not extended, so its length counts; the start is recorded as a label, not a path.
    neutral = (RESULT_NEUTRAL["config"] - {"steps"}) | {"model"}
    settings = {k: v for k, v in attrs.asdict(train).items() if k not in neutral}
    identity = {"base_model": config.model, "start": start, "train": settings, "agent": attrs.asdict(agent_config)}
    version = run_judge_version(train)
    if version:  # a changed judge is another experiment
        identity["judge_version"] = version
    if config.preset:
        identity["preset"] = {"name": config.preset, "overrides": [attrs.asdict(o) for o in overrides]}
    return identity


def same_settings(recorded: dict, identity: dict) -> bool:
    """Whether a recorded run or evaluation has these settings. A record written before runs recorded their judge's
    version (2026-12-07) has none: it is compared on the rest, since its judge version cannot be known."""
    if "judge_version" not in recorded:
        identity = {key: value for key, value in identity.items() if key != "judge_version"}
    return recorded == identity


def _check_same_settings(folder: Path, identity: dict) -> None:
    """A folder holding a run started with other settings is an error: resuming it would mix two experiments."""
    started = _read_json(folder / "run.json")
    if started is not None and not same_settings(started, identity):
        raise SettingsMismatch(
            f"{folder} holds a run started with other settings "
            f"({'; '.join(differences(started, identity))}); use another --output-dir, or "
            "delete that folder to train it again"
        )


def train_job(config: CompareConfig, job: Job, root: Path) -> bool:
    """Train one run unless it is finished; False when skipped. Its final model goes to ``<run>/model``.

    ``run.json`` (the settings) is written before training and ``train.json`` (the record) after the model
    is exported, so a folder with the first and not the second is an unfinished run: the trainer resumes
    it from its latest checkpoint.
    """
    from agents.trainer import Trainer

    folder = root / job.folder
    train, agent_config, start, overrides = _train_settings(config, job, root)
    identity = json.loads(json.dumps(_identity(config, train, agent_config, start, overrides)))  # as run.json has it
    _check_same_settings(folder, identity)
    finished = (folder / "train.json").is_file()
    if not finished:
        folder.mkdir(parents=True, exist_ok=True)
        _write_json(folder / "run.json", identity)
        trainer = Trainer(train, agent_config)
        records = trainer.train()
        trainer.envs.close()
        _export_model(trainer.policy, folder / "model")
        _write_json(
            folder / "train.json",
            {
                "kind": "train",
                "stage": job.stage,
                "arm": job.arm,
                "seed": job.seed,
                "config": {**identity, "train": attrs.asdict(train)},
                "result": run_summary(records, train.prompts_per_step * train.group_size),
                "metrics": f"{job.folder}/metrics.jsonl",
            },
        )
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


def run_summary(records: Sequence[dict], rows: int) -> dict:
    """A training run in a few numbers: start and end of its curves (the mean over the steps that have a value;
    None when none has, e.g. every rollout unscorable), what it sampled (``rows`` responses per step), how long it
    took."""
    fifth = max(1, len(records) // 5)
    head, tail = records[:fifth], records[-fifth:]
    return {
        "steps": len(records),
        "reward_first_fifth": json_number(mean_of(r["reward_mean"] for r in head)),
        "reward_last_fifth": json_number(mean_of(r["reward_mean"] for r in tail)),
        "accuracy_first_fifth": json_number(mean_of(r["answer_accuracy"] for r in head)),
        "accuracy_last_fifth": json_number(mean_of(r["answer_accuracy"] for r in tail)),
        "sampled_tokens": round(sum(r["response_tokens"] * rows for r in records)),
        "unscorable": int(sum(r.get("unscorable", 0) for r in records)),
        "skipped_steps": int(records[-1].get("skipped_steps_total", 0)) if records else 0,
        "seconds": float(sum(r["seconds_step"] for r in records)),
    }


def _eval_identity(config: CompareConfig, job: Job) -> dict:
    return {
        "model": config.model if job.stage == 0 else f"{job.folder}/model",
        "env": config.env,
        "env_options": config.env_options,
        "split": "test",
        "samples": config.eval_samples,
        "limit": config.eval_limit,
        "batch": config.eval_batch,
        "max_new_tokens": config.eval_sampling[0],
        "temperature": config.eval_sampling[1],
        "seed": job.seed,
        "judge_version": judge_version(EVAL_JUDGE),  # the judged measure's judge
    }


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
    if previous is not None and same_settings(previous["config"], identity):
        return False
    model = config.model if job.stage == 0 else str(root / identity["model"])
    policy = Policy.from_pretrained(model, device=config.device)
    tokens, temperature = config.eval_sampling
    sampling_config = SamplingConfig(temperature=temperature, max_new_tokens=tokens)
    report = evaluate(
        policy,
        config.env,
        config.env_options,
        "test",
        config.eval_samples,
        ks=KS,
        limit=config.eval_limit,
        batch=config.eval_batch,
        sampling=sampling_config,
        seed=job.seed,
        judge=EVAL_JUDGE,
    )
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(
        folder / "eval.json",
        {"kind": "eval", "stage": job.stage, "arm": job.arm, "seed": job.seed, "config": identity, "result": report},
    )
    return True


def collect_records(root: Path, jobs: Iterable[Job]) -> list[dict]:
    """The finished jobs' records, in plan order."""
    records = []
    for job in jobs:
        record = _read_json(root / job.folder / f"{job.kind}.json")
        if record is not None:
            records.append(record)
    return records


def job_chains(jobs: Sequence[Job]) -> list[list[Job]]:
    """The jobs as chains that must run in order, in plan order: each (arm, seed)'s stage-1 run, its evaluation,
    the stage-2 run continuing it and that one's evaluation; each base evaluation alone. Chains depend on nothing
    but themselves, so a pool may run them at once."""
    chains: dict[tuple[str, int], list[Job]] = {}
    for job in jobs:
        chains.setdefault((job.arm, job.seed), []).append(job)
    return list(chains.values())


def run_chain(config: CompareConfig, chain: Sequence[Job], root: Path, threads: int = 0) -> list[tuple[Job, bool]]:
    """Run one chain's jobs in order (``threads`` > 0: with that many torch threads); each with whether it ran."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    return [(job, (train_job if job.kind == "train" else eval_job)(config, job, root)) for job in chain]


def _run_chains(config: CompareConfig, chains: list[list[Job]], root: Path, bar: Any) -> Iterable[tuple[Job, bool]]:
    """Every chain's jobs with whether each ran: in this process one by one, or with ``workers`` > 1 in a pool of
    spawned processes sharing the cores (the first failure cancels what has not started and is raised)."""
    if config.workers == 1:
        for chain in chains:
            for job in chain:
                bar.set_postfix_str(job.label)
                yield from run_chain(config, [job], root)
        return
    import multiprocessing
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    threads = max(1, (os.cpu_count() or 1) // config.workers)
    context = multiprocessing.get_context("spawn")  # no fork of a process holding torch threads
    with ProcessPoolExecutor(config.workers, mp_context=context) as pool:
        pending = {pool.submit(run_chain, config, chain, root, threads) for chain in chains}
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                if future.exception() is not None:
                    for other in pending:
                        other.cancel()
                    raise future.exception()
                for job, ran in future.result():
                    bar.set_postfix_str(job.label)
                    yield job, ran


def run_compare(config: CompareConfig) -> dict:
    """Run (or resume) every job of the comparison, then write the outputs; returns what it did and where."""
    from tqdm import tqdm

    root = Path(config.output_dir)
    root.mkdir(parents=True, exist_ok=True)
    (root / ".gitignore").write_text(GITIGNORE)
    jobs = plan_jobs(config.arm_names, config.seeds, config.stage2_steps > 0)
    counts: Counter[str] = Counter()
    with tqdm(total=len(jobs), desc="compare", unit="job", file=sys.stderr) as bar:
        for job, ran in _run_chains(config, job_chains(jobs), root, bar):
            counts[("trained" if job.kind == "train" else "evaluated") if ran else f"skipped_{job.kind}"] += 1
            bar.update()
    records = collect_records(root, jobs)
    outputs = write_outputs(config, root, records)
    return {
        "output_dir": str(root),
        "jobs": len(jobs),
        "trained": counts["trained"],
        "evaluated": counts["evaluated"],
        "skipped_train": counts["skipped_train"],
        "skipped_eval": counts["skipped_eval"],
        **outputs,
    }
