"""``exprl compare``, the report: statistics over seeds, the tables, the plots and results.md.

Pure functions of the finished jobs' records (and their metrics files, for the learning curves), with the
NaN rule of :mod:`judges.reporting`: a missing value (an unscorable step, an evaluation without a number) is
left out of every mean and spread and counted, never taken as 0.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agents.compare.plan import ARMS, BASE, STAGE2, CompareConfig, ks_for, preset_overrides
from agents.compare.stats import CONFIDENCE, Paired, holm, paired, t_interval
from agents.presets import shown
from judges.reporting import (
    DASH,
    Summary,
    format_summary,
    markdown_table,
    mean_curve,
    moving_average,
    summarize,
)

TESTED = (("pass@1", "pass@1"), ("judged_process_reward", "judged process reward"))
"""The evaluation metrics the paired tests compare: (record key, name in the tables)."""


def eval_rows(records: Sequence[dict]) -> dict[tuple[int, str], dict[str, Summary]]:
    """Evaluation metrics over seeds, by (stage, arm) in order of appearance: pass@k, the judged process reward,
    and from the matching training runs the tokens they sampled and their minutes. A seed whose value is missing
    (None: nothing could be scored) is left out and counted in the metric's ``missing``."""
    grouped: dict[tuple[int, str], dict[str, list]] = {}
    for record in records:
        values = grouped.setdefault((record["stage"], record["arm"]), {})
        if record["kind"] == "eval":
            for key, value in record["result"].items():
                if key.startswith(("pass@", "judged_")):
                    values.setdefault(key, []).append(value)
        else:
            values.setdefault("sampled_tokens", []).append(record["result"]["sampled_tokens"])
            values.setdefault("minutes", []).append(record["result"]["seconds"] / 60)
    return {key: {metric: summarize(v) for metric, v in values.items()} for key, values in grouped.items()}


def stage_table(rows: dict[tuple[int, str], dict[str, Summary]], stages: Sequence[int], ks: Sequence[int]) -> str:
    """One markdown table of the given stages: a row per (stage, arm), a column per metric."""
    header = [
        "stage",
        "arm",
        "seeds",
        *[f"pass@{k}" for k in ks],
        "judged process reward",
        "sampled tokens/run",
        "train min/run",
    ]
    body = []
    for (stage, arm), metrics in rows.items():
        if stage not in stages:
            continue
        seeds = metrics.get("pass@1", summarize([])).n
        cells = [format_summary(metrics.get(f"pass@{k}", summarize([]))) for k in ks]
        cells.append(format_summary(metrics.get("judged_process_reward", summarize([]))))
        cells.append(format_summary(metrics.get("sampled_tokens", summarize([])), 0))
        cells.append(format_summary(metrics.get("minutes", summarize([])), 1))
        body.append([str(stage), arm, str(seeds), *cells])
    return markdown_table(header, body)


def by_seed(records: Sequence[dict], stage: int, arm: str, metric: str) -> dict[int, float | None]:
    """One evaluation metric of (stage, arm) by seed."""
    return {
        r["seed"]: r["result"].get(metric)
        for r in records
        if r["kind"] == "eval" and r["stage"] == stage and r["arm"] == arm
    }


def _interval_text(values: Sequence[float | None]) -> str:
    interval = t_interval(values)
    if interval.n < 2:
        return DASH
    return f"{interval.mean:.3f} [{interval.low:.3f}, {interval.high:.3f}]"


def interval_table(records: Sequence[dict], stages: Sequence[int]) -> str:
    """Each (stage, arm)'s mean over seeds of the tested metrics with its 95% Student-t interval."""
    rows = []
    for stage, arm in dict.fromkeys((r["stage"], r["arm"]) for r in records if r["kind"] == "eval"):
        if stage in stages:
            cells = [_interval_text(list(by_seed(records, stage, arm, key).values())) for key, _ in TESTED]
            rows.append([str(stage), arm, *cells])
    header = ["stage", "arm", *(f"{name}: mean [{CONFIDENCE:.0%} CI]" for _, name in TESTED)]
    return markdown_table(header, rows)


STAGE1 = "stage 1"
"""The ``against`` label of a stage-2 result paired with the stage-1 result it continued."""


