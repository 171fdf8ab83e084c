"""Loading: the frame contract, one portfolio from CSV, Excel and SQLite, reading quirks, per-contract views."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cinb.errors import DataError, UsageError
from cinb.load import Portfolio, load_portfolio, restatements, save_portfolio
from cinb.schema import output_columns

TODAY = "2026-11-26"
_spec = importlib.util.spec_from_file_location("corpus", Path(__file__).parent / "bad_inputs" / "corpus.py")
corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)
FRAMES = ("contracts", "kpis", "measurements", "history", "initiatives")


@pytest.fixture(scope="module")
def base():
    return load_portfolio(str(corpus.BASE), today=TODAY)


def _same(a: Portfolio, b: Portfolio, drop=("source",)):
    for name in FRAMES:
        x = getattr(a, name).drop(columns=list(drop), errors="ignore")
        y = getattr(b, name).drop(columns=list(drop), errors="ignore")
        pd.testing.assert_frame_equal(x, y, check_exact=True, obj=name)
    pd.testing.assert_frame_equal(a.accounting, b.accounting)
    assert a.data_hash == b.data_hash


# --- the frame contract --------------------------------------------------------------------------------------


def test_frames_follow_the_contract(base):
    assert isinstance(base, Portfolio)
    for name in FRAMES:
        frame = getattr(base, name)
        assert list(frame.columns) == output_columns(name)
        assert isinstance(frame.index, pd.RangeIndex)
    c, k, m, h = base.contracts, base.kpis, base.measurements, base.history
    assert str(c["start_date"].dtype).startswith("datetime64")
    assert c["annual_value_gbp"].dtype == np.float64
    assert m["period"].dtype == pd.PeriodDtype("M")
    assert isinstance(k["baseline_period"].dtype, pd.PeriodDtype)
    assert m["revision"].dtype == np.int64 and m["row"].dtype == np.int64
    assert k["statutory"].dtype == bool and h["superseded"].dtype == bool
    assert pd.api.types.is_string_dtype(c["contract_id"])
    # Defaults: monthly charge from the annual value, credit method none, weight 1.
    charge = c.set_index("contract_id")["monthly_charge_gbp"]
    assert charge["C-001"] == 100000.0 and charge["C-002"] == 55000.0
    assert np.isnan(c.set_index("contract_id").loc["C-002", "service_credit_cap_pct"])
    assert k.set_index("kpi_id")["statutory"].to_dict() == {"AVAIL": True, "FTF": True, "P1": False}
    assert k.set_index("kpi_id").loc["FTF", "agreed_with_supplier"] == "2024-01-15"
    # Only the winning revision, sorted by contract, KPI, month.
    assert len(m) == 18 and len(h) == 19
    keys = list(zip(m["contract_id"], m["kpi_id"], m["period"].astype(str)))
    assert keys == sorted(keys) and len(set(keys)) == 18
    assert base.source.endswith("base")
    assert len(base.data_hash) == 64


def test_accounting_balances_and_counts_superseded(base):
    acc = base.accounting.set_index("table")
    assert (acc["read"] == acc["used"] + acc["superseded"] + acc["rejected"]).all()
    assert acc.loc["measurements"].tolist() == [19, 18, 1, 0]


def test_embedded_sample_loads(sample_portfolio):
    p = sample_portfolio
    assert len(p.contracts) > 0 and len(p.measurements) > 0 and len(p.problems) == 0
    acc = p.accounting
    assert (acc["read"] == acc["used"] + acc["superseded"] + acc["rejected"]).all()


# --- one portfolio, three formats -----------------------------------------------------------------------------


@pytest.mark.parametrize("dates_as,periods_as", [("date", "text"), ("serial", "date"), ("text", "text")])
def test_csv_excel_and_sqlite_give_identical_frames(base, tmp_path, dates_as, periods_as):
    tables = corpus.case_tables()
    xlsx = corpus.build_excel(tables, tmp_path / "p.xlsx", dates_as=dates_as, periods_as=periods_as)
    sql = corpus.build_sqlite(tables, tmp_path / "p.db")
    from_excel = load_portfolio(str(xlsx), today=TODAY)
    from_sql = load_portfolio(sql, today=TODAY)
    _same(base, from_excel)
    _same(base, from_sql)
    assert from_excel.measurements["row"].tolist() == base.measurements["row"].tolist()


def test_save_portfolio_round_trips_through_every_format(base, tmp_path):
    for dest in (tmp_path / "csv", tmp_path / "p.xlsx", f"sqlite:///{tmp_path / 'p.db'}"):
        save_portfolio(base, dest)
        again = load_portfolio(str(dest), today=TODAY)
        _same(base, again, drop=("source", "row"))


def test_data_hash_changes_with_the_data(base, tmp_path):
    tables = corpus.case_tables()
    tables["measurements"] = tables["measurements"].replace(b"99.92", b"99.93")
    other = load_portfolio(corpus.build("csv", tables, tmp_path), today=TODAY)
    assert other.data_hash != base.data_hash


# --- choosing the source ---------------------------------------------------------------------------------------


def test_unknown_sources_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="no such folder or file"):
        load_portfolio(tmp_path / "nope")
    (tmp_path / "one.csv").write_text("a\n1\n")
    with pytest.raises(UsageError, match="single CSV file"):
        load_portfolio(tmp_path / "one.csv")
    with pytest.raises(UsageError, match="as_of works only"):
        load_portfolio(str(corpus.BASE), as_of=1)


def test_empty_folder_reports_each_missing_file(tmp_path):
    with pytest.raises(DataError) as info:
        load_portfolio(tmp_path)
    problems = info.value.problems
    assert set(problems.loc[problems["severity"] == "error", "problem"]) == {
        "no file 'contracts.csv'", "no file 'kpis.csv'", "no file 'measurements.csv'"}


def test_missing_initiatives_is_fine(tmp_path):
    tables = corpus.case_tables()
    del tables["initiatives"]
    p = load_portfolio(corpus.build("csv", tables, tmp_path), today=TODAY)
    assert list(p.initiatives.columns) == output_columns("initiatives") and len(p.initiatives) == 0
    assert "optional" in p.warnings.iloc[0]["problem"]


def test_portfolio_passes_through():
    p = load_portfolio(str(corpus.BASE), today=TODAY)
    assert load_portfolio(p) is p


# --- CSV quirks ------------------------------------------------------------------------------------------------


def test_bom_utf16_and_windows_1252(base, tmp_path):
    tables = corpus.case_tables()
    tables["contracts"] = b"\xef\xbb\xbf" + tables["contracts"]
    tables["kpis"] = tables["kpis"].decode().encode("utf-16")
    p = load_portfolio(corpus.build("csv", tables, tmp_path / "a"), today=TODAY)
    _same(base, p)
    assert len(p.warnings) == 0
    tables = corpus.case_tables("latin1_pound")
    p = load_portfolio(corpus.build("csv", tables, tmp_path / "b"), today=TODAY)
    assert p.contracts.loc[0, "title"] == "Service desk £ support"
    assert p.warnings.iloc[0]["source"].endswith("contracts.csv")


def test_semicolons_crlf_blank_lines_and_spaces(base, tmp_path):
    tables = corpus.case_tables()
    lines = tables["measurements"].decode().splitlines()
    lines = [lines[0]] + [""] + [f" {x.replace(',', ' ; ')} " for x in lines[1:]]
    tables["measurements"] = ("\r\n".join(x.replace(",", ";") for x in lines) + "\r\n").encode()
    p = load_portfolio(corpus.build("csv", tables, tmp_path), today=TODAY)
    pd.testing.assert_frame_equal(base.measurements.drop(columns=["source", "row"]),
                                  p.measurements.drop(columns=["source", "row"]))
    assert p.measurements["row"].min() == 3  # the blank line is row 2, as a spreadsheet shows it
    assert "semicolons" in p.warnings.iloc[0]["problem"]


def test_quoted_cells_with_commas_and_newlines(tmp_path):
    tables = corpus.case_tables()
    tables["measurements"] = tables["measurements"].replace(b"one major incident", b'"one major, incident\non 12th"')
    p = load_portfolio(corpus.build("csv", tables, tmp_path), today=TODAY)
    note = p.measurements.set_index(["kpi_id", "period"]).loc[("P1", pd.Period("2025-05", "M")), "note"]
    assert note == "one major, incident\non 12th"
    # Records after a multi-line cell keep the numbers a spreadsheet shows.
    assert p.history.set_index(["kpi_id", "period"]).loc[("P1", pd.Period("2025-06", "M")), "row"] == 13


def test_header_only_measurements(tmp_path):
    tables = corpus.case_tables()
    tables["measurements"] = tables["measurements"].split(b"\n")[0] + b"\n"
    p = load_portfolio(corpus.build("csv", tables, tmp_path), today=TODAY)
    assert len(p.measurements) == 0
    assert (p.warnings["problem"] == "no measurements for this KPI").sum() == 3


# --- Excel quirks ----------------------------------------------------------------------------------------------


def _workbook(tmp_path, tables=None, **kw):
    return corpus.build_excel(tables or corpus.case_tables(), tmp_path / "p.xlsx", **kw)


def test_excel_percent_formatted_cells_are_percentage_points(base, tmp_path):
    import openpyxl

    path = _workbook(tmp_path)
    wb = openpyxl.load_workbook(path)
    ws = wb["measurements"]
    cell = ws.cell(row=14, column=4)  # C-002 AVAIL 2025-01: 99.95, typed as 99.95% in Excel
    cell.value = 0.9995
    cell.number_format = "0.00%"
    wb.save(path)
    _same(base, load_portfolio(str(path), today=TODAY))


def test_excel_formula_uses_cached_value_with_warning_or_errors_without_one(tmp_path):
    import openpyxl

    path = _workbook(tmp_path)
    wb = openpyxl.load_workbook(path)
    wb["measurements"]["D3"] = "=70+2"  # openpyxl stores no calculated value: as from a script
    wb.save(path)
    p = load_portfolio(str(path), strict=False, today=TODAY)
    err = p.problems.iloc[0]
    assert (err["sheet"], err["row"], err["value"]) == ("measurements", 3, "=70+2")
    assert "no calculated value" in err["problem"] and "value (cell D3)" in err["column"]
    # The same formula with a calculated value, as Excel saves it.
    _set_cached_value(path, "measurements", "D3", "72")
    p = load_portfolio(str(path), today=TODAY)
    warn = p.warnings[p.warnings["problem"].str.contains("formula")].iloc[0]
    assert (warn["row"], warn["value"]) == (3, "=70+2")
    m = p.measurements.set_index(["kpi_id", "period"])
    assert m.loc[("FTF", pd.Period("2025-02", "M")), "value"] == 72.0


def _set_cached_value(path: Path, sheet: str, ref: str, value: str) -> None:
    """Write Excel's cached value next to a formula (what Excel does on save; openpyxl cannot)."""
    import re
    import shutil
    import zipfile

    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(tmp, "w") as zout:
        names = zin.namelist()
        wb_xml = zin.read("xl/workbook.xml").decode()
        sheets = re.findall(r'<sheet [^>]*name="([^"]+)"', wb_xml)
        target = f"xl/worksheets/sheet{sheets.index(sheet) + 1}.xml"
        for name in names:
            data = zin.read(name)
            if name == target:
                text = data.decode()
                text = re.sub(rf'(<c r="{ref}"[^>]*>\s*<f>[^<]*</f>)(\s*<v\s*/>|\s*<v>[^<]*</v>)?',
                              rf"\1<v>{value}</v>", text)
                data = text.encode()
            zout.writestr(name, data)
    shutil.move(tmp, path)


