"""The paper preset: the authors' values pinned one by one, every one cited, how flags override it, and
``exprl train --preset paper`` scaled down to the tiny model."""

from __future__ import annotations

import json

import attrs
import pytest

from agents import presets
from agents.presets import PAPER, Override, PresetError, apply, resolve, role_for, steps_for_epochs, values
from agents.registry import agent_classes
from agents.trainer import TrainConfig

# (role, field): value, as read from the authors' scripts and configs (see the source of each in agents/presets.py)
AUTHORS = {
    ("outcome", "group_size"): 10,
    ("outcome", "prompts_per_step"): 36,
    ("outcome", "mini_batches"): 2,
    ("outcome", "clip_low"): 0.2,
    ("outcome", "clip_high"): 0.28,
    ("outcome", "scale_by_std"): True,
    ("outcome", "truncated_reward"): "zero",
    ("process", "group_size"): 16,
    ("process", "prompts_per_step"): 36,
    ("process", "mini_batches"): 1,
    ("process", "clip_low"): 0.2,
    ("process", "clip_high"): 0.26,
    ("process", "process_norm"): "delta",
    ("process", "truncated_reward"): "zero",
    ("sparse", "group_size"): 16,
    ("sparse", "prompts_per_step"): 32,
    ("sparse", "mini_batches"): 2,
    ("sparse", "clip_low"): 0.2,
    ("sparse", "clip_high"): 0.26,
    ("sparse", "truncated_reward"): "judge",
    ("self_distill", "lr"): 1e-7,
    ("self_distill", "group_size"): 16,
    ("self_distill", "prompts_per_step"): 32,
    ("self_distill", "teacher_model"): "initial",
    ("self_distill", "teacher_prompt"): "user",
    ("self_distill", "reward_clip"): 0.0,
    ("self_distill", "loss_aggregation"): "seq_mean_token_mean",
    ("sft", "lr"): 1e-6,
    ("sft", "prompts_per_step"): 32,
    ("sft", "steps"): 600,
    ("sft", "weight_decay"): 0.01,
    ("stage2", "group_size"): 32,
    ("stage2", "prompts_per_step"): 16,
    ("stage2", "steps"): 720,
    ("stage2", "lr"): 1e-6,
    ("stage2", "scale_by_std"): False,
    ("stage2", "clip_low"): 4.0,
    ("stage2", "clip_high"): 4.0,
    ("stage2", "kl_coef"): 0.0,
    ("stage2", "entropy_coef"): 1e-4,
    ("stage2", "loss_aggregation"): "seq_sum_per_batch",
    ("stage2", "max_grad_norm"): 0.3,
    ("stage2", "weight_decay"): 0.01,
    ("stage2", "truncated_reward"): "judge",
    ("stage2", "max_new_tokens"): 16384,
}
STAGE1_RL = ("outcome", "process", "sparse")
EVERY_STAGE1_RL = {  # the same in the three GRPO scripts
    "lr": 1e-6,
    "kl_coef": 0.001,
    "weight_decay": 0.01,
    "temperature": 0.8,
    "loss_aggregation": "token_mean",
    "max_new_tokens": 16384,
    "entropy_coef": 0.0,
    "max_grad_norm": 1.0,
    "epochs": 5,
}
JUDGE = {
    "model": "Qwen/Qwen3-4B-Instruct-2507",
    "temperature": 0.0,
    "max_tokens": 2048,
    "protocol": "paper",
    "split": "paper",
}


def value(role, field):
    found = [v for v in PAPER if v.role == role and v.field == field and v.section != "judge"]
    assert len(found) == 1, (role, field, found)
    return found[0].value


@pytest.mark.parametrize("role, field", sorted(AUTHORS))
def test_the_authors_values(role, field):
    assert value(role, field) == AUTHORS[(role, field)]


@pytest.mark.parametrize("role", STAGE1_RL)
def test_what_every_stage_one_grpo_script_shares(role):
    assert {field: value(role, field) for field in EVERY_STAGE1_RL} == EVERY_STAGE1_RL


@pytest.mark.parametrize("role", ("outcome", "process"))
def test_the_judged_arms_take_the_authors_judge(role):
    assert {f: v.value for f, v in values(role, "judge").items()} == JUDGE
    assert set(presets.judge_values(role, "reference")) == {"split"}  # the offline judge has only the step split
    assert presets.judge_values(role, "answer") == {}


def test_every_value_is_cited_and_sets_a_field_that_exists():
    from agents.trainer import TrainConfig

    run_fields = {f.name for f in attrs.fields(TrainConfig)} | {"epochs"}
    for row in PAPER:
        assert row.source.split(":")[0].startswith(("qwen4b/", "verl/", "conf/", "pipelinerl/", "as the RL arms")), row
        agent, _ = presets.ROLE_AGENT[row.role]
        fields = {
            "run": run_fields,
            "agent": {f.name for f in attrs.fields(agent_classes(agent)[1])},
            "judge": set(JUDGE),
        }[row.section]
        assert row.field in fields, row
    assert len({(r.role, r.section, r.field) for r in PAPER}) == len(PAPER)  # no field set twice
    assert "| stage2 | agent | `clip_low` | `4` | conf/finetune/base.yaml: rl.epsilon: 4" in presets.markdown()


