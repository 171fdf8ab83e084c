"""What every source reader shares: cell values as text, headers, RawTables, paths and database URLs.

The readers of each kind of source build on this module: `cinb.sources_csv` (a folder of CSV files),
`cinb.sources_excel` (an ``.xlsx`` workbook) and `cinb.sources_sql` (a database, or a cinb store). Each
returns the tables of `cinb.schema.TABLE_ORDER` as `RawTable` objects of text cells, which `cinb.validate` checks and types; the
reading rules are described in `cinb.load`. Nothing here validates a value or raises for bad data: problems
found while reading are collected as dicts (the problem columns of `cinb.errors`) on the RawTable.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
import warnings
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UsageError
from .hints import did_you_mean
from .schema import OPTIONAL_TABLES, QUIET_OPTIONAL_TABLES, TABLE_ORDER, RawTable, columns_by_name

#: File suffixes read as Excel workbooks (an old ``.xls`` is refused with a hint to save as ``.xlsx``).
EXCEL_SUFFIXES = (".xlsx", ".xlsm")


def sample_dir() -> Path:
    """The folder of the embedded sample portfolio (``cinb/data/sample/``, or ``cinb.config.SAMPLE_DIR``).

    Returns a Path; does not check that the folder exists.
    """
    try:
        from .config import SAMPLE_DIR

        return Path(SAMPLE_DIR)
    except ImportError:  # config is optional for the data layer
        return Path(__file__).resolve().parent / "data" / "sample"


def short_path(path) -> str:
    """A path fit for a one-line message: a 5,000-character path shows its start, its end and its length.

    ``path`` is a str or Path; returns it as text when 160 characters or fewer.
    """
    text = str(path)
    return text if len(text) <= 160 else f"{text[:80]}…{text[-60:]} ({len(text):,} characters)"


# ---------------------------------------------------------------------------------------------------------
# Cells to text


_SERIAL_MIN, _SERIAL_MAX = 10000, 110000  # Excel serials 1927..2201: anything else is not meant as a date


def cell_text(value, kind: str = "text", number_format: str | None = None, excel_epoch=None) -> str:
    """The text a cell stands for, as validation expects it ('' for empty).

    Parameters
    ----------
    value : any
        The cell as a reader got it: None, str, bool, int, float, Decimal, date, datetime, time or Timestamp.
    kind : str
        The kind of the cell's column in the data contract (`cinb.schema.Column.kind`; ``text`` for a
        column the contract does not know): dates become ``YYYY-MM-DD`` in date, period and agreed
        columns, booleans ``yes``/``no`` in bool and agreed columns (``TRUE``/``FALSE`` elsewhere).
    number_format : str, optional
        The Excel number format of the cell: a number in a ``%`` format in a number column becomes
        percentage points with a ``%`` sign (stored 0.985 gives ``98.5%``).
    excel_epoch : datetime, optional
        For workbooks, the workbook's date epoch: a whole number from 10,000 to 110,000 (1927 to 2201) in a
        date, period or agreed column is an Excel serial date and becomes ``YYYY-MM-DD``.

    Returns
    -------
    str
        The text, stripped; ``''`` for None and NaN. Never raises for the types above.
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
        if kind in ("id", "text") and number_format and (shown := _padded(f, number_format)) is not None:
            return shown  # 451 formatted 0000 shows, and is, 0451
        if isinstance(value, (int, np.integer)) or (np.isfinite(f) and f.is_integer() and abs(f) < 1e15):
            return str(int(f))
        return repr(f)
    text = str(value)
    return text.strip()


#: An Excel number format that pads whole numbers with zeros (``0000``, ``"C-"0000``): quoted or escaped
#: literal text around a run of zeros.
_PADDED_FORMAT = re.compile(r'((?:"[^"]*"|\\.)*)(0+)((?:"[^"]*"|\\.)*)')


def _padded(f: float, number_format: str) -> str | None:
    """The text Excel shows for the whole number ``f`` in a zero-padded format (451 in ``0000`` is ``0451``).

    None when the format does not pad or ``f`` is not a whole number from 0 to 10**15.
    """
    m = _PADDED_FORMAT.fullmatch(number_format.split(";")[0])
    if m is None or not (np.isfinite(f) and f.is_integer() and 0 <= f < 1e15):
        return None

    def literal(part: str) -> str:
        return re.sub(r'"([^"]*)"|\\(.)', lambda x: x[1] if x[1] is not None else x[2], part)

    return literal(m[1]) + str(int(f)).zfill(len(m[2])) + literal(m[3])


