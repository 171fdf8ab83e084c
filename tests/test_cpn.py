"""Contract Performance Notice rows, problems (s.52, reg. 39 fields) and the safe CSV writer."""

from __future__ import annotations

import csv
import os

import numpy as np
import pandas as pd
import pytest

from cinb.cpn import CPN_COLUMNS, CPN_DETAIL_COLUMNS, NOTICE_FIELDS, cpn_rows, term_years, write_cpn_csv
from cinb.errors import PROBLEM_COLUMNS, UsageError
from cinb.ratings import RatingBands

import frames
from frames import make_measurements

NA = np.nan


def make_contracts(*rows: dict) -> pd.DataFrame:
    defaults = {
        "title": "Service desk", "authority": "LB Test", "supplier": "Acme Ltd", "supplier_id": "01234567",
        "procurement_id": "ocds-h6vhtk-000001", "start_date": "2024-04-01", "end_date": "2027-03-31",
        "annual_value_gbp": 1_000_000.0, "service_credit_cap_pct": NA,
    }
    df = pd.DataFrame([{**defaults, **r} for r in rows])
    df["start_date"] = pd.to_datetime(df["start_date"])
    df["end_date"] = pd.to_datetime(df["end_date"])
    df["annual_value_gbp"] = df["annual_value_gbp"].astype(float)
    df["monthly_charge_gbp"] = df["annual_value_gbp"] / 12
    return df


def make_kpis(*rows: dict) -> pd.DataFrame:
    return frames.make_kpis(*rows, statutory=True)  # CPN tests are about statutory KPIs


@pytest.fixture
def portfolio():
    contracts = make_contracts(
        {"contract_id": "C1"},
        {"contract_id": "C2", "procurement_id": NA, "supplier_id": NA, "start_date": "2025-06-15",
         "end_date": "2029-06-14", "annual_value_gbp": 3_000_000.0},
        {"contract_id": "OLD", "start_date": "2020-01-01", "end_date": "2025-03-31"},  # ended before the period
    )
    kpis = make_kpis(
        {"contract_id": "C1", "kpi_id": "AV", "name": "Availability", "sla": 95, "target": 98, "critical": 90},
        {"contract_id": "C1", "kpi_id": "FIX", "name": "P1 fix time", "unit": "hours", "direction": "lower",
         "target": 4, "tolerance": 1},
        {"contract_id": "C1", "kpi_id": "SAT", "name": "Satisfaction", "unit": "score", "target": 8,
         "statutory": False},
        {"contract_id": "C2", "kpi_id": "UP", "name": "Uptime", "target": 99.9},
        {"contract_id": "C2", "kpi_id": "NT", "name": "No target"},
        {"contract_id": "OLD", "kpi_id": "AV", "name": "Availability", "target": 98},
    )
    meas = make_measurements(
        ("C1", "AV", "2025-03", 10),  # before the period
        ("C1", "AV", "2025-04", 97), ("C1", "AV", "2025-05", 96), ("C1", "AV", "2025-06", NA),
        ("C1", "FIX", "2025-04", 3), ("C1", "FIX", "2025-05", 10),
        ("C1", "SAT", "2025-04", 2),
        ("C2", "NT", "2025-07", 50),
        ("OLD", "AV", "2025-03", 50),
    )
    return contracts, kpis, meas