def test_excel_hidden_sheet_header_below_title_and_case_of_sheet_names(base, tmp_path):
    import openpyxl

    path = _workbook(tmp_path)
    wb = openpyxl.load_workbook(path)
    wb["initiatives"].sheet_state = "hidden"
    wb["kpis"].title = "tmp"
    wb["tmp"].title = "KPIs"  # openpyxl will not rename a sheet to its own name in another case directly
    wb["KPIs"].insert_rows(1, amount=2)
    wb["KPIs"]["A1"] = "KPI definitions for Testham"
    wb.save(path)
    p = load_portfolio(str(path), today=TODAY)
    # Same data; KPI rows are two rows lower in the sheet, which only the row numbers show.
    pd.testing.assert_frame_equal(base.kpis, p.kpis)
    _same(base, p, drop=("source",))
    notes = p.warnings.set_index("sheet")["problem"]
    assert "taken as a title" in notes["KPIs"] and "hidden" in notes["initiatives"]


def test_excel_missing_sheet_and_not_a_workbook(tmp_path):
    import openpyxl

    path = _workbook(tmp_path)
    wb = openpyxl.load_workbook(path)
    wb["measurements"].title = "measurement"
    wb.save(path)
    with pytest.raises(DataError) as info:
        load_portfolio(str(path), today=TODAY)
    row = info.value.problems.iloc[0]
    assert row["problem"] == "no sheet 'measurements'" and "did you mean 'measurement'" in row["fix"]
    bad = tmp_path / "fake.xlsx"
    bad.write_text("not a zip")
    with pytest.raises(DataError, match="not a readable Excel workbook"):
        load_portfolio(str(bad))


