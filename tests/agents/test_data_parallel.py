"""Data parallel through torchrun and accelerate launch, 2 CPU processes (gloo), against one process (issue 15).

What is compared, and why these tolerances: the tiny random model decodes greedily (temperature 0), so both runs
sample the same responses (a sampled run draws one random stream in one process and two in two, so its samples could
not match); the ``ProblemJudge`` pays by problem and masks every third problem, so the two processes hold different
numbers of tokens in the loss, which a per-process token mean would weigh wrongly. The runs then differ only in the
order of floating-point sums (padding widths, micro-batches, two partial sums and an all-reduce): fp32 rounds at
6e-8 relative, and sums over the batch's tokens agree to ~1e-6 relative (measured: 3e-6 at most), hence ``rtol=1e-5``
on losses and gradient norms, which also catches a wrong scale (a mean instead of a sum over processes doubles or
halves them). AdamW divides each coordinate by its own gradient scale, so a coordinate whose gradient is at the level
of that rounding can move by a different fraction of the learning rate: the final weights must agree to 1% of how
far the run moved them (measured: 0.3% at most, PPO), where a per-process normalisation moves them differently.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from agents import distributed
from agents.cli import main
from agents.models import resolve_model
from agents.trainer import TrainConfig, is_operational

ROOT = Path(__file__).resolve().parents[2]
AGENTS = ["grpo", "ppo", "reinforce", "sft", "self_distill"]
AGENT_FLAGS = {"reinforce": ["--baseline", "none"]}  # the greedy group is all alike: no leave-one-out signal
DRIVER = """
import sys
from agents.cli import main

folder, agents, flags = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
for agent in agents:
    extra = {extra!r}.get(agent, [])
    assert main(["train", "--agent", agent, *flags, *extra, "--output-dir", f"{{folder}}/{{agent}}"]) == 0
