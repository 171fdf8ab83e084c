"""One XmR chart per series of a long frame (e.g. every contract and KPI of a portfolio), summarised in one row each.

Re-exported by :mod:`cinb.spc`; the charts are :func:`cinb.spc_xmr.xmr`'s (NHS England "Making Data Count").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cinb.errors import UsageError
from cinb.spc_xmr import POINT_TYPES, xmr

__all__ = ["xmr_many"]


# --------------------------------------------------------------------------------------------------------------
# Many series
# --------------------------------------------------------------------------------------------------------------


def xmr_many(
    frame: pd.DataFrame,
    value_col: str,
    by,
    *,
    improvement: str = "increase",
    improvement_col: str | None = None,
    target_col: str | None = None,
    period_col: str | None = None,
    **options,
) -> pd.DataFrame:
    """Summarise one XmR chart per series of a long frame (e.g. per contract and KPI).

    Parameters
    ----------
    frame : DataFrame
        Long data, one row per series and period.
    value_col : str
        The values.
    by : str or list of str
        The columns that identify a series.
    improvement : str
        The direction for every series, unless ``improvement_col`` is given.
    improvement_col : str, optional
        A column holding each series' direction: ``increase``/``decrease``/``neutral``, or the data contract's
        ``higher``/``lower`` (taken from the series' first row).
    target_col : str, optional
        A column holding the target (first non-missing value of the series).
    period_col : str, optional
        Sort each series by this column; with monthly Periods, months with no row become gaps, so moving
        ranges and rules do not bridge them. Without it rows are taken in frame order and an absent month is
        invisible.
    **options
        Passed to :func:`xmr` (``rebase_at``, ``fix_after``, ``screen_outliers``, ``two_in_three``).

    Returns
    -------
    DataFrame
        One row per series: the ``by`` columns, ``n``, ``mean``, ``lpl``, ``upl`` (last group), ``variation``,
        ``assurance``, ``n_improvement``, ``n_concern``, ``n_neutral`` (special-cause points) and ``warnings``
        (joined with "; ").
    """
    keys = [by] if isinstance(by, str) else list(by)
    needed = [value_col, *keys, *(c for c in (improvement_col, target_col, period_col) if c)]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise UsageError(f"xmr_many: column(s) {missing} not in the frame; it has {list(frame.columns)}")
    aliases = {"higher": "increase", "lower": "decrease"}
    # One pass of pandas to lay every series out in one flat array, then numpy per series: a groupby loop
    # building Series and DataFrames per KPI cost ~8 ms a series; this costs well under 1 ms.
    f = frame.reset_index(drop=True)
    codes = f.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    values = pd.to_numeric(f[value_col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if period_col and isinstance(f[period_col].dtype, pd.PeriodDtype):
        ords = f[period_col].array.asi8.astype(np.int64)
        first = np.full(n_groups, np.iinfo(np.int64).max)
        last = np.full(n_groups, np.iinfo(np.int64).min)
        np.minimum.at(first, codes, ords)
        np.maximum.at(last, codes, ords)
        lengths = last - first + 1
        pos = ords - first[codes]
    else:
        if period_col:
            order = np.lexsort((f[period_col].to_numpy(), codes))
        else:
            order = np.argsort(codes, kind="stable")
        lengths = np.bincount(codes, minlength=n_groups)
        pos = np.empty(len(codes), dtype=np.int64)
        starts_sorted = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        pos[order] = np.arange(len(codes)) - starts_sorted[codes[order]]
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    flat = np.full(int(offsets[-1]), np.nan)
    flat[offsets[codes] + pos] = values
    first_rows = np.unique(codes, return_index=True)[1]  # codes are 0..n-1: row of each group's first record
    key_values = [f[k].to_numpy()[first_rows] for k in keys]
    imp_values = f[improvement_col].to_numpy()[first_rows] if improvement_col else None
    targets = None
    if target_col:
        targets = pd.to_numeric(f[target_col], errors="coerce").groupby(codes).first().reindex(range(n_groups))
    rows = []
    for g in range(n_groups):
        key = tuple(v[g] for v in key_values)
        imp = improvement
        if imp_values is not None:
            imp = aliases.get(imp_values[g], imp_values[g])
        tgt = None
        if targets is not None and not np.isnan(targets.iloc[g]):
            tgt = float(targets.iloc[g])
        x = flat[offsets[g]:offsets[g + 1]]
        r = xmr(x, improvement=imp, target=tgt, **options)
        types = r._point_columns["point_type"]
        rows.append(
            {
                **dict(zip(keys, key)),
                "n": int((~np.isnan(x)).sum()),
                "mean": r.mean, "lpl": r.lpl, "upl": r.upl,
                "variation": r.variation, "assurance": r.assurance,
                "n_improvement": int(sum(t == "special_cause_improvement" for t in types)),
                "n_concern": int(sum(t == "special_cause_concern" for t in types)),
                "n_neutral": int(sum(t in POINT_TYPES[3:] for t in types)),
                "warnings": "; ".join(r.warnings),
            }
        )
    columns = [*keys, "n", "mean", "lpl", "upl", "variation", "assurance", "n_improvement", "n_concern",
               "n_neutral", "warnings"]
    out = pd.DataFrame(rows, columns=columns)
    # object dtype keeps "no assurance" as None, as in XmrResult.points, on pandas 3 as on 2
    for c in ("variation", "assurance"):
        out[c] = pd.Series([row[c] for row in rows], dtype=object, index=out.index)
    return out