# --- SQL quirks -------------------------------------------------------------------------------------------------


def test_sql_missing_table_and_extra_columns(tmp_path):
    import sqlite3

    url = corpus.build_sqlite(corpus.case_tables(), tmp_path / "p.db")
    con = sqlite3.connect(tmp_path / "p.db")
    con.execute("ALTER TABLE contracts ADD COLUMN legacy_code TEXT")
    con.execute("DROP TABLE kpis")
    con.commit()
    con.close()
    p = load_portfolio(url, strict=False, today=TODAY)
    assert "legacy_code" in p.contracts.columns
    assert p.problems.iloc[0]["problem"] == "no table 'kpis'"
    with pytest.raises(UsageError, match="cannot use"):
        load_portfolio("sqlite+nodriver:///x.db")


# --- per-contract views ----------------------------------------------------------------------------------------


def test_contract_view_holds_only_that_contract(base):
    one = base.contract("C-002")
    assert set(one.contracts["contract_id"]) == {"C-002"}
    for name in ("kpis", "measurements", "history", "initiatives"):
        assert set(getattr(one, name)["contract_id"]) <= {"C-002"}
    assert one.accounting.set_index("table").loc["measurements"].tolist() == [6, 6, 0, 0]
    assert one.data_hash != base.data_hash
    # restricting the view again changes nothing, so it is the view itself (a pack's review asks twice)
    again = one.contract("C-002")
    assert again is one
    # a view built afresh from the view's own frames says the same: the shortcut hides no difference
    from dataclasses import replace
    fresh = replace(one).contract("C-002")
    assert fresh is not one and fresh.data_hash == one.data_hash
    assert fresh.accounting.equals(one.accounting) and fresh.warnings.equals(one.warnings)
    for name in ("contracts", "kpis", "measurements", "history", "initiatives"):
        pd.testing.assert_frame_equal(getattr(fresh, name), getattr(one, name))
    with pytest.raises(UsageError):
        one.contract("C-001")


