"""Reading an Excel workbook (``.xlsx``/``.xlsm``): one sheet per table, named as the table.

Sheets ``contracts``, ``kpis``, ``measurements`` and optionally ``initiatives`` and the version-2
``process_changes``, ``credit_bands`` and ``critical_failure_rules`` (names matched ignoring case and surrounding
spaces).

* The header is the first row naming a required column (title rows above it are skipped with a warning),
  else the first non-empty row; row numbers are the sheet's own.
* Merged cells give their value to every cell of the range, with a warning.
* Date cells become ISO dates; a whole number in a date or period column is an Excel serial date and is
  converted; a number in a cell formatted as a percentage (``98.5%`` shows, ``0.985`` is stored) becomes
  ``98.5%``.
* A formula cell is read as the value Excel last calculated, with a warning (paste values to silence it); a
  formula with no calculated value (a file written by a program and never opened in Excel) is an error.
* Hidden sheets are read, with a warning. A sheet that cannot be parsed is a located error for that sheet.
* A workbook saved as Strict Open XML Spreadsheet is read like an ordinary one (its namespaces translated in
  memory); a numeric cell in a zero-padded format (``0000``) in an id or text column is read as shown (``0451``).
* Warnings openpyxl raises are caught: none reaches the terminal; those that may concern the values read
  become warnings.

See `cinb.load` for the rules every source shares.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from .schema import OPTIONAL_TABLES, TABLE_ORDER, RawTable, columns_by_name
from .sources import (
    absent_table,
    cell_text,
    library_warnings,
    missing_table_problem,
    norm_header,
    raw_from_rows,
    warning_problems,
)


def read_excel(path: Path) -> dict[str, RawTable]:
    """Read the sheets of a workbook as RawTables of text cells (see the module notes).

    Parameters
    ----------
    path : Path
        The ``.xlsx`` or ``.xlsm`` file (transitional or Strict Open XML).

    Returns
    -------
    dict of str to RawTable
        One per table of `cinb.schema.TABLE_ORDER`; a missing sheet gives ``present=False`` and a problem.
        A file that is not a readable workbook gives absent tables and one error (on ``contracts``);
        an unreadable sheet, an absent table with an error located at that sheet. Nothing is raised for a
        bad file: every problem is on ``RawTable.problems``. Warnings openpyxl raises never reach the
        terminal: those that may concern the values read are warnings on ``contracts``.
    """
    with library_warnings() as caught:
        tables = _read_workbook(path)
    tables["contracts"].problems.extend(warning_problems(caught))
    return tables


def _whole_file_problem(path: Path, strict: bool, problem: str, fix: str) -> dict[str, RawTable]:
    """Absent tables and one error on ``contracts``: the workbook as a whole cannot be read."""
    if strict:
        problem, fix = ("the workbook is saved as Strict Open XML Spreadsheet, which cinb cannot read (" + problem
                        + ")", "in Excel use File > Save As > Excel Workbook (.xlsx)")
    error = {"severity": "error", "row": None, "problem": problem, "fix": fix}
    return {name: absent_table(name, str(path), None, error if name == "contracts" else None)
            for name in TABLE_ORDER}


def _read_workbook(path: Path) -> dict[str, RawTable]:
    """`read_excel` without the warnings' capture."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    source = str(path)
    strict = _strict_as_transitional(path)

    def book():  # the file openpyxl and the merged-cell reader open: the translation of a Strict workbook
        return io.BytesIO(strict) if strict is not None else path

    try:
        wb = openpyxl.load_workbook(book(), read_only=True, data_only=False)
    except (InvalidFileException, OSError, KeyError, ValueError) as exc:
        return _whole_file_problem(path, strict is not None, f"not a readable Excel workbook ({type(exc).__name__}: "
                                   f"{exc})", "save it from Excel as .xlsx (not password-protected), or use a folder "
                                   "of CSV files")
    except Exception as exc:  # zipfile.BadZipFile and friends: a corrupt or non-Excel file
        return _whole_file_problem(path, strict is not None, f"not a readable Excel workbook ({exc})",
                                   "save it from Excel as .xlsx, or use a folder of CSV files")
    cached_wb = None
    try:
        if strict is not None and not wb.sheetnames:
            return _whole_file_problem(path, True, "its sheets could not be found", "")
        sheets = {s.strip().lower(): s for s in wb.sheetnames}
        tables = {}
        for name in TABLE_ORDER:
            sheet_name = sheets.get(name)
            if sheet_name is None:
                tables[name] = absent_table(name, source, name,
                                            missing_table_problem(name, source, wb.sheetnames, "sheet"))
                continue
            ws = wb[sheet_name]
            problems: list[dict] = []
            if ws.sheet_state != "visible":
                problems.append({"severity": "warning", "row": None,
                                 "problem": f"the sheet is {ws.sheet_state}; it was read all the same",
                                 "fix": "unhide the sheet so that readers see the data that was used"})
            try:
                rows, formulas = _sheet_cells(ws)
                if formulas:
                    if cached_wb is None:
                        cached_wb = openpyxl.load_workbook(book(), read_only=True, data_only=True)
                    _apply_cached(cached_wb[sheet_name], rows, formulas, problems)
            except Exception as exc:  # noqa: BLE001 - openpyxl raises anything on a corrupt sheet
                tables[name] = absent_table(name, source, sheet_name, _unreadable_sheet(exc))
                continue
            _fill_merged(book(), getattr(ws, "_worksheet_path", None), rows, problems)
            tables[name] = _sheet_table(name, rows, source, sheet_name, problems, wb.epoch)
        return tables
    except Exception as exc:  # noqa: BLE001 - a fault outside any one sheet (the workbook's own parts)
        return _whole_file_problem(path, strict is not None, f"the workbook cannot be read ({type(exc).__name__}: "
                                   f"{exc}); none of its rows were read", "open the workbook in Excel and save it "
                                   "again as .xlsx, or use a folder of CSV files")
    finally:
        wb.close()
        if cached_wb is not None:
            cached_wb.close()


