"""The agent-agnostic training loop: reset, act, one batched judge step, update; repeat.

Each step takes ``prompts_per_step`` training problems in a seeded order, resets ``group_size`` envs on
each (a GRPO group), samples one response per env, steps the vector env once (one batched judge call)
and hands the batch to the agent (any :class:`agents.protocol.Agent`). Metrics go to ``metrics.jsonl`` and
TensorBoard every step, with a progress bar; ``plot.png`` (reward and accuracy curves) is drawn at the end.
A checkpoint holds the model, the agent's state (optimizer included), the RNG states, the step (the data
position follows from it) and the settings, so a resumed run repeats an uninterrupted one exactly on CPU.

Under a launcher (``torchrun``, ``accelerate launch``) several processes train together, each on its share of every
step's problems, and rank 0 alone writes; :mod:`agents.distributed` says how, and what exactly is communicated.

A run folder survives what users and machines do (the mechanisms are in :mod:`agents.durable`): checkpoints
and logs are written atomically, a torn last log line is dropped, a damaged checkpoint is set aside and the
newest intact one resumed, only the newest ``keep_last`` checkpoints stay on disk, and resuming with settings
that change results (see :data:`RESULT_NEUTRAL`) is an error naming each one, never a silent mix of two runs.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

import attrs
import gymnasium as gym
import numpy as np
import torch

from agents import distributed, sharding
from agents.batch import Batch, batch_from_step, info_column, require_step_values, zero_truncated
from agents.config_cli import json_object
from agents.durable import (
    CheckpointDamaged,
    append_line,
    atomic_write_text,
    atomic_write_with,
    checkpoint_folders,
    prune,
    publish_folder,
    read_jsonl,
    remove_leftovers,
    set_aside,
    verify_manifest,
)
from agents.objectives import AUTHORS_NORMS
from agents.policy import Policy, SamplingConfig
from agents.privileged import references_for_agent
from agents.protocol import OPTIMIZER_KEY
from agents.registry import make_agent
from judges.registry import judge_version
from judges.reporting import moving_average
from judges.verdict import Cause

TRUNCATED_REWARDS = ("zero", "judge")
PRECISIONS = ("auto", "fp32", "bf16")
GENERATORS = ("transformers", "vllm", "vllm-server")
TIMING_KEYS = (
    "seconds_sample",
    "seconds_judge",
    "seconds_update",
    "seconds_step",
    "seconds_communicate",
    "eval_seconds",
)


def is_operational(key: str) -> bool:
    """Whether a metric describes how this process ran rather than what the step computed: timings, and the
    judge's counters (which count cache hits and worker starts of the whole process). A resumed run repeats every
    other metric of an uninterrupted one exactly on CPU."""
    return key in TIMING_KEYS or key.startswith("judge_")


CHECKPOINT_FILES = ("model.safetensors", "state.pt", "trainer.json")
SETTINGS_FILE = "train_config.json"
"""The run's settings, written at every start: what a resume without a checkpoint is checked against."""
RESULT_NEUTRAL = {
    "config": frozenset(
        {
            "steps",
            "output_dir",
            "save_every",
            "device",
            "precision",
            "generator",
            "generator_url",
            "keep_last",
            "final_optimizer",
            "gradient_checkpointing",
            "sharding",
            "eval_problems",
            "eval_samples",
        }
    ),
    "agent_config": frozenset({"micro_batch"}),
    "judge": frozenset(),
}
"""Settings a resumed run may change: where and how often it saves, how far it goes (no setting depends on the
total step count), and where, how precisely and in what pieces it computes (device, precision, sampling backend,
micro-batch size, gradient checkpointing, sharding: the same experiment, equal up to floating-point order and
precision), and the held-out evaluation (it samples in a forked random stream, so training draws what it would draw
without it). Every other setting changes what a step does, and so does the version of the judge's scoring."""
_log = logging.getLogger("exprl")


class RunFolderError(ValueError):
    """The output folder cannot be used as asked: unusable, holding another run, or with no intact checkpoint."""


