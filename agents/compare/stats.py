"""``exprl compare``, the statistics: confidence intervals over seeds and paired tests between arms.

The unit is the **seed**: one training run (and its evaluation) per arm and seed. Test problems and samples are
the same for every arm of a seed (the evaluation's seed is the run's), so two arms are compared *paired by seed*:
``d_s = metric(arm, s) - metric(other, s)``, which removes what the seed's evaluation draw shares between them.
Over the n seeds both have, the mean difference gets a Student-t 95% confidence interval and a two-sided paired
t-test (scipy's ``ttest_rel``); the p-values of one table are Holm-adjusted, since a table asks several questions at
once. Why a t-test and not a permutation test: with 5 seeds the exact sign-flip test cannot go below p = 2/32 =
0.0625, so it could never reject at 0.05; the t-test can, at the price of assuming the seed-to-seed differences are
roughly normal. Both are reported: the t-test's p and how many seeds the arm won, which needs no assumption.

Pure functions of numbers; missing values (None, NaN: an evaluation with nothing scorable) are left out with their
seed, as everywhere in the reports (:mod:`judges.reporting`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import attrs

from judges.reporting import is_missing

CONFIDENCE = 0.95


@attrs.frozen
class Interval:
    """A mean over seeds with its Student-t confidence interval (NaN bounds for fewer than two seeds)."""

    n: int
    mean: float
    low: float
    high: float


def t_interval(values: Sequence[float | None], confidence: float = CONFIDENCE) -> Interval:
    """The mean of the present values and its two-sided Student-t interval."""
    from scipy import stats

    kept = [float(v) for v in values if not is_missing(v)]
    n = len(kept)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan)
    mean = sum(kept) / n
    if n < 2:
        return Interval(n, mean, math.nan, math.nan)
    std = math.sqrt(sum((v - mean) ** 2 for v in kept) / (n - 1))
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    return Interval(n, mean, mean - half, mean + half)


@attrs.frozen
class Paired:
    """One arm against another, paired by seed."""

    arm: str
    other: str
    difference: Interval
    """Mean of ``arm - other`` over the seeds both have, with its confidence interval."""
    wins: int
    """Seeds where ``arm`` is above ``other``."""
    p: float
    """Two-sided paired t-test (NaN with fewer than two seeds, or when every difference is the same)."""
    p_holm: float = math.nan
    """``p`` adjusted for the other comparisons of its table (Holm)."""


def paired(arm: str, other: str, values: Mapping[int, float | None], others: Mapping[int, float | None]) -> Paired:
    """``arm`` against ``other`` from their values by seed; a seed missing from either (or missing a value) is
    left out."""
    from scipy import stats

    seeds = sorted(s for s in set(values) & set(others) if not is_missing(values[s]) and not is_missing(others[s]))
    differences = [float(values[s]) - float(others[s]) for s in seeds]
    interval = t_interval(differences)
    p = math.nan
    if len(seeds) >= 2 and len(set(differences)) > 1:
        p = float(stats.ttest_rel([values[s] for s in seeds], [others[s] for s in seeds]).pvalue)
    elif len(seeds) >= 2:  # the same difference in every seed: t is 0 (none) or infinite
        p = 1.0 if differences[0] == 0 else 0.0
    return Paired(arm, other, interval, sum(d > 0 for d in differences), p)


def holm(comparisons: Sequence[Paired]) -> list[Paired]:
    """The comparisons with Holm-adjusted p-values (step-down over the present p's; a NaN p stays NaN)."""
    order = sorted((c.p, i) for i, c in enumerate(comparisons) if not math.isnan(c.p))
    adjusted = [math.nan] * len(comparisons)
    running = 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p))
        adjusted[i] = running
    return [attrs.evolve(c, p_holm=a) for c, a in zip(comparisons, adjusted)]
