"""judge-bench, the report: the JSON report as markdown (the command, the definitions, a table by split and
one by annotated model), formatted by :mod:`judges.reporting`: a rate with nothing to count (None) is a dash.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from judges.reporting import DASH, format_percent, markdown_table

HEADER = [
    "judge",
    "reference",
    "group",
    "split",
    "scored",
    "pos/neg",
    "BER",
    "FNR",
    "FPR",
    "flagged/scored wrong",
    "exact step",
    "within 1 step",
]


def _cells(row: dict[str, Any]) -> list[str]:
    """One table row: how much was scorable, then the agreement rates and the localisation rates."""
    outcome, located = row["outcome"], row["localisation"]
    scored = f"{outcome['scorable']}/{outcome['annotations']}"
    if outcome["scorable"] == 0:
        agreement = ["all unscorable", DASH, DASH]
    else:
        agreement = [format_percent(outcome["ber"]), format_percent(outcome["fnr"]), format_percent(outcome["fpr"])]
    classes = f"{outcome['positives']}/{outcome['negatives']}"
    if located is None:
        steps = ["no steps", DASH, DASH]
    elif located["scorable"] == 0:
        steps = ["all unscorable", DASH, DASH]
    else:
        steps = [
            f"{located['flagged']}/{located['scorable']}",
            format_percent(located["exact_rate"]),
            format_percent(located["within_one_rate"]),
        ]
    return [row["judge"], row["reference"], row["group"], row["split"], scored, classes, *agreement, *steps]


def _table(rows: Iterable[dict[str, Any]]) -> str:
    return markdown_table(HEADER, [_cells(row) for row in rows])


def markdown(report: dict[str, Any], command: str) -> str:
    """The report as markdown: the command, the definitions, a table by split and one by annotated model."""
    splits = [r for r in report["rows"] if r["group"] in ("all", "tuning", "held_out")]
    models = [r for r in report["rows"] if r["group"] not in ("all", "tuning", "held_out")]
    paper = ", ".join(f"BER {format_percent(ber)} with reference {name}" for name, ber in report["paper_ber"].items())
    definitions = "\n".join(f"- **{key}**: {text}" for key, text in report["definitions"].items())
    return (
        f"# Judge bench: {report['benchmark']}\n\n```\n{command}\n```\n\n"
        f"{report['annotations']} annotations; threshold {report['config']['threshold']}; "
        f"answer format {report['config']['answer_format']}. Rates are over scorable verdicts "
        f"(`scored`); `pos/neg` counts scorable no-mistake / wrong-step annotations. For comparison, the "
        f"paper's Qwen3-4B judge: {paper} (its own maths set, not this one).\n\n{definitions}\n\n"
        f"## By split\n\n{_table(splits)}\n## By annotated model\n\n{_table(models)}"
    )


CALIBRATION_HEADER = ["judge", "reference", "scored", "correct/incorrect", "BER", "FNR", "FPR", "AUROC", "paper BER"]


def calibration_markdown(report: dict[str, Any], command: str) -> str:
    """The calibration report as markdown: the command, where the rollouts came from, the definitions, one table."""
    rows = []
    for row in report["rows"]:
        outcome = row["outcome"]
        rates = (
            ["all unscorable", DASH, DASH, DASH]
            if outcome["scorable"] == 0
            else [format_percent(outcome[key]) for key in ("ber", "fnr", "fpr")]
            + [DASH if row["auroc"] is None else f"{row['auroc']:.3f}"]
        )
        rows.append(
            [
                row["judge"],
                row["reference"],
                f"{outcome['scorable']}/{outcome['annotations']}",
                f"{outcome['positives']}/{outcome['negatives']}",
                *rates,
                format_percent(report["paper_ber"].get(row["reference"])),
            ]
        )
    source = ", ".join(f"{key} `{value}`" for key, value in report["source"].items() if key != "format")
    definitions = "\n".join(f"- **{key}**: {text}" for key, text in report["definitions"].items())
    return (
        f"# Judge calibration: {report['benchmark']}\n\n```\n{command}\n```\n\n"
        f"{report['rollouts']} rollouts of {report['problems']} problems, {report['correct']} labelled correct. "
        f"Rollouts: {source}. `paper BER`: the authors' Qwen3-4B judge on Qwen3-8B rollouts of their maths set, "
        f"by the same protocol on other data.\n\n{definitions}\n\n"
        f"{markdown_table(CALIBRATION_HEADER, rows)}"
    )
