"""The credit schedules of data contract version 2 in the data layer: ``credit_bands`` and ``critical_failure_rules``.

Read from every source and written to every sink like any other table, checked with located messages (file,
sheet, row, column, value, problem, fix), absent without a word from a version-1 portfolio (whose data hash does
not move), and applied end to end: a contract review of a banded KPI under a suppress_credits rule gives the
figures worked by hand below (the same schedule as tests/test_credit_schedules.py).
"""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cinb.errors import format_problem
from cinb.load import load_portfolio, save_portfolio
from cinb.review import contract_review
from cinb.schema import CREDIT_METHODS, KEYS, QUIET_OPTIONAL_TABLES, TABLE_ORDER, TABLES
from cinb.store import ingest, store_url

TODAY = "2026-11-26"
HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("corpus", HERE / "bad_inputs" / "corpus.py")
corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)

#: The sample portfolio as it was before data contract version 2 and its data hash then (as in
#: tests/test_contract_v2.py): the credit tables must not change a version-1 portfolio's data version.
V1_SAMPLE = HERE / "v2_inputs" / "v1_sample"
V1_SAMPLE_HASH = "c6797d8ea572309a346433429766f1e6fd6646b23a651e4db395db9e633e2ee9"
FORMATS = ("csv", "excel", "sql")

# One contract at £10,000 a month from 1 January 2026: availability (AV) credited by bands, late items (LATE,
# lower is better, critical at 10) credited 2 % a month the target of 2 is missed. A second contract for ids.
CONTRACTS = """contract_id,title,authority,supplier,start_date,end_date,annual_value_gbp,monthly_charge_gbp
C,Hosting,London Borough of Testham,Acme Hosting Ltd,2026-01-01,2028-12-31,120000,10000
D,Service desk,London Borough of Testham,Bravo Support Ltd,2026-01-01,2028-12-31,240000,
"""
KPIS = """contract_id,kpi_id,name,unit,direction,sla,target,critical,credit_method,credit_pct
C,AV,Availability,%,higher,,99.5,90,banded,
C,LATE,Late items,count,lower,,2,10,fixed,2
D,FTF,First-time fix,%,higher,70,75,,none,
D,RES,Resolution time,hours,lower,8,4,,banded,
"""
AV = {"2026-01": 99.0, "2026-02": 97.5, "2026-03": 94.0, "2026-04": 99.6, "2026-05": 99.5, "2026-06": 99.0}
LATE = {"2026-01": 12, "2026-02": 1, "2026-03": 1, "2026-04": 12, "2026-05": 1, "2026-06": 12}
MEASUREMENTS = "contract_id,kpi_id,period,value\n" + "".join(
    f"C,AV,{m},{AV[m]}\nC,LATE,{m},{LATE[m]}\nD,FTF,{m},72\nD,RES,{m},5\n" for m in AV)
# Missing the target by up to 1 point: 5 %; by more than 1: 10 %; by 5 or more: 15 %.
BANDS = """contract_id,kpi_id,shortfall_from,strictly_above,credit_pct
C,AV,0,yes,5
C,AV,1,yes,10
C,AV,5,no,15
D,RES,0,,2
D,RES,2,,4
"""
# "More than once in any three months": 2 critical months in a window of 3, and that month's credits do not accrue.
RULES = """contract_id,kpi_id,count,window_months,effect
C,LATE,2,3,suppress_credits
"""


def tables(*, kpis=KPIS, bands=BANDS, rules=RULES) -> dict[str, bytes]:
    out = {"contracts": CONTRACTS.encode(), "kpis": kpis.encode(), "measurements": MEASUREMENTS.encode(),
           "initiatives": b"contract_id,initiative_id,title,status\n"}
    if bands is not None:
        out["credit_bands"] = bands.encode()
    if rules is not None:
        out["critical_failure_rules"] = rules.encode()
    return out


def load(tmp_path, fmt="csv", strict=True, **kw):
    tmp_path.mkdir(parents=True, exist_ok=True)
    return load_portfolio(corpus.build(fmt, tables(**kw), tmp_path), strict=strict, today=TODAY)