def comparisons(records: Sequence[dict], stage: int, metric: str, reference_arm: str) -> list[Paired]:
    """Every arm of ``stage`` against the base model (its gain) and, other than ``reference_arm``, against
    ``reference_arm`` of the same stage; in stage 2 also against the arm's own stage-1 result (what stage 2 added:
    the paper's claim is that it adds more after ExpRL); Holm-adjusted together."""
    arms = list(dict.fromkeys(r["arm"] for r in records if r["kind"] == "eval" and r["stage"] == stage))
    values = {arm: by_seed(records, stage, arm, metric) for arm in arms}
    base = by_seed(records, 0, BASE, metric)
    found = [paired(arm, BASE, values[arm], base) for arm in arms]
    reference = by_seed(records, stage, reference_arm, metric)
    found += [paired(arm, reference_arm, values[arm], reference) for arm in arms]
    if stage == 2:
        found += [paired(arm, STAGE1, values[arm], by_seed(records, 1, arm, metric)) for arm in arms]
    return holm([c for c in found if c.arm != c.other])


def _p_text(p: float) -> str:
    return DASH if math.isnan(p) else ("< 0.001" if p < 0.001 else f"{p:.3f}")


def paired_table(found: Sequence[Paired]) -> str:
    """One row per comparison: the mean difference, its interval, the seeds won, the t-test's p and Holm's."""
    rows = []
    for c in found:
        d = c.difference
        interval = DASH if d.n < 2 else f"[{d.low:+.3f}, {d.high:+.3f}]"
        rows.append(
            [
                c.arm,
                c.other,
                str(d.n),
                DASH if d.n == 0 else f"{d.mean:+.3f}",
                interval,
                f"{c.wins}/{d.n}",
                _p_text(c.p),
                _p_text(c.p_holm),
            ]
        )
    header = ["arm", "against", "seeds", "mean difference", f"{CONFIDENCE:.0%} CI", "won", "p (paired t)", "p (Holm)"]
    return markdown_table(header, rows)


def significance_text(config: CompareConfig, records: Sequence[dict]) -> str:
    """The paired comparisons of every stage and tested metric, with how to read them."""
    reference_arm = "sparse_grpo" if "sparse_grpo" in config.arm_names else config.arm_names[0]
    own_stage1 = ", and in stage 2 against its own stage-1 result (`stage 1`: what stage 2 added)"
    parts = [
        "## Differences between arms, paired by seed\n",
        f"Each arm against the base model (its gain) and against `{reference_arm}` (the sparse baseline) in the same "
        f"stage{own_stage1 if config.stage2_steps else ''}: the mean over seeds of the per-seed difference, its 95% "
        "Student-t interval, how many seeds the arm won, a two-sided paired t-test and the same p Holm-adjusted over "
        "the table's rows (agents/compare/stats.py says why). A difference whose interval holds 0 is not established "
        "at these seeds.\n",
    ]
    for stage in (1, 2) if config.stage2_steps else (1,):
        for key, name in TESTED:
            parts += [f"### Stage {stage}: {name}\n", paired_table(comparisons(records, stage, key, reference_arm))]
    return "\n".join(parts)


def _budget_text(config: CompareConfig) -> str:
    seeds = ", ".join(str(s) for s in range(config.seeds))
    if config.preset:
        changed = preset_overrides(config)
        rows = [[o.field, str(o.paper), shown(o.yours)] for o in changed]
        return (
            f"Base model `{config.model}`, environment `{config.env}` `{json.dumps(config.env_options)}`; "
            f"seeds {seeds}. Every arm's hyperparameters are the authors' (`--preset {config.preset}`, "
            "agents/presets.py, each value with its source), except these fields, set here for every arm:\n\n"
            + (markdown_table(["field", "authors' value (arms)", "here"], rows) if rows else "(none)\n")
            + "\nTraining uses the train split only; each run's settings are in the table below.\n"
        )
    return (
        f"Base model `{config.model}`, environment `{config.env}` `{json.dumps(config.env_options)}`; "
        f"seeds {seeds}. Budget per run: {config.steps} optimizer steps x {config.prompts_per_step} problems x "
        f"{config.group_size} samples, at most {config.max_new_tokens} new tokens each (at most "
        f"{config.sampled_token_budget} sampled tokens), temperature {config.temperature}, "
        f"learning rate {config.lr:g}; the same for every arm, otherwise each agent's default hyperparameters "
        "(stage 2: the authors' recipe, see below). Training uses the train split only.\n"
    )


