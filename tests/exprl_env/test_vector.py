import math

import gymnasium as gym
import numpy as np
import pytest

from tests.conftest import ScriptedJudge


def make(num_envs=4, **kwargs):
    judge = ScriptedJudge()
    envs = gym.make_vec("ExpRL-Arith-v0", num_envs=num_envs, size=40, split="all", judge=judge, **kwargs)
    return envs, judge


def test_one_batched_judge_call_per_step():
    envs, judge = make(num_envs=5, reward="outcome")
    observations, infos = envs.reset(seed=0)
    assert len(observations) == 5 and infos["problem_id"].shape == (5,)
    envs.step(["\\boxed{1}"] * 5)
    assert judge.calls == 1 and judge.batch_sizes == [5]


def test_rewards_match_the_single_env():
    envs, _ = make(num_envs=3, reward="process")
    ids = [p.id for p in envs.unwrapped.envs[0].problems[:3]]
    envs.reset(options={"problem_id": ids})
    answers = [envs.unwrapped.envs[i].problem.reference.unseal() for i in range(3)]
    actions = ["\n".join(answers[0].steps), answers[1].steps[0], "nothing"]
    _, rewards, terminated, _, infos = envs.step(actions)
    single = gym.make("ExpRL-Arith-v0", size=40, split="all", judge="scripted", reward="process").unwrapped
    for i, action in enumerate(actions):
        single.reset(options={"problem_id": ids[i]})
        assert math.isclose(single.step(action)[1], rewards[i])
    assert terminated.all() and infos["_step_scores"].all()


def test_next_step_autoreset_ignores_the_action():
    envs, judge = make(num_envs=2, step_mode="step", max_steps=3)
    envs.reset(seed=1)
    envs.step(["\\boxed{0}", "thinking"])  # env 0 ends (answered), env 1 goes on
    calls_before = judge.calls
    observations, rewards, terminated, truncated, infos = envs.step(["IGNORED", "\\boxed{0}"])
    assert "IGNORED" not in observations[0] and rewards[0] == 0.0 and not terminated[0] and not truncated[0]
    assert infos["_index"][0] and not infos["_index"][1]  # env 0 carries its reset info
    assert terminated[1] and judge.batch_sizes[calls_before:] == [1]


def test_reset_mask_and_seed_list():
    envs, _ = make(num_envs=3)
    first, _ = envs.reset(seed=[5, 6, 7])
    again, infos = envs.reset(seed=[5, 6, 99], options={"reset_mask": np.array([False, False, True])})
    assert again[:2] == first[:2] and not infos["_problem_id"][0] and infos["_problem_id"][2]
    with pytest.raises(ValueError, match="reset_mask"):
        envs.reset(options={"reset_mask": [True, True, True]})
    with pytest.raises(ValueError, match="3 strings"):
        envs.step(["only one"])


def test_seeded_vector_resets_are_reproducible():
    a, _ = make(num_envs=4)
    b, _ = make(num_envs=4)
    assert a.reset(seed=11)[0] == b.reset(seed=11)[0]


def test_verdict_fields_that_are_none_for_some_envs_stay_none():
    envs = gym.make_vec("ExpRL-GSM-v0", num_envs=2, size=20, split="all", reward="process")
    envs.reset(seed=0)
    answer = envs.unwrapped.envs[1].problem.reference.unseal().answer
    _, _, _, _, infos = envs.step([f"6 * 2 = 13\n\n\\boxed{{{answer}}}", f"\\boxed{{{answer}}}"])
    assert infos["first_error_step"][0] == 0 and infos["first_error_step"][1] is None
    assert infos["answer_correct"].dtype == object and infos["answer_correct"][1] is True


# --- a failing step changes no sub-environment -----------------------------------------------------------
def _run(envs, steps):
    """Observations, rewards, terminations, truncations and scores of a sequence of vector steps."""
    results = []
    for actions in steps:
        observations, rewards, terminated, truncated, infos = envs.step(actions)
        results.append(
            (
                observations,
                rewards.tolist(),
                terminated.tolist(),
                truncated.tolist(),
                list(infos.get("step_scores", [])),
            )
        )
    return results


