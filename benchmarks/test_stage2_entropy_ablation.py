"""The ablation script retrains a compare study's stage-2 run faithfully: with the study's own entropy coefficient it
reproduces the study's evaluation exactly (training and sampling are deterministic on CPU), so a difference with
another coefficient is the coefficient's."""

import json

from benchmarks.stage2_entropy_ablation import retrain, table
from tests.agents.test_compare import TINY as COMPARE_TINY

TINY = list(COMPARE_TINY)  # test_compare's tiny study, one ExpRL arm with two stage-2 steps
TINY[TINY.index("--arms") + 1] = "exprl_outcome"
TINY[TINY.index("--stage2-steps") + 1] = "2"


def test_retraining_with_the_study_s_coefficient_reproduces_its_run_and_another_is_recorded(tmp_path):
    from agents.cli import main

    study = tmp_path / "study"
    assert main(["compare", *TINY, "--output-dir", str(study)]) == 0
    original = json.loads((study / "stage2/exprl_outcome/seed-0/eval.json").read_text())["result"]

    same = retrain(study, "exprl_outcome", 0, tmp_path / "same", entropy_coef=1e-4)
    assert same["original"]["entropy_coef"] == 1e-4  # the authors' stage-2 bonus, as the study ran it
    assert same["ablation"] == original
    assert same["entropy_last_step"] == same["original"]["entropy_last_step"]

    none = retrain(study, "exprl_outcome", 0, tmp_path / "none", entropy_coef=0.0)
    assert none["agent_config"]["entropy_coef"] == 0.0
    rows = table([same, none], 0.0).splitlines()
    assert len(rows) == 2 + 4 and "as in the study" in rows[2] and "again" in rows[5]
