"""Load a contract portfolio from a folder of CSV files, an Excel workbook or a database URL into a `Portfolio`.

One argument chooses the source everywhere (``--data`` on the command line, ``data`` in the notebooks):

* ``None``: the embedded sample portfolio (``cinb/data/sample/``);
* a folder: ``contracts.csv``, ``kpis.csv``, ``measurements.csv`` and optionally ``initiatives.csv``;
* a ``.xlsx``/``.xlsm`` workbook with sheets of those names (any case);
* a SQLAlchemy URL (``sqlite:///path.db``, ``postgresql://user@host/db``) with tables of those names, or a
  cinb store written by `cinb.store.ingest` (then ``as_of`` picks a past data version).

Reading rules (documented for users in the data guide):

* Every cell is read as text first so that validation sees what the user wrote. Column names are matched
  ignoring case and surrounding spaces (inner spaces count as ``_``); unknown columns are kept as text.
  Names starting with ``_`` are cinb's own (row number, source) and such input columns are ignored with a
  warning, so the data cannot rewrite where its problems are reported.
* CSV: UTF-8 (with or without BOM) or UTF-16 with BOM; any other bytes are read as Windows-1252 with a
  warning. A file separated by ``;`` or tabs is read with a warning. Blank lines are skipped; row numbers are
  the rows a spreadsheet shows (header = row 1).
* Excel: the header is the first row naming a required column (title rows above it are skipped with a
  warning), else the first non-empty row; row numbers are the sheet's own. Merged cells give their value to
  every cell of the range, with a warning. Date cells become ISO dates; a whole number in a date or period
  column is an Excel serial date and is converted; a number in a cell formatted as a percentage (``98.5%``
  shows, ``0.985`` is stored) becomes ``98.5%``. A formula cell is read as the value Excel last calculated,
  with a warning (paste values to silence it); a formula with no calculated value (a file written by a
  program and never opened in Excel) is an error. Hidden sheets are read, with a warning.
* A row with more cells than the header is rejected (the cells may have shifted); fewer cells are empty.
* SQL: tables are read whole; row numbers count the rows as returned with the header as row 1, as if the
  table were exported to a spreadsheet. A SQLite URL must name an existing file: reading never creates one.
* A source that cannot be opened at all (no such path, a name too long, no permission) is a `UsageError`; a
  workbook sheet that cannot be parsed is a located `DataError` for that sheet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import PROBLEM_COLUMNS, DataError, UsageError
from .schema import OPTIONAL_TABLES, TABLE_ORDER, RawTable, columns_by_name
from .validate import LATE_AFTER_DAYS, did_you_mean, empty_problems, validate

EXCEL_SUFFIXES = (".xlsx", ".xlsm")


def sample_dir() -> Path:
    """The folder of the embedded sample portfolio."""
    try:
        from .config import SAMPLE_DIR

        return Path(SAMPLE_DIR)
    except ImportError:  # config is optional for the data layer
        return Path(__file__).resolve().parent / "data" / "sample"


# ---------------------------------------------------------------------------------------------------------
# The loaded portfolio


@dataclass(frozen=True, eq=False)
class Portfolio:
    """A validated portfolio: typed frames, the row accounting, warnings, problems and provenance.

    Attributes
    ----------
    contracts, kpis, measurements, history, initiatives : DataFrame
        Typed frames with the columns of DOMAIN.md §4 (``measurements`` holds the winning revision of each
        contract, KPI and month; ``history`` every accepted row with a ``superseded`` flag).
    accounting : DataFrame
        Per table: ``read``, ``used``, ``superseded``, ``rejected`` (read = used + superseded + rejected).
    warnings, problems : DataFrame
        Warnings and errors found while loading (problem columns plus ``contract_id``). ``problems`` is empty
        unless the portfolio was loaded with ``strict=False``.
    source : str
        Where the data came from (folder, workbook or URL without password).
    data_hash : str
        sha256 of the canonical data (contract columns only, independent of the source format).
    as_of : str or None
        The store batch the data was read as of, when read from a store.
    """

    contracts: pd.DataFrame
    kpis: pd.DataFrame
    measurements: pd.DataFrame
    history: pd.DataFrame
    initiatives: pd.DataFrame
    accounting: pd.DataFrame
    warnings: pd.DataFrame
    source: str
    data_hash: str
    problems: pd.DataFrame = field(default_factory=empty_problems)
    as_of: str | None = None

    @property
    def contract_ids(self) -> list[str]:
        """The contract ids in the portfolio, sorted."""
        return sorted(self.contracts["contract_id"].astype(str))

    def contract(self, contract_id: str) -> "Portfolio":
        """The portfolio restricted to one contract.

        Raises
        ------
        UsageError
            When no contract has that id (the message names close matches).
        """
        ids = self.contracts["contract_id"].astype(object).tolist()
        if contract_id not in ids:
            hint = did_you_mean(str(contract_id), ids)
            raise UsageError(f"no contract {contract_id!r} in {self.source}" + (f"; {hint}" if hint else "") +
                             f" (contracts: {', '.join(sorted(map(str, ids))[:20])}{' …' if len(ids) > 20 else ''})")
        return self._subset({contract_id})

    def supplier(self, name: str) -> "Portfolio":
        """The portfolio restricted to the contracts of one supplier (name matched ignoring case).

        Raises
        ------
        UsageError
            When no contract has that supplier (the message names close matches).
        """
        names = self.contracts["supplier"].astype(object)
        match = names.str.strip().str.lower() == str(name).strip().lower()
        if not match.any():
            known = sorted(set(names.dropna()))
            hint = did_you_mean(str(name), known)
            raise UsageError(f"no supplier {name!r} in {self.source}" + (f"; {hint}" if hint else "") +
                             f" (suppliers: {', '.join(known[:20])})")
        return self._subset(set(self.contracts.loc[match.to_numpy(), "contract_id"]))

    def _subset(self, ids: set) -> "Portfolio":
        def keep(frame):
            if "contract_id" not in frame or not len(frame):
                return frame.iloc[0:0].reset_index(drop=True) if "contract_id" in frame else frame
            return frame[frame["contract_id"].isin(list(ids)).to_numpy()].reset_index(drop=True)

        history = keep(self.history)
        measurements = keep(self.measurements)
        problems = keep(self.problems)
        accounting = _subset_accounting(self, ids, history, problems)
        frames = dict(contracts=keep(self.contracts), kpis=keep(self.kpis), measurements=measurements,
                      history=history, initiatives=keep(self.initiatives))
        return replace(self, **frames, accounting=accounting, warnings=keep(self.warnings), problems=problems,
                       data_hash=data_hash(frames))

    def __repr__(self) -> str:
        return (f"Portfolio(source={self.source!r}, contracts={len(self.contracts)}, kpis={len(self.kpis)}, "
                f"measurements={len(self.measurements)}, history={len(self.history)}, "
                f"initiatives={len(self.initiatives)}, warnings={len(self.warnings)}, "
                f"problems={len(self.problems)}, data_hash={self.data_hash[:12]}…)")

    def _repr_html_(self) -> str:
        import html

        acc = self.accounting.to_html(index=False, escape=True)
        return (f"<p><b>Portfolio</b> from <code>{html.escape(self.source)}</code> — "
                f"{len(self.contracts)} contracts, {len(self.kpis)} KPIs, {len(self.measurements)} measurements, "
                f"{len(self.warnings)} warnings, {len(self.problems)} errors; data hash "
                f"<code>{self.data_hash[:12]}</code></p>{acc}")


def _subset_accounting(p: Portfolio, ids: set, history: pd.DataFrame, problems: pd.DataFrame) -> pd.DataFrame:
    """Row accounting of a per-contract view: rows of those contracts only (rejected rows counted by row)."""
    rows = []
    errs = problems[problems["severity"] == "error"] if len(problems) else problems
    for table in TABLE_ORDER:
        if table == "measurements":
            used = int((~history["superseded"]).sum())
            superseded = int(history["superseded"].sum())
        else:
            frame = getattr(p, table)
            used = int(frame["contract_id"].isin(list(ids)).sum())
            superseded = 0
        rejected = 0
        if len(errs):
            e = errs[errs["table"] == table]
            rejected = int(e[["source", "row"]].drop_duplicates().shape[0])
        rows.append({"table": table, "read": used + superseded + rejected, "used": used,
                     "superseded": superseded, "rejected": rejected})
    return pd.DataFrame(rows, columns=["table", "read", "used", "superseded", "rejected"])


def data_hash(frames: dict[str, pd.DataFrame]) -> str:
    """sha256 of the canonical data: the contract columns' values, rows sorted, source and row excluded.

    The same data gives the same hash whether it came from CSV, Excel, SQL or the store, and whatever the
    pandas version: numbers hash as IEEE doubles, dates as days, months as ``YYYY-MM`` ordinals, text as UTF-8.
    """
    h = hashlib.sha256()
    for table in ("contracts", "kpis", "history", "initiatives"):
        frame = frames[table]
        spec = columns_by_name("measurements" if table == "history" else table)
        cols = list(spec) + (["superseded"] if table == "history" else [])
        keys = [k for k in ("contract_id", "kpi_id", "initiative_id", "period", "revision") if k in frame]
        if len(frame) > 1:
            order = np.lexsort([pd.factorize(frame[k].to_numpy(dtype=object) if frame[k].dtype != "period[M]"
                                             else frame[k].array.asi8, sort=True)[0] for k in reversed(keys)])
            frame = frame.iloc[order]
        h.update(f"#{table}:{len(frame)}\n".encode())
        for col in cols:
            if col not in frame:
                continue
            h.update(f"|{col}|".encode())
            s = frame[col]
            kind = spec[col].kind if col in spec else "bool"
            if kind in ("number", "int"):
                h.update(np.ascontiguousarray(s.to_numpy(dtype="<f8")).tobytes())
            elif kind == "date":
                h.update(np.ascontiguousarray(s.to_numpy(dtype="datetime64[us]").astype("datetime64[D]")
                                              .astype("<i8")).tobytes())
            elif kind == "period":
                h.update(np.ascontiguousarray(s.array.asi8.astype("<i8")).tobytes())
            elif kind == "bool":
                h.update(s.to_numpy(dtype=bool).astype("u1").tobytes())
            else:
                h.update("\x1f".join(s.astype(object).fillna("\x00").astype(str).tolist()).encode("utf-8"))
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------------
# Cells to text


_SERIAL_MIN, _SERIAL_MAX = 10000, 110000  # Excel serials 1927..2201: anything else is not meant as a date


def cell_text(value, kind: str = "text", number_format: str | None = None, excel_epoch=None) -> str:
    """The text a cell stands for, as validation expects it ('' for empty).

    ``excel_epoch`` (a datetime, for workbooks) turns whole numbers in date/period columns into dates.
    """
    if value is None:
        return ""
    if isinstance(value, float) and np.isnan(value):
        return ""
    if isinstance(value, (bool, np.bool_)):
        if kind in ("bool", "agreed"):
            return "yes" if value else "no"
        return "TRUE" if value else "FALSE"
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        if kind in ("date", "period", "agreed"):
            return value.strftime("%Y-%m-%d")
        return value.isoformat(sep=" ") if (value.hour or value.minute or value.second) else value.strftime("%Y-%m-%d")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        value = float(value) if kind != "text" and kind != "id" else value
        if isinstance(value, Decimal):
            return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        f = float(value)
        if excel_epoch is not None and kind in ("date", "period", "agreed") and f == int(f) \
                and _SERIAL_MIN <= f <= _SERIAL_MAX:
            from openpyxl.utils.datetime import from_excel

            return from_excel(f, excel_epoch).strftime("%Y-%m-%d")
        if kind == "number" and number_format and "%" in number_format and np.isfinite(f):
            return repr(round(f * 100, 10)).removesuffix(".0") + "%"
        if isinstance(value, (int, np.integer)) or (np.isfinite(f) and f.is_integer() and abs(f) < 1e15):
            return str(int(f))
        return repr(f)
    text = str(value)
    return text.strip()


def _norm_header(name) -> str:
    return re.sub(r"\s+", "_", str(name if name is not None else "").strip().lower())


def _kept_columns(header: list, problems: list[dict]) -> list[tuple[int, str]]:
    """(position, normalised name) of the columns to read; duplicated names are reported, first one kept."""
    kept: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for j, h in enumerate(header):
        col = _norm_header(h)
        if col == "":
            continue
        if col.startswith("_"):
            # cinb keeps its own columns under names starting with '_' (the row number, the store's source):
            # a data column of that name would let the data rewrite where its own problems are reported.
            problems.append({"severity": "warning", "row": 1, "column": col, "value": str(h),
                             "problem": f"column {col!r} starts with '_', a name kept for cinb's own columns; "
                                        "it is ignored",
                             "fix": "rename the column (to a name not starting with '_') or delete it"})
            continue
        if col in seen:
            problems.append({"severity": "error", "row": 1, "column": col, "value": str(h),
                             "problem": f"column {col!r} appears twice (columns {seen[col] + 1} and {j + 1})",
                             "fix": "delete or rename one of them; only the first is read"})
            continue
        seen[col] = j
        kept.append((j, col))
    return kept


def _unheaded(header: list, has_values, problems: list[dict]) -> None:
    """Warn about columns that hold values but have no header (they are ignored)."""
    for j, h in enumerate(header):
        if _norm_header(h) == "" and has_values(j):
            problems.append({"severity": "warning", "row": 1, "column": f"column {j + 1}",
                             "problem": "a column with values has no header; it is ignored",
                             "fix": "give the column a header or delete it"})


def _raw_from_rows(name: str, header: list, rows: list[list[str]], row_numbers: list[int], source: str,
                   sheet: str | None, problems: list[dict]) -> RawTable:
    """Build a RawTable from the header and rows of text cells."""
    kept = _kept_columns(header, problems)
    _unheaded(header, lambda j: any(j < len(r) and r[j] != "" for r in rows), problems)
    cols = {col: [r[j] if j < len(r) else "" for r in rows] for j, col in kept}
    frame = pd.DataFrame(cols, index=range(len(rows)), dtype=object)
    frame["_row"] = np.asarray(row_numbers, dtype="int64")
    return RawTable(name, frame, source, sheet, True, problems, [str(h) if h is not None else "" for h in header])


def _absent(name: str, source: str, sheet: str | None, problem: dict | None) -> RawTable:
    frame = pd.DataFrame({"_row": pd.Series(dtype="int64")})
    return RawTable(name, frame, source, sheet, False, [problem] if problem else [])


def _missing_table(name: str, where: str, available: list[str], kind: str) -> dict:
    hint = did_you_mean(name, available)
    optional = name.removesuffix(".csv") in OPTIONAL_TABLES
    return {"severity": "warning" if optional else "error", "row": None, "column": None,
            "problem": (f"no {kind} {name!r}" + (" (optional: no initiatives loaded)" if optional else "")),
            "fix": (hint + " " if hint else "") + (f"add the {kind} {name}" if not optional else
                                                     f"add the {kind} {name} to report the CI plan")}


# ---------------------------------------------------------------------------------------------------------
# CSV folder


def _may_need_strip(text: str, sep: str) -> bool:
    """True when some cell may start or end with a space (substring scans are fast; a regex is not)."""
    if "\xa0" in text or (sep != "\t" and "\t" in text) or text[:1].isspace():
        return True
    return any(pair in text for pair in (f"{sep} ", f" {sep}", "\n ", " \n", " \r", '" ', ' "'))



def _decode(path: Path) -> tuple[str, str | None]:
    """The text of a CSV file and a warning when it was not UTF-8."""
    data = path.read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16"), None
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
        return text, (f"the file is not UTF-8 (byte {exc.start + 1}); it was read as Windows-1252, so £ and accented "
                      "letters may be wrong")


def read_csv_table(path: Path, name: str) -> RawTable:
    """Read one CSV file as a RawTable of text cells."""
    source = str(path)
    text, enc_warning = _decode(path)
    problems: list[dict] = []
    if enc_warning:
        problems.append({"severity": "warning", "row": None, "problem": enc_warning,
                         "fix": "save the file as 'CSV UTF-8' (Excel) or UTF-8 (other programs)"})
    if not text.strip():
        return _absent(name, source, None, {
            "severity": "error" if name not in OPTIONAL_TABLES else "warning", "row": 1,
            "problem": "the file is empty", "fix": "write a header row (column names) and the data"})
    first_line = text.lstrip("\ufeff").splitlines()[0] if text else ""
    sep = ","
    if "," not in first_line:
        for candidate, label in ((";", "semicolons"), ("\t", "tabs")):
            if candidate in first_line:
                sep = candidate
                problems.append({"severity": "warning", "row": 1, "problem": f"the columns are separated by {label}",
                                 "fix": "save as comma-separated values (CSV) to silence this warning"})
                break
    try:
        frame = pd.read_csv(io.StringIO(text), header=None, dtype=object, keep_default_na=False, na_filter=False,
                            skip_blank_lines=False, sep=sep, engine="c")
    except pd.errors.ParserError:
        return _read_ragged(name, text, sep, source, problems)
    except pd.errors.EmptyDataError:  # e.g. a line break then a NUL byte: nothing pandas sees as a column
        return _absent(name, source, None, {
            "severity": "error" if name not in OPTIONAL_TABLES else "warning", "row": 1,
            "problem": "the file has no columns (no header row)",
            "fix": "write a header row (column names) and the data; is this file really a CSV export?"})
    header = frame.iloc[0].tolist()
    cells = [frame.iloc[1:, j].to_numpy(dtype=object) for j in range(frame.shape[1])]
    del frame
    # Blank lines are skipped; row numbers stay those a spreadsheet shows (header = row 1).
    blank = np.ones(len(cells[0]) if cells else 0, dtype=bool)
    for col in cells:
        blank &= np.asarray(col == "", dtype=bool)
    keep = ~blank
    kept = _kept_columns(header, problems)
    _unheaded(header, lambda j: bool((cells[j] != "").any()), problems)
    # Stripping every cell is the slowest step of reading; skip it when no cell can start or end with a space.
    strip = _may_need_strip(text, sep)
    del text
    out = pd.DataFrame({col: (np.array([v.strip() for v in cells[j][keep]], dtype=object) if strip
                              else cells[j][keep]) for j, col in kept},
                       index=range(int(keep.sum())))
    out["_row"] = (np.flatnonzero(keep) + 2).astype("int64")
    return RawTable(name, out, source, None, True, problems, [str(h) for h in header])


def _read_ragged(name: str, text: str, sep: str, source: str, problems: list[dict]) -> RawTable:
    """Read a CSV whose rows do not all have the header's number of cells; reject the rows with too many."""
    import csv

    _allow_any_field_size(csv)
    reader = csv.reader(io.StringIO(text), delimiter=sep, strict=True)
    try:
        records = list(reader)
    except csv.Error as exc:
        return _absent(name, source, None, {
            "severity": "error", "row": None,
            "problem": f"the file cannot be read as CSV (line {reader.line_num}: {exc}); none of its rows were read",
            "fix": "check that quotes are closed and the file is comma-separated text"})
    header = records[0] if records else []
    rows, numbers = [], []
    for i, rec in enumerate(records[1:], start=2):
        if not any(v.strip() for v in rec):
            continue
        extra = [v for v in rec[len(header):] if v.strip()]
        if extra:
            problems.append({"severity": "error", "row": i, "column": None, "value": extra[0],
                             "problem": f"the row has {len(rec)} cells but the header has {len(header)}",
                             "fix": "check that every row has as many commas as the header (quote text "
                                    "that contains commas)", "reject_row": True})
        rows.append([v.strip() for v in rec[:len(header)]])
        numbers.append(i)
    return _raw_from_rows(name, header, rows, numbers, source, None, problems)