#: Strict Open XML (Excel's "Strict Open XML Spreadsheet") names its XML namespaces and relationship types
#: under purl.oclc.org; openpyxl knows only those of an ordinary (transitional) .xlsx, so it finds no sheet.
_STRICT = re.compile(rb"http://purl\.oclc\.org/ooxml/(spreadsheetml|drawingml|officeDocument)/(\w+)(/\w+)?")
#: The Strict names that are not the transitional names with ``2006/`` inserted.
_STRICT_NAMES = {b"extendedProperties": b"extended-properties", b"customProperties": b"custom-properties"}


def _transitional(m: re.Match) -> bytes:
    """The transitional URI of a Strict one (a namespace, or a relationship type under it)."""
    rest = b"/" + _STRICT_NAMES.get(m[3][1:], m[3][1:]) if m[3] else b""
    return b"http://schemas.openxmlformats.org/" + m[1] + b"/2006/" + _STRICT_NAMES.get(m[2], m[2]) + rest


def _strict_as_transitional(path: Path) -> bytes | None:
    """A Strict Open XML workbook rewritten in memory with transitional namespaces; None for any other file.

    The two forms hold the same cells: only the namespace and relationship-type URIs differ, so the XML
    parts are translated URI by URI and every other part is copied as is. The file is never changed.
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            probe = z.read("_rels/.rels") if "_rels/.rels" in names else b""
            if "xl/workbook.xml" in names:
                with z.open("xl/workbook.xml") as fh:
                    probe += fh.read(4096)
            if b"purl.oclc.org/ooxml/" not in probe:
                return None
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as w:
                for info in z.infolist():
                    data = z.read(info)
                    if info.filename.lower().endswith((".xml", ".rels", ".vml")):
                        data = _STRICT.sub(_transitional, data)
                    w.writestr(info.filename, data)
            return out.getvalue()
    except Exception:  # noqa: BLE001 - not a zip, or a corrupt one: openpyxl reports it
        return None


def _unreadable_sheet(exc: Exception) -> dict:
    """The problem for a sheet openpyxl cannot parse (a corrupt cell, e.g. ``inf`` stored as a number)."""
    detail = str(exc).splitlines()[0] if str(exc) else ""
    detail = detail if len(detail) <= 200 else detail[:200] + "…"
    return {"severity": "error", "row": None,
            "problem": f"the sheet cannot be read, so none of its rows were read ({type(exc).__name__}"
                       + (f": {detail}" if detail else "") + "); a cell holds something Excel would not write",
            "fix": "open the workbook in Excel and save it again (File > Save As, .xlsx), or export the sheet as "
                   "CSV; if it was written by another program, check that numbers are finite"}


def _sheet_cells(ws):
    """All cells of a sheet as {row number: [(value, number_format), ...]} and the formula cells."""
    rows: dict[int, list] = {}
    formulas: list[tuple[int, int]] = []
    for n, row in enumerate(ws.iter_rows(), start=1):
        # Cells know their row when the file records it; fall back to counting.
        r = next((c.row for c in row if getattr(c, "row", None)), n)
        cells = []
        for j, cell in enumerate(row):
            value = getattr(cell, "value", None)
            fmt = getattr(cell, "number_format", None)
            if getattr(cell, "data_type", None) == "f" or (isinstance(value, str) and value.startswith("=")
                                                           and getattr(cell, "data_type", None) == "f"):
                formulas.append((r, j))
            cells.append([value, fmt])
        if any(v is not None and v != "" for v, _ in cells):
            rows[r] = cells
    return rows, formulas


def _fill_merged(path, sheet_xml: str | None, rows: dict, problems: list[dict]) -> None:
    """Give every cell of a merged range the range's value (what the reader sees), with a warning.

    Read-only openpyxl does not expose merged ranges, so they are read from the sheet's XML (``path`` is the
    workbook's file, or a file object of its bytes).
    """
    import zipfile

    from openpyxl.utils import get_column_letter, range_boundaries

    if not sheet_xml:
        return
    try:
        with zipfile.ZipFile(path) as z:
            xml = z.read(sheet_xml.lstrip("/")).decode("utf-8", errors="replace")
    except (KeyError, OSError, zipfile.BadZipFile):
        return
    for ref in re.findall(r'<mergeCell\s+ref="([A-Z]+[0-9]+:[A-Z]+[0-9]+)"', xml):
        c1, r1, c2, r2 = range_boundaries(ref)
        top = rows.get(r1, [])
        value, fmt = top[c1 - 1] if c1 - 1 < len(top) else (None, None)
        if value is None or r1 == r2 and c1 == c2:
            continue
        for r in range(r1, r2 + 1):
            cells = rows.setdefault(r, [])
            while len(cells) < c2:
                cells.append([None, None])
            for c in range(c1, c2 + 1):
                cells[c - 1] = [value, fmt]
        problems.append({"severity": "warning", "row": r1, "column": f"cells {ref}", "value": str(value),
                         "problem": f"the cells {ref} are merged; their value was used in each of rows {r1} to {r2}"
                                    if r2 > r1 else f"the cells {ref} are merged; their value was used in each column",
                         "fix": f"unmerge {get_column_letter(c1)}{r1}:{get_column_letter(c2)}{r2} and fill in every "
                                "cell to silence this warning"})


def _apply_cached(ws_cached, rows, formulas, problems):
    """Replace formula cells by Excel's cached values (warning), or flag them when there is none (error)."""
    wanted = set(formulas)
    by_row = {}
    for n, row in enumerate(ws_cached.iter_rows(), start=1):
        r = next((c.row for c in row if getattr(c, "row", None)), n)
        if any((r, j) in wanted for j in range(len(row))):
            by_row[r] = [getattr(c, "value", None) for c in row]
    for r, j in formulas:
        formula = rows[r][j][0]
        cached = by_row.get(r, [])[j] if j < len(by_row.get(r, [])) else None
        from openpyxl.utils import get_column_letter

        where = f"{get_column_letter(j + 1)}{r}"
        if cached is None:
            rows[r][j][0] = None
            problems.append({"severity": "error", "row": r, "column": f"cell {where}", "value": str(formula),
                             "problem": "is a formula with no calculated value (the file was never saved by Excel)",
                             "fix": "open and save the workbook in Excel, or replace the formula by its value",
                             "_j": j})
        else:
            rows[r][j][0] = cached
            problems.append({"severity": "warning", "row": r, "column": f"cell {where}", "value": str(formula),
                             "problem": f"is a formula; its last calculated value {cached!r} was used",
                             "fix": "replace the formula by its value (Paste Special > Values) to silence this",
                             "_j": j})


