"""Mann–Kendall and Theil–Sen against published and hand-worked figures, plus invariants."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from cinb.errors import UsageError
from cinb.trends import mann_kendall, theil_sen, trend_summary

# Published worked example ("A Mann-Kendall Example (By Hand)", College of the Holy Cross,
# mathcs.holycross.edu/~little/Montserrat/MannKendallByHand.txt): 91 pairs, 72 up, 18 down, 1 tie,
# S = 54, V = 14·13·33/18 − 2·1·9/18, Z = (S − 1)/√V = 2.9058, one-sided p ≈ 0.0018.
HOLY_CROSS = [12.9, 14.8, 13.2, 15.7, 13.8, 15.6, 12.9, 11.0, 17.3, 15.9, 19.0, 18.3, 20.1, 21.7]


def test_mann_kendall_published_example():
    mk = mann_kendall(HOLY_CROSS)
    assert mk.n == 14
    assert mk.s == 54
    assert mk.var_s == pytest.approx(14 * 13 * 33 / 18 - 2 * 1 * 9 / 18)
    assert mk.z == pytest.approx(2.9058, abs=5e-5)
    # the page quotes the one-sided p; ours is two-sided
    assert mk.p_value / 2 == pytest.approx(0.0018, abs=5e-5)
    assert mk.trend == "increasing"
    assert mk.reason is None


def test_mann_kendall_hand_worked_with_ties():
    # 5 3 3 4 6 6: signs from each value to later ones
    #   5: − − − + +  = −1;  3: 0 + + + = +3;  3: + + + = +3;  4: + + = +2;  6: 0 = 0   → S = 7
    # tied groups {3,3} and {6,6}: var = [6·5·17 − 2·(2·1·9)] / 18 = 474/18
    # z = (7 − 1)/√(474/18) = 1.16923; p = 0.24231; tau_b = 7/√(15·(15 − 2)) = 0.50128
    mk = mann_kendall([5, 3, 3, 4, 6, 6])
    assert mk.s == 7
    assert mk.var_s == pytest.approx(474 / 18)
    assert mk.z == pytest.approx(6 / math.sqrt(474 / 18))
    assert mk.p_value == pytest.approx(0.24231, abs=1e-5)
    assert mk.tau == pytest.approx(0.50128, abs=1e-5)
    assert mk.trend == "no trend"


def test_mann_kendall_tau_and_variance_agree_with_scipy_kendalltau():
    # scipy's asymptotic Kendall test (no continuity correction) against time positions: its p-value
    # implies var(S), which must equal our tie-corrected var(S); its tau-b must equal ours.
    rng = np.random.default_rng(7)
    y = np.round(rng.normal(size=30) + np.linspace(0, 1, 30), 1)  # rounding creates ties
    mk = mann_kendall(y)
    ref = stats.kendalltau(np.arange(30), y, method="asymptotic")
    assert mk.tau == pytest.approx(ref.statistic)
    implied_sd = abs(mk.s) / stats.norm.isf(ref.pvalue / 2)
    assert mk.var_s == pytest.approx(implied_sd**2, rel=1e-9)
    assert len(np.unique(y)) < 30  # the case really has ties


def test_mann_kendall_strictly_decreasing():
    mk = mann_kendall(list(range(10, 0, -1)))
    assert mk.s == -45
    assert mk.var_s == pytest.approx(10 * 9 * 25 / 18)
    assert mk.z == pytest.approx(-44 / math.sqrt(125))
    assert mk.trend == "decreasing"
    assert mk.tau == pytest.approx(-1.0)


def test_mann_kendall_drops_missing_values_keeping_order():
    mk = mann_kendall([1, float("nan"), 2, 3, None, 4])
    assert (mk.n, mk.s) == (4, 6)


def test_mann_kendall_sorts_a_period_indexed_series():
    idx = pd.PeriodIndex(["2025-04", "2025-03", "2025-02", "2025-01"], freq="M")
    mk = mann_kendall(pd.Series([4.0, 3.0, 2.0, 1.0], index=idx))
    assert mk.s == 6


def test_mann_kendall_too_short_and_constant():
    short = mann_kendall([1, 2, 3])
    assert short.trend == "no trend"
    assert math.isnan(short.p_value)
    assert "fewer than 4" in short.reason
    flat = mann_kendall([5, 5, 5, 5, 5])
    assert (flat.s, flat.var_s, flat.p_value, flat.trend) == (0, 0.0, 1.0, "no trend")
    assert flat.reason == "all values are equal"


def test_mann_kendall_rejects_bad_alpha():
    with pytest.raises(UsageError, match="alpha"):
        mann_kendall([1, 2, 3, 4], alpha=5)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=-5, max_value=5), min_size=2, max_size=40))
def test_mann_kendall_reversal_flips_s(values):
    forward, backward = mann_kendall(values), mann_kendall(values[::-1])
    assert backward.s == -forward.s
    assert backward.var_s == pytest.approx(forward.var_s)
    assert abs(forward.s) <= len(values) * (len(values) - 1) // 2


# ----------------------------------------------------------------------------------------------- Theil–Sen


def test_theil_sen_hand_worked_with_interval():
    # y = 1 3 2 5 4 6 8 7 at x = 0..7: the 28 pairwise slopes sorted are
    # −1 −1 −1 1/3 ½ ½ ½ ½ ⅔ ¾ ¾ 6/7 1 1 1 1 1 1 1 7/6 4/3 4/3 3/2 2 2 2 2 3 → median 1;
    # intercept = median(y) − 1·median(x) = 4.5 − 3.5 = 1.
    # Sen (1968) 95% interval as set out in Gilbert (1987, §16.5): C = z·σ with σ² = 8·7·21/18, so
    # C = 1.96·8.083 = 15.84; M1 = (N' − C)/2 = 6.08 and M2 + 1 = (N' + C)/2 + 1 = 22.92; the limits are the
    # M1-th (6th) and (M2 + 1)-th (23rd) smallest slopes, ranks rounded: ½ and 3/2.
    ts = theil_sen([1, 3, 2, 5, 4, 6, 8, 7])
    assert ts.slope == pytest.approx(1.0)
    assert ts.intercept == pytest.approx(1.0)
    assert ts.low == pytest.approx(0.5)
    assert ts.high == pytest.approx(1.5)
    assert (ts.n, ts.confidence) == (8, 0.95)


def test_theil_sen_missing_months_count_as_gaps():
    idx = pd.PeriodIndex(["2025-01", "2025-02", "2025-05"], freq="M")
    assert theil_sen(pd.Series([0.0, 1.0, 4.0], index=idx)).slope == pytest.approx(1.0)
    # the same values as a plain gapless sequence: slopes 1, 2, 3 → 2
    assert theil_sen([0.0, 1.0, 4.0]).slope == pytest.approx(2.0)
    # a None in a plain sequence is a missing month, so it keeps its place
    assert theil_sen([0.0, 1.0, None, None, 4.0]).slope == pytest.approx(1.0)


def test_theil_sen_explicit_x_and_short_series():
    ts = theil_sen([10, 20, 30], x=[0, 2, 4])
    assert ts.slope == pytest.approx(5.0)
    assert ts.intercept == pytest.approx(10.0)
    one = theil_sen([3.0])
    assert math.isnan(one.slope) and one.n == 1
    with pytest.raises(UsageError, match="x has 2 values"):
        theil_sen([1, 2, 3], x=[0, 1])


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=-1000, max_value=1000),
    st.integers(min_value=-10**6, max_value=10**6),
    st.integers(min_value=2, max_value=40),
)
def test_theil_sen_slope_of_a_straight_line_is_exact(a, b, n):
    x = np.arange(n)
    ts = theil_sen(a * x + b)
    assert ts.slope == a
    assert ts.intercept == b


@settings(max_examples=40, deadline=None)
@given(
    st.floats(min_value=-50, max_value=50, allow_nan=False),
    st.floats(min_value=-1e3, max_value=1e3, allow_nan=False),
    st.integers(min_value=2, max_value=30),
)
def test_theil_sen_slope_of_a_float_line(a, b, n):
    ts = theil_sen(a * np.arange(n) + b)
    assert ts.slope == pytest.approx(a, rel=1e-9, abs=1e-9)


# ------------------------------------------------------------------------------------------- trend summary


RISING = [90.0, 90.4, 91.1, 90.9, 91.8, 92.0, 92.6, 92.4, 93.1, 93.5, 93.4, 94.2]


def test_trend_summary_direction_decides_the_verdict():
    up_good = trend_summary(RISING, "higher", unit="%")
    assert up_good.verdict == "improving"
    assert up_good.slope_per_year == pytest.approx(12 * up_good.slope_per_month)
    assert up_good.slope_per_month == pytest.approx(theil_sen(RISING).slope)
    assert up_good.sentence.startswith("Improving: rising by ")
    assert "percentage points a month" in up_good.sentence
    assert "higher is better" in up_good.sentence

    up_bad = trend_summary(RISING, "lower")
    assert up_bad.verdict == "worsening"
    assert trend_summary(RISING[::-1], "lower").verdict == "improving"
    assert trend_summary(RISING[::-1], "higher").verdict == "worsening"


def test_trend_summary_without_a_trend():
    flat = trend_summary([5, 6, 5, 6, 5, 6, 5, 6], "higher", unit="hours")
    assert flat.verdict == "no significant trend"
    assert flat.sentence.startswith("No significant trend over 8 reported months")
    short = trend_summary([1, 2], "higher")
    assert short.verdict == "no significant trend"
    assert "Too few reported months" in short.sentence


def test_trend_summary_rejects_unknown_direction():
    with pytest.raises(UsageError, match="direction"):
        trend_summary(RISING, "up")