SETTINGS = (
    ("steps", "train", "steps"),
    ("problems/step", "train", "prompts_per_step"),
    ("samples/problem", "train", "group_size"),
    ("new tokens", "train", "max_new_tokens"),
    ("unfinished", "train", "truncated_reward"),
    ("judge", "train", "judge"),
    ("lr", "agent", "lr"),
    ("clip", "agent", "clip_low"),
    ("std", "agent", "scale_by_std"),
    ("KL", "agent", "kl_coef"),
    ("entropy", "agent", "entropy_coef"),
    ("loss", "agent", "loss_aggregation"),
    ("updates", "agent", "mini_batches"),
    ("wd", "agent", "weight_decay"),
    ("grad clip", "agent", "max_grad_norm"),
)
"""The columns of the per-run settings table: (header, section of the run record, field)."""


def settings_table(records: Sequence[dict]) -> str:
    """Each (stage, arm)'s training settings as its first seed's run recorded them ("–": not a setting of that
    agent); the judge's version (where the run recorded one) and options, when given, follow its name."""
    seen, body = set(), []
    for record in records:
        if record["kind"] != "train" or (record["stage"], record["arm"]) in seen:
            continue
        seen.add((record["stage"], record["arm"]))
        config = record["config"]
        cells = []
        for _, section, field in SETTINGS:
            value = config[section].get(field)
            if field == "clip_low" and value is not None:
                value = f"{shown(value)}/{shown(config[section].get('clip_high'))}"
            if field == "judge" and value is not None:
                options = (config["train"].get("env_options") or {}).get("judge_kwargs") or {}
                shown_options = {k: v for k, v in options.items() if k != "base_url"}  # the server is not a setting
                value = f"{value} ({config['judge_version']})" if config.get("judge_version") else value
                value = f"{value} {json.dumps(shown_options)}" if shown_options else value
            cells.append("–" if value is None else shown(value))
        body.append([str(record["stage"]), record["arm"], config["train"]["agent"], *cells])
    return markdown_table(["stage", "arm", "agent", *(header for header, _, _ in SETTINGS)], body)


def _evaluation_text(config: CompareConfig) -> str:
    return (
        f"Evaluation: the test split, {config.eval_limit or 'all'} problems x {config.eval_samples} samples; "
        "pass@k by the sparse answer check (unbiased estimator), and the mean process reward of the offline "
        '`reference` judge on the same responses. Cells: mean ± sample std [min, max] over seeds; "(k missing)": '
        "seeds without a value (nothing scorable), left out rather than counted as 0.\n"
    )


def render_markdown(config: CompareConfig, records: Sequence[dict]) -> str:
    """results.md: the command, the budget, what each arm is, then one table per stage."""
    ks, rows = ks_for(config.eval_samples), eval_rows(records)
    arms = "\n".join(
        f"- `{name}`: {ARMS[name].label}; agent `{ARMS[name].agent}`, reward `{ARMS[name].reward}`, "
        f"judge `{config.judge if ARMS[name].judged else ARMS[name].judge}`"
        for name in config.arm_names
    )
    parts = [
        "# exprl compare: ExpRL against its baselines under one budget\n",
        f"```\n{config.command()}\n```\n",
        _budget_text(config),
        f"Arms (stage 1):\n{arms}\n",
        "Settings of each run (its first seed's; every seed has the same):\n",
        settings_table(records),
        _evaluation_text(config),
        "## Stage 1 (and the base model)\n",
        stage_table(rows, (0, 1), ks),
    ]
    if config.stage2_steps:
        parts += [
            "\n## Stage 2: the authors' recipe from each stage-1 result\n",
            f"{STAGE2.label}, as PipelineRL runs it (stage2_pipeline_rl/conf/exp_stage2_*.yaml, "
            "conf/finetune/base.yaml). Rows are named by the stage-1 arm they continue.\n",
            stage_table(rows, (0, 2), ks),
        ]
    parts += [
        f"\n## Means with {CONFIDENCE:.0%} confidence intervals over seeds\n",
        interval_table(records, (0, 1, 2) if config.stage2_steps else (0, 1)),
        significance_text(config, records),
    ]
    parts.append(
        "\nPlots: `learning_curves.png` (training reward and answer accuracy: mean over seeds, "
        "moving average over an eighth of the run, shaded ± std), "
        "`pass_at_k.png`. Raw records: `results.jsonl`.\n"
    )
    return "\n".join(parts)


