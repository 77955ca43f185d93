"""Inference: every statistic the library reports beside a measurement, computed once, on scipy.

- :func:`wilson_interval`: how precisely ``k`` right out of ``n`` pins down an accuracy;
- :func:`spread`: mean, sample sd and t-interval of a handful of values (one per seed);
- :func:`mcnemar`: whether two classifiers scored on the same examples differ, from the examples
  only one of them gets right;
- :func:`holm`: p-values adjusted for the number of comparisons made together;
- :func:`paired_t`, :func:`wilcoxon_exact` and :func:`smallest_wilcoxon_p`: whether two models
  measured on the same seeds differ.

scipy does the distribution work; the only procedures written out here are the two it lacks:
Holm's adjustment and the exact signed-rank distribution under tied ranks. Inputs are plain
numbers and sequences, results plain floats and small frozen dataclasses, so callers decide how
to present them. scipy is imported inside the functions that need it, so importing this module
(and :mod:`mnist_lib.metrics`, which uses it) costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "McNemarResult",
    "Spread",
    "holm",
    "mcnemar",
    "paired_t",
    "smallest_wilcoxon_p",
    "spread",
    "wilcoxon_exact",
    "wilson_interval",
]

# Below this many discordant pairs the chi-square approximation of McNemar's
# test is poor, so the exact binomial test is used instead.
MCNEMAR_EXACT_BELOW = 25
METHOD_EXACT = "exact binomial (two-sided)"
METHOD_CHI2 = "chi-square with continuity correction"
# Paired differences are rounded to this many decimals before ranking, so that equal differences of
# percentages (0.1 from 97.1 - 97.0 and from 97.3 - 97.2) tie instead of differing in float noise.
DIFFERENCE_DECIMALS = 9


def _scipy_stats():
    """scipy.stats, imported when first needed."""
    # scipy.stats costs ~1 s to import; a notebook that tests nothing never pays it.
    from scipy import stats

    return stats


# --------------------------------------------------------------------------- a proportion


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval ``(low, high)`` of the proportion behind ``successes`` out of ``n`` trials.

    Unlike the normal-approximation interval it stays inside ``[0, 1]`` and is not empty at
    ``successes = 0`` or ``n``, where the bound on that side is exactly 0 or 1. ``confidence`` is the
    two-sided level in ``(0, 1)``; ValueError on a count outside ``0..n`` or ``n < 1``.
    """
    if n < 1 or int(n) != n:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if successes < 0 or successes > n or int(successes) != successes:
        raise ValueError(f"successes must be an integer in 0..n (0..{n}), got {successes!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in the open interval (0, 1), got {confidence!r}")
    # scipy.special costs ~0.3 s to import (scipy.stats, ~1 s, is not needed for one quantile); a notebook
    # that reports no accuracy never pays it.
    from scipy.special import ndtri

    n = int(n)
    p = successes / n
    z = float(ndtri(0.5 + confidence / 2.0))
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = (z / denom) * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    # The bounds are exactly 0 / 1 at k=0 / k=n in exact arithmetic; rounding must not move them out.
    low = 0.0 if successes == 0 else min(max(centre - half, 0.0), 1.0)
    high = 1.0 if successes == n else min(max(centre + half, 0.0), 1.0)
    return low, high


# --------------------------------------------------------------------------- a handful of values


@dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation and two-sided t-interval ``[low, high]`` of the mean of ``n``
    values, at level ``confidence``; sd and interval are nan below two values, everything is nan at none."""

    n: int
    mean: float
    sd: float
    low: float
    high: float
    confidence: float

    @property
    def standard_error(self) -> float:
        """sd / sqrt(n): 0 for a single value (no spread to measure), nan for none."""
        return self.sd / math.sqrt(self.n) if self.n > 1 else (0.0 if self.n == 1 else math.nan)

    def text(self, unit: str = "%", digits: int = 2) -> str:
        """"98.12 ± 0.05% over 5 seeds"."""
        if self.n == 0:
            return "no successful run"
        if self.n == 1:
            return f"{self.mean:.{digits}f}{unit} (one run: no spread)"
        return f"{self.mean:.{digits}f} ± {self.sd:.{digits}f}{unit} over {self.n} seeds"


def spread(values: Sequence[float | None], confidence: float = 0.95) -> Spread:
    """The :class:`Spread` of the finite ``values`` (None and nan are left out: a failed run has none):
    sd with ``n - 1`` in the denominator, t-interval with ``n - 1`` degrees of freedom."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    n = len(x)
    if n == 0:
        return Spread(0, math.nan, math.nan, math.nan, math.nan, confidence)
    mean = float(x.mean())
    if n == 1:
        return Spread(1, mean, math.nan, math.nan, math.nan, confidence)
    sd = float(x.std(ddof=1))
    # The quantile times the standard error rather than scipy's t.interval, which is nan for equal values.
    half = float(_scipy_stats().t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n)
    return Spread(n, mean, sd, mean - half, mean + half, confidence)


