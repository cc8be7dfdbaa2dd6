"""One process against two on this machine: what data parallel costs (``exprl train``, CPU, gloo).

    python benchmarks/data_parallel.py --output benchmarks/results/data_parallel.json

The same run (global batch, steps, seed) is launched three ways, alternating round by round: ``python -m agents.cli
train`` with one thread (OMP_NUM_THREADS=1), the same with torch's default threads (one per core), and ``torchrun
--nproc_per_node 2`` (two processes, one thread each, each with half of every step's problems; with one process
nothing of agents.distributed is active). On 2 cores no speed-up is expected from the processes themselves: they
share the cores one process had. What the comparison shows is the engine's cost against the one-thread process (the
same threads in all): start-up, the all-reduces, the gathers, and the waiting for the slower rank that a collective
includes (``seconds_communicate`` in the metrics). The default-threads row is there because on a busy machine a
second intra-op thread can cost more than it gains.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUPS = {  # name: (processes, intra-op threads per process; 0 = torch's default, one per core)
    "1 process, 1 thread": (1, 1),
    "1 process, default threads": (1, 0),
    "2 processes (torchrun), 1 thread each": (2, 1),
}


def command(processes: int) -> list[str]:
    if processes == 1:
        return [sys.executable, "-m", "agents.cli"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes)]
    return [*launcher, "--master_port", port, "-m", "agents.cli"]


def train_flags(args: argparse.Namespace, folder: str) -> list[str]:
    return [
        *("train", "--model", args.model, "--agent", args.agent, "--judge", "reference", "--reward", "process"),
        *("--env-options", '{"size": 50}', "--steps", str(args.steps), "--save-every", "0"),
        *("--prompts-per-step", str(args.prompts_per_step), "--group-size", str(args.group_size)),
        *("--max-new-tokens", str(args.max_new_tokens), "--truncated-reward", "judge", "--output-dir", folder),
    ]


def run_once(setup: tuple[int, int], args: argparse.Namespace) -> dict:
    """One launch: wall time from start to exit, and each step's timings from its metrics."""
    processes, threads = setup
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    with tempfile.TemporaryDirectory() as folder:
        load = os.getloadavg()[0]
        started = time.perf_counter()
        subprocess.run(
            [*command(processes), *train_flags(args, folder)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            env={**env, "PYTHONPATH": str(ROOT), **({"OMP_NUM_THREADS": str(threads)} if threads else {})},
        )
        wall = time.perf_counter() - started
        records = [json.loads(line) for line in (Path(folder) / "metrics.jsonl").read_text().splitlines()]
    steady = records[1:] or records  # the first step warms caches up
    median = lambda key: statistics.median(r.get(key, 0.0) for r in steady)  # noqa: E731
    return {
        "wall_s": wall,
        "step_s": median("seconds_step"),
        "update_s": median("seconds_update"),
        "sample_s": median("seconds_sample"),
        "communicate_s": median("seconds_communicate"),
        "load_before": load,
    }


def summarize(runs: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    """Medians over rounds of each setup's figures."""
    keys = ("wall_s", "step_s", "sample_s", "update_s", "communicate_s", "load_before")
    return {name: {k: statistics.median(r[k] for r in rows) for k in keys} for name, rows in runs.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-random")
    parser.add_argument("--agent", default="grpo")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--prompts-per-step", type=int, default=8)
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", default="")
    args = parser.parse_args(argv)
    runs: dict[str, list[dict]] = {name: [] for name in SETUPS}
    for round_ in range(args.rounds):
        order = list(SETUPS) if round_ % 2 == 0 else list(reversed(SETUPS))
        for name in order:
            runs[name].append(run_once(SETUPS[name], args))
            print(f"round {round_ + 1}, {name}: {runs[name][-1]}", file=sys.stderr, flush=True)
    settings = {k: getattr(args, k) for k in ("model", "agent", "steps", "prompts_per_step", "group_size")}
    report = {
        "command": "python benchmarks/data_parallel.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "settings": {**settings, "max_new_tokens": args.max_new_tokens, "rounds": args.rounds},
        "runs": runs,
        "median": summarize(runs),
    }
    text = json.dumps(report, indent=1)
    if args.output:
        Path(args.output).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
