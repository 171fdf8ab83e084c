"""Reading a database: the portfolio's tables behind a SQLAlchemy URL, or a cinb store as of a batch.

* Tables (``contracts``, ``kpis``, ``measurements``, ``initiatives`` and the version-2 ``process_changes``,
  ``credit_bands``, ``critical_failure_rules``; names matched ignoring case; all but the first three optional)
  are read whole; row numbers count the rows as returned with the header as row 1, as if the table were exported to a
  spreadsheet.
* A SQLite URL must name an existing file: reading never creates one.
* A database holding a ``cinb_batches`` table is a cinb store (written by `cinb.store.ingest`): it is read as
  the portfolio was after a batch (``as_of``), each row reported at the file and row it was ingested from.

See `cinb.load` for the rules every source shares.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .errors import UsageError
from .schema import KEYS, TABLE_ORDER, RawTable
from .sources import (
    absent_table,
    engine_for,
    library_warnings,
    missing_table_problem,
    raw_from_records,
    safe_url,
    short_path,
    warning_problems,
)

#: The table of ingest batches that marks a database as a cinb store (one row per ingest).
BATCHES = "cinb_batches"
#: Columns a store adds to every row of the portfolio tables (not contract columns).
STORE_ROW_COLUMNS = ("batch_id", "source", "source_row")


def read_sql(url: str, as_of=None) -> tuple[dict[str, RawTable], str]:
    """Read the portfolio's tables behind ``url`` (or a store's version as of ``as_of``).

    Parameters
    ----------
    url : str
        A SQLAlchemy URL (``sqlite:///path.db``, ``postgresql://user@host/db``).
    as_of : int or str, optional
        For a cinb store only: the last batch id to include, or an ISO timestamp (the last batch at or
        before it).

    Returns
    -------
    (dict of str to RawTable, str)
        The tables of `cinb.schema.TABLE_ORDER` (a missing one with ``present=False`` and a problem) and the
        source label: the URL without its password.

    Raises
    ------
    UsageError
        The URL cannot be used, the SQLite file does not exist, the database cannot be read, or ``as_of``
        is given for a database that is not a store (or names no batch of it).

    Warnings SQLAlchemy raises (e.g. a column type it does not know) never reach the terminal: those that may
    concern the values read are warnings on ``contracts``.
    """
    with library_warnings() as caught:
        tables, label = _read_sql(url, as_of)
    tables["contracts"].problems.extend(warning_problems(caught))
    return tables, label


def _read_sql(url: str, as_of=None) -> tuple[dict[str, RawTable], str]:
    """`read_sql` without the warnings' capture."""
    import sqlalchemy as sa

    label = safe_url(url)
    engine = engine_for(url)
    try:
        _require_sqlite_file(url, label)
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
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
                    tables[name] = absent_table(name, label, None, missing_table_problem(name, label, names, "table"))
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
        raise UsageError(f"cannot open {short_path(label)}: {getattr(exc, 'strerror', None) or exc}") from None
    if not exists:
        raise UsageError(f"no such database file: {short_path(db)} (from {short_path(label)}); check the path — "
                         "a relative path follows three slashes (sqlite:///data/store.db), an absolute one four "
                         "(sqlite:////srv/cinb/store.db)")


# ---------------------------------------------------------------------------------------------------------
# A cinb store


def resolve_as_of(conn, label: str, as_of) -> int | None:
    """The last batch id of an evidence store to include for ``as_of``.

    ``conn`` is an open SQLAlchemy connection to the store, ``label`` its name for messages; ``as_of`` is None
    (every batch: returns None), a batch id (``3`` or ``"3"``) or an ISO timestamp (naive: UTC), meaning the last
    batch ingested at or before it. Raises UsageError naming the store when the id is not one of its batches,
    the text is neither, or the time is before the first batch.
    """
    import sqlalchemy as sa

    rows = conn.execute(sa.text(f"SELECT batch_id, ingested_at FROM {BATCHES} ORDER BY batch_id")).fetchall()
    if as_of is None:
        return None
    ids = [r[0] for r in rows]
    text = str(as_of).strip()
    if text.isdigit():
        bid = int(text)
        if bid not in ids:
            raise UsageError(f"{label} has no batch {bid}; its batches are "
                             f"{_ranges(ids) if ids else 'none (the store is empty)'}")
        return bid
    try:
        when = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise UsageError(f"as_of must be a batch id (e.g. 3) or an ISO timestamp (e.g. 2026-11-01T12:00), "
                         f"not {as_of!r}") from None
    when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
    before = [r[0] for r in rows if pd.Timestamp(r[1]) <= when]
    if not before:
        first = rows[0][1] if rows else None
        raise UsageError(f"{label} had no data at {when.isoformat()}" +
                         (f"; its first batch is from {first}" if first else " (the store is empty)"))
    return max(before)


def _ranges(ids: list[int]) -> str:
    """``"1 to 7"`` for several batch ids, ``"3"`` for one."""
    return f"{min(ids)} to {max(ids)}" if len(ids) > 1 else str(ids[0])


def read_store_tables(conn, label: str, as_of=None) -> dict[str, RawTable]:
    """The store's rows as RawTables as of a batch (latest definition of each key; every measurement).

    Parameters
    ----------
    conn : sqlalchemy.engine.Connection
        An open connection to a cinb store.
    label : str
        The store's URL without its password, for messages and as the source of rows without one.
    as_of : int or str, optional
        The last batch id to include, or an ISO timestamp (the last batch at or before it); default all.

    Returns
    -------
    dict of str to RawTable
        One per table of `cinb.schema.TABLE_ORDER`, with ``_source`` (the file each row was ingested from)
        and ``_row`` (its row in that file). A table a store made by an earlier cinb lacks (a version-2 table)
        is absent (``present=False``), without a problem.

    Raises
    ------
    UsageError
        ``as_of`` names no batch of the store, is not a batch id or timestamp, or is before the first batch.
    """
    import sqlalchemy as sa

    last = resolve_as_of(conn, label, as_of)
    inspector = sa.inspect(conn)
    have = {n.lower() for n in inspector.get_table_names()}
    tables = {}
    for name in TABLE_ORDER:
        if name not in have:  # a store made before the table existed: it holds no such rows
            tables[name] = absent_table(name, label, None, None)
            continue
        # The columns only (reflecting the whole table would also reflect its indexes, which says nothing here).
        table = sa.table(name, *(sa.column(c["name"]) for c in inspector.get_columns(name)))
        query = sa.select(table).order_by(table.c.batch_id)
        if last is not None:
            query = query.where(table.c.batch_id <= last)
        frame = pd.DataFrame(conn.execute(query).fetchall(), columns=[c.name for c in table.columns])
        if name != "measurements" and len(frame):
            frame = frame.drop_duplicates(list(KEYS[name]), keep="last")
        contract_cols = [c for c in frame.columns if c not in STORE_ROW_COLUMNS]
        records = list(frame[contract_cols].itertuples(index=False, name=None))
        rows = [int(r) if pd.notna(r) else 0 for r in frame["source_row"]]
        raw = raw_from_records(name, contract_cols, records, label, None, row_numbers=rows)
        raw.frame["_source"] = [str(s) if s is not None else label for s in frame["source"]]
        tables[name] = raw
    return tables