def _allow_any_field_size(csv) -> None:
    """Lift the csv module's 128 KB cell limit (the file is already in memory, so the limit protects nothing).

    The limit is process-wide; it is only ever raised, never restored, so that a thread reading another file
    at the same time is not cut short. It must fit in a C long, which is 32 bits on Windows.
    """
    import sys

    limit = min(sys.maxsize, 2**31 - 1)
    if csv.field_size_limit() < limit:
        csv.field_size_limit(limit)


def read_csv_folder(folder: Path) -> dict[str, RawTable]:
    """Read the four tables of a folder of CSV files (file names matched ignoring case)."""
    files = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    tables = {}
    for name in TABLE_ORDER:
        path = files.get(f"{name}.csv")
        if path is None:
            tables[name] = _absent(name, str(folder / f"{name}.csv"), None,
                                   _missing_table(f"{name}.csv", str(folder), list(files), "file"))
        else:
            tables[name] = read_csv_table(path, name)
    return tables


# ---------------------------------------------------------------------------------------------------------
# Excel workbook


def read_excel(path: Path) -> dict[str, RawTable]:
    """Read the four sheets of a workbook as RawTables of text cells (see the module notes on Excel)."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    source = str(path)
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except (InvalidFileException, OSError, KeyError, ValueError) as exc:
        problem = {"severity": "error", "row": None,
                   "problem": f"not a readable Excel workbook ({type(exc).__name__}: {exc})",
                   "fix": "save it from Excel as .xlsx (not password-protected), or use a folder of CSV files"}
        return {name: _absent(name, source, None, problem if name == "contracts" else None) for name in TABLE_ORDER}
    except Exception as exc:  # zipfile.BadZipFile and friends: a corrupt or non-Excel file
        problem = {"severity": "error", "row": None, "problem": f"not a readable Excel workbook ({exc})",
                   "fix": "save it from Excel as .xlsx, or use a folder of CSV files"}
        return {name: _absent(name, source, None, problem if name == "contracts" else None) for name in TABLE_ORDER}
    cached_wb = None
    try:
        sheets = {s.strip().lower(): s for s in wb.sheetnames}
        tables = {}
        for name in TABLE_ORDER:
            sheet_name = sheets.get(name)
            if sheet_name is None:
                tables[name] = _absent(name, source, name, _missing_table(name, source, wb.sheetnames, "sheet"))
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
                        cached_wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
                    _apply_cached(cached_wb[sheet_name], rows, formulas, problems)
            except Exception as exc:  # noqa: BLE001 - openpyxl raises anything on a corrupt sheet
                tables[name] = _absent(name, source, sheet_name, _unreadable_sheet(exc))
                continue
            _fill_merged(path, getattr(ws, "_worksheet_path", None), rows, problems)
            tables[name] = _sheet_table(name, rows, source, sheet_name, problems, wb.epoch)
        return tables
    except Exception as exc:  # noqa: BLE001 - a fault outside any one sheet (the workbook's own parts)
        problem = {"severity": "error", "row": None,
                   "problem": f"the workbook cannot be read ({type(exc).__name__}: {exc}); none of its rows were read",
                   "fix": "open the workbook in Excel and save it again as .xlsx, or use a folder of CSV files"}
        return {name: _absent(name, source, None, problem if name == "contracts" else None) for name in TABLE_ORDER}
    finally:
        wb.close()
        if cached_wb is not None:
            cached_wb.close()


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


def _fill_merged(path: Path, sheet_xml: str | None, rows: dict, problems: list[dict]) -> None:
    """Give every cell of a merged range the range's value (what the reader sees), with a warning.

    Read-only openpyxl does not expose merged ranges, so they are read from the sheet's XML.
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
    if not rows:
        return _absent(name, source, sheet, {
            "severity": "error" if name not in OPTIONAL_TABLES else "warning", "row": 1,
            "problem": "the sheet is empty", "fix": "write a header row (column names) and the data"})
    numbers = sorted(rows)
    # The header is the first row naming a required column (a title above the table is common in
    # workbooks); failing that, the first non-empty row, so the missing columns are reported against it.
    required = {c.name for c in columns_by_name(name).values() if c.required}
    header_at = next((i for i, r in enumerate(numbers[:30])
                      if required & {_norm_header(v) for v, _ in rows[r] if v is not None}), 0)
    if header_at:
        problems.append({"severity": "warning", "row": numbers[header_at], "column": None,
                         "problem": f"the rows above row {numbers[header_at]} were taken as a title and ignored",
                         "fix": "start the table at row 1 to silence this warning"})
    numbers = numbers[header_at:]
    header_row = numbers[0]
    header = [v for v, _ in rows[header_row]]
    while header and (header[-1] is None or str(header[-1]).strip() == ""):
        header.pop()
    norm = [_norm_header(h) for h in header]
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
    return _raw_from_rows(name, header, data_rows, numbers[1:], source, sheet, problems)