def _sheet_table(name, rows, source, sheet, problems, epoch) -> RawTable:
    """The RawTable of one sheet's cells: find the header row, convert cells to text, locate formula problems."""
    if not rows:
        return absent_table(name, source, sheet, {
            "severity": "error" if name not in OPTIONAL_TABLES else "warning", "row": 1,
            "problem": "the sheet is empty", "fix": "write a header row (column names) and the data"})
    numbers = sorted(rows)
    # The header is the first row naming a required column (a title above the table is common in
    # workbooks); failing that, the first non-empty row, so the missing columns are reported against it.
    required = {c.name for c in columns_by_name(name).values() if c.required}
    header_at = next((i for i, r in enumerate(numbers[:30])
                      if required & {norm_header(v) for v, _ in rows[r] if v is not None}), 0)
    if header_at:
        problems.append({"severity": "warning", "row": numbers[header_at], "column": None,
                         "problem": f"the rows above row {numbers[header_at]} were taken as a title and ignored",
                         "fix": "start the table at row 1 to silence this warning"})
    numbers = numbers[header_at:]
    header_row = numbers[0]
    header = [v for v, _ in rows[header_row]]
    while header and (header[-1] is None or str(header[-1]).strip() == ""):
        header.pop()
    norm = [norm_header(h) for h in header]
    spec = columns_by_name(name)
    kinds = [spec[c].kind if c in spec else "text" for c in norm]
    data_rows = []
    for r in numbers[1:]:
        cells = rows[r]
        data_rows.append([cell_text(cells[j][0], kinds[j], cells[j][1], epoch) if j < len(cells) else ""
                          for j in range(len(norm))])
        extra = [v for v, _ in cells[len(norm):] if v is not None and str(v).strip() != ""]
        if extra:
            problems.append({"severity": "warning", "row": r, "column": None, "value": str(extra[0]),
                             "problem": "the row has values to the right of the last headed column; they are ignored",
                             "fix": "give the column a header or delete the values"})
    # Name formula problems by their column header now that the header is known.
    for p in problems:
        j = p.pop("_j", None)
        if j is not None and j < len(norm) and norm[j]:
            p["column"] = f"{norm[j]} ({p['column']})"
    return raw_from_rows(name, header, data_rows, numbers[1:], source, sheet, problems)
