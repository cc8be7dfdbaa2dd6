"""Base rates of the testbed model (issue 17): how often it solves ``ExpRL-Arith-v0`` chains of each length.

The testbed is useful only in the regime the paper targets: short chains solved often, long chains almost never,
partial progress common. This script measures that regime on the held-out test split, at the trainer's sampling
temperature, and writes ``base_rates.json`` and ``base_rates.md`` (command, build record, table).

Per chain length (``n_ops``): pass@1 and pass@k with the sparse answer check and the mean judged process reward of
the ``reference`` judge, all from :func:`agents.evaluate.evaluate`; and, from a second sampling pass, how often
the first step is the reference's first step and what fraction of the reference's steps appear in a response
(the reference is opened here, as ``exprl judge-check`` does, to describe the model, never to train it). With
``--teacher``, also how the model does as the self-distillation teacher (:func:`agents.privileged.teacher_messages`,
the authors' user turn): how often, shown the reference, it boxes the right answer and copies the reference whole.

    python -m benchmarks.testbed_base_rates --output-dir benchmarks/results/testbed
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

CHAINS = (1, 2, 3, 4)


def held_out_prompts(n_ops: int, max_operand: int, seed: int):
    """(observation, opened reference) of each test-split problem, after seeding torch's sampler with ``seed``."""
    import gymnasium as gym
    import torch

    torch.manual_seed(seed)
    env = gym.make("ExpRL-Arith-v0", split="test", n_ops=n_ops, max_operand=max_operand, reward="sparse")
    for problem in env.unwrapped.problems:
        env.reset(options={"problem_id": problem.id})
        yield env.unwrapped.observation, problem.reference.unseal()


def step_matches(policy, n_ops: int, max_operand: int, samples: int, sampling, seed: int) -> dict:
    """First-step and all-steps agreement with the reference's worked steps, over the test split."""
    from exprl_env.prompt import STEP_SEPARATOR

    first, fraction, finished, count = 0, 0.0, 0, 0
    for observation, reference in held_out_prompts(n_ops, max_operand, seed):
        steps = reference.steps
        responses = policy.sample([policy.prompt_ids(observation)] * samples, sampling)
        for response in responses:
            written = [part.strip() for part in response.text.split(STEP_SEPARATOR)]
            first += bool(written) and written[0] == steps[0]
            fraction += sum(step in written for step in steps) / len(steps)
            finished += response.finished
            count += 1
    return {
        "first_step_correct": round(first / count, 4),
        "reference_steps_written": round(fraction / count, 4),
        "finished": round(finished / count, 4),
        "responses": count,
    }


def teacher_matches(policy, n_ops: int, max_operand: int, samples: int, sampling, seed: int) -> dict:
    """How the model answers as the self-distillation teacher, shown each test problem's reference."""
    from agents.privileged import reference_response, teacher_messages

    right, copied, count = 0, 0, 0
    for observation, reference in held_out_prompts(n_ops, max_operand, seed):
        system, user = teacher_messages(observation, reference, "user")
        for response in policy.sample([policy.prompt_ids(user, system=system)] * samples, sampling):
            right += f"\\boxed{{{reference.answer}}}" in response.text
            copied += response.text.strip() == reference_response(reference)
            count += 1
    return {"teacher_answer_right": round(right / count, 4), "teacher_copied_reference": round(copied / count, 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="testbed")
    parser.add_argument("--max-operand", type=int, default=9)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="benchmarks/results/testbed")
    parser.add_argument("--teacher", action="store_true", help="also measure the model as self-distillation teacher")
    args = parser.parse_args(argv)

    from agents.evaluate import evaluate
    from agents.models import resolve_model
    from agents.policy import Policy, SamplingConfig
    from agents.testbed import METADATA_FILE

    started = time.perf_counter()
    folder = Path(resolve_model(args.model))
    build_seconds = time.perf_counter() - started
    build = json.loads((folder / METADATA_FILE).read_text()) if (folder / METADATA_FILE).is_file() else {}
    policy = Policy.from_pretrained(str(folder))
    sampling = SamplingConfig(temperature=args.temperature, max_new_tokens=args.max_new_tokens)
    rows = []
    for n_ops in CHAINS:
        options = {"n_ops": n_ops, "max_operand": args.max_operand}
        result = evaluate(
            policy, "ExpRL-Arith-v0", options, samples=args.samples, ks=(1, args.samples), sampling=sampling
        )
        steps = step_matches(policy, n_ops, args.max_operand, args.samples, sampling, args.seed)
        teacher = (
            teacher_matches(policy, n_ops, args.max_operand, args.samples, sampling, args.seed) if args.teacher else {}
        )
        rows.append({"n_ops": n_ops, **result, **steps, **teacher})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    command = shlex.join(
        ["python", "-m", "benchmarks.testbed_base_rates", *(argv if argv is not None else sys.argv[1:])]
    )
    report = {
        "command": command,
        "model": args.model,
        "model_folder_name": folder.name,
        "max_operand": args.max_operand,
        "resolve_seconds": round(build_seconds, 1),
        "build": {
            k: build[k] for k in ("config", "fingerprint", "parameters", "seconds", "torch_threads") if k in build
        },
        "sampling": {"temperature": args.temperature, "max_new_tokens": args.max_new_tokens, "seed": args.seed},
        "rows": rows,
    }
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    (output / "base_rates.json").write_text(json.dumps(report, indent=1) + "\n")
    (output / "base_rates.md").write_text(markdown(report, args.samples))
    return 0


def markdown(report: dict, samples: int) -> str:
    lines = [
        "# Testbed base rates",
        "",
        f"`{report['command']}`",
        "",
        f"Model `{report['model']}` ({report['model_folder_name']}); held-out test split of `ExpRL-Arith-v0` "
        f"(max_operand {report['max_operand']}), "
        f"temperature {report['sampling']['temperature']}, max_new_tokens {report['sampling']['max_new_tokens']}, "
        f"{samples} samples per problem.",
        "",
        f"| n_ops | problems | pass@1 | pass@{samples} | judged process reward (reference) | first step right "
        "| reference steps written | finished |",
        "|---|---|---|---|---|---|---|---|",
    ]
    teacher = "teacher_answer_right" in report["rows"][0]
    if teacher:
        lines[-2] += " teacher, shown the reference: answer right | teacher copies the reference |"
        lines[-1] += "---|---|"
    build = report["build"]
    if build:
        config = build["config"]
        lines[5:5] = [
            "",
            f"Build: seed {config['seed']}, chains {config['chain_lengths']} with operands <= {config['max_operand']}, "
            f"{config['steps']} steps x {config['batch_size']} solutions, lr {config['lr']}; Llama {config['layers']} "
            f"layers, hidden {config['hidden_size']}, {config['heads']} heads, MLP {config['intermediate_size']}; "
            f"{build['parameters']:,} parameters; built in {build['seconds']} s on {build['torch_threads']} "
            "torch thread(s) (`testbed.json` in the model folder).",
        ]
    for row in report["rows"]:
        lines.append(
            f"| {row['n_ops']} | {row['problems']} | {row['pass@1']:.3f} | {row[f'pass@{samples}']:.3f} "
            f"| {row['judged_process_reward']:.3f} | {row['first_step_correct']:.3f} "
            f"| {row['reference_steps_written']:.3f} | {row['finished']:.3f} |"
            + (f" {row['teacher_answer_right']:.3f} | {row['teacher_copied_reference']:.3f} |" if teacher else "")
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
