"""The one NaN rule of every report (None and NaN are missing: left out, never 0, counted), on hand-computed numbers."""

import math

import attrs
import numpy as np
import pytest

from judges.reporting import (
    Summary,
    format_number,
    format_percent,
    format_summary,
    is_missing,
    json_number,
    markdown_table,
    mean_curve,
    mean_of,
    moving_average,
    present,
    summarize,
)

NAN = math.nan


def test_missing_means_none_or_nan_of_any_float_type():
    assert is_missing(None) and is_missing(NAN) and is_missing(np.float32("nan")) and is_missing(np.float64("nan"))
    assert not is_missing(0.0) and not is_missing(0) and not is_missing(math.inf) and not is_missing(np.int64(3))
    assert present([1, None, NAN, 0.0, np.float32(2)]) == [1.0, 0.0, 2.0]


def test_mean_leaves_missing_values_out_instead_of_counting_them_as_zero():
    assert mean_of([1.0, NAN, 0.5, None]) == 0.75  # (1 + 0.5) / 2, not (1 + 0 + 0.5 + 0) / 4
    assert math.isnan(mean_of([NAN, None])) and math.isnan(mean_of([]))
    assert json_number(NAN) is None and json_number(None) is None and json_number(2 / 3, 4) == 0.6667


def test_summary_counts_what_was_missing():
    # present 0.25, 0.5, 0.75: mean 0.5; squared deviations 0.0625 + 0 + 0.0625 = 0.125; / (3 - 1); sqrt = 0.25
    assert summarize([0.25, NAN, 0.5, None, 0.75]) == Summary(3, 2, 0.5, 0.25, 0.25, 0.75)
    one = summarize([0.5, None])
    assert (one.n, one.missing, one.mean, math.isnan(one.std), one.low, one.high) == (1, 1, 0.5, True, 0.5, 0.5)
    nothing = summarize([NAN])
    assert (nothing.n, nothing.missing) == (0, 1) and all(math.isnan(x) for x in attrs.astuple(nothing)[2:])


def test_formatting_shows_a_dash_for_missing_and_says_how_many_were_missing():
    assert format_summary(summarize([0.25, 0.5, 0.75])) == "0.500 ± 0.250 [0.250, 0.750]"
    assert format_summary(summarize([0.25, 0.5, 0.75, NAN])) == "0.500 ± 0.250 [0.250, 0.750] (1 missing)"
    assert format_summary(summarize([0.5])) == "0.500"
    assert format_summary(summarize([0.5, None]), 1) == "0.5 (1 missing)"
    assert format_summary(summarize([])) == "–" and format_summary(summarize([NAN, NAN])) == "– (2 missing)"
    assert format_summary(summarize([100, 120]), 0) == "110 ± 14 [100, 120]"  # std of 100, 120: sqrt(200) = 14.1
    assert format_percent(0.125) == "12.5%" and format_percent(None) == "–" and format_percent(NAN) == "–"
    assert format_percent(1 / 3, 0) == "33%" and format_number(NAN) == "–" and format_number(2, 1) == "2.0"


def test_mean_curve_over_runs_of_different_lengths_skips_missing_steps():
    means, stds, counts = mean_curve([[0.0, 1.0, 1.0, NAN], [1.0, NAN], [NAN, None]])
    np.testing.assert_allclose(means, [0.5, 1.0, 1.0, NAN])  # step 4: nobody has a value
    np.testing.assert_allclose(stds, [math.sqrt(0.5), NAN, NAN, NAN])  # (0.25 + 0.25) / (2 - 1); one value: no spread
    assert counts.tolist() == [2, 1, 1, 0]
    assert [a.size for a in mean_curve([])] == [0, 0, 0]


def test_moving_average_is_trailing_skips_missing_and_is_nan_where_a_window_has_nothing():
    np.testing.assert_allclose(moving_average([1, 2, 3, 4], 2), [1.0, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(moving_average([1, NAN, 3], 2), [1.0, 1.0, 3.0])  # not (1 + 0) / 2 at step 2
    np.testing.assert_allclose(moving_average([NAN, 2, NAN, NAN, 6], 2), [NAN, 2.0, 2.0, NAN, 6.0])
    np.testing.assert_allclose(moving_average([0.0, None, 1.0], 3), [0.0, 0.0, 0.5])
    assert moving_average([], 3).size == 0
    with pytest.raises(ValueError, match="window must be at least 1, got 0"):
        moving_average([1.0], 0)


def test_markdown_table():
    assert markdown_table(["a", "b"], [["1", "–"], ["x", "y"]]) == "| a | b |\n|---|---|\n| 1 | – |\n| x | y |\n"
    with pytest.raises(ValueError, match="table row has 1 cells, the header 2"):
        markdown_table(["a", "b"], [["1"]])
