"""The testbed model: a deterministic build, loading through the alias path into the project's Policy, a tokenizer
that covers every character the domain produces (and refuses others loudly), and a training smoke run."""

import json
import subprocess
import sys

import attrs
import pytest
import torch
from safetensors.torch import load_file

from agents import models
from agents.policy import Policy, SamplingConfig
from agents.privileged import TEACHER_CONTEXT, TEACHER_USER_TURN, reference_response
from agents.testbed import EOS, METADATA_FILE, TestbedConfig, build_testbed, check_characters, make_tokenizer
from exprl_env.domains.arith import load_arith
from exprl_env.prompt import build_prompt

SMALL = TestbedConfig(steps=3, batch_size=4, hidden_size=32, layers=1, heads=2, intermediate_size=64)
"""Seconds to build: enough to test the mechanics, not to learn."""
FORMED = TestbedConfig(steps=150, batch_size=16, hidden_size=64, layers=2, heads=2, intermediate_size=128, lr=1e-2)
"""About half a minute on one core: learns the response format, ending with end-of-sequence."""


def weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_build_is_deterministic_from_the_seed(tmp_path):
    first = build_testbed(tmp_path / "a", SMALL)
    again = build_testbed(tmp_path / "b", SMALL)
    build_testbed(tmp_path / "c", attrs.evolve(SMALL, seed=1))
    a, b, c = weights(tmp_path / "a"), weights(tmp_path / "b"), weights(tmp_path / "c")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert first["losses"] == again["losses"] and first["fingerprint"] == SMALL.fingerprint()
    assert json.loads((tmp_path / "a" / METADATA_FILE).read_text())["config"]["steps"] == SMALL.steps


@pytest.fixture(scope="module")
def formed(tmp_path_factory, monkeypatch_module):
    """A small testbed built through the alias path (cache folder named by the recipe), loaded by Policy."""
    monkeypatch_module.setenv("EXPRL_CACHE", str(tmp_path_factory.mktemp("cache")))
    folder = models.testbed_folder(FORMED)
    assert folder.name == f"testbed-{FORMED.fingerprint()}" and models.testbed_folder(FORMED) == folder  # cached
    return Policy.from_pretrained(str(folder))


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_policy_prompts_through_the_chat_template_and_stops_at_end_of_sequence(formed):
    observation = build_prompt("What is 3 + 4?")
    ids = formed.prompt_ids(observation)
    assert formed.tokenizer.decode(ids) == f"<|user|>{observation}{EOS}<|assistant|>"
    with_system = formed.tokenizer.decode(formed.prompt_ids(observation, system="Be brief."))
    assert with_system.startswith(f"<|system|>Be brief.{EOS}<|user|>")
    torch.manual_seed(0)
    samples = formed.sample([ids] * 4, SamplingConfig(temperature=0.8, max_new_tokens=96))
    assert all(isinstance(s.text, str) and s.text for s in samples)
    greedy = formed.sample([ids], SamplingConfig(temperature=0, max_new_tokens=96))[0]
    assert greedy.finished and greedy.response_ids[-1] == formed.tokenizer.eos_token_id
    assert EOS not in greedy.text and "\\boxed{" in greedy.text  # special tokens are not part of the text


def domain_texts():
    """Every kind of text the domain puts through the tokenizer: prompts, references, teacher turns."""
    for n_ops in range(1, 7):
        for problem in load_arith(size=200, seed=n_ops, n_ops=n_ops, max_operand=99):
            response = reference_response(problem.reference.unseal())
            yield build_prompt(problem.question)
            yield response
            yield TEACHER_CONTEXT.format(reference=response)
            yield TEACHER_USER_TURN.format(problem=build_prompt(problem.question), reference=response)


def test_tokenizer_round_trips_every_character_the_domain_produces():
    tokenizer = make_tokenizer()
    for text in domain_texts():
        check_characters(text)
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert len(ids) == len(text)  # one token per character
        assert tokenizer.decode(ids) == text