def test_rows_one_per_contract_and_statutory_kpi(portfolio):
    rows, _ = cpn_rows(*portfolio, "2025-04", "2026-03")
    assert list(rows.columns) == CPN_COLUMNS
    assert list(zip(rows.contract_id, rows.kpi_id)) == [("C1", "AV"), ("C1", "FIX"), ("C2", "NT"), ("C2", "UP")]
    r = rows.set_index(["contract_id", "kpi_id"])
    # C1/AV: mean of 97 and 96 = 96.5, misses 98, meets 95
    assert r.loc[("C1", "AV"), "rating"] == "Approaching target"
    assert r.loc[("C1", "AV"), "basis"] == (
        "Mean 96.5% vs target 98%, SLA 95%, critical 90% (higher is better); 2 of 12 months reported."
    )
    # C1/FIX: mean 6.5 hours, outside 4 ± 1, no critical
    assert r.loc[("C1", "FIX"), "rating"] == "Requires improvement"
    assert "Mean 6.5 hours vs target 4 hours (lower is better)" in r.loc[("C1", "FIX"), "basis"]
    assert r.loc[("C2", "UP"), "rating"] == "Other"
    assert r.loc[("C2", "UP"), "basis"] == "No value reported in the period (0 of 10 months reported)."
    assert r.loc[("C2", "NT"), "rating"] == "Other"
    assert r.loc[("C2", "NT"), "basis"].startswith("No target or SLA set")
    c1 = r.loc[("C1", "AV")]
    assert (c1["authority"], c1["procurement_id"], c1["contract_title"], c1["supplier_name"], c1["supplier_id"]) == (
        "LB Test", "ocds-h6vhtk-000001", "Service desk", "Acme Ltd", "01234567"
    )
    assert (c1["period_start"], c1["period_end"]) == ("2025-04", "2026-03")
    # C2 started mid-period: its notice covers its own months only
    assert (r.loc[("C2", "UP"), "period_start"], r.loc[("C2", "UP"), "period_end"]) == ("2025-06", "2026-03")
    assert r.loc[("C1", "AV"), "kpi_name"] == "Availability"


def test_problems_reported_not_guessed(portfolio):
    _, problems = cpn_rows(*portfolio, "2025-04", "2026-03")
    assert list(problems.columns) == PROBLEM_COLUMNS
    errors = problems[problems.severity == "error"]
    addresses = errors[errors.column == "supplier_address"]
    assert sorted(errors.loc[errors.column != "supplier_address", "column"]) == ["procurement_id", "supplier_id"]
    assert errors.loc[errors.column != "supplier_address", "problem"].str.startswith("contract C2:").all()
    # version 1 (no reg. 39 contact details at all): one error per contract naming the columns to add
    assert sorted(addresses["problem"].str[:11]) == ["contract C1", "contract C2"]
    assert addresses["fix"].str.contains("supplier_address, supplier_email, authority_id").all()
    kpi_problems = problems[problems.problem.str.contains("statutory KPI")]
    assert len(kpi_problems) == 2
    assert any("C2, statutory KPI NT has no target or SLA" in p for p in kpi_problems["problem"])
    assert any("C2, statutory KPI UP has 0 reported months" in p for p in kpi_problems["problem"])
    # s.52: C2 is £3m a year for 4 years = £12m with 2 statutory KPIs; C1 is £3m in total
    s52 = problems[problems.problem.str.contains("s.52")]
    assert len(s52) == 1 and s52["problem"].iloc[0].startswith("contract C2: total value £12,000,000")
    assert not problems["problem"].str.contains("OLD").any()


@pytest.mark.parametrize(
    "annual, n_statutory, flagged",
    [(1_700_000.0, 2, True),       # 3 years x £1.7m = £5.1m
     (1_666_666.0, 2, False),      # £4,999,998: not over £5m
     (1_700_000.0, 3, False)],     # three statutory KPIs satisfy s.52
)
def test_s52_threshold(annual, n_statutory, flagged):
    contracts = make_contracts({"contract_id": "C1", "annual_value_gbp": annual})
    kpis = make_kpis(*[{"contract_id": "C1", "kpi_id": f"K{i}", "target": 98} for i in range(3)])
    kpis["statutory"] = [i < n_statutory for i in range(3)]
    meas = make_measurements(*[("C1", f"K{i}", "2025-04", 99) for i in range(3)])
    rows, problems = cpn_rows(contracts, kpis, meas, "2025-04", "2025-04")
    assert len(rows) == n_statutory and (rows["rating"] == "Good").all()
    assert problems["problem"].str.contains("s.52").any() == flagged


def test_term_years_is_calendar_aware():
    assert term_years(pd.Timestamp("2023-04-01"), pd.Timestamp("2026-03-31")) == 3.0  # includes 29 Feb 2024
    assert term_years(pd.Timestamp("2024-04-01"), pd.Timestamp("2027-03-31")) == 3.0
    assert term_years(pd.Timestamp("2025-06-15"), pd.Timestamp("2029-06-14")) == 4.0
    assert term_years(pd.Timestamp("2025-01-01"), pd.Timestamp("2025-06-30")) == 0.5
    assert np.isnan(term_years(pd.NaT, pd.Timestamp("2025-06-30")))


