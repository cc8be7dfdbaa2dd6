import math

import gymnasium as gym
import pytest

from exprl_env.prompt import INSTRUCTION


def arith_env(**kwargs):
    return gym.make("ExpRL-Arith-v0", size=60, split="all", disable_env_checker=True, **kwargs).unwrapped


def reference_steps(env):
    return list(env.problem.reference.unseal().steps), env.problem.reference.unseal().answer


def test_same_seed_same_problem_order():
    def order(seed):
        env = arith_env()
        first = env.reset(seed=seed)[1]["problem_id"]
        return [first] + [env.reset()[1]["problem_id"] for _ in range(9)]

    assert order(7) == order(7)
    assert order(7) != order(8)


def test_reset_observation_is_instruction_plus_question_and_info_has_ids_only():
    env = arith_env()
    observation, info = env.reset(options={"index": 3})
    assert observation == f"{INSTRUCTION}\n\n{env.problems[3].question}"
    assert set(info) == {"problem_id", "domain", "index", "prompt_chars"}
    assert info["prompt_chars"] == len(observation)


def test_default_is_the_exprl_process_reward_with_the_offline_reference_judge():
    env = arith_env()
    assert (env.reward_mode, env.judge.name, env.step_mode) == ("process", "reference", "completion")
    env.reset(options={"index": 0})
    steps, answer = reference_steps(env)
    _, reward, _, _, info = env.step("\n\n".join(steps) + f"\n\n\\boxed{{{answer}}}")
    assert reward == 1.0 and len(info["step_scores"]) == len(steps) + 1 and info["answer_correct"]


def test_completion_mode_sparse_reward():
    env = arith_env(reward="sparse")
    env.reset(options={"index": 0})
    _, answer = reference_steps(env)
    assert env.step(f"so \\boxed{{{answer}}}")[1:4] == (1.0, True, False)
    env.reset(options={"index": 0})
    assert env.step(f"\\boxed{{{int(answer) + 1}}}")[1] == 0.0
    env.reset(options={"index": 0})
    assert env.step(f"\\boxed{{{answer}}} or \\boxed{{{int(answer) + 1}}}")[1] == 0.0


def test_overlong_response_earns_zero_and_truncates():
    env = arith_env(max_chars=50)  # even the reference's own answer, once over the limit
    env.reset(options={"index": 0})
    _, answer = reference_steps(env)
    _, reward, terminated, truncated, info = env.step("x" * 60 + f"\\boxed{{{answer}}}")
    assert (reward, terminated, truncated, info["overlong"]) == (0.0, False, True, True)


