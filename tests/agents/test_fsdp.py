"""FSDP2 sharding (``--sharding fsdp``), 2 CPU processes (gloo), against one unsharded process (issue 15).

The setting is test_data_parallel.py's (greedy decoding, so both runs sample the same responses; a judge that masks
every third problem, so the ranks hold different numbers of rollouts in the loss), and the sharded runs use
``--micro-batch 1``: the ranks then run different numbers of micro-batches of their own and the one with fewer pads
with zero-weight ones, which a collective per forward would otherwise hang on. Tolerances: losses to 1e-5 relative
as there (fp32 sums in another order: the sharded training pass scores prompt and response in one forward, per
micro-batch of one). Gradient norms to 1e-4: the unsharded run's ``torch.nn.utils.clip_grad_norm_`` sums each
whole gradient's squares in fp32, which for the 49152 x 64 tied embedding is off by up to 2.5e-5 relative from the
float64 sum the sharded run takes over its shards (measured on one step's gradients: 1.373024 against 1.373058,
with every gradient itself equal to 1e-7 relative); a mean instead of a sum over ranks would be off by a factor
of 2. Weights to 1% of how far they moved, as there.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from agents.cli import main
from agents.models import resolve_model
from agents.trainer import TrainConfig
from tests.agents.test_data_parallel import AGENT_FLAGS, DRIVER, comparable, flags, launch, layout, records, weights

SHARDED = ["--sharding", "fsdp", "--micro-batch", "1"]
EXTRA = {**AGENT_FLAGS, "grpo": ["--kl-coef", "0.05", "--mini-batches", "2"]}  # a sharded reference, old log-probs


def test_fsdp_without_a_launcher_is_refused_with_how_to_launch(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(ValueError, match="--sharding fsdp .* started alone: launch it with torchrun"):
        TrainConfig(sharding="fsdp")
    with pytest.raises(ValueError):
        TrainConfig(sharding="zero3")
    assert TrainConfig().sharding == "none"


EDGES = """
import os

import torch
from agents import distributed, sharding
from agents.optim import adamw, guarded_step
from agents.policy import Policy

world = distributed.start("cpu")
policy = Policy.from_pretrained("tiny-random")
sharding.shard(policy.model)
params = list(policy.model.parameters())
optimizer = adamw(params, 1e-3)


def micro(scale=1.0, response=(8, 9, 10, 11)):
    def loss():
        logp, mask = policy.token_logprobs([[5, 6, 7]], [list(response)])
        return -(logp * mask).sum() * scale

    return loss


def step(k, mine):
    before = [p.detach().to_local().clone() for p in params]
    report = guarded_step(params, optimizer, None, mine, 1.0)
    moved = not all(torch.equal(b, p.detach().to_local()) for b, p in zip(before, params))
    said = f"{report.applied} {report.skipped_reason!r} {report.grad_norm:.6g} {moved}"
    # one write of the whole line: both ranks share the launcher's stdout pipe, and an unbuffered print writes the
    # text and its newline apart, so the two ranks' lines could interleave (a pipe write under 4 KB is atomic)
    os.write(1, f"step {k} rank {world.rank}: {said}\\n".encode())


