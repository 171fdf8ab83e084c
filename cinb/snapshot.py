"""A batch's snapshot of the validated portfolio: written once, read by every pack for its own contracts only.

``cinb batch`` loads and validates the portfolio once (:func:`cinb.load.load_portfolio`), writes it here with
:func:`write_snapshot` (one Parquet file per frame of the :class:`~cinb.load.Portfolio`, rows clustered by
``contract_id``, plus ``snapshot.json``), and passes the folder to each pack notebook as its ``snapshot``
parameter. The notebook's load cell then reads only what its pack needs (:func:`read_snapshot`): a contract pack
its contract's rows, a scorecard its supplier's contracts, the portfolio pack everything. So a pack's cost does
not grow with the size of the portfolio, and no kernel holds a copy of the whole portfolio.

What a pack reads is exactly what it would have computed from the source: ``read_snapshot(folder,
contract_id=c)`` equals ``load_portfolio(data).contract(c)`` frame for frame (same dtypes, row order, warnings,
row accounting and ``data_hash``, which is therefore the same in the pack's reproducibility stamp), and
``read_snapshot(folder)`` equals the whole portfolio, ``data_hash`` included. tests/test_snapshot.py checks this.

Parquet (through pyarrow) keeps pandas' dtypes (months as ``period[M]``, nullable integers and flags, dates);
text columns of ``object`` dtype (a problem's cell value) are stored as text and read back as ``object`` with
``None`` for an empty cell. Each file's row groups carry ``contract_id`` statistics, so a filtered read skips the
row groups of other contracts.

The folder lives in the month's staging folder (``<out>/<period>/.staging/``), which the batch removes when it
ends; on a Dask cluster the output folder, and so the snapshot, is on storage every worker reads.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UsageError
from .load import Portfolio

#: Version of the snapshot's layout; a reader refuses a snapshot of another version.
SNAPSHOT_VERSION = 1
#: The frames of a Portfolio, each written to ``<name>.parquet`` (every DataFrame field of the dataclass: a frame
#: added to :class:`~cinb.load.Portfolio` is carried without a change here); its other fields go to snapshot.json.
FRAMES = tuple(f.name for f in dataclasses.fields(Portfolio) if "DataFrame" in str(f.type))
#: Rows per Parquet row group: small enough that a contract's read skips most of a large portfolio's rows.
ROW_GROUP_ROWS = 2048
_POSITION = "__cinb_position"  # the row's place in the frame, so that a read restores the frame's own order
_META = "snapshot.json"


def write_snapshot(portfolio: Portfolio, folder: str | os.PathLike) -> Path:
    """Write ``portfolio`` to ``folder`` (created) as one Parquet file per frame plus ``snapshot.json``.

    Parameters
    ----------
    portfolio : Portfolio
        A loaded, validated portfolio.
    folder : path
        A new or empty folder (files of the same names are replaced).

    Returns
    -------
    Path
        ``folder``, to pass to :func:`read_snapshot` (and to the pack notebooks as ``snapshot``).

    Raises
    ------
    OSError
        When the folder cannot be written (disk full, no permission).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text_columns: dict[str, list[str]] = {}
    for name in FRAMES:
        frame = getattr(portfolio, name)
        columns = {}
        texts = []
        for col in frame.columns:
            s = frame[col]
            if s.dtype == object:
                texts.append(str(col))
                values = [None if _missing(v) else str(v) for v in s.tolist()]
                columns[col] = pa.array(values, type=pa.string())
        data = frame.assign(**{_POSITION: np.arange(len(frame), dtype="int64")})
        if "contract_id" in data and len(data) > 1:
            data = data.sort_values("contract_id", kind="stable")
        table = pa.Table.from_pandas(data.drop(columns=list(columns)), preserve_index=False)
        for col, array in columns.items():  # text kept as text, in the frame's column order
            array = array.take(pa.array(data[_POSITION].to_numpy()))
            table = table.add_column(list(data.columns).index(col), str(col), array)
        pq.write_table(table, folder / f"{name}.parquet", row_group_size=ROW_GROUP_ROWS, compression="zstd")
        text_columns[name] = texts
    fields = {f.name: getattr(portfolio, f.name) for f in dataclasses.fields(portfolio) if f.name not in FRAMES}
    meta = {"version": SNAPSHOT_VERSION, "fields": fields, "contracts": int(len(portfolio.contracts)),
            "text_columns": text_columns}
    (folder / _META).write_text(json.dumps(meta, indent=1, default=str), encoding="utf-8")
    return folder


