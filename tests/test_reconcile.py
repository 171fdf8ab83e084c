"""Reconciliation of the supplier's reported figures against figures derived from the records (cinb.reconcile).

Hand-worked: a portfolio (the sample with hand-made derived rows) whose reported and derived figures differ beyond
the tolerance in exactly two months gives exactly those two, in the review, pack.json, the section and the summary.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from cinb import contract_review, load_portfolio
from cinb.audience import for_audience, pack_for_audience
from cinb.config import SAMPLE_DIR
from cinb.errors import UsageError
from cinb.reconcile import (
    DEFAULT_TOLERANCES,
    Tolerance,
    difference_text,
    parse_tolerance,
    rating_measurements,
    reconcile,
)
from cinb.sections_reconcile import TITLE, reconciliation
from tests.frames import make_kpis, make_measurements

# Reported FTF (sample, winning revisions) May-Oct 2026: 74.7, 75.7, 74.2, 71.5 (restated), 75.1, 73.2.
# Derived rows: differences 0.1, 3.8, -0.3, 0.0, 4.3, -0.5 (= the tolerance: not beyond it) -> Jun and Sep flagged.
# P1RES (hours, 5% of the reported value): Sep 4.6 vs 4.7 (0.1 <= 0.23, agrees); Oct 4.1 vs 5.0 beyond 5% but the
# derived month is incomplete, so it is noted and never flagged.
DERIVED = [
    ("NB-SD-001", "FTF", "2026-05", "74.6", "3023", ""),
    ("NB-SD-001", "FTF", "2026-06", "71.9", "3043", ""),
    ("NB-SD-001", "FTF", "2026-07", "74.5", "2825", ""),
    ("NB-SD-001", "FTF", "2026-08", "71.5", "2576", ""),
    ("NB-SD-001", "FTF", "2026-09", "70.8", "3590", ""),
    ("NB-SD-001", "FTF", "2026-10", "73.7", "3269", ""),
    ("NB-SD-001", "P1RES", "2026-09", "4.7", "14", ""),
    ("NB-SD-001", "P1RES", "2026-10", "5.0", "9", "no"),
]


def portfolio_with_derived(tmp_path, rows=DERIVED):
    """The sample portfolio without any derived rows of its own, plus ``rows`` as derived measurements."""
    folder = tmp_path / "portfolio"
    shutil.copytree(SAMPLE_DIR, folder, ignore=shutil.ignore_patterns("records", "*.yml"))
    m = pd.read_csv(folder / "measurements.csv", dtype=str, keep_default_na=False)
    m = m[m["origin"] != "derived"]
    extra = pd.DataFrame([{"contract_id": c, "kpi_id": k, "period": p, "value": v, "submitted_on": "",
                           "revision": "", "note": "records exported 28 Oct 2026" if done == "no" else "",
                           "volume": vol, "complete": done, "origin": "derived"} for c, k, p, v, vol, done in rows])
    pd.concat([m, extra], ignore_index=True).to_csv(folder / "measurements.csv", index=False, lineterminator="\n")
    return load_portfolio(folder)


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory):
    return portfolio_with_derived(tmp_path_factory.mktemp("rec"))


# ------------------------------------------------------------------------------------------------ tolerances


def test_default_tolerances_and_overrides():
    t = parse_tolerance(None)
    assert t == DEFAULT_TOLERANCES
    assert (t["%"], t["count"], t["hours"], t["GBP"]) == (Tolerance(0.5), Tolerance(1.0), Tolerance(5.0, True),
                                                         Tolerance(1.0, True))
    t = parse_tolerance("%=1, hrs=10%, count = 0")
    assert (t["%"], t["hours"], t["count"], t["days"]) == (Tolerance(1.0), Tolerance(10.0, True), Tolerance(0.0),
                                                          DEFAULT_TOLERANCES["days"])
    assert parse_tolerance({"GBP": "2%"})["GBP"] == Tolerance(2.0, True)
    assert Tolerance(5.0, True).allowed(4.0) == pytest.approx(0.2)
    assert Tolerance(0.5).text("%") == "0.5 percentage points"
    assert Tolerance(5.0, True).text("hours") == "5% of the reported value"


@pytest.mark.parametrize("spec, match", [("percent 0.5", "is not UNIT=AMOUNT"), ("furlongs=2", "unknown unit"),
                                         ("%=-1", "is not UNIT=AMOUNT"), (3, "must be text")])
def test_bad_tolerance_gets_one_clear_message(spec, match):
    with pytest.raises(UsageError, match=match):
        parse_tolerance(spec)


def test_difference_text():
    assert difference_text(3.8, "%") == "+3.8 percentage points"
    assert difference_text(-0.25, "hours") == "-0.25 hours"
    assert difference_text(1.0, "%") == "+1 percentage point"
    assert difference_text(-2, "count") == "-2"
    assert difference_text(-1.0, "hours") == "-1 hour"


# ------------------------------------------------------------------------------------------- the comparison


def test_reconcile_by_hand():
    kpis = make_kpis({"contract_id": "C", "kpi_id": "A", "name": "Share", "unit": "%"},
                     {"contract_id": "C", "kpi_id": "T", "name": "Time", "unit": "hours"},
                     {"contract_id": "C", "kpi_id": "N", "name": "Count", "unit": "count"})
    reported = make_measurements(("C", "A", "2026-01", 70.0), ("C", "A", "2026-02", 71.0), ("C", "A", "2026-03", 72.0),
                                 ("C", "A", "2026-04", 73.0), ("C", "A", "2026-05", 74.0), ("C", "T", "2026-01", 4.0),
                                 ("C", "N", "2026-01", 10.0), ("C", "N", "2026-02", 10.0),
                                 ("C", "N", "2026-03", np.nan), ("C", "A", "2025-12", 50.0))
    derived = make_measurements(("C", "A", "2026-01", 70.2), ("C", "A", "2026-02", 72.0), ("C", "A", "2026-03", 72.5),
                                ("C", "A", "2026-04", 70.0), ("C", "A", "2026-05", 74.6), ("C", "T", "2026-01", 4.3),
                                ("C", "N", "2026-01", 11.0), ("C", "N", "2026-02", 12.0), ("C", "N", "2026-03", 3.0),
                                ("C", "A", "2026-06", 10.0))  # June: no reported row, not compared
    derived["complete"] = pd.array([True, True, True, True, False, True, pd.NA, True, True, True], dtype="boolean")
    derived["note"] = [None, None, None, None, "still open", None, None, None, None, None]
    rec = reconcile(kpis, reported, derived)
    got = rec[["kpi_id", "period", "status"]].astype(str).values.tolist()
    assert got == [["A", "2026-01", "agrees"],     # 0.2 <= 0.5
                   ["A", "2026-02", "differs"],    # 1.0 > 0.5
                   ["A", "2026-03", "agrees"],     # 0.5: not more than the tolerance
                   ["A", "2026-04", "differs"],    # 3.0
                   ["A", "2026-05", "incomplete"],  # 0.6, but the derived month is incomplete
                   ["T", "2026-01", "differs"],    # 0.3 > 5% of 4.0 = 0.2
                   ["N", "2026-01", "agrees"],     # 1 <= 1 (complete <NA> = complete)
                   ["N", "2026-02", "differs"],    # 2 > 1
                   ["N", "2026-03", "not_reported"]]
    assert rec["difference"].round(6).tolist()[:5] == [-0.2, -1.0, -0.5, 3.0, -0.6]
    assert rec["allowed"].round(6).tolist()[5] == 0.2
    assert rec.loc[4, "note"] == "still open" and not rec.loc[4, "flagged"]
    assert rec["flagged"].sum() == 4
    # A looser tolerance for % KPIs leaves only the 3-point month of them.
    loose = reconcile(kpis, reported, derived, tolerance="%=1")
    assert loose.loc[loose["flagged"] & (loose["kpi_id"] == "A"), "period"].astype(str).tolist() == ["2026-04"]
    # Only months up to the review month.
    assert reconcile(kpis, reported, derived, end="2026-02")["period"].astype(str).tolist() == [
        "2026-01", "2026-02", "2026-01", "2026-01", "2026-02"]
    # Nothing derived: nothing compared.
    assert reconcile(kpis, reported, derived.iloc[0:0]).empty


def test_rating_measurements_uses_derived_rows_where_they_exist():
    reported = make_measurements(("C", "A", "2026-01", 70.0), ("C", "A", "2026-02", 71.0), ("C", "B", "2026-01", 1.0))
    derived = make_measurements(("C", "A", "2026-02", 65.0), ("C", "A", "2026-03", 66.0))
    assert rating_measurements(reported, derived, "reported") is reported
    both = rating_measurements(reported, derived, "derived")
    assert both[["kpi_id", "period", "value"]].astype(str).values.tolist() == [
        ["A", "2026-01", "70.0"], ["A", "2026-02", "65.0"], ["A", "2026-03", "66.0"], ["B", "2026-01", "1.0"]]
    with pytest.raises(UsageError, match="rate_on must be one of reported, derived"):
        rating_measurements(reported, derived, "supplier")


# ------------------------------------------------------------------------------ the review, pack and section


def test_exactly_two_months_flagged_in_review_and_pack(portfolio):
    r = contract_review(portfolio, "NB-SD-001", "2026-10")
    rec = r.reconciliation
    assert len(rec) == 8
    assert rec.loc[rec["flagged"], ["kpi_id", "period"]].astype(str).values.tolist() == [
        ["FTF", "2026-06"], ["FTF", "2026-09"]]
    assert rec.loc[rec["status"] == "incomplete", "period"].astype(str).tolist() == ["2026-10"]
    pack = r.to_pack()
    got = [{k: x[k] for k in ("kpi_id", "period", "reported", "derived", "difference")} for x in pack["reconciliation"]]
    assert got == [{"kpi_id": "FTF", "period": "2026-06", "reported": 75.7, "derived": 71.9,
                    "difference": pytest.approx(3.8)},
                   {"kpi_id": "FTF", "period": "2026-09", "reported": 75.1, "derived": 70.8,
                    "difference": pytest.approx(4.3)}]
    assert [(x["reported_volume"], x["derived_volume"]) for x in pack["reconciliation"]] == [(3043, 3043),
                                                                                             (3590, 3590)]
    s = pack["reconciliation_summary"]
    assert (s["compared"], s["agree"], s["differ"], s["incomplete"], s["rate_on"]) == (8, 5, 2, 1, "reported")
    assert s["tolerance"] == "% KPIs: 0.5 percentage points; hours KPIs: 5% of the reported value"
    # The executive summary and the meeting questions name them.
    summary = " ".join(r.summary)
    assert ("differ from those derived from the records by more than the tolerance in 2 of the 7 complete KPI-months "
            "compared") in summary
    assert "First-time fix rate in Jun 2026 (75.7% reported, 71.9% from the records)" in summary
    q = [x for x in r.questions if "records give" in x]
    assert q == ["First-time fix rate: the supplier reported 75.7% and 75.1% for Jun 2026 and Sep 2026, but the "
                 "records give 71.9% and 70.8%: how were these figures computed, and will they be restated?"]
    # Ratings keep using the supplier's figures: the same as without any derived row.
    plain = contract_review(load_portfolio(), "NB-SD-001", "2026-10")
    assert r.window_ratings.equals(plain.window_ratings)


def test_section_shows_a_table_with_headers_and_the_tolerance(portfolio):
    r = contract_review(portfolio, "NB-SD-001", "2026-10")
    html = "".join(x.to_html() for x in reconciliation(r))
    assert f'<h2 id="reconciliation">{TITLE.replace(chr(39), "&#x27;")}</h2>' in html
    for header in ("KPI", "Month", "Reported by the supplier", "From the records", "Difference", "Tolerance",
                   "Volume reported", "Volume in the records"):
        assert f">{header}</th>" in html
    assert html.count('<th scope="row"') == 2  # exactly the two flagged months
    assert "Jun 2026" in html and "Sep 2026" in html and "+3.8 percentage points" in html
    assert "0.5 percentage points" in html and "5% of the reported value" in html
    assert "use the supplier&#x27;s reported figures" in html
    assert "Not judged, because the records for these months were incomplete" in html
    assert "records exported 28 Oct 2026" in html
    # A contract with no derived figures has no section at all.
    other = contract_review(portfolio, "NB-HOST-002", "2026-10")
    assert reconciliation(other) == [] and other.to_pack()["reconciliation"] == []
    assert not any("records" in s for s in other.summary)


def test_rate_on_derived_rates_the_records(portfolio):
    r = contract_review(portfolio, "NB-SD-001", "2026-10", rate_on="derived")
    ftf = next(k for k in r.kpis if k.kpi_id == "FTF")
    # The charted series carries the derived values where they exist and the reported ones elsewhere.
    assert ftf.series[pd.Period("2026-06", "M")] == 71.9 and ftf.series[pd.Period("2026-04", "M")] == 74.9
    p1 = next(k for k in r.kpis if k.kpi_id == "P1RES")
    assert p1.status == "incomplete"  # the derived October is incomplete: never the review month's result
    plain = contract_review(portfolio, "NB-SD-001", "2026-10")
    assert next(k for k in plain.kpis if k.kpi_id == "P1RES").status == "reported"
    w = r.window_ratings.set_index("kpi_id").loc["FTF", "value"]
    assert w < plain.window_ratings.set_index("kpi_id").loc["FTF", "value"]
    assert r.to_pack()["reconciliation_summary"]["rate_on"] == "derived"
    assert "rate_on = derived" in "".join(x.to_html() for x in reconciliation(r))
    with pytest.raises(UsageError, match="rate_on"):
        contract_review(portfolio, "NB-SD-001", "2026-10", rate_on="both")


def test_supplier_pack_keeps_its_own_reconciliation(portfolio):
    r = for_audience(contract_review(portfolio, "NB-SD-001", "2026-10", audience="supplier"))
    assert r.reconciliation["flagged"].sum() == 2
    pack = pack_for_audience(r.to_pack())
    assert [x["period"] for x in pack["reconciliation"]] == ["2026-06", "2026-09"]
    assert "questions" not in pack or not pack["questions"]
    # Figures only: no file or folder of the authority's (the derived rows' source) travels with them.
    assert {k for x in pack["reconciliation"] for k in x} == {"kpi_id", "period", "reported", "derived", "difference",
                                                             "reported_volume", "derived_volume", "tolerance"}
    assert any("records" in s for s in r.summary)
    # A definitions file given as a parameter is named by its file name only in a supplier pack's record.
    from cinb.audience import record_for_audience

    shown = record_for_audience({"parameters": {"definitions": "/srv/authority/kpis/derive.yml"}}, "supplier")
    assert shown["parameters"]["definitions"] == "derive.yml"
