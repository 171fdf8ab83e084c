"""Service credits: hand-worked CCS-style examples, caps, critical failures, contract years, invariants."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cinb.credits import contract_year, credit_lines, credit_problems, monthly_credits, year_to_date
from frames import make_kpis, make_measurements
from cinb.errors import PROBLEM_COLUMNS

NA = np.nan


def make_contracts(*rows: dict) -> pd.DataFrame:
    defaults = {
        "title": "t", "authority": "LB Test", "supplier": "S", "start_date": "2024-04-15", "end_date": "2028-04-14",
        "annual_value_gbp": 120_000.0, "monthly_charge_gbp": 10_000.0, "service_credit_cap_pct": NA,
    }
    df = pd.DataFrame([{**defaults, **r} for r in rows])
    df["start_date"] = pd.to_datetime(df["start_date"])
    df["end_date"] = pd.to_datetime(df["end_date"])
    for c in ("annual_value_gbp", "monthly_charge_gbp", "service_credit_cap_pct"):
        df[c] = df[c].astype(float)
    return df


def one_month(contract: dict, kpis: list[dict], values: dict, period="2025-01"):
    c = make_contracts({"contract_id": "C1", **contract})
    k = make_kpis(*[{"contract_id": "C1", **x} for x in kpis])
    m = make_measurements(*[("C1", kid, period, v) for kid, v in values.items()])
    return c, k, m


# --- the CCS worked example and caps -------------------------------------------------------------------------


def test_shortfall_ccs_example_uncapped():
    # The worked example of docs/method.md (service credits): 98% target, 75% actual -> credit 23% of the monthly charge
    c, k, m = one_month({}, [dict(kpi_id="AV", target=98, credit_method="shortfall")], {"AV": 75})
    line = credit_lines(c, k, m).iloc[0]
    assert line["shortfall_pp"] == 23.0 and line["credit_pct"] == 23.0
    assert line["credit_gbp"] == pytest.approx(2_300.0)
    assert bool(line["missed"]) is True
    month = monthly_credits(c, k, m).iloc[0]
    assert month["raw_pct"] == 23.0 and month["capped_pct"] == 23.0
    assert math.isnan(month["cap_pct"]) and not month["cap_applied"]
    assert month["credit_gbp"] == pytest.approx(2_300.0)


def test_shortfall_capped_at_10_percent():
    c, k, m = one_month(
        {"service_credit_cap_pct": 10.0}, [dict(kpi_id="AV", target=98, credit_method="shortfall")], {"AV": 75}
    )
    month = monthly_credits(c, k, m).iloc[0]
    assert month["raw_pct"] == 23.0 and month["capped_pct"] == 10.0
    assert month["cap_applied"]
    assert month["credit_gbp"] == pytest.approx(1_000.0)


def test_two_fixed_failures_capped_at_8_percent():
    kpis = [
        dict(kpi_id="AV", sla=99, target=99.5, credit_method="fixed", credit_pct=5),
        dict(kpi_id="P1", direction="lower", unit="hours", sla=4, credit_method="fixed", credit_pct=5),
    ]
    c, k, m = one_month({"service_credit_cap_pct": 8.0, "monthly_charge_gbp": 25_000.0}, kpis, {"AV": 98.2, "P1": 6})
    lines = credit_lines(c, k, m)
    assert lines["credit_pct"].tolist() == [5.0, 5.0]
    month = monthly_credits(c, k, m).iloc[0]
    assert month["raw_pct"] == 10.0 and month["capped_pct"] == 8.0 and month["cap_applied"]
    assert month["credit_gbp"] == pytest.approx(2_000.0)  # 8% of £25,000


def test_fixed_at_the_sla_is_not_a_miss_and_no_sla_uses_target():
    kpis = [
        dict(kpi_id="AV", sla=99, target=99.5, credit_method="fixed", credit_pct=5),
        dict(kpi_id="T", target=90, credit_method="fixed", credit_pct=2),
        dict(kpi_id="T2", target=90, credit_method="fixed", credit_pct=3),
    ]
    c, k, m = one_month({}, kpis, {"AV": 99.0, "T": 89.9, "T2": 90})
    lines = credit_lines(c, k, m).set_index("kpi_id")
    assert lines.loc["AV", "credit_pct"] == 0.0 and lines.loc["AV", "level"] == 99.0
    assert lines.loc["T", "credit_pct"] == 2.0 and lines.loc["T", "level"] == 90.0
    assert lines.loc["T2", "credit_pct"] == 0.0
    assert monthly_credits(c, k, m).iloc[0]["raw_pct"] == 2.0


def test_lower_is_better_shortfall():
    # abandoned calls: target 5%, actual 8% -> 3% of the charge; actual 4% -> nothing
    kpis = [dict(kpi_id="AB", direction="lower", target=5, credit_method="shortfall")]
    c, k, m = one_month({}, kpis, {"AB": 8})
    assert credit_lines(c, k, m).iloc[0]["credit_pct"] == 3.0
    c, k, m = one_month({}, kpis, {"AB": 4})
    line = credit_lines(c, k, m).iloc[0]
    assert line["credit_pct"] == 0.0 and line["shortfall_pp"] == 0.0 and bool(line["missed"]) is False


def test_shortfall_met_target_and_float_noise():
    kpis = [dict(kpi_id="AV", target=99.9, credit_method="shortfall")]
    c, k, m = one_month({}, kpis, {"AV": 99.7})
    assert credit_lines(c, k, m).iloc[0]["credit_pct"] == 0.2  # not 0.20000000000000284
    c, k, m = one_month({}, kpis, {"AV": 100.0})
    assert credit_lines(c, k, m).iloc[0]["credit_pct"] == 0.0


def test_none_method_is_zero_but_critical_still_flagged():
    kpis = [dict(kpi_id="AV", target=98, critical=80)]
    c, k, m = one_month({}, kpis, {"AV": 80})
    line = credit_lines(c, k, m).iloc[0]
    assert line["credit_pct"] == 0.0 and line["critical_failure"]
    assert monthly_credits(c, k, m).iloc[0]["critical_failures"] == 1


@pytest.mark.parametrize(
    "direction, critical, value, expected",
    [("higher", 80, 80.0, True), ("higher", 80, 80.1, False), ("higher", 80, 79, True),
     ("lower", 8, 8.0, True), ("lower", 8, 7.9, False), ("lower", 8, 12, True)],
)
def test_critical_failure_at_or_beyond(direction, critical, value, expected):
    kpis = [dict(kpi_id="K", direction=direction, unit="hours", target=4 if direction == "lower" else 99,
                 critical=critical)]
    c, k, m = one_month({}, kpis, {"K": value})
    assert bool(credit_lines(c, k, m).iloc[0]["critical_failure"]) is expected


def test_not_reported_month_is_flagged_not_credited():
    kpis = [dict(kpi_id="AV", target=98, critical=80, credit_method="shortfall"),
            dict(kpi_id="FX", sla=95, credit_method="fixed", credit_pct=4)]
    c, k, m = one_month({}, kpis, {"AV": NA, "FX": 90})
    lines = credit_lines(c, k, m).set_index("kpi_id")
    assert lines.loc["AV", "not_reported"] and math.isnan(lines.loc["AV", "credit_pct"])
    assert not lines.loc["AV", "critical_failure"]
    assert pd.isna(lines.loc["AV", "missed"])
    month = monthly_credits(c, k, m).iloc[0]
    assert month["raw_pct"] == 4.0 and month["lines_not_reported"] == 1 and month["incomplete"]


def test_shortfall_in_hours_is_a_problem_not_a_guess():
    kpis = [dict(kpi_id="FIX", direction="lower", unit="hours", target=4, credit_method="shortfall"),
            dict(kpi_id="NT", credit_method="shortfall"),
            dict(kpi_id="FP", sla=95, credit_method="fixed"),
            dict(kpi_id="FL", credit_method="fixed", credit_pct=3),
            dict(kpi_id="OK", target=98, credit_method="shortfall")]
    c, k, m = one_month({}, kpis, {"FIX": 9, "NT": 50, "FP": 50, "FL": 50, "OK": 97})
    lines = credit_lines(c, k, m).set_index("kpi_id")
    assert math.isnan(lines.loc["FIX", "credit_pct"]) and "% unit" in lines.loc["FIX", "problem"]
    assert lines["problem"].notna().sum() == 4
    assert lines.loc["OK", "credit_pct"] == 1.0
    month = monthly_credits(c, k, m).iloc[0]
    assert month["raw_pct"] == 1.0 and month["lines_with_problem"] == 4 and month["incomplete"]
    probs = credit_problems(k)
    assert list(probs.columns) == PROBLEM_COLUMNS
    assert probs["column"].tolist() == ["unit", "target", "credit_pct", "sla"]
    assert probs["value"].tolist()[0] == "hours"
    assert (probs["severity"] == "warning").all() and (probs["table"] == "kpis").all()
    assert probs["problem"].iloc[0].startswith("KPI C1/FIX:")
    assert credit_problems(k.iloc[[4]]).empty


# --- contract years and the year-to-date ledger --------------------------------------------------------------


def test_contract_year_rule():
    # start 2024-04-15: year 1 is 2024-04..2025-03 (the start month counts in full), 2025-04 opens year 2
    periods = pd.Series(pd.PeriodIndex(["2024-03", "2024-04", "2025-03", "2025-04", "2026-03", "2026-04"], freq="M"))
    start = pd.Series(pd.to_datetime(["2024-04-15"] * 6))
    years = contract_year(periods, start)
    assert years.isna().tolist() == [True, False, False, False, False, False]
    assert years.tolist()[1:] == [1, 1, 2, 2, 3]
    # a contract starting on the 1st behaves the same way
    first_of_month = contract_year(pd.Series([pd.Period("2025-03", "M")]), pd.Series([pd.Timestamp("2024-04-01")]))
    assert first_of_month.tolist() == [1]


def _ledger_data():
    c = make_contracts(
        {"contract_id": "C1", "service_credit_cap_pct": 10.0},
        {"contract_id": "C2", "start_date": "2025-05-01"},
        {"contract_id": "C3", "start_date": "2023-01-10"},
    )
    k = make_kpis(
        {"contract_id": "C1", "kpi_id": "AV", "target": 98, "critical": 80, "credit_method": "shortfall"},
        {"contract_id": "C2", "kpi_id": "AV", "target": 98, "credit_method": "shortfall"},
        {"contract_id": "C3", "kpi_id": "AV", "target": 98, "credit_method": "shortfall"},
    )
    m = make_measurements(
        ("C1", "AV", "2025-02", 90),   # year 1: 8%
        ("C1", "AV", "2025-03", 97),   # year 1: 1%
        ("C1", "AV", "2025-04", 75),   # year 2: 23% -> cap 10%, critical
        ("C1", "AV", "2025-05", 95),   # year 2: 3%
        ("C1", "AV", "2025-06", NA),   # year 2: not reported
        ("C1", "AV", "2025-07", 60),   # after the ledger month
        ("C2", "AV", "2025-06", 97),   # C2 starts 2025-05
        ("C3", "AV", "2024-06", 90),   # C3 year 2 (2024-01..2024-12); nothing in year 3 yet
    )
    return c, k, m


def test_year_to_date_ledger():
    c, k, m = _ledger_data()
    monthly = monthly_credits(c, k, m)
    c1 = monthly.loc[monthly.contract_id == "C1"].set_index("period")
    assert c1["contract_year"].tolist() == [1, 1, 2, 2, 2, 2]
    assert c1["credit_gbp"].tolist() == pytest.approx([800, 100, 1000, 300, 0, 1000])
    ytd = year_to_date(monthly, "2025-06").set_index("contract_id")
    assert ytd.loc["C1", "contract_year"] == 2
    assert ytd.loc["C1", "year_start"] == pd.Period("2025-04", "M")
    assert ytd.loc["C1", "months"] == 3
    assert ytd.loc["C1", "credits_gbp"] == pytest.approx(1_300.0)
    assert ytd.loc["C1", "cap_hits"] == 1 and ytd.loc["C1", "critical_failures"] == 1
    assert ytd.loc["C1", "months_incomplete"] == 1
    assert ytd.loc["C2", "contract_year"] == 1 and ytd.loc["C2", "credits_gbp"] == pytest.approx(100.0)
    assert ytd.loc["C3", "contract_year"] == 3 and ytd.loc["C3", "months"] == 0
    assert ytd.loc["C3", "credits_gbp"] == 0.0
    # before C2 started it is left out of the ledger
    early = year_to_date(monthly, "2025-03").set_index("contract_id")
    assert "C2" not in early.index
    assert early.loc["C1", "contract_year"] == 1 and early.loc["C1", "credits_gbp"] == pytest.approx(900.0)


# --- invariants ----------------------------------------------------------------------------------------------

kpi_spec = st.tuples(
    st.sampled_from(["none", "shortfall", "fixed"]),
    st.sampled_from(["higher", "lower"]),
    st.floats(0, 100, allow_nan=False),                                   # target
    st.one_of(st.just(NA), st.floats(0, 100, allow_nan=False)),         # sla
    st.floats(0, 20, allow_nan=False),                                    # credit_pct
)


@settings(max_examples=60, deadline=None)
@given(
    specs=st.lists(kpi_spec, min_size=1, max_size=4),
    cap=st.one_of(st.just(NA), st.floats(0, 20, allow_nan=False)),
    cells=st.lists(st.one_of(st.just(NA), st.floats(0, 100, allow_nan=False)), min_size=12, max_size=12),
    seed=st.integers(0, 2**32 - 1),
)
def test_credit_invariants(specs, cap, cells, seed):
    c = make_contracts({"contract_id": "C1", "service_credit_cap_pct": cap},
                       {"contract_id": "C2", "service_credit_cap_pct": cap, "monthly_charge_gbp": 333.33})
    k = make_kpis(*[
        dict(contract_id=cid, kpi_id=f"K{i}", credit_method=meth, direction=d, target=t, sla=s, credit_pct=p)
        for cid in ("C1", "C2") for i, (meth, d, t, s, p) in enumerate(specs)
    ])
    rows = []
    it = iter(cells * 10)
    for cid in ("C1", "C2"):
        for i in range(len(specs)):
            for period in ("2025-01", "2025-02", "2025-03"):
                rows.append((cid, f"K{i}", period, next(it)))
    m = make_measurements(*rows)
    lines = credit_lines(c, k, m)
    monthly = monthly_credits(c, k, m)
    credit = lines["credit_pct"].dropna()
    assert (credit >= 0).all()
    assert (monthly["capped_pct"] >= 0).all() and (monthly["credit_gbp"] >= 0).all()
    if not math.isnan(cap):
        assert (monthly["capped_pct"] <= cap + 1e-12).all()
    line_sums = lines.groupby(["contract_id", "period"])["credit_pct"].sum().to_numpy()
    assert (monthly["capped_pct"].to_numpy() <= line_sums + 1e-9).all()
    gbp_sums = lines.groupby(["contract_id", "period"])["credit_gbp"].sum().to_numpy()
    assert (monthly["credit_gbp"].to_numpy() <= gbp_sums + 1e-6).all()
    # row order of any input does not change the result
    rng = np.random.default_rng(seed)
    shuffled = monthly_credits(
        c.iloc[rng.permutation(len(c))], k.iloc[rng.permutation(len(k))], m.iloc[rng.permutation(len(m))]
    )
    pd.testing.assert_frame_equal(shuffled, monthly)
