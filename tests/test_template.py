"""The supplier return template (write, fill, read back) and the data commands of the CLI, end to end."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from cinb.errors import DataError, UsageError
from cinb.load import load_portfolio
from cinb.store import ingest, store_url
from cinb.template import META_SHEET, RETURN_SHEET, read_return, write_return_template

TODAY = "2026-11-26"
_spec = importlib.util.spec_from_file_location("corpus", Path(__file__).parent / "bad_inputs" / "corpus.py")
corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)


@pytest.fixture(scope="module")
def base():
    return load_portfolio(str(corpus.BASE), today=TODAY)


def _rows_by_kpi(ws):
    return {ws.cell(row=r, column=1).value: r for r in range(10, ws.max_row + 1) if ws.cell(row=r, column=1).value}


def test_template_shows_the_contract_kpis_locked_with_validated_value_cells(base, tmp_path):
    path = write_return_template(base, "C-001", "2025-07", tmp_path / "ret.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == [RETURN_SHEET, META_SHEET]
    assert wb[META_SHEET].sheet_state == "hidden"
    ws = wb[RETURN_SHEET]
    assert (ws["B2"].value, ws["B3"].value, ws["B4"].value) == ("C-001", "Acme Support Ltd", "2025-07")
    assert [c.value for c in ws[9]] == ["KPI id", "KPI", "Unit", "Better when", "SLA (minimum)", "Target", "Value",
                                        "Notes"]
    rows = _rows_by_kpi(ws)
    assert set(rows) == {"FTF", "P1"}  # only this contract's KPIs
    ftf = [c.value for c in ws[rows["FTF"]]][:6]
    assert ftf == ["FTF", "First-time fix", "%", "higher", 70, 75]
    assert ws.protection.sheet
    assert ws.cell(row=rows["FTF"], column=2).protection.locked
    assert not ws.cell(row=rows["FTF"], column=7).protection.locked
    assert not ws.cell(row=rows["FTF"], column=8).protection.locked
    rules = {str(dv.sqref): dv for dv in ws.data_validations.dataValidation}
    pct = rules[f"G{rows['FTF']}"]
    assert (pct.type, pct.operator, pct.formula1, pct.formula2) == ("decimal", "between", "0", "100")
    hours = rules[f"G{rows['P1']}"]
    assert (hours.type, hours.operator, hours.formula1) == ("decimal", "greaterThanOrEqual", "0")
    meta = {r[0]: r[1] for r in wb[META_SHEET].iter_rows(values_only=True) if r and r[0]}
    assert (meta["contract_id"], meta["period"]) == ("C-001", "2025-07")


def test_template_refuses_unknown_contract_bad_month_and_month_outside_term(base, tmp_path):
    with pytest.raises(UsageError, match="did you mean 'C-001'"):
        write_return_template(base, "C-01", "2025-07", tmp_path / "x.xlsx")
    with pytest.raises(UsageError, match="YYYY-MM"):
        write_return_template(base, "C-001", "July 2025", tmp_path / "x.xlsx")
    with pytest.raises(UsageError, match="outside the term"):
        write_return_template(base, "C-002", "2024-07", tmp_path / "x.xlsx")


def _fill(path: Path, values: dict, notes: dict | None = None, submitted=None, pct_format=()) -> Path:
    wb = openpyxl.load_workbook(path)
    ws = wb[RETURN_SHEET]
    rows = _rows_by_kpi(ws)
    for kpi, v in values.items():
        cell = ws.cell(row=rows[kpi], column=7)
        cell.value = v
        if kpi in pct_format:
            cell.number_format = "0.0%"
    for kpi, text in (notes or {}).items():
        ws.cell(row=rows[kpi], column=8).value = text
    if submitted:
        ws["B5"] = submitted
    wb.save(path)
    return path


def test_read_return_gives_the_rows_as_typed(base, tmp_path):
    import datetime as dt

    path = write_return_template(base, "C-001", "2025-07", tmp_path / "ret.xlsx")
    _fill(path, {"FTF": 0.765, "P1": 3}, {"P1": "two P1s"}, submitted=dt.date(2025, 8, 4), pct_format={"FTF"})
    m = read_return(path)
    assert list(m.columns) == ["contract_id", "kpi_id", "period", "value", "submitted_on", "note", "source", "sheet",
                               "row"]
    got = m.set_index("kpi_id")
    assert got.loc["FTF", "value"] == "76.5%"  # typed as 76.5% in Excel: stored 0.765, shown as a percentage
    assert got.loc["P1", "value"] == "3" and got.loc["P1", "note"] == "two P1s"
    assert set(m["submitted_on"]) == {"2025-08-04"} and set(m["period"]) == {"2025-07"}


def test_filled_return_is_ingested_and_loaded(base, tmp_path):
    store = tmp_path / "store.sqlite"
    ingest(str(corpus.BASE), store, today=TODAY)
    path = write_return_template(base, "C-001", "2025-07", tmp_path / "ret.xlsx")
    _fill(path, {"FTF": 77, "P1": 3.25})
    r = ingest(path, store, today=TODAY)
    assert r.appended == {"contracts": 0, "kpis": 0, "measurements": 2, "initiatives": 0, "process_changes": 0,
                          "credit_bands": 0, "critical_failure_rules": 0}
    p = load_portfolio(store_url(store), today=TODAY)
    m = p.measurements.set_index(["kpi_id", "period"])
    assert m.loc[("FTF", pd.Period("2025-07", "M")), "value"] == 77.0
    assert m.loc[("P1", pd.Period("2025-07", "M")), "value"] == 3.25
    row = p.history[(p.history["kpi_id"] == "P1") & (p.history["period"] == pd.Period("2025-07", "M"))].iloc[0]
    assert row["source"] == str(path) and row["row"] == _rows_by_kpi(openpyxl.load_workbook(path)[RETURN_SHEET])["P1"]
    assert row["submitted_on"] == pd.Timestamp(TODAY)  # no date given: the day it was ingested


def test_return_with_a_bad_value_is_rejected_whole_with_its_cell(base, tmp_path):
    store = tmp_path / "store.sqlite"
    ingest(str(corpus.BASE), store, today=TODAY)
    path = write_return_template(base, "C-001", "2025-07", tmp_path / "ret.xlsx")
    _fill(path, {"FTF": "76,5", "P1": 2})
    with pytest.raises(DataError) as info:
        ingest(path, store, today=TODAY)
    row = info.value.problems.iloc[0]
    assert (row["sheet"], row["column"], row["value"]) == (RETURN_SHEET, "value", "76,5")
    assert row["row"] == _rows_by_kpi(openpyxl.load_workbook(path)[RETURN_SHEET])["FTF"]
    assert "write 76.5" in row["fix"]
    con = sqlite3.connect(store)
    assert con.execute("SELECT COUNT(*) FROM measurements").fetchone()[0] == 19  # P1 was not appended either
    con.close()


def test_altered_template_and_empty_template_are_refused(base, tmp_path):
    store = tmp_path / "store.sqlite"
    ingest(str(corpus.BASE), store, today=TODAY)
    path = write_return_template(base, "C-001", "2025-07", tmp_path / "ret.xlsx")
    with pytest.raises(UsageError, match="no values"):
        ingest(path, store, today=TODAY)
    wb = openpyxl.load_workbook(path)
    ws = wb[RETURN_SHEET]
    ws["A10"], ws["A11"] = ws["A11"].value, ws["A10"].value  # rows swapped: values would go to the wrong KPI
    ws["G10"] = 1
    wb.save(path)
    with pytest.raises(DataError) as info:
        ingest(path, store, today=TODAY)
    assert set(info.value.problems["row"]) == {10, 11}
    assert "do not sort or move rows" in info.value.problems.iloc[0]["fix"]


# --- the CLI ---------------------------------------------------------------------------------------------


def _cli(*argv):
    import argparse

    from cinb import cli_data

    parser = argparse.ArgumentParser(prog="cinb")
    cli_data.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_cli_validate_prints_problems_and_accounting(tmp_path, capsys):
    src = corpus.build("csv", corpus.case_tables("decimal_comma"), tmp_path)
    out_csv = tmp_path / "problems.csv"
    assert _cli("validate", "--data", src, "--problems-csv", str(out_csv)) == 1
    out = capsys.readouterr().out
    assert "measurements.csv" in out and "99,7" in out and "decimal comma" in out and "write 99.7" in out
    assert "read = used + superseded + rejected" in out
    assert "1 error" in out
    saved = pd.read_csv(out_csv)
    assert saved.loc[0, "row"] == 15
    assert _cli("validate", "--data", str(corpus.BASE)) in (0, 1)  # 0 unless the clock passes the sample's term


def test_cli_template_fill_ingest_round_trip(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = str(corpus.BASE)
    assert _cli("supplier-return", "--contract", "C-002", "--period", "2025-07", "--out", "r.xlsx", "--data",
                data) == 0
    _fill(tmp_path / "r.xlsx", {"AVAIL": 99.95})
    # The default store (reports/store.sqlite) is empty: the definitions come from --data in the same batch.
    assert _cli("ingest", "r.xlsx", "--data", data) == 0
    out = capsys.readouterr().out
    assert "batch 1 appended" in out and "1 measurements" in out
    store = tmp_path / "reports" / "store.sqlite"
    p = load_portfolio(store_url(store))
    assert p.measurements[["contract_id", "kpi_id", "value"]].values.tolist() == [["C-002", "AVAIL", 99.95]]
    # A bad return: exit 1, nothing appended, the cell named.
    _fill(tmp_path / "r.xlsx", {"AVAIL": "0.9995"})
    assert _cli("ingest", "r.xlsx", "--into", str(store)) == 1
    err = capsys.readouterr().err
    assert "ambiguous" in err and "0.9995" in err and "nothing was appended" in err
    assert len(load_portfolio(store_url(store)).history) == 1
    assert _cli("validate", "--data", store_url(store), "--as-of", "1") == 0


def test_cli_usage_errors(tmp_path):
    with pytest.raises(UsageError):
        _cli("ingest", str(tmp_path / "missing.xlsx"))
    with pytest.raises(UsageError):
        _cli("supplier-return", "--contract", "NOPE", "--period", "2025-07", "--out", str(tmp_path / "x.xlsx"),
             "--data", str(corpus.BASE))


def test_problems_csv_neutralises_formula_like_values_and_keeps_row_numbers(tmp_path):
    """Values from the data go into a file opened in Excel: '=1+1' must arrive as text, never as a formula."""
    import csv

    tables = corpus.case_tables()
    tables["measurements"] = tables["measurements"].replace(b"C-001,FTF,2025-01,71.5,", b"C-001,FTF,2025-01,=1+1,") \
        .replace(b"C-001,FTF,2025-02,72,", b"C-001,FTF,2025-02,@SUM(A1:A9),")
    src = corpus.build("csv", tables, tmp_path)
    out_csv = tmp_path / "out" / "problems.csv"
    assert _cli("validate", "--data", src, "--problems-csv", str(out_csv)) == 1
    raw = out_csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for Excel
    with open(out_csv, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    by_row = {r["row"]: r for r in rows if r["table"] == "measurements"}
    assert by_row["2"]["value"] == "'=1+1" and by_row["3"]["value"] == "'@SUM(A1:A9)"
    assert not [v for r in rows for v in r.values() if v[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert not [p.name for p in out_csv.parent.iterdir() if p.name != "problems.csv"]  # no temporary left


def test_problems_csv_that_cannot_be_written_is_a_usage_error(tmp_path):
    (tmp_path / "taken").mkdir()  # a folder where the file should go
    with pytest.raises(UsageError, match="cannot write --problems-csv"):
        _cli("validate", "--data", str(corpus.BASE), "--problems-csv", str(tmp_path / "taken"))
