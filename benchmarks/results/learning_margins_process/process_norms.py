"""GRPO on the judged process reward with one process norm, on the CI testbed: both held-out measures per seed.

The runs behind the process-norm table of ``benchmarks/results/learning_margins.md`` (one JSON line per seed)::

    PYTHONPATH=. python benchmarks/results/learning_margins_process/process_norms.py group 1e-4 60
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

import attrs
import torch

from agents.models import testbed_folder
from agents.trainer import Trainer
from benchmarks.learning_margins import ARMS, CI_TESTBED, sampled_measures


def main(norm: str, lr: float, steps: int, seeds=(0, 1, 2)) -> None:
    torch.set_num_threads(1)
    model = str(testbed_folder(CI_TESTBED))
    arm = attrs.evolve(ARMS["grpo_process_group"], steps=steps, agent_options={"lr": lr, "process_norm": norm})
    for seed in seeds:
        with tempfile.TemporaryDirectory() as scratch:
            trainer = Trainer(arm.train_config(model, seed, scratch), arm.agent_config())
            before = sampled_measures(trainer.policy)
            started = time.perf_counter()
            records = [trainer.train_step() for _ in range(steps)]
            after = sampled_measures(trainer.policy)
        gain = {k: round(after[k] - before[k], 4) for k in after}
        seconds = round(time.perf_counter() - started)
        row = {"norm": norm, "lr": lr, "steps": steps, "seed": seed, "before": before, "after": after, "gain": gain}
        print(json.dumps({**row, "s": seconds, "r0": records[0]["reward_mean"], "r_last": records[-1]["reward_mean"]}))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))
