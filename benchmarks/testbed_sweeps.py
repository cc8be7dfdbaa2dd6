"""Issue 17's two questions on the testbed: how good must the judge be, and how does the gain depend on coverage?

Both are ``exprl compare`` runs with the testbed study's settings (:data:`SHARED`, the same as
``benchmarks/results/testbed/compare``), stage 1 only, each condition in its own folder under ``--output-dir``
(resumable: rerunning skips what is done):

- **judge error** (``judge_error/<condition>``): the ExpRL-process arm (DeltaNorm) paid by the ``corrupted`` judge
  (:mod:`judges.corrupted`): every score flipped to ``1 - x`` at the paper's three measured judge error levels
  (17.8%, 39.2%, 50.4% of step verdicts wrong), and judged against another problem's reference. A flip rate of 0
  is the study's own ``exprl_process`` arm (the corrupted judge at rate 0 returns the reference judge's verdicts,
  tests/judges/test_corrupted.py), so it is read from the study instead of run again. Evaluation is always by the
  true reference judge and the answer check.
- **coverage** (``coverage/<model>``): sparse GRPO and ExpRL-process from weaker testbed models (:data:`MODELS`:
  fewer pretraining steps), on the same three-operation task; the default testbed is the study's own.

``report`` gathers everything (the study included) into ``sweeps.md``, ``sweeps.json`` and two plots: the gain in
held-out pass@1 and judged reward over the same seed's base model, against the judge's flip rate (the paper's
levels marked) and against the base model's pass@1.

    python -m benchmarks.testbed_sweeps run --workers 2
    python -m benchmarks.testbed_sweeps report
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path("benchmarks/results/testbed")
STUDY = ROOT / "compare"
SHARED = {
    "model": "testbed",
    "env_options": {"n_ops": 3, "max_operand": 9},
    "steps": 100,
    "stage2_steps": 0,
    "prompts_per_step": 2,
    "group_size": 8,
    "max_new_tokens": 128,
    "lr": 1e-4,
    "eval_samples": 4,
    "eval_batch": 64,
    "save_every": 20,
}
"""The testbed study's settings (its results.md gives the command), stage 1 only."""
SEEDS = 3
COMMAND = "python -m benchmarks.testbed_sweeps run --workers 2 && python -m benchmarks.testbed_sweeps report"
PAPER_ERRORS = (0.178, 0.392, 0.504)
"""The paper's measured judge error with a correct, no and a wrong reference."""
JUDGE_CONDITIONS = {
    **{f"flip-{rate}": {"flip_rate": rate} for rate in PAPER_ERRORS},
    "wrong-reference": {"wrong_reference": True},
}
MODELS = {"testbed-700": {"steps": 700}}
"""Weaker testbeds: the default recipe (1-3 operation chains) stopped early."""


def judge_config(name: str, workers: int):
    from agents.compare import CompareConfig

    return CompareConfig(
        **SHARED,
        arms="exprl_process",
        seeds=SEEDS,
        judge="corrupted",
        judge_options=JUDGE_CONDITIONS[name],
        workers=workers,
        output_dir=str(ROOT / "judge_error" / name),
    )


def coverage_config(name: str, workers: int):
    from agents.compare import CompareConfig
    from agents.models import testbed_folder
    from agents.testbed import TestbedConfig

    model = str(testbed_folder(TestbedConfig(**MODELS[name])))
    settings = {**SHARED, "model": model}
    return CompareConfig(
        **settings,
        arms="sparse_grpo,exprl_process",
        seeds=SEEDS,
        workers=workers,
        output_dir=str(ROOT / "coverage" / name),
    )


def run(workers: int) -> None:
    from agents.compare import run_compare

    for name in JUDGE_CONDITIONS:
        run_compare(judge_config(name, workers))
    for name in MODELS:
        run_compare(coverage_config(name, workers))


def _records(folder: Path) -> list[dict]:
    path = folder / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def gains(records: list[dict], arm: str, metric: str, seeds: int = SEEDS) -> dict:
    """``arm``'s stage-1 gain over the base model in ``metric``, paired by seed (seeds below ``seeds``)."""
    from agents.compare.report import by_seed
    from agents.compare.stats import paired

    base = {s: v for s, v in by_seed(records, 0, "base", metric).items() if s < seeds}
    found = paired(arm, "base", by_seed(records, 1, arm, metric), base)
    d = found.difference
    return {
        "base": sum(base.values()) / len(base) if base else None,
        "gain": d.mean if d.n else None,
        "low": d.low if d.n > 1 else None,
        "high": d.high if d.n > 1 else None,
        "seeds": d.n,
        "won": found.wins,
        "p": found.p,
    }


