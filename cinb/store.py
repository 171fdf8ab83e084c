"""Append-only store of validated returns (SQLite by default, PostgreSQL by URL): every data version kept.

A store is a database holding the portfolio tables (`cinb.schema.TABLE_ORDER`) plus, on every row, the
``batch_id`` of the ingest that added it and the ``source`` file and ``source_row`` it came from, and a
``cinb_batches`` table (one row per ingest: id, UTC timestamp, source, data hash, row counts). Rows are only ever
inserted: triggers refuse UPDATE and DELETE, so history cannot be rewritten through cinb or by accident. A
store made by an earlier cinb gains the tables and columns the data contract has added since, empty, at its
next ingest.

Reading a store (``load_portfolio("sqlite:///store.db", as_of=...)``) rebuilds the portfolio as it was after a
batch: for the definition tables (contracts to critical-failure rules) the latest row of each key wins; measurements
keep every revision, and the highest revision of each month (per origin, reported or derived) wins as in any other
source.

An ingest validates the new rows against what the store already holds (unknown ids, duplicate revisions)
and appends them in one transaction: a return with any error is rejected whole and nothing is written.

Only changes are appended. A measurement whose value, note, volume and complete flag equal those of the revision
the store holds for its month (``RESTATED_COLUMNS``; the submission date and the revision number do not count) is
*unchanged*: it is not stored again and is no restatement. A definition (contract, KPI, initiative, process
change) equal in every column to the stored one is unchanged too. In a correction, an empty value cell with
nothing else filled in *keeps* the stored value; the value cell's ``not reported`` marker
(`cinb.template.NOT_REPORTED`, also in CSV files and workbooks) withdraws it. A row whose value cell is empty while
its note, volume or complete flag is filled in, for a month with a stored value, is refused with one message at
its value cell asking for the marker or the value (cinb cannot tell "keep" from "withdraw"); volume 0 with no value
says "no activity" and is taken as it stands. `IngestResult.changes` lists every row read as new, changed,
unchanged or kept.

Reading a store is a source like any other database, so it lives with them (`cinb.sources_sql`:
``BATCHES``, ``read_store_tables``, both importable from here too); this module writes and lists batches.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .config import DEFAULT_STORE  # defined with the other defaults (the CLI reads it without this module)
from .errors import PROBLEM_COLUMNS, DataError, UsageError
from .schema import KEYS, TABLE_ORDER, TABLES, RawTable, column_names
from .sources import engine_for, is_url, library_warnings, raw_from_records, safe_url
from .sources_sql import BATCHES, read_store_tables, resolve_as_of
from .template import NOT_REPORTED, date_cell_warnings, is_not_reported
from .writers import plain_records

#: The measurement columns whose difference from the stored revision makes a re-submitted month a restatement.
RESTATED_COLUMNS = ("value", "note", "volume", "complete")
#: What an ingest found each row it read to be, against the store (`IngestResult.changes`, column ``status``).
CHANGE_STATUSES = ("new", "changed", "unchanged", "kept")
#: The columns of `IngestResult.changes`.
CHANGE_COLUMNS = ["table", "contract_id", "item", "status", "changed", "old_value", "new_value", "revision",
                  "source", "row"]


def _no_changes() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in CHANGE_COLUMNS})


@dataclass(frozen=True)
class IngestResult:
    """What an ingest appended: the batch, its time, rows per table, the accounting and the warnings.

    Attributes
    ----------
    batch_id : int
        The new batch's id in ``cinb_batches``.
    ingested_at : str
        When, as an ISO timestamp in UTC (microseconds).
    store : str
        The store's URL without its password.
    appended : dict of str to int
        Rows appended per table of `cinb.schema.TABLE_ORDER` (``contracts``, ``kpis``, ``measurements``,
        ``initiatives``, ``process_changes``, ``credit_bands``, ``critical_failure_rules``).
    accounting, warnings : DataFrame
        The validator's row accounting and the warnings (which did not stop the ingest).
    data_hash : str
        sha256 of the data appended (`cinb.load.data_hash`).
    changes : DataFrame
        One row per row read (`CHANGE_COLUMNS`): ``table``, ``contract_id``, ``item`` (``FTF 2026-10`` for a
        measurement, ``(derived)`` added for a derived one; the KPI, initiative or month of a definition),
        ``status`` (`CHANGE_STATUSES`: ``new`` — nothing stored for it; ``changed`` — appended as a restatement
        or a new definition row; ``unchanged`` — equal to the stored row, not appended; ``kept`` — an empty value
        cell that leaves the stored value as it is), ``changed`` (the columns that differ, comma-separated),
        ``old_value`` and ``new_value`` (a measurement's value), ``revision`` (the revision appended) and the
        ``source`` file and ``row`` read.
    """

    batch_id: int
    ingested_at: str
    store: str
    appended: dict
    accounting: pd.DataFrame
    warnings: pd.DataFrame
    data_hash: str
    changes: pd.DataFrame = field(default_factory=_no_changes)

    def counts(self) -> dict[str, dict[str, int]]:
        """Rows per table and status: ``{"measurements": {"new": 0, "changed": 1, "unchanged": 5, "kept": 0}}``
        (only tables the ingest read rows of; every status of `CHANGE_STATUSES` present)."""
        out = {}
        for table in TABLE_ORDER:
            mine = self.changes[self.changes["table"] == table]
            if len(mine):
                out[table] = {status: int((mine["status"] == status).sum()) for status in CHANGE_STATUSES}
        return out


def store_url(store) -> str:
    """A SQLAlchemy URL for ``store``: a URL as given, or a file path made into ``sqlite:///<absolute path>``.

    ``store`` is a str URL, a str or Path file path (``~`` expanded), or None for `DEFAULT_STORE`; returns a
    str. Never raises: the URL is checked when it is opened.
    """
    if store is None:
        store = DEFAULT_STORE
    if is_url(store):
        return str(store)
    path = Path(store).expanduser().resolve()
    return f"sqlite:///{path}"


def _metadata():
    import sqlalchemy as sa

    meta = sa.MetaData()
    sa.Table(BATCHES, meta,
             sa.Column("batch_id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("ingested_at", sa.Text, nullable=False),
             sa.Column("source", sa.Text),
             sa.Column("data_hash", sa.Text),
             *(sa.Column(f"rows_{name}", sa.Integer) for name in TABLE_ORDER[:4]),
             sa.Column("cinb_version", sa.Text),
             *(sa.Column(f"rows_{name}", sa.Integer) for name in TABLE_ORDER[4:]))
    types = {"date": sa.Date, "number": sa.Float, "int": sa.Integer, "bool": sa.Boolean, "period": sa.Text}
    for name in TABLE_ORDER:
        cols = [sa.Column(c.name, types.get(c.kind, sa.Text)()) for c in TABLES[name]]
        cols += [sa.Column("batch_id", sa.Integer, sa.ForeignKey(f"{BATCHES}.batch_id"), nullable=False),
                 sa.Column("source", sa.Text), sa.Column("source_row", sa.Integer)]
        table = sa.Table(name, meta, *cols)
        if name == "measurements":
            # Two ingests racing to store the same revision: the second fails and rolls back whole. The origin
            # is part of the key (an empty origin is a reported row): a derived row may share a reported one's.
            sa.Index(_REVISION_ONCE, table.c.contract_id, table.c.kpi_id, table.c.period, table.c.revision,
                     sa.func.coalesce(table.c.origin, "reported"), unique=True)
    return meta


#: The unique index (a unique constraint in stores made before version 2) on a measurement's key and revision.
_REVISION_ONCE = "cinb_measurement_revision_once"


def _append_only_ddl(dialect: str) -> list[str]:
    tables = (BATCHES,) + TABLE_ORDER
    if dialect == "sqlite":
        return [f"CREATE TRIGGER IF NOT EXISTS cinb_no_{op.lower()}_{t} BEFORE {op} ON {t} "
                f"BEGIN SELECT RAISE(ABORT, 'the cinb store is append-only: {op} refused'); END"
                for t in tables for op in ("UPDATE", "DELETE")]
    if dialect == "postgresql":
        ddl = ["CREATE OR REPLACE FUNCTION cinb_append_only() RETURNS trigger AS $$ BEGIN "
               "RAISE EXCEPTION 'the cinb store is append-only: % refused', TG_OP; END $$ LANGUAGE plpgsql"]
        ddl += [f"CREATE OR REPLACE TRIGGER cinb_append_only_{t} BEFORE UPDATE OR DELETE ON {t} "
                f"FOR EACH ROW EXECUTE FUNCTION cinb_append_only()" for t in tables]
        ddl += [f"CREATE OR REPLACE TRIGGER cinb_no_truncate_{t} BEFORE TRUNCATE ON {t} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION cinb_append_only()" for t in tables]
        return ddl
    return []


def ensure_store(conn) -> None:
    """Create the store's tables and append-only triggers if the database has none yet.

    ``conn`` is an open SQLAlchemy connection in a transaction; a database that is already a store is left
    as it is.

    Raises
    ------
    UsageError
        The database holds portfolio tables that are not a cinb store (cinb will not write into them).
    """
    import sqlalchemy as sa

    inspector = sa.inspect(conn)
    names = {n.lower() for n in inspector.get_table_names()}
    if BATCHES in names:
        missing = [t for name, t in _metadata().tables.items() if name not in names]
        if missing:  # a table the data contract added since the store was made (process_changes)
            _metadata().create_all(conn, tables=missing)
            for ddl in _append_only_ddl(conn.dialect.name):
                conn.execute(sa.text(ddl))
            inspector = sa.inspect(conn)
        _add_new_columns(conn, inspector)
        return
    clash = sorted(names & set(TABLE_ORDER))
    if clash:
        raise UsageError(f"the database already has tables {', '.join(clash)} but is not a cinb store; "
                         "ingest into a new database (or file) instead")
    _metadata().create_all(conn)
    for ddl in _append_only_ddl(conn.dialect.name):
        conn.execute(sa.text(ddl))  # text() escapes the % of the message for pyformat drivers


def _add_new_columns(conn, inspector) -> None:
    """Give a store made by an earlier cinb the columns the data contract has gained since (empty for old rows).

    Adding a nullable column changes no stored row, so the store stays append-only; without it, values in the
    new columns would be dropped silently on ingest.
    """
    import sqlalchemy as sa

    meta = _metadata()
    for name in (BATCHES,) + TABLE_ORDER:
        have = {c["name"].lower() for c in inspector.get_columns(name)}
        for column in meta.tables[name].columns:
            if column.name.lower() not in have:
                kind = column.type.compile(dialect=conn.dialect)
                conn.execute(sa.text(f'ALTER TABLE {name} ADD COLUMN "{column.name}" {kind}'))


def batches(store) -> pd.DataFrame:
    """The ingest batches of a store, oldest first.

    Parameters
    ----------
    store : str, Path or None
        As for `store_url`.

    Returns
    -------
    DataFrame
        One row per batch: ``batch_id, ingested_at`` (UTC, ISO text), ``source, data_hash``, ``rows_contracts,
        rows_kpis, rows_measurements, rows_initiatives``, ``cinb_version`` and ``rows_process_changes`` (None
        for batches ingested before the table existed); no rows when the database is not a store yet.

    Raises
    ------
    UsageError
        The URL cannot be used (see `cinb.sources.engine_for`).
    """
    engine = engine_for(store_url(store))
    try:
        with engine.connect() as conn:
            import sqlalchemy as sa

            if BATCHES not in sa.inspect(conn).get_table_names():
                return pd.DataFrame(columns=[c.name for c in _metadata().tables[BATCHES].columns])
            return pd.read_sql(sa.text(f"SELECT * FROM {BATCHES} ORDER BY batch_id"), conn)
    finally:
        engine.dispose()


def as_of_batch(store, as_of) -> dict:
    """The batch of ``store`` that ``as_of`` names, as `cinb.load.load_portfolio` reads it.

    Parameters
    ----------
    store : str or Path
        The store (a URL or a file path, as for `store_url`).
    as_of : int or str
        A batch id, or an ISO timestamp (naive: UTC): the last batch ingested at or before it.

    Returns
    -------
    dict
        ``batch_id`` (int), ``ingested_at`` (its UTC ISO timestamp) and ``source`` (what it ingested, as the
        batch recorded it).

    Raises
    ------
    UsageError
        The store cannot be opened or has no batches, ``as_of`` is neither a batch id nor a timestamp, names no
        batch, or is before the first one.
    """
    label = safe_url(store_url(store))
    table = batches(store)
    if not len(table):
        raise UsageError(f"{label} has no batches: as_of needs a store that cinb ingest has written")
    engine = engine_for(store_url(store))
    try:
        with engine.connect() as conn:
            batch_id = resolve_as_of(conn, label, "" if as_of is None else as_of)
    finally:
        engine.dispose()
    row = table[table["batch_id"] == batch_id]
    r = row.iloc[0]
    return {"batch_id": int(r["batch_id"]), "ingested_at": str(r["ingested_at"]), "source": r["source"]}


def _raw_from_frame(name: str, frame: pd.DataFrame, source: str) -> RawTable:
    """RawTable from a typed frame (an already loaded portfolio being ingested)."""
    rec = plain_records(name, frame)
    raw = raw_from_records(name, list(rec.columns), list(rec.itertuples(index=False, name=None)), source, None,
                           row_numbers=list(frame["row"]) if "row" in frame else None)
    if "source" in frame:
        raw.frame["_source"] = frame["source"].astype(object).fillna(source).to_numpy()
    return raw


def _new_tables(data, today) -> tuple[dict[str, RawTable], str, set]:
    """The raw tables of what is being ingested (tables the source does not have are simply absent), its label,
    and the ``(source, row)`` of each measurement whose value cell held the "not reported" marker (now empty)."""
    from .load import Portfolio, read_raw
    from .template import is_return, read_return_table

    if isinstance(data, Portfolio):
        raw = {name: _raw_from_frame(name, getattr(data, "history" if name == "measurements" else name),
                                     data.source) for name in TABLE_ORDER}
        return raw, data.source, set()
    path = Path(str(data))
    if path.suffix.lower() in (".xlsx", ".xlsm") and path.is_file() and is_return(path):
        m = read_return_table(path, today=today)
        filled = [col for col in ("value", "note", "volume") if col in m.frame]
        if all((m.frame[col] == "").all() for col in filled):
            raise UsageError(f"{path} has no values and no notes: fill in the Value column (and Notes for any value "
                             "that cannot be reported), save, and ingest again")
        raw = {name: RawTable(name, pd.DataFrame({"_row": pd.Series(dtype="int64")}), str(path), None, False)
               for name in TABLE_ORDER}
        raw["measurements"] = m
        return raw, str(path), _take_markers(m)
    raw, label = read_raw(data)
    for t in raw.values():
        if not t.present:
            # A monthly return is usually measurements only: a missing table means "nothing new".
            t.problems = [p for p in t.problems if p.get("row") is not None]
    return raw, label, _take_markers(raw["measurements"])


def _take_markers(t: RawTable) -> set:
    """Empty the value cells of ``t`` (raw measurements) that say "not reported"; return their ``(source, row)``."""
    if not t.present or "value" not in t.frame or not len(t.frame):
        return set()
    marked = t.frame["value"].map(is_not_reported).to_numpy(dtype=bool)
    if not marked.any():
        return set()
    t.frame.loc[marked, "value"] = ""
    sources = t.frame["_source"].to_numpy(dtype=object) if "_source" in t.frame else np.full(len(t.frame), t.source)
    return {(str(src), int(row)) for src, row in zip(sources[marked], t.frame["_row"].to_numpy()[marked])}


def _reference(conn, label, today) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """The store's current typed contracts, KPIs and history (both origins), to validate new rows against; and its
    current initiatives and process changes (to tell unchanged rows from changed ones)."""
    from .validate import validate

    import sqlalchemy as sa

    if BATCHES not in sa.inspect(conn).get_table_names():
        return {}, {}
    v = validate(read_store_tables(conn, label), today=today)
    return ({"contracts": v.contracts, "kpis": v.kpis, "history": v.history, "credit_bands": v.credit_bands},
            {name: getattr(v, name) for name in TABLE_ORDER
             if name not in ("contracts", "kpis", "measurements") and hasattr(v, name)})


def ingest(data, store=None, *, reference=None, today=None) -> IngestResult:
    """Validate new data and append it to a store as one batch; nothing is written if anything is wrong.

    Parameters
    ----------
    data : str, Path or Portfolio
        A filled return template (.xlsx written by `cinb.template.write_return_template`), a folder of CSV
        files (any of the tables, process_changes.csv included), a workbook, a database URL, or a loaded
        Portfolio.
    store : str or Path, optional
        A file path (SQLite, created if needed) or a database URL; default ``reports/store.sqlite``.
    reference : str, Path or Portfolio, optional
        A portfolio whose contract and KPI definitions are used for contracts the store does not hold yet;
        the definitions used are appended in the same batch, so the store stays self-contained.
    today : date-like, optional
        The day against which future periods are judged (default: today).

    Returns
    -------
    IngestResult
        What was appended; ``changes`` says, row by row, what was new, what changed (a restatement), what was
        unchanged (not stored again) and which empty value cells kept the stored value. Only new and changed rows
        are appended (see the module notes).

    Raises
    ------
    DataError
        The new data has errors (every problem listed), or a row would withdraw a stored value without the
        ``not reported`` marker (one problem at each such value cell); the store is unchanged.
    UsageError
        The store cannot be opened or is not a cinb store, there is nothing to ingest, every row repeats what
        the store holds ("repeats values already in …"), or derived measurements are ingested into a store made
        before version 2 whose key has no origin.
    """
    import sqlalchemy as sa

    from . import __version__
    from .load import data_hash, load_portfolio
    from .validate import empty_frame, validate

    url = store_url(store)
    label = safe_url(url)
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    raw, source, withdrawn = _new_tables(data, today)
    if not any(t.present and len(t.frame) for t in raw.values()):
        raise UsageError(f"nothing to ingest in {source}: no rows in any of {', '.join(TABLE_ORDER)}")
    engine = engine_for(url)
    try:
        with engine.begin() as conn:
            ensure_store(conn)
            ref, stored_defs = _reference(conn, label, today)
            extra_defs = {}
            if reference is not None:
                ref, extra_defs = _with_reference(ref, load_portfolio(reference, today=today), raw)
            v = validate(raw, today=today, reference=ref)
            if len(v.problems):
                raise DataError(v.problems[PROBLEM_COLUMNS], summary=_rejected_summary(source, label, v),
                                accounting=v.accounting, warnings=v.warnings)
            frames = {name: v.history if name == "measurements" else getattr(v, name, None) for name in TABLE_ORDER}
            frames = {name: frame if frame is not None else empty_frame(name) for name, frame in frames.items()}
            frames, changes, asks, carried = _only_changes(frames, {**ref, **stored_defs}, withdrawn,
                                                           raw["measurements"].sheet)
            if len(asks):
                raise DataError(asks, summary=_withdraw_summary(source, label, asks), accounting=v.accounting,
                                warnings=v.warnings)
            warnings = date_cell_warnings(_without_kept(v.warnings, carried), raw["measurements"])
            for name, defs in extra_defs.items():
                changes = pd.concat([changes, _definition_rows(name, defs, "new")], ignore_index=True)
                frames[name] = pd.concat([frames[name], defs], ignore_index=True) if len(frames[name]) else defs
            counts = {name: len(frames[name]) for name in TABLE_ORDER}
            if not any(counts.values()):
                raise UsageError(f"{source} repeats values already in {label} ({_status_text(changes)}); nothing "
                                 "was appended. To restate a value, change it and ingest again (an empty value "
                                 "cell keeps the stored value; 'not reported' in the value cell withdraws it).")
            now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
            h = data_hash({("history" if name == "measurements" else name): frames[name] for name in TABLE_ORDER})
            _refuse_derived_in_old_store(conn, frames["measurements"], label)
            meta = _metadata()  # the store has these columns (ensure_store), and perhaps more
            batches_t = meta.tables[BATCHES]
            result = conn.execute(batches_t.insert().values(
                ingested_at=now, source=str(source), data_hash=h, cinb_version=__version__,
                **{f"rows_{n}": c for n, c in counts.items()}))
            batch_id = int(result.inserted_primary_key[0])
            for name in TABLE_ORDER:
                frame = frames[name]
                if not len(frame):
                    continue
                table = meta.tables[name]
                rec = _store_records(name, frame, batch_id, str(source))
                conn.execute(table.insert(), rec)
    except sa.exc.IntegrityError:
        raise UsageError(f"{label} changed while {source} was being ingested (another ingest stored the same "
                         "revision); nothing was appended — run the ingest again") from None
    except sa.exc.SQLAlchemyError as exc:
        raise UsageError(f"cannot write to {label}: {str(exc).splitlines()[0]}; nothing was appended") from None
    finally:
        engine.dispose()
    return IngestResult(batch_id, now, label, counts, v.accounting, warnings, h, changes)


def _refuse_derived_in_old_store(conn, history: pd.DataFrame, label: str) -> None:
    """Refuse derived measurements for a store whose revision key has no origin (made before version 2).

    Such a store's unique constraint would refuse a derived row sharing a reported row's month and revision
    (or say, misleadingly, that another ingest raced this one).
    """
    import sqlalchemy as sa

    if not len(history) or not (history["origin"] == "derived").any():
        return
    with library_warnings():  # reflecting the new expression index warns that it is skipped: nothing to say
        constraints = sa.inspect(conn).get_unique_constraints("measurements")
    old = [u for u in constraints if "origin" not in [c.lower() for c in u.get("column_names") or []]]
    if old:
        raise UsageError(f"{label} was made by a cinb older than data contract version 2: its measurements cannot "
                         "hold derived rows next to reported ones; nothing was appended. Ingest the portfolio into "
                         "a new store (cinb ingest PORTFOLIO --into NEW_STORE) to keep derived measurements")


def _only_changes(frames: dict, stored: dict, withdrawn: set, sheet):
    """The rows of ``frames`` that change the store, what each row read was, and the refusals.

    ``frames`` are the validated new tables (``measurements`` is the history of the new rows), ``stored`` the
    store's current typed tables (``contracts``, ``kpis``, ``history``, ``initiatives``, ``process_changes``;
    absent for a new store), ``withdrawn`` the ``(source, row)`` of value cells marked "not reported". Returns
    ``(frames to append, changes, asks, carried)``: ``changes`` in `CHANGE_COLUMNS`, ``asks`` the problems
    (`PROBLEM_COLUMNS`) of rows that would withdraw a stored value without the marker, ``carried`` the
    ``(source, row)`` of empty value cells that kept a stored value.
    """
    out, parts = dict(frames), []
    for name in (t for t in TABLE_ORDER if t != "measurements"):
        keep, part = _definition_changes(name, frames[name], stored.get(name))
        out[name] = frames[name][keep].reset_index(drop=True)
        parts.append(part)
    out["measurements"], part, asks, carried = _measurement_changes(frames["measurements"], stored.get("history"),
                                                                    withdrawn, sheet)
    parts.append(part)
    parts = [p for p in parts if len(p)]
    return out, (pd.concat(parts, ignore_index=True) if parts else _no_changes()), asks, carried


def _same(a, b) -> bool:
    """Plain values equal, None/NaN equal to each other, numbers within rounding (a spreadsheet's 15 digits)."""
    a_none = a is None or (isinstance(a, float) and math.isnan(a))
    b_none = b is None or (isinstance(b, float) and math.isnan(b))
    if a_none or b_none:
        return a_none and b_none
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-12)
    return a == b


