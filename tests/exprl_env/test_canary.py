"""A canary planted in every reference never reaches anything the policy side can see, error messages and
pickles included."""

import asyncio
import json
import logging
import pickle
import traceback

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
    return [
        {"question": f"Name the secret number {i}.", "solution": [f"It is {CANARY}."], "answer": f"{CANARY} {i}"}
        for i in range(6)
    ]


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


# --- error messages ---------------------------------------------------------------------------------------
BAD_ROWS = [
    {"question": "Q?", "solution": "s", "answer": [CANARY]},  # a non-string answer
    {"question": "Q?", "solution": "s", "answer": {"value": CANARY}},
    {"question": "Q?", "solution": "s", "answer": 31415926535897932384},  # its digits are the answer
    {"question": "Q?", "solution": {"steps": CANARY}, "answer": "1"},  # a solution of the wrong type
    {"question": "Q?", "solution": [CANARY, 1], "answer": "1"},
    {"question": "Q?", "solution": "s", "answer": "1", "id": [CANARY]},
]


@pytest.mark.parametrize("row", BAD_ROWS, ids=range(len(BAD_ROWS)))
def test_dataset_errors_about_a_row_never_quote_its_reference(tmp_path, row):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(exprl_env.DatasetError) as caught:
        gym.make("ExpRL-Math-v0", dataset=str(path))
    assert "row 0: field" in str(caught.value)
    assert CANARY[:12] not in str(caught.value) and "314159" not in str(caught.value)


FILES = [
    ("truncated.jsonl", f'{{"question": "Q?", "solution": "s", "answer": "{CANARY}\n'.encode()),
    ("latin.jsonl", f'{{"question": "Q?", "solution": "s", "answer": "{CANARY} caf\xe9"}}\n'.encode("latin-1")),
    ("latin.csv", f"question,solution,answer\nQ?,s,{CANARY} caf\xe9\n".encode("latin-1")),
    ("wide.csv", f"question,solution,answer\nQ?,s,{CANARY}{'x' * 200_000}\n".encode()),
    ("broken.json", f'[{{"question": "Q?", "answer": "{CANARY}" "solution": "s"}}]'.encode()),
]


@pytest.mark.parametrize("name, content", FILES, ids=[name for name, _ in FILES])
def test_dataset_errors_about_a_file_never_quote_its_content(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(exprl_env.DatasetError) as caught:
        load_problems(str(tmp_path / name))
    assert name in str(caught.value) and CANARY[:12] not in str(caught.value)


def test_a_hub_loading_error_that_quotes_the_data_is_reported_without_it(monkeypatch):
    import datasets

    def arrow_like_failure(*args, **kwargs):
        raise ValueError(f"Could not convert '{CANARY} 42' with type str: tried to convert to int64")

    monkeypatch.setattr(datasets, "load_dataset", arrow_like_failure)
    with pytest.raises(exprl_env.DatasetError, match="Could not convert <...> with type str") as caught:
        load_problems("someone/some-dataset-exprl-canary")
    printed = "".join(traceback.format_exception(caught.value))  # the original error is not chained into it
    assert CANARY not in str(caught.value) and CANARY not in printed


# --- pickles ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"reward": "sparse"}, {"judge": "scripted", "step_mode": "step"}])
def test_a_pickled_vector_env_holds_no_readable_reference(kwargs):
    envs = gym.make_vec("ExpRL-canary-gsm-v0", num_envs=3, split="all", **kwargs)
    envs.reset(seed=0)
    envs.step(["First compute the total."] * 3)
    data = pickle.dumps(envs.unwrapped)
    assert CANARY not in data.decode("latin-1")
    copy = pickle.loads(data)
    assert copy.problems[0].reference.unseal() == envs.unwrapped.problems[0].reference.unseal()


# --- the token-level view (SB3) ---------------------------------------------------------------------------
TOKEN_TEXTS = ["Let me think.\n\nFirst compute the total.\n\nSo the answer is \\boxed{12}.", "UNSCORABLE\n\nmore"]


def _token_texts(env, observation, info) -> list[str]:
    length = int(observation["length"][0])
    return [env.decode(observation["input_ids"][:length]), repr(info), str(info)]


@pytest.mark.parametrize("step_mode", ["step", "completion"])
def test_canary_never_reaches_the_token_env_outputs(tokenizer, step_mode):
    from exprl_env.tokens import ExpRLTokenEnv

    base = gym.make("ExpRL-canary-gsm-v0", split="all", judge="scripted", step_mode=step_mode, render_mode="ansi")
    env = ExpRLTokenEnv(base, tokenizer, max_new_tokens=48)
    seen: list[str] = []
    for episode, text in enumerate(TOKEN_TEXTS * 2):
        observation, info = env.reset(seed=episode)
        seen += _token_texts(env, observation, info)
        for token in tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]:
            observation, reward, terminated, truncated, info = env.step(token)
            seen += _token_texts(env, observation, info) + [repr(reward), env.render()]
            if terminated or truncated:
                break
    seen += [repr(env), str(env), pickle.dumps(env).decode("latin-1")]
    assert any("'unscorable'" in text for text in seen)  # the scripted judge's reason quotes the reference
    assert not [text for text in seen if CANARY in text]


