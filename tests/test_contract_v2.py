"""Data contract version 2 in the data layer: process changes, KPI regimes, fractions, volumes, origins, returns.

Hand-made inputs, each small enough to check by eye: the messages must name the file, row, column and value of
the cell to fix, in CSV, Excel and SQL alike, and a version-1 portfolio must load exactly as it did.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from cinb.errors import DataError, format_problem
from cinb.load import data_hash, load_portfolio, restatements, save_portfolio
from cinb.schema import TABLES
from cinb.store import ingest, store_url
from cinb.template import META_SHEET, RETURN_SHEET, read_return, write_return_template

TODAY = "2026-11-26"
HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("corpus", HERE / "bad_inputs" / "corpus.py")
corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)

#: The embedded sample portfolio as it was before data contract version 2 (tests/v2_inputs/v1_sample), and the
#: data hash cinb gave it then: version 2 must not change a version-1 portfolio's data version.
V1_SAMPLE = HERE / "v2_inputs" / "v1_sample"
V1_SAMPLE_HASH = "c6797d8ea572309a346433429766f1e6fd6646b23a651e4db395db9e633e2ee9"
FORMATS = ("csv", "excel", "sql")

CONTRACTS = """contract_id,title,authority,supplier,start_date,end_date,annual_value_gbp
C-001,Service desk,London Borough of Testham,Acme Support Ltd,2025-01-01,2027-12-31,1200000
C-002,Hosting,London Borough of Testham,Bravo Hosting Ltd,2025-01-01,2026-12-31,600000
"""
KPIS = """contract_id,kpi_id,name,unit,direction,sla,target,frequency,start_period,end_period,volume_unit,aggregation
C-001,FTF,First-time fix,%,higher,70,75,,,,incidents,
C-001,DR,DR tests passed,%,higher,90,100,quarterly,,,,
C-001,NEW,New KPI,hours,lower,4,3,,2025-04,,,
C-002,AVAIL,Availability,%,higher,99.5,99.9,,,,,
"""
M_HEADER = "contract_id,kpi_id,period,value,volume,complete,origin,submitted_on,revision"
MONTHS = [f"2025-{m:02d}" for m in range(1, 7)]


def _m(*rows) -> str:
    """Measurement rows (contract, kpi, period, value, volume, complete, origin, submitted_on, revision): missing
    trailing cells are empty."""
    return "\n".join([M_HEADER] + [",".join(str(x) for x in (list(r) + [""] * 9)[:9]) for r in rows]) + "\n"


def _base_rows() -> list[tuple]:
    rows = [("C-001", "FTF", m, 72 + i, 400 + i) for i, m in enumerate(MONTHS)]
    rows += [("C-001", "DR", "2025-03", 95), ("C-001", "DR", "2025-06", 100)]
    rows += [("C-001", "NEW", m, 3.5) for m in MONTHS[3:]]
    rows += [("C-002", "AVAIL", m, 99.9) for m in MONTHS]
    return rows


#: The spreadsheet row of the first measurement row after the base rows (header = row 1).
EXTRA_ROW = len(_base_rows()) + 2


def tables(*, contracts=CONTRACTS, kpis=KPIS, measurements=None, process_changes=None, extra_rows=()) -> dict:
    """The v2 portfolio as {table: CSV bytes}; ``extra_rows`` are appended measurement rows."""
    out = {"contracts": contracts.encode(), "kpis": kpis.encode(),
           "measurements": (measurements or _m(*(_base_rows() + list(extra_rows)))).encode(),
           "initiatives": b"contract_id,initiative_id,title,status\n"}
    if process_changes is not None:
        out["process_changes"] = process_changes.encode()
    return out


def load(tmp_path, fmt="csv", strict=False, **kw):
    tmp_path.mkdir(parents=True, exist_ok=True)
    return load_portfolio(corpus.build(fmt, tables(**kw), tmp_path), strict=strict, today=TODAY)


def texts(frame: pd.DataFrame) -> list[str]:
    return [format_problem(r) for _, r in frame.iterrows()]


def one(frame: pd.DataFrame, contains: str) -> pd.Series:
    hits = frame[frame["problem"].astype(str).str.contains(contains, regex=False).to_numpy()]
    assert len(hits) == 1, (contains, texts(frame))
    return hits.iloc[0]


# --- a version-1 portfolio is unchanged ----------------------------------------------------------------------


def test_v1_sample_keeps_its_data_hash_and_warnings():
    p = load_portfolio(str(V1_SAMPLE))
    assert p.data_hash == V1_SAMPLE_HASH
    assert len(p.process_changes) == 0 and len(p.derived) == 0
    assert list(p.process_changes.columns) == [c.name for c in TABLES["process_changes"]]
    assert not p.warnings["problem"].str.contains("process_changes").any()
    assert sorted(p.warnings["problem"]) == sorted(
        ["missing month: no row for NB-APP-007 / APPSAT in 2025-08", "missing month: no row for NB-APP-007 / APPSAT "
         "in 2025-09", "missing month: no row for NB-PRINT-012 / RECYC in 2026-07", "missing month: no row for "
         "NB-SAAS-005 / USAT in 2026-04", "not reported: the value is empty", "not reported: the value is empty"])


def test_empty_version2_columns_and_tables_do_not_change_the_hash(tmp_path):
    base = load_portfolio(str(corpus.BASE), today=TODAY)
    v2_cols = {t: [c.name for c in TABLES[t] if c.since > 1] for t in ("contracts", "kpis", "measurements")}
    frames = {"contracts": base.contracts.drop(columns=v2_cols["contracts"]),
              "kpis": base.kpis.drop(columns=v2_cols["kpis"]),
              "history": base.history.drop(columns=v2_cols["measurements"]), "initiatives": base.initiatives}
    assert data_hash(frames) == base.data_hash
    assert base.history["complete"].isna().all() and str(base.history["complete"].dtype) == "boolean"
    # A process_changes.csv with its header only is the same data as none at all.
    src = corpus.build("csv", {**corpus.case_tables(), "process_changes":
                               b"contract_id,kpi_id,period,reason,baseline_months\n"}, tmp_path)
    assert load_portfolio(src, today=TODAY).data_hash == base.data_hash


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_missing_process_changes_table_is_not_even_a_warning(fmt, tmp_path):
    p = load_portfolio(corpus.build(fmt, corpus.case_tables(), tmp_path), today=TODAY)
    assert len(p.warnings) == 0 and len(p.problems) == 0
    assert p.accounting.set_index("table").loc["process_changes"].tolist() == [0, 0, 0, 0]


# --- process_changes ----------------------------------------------------------------------------------------

CHANGES = """contract_id,kpi_id,period,reason,baseline_months
C-001,FTF,2025-04,New ITSM tool: first-time fix counted at the first call,6
C-002,AVAIL,2025-03,Monitoring moved to synthetic checks,
"""


@pytest.mark.parametrize("fmt", FORMATS)
def test_process_changes_are_read_from_every_source(fmt, tmp_path):
    p = load(tmp_path, fmt, strict=True, process_changes=CHANGES)
    pc = p.process_changes
    assert pc[["contract_id", "kpi_id"]].values.tolist() == [["C-001", "FTF"], ["C-002", "AVAIL"]]
    assert pc["period"].tolist() == [pd.Period("2025-04", "M"), pd.Period("2025-03", "M")]
    assert pc["baseline_months"].tolist()[0] == 6 and np.isnan(pc["baseline_months"].tolist()[1])
    assert pc["reason"].iloc[0].startswith("New ITSM tool")
    assert p.accounting.set_index("table").loc["process_changes"].tolist() == [2, 2, 0, 0]
    csv = load(tmp_path / "csv", "csv", strict=True, process_changes=CHANGES)
    assert p.data_hash == csv.data_hash
    assert p.data_hash != load(tmp_path / "none", "csv", strict=True).data_hash
    assert len(p.contract("C-002").process_changes) == 1


def test_process_changes_problems_are_located(tmp_path):
    changes = CHANGES + "\n".join([
        "C-01,FTF,2025-04,Typo in the contract id,",             # row 4: unknown contract
        "C-001,FTX,2025-04,Typo in the KPI id,",                 # row 5: unknown KPI
        "C-001,FTF,2024-06,Before the contract started,",        # row 6
        "C-001,NEW,2025-02,Before the KPI's start_period,",      # row 7
        "C-001,FTF,2025-05,,",                                   # row 8: no reason
        "C-001,FTF,2025-06,Only one point,1",                    # row 9
        "C-002,AVAIL,2025-03,The same change again,",            # row 10: duplicate of row 3
    ]) + "\n"
    p = load(tmp_path, process_changes=changes)
    errs = p.problems[p.problems["table"] == "process_changes"]
    assert all(str(s).endswith("process_changes.csv") for s in errs["source"])

    def at(row, column):
        hit = errs[(errs["row"] == row) & (errs["column"] == column)]
        assert len(hit) == 1, texts(errs)
        return hit.iloc[0], format_problem(hit.iloc[0])

    r, text = at(4, "contract_id")
    assert "value 'C-01'" in text and "did you mean 'C-001'" in r["fix"]
    r, text = at(5, "kpi_id")
    assert "no KPI with this id in contract C-001" in r["problem"] and "did you mean 'FTF'" in r["fix"]
    r, _ = at(6, "period")
    assert r["problem"] == "is before the contract started" and "C-001 runs from 2025-01-01 to 2027-12-31" in r["fix"]
    r, _ = at(7, "period")
    assert "before NEW's start_period 2025-04" in r["problem"] and "start_period/end_period" in r["fix"]
    r, _ = at(8, "reason")
    assert "required value missing" in r["problem"]
    r, text = at(9, "baseline_months")
    assert "value '1'" in text and "fewer than 2 points cannot give a moving range" in r["problem"]
    for row, other in ((3, "10"), (10, "3")):
        r, text = at(row, "period")
        assert r["problem"] == f"duplicate key (contract_id, kpi_id, period): same as row {other}"
        assert "value 'C-002/AVAIL/2025-03'" in text
    acc = p.accounting.set_index("table").loc["process_changes"]
    assert (acc["read"], acc["used"], acc["rejected"]) == (9, 1, 8)
    assert p.process_changes[["kpi_id", "period"]].astype(str).values.tolist() == [["FTF", "2025-04"]]


def test_process_changes_round_trip_through_the_store_and_the_writers(tmp_path):
    src = corpus.build("csv", tables(process_changes=CHANGES), tmp_path)
    csv = load_portfolio(src, today=TODAY)
    store = tmp_path / "store.sqlite"
    r = ingest(src, store, today=TODAY)
    assert r.appended["process_changes"] == 2
    con = sqlite3.connect(store)
    assert con.execute("SELECT rows_process_changes FROM cinb_batches").fetchone() == (2,)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM process_changes")
    con.close()
    stored = load_portfolio(store_url(store), today=TODAY)
    pd.testing.assert_frame_equal(stored.process_changes, csv.process_changes)
    assert stored.data_hash == csv.data_hash == r.data_hash
    for dest in (tmp_path / "out", tmp_path / "out.xlsx", f"sqlite:///{tmp_path / 'out.db'}"):
        save_portfolio(csv, dest)
        again = load_portfolio(str(dest), today=TODAY)
        assert again.data_hash == csv.data_hash, dest
        pd.testing.assert_frame_equal(again.process_changes, csv.process_changes)
    # A portfolio without process changes is written as in version 1: no process_changes file.
    save_portfolio(load_portfolio(str(corpus.BASE), today=TODAY), tmp_path / "v1")
    assert sorted(p.name for p in (tmp_path / "v1").iterdir()) == [
        "contracts.csv", "initiatives.csv", "kpis.csv", "measurements.csv"]


def test_a_store_made_before_version_2_gains_the_table(tmp_path):
    store = tmp_path / "store.sqlite"
    ingest(str(corpus.BASE), store, today=TODAY)
    con = sqlite3.connect(store)  # make it look like a store of an earlier cinb
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='process_changes'")\
            .fetchall():
        con.execute(f"DROP TRIGGER {name}")
    con.execute("DROP TABLE process_changes")
    con.execute("ALTER TABLE cinb_batches DROP COLUMN rows_process_changes")
    con.commit()
    con.close()
    old = load_portfolio(store_url(store), today=TODAY)
    assert len(old.process_changes) == 0 and not len(old.warnings)
    src = corpus.build("csv", {"process_changes": b"contract_id,kpi_id,period,reason\nC-001,FTF,2025-04,New tool\n"},
                       tmp_path)
    r = ingest(src, store, today=TODAY)
    assert r.appended["process_changes"] == 1
    p = load_portfolio(store_url(store), today=TODAY)
    assert p.process_changes["reason"].tolist() == ["New tool"]
    con = sqlite3.connect(store)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE process_changes SET reason = 'x'")
    con.close()


# --- KPI regimes: the kpis table ------------------------------------------------------------------------------


def test_clean_v2_portfolio_has_no_problem_and_no_warning(tmp_path):
    p = load(tmp_path, strict=True)
    assert texts(p.warnings) == []  # no missing month between DR's quarters, none before NEW's start_period
    assert p.kpis.set_index("kpi_id").loc["DR", "frequency"] == "quarterly"
    assert p.measurements["volume"].notna().sum() == 6


def test_kpi_life_span_and_aggregation_checks(tmp_path):
    kpis = KPIS + "\n".join([
        "C-001,OLD,Retired KPI,count,lower,,5,,2026-06,2026-01,,",     # row 6: end before start
        "C-002,EARLY,Early KPI,count,lower,,5,,2024-10,2027-06,,",     # row 7: both outside the term (warnings)
        "C-002,SUMPCT,Summed %,%,higher,,95,,,,,sum",                  # row 8: sum of percentages
    ]) + "\n"
    p = load(tmp_path, kpis=kpis)
    k = pd.concat([p.problems, p.warnings])
    k = k[k["table"] == "kpis"]
    r = one(k, "is before start_period")
    assert (r["severity"], r["row"], r["column"], r["value"]) == ("error", 6, "end_period", "2026-01")
    assert "2026-06" in r["problem"] and str(r["source"]).endswith("kpis.csv")
    early = k[(k["row"] == 7) & k["column"].isin(["start_period", "end_period"]).to_numpy()]
    assert set(early["severity"]) == {"warning"} and len(early) == 2
    assert all("C-002 runs from 2025-01-01 to 2026-12-31" in f for f in early["fix"])
    r = one(k, "a sum of percentages is meaningless")
    assert (r["severity"], r["row"], r["column"], r["value"]) == ("error", 8, "aggregation", "sum")
    assert "volume_weighted" in r["fix"] and "mean" in r["fix"]
    assert set(p.kpis["kpi_id"]) == {"FTF", "DR", "NEW", "AVAIL", "EARLY"}


# --- fractions ------------------------------------------------------------------------------------------------

FRACTION_KPIS = KPIS + "C-002,FRAC,Backups completed,%,higher,0.95,0.98,,,,,\n"  # row 6
FRACTION_ROWS = [("C-002", "FRAC", m, v) for m, v in zip(MONTHS, (0.97, 0.985, 0.99, 0.96, 0.99, 1))]


@pytest.mark.parametrize("fmt", FORMATS)
def test_percent_kpi_written_as_fractions_is_refused_once_on_its_row(fmt, tmp_path):
    p = load(tmp_path, fmt, kpis=FRACTION_KPIS, extra_rows=FRACTION_ROWS)
    k = p.problems[p.problems["table"] == "kpis"]
    assert len(k) == 1, texts(k)
    r = k.iloc[0]
    assert (r["row"], r["column"], r["value"]) == (6, "unit", "%")
    assert r["problem"] == ("KPI FRAC is in % but its levels (sla 0.95, target 0.98) and its 6 values (0.96 to 1) all "
                            "lie within 0–1: they look like fractions of 1, not percentages")
    assert r["fix"].startswith("multiply the levels and values by 100 (0.99 → 99), or use a unit other than %")
    assert "write them with a % sign (0.5%)" in r["fix"]
    if fmt == "csv":
        assert str(r["source"]).endswith("kpis.csv")
    elif fmt == "excel":
        assert r["sheet"] == "kpis"
    else:
        assert str(r["source"]).startswith("sqlite:///")
    m = p.problems[p.problems["table"] == "measurements"]
    assert len(m) == 6 and set(m["problem"]) == {"refers to a KPI that was rejected"}
    assert set(m["fix"]) == {f"fix {format_problem(r).split(',')[0]} row 6 first"} or all(
        f.endswith("row 6 first") for f in m["fix"])
    assert "FRAC" not in set(p.kpis["kpi_id"]) and "FRAC" not in set(p.measurements["kpi_id"])
    with pytest.raises(DataError):
        load(tmp_path / "strict", fmt, strict=True, kpis=FRACTION_KPIS, extra_rows=FRACTION_ROWS)


def test_small_percentages_written_with_a_sign_are_accepted_and_round_trip(tmp_path):
    kpis = KPIS + "C-002,ABAND,Calls abandoned,%,lower,0.8%,0.5%,,,,,\n"
    rows = [("C-002", "ABAND", m, f"{v}%") for m, v in zip(MONTHS, (0.3, 0.4, 0.2, 0.6, 0.5, 0.45))]
    p = load(tmp_path, strict=True, kpis=kpis, extra_rows=rows)
    got = p.measurements[p.measurements["kpi_id"] == "ABAND"]["value"].tolist()
    assert got == [0.3, 0.4, 0.2, 0.6, 0.5, 0.45]
    for dest in (tmp_path / "out", tmp_path / "out.xlsx", f"sqlite:///{tmp_path / 'out.db'}"):
        save_portfolio(p, dest)
        again = load_portfolio(str(dest), today=TODAY)  # strict: the % signs were written back
        assert again.data_hash == p.data_hash, dest


def test_percent_formatted_excel_cells_are_not_fractions(tmp_path):
    path = corpus.build("excel", tables(kpis=FRACTION_KPIS, extra_rows=FRACTION_ROWS), tmp_path)
    wb = openpyxl.load_workbook(path)
    for name, columns in (("kpis", ("sla", "target")), ("measurements", ("value",))):
        ws = wb[name]
        header = [c.value for c in ws[1]]
        for row in ws.iter_rows(min_row=2):
            is_frac = any(c.value == "FRAC" for c in row)
            for col in columns:
                cell = row[header.index(col)]
                if is_frac:
                    cell.value = float(cell.value)
                    cell.number_format = "0.0%"
    wb.save(path)
    p = load_portfolio(path, today=TODAY)  # strict: 0.985 shown as 98.5% is 98.5 percentage points
    assert p.kpis.set_index("kpi_id").loc["FRAC", "target"] == 98.0
    assert p.measurements[p.measurements["kpi_id"] == "FRAC"]["value"].max() == 100.0


def test_a_percent_kpi_at_zero_is_not_a_fraction(tmp_path):
    kpis = KPIS + "C-002,BREACH,Data breaches,%,lower,,0,,,,,\n"
    rows = [("C-002", "BREACH", m, 0) for m in MONTHS]
    p = load(tmp_path, strict=True, kpis=kpis, extra_rows=rows)
    assert "BREACH" in set(p.kpis["kpi_id"])


def test_fractions_against_a_kpi_defined_in_the_store_are_refused_on_the_values(tmp_path):
    store = tmp_path / "store.sqlite"
    definitions = corpus.build("csv", {"contracts": CONTRACTS.encode(), "kpis": FRACTION_KPIS.encode()},
                               tmp_path / "defs")
    ingest(definitions, store, today=TODAY)  # no values yet: nothing to judge the levels by
    ret = corpus.build("csv", {"measurements": _m(*FRACTION_ROWS[:2]).encode()}, tmp_path / "ret")
    with pytest.raises(DataError) as info:
        ingest(ret, store, today=TODAY)
    probs = info.value.problems
    assert probs["row"].tolist() == [2, 3] and set(probs["column"]) == {"value"}
    assert "KPI FRAC is in % but its levels (sla 0.95, target 0.98)" in probs.iloc[0]["problem"]
    assert "defined in the store" in probs.iloc[0]["problem"]


# --- measurements ---------------------------------------------------------------------------------------------


def test_volume_zero_with_a_value_is_an_error(tmp_path):
    p = load(tmp_path, extra_rows=[("C-001", "FTF", "2025-07", 80, 0)])
    r = one(p.problems, "volume 0 means nothing was measured, but a value is given")
    assert (r["row"], r["column"], r["value"]) == (EXTRA_ROW, "volume", "0")
    assert "leave the value empty" in r["fix"]
    assert f"measurements.csv, row {EXTRA_ROW}, column volume: value '0'" in format_problem(r)


def test_a_value_in_a_month_that_is_not_due_is_an_error(tmp_path):
    p = load(tmp_path, extra_rows=[("C-001", "DR", "2025-08", 100)])
    r = one(p.problems, "is not a due month of DR")
    assert (r["row"], r["column"], r["value"]) == (EXTRA_ROW, "period", "2025-08")
    assert "this quarterly KPI's values fall at quarter ends (Mar, Jun, Sep, Dec)" in r["problem"]
    assert r["fix"].startswith("record a quarter's value against its last month (e.g. 2025-09 for Jul–Sep 2025)")
    # An annual KPI: its year ends where its values fall (here March).
    kpis = KPIS + "C-002,SAT,Satisfaction,score,higher,,7,annual,,,,\n"
    p = load(tmp_path / "annual", kpis=kpis, extra_rows=[("C-002", "SAT", "2025-03", 7.5),
                                                       ("C-002", "SAT", "2026-03", 7.8),
                                                       ("C-002", "SAT", "2025-12", 7.1)])
    r = one(p.problems, "is not a due month of SAT")
    assert "annual KPI's values fall at year ends (Mar)" in r["problem"] and r["value"] == "2025-12"
    assert "year to Mar 2026" in r["fix"]


def test_an_empty_row_in_a_month_that_is_not_due_is_accepted_quietly(tmp_path):
    p = load(tmp_path, strict=True, extra_rows=[("C-001", "DR", "2025-04", ""), ("C-001", "NEW", "2025-02", "")])
    assert texts(p.warnings) == []


def test_a_value_outside_the_kpi_life_span_is_an_error(tmp_path):
    kpis = KPIS.replace("C-002,AVAIL,Availability,%,higher,99.5,99.9,,,,,",
                        "C-002,AVAIL,Availability,%,higher,99.5,99.9,,,2025-05,,")
    p = load(tmp_path, kpis=kpis, extra_rows=[("C-001", "NEW", "2025-03", 3.2)])
    r = one(p.problems, "is before NEW's start_period 2025-04")
    assert (r["row"], r["column"], r["value"]) == (EXTRA_ROW, "period", "2025-03")
    assert "in force from 2025-04" in r["problem"]
    assert r["fix"] == "check the period, or the KPI's start_period/end_period in the kpis table"
    r = one(p.problems, "is after AVAIL's end_period 2025-05")
    assert r["value"] == "2025-06" and "(the KPI is in force to 2025-05)" in r["problem"]


def test_warnings_follow_the_regime(tmp_path):
    rows = [r for r in _base_rows() if not (r[1] == "DR" and r[2] == "2025-06")]
    rows += [("C-001", "DR", "2025-09", 100)] + [("C-001", k, m, v) for k, v in (("FTF", 80), ("NEW", 3))
                                                  for m in ("2025-07", "2025-08", "2025-09")]
    rows += [("C-002", "AVAIL", m, 99.9) for m in ("2025-07", "2025-08", "2025-09")]
    rows = [r for r in rows if not (r[1] == "FTF" and r[2] == "2025-08")]
    p = load(tmp_path, measurements=_m(*rows))
    problems = sorted(p.warnings["problem"])
    assert problems == ["missing month: no row for C-001 / FTF in 2025-08",
                        "missing quarter: no row for C-001 / DR for Apr–Jun 2025"], problems
    w = one(p.warnings, "missing quarter")
    assert (w["column"], w["value"]) == ("period", "2025-06")


def test_a_month_with_no_activity_is_not_reported_missing(tmp_path):
    rows = [r for r in _base_rows() if not (r[1] == "FTF" and r[2] in ("2025-03", "2025-04"))]
    rows += [("C-001", "FTF", "2025-03", "", 0), ("C-001", "FTF", "2025-04", "")]
    p = load(tmp_path, measurements=_m(*rows))
    assert texts(p.warnings) == [f"{p.warnings.iloc[0]['source']}, row {len(rows) + 1}, column value: not reported: "
                                 "the value is empty — ask the supplier for the value, or explain the gap in the note"]


def test_a_kpi_not_yet_in_force_is_not_warned(tmp_path):
    kpis = KPIS + "C-002,LATER,Added by variation,count,lower,,5,,2026-12,,,\n"
    p = load(tmp_path, strict=True, kpis=kpis)
    assert texts(p.warnings) == []
    p = load(tmp_path / "now", strict=True, kpis=kpis.replace("2026-12", "2026-06"))
    assert p.warnings["problem"].tolist() == ["no measurements for this KPI"]


def test_reported_and_derived_rows_live_side_by_side(tmp_path):
    rows = _base_rows() + [
        ("C-001", "FTF", "2025-02", 70.5, 380, "", "derived", "2025-09-30"),       # late, but derived
        ("C-001", "FTF", "2025-02", 70.9, 381, "", "derived", "2025-10-30", 2),    # supersedes the row above
        ("C-001", "FTF", "2025-03", 74, 402, "", "reported", "", 2),               # supersedes row 4
    ]
    p = load(tmp_path, strict=True, measurements=_m(*rows))
    assert texts(p.warnings) == []  # a late derived row is not a late return
    ftf = p.measurements[p.measurements["kpi_id"] == "FTF"].set_index("period")["value"]
    assert ftf[pd.Period("2025-02", "M")] == 73 and ftf[pd.Period("2025-03", "M")] == 74
    assert p.derived[["kpi_id", "value", "revision"]].values.tolist() == [["FTF", 70.9, 2]]
    assert set(p.measurements["origin"].dropna()) == {"reported"} and list(p.derived.columns) == list(
        p.measurements.columns)
    acc = p.accounting.set_index("table").loc["measurements"]
    assert (acc["read"], acc["used"], acc["superseded"]) == (20, 18, 2)  # 17 reported and 1 derived used
    assert restatements(p)[["kpi_id", "old_value", "new_value"]].values.tolist() == [["FTF", 74.0, 74.0]]
    # The origin is part of the key: two derived rows of one revision are duplicates, a reported one is not.
    dup = load(tmp_path / "dup", measurements=_m(*(rows[:-2] + [("C-001", "FTF", "2025-02", 71, "", "", "derived")])))
    r = dup.problems.iloc[0]
    assert r["problem"].startswith("duplicate key (contract_id, kpi_id, period, revision, origin)")
    assert (r["column"], r["value"]) == ("revision", "C-001/FTF/2025-02/1/derived")
    # Through the store: derived rows are kept, and get their own revision numbers.
    store = tmp_path / "store.sqlite"
    ingest(corpus.build("csv", tables(measurements=_m(*rows)), tmp_path / "src"), store, today=TODAY)
    stored = load_portfolio(store_url(store), today=TODAY)
    assert stored.data_hash == p.data_hash
    pd.testing.assert_frame_equal(stored.derived.drop(columns=["source", "row"]),
                                  p.derived.drop(columns=["source", "row"]))
    ret = corpus.build("csv", {"measurements": _m(("C-001", "FTF", "2025-02", 71.2, "", "", "derived")).encode()},
                       tmp_path / "ret")
    ingest(ret, store, today=TODAY)
    again = load_portfolio(store_url(store), today=TODAY)
    assert again.derived[["value", "revision"]].values.tolist() == [[71.2, 3]]
    assert again.measurements.set_index(["kpi_id", "period"]).loc[("FTF", pd.Period("2025-02", "M")), "value"] == 73


def test_complete_is_a_nullable_flag(tmp_path):
    rows = _base_rows()[:-1] + [("C-002", "AVAIL", "2025-06", 99.1, "", "no")]
    p = load(tmp_path, strict=True, measurements=_m(*rows))
    complete = p.measurements.set_index(["kpi_id", "period"])["complete"]
    assert complete[("AVAIL", pd.Period("2025-06", "M"))] is np.False_ or not complete[("AVAIL",
                                                                                       pd.Period("2025-06", "M"))]
    assert complete.isna().sum() == len(complete) - 1
    assert p.data_hash != load(tmp_path / "all", strict=True).data_hash
    bad = load(tmp_path / "bad", measurements=_m(*(rows[:-1] + [("C-002", "AVAIL", "2025-06", 99.1, "", "maybe")])))
    r = one(bad.problems, "is not yes or no")
    assert (r["column"], r["value"]) == ("complete", "maybe")


# --- the supplier's return -----------------------------------------------------------------------------------


def _return_rows(path):
    ws = openpyxl.load_workbook(path)[RETURN_SHEET]
    header = [c.value for c in ws[9]]
    rows = {ws.cell(row=r, column=1).value: r for r in range(10, ws.max_row + 1) if ws.cell(row=r, column=1).value}
    return ws, header, rows


def test_supplier_return_lists_the_kpis_due_with_volume_and_complete(tmp_path):
    p = load(tmp_path, strict=True)
    path = write_return_template(p, "C-001", "2025-07", tmp_path / "jul.xlsx")
    ws, header, rows = _return_rows(path)
    assert header == ["KPI id", "KPI", "Unit", "Better when", "SLA (minimum)", "Target", "Value", "Notes",
                      "Volume (incidents)", "Complete"]
    assert set(rows) == {"FTF", "NEW"}  # DR is quarterly: not due in July
    assert not ws.cell(row=rows["FTF"], column=9).protection.locked
    assert ws.cell(row=rows["NEW"], column=9).protection.locked  # NEW counts no items
    ws, _, rows = _return_rows(write_return_template(p, "C-001", "2025-09", tmp_path / "sep.xlsx"))
    assert set(rows) == {"FTF", "NEW", "DR"}
    assert ws.cell(row=rows["DR"], column=2).value == "DR tests passed (Jul–Sep 2025)"
    _, _, rows = _return_rows(write_return_template(p, "C-001", "2025-02", tmp_path / "feb.xlsx"))
    assert set(rows) == {"FTF"}  # NEW is in force from 2025-04
    _, header, rows = _return_rows(write_return_template(p, "C-002", "2025-07", tmp_path / "c2.xlsx"))
    assert header[-1] == "Notes" and set(rows) == {"AVAIL"}  # no version-2 KPI: the version-1 layout

    # Filled in and ingested: the volume, the provisional flag and a month of no activity come back.
    store = tmp_path / "store.sqlite"
    ingest(corpus.build("csv", tables(), tmp_path / "src"), store, today=TODAY)
    wb = openpyxl.load_workbook(tmp_path / "sep.xlsx")
    ws = wb[RETURN_SHEET]
    _, _, rows = _return_rows(tmp_path / "sep.xlsx")
    ws.cell(row=rows["FTF"], column=7).value = 81.5
    ws.cell(row=rows["FTF"], column=9).value = 412
    ws.cell(row=rows["FTF"], column=10).value = "no"
    ws.cell(row=rows["NEW"], column=7).value = 2.5
    ws.cell(row=rows["DR"], column=8).value = "No test this quarter"
    wb.save(tmp_path / "sep.xlsx")
    m = read_return(tmp_path / "sep.xlsx", today=TODAY).set_index("kpi_id")
    assert list(m.columns)[:5] == ["contract_id", "period", "value", "volume", "complete"]
    assert (m.loc["FTF", "volume"], m.loc["FTF", "complete"]) == ("412", "no")
    ingest(tmp_path / "sep.xlsx", store, today=TODAY)
    got = load_portfolio(store_url(store), today=TODAY).measurements.set_index(["kpi_id", "period"])
    sep = pd.Period("2025-09", "M")
    assert got.loc[("FTF", sep), "value"] == 81.5 and got.loc[("FTF", sep), "volume"] == 412
    assert not got.loc[("FTF", sep), "complete"] and pd.isna(got.loc[("NEW", sep), "complete"])
    assert np.isnan(got.loc[("DR", sep), "value"]) and got.loc[("DR", sep), "note"] == "No test this quarter"


def test_a_version_1_return_still_reads(tmp_path):
    base = load_portfolio(str(corpus.BASE), today=TODAY)
    path = write_return_template(base, "C-001", "2025-07", tmp_path / "ret.xlsx")
    ws, header, rows = _return_rows(path)
    assert header == ["KPI id", "KPI", "Unit", "Better when", "SLA (minimum)", "Target", "Value", "Notes"]
    wb = openpyxl.load_workbook(path)
    meta = wb[META_SHEET]
    for r in range(meta.max_row, 0, -1):  # the hidden sheet as version 1 wrote it
        key = meta.cell(row=r, column=1).value
        if key == "version":
            meta.cell(row=r, column=2).value = 1
        elif isinstance(key, str) and key.endswith("_column"):
            meta.delete_rows(r)
    ws = wb[RETURN_SHEET]
    ws.cell(row=rows["FTF"], column=7).value = 77
    ws.cell(row=rows["P1"], column=8).value = "no P1 this month"
    wb.save(path)
    m = read_return(path, today=TODAY).set_index("kpi_id")
    assert list(m.columns) == ["contract_id", "period", "value", "submitted_on", "note", "source", "sheet", "row"]
    assert m.loc["FTF", "value"] == "77" and m.loc["P1", "note"] == "no P1 this month"


def test_the_store_keys_a_revision_by_origin(tmp_path):
    store = tmp_path / "store.sqlite"
    ingest(str(corpus.BASE), store, today=TODAY)
    con = sqlite3.connect(store)
    insert = ("INSERT INTO measurements (contract_id, kpi_id, period, value, revision, origin, batch_id) "
              "VALUES ('C-001', 'FTF', '2025-01', 70, 1, ?, 1)")
    for origin in (None, "reported"):  # an empty origin is a reported row: the same key as row 2's
        with pytest.raises(sqlite3.IntegrityError):
            con.execute(insert, (origin,))
    con.execute(insert, ("derived",))
    con.rollback()
    con.close()


def test_derived_rows_are_refused_by_a_store_keyed_without_origin(tmp_path):
    from cinb.errors import UsageError

    store = tmp_path / "store.sqlite"
    ingest(str(corpus.BASE), store, today=TODAY)
    con = sqlite3.connect(store)  # the measurements table as cinb made it before version 2
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='measurements'")\
            .fetchall():
        con.execute(f"DROP TRIGGER {name}")
    cols = [r[1] for r in con.execute("PRAGMA table_info(measurements)")]
    con.execute("ALTER TABLE measurements RENAME TO m_old")
    con.execute(f"CREATE TABLE measurements ({', '.join(cols)}, CONSTRAINT cinb_measurement_revision_once "
                "UNIQUE (contract_id, kpi_id, period, revision))")
    con.execute("INSERT INTO measurements SELECT * FROM m_old")
    con.execute("DROP TABLE m_old")
    con.commit()
    con.close()
    ret = corpus.build("csv", {"measurements": _m(("C-001", "FTF", "2025-02", 71, "", "", "derived")).encode()},
                       tmp_path / "ret")
    with pytest.raises(UsageError, match="older than data contract version 2"):
        ingest(ret, store, today=TODAY)
    ret = corpus.build("csv", {"measurements": _m(("C-001", "FTF", "2025-02", 71.5, "", "", "", "", 2)).encode()},
                       tmp_path / "ret2")
    assert ingest(ret, store, today=TODAY).appended["measurements"] == 1  # reported rows still go in


def test_a_return_that_restates_only_the_volume_is_not_a_repeat(tmp_path):
    from cinb.errors import UsageError

    store = tmp_path / "store.sqlite"
    ingest(corpus.build("csv", tables(), tmp_path / "src"), store, today=TODAY)
    same = corpus.build("csv", {"measurements": _m(("C-001", "FTF", "2025-06", 77, 405)).encode()}, tmp_path / "a")
    with pytest.raises(UsageError, match="repeats values already in"):
        ingest(same, store, today=TODAY)
    volume = corpus.build("csv", {"measurements": _m(("C-001", "FTF", "2025-06", 77, 410)).encode()}, tmp_path / "b")
    assert ingest(volume, store, today=TODAY).appended["measurements"] == 1
    got = load_portfolio(store_url(store), today=TODAY).measurements.set_index(["kpi_id", "period"])
    assert got.loc[("FTF", pd.Period("2025-06", "M")), ["volume", "revision"]].tolist() == [410, 2]
