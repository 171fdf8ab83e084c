"""Writing a portfolio back out as CSV files, a workbook or database tables (fixtures, exports, round trips).

What is written loads back as the same portfolio: `cinb.load.load_portfolio` of the result gives the same
frames and data hash. The store (`cinb.store`) writes its rows with `plain_records` too.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from .schema import columns_by_name
from .sources import EXCEL_SUFFIXES, engine_for, is_url, safe_url


def plain_records(table: str, frame: pd.DataFrame, spreadsheet_digits: bool = False) -> pd.DataFrame:
    """The contract columns of a typed frame as plain Python values for writers (None for missing).

    Parameters
    ----------
    table : str
        ``contracts``, ``kpis``, ``measurements``, ``history`` (measurements with every revision) or
        ``initiatives``: which contract columns to take.
    frame : DataFrame
        A typed frame of a loaded portfolio (columns not in the contract, and absent ones, are left out).
    spreadsheet_digits : bool
        Round numbers to the 15 significant digits a spreadsheet keeps.

    Returns
    -------
    DataFrame
        Object columns in contract order: dates as ``datetime.date``, months as ``'YYYY-MM'`` text, yes/no
        flags as bool, numbers as float, whole numbers as int, text as str.
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


def save_portfolio(portfolio, dest) -> str:
    """Write a portfolio as a folder of CSV files, an ``.xlsx`` workbook or tables behind a database URL.

    ``measurements`` receives every revision (the history), so loading the result gives the same portfolio.
    Text cells are written to Excel as text, never as formulas. Returns the destination written.

    Parameters
    ----------
    portfolio : cinb.load.Portfolio
        The portfolio to write (its contract columns; ``history`` as the measurements).
    dest : str or Path
        A folder (created), a path ending in ``.xlsx`` or ``.xlsm``, or a database URL (tables must not
        exist yet).

    Returns
    -------
    str
        The destination written (a URL without its password).

    Raises
    ------
    UsageError
        ``dest`` is a database URL that cannot be used (see `cinb.sources.engine_for`).
    sqlalchemy.exc.SQLAlchemyError
        A table already exists or the database refuses the write (nothing is written: one transaction).
    OSError
        The folder or file cannot be written.
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
    """The SQLAlchemy column type of a contract column (dates, floats, integers, booleans; text otherwise)."""
    import sqlalchemy as sa

    kind = columns_by_name("measurements" if table == "history" else table)[column].kind
    return {"date": sa.Date(), "number": sa.Float(), "int": sa.Integer(), "bool": sa.Boolean()}.get(kind, sa.Text())
