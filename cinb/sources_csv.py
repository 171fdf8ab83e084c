"""Reading a folder of CSV files: ``contracts.csv``, ``kpis.csv``, ``measurements.csv``, ``initiatives.csv`` and
the version-2 tables ``process_changes.csv``, ``credit_bands.csv`` and ``critical_failure_rules.csv`` (optional,
and their absence is not even a warning).

File names are matched ignoring case. Files are UTF-8 (with or without BOM) or UTF-16 with BOM; any other
bytes are read as Windows-1252 with a warning. A file separated by ``;`` or tabs is read with a warning. Blank
lines are skipped; row numbers are the rows a spreadsheet shows (header = row 1). A row with more cells than the
header is rejected (the cells may have shifted); fewer cells are empty. See `cinb.load` for the rules every
source shares.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from .schema import OPTIONAL_TABLES, TABLE_ORDER, RawTable
from .sources import (
    absent_table,
    kept_columns,
    library_warnings,
    missing_table_problem,
    raw_from_rows,
    warn_unheaded,
    warning_problems,
)


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
    """Read one CSV file as a RawTable of text cells (stripped; ``_row`` = spreadsheet row, header = 1).

    Parameters
    ----------
    path : Path
        The file.
    name : str
        The table it holds (``contracts``, ``kpis``, ``measurements``, ``initiatives``).

    Returns
    -------
    RawTable
        Problems found while reading (encoding, separator, ragged rows, an empty file) are on
        ``RawTable.problems``; an empty file or one that is not CSV gives ``present=False``.

    Raises
    ------
    OSError
        The file cannot be read (`cinb.load.read_raw` turns it into a UsageError).
    """
    with library_warnings() as caught:  # no pandas warning reaches the terminal
        table = _read_csv_table(path, name)
    table.problems.extend(warning_problems(caught))
    return table


def _read_csv_table(path: Path, name: str) -> RawTable:
    """`read_csv_table` without the warnings' capture."""
    source = str(path)
    text, enc_warning = _decode(path)
    problems: list[dict] = []
    if enc_warning:
        problems.append({"severity": "warning", "row": None, "problem": enc_warning,
                         "fix": "save the file as 'CSV UTF-8' (Excel) or UTF-8 (other programs)"})
    if not text.strip():
        return absent_table(name, source, None, {
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
        return absent_table(name, source, None, {
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
    kept = kept_columns(header, problems)
    warn_unheaded(header, lambda j: bool((cells[j] != "").any()), problems)
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
        return absent_table(name, source, None, {
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
    return raw_from_rows(name, header, rows, numbers, source, None, problems)


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
    """Read the tables of a folder of CSV files (file names matched ignoring case).

    Returns ``{table name: RawTable}`` for every table of `cinb.schema.TABLE_ORDER`; a missing file gives a
    table with ``present=False`` and a problem (a warning for the optional initiatives, none for the optional
    version-2 tables). Raises OSError when
    the folder cannot be listed or a file read.
    """
    files = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    tables = {}
    for name in TABLE_ORDER:
        path = files.get(f"{name}.csv")
        if path is None:
            tables[name] = absent_table(name, str(folder / f"{name}.csv"), None,
                                   missing_table_problem(f"{name}.csv", str(folder), list(files), "file"))
        else:
            tables[name] = read_csv_table(path, name)
    return tables
