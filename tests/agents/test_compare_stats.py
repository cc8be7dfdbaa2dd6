"""The compare study's statistics, hand-computed: t intervals, paired tests by seed, Holm's adjustment."""

import math

import pytest

from agents.compare.report import comparisons, paired_table
from agents.compare.stats import Interval, Paired, holm, paired, t_interval


def test_t_interval_of_one_two_three():
    # mean 2, sample std 1, t(0.975, 2 df) = 4.302653: half-width 4.302653 / sqrt(3) = 2.484138
    interval = t_interval([1.0, 2.0, None, 3.0])
    assert interval.n == 3 and interval.mean == 2.0
    assert interval.low == pytest.approx(2 - 2.484138, abs=1e-6)
    assert interval.high == pytest.approx(2 + 2.484138, abs=1e-6)
    single = t_interval([0.5])
    assert single.n == 1 and single.mean == 0.5 and math.isnan(single.low)
    assert t_interval([]).n == 0


def test_paired_by_seed_uses_only_the_seeds_both_have():
    # differences 0.1, 0.2, 0.3 (seed 3 only in one arm, seed 4 missing a value): t = 0.2 / (0.1 / sqrt 3) = 3.4641,
    # 2 df: p = 0.07418
    found = paired("a", "b", {0: 0.5, 1: 0.6, 2: 0.7, 4: None}, {0: 0.4, 1: 0.4, 2: 0.4, 3: 0.9, 4: 0.1})
    assert found.difference.n == 3 and found.difference.mean == pytest.approx(0.2)
    assert found.wins == 3
    assert found.p == pytest.approx(0.07418, abs=1e-4)


def test_the_same_difference_in_every_seed():
    assert paired("a", "b", {0: 0.5, 1: 0.5}, {0: 0.5, 1: 0.5}).p == 1.0
    assert paired("a", "b", {0: 0.6, 1: 0.7}, {0: 0.5, 1: 0.6}).p == 0.0
    assert math.isnan(paired("a", "b", {0: 0.6}, {0: 0.5}).p)


def _paired(p):
    return Paired("a", "b", Interval(5, 0.0, 0.0, 0.0), 0, p)


def test_holm_steps_down_and_keeps_the_order():
    # sorted 0.01, 0.03, 0.04 -> 3 x 0.01 = 0.03, 2 x 0.03 = 0.06, max(0.06, 1 x 0.04) = 0.06
    adjusted = [c.p_holm for c in holm([_paired(0.01), _paired(0.04), _paired(0.03), _paired(math.nan)])]
    assert adjusted[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert math.isnan(adjusted[3])


def _eval(stage, arm, seed, pass1):
    return {"kind": "eval", "stage": stage, "arm": arm, "seed": seed, "result": {"pass@1": pass1}}


def test_comparisons_pair_each_arm_with_the_base_model_and_the_sparse_arm():
    records = [_eval(0, "base", s, 0.3) for s in range(3)]
    records += [_eval(1, "sparse_grpo", s, 0.3 + 0.01 * s) for s in range(3)]
    records += [_eval(1, "exprl_process", s, 0.5 + 0.02 * s) for s in range(3)]
    found = comparisons(records, 1, "pass@1", "sparse_grpo")
    assert [(c.arm, c.other) for c in found] == [
        ("sparse_grpo", "base"),
        ("exprl_process", "base"),
        ("exprl_process", "sparse_grpo"),
    ]
    assert found[2].difference.mean == pytest.approx(0.21) and found[2].wins == 3
    table = paired_table(found)
    assert "| exprl_process | sparse_grpo | 3 | +0.210 |" in table


def test_stage_2_is_also_paired_with_the_stage_1_result_it_continued():
    records = [_eval(0, "base", s, 0.3) for s in range(3)]
    records += [_eval(1, arm, s, 0.3) for arm in ("sparse_grpo", "exprl_process") for s in range(3)]
    records += [_eval(2, "sparse_grpo", s, 0.31) for s in range(3)]
    records += [_eval(2, "exprl_process", s, 0.3 + 0.05 * (s + 1)) for s in range(3)]
    found = comparisons(records, 2, "pass@1", "sparse_grpo")
    assert [(c.arm, c.other) for c in found][-2:] == [("sparse_grpo", "stage 1"), ("exprl_process", "stage 1")]
    assert found[-1].difference.mean == pytest.approx(0.10) and found[-1].wins == 3
    assert found[-2].difference.mean == pytest.approx(0.01)
    assert [(c.arm, c.other) for c in comparisons(records, 1, "pass@1", "sparse_grpo")] == [
        ("sparse_grpo", "base"),
        ("exprl_process", "base"),
        ("exprl_process", "sparse_grpo"),
    ]
