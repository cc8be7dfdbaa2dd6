"""Numbers into summaries, curves and markdown tables, with one rule for what is missing.

**The NaN rule.** ``None`` and NaN mean *missing*: an unscorable verdict, a step where nothing could be judged, a
seed that has not run. Missing values are left out of every mean, spread, minimum and maximum, never counted as 0;
a summary of nothing, or a moving-average window holding nothing, is NaN (``None`` in JSON, "–" in a table); and
how many values were missing is counted (:attr:`Summary.missing`) so a report can say so. Infinities are values
(they show up loudly rather than vanish).

Every report uses these functions: ``exprl compare`` (summaries over seeds, learning curves, results.md),
``exprl judge-bench`` (rates and its tables), ``exprl eval`` and ``exprl judge-check`` (mean rewards), the trainer's
plot and ``benchmarks/make_results.py`` (tables). It lives in ``judges``, the bottom package, because all of those
may import it and ``judges`` may import none of them. Pure functions of numbers and strings; numpy only.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence

import attrs
import numpy as np

DASH = "–"
"""What a table shows for a missing number."""


def is_missing(value: float | None) -> bool:
    """True for None and NaN (see the module's NaN rule)."""
    return value is None or (isinstance(value, numbers.Real) and math.isnan(value))


def present(values: Iterable[float | None]) -> list[float]:
    """The values that are not missing, as floats, in order."""
    return [float(v) for v in values if not is_missing(v)]


def mean_of(values: Iterable[float | None]) -> float:
    """Mean of the present values; NaN when there are none."""
    kept = present(values)
    return sum(kept) / len(kept) if kept else math.nan


def json_number(value: float | None, digits: int | None = None) -> float | None:
    """A number for a JSON report: None when missing (JSON has no NaN), else the float, rounded if asked."""
    if is_missing(value):
        return None
    return float(value) if digits is None else round(float(value), digits)


@attrs.frozen
class Summary:
    """One metric over repeats (seeds, problems, steps), missing ones left out."""

    n: int
    """How many values were present."""
    missing: int
    """How many were missing (None or NaN)."""
    mean: float
    """Mean of the present values (NaN when none)."""
    std: float
    """Sample standard deviation (n - 1) of the present values; NaN for fewer than two."""
    low: float
    """Smallest present value (NaN when none)."""
    high: float
    """Largest present value (NaN when none)."""


def summarize(values: Iterable[float | None]) -> Summary:
    """Mean, sample std, min and max of the present values, and how many were missing."""
    values = list(values)
    kept = np.array(present(values), dtype=float)
    missing = len(values) - kept.size
    if kept.size == 0:
        return Summary(0, missing, math.nan, math.nan, math.nan, math.nan)
    std = float(kept.std(ddof=1)) if kept.size > 1 else math.nan
    return Summary(int(kept.size), missing, float(kept.mean()), std, float(kept.min()), float(kept.max()))


def format_number(value: float | None, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals; a dash when missing."""
    return DASH if is_missing(value) else f"{value:.{digits}f}"


def format_percent(share: float | None, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage (``0.125`` -> ``12.5%``); a dash when missing."""
    return DASH if is_missing(share) else f"{100 * share:.{digits}f}%"


def format_summary(summary: Summary, digits: int = 3) -> str:
    """``mean ± std [min, max]``; just the mean for one value; a dash for none; then ``(k missing)`` if any were."""
    if summary.n == 0:
        text = DASH
    elif summary.n == 1:
        text = format_number(summary.mean, digits)
    else:
        text = (
            f"{summary.mean:.{digits}f} ± {summary.std:.{digits}f} "
            f"[{summary.low:.{digits}f}, {summary.high:.{digits}f}]"
        )
    return f"{text} ({summary.missing} missing)" if summary.missing else text


def mean_curve(curves: Sequence[Sequence[float | None]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per step, over runs that may differ in length: the mean, the sample std and how many runs had a value.

    A step where no run has a value has mean NaN; one with a single value has std NaN (no spread measured).
    """
    longest = max((len(c) for c in curves), default=0)
    table = np.full((len(curves), longest), np.nan)
    for row, curve in enumerate(curves):
        table[row, : len(curve)] = [math.nan if is_missing(v) else v for v in curve]
    columns = [summarize(table[:, step]) for step in range(longest)]
    return (
        np.array([c.mean for c in columns]),
        np.array([c.std for c in columns]),
        np.array([c.n for c in columns], dtype=int),
    )


def moving_average(values: Sequence[float | None], window: int) -> np.ndarray:
    """Trailing mean of the present values among the last ``window`` steps up to each step (fewer at the start);
    NaN where that window holds no value."""
    if window < 1:
        raise ValueError(f"moving average window must be at least 1, got {window}")
    series = np.array([math.nan if is_missing(v) else v for v in values], dtype=float)
    return np.array([mean_of(series[max(0, i + 1 - window) : i + 1]) for i in range(len(series))], dtype=float)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A GitHub markdown table, one line per row, ending in a newline; every row must have the header's width."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"table row has {len(row)} cells, the header {len(header)}: {list(row)}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"
