"""The agent-agnostic training loop: reset, act, one batched judge step, update; repeat.

Each step takes ``prompts_per_step`` training problems in a seeded order, resets ``group_size`` envs on
each (a GRPO group), samples one response per env, steps the vector env once (one batched judge call)
and hands the batch to the agent. Metrics go to ``metrics.jsonl`` and TensorBoard every step, with a
progress bar; ``plot.png`` (reward and accuracy curves) is drawn at the end. A checkpoint holds the
model, the agent's optimizer state, the RNG states and the step (the data position follows from it), so
a resumed run repeats an uninterrupted one exactly on CPU.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from pathlib import Path
from typing import Any

import attrs
import gymnasium as gym
import numpy as np
import torch

from agents.batch import Batch, batch_from_step
from agents.config_cli import json_object
from agents.policy import Policy, SamplingConfig
from agents.privileged import references_for
from agents.registry import make_agent

TIMING_KEYS = ("seconds_sample", "seconds_judge", "seconds_update", "seconds_step")


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
    """Policy: a Hugging Face folder or id, smollm2-135m-instruct, or tiny-random."""
    steps: int = 20
    """Optimizer steps."""
    prompts_per_step: int = 2
    """Distinct problems per step."""
    group_size: int = 4
    """Responses sampled per problem."""
    max_new_tokens: int = 96
    """Longest response, in tokens."""
    temperature: float = 0.8
    """Sampling temperature."""
    seed: int = 0
    """Seeds data order, sampling and initialisation."""
    output_dir: str = "runs/demo"
    """Where metrics, checkpoints and plots go."""
    save_every: int = 10
    """Checkpoint every N steps (and at the end); 0 saves only at the end."""
    device: str = "cpu"
    """cpu or cuda."""
    generator: str = attrs.field(default="transformers", validator=attrs.validators.in_(("transformers", "vllm")))
    """Sampling backend: transformers (CPU or GPU), or vllm (GPU only; not exercised in this project)."""


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


class MetricsLog:
    """metrics.jsonl plus TensorBoard scalars; the JSONL is truncated to the resumed step, so reruns never duplicate."""

    def __init__(self, folder: Path, start_step: int):
        self.path = folder / "metrics.jsonl"
        kept = []
        if self.path.exists() and start_step > 0:
            kept = [line for line in self.path.read_text().splitlines() if json.loads(line)["step"] <= start_step]
        self.path.write_text("".join(line + "\n" for line in kept))
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(folder / "tensorboard"), purge_step=start_step + 1 if start_step else None)

    def write(self, record: dict[str, float]) -> None:
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(key, value, record["step"])
        self.writer.flush()

    def records(self) -> list[dict[str, float]]:
        return [json.loads(line) for line in self.path.read_text().splitlines()]

    def close(self) -> None:
        self.writer.close()


class Trainer:
    """Runs one agent on one environment (see module docstring)."""

    def __init__(self, config: TrainConfig, agent_config: Any = None):
        self.config = config
        self.folder = Path(config.output_dir)
        self.folder.mkdir(parents=True, exist_ok=True)
        _seed_everything(config.seed)
        self.envs = gym.make_vec(config.env, num_envs=config.prompts_per_step * config.group_size, split="train",
                                 reward=config.reward, judge=config.judge, **config.env_options)
        self.problems = self.envs.unwrapped.problems
        self.problem_ids = [p.id for p in self.problems]
        self.policy = Policy.from_pretrained(config.model, device=config.device)
        self.agent = make_agent(config.agent, self.policy, agent_config)
        self.sampling = SamplingConfig(temperature=config.temperature, max_new_tokens=config.max_new_tokens)
        self.generator = self.policy
        if config.generator == "vllm":
            from agents.generation import VLLMGenerator
            from agents.models import resolve_model

            self.generator = VLLMGenerator(resolve_model(config.model), seed=config.seed)
        self.step = 0

    # --- data ----------------------------------------------------------------------------------------
    def problems_for(self, step: int) -> list[str]:
        """The problem ids of a step (see :func:`step_problem_ids`)."""
        return step_problem_ids(self.problem_ids, self.config.seed, self.config.prompts_per_step, step)

    # --- one step -----------------------------------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        started = time.perf_counter()
        problem_ids = [pid for pid in self.problems_for(self.step) for _ in range(self.config.group_size)]
        observations, _ = self.envs.reset(options={"problem_id": problem_ids})
        samples = self.generator.sample([self.policy.prompt_ids(o) for o in observations], self.sampling)
        sampled = time.perf_counter()
        _, rewards, _, _, infos = self.envs.step([s.text for s in samples])
        judged = time.perf_counter()
        batch = batch_from_step(samples, observations, rewards, infos, self.config.group_size, self.config.reward,
                                self.config.temperature)
        if self.agent.needs_reference:  # the SFT and self-distillation baselines only (agents/privileged.py)
            agent_metrics = self.agent.update(batch, references_for(self.problems, batch.problem_ids))
        else:
            agent_metrics = self.agent.update(batch)
        if self.generator is not self.policy:
            self.generator.load_weights(self.policy.model)  # the next samples come from the updated policy
        self.step += 1
        done = time.perf_counter()
        return {"step": self.step, **self._rollout_metrics(batch, infos), **agent_metrics,
                "seconds_sample": sampled - started, "seconds_judge": judged - sampled,
                "seconds_update": done - judged, "seconds_step": done - started}

    @staticmethod
    def _rollout_metrics(batch: Batch, infos: dict) -> dict[str, float]:
        rewards = batch.rewards.numpy()
        scored = np.isfinite(rewards)
        correct = [bool(c) for c, present in zip(infos.get("answer_correct", []), infos.get("_answer_correct", []))
                   if present and c is not None]  # None: the answer could not be checked, so it is not counted
        return {
            "reward_mean": float(rewards[scored].mean()) if scored.any() else math.nan,
            "reward_std": float(rewards[scored].std()) if scored.any() else math.nan,
            "unscorable": int((~scored).sum()),
            "answer_accuracy": float(np.mean(correct)) if correct else 0.0,
            "response_tokens": float(np.mean([len(s.response_ids) for s in batch.samples])),
            "finished_fraction": float(np.mean([s.finished for s in batch.samples])),
        }

    # --- the run ------------------------------------------------------------------------------------
    def train(self, resume: bool = True) -> list[dict[str, float]]:
        """Run to ``config.steps``, resuming from the latest checkpoint in the folder unless ``resume=False``."""
        from tqdm import tqdm

        if not resume:  # start over: nothing of an earlier run in this folder may be resumed or plotted
            for stale in ("checkpoints", "tensorboard"):
                shutil.rmtree(self.folder / stale, ignore_errors=True)
        elif (latest := self.latest_checkpoint()) is not None:
            self.load_checkpoint(latest)
        log = MetricsLog(self.folder, self.step)
        earlier = log.records()
        skipped = int(earlier[-1].get("skipped_steps_total", 0)) if earlier else 0
        with tqdm(total=self.config.steps, initial=self.step, desc="train", unit="step") as bar:
            while self.step < self.config.steps:
                record = self.train_step()
                skipped += int(record.get("skipped_non_finite", 0))
                record["skipped_steps_total"] = skipped
                log.write(record)
                bar.set_postfix(reward=f"{record['reward_mean']:.3f}", acc=f"{record['answer_accuracy']:.2f}")
                bar.update(1)
                every = self.config.save_every
                if (every and self.step % every == 0) or self.step == self.config.steps:
                    self.save_checkpoint()
        records = log.records()
        log.close()
        plot_metrics(records, self.folder / "plot.png", title=f"{self.config.agent} on {self.config.env}")
        return records

    # --- checkpoints --------------------------------------------------------------------------------
    def checkpoint_dir(self, step: int) -> Path:
        return self.folder / "checkpoints" / f"step-{step:06d}"

    def latest_checkpoint(self) -> Path | None:
        found = sorted((self.folder / "checkpoints").glob("step-*/trainer.json"))
        return found[-1].parent if found else None

    def save_checkpoint(self) -> Path:
        from safetensors.torch import save_model

        folder = self.checkpoint_dir(self.step)
        folder.mkdir(parents=True, exist_ok=True)
        save_model(self.policy.model, str(folder / "model.safetensors"))
        torch.save({"agent": self.agent.state_dict(), "rng": _rng_state()}, folder / "state.pt")
        (folder / "trainer.json").write_text(json.dumps({"step": self.step, "config": attrs.asdict(self.config)}))
        return folder

    def load_checkpoint(self, folder: Path) -> None:
        from safetensors.torch import load_model

        load_model(self.policy.model, str(folder / "model.safetensors"))
        state = torch.load(folder / "state.pt", weights_only=False)
        self.agent.load_state_dict(state["agent"])
        _set_rng_state(state["rng"])
        self.step = json.loads((folder / "trainer.json").read_text())["step"]


def plot_metrics(records: list[dict[str, float]], path: Path, title: str = "") -> None:
    """Judged reward and answer accuracy per step, with a moving average, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not records:
        return
    steps = [r["step"] for r in records]
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for axis, key, label in ((axes[0], "reward_mean", "judged reward"), (axes[1], "answer_accuracy", "answer accuracy")):
        values = np.array([r.get(key, math.nan) for r in records], dtype=float)
        axis.plot(steps, values, alpha=0.35, label="per step")
        window = max(1, len(values) // 8)
        smooth = np.convolve(np.nan_to_num(values), np.ones(window) / window, mode="valid")
        axis.plot(steps[window - 1 :], smooth, label=f"moving average ({window})")
        axis.set_xlabel("step")
        axis.set_title(label)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
