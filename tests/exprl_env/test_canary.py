"""A canary planted in every reference never reaches anything the policy side can see."""

import logging
import pickle

import attrs
import gymnasium as gym
import pytest

import exprl_env
from exprl_env.domains import load_problems
from judges.problem import SealedReference
from tests.conftest import CANARY


def _canary_gsm():
    problems = []
    for problem in load_problems("gsm", size=24, seed=5):
        reference = problem.reference.unseal()
        sealed = SealedReference([f"{step} {CANARY}" for step in reference.steps], reference.answer)
        problems.append(attrs.evolve(problem, domain="canary-gsm", reference=sealed))
    return problems


def _canary_answers():
    return [{"question": f"Name the secret number {i}.", "solution": [f"It is {CANARY}."], "answer": f"{CANARY} {i}"}
            for i in range(6)]


exprl_env.register_domain("canary-gsm", _canary_gsm)
exprl_env.register_domain("canary-answers", _canary_answers)

CONFIGS = [
    ("canary-gsm", {"reward": "sparse"}),
    ("canary-gsm", {"reward": "sparse", "step_mode": "step", "max_steps": 4}),
    ("canary-gsm", {"reward": "outcome", "judge": "scripted"}),
    ("canary-gsm", {"reward": "process", "judge": "scripted", "step_mode": "step", "max_steps": 4}),
    ("canary-answers", {"reward": "sparse"}),  # prose reference: unscorable, whose reason must not leak
    ("canary-answers", {"reward": "outcome", "judge": "scripted"}),
    ("canary-gsm", {}),  # the default: process reward, offline reference judge
    ("canary-gsm", {"step_mode": "step", "max_steps": 4}),
    ("canary-answers", {"reward": "outcome", "judge": "reference"}),
]
ACTIONS = ["Let me think.", "First compute the total.", "UNSCORABLE", "So the answer is \\boxed{12}."]


def _seen(env, observation, info) -> list[str]:
    return [observation, repr(info), str(info)]


@pytest.mark.parametrize("domain, kwargs", CONFIGS)
def test_canary_never_reaches_the_policy_side(domain, kwargs, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    env = gym.make(f"ExpRL-{domain}-v0", split="all", render_mode="ansi", **kwargs)
    seen: list[str] = []
    for episode in range(6):
        observation, info = env.reset(seed=episode)
        seen += _seen(env, observation, info)
        for action in ACTIONS:
            observation, reward, terminated, truncated, info = env.step(action)
            seen += _seen(env, observation, info) + [repr(reward), env.render()]
            if terminated or truncated:
                break
    base = env.unwrapped
    seen += [repr(env), str(env), repr(base), repr(base.problem), repr(base.problems[:3])]
    seen += [pickle.dumps(base).decode("latin-1")]
    seen += [caplog.text, *capsys.readouterr()]
    leaks = [text for text in seen if CANARY in text]
    assert not leaks, leaks[0][:300]
    assert pickle.loads(pickle.dumps(base)).problems[0].reference.unseal() == base.problems[0].reference.unseal()


def test_canary_never_reaches_vector_env_outputs():
    envs = gym.make_vec("ExpRL-canary-gsm-v0", num_envs=4, split="all", reward="process", judge="scripted")
    seen = [repr(envs.reset(seed=0))]
    for action in ACTIONS:
        seen.append(repr(envs.step([action] * 4)))
    seen.append(repr(envs))
    assert not [text for text in seen if CANARY in text]


def test_the_canary_really_is_in_the_references():
    problem = _canary_gsm()[0]
    assert CANARY in problem.reference.unseal().text
    assert CANARY not in repr(problem) and CANARY not in pickle.dumps(problem).decode("latin-1")
