"""The ``exprl`` command line.

``exprl judge-check``: run every problem of a domain through the vector environment twice, once with its
own reference solution as the response and once with a wrong final answer, and report what the judge
paid. It is the policy-free smoke test of data, environment and judge together: with the sparse reward a
reference must earn 1 and a wrong answer 0; with a dense one the reference must earn at least 0.9 and
the wrong answer less (its steps are right, so it keeps partial credit). References the judge cannot
check are counted as unscorable, never as 0.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Sequence


def _perturbed(answer: str) -> str:
    """A wrong final answer: the integer after a whole-number reference, else an unlikely constant.

    (Not ``answer + 1``: for a reference of ``\\infty`` that is still right.)
    """
    try:
        return str(int(answer.replace(",", "")) + 1)
    except ValueError:
        return "-98765.4321"


def _responses(problems, wrong: bool) -> list[str]:
    responses = []
    for problem in problems:
        reference = problem.reference.unseal()  # privileged: this tool evaluates the judge, not a policy
        answer = _perturbed(reference.answer) if wrong else reference.answer
        responses.append("\n\n".join(reference.steps) + f"\n\nThe final answer is \\boxed{{{answer}}}.")
    return responses


def judge_check(args: argparse.Namespace) -> int:
    import gymnasium as gym
    from tqdm import tqdm

    options = json.loads(args.env_options) if args.env_options else {}
    envs = gym.make_vec(args.env, num_envs=args.batch, split=args.split, judge=args.judge, reward=args.reward, **options)
    problems = envs.unwrapped.envs[0].problems[: args.limit or None]
    report = {"env": args.env, "split": args.split, "judge": args.judge, "reward": args.reward, "problems": len(problems)}
    for label, wrong in (("reference", False), ("wrong_answer", True)):
        paid, unscorable, started = [], 0, time.perf_counter()
        responses = _responses(problems, wrong)
        for start in tqdm(range(0, len(problems), args.batch), desc=f"{label:>12}", unit="batch", file=sys.stderr):
            chunk = problems[start : start + args.batch]
            ids = [p.id for p in chunk] + [chunk[-1].id] * (args.batch - len(chunk))
            envs.reset(options={"problem_id": ids})
            actions = responses[start : start + args.batch] + [""] * (args.batch - len(chunk))
            rewards = envs.step(actions)[1][: len(chunk)]
            unscorable += int(sum(math.isnan(r) for r in rewards))
            paid += [r for r in rewards if not math.isnan(r)]
        seconds = time.perf_counter() - started
        report[label] = {
            "mean_reward": round(sum(paid) / len(paid), 4) if paid else None,
            "scored": len(paid),
            "unscorable": unscorable,
            "responses_per_s": round(len(problems) / seconds, 1),
        }
    print(json.dumps(report, indent=2))
    reference, wrong = report["reference"]["mean_reward"], report["wrong_answer"]["mean_reward"]
    if reference is None:
        return 1  # nothing could be judged
    ok = reference == 1.0 and wrong == 0.0 if args.reward == "sparse" else reference >= 0.9 and wrong < reference
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="exprl", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("judge-check", help="pay each reference and a wrong answer through env and judge")
    check.add_argument("--env", default="ExpRL-GSM-v0", help="registered environment id")
    check.add_argument("--split", default="all", choices=["train", "test", "all"])
    check.add_argument("--judge", default="reference", help="judge name or module:attr")
    check.add_argument("--reward", default="process", choices=["sparse", "outcome", "process"])
    check.add_argument("--batch", type=int, default=16, help="vector env size (one judge call per batch)")
    check.add_argument("--limit", type=int, default=0, help="check only the first N problems (0: all)")
    check.add_argument("--env-options", default="", help='extra env kwargs as JSON, e.g. \'{"size": 100}\'')
    check.set_defaults(run=judge_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
