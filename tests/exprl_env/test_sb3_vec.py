"""The SB3 VecEnv over token envs: one batched judge call per step, and SB3's own auto-reset conventions."""

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

from stable_baselines3.common.monitor import Monitor  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv, VecCheckNan  # noqa: E402

from exprl_env.sb3 import ExpRLSB3VecEnv  # noqa: E402
from tests.conftest import ScriptedJudge  # noqa: E402
from tests.exprl_env.test_tokens import SOLUTION, token_env  # noqa: E402


def ids_of(env, text, stop=True):
    ids = env.tokenizer(text, add_special_tokens=False)["input_ids"]
    return ids + ([env.tokenizer.eos_token_id] if stop else [])


def test_one_batched_judge_call_per_step_across_the_envs_at_a_boundary(tokenizer):
    judge = ScriptedJudge()
    venv = ExpRLSB3VecEnv(token_env(tokenizer, judge), num_envs=3)
    venv.reset()
    tokens = ids_of(venv.envs[0], SOLUTION)
    for token in tokens:
        venv.step(np.array([token, token, token]))
    assert judge.calls == 3 and judge.batch_sizes == [3, 3, 3]  # two separators and the stop token


def test_auto_reset_follows_sb3_and_matches_dummy_vec_env(tokenizer):
    ours = ExpRLSB3VecEnv(token_env(tokenizer), num_envs=2)
    theirs = DummyVecEnv([lambda: token_env(tokenizer), lambda: token_env(tokenizer)])
    for venv in (ours, theirs):
        venv.seed(3)
    first = ours.reset()
    assert _same(first, theirs.reset()) and ours.reset_infos[0]["problem_id"] == theirs.reset_infos[0]["problem_id"]
    unscorable = ids_of(ours.envs[0], "UNSCORABLE\n\nx", stop=False)
    solution = ids_of(ours.envs[0], SOLUTION)
    truncations = 0
    for step in range(len(solution)):
        actions = np.array([solution[step], unscorable[min(step, len(unscorable) - 1)]])
        results = [ours.step(actions), theirs.step(actions)]
        (obs, rewards, dones, infos), (obs2, rewards2, dones2, infos2) = results
        assert _same(obs, obs2) and (rewards == rewards2).all() and (dones == dones2).all()
        for info, info2 in zip(infos, infos2):
            assert info["TimeLimit.truncated"] == info2["TimeLimit.truncated"]
            assert _same(info.get("terminal_observation"), info2.get("terminal_observation"))
        if dones[1] and infos[1]["verdict_status"] == "unscorable":
            assert infos[1]["TimeLimit.truncated"] and "terminal_observation" in infos[1]
            assert obs["length"][1] == ours.reset_infos[1]["prompt_tokens"]  # already the next episode
            truncations += 1
    assert truncations >= 1 and dones[0] and not infos[0]["TimeLimit.truncated"] and rewards.dtype == np.float32


def test_a_bad_action_changes_no_env(tokenizer):
    venv = ExpRLSB3VecEnv(token_env(tokenizer), num_envs=2)
    before = venv.reset()
    with pytest.raises(ValueError, match="env 1 of 2"):
        venv.step(np.array([5, -1]))
    assert [env.response_ids for env in venv.envs] == [(), ()]
    with pytest.raises(ValueError, match="shape"):
        venv.step(np.array([1, 2, 3]))
    assert (venv.step(np.array([5, 5]))[0]["length"] == before["length"] + 1).all()


def test_seed_and_options_apply_at_the_next_reset_only(tokenizer):
    venv = ExpRLSB3VecEnv(token_env(tokenizer), num_envs=2)
    venv.set_options({"problem_id": "p2"})
    venv.reset()
    assert [info["problem_id"] for info in venv.reset_infos] == ["p2", "p2"]
    venv.seed(0)
    first = venv.reset()
    venv.seed(0)
    assert _same(venv.reset(), first)


def test_sb3_attribute_methods_and_nan_check(tokenizer):
    venv = ExpRLSB3VecEnv(token_env(tokenizer), num_envs=2)
    assert venv.get_attr("max_new_tokens") == [64, 64] and venv.env_is_wrapped(Monitor) == [False, False]
    venv.set_attr("truncated_reward", "judge", indices=1)
    assert venv.get_attr("truncated_reward") == ["zero", "judge"]
    assert venv.env_method("decode", [42], indices=[0]) == [tokenizer.decode([42])]
    checked = VecCheckNan(venv, raise_exception=True)
    checked.reset()
    for token in ids_of(venv.envs[0], "UNSCORABLE\n\nx"):
        checked.step(np.array([token, token]))  # an unscorable verdict reaches SB3 as 0.0, never NaN
    with pytest.raises(TypeError, match="ExpRLTokenEnv"):
        ExpRLSB3VecEnv(object(), 2)


def _same(a, b):
    if isinstance(a, dict) or isinstance(b, dict):
        return (
            isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
        )
    return np.array_equal(a, b) if a is not None and b is not None else a is b
