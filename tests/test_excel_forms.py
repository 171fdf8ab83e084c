"""Excel's forms: Strict Open XML workbooks, cells re-saved by Excel, ids with leading zeros, library warnings.

* A workbook saved as "Strict Open XML Spreadsheet" loads with the same figures as an ordinary one (or, when
  it cannot be translated, is refused with one message saying what it is and how to re-save it); no warning
  from openpyxl reaches the terminal.
* A cell in a form Excel shows rather than the form typed (``Jan-24``, ``12-Feb-2024``, ``N/A``, ``#DIV/0!``,
  ``1,234``) gets exactly one located message that recognises the form and names the value to write; a
  rejected month is not also reported as a missing month.
* An id with leading zeros (``0451``) stays ``0451`` from CSV, from an Excel text cell or a numeric cell in a
  zero-padded format (``0000``), and from a SQLite text column.
"""

from __future__ import annotations

import importlib.util
import io
import re
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cinb.errors import DataError
from cinb.excel_forms import date_hint, marker_hint, month_guess, number_hint, period_hint
from cinb.load import load_portfolio
from cinb.schema import Column
from cinb.validate import parse_number, parse_period

TODAY = "2026-11-26"
ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("corpus", Path(__file__).parent / "bad_inputs" / "corpus.py")
corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)

# --- Strict Open XML ---------------------------------------------------------------------------------------

#: What Excel's "Strict Open XML Spreadsheet" changes in a workbook's parts: the namespace URIs and the
#: relationship types under them (ECMA-376 Part 1, Strict conformance).
_TO_STRICT = [
    (b"http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties",
     b"http://purl.oclc.org/ooxml/officeDocument/relationships/extendedProperties"),
    (b"http://schemas.openxmlformats.org/officeDocument/2006/relationships",
     b"http://purl.oclc.org/ooxml/officeDocument/relationships"),
    (b"http://schemas.openxmlformats.org/spreadsheetml/2006/main", b"http://purl.oclc.org/ooxml/spreadsheetml/main"),
    (b"http://schemas.openxmlformats.org/officeDocument/2006/extended-properties",
     b"http://purl.oclc.org/ooxml/officeDocument/extendedProperties"),
    (b"http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes",
     b"http://purl.oclc.org/ooxml/officeDocument/docPropsVTypes"),
    (b"http://schemas.openxmlformats.org/drawingml/2006/main", b"http://purl.oclc.org/ooxml/drawingml/main"),
]


