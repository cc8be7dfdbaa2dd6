"""The sweep report: gains over the base model paired by seed, from the study's and the sweeps' records."""

import json

import pytest

from benchmarks import testbed_sweeps


def _eval(stage, arm, seed, pass1, judged):
    return {
        "kind": "eval",
        "stage": stage,
        "arm": arm,
        "seed": seed,
        "result": {"pass@1": pass1, "judged_process_reward": judged},
    }


def _write(folder, records):
    folder.mkdir(parents=True)
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setattr(testbed_sweeps, "ROOT", tmp_path)
    monkeypatch.setattr(testbed_sweeps, "STUDY", tmp_path / "compare")
    base = [_eval(0, "base", s, 0.30, 0.50) for s in range(5)]
    # the study: 5 seeds; the sweeps read seeds 0-2 only
    study = base + [_eval(1, "exprl_process", s, 0.30 + 0.1 * (s + 1), 0.6) for s in range(5)]
    study += [_eval(1, "sparse_grpo", s, 0.30, 0.5) for s in range(5)]
    _write(tmp_path / "compare", study)
    _write(
        tmp_path / "judge_error" / "flip-0.178", base[:3] + [_eval(1, "exprl_process", s, 0.35, 0.55) for s in range(3)]
    )
    _write(tmp_path / "coverage" / "testbed-700", base[:3] + [_eval(1, "sparse_grpo", s, 0.25, 0.4) for s in range(3)])
    return tmp_path


def test_gains_are_paired_by_seed_over_the_first_seeds(root):
    rows = testbed_sweeps.collect()
    flip0 = next(r for r in rows if r["condition"] == "flip 0.0" and r["metric"] == "pass@1")
    assert flip0["seeds"] == 3 and flip0["gain"] == pytest.approx(0.2)  # seeds 0-2: +0.1, +0.2, +0.3
    assert flip0["won"] == 3 and flip0["low"] < 0.2 < flip0["high"]
    flip = next(r for r in rows if r["condition"] == "flip 0.178" and r["metric"] == "judged_process_reward")
    assert flip["gain"] == pytest.approx(0.05) and flip["p"] == 0.0  # the same difference in every seed
    missing = next(r for r in rows if r["condition"] == "wrong reference")
    assert missing["gain"] is None and missing["seeds"] == 0  # not run yet: a dash, never a 0
    weak = next(r for r in rows if r["condition"] == "testbed-700" and r["arm"] == "sparse_grpo")
    assert weak["base"] == pytest.approx(0.3) and weak["gain"] == pytest.approx(-0.05)


def test_report_writes_the_tables_and_the_plot(root):
    testbed_sweeps.report()
    text = (root / "sweeps.md").read_text()
    assert "| flip 0.0 | exprl_process | 0.300 | +0.200 [" in text
    assert "| wrong reference | exprl_process | – | – | – |" in text
    assert "| testbed-700 | sparse_grpo | 0.300 | -0.050 (3/3)" not in text  # lost every seed: won 0
    assert "| testbed-700 | sparse_grpo | 0.300 | -0.050 [-0.050, -0.050] (0/3) |" in text
    assert (root / "sweeps.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((root / "sweeps.json").read_text())[0]["sweep"] == "judge_error"