# ---------------------------------------------------------------------------------------------------------
# SQL database


def safe_url(url: str) -> str:
    """The URL with any password hidden."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def is_url(data) -> bool:
    """True when ``data`` looks like a database URL rather than a path."""
    return isinstance(data, str) and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", data) is not None


def engine_for(url: str):
    """A SQLAlchemy engine for ``url``, or UsageError saying what to install or fix."""
    import importlib.util

    import sqlalchemy as sa

    if re.match(r"^postgres(ql)?://", url):
        # SQLAlchemy 2.1 defaults to psycopg 3; cinb's postgres extra installs psycopg2. Use what is there.
        driver = "psycopg" if importlib.util.find_spec("psycopg") else \
            "psycopg2" if importlib.util.find_spec("psycopg2") else None
        if driver:
            url = re.sub(r"^postgres(ql)?://", f"postgresql+{driver}://", url)
    try:
        return sa.create_engine(url)
    except ModuleNotFoundError as exc:
        raise UsageError(f"cannot open {safe_url(url)}: the database driver is not installed ({exc.name}); "
                         f"for PostgreSQL: pip install 'cinb[postgres]'") from None
    except Exception as exc:
        raise UsageError(f"cannot use {safe_url(url)} as a database URL ({exc}); expected e.g. "
                         "sqlite:///path/to/file.db or postgresql://user@host:5432/dbname") from None


def read_sql(url: str, as_of=None) -> tuple[dict[str, RawTable], str]:
    """Read the four tables behind ``url`` (or a store's version as of ``as_of``)."""
    import sqlalchemy as sa

    label = safe_url(url)
    engine = engine_for(url)
    try:
        _require_sqlite_file(url, label)
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            from .store import BATCHES, read_store_tables

            if BATCHES in names:
                return read_store_tables(conn, label, as_of), label
            if as_of is not None:
                raise UsageError(f"as_of works only with a cinb store; {label} has no {BATCHES} table "
                                 "(create one with cinb ingest)")
            lookup = {n.lower(): n for n in names}
            tables = {}
            for name in TABLE_ORDER:
                real = lookup.get(name)
                if real is None:
                    tables[name] = _absent(name, label, None, _missing_table(name, label, names, "table"))
                    continue
                table = sa.Table(real, sa.MetaData(), autoload_with=conn)
                result = conn.execute(sa.select(table))
                header = list(result.keys())
                records = result.fetchall()
                tables[name] = raw_from_records(name, header, records, label, None)
            return tables, label
    except UsageError:
        raise
    except sa.exc.SQLAlchemyError as exc:
        raise UsageError(f"cannot read {label}: {str(exc).splitlines()[0]}; check the URL, the server and the "
                         "user's rights") from None
    finally:
        engine.dispose()


def _require_sqlite_file(url: str, label: str) -> None:
    """Refuse a SQLite URL whose file does not exist: SQLite would create an empty database as a side effect.

    (Writing to a store goes through `engine_for` directly, so ``cinb ingest`` still creates a new store.)
    """
    try:
        from sqlalchemy.engine import make_url

        u = make_url(url)
    except Exception:  # noqa: BLE001 - a malformed URL is reported by engine_for
        return
    if u.get_backend_name() != "sqlite":
        return
    db = u.database or ""
    if db in ("", ":memory:") or db.startswith("file:") or u.query.get("uri") in ("true", "1"):
        return  # an in-memory database, or a URI that says how to open itself (e.g. mode=ro)
    try:
        exists = Path(db).is_file()
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot open {_short_path(label)}: {getattr(exc, 'strerror', None) or exc}") from None
    if not exists:
        raise UsageError(f"no such database file: {_short_path(db)} (from {_short_path(label)}); check the path — "
                         "a relative path follows three slashes (sqlite:///data/store.db), an absolute one four "
                         "(sqlite:////srv/cinb/store.db)")


def raw_from_records(name, header, records, source, sheet, row_numbers=None, extra_problems=None) -> RawTable:
    """A RawTable from database records (tuples), converting each value to text by its column's kind."""
    spec = columns_by_name(name)
    norm = [_norm_header(h) for h in header]
    kinds = [spec[c].kind if c in spec else "text" for c in norm]
    columns = list(zip(*records)) if records else [() for _ in header]
    text_cols = [[cell_text(v, kinds[j]) for v in col] for j, col in enumerate(columns)]
    rows = list(zip(*text_cols)) if records else []
    numbers = row_numbers if row_numbers is not None else list(range(2, len(rows) + 2))
    return _raw_from_rows(name, header, [list(r) for r in rows], numbers, source, sheet, list(extra_problems or []))


# ---------------------------------------------------------------------------------------------------------
# The entry point


def read_raw(data, as_of=None) -> tuple[dict[str, RawTable], str]:
    """Read the raw tables of any source; returns the tables and the source label."""
    if data is None:
        data = sample_dir()
    if is_url(data):
        return read_sql(str(data), as_of)
    if as_of is not None:
        raise UsageError("as_of works only with a cinb store given as a database URL (e.g. sqlite:///store.db)")
    path = Path(data).expanduser()
    try:
        return _read_path(path)
    except OSError as exc:
        # A name too long, a folder without read permission, a file that vanished while being read...
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"cannot read {_short_path(path)}: {reason}; --data takes a folder of CSV files, an .xlsx "
                         "workbook or a database URL such as sqlite:///store.db") from None


