"""Load a contract portfolio from a folder of CSV files, an Excel workbook or a database URL into a `Portfolio`.

One argument chooses the source everywhere (``--data`` on the command line, ``data`` in the notebooks):

* ``None``: the embedded sample portfolio (``cinb/data/sample/``);
* a folder: ``contracts.csv``, ``kpis.csv``, ``measurements.csv`` and optionally ``initiatives.csv`` and the
  version-2 tables ``process_changes.csv``, ``credit_bands.csv`` and ``critical_failure_rules.csv``;
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

Where the code is: this module holds the entry point (`load_portfolio`, `read_raw`) and the loaded
`Portfolio`; the readers are `cinb.sources` (what they share), `cinb.sources_csv`, `cinb.sources_excel`
and `cinb.sources_sql`; the writers (`save_portfolio`, `plain_records`) are in `cinb.writers`; validation is
`cinb.validate` with the cell parsers in `cinb.cells`. The public names of those modules that callers used to
import from here are still importable from here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import PROBLEM_COLUMNS, DataError, UsageError
from .formatting import plural
from .hints import did_you_mean
from .schema import TABLE_ORDER, RawTable, columns_by_name
from .sources import (
    EXCEL_SUFFIXES,
    cell_text,
    engine_for,
    is_url,
    raw_from_records,
    safe_url,
    sample_dir,
    short_path,
)
from .sources_csv import read_csv_folder, read_csv_table
from .sources_excel import read_excel
from .sources_sql import read_sql
from .validate import LATE_AFTER_DAYS, empty_frame, empty_problems, validate
from .writers import plain_records, save_portfolio


# ---------------------------------------------------------------------------------------------------------
# The loaded portfolio


@dataclass(frozen=True, eq=False)
class Portfolio:
    """A validated portfolio: typed frames, the row accounting, warnings, problems and provenance.

    Attributes
    ----------
    contracts, kpis, measurements, history, initiatives : DataFrame
        Typed frames with the columns of the data contract (docs/data-contract.md; `cinb.schema`):
        ``measurements`` holds the winning revision of each contract, KPI and month among the *reported* rows
        (``origin`` empty or ``reported``: the supplier's return), plus ``source`` and ``row``; ``history``
        every accepted row of either origin with a ``superseded`` flag (a derived row never supersedes a
        reported one: the origin is part of the key). Amounts in GBP, % KPIs in percentage points, dates as
        datetime64, months as ``period[M]``; ``complete`` (version 2) is a nullable boolean, <NA> when not
        given (which means complete).
    derived : DataFrame
        The winning revision of each contract, KPI and month among the rows whose ``origin`` is ``derived``
        (computed by the authority from records), with the columns of ``measurements``; empty for a portfolio
        without such rows. Ratings use ``measurements``; ``derived`` is there to reconcile against it.
    process_changes : DataFrame
        The version-2 table ``process_changes`` (``contract_id, kpi_id, period, reason, baseline_months``),
        sorted by key; empty with those columns when the source has none.
    credit_bands, critical_failure_rules : DataFrame
        The version-2 credit schedules (``contract_id, kpi_id, shortfall_from, strictly_above, credit_pct``: the
        bands of ``banded`` KPIs; ``contract_id, kpi_id, count, window_months, effect``: when a Critical Service
        Level Failure occurs and what it does, an empty ``kpi_id`` meaning every KPI of the contract without a
        rule of its own), sorted by key; empty with those columns when the source has none. `cinb.credits`
        applies them.
    accounting : DataFrame
        Per table of `cinb.schema.TABLE_ORDER`: ``read``, ``used``, ``superseded``, ``rejected`` (read = used +
        superseded + rejected). Measurements count the winning reported and derived rows as used.
    warnings, problems : DataFrame
        Warnings and errors found while loading (problem columns plus ``contract_id``). ``problems`` is empty
        unless the portfolio was loaded with ``strict=False``.
    source : str
        Where the data came from (folder, workbook or URL without password).
    data_hash : str
        sha256 of the canonical data (contract columns only, independent of the source format; a portfolio
        without version-2 data hashes as it did under version 1).
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
    process_changes: pd.DataFrame = field(default_factory=lambda: empty_frame("process_changes"))
    derived: pd.DataFrame = field(default_factory=lambda: empty_frame("measurements"))
    credit_bands: pd.DataFrame = field(default_factory=lambda: empty_frame("credit_bands"))
    critical_failure_rules: pd.DataFrame = field(default_factory=lambda: empty_frame("critical_failure_rules"))

    @property
    def contract_ids(self) -> list[str]:
        """The contract ids in the portfolio (``contracts.contract_id`` as str), sorted."""
        return sorted(self.contracts["contract_id"].astype(str))

    def contract(self, contract_id: str) -> "Portfolio":
        """The portfolio restricted to one contract.

        Parameters
        ----------
        contract_id : str
            The contract's id, exactly (ids are case-sensitive).

        Returns
        -------
        Portfolio
            Every frame filtered to the contract's rows; the accounting counts that contract's rows only
            and ``data_hash`` is the hash of the filtered data.

        Raises
        ------
        UsageError
            When no contract has that id (the message names close matches).
        """
        if getattr(self, "_subset_ids", None) == frozenset((contract_id,)):
            return self  # already this contract's view (a pack's snapshot read): the same frames, hash and counts
        ids = self.contracts["contract_id"].astype(object).tolist()
        if contract_id not in ids:
            hint = did_you_mean(str(contract_id), ids)
            raise UsageError(f"no contract {contract_id!r} in {self.source}" + (f"; {hint}" if hint else "") +
                             f" (contracts: {', '.join(sorted(map(str, ids))[:20])}{' …' if len(ids) > 20 else ''})")
        return self._subset({contract_id})

    def supplier(self, name: str) -> "Portfolio":
        """The portfolio restricted to the contracts of one supplier (name matched ignoring case).

        Parameters
        ----------
        name : str
            The supplier as in ``contracts.supplier`` (case and surrounding spaces ignored).

        Returns
        -------
        Portfolio
            Every frame filtered to that supplier's contracts, as for `contract`.

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
        """The portfolio restricted to the contracts ``ids`` (frames, warnings, problems, accounting, hash)."""
        def keep(frame):
            if "contract_id" not in frame or not len(frame):
                return frame.iloc[0:0].reset_index(drop=True) if "contract_id" in frame else frame
            return frame[frame["contract_id"].isin(list(ids)).to_numpy()].reset_index(drop=True)

        history = keep(self.history)
        measurements = keep(self.measurements)
        problems = keep(self.problems)
        accounting = _subset_accounting(self, ids, history, problems)
        frames = dict(contracts=keep(self.contracts), kpis=keep(self.kpis), measurements=measurements,
                      history=history, initiatives=keep(self.initiatives),
                      process_changes=keep(self.process_changes), derived=keep(self.derived),
                      credit_bands=keep(self.credit_bands), critical_failure_rules=keep(self.critical_failure_rules))
        view = replace(self, **frames, accounting=accounting, warnings=keep(self.warnings), problems=problems,
                       data_hash=data_hash(frames))
        # Restricting a view again to the same contracts gives the same view: `contract` returns it as it is.
        object.__setattr__(view, "_subset_ids", frozenset(ids))
        return view

    def __repr__(self) -> str:
        """One line: source, row counts per frame, warnings, problems and the start of the data hash."""
        return (f"Portfolio(source={self.source!r}, contracts={len(self.contracts)}, kpis={len(self.kpis)}, "
                f"measurements={len(self.measurements)}, history={len(self.history)}, "
                f"initiatives={len(self.initiatives)}, warnings={len(self.warnings)}, "
                f"problems={len(self.problems)}, data_hash={self.data_hash[:12]}…)")

    def _repr_html_(self) -> str:
        """A summary paragraph and the accounting table for Jupyter (text from the data is escaped)."""
        import html

        acc = self.accounting.to_html(index=False, escape=True)
        return (f"<p><b>Portfolio</b> from <code>{html.escape(self.source)}</code> — "
                f"{plural(len(self.contracts), 'contract')}, {plural(len(self.kpis), 'KPI')}, "
                f"{plural(len(self.measurements), 'measurement')}, {plural(len(self.warnings), 'warning')}, "
                f"{plural(len(self.problems), 'error')}; data hash "
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


#: The optional tables of data contract version 2, hashed only when they have rows.
_V2_TABLES = ("process_changes", "credit_bands", "critical_failure_rules")


def data_hash(frames: dict[str, pd.DataFrame]) -> str:
    """sha256 of the canonical data: the contract columns' values, rows sorted, source and row excluded.

    The same data gives the same hash whether it came from CSV, Excel, SQL or the store, and whatever the
    pandas version: numbers hash as IEEE doubles, dates as days, months as ``YYYY-MM`` ordinals, text as UTF-8.

    Parameters
    ----------
    frames : dict of str to DataFrame
        Typed frames ``contracts``, ``kpis``, ``history``, ``initiatives`` and optionally the version-2 tables
        ``process_changes``, ``credit_bands`` and ``critical_failure_rules`` (as in a `Portfolio`; other keys
        are ignored). A version-2 table without rows, and a version-2 column without a value, are left out:
        version-1 data keep their version-1 hash.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    h = hashlib.sha256()
    for table in ("contracts", "kpis", "history", "initiatives") + _V2_TABLES:
        frame = frames.get(table)
        if table in _V2_TABLES and (frame is None or not len(frame)):
            continue
        frame = frames[table]
        spec = columns_by_name("measurements" if table == "history" else table)
        cols = list(spec) + (["superseded"] if table == "history" else [])
        keys = [k for k in ("contract_id", "kpi_id", "initiative_id", "period", "revision", "shortfall_from",
                            "strictly_above") if k in frame]
        if len(frame) > 1:
            order = np.lexsort([pd.factorize(frame[k].to_numpy(dtype=object) if frame[k].dtype != "period[M]"
                                             else frame[k].array.asi8, sort=True)[0] for k in reversed(keys)])
            frame = frame.iloc[order]
        h.update(f"#{table}:{len(frame)}\n".encode())
        for col in cols:
            # A version-2 column left empty hashes as if absent: a version-1 portfolio keeps its data version.
            if col not in frame or (col in spec and spec[col].since > 1 and frame[col].isna().all()):
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
            elif kind == "bool":  # a nullable flag (complete): 0 no, 1 yes, 2 not given
                h.update(np.where(s.isna().to_numpy(), 2, s.fillna(False).to_numpy(dtype=bool)).astype("u1")
                         .tobytes())
            else:
                h.update("\x1f".join(s.astype(object).fillna("\x00").astype(str).tolist()).encode("utf-8"))
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------------
# The entry point


def read_raw(data, as_of=None) -> tuple[dict[str, RawTable], str]:
    """Read the raw tables of any source, before validation.

    Parameters
    ----------
    data : str, Path or None
        A folder of CSV files, an ``.xlsx``/``.xlsm`` workbook, a ``.db``/``.sqlite``/``.sqlite3`` file, a
        database URL, or None for the embedded sample portfolio.
    as_of : int or str, optional
        For a store URL only: the batch id or ISO timestamp to read the data as of.

    Returns
    -------
    (dict of str to RawTable, str)
        The tables of `cinb.schema.TABLE_ORDER` (text cells) and the source label (a path, or a URL without
        its password).

    Raises
    ------
    UsageError
        The source does not exist, cannot be opened or is not a known kind, or ``as_of`` is given for a
        source that is not a store.
    """
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
        raise UsageError(f"cannot read {short_path(path)}: {reason}; --data takes a folder of CSV files, an .xlsx "
                         "workbook or a database URL such as sqlite:///store.db") from None


def _read_path(path: Path) -> tuple[dict[str, RawTable], str]:
    """Read a folder, workbook or SQLite file named by ``path`` (OSError propagates to `read_raw`)."""
    shown = short_path(path)
    if path.is_dir():
        return read_csv_folder(path), str(path)
    if path.is_file():
        if path.suffix.lower() in EXCEL_SUFFIXES:
            return read_excel(path), str(path)
        if path.suffix.lower() in (".db", ".sqlite", ".sqlite3"):
            return read_sql(f"sqlite:///{path.resolve()}")
        if path.suffix.lower() == ".csv":
            raise UsageError(f"{shown} is a single CSV file; --data takes the folder holding contracts.csv, "
                             f"kpis.csv, measurements.csv and initiatives.csv (here: {short_path(path.parent)})")
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
                  initiatives=v.initiatives, process_changes=v.process_changes, derived=v.derived,
                  credit_bands=v.credit_bands, critical_failure_rules=v.critical_failure_rules)
    return Portfolio(**frames, accounting=v.accounting, warnings=v.warnings, source=label,
                     data_hash=data_hash(frames), problems=v.problems,
                     as_of=None if as_of is None else str(as_of))


def restatements(portfolio: Portfolio) -> pd.DataFrame:
    """Every restated measurement: the value before and after each later revision.

    Parameters
    ----------
    portfolio : Portfolio
        Its ``history`` (every accepted revision) is used.

    Returns
    -------
    DataFrame
        Columns ``contract_id, kpi_id, period, old_value, new_value, change, old_revision, revision,
        submitted_on, note, source, row`` (one row per revision after the first), sorted by key and revision;
        values and ``change`` in the KPI's unit. Empty (object columns) when nothing was restated. Reported
        rows only: a derived figure is not a restatement of the supplier's.
    """
    h = portfolio.history
    if "origin" in h:
        h = h[(h["origin"] != "derived").to_numpy(dtype=bool)]
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


# Names that callers import from cinb.load (the readers and writers moved to their own modules).
__all__ = ["Portfolio", "load_portfolio", "restatements", "save_portfolio", "data_hash", "read_raw", "sample_dir",
           "EXCEL_SUFFIXES", "cell_text", "engine_for", "is_url", "plain_records", "raw_from_records",
           "read_csv_folder", "read_csv_table", "read_excel", "read_sql", "safe_url"]