STEPS = [["first"] * 8, ["\\boxed{1}", "second", "third", "\\boxed{2}", "x", "y", "z", "w"], ["again"] * 8]


@pytest.mark.parametrize("bad", [123, None, ["a list"], b"bytes"])
def test_a_bad_action_for_one_env_steps_no_env_and_a_retry_matches_a_clean_run(bad):
    clean, _ = make(num_envs=8, reward="process", step_mode="step", max_steps=3)
    clean.reset(seed=4)
    expected = _run(clean, STEPS)

    envs, judge = make(num_envs=8, reward="process", step_mode="step", max_steps=3)
    envs.reset(seed=4)
    results = _run(envs, STEPS[:1])
    calls = judge.calls
    broken = list(STEPS[1])
    broken[3] = bad
    with pytest.raises(TypeError, match=r"env 3 of 8: action must be a str .*; no env was stepped"):
        envs.step(broken)
    assert judge.calls == calls and [len(env.steps) for env in envs.unwrapped.envs] == [1] * 8
    results += _run(envs, STEPS[1:])
    assert results == expected


def test_a_judge_that_raises_steps_no_env_and_does_not_autoreset():
    envs, judge = make(num_envs=3, reward="sparse", step_mode="step", max_steps=3)
    envs.reset(seed=0)
    envs.step(["\\boxed{1}", "a", "b"])  # env 0 ends: its next step is an autoreset
    problem_before = [env.problem for env in envs.unwrapped.envs]

    def down(items):
        raise ConnectionError("judge down")

    judge.score_batch = down
    with pytest.raises(ConnectionError):
        envs.step(["ignored", "c", "\\boxed{2}"])
    assert [env.problem for env in envs.unwrapped.envs] == problem_before
    assert [len(env.steps) for env in envs.unwrapped.envs] == [1, 1, 1] and envs.unwrapped._autoreset.tolist() == [
        True,
        False,
        False,
    ]


def test_a_bad_reset_option_for_one_env_resets_no_env():
    envs, _ = make(num_envs=3)
    first, _ = envs.reset(seed=1)
    with pytest.raises(TypeError, match=r"env 2 of 3: reset option 'index' must be an int"):
        envs.reset(seed=9, options={"index": [0, 1, True]})
    with pytest.raises(KeyError, match=r"env 1 of 3: .*no problem with id 'nope'"):
        envs.reset(options={"problem_id": ["arith-0-2-20-0", "nope", "arith-0-2-20-1"]})
    assert tuple(env.observation for env in envs.unwrapped.envs) == first


def test_a_masked_reset_returns_the_current_observation_of_the_other_envs():
    envs, _ = make(num_envs=2, step_mode="step", max_steps=5)
    envs.reset(seed=0)
    observations, *_ = envs.step(["one", "two"])
    again, _ = envs.reset(options={"reset_mask": np.array([True, False])})
    assert again[1] == observations[1] and again[1].endswith("two")
    assert all(o in envs.unwrapped.single_observation_space for o in again)


# --- pickling ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("judge, reward", [("scripted", "process"), ("reference", "process"), ("answer", "sparse")])
def test_the_vector_env_pickles_and_continues_identically(judge, reward):
    import pickle

    envs = gym.make_vec(
        "ExpRL-Arith-v0", num_envs=3, size=40, split="all", judge=judge, reward=reward, step_mode="step", max_steps=3
    )
    envs.reset(seed=2)
    envs.step(["one", "two", "\\boxed{3}"])
    copy = pickle.loads(pickle.dumps(envs.unwrapped))
    assert copy.judge is not None and all(env.judge is copy.judge for env in copy.envs)  # one judge, shared
    steps = [["\\boxed{1}", "x", "y"], ["a", "b", "c"]]
    assert _run(envs.unwrapped, steps) == _run(copy, steps)
