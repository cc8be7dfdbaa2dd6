"""Seconds per training step of each agent on the demo configuration (SmolLM2-135M, CPU, 8 rollouts x 96 tokens).

    python benchmarks/agent_step_times.py --output benchmarks/results/agent_steps.json

Two steps per agent; the second is reported (the first pays warm-up). Rendered into RESULTS.md by
benchmarks/make_results.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from agents.trainer import TrainConfig, Trainer

AGENTS = ("grpo", "ppo", "reinforce", "sft", "self_distill")
KEYS = ("seconds_step", "seconds_sample", "seconds_judge", "seconds_update")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="")
    args = parser.parse_args()
    results = {}
    for agent in AGENTS:
        with tempfile.TemporaryDirectory(prefix=f"agent-steps-{agent}-") as folder:  # its checkpoint is not needed
            config = TrainConfig(
                agent=agent, steps=2, output_dir=folder, save_every=0, final_optimizer=False, eval_problems=0
            )
            records = Trainer(config).train(resume=False)
        results[agent] = {key: records[-1][key] for key in KEYS}
        print(agent, {k: round(v, 2) for k, v in results[agent].items()}, file=sys.stderr, flush=True)
    text = json.dumps(results, indent=1)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
