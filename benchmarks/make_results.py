"""Regenerate benchmarks/RESULTS.md: run every measurement, then render the tables from their JSON.

    python benchmarks/make_results.py              # everything (about 40 minutes on the 2-core CPU machine)
    python benchmarks/make_results.py --render     # only re-render RESULTS.md from benchmarks/results/*.json

Stages (each writes JSON under benchmarks/results/, so a stage can be rerun alone with ``--stages``):
``bench`` (pytest-benchmark: env, judges, generation and update rates against the fp32 matmul ceiling, with
SmolLM2-135M-Instruct), ``agents`` (seconds per step of every agent), ``ab`` (the agents' updates alternating
in one process), ``profile`` (torch.profiler over one step), ``data_parallel`` (one process against two,
tiny-random) and ``race`` (against TRL's GRPOTrainer; needs ``pip install trl==1.16.0``). The hand-written
analysis in benchmarks/NOTES.md is appended as it is.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from judges.reporting import markdown_table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
STAGES = {
    "bench": [
        sys.executable,
        "-m",
        "pytest",
        str(HERE),
        "--benchmark-only",
        "-m",
        "slow or not slow",
        "-q",
        f"--benchmark-json={RESULTS / 'bench.json'}",
    ],
    "agents": [sys.executable, str(HERE / "agent_step_times.py"), "--output", str(RESULTS / "agent_steps.json")],
    "ab": [
        sys.executable,
        str(HERE / "ab_updates.py"),
        "--agents",
        "grpo,reinforce,ppo,sft,self_distill",
        "--rounds",
        "3",
        "--output",
        str(RESULTS / "ab_updates.json"),
    ],
    "profile": [sys.executable, str(HERE / "profile_step.py"), "--output", str(RESULTS / "profile.json")],
    "data_parallel": [
        sys.executable,
        str(HERE / "data_parallel.py"),
        "--rounds",
        "3",
        "--output",
        str(RESULTS / "data_parallel.json"),
    ],
    "race": [
        sys.executable,
        str(HERE / "race_trl.py"),
        "--steps",
        "4",
        "--rounds",
        "2",
        "--output",
        str(RESULTS / "race_trl.json"),
    ],
}
COMMANDS = {
    name: " ".join(["python" if part == sys.executable else part for part in command]).replace(
        str(HERE.parent) + "/", ""
    )
    for name, command in STAGES.items()
}

BENCH_ROWS = {  # benchmark name -> (label, how to turn its median into a rate)
    "test_env_reset_step_overhead": (
        "env reset + step, completion mode, no-op judge",
        lambda b, m: f"{1 / m:,.0f} episodes/s",
    ),
    "test_vector_env_step_16": ("vector env step, 16 envs, no-op judge", lambda b, m: f"{16 / m:,.0f} env-steps/s"),
    "test_answer_checks_per_second": (
        "`answer` judge pool, 64 fresh pairs, 2 workers",
        lambda b, m: f"{64 / m:,.0f} checks/s",
    ),
    "test_bomb_worst_case": ("worst case `\\boxed{9^{9^{9^{9}}}}` with a 3 s limit", lambda b, m: "limit + kill"),
    "test_reference_judge_traces_per_second": (
        "`reference` judge, policy-like GSM traces, process reward",
        lambda b, m: f"{b['extra_info']['traces_per_round'] / m:,.0f} traces/s",
    ),
    "test_llm_judge_calls_per_second[1]": (
        "`llm` judge vs `transformers serve` SmolLM2 (CPU), concurrency 1",
        lambda b, m: f"{8 / m:.2f} calls/s",
    ),
    "test_llm_judge_calls_per_second[8]": ("same, concurrency 8", lambda b, m: f"{8 / m:.2f} calls/s"),
}


def machine() -> str:
    memory = (
        next(
            (line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")),
            "0",
        )
        if Path("/proc/meminfo").exists()
        else "0"
    )
    versions = ", ".join(f"{name} {_version(name)}" for name in ("torch", "transformers", "trl"))
    return (
        f"{os.cpu_count()} CPU cores ({platform.machine()}), {int(memory) / 2**20:.0f} GiB, "
        f"Python {platform.python_version()}, {versions}"
    )


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def _stamp(name: str) -> str:
    """The day a result was measured: its commit's date while the file is committed and unchanged (a fresh
    clone's files all carry the clone's time), else the file's modification day."""
    path = RESULTS / name
    unchanged = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", str(path)], cwd=HERE, capture_output=True)
    committed = subprocess.run(
        ["git", "log", "-1", "--format=%cs", "--", str(path)], cwd=HERE, capture_output=True, text=True
    )
    if unchanged.returncode == 0 and committed.returncode == 0 and committed.stdout.strip():
        return committed.stdout.strip()
    return datetime.date.fromtimestamp(path.stat().st_mtime).isoformat()


