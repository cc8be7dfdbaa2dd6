"""exprl's verl adapter against the real verl 0.9.1 classes: verl's config, loader, reward-loop worker, ``DataProto``
and ``compute_advantage`` with the registered estimators. Ray, the rollout engines and the model update are not run.

verl cannot share exprl's test environment (it pins transformers <5.11), so this module is skipped there; it runs in
verl's own environment (``.ci/verl/test``, built by ``.ci/verl/build`` from ``.ci/verl/requirements.txt``).
"""

import math
import os
import sys

import numpy as np
import pytest

verl = pytest.importorskip(
    "verl", reason="verl is not installed here: these tests run in verl's own environment (.ci/verl/test)"
)

import gymnasium as gym  # noqa: E402
import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from verl import DataProto  # noqa: E402
from verl.experimental.reward_loop.reward_loop import RewardLoopWorker  # noqa: E402
from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls  # noqa: E402
from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase  # noqa: E402
from verl.trainer.ppo.core_algos import get_adv_estimator_fn  # noqa: E402
from verl.trainer.ppo.ray_trainer import compute_advantage  # noqa: E402
from verl.trainer.ppo.reward import load_reward_manager  # noqa: E402
from verl.utils.config import omega_conf_to_dataclass  # noqa: E402

from agents import objectives as ob  # noqa: E402
from agents.integrations.verl.data import verl_rows  # noqa: E402
from agents.integrations.verl.estimators import (  # noqa: E402
    compute_exprl_delta_advantage,
    compute_exprl_grpo_advantage,
)
from agents.integrations.verl.manager import ExpRLRewardManager  # noqa: E402
from agents.models import resolve_model  # noqa: E402

ENV_ID, ARITH = "ExpRL-Arith-v0", {"size": 20, "n_ops": 2}
RESPONSE_LENGTH = 96
PROCESS = [
    "reward.reward_manager.name=exprl",
    "reward.custom_reward_function.path=pkg://agents.integrations.verl.scoring",
    "reward.reward_model.enable=True",
    "+reward.reward_kwargs.reward=process",
]


@pytest.fixture(scope="module")
def model_path():
    return resolve_model("tiny-random")  # only its tokenizer (SmolLM2's) is used


@pytest.fixture(scope="module")
def tokenizer(model_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_path)


@pytest.fixture(scope="module")
def rows():
    return verl_rows(ENV_ID, **ARITH)[:3]


def verl_config(model_path, *overrides):
    """verl's own trainer config (its ppo_trainer.yaml through Hydra) with these overrides."""
    folder = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    with initialize_config_dir(config_dir=folder, version_base=None):
        return compose(
            config_name="ppo_trainer",
            overrides=[
                f"actor_rollout_ref.model.path={model_path}",
                f"actor_rollout_ref.rollout.response_length={RESPONSE_LENGTH}",
                f"reward.reward_model.model_path={model_path}",
                *overrides,
            ],
        )


def reference(problem_id):
    env = gym.make(ENV_ID, split="all", **ARITH).unwrapped
    env.reset(options={"problem_id": problem_id})
    return env.problem.reference.unseal()


def solution(problem_id, warm_up=None):
    """The reference's steps as a response, after a ``warm_up`` step if given (a weak step the judge rates low)."""
    ref = reference(problem_id)
    steps = [warm_up] * bool(warm_up) + list(ref.steps)
    text = "\n\n".join(f"### Step {k + 1}\n{step}" for k, step in enumerate(steps))
    return f"{text}\n\nSo the answer is \\boxed{{{ref.answer}}}."


def objects(values):
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def make_batch(tokenizer, rows, responses, fields=("data_source", "reward_model", "extra_info")):
    """A verl batch as its rollout leaves it: left-padded prompts, right-padded responses ending in EOS."""
    prompts = [tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=True) for row in rows]
    prompts = [list(p["input_ids"]) if isinstance(p, dict) or hasattr(p, "keys") else list(p) for p in prompts]
    eos = [tokenizer.eos_token_id]
    answers = [(tokenizer(text, add_special_tokens=False)["input_ids"] + eos)[:RESPONSE_LENGTH] for text in responses]
    width, pad = max(map(len, prompts)), tokenizer.pad_token_id or 0
    prompt_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    prompt_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    response_ids = torch.tensor([a + [pad] * (RESPONSE_LENGTH - len(a)) for a in answers])
    response_mask = torch.tensor([[1] * len(a) + [0] * (RESPONSE_LENGTH - len(a)) for a in answers])
    non_tensors = {field: objects([row[field] for row in rows]) for field in fields}
    non_tensors["raw_prompt"] = objects([row["prompt"] for row in rows])
    non_tensors["uid"] = objects([row["extra_info"]["problem_id"] for row in rows])
    return DataProto.from_dict(
        tensors={
            "prompts": prompt_ids,
            "responses": response_ids,
            "input_ids": torch.cat([prompt_ids, response_ids], dim=1),
            "attention_mask": torch.cat([prompt_mask, response_mask], dim=1),
            "response_mask": response_mask,
        },
        non_tensors=non_tensors,
    )


