"""mnist_lib.stats against scipy's and statsmodels' own answers and hand-computed values, edge cases
included: no or every success, one value, nan p-values, all-zero and tied paired differences."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as sp
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests

from mnist_lib import stats

EXACT_PERMUTATIONS = sp.PermutationMethod(n_resamples=np.inf)


@pytest.mark.slow  # a fresh interpreter
def test_importing_the_statistics_loads_no_scipy():
    code = "import sys, mnist_lib.stats; print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --------------------------------------------------------------------------- Wilson interval


@pytest.mark.parametrize("n", [1, 2, 7, 20, 263, 10000])
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_wilson_is_scipys_wilson_interval(n, confidence):
    for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
        ref = sp.binomtest(k, n).proportion_ci(confidence, method="wilson")
        assert stats.wilson_interval(k, n, confidence) == (pytest.approx(ref.low, abs=1e-12),
                                                          pytest.approx(ref.high, abs=1e-12))


def _wilson_by_quadratic(k: int, n: int, z: float) -> tuple[float, float]:
    """Wilson bounds as the roots of (p_hat - p)^2 = z^2 p (1 - p) / n."""
    p_hat = k / n
    a = 1 + z * z / n
    b = -(2 * p_hat + z * z / n)
    c = p_hat * p_hat
    disc = math.sqrt(b * b - 4 * a * c)
    return (-b - disc) / (2 * a), (-b + disc) / (2 * a)


def test_wilson_matches_textbook_formula_for_9873_of_10000():
    low, high = stats.wilson_interval(9873, 10000)
    exp_low, exp_high = _wilson_by_quadratic(9873, 10000, 1.959963984540054)
    assert low == pytest.approx(exp_low, abs=1e-12)
    assert high == pytest.approx(exp_high, abs=1e-12)
    assert low == pytest.approx(0.98491, abs=1e-5)
    assert high == pytest.approx(0.98932, abs=1e-5)


@pytest.mark.parametrize(
    "k, n, expected",
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3.
    [
        (81, 263, (0.2553, 0.3662)),
        (15, 148, (0.0624, 0.1605)),
        (0, 20, (0.0, 0.1611)),
        (1, 29, (0.0061, 0.1718)),
    ],
)
def test_wilson_matches_published_values(k, n, expected):
    low, high = stats.wilson_interval(k, n)
    assert (round(low, 4), round(high, 4)) == expected


@pytest.mark.parametrize("n", [1, 5, 10, 10000])
def test_wilson_edge_cases_stay_in_unit_interval(n):
    low0, high0 = stats.wilson_interval(0, n)
    assert low0 == 0.0 and 0.0 < high0 < 1.0
    lown, highn = stats.wilson_interval(n, n)
    assert highn == 1.0 and 0.0 < lown < 1.0
    # Symmetry: k successes mirror n - k failures.
    assert lown == pytest.approx(1.0 - high0, abs=1e-12)


def test_wilson_wider_for_higher_confidence():
    low95, high95 = stats.wilson_interval(50, 100, 0.95)
    low99, high99 = stats.wilson_interval(50, 100, 0.99)
    assert low99 < low95 < 0.5 < high95 < high99


@pytest.mark.parametrize(
    "args", [(1, 0), (-1, 10), (11, 10), (2.5, 10), (5, 10, 0.0), (5, 10, 1.0), (5, 10, 95)]
)
def test_wilson_rejects_bad_arguments(args):
    with pytest.raises(ValueError):
        stats.wilson_interval(*args)


# --------------------------------------------------------------------------- spread of a few values


def test_spread_is_the_mean_sd_and_t_interval_scipy_gives():
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 10):
        for confidence in (0.9, 0.95):
            x = rng.normal(98, 0.3, n)
            s = stats.spread(x, confidence)
            low, high = sp.t.interval(confidence, n - 1, loc=x.mean(), scale=sp.sem(x))
            assert (s.n, s.mean, s.sd) == (n, pytest.approx(x.mean()), pytest.approx(x.std(ddof=1)))
            assert (s.low, s.high) == (pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12))
            assert s.confidence == confidence
    assert stats.spread([98.0, 98.2, 98.1, 98.3, 97.9]).text() == "98.10 ± 0.16% over 5 seeds"
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.mean = 0.0  # type: ignore[misc]


def test_spread_of_one_value_none_and_failed_runs():
    one = stats.spread([97.5])
    assert one.n == 1 and one.mean == 97.5 and math.isnan(one.sd) and math.isnan(one.low)
    assert "one run" in one.text()
    none = stats.spread([])
    assert none.n == 0 and math.isnan(none.mean) and none.text() == "no successful run"
    # a failed run has no value (None or nan) and is left out
    assert stats.spread([98.0, None, float("nan"), 98.2]) == stats.spread([98.0, 98.2])
    same = stats.spread([97.0, 97.0, 97.0])
    assert (same.sd, same.low, same.high) == (0.0, 97.0, 97.0)


# --------------------------------------------------------------------------- McNemar


def test_mcnemar_p_values_are_statsmodels_in_both_branches():
    for b, c in [(0, 1), (1, 0), (3, 10), (7, 7), (12, 12), (13, 12), (30, 10), (10, 30), (55, 41), (200, 3)]:
        table = [[20, b], [c, 5]]
        # statsmodels does not floor the continuity correction at zero, so b == c differs there (see below)
        for exact in (True, False) if b != c else (True,):
            ref = sm_mcnemar(table, exact=exact, correction=True)
            result = stats.mcnemar(b, c, exact)
            assert (result.statistic, result.p_value) == (pytest.approx(ref.statistic, rel=1e-12),
                                                          pytest.approx(ref.pvalue, rel=1e-12))


def test_the_exact_p_value_is_scipys_binomial_test():
    for n in [*range(1, 31), 79, 80, 257, 1000]:  # every small table, and the sizes of real comparisons
        for k in sorted({*range(min(n, 30) + 1), n // 2, n - 1, n}):
            result = stats.mcnemar(k, n - k, exact=True)
            expected = sp.binomtest(min(k, n - k), n, 0.5).pvalue
            assert result.p_value == pytest.approx(expected, rel=1e-12) and result.p_value <= 1.0


def test_mcnemar_exact_branch_hand_computed():
    res = stats.mcnemar(3, 10)
    # Two-sided exact: 2 * P(X <= 3), X ~ Binomial(13, 1/2).
    expected = 2 * sum(math.comb(13, i) for i in range(4)) / 2**13
    assert (res.b, res.c) == (3, 10)
    assert res.p_value == pytest.approx(expected)
    assert res.statistic == 3.0
    assert res.method == stats.METHOD_EXACT and "exact" in res.method


def test_mcnemar_chi_square_branch_hand_computed():
    res = stats.mcnemar(30, 10)
    stat = (abs(30 - 10) - 1) ** 2 / 40
    # Survival function of chi-square with 1 dof is erfc(sqrt(x / 2)).
    assert res.statistic == pytest.approx(9.025)
    assert res.statistic == pytest.approx(stat)
    assert res.p_value == pytest.approx(math.erfc(math.sqrt(stat / 2)))
    assert res.method == stats.METHOD_CHI2 and "chi-square" in res.method and "continuity" in res.method


def test_mcnemar_branch_choice_and_override():
    assert stats.MCNEMAR_EXACT_BELOW == 25
    assert "exact" in stats.mcnemar(12, 12).method  # b + c = 24 < 25 -> exact
    assert "chi-square" in stats.mcnemar(13, 12).method  # b + c = 25 -> chi-square
    forced = stats.mcnemar(13, 12, exact=True)
    assert "exact" in forced.method
    expected = 2 * sum(math.comb(25, i) for i in range(13)) / 2**25
    assert forced.p_value == pytest.approx(min(expected, 1.0))
    assert "chi-square" in stats.mcnemar(3, 10, exact=False).method


def test_mcnemar_symmetry_and_degenerate_cases():
    ab, ba = stats.mcnemar(30, 10), stats.mcnemar(10, 30)
    assert (ba.b, ba.c) == (ab.c, ab.b) and ba.p_value == pytest.approx(ab.p_value)
    # No discordant pairs: nothing to test, p = 1 in both branches.
    for exact in (None, True, False):
        res = stats.mcnemar(0, 0, exact)
        assert (res.b, res.c, res.statistic, res.p_value) == (0, 0, 0.0, 1.0)
    # b == c under chi-square: continuity correction floored at 0.
    res = stats.mcnemar(20, 20)
    assert res.statistic == 0.0 and res.p_value == 1.0


@pytest.mark.parametrize("b, c, exact, match", [(1, 2, "yes", "exact"), (-1, 2, None, "b must"),
                                                (1, 2.5, None, "c must"), (True, 2, None, "b must")])
def test_mcnemar_validates(b, c, exact, match):
    with pytest.raises(ValueError, match=match):
        stats.mcnemar(b, c, exact)


# --------------------------------------------------------------------------- Holm


def test_holm_is_statsmodels_holm():
    rng = np.random.default_rng(2)
    for m in (1, 2, 3, 5, 10, 40):
        p = rng.uniform(0, 0.2, m) ** 2
        assert stats.holm(p) == pytest.approx(multipletests(p, method="holm")[1].tolist(), rel=1e-12)
    ties = [0.01, 0.01, 0.04, 0.5, 0.5, 1.0]
    assert stats.holm(ties) == pytest.approx(multipletests(ties, method="holm")[1].tolist(), rel=1e-12)


def test_holm_adjustment_matches_hand_computation():
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, 2*0.03, max(0.06, 1*0.04)
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.4, 0.6]) == [0.8, 0.8]  # capped at 1, kept monotone
    assert stats.holm([0.6, 0.7]) == [1.0, 1.0]


def test_holm_leaves_nan_out_of_the_family():
    p = [0.5, float("nan"), 0.2, float("nan"), 0.01]
    adjusted = stats.holm(p)
    finite = [0.5, 0.2, 0.01]
    assert math.isnan(adjusted[1]) and math.isnan(adjusted[3])
    assert [adjusted[0], adjusted[2], adjusted[4]] == pytest.approx(multipletests(finite, method="holm")[1].tolist())
    assert stats.holm([0.5, float("nan"), 0.2]) == [pytest.approx(0.5), pytest.approx(float("nan"), nan_ok=True),
                                                    pytest.approx(0.4)]
    assert all(math.isnan(v) for v in stats.holm([float("nan")] * 3))
    assert stats.holm([]) == []


# --------------------------------------------------------------------------- paired t and Wilcoxon


def test_paired_t_and_exact_wilcoxon_agree_with_scipy():
    rng = np.random.default_rng(1)
    for n in (2, 3, 5, 8, 12):
        a = rng.normal(97.5, 0.2, n)
        b = a - rng.normal(0.2, 0.2, n)
        t_stat, t_p = stats.paired_t(a, b)
        ref = sp.ttest_rel(a, b)
        assert t_stat == pytest.approx(ref.statistic, rel=1e-10) and t_p == pytest.approx(ref.pvalue, rel=1e-10)
        w, p, smallest = stats.wilcoxon_exact(a, b)
        ref = sp.wilcoxon(a, b, method="exact")
        assert w == ref.statistic and p == pytest.approx(ref.pvalue, rel=1e-12)
        assert smallest == stats.smallest_wilcoxon_p(n) == min(1, 2 / 2**n)


def test_exact_wilcoxon_with_ties_and_zeros_enumerates_every_sign_pattern():
    # ties and a zero difference: exact enumeration over sign patterns, as scipy's permutation method
    a = np.array([10, 12, 11, 15, 9, 14, 13], dtype=float)
    b = np.array([9, 11, 12, 13, 9, 12, 10], dtype=float)
    w, p, smallest = stats.wilcoxon_exact(a, b)
    ref = sp.wilcoxon(a, b, method=EXACT_PERMUTATIONS)
    assert w == ref.statistic and p == pytest.approx(ref.pvalue, rel=1e-12)
    assert smallest == stats.smallest_wilcoxon_p(6)  # the zero difference is dropped
    # float noise does not break a tie: 97.3 - 97.2 and 97.1 - 97.0 tie as 0.1 does with 0.1
    assert stats.wilcoxon_exact([97.3, 97.1, 98.0], [97.2, 97.0, 97.7])[1] == pytest.approx(
        sp.wilcoxon([1, 1, 3], [0, 0, 0], method=EXACT_PERMUTATIONS).pvalue)
    # every difference tied
    assert stats.wilcoxon_exact([2, 2, 2, 2], [1, 1, 1, 1])[:2] == (0.0, 0.125)
    # accuracies with two decimals tie often; twelve seeds, several ties, both signs
    rng = np.random.default_rng(3)
    a, b = np.round(97 + rng.normal(0, 0.1, 12), 1), np.round(97 + rng.normal(0, 0.1, 12), 1)
    w, p, _ = stats.wilcoxon_exact(a, b)
    ref = sp.wilcoxon(np.round(a - b, 9), method=EXACT_PERMUTATIONS)
    assert w == ref.statistic and p == pytest.approx(ref.pvalue, rel=1e-12)


def test_counting_tied_rank_sums_is_scipys_exact_distribution_without_ties():
    rng = np.random.default_rng(4)
    for n in (1, 2, 5, 9, 15):
        d = rng.permutation(np.arange(1, n + 1)) * rng.choice([-1, 1], n)  # |d| are the ranks themselves
        w_plus = int(2 * np.abs(d)[d > 0].sum())
        assert stats._tied_signed_rank_p(2 * np.arange(1, n + 1), w_plus) == pytest.approx(
            sp.wilcoxon(d, method="exact").pvalue, rel=1e-12)


def test_forty_tied_seeds_are_counted_not_enumerated():
    # 2^40 sign patterns: enumerating them would never finish; counting rank sums takes milliseconds
    assert stats.wilcoxon_exact(np.full(40, 98.0), np.full(40, 97.5))[1:] == (2 / 2**40, 2 / 2**40)


def test_the_smallest_wilcoxon_p_is_reached_when_every_seed_agrees():
    # five seeds, all in one direction: the smallest p the test can give, 0.0625
    assert stats.wilcoxon_exact([2, 3, 4, 5, 6], [1, 1, 1, 1, 1])[1:] == (0.0625, 0.0625)
    for n in range(1, 12):
        a = np.arange(n, dtype=float) + 1
        assert stats.wilcoxon_exact(a, np.zeros(n))[1] == stats.smallest_wilcoxon_p(n)
    assert (stats.smallest_wilcoxon_p(1), stats.smallest_wilcoxon_p(2)) == (1.0, 0.5)
    assert stats.smallest_wilcoxon_p(6) == 2 / 64
    assert math.isnan(stats.smallest_wilcoxon_p(0))


def test_identical_samples_and_too_few_pairs():
    same = [97.0, 97.5, 98.0]
    t_stat, t_p = stats.paired_t(same, same)
    assert math.isnan(t_stat) and t_p == 1.0
    assert all(math.isnan(v) for v in stats.wilcoxon_exact(same, same))
    # every difference the same, not zero: the t statistic is infinite, p is 0
    assert stats.paired_t([2.0, 3.0, 4.0], [1.0, 2.0, 3.0]) == (math.inf, 0.0)
    assert stats.paired_t([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]) == (-math.inf, 0.0)
    # one pair: no t-test; Wilcoxon on one difference can only say p = 1
    assert all(math.isnan(v) for v in stats.paired_t([98.0], [97.0]))
    assert stats.wilcoxon_exact([98.0], [97.0]) == (0.0, 1.0, 1.0)
    assert all(math.isnan(v) for v in stats.paired_t([], []))
    assert all(math.isnan(v) for v in stats.wilcoxon_exact([], []))