def _definition_rows(name: str, frame: pd.DataFrame, status, changed=None) -> pd.DataFrame:
    """`CHANGE_COLUMNS` rows for definitions of table ``name`` (``status`` one text or one per row)."""
    keys = [k for k in KEYS[name] if k != "contract_id"]
    n = len(frame)
    item = frame["contract_id"].astype(str) if not keys else \
        frame[keys].astype(object).fillna("").astype(str).agg(" ".join, axis=1) if n else pd.Series([], dtype=object)
    return pd.DataFrame({
        "table": name, "contract_id": frame["contract_id"].astype(object).to_numpy() if n else [],
        "item": item.to_numpy(dtype=object) if n else [], "status": status,
        "changed": changed if changed is not None else [None] * n, "old_value": None, "new_value": None,
        "revision": None,
        "source": frame["_source"].to_numpy(dtype=object) if "_source" in frame else
        (frame["source"].to_numpy(dtype=object) if "source" in frame else None),
        "row": frame["row"].to_numpy(dtype=object) if "row" in frame else None,
    }, index=range(n), columns=CHANGE_COLUMNS)


def _definition_changes(name: str, new: pd.DataFrame, stored: pd.DataFrame | None):
    """``(keep mask, changes)`` of definition rows: a row equal in every contract column to the stored one of its
    key is unchanged (not appended); any other is new (no stored row) or changed."""
    from .writers import plain_records

    n = len(new)
    if not n:
        return np.zeros(0, dtype=bool), _no_changes()
    keys = list(KEYS[name])
    if stored is None or not len(stored):
        return np.ones(n, dtype=bool), _definition_rows(name, new, "new")
    cols = [c for c in column_names(name) if c in new.columns]
    a = plain_records(name, new).reindex(columns=cols)
    b = plain_records(name, stored).reindex(columns=cols)
    index = pd.MultiIndex.from_frame(b[keys].astype(str)) if len(keys) > 1 else pd.Index(b[keys[0]].astype(str))
    look = pd.MultiIndex.from_frame(a[keys].astype(str)) if len(keys) > 1 else pd.Index(a[keys[0]].astype(str))
    pos = index.get_indexer(look) if index.is_unique else np.array([index.get_loc(x) if x in index else -1
                                                                    for x in look])
    status, changed = [], []
    a_rows, b_rows = a.to_dict("records"), b.to_dict("records")
    for i, j in enumerate(pos):
        if j < 0:
            status.append("new")
            changed.append(None)
            continue
        diff = [c for c in cols if not _same(a_rows[i][c], b_rows[j][c])]
        status.append("changed" if diff else "unchanged")
        changed.append(", ".join(diff) or None)
    status = np.array(status, dtype=object)
    return status != "unchanged", _definition_rows(name, new, status, changed)