def reward_loop(config, batch):
    """What verl's reward loop does with a batch: its worker scores each row, the manager class assembles rm_scores
    (RewardLoopManager.compute_rm_score, minus Ray)."""
    worker = RewardLoopWorker(config)
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(batch))
    scores = [output["reward_score"] for output in outputs]
    return worker.reward_manager, worker.reward_manager.assemble_rm_scores(batch, scores), outputs


def advantages(config, batch, rm_scores, estimator):
    batch.batch["token_level_rewards"] = rm_scores
    algorithm = omega_conf_to_dataclass(config.algorithm)
    return compute_advantage(batch, adv_estimator=estimator, config=algorithm).batch["advantages"]


def step_start_token(tokenizer, ids, char_offset):
    """The first token whose text starts at or after ``char_offset`` (brute force, independent of the adapter)."""
    return next(k for k in range(len(ids)) if len(tokenizer.decode(ids[:k], skip_special_tokens=True)) >= char_offset)


def test_import_verl_registers_exprl_through_the_plugin_entry_point():
    assert "agents.integrations.verl.plugin" in sys.modules  # loaded by `import verl`, before this module's imports
    assert get_adv_estimator_fn("exprl_delta") is compute_exprl_delta_advantage
    assert get_adv_estimator_fn("exprl_grpo") is compute_exprl_grpo_advantage
    assert get_reward_manager_cls("exprl") is ExpRLRewardManager


@pytest.mark.parametrize(
    "source",
    [
        [],
        [
            "reward.reward_manager.source=importlib",
            "reward.reward_manager.name=ExpRLRewardManager",
            "reward.reward_manager.module.path=pkg://agents.integrations.verl.manager",
        ],
    ],
)
def test_verl_loads_the_manager_from_its_config(model_path, tokenizer, source):
    manager = load_reward_manager(verl_config(model_path, *PROCESS, *source), tokenizer)
    assert isinstance(manager, ExpRLRewardManager) and isinstance(manager, RewardManagerBase)


def test_process_rewards_reach_the_tokens_and_exprl_delta(model_path, tokenizer, rows):
    ids = [row["reward_model"]["ground_truth"] for row in rows]
    warm_up = solution(ids[1], warm_up="Let me think about it.")
    responses = [solution(ids[0]), warm_up, f"\\boxed{{{reference(ids[2]).answer}}}"]
    config = verl_config(model_path, *PROCESS)
    batch = make_batch(tokenizer, rows, responses)
    manager, rm_scores, outputs = reward_loop(config, batch)
    assert isinstance(manager, ExpRLRewardManager)
    lengths = batch.batch["response_mask"].sum(dim=1).tolist()
    env = gym.make(ENV_ID, split="all", **ARITH).unwrapped
    for row in range(2):
        env.reset(options={"problem_id": ids[row]})
        info = env.step(responses[row])[-1]
        expected = ob.step_advantages(info["step_ratings"], "delta").tolist()  # r1 - rK, then r_k - r_(k-1)
        assert math.isclose(sum(expected), 0.0, abs_tol=1e-6)
        response_ids = batch.batch["responses"][row, : lengths[row]].tolist()
        starts = [0] + [step_start_token(tokenizer, response_ids, start) for start, _ in info["step_spans"][1:]]
        ends = starts[1:] + [lengths[row]]
        for value, start, end in zip(expected, starts, ends):
            assert torch.allclose(rm_scores[row, start:end], torch.tensor(value))
        assert not rm_scores[row, lengths[row] :].any()
    assert expected[:2] == [-0.75, 0.75]  # the warm-up step is rated 0.25, the next 1.0: credit moves to the latter
    assert torch.isnan(rm_scores[2, : lengths[2]]).all()  # a bare answer: the reference judge cannot judge it
    assert [o["reward_extra_info"]["exprl_scorable"] for o in outputs] == [1.0, 1.0, 0.0]

    adv = advantages(config, batch, rm_scores, "exprl_delta")
    assert torch.isfinite(adv).all()
    assert torch.equal(adv[:2], rm_scores[:2] * batch.batch["response_mask"][:2])
    assert not adv[2].any()  # masked: no policy gradient from the unscorable row, never a reward of 0


