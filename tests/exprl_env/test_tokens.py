"""The token-level env: one token per action, step-level rewards at the env's step separator, SB3's checks."""

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gymnasium_check_env

from exprl_env.env import ExpRLEnv
from exprl_env.tokens import ExpRLTokenEnv
from judges.problem import Problem, SealedReference
from tests.conftest import ScriptedJudge

STEPS = ("Add 2 and 3.", "That gives 5.")
SOLUTION = "Add 2 and 3.\n\nThat gives 5.\n\n\\boxed{5}"


def problems():
    return [Problem(f"p{i}", "toy", f"What is 2 + 3 (copy {i})?", SealedReference(STEPS, "5")) for i in range(3)]


def token_env(tokenizer, judge=None, *, step_mode="step", reward="process", **kwargs):
    env = ExpRLEnv(problems=problems(), judge=judge or ScriptedJudge(), reward=reward, step_mode=step_mode)
    return ExpRLTokenEnv(env, tokenizer, **{"max_new_tokens": 64, **kwargs})


def write(env, text, stop=True):
    """Step the tokens of ``text`` (then the stop token) until the episode ends; the list of step results."""
    ids = env.tokenizer(text, add_special_tokens=False)["input_ids"] + ([env.tokenizer.eos_token_id] if stop else [])
    results = []
    for token in ids:
        results.append(env.step(env.action_tokens.index(token)))
        if results[-1][2] or results[-1][3]:
            break
    return results


def test_passes_gymnasium_and_sb3_env_checkers(tokenizer):
    sb3_check_env = pytest.importorskip("stable_baselines3.common.env_checker").check_env

    for step_mode in ("step", "completion"):
        env = token_env(tokenizer, step_mode=step_mode)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # SB3 warns about spaces it cannot use: none here
            sb3_check_env(env)
        gymnasium_check_env(env, skip_render_check=True)


def test_step_rewards_are_paid_at_the_step_separator_and_add_up_to_the_process_score(tokenizer):
    judge = ScriptedJudge()
    env = token_env(tokenizer, judge)
    env.reset(seed=0)
    results = write(env, SOLUTION)
    rewards = [r[1] for r in results]
    closed = [i for i, r in enumerate(results) if r[4]["step_closed"]]
    assert len(closed) == 3 and judge.calls == 3  # two separators and the stop token, one judge call each
    assert [rewards[i] for i in closed] == [0.5, 0.5, 0.0] and sum(rewards) == 1.0
    assert not any(rewards[i] for i in range(len(rewards)) if i not in closed)
    final = results[-1]
    assert final[2] and not final[3] and final[4]["step_scores"][-1] == sum(rewards)
    assert env.env.steps == [*STEPS, "\\boxed{5}"]  # the judge saw exactly the decoded tokens
    assert env.decode(env.response_ids[:-1]) == SOLUTION


def test_token_rewards_equal_the_step_mode_env_given_the_same_steps(tokenizer):
    env = token_env(tokenizer)
    env.reset(seed=0, options={"problem_id": "p1"})
    text = "Add 2 and 3.\n\n\n\nnoise\n\nThat gives 5."  # a blank line more: it stays in the next step
    token_rewards = [r[1] for r in write(env, text) if r[4]["step_closed"]]
    plain = ExpRLEnv(problems=problems(), judge=ScriptedJudge(), step_mode="step")
    plain.reset(options={"problem_id": "p1"})
    plain_rewards = [plain.step(step)[1] for step in env.env.steps]
    assert env.env.steps == ["Add 2 and 3.", "\n\nnoise", "That gives 5."]
    assert token_rewards == plain_rewards and sum(token_rewards) == 1.0


