"""The TRL adapter: the dataset export, the reward function, and the real ``GRPOTrainer`` (tiny random model, CPU)
trained on exprl outcome and process rewards with an unscorable verdict in every batch."""

from __future__ import annotations

import asyncio
import inspect
import math

import attrs
import gymnasium as gym
import pytest
import torch

pytest.importorskip("trl", reason='the TRL adapter needs the trl extra: pip install "exprl[trl]"')

from trl import GRPOTrainer  # noqa: E402

from agents.grpo import GRPO  # noqa: E402
from agents.integrations.trl import (  # noqa: E402
    ExpRLGRPOTrainer,
    check_trl_version,
    make_reward,
    to_hf_dataset,
)
from agents.policy import Policy  # noqa: E402
from agents.trainer import step_problem_ids  # noqa: E402
from benchmarks.race_trl import trl_config  # noqa: E402
from judges import Verdict, register_judge  # noqa: E402
from tests.conftest import ScriptedJudge, VowelJudge  # noqa: E402

ENV, OPTIONS = "ExpRL-Arith-v0", {"n_ops": 1, "max_operand": 9}
PROMPTS, GROUP, NEW_TOKENS, STEPS, SEED = 2, 4, 12, 2, 0


class PartlyUnscorable(VowelJudge):
    """The vowels judge (a reward that varies on a random model's text), but it cannot judge the second item of any
    call: every batch then holds an unscorable verdict."""

    name = "vowels-partly-unscorable"

    def score_batch(self, items):
        verdicts = super().score_batch(items)
        if len(verdicts) > 1:
            verdicts[1] = Verdict.unscorable("this judge could not judge it")
        return verdicts


register_judge(PartlyUnscorable.name, PartlyUnscorable)


def call(reward, problem_ids, texts, ids=None, **kwargs):
    prompts = [[{"role": "user", "content": observation(i)}] for i in problem_ids]
    completions = [[{"role": "assistant", "content": t}] for t in texts]
    ids = ids or [[1, 2, 3]] * len(texts)
    return asyncio.run(reward(prompts, completions, ids, problem_id=list(problem_ids), **kwargs))


def observation(problem_id):
    env = gym.make(ENV, **OPTIONS).unwrapped
    return env.reset(options={"problem_id": problem_id})[0]


def some_ids(n):
    return [p.id for p in gym.make(ENV, **OPTIONS).unwrapped.problems[:n]]


# --- the dataset ----------------------------------------------------------------------------------------------
def test_the_dataset_holds_the_environments_prompts_and_problem_ids_only():
    env = gym.make(ENV, **OPTIONS).unwrapped
    dataset = to_hf_dataset(ENV, **OPTIONS)
    assert dataset.column_names == ["prompt", "problem_id"] and len(dataset) == len(env.problems)
    row = dataset[3]
    assert row["problem_id"] == env.problems[3].id
    assert row["prompt"] == [{"role": "user", "content": env.reset(options={"problem_id": row["problem_id"]})[0]}]
    picked = to_hf_dataset(ENV, problem_ids=[row["problem_id"]] * 2, **OPTIONS)
    assert picked["problem_id"] == [row["problem_id"]] * 2 and picked[0]["prompt"] == row["prompt"]


# --- the reward function --------------------------------------------------------------------------------------
def test_the_reward_is_a_real_async_function_that_pays_what_the_env_pays_in_one_judge_call():
    judge = ScriptedJudge()
    reward = make_reward(ENV, "outcome", judge, truncated_reward="judge", **OPTIONS)
    assert inspect.iscoroutinefunction(reward) and reward.__name__ == "exprl_outcome"
    ids = some_ids(3)
    texts = ["First add them.", "UNSCORABLE", "So the answer is \\boxed{3}."]
    metrics = {}
    paid = call(reward, ids, texts, log_metric=metrics.__setitem__)
    assert judge.calls == 1 and judge.batch_sizes == [3]
    envs = gym.make_vec(ENV, num_envs=3, reward="outcome", judge=ScriptedJudge(), **OPTIONS)
    envs.reset(options={"problem_id": ids})
    expected = envs.step(texts)[1]
    assert paid[1] is None and math.isnan(expected[1])
    assert [paid[0], paid[2]] == pytest.approx([expected[0], expected[2]])
    assert metrics["exprl/unscorable"] == 1 and metrics["exprl/unscorable_checker_failed"] == 1
    assert metrics["exprl/truncated_zeroed"] == 0