def test_the_default_length_guard_leaves_a_response_at_the_authors_token_cap_to_the_judge():
    """16,384 response tokens of math text at 4 characters each (denser than any math text measured, see MAX_CHARS):
    judged like any response, not zeroed unread as over-long (the token cap is the trainer's rule)."""
    env = arith_env(judge="scripted")
    env.reset(options={"index": 0})
    steps, answer = reference_steps(env)
    body = "\n\n".join(steps) + "\n\n"
    response = body * (16_384 * 4 // len(body) + 1) + f"\\boxed{{{answer}}}"
    assert len(response) > 16_384 * 4
    _, reward, terminated, truncated, info = env.step(response)
    assert (info["overlong"], terminated, truncated, info["verdict_status"], reward) == (False, True, False, "ok", 1.0)


def test_process_rewards_add_up_to_the_final_score_in_step_mode():
    env = arith_env(reward="process", judge="scripted", step_mode="step", max_steps=8)
    observation, _ = env.reset(options={"index": 5})
    steps, answer = reference_steps(env)
    rewards, scores = [], []
    for k, step in enumerate(steps + [f"\\boxed{{{answer}}}"]):
        observation, reward, terminated, truncated, info = env.step(step)
        rewards.append(reward)
        scores.append(info["step_scores"][-1])
        assert observation.endswith(step) and info["step_spans"][-1][1] == len(observation) - info["prompt_chars"] - 2
        assert terminated == (k == len(steps)) and not truncated
    assert scores[-1] == 1.0
    assert math.isclose(sum(rewards), scores[-1])
    assert [round(r, 6) for r in rewards] == [round(b - a, 6) for a, b in zip([0.0] + scores, scores)]


def test_process_reward_in_completion_mode_carries_step_scores_and_spans():
    env = arith_env(reward="process", judge="scripted")
    env.reset(options={"index": 2})
    steps, _ = reference_steps(env)
    _, reward, _, _, info = env.step("\n\n".join(steps))
    assert reward == 1.0 and info["step_scores"] == (1.0,) and info["step_spans"] == ((0, len("\n\n".join(steps))),)


def test_step_mode_truncates_at_max_steps_and_takes_back_process_credit():
    env = arith_env(reward="process", judge="scripted", step_mode="step", max_steps=2)
    env.reset(options={"index": 1})
    steps, _ = reference_steps(env)
    _, first, _, _, _ = env.step(steps[0])
    assert first > 0
    _, second, terminated, truncated, _ = env.step("still thinking")
    assert truncated and not terminated and math.isclose(first + second, 0.0)


def test_step_mode_sparse_pays_only_at_the_answer():
    env = arith_env(step_mode="step", reward="sparse")
    env.reset(options={"index": 4})
    steps, answer = reference_steps(env)
    assert env.step(steps[0])[1:4] == (0.0, False, False)
    assert env.step(f"\\boxed{{{answer}}}")[1:4] == (1.0, True, False)


def test_step_mode_truncates_at_max_chars():
    env = arith_env(step_mode="step", max_chars=30, reward="sparse")
    env.reset(options={"index": 0})
    assert env.step("a" * 20)[3] is False
    _, reward, terminated, truncated, info = env.step("b" * 20)
    assert truncated and not terminated and reward == 0.0 and info["overlong"]


def test_unscorable_verdict_pays_nan_never_zero():
    env = arith_env(reward="outcome", judge="scripted")
    env.reset(options={"index": 0})
    _, reward, terminated, _, info = env.step("UNSCORABLE")
    assert math.isnan(reward) and terminated and info["verdict_status"] == "unscorable"


def test_judge_instance_and_module_path_are_accepted():
    from tests.conftest import ScriptedJudge

    judge = ScriptedJudge()
    env = arith_env(judge=judge, reward="outcome")
    env.reset(seed=0)
    env.step("x")
    assert judge.calls == 1
    assert arith_env(judge="tests.conftest:ScriptedJudge", reward="outcome").judge.name == "scripted"


def test_render_ansi_shows_prompt_and_response():
    env = arith_env(render_mode="ansi", step_mode="step")
    env.reset(seed=0)
    env.step("first step")
    assert env.render().endswith("first step")


def test_a_process_judge_that_returns_no_step_scores_is_a_loud_error():
    from judges import Status, Verdict

    class NoSteps:
        name = "no-steps"

        def score_batch(self, items):
            return [Verdict(status=Status.OK, outcome=1.0) for _ in items]

    env = arith_env(reward="process", judge=NoSteps())
    env.reset(seed=0)
    with pytest.raises(RuntimeError, match="without step scores"):
        env.step("x")


# --- every observation is inside observation_space ----------------------------------------------------
def _long_question_problems(length=10_000_000):
    from judges.problem import Problem, SealedReference

    return [
        Problem("long", "long", "What is " + "1 + " * (length // 4) + "1?", SealedReference(["1 + 1 = 2"], "2")),
        Problem("short", "long", "What is 1 + 1?", SealedReference(["1 + 1 = 2"], "2")),
    ]


@pytest.mark.parametrize("step_mode", ["completion", "step"])
def test_every_observation_is_in_the_observation_space_even_for_a_10_mb_question(step_mode):
    env = gym.make(
        "ExpRL-Arith-v0",
        problems=_long_question_problems(),
        judge="scripted",
        reward="process",
        step_mode=step_mode,
        max_steps=3,
        max_chars=50,
        disable_env_checker=True,
    ).unwrapped
    seen = []
    for index in (0, 1):
        for actions in (["a" * 20, "b" * 20, "c"], ["x" * 10_000], ["\\boxed{2}"]):  # ends by steps, length, answer
            seen.append(env.reset(options={"index": index})[0])
            for action in actions:
                observation, _, terminated, truncated, _ = env.step(action)
                seen.append(observation)
                if terminated or truncated:
                    break
    assert max(map(len, seen)) > 10_000_000
    assert all(observation in env.observation_space for observation in seen)


def test_the_observation_space_is_sized_by_the_longest_prompt_and_the_step_budget():
    completion = arith_env()
    step = arith_env(step_mode="step", max_chars=100)
    longest = max(len(f"{INSTRUCTION}\n\n{p.question}") for p in completion.problems)
    assert completion.observation_space.max_length == longest
    assert step.observation_space.max_length == longest + 2 + 100


@pytest.mark.parametrize("step_mode", ["completion", "step"])
def test_check_env_passes_with_a_question_longer_than_any_fixed_limit(step_mode):
    from gymnasium.utils.env_checker import check_env

    env = gym.make(
        "ExpRL-Arith-v0",
        problems=_long_question_problems(2_000_000)[:1],
        judge="scripted",
        reward="process",
        step_mode=step_mode,
        max_chars=64,
    ).unwrapped
    check_env(env, skip_render_check=True)


def test_an_over_long_step_ends_the_episode_with_the_response_cut_at_max_chars():
    env = arith_env(step_mode="step", max_chars=30, reward="sparse")
    prompt, _ = env.reset(options={"index": 0})
    observation, reward, _, truncated, info = env.step("y" * 1000)
    assert truncated and info["overlong"] and reward == 0.0 and observation == prompt + "\n\n" + "y" * 30


# --- a failing step changes nothing -------------------------------------------------------------------
def test_a_step_whose_judge_raises_leaves_the_episode_as_it_was():
    from tests.conftest import ScriptedJudge

    class Flaky(ScriptedJudge):
        fail = True

        def score_batch(self, items):
            if self.fail:
                raise ConnectionError("judge down")
            return super().score_batch(items)

    judge = Flaky()
    env = arith_env(judge=judge, reward="process", step_mode="step", max_steps=4)
    env.reset(options={"index": 1})
    judge.fail = False
    env.step("first")
    judge.fail = True
    with pytest.raises(ConnectionError):
        env.step("second")
    assert env.steps == ["first"] and env.observation.endswith("first")
    judge.fail = False
    observation, _, _, _, info = env.step("second")
    assert env.steps == ["first", "second"] and info["step_index"] == 1


def test_a_judge_that_answers_the_wrong_number_of_items_is_an_error_not_a_zero():
    class Short:
        name = "short"

        def score_batch(self, items):
            return []

    env = arith_env(judge=Short(), reward="outcome")
    env.reset(seed=0)
    with pytest.raises(RuntimeError, match=r"judge 'short' returned 0 verdict\(s\) for 1 item\(s\)"):
        env.step("x")


# --- pickling ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("judge", ["scripted", "reference", "answer"])
def test_an_env_pickles_mid_episode_and_continues_identically(judge):
    import pickle

    reward = "sparse" if judge == "answer" else "process"
    env = arith_env(judge=judge, reward=reward, step_mode="step", max_steps=4)
    env.reset(seed=3)
    env.step("first step")
    copy = pickle.loads(pickle.dumps(env))
    steps, answer = reference_steps(env)
    for action in [steps[0], f"\\boxed{{{answer}}}"]:
        ours, theirs = env.step(action), copy.step(action)
        assert ours[0] == theirs[0] and ours[1:4] == theirs[1:4] and ours[4] == theirs[4]
    assert env.reset()[0] == copy.reset()[0]  # the random generator travelled too