def _short_path(path) -> str:
    """A path fit for a one-line message: a 5,000-character path shows its start, its end and its length."""
    text = str(path)
    return text if len(text) <= 160 else f"{text[:80]}…{text[-60:]} ({len(text):,} characters)"


def _read_path(path: Path) -> tuple[dict[str, RawTable], str]:
    """Read a folder, workbook or SQLite file named by ``path`` (OSError propagates to `read_raw`)."""
    shown = _short_path(path)
    if path.is_dir():
        return read_csv_folder(path), str(path)
    if path.is_file():
        if path.suffix.lower() in EXCEL_SUFFIXES:
            return read_excel(path), str(path)
        if path.suffix.lower() in (".db", ".sqlite", ".sqlite3"):
            return read_sql(f"sqlite:///{path.resolve()}")
        if path.suffix.lower() == ".csv":
            raise UsageError(f"{shown} is a single CSV file; --data takes the folder holding contracts.csv, "
                             f"kpis.csv, measurements.csv and initiatives.csv (here: {_short_path(path.parent)})")
        if path.suffix.lower() == ".xls":
            raise UsageError(f"{shown} is an old .xls workbook; save it as .xlsx in Excel")
        raise UsageError(f"{shown}: not a folder of CSV files, an .xlsx workbook or a database URL")
    raise UsageError(f"no such folder or file: {shown}; --data takes a folder of CSV files, an .xlsx workbook or a "
                     "database URL such as sqlite:///store.db")


