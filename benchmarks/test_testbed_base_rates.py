"""The base-rate script's teacher measure: the self-distillation teacher's prompt, scored against the reference."""

from __future__ import annotations

import json

from agents.testbed import TestbedConfig, build_testbed
from benchmarks.testbed_base_rates import main

SMALL = TestbedConfig(steps=3, batch_size=4, hidden_size=32, layers=1, heads=2, intermediate_size=64, teacher_share=0.5)


def test_teacher_rates_are_measured_per_chain_and_tabled(tmp_path, monkeypatch):
    import benchmarks.testbed_base_rates as script

    build_testbed(tmp_path / "model", SMALL)
    monkeypatch.setattr(script, "CHAINS", (1,))
    arguments = ["--model", str(tmp_path / "model"), "--max-operand", "2", "--samples", "2", "--max-new-tokens", "4"]
    assert main([*arguments, "--output-dir", str(tmp_path / "plain")]) == 0
    assert main([*arguments, "--teacher", "--output-dir", str(tmp_path / "teacher")]) == 0
    plain = json.loads((tmp_path / "plain" / "base_rates.json").read_text())["rows"][0]
    row = json.loads((tmp_path / "teacher" / "base_rates.json").read_text())["rows"][0]
    assert (
        "teacher_answer_right" not in plain
        and "teacher copies" not in (tmp_path / "plain" / "base_rates.md").read_text()
    )
    # four new tokens cannot write a whole solution: an untrained model neither copies nor boxes the answer
    assert row["teacher_answer_right"] == 0 and row["teacher_copied_reference"] == 0
    table = (tmp_path / "teacher" / "base_rates.md").read_text()
    assert "teacher copies the reference" in table and table.splitlines()[-1].count("|") == 11
