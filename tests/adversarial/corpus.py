"""Adversarial inputs for the loaders, generated at test time: one small clean portfolio and ways to spoil it.

Nothing here is committed as data: each case writes its files under a pytest ``tmp_path``. A case is a name,
a builder ``build(folder) -> data argument`` (a CSV folder, an .xlsx path or a database URL) and what must
happen: `Located` problems (an error whose table, row, column and value are exactly those named) or an
`Accepted` load, checked by a function of the portfolio (the documented acceptance). Row numbers are the rows a
spreadsheet shows: header = row 1.

Loaded by the tests with importlib (the tests folder is not a package).
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

#: Validation is judged against this day so that "future" is stable; the base data ends well before it.
TODAY = "2026-11-01"

TABLES = ("contracts", "kpis", "measurements", "initiatives")

_CONTRACTS = [
    ["contract_id", "title", "authority", "supplier", "supplier_id", "start_date", "end_date",
     "notice_period_days", "annual_value_gbp", "service_credit_cap_pct", "procurement_id"],
    ["C-001", "Service desk", "London Borough of Testham", "Alpha Support Ltd", "01234567", "2023-01-01",
     "2027-12-31", "90", "1200000", "10", "P-1"],
    ["C-002", "Hosting", "London Borough of Testham", "Beta Hosting Ltd", "07654321", "2024-01-01",
     "2026-12-31", "180", "600000", "", "P-2"],
]
_KPIS = [
    ["contract_id", "kpi_id", "name", "unit", "direction", "sla", "target", "critical", "credit_method",
     "credit_pct", "statutory"],
    ["C-001", "AVAIL", "Availability", "%", "higher", "99", "99.5", "98", "shortfall", "", "yes"],
    ["C-001", "P1", "P1 resolution", "hours", "lower", "8", "4", "12", "fixed", "2", "yes"],
    ["C-002", "CSAT", "Satisfaction", "score", "higher", "3.5", "4", "3", "none", "", "no"],
]
_MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]
_MEASUREMENTS = [["contract_id", "kpi_id", "period", "value", "submitted_on", "revision", "note"]] + [
    row
    for i, month in enumerate(_MONTHS)
    for row in (
        ["C-001", "AVAIL", month, f"{99.1 + (i % 5) / 10:.1f}", f"{month}-28", "1", ""],
        ["C-001", "P1", month, f"{3 + i % 6}", f"{month}-28", "1", ""],
        ["C-002", "CSAT", month, f"{3.6 + (i % 4) / 10:.1f}", f"{month}-28", "1", ""],
    )
]
_INITIATIVES = [
    ["contract_id", "initiative_id", "title", "status", "kpi_id", "expected_benefit_gbp"],
    ["C-001", "CI-1", "Self-service password reset", "agreed", "AVAIL", "5000"],
]

BASE = {"contracts": _CONTRACTS, "kpis": _KPIS, "measurements": _MEASUREMENTS, "initiatives": _INITIATIVES}


def base() -> dict[str, list[list[str]]]:
    """A fresh copy of the clean base portfolio as rows of text cells (header first)."""
    return copy.deepcopy(BASE)


def col(tables, table: str, name: str) -> int:
    """Position of column ``name`` in ``table``'s header."""
    return tables[table][0].index(name)


def setcell(tables, table: str, row: int, name: str, value: str) -> None:
    """Set the cell at spreadsheet ``row`` (header = 1) and column ``name``."""
    tables[table][row - 1][col(tables, table, name)] = value


# ---------------------------------------------------------------------------------------------------------
# Writers


def csv_text(rows: list[list[str]], newline: str = "\n") -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=newline).writerows(rows)
    return buf.getvalue()


