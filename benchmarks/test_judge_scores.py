"""The ordering benchmarks/judge_scores.py publishes, asserted on a sample of each domain: the `reference`
judge pays honest solutions (the reference re-worded, or another valid route) far more than any generic
gaming strategy, and pays nothing for false arithmetic or hedges built around the right answer."""

from __future__ import annotations

import pytest

from benchmarks.judge_scores import DOMAINS, VARIANTS, score, summary
from judges import make_judge

MARGIN = 0.4
NOTHING = [
    name
    for name, (kind, _) in VARIANTS.items()
    if kind == "oracle" and ("= 13, then the reference" in name or name.startswith("hedge") or "false" in name)
]


@pytest.fixture(scope="module")
def judge():
    return make_judge("reference")


@pytest.mark.parametrize("label", list(DOMAINS))
def test_honest_solutions_beat_gaming_by_a_margin(judge, label):
    rows = score(judge, label, sample=40)
    result = summary(rows)
    assert result["reference"] >= 0.95
    assert result["honest_mean"] >= 0.9 and result["honest_worst"] >= 0.75, result
    assert result["gaming_best"] <= result["honest_mean"] - MARGIN, result
    for name in NOTHING:
        assert rows[name]["mean"] in (None, 0.0) or rows[name]["mean"] <= 0.05, (name, rows[name])
