"""Credit schedules as contracts write them, hand-worked: rates, cap periods, part months, bands, CSLF rules, pooling.

Every expected figure below is worked by hand from the contract wording quoted beside it, not from cinb's output.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cinb.cpn import cpn_rows
from cinb.credits import credit_lines, month_fraction, monthly_credits, year_to_date
from cinb.ratings import window_ratings

P = lambda s: pd.Period(s, "M")  # noqa: E731


def _contract(start="2020-01-01", end="2030-12-31", charge=100_000.0, cap=None, cap_period=None, **kw):
    return pd.DataFrame([dict(contract_id="C", start_date=pd.Timestamp(start), end_date=pd.Timestamp(end),
                              monthly_charge_gbp=charge, annual_value_gbp=charge * 12,
                              service_credit_cap_pct=cap, service_credit_cap_period=cap_period, **kw)])


def _kpi(kpi_id, method, *, target=98.0, sla=np.nan, critical=np.nan, credit_pct=np.nan, unit="%",
         direction="higher", **kw):
    return dict(contract_id="C", kpi_id=kpi_id, name=kpi_id, unit=unit, direction=direction, sla=sla,
                target=target, tolerance=np.nan, critical=critical, credit_method=method, credit_pct=credit_pct,
                weight=1.0, **kw)


def _meas(*rows):
    return pd.DataFrame([dict(contract_id="C", kpi_id=k, period=P(p), value=float(v), **extra)
                         for k, p, v, *rest in rows for extra in [rest[0] if rest else {}]])


def _ledger(contracts, kpis, meas, **kw):
    return monthly_credits(contracts, pd.DataFrame(kpis), meas, **kw).set_index("period")


# ------------------------------------------------------------------------------------------ issue: rates


def test_shortfall_credit_rate_per_percentage_point():
    # "X% of the charges for each percentage point under": 98% required, 95% actual (3 points short);
    # at 0.5% a point: 1.5% of £100,000 = £1,500; at 2% a point: 6% = £6,000.
    kpis = [_kpi("A", "shortfall", credit_pct=0.5), _kpi("B", "shortfall", credit_pct=2.0)]
    meas = _meas(("A", "2026-06", 95), ("B", "2026-06", 95))
    lines = credit_lines(_contract(), pd.DataFrame(kpis), meas).set_index("kpi_id")
    assert lines.loc["A", "credit_gbp"] == pytest.approx(1_500.0)
    assert lines.loc["B", "credit_gbp"] == pytest.approx(6_000.0)
    assert lines.loc["A", "rule"] == "3 points short × 0.5% per point = 1.5%"
    month = _ledger(_contract(), kpis, meas).loc[P("2026-06")]
    assert month["credit_gbp"] == pytest.approx(7_500.0)


def test_shortfall_without_a_rate_is_one_percent_a_point_as_in_version_1():
    kpis = [_kpi("A", "shortfall")]
    lines = credit_lines(_contract(), pd.DataFrame(kpis), _meas(("A", "2026-06", 95))).iloc[0]
    assert lines["credit_pct"] == pytest.approx(3.0) and lines["credit_gbp"] == pytest.approx(3_000.0)


# ------------------------------------------------------------------------------------------ issue: cap periods


def test_monthly_cap_cuts_a_23_percent_month_to_15():
    kpis = [_kpi("A", "shortfall", target=100.0)]
    m = _ledger(_contract(cap=15.0), kpis, _meas(("A", "2026-06", 77))).loc[P("2026-06")]
    assert m["raw_gbp"] == pytest.approx(23_000.0)
    assert m["credit_gbp"] == pytest.approx(15_000.0) and bool(m["cap_applied"])


def test_contract_year_cap_lets_a_month_through_then_stops_at_the_cap():
    # Cap 15% of the contract year's charges: 15% × 12 × £100,000 = £180,000. Each month 23% short = £23,000:
    # months 1–7 are due in full (£161,000), month 8 gets the £19,000 left, months 9–12 nothing.
    kpis = [_kpi("A", "shortfall", target=100.0)]
    months = [f"2026-{m:02d}" for m in range(1, 13)]
    led = _ledger(_contract(start="2026-01-01", cap=15.0, cap_period="contract_year"), kpis,
                  _meas(*[("A", m, 77) for m in months]))
    due = led["credit_gbp"].round(2).tolist()
    assert due == [23_000.0] * 7 + [19_000.0] + [0.0] * 4
    assert led.loc[P("2026-01"), "cap_gbp"] == pytest.approx(180_000.0)
    assert not bool(led.loc[P("2026-01"), "cap_applied"])
    assert led.loc[P("2026-08"), "headroom_gbp"] == pytest.approx(0.0) and bool(led.loc[P("2026-08"), "cap_reached"])
    ytd = year_to_date(led.reset_index(), "2026-12").iloc[0]
    assert ytd["credits_gbp"] == pytest.approx(180_000.0)
    # The next contract year starts afresh.
    led2 = _ledger(_contract(start="2026-01-01", cap=15.0, cap_period="contract_year"), kpis,
                   _meas(*[("A", m, 77) for m in months + ["2027-01"]]))
    assert led2.loc[P("2027-01"), "credit_gbp"] == pytest.approx(23_000.0)


def test_rolling_12_cap_counts_the_last_twelve_months():
    # Cap 10% of the last 12 months' charges = £120,000 (contract running for years). £23,000 a month due:
    # m1–m5 £23,000 each (£115,000), m6 £5,000, m7–m12 nothing; m13's window m2..m12 used £97,000 → £23,000.
    kpis = [_kpi("A", "shortfall", target=100.0)]
    months = [str(P("2025-01") + i) for i in range(14)]
    led = _ledger(_contract(cap=10.0, cap_period="rolling_12"), kpis, _meas(*[("A", m, 77) for m in months]))
    assert led["credit_gbp"].round(2).tolist() == [23_000.0] * 5 + [5_000.0] + [0.0] * 6 + [23_000.0, 23_000.0]
    assert led.loc[P("2026-01"), "cap_used_before_gbp"] == pytest.approx(97_000.0)


def test_version_1_monthly_cap_and_credits_unchanged():
    # No cap period given: the cap is a % of that month's charge, as in version 1.
    kpis = [_kpi("A", "fixed", sla=90.0, target=95.0, credit_pct=2.0), _kpi("B", "shortfall", target=99.9)]
    led = _ledger(_contract(cap=2.5), kpis, _meas(("A", "2026-06", 85), ("B", "2026-06", 99.1)))
    m = led.loc[P("2026-06")]
    assert m["raw_pct"] == pytest.approx(2.8) and m["capped_pct"] == pytest.approx(2.5)
    assert m["credit_gbp"] == pytest.approx(2_500.0)


# ------------------------------------------------------------------------------------------ part months


def test_part_month_is_pro_rated_by_days():
    # Start 15 April, £30,000 a month, availability 97.5% against 99.5%, 2% fixed credit:
    # 2% × 16/30 × £30,000 = £320.
    assert month_fraction("2026-04", "2026-04-15", "2029-04-14") == pytest.approx(16 / 30)
    kpis = [_kpi("AV", "fixed", sla=99.5, target=99.5, credit_pct=2.0)]
    led = _ledger(_contract(start="2026-04-15", end="2029-04-14", charge=30_000.0), kpis,
                  _meas(("AV", "2026-04", 97.5), ("AV", "2026-05", 97.5)))
    assert led.loc[P("2026-04"), "credit_gbp"] == pytest.approx(320.0)
    assert led.loc[P("2026-04"), "charge_gbp"] == pytest.approx(16_000.0)
    assert led.loc[P("2026-05"), "credit_gbp"] == pytest.approx(600.0)


def test_part_month_pro_rates_the_monthly_cap_too():
    kpis = [_kpi("A", "shortfall", target=100.0)]
    led = _ledger(_contract(start="2026-04-15", charge=30_000.0, cap=10.0), kpis, _meas(("A", "2026-04", 50)))
    assert led.loc[P("2026-04"), "credit_gbp"] == pytest.approx(0.10 * 16_000.0)


# ------------------------------------------------------------------------------------------ banded credits


BANDS = pd.DataFrame([
    dict(contract_id="C", kpi_id="AV", shortfall_from=0.0, strictly_above=True, credit_pct=5.0),
    dict(contract_id="C", kpi_id="AV", shortfall_from=1.0, strictly_above=True, credit_pct=10.0),
    dict(contract_id="C", kpi_id="AV", shortfall_from=5.0, strictly_above=False, credit_pct=15.0),
])


def test_banded_credits_three_months():
    # Missing the target by up to 1 point: 5%; by more than 1 and less than 5: 10%; by 5 or more: 15%.
    # £10,000 a month: 0.5 short £500, 2 short £1,000, 5.5 short £1,500 — £3,000 in all.
    kpis = [_kpi("AV", "banded", target=99.5)]
    led = _ledger(_contract(charge=10_000.0), kpis,
                  _meas(("AV", "2026-01", 99.0), ("AV", "2026-02", 97.5), ("AV", "2026-03", 94.0)), bands=BANDS)
    assert led["credit_gbp"].round(2).tolist() == [500.0, 1_000.0, 1_500.0]
    assert led["credit_gbp"].sum() == pytest.approx(3_000.0)


@pytest.mark.parametrize("value, pct", [
    (99.5, 0.0),      # target met: no band
    (99.6, 0.0),      # beaten
    (98.5, 5.0),      # exactly 1 short: "up to 1 point"
    (98.4999, 10.0),  # just more than 1 short
    (94.5, 15.0),     # exactly 5 short: "5 or more"
    (94.5001, 10.0),  # just under 5 short
])
def test_band_edges(value, pct):
    kpis = pd.DataFrame([_kpi("AV", "banded", target=99.5)])
    line = credit_lines(_contract(), kpis, _meas(("AV", "2026-01", value)), bands=BANDS).iloc[0]
    assert line["credit_pct"] == pytest.approx(pct)


def test_banded_kpi_without_bands_is_not_computed():
    kpis = pd.DataFrame([_kpi("AV", "banded", target=99.5)])
    line = credit_lines(_contract(), kpis, _meas(("AV", "2026-01", 90.0))).iloc[0]
    assert np.isnan(line["credit_pct"]) and "credit_bands" in line["problem"]


def test_manual_kpi_is_flagged_not_priced():
    kpis = pd.DataFrame([_kpi("M", "manual")])
    led = monthly_credits(_contract(), kpis, _meas(("M", "2026-01", 90.0)))
    assert led.iloc[0]["lines_manual"] == 1 and bool(led.iloc[0]["incomplete"])
    assert led.iloc[0]["credit_gbp"] == 0.0


# ------------------------------------------------------------------------------------------ CSLF rules


def _late_kpi():
    # Late items, lower is better: target 2, critical 10; 2% of £100,000 fixed credit when the target is missed.
    return [_kpi("LATE", "fixed", unit="count", direction="lower", target=2.0, critical=10.0, credit_pct=2.0)]


def _late_months(*months):
    return _meas(*[("LATE", f"2026-{m:02d}", 12 if m in months else 1) for m in range(1, 13)])


def test_cslf_more_than_once_in_any_three_months_suppresses_that_months_credits():
    # Critical in January, April and June; "more than once in any three months" = 2 in a window of 3: only June
    # (April–June holds 2). June's credits do not accrue: £2,000 (Jan) + £2,000 (Apr) = £4,000 for the year.
    rules = pd.DataFrame([dict(contract_id="C", kpi_id="LATE", count=2, window_months=3, effect="suppress_credits")])
    led = _ledger(_contract(start="2026-01-01"), _late_kpi(), _late_months(1, 4, 6), rules=rules)
    assert led["critical_failures"].sum() == 1 and led.loc[P("2026-06"), "critical_failures"] == 1
    assert bool(led.loc[P("2026-06"), "suppressed"]) and led.loc[P("2026-06"), "credit_gbp"] == 0.0
    assert led.loc[P("2026-06"), "suppressed_gbp"] == pytest.approx(2_000.0)
    assert led["credit_gbp"].sum() == pytest.approx(4_000.0)
    ytd = year_to_date(led.reset_index(), "2026-12").iloc[0]
    assert ytd["critical_failures"] == 1 and ytd["credits_gbp"] == pytest.approx(4_000.0)


def test_without_a_rule_every_critical_month_counts_and_nothing_is_suppressed():
    led = _ledger(_contract(start="2026-01-01"), _late_kpi(), _late_months(1, 4, 6))
    assert led["critical_failures"].sum() == 3 and led["credit_gbp"].sum() == pytest.approx(6_000.0)


def test_cslf_three_times_in_any_rolling_twelve_months_any_kpi():
    # Empty kpi_id: the rule applies to each KPI of the contract. Critical in Jan, Apr, Jun, Nov: June is the
    # third in 12 months, November the fourth (Jan–Nov): two failures, flagged only.
    rules = pd.DataFrame([dict(contract_id="C", kpi_id=None, count=3, window_months=12, effect="flag")])
    led = _ledger(_contract(start="2026-01-01"), _late_kpi(), _late_months(1, 4, 6, 11), rules=rules)
    fired = led.index[led["critical_failures"] > 0].astype(str).tolist()
    assert fired == ["2026-06", "2026-11"]
    assert not led["suppressed"].any() and led["credit_gbp"].sum() == pytest.approx(8_000.0)


# ------------------------------------------------------------------------------------------ pooled ratios


def test_pooled_quarter_window_rating_and_cpn_basis():
    # "P1 fixed within 4 hours": 1/2, 49/50, 48/50 → 98/102 = 96.08% (Good against a 95% target); the mean of
    # the three percentages, 81.3%, would be Inadequate (critical 85%).
    kpis = pd.DataFrame([_kpi("P1", "none", sla=90.0, target=95.0, critical=85.0, statutory=True,
                              description="P1 incidents fixed within 4 hours", volume_unit="incidents")])
    meas = _meas(("P1", "2026-07", 50.0, {"volume": 2.0}), ("P1", "2026-08", 98.0, {"volume": 50.0}),
                 ("P1", "2026-09", 96.0, {"volume": 50.0}))
    w = window_ratings(kpis, meas, "2026-07", "2026-09").iloc[0]
    assert w["value"] == pytest.approx(98 / 102 * 100) and w["rating"] == "Good"
    plain = window_ratings(kpis, meas.drop(columns="volume"), "2026-07", "2026-09").iloc[0]
    assert plain["value"] == pytest.approx((50 + 98 + 96) / 3) and plain["rating"] == "Inadequate"
    contracts = _contract(start="2024-01-01", authority="LB Test", procurement_id="P-1", title="Service desk",
                          supplier="Supplier Ltd", supplier_id="01234567")
    rows, _ = cpn_rows(contracts, kpis, meas, "2026-07", "2026-09")
    row = rows.iloc[0]
    assert row["rating"] == "Good"
    assert row["basis"].startswith("Volume-weighted mean 96.08%")


def test_no_activity_earns_nothing_and_is_not_a_missing_return_provisional_waits_for_the_final_figure():
    kpis = [_kpi("P1", "fixed", sla=90.0, target=95.0, credit_pct=2.0)]
    meas = _meas(("P1", "2026-05", 50.0, {"volume": 2.0}),
                 ("P1", "2026-06", np.nan, {"volume": 0.0}),
                 ("P1", "2026-07", 50.0, {"volume": 3.0, "complete": False}))
    lines = credit_lines(_contract(), pd.DataFrame(kpis), meas).set_index("period")
    assert lines.loc[P("2026-05"), "credit_gbp"] == pytest.approx(2_000.0)
    june = lines.loc[P("2026-06")]
    assert june["credit_pct"] == 0.0 and not june["not_reported"] and june["rule"].startswith("no activity")
    july = lines.loc[P("2026-07")]
    assert np.isnan(july["credit_pct"]) and july["provisional"] and "provisional" in july["rule"]
    led = _ledger(_contract(), kpis, meas)
    assert not led.loc[P("2026-06"), "incomplete"]  # nothing is missing in a month with nothing to measure
    assert led.loc[P("2026-07"), "incomplete"]  # the provisional month's credit is not final