step(0, [micro(), micro()] if world.rank == 0 else [micro(float("nan"))])  # non-finite on one rank, 2 against 1
step(1, [micro(response=())] if world.rank == 0 else [micro()])  # an empty response: a loss without a graph
step(2, [] if world.rank == 0 else [micro(), micro()])  # nothing to learn on one rank
"""


@pytest.mark.slow
def test_uneven_non_finite_and_empty_micro_batches_do_not_hang_a_sharded_step(tmp_path):
    """The cases where ranks would run different numbers of forwards and backwards: each step ends on both ranks
    with the same report (a non-finite loss anywhere skips it everywhere, weights untouched)."""
    script = tmp_path / "edges.py"
    script.write_text(EDGES)
    found = dict(line.split(": ", 1) for line in launch("torchrun", [str(script)]).splitlines() if ": " in line)
    reports = [[found.get(f"step {k} rank {r}") for r in (0, 1)] for k in range(3)]
    assert all(a is not None and a == b for a, b in reports), reports  # every step ended alike on both ranks
    assert reports[0][0] == "False 'non-finite loss' nan False"
    assert all(a.startswith("True ''") and a.endswith(" True") for a, _ in reports[1:]), reports


def compare(tmp_path: Path, agents: list[str]) -> None:
    """Train ``agents`` in 2 sharded processes (one launch) and each in 1 unsharded process; same numbers."""
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(extra=EXTRA))
    launch("torchrun", [str(driver), str(tmp_path / "two"), ",".join(agents), *flags(), *SHARDED])
    start = load_file(str(Path(resolve_model("tiny-random")) / "model.safetensors"))
    start["lm_head.weight"] = start.pop("model.embed_tokens.weight")  # tied: a checkpoint names it lm_head
    for agent in agents:
        one, two = tmp_path / "one" / agent, tmp_path / "two" / agent
        assert main(["train", "--agent", agent, *flags(), *EXTRA.get(agent, []), "--output-dir", str(one)]) == 0
        assert layout(two) == layout(one), agent  # rank 0 alone writes; the checkpoint is an unsharded one
        ones, twos = records(one), records(two)
        assert [r["step"] for r in twos] == [1, 2] and all(r["applied"] == 1.0 for r in twos)
        assert twos[0]["unscorable"] > 0 and twos[0]["loss"] != 0.0
        for a, b in zip(ones, twos):
            for key in ("loss", "reward_mean", "unscorable", "response_tokens"):
                assert b[key] == pytest.approx(a[key], rel=1e-5), (agent, key)
            assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-4), agent
            if agent == "grpo":
                assert b["kl"] == pytest.approx(a["kl"], rel=1e-4, abs=1e-9)
        w1, w2 = weights(one, 2), weights(two, 2)
        assert set(w1) == set(w2), agent
        moved = max(float((w1[k] - start[k]).abs().max()) for k in w1)
        assert max(float((w1[k] - w2[k]).abs().max()) for k in w1) <= 0.01 * moved, agent


@pytest.mark.slow
def test_two_sharded_processes_train_every_agent_as_one_unsharded_process(tmp_path):
    """All five in one launch. GRPO with a KL reference (a sharded frozen copy) and two mini-batches (old
    log-probs); PPO with its value head (replicated: its gradient all-reduced beside FSDP's reduce-scatter);
    self-distillation with its teacher (a sharded frozen copy of the initial policy)."""
    compare(tmp_path, ["grpo", "ppo", "reinforce", "sft", "self_distill"])


@pytest.mark.slow
def test_a_sharded_checkpoint_resumes_exactly_with_two_and_loads_unsharded_with_one(tmp_path, caplog):
    """A 3-step run, and copies of it without its step-3 checkpoint: one resumed by 2 sharded processes (through the
    other launcher) repeats it exactly, one loads into a single unsharded process. With gradient checkpointing, which
    FSDP2 meets in the backward as a second forward of each layer (layer by layer, so on every rank alike)."""
    cli = ["-m", "agents.cli", "train", "--agent", "ppo", *SHARDED, "--gradient-checkpointing"]
    straight, run, single = tmp_path / "straight", tmp_path / "run", tmp_path / "single"
    launch("torchrun", [*cli, *flags(steps=3), "--output-dir", str(straight)])
    for copy in (run, single):
        shutil.copytree(straight, copy)
        shutil.rmtree(copy / "checkpoints" / "step-000003")  # as if stopped after step 2's checkpoint
    launch("accelerate", [*cli, *flags(steps=3), "--output-dir", str(run)])
    assert [comparable(r) for r in records(run)] == [comparable(r) for r in records(straight)]
    assert all(torch.equal(weights(run, 3)[k], w) for k, w in weights(straight, 3).items())
    state = torch.load(run / "checkpoints" / "step-000003" / "state.pt", weights_only=False)
    moments = state["agent"]["optimizer"]["state"]
    assert moments and all(type(v) is torch.Tensor for s in moments.values() for v in s.values())  # whole, no DTensor
    assert json.loads((run / "checkpoints" / "step-000003" / "trainer.json").read_text())["world_size"] == 2

    with caplog.at_level("WARNING", logger="exprl"):  # one process, no sharding: the same files load as they are
        assert main(["train", "--agent", "ppo", *flags(steps=3), "--output-dir", str(single)]) == 0
    assert "written by 2 process(es) and is resumed by 1" in caplog.text
    assert [r["step"] for r in records(single)] == [1, 2, 3] and records(single)[2]["applied"] == 1.0
    assert [comparable(r) for r in records(single)[:2]] == [comparable(r) for r in records(straight)[:2]]