def test_a_character_outside_the_vocabulary_is_a_clear_error_not_an_unknown_token():
    tokenizer = make_tokenizer()
    with pytest.raises(Exception, match="UNK"):  # the word-level model has no unknown token to fall back on
        tokenizer.encode("What is 3 × 4?")
    with pytest.raises(ValueError, match="×"):
        check_characters("What is 3 × 4?")
    model_free = Policy.__new__(Policy)  # prompt_ids needs only the tokenizer
    model_free.tokenizer = tokenizer
    with pytest.raises(ValueError, match=r"\['×', 'é'\]"):
        model_free.prompt_ids("What is 3 × 4, café?")


def test_exprl_train_runs_a_step_on_a_testbed_model(tmp_path):
    build_testbed(tmp_path / "model", SMALL)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "agents.cli",
            "train",
            "--model",
            str(tmp_path / "model"),
            "--steps",
            "1",
            "--prompts-per-step",
            "2",
            "--group-size",
            "2",
            "--max-new-tokens",
            "16",
            "--eval-problems",
            "0",
            "--output-dir",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 1 and "finished_fraction" in metrics[0]


# --- slips: the testbed-slips variant's pretraining noise (issue 17) ------------------------------------------


def test_a_slipped_solution_carries_the_wrong_value_on_and_boxes_the_wrong_chains_answer():
    import random

    from agents.testbed import slipped_solution

    question = "What is 5 - 6 + 9 * 1?"  # the reference: 9 * 1 = 9, 5 - 6 = -1, -1 + 9 = 8
    assert slipped_solution(question, random.Random(0), 0.0) is None  # nothing slipped: the caller keeps the reference
    response = reference_response(slipped_solution(question, random.Random(0), 0.999))  # every step slips
    steps = response.split("\n\n")
    equations = [step.replace(" = ", " ").split() for step in steps[:-1]]
    (a, _, b, first), (c, _, d, second), (e, _, f, third) = equations
    assert (a, b, c, d) == ("9", "1", "5", "6")
    assert abs(int(first) - 9) in (1, 2) and abs(int(second) + 1) in (1, 2)
    assert (e, f) == (second, first)  # the third step adds the two slipped results, not the right ones
    assert abs(int(third) - (int(second) + int(first))) in (1, 2)
    assert steps[-1] == f"The final answer is \\boxed{{{third}}}."


def test_the_slip_rate_is_checked_and_names_its_own_cache_folder_while_older_recipes_keep_theirs(monkeypatch):
    from agents.testbed import DEFAULT, VARIANTS

    assert DEFAULT.fingerprint() == "2e51cd02a6"  # the cache name of every testbed built before slips existed
    assert VARIANTS["testbed-slips"].fingerprint() != DEFAULT.fingerprint()
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="slip_rate"):
            TestbedConfig(slip_rate=bad)
    built = []
    monkeypatch.setattr(models, "testbed_folder", lambda config=None: built.append(config) or "folder")
    assert models.resolve_model("testbed-slips") == "folder" and built == [VARIANTS["testbed-slips"]]
    assert models.resolve_model("testbed-runs/model") == "testbed-runs/model"  # a path, not an alias


def test_slipped_pretraining_data_keeps_the_problems_and_slips_about_the_set_rate():
    from agents.testbed import pretraining_examples

    tokenizer = make_tokenizer()
    prompt_ids = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731 - the ids only
    clean = pretraining_examples(attrs.evolve(SMALL, steps=100), prompt_ids, tokenizer)
    slipped = pretraining_examples(attrs.evolve(SMALL, steps=100, slip_rate=0.2), prompt_ids, tokenizer)
    assert [p for p, _ in clean] == [p for p, _ in slipped]  # the same problems in the same order
    changed = sum(a != b for (_, a), (_, b) in zip(clean, slipped)) / len(clean)
    expected = sum(1 - 0.8**n for n in SMALL.chain_lengths) / len(SMALL.chain_lengths)  # a chain slips somewhere
    assert abs(changed - expected) < 0.08, (changed, expected)


