"""Stable-Baselines3 on the token env: the LM policy starts as the LM, PPO moves the episode reward on an easy
arithmetic setting, and SB3's Monitor, callbacks, evaluate_policy and save/load work on it."""

import numpy as np
import pytest
import torch

pytest.importorskip("stable_baselines3")

from stable_baselines3 import A2C, PPO  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback  # noqa: E402
from stable_baselines3.common.evaluation import evaluate_policy  # noqa: E402
from stable_baselines3.common.monitor import Monitor  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor  # noqa: E402

from agents.integrations.sb3 import (  # noqa: E402
    CausalLMPolicy,
    lm_policy_kwargs,
    load_causal_lm,
    make_token_env,
    make_vec_env,
)
from agents.models import resolve_model  # noqa: E402

# The easiest arithmetic: "What is a + b?" with a, b in {1, 2} (answers 2, 3, 4), answered by the last number
# of the response (the `answer` judge, sparse reward), written with 5 tokens: the digits 1-4 and the stop token.
# A uniform policy is right only by writing the one right digit and then stopping: 1/25.
EASY = {
    "n_ops": 1,
    "max_operand": 2,
    "operators": "+",
    "size": 40,
    "split": "all",
    "reward": "sparse",
    "judge": "answer",
    "judge_kwargs": {"answer_format": "boxed_or_last_number"},
    "step_mode": "completion",
    "max_new_tokens": 3,
}


@pytest.fixture(scope="module")
def digits():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("tiny-random"))
    return [*tokenizer.convert_tokens_to_ids(["1", "2", "3", "4"]), tokenizer.eos_token_id]


def easy_venv(digits, num_envs=4):
    return VecMonitor(make_vec_env("ExpRL-Arith-v0", num_envs=num_envs, action_tokens=digits, **EASY))


def test_the_policy_starts_as_the_language_model(digits):
    venv = easy_venv(digits, num_envs=2)
    agent = PPO(CausalLMPolicy, venv, policy_kwargs=lm_policy_kwargs(venv), seed=0)
    observation = venv.reset()
    tensor = agent.policy.obs_to_tensor(observation)[0]
    probs = agent.policy.get_distribution(tensor).distribution.probs
    lm = load_causal_lm("tiny-random")
    with torch.no_grad():
        rows = [obs[: length[0]] for obs, length in zip(observation["input_ids"], observation["length"])]
        logits = torch.stack([lm(torch.tensor(row)[None]).logits[0, -1, digits] for row in rows])
    torch.testing.assert_close(probs, logits.softmax(-1), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    "policy_kwargs, error, message",
    [
        ({"ortho_init": True}, ValueError, "re-initialise"),
        ({"net_arch": {"pi": [64], "vf": []}}, ValueError, "pi=\\[\\]"),
        ({"action_tokens": [1, 2]}, ValueError, "action_tokens"),
        ({"action_tokens": None}, ValueError, "action_tokens=env.action_tokens"),
        ({"features_extractor_class": None}, TypeError, "sets"),
    ],
)
def test_settings_that_would_undo_the_lm_are_refused(digits, policy_kwargs, error, message):
    venv = easy_venv(digits, num_envs=1)
    with pytest.raises(error, match=message):
        PPO(CausalLMPolicy, venv, policy_kwargs={**lm_policy_kwargs(venv), **policy_kwargs})


class EpisodeReturns(BaseCallback):
    """Collects the returns VecMonitor reports, in order."""

    def __init__(self):
        super().__init__()
        self.returns = []

    def _on_step(self) -> bool:
        self.returns += [info["episode"]["r"] for info in self.locals["infos"] if "episode" in info]
        return True


def test_ppo_moves_the_episode_reward_on_easy_arithmetic(digits):
    """Measured (2026-11, 2 loaded CPU cores, ~30 s a run): seeds 0-4, 2,048 steps, mean sampled reward over 200
    episodes went from 0.025, 0.025, 0.035, 0.025, 0.010 to 0.405, 0.400, 0.495, 0.390, 0.610. The smallest gain
    was 0.365; the test asks seed 0 for half of that, and the uniform start stays under 0.1 (1/25 expected)."""
    torch.set_num_threads(1)
    venv = easy_venv(digits)
    agent = PPO(CausalLMPolicy, venv, policy_kwargs=lm_policy_kwargs(venv), n_steps=32, batch_size=64,
                n_epochs=4, learning_rate=1e-3, gamma=1.0, seed=0)  # fmt: skip
    before, _ = evaluate_policy(agent, venv, n_eval_episodes=200, deterministic=False)
    returns = EpisodeReturns()
    agent.learn(2048, callback=returns)
    after, _ = evaluate_policy(agent, venv, n_eval_episodes=200, deterministic=False)
    assert before < 0.1 and after > before + 0.18, (before, after)
    assert np.mean(returns.returns[-100:]) > np.mean(returns.returns[:100])  # what VecMonitor saw while training


def monitored(digits):
    env = make_token_env("ExpRL-Arith-v0", action_tokens=digits, **EASY)
    return DummyVecEnv([lambda: Monitor(env, info_keywords=("answer_correct", "verdict_status"))])


def test_a2c_with_monitor_eval_callback_and_save_load(digits, tmp_path):
    venv = monitored(digits)
    agent = A2C(CausalLMPolicy, venv, policy_kwargs=lm_policy_kwargs(venv), n_steps=8, seed=0)
    evaluation = EvalCallback(monitored(digits), eval_freq=16, n_eval_episodes=4, log_path=str(tmp_path), verbose=0)
    agent.learn(32, callback=evaluation)
    assert len(evaluation.evaluations_results) == 2 and (tmp_path / "evaluations.npz").is_file()
    assert agent.ep_info_buffer and all(info["verdict_status"] == "ok" for info in agent.ep_info_buffer)
    agent.save(tmp_path / "a2c")
    loaded = A2C.load(tmp_path / "a2c", env=venv)
    observation = agent.policy.obs_to_tensor(venv.reset())[0]
    probs = [model.policy.get_distribution(observation).distribution.probs for model in (agent, loaded)]
    torch.testing.assert_close(*probs)