@pytest.mark.parametrize("reward_kind", ["outcome", "process", "sparse"])
def test_a_completion_without_an_end_token_earns_zero_unless_unscorable_or_sparse(reward_kind):
    eos = 2
    reward = make_reward(ENV, reward_kind, ScriptedJudge(), eos_token_id=eos, **OPTIONS)
    problem = gym.make(ENV, **OPTIONS).unwrapped.problems[0]
    reference = problem.reference.unseal()  # a test may open it: a response that earns full marks
    text = " ".join(reference.steps) + f" So the answer is \\boxed{{{reference.answer}}}."
    paid = call(reward, [problem.id] * 3, [text, text, "UNSCORABLE"], [[5, eos], [5, 6], [5, 6]])
    finished, cut_off, unscorable = paid
    assert finished > 0 and unscorable is None
    assert cut_off == (finished if reward_kind == "sparse" else 0.0)


def test_bad_settings_and_inputs_are_errors_that_say_what_to_do():
    with pytest.raises(ValueError, match="eos_token_id="):
        make_reward(ENV, "outcome", "vowels", **OPTIONS)
    with pytest.raises(ValueError, match="step_mode='completion'"):
        make_reward(ENV, "outcome", "vowels", truncated_reward="judge", step_mode="step", **OPTIONS)
    with pytest.raises(ValueError, match="reward"):
        make_reward(ENV, "dense", "vowels", truncated_reward="judge", **OPTIONS)
    reward = make_reward(ENV, "outcome", "vowels", truncated_reward="judge", **OPTIONS)
    with pytest.raises(ValueError, match="no problem_id column"):
        asyncio.run(reward([[{"role": "user", "content": "q"}]], ["a"], [[1]]))
    other = some_ids(2)
    prompts = [[{"role": "user", "content": observation(other[1])}]]
    with pytest.raises(ValueError, match="same env id, split and options"):
        asyncio.run(reward(prompts, ["a"], [[1]], problem_id=[other[0]]))
    with pytest.raises(TypeError, match="one text response"):
        call(reward, other[:1], [[{"role": "assistant", "content": "a"}]] * 1)


def test_another_trl_version_is_refused_by_name():
    check_trl_version()  # the installed one is the tested one
    with pytest.raises(RuntimeError, match=r"trl 1\.17\.0 is installed") as refused:
        check_trl_version("1.17.0")
    assert "trl>=1.16,<1.17" in str(refused.value)


# --- the real GRPOTrainer -------------------------------------------------------------------------------------
class Recording:
    """Keeps what TRL hands its loss (and, for process rewards, the judged batch) at every generation."""

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        reward = self.reward_funcs[0].exprl
        self.seen.append((output, reward.last if reward.last is not None else self.judged.pop()))
        return output

    def _step_advantages(self, batch, output, group_size):
        self.judged.append(batch)
        return super()._step_advantages(batch, output, group_size)


def trl_run(tmp_path, trainer_class, reward_kind, judge=PartlyUnscorable.name, env_id=ENV, options=None):
    """A real TRL trainer (with :class:`Recording`) trained for ``STEPS`` steps on our trainer's problem order."""
    options = OPTIONS if options is None else options
    policy = Policy.from_pretrained("tiny-random")
    env = gym.make(env_id, **options).unwrapped
    order = [i for step in range(STEPS) for i in step_problem_ids([p.id for p in env.problems], SEED, PROMPTS, step)]
    reward = make_reward(env_id, reward_kind, judge, truncated_reward="judge", **options)
    args = trl_config(str(tmp_path), STEPS, PROMPTS, GROUP, max_completion_length=NEW_TOKENS, learning_rate=1e-3)
    recording = type("Recording" + trainer_class.__name__, (Recording, trainer_class), {"seen": None, "judged": None})
    trainer = recording(
        model=policy.model,
        reward_funcs=reward,
        args=args,
        train_dataset=to_hf_dataset(env_id, problem_ids=order, **options),
        processing_class=policy.tokenizer,
    )
    trainer.seen, trainer.judged = [], []
    trainer.train()
    return trainer, policy, order