def test_unscorable_ends_the_episode_truncated_with_zero_reward_never_nan(tokenizer):
    env = token_env(tokenizer)
    env.reset(seed=0)
    results = write(env, "Add 2 and 3.\n\nUNSCORABLE\n\nmore")
    _, reward, terminated, truncated, info = results[-1]
    assert truncated and not terminated and reward == 0.0
    assert info["verdict_status"] == "unscorable" and info["judged"]
    assert sum(r[1] for r in results) == 0.5  # the first step keeps what it was paid
    assert not any(math.isnan(r[1]) for r in results)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_the_token_cap_earns_zero_by_default_or_as_judged(tokenizer):
    cap = len(tokenizer("Add 2 and 3.\n\nThat", add_special_tokens=False)["input_ids"])
    returns = {}
    for rule in ("zero", "judge"):
        env = token_env(tokenizer, max_new_tokens=cap, truncated_reward=rule)
        env.reset(seed=0)
        results = write(env, SOLUTION, stop=False)
        assert len(results) == cap and results[-1][2] and not results[-1][3]
        returns[rule] = [r[1] for r in results if r[4]["step_closed"]]
    assert returns == {"zero": [0.5, -0.5], "judge": [0.5, 0.0]}


def test_completion_mode_judges_the_whole_response_once_at_the_stop_token(tokenizer):
    judge = ScriptedJudge()
    env = token_env(tokenizer, judge, step_mode="completion")
    env.reset(seed=0)
    results = write(env, SOLUTION)
    assert judge.calls == 1 and [r[1] for r in results].count(1.0) == 1 and results[-1][1] == 1.0
    assert env.env.steps == [SOLUTION]


def test_observation_is_the_padded_prompt_and_response_with_its_length(tokenizer):
    env = token_env(tokenizer, max_new_tokens=8)
    observation, info = env.reset(seed=0)
    assert observation["length"][0] == info["prompt_tokens"] == len(env.prompt_ids)
    observation, *_ = env.step(42)
    length = observation["length"][0]
    assert observation["input_ids"][length - 1] == 42 and not observation["input_ids"][length:].any()
    assert env.observation_space.contains(observation) and env.max_length == env.prompts.longest + 8
    assert tokenizer.decode(observation["input_ids"][: length - 1]) == tokenizer.decode(env.prompt_ids)


def test_a_small_action_vocabulary_maps_actions_to_its_tokens(tokenizer):
    tokens = tokenizer.convert_tokens_to_ids(["1", "2", "3"])
    env = token_env(tokenizer, action_tokens=tokens, stop_tokens=[])
    env.reset(seed=0)
    assert env.action_space.n == 3
    observation, *_, info = env.step(np.int64(2))
    assert observation["input_ids"][observation["length"][0] - 1] == tokens[2] and info["response_tokens"] == 1


@pytest.mark.parametrize(
    "action, error, message",
    [(2.0, TypeError, "int token index"), (True, TypeError, "int token index"), (-1, ValueError, r"\[0, ")],
)
def test_bad_actions_are_named_and_change_nothing(tokenizer, action, error, message):
    env = token_env(tokenizer)
    env.reset(seed=0)
    with pytest.raises(error, match=message):
        env.step(action)
    assert env.response_ids == ()


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"action_tokens": [1, 10**9]}, ValueError, "not below the vocabulary size"),
        ({"action_tokens": [1, 1]}, ValueError, "repeated"),
        ({"action_tokens": "12"}, TypeError, "sequence of token ids"),
        ({"max_new_tokens": 0}, ValueError, "max_new_tokens"),
        ({"truncated_reward": "none"}, ValueError, "truncated_reward"),
        ({"chat_template": "yes"}, ValueError, "chat_template"),
    ],
)
def test_bad_options_are_named(tokenizer, kwargs, error, message):
    with pytest.raises(error, match=message):
        token_env(tokenizer, **kwargs)


def test_bad_env_or_tokenizer_is_named(tokenizer):
    with pytest.raises(TypeError, match="ExpRL env id or an ExpRLEnv"):
        ExpRLTokenEnv(object(), tokenizer)
    with pytest.raises(TypeError, match="configure the env instead"):
        ExpRLTokenEnv(ExpRLEnv(problems=problems()), tokenizer, n_ops=2)
    with pytest.raises(TypeError, match="Hugging Face tokenizer"):
        ExpRLTokenEnv(ExpRLEnv(problems=problems()), object())


def test_importing_exprl_env_imports_neither_sb3_nor_torch():
    code = "import sys, exprl_env, exprl_env.tokens; print(sorted({'torch', 'stable_baselines3'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"