def bench_sections(report: dict) -> list[str]:
    by_name = {b["name"]: b for b in report["benchmarks"]}
    out = ["## Environment and judges", "", f"Command: `{COMMANDS['bench']}` ({_stamp('bench.json')}); medians.", ""]
    rows = []
    for name, (label, rate) in BENCH_ROWS.items():
        if name in by_name:
            median = by_name[name]["stats"]["median"]
            shown = f"{median * 1e6:.0f} µs" if median < 0.01 else f"{median:.3f} s"
            rows.append([label, shown, rate(by_name[name], median)])
    out += markdown_table(["benchmark", "median", "rate"], rows).splitlines()
    peak = by_name["test_matmul_rate"]["extra_info"]["gflops_fp32"] * 1e9
    out += [
        "",
        "## Policy and agent rates vs the machine's fp32 matmul rate",
        "",
        'Same run. "Of peak" = FLOPs the work needs (benchmarks/flops.py: 2 x parameters per token forward, '
        "6 x forward + backward, plus attention) / time / the fp32 matmul rate measured in the same run. "
        f"Model: `{os.environ.get('EXPRL_BENCH_MODEL', 'smollm2-135m-instruct')}`, 8 prompts, 64 new tokens.",
        "",
    ]
    rows = [["fp32 matmul (1024², measured)", "", f"{peak / 1e9:.1f} GFLOP/s", "100%"]]
    for name, bench in by_name.items():
        info, median = bench["extra_info"], bench["stats"]["median"]
        if "flops" in info:
            tokens = info.get("new_tokens", info.get("tokens"))
            label = name.replace("test_", "").replace("_", " ")
            rows.append(
                [
                    label,
                    f"{median:.2f} s",
                    f"{tokens / median:.0f} tokens/s",
                    f"{100 * info['flops'] / median / peak:.1f}%",
                ]
            )
    if "test_one_trainer_step" in by_name:
        median = by_name["test_one_trainer_step"]["stats"]["median"]
        rows.append(["one trainer step (grpo, 8 rollouts)", f"{median:.2f} s", "", ""])
    return out + markdown_table(["benchmark", "median", "rate", "of peak"], rows).splitlines() + [""]


def race_section(race: dict) -> list[str]:
    s = race["summary"]
    out = [
        "## Race against TRL's GRPOTrainer",
        "",
        f"Command: `{COMMANDS['race']}` ({_stamp('race_trl.json')}). SmolLM2-135M-Instruct, fp32, CPU, "
        "4 prompts x 4 samples, 64 new tokens, same prompts, same reward, no KL; each run a child process, "
        f"rounds alternate the first side; {s['exprl']['runs']} runs per side, medians.",
        "",
    ]
    rows = [
        [side, *(f"{s[side][key]:.1f} s" for key in ("ready_s", "first_step_s", "steady_step_s"))]
        for side in ("exprl", "trl")
    ]
    out += markdown_table(["side", "ready (imports, model, trainer)", "first step", "steady step"], rows).splitlines()
    out += [
        "",
        f"**Steady step, exprl / TRL: {s['steady_ratio']:.2f}x** (goal <= 0.5x). "
        f"**exprl first step / its steady step: {s['first_over_steady']:.2f}x** (goal <= 2x).",
        "",
        "Every step of every run (seconds):",
        "",
    ]
    out += [f"- {run['side']}: " + ", ".join(f"{x:.1f}" for x in run["step_s"]) for run in race["runs"]]
    return out + [""]


PROFILES = (  # file -> what code it measured (the earlier one is kept to show what the change bought)
    ("profile_before.json", "before: `generate`, every rollout runs its prompt (commit 7cd92ea)"),
    ("profile.json", "now: shared prompts, decode loop, logits only for responses"),
)


def profile_section(prof: dict) -> list[str]:
    out = [
        "## Profile of one step",
        "",
        f"Command: `{COMMANDS['profile']}` ({_stamp('profile.json')}). The race's batch: {prof['rollouts']} "
        f"rollouts, {prof['new_tokens']} new tokens, {prof['prompt_tokens_distinct']} distinct prompt tokens; "
        f'{prof["threads"]} threads. "FLOPs needed" counts each distinct prompt once and no LM head on prompt '
        "positions (what the step must do, not what a given implementation does), so rows compare directly; "
        '"of peak" divides by the fp32 matmul rate measured in the same process. Earlier rows: the same '
        "script on earlier code (see NOTES below).",
        "",
    ]
    rows = []
    for name, label in PROFILES:
        data = load(name)
        for phase in ("sampling", "update") if data else ():
            p = data[phase]
            ops = ", ".join(f"{o['op'].replace('aten::', '')} {100 * o['share']:.0f}%" for o in p["top_ops"][:4])
            rows.append(
                [label, phase, f"{p['seconds']:.2f} s", f"{p['gflop']:.0f} GFLOP", f"{100 * p['of_peak']:.0f}%", ops]
            )
    header = ["code", "phase", "wall", "FLOPs needed", "of peak", "top operators (share of self time)"]
    return out + markdown_table(header, rows).splitlines() + [""]