def _training_curves(root: Path, records: Sequence[dict], stage: int, key: str) -> dict[str, list[list[float]]]:
    """Per arm, one curve of ``key`` per seed from the runs' metrics.jsonl (NaN where a step lacks it)."""
    curves: dict[str, list[list[float]]] = {}
    for record in records:
        if record["kind"] == "train" and record["stage"] == stage:
            lines = (root / record["metrics"]).read_text().splitlines()
            curves.setdefault(record["arm"], []).append([json.loads(line).get(key, math.nan) for line in lines])
    return curves


def plot_learning_curves(root: Path, records: Sequence[dict], stages: Sequence[int], path: Path) -> None:
    """Training reward and answer accuracy per arm, mean over seeds (moving average), shaded by the std where
    there is one (two seeds or more); steps with no value leave a gap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rewards = {1: "training reward (each arm's own)", 2: "training reward (sparse)"}
    figure, axes = plt.subplots(len(stages), 2, figsize=(11, 3.8 * len(stages)), squeeze=False)
    for row, stage in enumerate(stages):
        for column, (key, title) in enumerate(
            (("reward_mean", rewards[stage]), ("answer_accuracy", "answer accuracy (training)"))
        ):
            axis = axes[row][column]
            for arm, curves in _training_curves(root, records, stage, key).items():
                mean, std, _ = mean_curve(curves)
                window = max(1, len(mean) // 8)
                mean, std = moving_average(mean, window), moving_average(std, window)
                steps = np.arange(1, len(mean) + 1)
                axis.plot(steps, mean, marker=".", label=arm)
                axis.fill_between(steps, mean - std, mean + std, where=np.isfinite(std), alpha=0.15)
            axis.set_title(f"stage {stage}: {title}")
            axis.set_xlabel("step")
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            axis.legend(fontsize=8, title="from stage-1 arm" if stage == 2 else None, title_fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_pass_at_k(
    rows: dict[tuple[int, str], dict[str, Summary]], stages: Sequence[int], ks: Sequence[int], path: Path
) -> None:
    """pass@k against k per arm, one panel per stage, the base model dashed in each; bars: std over seeds (none
    drawn for a single seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(stages), figsize=(5.5 * len(stages), 4), squeeze=False)
    for axis, stage in zip(axes[0], stages):
        for (row_stage, arm), metrics in rows.items():
            if row_stage not in (0, stage):
                continue
            stats = [metrics.get(f"pass@{k}", summarize([])) for k in ks]
            axis.errorbar(
                ks,
                [s.mean for s in stats],
                yerr=[0.0 if s.n < 2 else s.std for s in stats],
                capsize=3,
                marker="o",
                label=arm,
                linestyle="--" if row_stage == 0 else "-",
                color="black" if row_stage == 0 else None,
            )
        axis.set_xscale("log", base=2)
        axis.set_xticks(list(ks), [str(k) for k in ks])
        axis.set_xlabel("k")
        axis.set_ylabel("pass@k (test split)")
        axis.set_title(f"after stage {stage}")
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_outputs(config: CompareConfig, root: Path, records: Sequence[dict]) -> dict[str, str]:
    """results.jsonl, results.md and the two plots from the finished jobs' records."""
    stages = (1, 2) if config.stage2_steps else (1,)
    paths = {name: root / name for name in ("results.jsonl", "results.md", "learning_curves.png", "pass_at_k.png")}
    paths["results.jsonl"].write_text("".join(json.dumps(r) + "\n" for r in records))
    paths["results.md"].write_text(render_markdown(config, records))
    plot_learning_curves(root, records, stages, paths["learning_curves.png"])
    plot_pass_at_k(eval_rows(records), stages, ks_for(config.eval_samples), paths["pass_at_k.png"])
    return {name: str(path) for name, path in paths.items()}
