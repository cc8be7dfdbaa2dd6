"""Race: one exprl GRPO training step against one TRL ``GRPOTrainer`` step, side by side on this machine.

    pip install "trl==1.16.0"   # benchmark-only; not a dependency of exprl
    python benchmarks/race_trl.py --steps 4 --rounds 2 --output benchmarks/results/race_trl.json

Both sides get the same SmolLM2-135M-Instruct weights, the same prompts in the same order (the trainer's
seeded order of ``ExpRL-Arith-v0`` training problems, chat-templated the same way), 4 prompts x 4 samples,
64 new tokens at temperature 0.8, fp32 on the CPU, the same reward (the share of digits in the response: cheap,
and it varies within a group, so both sides really back-propagate), no KL, the same clip (0.2 / 0.28), the
same token-level loss normalisation, lr 1e-5. Each run is its own child process (so neither inherits the
other's warm caches or thread pools); rounds alternate which side goes first, so drift in the shared
machine's speed hits both. A run reports how long it took to be ready (imports, model, trainer), its first
step, and its later ("steady") steps; the summary is the median over all runs of each side.
"""

from __future__ import annotations

import time

PROCESS_START = time.perf_counter()

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ENV, ENV_OPTIONS = "ExpRL-Arith-v0", '{"n_ops": 1, "max_operand": 9}'
PROMPTS, GENERATIONS, NEW_TOKENS, TEMPERATURE, LR, SEED = 4, 4, 64, 0.8, 1e-5, 0


def digit_share(text: str) -> float:
    """The race's reward: the share of the response's non-space characters that are digits."""
    visible = [c for c in text if not c.isspace()]
    return sum(c.isdigit() for c in visible) / max(1, len(visible))


class DigitJudge:
    """:func:`digit_share` as an exprl judge, so our side runs through the real environment and trainer."""

    name = "digits"
    kinds = ("outcome",)

    def score_batch(self, items):
        from judges.verdict import Status, Verdict

        return [Verdict(status=Status.OK, outcome=digit_share(item.response)) for item in items]


def race_prompt_ids(steps: int) -> list[str]:
    """The problem ids of ``steps`` steps, in the order our trainer takes them (one entry per problem)."""
    import gymnasium as gym

    from agents.trainer import step_problem_ids

    env = gym.make(ENV, split="train", **json.loads(ENV_OPTIONS)).unwrapped
    ids = [p.id for p in env.problems]
    return [i for step in range(steps) for i in step_problem_ids(ids, SEED, PROMPTS, step)]


def race_prompts(steps: int) -> list[str]:
    """The prompt texts of :func:`race_prompt_ids`."""
    import gymnasium as gym

    env = gym.make(ENV, split="train", **json.loads(ENV_OPTIONS)).unwrapped
    return [env.reset(options={"problem_id": i})[0] for i in race_prompt_ids(steps)]


def run_ours(model: str, steps: int) -> dict:
    from agents.grpo import GRPOConfig
    from agents.trainer import TrainConfig, Trainer
    from judges.registry import register_judge

    register_judge("digits", DigitJudge)
    config = TrainConfig(
        env=ENV,
        env_options=ENV_OPTIONS,
        reward="outcome",
        judge="digits",
        model=model,
        steps=steps,
        prompts_per_step=PROMPTS,
        group_size=GENERATIONS,
        max_new_tokens=NEW_TOKENS,
        temperature=TEMPERATURE,
        seed=SEED,
        eval_problems=0,
        output_dir=tempfile.mkdtemp(prefix="race-ours-"),
    )
    trainer = Trainer(config, GRPOConfig(lr=LR, kl_coef=0.0, clip_low=0.2, clip_high=0.28))
    ready = time.perf_counter() - PROCESS_START
    seconds = [trainer.train_step()["seconds_step"] for _ in range(steps)]
    return {"ready_s": ready, "step_s": seconds}


def digit_reward(completions, **kwargs) -> list[float]:
    """:func:`digit_share` as a TRL reward function (TRL's side of the race)."""
    return [digit_share(c[0]["content"] if isinstance(c, list) else c) for c in completions]


