"""Does the authors' stage-2 entropy bonus explain a collapse seen in ``exprl compare``'s stage 2? One run again
without it.

In the issue-13 study (``benchmarks/results/compare_issue13``) stage 2 continues each stage-1 model with the
authors' recipe, entropy bonus 1e-4 included. In arms whose stage-2 batches earned no reward, every advantage is 0,
so the entropy term is the only gradient left; AdamW scales a step by the gradient's running RMS, not its size, so
even that small term moves the weights by about the learning rate per step. This script takes one finished stage-2
run, trains it again from the same stage-1 model with the same settings (read from its ``train_config.json``) except
``entropy_coef``, evaluates it exactly as ``exprl compare`` evaluated the original, and writes both side by side::

    python benchmarks/stage2_entropy_ablation.py benchmarks/results/compare_issue13 exprl_outcome 0 \\
        --output benchmarks/results/compare_issue13/ablation_entropy
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import attrs


def retrain(study: Path, arm: str, seed: int, output: Path, entropy_coef: float) -> dict:
    """Stage 2 of (arm, seed) again with another entropy coefficient; returns the new run's evaluation."""
    from agents.compare.run import _export_model
    from agents.evaluate import evaluate
    from agents.policy import Policy, SamplingConfig
    from agents.registry import agent_classes
    from agents.trainer import TrainConfig, Trainer

    original = study / "stage2" / arm / f"seed-{seed}"
    saved = json.loads((original / "train_config.json").read_text(encoding="utf-8"))
    config = TrainConfig(**{**saved["config"], "output_dir": str(output / "run"), "save_every": 0, "eval_problems": 0})
    agent_config = agent_classes(config.agent)[1](**{**saved["agent_config"], "entropy_coef": entropy_coef})
    trainer = Trainer(config, agent_config)
    records = trainer.train()
    trainer.envs.close()
    _export_model(trainer.policy, output / "model")
    first_eval = json.loads((original / "eval.json").read_text(encoding="utf-8"))
    settings = first_eval["config"]
    policy = Policy.from_pretrained(str(output / "model"))
    report = evaluate(
        policy,
        settings["env"],
        settings["env_options"],
        settings["split"],
        settings["samples"],
        limit=settings["limit"],
        batch=settings["batch"],
        sampling=SamplingConfig(temperature=settings["temperature"], max_new_tokens=settings["max_new_tokens"]),
        seed=settings["seed"],
    )
    return {
        "arm": arm,
        "seed": seed,
        "agent_config": attrs.asdict(agent_config),
        "entropy_last_step": records[-1].get("entropy"),
        "original": {
            "entropy_coef": saved["agent_config"].get("entropy_coef"),
            "entropy_last_step": _last_entropy(original),
            **first_eval["result"],
        },
        "ablation": report,
    }


def _last_entropy(run: Path) -> float | None:
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    steps = [json.loads(line) for line in lines if '"step"' in line]
    return steps[-1].get("entropy") if steps else None


def _number(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table(results: list[dict], coefficient: float) -> str:
    rows = [
        "| arm | seed | entropy bonus | entropy at the last step | pass@1 | pass@n | judged process reward |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        original = result["original"]
        for label, bonus, entropy, report in (
            ("as in the study", original["entropy_coef"], original["entropy_last_step"], original),
            ("again", coefficient, result["entropy_last_step"], result["ablation"]),
        ):
            pass_at_n = report[f"pass@{report['samples']}"]
            rows.append(
                f"| {result['arm']} ({label}) | {result['seed']} | {bonus} | {_number(entropy, 2)} | "
                f"{_number(report['pass@1'])} | {_number(pass_at_n)} | {_number(report['judged_process_reward'])} |"
            )
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path, help="an exprl compare output folder with a finished stage 2")
    parser.add_argument("arm")
    parser.add_argument("seeds", type=int, nargs="+")
    parser.add_argument("--entropy-coef", type=float, default=0.0)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    results = [
        retrain(args.study, args.arm, seed, args.output / f"{args.arm}-seed-{seed}", args.entropy_coef)
        for seed in args.seeds
    ]
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / f"{args.arm}.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    (args.output / f"{args.arm}.md").write_text(table(results, args.entropy_coef), encoding="utf-8")
    print(table(results, args.entropy_coef))


if __name__ == "__main__":
    main()