def texts(frame: pd.DataFrame) -> list[str]:
    return [format_problem(r) for _, r in frame.iterrows()]


def at(frame: pd.DataFrame, table: str, row: int, column: str) -> tuple[pd.Series, str]:
    """The one problem of ``frame`` at ``table``, ``row`` and ``column``, and its text as printed."""
    hit = frame[(frame["table"] == table) & (frame["row"] == row) & (frame["column"] == column)]
    assert len(hit) == 1, (table, row, column, texts(frame))
    return hit.iloc[0], format_problem(hit.iloc[0])


# --- the contract as data ---------------------------------------------------------------------------------------


def test_the_tables_are_in_the_contract():
    assert TABLE_ORDER[-3:] == ("process_changes", "credit_bands", "critical_failure_rules")
    assert {"credit_bands", "critical_failure_rules"} <= set(QUIET_OPTIONAL_TABLES)
    assert [c.name for c in TABLES["credit_bands"]] == ["contract_id", "kpi_id", "shortfall_from", "strictly_above",
                                                        "credit_pct"]
    assert [c.name for c in TABLES["critical_failure_rules"]] == ["contract_id", "kpi_id", "count", "window_months",
                                                                  "effect"]
    assert all(c.since == 2 for t in ("credit_bands", "critical_failure_rules") for c in TABLES[t])
    assert KEYS["critical_failure_rules"] == ("contract_id", "kpi_id")
    assert {"banded", "manual"} <= set(CREDIT_METHODS)


# --- every source, every sink -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_credit_tables_are_read_from_every_source(fmt, tmp_path):
    p = load(tmp_path, fmt)
    b = p.credit_bands
    assert b[["contract_id", "kpi_id"]].values.tolist() == [["C", "AV"]] * 3 + [["D", "RES"]] * 2
    assert b["shortfall_from"].tolist() == [0.0, 1.0, 5.0, 0.0, 2.0]
    assert b["strictly_above"].tolist() == [True, True, False, False, False]  # empty: no
    assert b["credit_pct"].tolist() == [5.0, 10.0, 15.0, 2.0, 4.0]
    r = p.critical_failure_rules
    assert r[["contract_id", "kpi_id", "effect"]].values.tolist() == [["C", "LATE", "suppress_credits"]]
    assert (r["count"].iloc[0], r["window_months"].iloc[0]) == (2, 3)
    acc = p.accounting.set_index("table")
    assert acc.loc["credit_bands"].tolist() == [5, 5, 0, 0] and acc.loc["critical_failure_rules"].tolist() == [1, 1, 0, 0]
    assert len(p.warnings) == 0
    assert p.data_hash == load(tmp_path / "csv", "csv").data_hash  # the same data whatever the source
    assert p.data_hash != load(tmp_path / "none", "csv", bands=None, rules=None, kpis=KPIS.replace(
        "banded", "none")).data_hash
    assert len(p.contract("D").credit_bands) == 2 and len(p.contract("D").critical_failure_rules) == 0


def test_round_trip_csv_excel_store_gives_equal_frames(tmp_path):
    csv = load(tmp_path / "a")
    xlsx = tmp_path / "portfolio.xlsx"
    save_portfolio(csv, xlsx)
    from_excel = load_portfolio(str(xlsx), today=TODAY)
    store = tmp_path / "store.sqlite"
    result = ingest(str(xlsx), store, today=TODAY)
    assert result.appended["credit_bands"] == 5 and result.appended["critical_failure_rules"] == 1
    con = sqlite3.connect(store)
    assert con.execute("SELECT rows_credit_bands, rows_critical_failure_rules FROM cinb_batches").fetchone() == (5, 1)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM credit_bands")
    con.close()
    stored = load_portfolio(store_url(store), today=TODAY)
    sql = tmp_path / "out.db"
    save_portfolio(stored, f"sqlite:///{sql}")
    from_sql = load_portfolio(f"sqlite:///{sql}", today=TODAY)
    save_portfolio(from_sql, tmp_path / "back")
    back = load_portfolio(str(tmp_path / "back"), today=TODAY)
    for p in (from_excel, stored, from_sql, back):
        for name in ("credit_bands", "critical_failure_rules", "kpis"):
            pd.testing.assert_frame_equal(getattr(p, name), getattr(csv, name))
        assert p.data_hash == csv.data_hash, p.source
    assert result.data_hash == csv.data_hash
    # Written as yes/no, and the contract-wide rule's empty kpi_id stays empty.
    text = (tmp_path / "back" / "credit_bands.csv").read_text()
    assert "C,AV,0.0,yes,5.0" in text or "C,AV,0,yes,5" in text


