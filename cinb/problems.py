"""Located problems: the frame every check reports into, one row per problem with where it is and what to do.

A problem has the columns of `cinb.errors.PROBLEM_COLUMNS` (severity, source, sheet, table, row, column,
value, problem, fix) plus ``contract_id``, so that a per-contract view of a portfolio can filter them.
`Collector` gathers them while `cinb.validate` checks the tables and marks the rows an error rejects.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import PROBLEM_COLUMNS
from .schema import TABLE_ORDER, RawTable

#: Problems frames carry the contract a row belongs to, so a per-contract view can filter them.
PROBLEM_FRAME_COLUMNS = PROBLEM_COLUMNS + ["contract_id"]


def empty_problems() -> pd.DataFrame:
    """An empty problems frame: the columns of `PROBLEM_FRAME_COLUMNS`, all of object dtype, no rows."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in PROBLEM_FRAME_COLUMNS})


def _arr(x, idx):
    """``x[idx]`` as objects for a Series or array; anything else (one value for every row) as is."""
    if isinstance(x, pd.Series):
        return x.to_numpy(dtype=object)[idx]
    if isinstance(x, np.ndarray):
        return x.astype(object)[idx]
    return x


def _shown(v):
    """A value as shown in a message: None when empty, long text cut (a 5 MB cell must not flood the screen)."""
    if v is None or (isinstance(v, str) and v == ""):
        return None
    if isinstance(v, str) and len(v) > _SHOWN_MAX:
        return v[:_SHOWN_MAX] + f"… ({len(v):,} characters)"
    return v


_SHOWN_MAX = 120


class Collector:
    """Gathers problems from every check as small frames; marks the rows that an error rejects.

    Attributes
    ----------
    parts : list of DataFrame
        The problems added so far, in `PROBLEM_FRAME_COLUMNS` (checks may append frames directly).
    rejected : dict of str to ndarray of bool
        Per table, one flag per row of its RawTable frame: True once an error was added for the row.
    """

    def __init__(self, raw: dict[str, RawTable]):
        """Start with no problems and no rejected row for the tables of ``raw`` ({name: RawTable})."""
        self.parts: list[pd.DataFrame] = []
        self.rejected = {name: np.zeros(len(t.frame), dtype=bool) for name, t in raw.items()}

    def add(self, t: RawTable, mask, column, problem, fix, *, severity="error", value=None):
        """Add one problem per row of ``t`` where ``mask`` is True; an error also rejects those rows.

        Parameters
        ----------
        t : RawTable
            The table the rows are in (source, sheet, per-row ``_row``, ``_source`` and ``contract_id``).
        mask : array-like of bool
            One flag per row of ``t.frame``.
        column : str
            The column the problem is in.
        problem, fix : str or array-like of str
            What is wrong and what to do: one text for every row, or one per row of ``t.frame``.
        severity : str
            ``error`` (the row is rejected) or ``warning``.
        value : str or array-like, optional
            The value shown (one per row of ``t.frame``); default the cell of ``column``. Long text is cut.
        """
        mask = np.asarray(mask, dtype=bool)
        idx = np.flatnonzero(mask)
        if not len(idx):
            return
        f = t.frame
        if value is None:
            vals = f[column].to_numpy(dtype=object)[idx] if column in f else None
        else:
            vals = _arr(value, idx)
        if isinstance(vals, np.ndarray):
            vals = np.array([_shown(v) for v in vals], dtype=object)
        elif isinstance(vals, str):
            vals = _shown(vals)
        part = pd.DataFrame(
            {
                "severity": severity,
                "source": f["_source"].to_numpy(dtype=object)[idx] if "_source" in f else t.source,
                "sheet": t.sheet,
                "table": t.name,
                "row": f["_row"].to_numpy()[idx],
                "column": column,
                "value": vals,
                "problem": _arr(problem, idx),
                "fix": _arr(fix, idx),
                "contract_id": f["contract_id"].to_numpy(dtype=object)[idx] if "contract_id" in f else None,
            },
            index=range(len(idx)),
        )
        self.parts.append(part)
        if severity == "error":
            self.rejected[t.name] |= mask

    def add_record(self, record: dict, t: RawTable | None = None):
        """Add one problem given as a dict of problem columns (missing ones None, severity ``error``).

        ``t``, when given, fills in the source, sheet and table the record leaves empty. Rejects no row.
        """
        rec = {c: record.get(c) for c in PROBLEM_FRAME_COLUMNS}
        rec["value"] = _shown(rec["value"])
        rec["severity"] = record.get("severity", "error")
        if t is not None:
            rec["source"] = rec["source"] or t.source
            rec["sheet"] = rec["sheet"] or t.sheet
            rec["table"] = rec["table"] or t.name
        self.parts.append(pd.DataFrame([rec], columns=PROBLEM_FRAME_COLUMNS))

    def frame(self) -> pd.DataFrame:
        """Every problem in `PROBLEM_FRAME_COLUMNS`, sorted by severity, table, source and row.

        ``row`` is a nullable Int64 column; an empty frame (`empty_problems`) when there is none.
        """
        parts = [p for p in self.parts if len(p)]
        if not parts:
            return empty_problems()
        out = pd.concat(parts, ignore_index=True)
        order = {name: i for i, name in enumerate(TABLE_ORDER)}
        out["_t"] = out["table"].map(order).fillna(len(order))
        out["_r"] = pd.to_numeric(out["row"], errors="coerce").fillna(0)
        out = out.sort_values(["severity", "_t", "source", "_r"], kind="stable", key=None)
        out = out.drop(columns=["_t", "_r"]).reset_index(drop=True)
        out["row"] = pd.array(pd.to_numeric(out["row"], errors="coerce"), dtype="Int64")
        return out[PROBLEM_FRAME_COLUMNS]