def test_no_statutory_kpis_gives_empty_rows(portfolio):
    contracts, kpis, meas = portfolio
    kpis = kpis.assign(statutory=False)
    rows, problems = cpn_rows(contracts, kpis, meas, "2025-04", "2026-03")
    assert rows.empty and list(rows.columns) == CPN_COLUMNS
    assert problems["problem"].str.contains("s.52").sum() == 1  # C2 over £5m with none


def test_bands_change_the_rating(portfolio):
    rows, _ = cpn_rows(*portfolio, "2025-04", "2026-03", bands=RatingBands(aggregation="latest"))
    r = rows.set_index(["contract_id", "kpi_id"])
    assert r.loc[("C1", "FIX"), "rating"] == "Requires improvement"  # latest 10 hours, no critical level
    assert r.loc[("C1", "AV"), "basis"].startswith("Latest 96%")
    with pytest.raises(UsageError):
        cpn_rows(*portfolio, "2026-03", "2025-04")


# --- CSV writer ----------------------------------------------------------------------------------------------


def _read(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def test_csv_neutralises_formula_cells(tmp_path):
    rows = pd.DataFrame(
        {c: ["x"] * 7 for c in CPN_COLUMNS}
    )
    rows["contract_title"] = ["=HYPERLINK(\"http://evil\")", "+1", "-2+3", "@SUM(A1)", "\tx", "a=b", "Normal, title"]
    rows.loc[0, "supplier_id"] = None
    out = write_cpn_csv(rows, tmp_path / "cpn.csv")
    assert out == tmp_path / "cpn.csv"
    got = _read(out)
    assert got[0] == CPN_COLUMNS
    titles = [r[CPN_COLUMNS.index("contract_title")] for r in got[1:]]
    assert titles == ["'=HYPERLINK(\"http://evil\")", "'+1", "'-2+3", "'@SUM(A1)", "'\tx", "a=b", "Normal, title"]
    assert got[1][CPN_COLUMNS.index("supplier_id")] == ""
    assert os.listdir(tmp_path) == ["cpn.csv"]  # no temporary file left behind


def test_csv_write_is_atomic(tmp_path, monkeypatch, portfolio):
    target = tmp_path / "cpn.csv"
    target.write_text("previous notice\n", encoding="utf-8")
    rows, _ = cpn_rows(*portfolio, "2025-04", "2026-03")

    def boom(self, *a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(OSError, match="disk full"):
        write_cpn_csv(rows, target)
    assert target.read_text(encoding="utf-8") == "previous notice\n"
    assert os.listdir(tmp_path) == ["cpn.csv"]


def test_csv_round_trip_and_missing_folder(tmp_path, portfolio):
    rows, _ = cpn_rows(*portfolio, "2025-04", "2026-03")
    path = write_cpn_csv(rows, tmp_path / "cpn.csv")
    back = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(back.columns) == CPN_COLUMNS
    assert back["rating"].tolist() == rows["rating"].tolist()
    assert back["basis"].tolist() == rows["basis"].tolist()
    with pytest.raises(UsageError, match="does not exist"):
        write_cpn_csv(rows, tmp_path / "nowhere" / "cpn.csv")


def test_problems_point_at_the_input_row(portfolio):
    contracts, kpis, meas = portfolio
    contracts = contracts.assign(source="contracts.csv", row=[2, 3, 4])
    _, problems = cpn_rows(contracts, kpis, meas, "2025-04", "2026-03")
    missing = problems[problems.column == "procurement_id"].iloc[0]
    assert (missing["source"], missing["row"], missing["table"]) == ("contracts.csv", 3, "contracts")


def test_basis_explains_other_ratings(portfolio):
    contracts, kpis, meas = portfolio
    bands = RatingBands(min_months_reported=3, no_target="other")
    kpis = kpis.copy()
    kpis.loc[kpis.kpi_id == "NT", "sla"] = 95.0
    rows, problems = cpn_rows(contracts, kpis, meas, "2025-04", "2026-03", bands=bands)
    r = rows.set_index(["contract_id", "kpi_id"])
    assert r.loc[("C1", "AV"), "rating"] == "Other"
    assert r.loc[("C1", "AV"), "basis"] == "Too few months to rate: 2 of 12 months reported, at least 3 needed."
    assert r.loc[("C2", "NT"), "basis"].startswith("No target set, and the rating bands in force")
    assert problems["problem"].str.contains("statutory KPI NT has no target, so").any()


# --- version-2 contract columns (reg. 39 supplier and authority details) ----------------------------------------

V2 = {"supplier_address": "1 Supplier Street, Leeds LS1 4AP", "supplier_email": "bids@acme.example",
      "authority_id": "GB-PPON-ABCD-1234-EFGH", "authority_address": "Town Hall, Testville TE1 1ST",
      "authority_email": "procurement@lbtest.example.gov.uk", "authority_contact": "Commercial team",
      "procurement_title": "Service desk services"}


def test_v1_portfolio_gives_the_v1_columns_first_and_empty_v2_columns(portfolio, tmp_path):
    rows, _ = cpn_rows(*portfolio, "2025-04", "2026-03")
    assert CPN_COLUMNS[:12] == ["authority", "procurement_id", "contract_id", "contract_title", "supplier_name",
                                "supplier_id", "period_start", "period_end", "kpi_id", "kpi_name", "rating", "basis"]
    assert CPN_COLUMNS[12:] == [name for name, _ in NOTICE_FIELDS] == list(V2)
    assert rows[CPN_COLUMNS[12:]].isna().all().all()
    got = _read(write_cpn_csv(rows, tmp_path / "cpn.csv"))
    assert all(r[12:] == [""] * 7 for r in got[1:])


def test_v2_columns_are_carried_and_each_missing_one_is_an_error(portfolio):
    contracts, kpis, meas = portfolio
    contracts = contracts.assign(**V2)
    contracts.loc[contracts.contract_id == "C1", "supplier_email"] = np.nan
    contracts.loc[contracts.contract_id == "C1", "procurement_title"] = "  "
    contracts = contracts.assign(source="contracts.csv", row=[2, 3, 4])
    rows, problems = cpn_rows(contracts, kpis, meas, "2025-04", "2026-03")
    c2 = rows[rows.contract_id == "C2"].iloc[0]
    assert {k: c2[k] for k in V2} == V2
    assert rows.loc[rows.contract_id == "C1", "supplier_email"].isna().all()
    notice = problems[problems.column.isin(list(V2))]
    assert notice[["severity", "row", "column"]].values.tolist() == [
        ["error", 2, "supplier_email"], ["error", 2, "procurement_title"]]
    assert notice["problem"].tolist() == [
        "contract C1: the supplier's email address is required in a Contract Performance Notice and is missing",
        "contract C1: the procurement title is required in a Contract Performance Notice and is missing"]
    assert (notice["source"] == "contracts.csv").all()


@pytest.mark.parametrize("email, ok", [("bids@acme.example", True), ("Bids.Team+cpn@acme.co.uk", True),
                                       ("bids at acme.example", False), ("bids@acme", False),
                                       ("bids@@acme.example", False), ("bids@acme.example.", False)])
def test_email_shape(portfolio, email, ok):
    contracts, kpis, meas = portfolio
    contracts = contracts.assign(**V2, row=[2, 3, 4], source="contracts.csv")
    contracts.loc[contracts.contract_id == "C2", "authority_email"] = email
    _, problems = cpn_rows(contracts, kpis, meas, "2025-04", "2026-03")
    bad = problems[problems.column == "authority_email"]
    if ok:
        assert bad.empty
    else:
        (e,) = bad.to_dict("records")
        assert (e["severity"], e["source"], e["row"], e["value"]) == ("error", "contracts.csv", 3, email)
        assert e["problem"] == "contract C2: the authority's email address is not an email address (name@example.org)"


def test_detail_columns_for_the_ocds_export(portfolio):
    rows, _ = cpn_rows(*portfolio, "2025-04", "2026-03", detail=True)
    assert list(rows.columns) == CPN_COLUMNS + CPN_DETAIL_COLUMNS
    r = rows.set_index(["contract_id", "kpi_id"])
    assert r.loc[("C1", "AV"), "value"] == 96.5 and r.loc[("C1", "AV"), "target"] == 98
    assert r.loc[("C1", "FIX"), "unit"] == "hours" and r.loc[("C1", "FIX"), "direction"] == "lower"
    assert r.loc[("C2", "UP"), "contract_start"] == pd.Timestamp("2025-06-15")
    contracts, kpis, meas = portfolio
    empty, _ = cpn_rows(contracts, kpis.assign(statutory=False), meas, "2025-04", "2026-03", detail=True)
    assert empty.empty and list(empty.columns) == list(rows.columns)