def test_a_store_takes_a_changed_band_and_a_contract_wide_rule(tmp_path):
    store = tmp_path / "store.sqlite"
    ingest(corpus.build("csv", tables(), tmp_path / "a"), store, today=TODAY)
    later = corpus.build("csv", {"credit_bands": b"contract_id,kpi_id,shortfall_from,strictly_above,credit_pct\n"
                                                b"C,AV,5,no,20\n",
                                 "critical_failure_rules": b"contract_id,kpi_id,count,window_months,effect\n"
                                                           b"C,,3,12,flag\n"}, tmp_path / "b")
    r = ingest(later, store, today=TODAY)
    assert r.appended["credit_bands"] == 1 and r.appended["critical_failure_rules"] == 1
    p = load_portfolio(store_url(store), today=TODAY)
    av = p.credit_bands[p.credit_bands["kpi_id"] == "AV"]
    assert av["credit_pct"].tolist() == [5.0, 10.0, 20.0]  # the latest row of the key wins
    rules = p.critical_failure_rules
    assert rules["kpi_id"].isna().tolist() == [False, True] and rules["effect"].tolist() == ["suppress_credits", "flag"]
    # The first batch, as it was.
    first = load_portfolio(store_url(store), as_of=1, today=TODAY)
    assert first.credit_bands["credit_pct"].tolist() == [5.0, 10.0, 15.0, 2.0, 4.0]


def test_a_store_made_before_the_credit_tables_gains_them(tmp_path):
    store = tmp_path / "store.sqlite"
    ingest(str(corpus.BASE), store, today=TODAY)
    con = sqlite3.connect(store)  # make it look like a store of an earlier cinb
    for table in ("credit_bands", "critical_failure_rules"):
        for (name,) in con.execute(f"SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='{table}'"):
            con.execute(f"DROP TRIGGER {name}")
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE cinb_batches DROP COLUMN rows_{table}")
    con.commit()
    con.close()
    old = load_portfolio(store_url(store), today=TODAY)
    assert len(old.credit_bands) == 0 and len(old.critical_failure_rules) == 0 and not len(old.warnings)
    src = corpus.build("csv", {"critical_failure_rules": b"contract_id,kpi_id,count,window_months,effect\n"
                                                         b"C-001,,2,3,flag\n"}, tmp_path)
    assert ingest(src, store, today=TODAY).appended["critical_failure_rules"] == 1
    assert load_portfolio(store_url(store), today=TODAY).critical_failure_rules["count"].tolist() == [2]


# --- a version-1 portfolio is unchanged ----------------------------------------------------------------------------


def test_a_version_1_portfolio_keeps_its_hash_and_has_no_word_about_the_tables(tmp_path):
    p = load_portfolio(str(V1_SAMPLE))
    assert p.data_hash == V1_SAMPLE_HASH
    assert len(p.credit_bands) == 0 and len(p.critical_failure_rules) == 0
    assert list(p.credit_bands.columns) == [c.name for c in TABLES["credit_bands"]]
    assert not p.warnings["problem"].str.contains("credit_bands|critical_failure_rules").any()
    # Files with a header only are the same data as no files.
    base = load_portfolio(str(corpus.BASE), today=TODAY)
    empty = corpus.build("csv", {**corpus.case_tables(),
                                 "credit_bands": b"contract_id,kpi_id,shortfall_from,strictly_above,credit_pct\n",
                                 "critical_failure_rules": b"contract_id,kpi_id,count,window_months,effect\n"},
                         tmp_path)
    assert load_portfolio(empty, today=TODAY).data_hash == base.data_hash
    # ... and a portfolio without them is written as before: no credit files.
    save_portfolio(base, tmp_path / "v1")
    assert sorted(x.name for x in (tmp_path / "v1").iterdir()) == [
        "contracts.csv", "initiatives.csv", "kpis.csv", "measurements.csv"]


