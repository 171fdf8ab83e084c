"""Tests of cinb.spc against published NHSRplotthedots figures, hand-worked charts and invariants."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from cinb.errors import UsageError
from cinb.spc import (
    RunChartResult,
    XmrResult,
    anhoej_crossings_min,
    anhoej_longest_run_max,
    run_chart,
    xmr,
    xmr_many,
)

IMP, CON = "special_cause_improvement", "special_cause_concern"
HIGH, LOW = "special_cause_neutral_high", "special_cause_neutral_low"
CC = "common_cause"


def types(r: XmrResult) -> list:
    return r.points["point_type"].tolist()


def rules(r: XmrResult) -> list:
    return r.points["rule"].tolist()


def flagged(r: XmrResult) -> dict:
    """{position: (rule, point_type)} for every special-cause point."""
    p = r.points
    hit = p["rule"].notna()
    return dict(zip(p["position"][hit], zip(p["rule"][hit], p["point_type"][hit])))


# ---------------------------------------------------------------------------------------------------------------
# Published NHSRplotthedots figures
# ---------------------------------------------------------------------------------------------------------------

# R: set.seed(123); rnorm(20). NHSRplotthedots tests/testthat/_snaps/ptd_spc_standard.md prints the chart of
# these values with mean 0.142, lpl -3.01, upl 3.29; the issue quotes them to 7 figures.
RNORM_123 = [
    -0.56047565, -0.23017749, 1.55870831, 0.07050839, 0.12928774, 1.71506499, 0.46091621, -1.26506123,
    -0.68685285, -0.44566197, 1.22408180, 0.35981383, 0.40077145, 0.11068272, -0.55584113, 1.78691314,
    0.49785048, -1.96661716, 0.70135590, -0.47279141,
]


def test_rnorm_values_are_the_published_ones():
    # the mean is a property of the data alone: if it matches, the 20 values are the ones R drew
    assert sum(RNORM_123) / 20 == pytest.approx(0.1416238, abs=5e-8)


@pytest.mark.parametrize("screen", [True, False])
def test_rnorm_123_limits_match_nhsrplotthedots(screen):
    r = xmr(RNORM_123, screen_outliers=screen)
    assert r.mean == pytest.approx(0.1416238, abs=5e-8)
    assert r.lpl == pytest.approx(-3.01138, abs=5e-6)
    assert r.upl == pytest.approx(3.294627, abs=5e-7)
    # the largest moving range (2.668) is below 3.267 x 1.185, so screening drops nothing
    assert r.groups["n_mr_screened"].tolist() == [0]
    assert set(types(r)) == {CC}


# NHSRplotthedots vignettes/deviations.Rmd, "Treatment of outlying points":
#   data <- c(1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1)   (18 values)
# caption UPL 4.6 / mean 1.94 / LPL -0.72 by default (screened), 6.95 / 1.94 / -3.06 with screen_outliers=FALSE.
# (A 20-value version of the series has mean 38/20 = 1.90, so it is not the published one.)
VIGNETTE = [1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1]


def test_vignette_screened():
    # by hand: mean 35/18; moving ranges 1,1,1,8,9 then twelve 1s, mean 32/17 = 1.882; 3.267 x 1.882 = 6.15
    # drops 8 and 9, leaving fifteen 1s: mean MR 1, limits 35/18 +- 2.66
    r = xmr(VIGNETTE, screen_outliers=True)
    assert (round(r.upl, 2), round(r.mean, 2), round(r.lpl, 2)) == (4.60, 1.94, -0.72)
    assert r.upl == pytest.approx(35 / 18 + 2.66)
    assert r.groups.loc[0, ["n_mr", "n_mr_screened"]].tolist() == [15, 2]
    assert r.groups.loc[0, "mr_bar"] == pytest.approx(1.0)


def test_vignette_unscreened():
    r = xmr(VIGNETTE)
    assert (round(r.upl, 2), round(r.mean, 2), round(r.lpl, 2)) == (6.95, 1.94, -3.06)
    assert r.upl == pytest.approx(35 / 18 + 2.66 * 32 / 17)
    assert flagged(r) == {4: ("outside_limits", IMP)}


def test_opposite_sides_close_to_limits_is_common_cause():
    # NHSRplotthedots test-ptd_spc_standard.R: rep(c(1, -1), 8) with the last two set to 5.5 and -5.5: both
    # close to a limit but on opposite sides of the mean, so no 2-of-3 signal.
    data = [1, -1] * 8
    data[14], data[15] = 5.5, -5.5
    for variant in ("nhse-2023", "ptd-0.2"):
        r = xmr(data, screen_outliers=True, two_in_three=variant)
        # mean 0; MRs thirteen 2s, 6.5, 11 -> 11 screened -> mean MR 32.5/14; 5.5 > 2/3 x 2.66 x 2.32 = 4.12
        assert r.mean == 0
        assert r.points["upper_two_thirds"].iloc[-1] < 5.5 < r.upl
        assert types(r)[-2:] == [CC, CC]


# ---------------------------------------------------------------------------------------------------------------
# Hand-worked rules, each direction
# ---------------------------------------------------------------------------------------------------------------

# Outside the limits: 9/11 alternating, position 5 raised to 30 and position 15 lowered to -10.
# Sum 200 + 19 - 21 = 198 -> mean 9.9. MRs: nineteen 2s = 38, the spikes replace four 2s by 21, 21, 19, 19:
# 38 - 8 + 80 = 110 -> mean MR 110/19, 2.66 x 110/19 = 15.4 -> limits -5.5 and 25.3.
OUTSIDE = [9, 11, 9, 11, 9, 30, 9, 11, 9, 11, 9, 11, 9, 11, 9, -10, 9, 11, 9, 11]


def test_outside_limits_figures():
    r = xmr(OUTSIDE)
    assert r.mean == pytest.approx(9.9)
    assert r.groups.loc[0, "mr_bar"] == pytest.approx(110 / 19)
    assert (r.lpl, r.upl) == (pytest.approx(-5.5), pytest.approx(25.3))
    assert r.points["upper_two_thirds"].iloc[0] == pytest.approx(9.9 + 2 / 3 * 15.4)


@pytest.mark.parametrize(
    "improvement, high, low",
    [("increase", IMP, CON), ("decrease", CON, IMP), ("neutral", HIGH, LOW)],
)
def test_outside_limits_each_direction(improvement, high, low):
    r = xmr(OUTSIDE, improvement=improvement)
    assert flagged(r) == {5: ("outside_limits", high), 15: ("outside_limits", low)}


# Trend: 4/6 alternating around a rising 1..7 (positions 6-12). Mean 88/19 = 4.63; MRs 10 + 5 + 6 + 3 + 10 = 34
# over 18 -> 1.889, limits -0.39 / 9.66, two-thirds 1.28 / 7.98: only the 1 is close to a limit, no 2-of-3;
# the longest run on one side is 4. The low points 1-4 are labelled by the trend, not by their side.
TREND_UP = [4, 6, 4, 6, 4, 6, 1, 2, 3, 4, 5, 6, 7, 4, 6, 4, 6, 4, 6]
# mirrored: 7..1 falling. MRs 10 + 1 + 6 + 3 + 10 = 30 over 18; two-thirds 1.68 / 7.59.
TREND_DOWN = [4, 6, 4, 6, 4, 6, 7, 6, 5, 4, 3, 2, 1, 4, 6, 4, 6, 4, 6]


@pytest.mark.parametrize(
    "improvement, rising, falling",
    [("increase", IMP, CON), ("decrease", CON, IMP), ("neutral", HIGH, LOW)],
)
def test_trend_labelled_by_its_direction(improvement, rising, falling):
    up = xmr(TREND_UP, improvement=improvement)
    assert up.mean == pytest.approx(88 / 19)
    assert up.groups.loc[0, "mr_bar"] == pytest.approx(34 / 18)
    assert flagged(up) == {i: ("trend", rising) for i in range(6, 13)}
    down = xmr(TREND_DOWN, improvement=improvement)
    assert flagged(down) == {i: ("trend", falling) for i in range(6, 13)}


def test_equal_consecutive_values_break_a_trend():
    # 1,2,3,3,4,5,6,7: the equal pair leaves two shorter rises (3 and 5 points). Mean 91/20 = 4.55, MRs
    # 34/19, two-thirds 1.38 / 7.72: the 1 is the only point close to a limit; longest one-sided run 5.
    r = xmr([4, 6, 4, 6, 4, 6, 1, 2, 3, 3, 4, 5, 6, 7, 4, 6, 4, 6, 4, 6])
    assert r.mean == pytest.approx(4.55)
    assert set(types(r)) == {CC}
    # control: without the repeated 3 the same rise is a trend
    assert set(rules(xmr([4, 6, 4, 6, 4, 6, 1, 2, 3, 4, 5, 6, 7, 8, 4, 6, 4, 6, 4, 6]))) >= {"trend"}


# Two of three close to a limit: 9/11 alternating (20 points), positions 8 and 10 raised to 15.
# Sum 212 -> mean 10.6; MRs 38 + 4 x 2 = 46 over 19 -> 2.66 x 46/19 = 6.44: upl 17.04, two-thirds 14.893.
# Positions 8, 9, 10 are 15, 11, 15: all above the mean, two close to the upper limit. The 11 between them is
# not close to the limit, so it is not labelled (NHS England: "the third point would not trigger this rule").
TWO_OF_THREE = [9, 11] * 4 + [15, 11, 15, 11] + [9, 11] * 4


@pytest.mark.parametrize(
    "improvement, high, low",
    [("increase", IMP, CON), ("decrease", CON, IMP), ("neutral", HIGH, LOW)],
)
def test_two_in_three_each_direction(improvement, high, low):
    r = xmr(TWO_OF_THREE, improvement=improvement)
    assert r.mean == pytest.approx(10.6)
    assert r.points["upper_two_thirds"].iloc[0] == pytest.approx(10.6 + 2 / 3 * 2.66 * 46 / 19)
    assert r.upl == pytest.approx(10.6 + 2.66 * 46 / 19)
    assert flagged(r) == {8: ("two_in_three", high), 10: ("two_in_three", high)}
    # mirror image (20 - x): the same two points close to the lower limit
    mirror = xmr([20 - v for v in TWO_OF_THREE], improvement=improvement)
    assert flagged(mirror) == {8: ("two_in_three", low), 10: ("two_in_three", low)}


# Where the two variants differ: 9/11 alternating (30 points) with positions 16, 17, 18 = 17, 12, 25.
# Sum 300 + 8 + 1 + 16 = 325 -> mean 10.833; MRs 58 + 4 + 3 + 11 + 12 = 88 over 29 -> 2.66 x 3.0345 = 8.072:
# upl 18.905, two-thirds 16.215. 17 is close, 12 is above the mean only, 25 is beyond the limit.
BEYOND = [9, 11] * 8 + [17, 12, 25, 11] + [9, 11] * 5


def test_two_in_three_variants_differ_on_a_point_beyond_the_limit():
    nhse = xmr(BEYOND, two_in_three="nhse-2023")
    assert nhse.mean == pytest.approx(325 / 30)
    assert nhse.upl == pytest.approx(325 / 30 + 2.66 * 88 / 29)
    assert nhse.points["upper_two_thirds"].iloc[0] < 17 < nhse.upl < 25
    # nhse-2023: the point beyond the limit counts towards the 2, so 17 is special cause too
    assert flagged(nhse) == {16: ("two_in_three", IMP), 18: ("outside_limits", IMP)}
    # ptd-0.2: only points between two-thirds and the limit count: 17 stays common cause
    ptd = xmr(BEYOND, two_in_three="ptd-0.2")
    assert flagged(ptd) == {18: ("outside_limits", IMP)}


# Runs and ties. Mean exactly 10 by symmetry (sum 320 over 32 points). The high block 12,11,12,10,12,11,12
# follows an 11 and the low block 8,9,8,10,8,9,8 is followed by a 9: without the 10s each would be a run of 8.
# MRs 54/31 -> two-thirds 13.09 / 6.91, no point close to a limit; no trend.
TIED = [9, 11] * 3 + [12, 11, 12, 10, 12, 11, 12] + [9, 11] * 3 + [8, 9, 8, 10, 8, 9, 8] + [9, 11] * 3
# Control: the 10s replaced by 11 and 9 (sum still 320): runs at positions 5-12 (high) and 19-26 (low).
# MRs 50/31 -> two-thirds 12.86 / 7.14, still no point close to a limit.
RUNS = [9, 11] * 3 + [12, 11, 12, 11, 12, 11, 12] + [9, 11] * 3 + [8, 9, 8, 9, 8, 9, 8] + [9, 11] * 3


@pytest.mark.parametrize(
    "improvement, high, low",
    [("increase", IMP, CON), ("decrease", CON, IMP), ("neutral", HIGH, LOW)],
)
def test_run_of_seven_each_direction(improvement, high, low):
    r = xmr(RUNS, improvement=improvement)
    assert r.mean == 10
    assert r.groups.loc[0, "mr_bar"] == pytest.approx(50 / 31)
    expected = {i: ("run", high) for i in range(5, 13)}
    expected.update({i: ("run", low) for i in range(19, 27)})
    assert flagged(r) == expected


def test_a_point_on_the_mean_breaks_a_run():
    r = xmr(TIED)
    assert r.mean == 10
    assert r.points["value"].iloc[9] == r.mean
    assert set(types(r)) == {CC}


def test_run_of_six_is_not_a_signal():
    # 12,11,12,11,12 after an 11: six above the mean, then 9; later 8,9,8,9,8 after a 9: six below. Sum 300
    # over 30 -> mean 10; MRs 50 over 29 -> two-thirds 6.94 / 13.06, nothing close to a limit.
    data = [9, 11] * 3 + [12, 11, 12, 11, 12] + [9] + [9, 11] * 3 + [8, 9, 8, 9, 8] + [11] + [9, 11] * 3
    r = xmr(data)
    assert r.mean == 10
    assert set(types(r)) == {CC}


# ---------------------------------------------------------------------------------------------------------------
# Precedence
# ---------------------------------------------------------------------------------------------------------------

# A falling block 18..12 above the mean inside 16/4 alternation: x = [16,4]*5 + [18..12] + [4,16]*5.
# Sum 305 over 27 -> mean 11.30: the block (positions 10-16) is a run of 7 above the mean AND, with the 4 that
# follows, a falling trend of 8 (positions 10-17). MRs 108 + 14 + 6 + 8 + 108 = 244 over 26 -> limits
# -13.67 / 36.26, two-thirds -5.35 / 27.94: nothing close to a limit.
FALLING_HIGH = [16, 4] * 5 + [18, 17, 16, 15, 14, 13, 12] + [4, 16] * 5


def test_trend_takes_precedence_over_run():
    r = xmr(FALLING_HIGH)
    assert r.mean == pytest.approx(305 / 27)
    # the run alone would call these improvement (high, higher is better); the falling trend says concern
    assert flagged(r) == {i: ("trend", CON) for i in range(10, 18)}
    assert flagged(xmr(FALLING_HIGH, improvement="decrease")) == {i: ("trend", IMP) for i in range(10, 18)}


def test_outside_limits_takes_precedence_over_trend():
    # as above with the block 60,17,16,15,14,13,12: sum 347 -> mean 12.85; MRs 108 + 56 + 43 + 5 + 8 + 108 = 328
    # over 26 -> upl 12.85 + 33.56 = 46.41. 60 is beyond it and starts the falling trend 60..12,4.
    data = [16, 4] * 5 + [60, 17, 16, 15, 14, 13, 12] + [4, 16] * 5
    r = xmr(data)
    assert r.upl == pytest.approx(347 / 27 + 2.66 * 328 / 26)
    expected = {10: ("outside_limits", IMP)}
    expected.update({i: ("trend", CON) for i in range(11, 18)})
    assert flagged(r) == expected


def test_two_in_three_takes_precedence_over_run():
    # RUNS with positions 7 and 9 (11s in the high run) raised to 14: sum 326 -> mean 10.1875; MRs 50 + 4 x 1
    # = 54 over 31 -> two-thirds 10.1875 + 2/3 x 2.66 x 1.742 = 13.28, upl 14.82. 14, 12, 14 are close,
    # above, close: those two points are labelled two_in_three, the rest of the run stays run.
    data = list(RUNS)
    data[7] = data[9] = 14
    r = xmr(data)
    assert r.points["upper_two_thirds"].iloc[0] == pytest.approx(326 / 32 + 2 / 3 * 2.66 * 54 / 31)
    got = flagged(r)
    assert {i: got[i][0] for i in range(5, 13)} == {
        5: "run", 6: "run", 7: "two_in_three", 8: "run", 9: "two_in_three", 10: "run", 11: "run", 12: "run",
    }
    assert {got[i][1] for i in range(5, 13)} == {IMP}


def test_peak_shared_by_two_trends_takes_the_trend_that_ends_there():
    # 0/20 alternation widens the limits, then 1..7 and 6..0: the 7 ends a rising trend and starts a falling one.
    # Mean 129/22 = 5.86; MRs 7 x 20 + 19 + 13 = 172 over 21 -> limits -15.9 / 27.6, two-thirds -8.7 / 20.4;
    # the longest one-sided run is 6 (5,4,3,2,1,0).
    data = [0, 20] * 4 + [1, 2, 3, 4, 5, 6, 7, 6, 5, 4, 3, 2, 1, 0]
    r = xmr(data)
    assert r.upl == pytest.approx(129 / 22 + 2.66 * 172 / 21)
    assert rules(r) == [None] * 8 + ["trend"] * 14
    assert types(r) == [CC] * 8 + [IMP] * 7 + [CON] * 7


# ---------------------------------------------------------------------------------------------------------------
# Missing values
# ---------------------------------------------------------------------------------------------------------------


def test_moving_range_not_bridged_across_a_gap():
    r = xmr([1, 2, None, 5, 6])
    mr = r.points["mr"].tolist()
    assert math.isnan(mr[0]) and math.isnan(mr[2]) and math.isnan(mr[3])
    assert mr[1] == 1 and mr[4] == 1
    # mean 14/4; mean MR 1 (the 3 from 2 to 5 is not a moving range)
    assert r.mean == 3.5
    assert r.groups.loc[0, "mr_bar"] == 1
    assert r.groups.loc[0, ["n", "n_missing", "n_mr"]].tolist() == [4, 1, 2]


def test_missing_point_row():
    r = xmr(pd.Series([1.0, np.nan, 2.0, 1.0, np.nan]))
    p = r.points
    assert len(p) == 5
    assert math.isnan(p["value"].iloc[1])
    assert p["point_type"].iloc[1] is None and p["rule"].iloc[1] is None
    assert p["point_type"].iloc[0] == CC
    # variation is the latest point with a value
    assert r.variation == CC


def test_run_window_across_a_gap_is_ignored():
    # RUNS with position 9 missing: the high run becomes 4 + 3 around the gap; the low run stays.
    # Sum 309 over 31 -> mean 9.97; MRs 50 - 2 = 48 over 29 -> two-thirds 7.03 / 12.9: nothing close.
    data = list(RUNS)
    data[9] = None
    r = xmr(data)
    assert r.mean == pytest.approx(309 / 31)
    assert flagged(r) == {i: ("run", CON) for i in range(19, 27)}


def test_trend_window_across_a_gap_is_ignored():
    # 1,2,3,4,gap,5,6,7: bridged it would be a trend of 7. Mean 88/19; MRs 33 over 17 -> two-thirds low 1.19.
    data = [4, 6, 4, 6, 4, 6, 1, 2, 3, 4, None, 5, 6, 7, 4, 6, 4, 6, 4, 6]
    r = xmr(data)
    assert r.groups.loc[0, "mr_bar"] == pytest.approx(33 / 17)
    assert set(types(r)) == {CC, None}


def test_two_in_three_window_across_a_gap_is_ignored():
    # TWO_OF_THREE with the 11 between the two 15s missing. Mean 201/19 = 10.58, MRs 38/17 -> two-thirds
    # 14.54, upl 16.52: both 15s are close to the limit, but no complete window of 3 holds them.
    data = list(TWO_OF_THREE)
    data[9] = None
    r = xmr(data)
    assert r.points["upper_two_thirds"].iloc[0] == pytest.approx(201 / 19 + 2 / 3 * 2.66 * 38 / 17)
    assert set(types(r)) == {CC, None}


def test_last_value_missing_reports_latest_known_point():
    r = xmr(OUTSIDE[:16] + [None])
    assert r.variation == CON  # position 15, the -10
    assert xmr([None, None]).variation is None


# ---------------------------------------------------------------------------------------------------------------
# Rebasing and fixed baselines
# ---------------------------------------------------------------------------------------------------------------

STEP = [9, 11] * 7 + [19, 21] * 7


def test_rebase_gives_each_group_its_own_limits():
    r = xmr(STEP, rebase_at=[14])
    g = r.groups
    assert g["group"].tolist() == [0, 1]
    assert g["start"].tolist() == [0, 14] and g["end"].tolist() == [13, 27]
    assert g["mean"].tolist() == [10, 20]
    # the 8 from 11 to 19 is not a moving range: it crosses the rebase
    assert g["mr_bar"].tolist() == [2, 2]
    assert g["lpl"].tolist() == pytest.approx([4.68, 14.68])
    assert g["upl"].tolist() == pytest.approx([15.32, 25.32])
    assert math.isnan(r.points["mr"].iloc[14])
    assert r.points["group"].tolist() == [0] * 14 + [1] * 14
    assert set(types(r)) == {CC}
    assert r.rebase_at == (14,)


def test_without_rebase_the_step_is_special_cause():
    # one group: mean 15, MRs 26 x 2 + 8 = 60 over 27 -> 2.66 x 2.222 = 5.911: limits 9.089 / 20.911, so the
    # 9s and 21s are beyond them; two-thirds 11.059 / 18.941, so the 11s and 19s are close to them.
    r = xmr(STEP)
    assert r.upl == pytest.approx(15 + 2.66 * 60 / 27)
    got = flagged(r)
    assert {got[i] for i in range(0, 14, 2)} == {("outside_limits", CON)}
    assert {got[i] for i in range(1, 14, 2)} == {("two_in_three", CON)}
    assert {got[i] for i in range(14, 28, 2)} == {("two_in_three", IMP)}
    assert {got[i] for i in range(15, 28, 2)} == {("outside_limits", IMP)}


def test_rule_windows_do_not_span_a_rebase():
    # 11 + four 12s end group 0 and four 12s start group 1, each above its own mean 148/14 = 10.57: no run of 7
    data = [9, 11] * 5 + [12, 12, 12, 12] + [12, 12, 12, 12] + [9, 11] * 5
    assert set(types(xmr(data, rebase_at=[14]))) == {CC}
    # and the same 8 in one group are a run
    assert "run" in rules(xmr(data))


def test_trend_window_does_not_span_a_rebase():
    # 8,9,10,11 end group 0 and 12,13,14 start group 1. Group 0: mean 138/14 = 9.86, MRs 81/13; group 1: mean
    # 139/13 = 10.69, MRs 82/12: no point near a limit, no run of 7 in either.
    data = [6, 14] * 5 + [8, 9, 10, 11] + [12, 13, 14] + [6, 14] * 5
    assert set(types(xmr(data, rebase_at=[14]))) == {CC}
    # one group: the same seven points are a trend
    assert flagged(xmr(data)) == {i: ("trend", IMP) for i in range(10, 17)}


def test_two_in_three_window_does_not_span_a_rebase():
    # Group 0 = [9,11]*6 + [15]: mean 135/13 = 10.38, MRs 26/12 -> two-thirds 14.23, upl 16.15: 15 is close.
    # Group 1 = [11, 15] + [9,11]*6: mean 146/14 = 10.43, MRs 32/13 -> two-thirds 14.79, upl 16.98: 15 is
    # close. The window 15 | 11, 15 has two close points, all above the means, but it spans the rebase.
    data = [9, 11] * 6 + [15] + [11, 15] + [9, 11] * 6
    r = xmr(data, rebase_at=[13])
    assert r.groups["upper_two_thirds"].tolist() == pytest.approx(
        [135 / 13 + 2 / 3 * 2.66 * 26 / 12, 146 / 14 + 2 / 3 * 2.66 * 32 / 13]
    )
    assert set(types(r)) == {CC}


def test_fixed_baseline():
    # first 12 points: mean 10, MR 2 -> limits 4.68 / 15.32, applied to the 16s that follow
    data = [9, 11] * 6 + [16, 16, 9, 11]
    r = xmr(data, fix_after=12)
    g = r.groups.iloc[0]
    assert (g["fixed_from"], g["fixed_to"], g["mean"], g["mr_bar"]) == (0, 11, 10, 2)
    assert r.upl == pytest.approx(15.32)
    assert flagged(r) == {12: ("outside_limits", IMP), 13: ("outside_limits", IMP)}
    assert r.points["baseline"].tolist() == [True] * 12 + [False] * 4
    assert r.points["mean"].tolist() == [10] * 16
    # not fixed: mean 172/16 = 10.75, MRs 36/15 = 2.4 -> upl 17.13, the 16s are only close (2 of 3)
    free = xmr(data)
    assert free.upl == pytest.approx(10.75 + 2.66 * 2.4)
    assert flagged(free) == {12: ("two_in_three", IMP), 13: ("two_in_three", IMP)}
    assert pd.isna(free.groups["fixed_from"].iloc[0])


def test_fixed_baseline_per_group_with_rebase():
    data = [9, 11] * 7 + [19, 21] * 6 + [30, 30]
    r = xmr(data, rebase_at=[14], fix_after=12)
    g = r.groups
    assert g["fixed_from"].tolist() == [0, 14] and g["fixed_to"].tolist() == [11, 25]
    assert g["mean"].tolist() == [10, 20]
    assert flagged(r) == {26: ("outside_limits", IMP), 27: ("outside_limits", IMP)}


def test_fixed_baseline_with_a_gap_and_a_short_group_warn():
    data = [9, 11] * 6 + [10, 10]
    data[3] = None
    r = xmr(data, fix_after=12)
    assert any("fixed baseline" in w and "1 missing" in w for w in r.warnings)
    r = xmr([9, 11] * 5, fix_after=12)
    assert any("shorter than fix_after=12" in w for w in r.warnings)


# ---------------------------------------------------------------------------------------------------------------
# Assurance
# ---------------------------------------------------------------------------------------------------------------

FLAT = [9, 11] * 7  # mean 10, limits 4.68 / 15.32


@pytest.mark.parametrize(
    "improvement, target, expected",
    [
        ("increase", 4.0, "consistent_pass"),
        ("increase", 16.0, "consistent_fail"),
        ("increase", 10.0, "inconsistent"),
        ("decrease", 16.0, "consistent_pass"),
        ("decrease", 4.0, "consistent_fail"),
        ("decrease", 10.0, "inconsistent"),
    ],
)
def test_assurance_states(improvement, target, expected):
    assert xmr(FLAT, improvement=improvement, target=target).assurance == expected


def test_assurance_boundaries():
    r = xmr(FLAT)
    # a target on the limit on the passing side is met by every value the process produces
    assert xmr(FLAT, target=r.lpl).assurance == "consistent_pass"
    assert xmr(FLAT, improvement="decrease", target=r.upl).assurance == "consistent_pass"
    assert xmr(FLAT, target=r.upl).assurance == "inconsistent"


def test_assurance_none_without_target_or_with_neutral():
    assert xmr(FLAT).assurance is None
    assert xmr(FLAT, target=float("nan")).assurance is None
    r = xmr(FLAT, improvement="neutral", target=4.0)
    assert r.assurance is None
    assert any("neutral" in w for w in r.warnings)


def test_assurance_uses_the_last_group():
    # target 12: inside group 0's limits (4.68-15.32) but below group 1's lower limit 14.68
    assert xmr(STEP, target=12).assurance == "inconsistent"  # one group: limits 9.09-20.91
    assert xmr(STEP, rebase_at=[14], target=12).assurance == "consistent_pass"


# ---------------------------------------------------------------------------------------------------------------
# Warnings, constant series, inputs
# ---------------------------------------------------------------------------------------------------------------


def test_short_series_warning():
    assert any("12 values" in w for w in xmr([9, 11] * 6).warnings)
    assert xmr([9, 11] * 6 + [10]).warnings == []
    r = xmr([9, 11] * 10, rebase_at=[10])
    assert len(r.warnings) == 2 and all("10 values" in w for w in r.warnings)


@pytest.mark.parametrize("value, n", [(5.0, 20), (99.9, 20), (0.0, 3), (-3.25, 40)])
def test_constant_series_is_common_cause(value, n):
    r = xmr([value] * n, improvement="increase", screen_outliers=True)
    assert r.groups.loc[0, "mr_bar"] == 0
    assert r.lpl == pytest.approx(value) and r.upl == pytest.approx(value)
    assert set(types(r)) == {CC}
    assert r.variation == CC


def test_constant_series_survives_rounding_in_the_mean():
    # the mean of twenty 99.9s is not 99.9 in floating point: a naive comparison puts every point below it
    assert np.mean([99.9] * 20) != 99.9
    assert set(types(xmr([99.9] * 20))) == {CC}


def test_series_index_is_kept():
    idx = pd.period_range("2024-01", periods=14, freq="M")
    r = xmr(pd.Series(FLAT, index=idx, name="kpi"))
    assert r.points.index.equals(idx)
    assert r.points["position"].tolist() == list(range(14))
    rr = run_chart(pd.Series(FLAT, index=idx))
    assert rr.points.index.equals(idx)


@pytest.mark.parametrize(
    "values",
    [
        [9, None, 11, 9],
        np.array([9, np.nan, 11, 9]),
        pd.Series([9, None, 11, 9], dtype="Float64"),
        [9, pd.NA, 11, 9],
    ],
)
def test_input_types(values):
    r = xmr(values)
    assert r.points["value"].tolist()[0] == 9 and pd.isna(r.points["value"].iloc[1])
    assert r.mean == pytest.approx(29 / 3)
    assert isinstance(r.points.index, pd.RangeIndex) or isinstance(values, pd.Series)


def test_points_and_groups_columns():
    r = xmr(FLAT)
    assert {"value", "mean", "lpl", "upl", "group", "rule", "point_type", "mr", "upper_two_thirds",
            "lower_two_thirds"} <= set(r.points.columns)
    assert r.points["rule"].dtype == object
    assert {"group", "start", "end", "n", "mean", "mr_bar", "lpl", "upl", "fixed_from", "fixed_to"} <= set(
        r.groups.columns
    )


def test_empty_input():
    r = xmr([])
    assert r.points.empty and r.groups.empty and r.variation is None and r.assurance is None


def test_summary_is_plain():
    s = xmr(OUTSIDE, target=0).summary()
    assert s["variation"] == CC and s["assurance"] == "inconsistent"
    assert s["special_cause_points"][IMP] == 1 and s["special_cause_points"][CON] == 1
    assert s["upl"] == pytest.approx(25.3)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"improvement": "up"}, "improvement must be one of"),
        ({"improvement": "higher"}, "use 'increase'"),
        ({"improvement": "decreese"}, "did you mean 'decrease'"),
        ({"two_in_three": "nhse"}, "two_in_three must be one of"),
        ({"fix_after": 11}, "at least 12"),
        ({"fix_after": 12.5}, "whole number"),
        ({"rebase_at": [0]}, "out of range"),
        ({"rebase_at": [14]}, "out of range"),
        ({"rebase_at": [3, 3]}, "repeated"),
        ({"rebase_at": ["2024-03"]}, "integer positions"),
        ({"target": "95"}, "target must be a number"),
        ({"screen_outliers": "yes"}, "True or False"),
    ],
)
def test_usage_errors(kwargs, fragment):
    with pytest.raises(UsageError, match=fragment):
        xmr(FLAT, **kwargs)


@pytest.mark.parametrize(
    "values, fragment",
    [
        (["a", "b"], "must be numbers"),
        (pd.DataFrame({"a": [1, 2]}), "not a DataFrame"),
        (np.ones((2, 2)), "one-dimensional"),
        ([1, float("inf")], "position 1"),
    ],
)
def test_bad_values(values, fragment):
    with pytest.raises(UsageError, match=fragment):
        xmr(values)


# ---------------------------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------------------------

small_ints = st.lists(st.one_of(st.integers(-50, 50), st.none()), min_size=0, max_size=40)
SWAP = {IMP: CON, CON: IMP}


@settings(max_examples=150, deadline=None)
@given(small_ints, st.sampled_from(["nhse-2023", "ptd-0.2"]), st.booleans())
def test_swapping_direction_swaps_improvement_and_concern(values, variant, screen):
    up = xmr(values, improvement="increase", two_in_three=variant, screen_outliers=screen)
    down = xmr(values, improvement="decrease", two_in_three=variant, screen_outliers=screen)
    assert [SWAP.get(t, t) for t in types(up)] == types(down)
    assert rules(up) == rules(down)


@settings(max_examples=100, deadline=None)
@given(
    st.floats(-1e9, 1e9, allow_nan=False, allow_subnormal=False),
    st.integers(1, 40),
    st.sets(st.integers(0, 39), max_size=5),
    st.sampled_from(["increase", "decrease", "neutral"]),
)
def test_constant_series_has_only_common_cause(value, n, gaps, improvement):
    values = [None if i in gaps else value for i in range(n)]
    r = xmr(values, improvement=improvement)
    assert set(types(r)) <= {CC, None}
    assert all(rule is None for rule in rules(r))


def _thresholds(r):
    p = r.points
    return np.concatenate([p[c].to_numpy() for c in ("lpl", "upl", "lower_two_thirds", "upper_two_thirds")])


def _clear_of_thresholds(r, margin):
    """No value within ``margin`` of a limit or two-thirds line: a tie there is a floating-point coin toss."""
    v = r.points["value"].to_numpy()
    thr = _thresholds(r).reshape(4, -1)
    with np.errstate(invalid="ignore"):
        return not np.any(np.abs(v - thr) < margin)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.integers(-50, 50), st.none()), min_size=2, max_size=40), st.integers(-10**6, 10**6))
def test_adding_a_constant_shifts_the_chart(values, c):
    base = xmr(values)
    assume(_clear_of_thresholds(base, 1e-6))
    shifted = xmr([None if v is None else v + c for v in values])
    assert types(shifted) == types(base)
    assert rules(shifted) == rules(base)
    for col in ("mean", "lpl", "upl"):
        np.testing.assert_allclose(shifted.points[col], base.points[col] + c, rtol=0, atol=1e-6)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(st.integers(-50, 50), st.none()), min_size=2, max_size=40),
    st.floats(1e-3, 1e3, allow_nan=False),
)
def test_multiplying_by_a_positive_constant_scales_the_limits(values, k):
    base = xmr(values)
    assume(_clear_of_thresholds(base, 1e-6))
    scaled = xmr([None if v is None else v * k for v in values])
    assert types(scaled) == types(base)
    for col in ("mean", "lpl", "upl"):
        np.testing.assert_allclose(scaled.points[col], base.points[col] * k, rtol=1e-9, atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(small_ints)
def test_rule_set_exactly_for_special_cause(values):
    r = xmr(values)
    for rule, kind in zip(rules(r), types(r)):
        assert (rule is None) == (kind in (CC, None))


# ---------------------------------------------------------------------------------------------------------------
# Run charts (Anhøj rules)
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n, run_max, cross_min", [(10, 6, 2), (20, 7, 6), (24, 8, 8)])
def test_anhoej_table(n, run_max, cross_min):
    # Anhøj & Olesen (2014) "Run charts revisited", PLOS ONE 9(11): e113825, table of limits. By hand from the
    # definition: n=10: log2 10 = 3.32 -> 3 + 3 = 6; Binomial(9, .5): P(X<=1) = 10/512 = .020, P(X<=2) = 46/512
    # = .090 -> 2. n=20: 4.32 -> 7; Binomial(19): P(X<=5) = 16664/2^19 = .032, P(X<=6) = 43796/2^19 = .084 -> 6.
    # n=24: 4.58 -> 8; Binomial(23): P(X<=7) = 390656/2^23 = .047, P(X<=8) = 880970/2^23 = .105 -> 8.
    assert anhoej_longest_run_max(n) == run_max
    assert anhoej_crossings_min(n) == cross_min


def test_crossings_min_matches_scipy_binomial_quantile():
    for n in range(1, 201):
        assert anhoej_crossings_min(n) == int(binom.ppf(0.05, n - 1, 0.5)), n


def test_run_chart_crossings_signal_only():
    r = run_chart(range(1, 11))
    assert isinstance(r, RunChartResult)
    assert (r.median, r.n, r.n_useful, r.longest_run, r.crossings) == (5.5, 10, 10, 5, 1)
    assert (r.longest_run_max, r.crossings_min) == (6, 2)
    assert (r.runs_signal, r.crossings_signal, r.signal) == (False, True, True)


def test_run_chart_runs_signal_only():
    # H L H L H L, 7 L, 7 H with H = 2, L = 0: median 1; runs H,L,H,L,H,L(8),H(7): longest 8 > 7,
    # crossings 6, not below the minimum 6 for n = 20
    data = [2, 0] * 3 + [0] * 7 + [2] * 7
    r = run_chart(data)
    assert (r.median, r.n_useful, r.longest_run, r.crossings) == (1, 20, 8, 6)
    assert (r.runs_signal, r.crossings_signal, r.signal) == (True, False, True)


def test_run_chart_points_on_the_median_are_skipped():
    # sorted 1,1,1,1,5,5,9,9,9,9 -> median 5; the 5s neither count nor break the run of four 1s
    r = run_chart([1, 1, 5, 1, 1, 9, 9, 9, 9, 5])
    assert (r.median, r.n, r.n_useful, r.longest_run, r.crossings) == (5, 10, 8, 4, 1)
    # limits from the 8 useful points: log2 8 = 3 -> 6; Binomial(7): P(X<=0) = 1/128, P(X<=1) = 8/128 -> 1
    assert (r.longest_run_max, r.crossings_min, r.signal) == (6, 1, False)
    assert r.points["useful"].tolist() == [True, True, False, True, True, True, True, True, True, False]
    assert [None if pd.isna(v) else int(v) for v in r.points["run"]] == [1, 1, None, 1, 1, 2, 2, 2, 2, None]


def test_run_chart_random_looking_series_has_no_signal():
    r = run_chart([3, 7, 4, 8, 2, 6, 5, 9, 1, 7, 3, 8])
    assert not r.signal


def test_run_chart_missing_and_degenerate():
    r = run_chart([1, None, 3, np.nan, 2])
    assert (r.n, r.median, r.n_useful) == (3, 2, 2)
    flat = run_chart([5, 5, 5])
    assert flat.n_useful == 0 and flat.longest_run_max is None and flat.signal is False
    assert flat.warnings


# ---------------------------------------------------------------------------------------------------------------
# Many series
# ---------------------------------------------------------------------------------------------------------------


def test_xmr_many_matches_single_calls_and_fills_missing_months():
    periods = pd.period_range("2024-01", periods=20, freq="M")
    a = pd.DataFrame({"kpi": "A", "period": periods, "value": OUTSIDE, "direction": "higher", "target": 0.0})
    b = pd.DataFrame({"kpi": "B", "period": periods, "value": OUTSIDE, "direction": "lower", "target": np.nan})
    b = b.drop(index=[7])  # a month with no row at all
    frame = pd.concat([a, b], ignore_index=True)
    out = xmr_many(frame, "value", "kpi", improvement_col="direction", target_col="target", period_col="period")
    assert out["kpi"].tolist() == ["A", "B"]
    first = out.iloc[0]
    assert (first["n_improvement"], first["n_concern"], first["assurance"]) == (1, 1, "inconsistent")
    assert first["upl"] == pytest.approx(25.3)
    second = out.iloc[1]
    gap = list(OUTSIDE)
    gap[7] = None
    single = xmr(gap, improvement="decrease")
    assert second["n"] == 19 and second["upl"] == pytest.approx(single.upl)
    assert second["assurance"] is None and second["variation"] == single.variation
    with pytest.raises(UsageError, match="not in the frame"):
        xmr_many(frame, "nope", "kpi")