def norm_header(name) -> str:
    """A column name as matched against the contract: stripped, lower case, inner spaces as ``_`` (None is '')."""
    return re.sub(r"\s+", "_", str(name if name is not None else "").strip().lower())


def kept_columns(header: list, problems: list[dict]) -> list[tuple[int, str]]:
    """(position, normalised name) of the columns to read; duplicated names are reported, first one kept.

    ``header`` holds the header cells as read (any type); blank names are skipped and names starting with
    ``_`` are ignored with a warning. Problems are appended to ``problems`` (dicts of problem columns).
    """
    kept: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for j, h in enumerate(header):
        col = norm_header(h)
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


def warn_unheaded(header: list, has_values, problems: list[dict]) -> None:
    """Warn about columns that hold values but have no header (they are ignored).

    ``has_values(j)`` says whether column ``j`` (0-based) holds any value; warnings go to ``problems``.
    """
    for j, h in enumerate(header):
        if norm_header(h) == "" and has_values(j):
            problems.append({"severity": "warning", "row": 1, "column": f"column {j + 1}",
                             "problem": "a column with values has no header; it is ignored",
                             "fix": "give the column a header or delete it"})


def raw_from_rows(name: str, header: list, rows: list[list[str]], row_numbers: list[int], source: str,
                   sheet: str | None, problems: list[dict]) -> RawTable:
    """Build a RawTable from the header and rows of text cells.

    Parameters
    ----------
    name : str
        The table (``contracts``, ``kpis``, ``measurements``, ``initiatives``).
    header : list
        The header cells as read; a row shorter than the header is padded with ``''``.
    rows : list of list of str
        The data rows as text cells.
    row_numbers : list of int
        The row number a spreadsheet user sees for each row (header = 1).
    source, sheet : str, str or None
        Where the table came from (file or URL; sheet of a workbook).
    problems : list of dict
        Problems found while reading; header problems are added to it and it becomes ``RawTable.problems``.
    """
    kept = kept_columns(header, problems)
    warn_unheaded(header, lambda j: any(j < len(r) and r[j] != "" for r in rows), problems)
    cols = {col: [r[j] if j < len(r) else "" for r in rows] for j, col in kept}
    frame = pd.DataFrame(cols, index=range(len(rows)), dtype=object)
    frame["_row"] = np.asarray(row_numbers, dtype="int64")
    return RawTable(name, frame, source, sheet, True, problems, [str(h) if h is not None else "" for h in header])


def absent_table(name: str, source: str, sheet: str | None, problem: dict | None) -> RawTable:
    """A RawTable with ``present=False`` and no rows for a table the source lacks, carrying ``problem`` if any."""
    frame = pd.DataFrame({"_row": pd.Series(dtype="int64")})
    return RawTable(name, frame, source, sheet, False, [problem] if problem else [])


def missing_table_problem(name: str, where: str, available: list[str], kind: str) -> dict | None:
    """The problem (a dict of problem columns) for a missing table ``name`` (a ``file``, ``sheet`` or ``table``).

    An error, with the close matches among ``available``; a warning for an optional table (initiatives); None
    for a table whose absence is normal (`cinb.schema.QUIET_OPTIONAL_TABLES`: a version-1 portfolio has no
    ``process_changes``).
    """
    table = name.removesuffix(".csv")
    if table in QUIET_OPTIONAL_TABLES:
        return None
    # Only a name that is not itself one of the tables can be a misspelling of this one.
    tables = {t.lower() for t in TABLE_ORDER} | {f"{t.lower()}.csv" for t in TABLE_ORDER}
    hint = did_you_mean(name, [a for a in available if str(a).lower() not in tables])
    optional = table in OPTIONAL_TABLES
    why = {"initiatives": " to report the CI plan"}.get(table, "")
    return {"severity": "warning" if optional else "error", "row": None, "column": None,
            "problem": (f"no {kind} {name!r}" + (f" (optional: no {table} loaded)" if optional else "")),
            "fix": (hint + " " if hint else "") + (f"add the {kind} {name}" if not optional else
                                                     f"add the {kind} {name}{why}")}