def _text_of(values) -> np.ndarray:
    """Free text as objects, '' for missing."""
    s = pd.Series(values, dtype=object)
    return s.where(s.notna(), "").astype(str).to_numpy(dtype=object)


def _measurement_changes(new: pd.DataFrame, stored: pd.DataFrame | None, withdrawn: set, sheet):
    """``(rows to append, changes, asks)`` of new measurement rows against the store's winning revisions.

    The first row of each month (per origin) is compared with the store's winning revision of that month, cell by
    cell: an empty cell (value, note, volume, complete) keeps the stored one, a value cell marked "not reported"
    (``withdrawn``) withdraws the stored value, and volume 0 with no value is "no activity". The row is appended,
    with the kept cells filled in, only when the result differs from the stored revision. A file's later
    revisions of the same month are its own history and are appended as they are (``changed``). An empty value
    cell beside a note that is not the stored one, for a month with a stored value, is refused (``asks``): it is
    how a return says "not reported", so cinb asks for the marker (or the value). Returns a DataFrame (the rows
    of ``new`` to append, cells filled in), `CHANGE_COLUMNS` rows, `PROBLEM_COLUMNS` rows and the ``(source,
    row)`` of the empty value cells that kept a stored value.
    """
    n = len(new)
    if not n:
        return new, _no_changes(), pd.DataFrame(columns=PROBLEM_COLUMNS), set()
    h = new.reset_index(drop=True).copy()
    origin = _text_of(h["origin"] if "origin" in h else [None] * n)
    origin = np.where(origin == "", "reported", origin)
    key = pd.DataFrame({"c": h["contract_id"].astype(str).to_numpy(), "k": h["kpi_id"].astype(str).to_numpy(),
                        "p": h["period"].astype(str).to_numpy(), "o": origin})
    after = np.zeros(n, dtype=bool)  # the previous new row is of the same month (and origin)
    if n > 1:
        after[1:] = (key.iloc[1:].to_numpy() == key.iloc[:-1].to_numpy()).all(axis=1)
    value = h["value"].to_numpy(dtype=float)
    volume = h["volume"].to_numpy(dtype=float) if "volume" in h else np.full(n, np.nan)
    note = _text_of(h["note"] if "note" in h else [None] * n)
    given_complete = h["complete"].notna().to_numpy(dtype=bool) if "complete" in h else np.zeros(n, dtype=bool)
    complete = _flags(h["complete"]) if "complete" in h else np.ones(n, dtype=bool)  # empty means complete
    sources = _text_of(h["source"]) if "source" in h else np.full(n, "", dtype=object)
    rows = h["row"].to_numpy() if "row" in h else np.zeros(n, dtype=int)
    marked = np.array([(str(a), int(b)) in withdrawn for a, b in zip(sources, rows)], dtype=bool) \
        if withdrawn else np.zeros(n, dtype=bool)

    # The stored revision of each first row's month.
    stored_at = np.zeros(n, dtype=bool)
    s_value, s_volume = np.full(n, np.nan), np.full(n, np.nan)
    s_note, s_complete, s_given = np.full(n, "", dtype=object), np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    s_revision = np.full(n, np.nan)
    if stored is not None and len(stored):
        st = stored[~stored["superseded"].to_numpy(dtype=bool)].reset_index(drop=True)
        st_origin = _text_of(st["origin"])
        st_origin = np.where(st_origin == "", "reported", st_origin)
        st_key = pd.MultiIndex.from_arrays([st["contract_id"].astype(str).to_numpy(),
                                            st["kpi_id"].astype(str).to_numpy(), st["period"].astype(str).to_numpy(),
                                            st_origin])
        pos = st_key.get_indexer(pd.MultiIndex.from_frame(key))
        stored_at = (pos >= 0) & ~after
        j = pos[stored_at]
        s_value[stored_at] = st["value"].to_numpy(dtype=float)[j]
        s_volume[stored_at] = st["volume"].to_numpy(dtype=float)[j]
        s_note[stored_at] = _text_of(st["note"])[j]
        s_complete[stored_at] = _flags(st["complete"])[j]
        s_given[stored_at] = st["complete"].notna().to_numpy(dtype=bool)[j]
        s_revision[stored_at] = st["revision"].to_numpy(dtype=float)[j]

    empty = np.isnan(value)
    quiet = empty & (volume == 0)  # no activity: says what it is
    has_value = stored_at & ~np.isnan(s_value)
    ask = stored_at & empty & ~marked & ~quiet & has_value & (note != "") & (note != s_note)
    # The result of each first row: empty cells keep the stored ones.
    keep_value = stored_at & empty & ~marked & ~quiet
    r_value = np.where(keep_value, s_value, value)
    r_volume = np.where(stored_at & np.isnan(volume), s_volume, volume)
    r_note = np.where(stored_at & (note == ""), s_note, note)
    r_complete = np.where(stored_at & ~given_complete, s_complete, complete)
    r_given = given_complete | (stored_at & s_given)

    def same_number(a, b):
        with np.errstate(invalid="ignore"):
            return (np.isnan(a) & np.isnan(b)) | np.isclose(a, b, rtol=1e-12, atol=1e-12)

    diff = {"value": ~same_number(r_value, s_value), "note": r_note != s_note,
            "volume": ~same_number(r_volume, s_volume), "complete": r_complete != s_complete}
    if after.any():  # a file's later revision: what differs from the row before it
        i = np.flatnonzero(after)
        diff["value"][i] = ~same_number(value[i], value[i - 1])
        diff["note"][i] = note[i] != note[i - 1]
        diff["volume"][i] = ~same_number(volume[i], volume[i - 1])
        diff["complete"][i] = complete[i] != complete[i - 1]
    any_diff = np.any(np.vstack(list(diff.values())), axis=0)
    kept = stored_at & keep_value & has_value & ~any_diff
    status = np.select([after, ~stored_at, ask, kept, ~any_diff], ["changed", "new", "ask", "kept", "unchanged"],
                       "changed").astype(object)
    appended = (status == "new") | (status == "changed")

    # The rows appended carry the cells they kept.
    fill = stored_at & appended
    if fill.any():
        h.loc[fill, "value"] = r_value[fill]
        if "volume" in h:
            h.loc[fill, "volume"] = r_volume[fill]
        if "note" in h:
            h["note"] = h["note"].astype(object)
            h.loc[fill, "note"] = [x if x != "" else np.nan for x in r_note[fill]]
        if "complete" in h:
            done = pd.array([bool(c) if g else pd.NA for c, g in zip(r_complete, r_given)], dtype="boolean")
            h["complete"] = h["complete"].where(~pd.Series(fill), done)
    changed = np.full(n, None, dtype=object)
    for i in np.flatnonzero(status == "changed"):
        changed[i] = ", ".join(c for c in RESTATED_COLUMNS if diff[c][i]) or None
    item = key["k"] + " " + key["p"] + np.where(key["o"] == "derived", " (derived)", "")

    def objects(values, present):  # floats where present, None elsewhere
        out = np.full(n, None, dtype=object)
        out[present] = values[present].tolist()
        return out

    changes = pd.DataFrame({
        "table": "measurements", "contract_id": key["c"].to_numpy(dtype=object), "item": item.to_numpy(dtype=object),
        "status": status, "changed": changed, "old_value": objects(s_value, has_value),
        "new_value": objects(r_value, ~np.isnan(r_value)),
        "revision": objects(h["revision"].to_numpy(dtype=np.int64), appended),
        "source": sources, "row": rows.astype(object),
    }, columns=CHANGE_COLUMNS)
    asks = pd.DataFrame(columns=PROBLEM_COLUMNS)
    if ask.any():
        records = []
        for i in np.flatnonzero(ask):
            old = f"{s_value[i]:.12g}"
            records.append({
                "severity": "error", "source": sources[i] or None, "sheet": sheet, "table": "measurements",
                "row": int(rows[i]), "column": "value", "value": None,
                "problem": f"is empty beside a note, but {key['c'][i]} {key['k'][i]} {key['p'][i]} has the value "
                           f"{old} stored (revision {int(s_revision[i])}): an empty value cell keeps the stored "
                           "value, while an empty value with a note is how a return says it could not report one",
                "fix": f"write '{NOT_REPORTED}' in the value cell to withdraw the stored value (the note then says why), "
                       f"or type the value ({old}) to keep it"})
        asks = pd.DataFrame(records, columns=PROBLEM_COLUMNS)
    carried = {(str(a), int(b)) for a, b in zip(sources[keep_value & has_value], rows[keep_value & has_value])}
    return h[appended].reset_index(drop=True), changes, asks, carried


