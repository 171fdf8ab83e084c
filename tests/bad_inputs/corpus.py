"""Helpers for the data-layer tests: lay a corpus case over the base portfolio and write it as CSV, Excel or SQLite.

Loaded by the tests with importlib (the tests folder is not a package). The Excel and SQLite versions carry
the same cells in the same rows as the CSV text, typed the way those tools would hold them: numbers as
numbers, dates as date cells (Excel) or ISO text (SQLite), so the three must load to the same frames.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import sqlite3
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = HERE / "base"
CASES = HERE / "cases"
TABLES = ("contracts", "kpis", "measurements", "initiatives")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def case_tables(case: str | None = None) -> dict[str, bytes]:
    """The base tables as bytes, with the case's own tables in their place."""
    tables = {name: (BASE / f"{name}.csv").read_bytes() for name in TABLES}
    if case:
        for path in (CASES / case).glob("*.csv"):
            tables[path.stem] = path.read_bytes()
    return tables


def build_csv(tables: dict[str, bytes], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in tables.items():
        (folder / f"{name}.csv").write_bytes(data)
    return folder


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def _kinds(table: str) -> dict[str, str]:
    from cinb.schema import columns_by_name

    return {name: col.kind for name, col in columns_by_name(table).items()}


def _real_date(v: str) -> bool:
    try:
        dt.date.fromisoformat(v)
        return True
    except ValueError:  # Excel cannot hold 2026-02-30 as a date either: it stays text
        return False


def build_excel(tables: dict[str, bytes], path: Path, *, dates_as="date", periods_as="text") -> Path:
    """Write a workbook; ``dates_as`` 'date' (date cells), 'serial' (numbers) or 'text'; ``periods_as`` likewise."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, data in tables.items():
        ws = wb.create_sheet(name)
        rows = _rows(data)
        if not rows:
            continue
        kinds = _kinds(name)
        header = [h.strip().lower() for h in rows[0]]
        for r, row in enumerate(rows, start=1):
            for j, v in enumerate(row, start=1):
                if v == "":
                    continue
                kind = kinds.get(header[j - 1], "text") if r > 1 and j <= len(header) else "text"
                cell = ws.cell(row=r, column=j)
                if kind in ("number", "int") and _NUMBER.fullmatch(v):
                    cell.value = int(v) if re.fullmatch(r"[+-]?\d+", v) else float(v)
                elif kind == "date" and _DATE.fullmatch(v) and dates_as != "text" and _real_date(v):
                    d = dt.date.fromisoformat(v)
                    if dates_as == "serial":
                        cell.value = (d - dt.date(1899, 12, 30)).days
                    else:
                        cell.value = d
                        cell.number_format = "yyyy-mm-dd"
                elif kind == "period" and re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", v) and periods_as == "date":
                    # What Excel does to "2025-03" typed in a cell: the first of the month, shown as a date.
                    cell.value = dt.datetime.strptime(v + "-01", "%Y-%m-%d")
                    cell.number_format = "mmm-yy"
                else:
                    cell.value = v
                    cell.data_type = "s"
    wb.save(path)
    return path


def build_sqlite(tables: dict[str, bytes], path: Path) -> str:
    """Write SQLite tables with REAL/INTEGER/TEXT columns by kind; '' becomes NULL. Returns the URL."""
    con = sqlite3.connect(path)
    try:
        for name, data in tables.items():
            rows = _rows(data)
            if not rows:
                continue
            kinds = _kinds(name)
            header = [h.strip() for h in rows[0]]
            types = {"number": "REAL", "int": "INTEGER"}
            cols = ", ".join(f'"{h}" {types.get(kinds.get(h.lower(), "text"), "TEXT")}' for h in header)
            con.execute(f'CREATE TABLE "{name}" ({cols})')
            marks = ", ".join("?" for _ in header)
            con.executemany(f'INSERT INTO "{name}" VALUES ({marks})',
                            [[(v if v != "" else None) for v in (row + [""] * len(header))[:len(header)]]
                             for row in rows[1:]])
        con.commit()
    finally:
        con.close()
    return f"sqlite:///{path}"


def build(fmt: str, tables: dict[str, bytes], tmp: Path):
    """The source argument for ``load_portfolio`` of the tables in format ``fmt`` (csv, excel or sql)."""
    if fmt == "csv":
        return str(build_csv(tables, tmp / "portfolio"))
    if fmt == "excel":
        return str(build_excel(tables, tmp / "portfolio.xlsx"))
    if fmt == "sql":
        return build_sqlite(tables, tmp / "portfolio.db")
    raise ValueError(fmt)


def expected() -> list[dict]:
    with open(HERE / "expected.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