def raw_from_records(name, header, records, source, sheet, row_numbers=None, extra_problems=None) -> RawTable:
    """A RawTable from database records (tuples), converting each value to text by its column's kind.

    Parameters
    ----------
    name : str
        The table (``contracts``, ``kpis``, ``measurements``, ``initiatives``).
    header : list of str
        The column names of the records.
    records : sequence of tuple
        The rows, values in ``header`` order (converted with `cell_text`).
    source : str
        The label of the source (a URL without its password).
    sheet : str or None
        Always None for databases.
    row_numbers : list of int, optional
        Row numbers to report problems at; default 2, 3, … (as if exported to a spreadsheet).
    extra_problems : list of dict, optional
        Problems already found for this table.
    """
    spec = columns_by_name(name)
    norm = [norm_header(h) for h in header]
    kinds = [spec[c].kind if c in spec else "text" for c in norm]
    columns = list(zip(*records)) if records else [() for _ in header]
    text_cols = [[cell_text(v, kinds[j]) for v in col] for j, col in enumerate(columns)]
    rows = list(zip(*text_cols)) if records else []
    numbers = row_numbers if row_numbers is not None else list(range(2, len(rows) + 2))
    return raw_from_rows(name, header, [list(r) for r in rows], numbers, source, sheet, list(extra_problems or []))


# ---------------------------------------------------------------------------------------------------------
# Library warnings


#: Library warnings that say nothing about the values read (formatting, charts, extensions dropped on reading).
_IGNORED_WARNINGS = re.compile(
    r"extension is not supported|conditional formatting|default style|no stylesheet|header or footer|DrawingML|"
    r"Unable to read chart|Print area|Defined names|Unknown type for|Data Validation|is marked as a date|"
    r"expression-based index", re.IGNORECASE)
#: Warning categories about code (a deprecated call), never about the values read.
_ABOUT_CODE = (DeprecationWarning, PendingDeprecationWarning, FutureWarning, ImportWarning, ResourceWarning)
#: One warnings.catch_warnings at a time: it swaps process-wide state, which two threads would mix up.
_WARNINGS_LOCK = threading.RLock()


@contextlib.contextmanager
def library_warnings():
    """Catch the warnings libraries raise while a source is read, so that none reaches the user's terminal.

    Yields the list the warnings are recorded in; pass it to `warning_problems` to report those that matter.
    """
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def warning_problems(caught: list) -> list[dict]:
    """Problems (dicts, severity warning) for the caught library warnings that may concern the values read.

    A sheet openpyxl dropped is named as such; any other warning not known to be harmless is reported once,
    in the library's words, with a fix to check the values.
    """
    out, seen = [], set()
    for w in caught:
        if issubclass(w.category, _ABOUT_CODE):  # about the library's own code, not the data
            continue
        text = str(w.message).strip().splitlines()[0] if str(w.message).strip() else type(w.message).__name__
        if _IGNORED_WARNINGS.search(text) or text in seen:
            continue
        seen.add(text)
        if "invalid specification" in text:  # openpyxl drops a sheet it cannot locate
            out.append({"severity": "warning", "row": None,
                        "problem": "the workbook lists a sheet that cannot be found in the file; it was not read",
                        "fix": "open the workbook in Excel and save it again as Excel Workbook (.xlsx)"})
            continue
        out.append({"severity": "warning", "row": None,
                    "problem": f"while reading: {text[:300]}",
                    "fix": "check the values read from this source; if a value is wrong, save the file again from "
                           "the program that made it"})
    return out


# ---------------------------------------------------------------------------------------------------------
# Database URLs


def safe_url(url: str) -> str:
    """The URL ``url`` (str) with any password hidden as ``***``.

    Never raises: a URL SQLAlchemy cannot parse has its password hidden by a regular expression.
    """
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def is_url(data) -> bool:
    """True when ``data`` is a str that looks like a database URL (``scheme://…``) rather than a path."""
    return isinstance(data, str) and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", data) is not None


def engine_for(url: str):
    """A SQLAlchemy engine for the database URL ``url`` (``postgresql://`` uses whichever psycopg is installed).

    Creating the engine does not connect. Raises UsageError saying what to install (a missing driver) or fix
    (a URL SQLAlchemy cannot use); the message shows the URL without its password.
    """
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