def check_same_problems_prompts_and_rewards(trainer, policy, order, reward_kind):
    """What TRL sampled and was paid is what our trainer would sample from and pay."""
    judged = [i for _, batch in trainer.seen for i in batch.problem_ids]
    assert judged == [i for i in order for _ in range(GROUP)]  # our trainer's problems, in its order
    for output, batch in trainer.seen:
        prompt_ids = [row[mask.bool()].tolist() for row, mask in zip(output["prompt_ids"], output["prompt_mask"])]
        assert prompt_ids == [policy.prompt_ids(p) for p in batch.prompts]  # chat-templated as our Policy does
        envs = gym.make_vec(ENV, num_envs=len(batch), reward=reward_kind, judge=PartlyUnscorable.name, **OPTIONS)
        envs.reset(options={"problem_id": list(batch.problem_ids)})
        ours = torch.tensor(envs.step([s.text for s in batch.samples])[1], dtype=torch.float32)
        assert torch.equal(torch.isnan(ours), torch.isnan(batch.rewards)) and int(torch.isnan(ours).sum()) >= 1
        assert torch.allclose(ours.nan_to_num(), batch.rewards.nan_to_num())
    logged = trainer.state.log_history[0]
    assert logged["exprl/unscorable"] == 1 and logged["exprl/unscorable_checker_failed"] == 1
    assert math.isfinite(logged[f"rewards/exprl_{reward_kind}/mean"])


def test_grpo_trainer_trains_on_the_outcome_reward_with_unscorable_rollouts_masked(tmp_path):
    trainer, policy, order = trl_run(tmp_path, GRPOTrainer, "outcome")
    assert trainer.state.global_step == STEPS
    check_same_problems_prompts_and_rewards(trainer, policy, order, "outcome")
    for output, batch in trainer.seen:
        unscorable = torch.isnan(batch.rewards)
        assert output["advantages"].dim() == 1 and bool((output["advantages"][unscorable] == 0).all())
        assert bool((output["advantages"][~unscorable] != 0).any())


def test_exprl_grpo_trainer_trains_on_our_per_token_delta_norm_advantages(tmp_path):
    trainer, policy, order = trl_run(tmp_path, ExpRLGRPOTrainer, "process")
    assert trainer.state.global_step == STEPS
    check_same_problems_prompts_and_rewards(trainer, policy, order, "process")
    agent = GRPO(policy)  # the default process_norm="delta": the authors' DeltaNorm
    for output, batch in trainer.seen:
        batch = attrs.evolve(batch, groups=torch.arange(len(batch)) // GROUP)
        ours = agent.token_advantages(batch).nan_to_num()
        given = output["advantages"]
        assert given.shape == output["completion_ids"].shape
        assert torch.allclose(given[:, : ours.shape[1]], ours) and not given[:, ours.shape[1] :].any()
        unscorable = torch.isnan(batch.rewards)
        assert not given[unscorable].any() and given[~unscorable].any()
    assert "exprl/process_advantage_abs_mean" in trainer.state.log_history[0]


def test_exprl_grpo_trainer_refuses_a_process_reward_beside_another_and_a_sequence_loss(tmp_path):
    policy = Policy.from_pretrained("tiny-random")
    process = make_reward(ENV, "process", "vowels", truncated_reward="judge", **OPTIONS)
    dataset = to_hf_dataset(ENV, problem_ids=some_ids(2), **OPTIONS)

    def build(reward_funcs, **overrides):
        return ExpRLGRPOTrainer(
            model=policy.model,
            reward_funcs=reward_funcs,
            args=trl_config(str(tmp_path), 1, prompts=2, generations=2, **overrides),
            train_dataset=dataset,
            processing_class=policy.tokenizer,
        )

    with pytest.raises(ValueError, match="only reward function"):
        build([process, lambda completions, **kw: [0.0] * len(completions)])
    with pytest.raises(ValueError, match="loss_type='vespo'"):
        build(process, loss_type="vespo")
    cut = make_reward(ENV, "process", "vowels", eos_token_id=policy.tokenizer.eos_token_id + 1, **OPTIONS)
    with pytest.raises(ValueError, match="eos_token_id=trainer.eos_token_ids"):
        build(cut)