def step_timer():
    """A TRL/transformers callback that records each optimizer step's wall time in ``.seconds``."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.began, self.seconds = 0.0, []

        def on_step_begin(self, args, state, control, **kwargs):
            self.began = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.seconds.append(time.perf_counter() - self.began)

    return StepTimer()


def run_trl(model: str, steps: int) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOTrainer

    from agents.models import resolve_model

    path = resolve_model(model)
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": p}]} for p in race_prompts(steps)])
    args = trl_config(tempfile.mkdtemp(prefix="race-trl-"), steps)
    timer = step_timer()
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32),
        reward_funcs=digit_reward,
        args=args,
        train_dataset=dataset,
        processing_class=AutoTokenizer.from_pretrained(path),
        callbacks=[timer],
    )
    ready = time.perf_counter() - PROCESS_START
    trainer.train()
    return {"ready_s": ready, "step_s": timer.seconds}


def trl_config(output_dir: str, steps: int, prompts: int = PROMPTS, generations: int = GENERATIONS, **overrides):
    """TRL's ``GRPOConfig`` as the race sets it on the CPU: our GRPO's settings, fp32, the data in order (TRL
    samples ``prompts`` x ``generations`` per step), no saving, no reporting; ``overrides`` replace any field."""
    from trl import GRPOConfig

    settings = dict(
        output_dir=output_dir,
        per_device_train_batch_size=prompts * generations,
        num_generations=generations,
        gradient_accumulation_steps=1,
        max_completion_length=NEW_TOKENS,
        temperature=TEMPERATURE,
        top_p=1.0,
        top_k=0,
        learning_rate=LR,
        beta=0.0,
        epsilon=0.2,
        epsilon_high=0.28,
        loss_type="dapo",
        scale_rewards="group",
        max_steps=steps,
        use_cpu=True,
        bf16=False,
        fp16=False,
        shuffle_dataset=False,
        seed=SEED,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    return GRPOConfig(**{**settings, **overrides})


def child(side: str, model: str, steps: int) -> None:
    import torch

    result = (run_ours if side == "exprl" else run_trl)(model, steps)
    print(json.dumps({"side": side, "threads": torch.get_num_threads(), **result}), flush=True)


def summarize(runs: list[dict]) -> dict:
    """Medians per side over all runs: ready, first step, steady step (every step after the first)."""
    sides = {}
    for side in ("exprl", "trl"):
        mine = [r for r in runs if r["side"] == side]
        sides[side] = {
            "ready_s": statistics.median(r["ready_s"] for r in mine),
            "first_step_s": statistics.median(r["step_s"][0] for r in mine),
            "steady_step_s": statistics.median(s for r in mine for s in r["step_s"][1:]),
            "runs": len(mine),
        }
    ours, theirs = sides["exprl"], sides["trl"]
    return {
        **sides,
        "steady_ratio": ours["steady_step_s"] / theirs["steady_step_s"],
        "first_over_steady": ours["first_step_s"] / ours["steady_step_s"],
    }


def markdown(summary: dict) -> str:
    rows = ["| side | ready (imports, model, trainer) | first step | steady step (median) |", "|---|---|---|---|"]
    for side in ("exprl", "trl"):
        s = summary[side]
        rows.append(f"| {side} | {s['ready_s']:.1f} s | {s['first_step_s']:.1f} s | {s['steady_step_s']:.1f} s |")
    rows.append(
        f"\nSteady step, exprl / TRL: **{summary['steady_ratio']:.2f}x**; exprl first step / its steady "
        f"step: **{summary['first_over_steady']:.2f}x**."
    )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=4, help="steps per run (the first is start-up)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per side; the first side alternates")
    parser.add_argument("--output", default="", help="write runs and summary as JSON here")
    parser.add_argument("--child", choices=["exprl", "trl"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.model, args.steps)
        return 0
    runs = []
    for round_ in range(args.rounds):
        for side in ("trl", "exprl") if round_ % 2 == 0 else ("exprl", "trl"):
            command = [sys.executable, __file__, "--child", side, "--model", args.model, "--steps", str(args.steps)]
            done = subprocess.run(
                command, capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parents[1]
            )
            if done.returncode != 0:
                sys.stderr.write(done.stderr[-4000:])
                raise SystemExit(f"race: the {side} run failed (exit {done.returncode})")
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(
                f"round {round_ + 1} {side}: ready {runs[-1]['ready_s']:.1f} s, steps "
                + ", ".join(f"{s:.1f}" for s in runs[-1]["step_s"]),
                file=sys.stderr,
                flush=True,
            )
    summary = summarize(runs)
    print(markdown(summary))
    if args.output:
        Path(args.output).write_text(json.dumps({"runs": runs, "summary": summary}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
