"""Turn a pytest-benchmark JSON of ``test_bench_training.py`` into the RESULTS.md rows.

    EXPRL_BENCH_MODEL=smollm2-135m-instruct pytest benchmarks/test_bench_training.py --benchmark-only \\
        --benchmark-json=bench.json && python benchmarks/summarize.py bench.json

Rates use each benchmark's median; "of peak" divides the FLOPs the work needed (benchmarks/flops.py) by the
time, then by the fp32 matmul rate measured in the same run.
"""

from __future__ import annotations

import json
import sys


def rows(report: dict) -> list[str]:
    by_name = {b["name"]: b for b in report["benchmarks"]}
    peak = by_name["test_matmul_rate"]["extra_info"]["gflops_fp32"] * 1e9
    lines = [f"| fp32 matmul (1024², measured) | | {peak / 1e9:.1f} GFLOP/s | 100% |"]
    for name, bench in by_name.items():
        info, median = bench["extra_info"], bench["stats"]["median"]
        if "flops" not in info:
            continue
        tokens = info.get("new_tokens", info.get("tokens"))
        label = name.replace("test_", "").replace("_", " ")
        lines.append(f"| {label} | {median:.2f} s | {tokens / median:.0f} tokens/s | "
                     f"{100 * info['flops'] / median / peak:.1f}% |")
    step = by_name.get("test_one_trainer_step")
    if step:
        lines.append(f"| one trainer step (grpo, 8 rollouts) | {step['stats']['median']:.2f} s | | |")
    return lines


if __name__ == "__main__":
    print("| benchmark | median | rate | of peak |\n|---|---|---|---|")
    print("\n".join(rows(json.load(open(sys.argv[1])))))
