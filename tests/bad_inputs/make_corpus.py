"""Write the bad-input corpus: one small portfolio per kind of problem, with where each problem must be reported.

Each case is a folder ``cases/<name>/`` holding only the table(s) that differ from the valid portfolio in
``base/``; the tests lay it over ``base/`` and load it as CSV, as an Excel workbook and as SQLite tables.
``expected.csv`` says, by hand, what must be reported: severity, table, spreadsheet row (header = 1), column,
value as the user wrote it, and words the problem (and fix) must contain. Run ``python make_corpus.py`` after
changing a case; the files are committed so that other tools can use the corpus too.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = HERE / "base"
ALL = "csv excel sql"


def table(name: str) -> list[list[str]]:
    with open(BASE / f"{name}.csv", newline="", encoding="utf-8") as fh:
        return [row for row in csv.reader(fh)]


def text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def set_cell(name: str, row: int, column: str, value: str) -> str:
    rows = table(name)
    rows[row - 1][rows[0].index(column)] = value
    return text(rows)


def drop_rows(name: str, *numbers: int) -> str:
    rows = table(name)
    return text([r for i, r in enumerate(rows, start=1) if i not in numbers])


def add_row(name: str, row: list[str]) -> str:
    return text(table(name) + [row])


def drop_column(name: str, column: str) -> str:
    rows = table(name)
    j = rows[0].index(column)
    return text([r[:j] + r[j + 1:] for r in rows])


def duplicate_column(name: str, column: str) -> str:
    rows = table(name)
    j = rows[0].index(column)
    return text([r + [r[j]] for r in rows])


M, K, C, I = "measurements", "kpis", "contracts", "initiatives"

# name: ({table: content}, formats, [(severity, table, row, column, value, problem words, fix words)])
CASES = {
    "missing_required_column": ({K: drop_column(K, "direction")}, ALL,
                                [("error", K, 1, "direction", "", "required column 'direction' is missing",
                                  "add a column named direction")]),
    "number_is_text": ({M: set_cell(M, 3, "value", "seventy")}, ALL,
                       [("error", M, 3, "value", "seventy", "is not a number", "plain number")]),
    "date_not_iso": ({C: set_cell(C, 2, "start_date", "31/12/2023")}, ALL,
                     [("error", C, 2, "start_date", "31/12/2023", "not a date in ISO form", "2023-12-31")]),
    "date_not_real": ({C: set_cell(C, 3, "end_date", "2026-02-30")}, ALL,
                      [("error", C, 3, "end_date", "2026-02-30", "not a real calendar date", "day and month")]),
    "period_not_a_month": ({M: set_cell(M, 4, "period", "March 2025")}, ALL,
                           [("error", M, 4, "period", "March 2025", "not a month in the form YYYY-MM", "write 2025-03")]),
    "period_month_13": ({M: set_cell(M, 5, "period", "2025-13")}, ALL,
                        [("error", M, 5, "period", "2025-13", "not a real month", "01 to 12")]),
    "percent_fraction_ambiguous": ({M: set_cell(M, 14, "value", "0.9995")}, ALL,
                                   [("error", M, 14, "value", "0.9995", "ambiguous", "99.95")]),
    "decimal_comma": ({M: set_cell(M, 15, "value", "99,7")}, ALL,
                      [("error", M, 15, "value", "99,7", "decimal comma", "write 99.7")]),
    "thousands_separator": ({C: set_cell(C, 2, "annual_value_gbp", "1,200,000")}, ALL,
                            [("error", C, 2, "annual_value_gbp", "1,200,000", "uses a thousands separator",
                              "write 1200000 (no thousands separators)")]),
    "currency_sign": ({C: set_cell(C, 3, "annual_value_gbp", "£600000")}, ALL,
                      [("error", C, 3, "annual_value_gbp", "£600000", "currency sign", "write 600000")]),
    "unknown_contract": ({M: set_cell(M, 5, "contract_id", "C-01")}, ALL,
                         [("error", M, 5, "contract_id", "C-01", "no contract with this id", "did you mean 'C-001'")]),
    "unknown_kpi": ({M: set_cell(M, 9, "kpi_id", "P01")}, ALL,
                    [("error", M, 9, "kpi_id", "P01", "no KPI with this id in contract C-001", "did you mean 'P1'")]),
    "unknown_contract_of_kpi": ({K: set_cell(K, 4, "contract_id", "C-003")}, ALL,
                                [("error", K, 4, "contract_id", "C-003", "no contract with this id", "contracts"),
                                 ("error", M, 14, "kpi_id", "AVAIL", "no KPI with this id in contract C-002", "")]),
    "duplicate_key": ({M: add_row(M, ["C-001", "FTF", "2025-01", "71", "2025-02-06", "1", ""])}, ALL,
                      [("error", M, 2, "revision", "C-001/FTF/2025-01/1", "same as row 21", "higher revision"),
                       ("error", M, 21, "revision", "C-001/FTF/2025-01/1", "same as row 2", "higher revision")]),
    "duplicate_contract": ({C: add_row(C, table(C)[1])}, ALL,
                           [("error", C, 2, "contract_id", "C-001", "duplicate key", "one row per key"),
                            ("error", C, 4, "contract_id", "C-001", "duplicate key", "one row per key")]),
    "period_before_term": ({M: set_cell(M, 14, "period", "2024-12")}, ALL,
                           [("error", M, 14, "period", "2024-12", "before the contract started",
                             "runs from 2025-01-01 to 2026-12-31")]),
    "period_after_term": ({M: set_cell(M, 18, "period", "2027-01")}, ALL,
                          [("error", M, 18, "period", "2027-01", "after the contract ended", "2026-12-31")]),
    "period_in_future": ({M: set_cell(M, 7, "period", "2027-03")}, ALL,
                         [("error", M, 7, "period", "2027-03", "in the future", "")]),
    "submitted_in_future": ({M: set_cell(M, 6, "submitted_on", "2030-01-01")}, ALL,
                            [("error", M, 6, "submitted_on", "2030-01-01", "in the future", "")]),
    "negative_hours": ({M: set_cell(M, 10, "value", "-2")}, ALL,
                       [("error", M, 10, "value", "-2", "negative: a quantity in hours", "sign")]),
    "negative_gbp": ({C: set_cell(C, 2, "annual_value_gbp", "-5")}, ALL,
                     [("error", C, 2, "annual_value_gbp", "-5", "is negative", "sign")]),
    "negative_notice_days": ({C: set_cell(C, 2, "notice_period_days", "-30")}, ALL,
                             [("error", C, 2, "notice_period_days", "-30", "is negative", "")]),
    "direction_invalid": ({K: set_cell(K, 2, "direction", "up")}, ALL,
                          [("error", K, 2, "direction", "up", "not a valid direction", "higher, lower"),
                           ("error", M, 2, "kpi_id", "FTF", "refers to a KPI that was rejected", "row 2")]),
    "unit_unknown": ({K: set_cell(K, 3, "unit", "hrs")}, ALL,
                     [("error", K, 3, "unit", "hrs", "not a valid unit", "did you mean 'hours'")]),
    "unit_percent_word": ({K: set_cell(K, 4, "unit", "percent")}, ALL,
                          [("error", K, 4, "unit", "percent", "not a valid unit", "did you mean '%'")]),
    "id_with_path": ({C: set_cell(C, 3, "contract_id", "../C-002")}, ALL,
                     [("error", C, 3, "contract_id", "../C-002", "not a valid identifier", "no spaces, slashes"),
                      ("error", K, 4, "contract_id", "C-002", "no contract with this id", "")]),
    "id_with_space": ({K: set_cell(K, 3, "kpi_id", "P 1")}, ALL,
                      [("error", K, 3, "kpi_id", "P 1", "not a valid identifier", "'P-1'")]),
    "id_unicode_lookalike": ({K: set_cell(K, 2, "kpi_id", "FТF")}, ALL,  # Cyrillic Т
                             [("error", K, 2, "kpi_id", "FТF", "not a valid identifier", "accented")]),
    "id_too_long": ({I: set_cell(I, 2, "initiative_id", "X" * 65)}, ALL,
                    [("error", I, 2, "initiative_id", "X" * 65, "not a valid identifier", "64")]),
    "nan_text": ({M: set_cell(M, 16, "value", "NaN")}, ALL,
                 [("error", M, 16, "value", "NaN", "not a finite number", "leave the cell empty")]),
    "inf_text": ({M: set_cell(M, 17, "value", "inf")}, ALL,
                 [("error", M, 17, "value", "inf", "not a finite number", "")]),
    "revision_not_whole": ({M: set_cell(M, 20, "revision", "1.5")}, ALL,
                           [("error", M, 20, "revision", "1.5", "not a whole number", "")]),
    "percent_sign_on_hours": ({M: set_cell(M, 11, "value", "3%")}, ALL,
                              [("error", M, 11, "value", "3%", "% sign", "unit is hours")]),
    "percent_sign_on_gbp": ({C: set_cell(C, 2, "annual_value_gbp", "10%")}, ALL,
                            [("error", C, 2, "annual_value_gbp", "10%", "not a percentage", "remove the % sign")]),
    "required_value_missing": ({C: set_cell(C, 3, "title", "")}, ALL,
                               [("error", C, 3, "title", "", "required value missing", "fill in title")]),
    "statutory_not_yes_no": ({K: set_cell(K, 2, "statutory", "maybe")}, ALL,
                             [("error", K, 2, "statutory", "maybe", "not yes or no", "")]),
    "status_invalid": ({I: set_cell(I, 3, "status", "in progress")}, ALL,
                       [("error", I, 3, "status", "in progress", "not a valid status", "in_progress")]),
    "fixed_credit_without_pct": ({K: set_cell(K, 3, "credit_pct", "")}, ALL,
                                 [("error", K, 3, "credit_pct", "", "credit_method is fixed", "")]),
    "shortfall_on_hours": ({K: set_cell(K, 3, "credit_method", "shortfall")}, ALL,
                           [("error", K, 3, "credit_method", "shortfall", "not measured in %", "")]),
    "end_before_start": ({C: set_cell(C, 3, "end_date", "2024-06-30")}, ALL,
                         [("error", C, 3, "end_date", "2024-06-30", "before start_date", "")]),
    "agreed_not_date_or_yes": ({K: set_cell(K, 2, "agreed_with_supplier", "soon")}, ALL,
                               [("error", K, 2, "agreed_with_supplier", "soon", "not a date, yes or no", "")]),
    "initiative_unknown_kpi": ({I: set_cell(I, 3, "kpi_id", "AVAILABILITY")}, ALL,
                               [("error", I, 3, "kpi_id", "AVAILABILITY", "no KPI with this id", "AVAIL")]),
    "duplicate_header": ({M: duplicate_column(M, "value")}, "csv excel",
                         [("error", M, 1, "value", "value", "appears twice", "only the first is read")]),
    "empty_table": ({K: ""}, "csv excel",
                    [("error", K, 1, None, "", "is empty", "header row")]),
    "ragged_row": ({M: text(table(M)) + "C-001,P1,2025-07,3,2025-08-01,1,,surplus,fields\n"}, "csv",
                   [("error", M, 21, None, "surplus", "the row has 9 cells but the header has 7", "as many commas")]),
    # Excel's forms: a CSV file saved again from Excel holds what Excel shows, not what was typed.
    **{f"period_excel_{label}": ({M: set_cell(M, row, "period", shown)}, ALL,
                                 [("error", M, row, "period", shown, "looks like a month Excel re-formatted",
                                   f"write {month}")])
       for label, row, shown, month in [("mmm_yy", 4, "Mar-25", "2025-03"), ("mmm_yyyy", 5, "Apr-2025", "2025-04"),
                                        ("mmm_space_yyyy", 6, "May 2025", "2025-05"), ("mm_yyyy", 7, "06/2025", "2025-06"),
                                        ("yyyy_mm", 8, "2025/01", "2025-01"), ("yy_mmm", 9, "25-Feb", "2025-02"),
                                        ("mmmm_yyyy", 11, "April 2025", "2025-04")]},
    "period_excel_date": ({M: set_cell(M, 15, "period", "01/02/2025")}, ALL,
                          [("error", M, 15, "period", "01/02/2025", "looks like a date Excel re-formatted",
                            "write 2025-02 if 01 is the day and 02 the month, or 2025-01 if the month comes first")]),
    "date_excel_dd_mmm_yyyy": ({C: set_cell(C, 2, "start_date", "1-Jan-2024")}, ALL,
                               [("error", C, 2, "start_date", "1-Jan-2024", "looks like a date Excel re-formatted",
                                 "write 2024-01-01")]),
    "date_excel_long": ({C: set_cell(C, 3, "end_date", "31 December 2026")}, ALL,
                        [("error", C, 3, "end_date", "31 December 2026", "looks like a date Excel re-formatted",
                          "write 2026-12-31")]),
    "date_day_first": ({M: set_cell(M, 2, "submitted_on", "05/02/2025")}, ALL,
                       [("error", M, 2, "submitted_on", "05/02/2025", "looks like a date Excel re-formatted",
                         "write 2025-02-05 if 05 is the day and 02 the month, or 2025-05-02 if the month comes first")]),
    "value_na": ({M: set_cell(M, 10, "value", "N/A")}, ALL,
                 [("error", M, 10, "value", "N/A", "is a 'not available' marker (N/A), not a number",
                   "leave the cell empty if the value was not reported")]),
    "value_excel_na": ({M: set_cell(M, 4, "value", "#N/A")}, ALL,
                       [("error", M, 4, "value", "#N/A", "is Excel's #N/A marker",
                         "leave the cell empty if the value was not reported, or fix the formula in the source sheet")]),
    **{f"value_excel_{label}": ({M: set_cell(M, row, "value", shown)}, ALL,
                                [("error", M, row, "value", shown, f"is an Excel error marker ({shown})",
                                  "fix the formula in the source sheet")])
       for label, row, shown in [("div0", 15, "#DIV/0!"), ("value", 16, "#VALUE!"), ("ref", 5, "#REF!")]},
    "value_dash": ({M: set_cell(M, 9, "value", "-")}, ALL,
                   [("error", M, 9, "value", "-", "is a dash, not a number",
                     "or write 0 if the dash is Excel's accounting format for zero")]),
    "thousands_or_decimal_comma": ({C: set_cell(C, 3, "annual_value_gbp", "600,000")}, ALL,
                                   [("error", C, 3, "annual_value_gbp", "600,000",
                                     "a thousands separator or a decimal comma?",
                                     "write 600000 if the comma separates thousands")]),
    # Warnings: the rows are used, the problem is reported.
    "missing_month": ({M: drop_rows(M, 9)}, ALL,
                      [("warning", M, None, "period", "2025-02", "missing month: no row for C-001 / P1 in 2025-02", "")]),
    "late_return": ({M: set_cell(M, 3, "submitted_on", "2025-04-20")}, ALL,
                    [("warning", M, 3, "submitted_on", "2025-04-20", "late return: submitted 51 days", "")]),
    "not_reported": ({M: set_cell(M, 12, "value", "")}, ALL,
                     [("warning", M, 12, "value", "", "not reported", "")]),
    "percent_above_100": ({M: set_cell(M, 17, "value", "100.5")}, ALL,
                          [("warning", M, 17, "value", "100.5", "above 100 %", "")]),
    "kpi_never_reported": ({K: add_row(K, ["C-002", "BACKUP", "Backups", "", "%", "higher", "", "99", "", "", "",
                                           "", "", "", "", "", "", "", "", "", "", ""])}, ALL,
                           [("warning", K, 5, "kpi_id", "BACKUP", "no measurements for this KPI", "")]),
}


def write_encoded_cases(root: Path) -> None:
    """Byte-level cases that only a CSV file can carry."""
    latin = (root / "latin1_pound")
    latin.mkdir(parents=True, exist_ok=True)
    rows = table(C)
    rows[1][1] = "Service desk £ support"
    (latin / "contracts.csv").write_bytes(text(rows).encode("cp1252"))
    utf16 = root / "utf16_bom"
    utf16.mkdir(parents=True, exist_ok=True)
    (utf16 / "kpis.csv").write_bytes(text(table(K)).encode("utf-16"))


ENCODED = {
    "latin1_pound": ("csv", [("warning", C, None, None, "", "not UTF-8", "CSV UTF-8")]),
}


def main() -> None:
    root = HERE / "cases"
    if root.exists():
        shutil.rmtree(root)
    expected = [["case", "formats", "severity", "table", "row", "column", "value", "problem", "fix"]]
    for name, (tables, formats, problems) in CASES.items():
        folder = root / name
        folder.mkdir(parents=True)
        for tname, content in tables.items():
            (folder / f"{tname}.csv").write_text(content, encoding="utf-8", newline="")
        for sev, tname, row, col, value, problem, fix in problems:
            expected.append([name, formats, sev, tname, "" if row is None else row, col or "", value, problem, fix])
    write_encoded_cases(root)
    for name, (formats, problems) in ENCODED.items():
        for sev, tname, row, col, value, problem, fix in problems:
            expected.append([name, formats, sev, tname, "" if row is None else row, col or "", value, problem, fix])
    with open(HERE / "expected.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(expected)


if __name__ == "__main__":
    main()