def test_canary_never_reaches_the_sb3_vec_env_outputs(tokenizer):
    pytest.importorskip("stable_baselines3")
    from exprl_env.sb3 import ExpRLSB3VecEnv
    from exprl_env.tokens import ExpRLTokenEnv

    base = gym.make("ExpRL-canary-gsm-v0", split="all", judge="scripted", step_mode="step")
    venv = ExpRLSB3VecEnv(ExpRLTokenEnv(base, tokenizer, max_new_tokens=48), num_envs=2)
    seen = [repr(venv.reset()), repr(venv.reset_infos)]
    tokens = [tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for text in TOKEN_TEXTS]
    decode = venv.envs[0].decode
    for step in range(max(map(len, tokens))):
        actions = [ids[min(step, len(ids) - 1)] for ids in tokens]
        observations, _, _, infos = venv.step(actions)
        finals = [info["terminal_observation"] for info in infos if "terminal_observation" in info]
        for batch in [observations, *({k: v[None] for k, v in final.items()} for final in finals)]:
            seen += [decode(ids[:length]) for ids, length in zip(batch["input_ids"], batch["length"][:, 0])]
        seen += [repr(infos), repr(venv.reset_infos)]
    seen += [repr(venv)]
    assert any("'unscorable'" in text for text in seen)  # the scripted judge's reason quotes the reference
    assert not [text for text in seen if CANARY in text]


# --- the TRL adapter ----------------------------------------------------------------------------------------------
def test_the_trl_dataset_rewards_metrics_and_errors_hold_no_reference(caplog):
    pytest.importorskip("trl")
    from agents.integrations.trl import make_reward, to_hf_dataset

    caplog.set_level(logging.DEBUG)
    dataset = to_hf_dataset("ExpRL-canary-gsm-v0", split="all")
    reward = make_reward("ExpRL-canary-gsm-v0", "process", "scripted", split="all", truncated_reward="judge")
    rows, logged = dataset.select(range(len(ACTIONS))), []
    paid = asyncio.run(
        reward(
            rows["prompt"],
            ACTIONS,  # one is unscorable: the scripted judge's reason for it quotes the reference
            [[1]] * len(ACTIONS),
            problem_id=rows["problem_id"],
            log_metric=lambda *metric: logged.append(metric),
            log_extra=lambda *column: logged.append(column),
        )
    )
    with pytest.raises(ValueError) as mismatch:
        asyncio.run(reward(rows["prompt"][:1], ["a"], [[1]], problem_id=rows["problem_id"][1:2]))
    seen = [repr(dataset), json.dumps(dataset.to_list()), repr(paid), repr(logged), repr(reward.exprl.last)]
    seen += [str(mismatch.value), caplog.text]
    assert None in paid and not [text for text in seen if CANARY in text]


def test_a_trl_training_run_logs_and_writes_no_reference(tmp_path, caplog, capsys):
    pytest.importorskip("trl")
    from agents.integrations.trl import ExpRLGRPOTrainer
    from tests.agents.integrations.test_trl import trl_run

    caplog.set_level(logging.DEBUG)
    trainer, _, _ = trl_run(tmp_path, ExpRLGRPOTrainer, "process", "reference", "ExpRL-canary-answers-v0", {})
    seen = [repr(trainer.state.log_history), repr(dict(trainer._logs)), repr(trainer.seen), caplog.text]
    seen += [*capsys.readouterr(), *(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())]
    assert trainer.state.log_history[0]["exprl/unscorable"] > 0  # prose references: the judge cannot judge
    assert not [text for text in seen if CANARY in text]
