"""Restatements are changes: what ``cinb ingest`` appends when a return re-states a month already stored.

A re-submitted value equal to the stored one is no new revision; an empty cell of a correction keeps the stored
value, ``not reported`` in the value cell withdraws it; an empty value beside a new note is asked about at its
cell; the return's date is one cell (B5), so its problems are one message there; the SLA column is headed by the
KPIs' direction. The portfolio is the small corpus of tests/bad_inputs/base (C-001: FTF higher-is-better, P1
lower-is-better; measured to 2025-06), so 2025-07 is a month the store has not seen yet.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import shutil
import sqlite3
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from cinb.errors import DataError, UsageError
from cinb.load import load_portfolio, restatements
from cinb.store import ingest, store_url
from cinb.template import NOT_REPORTED, RETURN_SHEET, SLA_HEADING, write_return_template

TODAY = "2026-11-26"
MONTH = "2025-07"
_spec = importlib.util.spec_from_file_location("corpus", Path(__file__).parent / "bad_inputs" / "corpus.py")
corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "store.sqlite"
    ingest(str(corpus.BASE), path, today=TODAY)
    return path


@pytest.fixture
def blank(tmp_path):
    """A fresh return for C-001, July 2025 (written from the corpus's definitions)."""
    base = load_portfolio(str(corpus.BASE), today=TODAY)

    def make(name="ret.xlsx"):
        return write_return_template(base, "C-001", MONTH, tmp_path / name)

    return make


def _rows(ws) -> dict:
    return {ws.cell(row=r, column=1).value: r for r in range(10, ws.max_row + 1) if ws.cell(row=r, column=1).value}


def _fill(path: Path, values: dict | None = None, notes: dict | None = None, submitted=dt.date(2025, 8, 4)) -> Path:
    wb = openpyxl.load_workbook(path)
    ws = wb[RETURN_SHEET]
    rows = _rows(ws)
    for kpi, v in (values or {}).items():
        ws.cell(row=rows[kpi], column=7).value = v
    for kpi, text in (notes or {}).items():
        ws.cell(row=rows[kpi], column=8).value = text
    ws["B5"] = submitted
    wb.save(path)
    return path


def _month(store) -> dict:
    p = load_portfolio(store_url(store), today=TODAY)
    m = p.measurements[(p.measurements["contract_id"] == "C-001") & (p.measurements["period"].astype(str) == MONTH)]
    return {k: (None if pd.isna(v) else v) for k, v in zip(m["kpi_id"], m["value"])}


def _july_restatements(store) -> pd.DataFrame:
    r = restatements(load_portfolio(store_url(store), today=TODAY))
    return r[r["period"].astype(str) == MONTH].reset_index(drop=True)


def _stored_rows(store) -> int:
    con = sqlite3.connect(store)
    try:
        return con.execute("SELECT COUNT(*) FROM measurements WHERE period = ?", (MONTH,)).fetchone()[0]
    finally:
        con.close()


def test_re_ingesting_a_return_with_one_changed_value_records_exactly_one_restatement(store, blank):
    first = ingest(_fill(blank(), {"FTF": 77, "P1": 3.25}), store, today=TODAY)
    assert first.counts()["measurements"] == {"new": 2, "changed": 0, "unchanged": 0, "kept": 0}
    again = ingest(_fill(blank("again.xlsx"), {"FTF": 78, "P1": 3.25}, submitted=dt.date(2025, 8, 9)), store,
                   today=TODAY)
    assert again.appended["measurements"] == 1
    assert again.counts()["measurements"] == {"new": 0, "changed": 1, "unchanged": 1, "kept": 0}
    changed = again.changes[again.changes["status"] == "changed"].iloc[0]
    assert (changed["item"], changed["old_value"], changed["new_value"], changed["revision"], changed["changed"]) \
        == (f"FTF {MONTH}", 77.0, 78.0, 2, "value")
    r = _july_restatements(store)
    assert r[["kpi_id", "old_value", "new_value", "revision"]].values.tolist() == [["FTF", 77.0, 78.0, 2]]
    assert _stored_rows(store) == 3  # P1 was not stored again
    # The whole return a third time: nothing changed, nothing appended, and it says so.
    with pytest.raises(UsageError, match=r"repeats values already in .*\(2 unchanged\); nothing was appended"):
        ingest(_fill(blank("third.xlsx"), {"FTF": 78, "P1": 3.25}), store, today=TODAY)


def test_a_correction_with_one_filled_cell_changes_one_value(store, blank):
    ingest(_fill(blank(), {"FTF": 77, "P1": 3.25}, notes={"FTF": "as measured"}), store, today=TODAY)
    fix = ingest(_fill(blank("fix.xlsx"), {"P1": 3.5}), store, today=TODAY)
    assert fix.appended["measurements"] == 1
    assert fix.counts()["measurements"] == {"new": 0, "changed": 1, "unchanged": 0, "kept": 1}
    assert _month(store) == {"FTF": 77.0, "P1": 3.5}  # the empty FTF cell kept the stored value
    assert _july_restatements(store)[["kpi_id", "old_value", "new_value"]].values.tolist() == [["P1", 3.25, 3.5]]
    # The kept value's note stays too; a kept row raises no "value is empty" warning.
    h = load_portfolio(store_url(store), today=TODAY).history
    assert h[(h["kpi_id"] == "FTF") & (h["period"].astype(str) == MONTH)]["note"].tolist() == ["as measured"]
    assert not (fix.warnings["problem"].astype(str).str.contains("the value is empty")).any()


def test_the_not_reported_marker_withdraws_a_stored_value(store, blank):
    ingest(_fill(blank(), {"FTF": 77, "P1": 3.25}), store, today=TODAY)
    r = ingest(_fill(blank("withdraw.xlsx"), {"FTF": "  Not Reported "}, notes={"FTF": "tool outage"}), store,
               today=TODAY)
    assert r.counts()["measurements"] == {"new": 0, "changed": 1, "unchanged": 0, "kept": 1}
    assert _month(store) == {"FTF": None, "P1": 3.25}
    assert _july_restatements(store)[["kpi_id", "old_value"]].values.tolist() == [["FTF", 77.0]]
    # The marker works in a CSV return too (a first report of a month: "not reported" is an empty value).
    folder = store.parent / "csv"
    folder.mkdir()
    (folder / "measurements.csv").write_text("contract_id,kpi_id,period,value,note\n"
                                             f"C-001,P1,{MONTH},{NOTE_MARK},system down\n", encoding="utf-8")
    r = ingest(folder, store, today=TODAY)
    assert r.counts()["measurements"]["changed"] == 1 and _month(store) == {"FTF": None, "P1": None}


NOTE_MARK = NOT_REPORTED.upper()


def test_an_empty_value_beside_a_new_note_asks_for_the_marker_at_its_cell(store, blank):
    ingest(_fill(blank(), {"FTF": 77, "P1": 3.25}), store, today=TODAY)
    path = _fill(blank("ask.xlsx"), {"P1": 3.5}, notes={"FTF": "could not be measured this month"})
    with pytest.raises(DataError) as info:
        ingest(path, store, today=TODAY)
    (p,) = info.value.problems.to_dict("records")
    assert (p["sheet"], p["row"], p["column"]) == (RETURN_SHEET, _rows(openpyxl.load_workbook(path)[RETURN_SHEET])
                                                   ["FTF"], "value")
    assert "77" in p["problem"] and f"'{NOT_REPORTED}'" in p["fix"] and "type the value (77)" in p["fix"]
    assert "nothing was appended" in str(info.value)
    assert _month(store) == {"FTF": 77.0, "P1": 3.25}  # the P1 correction was not appended either


def test_a_future_or_malformed_date_is_one_error_at_its_cell(store, blank):
    for i, (submitted, problem, fix) in enumerate((
            (dt.date(2027, 1, 5), "is in the future (today is 2026-11-26)", "in cell B5: today or earlier"),
            ("next week", "is not a date", "YYYY-MM-DD"))):
        with pytest.raises(DataError) as info:
            ingest(_fill(blank(f"date{i}.xlsx"), {"FTF": 77, "P1": 3.25}, submitted=submitted), store, today=TODAY)
        (p,) = info.value.problems.to_dict("records")  # one, not one per KPI row
        assert (p["sheet"], p["row"], p["column"]) == (RETURN_SHEET, 5, "submitted_on (B5)")
        assert p["problem"].startswith(problem) and fix in p["fix"], p
    assert _stored_rows(store) == 0


def test_an_empty_date_is_the_day_of_ingest_and_says_so(store, blank):
    r = ingest(_fill(blank(), {"FTF": 77, "P1": 3.25}, submitted=None), store, today=TODAY)
    dated = r.warnings[r.warnings["problem"].astype(str).str.contains("recorded as received")]
    assert len(dated) == 1 and (dated.iloc[0]["row"], dated.iloc[0]["column"]) == (5, "submitted_on (B5)")
    assert "is empty: the return is recorded as received on 2026-11-26, the day it was ingested" == \
        dated.iloc[0]["problem"]
    h = load_portfolio(store_url(store), today=TODAY).history
    assert set(h.loc[h["period"].astype(str) == MONTH, "submitted_on"]) == {pd.Timestamp(TODAY)}
    # A late return is one warning at the date cell too, naming the KPIs.
    late = r.warnings[r.warnings["problem"].astype(str).str.startswith("late return")]
    assert len(late) == 1 and late.iloc[0]["row"] == 5 and "FTF, P1" in late.iloc[0]["problem"]


def test_the_sla_heading_follows_the_kpis_direction(tmp_path, blank):
    mixed = openpyxl.load_workbook(blank())[RETURN_SHEET]
    assert mixed["E9"].value == SLA_HEADING["higher"] == "SLA (minimum)"
    rows = _rows(mixed)
    assert mixed.cell(row=rows["P1"], column=5).number_format == '"max "General'  # P1's SLA is a maximum
    assert mixed.cell(row=rows["FTF"], column=5).number_format == "General"
    folder = tmp_path / "lower"
    shutil.copytree(corpus.BASE, folder)
    for name in ("kpis.csv", "measurements.csv", "initiatives.csv"):
        lines = (folder / name).read_text().splitlines()
        (folder / name).write_text("\n".join(x for x in lines if ",FTF," not in x) + "\n")
    lower = load_portfolio(str(folder), today=TODAY)
    ws = openpyxl.load_workbook(write_return_template(lower, "C-001", MONTH, tmp_path / "l.xlsx"))[RETURN_SHEET]
    assert ws["E9"].value == SLA_HEADING["lower"] == "SLA (maximum)"
    higher = openpyxl.load_workbook(write_return_template(lower, "C-002", MONTH, tmp_path / "h.xlsx"))[RETURN_SHEET]
    assert higher["E9"].value == "SLA (minimum)"
    # The instructions say how to correct, to withdraw, and what an empty date means.
    text = mixed["A7"].value
    assert f"'{NOT_REPORTED}' in the value cell withdraws it" in text and "an empty value keeps" in text
    assert "left empty, the day it is received is recorded" in text


def test_cli_ingest_says_what_changed_what_was_new_and_what_was_unchanged(store, blank, capsys):
    from cinb.cli import main

    ingest(_fill(blank(), {"FTF": 77, "P1": 3.25}), store, today=TODAY)
    path = _fill(blank("cli.xlsx"), {"FTF": 76.5, "P1": 3.25}, submitted=dt.date(2025, 8, 9))
    assert main(["ingest", str(path), "--into", str(store)]) == 0
    out = capsys.readouterr().out
    assert "1 measurements" in out
    assert "measurements: 1 changed, 0 new, 1 unchanged (not stored again)" in out
    assert f"changed: C-001 FTF {MONTH}: 77 → 76.5 (revision 2)" in out