def agents_section(steps: dict) -> list[str]:
    out = [
        "## Seconds per training step, every agent",
        "",
        f"Command: `{COMMANDS['agents']}` ({_stamp('agent_steps.json')}): the demo configuration "
        "(SmolLM2-135M-Instruct fp32, CPU, 2 problems x 4 samples, 96 new tokens, `reference` judge, process "
        "reward); the second of two steps.",
        "",
    ]
    rows = [
        [
            agent,
            f"{r['seconds_step']:.1f} s",
            f"{r['seconds_sample']:.1f} s",
            f"{r['seconds_judge']:.2f} s",
            f"{r['seconds_update']:.1f} s",
        ]
        for agent, r in steps.items()
    ]
    return out + markdown_table(["agent", "step", "sampling", "judging", "update"], rows).splitlines() + [""]


def ab_section(ab: dict) -> list[str]:
    first = next(iter(ab["median_s"]))
    out = [
        "## Agent updates side by side",
        "",
        f"Command: `{COMMANDS['ab']}` ({_stamp('ab_updates.json')}): each agent's update of the same "
        f"{ab['rows']} rollouts ({ab['model']}, fp32, CPU, lr 0), the agents alternating round by round in one "
        f"process, {ab['rounds']} rounds.",
        "",
    ]
    rows = [
        [
            agent,
            f"{median:.2f} s",
            " / ".join(f"{s:.1f}" for s in ab["seconds"][agent]) + " s",
            f"{ab['ratio_to_' + first][agent]:.2f}x",
        ]
        for agent, median in ab["median_s"].items()
    ]
    header = ["agent", "median update", "rounds", f"ratio to {first}"]
    return out + markdown_table(header, rows).splitlines() + [""]


def data_parallel_section(report: dict) -> list[str]:
    settings = report["settings"]
    out = [
        "## One process against two (data parallel)",
        "",
        f"Command: `{COMMANDS['data_parallel']}` ({_stamp('data_parallel.json')}): `exprl train` on "
        f"{settings['model']}, {settings['agent']}, {settings['prompts_per_step']} problems x "
        f"{settings['group_size']} samples, {settings['max_new_tokens']} new tokens, {settings['steps']} steps, "
        f"CPU, gloo; the setups alternate round by round, {settings['rounds']} rounds, medians (a step's figures: "
        "the median over its steady steps, the first left out). Two processes share the two cores one process "
        "had: no speed-up is expected, the comparison is the engine's cost.",
        "",
    ]
    one = report["median"]["1 process, 1 thread"]
    rows = [
        [
            name,
            f"{m['wall_s']:.1f} s",
            f"{m['step_s']:.2f} s",
            f"{m['sample_s']:.2f} s",
            f"{m['update_s']:.2f} s",
            f"{m['communicate_s']:.3f} s" if m["communicate_s"] else "",
            f"{m['step_s'] / one['step_s']:.2f}x",
            f"{m['load_before']:.1f}",
        ]
        for name, m in report["median"].items()
    ]
    header = ["setup", "launch to exit", "step", "sampling", "update", "in collectives", "step vs 1 thread", "load"]
    return out + markdown_table(header, rows).splitlines() + [""]


def render() -> str:
    out = [
        "# Benchmark results",
        "",
        "Generated by `python benchmarks/make_results.py` from the JSON in benchmarks/results/; do not edit by "
        "hand (the analysis is benchmarks/NOTES.md, appended below).",
        "",
        f"Machine: {machine()}.",
        "",
    ]
    for name, section in (
        ("race_trl.json", race_section),
        ("profile.json", profile_section),
        ("bench.json", bench_sections),
        ("agent_steps.json", agents_section),
        ("ab_updates.json", ab_section),
        ("data_parallel.json", data_parallel_section),
    ):
        data = load(name)
        out += section(data) if data else [f"_{name} not measured yet._", ""]
    notes = HERE / "NOTES.md"
    if notes.exists():
        out += [notes.read_text().strip(), ""]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma list of {', '.join(STAGES)}")
    parser.add_argument("--render", action="store_true", help="skip measuring; only re-render RESULTS.md")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    if not args.render:
        env = {**os.environ, "EXPRL_BENCH_MODEL": os.environ.get("EXPRL_BENCH_MODEL", "smollm2-135m-instruct")}
        for stage in args.stages.split(","):
            print(f"== {stage}: {COMMANDS[stage]}", file=sys.stderr, flush=True)
            subprocess.run(STAGES[stage], check=True, env=env, cwd=HERE.parent)
    (HERE / "RESULTS.md").write_text(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