def load_portfolio(data=None, *, strict: bool = True, as_of=None, today=None,
                   late_after_days: int = LATE_AFTER_DAYS) -> Portfolio:
    """Load and validate a portfolio.

    Parameters
    ----------
    data : str, Path, Portfolio or None
        A folder of CSV files, an ``.xlsx`` workbook, a database URL, an already loaded Portfolio (returned
        as is), or None for the embedded sample portfolio.
    strict : bool, default True
        With any error in the data, raise `DataError` carrying every problem. With ``strict=False`` the
        rows with errors are left out and listed in ``portfolio.problems``; the rest is returned.
    as_of : int or str, optional
        For a store URL: the ingest batch id, or an ISO timestamp, to read the data as it was then.
    today : date-like, optional
        The day against which future periods are judged (default: today). Pin it for reproducible runs.
    late_after_days : int
        A first return submitted more than this many days after its month ends gives a warning.

    Returns
    -------
    Portfolio

    Raises
    ------
    DataError
        ``strict=True`` and the data break the contract (``error.problems`` lists every problem,
        ``error.accounting`` the row accounting).
    UsageError
        The source does not exist or is not a known kind.

    Examples
    --------
    >>> p = load_portfolio()                      # the embedded sample
    >>> p.accounting.columns.tolist()
    ['table', 'read', 'used', 'superseded', 'rejected']
    """
    if isinstance(data, Portfolio):
        return data
    raw, label = read_raw(data, as_of)
    v = validate(raw, today=today, late_after_days=late_after_days)
    if strict and len(v.problems):
        raise DataError(v.problems[PROBLEM_COLUMNS], accounting=v.accounting, warnings=v.warnings)
    frames = dict(contracts=v.contracts, kpis=v.kpis, measurements=v.measurements, history=v.history,
                  initiatives=v.initiatives)
    return Portfolio(**frames, accounting=v.accounting, warnings=v.warnings, source=label,
                     data_hash=data_hash(frames), problems=v.problems,
                     as_of=None if as_of is None else str(as_of))