# --- located messages ------------------------------------------------------------------------------------------------


BAD_BANDS = BANDS + "\n".join([
    "CC,AV,2,,12",             # row 7: unknown contract
    "C,AVX,2,,12",             # row 8: unknown KPI
    "D,FTF,1,,3",              # row 9: FTF's credit_method is none (warning)
    "D,RES,1%,,3",             # row 10: a % sign on a KPI in hours
    "C,AV,5,,16",              # row 11: overlaps row 4 (C,AV,5,no)
    "D,RES,3,,3",              # row 12: less than row 6's 4, a band from a smaller shortfall
    "C,AV,-1,,5",              # row 13: negative
    "C,AV,7,,150",             # row 14: above 100
]) + "\n"
BAD_RULES = RULES + "\n".join([
    "C,LATEX,2,3,flag",        # row 3: unknown KPI
    "C,,0,3,flag",             # row 4: count 0
    "D,FTF,2,0,flag",          # row 5: window 0
    "C,AV,4,3,flag",           # row 6: count above the window
    "D,,1,1,supress",          # row 7: not an effect
    "C,LATE,1,1,flag",         # row 8: a second rule for LATE (duplicate of row 2)
    "D,RES,2,3,flag",          # row 9: RES has no critical level (warning)
    "X,,2,3,flag",             # row 10: unknown contract
]) + "\n"
BAD_KPIS = KPIS + "\n".join([
    "C,NOTGT,No target,%,higher,95,,,banded,",        # row 6: banded without a target (error)
    "C,NOBAND,No bands,%,higher,95,99,,banded,",      # row 7: banded without bands (warning)
    "D,MAN,Manual,%,higher,70,75,,manual,3",          # row 8: credit_pct unused with manual (warning)
    "D,SHORT,Shortfall in hours,hours,lower,8,4,,shortfall,",  # row 9: shortfall needs a % unit (version 1)
]) + "\n"


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    return load(tmp_path_factory.mktemp("bad"), strict=False, kpis=BAD_KPIS, bands=BAD_BANDS, rules=BAD_RULES)


def test_band_problems_are_located(bad):
    errs, warns = bad.problems, bad.warnings
    assert all(str(s).endswith("credit_bands.csv") for s in errs.loc[errs["table"] == "credit_bands", "source"])
    r, text = at(errs, "credit_bands", 7, "contract_id")
    assert "value 'CC'" in text and r["problem"] == "no contract with this id" and "did you mean 'C'" in r["fix"]
    r, text = at(errs, "credit_bands", 8, "kpi_id")
    assert "no KPI with this id in contract C" in r["problem"] and "did you mean 'AV'" in r["fix"]
    r, text = at(warns, "credit_bands", 9, "kpi_id")
    assert r["problem"] == "KPI FTF's credit_method is none, not banded: this band is not used"
    assert "set the KPI's credit_method to banded" in r["fix"]
    r, text = at(errs, "credit_bands", 10, "shortfall_from")
    assert "value '1%'" in text and "has a % sign but KPI RES is not measured in %" in r["problem"]
    assert "hours" in r["fix"]
    for row, other in ((4, 11), (11, 4)):
        r, text = at(errs, "credit_bands", row, "shortfall_from")
        assert r["problem"] == (f"overlaps row {other}: both are bands of AV starting from 5, so cinb cannot tell "
                                "which credit applies")
        assert "strictly_above yes" in r["fix"]
    r, text = at(errs, "credit_bands", 12, "credit_pct")
    assert "value '3'" in text
    assert r["problem"] == ("credit_pct 3 is less than the 4 of row 6, a band of RES starting at a smaller shortfall "
                            "(from 2): a larger shortfall must not earn a smaller credit")
    r, _ = at(errs, "credit_bands", 6, "credit_pct")
    assert r["problem"].startswith("credit_pct 4 is more than the 3 of row 12, a band of RES starting at a larger "
                                   "shortfall (from 3)")
    r, _ = at(errs, "credit_bands", 13, "shortfall_from")
    assert "negative" in r["problem"]
    r, _ = at(errs, "credit_bands", 14, "credit_pct")
    assert "above 100" in r["problem"]
    acc = bad.accounting.set_index("table").loc["credit_bands"]
    assert (acc["read"], acc["used"], acc["rejected"]) == (13, 4, 9)  # rows 2, 3, 5 and 9 (a warning) are used