def _flags(s: pd.Series) -> np.ndarray:
    """A yes/no column as bool, empty read as yes (complete unless said otherwise)."""
    return s.astype(object).where(s.notna(), True).to_numpy(dtype=bool)


def _without_kept(warnings: pd.DataFrame, gone: set) -> pd.DataFrame:
    """The validator's warnings less "the value is empty" for the rows whose empty value kept the stored one
    (``gone``: their ``(source, row)``)."""
    if not gone or not len(warnings):
        return warnings
    hit = np.array([w_col == "value" and w_table == "measurements" and (str(src), int(row)) in gone
                    if not pd.isna(row) else False
                    for src, row, w_col, w_table in zip(warnings["source"], warnings["row"], warnings["column"],
                                                        warnings["table"])], dtype=bool)
    return warnings[~hit].reset_index(drop=True)


def _status_text(changes: pd.DataFrame) -> str:
    """``"6 unchanged, 1 kept"``: rows read by status (statuses with none left out)."""
    counts = changes["status"].value_counts() if len(changes) else pd.Series(dtype=int)
    return ", ".join(f"{int(counts[s])} {s}" for s in CHANGE_STATUSES if s in counts) or "no rows"


def _withdraw_summary(source, label, asks: pd.DataFrame) -> str:
    n = len(asks)
    from .errors import format_problem

    return (f"{source} was rejected whole: {n} empty value cell{'s' if n != 1 else ''} would withdraw a stored "
            f"value without saying so (first: {format_problem(asks.iloc[0])}); nothing was appended to {label}")