def test_contract_and_supplier_suggest_close_matches(base):
    with pytest.raises(UsageError, match="did you mean 'C-001'"):
        base.contract("C-01")
    assert set(base.supplier("acme support ltd").contracts["contract_id"]) == {"C-001"}
    with pytest.raises(UsageError, match="did you mean 'Bravo Hosting Ltd'"):
        base.supplier("Bravo")


def test_warnings_of_a_contract_view_are_its_own(tmp_path):
    p = load_portfolio(corpus.build("csv", corpus.case_tables("missing_month"), tmp_path), today=TODAY)
    assert len(p.warnings) == 1
    assert len(p.contract("C-001").warnings) == 1 and len(p.contract("C-002").warnings) == 0


# --- restatements ------------------------------------------------------------------------------------------------


def test_restatements_show_old_and_new_value(base):
    r = restatements(base)
    assert len(r) == 1
    row = r.iloc[0]
    assert (row["contract_id"], row["kpi_id"], str(row["period"])) == ("C-001", "FTF", "2025-03")
    assert (row["old_value"], row["new_value"], row["old_revision"], row["revision"]) == (73.5, 73.9, 1, 2)
    assert row["change"] == pytest.approx(0.4)
    assert row["submitted_on"] == pd.Timestamp("2025-05-10") and row["row"] == 20
    assert row["source"].endswith("measurements.csv") and row["note"] == "corrected after audit"


