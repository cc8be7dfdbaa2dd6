"""``exprl compare``: ExpRL against its baselines under one budget, then sparse GRPO from each result.

Three modules, read in this order: :mod:`~agents.compare.plan` (the arms, the configuration, the shared budget,
the jobs), :mod:`~agents.compare.run` (training and evaluating each job, resumably, with a settings check) and
:mod:`~agents.compare.report` (statistics over seeds, tables, plots, results.md). Outputs under ``output_dir``:
``results.jsonl`` (one record per run and evaluation), ``results.md`` (the tables, under the command that
reproduces them), ``learning_curves.png`` and ``pass_at_k.png``.
"""

from __future__ import annotations

from agents.compare.plan import ARMS, BASE, KS, STAGE2, Arm, CompareConfig, Job, ks_for, parse_arms, plan_jobs
from agents.compare.report import eval_rows, render_markdown, stage_table, write_outputs
from agents.compare.run import SettingsMismatch, differences, eval_job, run_compare, run_summary, train_job

__all__ = [
    "ARMS",
    "BASE",
    "KS",
    "STAGE2",
    "Arm",
    "CompareConfig",
    "Job",
    "SettingsMismatch",
    "differences",
    "eval_job",
    "eval_rows",
    "ks_for",
    "parse_arms",
    "plan_jobs",
    "render_markdown",
    "run_compare",
    "run_summary",
    "stage_table",
    "train_job",
    "write_outputs",
]
