"""exprl compare: the aggregation on hand-computed numbers, one tiny end-to-end compare, and its resume.
(The statistics themselves, with the NaN rule, are tested in tests/judges/test_reporting.py.)"""

import json
import math
import shutil

import attrs
import pytest
import torch

from agents.compare import (
    ARMS,
    STAGE2,
    CompareConfig,
    Job,
    arm_settings,
    differences,
    eval_rows,
    job_chains,
    parse_arms,
    plan_jobs,
    preset_overrides,
    run_summary,
    stage_table,
    train_job,
)
from agents.trainer import is_operational
from judges.reference_judge import ReferenceJudge
from judges.reporting import Summary

# --- pure functions, hand-computed -----------------------------------------------------------------------


def test_unknown_arm_is_named_with_the_valid_ones():
    assert parse_arms(" sft, exprl_process ") == ("sft", "exprl_process")
    with pytest.raises(
        ValueError,
        match=r"unknown arm 'dqn'; arms: \['sparse_grpo', 'exprl_outcome', 'exprl_process', 'exprl_process_end', "
        r"'exprl_process_group', 'exprl_process_zero', 'ppo_process', 'reinforce_process', 'sft', 'self_distill'\]",
    ):
        CompareConfig(arms="sft,dqn")
    with pytest.raises(ValueError, match="given twice"):
        parse_arms("sft,sft")


def test_arms_use_the_documented_agent_reward_and_judge():
    assert {name: (a.agent, a.reward, a.judge) for name, a in ARMS.items()} == {
        "sparse_grpo": ("grpo", "sparse", "answer"),
        "exprl_outcome": ("grpo", "outcome", "reference"),
        "exprl_process": ("grpo", "process", "reference"),
        "exprl_process_end": ("grpo", "process", "reference"),
        "exprl_process_group": ("grpo", "process", "reference"),
        "exprl_process_zero": ("grpo", "process", "reference"),
        "ppo_process": ("ppo", "process", "reference"),
        "reinforce_process": ("reinforce", "process", "reference"),
        "sft": ("sft", "process", "reference"),
        "self_distill": ("self_distill", "process", "reference"),
    }
    norms = {name: dict(arm.overrides).get("process_norm") for name, arm in ARMS.items() if arm.reward == "process"}
    assert norms == {
        "exprl_process": "delta",
        "exprl_process_end": "end",
        "exprl_process_group": "group",
        "exprl_process_zero": "delta_zero",
        "ppo_process": None,
        "reinforce_process": None,
        "sft": None,
        "self_distill": None,
    }
    judged = ["exprl_outcome", "exprl_process", "exprl_process_end", "exprl_process_group", "exprl_process_zero"]
    assert [name for name, arm in ARMS.items() if arm.judged] == [*judged, "ppo_process", "reinforce_process"]
    assert CompareConfig().arm_names == ("sparse_grpo", "exprl_outcome", "exprl_process", "sft", "self_distill")


# --- stage 2: the authors' PipelineRL PPO, not std-scaled sparse GRPO ---------------------------------------------

# stage2_pipeline_rl/conf/finetune/base.yaml and conf/exp_stage2_grpo.yaml, each cited in agents/presets.py
STAGE2_AUTHORS = {
    "scale_by_std": False,  # rl.divide_advantage_by_std: false
    "clip_low": 4.0,  # rl.epsilon: 4 (policy_loss: ppo)
    "clip_high": 4.0,
    "entropy_coef": 1e-4,  # rl.entropy_bonus: 0.0001
    "loss_aggregation": "seq_sum_per_batch",  # token weights 1 / batch_size, summed
    "max_grad_norm": 0.3,  # gradient_clipping_threshold: 0.3
    "kl_coef": 0.0,  # rl.kl_coef: 0.0
    "weight_decay": 0.01,  # weight_decay: 0.01
    "mini_batches": 1,  # one optimizer step per 512 samples
}