def test_v1_colocated_rows_are_found_by_their_prompt(model_path, tokenizer, rows):
    """verl's v1 trainer passes the colocated reward path only prompts, responses and raw_prompt."""
    responses = [solution(row["reward_model"]["ground_truth"]) for row in rows]
    full = reward_loop(verl_config(model_path, *PROCESS), make_batch(tokenizer, rows, responses))[1]
    env_options = [f"+reward.reward_kwargs.env_id={ENV_ID}", "+reward.reward_kwargs.env_kwargs={size:20,n_ops:2}"]
    config = verl_config(model_path, *PROCESS, *env_options)
    bare = reward_loop(config, make_batch(tokenizer, rows, responses, fields=()))[1]
    assert torch.equal(full, bare)


def test_truncated_responses_earn_zero_as_the_authors_rule(model_path, tokenizer, rows):
    pid = rows[0]["reward_model"]["ground_truth"]
    long = solution(pid, warm_up="Let me think about it.") + " Let me check it once more." * 40  # past the token cap
    batch = make_batch(tokenizer, rows[:1], [long])
    assert int(batch.batch["response_mask"].sum()) == RESPONSE_LENGTH
    rm_scores = reward_loop(verl_config(model_path, *PROCESS), batch)[1]
    assert not rm_scores.any()
    judged = reward_loop(verl_config(model_path, *PROCESS, "+reward.reward_kwargs.truncated_reward=judge"), batch)[1]
    assert torch.isfinite(judged).all() and judged.any()


def test_outcome_scores_through_verls_naive_manager_and_exprl_grpo(model_path, tokenizer, rows):
    pid = [row["reward_model"]["ground_truth"] for row in rows]
    group = [rows[0]] * 4 + [rows[1]] * 2
    responses = [solution(pid[0]), "### Step 1\n1 + 1 = 3\n\n\\boxed{3}", "UNSCORABLE", solution(pid[0])]
    responses += [solution(pid[1]), "UNSCORABLE, again"]
    config = verl_config(
        model_path,
        "reward.custom_reward_function.path=pkg://agents.integrations.verl.scoring",
        "+reward.custom_reward_function.reward_kwargs.judge=scripted",
    )
    batch = make_batch(tokenizer, group, responses)
    manager, rm_scores, outputs = reward_loop(config, batch)
    assert type(manager).__name__ == "NaiveRewardManager"  # verl's own, calling exprl's compute_score
    scores = rm_scores.sum(dim=1)
    assert [math.isnan(s) for s in scores.tolist()] == [False, False, True, False, False, True]

    adv = advantages(config, batch, rm_scores, "exprl_grpo")
    expected = torch.nan_to_num(ob.group_advantages(scores, torch.tensor([0, 0, 0, 0, 1, 1]), eps=1e-6))
    assert torch.allclose(adv, expected[:, None] * batch.batch["response_mask"])
    assert not adv[2].any() and not adv[5].any() and not adv[4].any()  # masked rows; a group of one scorable: 0
    assert torch.isnan(advantages(config, batch, rm_scores, "grpo")[:4]).all()  # verl's own grpo spreads the NaN


def test_a_process_reward_is_refused_where_verl_keeps_one_float(model_path, tokenizer):
    on_agent_loop = verl_config(model_path, "reward.reward_manager.name=exprl", "+reward.reward_kwargs.reward=process")
    with pytest.raises(ValueError, match="only on its colocated reward path"):
        load_reward_manager(on_agent_loop, tokenizer)
    without_function = verl_config(model_path, "reward.reward_manager.name=exprl", "reward.reward_model.enable=True")
    with pytest.raises(ValueError, match="custom_reward_function.path is set"):
        load_reward_manager(without_function, tokenizer)
    outcome = verl_config(model_path, "reward.reward_manager.name=exprl", "+reward.reward_kwargs.reward=outcome")
    assert isinstance(load_reward_manager(outcome, tokenizer), ExpRLRewardManager)
    with pytest.raises(ValueError, match=r"reward_kwargs.process_norm must be one of \['delta', 'delta_zero', 'end'\]"):
        load_reward_manager(verl_config(model_path, *PROCESS, "+reward.reward_kwargs.process_norm=group"), tokenizer)


def test_a_row_without_a_problem_id_names_the_row_and_field(model_path, tokenizer, rows):
    broken = [{**rows[0], "reward_model": {"style": "rule"}}]
    batch = make_batch(tokenizer, broken, ["\\boxed{1}"])
    with pytest.raises(ValueError, match=r"verl row 0 \(data_source 'ExpRL-Arith-v0'\): field reward_model.ground"):
        reward_loop(verl_config(model_path, *PROCESS), batch)


def test_exprl_delta_refuses_kl_in_reward(model_path, tokenizer, rows):
    config = verl_config(model_path, "algorithm.use_kl_in_reward=True")
    rewards = torch.zeros(1, 4)
    with pytest.raises(ValueError, match="use_kl_loss"):
        compute_exprl_delta_advantage(rewards, torch.ones(1, 4), config=omega_conf_to_dataclass(config.algorithm))
