"""Property-based fuzzing of the analytics (hypothesis).

Each property is stated from the domain rules (docs/method.md, NHS England's XmR conventions, the credit
formula of CCS model terms), not from the code's own output:

* a rating is always one of the five statutory words; with consistent levels it follows the written bands and
  never gets worse as the value gets better; a lower-is-better KPI is the mirror image of a higher-is-better one;
* service credits are never negative, never above the monthly cap, and follow target − actual for shortfall;
* XmR and run charts never crash on finite numbers with gaps, put the limits at mean ± 2.66 × mean moving range
  and mirror exactly when the data and the direction are both flipped;
* Mann–Kendall and Theil–Sen change sign when time runs backwards;
* no frame result depends on the order of the input rows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cinb.errors import UsageError
from cinb.ratings import RATINGS, rate, scorecard, service_levels, window_ratings

FUZZ = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
RANK = {"Good": 0, "Approaching target": 1, "Requires improvement": 2, "Inadequate": 3}

ANY = st.one_of(st.none(), st.just(float("nan")), st.floats(allow_nan=False, allow_infinity=False, width=64))
LEVEL = st.floats(-1e6, 1e6, allow_nan=False)
DIRECTION = st.sampled_from(["higher", "lower"])


# ---------------------------------------------------------------------------------------------------------
# Ratings


@settings(FUZZ, max_examples=100)
@given(value=ANY, direction=DIRECTION, sla=ANY, target=ANY, tolerance=ANY, critical=ANY)
def test_rating_is_always_one_of_the_five_words(value, direction, sla, target, tolerance, critical):
    word = rate(value, direction=direction, sla=sla, target=target, tolerance=tolerance, critical=critical)
    assert word in RATINGS
    if value is None or (isinstance(value, float) and math.isnan(value)):
        assert word == "Other"  # nothing reported: not assessable


def _apart(v, *levels) -> bool:
    return all(abs(v - x) > 1e-6 * max(1.0, abs(x)) for x in levels)


@settings(FUZZ, max_examples=100)
@given(levels=st.lists(LEVEL, min_size=3, max_size=3, unique=True), value=LEVEL)
def test_rating_follows_the_written_bands(levels, value):
    """Higher is better, critical < SLA < target: Good at or above target, Approaching between SLA and target,
    Requires improvement between critical and SLA, Inadequate at or below critical."""
    critical, sla, target = sorted(levels)
    assume(_apart(value, critical, sla, target))
    expected = ("Good" if value > target else "Approaching target" if value > sla
                else "Requires improvement" if value > critical else "Inadequate")
    assert rate(value, direction="higher", sla=sla, target=target, critical=critical) == expected
    # The same KPI measured the other way round (e.g. minutes of downtime instead of uptime).
    assert rate(-value, direction="lower", sla=-sla, target=-target, critical=-critical) == expected


@settings(FUZZ, max_examples=100)
@given(target=LEVEL, tolerance=st.floats(0.001, 1e4), critical_gap=st.floats(0.001, 1e4), value=LEVEL)
def test_rating_without_sla_uses_the_tolerance(target, tolerance, critical_gap, value):
    critical = target - tolerance - critical_gap
    assume(_apart(value, target, target - tolerance, critical))
    expected = ("Good" if value > target else "Approaching target" if value > target - tolerance
                else "Requires improvement" if value > critical else "Inadequate")
    assert rate(value, direction="higher", target=target, tolerance=tolerance, critical=critical) == expected


@settings(FUZZ, max_examples=100)
@given(levels=st.lists(LEVEL, min_size=3, max_size=3), a=LEVEL, b=LEVEL, direction=DIRECTION)
def test_a_better_value_never_gets_a_worse_rating(levels, a, b, direction):
    critical, sla, target = sorted(levels)
    if direction == "lower":
        critical, sla, target = -critical, -sla, -target
    better, worse = (max(a, b), min(a, b)) if direction == "higher" else (min(a, b), max(a, b))
    r_better = rate(better, direction=direction, sla=sla, target=target, critical=critical)
    r_worse = rate(worse, direction=direction, sla=sla, target=target, critical=critical)
    assert RANK[r_better] <= RANK[r_worse], (better, r_better, worse, r_worse)


@st.composite
def kpi_frames(draw, max_kpis=4, max_months=18):
    """Random KPIs of one or two contracts and their monthly measurements (with gaps and unreported months)."""
    kpis, meas = [], []
    for c in range(draw(st.integers(1, 2))):
        cid = f"C{c}"
        for k in range(draw(st.integers(1, max_kpis))):
            direction = draw(DIRECTION)
            unit = draw(st.sampled_from(["%", "hours", "score"]))
            levels = sorted(draw(st.lists(st.floats(0, 100), min_size=3, max_size=3)))
            crit, sla, target = levels if direction == "higher" else levels[::-1]
            kpis.append({
                "contract_id": cid, "kpi_id": f"K{k}", "name": f"KPI {k}", "unit": unit, "direction": direction,
                "sla": draw(st.sampled_from([sla, np.nan])), "target": draw(st.sampled_from([target, np.nan])),
                "tolerance": draw(st.sampled_from([np.nan, 1.0])), "critical": draw(st.sampled_from([crit, np.nan])),
                "credit_method": draw(st.sampled_from(["none", "shortfall", "fixed"])) if unit == "%" else
                draw(st.sampled_from(["none", "fixed"])),
                "credit_pct": draw(st.sampled_from([np.nan, 2.0, 5.0])),
                "weight": draw(st.sampled_from([1.0, 2.0, 0.5])),
            })
            for m in sorted(draw(st.sets(st.integers(0, max_months - 1), max_size=max_months))):
                meas.append({"contract_id": cid, "kpi_id": f"K{k}", "period": pd.Period("2025-01", "M") + m,
                             "value": draw(st.one_of(st.just(np.nan), st.floats(0, 100)))})
    kpis = pd.DataFrame(kpis)
    meas = pd.DataFrame(meas, columns=["contract_id", "kpi_id", "period", "value"])
    meas["period"] = meas["period"].astype("period[M]")  # as the loader gives it, even with no rows
    meas["value"] = meas["value"].astype(float)
    return kpis, meas


def _sorted(frame: pd.DataFrame, keys) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


@settings(FUZZ, max_examples=60)
@given(frames=kpi_frames(), seed=st.integers(0, 2**32 - 1))
def test_service_levels_match_single_ratings_whatever_the_row_order(frames, seed):
    kpis, meas = frames
    sl = service_levels(kpis, meas)
    assert len(sl) == len(meas) and sl["rating"].isin(RATINGS).all()
    levels = kpis.set_index(["contract_id", "kpi_id"])
    for row in sl.head(25).itertuples():
        k = levels.loc[(row.contract_id, row.kpi_id)]
        assert row.rating == rate(row.value, direction=k.direction, sla=k.sla, target=k.target,
                                  tolerance=k.tolerance, critical=k.critical)
    rng = np.random.default_rng(seed)
    shuffled = service_levels(kpis.sample(frac=1, random_state=rng), meas.sample(frac=1, random_state=rng))
    keys = ["contract_id", "kpi_id", "period"]
    pd.testing.assert_frame_equal(_sorted(sl, keys), _sorted(shuffled, keys))


@settings(FUZZ, max_examples=60)
@given(frames=kpi_frames(), seed=st.integers(0, 2**32 - 1),
       aggregation=st.sampled_from(["mean", "median", "latest", "worst"]))
def test_window_ratings_and_scorecard_stay_in_range_and_ignore_row_order(frames, seed, aggregation):
    kpis, meas = frames
    bands = {"aggregation": aggregation}
    w = window_ratings(kpis, meas, "2025-04", "2026-03", bands=bands)
    assert len(w) == len(kpis) and w["rating"].isin(RATINGS).all() and w["latest_rating"].isin(RATINGS).all()
    for col in ("compliance_sla", "compliance_target"):
        c = w[col].dropna()
        assert ((c >= 0) & (c <= 1)).all()
    assert (w["months_reported"] <= w["months_with_rows"]).all() and (w["months_with_rows"] <= 12).all()
    rng = np.random.default_rng(seed)
    w2 = window_ratings(kpis.sample(frac=1, random_state=rng), meas.sample(frac=1, random_state=rng),
                        "2025-04", "2026-03", bands=bands)
    pd.testing.assert_frame_equal(w, w2)
    sc = scorecard(w, kpis)
    s = sc["score"].dropna()
    assert ((s >= 0) & (s <= 100)).all()


# ---------------------------------------------------------------------------------------------------------
# Service credits


def _contracts(kpis: pd.DataFrame, cap, charge) -> pd.DataFrame:
    ids = sorted(kpis["contract_id"].unique())
    return pd.DataFrame({"contract_id": ids, "monthly_charge_gbp": charge, "service_credit_cap_pct": cap,
                         "start_date": pd.Timestamp("2024-07-15")})


@settings(FUZZ, max_examples=80)
@given(frames=kpi_frames(), cap=st.sampled_from([np.nan, 0.0, 5.0, 10.0, 15.0, 100.0]),
       charge=st.floats(0, 1e7), seed=st.integers(0, 2**32 - 1))
def test_credits_are_never_negative_never_above_the_cap_and_ignore_row_order(frames, cap, charge, seed):
    from cinb.credits import credit_lines, monthly_credits, year_to_date

    kpis, meas = frames
    contracts = _contracts(kpis, cap, charge)
    lines = credit_lines(contracts, kpis, meas)
    pct = lines["credit_pct"].dropna()
    assert (pct >= 0).all()
    assert (lines["credit_gbp"].dropna() >= 0).all()
    # shortfall: credit_pct (default 1) per percentage point of target − actual, only when short (mirrored for
    # lower-is-better)
    short = lines[(lines["credit_method"] == "shortfall") & lines["credit_pct"].notna()]
    k = kpis.set_index(["contract_id", "kpi_id"])
    for row in short.itertuples():
        t = k.loc[(row.contract_id, row.kpi_id), "target"]
        rate = k.loc[(row.contract_id, row.kpi_id)].get("credit_pct", np.nan)
        rate = 1.0 if rate is None or pd.isna(rate) else float(rate)
        gap = (t - row.value) if row.direction == "higher" else (row.value - t)
        # The engine keeps shortfalls to 1e-9 of a point (float noise off), so the credit may differ from the
        # unrounded product by up to rate × 0.5e-9 (found: a 1.19e-7 gap at 5 per point).
        assert row.credit_pct == pytest.approx(max(gap, 0.0) * rate, rel=1e-9, abs=1e-9 * max(1.0, rate))
    monthly = monthly_credits(contracts, kpis, meas)
    assert (monthly["capped_pct"].dropna() >= 0).all()
    if not np.isnan(cap):
        assert (monthly["capped_pct"] <= cap + 1e-12).all()
        assert (monthly["credit_gbp"] <= cap / 100 * charge * (1 + 1e-12) + 1e-9).all()
    assert (monthly["capped_pct"] <= monthly["raw_pct"] + 1e-12).all()
    rng = np.random.default_rng(seed)
    again = monthly_credits(contracts, kpis.sample(frac=1, random_state=rng), meas.sample(frac=1, random_state=rng))
    pd.testing.assert_frame_equal(monthly, again)
    if len(monthly):
        ytd = year_to_date(monthly, "2026-06")
        assert (ytd["credits_gbp"] >= 0).all()


def test_a_months_critical_failure_rule_lists_its_kpis_in_id_order_whatever_the_row_order():
    """Found by the fuzz test above: two KPIs at their critical level in one month were listed in the order of
    the rows ("K3 …; K0 …" for one order, "K0 …; K3 …" for another)."""
    from cinb.credits import monthly_credits

    kpis = pd.DataFrame([{"contract_id": "C1", "kpi_id": k, "name": k, "unit": "%", "direction": "higher",
                          "sla": 90.0, "target": 95.0, "tolerance": np.nan, "critical": 50.0, "credit_method": "none",
                          "credit_pct": np.nan, "weight": 1.0} for k in ("K0", "K3")])
    meas = pd.DataFrame({"contract_id": "C1", "kpi_id": ["K3", "K0"],
                         "period": pd.PeriodIndex(["2025-02"] * 2, freq="M"), "value": [0.0, 0.0]})
    contracts = _contracts(kpis, np.nan, 0.0)
    one = monthly_credits(contracts, kpis, meas)
    other = monthly_credits(contracts, kpis.iloc[::-1], meas.iloc[::-1])
    assert one["cslf_rule"].tolist() == other["cslf_rule"].tolist()
    assert one["cslf_rule"].iloc[0].startswith("K0 ")


# ---------------------------------------------------------------------------------------------------------
# SPC


SERIES = st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(float("nan"))), max_size=40)
WIDE = st.lists(st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.just(float("nan"))), max_size=30)


# Values near the float limit overflow to inf inside the limits (numpy warns); the chart must still be drawn.
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@settings(FUZZ, max_examples=100)
@given(values=WIDE, improvement=st.sampled_from(["increase", "decrease", "neutral"]),
       target=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=False)))
def test_xmr_never_crashes_on_finite_numbers_with_gaps(values, improvement, target):
    from cinb.spc import POINT_TYPES, xmr

    r = xmr(values, improvement=improvement, target=target)
    pts = r.points
    assert len(pts) == len(values)
    assert set(pts["point_type"].dropna()) <= set(POINT_TYPES)
    assert pts["point_type"].isna().tolist() == [math.isnan(v) for v in values]
    assert r.assurance in (None, "consistent_pass", "consistent_fail", "inconsistent")
    r.summary()


@settings(FUZZ, max_examples=100)
@given(values=SERIES)
def test_xmr_limits_are_mean_plus_minus_2_66_mean_moving_range(values):
    from cinb.spc import xmr

    x = np.array(values, dtype=float)
    present = ~np.isnan(x)
    pairs = present[1:] & present[:-1]
    assume(pairs.any())
    mean = x[present].mean()
    mr_bar = np.abs(np.diff(x))[pairs].mean()
    r = xmr(values)
    scale = max(1.0, abs(mean), mr_bar)
    assert r.mean == pytest.approx(mean, rel=1e-9, abs=1e-9 * scale)
    assert r.upl == pytest.approx(mean + 2.66 * mr_bar, rel=1e-9, abs=1e-9 * scale)
    assert r.lpl == pytest.approx(mean - 2.66 * mr_bar, rel=1e-9, abs=1e-9 * scale)
    assert r.lpl <= r.mean <= r.upl


@settings(FUZZ, max_examples=100)
@given(values=SERIES, target=st.one_of(st.none(), st.floats(-1e6, 1e6)))
def test_xmr_mirrors_when_data_and_direction_flip(values, target):
    """Negation is exact in floating point, so every label must match exactly."""
    from cinb.spc import xmr

    up = xmr(values, improvement="increase", target=target)
    down = xmr([-v for v in values], improvement="decrease", target=None if target is None else -target)
    assert up.points["point_type"].tolist() == down.points["point_type"].tolist()
    assert up.points["rule"].tolist() == down.points["rule"].tolist()
    assert up.variation == down.variation and up.assurance == down.assurance
    flip = {"special_cause_neutral_high": "special_cause_neutral_low",
            "special_cause_neutral_low": "special_cause_neutral_high"}
    n_up = xmr(values, improvement="neutral").points["point_type"].tolist()
    n_down = xmr([-v for v in values], improvement="neutral").points["point_type"].tolist()
    assert [flip.get(t, t) for t in n_up] == n_down


@settings(FUZZ, max_examples=30)
@given(values=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=10), where=st.data(),
       bad=st.sampled_from([float("inf"), float("-inf")]))
def test_xmr_refuses_infinity_with_a_usage_error(values, where, bad):
    from cinb.spc import xmr

    i = where.draw(st.integers(0, len(values) - 1))
    values[i] = bad
    with pytest.raises(UsageError):
        xmr(values)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@settings(FUZZ, max_examples=100)
@given(values=WIDE)
def test_run_chart_never_crashes_and_mirrors(values):
    from cinb.spc import run_chart

    r = run_chart(values)
    present = [v for v in values if not math.isnan(v)]
    assert r.n == len(present)
    if present:
        assert r.median == pytest.approx(float(np.median(present)), rel=1e-12, abs=1e-300)
    if r.n_useful:
        assert 1 <= r.longest_run <= r.n_useful and 0 <= r.crossings <= r.n_useful - 1
    m = run_chart([-v for v in values])
    assert (m.longest_run, m.crossings, m.signal, m.n_useful) == (r.longest_run, r.crossings, r.signal, r.n_useful)


# ---------------------------------------------------------------------------------------------------------
# Trends


@settings(FUZZ, max_examples=100)
@given(values=st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(float("nan"))), max_size=40))
def test_trend_tests_change_sign_when_time_runs_backwards(values):
    from cinb.trends import mann_kendall, theil_sen, trend_summary

    mk, back = mann_kendall(values), mann_kendall(values[::-1])
    assert mk.s == -back.s
    assert math.isnan(mk.p_value) or 0 <= mk.p_value <= 1
    assert math.isnan(mk.tau) or -1 - 1e-12 <= mk.tau <= 1 + 1e-12
    flipped = {"increasing": "decreasing", "decreasing": "increasing", "no trend": "no trend"}
    assert mk.trend in flipped and back.trend == flipped[mk.trend]
    ts, ts_back = theil_sen(values), theil_sen(values[::-1])
    if math.isnan(ts.slope):
        assert math.isnan(ts_back.slope)
    else:
        assert ts.slope == pytest.approx(-ts_back.slope, rel=1e-9, abs=1e-12)
        slack = 1e-9 * max(1, abs(ts.slope))
        assert math.isnan(ts.low) or ts.low - slack <= ts.slope <= ts.high + slack
    for direction in ("higher", "lower"):
        s = trend_summary(values, direction=direction)
        assert s.verdict in ("improving", "worsening", "no significant trend") and s.sentence