def write_csv(folder: Path, tables, raw: dict[str, bytes] | None = None, encoding: str = "utf-8") -> Path:
    """Write each table as ``<name>.csv`` (``raw`` bytes replace a table's file; a None table is left out)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        if raw and name in raw:
            if raw[name] is not None:
                (folder / f"{name}.csv").write_bytes(raw[name])
        elif tables.get(name) is not None:
            (folder / f"{name}.csv").write_bytes(csv_text(tables[name]).encode(encoding))
    return folder


_NUMERIC = {"notice_period_days", "annual_value_gbp", "service_credit_cap_pct", "sla", "target", "critical",
            "credit_pct", "value", "revision", "expected_benefit_gbp"}
_DATES = {"start_date", "end_date", "submitted_on"}


def typed(name: str, text: str):
    """The value a spreadsheet user would have typed: numbers as numbers, ISO dates as dates."""
    if text == "":
        return None
    if name in _NUMERIC:
        try:
            f = float(text)
            return int(f) if f.is_integer() else f
        except ValueError:
            return text
    if name in _DATES:
        try:
            return dt.datetime.strptime(text, "%Y-%m-%d")
        except ValueError:
            return text
    return text


def write_xlsx(path: Path, tables, tweak: Callable | None = None) -> Path:
    """Write the tables as sheets of a workbook (typed cells); ``tweak(workbook)`` spoils it before saving."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name in TABLES:
        rows = tables.get(name)
        if rows is None:
            continue
        ws = wb.create_sheet(name)
        header = rows[0]
        ws.append(header)
        for r in rows[1:]:
            ws.append([typed(h, v) for h, v in zip(header, r)])
            for j, h in enumerate(header, start=1):
                cell = ws.cell(row=ws.max_row, column=j)
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.data_type = "s"  # typed text, not a formula (formulas are cases of their own)
                if h in _DATES and isinstance(cell.value, dt.datetime):
                    cell.number_format = "yyyy-mm-dd"
    if tweak:
        tweak(wb)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def write_sqlite(path: Path, tables, *, drop=(), extra_columns: dict[str, str] | None = None,
                 rename: dict[str, str] | None = None) -> str:
    """Write the tables into a SQLite file (numbers as REAL) and return its URL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    try:
        for name in TABLES:
            rows = tables.get(name)
            if rows is None or name in drop:
                continue
            header = list(rows[0])
            table = (rename or {}).get(name, name)
            decl = ", ".join(f'"{h}" {"REAL" if h in _NUMERIC else "TEXT"}' for h in header)
            con.execute(f'CREATE TABLE "{table}" ({decl})')
            values = [[None if v == "" else (_num(v) if h in _NUMERIC else v) for h, v in zip(header, r)]
                      for r in rows[1:]]
            if values:
                con.executemany(f'INSERT INTO "{table}" VALUES ({",".join("?" * len(header))})', values)
            for extra, kind in (extra_columns or {}).items():
                if extra.startswith(name + "."):
                    con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{extra.split(".", 1)[1]}" {kind}')
        con.commit()
    finally:
        con.close()
    return f"sqlite:///{path}"


def _num(v: str):
    try:
        return float(v)
    except ValueError:
        return v  # SQLite keeps text in a REAL column: exactly what a careless export does


# ---------------------------------------------------------------------------------------------------------
# Cases


@dataclass(frozen=True)
class Located:
    """An error the loader must report at exactly this place (value compared after str(); None = any)."""

    table: str
    row: int | str | None  # None: a table-level problem (no row); "any": the row may or may not be known
    column: str | None
    value: str | None = None
    words: str | None = None  # a word the problem text must contain (case-insensitive)


@dataclass(frozen=True)
class Accepted:
    """The input loads without error; ``check(portfolio)`` asserts the documented reading."""

    check: Callable | None = None
    warning: str | None = None  # a word some warning must contain


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # csv | xlsx | sql
    build: Callable[[Path], object]
    expect: tuple = ()
    read: dict = field(default_factory=dict)  # expected rows read per table (from what the builder wrote)
    cli: bool = False  # also run `cinb validate` on it as a subprocess


def _rows_read(tables) -> dict[str, int]:
    return {n: len(t) - 1 for n, t in tables.items() if t is not None}


CASES: list[Case] = []


def case(name, kind, expect, *, read=None, cli=False):
    """Register the decorated builder as a case."""
    def wrap(build):
        CASES.append(Case(name, kind, build, tuple(expect if isinstance(expect, (list, tuple)) else [expect]),
                          read or {}, cli))
        return build
    return wrap


def _csv_with(fn) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        t = base()
        fn(t)
        return write_csv(folder / "data", t)
    return build


def _same_as_base(p) -> None:
    assert sorted(p.contracts["contract_id"]) == ["C-001", "C-002"]
    assert len(p.kpis) == 3 and len(p.measurements) == 36
    assert p.contracts.set_index("contract_id").loc["C-001", "supplier"] == "Alpha Support Ltd"
    assert abs(p.measurements["value"].sum() - BASE_VALUE_SUM) < 1e-9


BASE_VALUE_SUM = sum(float(r[3]) for r in _MEASUREMENTS[1:])
_BASE_READ = _rows_read(BASE)

# --- empty and header-only files --------------------------------------------------------------------------

for _name in ("contracts", "kpis", "measurements"):
    case(f"csv_empty_{_name}", "csv", Located(_name, 1, None, words="empty"), cli=_name == "kpis")(
        lambda folder, n=_name: write_csv(folder / "data", base(), raw={n: b""}))
    case(f"csv_blank_lines_only_{_name}", "csv", Located(_name, 1, None, words="empty"))(
        lambda folder, n=_name: write_csv(folder / "data", base(), raw={n: b"\n\r\n  \n"}))


case("csv_empty_initiatives_is_optional", "csv", Accepted(_same_as_base, warning="empty"))(
    lambda folder: write_csv(folder / "data", base(), raw={"initiatives": b""}))

case("csv_bom_only_file", "csv", Located("measurements", 1, None, words="empty"))(
    lambda folder: write_csv(folder / "data", base(), raw={"measurements": b"\xef\xbb\xbf"}))


def _header_only_measurements(p):
    assert len(p.measurements) == 0 and len(p.history) == 0
    assert len(p.kpis) == 3


case("csv_header_only_measurements", "csv", Accepted(_header_only_measurements),
     read={"measurements": 0}, cli=True)(
    lambda folder: write_csv(folder / "data", {**base(), "measurements": [BASE["measurements"][0]]}))

case("csv_header_only_contracts", "csv", [Located("kpis", 2, "contract_id", "C-001", "no contract"),
                                          Located("measurements", 2, "contract_id", "C-001")],
     read={"contracts": 0})(
    lambda folder: write_csv(folder / "data", {**base(), "contracts": [BASE["contracts"][0]]}))

case("csv_missing_measurements_file", "csv", Located("measurements", None, None, words="measurements.csv"))(
    lambda folder: write_csv(folder / "data", {**base(), "measurements": None}))

# --- encodings, BOMs and line endings -----------------------------------------------------------------------


def _raw(name, data: Callable[[str], bytes], mutate=None):
    def build(folder):
        t = base()
        if mutate:
            mutate(t)
        return write_csv(folder / "data", t, raw={name: data(csv_text(t[name]))})
    return build


def _pound_supplier(t):
    setcell(t, "contracts", 2, "supplier", "Alpha £ Support Ltd")


def _pound_read(p):
    assert p.contracts.set_index("contract_id").loc["C-001", "supplier"] == "Alpha £ Support Ltd"


case("csv_utf16_le_bom", "csv", Accepted(_same_as_base))(
    _raw("measurements", lambda s: s.encode("utf-16")))
case("csv_utf16_be_bom", "csv", Accepted(_same_as_base))(
    _raw("measurements", lambda s: b"\xfe\xff" + s.encode("utf-16-be")))
case("csv_utf16_without_bom", "csv", Located("measurements", 1, "contract_id", words="missing"), cli=True)(
    _raw("measurements", lambda s: s.encode("utf-16-le")))
case("csv_utf8_bom", "csv", Accepted(_same_as_base))(
    _raw("measurements", lambda s: b"\xef\xbb\xbf" + s.encode("utf-8")))
case("csv_latin1_pound_sign", "csv", Accepted(_pound_read, warning="not UTF-8"), cli=True)(
    _raw("contracts", lambda s: s.encode("latin-1"), _pound_supplier))
case("csv_cp1252_pound_and_quotes", "csv", Accepted(_pound_read, warning="Windows-1252"))(
    _raw("contracts", lambda s: s.replace("Service desk", "Service desk \u2018gold\u2019").encode("cp1252"),
         _pound_supplier))
case("csv_latin1_pound_in_amount", "csv", Located("contracts", 2, "annual_value_gbp", "£1200000", "currency"))(
    _raw("contracts", lambda s: s.encode("latin-1"),
         lambda t: setcell(t, "contracts", 2, "annual_value_gbp", "£1200000")))
case("csv_crlf", "csv", Accepted(_same_as_base))(
    _raw("measurements", lambda s: s.replace("\n", "\r\n").encode()))


def _mixed_endings(s: str) -> bytes:
    lines = s.split("\n")
    ends = ["\r\n", "\n", "\r\n", "\n\n"]
    return "".join(line + ends[i % len(ends)] for i, line in enumerate(lines) if line).encode()


case("csv_mixed_line_endings_and_blank_lines", "csv", Accepted(_same_as_base))(
    _raw("measurements", _mixed_endings))
case("csv_old_mac_cr_only", "csv", Accepted(_same_as_base))(
    _raw("measurements", lambda s: s.replace("\n", "\r").encode()))
case("csv_no_final_newline", "csv", Accepted(_same_as_base))(
    _raw("measurements", lambda s: s.rstrip("\n").encode()))
case("csv_nul_byte_in_value", "csv", Located("measurements", 3, "value", words="not a number"))(
    _csv_with(lambda t: setcell(t, "measurements", 3, "value", "99.\x005")))
case("csv_unclosed_quote", "csv", Located("measurements", None, None, words="quote"), cli=True)(
    _raw("measurements", lambda s: s.replace("C-001,P1,2024-03", '"C-001,P1,2024-03', 1).encode()))

# --- enormous cells ---------------------------------------------------------------------------------------

_BIG_NOTE = "x" * 2_000_000


def _big_note(p):
    note = p.history.loc[p.history["note"].notna(), "note"]
    assert len(note) == 1 and len(note.iloc[0]) == len(_BIG_NOTE)


case("csv_enormous_note_kept_whole", "csv", Accepted(_big_note))(
    _csv_with(lambda t: setcell(t, "measurements", 5, "note", _BIG_NOTE)))
case("csv_enormous_id", "csv", Located("measurements", 4, "kpi_id", words="identifier"))(
    _csv_with(lambda t: setcell(t, "measurements", 4, "kpi_id", "K" * 100_000)))
case("csv_enormous_number", "csv", Located("measurements", 6, "value", "9" * 400))(
    _csv_with(lambda t: setcell(t, "measurements", 6, "value", "9" * 400)))
case("csv_number_overflows_float", "csv", Located("contracts", 3, "annual_value_gbp", "1e400"))(
    _csv_with(lambda t: setcell(t, "contracts", 3, "annual_value_gbp", "1e400")))


def _ragged_enormous(folder):
    t = base()
    text = csv_text(t["measurements"]).splitlines()
    text[3] = text[3] + ',"' + "y" * 300_000 + '"'  # an extra, huge cell: the ragged-row reader must cope
    return write_csv(folder / "data", t, raw={"measurements": ("\n".join(text) + "\n").encode()})


case("csv_ragged_row_with_enormous_cell", "csv", Located("measurements", 4, None, words="cells"))(_ragged_enormous)

# --- headers -----------------------------------------------------------------------------------------------


def _dup_header(t):
    for r in t["measurements"]:
        r.append(r[3])  # a second 'value' column


case("csv_duplicated_header", "csv", Located("measurements", 1, "value", words="twice"), cli=True)(
    _csv_with(_dup_header))
case("csv_header_case_and_spaces", "csv", Accepted(_same_as_base))(
    _csv_with(lambda t: t["measurements"].__setitem__(0, [" Contract_ID ", "KPI Id", "PERIOD", "Value",
                                                          "submitted on", "revision", "note"])))
case("csv_missing_required_column", "csv", Located("kpis", 1, "direction", words="missing"))(
    _csv_with(lambda t: [r.pop(col(BASE, "kpis", "direction")) for r in t["kpis"]]))


def _spoof_source(t):
    t["measurements"][0].append("_source")
    for r in t["measurements"][1:]:
        r.append("spoofed.csv")
    setcell(t, "measurements", 7, "value", "oops")


case("csv_internal_column_names_cannot_spoof_locations", "csv",
     Located("measurements", 7, "value", "oops"))(_csv_with(_spoof_source))

# --- values -----------------------------------------------------------------------------------------------

case("csv_text_in_numeric_column", "csv", Located("measurements", 3, "value", "ninety-nine", "not a number"),
     cli=True)(_csv_with(lambda t: setcell(t, "measurements", 3, "value", "ninety-nine")))
for _i, _text in enumerate(["nan", "NaN", "inf", "-inf", "Infinity", "#DIV/0!", "#N/A"]):
    case(f"csv_nonfinite_{_i}_{_text.strip('#/!').lower()}", "csv",
         Located("measurements", 3 + _i, "value", _text,
                 {"#DIV/0!": "Excel error marker", "#N/A": "#N/A marker"}.get(_text, "finite")))(
        _csv_with(lambda t, i=_i, x=_text: setcell(t, "measurements", 3 + i, "value", x)))
case("csv_nan_in_contract_amount", "csv", Located("contracts", 2, "annual_value_gbp", "NaN"))(
    _csv_with(lambda t: setcell(t, "contracts", 2, "annual_value_gbp", "NaN")))
case("csv_inf_in_kpi_target", "csv", Located("kpis", 3, "target", "inf"))(
    _csv_with(lambda t: setcell(t, "kpis", 3, "target", "inf")))
case("csv_future_period", "csv", Located("measurements", 2, "period", "2031-01", "future"), cli=True)(
    _csv_with(lambda t: setcell(t, "measurements", 2, "period", "2031-01")))
case("csv_period_before_contract_start", "csv", Located("measurements", 4, "period", "2023-06", "before"))(
    _csv_with(lambda t: setcell(t, "measurements", 4, "period", "2023-06")))
case("csv_submitted_in_future", "csv", Located("measurements", 5, "submitted_on", "2030-01-01", "future"))(
    _csv_with(lambda t: setcell(t, "measurements", 5, "submitted_on", "2030-01-01")))
case("csv_year_zero_date", "csv", Located("contracts", 2, "start_date", "0000-01-01"))(
    _csv_with(lambda t: setcell(t, "contracts", 2, "start_date", "0000-01-01")))
case("csv_far_future_date", "csv", Accepted(lambda p: None))(
    _csv_with(lambda t: setcell(t, "contracts", 2, "end_date", "2999-12-31")))
case("csv_date_year_9999_is_a_date", "csv", Accepted(
    lambda p: p.contracts.set_index("contract_id").loc["C-001", "end_date"].year == 9999))(
    _csv_with(lambda t: setcell(t, "contracts", 2, "end_date", "9999-12-31")))
case("csv_negative_zero_and_exponent", "csv", Accepted(
    lambda p: p.measurements.query("kpi_id == 'P1'")["value"].iloc[0] == 0.0))(
    _csv_with(lambda t: setcell(t, "measurements", 3, "value", "-0e0")))


def _formula_text(p):
    c = p.contracts.set_index("contract_id")
    assert c.loc["C-001", "supplier"] == "=HYPERLINK(\"http://x\",\"click\")"
    assert p.history["note"].dropna().tolist() == ["@SUM(1+1)*cmd|' /C calc'!A0"]


case("csv_formula_like_text_is_kept_as_text", "csv", Accepted(_formula_text))(
    _csv_with(lambda t: (setcell(t, "contracts", 2, "supplier", "=HYPERLINK(\"http://x\",\"click\")"),
                         setcell(t, "measurements", 2, "note", "@SUM(1+1)*cmd|' /C calc'!A0"))))

# --- identifiers ------------------------------------------------------------------------------------------

_BAD_IDS = {
    "dotdot_slash": "../C-003",
    "slash": "C/003",
    "backslash": "C\\003",
    "space_inside": "C 003",
    "leading_dot": ".C-003",
    "cyrillic_es": "\u0421-003",  # Cyrillic capital Es looks like C
    "fullwidth_digit": "C-\uff10\uff10\uff13",
    "zero_width_space": "C-0\u200b03",
    "rtl_override": "C-\u202e300",
    "nul": "C-0\x0003",
    "newline": "C-0\n03",
}
for _key, _id in _BAD_IDS.items():
    case(f"csv_contract_id_{_key}", "csv", [Located("contracts", 3, "contract_id", _id, "identifier")],
         cli=_key in ("dotdot_slash", "cyrillic_es"))(
        _csv_with(lambda t, i=_id: [r.__setitem__(0, i) for r in t["contracts"][2:3] + t["kpis"][3:4]
                                    + [m for m in t["measurements"][1:] if m[0] == "C-002"]]))
case("csv_kpi_id_dotdot", "csv", Located("kpis", 2, "kpi_id", "../../etc/passwd", "identifier"))(
    _csv_with(lambda t: setcell(t, "kpis", 2, "kpi_id", "../../etc/passwd")))
case("csv_initiative_id_slash", "csv", Located("initiatives", 2, "initiative_id", "CI/1", "identifier"))(
    _csv_with(lambda t: setcell(t, "initiatives", 2, "initiative_id", "CI/1")))
case("csv_lookalike_o_for_zero", "csv", Located("measurements", 2, "contract_id", "C-OO1", "no contract"))(
    _csv_with(lambda t: setcell(t, "measurements", 2, "contract_id", "C-OO1")))
case("csv_id_65_chars", "csv", Located("kpis", 4, "kpi_id", "K" * 65, "identifier"))(
    _csv_with(lambda t: setcell(t, "kpis", 4, "kpi_id", "K" * 65)))
case("csv_id_surrounding_spaces_are_stripped", "csv", Accepted(_same_as_base))(
    _csv_with(lambda t: setcell(t, "measurements", 2, "contract_id", "  C-001 ")))

# --- Excel ------------------------------------------------------------------------------------------------


def _xlsx(tweak=None, mutate=None):
    def build(folder):
        t = base()
        if mutate:
            mutate(t)
        return write_xlsx(folder / "book.xlsx", t, tweak)
    return build


case("xlsx_clean", "xlsx", Accepted(_same_as_base), cli=True)(_xlsx())


def _formula_no_cache(wb):
    ws = wb["measurements"]
    ws["D3"] = "=99+0.5"  # written by a program: no cached value


case("xlsx_formula_without_cached_value", "xlsx", Located("measurements", 3, "value (cell D3)", "=99+0.5",
                                                           "formula"), cli=True)(_xlsx(_formula_no_cache))


def patch_xlsx(path: Path, old: bytes, new: bytes) -> Path:
    """Replace the regular expression ``old`` by ``new`` in the sheets' XML (cells openpyxl will not write)."""
    import re
    import zipfile

    patched = path.with_name("patched-" + path.name)
    found = False
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(patched, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/") and re.search(old, data):
                data = re.sub(old, new, data)
                found = True
            zout.writestr(item, data)
    assert found, f"{old!r} not in {path}"
    return patched


def _formula_with_cache(folder):
    """A formula whose last calculated value was saved (as Excel does): the cached value is used."""
    path = write_xlsx(folder / "book.xlsx", base(), _formula_no_cache)
    return patch_xlsx(path, rb"<f>99\+0\.5</f><v\s*/>", b"<f>99+0.5</f><v>99.5</v>")


def _cached_used(p):
    v = p.measurements.set_index(["contract_id", "kpi_id", "period"])["value"]
    assert v.loc[("C-001", "P1", _period("2024-01"))] == 99.5


def _period(text):
    import pandas as pd

    return pd.Period(text, freq="M")


case("xlsx_formula_with_cached_value", "xlsx", Accepted(_cached_used, warning="formula"))(_formula_with_cache)


def _merged(wb):
    ws = wb["kpis"]
    ws.merge_cells("A2:A3")  # contract_id written once for two KPIs: the second row's cell is empty


def _merged_read(p):
    _same_as_base(p)
    assert p.kpis["contract_id"].tolist() == ["C-001", "C-001", "C-002"]


case("xlsx_merged_cells_give_their_value_to_each_cell", "xlsx", Accepted(_merged_read, warning="merged"))(
    _xlsx(_merged))


def _hidden(wb):
    wb["initiatives"].sheet_state = "hidden"
    wb["kpis"].sheet_state = "veryHidden"


case("xlsx_hidden_sheets_are_read_with_warning", "xlsx", Accepted(_same_as_base, warning="hidden"))(_xlsx(_hidden))


def _serial_dates(wb):
    ws = wb["contracts"]
    ws["F2"] = 44927  # 2023-01-01 as an Excel serial number, in a General-format cell
    ws["F2"].number_format = "General"
    ws = wb["measurements"]
    ws["C2"] = 45292  # 2024-01-01: a month typed into a period cell


def _serial_read(p):
    _same_as_base(p)
    assert str(p.contracts.set_index("contract_id").loc["C-001", "start_date"].date()) == "2023-01-01"


case("xlsx_excel_serial_dates", "xlsx", Accepted(_serial_read))(_xlsx(_serial_dates))


def _tiny_serial(wb):
    wb["contracts"]["F2"] = 5  # not a plausible serial date, in a General cell (so not shown as a date)
    wb["contracts"]["F2"].number_format = "General"


case("xlsx_small_number_in_date_column", "xlsx", Located("contracts", 2, "start_date", "5"))(_xlsx(_tiny_serial))


def _date_in_value(wb):
    wb["measurements"]["D4"] = dt.datetime(2024, 1, 5)


case("xlsx_date_cell_in_value_column", "xlsx", Located("measurements", 4, "value", "2024-01-05"))(
    _xlsx(_date_in_value))


def _bool_in_value(wb):
    wb["measurements"]["D5"] = True


case("xlsx_boolean_in_value_column", "xlsx", Located("measurements", 5, "value", "TRUE"))(_xlsx(_bool_in_value))


def _error_cell(wb):
    wb["measurements"]["D6"] = "#DIV/0!"
    wb["measurements"]["D6"].data_type = "e"


case("xlsx_error_cell", "xlsx", Located("measurements", 6, "value", "#DIV/0!"))(_xlsx(_error_cell))


def _inf_cell(folder):
    path = write_xlsx(folder / "book.xlsx", base())
    return patch_xlsx(path, rb'<c r="D7" t="n"><v>[^<]*</v>', b'<c r="D7" t="n"><v>inf</v>')


case("xlsx_infinite_number_cell", "xlsx", Located("measurements", "any", None), cli=True)(_inf_cell)


def _text_number(wb):
    wb["measurements"]["D8"] = "ninety"


case("xlsx_text_in_numeric_column", "xlsx", Located("measurements", 8, "value", "ninety"))(_xlsx(_text_number))


def _dup_header_x(wb):
    ws = wb["measurements"]
    ws.cell(row=1, column=8, value="Value")
    ws.cell(row=2, column=8, value=1)


case("xlsx_duplicated_header", "xlsx", Located("measurements", 1, "value", words="twice"))(_xlsx(_dup_header_x))


def _huge_cell(wb):
    wb["measurements"]["G2"] = "z" * 32_767  # Excel's own limit for a cell


case("xlsx_enormous_cell", "xlsx", Accepted(lambda p: p.history["note"].str.len().max() == 32_767))(
    _xlsx(_huge_cell))


def _extra_sheets(wb):
    wb.create_sheet("Notes").append(["anything", "=1/0"])
    wb.create_sheet("Chart data", 0)
    wb.move_sheet("Notes", -3)


case("xlsx_extra_sheets_ignored", "xlsx", Accepted(_same_as_base))(_xlsx(_extra_sheets))


def _title_rows(wb):
    ws = wb["contracts"]
    ws.insert_rows(1, 2)
    ws["A1"] = "Contracts register — OFFICIAL"


case("xlsx_title_above_table", "xlsx", Accepted(_same_as_base, warning="title"))(_xlsx(_title_rows))


def _sheet_missing(folder):
    t = base()
    t["kpis"] = None
    return write_xlsx(folder / "book.xlsx", t)


case("xlsx_missing_sheet", "xlsx", Located("kpis", None, None, words="sheet"), cli=True)(_sheet_missing)


def _bad_workbook(folder):
    path = folder / "book.xlsx"
    path.write_bytes(b"contract_id,title\nC-001,x\n")
    return path


case("xlsx_not_a_workbook", "xlsx", Located("contracts", None, None, words="workbook"), cli=True)(_bad_workbook)


def _empty_workbook_file(folder):
    path = folder / "book.xlsx"
    path.write_bytes(b"")
    return path


case("xlsx_zero_bytes", "xlsx", Located("contracts", None, None, words="workbook"))(_empty_workbook_file)


def _empty_sheet(wb):
    ws = wb["measurements"]
    ws.delete_rows(1, ws.max_row)


case("xlsx_empty_sheet", "xlsx", Located("measurements", 1, None, words="empty"))(_xlsx(_empty_sheet))


def _lookalike_x(wb):
    wb["measurements"]["A9"] = "\u0421-001"


case("xlsx_unicode_lookalike_id", "xlsx", Located("measurements", 9, "contract_id", "\u0421-001"))(
    _xlsx(_lookalike_x))

# --- SQL --------------------------------------------------------------------------------------------------


def _sql(**kw):
    def build(folder):
        return write_sqlite(folder / "data.db", kw.pop("tables", None) or base(), **kw)
    return build


case("sql_clean", "sql", Accepted(_same_as_base), cli=True)(_sql())
case("sql_missing_table", "sql", Located("kpis", None, None, words="table"), cli=True)(_sql(drop=("kpis",)))
case("sql_missing_optional_table", "sql", Accepted(_same_as_base, warning="initiatives"))(
    _sql(drop=("initiatives",)))
case("sql_extra_columns_kept_and_ignored", "sql", Accepted(_same_as_base))(
    _sql(extra_columns={"measurements.loaded_by": "TEXT", "contracts.secret_score": "REAL"}))
case("sql_table_names_in_other_case", "sql", Accepted(_same_as_base))(
    _sql(rename={"contracts": "CONTRACTS", "kpis": "Kpis"}))


def _sql_text_in_real(folder):
    t = base()
    setcell(t, "measurements", 10, "value", "n/a")
    return write_sqlite(folder / "data.db", t)


case("sql_text_in_numeric_column", "sql", Located("measurements", 10, "value", "n/a"))(_sql_text_in_real)


def _sql_missing_column(folder):
    t = base()
    for r in t["contracts"]:
        del r[col(BASE, "contracts", "end_date")]
    return write_sqlite(folder / "data.db", t)


case("sql_missing_required_column", "sql", Located("contracts", 1, "end_date", words="missing"))(_sql_missing_column)


def _sql_inf(folder):
    url = write_sqlite(folder / "data.db", base())
    con = sqlite3.connect(folder / "data.db")
    con.execute("UPDATE measurements SET value = 9e999 WHERE rowid = 11")  # SQLite stores +Inf
    con.commit()
    con.close()
    return url


case("sql_infinite_real", "sql", Located("measurements", 12, "value"))(_sql_inf)


def _sql_blob(folder):
    url = write_sqlite(folder / "data.db", base())
    con = sqlite3.connect(folder / "data.db")
    con.execute("UPDATE contracts SET supplier = ? WHERE rowid = 2", (b"\x00\xff<script>",))
    con.execute("UPDATE measurements SET value = ? WHERE rowid = 2", (b"\x01\x02",))
    con.commit()
    con.close()
    return url


case("sql_blob_cells", "sql", Located("measurements", 3, "value"))(_sql_blob)


def _sql_not_a_database(folder):
    path = folder / "data.db"
    path.write_bytes(b"this is not a database" * 100)
    return str(path)


def _sql_empty_file(folder):
    path = folder / "empty.db"
    path.write_bytes(b"")
    return f"sqlite:///{path}"


case("sql_empty_database", "sql", Located("contracts", None, None, words="table"))(_sql_empty_file)

#: Inputs that must be refused as a usage error (exit 2) before any row is read, with what the message names.
USAGE_CASES = {
    "sql_not_a_database": (_sql_not_a_database, "cannot read"),
    "single_csv_file": (lambda folder: str(write_csv(folder / "d", base()) / "contracts.csv"), "single CSV"),
    "old_xls": (lambda folder: (folder / "a.xls").write_bytes(b"\xd0\xcf\x11\xe0") and str(folder / "a.xls"), ".xls"),
    "no_such_path": (lambda folder: str(folder / "nowhere"), "no such"),
    "unknown_url_scheme": (lambda folder: "nosuchdb://x/y", "cannot"),
}