def restatements(portfolio: Portfolio) -> pd.DataFrame:
    """Every restated measurement: the value before and after each later revision.

    Returns
    -------
    DataFrame
        Columns ``contract_id, kpi_id, period, old_value, new_value, change, old_revision, revision,
        submitted_on, note, source, row`` (one row per revision after the first), sorted by key and revision.
    """
    h = portfolio.history
    cols = ["contract_id", "kpi_id", "period", "old_value", "new_value", "change", "old_revision", "revision",
            "submitted_on", "note", "source", "row"]
    if not len(h):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    h = h.sort_values(["contract_id", "kpi_id", "period", "revision"], kind="stable").reset_index(drop=True)
    same = (h["contract_id"].eq(h["contract_id"].shift()) & h["kpi_id"].eq(h["kpi_id"].shift())
            & h["period"].eq(h["period"].shift())).to_numpy(dtype=bool)
    out = pd.DataFrame({
        "contract_id": h["contract_id"], "kpi_id": h["kpi_id"], "period": h["period"],
        "old_value": h["value"].shift(), "new_value": h["value"],
        "old_revision": h["revision"].shift(), "revision": h["revision"],
        "submitted_on": h["submitted_on"], "note": h["note"], "source": h["source"], "row": h["row"],
    })[same]
    out["change"] = out["new_value"] - out["old_value"]
    out["old_revision"] = out["old_revision"].astype("int64")
    return out[cols].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------------