def test_today_decides_future_periods(tmp_path):
    src = corpus.build("csv", corpus.case_tables(), tmp_path)
    with pytest.raises(DataError, match="in the future"):
        load_portfolio(src, today=dt.date(2025, 4, 15))


def test_excel_merged_cells_give_their_value_to_every_row(base, tmp_path):
    import openpyxl

    path = _workbook(tmp_path)
    wb = openpyxl.load_workbook(path)
    ws = wb["measurements"]
    for r in range(3, 8):
        ws.cell(row=r, column=1).value = None
    ws.merge_cells("A2:A7")  # C-001 written once for its six FTF rows, as people do
    wb.save(path)
    p = load_portfolio(str(path), today=TODAY)
    _same(base, p)
    w = p.warnings.iloc[0]
    assert (w["sheet"], w["row"], w["column"], w["value"]) == ("measurements", 2, "cells A2:A7", "C-001")


def test_control_characters_are_removed_with_a_warning(tmp_path):
    tables = corpus.case_tables()
    tables["measurements"] = tables["measurements"].replace(b"one major incident", b"one\x00major\x1b incident")
    p = load_portfolio(corpus.build("csv", tables, tmp_path), today=TODAY)
    assert "one major" not in set(p.measurements["note"].dropna())
    assert "onemajor incident" in set(p.measurements["note"].dropna())
    w = p.warnings.iloc[0]
    assert (w["row"], w["column"], w["value"]) == (12, "note", "one\\x00major\\x1b incident")


def test_enormous_cells_are_read_and_shown_cut(tmp_path):
    tables = corpus.case_tables()
    big_note = b"x" * 3_000_000
    tables["measurements"] = tables["measurements"].replace(b"one major incident", big_note).replace(
        b"C-001,FTF,2025-01,71.5,", b"C-001,FTF,2025-01," + b"7" * 400 + b",")
    p = load_portfolio(corpus.build("csv", tables, tmp_path), strict=False, today=TODAY)
    assert len(p.measurements["note"].dropna().iloc[1]) == 3_000_000 or big_note.decode() in set(p.measurements["note"])
    err = p.problems.iloc[0]
    assert (err["row"], err["column"]) == (2, "value") and "too large" in err["problem"]
    assert len(err["value"]) < 200 and err["value"].endswith("(400 characters)")


# --- hostile inputs the security suite found (hand-built, one defect each) ----------------------------------


def _measurement_lines(tables) -> list[bytes]:
    return tables["measurements"].rstrip(b"\n").split(b"\n")


def test_ragged_row_with_a_cell_over_the_csv_module_limit_is_rejected_alone(tmp_path):
    """An extra 300 KB cell (over the csv module's default 128 KB field limit) rejects its row only."""
    tables = corpus.case_tables()
    lines = _measurement_lines(tables)
    lines[2] += b',"' + b"y" * 300_000 + b'"'  # spreadsheet row 3
    tables["measurements"] = b"\n".join(lines) + b"\n"
    p = load_portfolio(corpus.build("csv", tables, tmp_path), strict=False, today=TODAY)
    acc = p.accounting.set_index("table").loc["measurements"]
    assert (acc["read"], acc["rejected"]) == (19, 1) and acc["read"] == acc["used"] + acc["superseded"] + 1
    err = p.problems.iloc[0]
    assert (err["table"], err["row"]) == ("measurements", 3) and "8 cells but the header has 7" in err["problem"]
    assert err["value"].endswith("(300,000 characters)") and len(err["value"]) < 200
    assert err["source"].endswith("measurements.csv")


