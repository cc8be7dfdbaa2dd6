"""Study-scale learning tests (issue 17): each agent raises held-out success on the slips testbeds; too long for CI.

CI's learning tests (``tests/agents/test_learning.py``) ask sparse GRPO and REINFORCE to raise held-out pass@1 on
the CI testbed's one-operation chains, and SFT its references' likelihood; GRPO on the judged step reward and
self-distillation lower theirs there, and PPO rose on 4 of 5 seeds only. On ``testbed-slips`` (the testbed recipe
with slips in its pretraining solutions, so a resample often fixes what a sample got wrong) the three RL arms of the
slips study (``benchmarks/results/testbed/slips/compare``: 300 steps x 8 problems x 8 samples, lr 3e-5,
two-operation chains, 5 seeds) raised the held-out judged process reward on every seed, and held-out pass@1 on every
seed but one (ExpRL-process, seed 2); PPO and REINFORCE on the judged step reward (the opt-in arms ``ppo_process``,
``reinforce_process``, same settings, 2 seeds: ``slips/ppo_reinforce``) raised the judged reward on both seeds, and
pass@1 on both (PPO) or one (REINFORCE); SFT on the references (the 8 problems of each of the 300 steps) raised both
measures on every seed, and so did self-distillation on ``testbed-slips-teacher`` (the same recipe, a quarter of it
pretrained to follow a solution shown in the teacher's prompt: ``slips_teacher/compare``). Each test here reruns
seed 0 of one arm with the study's settings through ``exprl compare`` and asserts that each measure that rose on
every seed rises again, by the margin :func:`benchmarks.learning_margins.margin_rule` gives from the study's seeds.

They take 8-14 minutes each on one CPU thread, plus the testbed's build (11-15 minutes, cached) the first
time, so they run only when asked for::

    EXPRL_STUDY=1 pytest benchmarks/test_learning_study.py --benchmark-disable -q

and are skipped (with that reason shown) everywhere else, CI included. Runs of 2026-12-07 (one CPU thread, the
model cached): sparse GRPO 477 s, ExpRL-outcome 496 s, ExpRL-process 580 s, PPO 813 s, REINFORCE 642 s, SFT 519 s,
self-distillation 619 s, each reproducing its study run's seed-0 numbers. ExpRL-process ran with judge
``reference-4``; it was not rerun as this test with ``reference-5``, whose study run of seed 0 (what the test
repeats) raised the judged reward by 0.059, above its margin of 0.014.
"""

from __future__ import annotations

import json
import os

import pytest

from benchmarks.learning_margins import margin_rule

pytestmark = pytest.mark.skipif(
    os.environ.get("EXPRL_STUDY") != "1",
    reason="study-scale learning test (8-14 min per arm, plus an 11-15 min build): run with EXPRL_STUDY=1",
)

SETTINGS = {
    "model": "testbed-slips",
    "env_options": {"n_ops": 2, "max_operand": 9},
    "steps": 300,
    "stage2_steps": 0,
    "prompts_per_step": 8,
    "group_size": 8,
    "max_new_tokens": 128,
    "lr": 3e-5,
    "eval_samples": 4,
    "eval_batch": 64,
    "save_every": 0,
}
"""The slips study's settings (its results.md gives the command), stage 1, one seed."""

MODELS = {"self_distill": "testbed-slips-teacher"}
"""Arms studied on another testbed: self-distillation's teacher is the model shown the reference, so it needs one
pretrained to follow a solution in its prompt (``benchmarks/results/testbed/slips_teacher/compare``, the same
settings otherwise)."""
EVAL_STD = {
    "testbed-slips": {"pass@1": 0.0079, "judged_process_reward": 0.0134},
    "testbed-slips-teacher": {"pass@1": 0.0033, "judged_process_reward": 0.0070},
}
"""The evaluation's own noise: the standard deviation of the base model's measure over the study's evaluation seeds
(the same model evaluated with seeds 0-4 on testbed-slips, 0-2 on testbed-slips-teacher)."""
GAINS = {
    "sparse_grpo": {
        "pass@1": (0.0194, 0.0453, 0.0302, 0.0065, 0.0388),
        "judged_process_reward": (0.0388, 0.0679, 0.0819, 0.0356, 0.0388),
    },
    "exprl_outcome": {
        "pass@1": (0.0216, 0.0129, 0.0259, 0.0151, 0.0129),
        "judged_process_reward": (0.0765, 0.0700, 0.1228, 0.0722, 0.0657),
    },
    # Judge reference-5 (slips/compare; reference-4's are in slips/compare_reference4). pass@1 rose on every seed but
    # seed 2 (+0.0065, +0.0216, -0.0043, +0.0043, +0.0086): no margin to assert
    "exprl_process": {"judged_process_reward": (0.0593, 0.0808, 0.1013, 0.0668, 0.0550)},
    # Seeds 0-1 only (benchmarks/results/testbed/slips/ppo_reinforce); REINFORCE's pass@1: -0.0022, +0.0323
    "ppo_process": {"pass@1": (0.0194, 0.0216), "judged_process_reward": (0.0851, 0.1056)},
    "reinforce_process": {"judged_process_reward": (0.0690, 0.0905)},
    "sft": {
        "pass@1": (0.0280, 0.0539, 0.0086, 0.0582, 0.0216),
        "judged_process_reward": (0.0722, 0.1099, 0.0916, 0.1078, 0.0711),
    },
    # On testbed-slips-teacher (slips_teacher/compare, seeds 0-2)
    "self_distill": {"pass@1": (0.0280, 0.0151, 0.0323), "judged_process_reward": (0.0733, 0.0625, 0.0593)},
}
"""The studies' per-seed gains over the same seed's base model, per arm, for each measure that rose on every seed
(``results.jsonl`` of ``slips/compare``, seeds 0-4, of ``slips/ppo_reinforce``, seeds 0-1, and of
``slips_teacher/compare``, seeds 0-2)."""


@pytest.mark.timeout(3600)  # 8-14 min per arm on one thread, the testbed build (11-15 min) on first use
@pytest.mark.parametrize("arm", sorted(GAINS))
def test_each_agent_raises_held_out_success_on_its_study_testbed(arm, tmp_path):
    from agents.compare import CompareConfig, run_compare

    model = MODELS.get(arm, SETTINGS["model"])
    settings = {**SETTINGS, "model": model}
    run_compare(CompareConfig(**settings, arms=arm, seeds=1, workers=1, output_dir=str(tmp_path)))
    records = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    result = {(r["stage"], r["arm"]): r["result"] for r in records if r["kind"] == "eval"}
    before, after = result[(0, "base")], result[(1, arm)]
    for measure, gains in GAINS[arm].items():
        margin = margin_rule(gains, EVAL_STD[model][measure], grid=0.001)
        gain = after[measure] - before[measure]
        print(f"{arm} {measure}: {before[measure]:.3f} -> {after[measure]:.3f} (gain {gain:+.3f}, margin {margin:.3f})")
        assert gain >= margin, (arm, measure, before[measure], after[measure], margin)