def _rejected_summary(source, label, v) -> str:
    n = len(v.problems)
    from .errors import format_problem

    first = format_problem(v.problems.iloc[0])
    return (f"{source} was rejected whole: {n} problem{'s' if n != 1 else ''} "
            f"(first: {first}); nothing was appended to {label}")


def _with_reference(ref: dict, portfolio, raw: dict[str, RawTable]):
    """Add the definitions of contracts the store lacks from a reference portfolio; return those to append."""
    have = set(ref.get("contracts", pd.DataFrame(columns=["contract_id"]))["contract_id"]) if ref else set()
    new_contracts = set()
    if raw["contracts"].present and "contract_id" in raw["contracts"].frame:
        new_contracts = set(raw["contracts"].frame["contract_id"])
    wanted = set()
    for name in ("kpis", "measurements", "initiatives"):
        t = raw[name]
        if t.present and "contract_id" in t.frame:
            wanted |= set(t.frame["contract_id"])
    missing = sorted((wanted - have - new_contracts) & set(portfolio.contracts["contract_id"]))
    if not missing:
        return ref, {}
    add_c = portfolio.contracts[portfolio.contracts["contract_id"].isin(missing)].reset_index(drop=True)
    add_k = portfolio.kpis[portfolio.kpis["contract_id"].isin(missing)].reset_index(drop=True)
    merged = dict(ref)
    merged["contracts"] = pd.concat([ref["contracts"], add_c], ignore_index=True) if ref.get("contracts") is not None \
        and len(ref["contracts"]) else add_c
    merged["kpis"] = pd.concat([ref["kpis"], add_k], ignore_index=True) if ref.get("kpis") is not None \
        and len(ref["kpis"]) else add_k
    add_c = add_c.assign(_source=portfolio.source)
    add_k = add_k.assign(_source=portfolio.source)
    return merged, {"contracts": add_c, "kpis": add_k}


def _store_records(name: str, frame: pd.DataFrame, batch_id: int, source: str) -> list[dict]:
    """Rows to insert: contract columns as plain values, plus batch id, source file and row."""
    rec = plain_records("history" if name == "measurements" else name, frame)
    rec = rec.reindex(columns=column_names(name))
    out = rec.astype(object).where(rec.notna(), None)
    out["batch_id"] = batch_id
    if "source" in frame:
        out["source"] = frame["source"].astype(object).where(frame["source"].notna(), source).to_numpy()
    elif "_source" in frame:
        out["source"] = frame["_source"].astype(object).to_numpy()
    else:
        out["source"] = source
    out["source_row"] = [int(r) for r in frame["row"]] if "row" in frame else None
    return out.to_dict("records")