def collect() -> list[dict]:
    """One row per (sweep, condition, arm, metric) with its gain over the base model."""
    rows = []
    metrics = ("pass@1", "judged_process_reward")
    study = _records(STUDY)
    for metric in metrics:
        for flip, folder in [(0.0, STUDY)] + [(c["flip_rate"], ROOT / "judge_error" / n) for n, c in _flips()]:
            rows.append(
                {
                    "sweep": "judge_error",
                    "condition": f"flip {flip}",
                    "flip_rate": flip,
                    "arm": "exprl_process",
                    "metric": metric,
                    **gains(_records(folder), "exprl_process", metric),
                }
            )
        wrong = _records(ROOT / "judge_error" / "wrong-reference")
        rows.append(
            {
                "sweep": "judge_error",
                "condition": "wrong reference",
                "flip_rate": None,
                "arm": "exprl_process",
                "metric": metric,
                **gains(wrong, "exprl_process", metric),
            }
        )
        for name, records in [("testbed (default)", study)] + [(n, _records(ROOT / "coverage" / n)) for n in MODELS]:
            for arm in ("sparse_grpo", "exprl_process"):
                rows.append(
                    {
                        "sweep": "coverage",
                        "condition": name,
                        "arm": arm,
                        "metric": metric,
                        **gains(records, arm, metric),
                    }
                )
    return rows


def _flips():
    return [(name, c) for name, c in JUDGE_CONDITIONS.items() if "flip_rate" in c]


def _cell(row: dict) -> str:
    from judges.reporting import DASH

    if row["gain"] is None:
        return DASH
    interval = "" if row["low"] is None else f" [{row['low']:+.3f}, {row['high']:+.3f}]"
    return f"{row['gain']:+.3f}{interval} ({row['won']}/{row['seeds']})"


def render(rows: list[dict]) -> str:
    from judges.reporting import DASH, markdown_table

    def table(sweep: str, first: str) -> str:
        keyed: dict[tuple[str, str], dict] = {}
        for row in rows:
            if row["sweep"] == sweep:
                keyed.setdefault((row["condition"], row["arm"]), {})[row["metric"]] = row
        body = []
        for (condition, arm), by_metric in keyed.items():
            base = by_metric["pass@1"]["base"]
            body.append(
                [
                    condition,
                    arm,
                    DASH if base is None else f"{base:.3f}",
                    _cell(by_metric["pass@1"]),
                    _cell(by_metric["judged_process_reward"]),
                ]
            )
        header = [first, "arm", "base pass@1", "gain in pass@1 [95% CI] (seeds won)", "gain in judged reward"]
        return markdown_table(header, body)

    return "\n".join(
        [
            "# The testbed sweeps: judge error and base coverage\n",
            f"```\n{COMMAND}\n```\n",
            f"Settings as the testbed study's stage 1 (`{json.dumps(SHARED)}`), seeds 0-{SEEDS - 1}; gains are over "
            "the same seed's base model on the whole held-out test split (4 samples per problem), paired by seed; the "
            "judged reward of evaluation is always the true `reference` judge's.\n",
            "## How good must the judge be?\n",
            "ExpRL-process (DeltaNorm) paid by the `corrupted` judge: each score flipped to 1 - x at the rate shown "
            "(the paper measured its judge's step error at 17.8%, 39.2% and 50.4%), or judged against another "
            "problem's reference. Flip 0 is the study's `exprl_process` arm.\n",
            table("judge_error", "judge"),
            "## How does the gain depend on coverage?\n",
            "The same two arms from testbeds of different strength on the same task (three-operation chains).\n",
            table("coverage", "base model"),
        ]
    )


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    flips = [r for r in rows if r["sweep"] == "judge_error" and r["flip_rate"] is not None and r["gain"] is not None]
    for metric, marker in (("pass@1", "o"), ("judged_process_reward", "s")):
        points = sorted((r["flip_rate"], r["gain"], r["low"], r["high"]) for r in flips if r["metric"] == metric)
        if points:
            x, y = [p[0] for p in points], [p[1] for p in points]
            errors = [
                [p[1] - p[2] if p[2] is not None else 0 for p in points],
                [p[3] - p[1] if p[3] is not None else 0 for p in points],
            ]
            axes[0].errorbar(x, y, yerr=errors, marker=marker, capsize=3, label=f"gain in {metric}")
    for level in PAPER_ERRORS:
        axes[0].axvline(level, color="grey", linestyle=":", linewidth=1)
    axes[0].axhline(0, color="black", linewidth=0.8)
    axes[0].set_xlabel("judge flip rate (dotted: the paper's measured error levels)")
    axes[0].set_ylabel("gain over the base model (95% CI)")
    axes[0].set_title("ExpRL-process vs judge error")
    axes[0].legend(fontsize=8)
    coverage = [r for r in rows if r["sweep"] == "coverage" and r["metric"] == "pass@1" and r["gain"] is not None]
    for arm in ("sparse_grpo", "exprl_process"):
        points = sorted((r["base"], r["gain"]) for r in coverage if r["arm"] == arm)
        if points:
            axes[1].plot([p[0] for p in points], [p[1] for p in points], marker="o", label=arm)
    axes[1].axhline(0, color="black", linewidth=0.8)
    axes[1].set_xlabel("base model pass@1 (three-operation chains)")
    axes[1].set_ylabel("gain in pass@1 over the base model")
    axes[1].set_title("gain vs base coverage")
    axes[1].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def report() -> None:
    rows = collect()
    (ROOT / "sweeps.json").write_text(json.dumps(rows, indent=1) + "\n")
    (ROOT / "sweeps.md").write_text(render(rows))
    plot(rows, ROOT / "sweeps.png")
    print((ROOT / "sweeps.md").read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("run", "report"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    if args.what == "run":
        run(args.workers)
    report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