@pytest.mark.parametrize("fmt", ["csv", "excel", "sql"])
def test_columns_named_like_cinb_internals_are_ignored_with_a_warning(fmt, tmp_path):
    """A data column '_source' or '_row' must not rewrite where problems are reported (a forged trail)."""
    tables = corpus.case_tables()
    lines = _measurement_lines(tables)
    lines[0] += b",_source,_row"
    lines[1:] = [line + b",forged.csv,999" for line in lines[1:]]
    lines[4] = lines[4].replace(b",74,", b",oops,")  # spreadsheet row 5
    tables["measurements"] = b"\n".join(lines) + b"\n"
    data = corpus.build(fmt, tables, tmp_path)
    p = load_portfolio(data, strict=False, today=TODAY)
    err = p.problems.iloc[0]
    assert (err["row"], err["column"], err["value"]) == (5, "value", "oops")
    assert "forged" not in str(err["source"]) and str(err["source"]).startswith(str(data))
    assert set(p.history["source"]) == {str(Path(data) / "measurements.csv") if fmt == "csv" else str(data)}
    assert sorted(p.history["row"]) == [r for r in range(2, 21) if r != 5]
    assert "_source" not in p.history.columns and "_row" not in p.history.columns
    warned = p.warnings[p.warnings["column"].isin(["_source", "_row"])]
    assert len(warned) == 2 and warned["problem"].str.contains("ignored").all()


def test_unparseable_excel_sheet_is_a_located_data_error(tmp_path):
    """openpyxl raises ValueError on a number cell holding 'inf'; the user gets the file, sheet and a fix."""
    import re
    import shutil
    import zipfile

    path = _workbook(tmp_path)
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(tmp, "w") as zout:
        sheets = re.findall(r'<sheet [^>]*name="([^"]+)"', zin.read("xl/workbook.xml").decode())
        target = f"xl/worksheets/sheet{sheets.index('measurements') + 1}.xml"
        for name in zin.namelist():
            data = zin.read(name)
            if name == target:
                data, n = re.subn(rb'(<c r="D3"[^>]*>)<v>[^<]*</v>', rb"\1<v>inf</v>", data)
                assert n == 1
            zout.writestr(name, data)
    shutil.move(tmp, path)
    with pytest.raises(DataError) as info:
        load_portfolio(str(path), today=TODAY)
    row = info.value.problems.iloc[0]
    assert (row["source"], row["sheet"], row["table"]) == (str(path), "measurements", "measurements")
    assert "cannot be read" in row["problem"] and "save it again" in row["fix"]
    p = load_portfolio(str(path), strict=False, today=TODAY)
    assert len(p.contracts) == 2 and len(p.kpis) == 3 and len(p.history) == 0  # the other sheets still read


@pytest.mark.parametrize("data", ["x" * 5000, ("y" * 200 + "/") * 30], ids=["name_too_long", "path_too_long"])
def test_impossible_paths_are_usage_errors_with_the_path_shortened(data):
    with pytest.raises(UsageError) as info:
        load_portfolio(data)
    text = str(info.value)
    assert "cannot read" in text and "characters)" in text and len(text) < 400


def test_reading_a_missing_sqlite_file_does_not_create_it(tmp_path):
    target = tmp_path / "typo.db"
    with pytest.raises(UsageError, match="no such database file"):
        load_portfolio(f"sqlite:///{target}")
    assert not target.exists()
    # An existing database still reads, also when given as a path.
    corpus.build_sqlite(corpus.case_tables(), tmp_path / "p.db")
    assert len(load_portfolio(str(tmp_path / "p.db"), today=TODAY).contracts) == 2