# --- teacher share: the testbed-slips-teacher variant, whose self-distillation teacher can read its reference -------


def test_the_teacher_share_is_checked_and_names_its_own_cache_folder_while_older_recipes_keep_theirs():
    from agents.testbed import VARIANTS

    assert VARIANTS["testbed-slips"].fingerprint() == "fb59b8ef48"  # built before the teacher share existed
    teacher = VARIANTS["testbed-slips-teacher"]
    assert teacher.teacher_share > 0 and teacher.fingerprint() != VARIANTS["testbed-slips"].fingerprint()
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="teacher_share"):
            TestbedConfig(teacher_share=bad)


def test_teacher_format_examples_are_the_teachers_prompt_showing_the_solution_they_would_train_on_and_copy_it(
    tmp_path,
):
    from agents.self_distill import SelfDistill
    from agents.testbed import pretraining_examples, prompt_format
    from exprl_env.domains.arith import worked_steps
    from judges.problem import Reference

    build_testbed(tmp_path, SMALL)
    policy = Policy.from_pretrained(str(tmp_path))
    tokenizer, teacher = policy.tokenizer, SelfDistill(policy)
    recipe = attrs.evolve(SMALL, steps=100, slip_rate=0.2)
    plain = pretraining_examples(recipe, policy.prompt_ids, tokenizer)
    mixed = pretraining_examples(attrs.evolve(recipe, teacher_share=0.25), policy.prompt_ids, tokenizer)
    asked, shown_slipped = 0, 0
    for (prompt, target), (new_prompt, new_target) in zip(plain, mixed, strict=True):
        assert new_target == target  # the same solution, slips included, whichever way it is asked
        if new_prompt == prompt:
            continue
        asked += 1
        observation = tokenizer.decode(prompt, skip_special_tokens=True)
        written = tokenizer.decode(target[:-1])
        shown = Reference(tuple(written.split("\n\n")[:-1]), written.rsplit("boxed{", 1)[1].removesuffix("}."))
        assert reference_response(shown) == written and target[-1] == tokenizer.eos_token_id
        assert new_prompt == teacher.teacher_prompt(observation, shown)  # exactly what the agent will ask it
        assert prompt_format(new_prompt) != prompt_format(prompt)
        tokens = observation.split("\n\n")[-1].removeprefix("What is ").removesuffix("?").split()
        _, value = worked_steps([int(t) for t in tokens[::2]], tokens[1::2], lambda result: result)
        shown_slipped += shown.answer != str(value)
    assert abs(asked / len(plain) - 0.25) < 0.06, asked / len(plain)
    assert shown_slipped > 0  # following what is shown, not computing, is what lowers the loss


def test_a_batch_mixing_prompt_formats_is_the_mean_over_its_target_tokens(tmp_path):
    """Each format runs with its own shared prefix; the loss must equal the plain per-token mean, as if unshared."""
    from agents.testbed import batch_loss, pretraining_examples, prompt_format, shared_prefixes, target_nll

    build_testbed(tmp_path, SMALL)
    policy = Policy.from_pretrained(str(tmp_path))
    examples = pretraining_examples(
        attrs.evolve(SMALL, steps=40, teacher_share=0.5), policy.prompt_ids, policy.tokenizer
    )
    batch = examples[:8]
    assert len({prompt_format(prompt) for prompt, _ in batch}) == 2
    shared = shared_prefixes(examples)
    assert all(length > 20 for length in shared.values())  # each format's instruction is shared, not just a header
    with torch.no_grad():
        unshared = [target_nll(policy, [example], 1) for example in batch]  # one row each, nothing shared
        expected = sum(nll for nll, _ in unshared) / sum(tokens for _, tokens in unshared)
        assert float(batch_loss(policy, batch, shared)) == pytest.approx(float(expected), rel=1e-5)
