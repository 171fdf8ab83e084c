"""Writing a portfolio back out as CSV files, a workbook or database tables (fixtures, exports, round trips).

What is written loads back as the same portfolio: `cinb.load.load_portfolio` of the result gives the same
frames and data hash. The store (`cinb.store`) writes its rows with `plain_records` too.

Two version-2 details keep that promise: the version-2 tables (``process_changes``, ``credit_bands``,
``critical_failure_rules``) are written only when they have rows (a version-1 portfolio is written as before),
and the levels and values of a ``%`` KPI that all lie within 0–1 are written with a ``%`` sign (``0.5%``; a text
column in a database), since without it they would be read back as fractions of 1 and refused
(`cinb.validate_regimes.fraction_checks`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

import numpy as np

from .schema import columns_by_name
from .sources import EXCEL_SUFFIXES, engine_for, is_url, safe_url

#: The KPI levels that carry a % sign when a % KPI's levels and values all lie within 0–1.
_SIGNED_LEVELS = ("sla", "target", "critical", "baseline", "ci_target")


def plain_records(table: str, frame: pd.DataFrame, spreadsheet_digits: bool = False) -> pd.DataFrame:
    """The contract columns of a typed frame as plain Python values for writers (None for missing).

    Parameters
    ----------
    table : str
        ``contracts``, ``kpis``, ``measurements``, ``history`` (measurements with every revision),
        ``initiatives``, ``process_changes``, ``credit_bands`` or ``critical_failure_rules``: which contract
        columns to take.
    frame : DataFrame
        A typed frame of a loaded portfolio (columns not in the contract, and absent ones, are left out).
    spreadsheet_digits : bool
        Round numbers to the 15 significant digits a spreadsheet keeps.

    Returns
    -------
    DataFrame
        Object columns in contract order: dates as ``datetime.date``, months as ``'YYYY-MM'`` text, yes/no
        flags as bool (None where a flag without default is not given), numbers as float, whole numbers as int,
        text as str.
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
            v = [None if pd.isna(x) else bool(x) for x in s]
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

    ``measurements`` receives every revision (the history, reported and derived), so loading the result gives
    the same portfolio; ``process_changes``, ``credit_bands`` and ``critical_failure_rules`` are written only
    when the portfolio has rows in them.
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
    for name in ("process_changes", "credit_bands", "critical_failure_rules"):
        frame = getattr(portfolio, name, None)
        if frame is not None and len(frame):
            tables[name] = frame
    records = {name: plain_records("history" if name == "measurements" else name, frame, spreadsheet_digits=True)
               for name, frame in tables.items()}
    _sign_small_percentages(records, portfolio.kpis, portfolio.history)
    if is_url(dest):
        import sqlalchemy as sa

        engine = engine_for(str(dest))
        try:
            with engine.begin() as conn:
                meta = sa.MetaData()
                for name, rec in records.items():
                    table = sa.Table(name, meta, *(sa.Column(c, _sql_type(name, c, rec[c])) for c in rec.columns))
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
                text[c] = [None if x is None else "yes" if x else "no" for x in text[c]]
        text.to_csv(dest / f"{name}.csv", index=False, lineterminator="\n", float_format=None)
    return str(dest)


def _sql_type(table: str, column: str, values=()):
    """The SQLAlchemy column type of a contract column (dates, floats, integers, booleans; text otherwise).

    A number column holding text (a value written with its % sign by `_sign_small_percentages`) is text.
    """
    import sqlalchemy as sa

    kind = columns_by_name("measurements" if table == "history" else table)[column].kind
    if kind == "number" and any(isinstance(v, str) for v in values):
        return sa.Text()
    return {"date": sa.Date(), "number": sa.Float(), "int": sa.Integer(), "bool": sa.Boolean()}.get(kind, sa.Text())


def _sign_small_percentages(records: dict, kpis: pd.DataFrame, history: pd.DataFrame) -> None:
    """Write ``0.5%`` for the levels and values of % KPIs whose levels and values all lie within 0–1.

    Without the sign such a KPI would read back as fractions of 1 and be refused; with it, it reads back as the
    same percentages. ``records`` (from `plain_records`) are changed in place; nothing to do for most portfolios.
    """
    if not len(kpis):
        return
    lv = kpis[list(_SIGNED_LEVELS)].to_numpy(dtype=float)
    given = np.isfinite(lv)
    small = (kpis["unit"] == "%").to_numpy() & given.any(axis=1) & (~given | ((lv >= 0) & (lv <= 1))).all(axis=1)
    if not small.any():
        return
    keys = pd.MultiIndex.from_frame(kpis.loc[small, ["contract_id", "kpi_id"]].astype(object))
    if len(history):
        h = pd.MultiIndex.from_frame(history[["contract_id", "kpi_id"]].astype(object))
        v = history["value"].to_numpy(dtype=float)
        big = pd.Series(~((v >= 0) & (v <= 1)) & np.isfinite(v)).groupby(h).any()
        keys = keys[~big.reindex(keys, fill_value=False).to_numpy(dtype=bool)]
    if not len(keys):
        return

    def sign(rec: pd.DataFrame, columns, frame: pd.DataFrame):
        mine = pd.MultiIndex.from_frame(frame[["contract_id", "kpi_id"]].astype(object)).isin(keys)
        for col in columns:
            if col in rec:
                rec[col] = [f"{x:.15g}%" if m and x is not None else x for x, m in zip(rec[col], mine)]

    sign(records["kpis"], _SIGNED_LEVELS, kpis)
    sign(records["measurements"], ("value",), history)
