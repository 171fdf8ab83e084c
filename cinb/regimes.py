"""KPI regimes: when a KPI's value is due, the months it is in force, and the status of a review month.

Version 2 of the data contract lets a KPI be reported monthly, quarterly or annually (``frequency``), be in
force only from ``start_period`` to ``end_period``, and a measurement say it covers no activity (``volume`` 0 and
no value) or is provisional (``complete`` false). Every analysis asks the same questions of a KPI, answered here
once:

* `step_of`: months between due values (1, 3 or 12);
* `due_phase`: which months are due (a value is recorded against the last month of the period it covers);
* `kpi_calendar`: per KPI, its frequency, step, phase and the first and last month it is in force (clipped to
  the contract term), as month ordinals — the vectorised form the validator and the window ratings use;
* `due_months`, `count_due`, `is_due`: the due months of a KPI between two months;
* `period_status`: the review month's status (`PERIOD_STATUSES`);
* `period_label`: a due period as a reader names it (``Oct 2026``, ``Jul–Sep 2026``, ``year to Mar 2026``).

Months are handled as ordinals (``pd.Period(..., "M").ordinal``: months since January 1970).

Which months are due. A quarterly KPI's quarters, and an annual KPI's years, are those its values already fall
on: the phase is the most common ``month mod 3`` (or ``mod 12``) of the KPI's recorded periods (on a tie, the
earliest row's). A KPI with no value yet counts its periods from its ``start_period`` when given (its first
quarter ends two months after it), else quarters end in March, June, September and December (calendar and UK
financial quarters alike) and years end in March (the UK financial year).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "PERIOD_STATUSES",
    "STATUS_LABEL",
    "step_of",
    "frequency_of",
    "due_phase",
    "kpi_calendar",
    "is_due",
    "due_months",
    "count_due",
    "period_status",
    "period_label",
    "life_span",
    "STATUS_WORD",
    "status_word",
]

#: The status of a KPI's review month (``period_status`` in pack.json), in the order summaries list them.
PERIOD_STATUSES = ("reported", "incomplete", "not_reported", "no_activity", "not_due", "not_started", "ended")

#: How each status is written for a reader (a status is never a colour).
STATUS_LABEL = {
    "reported": "reported",
    "incomplete": "provisional (period incomplete)",
    "not_reported": "not reported",
    "no_activity": "no activity",
    "not_due": "not due this month",
    "not_started": "not yet in force",
    "ended": "no longer in force",
}

_STEPS = {"monthly": 1, "quarterly": 3, "annual": 12}
#: Default phase (month ordinal mod step) with no data and no start_period: quarters and years ending in March.
_MARCH = pd.Period("1970-03", "M").ordinal  # 2


def _blank(v) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def frequency_of(value) -> str:
    """A KPI's frequency: ``value`` (``monthly``, ``quarterly`` or ``annual``), or ``monthly`` when empty."""
    return "monthly" if _blank(value) or value == "" else str(value)


def step_of(frequency) -> int:
    """Months between due values: 1 (monthly, or empty), 3 (quarterly), 12 (annual).

    Raises KeyError for a frequency outside the data contract (the validator refuses those first).
    """
    return _STEPS[frequency_of(frequency)]


def _ordinal(month) -> int | None:
    if _blank(month):
        return None
    if isinstance(month, (int, np.integer)):
        return int(month)
    return pd.Period(month, "M").ordinal


def due_phase(frequency, periods=(), start_period=None) -> int:
    """The phase (month ordinal mod step) of a KPI's due months.

    Parameters
    ----------
    frequency : str or None
        ``monthly``, ``quarterly``, ``annual`` (empty = monthly).
    periods : iterable of month-like
        The months the KPI's values are recorded against (any order; duplicates count as often as they occur).
    start_period : month-like, optional
        The KPI's first month in force.

    Returns
    -------
    int
        0 for monthly KPIs; else the most common residue of ``periods`` (tie: the earliest period's), else the
        residue of the month that ends the first period from ``start_period``, else March's.
    """
    step = step_of(frequency)
    if step == 1:
        return 0
    ords = [o for o in (_ordinal(p) for p in periods) if o is not None]
    if ords:
        res = np.mod(np.asarray(ords, dtype=np.int64), step)
        counts = np.bincount(res, minlength=step)
        best = np.flatnonzero(counts == counts.max())
        if len(best) == 1:
            return int(best[0])
        earliest = np.asarray(ords)[np.argsort(ords, kind="stable")]
        for o in earliest:
            if o % step in best:
                return int(o % step)
    start = _ordinal(start_period)
    if start is not None:
        return int((start + step - 1) % step)
    return int(_MARCH % step)


