"""The ``exprl`` command line: train, eval, rollouts, judge-check, judge-bench, compare.

``exprl train``: an agent trains a policy against an environment (flags come from TrainConfig and the
agent's config). ``exprl eval``: pass@1 and pass@k on the held-out split with the sparse answer check.
``exprl judge-check``: run every problem of a domain through the vector environment twice, once with its
own reference solution as the response and once with a wrong final answer, and report what the judge
paid. It is the policy-free smoke test of data, environment and judge together: with the sparse reward a
reference must earn 1 and a wrong answer 0; with a dense one the reference must earn at least 0.9 and
the wrong answer less (its steps are right, so it keeps partial credit). References the judge cannot
check are counted as unscorable, never as 0. ``exprl judge-bench``: judges against CHAMP's human
first-wrong-step labels, or (``--protocol calibration``) the authors' outcome-judge calibration on rollouts
that ``exprl rollouts`` sampled and labelled with math-verify (judges/bench/). ``exprl compare``: ExpRL against
its baselines under one budget, then the authors' stage 2 from each (agents/compare/).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence


def _perturbed(answer: str) -> str:
    """A wrong final answer: the integer after a whole-number reference, else an unlikely constant.

    (Not ``answer + 1``: for a reference of ``\\infty`` that is still right.)
    """
    try:
        return str(int(answer.replace(",", "")) + 1)
    except ValueError:
        return "-98765.4321"


def _responses(problems, wrong: bool) -> list[str]:
    from agents.privileged import reference_response  # this tool evaluates the judge, not a policy

    references = [problem.reference.unseal() for problem in problems]
    return [reference_response(r, _perturbed(r.answer) if wrong else None) for r in references]


def judge_check(args: argparse.Namespace) -> int:
    import gymnasium as gym
    from tqdm import tqdm

    from judges.reporting import json_number, summarize

    envs = gym.make_vec(
        args.env, num_envs=args.batch, split=args.split, judge=args.judge, reward=args.reward, **args.env_options
    )
    problems = envs.unwrapped.problems[: args.limit or None]
    report = {
        "env": args.env,
        "split": args.split,
        "judge": args.judge,
        "reward": args.reward,
        "problems": len(problems),
    }
    for label, wrong in (("reference", False), ("wrong_answer", True)):
        rewards, started = [], time.perf_counter()
        responses = _responses(problems, wrong)
        for start in tqdm(range(0, len(problems), args.batch), desc=f"{label:>12}", unit="batch", file=sys.stderr):
            chunk = problems[start : start + args.batch]
            ids = [p.id for p in chunk] + [chunk[-1].id] * (args.batch - len(chunk))
            envs.reset(options={"problem_id": ids})
            actions = responses[start : start + args.batch] + [""] * (args.batch - len(chunk))
            rewards += [float(r) for r in envs.step(actions)[1][: len(chunk)]]  # NaN: unscorable
        seconds, summary = time.perf_counter() - started, summarize(rewards)
        report[label] = {
            "mean_reward": json_number(summary.mean, 4),
            "scored": summary.n,
            "unscorable": summary.missing,
            "responses_per_s": round(len(problems) / seconds, 1),
        }
    print(json.dumps(report, indent=2))
    reference, wrong = report["reference"]["mean_reward"], report["wrong_answer"]["mean_reward"]
    if reference is None:
        return 1  # nothing could be judged
    ok = reference == 1.0 and wrong == 0.0 if args.reward == "sparse" else reference >= 0.9 and wrong < reference
    return 0 if ok else 1


def judge_bench(args: argparse.Namespace) -> int:
    """Judges against CHAMP's human first-wrong-step annotations (library: :mod:`judges.bench`)."""
    import shlex
    from functools import partial
    from pathlib import Path

    import attrs
    from tqdm import tqdm

    from agents.config_cli import config_from_args, given_fields
    from exprl_env.domains import champ
    from judges.bench import BenchConfig, load_annotations, markdown, run_bench
    from judges.bench.calibration import load_rollouts
    from judges.bench.report import calibration_markdown

    try:
        config = config_from_args(BenchConfig, args)
        rollout_set = load_rollouts(config.rollouts) if config.protocol == "calibration" else None
        labelled_as = ((rollout_set.source.get("env_options") or {}).get("judge_kwargs") or {}) if rollout_set else {}
        if "answer_format" in labelled_as and "answer_format" not in given_fields(args):
            config = attrs.evolve(config, answer_format=labelled_as["answer_format"])  # read answers as the labeller
    except ValueError as error:  # a bad setting, or a rollouts file that cannot be read (named with its line)
        print(f"exprl judge-bench: error: {error}", file=sys.stderr)
        return 2
    outputs = [f"--{name}={getattr(args, name)}" for name in ("output", "markdown") if getattr(args, name)]
    command = shlex.join(["exprl", "judge-bench", *config.flags(), *outputs])
    progress = partial(tqdm, unit="item", file=sys.stderr)
    if rollout_set is None:
        annotations, problems = load_annotations(config.champ_version), champ.load_champ(config.champ_version)
        report = {"command": command, **run_bench(config, annotations, problems, progress)}
        page = markdown(report, command)
    else:
        report = {"command": command, "config": attrs.asdict(config), **_calibration(config, rollout_set, progress)}
        page = calibration_markdown(report, command)
    text = json.dumps(report, indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    if args.markdown:
        Path(args.markdown).write_text(page, encoding="utf-8")
    return 0


def _calibration(config, rollout_set, progress) -> dict:
    """The calibration protocol over the problems of the environment the rollouts were made on."""
    import gymnasium as gym

    from judges import make_judge
    from judges.bench.calibration import run_calibration

    source = rollout_set.source
    env = gym.make(source["env"], split="all", **source.get("env_options", {}))
    problems = env.unwrapped.problems
    judges = {name: make_judge(name, **config.judge_options(name)) for name in config.judge_names()}
    try:
        return run_calibration(
            judges, rollout_set, problems, config.conditions(), config.batch, progress, config.threshold
        )
    finally:
        for judge in judges.values():
            if hasattr(judge, "close"):
                judge.close()


def rollouts_command(args: argparse.Namespace) -> int:
    """Labelled rollouts of a policy for judge calibration (library: :mod:`agents.rollouts`)."""
    import shlex

    from agents.rollouts import labelled_rollouts
    from judges.bench.calibration import write_rollouts

    policy, sampling = _policy_and_sampling(args)
    rollouts, unlabelled = labelled_rollouts(
        policy, args.env, args.env_options, args.split, args.samples, args.limit, sampling, seed=args.seed
    )
    source = {
        "policy": args.model,
        "checkpoint": args.checkpoint,
        "env": args.env,
        "env_options": args.env_options,
        "split": args.split,
        "samples": args.samples,
        "sampling": {"temperature": args.temperature, "max_new_tokens": args.max_new_tokens, "seed": args.seed},
        "labeller": "math-verify through the answer judge (sparse reward 1 = correct)",
        "unlabelled": unlabelled,
        "command": shlex.join(["exprl", *sys.argv[1:]]) if sys.argv[1:2] == ["rollouts"] else "",
    }
    write_rollouts(args.output, source, rollouts)
    correct = sum(r.correct for r in rollouts)
    print(json.dumps({"output": args.output, "rollouts": len(rollouts), "correct": correct, "unlabelled": unlabelled}))
    return 0


def train(args: argparse.Namespace) -> int:
    from agents.batch import MissingStepValues
    from agents.config_cli import config_from_args
    from agents.durable import LogDamaged
    from agents.presets import PresetError
    from agents.registry import agent_classes
    from agents.trainer import RunFolderError, TrainConfig, Trainer

    try:  # a bad setting: an empty --output-dir, a negative --keep-last, an unknown agent, a preset without values
        config = config_from_args(TrainConfig, args)
        agent_config = config_from_args(agent_classes(config.agent)[1], args)
        preset = None
        if args.preset:
            config, agent_config, preset = _with_preset(args.preset, config, agent_config, args)
    except (ValueError, PresetError) as error:
        print(f"exprl train: error: {error}", file=sys.stderr)
        return 2
    try:  # an unusable folder, one holding another run, no intact checkpoint, a damaged log
        trainer = Trainer(config, agent_config)
        if trainer.is_main:  # under a launcher, rank 0 alone writes
            _record_preset(trainer.folder, preset)
        records = trainer.train(resume=not args.fresh)
    except (RunFolderError, LogDamaged, MissingStepValues) as error:  # ... or a judge without what the agent needs
        print(f"exprl train: error: {error}", file=sys.stderr)
        return 2
    if trainer.is_main:
        from agents.durable import atomic_write_text

        summary = _summary(records, config.output_dir)
        atomic_write_text(trainer.folder / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
        print(summary["in_words"])
        print(
            f"Curves: {summary['plot']}; every step: {summary['metrics']}; this summary as JSON: "
            f"{config.output_dir}/{SUMMARY_FILE}"
        )
    return 0


SUMMARY_FILE = "summary.json"
"""In the run folder: what ``exprl train`` printed at the end, as JSON (:func:`agents.summary.run_summary`)."""


PRESET_FILE = "preset.json"
"""Beside train_config.json: the preset a run was started with and the preset fields the user changed."""


def _record_preset(folder, preset: dict | None) -> None:
    """Like train_config.json, written at every start: the preset, or no file when the run has none."""
    if preset is None:
        (folder / PRESET_FILE).unlink(missing_ok=True)
        return
    from agents.durable import atomic_write_text

    atomic_write_text(folder / PRESET_FILE, json.dumps(preset, indent=1))


def _with_preset(name: str, config, agent_config, args: argparse.Namespace):
    """(TrainConfig, agent config, preset record) with the preset's values wherever no flag was given; prints the
    preset fields the user changed."""
    import attrs

    from agents import presets
    from agents.config_cli import given_fields

    role = presets.role_for(name, config.agent, config.reward)
    given = set(given_fields(args))
    judge_options = dict(config.env_options.get("judge_kwargs") or {})
    if "env_options" in given:
        given |= {f"judge.{key}" for key in judge_options}
    run, agent, judge_options, overrides = presets.resolve(
        role,
        attrs.asdict(config),
        attrs.asdict(agent_config),
        config.judge,
        judge_options,
        given,
        lambda: presets.train_problem_count(config.env, config.env_options),
    )
    if judge_options:
        run["env_options"] = {**run["env_options"], "judge_kwargs": judge_options}
    print(presets.overrides_table(overrides, name), file=sys.stderr)
    record = {"preset": name, "role": role, "overrides": [attrs.asdict(o) for o in overrides]}
    return type(config)(**run), type(agent_config)(**agent), json.loads(json.dumps(record))


def _summary(records: list[dict], folder: str) -> dict:
    """What the run did (library: :func:`agents.summary.run_summary`)."""
    from agents.summary import run_summary

    return run_summary(records, folder)


def _policy_and_sampling(args: argparse.Namespace):
    """The policy (--model, weights from --checkpoint if given) and the sampling flags, for eval and rollouts."""
    from agents.policy import Policy, SamplingConfig

    policy = Policy.from_pretrained(args.model)
    if args.checkpoint:
        from safetensors.torch import load_model

        load_model(policy.model, f"{args.checkpoint}/model.safetensors")
    return policy, SamplingConfig(temperature=args.temperature, max_new_tokens=args.max_new_tokens)


def evaluate_command(args: argparse.Namespace) -> int:
    from agents.evaluate import evaluate

    policy, sampling = _policy_and_sampling(args)
    report = evaluate(
        policy,
        args.env,
        args.env_options,
        args.split,
        args.samples,
        limit=args.limit,
        sampling=sampling,
        seed=args.seed,
    )
    print(json.dumps(report, indent=2))
    return 0


def compare(args: argparse.Namespace) -> int:
    """ExpRL against its baselines under one budget, then the authors' stage 2 from each result (library:
    agents.compare)."""
    import attrs

    from agents.compare import CompareConfig, SettingsMismatch, run_compare
    from agents.compare.plan import preset_overrides
    from agents.config_cli import config_from_args, given_fields
    from agents.presets import overrides_table

    try:  # names an unknown arm, a budget below its minimum, an llm judge without its model
        config = attrs.evolve(config_from_args(CompareConfig, args), given=given_fields(args))
        if config.preset:
            print(overrides_table(preset_overrides(config), config.preset), file=sys.stderr)
    except ValueError as error:
        print(f"exprl compare: error: {error}", file=sys.stderr)
        return 2
    try:
        report = run_compare(config)
    except SettingsMismatch as error:  # a folder from another experiment: never resumed into this one
        print(f"exprl compare: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0


def build_parser(agent: str = "grpo") -> argparse.ArgumentParser:
    from agents.config_cli import add_config_flags, json_flag
    from agents.presets import PRESETS
    from agents.registry import agent_classes, agent_names
    from agents.trainer import TrainConfig

    parser = argparse.ArgumentParser(prog="exprl", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    training = commands.add_parser(
        "train",
        help="train a policy with an agent against an ExpRL environment",
        description=f"Agents: {', '.join(agent_names())}. Flags below: the run, "
        f"then the {agent} agent's settings (pick --agent to see others').",
    )
    training.add_argument(
        "--preset",
        choices=PRESETS,
        default="",
        help="start from the authors' values (agents/presets.py): paper for stage 1 (the arm follows from --agent and "
        "--reward), paper-stage2 for their stage 2; flags given explicitly win, and the ones that differ are printed",
    )
    add_config_flags(training, TrainConfig, "run")
    add_config_flags(training, agent_classes(agent)[1], f"{agent} agent")
    training.add_argument(
        "--fresh",
        action="store_true",
        help="start over: delete the checkpoints, metrics and plots already in --output-dir",
    )
    training.set_defaults(run=train)

    evaluation = commands.add_parser("eval", help="pass@1 and pass@k with the sparse answer check")
    _sampling_flags(evaluation, {"n_ops": 1, "max_operand": 9}, "extra env kwargs as JSON", 8)
    evaluation.set_defaults(run=evaluate_command)

    sampled = commands.add_parser(
        "rollouts",
        help="a policy's responses labelled correct or not by math-verify, for judge-bench --protocol calibration",
    )
    _sampling_flags(
        sampled,
        {"n_ops": 1, "max_operand": 9, "judge_kwargs": {"answer_format": "boxed_or_last_number"}},
        "extra env kwargs as JSON (judge_kwargs go to the answer judge that labels)",
        4,
    )
    sampled.add_argument("--output", required=True, help="the rollouts file to write (JSONL)")
    sampled.set_defaults(run=rollouts_command)

    from agents.compare import CompareConfig

    comparison = commands.add_parser(
        "compare",
        help="ExpRL against its baselines under one budget, then the authors' stage 2",
        description="Train every arm from the same start with the same data, seeds and "
        "budget, continue each with the authors' stage 2 (PPO on the binary answer reward), evaluate pass@k on "
        "the test split; rerunning resumes. --preset paper: the authors' hyperparameters for every arm, explicit "
        "flags overriding them. See agents/compare/.",
    )
    add_config_flags(comparison, CompareConfig, "compare")
    comparison.set_defaults(run=compare)

    check = commands.add_parser("judge-check", help="pay each reference and a wrong answer through env and judge")
    check.add_argument("--env", default="ExpRL-GSM-v0", help="registered environment id")
    check.add_argument("--split", default="all", choices=["train", "test", "all"])
    check.add_argument("--judge", default="reference", help="judge name or module:attr")
    check.add_argument("--reward", default="process", choices=["sparse", "outcome", "process"])
    check.add_argument("--batch", type=int, default=16, help="vector env size (one judge call per batch)")
    check.add_argument("--limit", type=int, default=0, help="check only the first N problems (0: all)")
    check.add_argument(
        "--env-options", type=json_flag, default={}, help="extra env kwargs as JSON, e.g. '{\"size\": 100}'"
    )
    check.set_defaults(run=judge_check)

    from judges.bench import BenchConfig

    bench = commands.add_parser(
        "judge-bench",
        help="judges against CHAMP's human first-wrong-step annotations, or calibrated on labelled rollouts",
        description="Balanced error rate and first-error localisation of each judge against "
        "CHAMP's 540 human annotations, with the correct, no and a wrong "
        "reference; with --protocol calibration, the authors' outcome-judge calibration on policy rollouts "
        "labelled by math-verify (exprl rollouts). See judges/bench/ for the definitions.",
    )
    add_config_flags(bench, BenchConfig, "bench")
    bench.add_argument("--output", default="", help="write the JSON report to this file instead of stdout")
    bench.add_argument("--markdown", default="", help="also write the report as markdown tables to this file")
    bench.set_defaults(run=judge_bench)
    return parser


def _sampling_flags(parser: argparse.ArgumentParser, env_options: dict, options_help: str, samples: int) -> None:
    """The flags of a command that samples a policy on a split: eval and rollouts."""
    from agents.config_cli import json_flag

    parser.add_argument("--model", default="smollm2-135m-instruct", help="policy model (folder, id or alias)")
    parser.add_argument("--checkpoint", default="", help="a trainer checkpoint folder to load weights from")
    parser.add_argument("--env", default="ExpRL-Arith-v0")
    parser.add_argument("--env-options", type=json_flag, default=env_options, help=options_help)
    parser.add_argument("--split", default="test", choices=["train", "test", "all"])
    parser.add_argument("--samples", type=int, default=samples, help="responses per problem")
    parser.add_argument("--limit", type=int, default=0, help="first N problems only (0: all)")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0, help="seeds the sampling")


def _agent_in(argv: Sequence[str]) -> str:
    """The --agent value, if any, so that agent's config flags can be offered."""
    for i, token in enumerate(argv):
        if token == "--agent" and i + 1 < len(argv):
            return argv[i + 1]
        if token.startswith("--agent="):
            return token.split("=", 1)[1]
    return "grpo"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_agent_in(argv)).parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
