"""``exprl compare``: ExpRL against its baselines under one budget, then the authors' stage 2 from each result.

Three modules, read in this order: :mod:`~agents.compare.plan` (the arms, the configuration, the shared budget,
the jobs), :mod:`~agents.compare.run` (training and evaluating each job, resumably, with a settings check) and
:mod:`~agents.compare.report` (statistics over seeds, tables, plots, results.md). Outputs under ``output_dir``:
``results.jsonl`` (one record per run and evaluation), ``results.md`` (the tables, under the command that
reproduces them), ``learning_curves.png`` and ``pass_at_k.png``.
"""

from __future__ import annotations

from agents.compare.plan import (
    ARMS,
    BASE,
    KS,
    STAGE2,
    STAGE2_RECIPE,
    Arm,
    ArmSettings,
    CompareConfig,
    Job,
    arm_settings,
    ks_for,
    parse_arms,
    plan_jobs,
    preset_overrides,
)
from agents.compare.report import eval_rows, render_markdown, settings_table, stage_table, write_outputs
from agents.compare.run import (
    SettingsMismatch,
    differences,
    eval_job,
    job_chains,
    run_compare,
    run_summary,
    train_job,
)

__all__ = [
    "ARMS",
    "BASE",
    "KS",
    "STAGE2",
    "STAGE2_RECIPE",
    "Arm",
    "ArmSettings",
    "CompareConfig",
    "Job",
    "SettingsMismatch",
    "arm_settings",
    "differences",
    "eval_job",
    "eval_rows",
    "job_chains",
    "ks_for",
    "parse_arms",
    "plan_jobs",
    "preset_overrides",
    "render_markdown",
    "run_compare",
    "run_summary",
    "settings_table",
    "stage_table",
    "train_job",
    "write_outputs",
]