# Writing a portfolio back out (fixtures, exports, round trips)


def plain_records(table: str, frame: pd.DataFrame, spreadsheet_digits: bool = False) -> pd.DataFrame:
    """The contract columns of a typed frame as plain Python values for writers (None for missing).

    Dates become ``datetime.date``, months ``'YYYY-MM'`` text, yes/no flags bool, numbers float (rounded to
    the 15 significant digits a spreadsheet keeps when ``spreadsheet_digits``).
    """
    spec = columns_by_name("measurements" if table == "history" else table)
    out = {}
    for name, col in spec.items():
        if name not in frame:
            continue
        s = frame[name]
        if col.kind == "date":
            v = [None if pd.isna(x) else x.date() for x in s]
        elif col.kind == "period":
            v = [None if pd.isna(x) else str(x) for x in s]
        elif col.kind == "bool":
            v = [bool(x) for x in s]
        elif col.kind in ("number",):
            # 15 significant digits: what a spreadsheet keeps, so every format carries the same number.
            v = [None if pd.isna(x) else (float(f"{x:.15g}") if spreadsheet_digits else float(x)) for x in s]
        elif col.kind == "int":
            v = [None if pd.isna(x) else int(x) for x in s]
        else:
            v = [None if pd.isna(x) else str(x) for x in s]
        out[name] = v
    return pd.DataFrame(out, dtype=object)


