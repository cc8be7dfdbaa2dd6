"""Seconds per training step of each agent on the demo configuration (SmolLM2-135M, CPU, 8 rollouts x 96 tokens).

Run: `python benchmarks/agent_step_times.py` (two steps per agent; the second is reported). Results: RESULTS.md.
"""
import json, sys
from agents.trainer import Trainer, TrainConfig
results = {}
for agent in ["grpo", "ppo", "reinforce", "sft", "self_distill"]:
    trainer = Trainer(TrainConfig(agent=agent, steps=2, output_dir=f"/tmp/agent_timing/{agent}", save_every=0))
    records = trainer.train(resume=False)
    results[agent] = {k: round(records[-1][k], 1) for k in ("seconds_step", "seconds_sample", "seconds_judge", "seconds_update")}
    print(agent, results[agent], file=sys.stderr, flush=True)
print(json.dumps(results, indent=1))