def read_snapshot(folder: str | os.PathLike, *, contract_id: str | None = None,
                  supplier: str | None = None) -> Portfolio:
    """The portfolio of a snapshot, or the part of it one pack needs, read without the other contracts' rows.

    Parameters
    ----------
    folder : path
        A folder written by :func:`write_snapshot`.
    contract_id : str, optional
        Read this contract only: the result equals ``portfolio.contract(contract_id)``.
    supplier : str, optional
        Read this supplier's contracts only (name matched ignoring case): equals ``portfolio.supplier(name)``.
        Without either, the whole portfolio (its ``data_hash`` is the portfolio's).

    Returns
    -------
    Portfolio

    Raises
    ------
    UsageError
        The folder is not a snapshot (or one of another version), or no contract / supplier has that name (the
        message names close matches, as :meth:`cinb.load.Portfolio.contract` does).
    """
    folder = Path(folder)
    try:
        meta = json.loads((folder / _META).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"snapshot {folder}: cannot read {_META} ({getattr(exc, 'strerror', None) or exc}); "
                         "the snapshot is written by cinb batch for its packs and removed when the batch ends: "
                         "run the notebook with snapshot=None to load the data itself") from None
    if meta.get("version") != SNAPSHOT_VERSION:
        raise UsageError(f"snapshot {folder}: version {meta.get('version')!r}, this cinb reads version "
                         f"{SNAPSHOT_VERSION}; rerun the batch")
    texts = meta.get("text_columns", {})
    contracts = _read(folder, "contracts", None, texts)
    ids = None
    if contract_id is not None or supplier is not None:
        ids = _chosen(contracts, contract_id, supplier)
        if not ids:  # unknown: the loaded portfolio's own message, with close matches
            whole = Portfolio(contracts=contracts, **{n: _read(folder, n, [], texts) for n in FRAMES
                                                      if n != "contracts"}, **meta["fields"])
            whole.contract(contract_id) if contract_id is not None else whole.supplier(supplier)
    frames = {name: (contracts if name == "contracts" and ids is None else _read(folder, name, ids, texts))
              for name in FRAMES}
    portfolio = Portfolio(**frames, **meta["fields"])
    if contract_id is not None:
        return portfolio.contract(contract_id)
    if supplier is not None:
        return portfolio.supplier(supplier)
    return portfolio


def _chosen(contracts: pd.DataFrame, contract_id: str | None, supplier: str | None) -> list[str]:
    """The contract ids a pack reads, matched as :meth:`Portfolio.contract` and :meth:`Portfolio.supplier` do."""
    ids = contracts["contract_id"].astype(object)
    if contract_id is not None:
        return [contract_id] if (ids == contract_id).any() else []
    names = contracts["supplier"].astype(object)
    match = (names.str.strip().str.lower() == str(supplier).strip().lower()).to_numpy(dtype=bool)
    return [str(x) for x in ids[match]]


def _read(folder: Path, name: str, ids: list[str] | None, texts: dict[str, list[str]]) -> pd.DataFrame:
    """One frame of the snapshot: all its rows (``ids`` None) or those of the contracts ``ids``, in frame order."""
    import pyarrow.parquet as pq

    path = folder / f"{name}.parquet"
    try:
        schema = pq.read_schema(path)
        filters = [("contract_id", "in", ids)] if ids is not None and "contract_id" in schema.names else None
        if ids is not None and not ids and filters is not None:
            table = schema.empty_table()
        else:
            table = pq.read_table(path, filters=filters)
    except (OSError, ValueError) as exc:
        raise UsageError(f"snapshot {folder}: cannot read {path.name}: {exc}") from None
    frame = table.to_pandas()
    if len(frame) > 1:
        frame = frame.sort_values(_POSITION, kind="stable")
    frame = frame.drop(columns=[_POSITION]).reset_index(drop=True)
    for col in texts.get(name, []):
        if col in frame:
            s = frame[col].astype(object)
            frame[col] = s.where(s.notna(), None)
    return frame


def _missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and np.isnan(value)
