"""The side-by-side table of two compare studies, on the two committed studies."""

from pathlib import Path

from benchmarks.compare_side_by_side import evaluations, tables

RESULTS = Path(__file__).parent / "results"


def test_each_arm_reads_old_to_new_and_an_arm_one_study_lacks_is_a_dash():
    old, new = RESULTS / "compare", RESULTS / "compare_last_number"
    assert len(evaluations(old)[(1, "sft")]["pass@1"]) == 3  # three seeds
    text = tables(old, new)
    base = next(line for line in text.splitlines() if line.startswith("| base |"))
    assert base.count("→") == 3 and "0.004 ± 0.007 [0.000, 0.013] → 0.200 ± 0.053 [0.163, 0.237]" in base
    sft = next(line for line in text.splitlines() if line.startswith("| sft |"))
    assert sft.endswith("→ – |")  # the second study did not run SFT


def test_common_seeds_compares_the_seeds_both_studies_ran():
    old, new = RESULTS / "compare", RESULTS / "compare_last_number"  # seeds 0-2 and 0-1
    text = tables(old, new, common_seeds=True)
    assert "over seeds 0, 1 of both" in text.splitlines()[0]
    base = next(line for line in text.splitlines() if line.startswith("| base |"))
    assert base.startswith("| base | 0.000 ± 0.000 [0.000, 0.000] →")  # seeds 0 and 1 of the first (seed 2: 0.013)
