"""Smoke tests for the scripts behind RESULTS.md (race, profile, renderer), so they cannot rot.

The real numbers come from ``python benchmarks/make_results.py`` with SmolLM2-135M-Instruct; here everything
runs on ``tiny-random`` or on the committed JSON. TRL is a benchmark-only dependency: its side of the race is
exercised only where it is installed.
"""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ab_updates
import data_parallel
import make_results
import profile_step
import race_trl


def test_race_summary_takes_medians_of_first_and_later_steps():
    runs = [
        {"side": "exprl", "ready_s": 5.0, "step_s": [12.0, 10.0, 11.0]},
        {"side": "trl", "ready_s": 9.0, "step_s": [60.0, 20.0, 24.0]},
        {"side": "exprl", "ready_s": 7.0, "step_s": [14.0, 9.0, 12.0]},
        {"side": "trl", "ready_s": 11.0, "step_s": [50.0, 22.0, 26.0]},
    ]
    summary = race_trl.summarize(runs)
    assert summary["exprl"] == {"ready_s": 6.0, "first_step_s": 13.0, "steady_step_s": 10.5, "runs": 2}
    assert summary["trl"]["steady_step_s"] == 23.0
    assert summary["steady_ratio"] == pytest.approx(10.5 / 23.0)
    assert summary["first_over_steady"] == pytest.approx(13.0 / 10.5)
    assert "0.46x" in race_trl.markdown(summary)


def test_the_race_reward_is_the_share_of_digits():
    assert race_trl.digit_share("a1 b2") == 0.5
    assert race_trl.digit_share("") == 0.0


def test_our_side_of_the_race_runs_through_the_trainer():
    result = race_trl.run_ours("tiny-random", steps=2)
    assert len(result["step_s"]) == 2 and all(s > 0 for s in result["step_s"])


def test_trl_side_of_the_race_runs_where_trl_is_installed():
    pytest.importorskip("trl", reason="TRL is a benchmark-only dependency (pip install trl==1.16.0)")
    result = race_trl.run_trl("tiny-random", steps=2)
    assert len(result["step_s"]) == 2


def test_updates_alternate_and_compare_to_the_first_agent(tmp_path):
    output = tmp_path / "ab.json"
    assert (
        ab_updates.main(
            ["--model", "tiny-random", "--agents", "grpo,reinforce,sft", "--rounds", "2", "--output", str(output)]
        )
        == 0
    )
    report = json.loads(output.read_text())
    assert {name: len(values) for name, values in report["seconds"].items()} == {"grpo": 2, "reinforce": 2, "sft": 2}
    assert report["ratio_to_grpo"]["grpo"] == 1.0 and report["ratio_to_grpo"]["sft"] > 0


def test_profile_reports_both_phases(tmp_path):
    output = tmp_path / "profile.json"
    assert profile_step.main(["--model", "tiny-random", "--top", "3", "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    for phase in ("sampling", "update"):
        assert report[phase]["seconds"] > 0 and len(report[phase]["top_ops"]) == 3
        assert report[phase]["of_peak"] > 0


def test_results_render_from_json_and_say_what_is_missing(tmp_path, monkeypatch):
    text = make_results.render()
    if (make_results.RESULTS / "race_trl.json").exists():
        assert "Steady step, exprl / TRL" in text
    monkeypatch.setattr(make_results, "RESULTS", tmp_path)
    empty = make_results.render()
    assert "_race_trl.json not measured yet._" in empty and "_bench.json not measured yet._" in empty


def test_one_against_two_processes_is_summarised_by_medians_and_rendered():
    runs = {
        "1 process, 1 thread": [
            dict(wall_s=w, step_s=s, sample_s=1.0, update_s=1.0, communicate_s=0.0, load_before=1.0)
            for w, s in ((20.0, 2.0), (22.0, 3.0), (21.0, 2.5))
        ],
        "2 processes (torchrun), 1 thread each": [
            dict(wall_s=25.0, step_s=s, sample_s=1.0, update_s=1.0, communicate_s=0.1, load_before=1.0)
            for s in (2.0, 2.5, 2.4)
        ],
    }
    median = data_parallel.summarize(runs)
    assert median["1 process, 1 thread"]["step_s"] == 2.5 and median["1 process, 1 thread"]["wall_s"] == 21.0
    settings = dict(model="tiny-random", agent="grpo", steps=6, prompts_per_step=8, group_size=4, max_new_tokens=32)
    report = {"settings": {**settings, "rounds": 3}, "median": median}
    text = "\n".join(make_results.data_parallel_section(report))
    assert "| 2 processes (torchrun), 1 thread each | 25.0 s | 2.40 s |" in text and "0.96x" in text
    assert data_parallel.command(1)[-2:] == ["-m", "agents.cli"]
    assert data_parallel.command(2)[1:5] == ["-m", "torch.distributed.run", "--nproc_per_node", "2"]