def life_span(kpi: dict, contract: dict | None = None) -> tuple[int | None, int | None]:
    """First and last month ordinals a KPI is in force: its ``start_period``/``end_period`` within the term.

    ``contract`` (its ``start_date`` and ``end_date``) clips the span; None leaves it open. Either end is None
    when nothing bounds it.
    """
    lo = _ordinal(kpi.get("start_period"))
    hi = _ordinal(kpi.get("end_period"))
    if contract is not None:
        c_lo = _ordinal(contract.get("start_date"))
        c_hi = _ordinal(contract.get("end_date"))
        lo = c_lo if lo is None else (lo if c_lo is None else max(lo, c_lo))
        hi = c_hi if hi is None else (hi if c_hi is None else min(hi, c_hi))
    return lo, hi


def kpi_calendar(kpis: pd.DataFrame, contracts: pd.DataFrame | None = None,
                 measurements: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per KPI: its frequency, step, due phase and life span (month ordinals), vectorised.

    Parameters
    ----------
    kpis : DataFrame
        ``contract_id, kpi_id`` and optionally ``frequency, start_period, end_period`` (version 2).
    contracts : DataFrame, optional
        ``contract_id, start_date, end_date``: the term clips each KPI's life span.
    measurements : DataFrame, optional
        ``contract_id, kpi_id, period``: the months values are recorded against (they set the phase).

    Returns
    -------
    DataFrame
        One row per KPI, same order and index as ``kpis``: ``contract_id, kpi_id, frequency, step, phase,
        life_lo, life_hi`` (``life_lo``/``life_hi`` as float ordinals, NaN when unbounded).
    """
    out = pd.DataFrame({"contract_id": kpis["contract_id"].to_numpy(dtype=object),
                        "kpi_id": kpis["kpi_id"].to_numpy(dtype=object)}, index=kpis.index)
    freq = kpis["frequency"] if "frequency" in kpis else pd.Series(None, index=kpis.index, dtype=object)
    out["frequency"] = [frequency_of(f) for f in freq]
    out["step"] = out["frequency"].map(_STEPS).astype(np.int64)

    def ords(col, frame=kpis):
        if col not in frame:
            return np.full(len(frame), np.nan)
        s = frame[col]
        if not isinstance(s.dtype, pd.PeriodDtype):
            s = pd.to_datetime(s, errors="coerce").dt.to_period("M") if len(s) else s.astype("period[M]")
        a = s.array.asi8.astype(float)
        a[np.asarray(s.isna())] = np.nan
        return a

    lo, hi = ords("start_period"), ords("end_period")
    if contracts is not None and len(contracts) and len(out):
        c = contracts.drop_duplicates("contract_id").set_index("contract_id")
        c_lo = pd.Series(ords("start_date", c), index=c.index).reindex(out["contract_id"]).to_numpy(dtype=float)
        c_hi = pd.Series(ords("end_date", c), index=c.index).reindex(out["contract_id"]).to_numpy(dtype=float)
        lo = np.where(np.isnan(lo), c_lo, np.where(np.isnan(c_lo), lo, np.fmax(lo, c_lo)))
        hi = np.where(np.isnan(hi), c_hi, np.where(np.isnan(c_hi), hi, np.fmin(hi, c_hi)))
    out["life_lo"], out["life_hi"] = lo, hi

    phase = np.zeros(len(out), dtype=np.int64)
    multi = (out["step"] > 1).to_numpy()
    if multi.any():
        recorded: dict[tuple, list] = {}
        if measurements is not None and len(measurements):
            m = measurements[["contract_id", "kpi_id", "period"]].dropna()
            wanted = set(zip(out.loc[multi, "contract_id"], out.loc[multi, "kpi_id"]))
            keep = pd.MultiIndex.from_frame(m[["contract_id", "kpi_id"]].astype(object)).isin(list(wanted))
            m = m[keep]
            # Each KPI's months in one sort (a groupby loop cost ~1 ms a KPI on a large portfolio).
            codes, pairs = pd.factorize(pd.MultiIndex.from_frame(m[["contract_id", "kpi_id"]].astype(object)))
            order = np.argsort(codes, kind="stable")
            months = m["period"].array.asi8[order]
            bounds = np.searchsorted(codes[order], np.arange(len(pairs) + 1))
            for j, key in enumerate(pairs):
                recorded[key] = list(months[bounds[j]:bounds[j + 1]])
        starts = kpis["start_period"] if "start_period" in kpis else pd.Series(None, index=kpis.index)
        for i in np.flatnonzero(multi):
            key = (out["contract_id"].iat[i], out["kpi_id"].iat[i])
            phase[i] = due_phase(out["frequency"].iat[i], recorded.get(key, ()), starts.iat[i])
    out["phase"] = phase
    return out


def is_due(ordinals, step, phase) -> np.ndarray:
    """Whether each month ordinal is a due month for a KPI of this step and phase (arrays broadcast)."""
    return np.mod(np.asarray(ordinals, dtype=np.int64) - np.asarray(phase, dtype=np.int64),
                  np.asarray(step, dtype=np.int64)) == 0


def count_due(first, last, step, phase, life_lo=np.nan, life_hi=np.nan) -> np.ndarray:
    """How many due months lie in ``first``..``last`` (ordinals, inclusive) within the life span; arrays broadcast.

    Closed form: the integers ≡ phase (mod step) in [a, b] number
    ⌊(b − phase)/step⌋ − ⌊(a − 1 − phase)/step⌋.
    """
    a = np.asarray(first, dtype=float)
    b = np.asarray(last, dtype=float)
    lo = np.asarray(life_lo, dtype=float)
    hi = np.asarray(life_hi, dtype=float)
    a = np.where(np.isnan(lo), a, np.fmax(a, lo))
    b = np.where(np.isnan(hi), b, np.fmin(b, hi))
    step = np.asarray(step, dtype=float)
    phase = np.asarray(phase, dtype=float)
    n = np.floor((b - phase) / step) - np.floor((a - 1 - phase) / step)
    return np.where(b >= a, n, 0).astype(np.int64)


def due_months(first, last, *, frequency=None, phase: int = 0, life: tuple = (None, None)) -> pd.PeriodIndex:
    """The due months from ``first`` to ``last`` (month-likes, inclusive) within ``life`` (ordinals or None).

    Examples
    --------
    >>> [str(p) for p in due_months("2026-01", "2026-12", frequency="quarterly", phase=2)]
    ['2026-03', '2026-06', '2026-09', '2026-12']
    """
    a, b = _ordinal(first), _ordinal(last)
    lo, hi = life
    if lo is not None and not _blank(lo):
        a = max(a, int(lo))
    if hi is not None and not _blank(hi):
        b = min(b, int(hi))
    step = step_of(frequency)
    ords = [o for o in range(a, b + 1) if (o - phase) % step == 0] if b >= a else []
    return pd.PeriodIndex([pd.Period(ordinal=o, freq="M") for o in ords], freq="M")


def period_status(period, *, frequency=None, phase: int = 0, life: tuple = (None, None),
                  row: dict[str, Any] | None = None) -> str:
    """The status of one KPI's month (one of `PERIOD_STATUSES`).

    Parameters
    ----------
    period : month-like
        The month.
    frequency, phase, life
        The KPI's frequency, due phase and life span as ordinals (`kpi_calendar`).
    row : dict, optional
        The KPI's winning measurement for the month (``value``, ``volume``, ``complete``); None: no row.

    Returns
    -------
    str
        ``not_started`` / ``ended`` outside the life span, ``not_due`` between due months, then from the row:
        ``no_activity`` (empty value, volume 0), ``not_reported`` (no row or an empty value), ``incomplete``
        (``complete`` false), else ``reported``.
    """
    o = _ordinal(period)
    lo, hi = life
    if lo is not None and not _blank(lo) and o < int(lo):
        return "not_started"
    if hi is not None and not _blank(hi) and o > int(hi):
        return "ended"
    if (o - phase) % step_of(frequency) != 0:
        return "not_due"
    if row is None:
        return "not_reported"
    value, volume = row.get("value"), row.get("volume")
    if _blank(value):
        return "no_activity" if not _blank(volume) and float(volume) == 0 else "not_reported"
    complete = row.get("complete")
    if not _blank(complete) and not bool(complete):
        return "incomplete"
    return "reported"


def period_label(period, frequency=None) -> str:
    """A due period as a reader names it: ``Oct 2026``, ``Jul–Sep 2026`` (quarterly), ``year to Mar 2026``.

    ``period`` is the month the value is recorded against (the period's last month).

    Examples
    --------
    >>> period_label("2026-09", "quarterly")
    'Jul–Sep 2026'
    >>> period_label("2026-03", "annual")
    'year to Mar 2026'
    """
    p = pd.Period(period, "M")
    step = step_of(frequency)
    if step == 1:
        return p.strftime("%b %Y")
    if step == 3:
        first = p - 2
        if first.year == p.year:
            return f"{first.strftime('%b')}–{p.strftime('%b %Y')}"
        return f"{first.strftime('%b %Y')}–{p.strftime('%b %Y')}"
    return f"year to {p.strftime('%b %Y')}"


#: A status other than ``reported`` as a scorecard cell or a count in a summary ("2 Not due").
STATUS_WORD = {
    "incomplete": "Provisional",
    "not_reported": "Not reported",
    "no_activity": "No activity",
    "not_due": "Not due",
    "not_started": "Not yet in force",
    "ended": "No longer in force",
}


def status_word(window_row: dict) -> str:
    """The review month's result for a reader: its rating when ``reported``, else the status (`STATUS_WORD`).

    ``window_row`` is a KPI's row of :func:`cinb.ratings.window_ratings` (``period_status``,
    ``period_rating``). A value from an earlier period is never returned as this period's rating.
    """
    status = window_row.get("period_status") or "not_reported"
    if status == "reported":
        return window_row.get("period_rating") or "Other"
    return STATUS_WORD.get(status, status)