def test_stage_two_is_the_authors_recipe_scaled_by_the_flags():
    assert (STAGE2.agent, STAGE2.reward, STAGE2.judge) == ("grpo", "sparse", "answer")
    config = CompareConfig(steps=3, stage2_steps=7, prompts_per_step=2, group_size=4, lr=3e-5)
    settings = arm_settings(config, "exprl_process", stage=2)
    assert settings.agent == {"lr": 3e-5, **STAGE2_AUTHORS}
    assert settings.run == {
        "agent": "grpo",
        "reward": "sparse",
        "judge": "answer",
        "steps": 7,
        "prompts_per_step": 2,
        "group_size": 4,
        "max_new_tokens": 96,
        "temperature": 0.8,
        "truncated_reward": "judge",
    }
    scaled = arm_settings(attrs.evolve(config, stage2_group_size=32, stage2_prompts_per_step=16), "sft", stage=2)
    assert (scaled.run["group_size"], scaled.run["prompts_per_step"]) == (32, 16)
    assert arm_settings(config, "exprl_process", stage=1).agent == {"lr": 3e-5, "process_norm": "delta"}


def test_stage_two_advantages_are_the_reward_minus_the_group_mean_without_std(tiny_policy):
    """Rewards 1 0 0 1 | 1 1 1 0 | 0 0 0 0 (groups of 4): means .5, .75, 0, so advantages .5 -.5 -.5 .5 | .25 .25 .25
    -.75 | 0 0 0 0. Dividing by the groups' std (.5, .433) would give +-1 and +-.577/-1.732."""
    from agents.batch import Batch
    from agents.policy import Sample
    from agents.registry import make_agent

    samples = tuple(Sample((1, 2), (5, 6, 7), "x", True) for _ in range(12))
    rewards = torch.tensor([1.0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    batch = Batch(samples, rewards, torch.arange(12) // 4, "sparse", (None,) * 12, (None,) * 12, ("p",) * 12)
    agent = make_agent("grpo", tiny_policy, **arm_settings(CompareConfig(), "sft", stage=2).agent)
    expected = torch.tensor([0.5, -0.5, -0.5, 0.5, 0.25, 0.25, 0.25, -0.75, 0, 0, 0, 0])[:, None].expand(12, 3)
    torch.testing.assert_close(agent.token_advantages(batch), expected)


@pytest.fixture(scope="module")
def tiny_policy():
    from agents.policy import Policy

    return Policy.from_pretrained("tiny-random")


# --- the paper preset and the llm judge ---------------------------------------------------------------------------


def test_the_paper_preset_sets_each_arm_and_explicit_flags_override_it_for_every_arm():
    config = CompareConfig(
        preset="paper", given={"group_size", "max_new_tokens", "steps"}, group_size=2, max_new_tokens=8, steps=1
    )
    outcome, process = arm_settings(config, "exprl_outcome", 1), arm_settings(config, "exprl_process", 1)
    distill, sft = arm_settings(config, "self_distill", 1), arm_settings(config, "sft", 1)
    assert (outcome.run["prompts_per_step"], outcome.agent["clip_high"], outcome.agent["mini_batches"]) == (36, 0.28, 2)
    assert (process.run["prompts_per_step"], process.agent["clip_high"], process.agent["mini_batches"]) == (36, 0.26, 1)
    assert outcome.agent["kl_coef"] == process.agent["kl_coef"] == 0.001 and outcome.agent["lr"] == 1e-6
    assert outcome.run["env_options"]["judge_kwargs"] == {"split": "paper"}  # the offline judge, the authors' steps
    assert distill.agent["lr"] == 1e-7 and distill.agent["teacher_model"] == "initial" and sft.agent["lr"] == 1e-6
    for settings in (outcome, process, distill, sft):
        assert settings.run["group_size"] == 2 and settings.run["max_new_tokens"] == 8 and settings.run["steps"] == 1
    stage2 = arm_settings(config, "sft", 2)  # --group-size is stage 1's; stage 2 has its own flags
    assert (stage2.run["group_size"], stage2.run["steps"], stage2.run["max_new_tokens"]) == (32, 720, 8)
    changed = {o.field: (o.paper, o.yours) for o in preset_overrides(config)}
    assert changed["group_size"] == ("16 (sparse_grpo, exprl_process, self_distill); 10 (exprl_outcome); 1 (sft)", 2)
    assert changed["steps"] == ("5 epochs (sparse_grpo, exprl_outcome, exprl_process, self_distill); 600 (sft)", 1)
    assert changed["stage 2 max_new_tokens"] == ("16384 (stage2)", 8)
    assert config.eval_sampling == (8, 0.8)
    assert config.command() == "exprl compare --preset paper --steps 1 --group-size 2 --max-new-tokens 8"


def test_an_arm_the_authors_never_ran_is_refused_under_their_preset():
    with pytest.raises(ValueError, match=r"arm\(s\) \['ppo_process'\] have no recipe in --preset paper"):
        CompareConfig(preset="paper", arms="exprl_process,ppo_process")
    settings = arm_settings(CompareConfig(arms="ppo_process,reinforce_process", lr=3e-5), "ppo_process", 1)
    assert (settings.run["agent"], settings.run["reward"], settings.run["judge"], settings.agent) == (
        "ppo",
        "process",
        "reference",
        {"lr": 3e-5},
    )


def test_the_preset_derives_the_authors_epochs_from_the_training_problems():
    config = CompareConfig(preset="paper", given=set())
    assert arm_settings(config, "exprl_outcome", 1, train_problems=lambda: 100).run["steps"] == 5 * (100 // 36)
    assert arm_settings(config, "sft", 1, train_problems=lambda: 100).run["steps"] == 600


def test_the_exprl_arms_take_the_llm_judge_with_its_server_model_and_protocol():
    config = CompareConfig(judge="llm", judge_url="http://judge:8000/v1", judge_model="m", judge_protocol="batched")
    process = arm_settings(config, "exprl_process", 1).run
    assert process["judge"] == "llm" and process["env_options"] == {
        "n_ops": 1,
        "max_operand": 9,
        "judge_kwargs": {"base_url": "http://judge:8000/v1", "model": "m", "protocol": "batched"},
    }
    assert arm_settings(config, "sparse_grpo", 1).run["judge"] == "answer"  # only the ExpRL arms are judged
    assert (
        arm_settings(config, "sft", 1).run["judge"] == "reference"
        and "env_options" not in arm_settings(config, "sft", 1).run
    )
    paper = CompareConfig(preset="paper", judge="llm", judge_url="http://judge:8000/v1", given={"judge", "judge_url"})
    assert arm_settings(paper, "exprl_outcome", 1, lambda: 100).run["env_options"]["judge_kwargs"] == {
        "base_url": "http://judge:8000/v1",
        "model": "Qwen/Qwen3-4B-Instruct-2507",
        "protocol": "paper",
        "temperature": 0.0,
        "max_tokens": 2048,
        "split": "paper",
    }
    with pytest.raises(ValueError, match="--judge llm needs --judge-model"):
        CompareConfig(judge="llm")
    with pytest.raises(ValueError, match="are the llm judge's"):
        CompareConfig(judge_url="http://judge:8000/v1")


def test_differences_name_nested_keys():
    old = {"start": "m", "train": {"steps": 1, "lr": 2}}
    assert differences(old, {"start": "m", "train": {"steps": 2, "lr": 2}}) == ["train.steps: 1 -> 2"]
    assert differences(old, old) == []


def test_plan_runs_base_then_stage_one_then_two_seed_major():
    jobs = plan_jobs(("sft", "exprl_process"), seeds=2, stage2=True)
    assert len(jobs) == 2 + 2 * (2 * 2 * 2)  # base evals + per stage: seeds x arms x (train, eval)
    assert jobs[:4] == [
        Job("eval", 0, "base", 0),
        Job("eval", 0, "base", 1),
        Job("train", 1, "sft", 0),
        Job("eval", 1, "sft", 0),
    ]
    assert jobs[4:6] == [Job("train", 1, "exprl_process", 0), Job("eval", 1, "exprl_process", 0)]
    assert jobs[10] == Job("train", 2, "sft", 0) and jobs[-1] == Job("eval", 2, "exprl_process", 1)
    assert len(plan_jobs(("sft",), seeds=3, stage2=False)) == 3 + 3 * 2
    assert Job("train", 2, "sft", 1).folder == "stage2/sft/seed-1"


def test_chains_keep_each_arm_and_seed_in_order_and_nothing_else_together():
    jobs = plan_jobs(("sft", "exprl_process"), seeds=2, stage2=True)
    chains = job_chains(jobs)
    assert len(chains) == 2 + 2 * 2  # each base evaluation, each (arm, seed)
    assert chains[0] == [Job("eval", 0, "base", 0)]
    assert chains[2] == [
        Job("train", 1, "sft", 0),
        Job("eval", 1, "sft", 0),
        Job("train", 2, "sft", 0),
        Job("eval", 2, "sft", 0),
    ]
    assert sorted(job.label for chain in chains for job in chain) == sorted(job.label for job in jobs)


def test_run_summary_counts_sampled_tokens_and_skips_unscorable_steps():
    step = {"answer_accuracy": 0.0, "seconds_step": 2.0, "unscorable": 0, "skipped_steps_total": 0}
    records = [
        {**step, "reward_mean": 0.1, "response_tokens": 10.0, "unscorable": 1},
        {**step, "reward_mean": math.nan, "response_tokens": 6.5, "unscorable": 8, "answer_accuracy": 0.5},
    ]
    summary = run_summary(records, rows=2 * 4)
    assert summary["sampled_tokens"] == (10 + 6.5) * 8 and summary["unscorable"] == 9 and summary["steps"] == 2
    assert summary["reward_first_fifth"] == 0.1 and summary["reward_last_fifth"] is None  # missing, not NaN or 0
    assert summary["accuracy_last_fifth"] == 0.5 and summary["seconds"] == 4.0


def _eval(stage, arm, seed, p1, p2, judged):
    return {
        "kind": "eval",
        "stage": stage,
        "arm": arm,
        "seed": seed,
        "result": {"pass@1": p1, "pass@2": p2, "judged_process_reward": judged, "problems": 3},
    }


def _train(stage, arm, seed, tokens, seconds):
    return {
        "kind": "train",
        "stage": stage,
        "arm": arm,
        "seed": seed,
        "result": {"sampled_tokens": tokens, "seconds": seconds},
    }


def test_eval_rows_and_table_aggregate_over_seeds():
    records = [
        _eval(0, "base", 0, 0.25, 0.5, 0.2),
        _eval(0, "base", 1, 0.75, 1.0, 0.4),
        _train(1, "sft", 0, 100, 60.0),
        _eval(1, "sft", 0, 0.5, 0.5, 0.5),
        _train(1, "sft", 1, 120, 180.0),
        _eval(1, "sft", 1, 0.5, 0.5, 0.5),
        _train(2, "sft", 0, 90, 60.0),
        _eval(2, "sft", 0, 1.0, 1.0, 0.9),
    ]
    rows = eval_rows(records)
    assert list(rows) == [(0, "base"), (1, "sft"), (2, "sft")]
    assert rows[(0, "base")]["pass@1"] == Summary(2, 0, 0.5, math.sqrt(0.125), 0.25, 0.75)  # (0.0625 * 2) / 1
    assert rows[(1, "sft")]["sampled_tokens"].mean == 110 and rows[(1, "sft")]["minutes"].mean == 2.0
    assert "problems" not in rows[(0, "base")]
    table = stage_table(rows, (0, 1), [1, 2]).splitlines()
    assert table[0] == (
        "| stage | arm | seeds | pass@1 | pass@2 | judged process reward | sampled tokens/run | train min/run |"
    )
    assert table[2] == (
        "| 0 | base | 2 | 0.500 ± 0.354 [0.250, 0.750] | 0.750 ± 0.354 [0.500, 1.000] "
        "| 0.300 ± 0.141 [0.200, 0.400] | – | – |"
    )
    # tokens: std of 100, 120 = sqrt(200) = 14.1; minutes 1 and 3: std sqrt(2) = 1.4
    assert table[3] == (
        "| 1 | sft | 2 | 0.500 ± 0.000 [0.500, 0.500] | 0.500 ± 0.000 [0.500, 0.500] "
        "| 0.500 ± 0.000 [0.500, 0.500] | 110 ± 14 [100, 120] | 2.0 ± 1.4 [1.0, 3.0] |"
    )
    assert len(table) == 4  # stage 2 belongs to the other table
    assert stage_table(rows, (0, 2), [1, 2]).splitlines()[3].startswith("| 2 | sft | 1 | 1.000 | 1.000 | 0.900 | 90 |")


def test_a_seed_without_a_value_is_left_out_and_counted_not_taken_as_zero():
    records = [
        _eval(1, "sft", 0, 0.5, 1.0, 0.25),
        _eval(1, "sft", 1, 0.25, None, math.nan),
        _eval(1, "sft", 2, 0.75, 0.5, 0.75),
    ]
    rows = eval_rows(records)
    assert rows[(1, "sft")]["pass@2"] == Summary(2, 1, 0.75, math.sqrt(0.125), 0.5, 1.0)  # not (1 + 0 + 0.5) / 3
    assert rows[(1, "sft")]["judged_process_reward"].mean == 0.5
    assert stage_table(rows, (1,), [1, 2]).splitlines()[2] == (
        "| 1 | sft | 3 | 0.500 ± 0.250 [0.250, 0.750] | 0.750 ± 0.354 [0.500, 1.000] (1 missing) "
        "| 0.500 ± 0.354 [0.250, 0.750] (1 missing) | – | – |"
    )


# --- end to end with the tiny random model ---------------------------------------------------------------

TINY = [
    "--model",
    "tiny-random",
    "--env-options",
    '{"size": 60}',
    "--arms",
    "exprl_process,sft",
    "--seeds",
    "1",
    "--steps",
    "1",
    "--stage2-steps",
    "1",
    "--prompts-per-step",
    "1",
    "--group-size",
    "2",
    "--max-new-tokens",
    "8",
    "--eval-limit",
    "2",
    "--eval-samples",
    "2",
    "--eval-batch",
    "3",
    "--lr",
    "3e-5",
]


def _state(folder):
    """Content and modification time of every run's metrics and every marker file."""
    files = sorted(folder.glob("stage*/*/seed-*/*.json*"))
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in files}


def test_compare_end_to_end_then_resumes_without_work(tmp_path, capsys):
    from agents.cli import main

    out = tmp_path / "compare"
    assert main(["compare", *TINY, "--output-dir", str(out)]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert (report["trained"], report["evaluated"], report["skipped_train"]) == (4, 5, 0)
    assert "compare: 100%" in captured.err and "train:" in captured.err  # its bar over jobs, the trainer's own

    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["kind"], r["stage"], r["arm"], r["seed"]) for r in records] == [
        ("eval", 0, "base", 0),
        ("train", 1, "exprl_process", 0),
        ("eval", 1, "exprl_process", 0),
        ("train", 1, "sft", 0),
        ("eval", 1, "sft", 0),
        ("train", 2, "exprl_process", 0),
        ("eval", 2, "exprl_process", 0),
        ("train", 2, "sft", 0),
        ("eval", 2, "sft", 0),
    ]
    trains = [r for r in records if r["kind"] == "train"]
    assert [
        (r["config"]["train"]["agent"], r["config"]["train"]["reward"], r["config"]["train"]["judge"]) for r in trains
    ] == [
        ("grpo", "process", "reference"),
        ("sft", "process", "reference"),
        ("grpo", "sparse", "answer"),
        ("grpo", "sparse", "answer"),
    ]
    budget = {
        (
            r["config"]["train"]["steps"],
            r["config"]["train"]["prompts_per_step"],
            r["config"]["train"]["group_size"],
            r["config"]["train"]["max_new_tokens"],
        )
        for r in trains
    }
    assert budget == {(1, 1, 2, 8)}  # one budget for every arm and both stages
    assert {r["config"]["agent"]["lr"] for r in trains} == {3e-5}  # and one learning rate, not each agent's own
    assert trains[2]["config"]["start"] == "stage1/exprl_process/seed-0/model"
    assert trains[3]["config"]["train"]["seed"] == 10_000
    for record in records:
        if record["kind"] == "eval":
            assert record["config"]["split"] == "test" and record["result"]["problems"] == 2
            assert record["config"]["batch"] == 3  # 4 responses in batches of 3: the last one padded, then cut
            assert 0.0 <= record["result"]["pass@1"] <= record["result"]["pass@2"] <= 1.0
            assert "pass@4" not in record["result"]  # only k <= samples
    for folder in ("stage1/sft/seed-0", "stage2/exprl_process/seed-0"):
        assert (out / folder / "model" / "model.safetensors").is_file()
        assert not (out / folder / "checkpoints").exists()  # only the final model is kept by default
        assert len((out / folder / "metrics.jsonl").read_text().splitlines()) == 1

    table = (out / "results.md").read_text()
    assert table.splitlines()[3].startswith("exprl compare --model tiny-random --env ExpRL-Arith-v0")
    assert "--output-dir " + str(out) in table and "## Stage 2" in table and "learning rate 3e-05;" in table
    assert "| 0 | base | 1 |" in table and "| 1 | exprl_process | 1 |" in table and "| 2 | sft | 1 |" in table
    assert "## Differences between arms, paired by seed" in table and "### Stage 2: pass@1" in table
    assert "| exprl_process | base | 1 |" in table  # one seed: a difference, no interval and no test
    assert "| exprl_process | stage 1 | 1 |" in table  # what stage 2 added to the run it continued
    assert "model/" in (out / ".gitignore").read_text()  # exported models stay out of a committed results folder
    for plot in ("learning_curves.png", "pass_at_k.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    before = _state(out)
    assert main(["compare", *TINY, "--output-dir", str(out)]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert (report["trained"], report["evaluated"], report["skipped_train"], report["skipped_eval"]) == (0, 0, 4, 5)
    assert _state(out) == before  # nothing retrained or re-evaluated, not even rewritten

    changed = [*TINY[: TINY.index("--steps")], "--steps", "2", *TINY[TINY.index("--steps") + 2 :]]
    assert main(["compare", *changed, "--output-dir", str(out)]) == 2
    assert "train.steps: 1 -> 2" in capsys.readouterr().err

    # The judge's version is part of a run's identity: runs scored by a changed judge are another experiment. A run
    # recorded before versions were (it has none) is checked on the rest.
    versions = [r["config"].get("judge_version") for r in trains]
    assert versions == [ReferenceJudge.version, ReferenceJudge.version, None, None]  # the answer judge declares none
    assert {r["config"]["judge_version"] for r in records if r["kind"] == "eval"} == {ReferenceJudge.version}
    assert f"| reference ({ReferenceJudge.version}) |" in table
    run_json = out / "stage1/exprl_process/seed-0/run.json"
    started = json.loads(run_json.read_text())
    run_json.write_text(json.dumps({**started, "judge_version": "reference-0"}))
    assert main(["compare", *TINY, "--output-dir", str(out)]) == 2
    assert f"judge_version: 'reference-0' -> '{ReferenceJudge.version}'" in capsys.readouterr().err
    run_json.write_text(json.dumps({k: v for k, v in started.items() if k != "judge_version"}))
    assert main(["compare", *TINY, "--output-dir", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["skipped_train"] == 4


def test_two_workers_run_the_same_jobs_with_the_same_results(tmp_path, capsys):
    """The pool changes where jobs run, not what they give: every run seeds itself, and each worker process runs
    torch on one thread here as the one-process run does (set by the test), so the numbers are equal."""
    from agents.cli import main

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["compare", *TINY, "--output-dir", str(tmp_path / "one")]) == 0
    finally:
        torch.set_num_threads(threads)
    capsys.readouterr()
    assert main(["compare", *TINY, "--workers", "2", "--output-dir", str(tmp_path / "two")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["trained"], report["evaluated"]) == (4, 5)

    def results(folder):
        records = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
        return [
            (r["kind"], r["stage"], r["arm"], {k: v for k, v in r["result"].items() if k != "seconds"}) for r in records
        ]

    assert results(tmp_path / "two") == results(tmp_path / "one")


def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path):
    config = CompareConfig(
        model="tiny-random",
        env_options='{"size": 60}',
        arms="exprl_process",
        seeds=1,
        steps=2,
        prompts_per_step=1,
        group_size=2,
        max_new_tokens=8,
        save_every=1,
        keep_checkpoints=True,
    )
    job, folder = Job("train", 1, "exprl_process", 0), tmp_path / "stage1/exprl_process/seed-0"
    assert train_job(config, job, tmp_path)
    straight = (folder / "metrics.jsonl").read_text().splitlines()
    for unfinished in ("train.json", "model", "checkpoints/step-000002"):  # as if stopped after step 1
        path = folder / unfinished
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert train_job(config, job, tmp_path)
    resumed = (folder / "metrics.jsonl").read_text().splitlines()
    assert resumed[0] == straight[0]  # step 1 was not trained again

    def comparable(line):
        return {k: v for k, v in json.loads(line).items() if not is_operational(k)}

    assert comparable(resumed[1]) == comparable(straight[1])  # and step 2 repeats the uninterrupted one
    assert (folder / "train.json").is_file() and (folder / "model").is_dir()
    assert not train_job(config, job, tmp_path)  # now finished: skipped


PAPER_SMOKE = [
    "--preset",
    "paper",
    "--model",
    "tiny-random",
    "--env-options",
    '{"size": 60}',
    "--arms",
    "exprl_outcome,exprl_process,self_distill",
    "--seeds",
    "1",
    "--steps",
    "1",
    "--stage2-steps",
    "1",
    "--prompts-per-step",
    "1",
    "--stage2-prompts-per-step",
    "1",
    "--group-size",
    "2",
    "--stage2-group-size",
    "2",
    "--max-new-tokens",
    "8",
    "--eval-limit",
    "2",
    "--eval-samples",
    "2",
    "--eval-batch",
    "4",
]


def test_compare_with_the_paper_preset_scaled_down_runs_the_arms_with_the_authors_settings(tmp_path, capsys):
    """The three arms whose update the preset shapes most (two updates per batch, DeltaNorm on step ratings, the
    frozen teacher); the others' settings are pinned above without training."""
    from agents.cli import main

    out = tmp_path / "paper"
    assert main(["compare", *PAPER_SMOKE, "--output-dir", str(out)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["trained"] == 6  # three arms, two stages
    changed = captured.err[captured.err.index("preset paper: fields you changed") :].splitlines()
    assert changed[1].split() == ["field", "paper", "value", "yours"]
    assert any(line.split()[:1] == ["max_new_tokens"] and line.split()[-1] == "8" for line in changed)
    runs = {
        (r["stage"], r["arm"]): r["config"]
        for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())
        if r["kind"] == "train"
    }
    outcome, process = runs[(1, "exprl_outcome")], runs[(1, "exprl_process")]
    assert (outcome["agent"]["clip_high"], outcome["agent"]["mini_batches"], outcome["agent"]["kl_coef"]) == (
        0.28,
        2,
        0.001,
    )
    assert (process["agent"]["clip_high"], process["agent"]["process_norm"], process["agent"]["lr"]) == (
        0.26,
        "delta",
        1e-6,
    )
    assert outcome["train"]["env_options"]["judge_kwargs"] == {"split": "paper"}
    distill = runs[(1, "self_distill")]["agent"]
    assert (distill["lr"], distill["teacher_model"], distill["teacher_prompt"], distill["weight_decay"]) == (
        1e-7,
        "initial",
        "user",
        0.01,
    )
    for (stage, _), config in runs.items():
        assert (config["train"]["group_size"], config["train"]["max_new_tokens"], config["train"]["steps"]) == (2, 8, 1)
        assert config["preset"]["name"] == "paper"
        if stage == 2:
            assert {k: config["agent"][k] for k in STAGE2_AUTHORS} == STAGE2_AUTHORS
    results = (out / "results.md").read_text()
    assert "exprl compare --preset paper --model tiny-random" in results and "| max_new_tokens | 16384" in results
    assert "| 2 | exprl_outcome | grpo | 1 | 1 | 2 | 8 | judge | answer | 1e-06 | 4/4 | False |" in results


def test_the_exprl_arms_are_paid_by_an_llm_judge_server(tmp_path, capsys):
    """--judge llm with a server: every judge request reaches it with the given model; the arm's runs record it."""
    from agents.cli import main
    from tests.judges.scripted_server import ScriptedServer

    reply = '{"reasoning": "fine", "score": 4}\nReasoning: fine\nScore: 4'  # either protocol's format reads 4
    with ScriptedServer(lambda body: (200, reply)) as server:
        flags = [*TINY[: TINY.index("--arms")], "--arms", "exprl_outcome", *TINY[TINY.index("--seeds") :]]
        command = ["compare", *flags, "--stage2-steps", "0", "--judge", "llm", "--judge-url", server.base_url]
        assert main([*command, "--judge-model", "judge-x", "--output-dir", str(tmp_path)]) == 0
        requests = list(server.requests)
    assert requests and {body["model"] for body in requests} == {"judge-x"}
    record = json.loads((tmp_path / "stage1/exprl_outcome/seed-0/train.json").read_text())
    assert record["config"]["train"]["judge"] == "llm"
    options = record["config"]["train"]["env_options"]["judge_kwargs"]
    assert options == {"base_url": server.base_url, "model": "judge-x", "protocol": "paper"}
    capsys.readouterr()