def test_rule_problems_are_located(bad):
    errs, warns = bad.problems, bad.warnings
    r, text = at(errs, "critical_failure_rules", 3, "kpi_id")
    assert "value 'LATEX'" in text and "did you mean 'LATE'" in r["fix"] and "leave it empty for every KPI" in r["fix"]
    r, _ = at(errs, "critical_failure_rules", 4, "count")
    assert r["problem"].startswith("is 0: a failure needs at least one month")
    r, _ = at(errs, "critical_failure_rules", 5, "window_months")
    assert r["problem"].startswith("is 0: a window of no months") and "could never fire" in r["problem"]
    r, text = at(errs, "critical_failure_rules", 6, "count")
    assert "value '4'" in text and r["problem"].startswith("is more than window_months (3)")
    assert "could never fire" in r["problem"] and "count 2 and window_months 3" in r["fix"]
    r, _ = at(errs, "critical_failure_rules", 7, "effect")
    assert "did you mean 'suppress_credits'" in r["fix"]
    for row, other in ((2, 8), (8, 2)):
        r, text = at(errs, "critical_failure_rules", row, "kpi_id")
        assert r["problem"] == f"duplicate key (contract_id, kpi_id): same as row {other}"
    r, _ = at(warns, "critical_failure_rules", 9, "kpi_id")
    assert r["problem"] == "KPI RES has no critical level: this rule can never fire"
    r, _ = at(errs, "critical_failure_rules", 10, "contract_id")
    assert r["problem"] == "no contract with this id"
    assert bad.critical_failure_rules["kpi_id"].tolist() == ["RES"]


def test_kpi_credit_problems_are_located(bad):
    errs, warns = bad.problems, bad.warnings
    r, text = at(errs, "kpis", 6, "target")
    assert r["problem"].startswith("is empty but credit_method is banded: the shortfall")
    assert "measured from the target" in r["problem"]
    r, text = at(warns, "kpis", 7, "credit_method")
    assert "value 'banded'" in text and "KPI NOBAND has no band in the credit_bands table" in r["problem"]
    assert "credits are not computed" in r["problem"] and "add the contract's bands to credit_bands" in r["fix"]
    r, _ = at(warns, "kpis", 8, "credit_pct")
    assert r["problem"].startswith("is not used: a manual KPI's credit")
    r, _ = at(errs, "kpis", 9, "credit_method")
    assert r["problem"] == "is shortfall but the KPI is not measured in %"  # version 1's check, kept
    # A banded KPI whose bands were all rejected has none.
    assert "NOTGT" not in set(bad.kpis["kpi_id"]) and "NOBAND" in set(bad.kpis["kpi_id"])


@pytest.mark.parametrize("fmt", ("excel", "sql"))
def test_problems_are_located_in_workbooks_and_databases(fmt, tmp_path):
    p = load(tmp_path, fmt, strict=False, bands=BAD_BANDS, rules=BAD_RULES)
    r, text = at(p.problems, "credit_bands", 8, "kpi_id")
    assert "did you mean 'AV'" in r["fix"]
    if fmt == "excel":
        assert r["sheet"] == "credit_bands" and "sheet credit_bands, row 8" in text
    r, _ = at(p.problems, "critical_failure_rules", 6, "count")
    assert r["problem"].startswith("is more than window_months (3)")