"""


def flags(steps: int = 2, prompts: int = 4) -> list[str]:
    settings = {
        "--model": "tiny-random",
        "--env-options": '{"size": 50}',
        "--judge": "tests.conftest:ProblemJudge",
        "--steps": str(steps),
        "--prompts-per-step": str(prompts),
        "--group-size": "2",
        "--max-new-tokens": "8",
        "--truncated-reward": "judge",
        "--temperature": "0",
        "--lr": "1e-3",
        "--save-every": "1",
        "--keep-last": "0",
        "--eval-problems": "0",  # test_two_processes_share_the_held_out_evaluation has it on
    }
    return [word for pair in settings.items() for word in pair]


def free_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


def launch(launcher: str, target: list[str]) -> str:
    """Run ``target`` (a script and its arguments, or ``-m module ...``) in 2 processes; its output."""
    port = free_port()
    commands = {
        "torchrun": [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port],
        "accelerate": [
            *(sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"),
            *("--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", port),
        ],
    }
    done = subprocess.run(
        [*commands[launcher], *target],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def weights(folder: Path, step: int) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "checkpoints" / f"step-{step:06d}" / "model.safetensors"))


def layout(folder: Path) -> list[str]:
    """Every file of a run folder, TensorBoard event files by count (their names hold a host name and a pid)."""
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    events = [f for f in files if f.startswith("tensorboard/")]
    return [f for f in files if f not in events] + [f"{len(events)} event file(s)"]


def comparable(record: dict) -> dict:
    return {k: v for k, v in record.items() if not is_operational(k)}


@pytest.mark.slow
def test_two_processes_with_global_batch_b_train_every_agent_as_one_process_with_batch_b(tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(extra=AGENT_FLAGS))
    output = launch("torchrun", [str(driver), str(tmp_path / "two"), ",".join(AGENTS), *flags()])
    assert output.count("this summary as JSON:") == len(AGENTS)  # one summary per run: rank 0's
    start = load_file(str(Path(resolve_model("tiny-random")) / "model.safetensors"))
    start["lm_head.weight"] = start.pop("model.embed_tokens.weight")  # tied: a checkpoint names it lm_head
    for agent in AGENTS:
        one, two = tmp_path / "one" / agent, tmp_path / "two" / agent
        assert main(["train", "--agent", agent, *flags(), *AGENT_FLAGS.get(agent, []), "--output-dir", str(one)]) == 0
        assert layout(two) == layout(one), agent  # one metrics file, one checkpoint series, one event file
        ones, twos = records(one), records(two)
        assert [r["step"] for r in twos] == [1, 2] and all(r["applied"] == 1.0 for r in twos)
        assert twos[0]["unscorable"] > 0 and twos[0]["loss"] != 0.0  # masked rollouts, and something to learn
        for a, b in zip(ones, twos):
            for key in ("loss", "grad_norm", "reward_mean", "unscorable", "response_tokens"):
                assert b[key] == pytest.approx(a[key], rel=1e-5), (agent, key)
        w1, w2 = weights(one, 2), weights(two, 2)
        moved = max(float((w1[k] - start[k]).abs().max()) for k in w1)
        assert max(float((w1[k] - w2[k]).abs().max()) for k in w1) <= 0.01 * moved, agent


@pytest.mark.slow
def test_a_two_process_checkpoint_resumes_exactly_with_two_and_loads_with_one(tmp_path, caplog):
    cli = ["-m", "agents.cli", "train", "--agent", "grpo"]
    run, straight, single = tmp_path / "run", tmp_path / "straight", tmp_path / "single"
    launch("torchrun", [*cli, *flags(steps=2), "--output-dir", str(run)])
    shutil.copytree(run, single)
    launch("accelerate", [*cli, *flags(steps=3), "--output-dir", str(run)])  # resumes step 2's checkpoint
    launch("torchrun", [*cli, *flags(steps=3), "--output-dir", str(straight)])
    assert [comparable(r) for r in records(run)] == [comparable(r) for r in records(straight)]
    assert all(torch.equal(weights(run, 3)[k], w) for k, w in weights(straight, 3).items())
    state = torch.load(run / "checkpoints" / "step-000003" / "state.pt", weights_only=False)
    assert len(state["rng_by_rank"]) == 2
    assert json.loads((run / "checkpoints" / "step-000003" / "trainer.json").read_text())["world_size"] == 2

    with caplog.at_level("WARNING", logger="exprl"):
        assert main(["train", "--agent", "grpo", *flags(steps=3), "--output-dir", str(single)]) == 0
    assert "written by 2 process(es) and is resumed by 1" in caplog.text
    assert [r["step"] for r in records(single)] == [1, 2, 3]
    assert [comparable(r) for r in records(single)[:2]] == [comparable(r) for r in records(run)[:2]]


@pytest.mark.slow
def test_a_step_that_does_not_split_evenly_trains_as_one_process(tmp_path):
    """3 problems on 2 processes: rank 0 takes problems 0 and 2, rank 1 problem 1 (the authors' 36 on 8 GPUs is
    uneven too). Same tolerances as above."""
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(extra=AGENT_FLAGS))
    launch("torchrun", [str(driver), str(tmp_path / "two"), "grpo,ppo", *flags(prompts=3)])
    start = load_file(str(Path(resolve_model("tiny-random")) / "model.safetensors"))
    start["lm_head.weight"] = start.pop("model.embed_tokens.weight")
    for agent in ("grpo", "ppo"):
        one, two = tmp_path / "one" / agent, tmp_path / "two" / agent
        assert main(["train", "--agent", agent, *flags(prompts=3), "--output-dir", str(one)]) == 0
        ones, twos = records(one), records(two)
        assert [r["step"] for r in twos] == [1, 2] and all(r["applied"] == 1.0 for r in twos)
        for a, b in zip(ones, twos):
            for key in ("loss", "grad_norm", "reward_mean", "unscorable", "response_tokens"):
                assert b[key] == pytest.approx(a[key], rel=1e-5), (agent, key)
        w1, w2 = weights(one, 2), weights(two, 2)
        moved = max(float((w1[k] - start[k]).abs().max()) for k in w1)
        assert max(float((w1[k] - w2[k]).abs().max()) for k in w1) <= 0.01 * moved, agent


def test_a_step_must_give_every_process_a_problem(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    with pytest.raises(ValueError, match="prompts_per_step=3 leaves some of the 4 processes .* without a problem"):
        TrainConfig(prompts_per_step=3)
    assert TrainConfig(prompts_per_step=5).prompts_per_step == 5  # uneven shares are fine: 2, 1, 1, 1


def test_without_a_launcher_every_collective_is_the_identity():
    assert distributed.active() is None
    value = torch.tensor([1.0, 2.0])
    assert distributed.total(value) is value and distributed.total(3) == 3 and distributed.largest(5) == 5
    assert distributed.gather("x") == ["x"] and distributed.broadcast("y") == "y"
    assert distributed.on_main(lambda: 7) == 7 and distributed.rank_seed(11, 0) == 11


def test_uneven_shares_come_back_in_the_order_one_process_holds_them():
    """Step problems [a, b, c], groups of 2: rank 0 took a and c, rank 1 b."""
    assert distributed.global_order([["a1", "a2", "c1", "c2"], ["b1", "b2"]], 2) == ["a1", "a2", "b1", "b2", "c1", "c2"]


def test_gathered_rollouts_come_back_in_the_order_one_process_holds_them():
    """Step problems [a, b, c, d], groups of 2: rank 0 took a and c, rank 1 b and d."""
    per_rank = [["a1", "a2", "c1", "c2"], ["b1", "b2", "d1", "d2"]]
    assert distributed.global_order(per_rank, 2) == ["a1", "a2", "b1", "b2", "c1", "c2", "d1", "d2"]


@pytest.mark.slow
def test_two_processes_share_the_held_out_evaluation(tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    settings = [*flags(steps=1), "--eval-problems", "6", "--eval-samples", "2"]
    launch("torchrun", ["-m", "agents.cli", "train", *settings, "--output-dir", str(two)])
    assert main(["train", *settings, "--output-dir", str(one)]) == 0
    twos, ones = records(two), records(one)
    assert [r["step"] for r in twos] == [r["step"] for r in ones] == [0, 1]
    for a, b in zip(ones, twos):  # each rank sampled its share (greedy), rank 0 logged all the responses
        responses = 2 * b["eval_problems"]  # every test problem: the split of 50 has fewer than 6
        assert b["eval_responses"] == b["eval_pass@1_scored"] == responses
        assert 0 < b["eval_judged_reward_scored"] < responses  # the judge leaves some problems unscored
        assert {k: v for k, v in b.items() if k.startswith("eval_") and k != "eval_seconds"} == {
            k: v for k, v in a.items() if k.startswith("eval_") and k != "eval_seconds"
        }