def _named_folder(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not str(value).strip():
        raise ValueError(
            "output_dir is empty: name the folder for metrics and checkpoints (e.g. --output-dir "
            "runs/demo); an empty name would write into the current directory"
        )


def _one_per_process(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    processes = distributed.launched_processes()
    if value < processes:
        raise ValueError(
            f"prompts_per_step={value} leaves some of the {processes} processes the launcher started without a "
            f"problem: each takes its share of a step's problems, so give at least {processes}"
        )


def _launched_to_shard(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if value == "fsdp" and distributed.launched_processes() <= 1:
        raise ValueError(
            "--sharding fsdp shards the model over several processes, and this one was started alone: launch it with "
            "torchrun --nproc_per_node N -m agents.cli train ... or accelerate launch --multi_gpu --num_processes N -m "
            "agents.cli train ... (N >= 2), or drop --sharding"
        )


@attrs.frozen
class TrainConfig:
    env: str = "ExpRL-Arith-v0"
    """Registered environment id."""
    env_options: dict = attrs.field(factory=lambda: {"n_ops": 1, "max_operand": 9}, converter=json_object)
    """Extra environment kwargs (JSON on the command line); the default picks one-operation problems, where
    SmolLM2-135M earns some dense credit but rarely a boxed correct answer."""
    reward: str = "process"
    """sparse, outcome or process."""
    judge: str = "reference"
    """Judge name or module:attr."""
    agent: str = "grpo"
    """grpo, ppo, reinforce, sft or self_distill."""
    model: str = "smollm2-135m-instruct"
    """Policy: a Hugging Face folder or id, smollm2-135m-instruct, tiny-random, or a testbed alias (testbed,
    testbed-slips, testbed-slips-teacher)."""
    steps: int = 20
    """Optimizer steps."""
    prompts_per_step: int = attrs.field(default=2, validator=_one_per_process)
    """Distinct problems per step (under a launcher, in all: process r of N takes problems r, r + N, ...)."""
    group_size: int = 4
    """Responses sampled per problem."""
    max_new_tokens: int = 96
    """Longest response, in tokens."""
    temperature: float = 0.8
    """Sampling temperature."""
    seed: int = 0
    """Seeds data order, sampling and initialisation."""
    output_dir: str = attrs.field(default="runs/demo", validator=_named_folder)
    """Where metrics, checkpoints and plots go (rerunning resumes there)."""
    save_every: int = attrs.field(default=10, validator=attrs.validators.ge(0))
    """Checkpoint every N steps (and at the end); 0 saves only at the end."""
    keep_last: int = attrs.field(default=2, validator=attrs.validators.ge(0))
    """Checkpoints kept on disk: the newest N (older ones are deleted after each save); 0 keeps every one."""
    final_optimizer: bool = True
    """Keep the optimizer state in the final checkpoint; --no-final-optimizer saves weights, RNG and step only
    (a third of the size), and a later extension of the run restarts the optimizer's moments."""
    device: str = "cpu"
    """cpu or cuda (under a launcher: each process's own GPU)."""
    precision: str = attrs.field(default="auto", validator=attrs.validators.in_(PRECISIONS))
    """bf16: every forward under autocast to bf16, weights, gradients and optimizer state in fp32; fp32: none; auto:
    bf16 on CUDA, fp32 elsewhere."""
    sharding: str = attrs.field(
        default="none", validator=[attrs.validators.in_(sharding.SHARDINGS), _launched_to_shard]
    )
    """none: every process holds the whole model, gradients and optimizer state (data parallel); fsdp: FSDP2 shards
    them over the launcher's processes, 1/N each (needs torchrun or accelerate launch; see agents/sharding.py)."""
    gradient_checkpointing: bool = False
    """Recompute each layer in the backward instead of keeping its activations (the training pass then runs without
    the shared prompt pass): less memory, about a third more compute."""
    generator: str = attrs.field(default="transformers", validator=attrs.validators.in_(GENERATORS))
    """Sampling backend: transformers (the policy's own decode loop, CPU or GPU); vllm-server (a vLLM server at
    --generator-url, through TRL's client; the weights are pushed after each update: GPU only); vllm (in-process, GPU
    only, not exercised in this project)."""
    generator_url: str = "http://127.0.0.1:8000"
    """The vllm-server generator's address (``trl vllm-serve --model M`` listens on port 8000)."""
    truncated_reward: str = attrs.field(default="zero", validator=attrs.validators.in_(TRUNCATED_REWARDS))
    """What a response cut off at max_new_tokens earns on a judged (outcome or process) reward: zero (the authors':
    0 and all-zero step scores, kept in the loss; an unscorable verdict stays unscorable) or judge (paid as judged).
    A sparse reward is paid as checked either way, as in the authors' sparse runs."""
    eval_problems: int = attrs.field(default=32, validator=attrs.validators.ge(0))
    """Held-out problems (a seeded slice of the env's test split, the same each time) measured before the first step
    and after the last: pass@1 (boxed), the correct value stated (boxed or not) and the judged reward, in
    metrics.jsonl (steps 0 and last), TensorBoard, plot.png and the final summary; 0 turns it off. On by default
    because the default run is the demo; its 32 x 2 responses cost about as much sampling as 8 demo steps (roughly
    70 s per evaluation for SmolLM2 on 2 quiet CPU cores): 64 responses is what it takes for a 20-point change in a
    rate to stand out of the noise (16 x 2 could not tell 28% -> 47% from noise). Scripted runs set 0."""
    eval_samples: int = attrs.field(default=2, validator=attrs.validators.ge(1))
    """Responses per held-out problem."""


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """What the policy's forwards autocast to: bf16 when asked, or by default (``auto``) on CUDA; else nothing."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def step_problem_ids(problem_ids: list[str], seed: int, per_step: int, step: int) -> list[str]:
    """The problem ids of a step: consecutive slices of seeded per-epoch permutations.

    A pure function of the data and the step, so a resumed run (or another trainer fed the same
    prompts, as in benchmarks/race_trl.py) sees exactly the same order.
    """
    n, ids = len(problem_ids), []
    for position in range(step * per_step, (step + 1) * per_step):
        epoch, offset = divmod(position, n)
        order = np.random.default_rng([seed, epoch]).permutation(n)
        ids.append(problem_ids[order[offset]])
    return ids


def judge_counters(judge) -> dict[str, float]:
    """What a judge with ``counters()`` has counted so far in this process (latencies left out: not counts)."""
    counters = getattr(judge, "counters", None)
    found = counters() if callable(counters) else {}
    return {k: v for k, v in found.items() if isinstance(v, (int, float)) and "latency" not in k}


def unscorable_by_cause(infos: dict) -> dict[str, int]:
    """``unscorable_<cause>``: how many rollouts of a vector-env step's ``infos`` were unscorable, by cause."""
    causes = [c for c, present in zip(infos.get("verdict_cause", []), infos.get("_verdict_cause", [])) if present]
    return count_unscorable(causes)


def count_unscorable(causes: list[str]) -> dict[str, int]:
    """``unscorable_<cause>``: how many of the verdict causes are unscorable ones, by cause."""
    return {f"unscorable_{cause}": causes.count(cause) for cause in sorted(set(causes)) if not Cause(cause).scorable}


def rollout_columns(batch: Batch, infos: dict) -> dict[str, list]:
    """One value per rollout of what the step's metrics are made of (gathered from every rank under a launcher)."""
    n = len(batch)
    return {
        "reward": batch.rewards.tolist(),
        "correct": info_column(infos, "answer_correct", n),  # None: the answer could not be checked
        "cause": info_column(infos, "verdict_cause", n),
        "tokens": [len(s.response_ids) for s in batch.samples],
        "finished": [s.finished for s in batch.samples],
    }


def rollout_metrics(columns: dict[str, list]) -> dict[str, float]:
    """The step's rollout metrics from :func:`rollout_columns` (of one process, or every rank's in step order)."""
    rewards = np.asarray(columns["reward"], dtype=np.float32)
    scored = np.isfinite(rewards)
    correct = [bool(c) for c in columns["correct"] if c is not None]  # not counted when the answer was not checked
    return {
        **count_unscorable([c for c in columns["cause"] if c is not None]),
        "reward_mean": float(rewards[scored].mean()) if scored.any() else math.nan,
        "reward_std": float(rewards[scored].std()) if scored.any() else math.nan,
        "unscorable": int((~scored).sum()),
        "answer_accuracy": float(np.mean(correct)) if correct else 0.0,
        "response_tokens": float(np.mean(columns["tokens"])),
        "finished_fraction": float(np.mean(columns["finished"])),
    }


class MetricsLog:
    """metrics.jsonl plus TensorBoard scalars. The JSONL is cut back to the resumed step, so reruns never
    duplicate; each record is appended durably, and a torn last line (a kill inside a write) is dropped."""

    def __init__(self, folder: Path, start_step: int):
        self.path = folder / "metrics.jsonl"
        earlier = read_jsonl(self.path, on_torn_tail=_log.warning) if start_step > 0 else []
        self.kept = [r for r in earlier if isinstance(r, dict) and r.get("step", math.inf) <= start_step]
        atomic_write_text(self.path, "".join(json.dumps(record) + "\n" for record in self.kept))
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(folder / "tensorboard"), purge_step=start_step + 1)

    def write(self, record: dict[str, float]) -> None:
        append_line(self.path, json.dumps(record))
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(key, value, record["step"])
        self.writer.flush()

    def records(self) -> list[dict[str, float]]:
        return read_jsonl(self.path, on_torn_tail=_log.warning)

    def close(self) -> None:
        self.writer.close()


def run_judge_version(config: TrainConfig) -> str | None:
    """The version of the scoring of the run's judge with the run's judge options (None when it declares none)."""
    return judge_version(config.judge, (config.env_options or {}).get("judge_kwargs"))


def run_settings(config: TrainConfig, agent_config: Any) -> dict[str, dict]:
    """A run's settings as its checkpoints and ``train_config.json`` record them (JSON types), with the version of
    its judge's scoring where the judge declares one (:func:`run_judge_version`): a judge whose scoring changed pays
    other rewards under the same name, so resuming across it would mix two objectives."""
    version = run_judge_version(config)
    judge = {"judge_version": version} if version else {}
    return json.loads(
        json.dumps({"config": attrs.asdict(config), "agent_config": attrs.asdict(agent_config), "judge": judge})
    )


BEFORE_ISSUE_13_NORMS = {"delta": "delta_zero", "group": "group_final", "end": "end on cumulative progress (retired)"}
"""What a GRPO process_norm recorded before issue 13 meant, in today's names: ``delta`` then set s_0 = 0 (today's
``delta_zero``), ``group`` subtracted the group's mean final score (``group_final``), ``end`` differenced cumulative
progress (today's ``end`` differences ratings)."""


def settings_as_today(recorded: dict[str, Any]) -> dict[str, Any]:
    """A recorded run's settings in today's meaning.

    A record written before issue 13 (it has no ``truncated_reward``) paid cut-off responses as judged (the rule does
    not touch sparse rewards), and its GRPO ``process_norm`` names meant what :data:`BEFORE_ISSUE_13_NORMS` says.
    Resuming it under today's defaults would silently mix two objectives, so those values are translated and then
    compared like any other setting.
    """
    config = recorded.get("config")
    if not isinstance(config, dict) or "truncated_reward" in config:
        return recorded
    paid_as_judged = {} if config.get("reward") == "sparse" else {"truncated_reward": "judge"}  # sparse: no rule
    translated = {**recorded, "config": {**config, **paid_as_judged}}
    agent = recorded.get("agent_config")
    if config.get("agent") == "grpo" and config.get("reward") == "process" and isinstance(agent, dict):
        norm = agent.get("process_norm")
        translated["agent_config"] = {**agent, "process_norm": BEFORE_ISSUE_13_NORMS.get(norm, norm)}
    return translated


def settings_differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """One line per setting that differs and changes results (:data:`RESULT_NEUTRAL` ones may differ).

    The record is first read in today's meaning (:func:`settings_as_today`); a setting absent from it (written by an
    older version: the judge's version before 2026-12-08) is then not compared; the agent's settings are compared
    only when the agent is the same.
    """
    recorded = settings_as_today(recorded)
    found = []
    for section, neutral in RESULT_NEUTRAL.items():
        old, new = recorded.get(section), current[section]
        if not isinstance(old, dict):
            continue
        for key in sorted((set(old) & set(new)) - neutral):
            if old[key] != new[key]:
                found.append(f"{key}: {old[key]!r} in the folder, {new[key]!r} now")
        if section == "config" and old.get("agent", new["agent"]) != new["agent"]:
            break
    return found


def _usable_folder(name: str) -> Path:
    """The output folder, created if needed; a clear error if it is a file or cannot be created or written."""
    folder = Path(name).expanduser()
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"output_dir {name!r} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunFolderError(f"cannot create output_dir {name!r}: {error.strerror or error}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RunFolderError(f"output_dir {name!r} is not writable")
    return folder


class Trainer:
    """Runs one agent on one environment (see module docstring)."""

    def __init__(self, config: TrainConfig, agent_config: Any = None):
        self.config = config
        self.world = distributed.start(config.device)  # None in a single process
        self.rank, self.world_size = (self.world.rank, self.world.size) if self.world else (0, 1)
        self.folder = _usable_folder(config.output_dir)
        _seed_everything(distributed.rank_seed(config.seed, self.rank))
        self.envs = gym.make_vec(
            config.env,
            num_envs=len(range(self.rank, config.prompts_per_step, self.world_size)) * config.group_size,
            split="train",
            reward=config.reward,
            judge=config.judge,
            **config.env_options,
        )
        self.problems = self.envs.unwrapped.problems
        self._judge_counts = self._judge_counters()  # the baseline of the first step's counts
        self.problem_ids = [p.id for p in self.problems]
        device = str(self.world.device) if self.world and config.device != "cpu" else config.device
        self.policy = Policy.from_pretrained(config.model, device=device)
        self.policy.use_mixed_precision(autocast_dtype(config.precision, self.policy.device))
        if config.gradient_checkpointing:
            self.policy.use_gradient_checkpointing()
        if config.sharding == "fsdp":  # before the agent: its optimizer and frozen copies take the sharded parameters
            sharding.shard(self.policy.model)
        else:
            sharding.release()
        self.agent = make_agent(config.agent, self.policy, agent_config)
        norm = getattr(self.agent.config, "process_norm", None)
        if config.reward == "process" and norm is not None:
            kind = "ratings" if norm in AUTHORS_NORMS else "progress"
            require_step_values(self.envs.unwrapped.judge, kind, norm)
        self.sampling = SamplingConfig(temperature=config.temperature, max_new_tokens=config.max_new_tokens)
        self.generator = self.policy
        if config.generator == "vllm":
            from agents.generation import VLLMGenerator
            from agents.models import resolve_model

            self.generator = VLLMGenerator(resolve_model(config.model), seed=config.seed)
        elif config.generator == "vllm-server":
            from agents.generation import VLLMServerGenerator

            self.generator = VLLMServerGenerator(config.generator_url, self.policy.tokenizer)
        self.held_out = self._held_out() if config.eval_problems else None
        self.step = 0

    def _held_out(self):
        """The held-out slice (:class:`agents.evaluate.HeldOut`); None, with a warning, when the data has no test
        split to take it from."""
        from agents.evaluate import HeldOut
        from exprl_env.env import EmptySplit

        config = self.config
        try:
            return HeldOut(
                config.env,
                config.env_options,
                config.eval_problems,
                config.eval_samples,
                self.envs.num_envs,  # the batch this process already samples at every step
                config.reward,
                config.judge,
                config.truncated_reward == "zero" and config.reward != "sparse",
                config.seed,
                self.rank,
                self.world_size,
            )
        except EmptySplit as error:
            _log.warning("no held-out evaluation: %s (--eval-problems 0 turns it off)", error)
            return None

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run folder (rank 0, or the only process)."""
        return self.rank == 0

    # --- data ----------------------------------------------------------------------------------------
    def problems_for(self, step: int) -> list[str]:
        """The problem ids of a step (see :func:`step_problem_ids`)."""
        return step_problem_ids(self.problem_ids, self.config.seed, self.config.prompts_per_step, step)

    # --- one step -----------------------------------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        distributed.take_seconds()
        started = time.perf_counter()
        mine = self.problems_for(self.step)[self.rank :: self.world_size]  # whole groups: group statistics stay local
        problem_ids = [pid for pid in mine for _ in range(self.config.group_size)]
        observations, _ = self.envs.reset(options={"problem_id": problem_ids})
        samples = self.generator.sample([self.policy.prompt_ids(o) for o in observations], self.sampling)
        sampled = time.perf_counter()
        _, rewards, _, _, infos = self.envs.step([s.text for s in samples])
        judge_counts = self._judge_counter_deltas()
        judged = time.perf_counter()
        batch = batch_from_step(
            samples,
            observations,
            rewards,
            infos,
            self.config.group_size,
            self.config.reward,
            self.config.temperature,
            max_new_tokens=self.config.max_new_tokens,
            judge=self.envs.unwrapped.judge.name,
        )
        zeroed = 0
        if self.config.truncated_reward == "zero" and self.config.reward != "sparse":
            batch, zeroed = zero_truncated(batch)
        agent_metrics = self.agent.update(batch, references_for_agent(self.agent, self.problems, batch.problem_ids))
        self._push_weights()
        self.step += 1
        done = time.perf_counter()
        columns, zeroed, judge_counts = self._whole_step(rollout_columns(batch, infos), zeroed, judge_counts)
        communicated = {"seconds_communicate": distributed.take_seconds()} if self.world else {}
        return {
            "step": self.step,
            **rollout_metrics(columns),
            "truncated_zeroed": zeroed,
            **judge_counts,
            **agent_metrics,
            "seconds_sample": sampled - started,
            "seconds_judge": judged - sampled,
            "seconds_update": done - judged,
            "seconds_step": done - started,
            **communicated,
        }

    def evaluate_held_out(self) -> dict[str, Any]:
        """The held-out ``eval_*`` metrics of the policy as it is now (every rank calls it; see
        :class:`agents.evaluate.HeldOut`). The judge counters are re-read after it: the next step logs only its own."""
        started = time.perf_counter()
        columns = self.held_out.columns(self.generator, self.policy, self.sampling, progress=self.is_main)
        shares = distributed.gather(columns)
        self._judge_counts = self._judge_counters()
        return self.held_out.metrics(shares, time.perf_counter() - started)

    def _push_weights(self) -> None:
        """After an update, the next samples must come from the updated policy: a generator that holds its own copy
        of the weights gets them. One shared by every rank (a generation server) is updated by rank 0 while the
        others wait; one per rank (an in-process engine) by each rank."""
        if self.generator is self.policy:
            return
        shared = getattr(self.generator, "shared", False)
        with self.policy.gathered():  # a sharded model is whole on every rank while rank 0 pushes it
            if self.is_main or not shared:
                self.generator.load_weights(self.policy.model)
        if shared:
            distributed.barrier()

    def _whole_step(self, columns: dict, zeroed: int, judge_counts: dict) -> tuple[dict, int, dict]:
        """The step's rollout columns, zeroed count and judge counts over every rank (as they are, in one process);
        the rollouts in the order one process would hold them."""
        if self.world is None:
            return columns, zeroed, judge_counts
        ranks = distributed.gather((columns, zeroed, judge_counts))
        group = self.config.group_size
        merged = {key: distributed.global_order([c[key] for c, _, _ in ranks], group) for key in columns}
        counts = {key: sum(c.get(key, 0) for _, _, c in ranks) for key in judge_counts}
        return merged, sum(z for _, z, _ in ranks), counts

    def _judge_counter_deltas(self) -> dict[str, float]:
        """What the judge counted during this step (``judge_`` + its counter), for judges with ``counters()``:
        e.g. math-verify workers replaced, checks timed out, server retries. Counts since the last step of this
        process (the math-verify pool is shared by the process's judges), so a resumed run logs the same kind of
        number; latencies are not counts and are left out."""
        before, self._judge_counts = self._judge_counts, self._judge_counters()
        return {f"judge_{k}": v - before.get(k, 0) for k, v in self._judge_counts.items()}

    def _judge_counters(self) -> dict[str, float]:
        return judge_counters(self.envs.unwrapped.judge)

    # --- the run ------------------------------------------------------------------------------------
    def train(self, resume: bool = True) -> list[dict[str, float]]:
        """Run to ``config.steps``, resuming from the newest intact checkpoint unless ``resume=False``.

        Raises :class:`RunFolderError` when the folder holds a run with other settings, or checkpoints of
        which none is intact (``resume=False`` starts over in either case).
        """
        from tqdm import tqdm

        opened = distributed.on_main(lambda: self._open_run(resume))  # rank 0 alone reads, decides and writes
        log = opened[0] if opened else None
        resumed, skipped = distributed.broadcast(opened[1:] if opened else None)
        if not self.is_main and resumed is not None:
            self.load_checkpoint(resumed, verify=False)  # rank 0 verified it
        self._push_weights()  # a generator holding its own weights starts from the trainer's (a resumed run's too)
        if self.held_out is not None and self.step == 0 and self.step < self.config.steps:
            before = {"step": 0, **self.evaluate_held_out()}  # the starting point, logged as step 0
            if log is not None:
                log.write(before)
        with tqdm(
            total=self.config.steps, initial=self.step, desc="train", unit="step", disable=not self.is_main
        ) as bar:
            while self.step < self.config.steps:
                record = self.train_step()
                skipped += int(record.get("skipped_non_finite", 0))
                record["skipped_steps_total"] = skipped
                final = self.step == self.config.steps
                if final and self.held_out is not None:  # in the last step's record, written before its checkpoint
                    record.update(self.evaluate_held_out())
                if log is not None:
                    log.write(record)
                bar.set_postfix(reward=f"{record['reward_mean']:.3f}", acc=f"{record['answer_accuracy']:.2f}")
                bar.update(1)
                if final or (self.config.save_every and self.step % self.config.save_every == 0):
                    self.save_checkpoint(optimizer=self.config.final_optimizer or not final)
        return distributed.broadcast(distributed.on_main(lambda: self._close_run(log)))

    def _open_run(self, resume: bool) -> tuple[MetricsLog, Path | None, int]:
        """Clear leftovers, resume (or start over), record the settings and open the metrics log: (the log, the
        checkpoint resumed from or None, the skipped steps so far)."""
        remove_leftovers(self.folder)
        remove_leftovers(self.checkpoints_root)
        resumed = None
        if resume:
            resumed = self._resume()
        else:  # start over: nothing of an earlier run in this folder may be resumed or plotted
            self._forget_earlier_run()
        atomic_write_text(self.folder / SETTINGS_FILE, json.dumps(self.settings(), indent=1))
        log = MetricsLog(self.folder, self.step)
        return log, resumed, int(log.kept[-1].get("skipped_steps_total", 0)) if log.kept else 0

    def _close_run(self, log: MetricsLog) -> list[dict[str, float]]:
        records = log.records()
        log.close()
        plot_metrics(records, self.folder / "plot.png", title=f"{self.config.agent} on {self.config.env}")
        return records

    def settings(self) -> dict[str, dict]:
        return run_settings(self.config, self.agent.config)

    def _forget_earlier_run(self) -> None:
        for stale in ("checkpoints", "tensorboard"):
            shutil.rmtree(self.folder / stale, ignore_errors=True)
        for stale in ("plot.png", SETTINGS_FILE, "summary.json"):
            (self.folder / stale).unlink(missing_ok=True)

    def _resume(self) -> Path | None:
        """Load the newest intact checkpoint (setting damaged newer ones aside), after checking its settings; the
        checkpoint's folder, or None when there is none to resume."""
        damaged = []
        for _, folder in reversed(checkpoint_folders(self.checkpoints_root)):
            try:
                record, state = self._read_checkpoint(folder)
            except CheckpointDamaged as error:
                damaged.append((folder, str(error)))
                continue
            self._check_settings(record, folder / "trainer.json")
            for bad, why in damaged:
                _log.warning(
                    "checkpoint %s is damaged (%s): moved to %s; resuming from %s instead",
                    bad,
                    why,
                    set_aside(bad).name,
                    folder.name,
                )
            self._apply_checkpoint(record, state, folder)
            return folder
        if damaged:
            raise RunFolderError(
                f"{self.folder} has checkpoints but none is intact ("
                + "; ".join(f"{f.name}: {why}" for f, why in damaged)
                + "); start over with --fresh, or pick another --output-dir"
            )
        if (self.folder / SETTINGS_FILE).exists():  # a run that stopped before its first checkpoint
            try:
                recorded = json.loads((self.folder / SETTINGS_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise RunFolderError(
                    f"{self.folder / SETTINGS_FILE} is unreadable ({error}); start over with "
                    "--fresh, or pick another --output-dir"
                ) from None
            self._check_settings(recorded, self.folder / SETTINGS_FILE)
        return None

    def _check_settings(self, recorded: dict, source: Path) -> None:
        differences = settings_differences(recorded, self.settings())
        if differences:
            neutral = ", ".join(sorted(RESULT_NEUTRAL["config"] | RESULT_NEUTRAL["agent_config"]))
            raise RunFolderError(
                f"{self.folder} holds a run with other settings (recorded in {source}):\n  "
                + "\n  ".join(differences)
                + f"\nTo continue that run, give its settings again (only {neutral} may change); to start over "
                "in this folder, add --fresh (its checkpoints, metrics and plots are replaced); or pick another "
                "--output-dir."
            )

    # --- checkpoints --------------------------------------------------------------------------------
    @property
    def checkpoints_root(self) -> Path:
        return self.folder / "checkpoints"

    def checkpoint_dir(self, step: int) -> Path:
        return self.checkpoints_root / f"step-{step:06d}"

    def latest_checkpoint(self) -> Path | None:
        """The newest published checkpoint folder (complete when written; :meth:`load_checkpoint` verifies it)."""
        found = checkpoint_folders(self.checkpoints_root)
        return found[-1][1] if found else None

    def save_checkpoint(self, optimizer: bool = True) -> Path | None:
        """Publish a checkpoint of this step atomically, then delete all but the newest ``keep_last``.

        ``optimizer=False`` leaves the optimizer state out (the agent's other state, e.g. PPO's value head, stays).
        Under a launcher every rank calls it (each one's RNG state is gathered) and rank 0 writes; the others get None.
        Weights and optimizer state are rank 0's: every rank holds the same ones. A sharded model's are gathered
        whole to rank 0 first (every rank takes part), so the checkpoint is the one an unsharded run writes.
        """
        from safetensors.torch import save_file, save_model

        rng = distributed.gather(_rng_state())
        sharded = sharding.is_sharded(self.policy.model)
        model_state = sharding.full_model_state(self.policy.model) if sharded else None
        optimizer_state = sharding.full_optimizer_state(self.agent.optimizer) if sharded and optimizer else None
        if not self.is_main:
            return None
        agent_state = self.agent.state_dict()
        if optimizer_state is not None:
            agent_state[OPTIMIZER_KEY] = optimizer_state
        if not optimizer:
            agent_state.pop(OPTIMIZER_KEY, None)
        processes = {"world_size": self.world_size} if self.world else {}
        record = {"step": self.step, **self.settings(), "optimizer_state": optimizer, **processes}
        state = {"agent": agent_state, "rng": rng[0], **({"rng_by_rank": rng} if self.world else {})}

        def write(staging: Path) -> None:
            if model_state is None:
                save_model(self.policy.model, str(staging / "model.safetensors"))
            else:
                save_file(model_state, str(staging / "model.safetensors"), metadata={"format": "pt"})
            torch.save(state, staging / "state.pt")
            (staging / "trainer.json").write_text(json.dumps(record, indent=1), encoding="utf-8")

        folder = publish_folder(self.checkpoint_dir(self.step), write)
        prune(self.checkpoints_root, self.config.keep_last)
        return folder

    def load_checkpoint(self, folder: Path, verify: bool = True) -> None:
        """Load a checkpoint (no settings check; :meth:`train` does that). Raises CheckpointDamaged. ``verify=False``
        skips the manifest's digests (a rank other than 0, once rank 0 has checked them)."""
        record, state = self._read_checkpoint(folder, verify)
        self._apply_checkpoint(record, state, folder)

    def _read_checkpoint(self, folder: Path, verify: bool = True) -> tuple[dict, dict]:
        """(trainer.json record, state.pt contents) once every file is verified; CheckpointDamaged otherwise."""
        from safetensors import safe_open

        try:
            has_manifest = verify_manifest(folder, CHECKPOINT_FILES) if verify else True
            record = json.loads((folder / "trainer.json").read_text(encoding="utf-8"))
            if not isinstance(record, dict) or record.get("step") != int(folder.name.split("-")[1]):
                raise ValueError(f"trainer.json does not record step {folder.name}")
            state = torch.load(folder / "state.pt", weights_only=False)
            if not isinstance(state, dict) or not {"agent", "rng"} <= set(state):
                raise ValueError("state.pt lacks the agent or RNG state")
            if not has_manifest:  # written before manifests: at least the weights file must be whole
                with safe_open(str(folder / "model.safetensors"), "pt"):
                    pass
        except CheckpointDamaged:
            raise
        except Exception as error:  # whatever a truncated or altered file makes a reader raise
            raise CheckpointDamaged(f"{type(error).__name__}: {error}") from None
        return record, state

    def _apply_checkpoint(self, record: dict, state: dict, folder: Path) -> None:
        from safetensors.torch import load_file, load_model

        if sharding.is_sharded(self.policy.model):  # each rank slices its shards out of the whole tensors
            sharding.load_model_state(self.policy.model, load_file(str(folder / "model.safetensors")))
            self.agent.load_state_dict(state["agent"])
            sharding.shard_optimizer_state(self.agent.optimizer)
        else:
            load_model(self.policy.model, str(folder / "model.safetensors"))
            self.agent.load_state_dict(state["agent"])
        self._resume_random_streams(record, state, folder)
        self.step = record["step"]
        if OPTIMIZER_KEY not in state["agent"]:
            _log.warning(
                "checkpoint %s holds no optimizer state (--no-final-optimizer): the optimizer restarts, "
                "so the continued run will not repeat an uninterrupted one",
                folder,
            )

    def _resume_random_streams(self, record: dict, state: dict, folder: Path) -> None:
        """Each rank continues its own random stream when the world size is the one the checkpoint was written with
        (an exact continuation on CPU); with another one, every rank starts a stream of its own, derived from the
        seed, its rank and the step, and the continuation is no longer the uninterrupted run's."""
        written_by = record.get("world_size", 1)
        if written_by == self.world_size:
            _set_rng_state(state["rng_by_rank"][self.rank] if self.world else state["rng"])
            return
        _seed_everything(distributed.rank_seed(self.config.seed, self.rank, record["step"]))
        if self.is_main:
            _log.warning(
                "checkpoint %s was written by %d process(es) and is resumed by %d: the weights, optimizer state and "
                "step carry over, each process's random stream starts afresh, so the run continues differently from "
                "an uninterrupted one",
                folder,
                written_by,
                self.world_size,
            )


HELD_OUT_LABELS = {
    "eval_value_stated": "correct value stated",
    "eval_pass@1": "pass@1 (boxed)",
    "eval_judged_reward": "judged reward",
}


def plot_metrics(records: list[dict[str, float]], path: Path, title: str = "") -> None:
    """Judged reward and answer accuracy per step, with a moving average, as a PNG; with a third panel for the
    held-out evaluation (before the first step and after the last) when the records hold one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps_logged = [r for r in records if "reward_mean" in r]  # the step-0 record holds the evaluation only
    if not steps_logged:
        return
    evaluated = [r for r in records if any(r.get(key) is not None for key in HELD_OUT_LABELS)]
    steps = [r["step"] for r in steps_logged]
    figure, axes = plt.subplots(1, 3 if evaluated else 2, figsize=(15 if evaluated else 10, 3.6))
    panels = (
        (axes[0], "reward_mean", "judged reward (training batches)"),
        (axes[1], "answer_accuracy", "answer accuracy (training batches)"),
    )
    for axis, key, label in panels:
        values = [r.get(key) for r in steps_logged]
        axis.plot(steps, np.array(values, dtype=float), alpha=0.35, label="per step")
        window = max(1, len(values) // 8)
        axis.plot(steps, moving_average(values, window), label=f"moving average ({window}; missing steps skipped)")
        axis.set_xlabel("step")
        axis.set_title(label)
        axis.set_ylim(-0.05, 1.05)  # both are on 0-1: a flat line at 0 reads as "nothing", not as a zoomed-in wiggle
        axis.legend()
    if evaluated:
        axis = axes[2]
        for key, label in HELD_OUT_LABELS.items():
            points = [(r["step"], r[key]) for r in evaluated if r.get(key) is not None]
            if points:
                values = " -> ".join(f"{value:.2f}" for _, value in points)
                axis.plot(*zip(*points), marker="o", label=f"{label}: {values}")
        last = evaluated[-1]
        axis.set_title(f"held-out: {last.get('eval_problems')} problems, {last.get('eval_responses')} responses")
        axis.set_xlabel("step (evaluated before the first and after the last)")
        axis.set_ylim(-0.05, 1.05)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    atomic_write_with(path, lambda staging: figure.savefig(staging, dpi=110, format="png"))
    plt.close(figure)