def test_the_store_s_bands_count_for_a_banded_kpi_ingested_alone(tmp_path):
    store = tmp_path / "store.sqlite"
    ingest(corpus.build("csv", tables(), tmp_path / "a"), store, today=TODAY)
    # The KPI's definition restated on its own: its bands are in the store, so there is nothing to warn about.
    again = corpus.build("csv", {"kpis": ("contract_id,kpi_id,name,unit,direction,sla,target,critical,credit_method\n"
                                          "C,AV,Availability (core hours),%,higher,,99.5,90,banded\n").encode()},
                         tmp_path / "b")
    r = ingest(again, store, today=TODAY)
    assert r.appended["kpis"] == 1
    assert not r.warnings["problem"].str.contains("no band").any(), texts(r.warnings)


# --- applied end to end -----------------------------------------------------------------------------------------------


def test_contract_review_applies_the_bands_and_the_rule(tmp_path):
    # £10,000 a month. AV (target 99.5): January 0.5 short → 5 % = £500; February 2 short → 10 % = £1,000; March
    # 5.5 short → 15 % = £1,500; April and May met; June 0.5 short → £500. LATE (target 2, critical 10): 12 in
    # January, April and June → 2 % = £200 each; the rule (2 in any 3 months) fires in June only (April–June), so
    # June's £700 does not accrue. Year to date: 700 + 1,000 + 1,500 + 200 = £3,400, one failure, £700 suppressed.
    p = load(tmp_path)
    review = contract_review(p, "C", "2026-06")
    credits = review.to_pack()["credits"]
    monthly = {m["period"]: m for m in credits["monthly"]}
    assert [round(monthly[m]["credit_gbp"], 2) for m in AV] == [700.0, 1_000.0, 1_500.0, 200.0, 0.0, 0.0]
    assert [round(monthly[m]["raw_gbp"], 2) for m in AV] == [700.0, 1_000.0, 1_500.0, 200.0, 0.0, 700.0]
    june = monthly["2026-06"]
    assert june["suppressed"] is True and june["critical_failures"] == 1
    assert june["suppressed_gbp"] == pytest.approx(700.0)
    assert "LATE at or beyond its critical level 2 times in 3 months (rule: 2 in 3)" in june["cslf_rule"]
    assert sum(m["critical_failures"] for m in monthly.values()) == 1
    assert credits["month_gbp"] == 0.0
    ytd = credits["year_to_date"]
    assert ytd["credits_gbp"] == pytest.approx(3_400.0) and ytd["critical_failures"] == 1
    assert ytd["suppressed_gbp"] == pytest.approx(700.0)
    lines = review.credit_lines.set_index(["kpi_id", "period"])
    assert lines.loc[("AV", pd.Period("2026-02", "M")), "rule"] == "shortfall 2, band above 1 → 10%"
    assert lines.loc[("AV", pd.Period("2026-03", "M")), "rule"] == "shortfall 5.5, band from 5 → 15%"


def test_without_the_tables_the_banded_kpi_is_not_priced_and_every_critical_month_counts(tmp_path):
    # The same data without the credit tables: AV's credit is not computed (its line says why) and each of
    # LATE's three critical months is a failure (version 1), none suppressed: £200 in January, April and June.
    p = load(tmp_path, strict=False, bands=None, rules=None)
    assert "KPI AV has no band" in " ".join(p.warnings["problem"])
    review = contract_review(p, "C", "2026-06")
    monthly = {m["period"]: m for m in review.to_pack()["credits"]["monthly"]}
    assert [round(monthly[m]["credit_gbp"], 2) for m in AV] == [200.0, 0.0, 0.0, 200.0, 0.0, 200.0]
    assert sum(m["critical_failures"] for m in monthly.values()) == 3
    assert all(m["lines_with_problem"] == 1 and m["incomplete"] for m in monthly.values())
    av = review.credit_lines[review.credit_lines["kpi_id"] == "AV"]
    assert av["credit_pct"].isna().all() and av["problem"].str.contains("credit_bands").all()
    assert np.isnan(av["credit_gbp"]).all()
