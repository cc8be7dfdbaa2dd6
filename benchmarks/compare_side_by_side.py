"""Two ``exprl compare`` studies side by side: each arm's evaluations before -> after a change, mean ± std over seeds.

Reads each study's ``results.jsonl`` (its evaluation records) and prints one markdown table per stage, a cell per
metric reading ``old -> new``. Made for publishing a rerun next to the study it replaces (issue 13: the study rerun
with the authors' DeltaNorm, length rule, self-distillation and stage 2)::

    python benchmarks/compare_side_by_side.py benchmarks/results/compare benchmarks/results/compare_issue13 \
        --output benchmarks/results/compare_issue13/side_by_side.md
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from judges.reporting import DASH, format_summary, markdown_table, summarize

METRICS = ("pass@1", "pass@8", "judged_process_reward")


def evaluations(folder: Path, seeds: set[int] | None = None) -> dict[tuple[int, str], dict[str, list[float | None]]]:
    """(stage, arm) -> metric -> one value per seed, from a study's results.jsonl (only ``seeds``, if given)."""
    found: dict[tuple[int, str], dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for record in _records(folder):
        if seeds is None or record["seed"] in seeds:
            for metric in METRICS:
                found[(record["stage"], record["arm"])][metric].append(record["result"].get(metric))
    return found


def _records(folder: Path) -> list[dict]:
    lines = (folder / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return [record for record in map(json.loads, lines) if record.get("kind") == "eval"]


def seeds_of(folder: Path) -> set[int]:
    return {record["seed"] for record in _records(folder)}


def cell(values: list | None) -> str:
    return format_summary(summarize(values)) if values else DASH


def tables(old: Path, new: Path, common_seeds: bool = False) -> str:
    """One table per stage; with ``common_seeds``, both sides over the seeds both studies evaluated, so that a
    difference in spread is not a difference in how many seeds there were."""
    seeds = seeds_of(old) & seeds_of(new) if common_seeds else None
    before, after = evaluations(old, seeds), evaluations(new, seeds)
    keys = list(dict.fromkeys([*after, *before]))  # the new study's plan order, then what only the old one has
    text = []
    for stage in sorted({stage for stage, _ in keys}):
        rows = []
        for key in (k for k in keys if k[0] == stage):
            pairs = [f"{cell(before.get(key, {}).get(m))} → {cell(after.get(key, {}).get(m))}" for m in METRICS]
            rows.append([key[1], *pairs])
        text.append(f"### Stage {stage}\n\n" + markdown_table(["arm", *METRICS], rows))
    over = f"seeds {', '.join(map(str, sorted(seeds)))} of both" if seeds is not None else "seeds"
    return f"`{old}` → `{new}` (mean ± sample std [min, max] over {over})\n\n" + "\n".join(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--output", type=Path, default=None, help="also write the markdown here")
    parser.add_argument("--common-seeds", action="store_true", help="only the seeds both studies evaluated")
    args = parser.parse_args()
    text = tables(args.old, args.new, args.common_seeds)
    print(text)
    if args.output:
        args.output.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