def test_the_role_follows_from_agent_and_reward():
    assert role_for("paper", "grpo", "outcome") == "outcome" and role_for("paper", "grpo", "process") == "process"
    assert role_for("paper", "grpo", "sparse") == "sparse" and role_for("paper", "sft", "process") == "sft"
    assert role_for("paper", "self_distill", "outcome") == "self_distill"
    assert role_for("paper-stage2", "grpo", "sparse") == "stage2"
    with pytest.raises(PresetError, match="no values for the ppo agent"):
        role_for("paper", "ppo", "outcome")
    with pytest.raises(PresetError, match="unknown preset 'papr'"):
        role_for("papr", "grpo", "outcome")
    with pytest.raises(PresetError, match="GRPO on the sparse reward, not grpo on process"):
        role_for("paper-stage2", "grpo", "process")


def test_steps_follow_verls_epochs_of_full_batches():
    assert steps_for_epochs(5, 100, 36) == 10  # 100 // 36 = 2 full batches per epoch
    assert steps_for_epochs(5, 10, 36) == 1  # never zero


def test_given_fields_stay_and_are_reported_when_they_differ():
    preset = values("process", "agent")
    result, overrides = apply({"lr": 3e-5, "clip_high": 0.26, "kl_coef": 0.0}, preset, given={"lr", "clip_high"})
    assert result["lr"] == 3e-5 and result["clip_high"] == 0.26 and result["kl_coef"] == 0.001
    assert overrides == [Override("lr", 1e-6, 3e-5)]  # clip_high was given but is the authors' value


def test_resolve_turns_epochs_into_steps_unless_steps_are_given():
    run = {"steps": 20, "prompts_per_step": 2, "group_size": 4}
    counted = []

    def problems():
        counted.append(1)
        return 100

    resolved, _, judge, overrides = resolve(
        "outcome", run, {}, "llm", {"model": "mine"}, {"prompts_per_step", "judge.model"}, problems
    )
    assert resolved["steps"] == 5 * 50 and resolved["group_size"] == 10 and counted == [1]
    assert judge == {**JUDGE, "model": "mine"} and Override("judge.model", JUDGE["model"], "mine") in overrides
    resolved, _, _, overrides = resolve("outcome", run, {}, "reference", {}, {"steps"}, problems)
    assert resolved["steps"] == 20 and counted == [1] and Override("steps", "5 epochs", 20) in overrides


def test_the_overrides_table_names_field_paper_value_and_yours():
    text = presets.overrides_table([Override("group_size", 16, 2), Override("lr", 1e-6, 3e-5)])
    assert text.splitlines() == [
        "preset paper: fields you changed",
        "  field       paper value  yours",
        "  group_size  16           2",
        "  lr          1e-06        3e-05",
    ]
    assert presets.overrides_table([]) == "preset paper: every setting is the authors'"


# --- exprl train --preset paper, scaled down ---------------------------------------------------------------------


def test_train_with_the_paper_preset_scaled_down(tmp_path, capsys):
    from agents.cli import main

    folder = tmp_path / "run"
    flags = [
        "--model",
        "tiny-random",
        "--env-options",
        '{"size": 50}',
        "--reward",
        "outcome",
        "--steps",
        "1",
        "--prompts-per-step",
        "1",
        "--group-size",
        "2",
        "--max-new-tokens",
        "8",
        "--output-dir",
        str(folder),
    ]
    assert main(["train", "--preset", "paper", *flags]) == 0
    err = capsys.readouterr().err
    table = err[err.index("preset paper: fields you changed") :].splitlines()[:6]
    assert table[2].split() == ["group_size", "10", "2"] and table[3].split() == ["prompts_per_step", "36", "1"]
    assert table[4].split() == ["max_new_tokens", "16384", "8"] and table[5].split() == ["steps", "5", "epochs", "1"]
    settings = json.loads((folder / "train_config.json").read_text())
    assert settings["config"]["truncated_reward"] == "zero" and settings["config"]["temperature"] == 0.8
    assert settings["config"]["env_options"] == {"size": 50, "judge_kwargs": {"split": "paper"}}
    agent = settings["agent_config"]
    assert (agent["lr"], agent["clip_low"], agent["clip_high"], agent["kl_coef"], agent["mini_batches"]) == (
        1e-6,
        0.2,
        0.28,
        0.001,
        2,
    )
    assert (agent["weight_decay"], agent["entropy_coef"], agent["loss_aggregation"]) == (0.01, 0.0, "token_mean")
    record = json.loads((folder / "preset.json").read_text())
    assert record["preset"] == "paper" and record["role"] == "outcome"
    assert {"field": "group_size", "paper": 10, "yours": 2} in record["overrides"]

    assert main(["train", *flags, "--fresh"]) == 0  # without the preset: no stale record of one
    assert not (folder / "preset.json").exists()


def test_train_refuses_a_preset_for_an_agent_the_authors_did_not_run(tmp_path, capsys):
    from agents.cli import main

    assert main(["train", "--preset", "paper", "--agent", "ppo", "--output-dir", str(tmp_path)]) == 2
    assert "no values for the ppo agent" in capsys.readouterr().err


def test_train_config_has_every_run_field_the_preset_sets():
    for row in PAPER:
        if row.section == "run" and row.field != "epochs":
            TrainConfig(**{row.field: row.value})  # a field, with a valid value