def _to_strict(src: Path, dst: Path) -> Path:
    """Rewrite an openpyxl workbook as Excel writes a Strict Open XML one (namespaces, conformance="strict")."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            for old, new in _TO_STRICT:
                data = data.replace(old, new)
            if info.filename == "xl/workbook.xml":
                data = re.sub(rb"<workbook ", b'<workbook conformance="strict" ', data, count=1)
            zout.writestr(info, data)
    return dst


def _strict_workbook(tmp_path: Path, tables=None) -> Path:
    """The base portfolio (or ``tables``) as a Strict Open XML workbook with ISO dates, as Excel saves it."""
    import openpyxl

    plain = corpus.build_excel(tables or corpus.case_tables(), tmp_path / "plain.xlsx")
    wb = openpyxl.load_workbook(plain)
    wb.iso_dates = True  # Strict workbooks store dates as ISO 8601 text (t="d"), not serial numbers
    wb.save(plain)
    return _to_strict(plain, tmp_path / "strict.xlsx")


@pytest.fixture(scope="module")
def base():
    return load_portfolio(str(corpus.BASE), today=TODAY)


def _same_figures(a, b):
    for name in ("contracts", "kpis", "measurements", "history", "initiatives"):
        pd.testing.assert_frame_equal(getattr(a, name).drop(columns="source", errors="ignore"),
                                      getattr(b, name).drop(columns="source", errors="ignore"), obj=name)
    assert a.data_hash == b.data_hash


def test_the_test_workbook_is_strict_and_openpyxl_alone_finds_no_sheet(tmp_path, recwarn):
    import openpyxl

    path = _strict_workbook(tmp_path)
    with zipfile.ZipFile(path) as z:
        assert b"purl.oclc.org/ooxml/spreadsheetml/main" in z.read("xl/workbook.xml")
        assert b'conformance="strict"' in z.read("xl/workbook.xml")
        assert b't="d"' in z.read("xl/worksheets/sheet1.xml")
    assert openpyxl.load_workbook(path, read_only=True).sheetnames == []  # the reported symptom


def test_strict_open_xml_workbook_reads_with_the_same_figures(base, tmp_path, capfd, recwarn):
    path = _strict_workbook(tmp_path)
    before = path.read_bytes()
    p = load_portfolio(str(path), today=TODAY)
    _same_figures(base, p)
    assert len(p.problems) == 0 and len(p.warnings) == 0
    assert p.measurements["row"].tolist() == base.measurements["row"].tolist()
    assert path.read_bytes() == before  # translated in memory, never rewritten
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert not [w for w in recwarn if "openpyxl" in str(w.filename)]


def test_strict_workbook_keeps_formulas_merged_cells_and_row_numbers(tmp_path):
    import openpyxl

    plain = corpus.build_excel(corpus.case_tables(), tmp_path / "plain.xlsx")
    wb = openpyxl.load_workbook(plain)
    ws = wb["measurements"]
    ws.insert_rows(1)
    ws["A1"] = "Returns"
    ws.merge_cells("A1:C1")
    wb.save(plain)
    p = load_portfolio(str(_to_strict(plain, tmp_path / "strict.xlsx")), today=TODAY)
    assert p.measurements["row"].min() == 3  # the title row moved the table down one row
    assert any("taken as a title" in w for w in p.warnings["problem"])


def test_strict_workbook_cinb_cannot_translate_is_refused_with_one_message(tmp_path, monkeypatch, capfd):
    import cinb.sources_excel as sx

    monkeypatch.setattr(sx, "_transitional", lambda m: m[0])  # a Strict variant the translation misses
    path = _strict_workbook(tmp_path)
    with pytest.raises(DataError) as info:
        load_portfolio(str(path), today=TODAY)
    problems = info.value.problems
    assert len(problems) == 1, problems[["table", "problem"]]
    (problem,) = problems.to_dict("records")
    assert problem["source"] == str(path)
    assert "is saved as Strict Open XML Spreadsheet, which cinb cannot read" in problem["problem"]
    assert problem["fix"] == "in Excel use File > Save As > Excel Workbook (.xlsx)"
    assert problem["problem"] == ("the workbook is saved as Strict Open XML Spreadsheet, which cinb cannot read "
                                  "(its sheets could not be found)")
    out, err = capfd.readouterr()
    assert "Warning" not in err and "openpyxl" not in err


def test_cli_on_a_strict_workbook_prints_no_library_warning(tmp_path):
    path = _strict_workbook(tmp_path)
    done = subprocess.run([sys.executable, "-W", "default", "-m", "cinb.cli", "validate", "--data", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 errors" in done.stdout
    assert "Warning" not in done.stderr and "openpyxl" not in done.stderr and "warn(" not in done.stderr


def test_a_library_warning_that_matters_becomes_a_cinb_warning(tmp_path, capfd, recwarn):
    # A sheet listed without its relationship id: openpyxl warns "invalid specification" and drops it.
    path = corpus.build_excel(corpus.case_tables(), tmp_path / "p.xlsx")
    buf = io.BytesIO()
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(buf, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "xl/workbook.xml":
                data = re.sub(rb'(<sheet name="initiatives"[^>]*?) r:id="rId\d+"', rb"\1", data)
            zout.writestr(info, data)
    path.write_bytes(buf.getvalue())
    p = load_portfolio(str(path), today=TODAY)
    texts = list(p.warnings["problem"])
    assert any("lists a sheet that cannot be found" in t for t in texts), texts
    assert len(p.initiatives) == 0
    out, err = capfd.readouterr()
    assert err == ""
    assert not [w for w in recwarn if "openpyxl" in str(w.filename)]


# --- cells re-saved by Excel ---------------------------------------------------------------------------------

MONTH_FIX = "write 2025-04 (format the column as Text in Excel so that it stays as typed)"
MONTH_PROBLEM = "is not a month in the form YYYY-MM: it looks like a month Excel re-formatted"
DATE_PROBLEM = "is not a date in ISO form YYYY-MM-DD: it looks like a date Excel re-formatted"
MARKER_FIX = "fix the formula in the source sheet and save again, or leave the cell empty if the value was not reported"

# (column, cell, problem, fix) for row 5 of measurements.csv: C-001 / FTF / 2025-04, submitted 2025-05-06.
FORMS = [
    ("period", "Apr-25", MONTH_PROBLEM, MONTH_FIX),
    ("period", "Apr 2025", MONTH_PROBLEM, MONTH_FIX),
    ("period", "April 2025", MONTH_PROBLEM, MONTH_FIX),
    ("period", "04/2025", MONTH_PROBLEM, MONTH_FIX),
    ("period", "2025/04", MONTH_PROBLEM, MONTH_FIX),
    ("period", "25-Apr", MONTH_PROBLEM, MONTH_FIX),
    ("period", "1-Apr-2025", "is not a month in the form YYYY-MM: it looks like a date Excel re-formatted", MONTH_FIX),
    ("period", "01/04/2025", "is not a month in the form YYYY-MM: it looks like a date Excel re-formatted",
     "write 2025-04 if 01 is the day and 04 the month, or 2025-01 if the month comes first (format the column "
     "as Text in Excel so that it stays as typed)"),
    ("submitted_on", "06/05/2025", DATE_PROBLEM,
     "write 2025-05-06 if 06 is the day and 05 the month, or 2025-06-05 if the month comes first"),
    ("submitted_on", "14/05/2025", DATE_PROBLEM, "write 2025-05-14"),
    ("submitted_on", "6-May-2025", DATE_PROBLEM, "write 2025-05-06"),
    ("submitted_on", "6 May 2025", DATE_PROBLEM, "write 2025-05-06"),
    ("submitted_on", "May 6, 2025", DATE_PROBLEM, "write 2025-05-06"),
    ("submitted_on", "2025/05/06", DATE_PROBLEM, "write 2025-05-06"),
    ("value", "N/A", "is a 'not available' marker (N/A), not a number",
     "leave the cell empty if the value was not reported"),
    ("value", "#N/A", "is Excel's #N/A marker (not available, e.g. a lookup that found nothing), not a number",
     "leave the cell empty if the value was not reported, or fix the formula in the source sheet"),
    ("value", "#DIV/0!", "is an Excel error marker (#DIV/0!): a formula failed, so this is not a number", MARKER_FIX),
    ("value", "#VALUE!", "is an Excel error marker (#VALUE!): a formula failed, so this is not a number", MARKER_FIX),
    ("value", "#REF!", "is an Excel error marker (#REF!): a formula failed, so this is not a number", MARKER_FIX),
    ("value", "-", "is a dash, not a number",
     "leave the cell empty if the value was not reported, or write 0 if the dash is Excel's accounting format for "
     "zero"),
    ("value", "1,073.5", "uses a thousands separator (a comma)", "write 1073.5 (no thousands separators)"),
    ("value", "1,073", "has a comma: a thousands separator or a decimal comma?",
     "write 1073 if the comma separates thousands (as Excel shows 1,234), or 1.073 if it is a decimal point"),
]


def _with_cell(column: str, row: int, text: str) -> dict[str, bytes]:
    tables = corpus.case_tables()
    rows = corpus._rows(tables["measurements"])
    rows[row - 1][rows[0].index(column)] = text
    out = io.StringIO()
    import csv

    csv.writer(out, lineterminator="\n").writerows(rows)
    tables["measurements"] = out.getvalue().encode()
    return tables


@pytest.mark.parametrize("fmt", ["csv", "excel"])
@pytest.mark.parametrize("column,text,problem,fix", FORMS, ids=[f"{c}={t}" for c, t, _, _ in FORMS])
def test_each_resaved_form_gets_one_located_message_with_the_fix(column, text, problem, fix, fmt, tmp_path):
    row = 5
    src = corpus.build(fmt, _with_cell(column, row, text), tmp_path)
    p = load_portfolio(src, strict=False, today=TODAY)
    everything = pd.concat([p.problems, p.warnings], ignore_index=True)
    # One problem in all, at the cell: no second message for the same row, no "missing month" for its month.
    assert len(everything) == 1, everything[["severity", "row", "column", "value", "problem"]].to_string()
    (got,) = everything.to_dict("records")
    assert (got["severity"], got["table"], int(got["row"]), got["column"], got["value"]) == \
        ("error", "measurements", row, column, text)
    assert got["problem"] == problem
    assert got["fix"] == fix
    if fmt == "csv":
        assert str(got["source"]).endswith("measurements.csv")
    else:
        assert str(got["source"]).endswith("portfolio.xlsx") and got["sheet"] == "measurements"
    assert p.accounting.set_index("table").loc["measurements", "rejected"] == 1


@pytest.mark.parametrize("text", ["N/A", "#N/A", "-", "Mar-25"])
def test_a_rejected_row_in_the_middle_of_a_series_is_not_also_a_missing_month(text, tmp_path):
    # Row 10 is C-001 / P1 / 2025-03: months before and after it are reported.
    column = "period" if text == "Mar-25" else "value"
    p = load_portfolio(corpus.build("csv", _with_cell(column, 10, text), tmp_path), strict=False, today=TODAY)
    assert len(p.problems) == 1 and int(p.problems["row"].iloc[0]) == 10
    assert not any("missing month" in w for w in p.warnings["problem"]), p.warnings["problem"].tolist()


def test_a_month_with_no_row_at_all_is_still_missing(tmp_path):
    rows = corpus._rows(corpus.case_tables()["measurements"])
    tables = _with_cell("value", 10, "N/A")
    tables["measurements"] = b"\n".join(
        line for i, line in enumerate(tables["measurements"].split(b"\n"), start=1) if i != 11)  # P1 2025-04 gone
    assert rows[10][:3] == ["C-001", "P1", "2025-04"]
    p = load_portfolio(corpus.build("csv", tables, tmp_path), strict=False, today=TODAY)
    missing = [w for w in p.warnings["problem"] if "missing month" in w]
    assert missing == ["missing month: no row for C-001 / P1 in 2025-04"]


def test_excel_error_cells_get_the_same_message(tmp_path):
    import openpyxl

    path = corpus.build_excel(corpus.case_tables(), tmp_path / "p.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["measurements"]
    ws["D5"] = "#N/A"
    ws["D5"].data_type = "e"  # an error cell, as Excel saves a failed lookup
    ws["D6"] = "#DIV/0!"
    ws["D6"].data_type = "e"
    wb.save(path)
    p = load_portfolio(str(path), strict=False, today=TODAY)
    got = p.problems.set_index("row")
    assert got.loc[5, "problem"].startswith("is Excel's #N/A marker") and got.loc[5, "value"] == "#N/A"
    assert got.loc[6, "problem"].startswith("is an Excel error marker (#DIV/0!)")
    assert len(p.problems) == 2 and len(p.warnings) == 0


def test_sqlite_text_in_a_real_column_gets_the_same_message(tmp_path):
    url = corpus.build_sqlite(_with_cell("value", 5, "#N/A"), tmp_path / "p.db")
    p = load_portfolio(url, strict=False, today=TODAY)
    assert len(p.problems) == 1 and len(p.warnings) == 0
    assert p.problems["problem"].iloc[0].startswith("is Excel's #N/A marker")


@pytest.mark.parametrize("text,expected", [
    ("Jan-24", "write 2024-01"), ("Jan 2024", "write 2024-01"), ("January 2024", "write 2024-01"),
    ("01/2024", "write 2024-01"), ("1/2024", "write 2024-01"), ("2024/01", "write 2024-01"),
    ("24-Jan", "write 2024-01"), ("Sept-2024", "write 2024-09"), ("dec-99", "write 1999-12"),
    ("13/01/2024", "write 2024-01"), ("1 January 2024", "write 2024-01")])
def test_period_hint_names_the_month(text, expected):
    problem, fix = period_hint(text)
    assert "Excel re-formatted" in problem and fix.startswith(expected + " (")
    assert month_guess(text) is not None


@pytest.mark.parametrize("text", ["soon", "Foo-24", "2024-13", "13/2024", "May", "", "Q1 2024", "31/02/2024"])
def test_period_hint_leaves_other_text_alone(text):
    assert period_hint(text) is None and month_guess(text) is None


@pytest.mark.parametrize("text,fix", [
    ("12/02/2024", "write 2024-02-12 if 12 is the day and 02 the month, or 2024-12-02 if the month comes first"),
    ("13/02/2024", "write 2024-02-13"), ("02/13/2024", "write 2024-02-13"), ("12-Feb-2024", "write 2024-02-12"),
    ("12-Feb-24", "write 2024-02-12"), ("12 February 2024", "write 2024-02-12"), ("Feb 12, 2024", "write 2024-02-12"),
    ("Monday, 12 February 2024", "write 2024-02-12"), ("2024/02/12", "write 2024-02-12"),
    ("12/02/2024 00:00", "write 2024-02-12 if 12 is the day and 02 the month, or 2024-12-02 if the month comes "
                         "first")])
def test_date_hint_names_the_iso_date(text, fix):
    assert date_hint(text) == ("is not a date in ISO form YYYY-MM-DD: it looks like a date Excel re-formatted", fix)


@pytest.mark.parametrize("text", ["soon", "31/02/2024", "12/13/14/15", "Febtember 3, 2024"])
def test_date_hint_leaves_other_text_alone(text):
    assert date_hint(text) is None


@pytest.mark.parametrize("text", ["N/A", "n/a", "NA", "#N/A", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!",
                                  "#NULL!", "-", "\u2013"])
def test_markers_are_recognised_and_never_called_non_finite(text):
    problem, fix = marker_hint(text)
    assert "finite" not in problem and "leave the cell empty if the value was not reported" in fix
    values, _, issues = parse_number(np.array(["1", text], dtype=object), Column("value", "number", pct_sign=True))
    assert len(issues) == 1 and list(issues[0][0]) == [False, True] and issues[0][1][1] == problem
    assert np.isnan(values[1])


def test_thousands_and_accounting_forms():
    assert number_hint("1,234,567") == ("uses a thousands separator (a comma)",
                                        "write 1234567 (no thousands separators)")
    assert number_hint("(1,234)") == ("is a negative number in brackets (Excel's accounting format)",
                                      "write -1234 (a minus sign, no brackets or commas)")
    assert number_hint("98,5") is None  # a decimal comma: cinb.cells says so
    assert number_hint("12 hours") is None


def test_nan_and_inf_are_still_not_finite():
    _, _, issues = parse_number(np.array(["nan", "inf"], dtype=object), Column("value", "number"))
    assert list(issues[0][1]) == ["is not a finite number", "is not a finite number"]


def test_iso_months_still_parse_and_other_text_keeps_the_generic_message():
    values, issues = parse_period(np.array(["2026-10", "soon"], dtype=object), Column("period", "period"))
    assert str(values[0]) == "2026-10"
    (mask, problem, fix), = issues
    assert list(mask) == [False, True]
    assert problem[1] == "is not a month in the form YYYY-MM"
    assert fix[1] == "write the month as YYYY-MM, e.g. 2026-10 for October 2026"


# --- ids with leading zeros ----------------------------------------------------------------------------------


def _zero_id_tables() -> dict[str, bytes]:
    return {name: data.replace(b"C-001", b"0451") for name, data in corpus.case_tables().items()}


def test_leading_zero_ids_stay_from_csv(tmp_path):
    p = load_portfolio(corpus.build("csv", _zero_id_tables(), tmp_path), today=TODAY)
    assert sorted(p.contracts["contract_id"]) == ["0451", "C-002"]
    assert set(p.measurements["contract_id"]) == {"0451", "C-002"}
    assert p.contracts.set_index("contract_id").loc["0451", "supplier_id"] == "01234567"


def _excel_with_numeric_ids(tmp_path: Path, fmt: str) -> Path:
    """The zero-id portfolio in a workbook whose 0451 ids are the number 451 in the number format ``fmt``."""
    import openpyxl

    path = corpus.build_excel(_zero_id_tables(), tmp_path / "p.xlsx")
    wb = openpyxl.load_workbook(path)
    for ws in wb.worksheets:
        header = [c.value for c in ws[1]]
        j = header.index("contract_id") + 1
        for r in range(2, ws.max_row + 1):
            cell = ws.cell(r, j)
            if cell.value == "0451":
                cell.value = 451
                cell.number_format = fmt
        if ws.title == "contracts":
            k = header.index("supplier_id") + 1
            ws.cell(2, k).value = 1234567
            ws.cell(2, k).number_format = "00000000"
    wb.save(path)
    return path


def test_leading_zero_ids_stay_from_excel_text_and_zero_padded_number_cells(tmp_path):
    from_csv = load_portfolio(corpus.build("csv", _zero_id_tables(), tmp_path / "csv"), today=TODAY)
    (tmp_path / "text").mkdir()
    (tmp_path / "num").mkdir()
    text_cells = load_portfolio(corpus.build("excel", _zero_id_tables(), tmp_path / "text"), today=TODAY)
    number_cells = load_portfolio(str(_excel_with_numeric_ids(tmp_path / "num", "0000")), today=TODAY)
    for p in (text_cells, number_cells):
        assert sorted(p.contracts["contract_id"]) == ["0451", "C-002"]
        assert set(p.kpis["contract_id"]) == {"0451", "C-002"}
        assert p.contracts.set_index("contract_id").loc["0451", "supplier_id"] == "01234567"
        assert p.data_hash == from_csv.data_hash


def test_a_number_in_a_general_format_cannot_show_its_zeros(tmp_path):
    p = load_portfolio(str(_excel_with_numeric_ids(tmp_path, "General")), strict=False, today=TODAY)
    assert "451" in set(p.contracts["contract_id"])  # Excel itself shows 451: there is no 0 to recover


def test_leading_zero_ids_stay_from_a_sqlite_text_column(tmp_path):
    url = corpus.build_sqlite(_zero_id_tables(), tmp_path / "p.db")
    con = sqlite3.connect(tmp_path / "p.db")
    try:
        assert con.execute("SELECT contract_id, typeof(contract_id) FROM contracts ORDER BY 1").fetchall()[0] == \
            ("0451", "text")
    finally:
        con.close()
    p = load_portfolio(url, today=TODAY)
    assert sorted(p.contracts["contract_id"]) == ["0451", "C-002"]
    assert set(p.measurements["contract_id"]) == {"0451", "C-002"}
    assert p.data_hash == load_portfolio(corpus.build("csv", _zero_id_tables(), tmp_path), today=TODAY).data_hash


def test_library_warnings_are_caught_and_only_those_about_data_reported(capfd):
    import warnings

    from cinb.sources import library_warnings, warning_problems

    with library_warnings() as caught:
        warnings.warn("Workbook contains no default style, apply openpyxl's default", UserWarning)
        warnings.warn("call_me() is deprecated", DeprecationWarning)
        warnings.warn("Did not recognize type 'geometry' of column 'site'", RuntimeWarning)
        warnings.warn("Did not recognize type 'geometry' of column 'site'", RuntimeWarning)
    problems = warning_problems(caught)
    assert [p["problem"] for p in problems] == ["while reading: Did not recognize type 'geometry' of column 'site'"]
    assert problems[0]["severity"] == "warning"
    assert capfd.readouterr().err == ""
