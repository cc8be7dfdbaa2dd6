"""Agents through the trainer with the tiny random model: updates, resume, NaN skipping, masking, the length rule."""

import json

import attrs
import pytest
import torch

from agents.batch import Batch, zero_truncated
from agents.policy import Policy, SamplingConfig
from agents.registry import make_agent
from agents.trainer import TrainConfig, Trainer, is_operational
from tests.conftest import TINY_RUN, tiny_train_flags

SMALL = TINY_RUN


def config(tmp_path, **overrides):
    return TrainConfig(**{**SMALL, "output_dir": str(tmp_path / "run"), **overrides})


def params(policy):
    return torch.cat([p.detach().flatten() for p in policy.model.parameters()]).clone()


AGENTS = ["grpo", "ppo", "reinforce", "sft", "self_distill"]


RUNS = [(a, r) for a in ("grpo", "ppo", "reinforce") for r in ("outcome", "process")] + [
    ("sft", "process"),
    ("self_distill", "process"),
]  # the judge's reward does not enter these two baselines


@pytest.mark.parametrize("agent, reward", RUNS)
def test_every_agent_two_updates_change_parameters_with_finite_losses(tmp_path, agent, reward):
    from agents.registry import agent_classes

    agent_config = agent_classes(agent)[1](lr=1e-3)  # large enough to move a tiny random model in two steps
    trainer = Trainer(config(tmp_path, steps=2, reward=reward, agent=agent), agent_config=agent_config)
    before = params(trainer.policy)
    records = trainer.train()
    assert [r["step"] for r in records] == [1, 2]
    assert all(r["applied"] == 1.0 and torch.isfinite(torch.tensor(r["loss"])) for r in records)
    assert not torch.equal(before, params(trainer.policy))
    folder = tmp_path / "run"
    assert (folder / "plot.png").stat().st_size > 0 and list((folder / "tensorboard").glob("events.*"))
    assert len((folder / "metrics.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize("agent", ["grpo", "ppo"])
def test_resuming_from_step_one_reproduces_the_uninterrupted_step_two(tmp_path, agent):
    straight = Trainer(config(tmp_path / "a", steps=2, save_every=1, agent=agent)).train()
    Trainer(config(tmp_path / "b", steps=1, save_every=1, agent=agent)).train()
    resumed = Trainer(config(tmp_path / "b", steps=2, save_every=1, agent=agent)).train()
    assert [r["step"] for r in resumed] == [1, 2]

    def comparable(record):
        return {k: v for k, v in record.items() if not is_operational(k)}

    assert comparable(resumed[1]) == comparable(straight[1])
    a = Trainer(config(tmp_path / "a", steps=2, agent=agent))
    b = Trainer(config(tmp_path / "b", steps=2, agent=agent))
    a.load_checkpoint(a.latest_checkpoint())
    b.load_checkpoint(b.latest_checkpoint())
    assert torch.equal(params(a.policy), params(b.policy))


@pytest.mark.parametrize("agent", ["grpo", "sft"])  # SFT opens the references through the privileged channel
def test_the_run_folder_holds_no_reference_text(tmp_path, agent):
    from exprl_env.domains import load_problems

    Trainer(config(tmp_path, steps=1, agent=agent)).train()
    files = [path for path in (tmp_path / "run").rglob("*") if path.is_file()]
    names = {f.name for f in files}
    assert {"manifest.json", "trainer.json", "state.pt", "train_config.json", "metrics.jsonl"} <= names
    blob = b"".join(path.read_bytes() for path in files)
    for problem in load_problems("arith", size=50):
        for step in problem.reference.unseal().steps:
            assert step.encode() not in blob


def test_unknown_agent_is_named():
    known = r"\['grpo', 'ppo', 'reinforce', 'self_distill', 'sft'\]"
    with pytest.raises(ValueError, match=r"unknown agent 'dqn'; agents: " + known):
        make_agent("dqn", policy=None)


def test_swapping_the_agent_is_one_flag(tmp_path, capsys):
    from agents.cli import main

    for agent in ("reinforce", "ppo"):
        assert main(tiny_train_flags(tmp_path / agent, "--agent", agent)) == 0
        assert json.loads((tmp_path / agent / "metrics.jsonl").read_text().splitlines()[0])["step"] == 1


@pytest.fixture(scope="module")
def tiny():
    return Policy.from_pretrained("tiny-random")


def sampled_batch(policy, rewards, reward_kind="outcome", n=4):
    torch.manual_seed(0)
    prompts = [policy.prompt_ids(f"What is {i} + 1?") for i in range(n)]
    samples = policy.sample(prompts, SamplingConfig(max_new_tokens=8))
    spans = tuple(((0, len(s.text)),) for s in samples)
    scores = tuple((float(r),) if r == r else None for r in rewards)
    return Batch(
        tuple(samples),
        torch.tensor(rewards),
        torch.zeros(n, dtype=torch.long),
        reward_kind,
        scores,
        spans,
        tuple(f"p{i}" for i in range(n)),
        temperature=0.8,
    )


def test_a_nan_in_the_loss_is_skipped_and_counted(tiny):
    agent = make_agent("grpo", tiny, lr=1e-3, kl_coef=0.0)
    batch = sampled_batch(tiny, [1.0, 0.0, 0.5, 0.2])
    weight = tiny.model.model.layers[0].mlp.up_proj.weight
    saved = weight.detach().clone()
    with torch.no_grad():
        weight[0, 0] = float("nan")
    before = params(tiny)
    metrics = agent.update(batch)
    after = params(tiny)
    with torch.no_grad():
        weight.copy_(saved)
    assert metrics["applied"] == 0.0 and metrics["skipped_non_finite"] == 1.0
    assert torch.equal(torch.nan_to_num(before, nan=7.0), torch.nan_to_num(after, nan=7.0))


def test_unscorable_rollouts_contribute_no_gradient(tiny):
    nan = float("nan")
    all_masked = make_agent("grpo", tiny, lr=1e-3, kl_coef=0.0)
    before = params(tiny)
    metrics = all_masked.update(sampled_batch(tiny, [nan, nan, nan, nan]))
    assert metrics["applied"] == 0.0 and torch.equal(before, params(tiny))

    batch = sampled_batch(tiny, [1.0, nan, 0.0, 0.5])
    agent = make_agent("grpo", tiny, lr=1e-3, kl_coef=0.0, micro_batch=16)
    grads_with = _grads(agent, batch)
    keep = [0, 2, 3]
    without = Batch(
        tuple(batch.samples[i] for i in keep),
        batch.rewards[keep],
        batch.groups[keep],
        "outcome",
        tuple(batch.step_scores[i] for i in keep),
        tuple(batch.step_spans[i] for i in keep),
        tuple(batch.problem_ids[i] for i in keep),
        temperature=0.8,
    )
    grads_without = _grads(agent, without)
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(grads_with, grads_without))


def _grads(agent, batch):
    """The gradient one update would apply (the step itself is undone by taking lr=0 for this call)."""
    for group in agent.optimizer.param_groups:
        group["lr"] = 0.0
    captured = []
    original = agent.optimizer.step

    def capture(*args, **kwargs):
        captured.extend(p.grad.detach().clone() for p in agent.params)
        return original(*args, **kwargs)

    agent.optimizer.step = capture
    agent.update(batch)
    agent.optimizer.step = original
    return captured


def test_grpo_kl_to_the_frozen_start_grows_as_the_policy_moves():
    policy = Policy.from_pretrained("tiny-random")
    agent = make_agent("grpo", policy, lr=1e-2, kl_coef=0.1)
    first = agent.update(sampled_batch(policy, [1.0, 0.0, 0.5, 0.2]))
    second = agent.update(sampled_batch(policy, [1.0, 0.0, 0.5, 0.2]))
    assert first["kl"] == pytest.approx(0.0, abs=1e-6)  # identical to the reference before any step
    assert second["kl"] > 1e-6 and agent.reference is not None
    frozen = next(agent.reference.model.parameters())
    assert not frozen.requires_grad


def test_a_fresh_run_forgets_the_earlier_one(tmp_path):
    Trainer(config(tmp_path, steps=1, save_every=1)).train()
    records = Trainer(config(tmp_path, steps=1, save_every=1)).train(resume=False)
    assert [r["step"] for r in records] == [1]
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == ["step-000001"]


class CountingJudge:
    """Every other item unscorable (its server 'failed'); counts its calls like a real judge's counters()."""

    name = "counting"
    kinds = ("outcome", "process")

    def __init__(self):
        self.items = 0

    def score_batch(self, items):
        from judges import Cause, Status, Verdict

        self.items += len(items)
        return [
            Verdict.unscorable("server down", Cause.BACKEND_FAILED)
            if k % 2
            else Verdict(
                Status.OK, outcome=0.5, step_scores=(0.5,), step_ratings=(0.5,), step_spans=((0, len(item.response)),)
            )
            for k, item in enumerate(items)
        ]

    def counters(self):
        return {"items": self.items, "latency_p50_s": 0.25}


def test_each_step_logs_unscorable_rollouts_by_cause_and_what_the_judge_counted_in_it(tmp_path):
    from judges import register_judge

    register_judge("counting-test", CountingJudge)
    records = Trainer(config(tmp_path, steps=2, judge="counting-test")).train()
    for record in records:
        assert record["unscorable"] == 2 and record["unscorable_backend_failed"] == 2
        assert record["judge_items"] == 4 and "judge_latency_p50_s" not in record  # per step, not cumulative


# --- the length rule (issue 13, item 4) ---------------------------------------------------------------------


def test_a_response_cut_off_at_the_token_cap_earns_zero_unless_its_verdict_is_unscorable(tiny):
    """Rollouts 0-3: finished, cut off, cut off and unscorable, cut off and never judged (the env's over-long 0)."""
    samples = sampled_batch(tiny, [1.0] * 4).samples
    samples = tuple(attrs.evolve(s, finished=f) for s, f in zip(samples, (True, False, False, False)))
    batch = Batch(
        samples,
        torch.tensor([0.75, 0.5, float("nan"), 0.0]),
        torch.zeros(4, dtype=torch.long),
        "process",
        ((0.25, 0.75), (0.5, 0.5), None, None),
        (((0, 1), (1, 2)), ((0, 1), (1, 2)), None, None),
        ("p0",) * 4,
        step_ratings=((0.25, 1.0), (0.5, 0.75), None, None),
    )
    zeroed, count = zero_truncated(batch)
    assert count == 2 and zeroed.rewards[:2].tolist() == [0.75, 0.0] and zeroed.rewards[2].isnan()
    assert zeroed.step_scores == ((0.25, 0.75), (0.0, 0.0), None, None)
    assert zeroed.step_ratings == ((0.25, 1.0), (0.0, 0.0), None, None)


def test_a_zeroed_response_stays_in_the_loss(tiny):
    """lr 0: the token-mean loss divides by the tokens of every scorable rollout, the zeroed one's included."""
    batch = sampled_batch(tiny, [1.0, 0.0, 0.5, 0.2])
    batch = attrs.evolve(batch, samples=tuple(attrs.evolve(s, finished=k != 1) for k, s in enumerate(batch.samples)))
    zeroed, _ = zero_truncated(batch)  # rewards 1, 0, .5, .2 -> 1, 0, .5, .2: rollout 1 already paid 0
    agent = make_agent("grpo", tiny, lr=0.0)
    advantages = torch.nan_to_num(agent.token_advantages(zeroed))
    tokens = sum(len(s.response_ids) for s in zeroed.samples)
    assert agent.update(zeroed)["loss"] == pytest.approx(-float(advantages.sum()) / tokens, abs=1e-6)


@pytest.mark.parametrize("reward", ["outcome", "process", "sparse"])
def test_the_trainer_zeroes_cut_off_judged_responses_by_default_and_pays_them_as_judged_on_request(tmp_path, reward):
    """4 new tokens: no response of the tiny random model finishes. The vowels judge pays almost every one > 0."""
    settings = dict(steps=1, reward=reward, max_new_tokens=4, judge="vowels" if reward != "sparse" else "answer")
    default = Trainer(config(tmp_path / "zero", **{**settings, "truncated_reward": "zero"})).train()[0]
    judged = Trainer(config(tmp_path / "judge", **settings)).train()[0]
    assert default["finished_fraction"] == 0.0 and judged["truncated_zeroed"] == 0
    if reward == "sparse":  # a sparse reward is paid as the answer check says, as in the authors' sparse runs
        assert default["truncated_zeroed"] == 0 and default["reward_mean"] == judged["reward_mean"]
    else:
        assert default["truncated_zeroed"] == 4 and default["reward_mean"] == 0.0 and judged["reward_mean"] > 0.0
    assert TrainConfig().truncated_reward == "zero"


def test_the_held_out_evaluation_brackets_the_run_and_leaves_training_as_it_was(tmp_path):
    plain = Trainer(config(tmp_path / "plain", steps=2)).train()
    evaluated = Trainer(config(tmp_path / "eval", steps=2, eval_problems=3, eval_samples=2)).train()
    assert [r["step"] for r in evaluated] == [0, 1, 2]
    before, after = evaluated[0], evaluated[-1]
    assert "reward_mean" not in before and before["eval_problems"] == after["eval_problems"] == 3
    for record in (before, after):
        assert record["eval_responses"] == 6 and record["eval_judged_reward_scored"] == 6
        assert 0.0 <= record["eval_judged_reward"] <= 1.0  # the run's own judge (vowels), paid as the run pays
        assert record["eval_pass@1"] == record["eval_value_stated"] == 0.0  # a random model states no right value
    assert "eval_pass@1" not in evaluated[1]

    def training(record):
        return {k: v for k, v in record.items() if not is_operational(k) and not k.startswith("eval_")}

    assert [training(r) for r in evaluated[1:]] == [training(r) for r in plain]  # its own random stream
    extended = Trainer(config(tmp_path / "eval", steps=3, eval_problems=3, eval_samples=2)).train()
    assert [r["step"] for r in extended] == [0, 1, 2, 3] and extended[0] == before  # not evaluated "before" again
    assert extended[-1]["eval_judged_reward"] is not None
    text = (tmp_path / "eval" / "run" / "plot.png").read_bytes()
    assert text.startswith(b"\x89PNG")


def test_data_without_a_test_split_trains_without_the_held_out_evaluation_and_says_why(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="exprl"):
        records = Trainer(config(tmp_path, steps=1, env_options='{"size": 3}', eval_problems=4)).train()
    assert [r["step"] for r in records] == [1] and "eval_pass@1" not in records[0]
    assert "no held-out evaluation: 'arith' has no problems in split 'test'" in caplog.text
