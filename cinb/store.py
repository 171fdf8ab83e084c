"""Append-only store of validated returns (SQLite by default, PostgreSQL by URL): every data version kept.

A store is a database holding the portfolio tables (`cinb.schema.TABLE_ORDER`) plus, on every row, the
``batch_id`` of the ingest that added it and the ``source`` file and ``source_row`` it came from, and a
``cinb_batches`` table (one row per ingest: id, UTC timestamp, source, data hash, row counts). Rows are only ever
inserted: triggers refuse UPDATE and DELETE, so history cannot be rewritten through cinb or by accident. A
store made by an earlier cinb gains the tables and columns the data contract has added since, empty, at its
next ingest.

Reading a store (``load_portfolio("sqlite:///store.db", as_of=...)``) rebuilds the portfolio as it was after a
batch: for contracts, KPIs, initiatives and process changes the latest row of each key wins; measurements keep
every revision, and the highest revision of each month (per origin, reported or derived) wins as in any other
source.

An ingest validates the new rows against what the store already holds (unknown ids, duplicate revisions)
and appends them in one transaction: a return with any error is rejected whole and nothing is written.

Reading a store is a source like any other database, so it lives with them (`cinb.sources_sql`:
``BATCHES``, ``read_store_tables``, both importable from here too); this module writes and lists batches.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import PROBLEM_COLUMNS, DataError, UsageError
from .schema import TABLE_ORDER, TABLES, RawTable, column_names
from .sources import engine_for, is_url, library_warnings, raw_from_records, safe_url
from .sources_sql import BATCHES, read_store_tables
from .writers import plain_records

#: Where ``cinb ingest`` appends when no ``--into`` is given (relative to the working directory).
DEFAULT_STORE = Path("reports") / "store.sqlite"


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
        ``initiatives``, ``process_changes``).
    accounting, warnings : DataFrame
        The validator's row accounting and the warnings (which did not stop the ingest).
    data_hash : str
        sha256 of the data appended (`cinb.load.data_hash`).
    """

    batch_id: int
    ingested_at: str
    store: str
    appended: dict
    accounting: pd.DataFrame
    warnings: pd.DataFrame
    data_hash: str


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


def _raw_from_frame(name: str, frame: pd.DataFrame, source: str) -> RawTable:
    """RawTable from a typed frame (an already loaded portfolio being ingested)."""
    rec = plain_records(name, frame)
    raw = raw_from_records(name, list(rec.columns), list(rec.itertuples(index=False, name=None)), source, None,
                           row_numbers=list(frame["row"]) if "row" in frame else None)
    if "source" in frame:
        raw.frame["_source"] = frame["source"].astype(object).fillna(source).to_numpy()
    return raw


def _new_tables(data, today) -> tuple[dict[str, RawTable], str]:
    """The raw tables of what is being ingested; tables the source does not have are simply absent."""
    from .load import Portfolio, read_raw
    from .template import is_return, read_return_table

    if isinstance(data, Portfolio):
        raw = {name: _raw_from_frame(name, getattr(data, "history" if name == "measurements" else name),
                                     data.source) for name in TABLE_ORDER}
        return raw, data.source
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
        return raw, str(path)
    raw, label = read_raw(data)
    for t in raw.values():
        if not t.present:
            # A monthly return is usually measurements only: a missing table means "nothing new".
            t.problems = [p for p in t.problems if p.get("row") is not None]
    return raw, label


def _reference(conn, label, today) -> dict[str, pd.DataFrame]:
    """The store's current typed contracts, KPIs and history (both origins), to validate new rows against."""
    from .validate import validate

    import sqlalchemy as sa

    if BATCHES not in sa.inspect(conn).get_table_names():
        return {}
    v = validate(read_store_tables(conn, label), today=today)
    return {"contracts": v.contracts, "kpis": v.kpis, "history": v.history}


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

    Raises
    ------
    DataError
        The new data has errors (every problem listed); the store is unchanged.
    UsageError
        The store cannot be opened or is not a cinb store, there is nothing to ingest, or derived measurements
        are ingested into a store made before version 2 whose key has no origin.
    """
    import sqlalchemy as sa

    from . import __version__
    from .load import data_hash, load_portfolio
    from .validate import validate

    url = store_url(store)
    label = safe_url(url)
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    raw, source = _new_tables(data, today)
    if not any(t.present and len(t.frame) for t in raw.values()):
        raise UsageError(f"nothing to ingest in {source}: no rows in any of {', '.join(TABLE_ORDER)}")
    engine = engine_for(url)
    try:
        with engine.begin() as conn:
            ensure_store(conn)
            ref = _reference(conn, label, today)
            extra_defs = {}
            if reference is not None:
                ref, extra_defs = _with_reference(ref, load_portfolio(reference, today=today), raw)
            v = validate(raw, today=today, reference=ref)
            _refuse_repeat(v, ref, source, label)
            if len(v.problems):
                raise DataError(v.problems[PROBLEM_COLUMNS], summary=_rejected_summary(source, label, v),
                                accounting=v.accounting, warnings=v.warnings)
            now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
            frames = {"contracts": v.contracts, "kpis": v.kpis, "measurements": v.history,
                      "initiatives": v.initiatives, "process_changes": v.process_changes}
            for name, defs in extra_defs.items():
                frames[name] = pd.concat([frames[name], defs], ignore_index=True) if len(frames[name]) else defs
            counts = {name: len(frames[name]) for name in TABLE_ORDER}
            h = data_hash({"contracts": frames["contracts"], "kpis": frames["kpis"], "history": v.history,
                           "initiatives": frames["initiatives"], "process_changes": frames["process_changes"]})
            _refuse_derived_in_old_store(conn, v.history, label)
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
    return IngestResult(batch_id, now, label, counts, v.accounting, v.warnings, h)


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


def _refuse_repeat(v, ref: dict, source, label) -> None:
    """Refuse a return that only repeats what the store already says (an accidental second ingest)."""
    stored = ref.get("history") if ref else None
    if stored is None or not len(stored) or not len(v.history) or len(v.problems):
        return
    if len(v.contracts) or len(v.kpis) or len(v.initiatives) or len(v.process_changes):
        return
    keys = ["contract_id", "kpi_id", "period", "_origin"]
    stored = stored.assign(_origin=stored["origin"].fillna("reported").astype(object))
    win = stored[~stored["superseded"]].set_index(keys)
    new = v.history.assign(_origin=v.history["origin"].fillna("reported").astype(object)).set_index(keys)
    if not new.index.isin(win.index).all():
        return
    old = win.reindex(new.index)
    same_value = (old["value"].to_numpy() == new["value"].to_numpy()) | (old["value"].isna().to_numpy()
                                                                         & new["value"].isna().to_numpy())
    same_note = old["note"].fillna("").to_numpy(dtype=object) == new["note"].fillna("").to_numpy(dtype=object)
    same_rest = np.ones(len(new), dtype=bool)
    for col in ("volume", "complete"):  # version 2: a return may restate only the volume or the provisional flag
        a, b = old[col].astype(object), new[col].astype(object)
        same_rest &= ((a == b).fillna(False) | (a.isna() & b.isna())).to_numpy(dtype=bool)
    if (same_value & same_note & same_rest).all():
        raise UsageError(f"{source} repeats values already in {label} (same value and note for every row); "
                         "nothing was appended. To restate a value, change it and ingest again.")


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