# --------------------------------------------------------------------------- two classifiers, same examples


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on two models' predictions for the same examples.

    ``b``: A right and B wrong; ``c``: A wrong and B right. ``statistic`` is
    ``min(b, c)`` for the exact test and the chi-square value otherwise;
    ``method`` names which of the two was used.
    """

    b: int
    c: int
    statistic: float
    p_value: float
    method: str


def mcnemar(b: int, c: int, exact: bool | None = None) -> McNemarResult:
    """McNemar's test of equal error rates from the discordant counts ``b`` and ``c``.

    ``exact``: ``True`` for the exact two-sided binomial test of ``min(b, c)`` out of ``b + c``
    with p = 1/2; ``False`` for chi-square (1 dof) with continuity correction; ``None`` for exact
    below :data:`MCNEMAR_EXACT_BELOW` discordant pairs, chi-square from there on.

    With no discordant pairs (``b + c == 0``) the p-value is 1 in both branches. The continuity
    correction is floored at zero, so ``b == c`` gives a chi-square statistic of 0 and a p-value of 1.
    """
    if exact is not None and not isinstance(exact, (bool, np.bool_)):
        raise ValueError(f"exact must be True, False or None, got {exact!r}")
    for name, count in (("b", b), ("c", c)):
        if isinstance(count, bool) or int(count) != count or count < 0:
            raise ValueError(f"{name} must be a count (an integer >= 0), got {count!r}")
    b, c = int(b), int(c)
    discordant = b + c
    use_exact = discordant < MCNEMAR_EXACT_BELOW if exact is None else bool(exact)
    method = METHOD_EXACT if use_exact else METHOD_CHI2
    if discordant == 0:
        return McNemarResult(b, c, 0.0, 1.0, method)
    stats = _scipy_stats()
    if use_exact:
        p_value = stats.binomtest(min(b, c), discordant, 0.5).pvalue
        return McNemarResult(b, c, float(min(b, c)), float(p_value), method)
    statistic = max(abs(b - c) - 1.0, 0.0) ** 2 / discordant
    return McNemarResult(b, c, float(statistic), float(stats.chi2.sf(statistic, 1)), method)


# --------------------------------------------------------------------------- several tests at once


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of ``p_values`` (same order, each capped at 1).

    A nan p-value (a test that could not be run) stays nan and is not counted in the family, so it
    neither gets nor causes an adjustment. scipy has no Holm; ``statsmodels``' ``multipletests``
    (method ``"holm"``) gives the same numbers.
    """
    p = np.asarray(p_values, dtype=float)
    finite = np.flatnonzero(np.isfinite(p))
    adjusted = np.full(len(p), np.nan)
    running = 0.0
    # The k-th smallest of m p-values is multiplied by m - k + 1; the running maximum keeps the order.
    for rank, i in enumerate(finite[np.argsort(p[finite], kind="stable")]):
        running = max(running, min(1.0, (len(finite) - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


# --------------------------------------------------------------------------- two models, same seeds


def paired_t(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Paired t-test of ``a - b``: (t statistic, two-sided p).

    Where scipy would divide by zero the answer is given directly: nan and nan for fewer than two
    pairs; when every difference is the same, p is 1 (with a nan statistic) if they are all zero,
    else 0 (with an infinite statistic of their sign).
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = x - y
    if len(d) < 2:
        return math.nan, math.nan
    if d.std(ddof=1) == 0:
        return (math.nan, 1.0) if d.mean() == 0 else (math.copysign(math.inf, d.mean()), 0.0)
    result = _scipy_stats().ttest_rel(x, y)
    return float(result.statistic), float(result.pvalue)


def smallest_wilcoxon_p(n: int) -> float:
    """The smallest two-sided p-value the exact Wilcoxon signed-rank test can give with ``n`` non-zero
    paired differences (every one the same sign): 2 / 2^n, at most 1; nan for ``n < 1``."""
    return min(1.0, 2 / 2**n) if n > 0 else math.nan


def wilcoxon_exact(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """Exact two-sided Wilcoxon signed-rank test of ``a - b``: (W, p, smallest possible p).

    Differences are rounded to 9 decimals (float noise must not break ties) and zero differences
    are dropped (Wilcoxon's rule); W is the smaller of the positive and negative rank sums. The
    p-value is exact: scipy's exact null distribution when the absolute differences are distinct;
    with ties (mid-ranks), the distribution of the rank sum over every sign pattern
    (:func:`_tied_signed_rank_p`). All three are nan when no difference is left.
    """
    d = np.round(np.asarray(a, dtype=float) - np.asarray(b, dtype=float), DIFFERENCE_DECIMALS)
    d = d[d != 0]
    if len(d) == 0:
        return math.nan, math.nan, math.nan
    stats = _scipy_stats()
    if len(np.unique(np.abs(d))) == len(d):
        result = stats.wilcoxon(d, method="exact")
        return float(result.statistic), float(result.pvalue), smallest_wilcoxon_p(len(d))
    doubled = np.rint(2 * stats.rankdata(np.abs(d))).astype(int)  # mid-ranks are multiples of 1/2
    w_plus, total = int(doubled[d > 0].sum()), int(doubled.sum())
    return min(w_plus, total - w_plus) / 2, _tied_signed_rank_p(doubled, w_plus), smallest_wilcoxon_p(len(d))


def _tied_signed_rank_p(doubled_ranks: np.ndarray, w_plus: int) -> float:
    """Two-sided p of the positive rank sum ``w_plus`` over all 2^n sign patterns of ``doubled_ranks``
    (twice the mid-ranks, so integers), counted exactly.

    What ``scipy.stats.wilcoxon`` with ``PermutationMethod(n_resamples=np.inf)`` gives; scipy's
    ``method="exact"`` assumes distinct ranks, and its permutation method enumerates the patterns one
    by one (half a minute at 18 pairs), where counting rank sums takes n times their total steps.
    """
    counts = np.zeros(int(doubled_ranks.sum()) + 1, dtype=object)  # Python integers: exact for any n
    counts[0] = 1
    for r in doubled_ranks:
        shifted = np.zeros_like(counts)
        shifted[r:] = counts[: len(counts) - r]
        counts = counts + shifted
    total = len(counts) - 1
    # The null distribution is symmetric about total / 2: as extreme means as far from it, either side.
    extreme = np.abs(2 * np.arange(total + 1) - total) >= abs(2 * w_plus - total)
    return min(1.0, float(sum(counts[extreme]) / 2 ** len(doubled_ranks)))