def save_portfolio(portfolio: Portfolio, dest) -> str:
    """Write a portfolio as a folder of CSV files, an ``.xlsx`` workbook or tables behind a database URL.

    ``measurements`` receives every revision (the history), so loading the result gives the same portfolio.
    Text cells are written to Excel as text, never as formulas. Returns the destination written.

    Parameters
    ----------
    portfolio : Portfolio
    dest : str or Path
        A folder (created), a path ending in ``.xlsx``, or a database URL (tables must not exist yet).
    """
    tables = {"contracts": portfolio.contracts, "kpis": portfolio.kpis, "measurements": portfolio.history,
              "initiatives": portfolio.initiatives}
    records = {name: plain_records("history" if name == "measurements" else name, frame, spreadsheet_digits=True)
               for name, frame in tables.items()}
    if is_url(dest):
        import sqlalchemy as sa

        engine = engine_for(str(dest))
        try:
            with engine.begin() as conn:
                meta = sa.MetaData()
                for name, rec in records.items():
                    table = sa.Table(name, meta, *(sa.Column(c, _sql_type(name, c)) for c in rec.columns))
                    table.create(conn)
                    if len(rec):
                        conn.execute(table.insert(), rec.to_dict("records"))
        finally:
            engine.dispose()
        return safe_url(str(dest))
    dest = Path(dest)
    if dest.suffix.lower() in EXCEL_SUFFIXES:
        import openpyxl

        wb = openpyxl.Workbook()
        wb.remove(wb.active)
        for name, rec in records.items():
            ws = wb.create_sheet(name)
            ws.append(list(rec.columns))
            for r, row in enumerate(rec.itertuples(index=False, name=None), start=2):
                for j, v in enumerate(row, start=1):
                    cell = ws.cell(row=r, column=j)
                    if v is None:
                        continue
                    if isinstance(v, bool):
                        cell.value = "yes" if v else "no"
                    elif isinstance(v, str):
                        cell.value = v
                        cell.data_type = "s"  # never a formula, whatever the text starts with
                    else:
                        cell.value = v
                        if isinstance(v, dt.date):
                            cell.number_format = "yyyy-mm-dd"
        dest.parent.mkdir(parents=True, exist_ok=True)
        wb.save(dest)
        return str(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name, rec in records.items():
        text = rec.copy()
        for c in text.columns:
            if len(text) and isinstance(next((x for x in text[c] if x is not None), None), bool):
                text[c] = ["yes" if x else "no" for x in text[c]]
        text.to_csv(dest / f"{name}.csv", index=False, lineterminator="\n", float_format=None)
    return str(dest)


def _sql_type(table: str, column: str):
    import sqlalchemy as sa

    kind = columns_by_name("measurements" if table == "history" else table)[column].kind
    return {"date": sa.Date(), "number": sa.Float(), "int": sa.Integer(), "bool": sa.Boolean()}.get(kind, sa.Text())


__all__ = ["Portfolio", "load_portfolio", "restatements", "save_portfolio", "data_hash", "read_raw", "sample_dir"]
