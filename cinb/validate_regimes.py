"""Validation of the version-2 data contract: KPI regimes, volumes, fractions, origins and process changes.

`cinb.validate` runs the version-1 checks of each table and calls the functions here for what version 2 adds;
they report into the same `cinb.problems.Collector` with the same conventions (file, sheet, row, column, value,
problem, fix; an error rejects its row). Everything is vectorised over whole columns: loops run only over the
rows that are wrong, or over the KPIs that have a gap, to word their messages.

Rules decided here (and documented in the data contract):

* ``kpis``: ``end_period`` before ``start_period`` is an error; either outside the contract term a warning (with
  the term); ``aggregation`` ``sum`` on a ``%`` KPI an error (a sum of percentages means nothing).
* Fractions: a ``%`` KPI whose given levels (sla, target, critical, baseline, ci_target) and measurement values
  all lie within 0–1 — at least one level and one value given, not all of them 0, none written with a ``%``
  sign — is one error on the KPI's row (column ``unit``): the data look like fractions of 1, not percentages.
  The KPI is rejected, and its measurements with it. Cells that cinb validated before (a store, a loaded
  portfolio being ingested: the rows carry ``_source``) are not judged again, as their ``%`` signs are not kept.
  A return whose KPI is defined only in the store is judged the same way, on its measurement rows.
* ``measurements``: ``volume`` 0 with a value is an error (volume 0 means nothing was measured); a value (or a
  volume above 0) recorded against a month that is not a due month of a quarterly or annual KPI, or before
  the KPI's ``start_period`` or after its ``end_period``, is an error. A row with neither (an empty month of
  a grid) is accepted without a warning.
* Warnings follow the regime (`measurement_warnings`): missing due months only, within the KPI's life span,
  from its first reported due month (``missing quarter: … for Jul–Sep 2026``); an empty value with volume 0 is
  *no activity* (no warning); late returns and missing months are judged on ``reported`` rows only.
* ``process_changes``: the month inside the contract term and the KPI's life span; ``baseline_months`` at
  least 2 (fewer points cannot give a moving range). Ids, the required reason and duplicate keys are checked by
  `cinb.validate` like every other table.
"""

from __future__ import annotations

import calendar

import numpy as np
import pandas as pd

from .cells import NAT_ORDINAL
from .formatting import plural
from .problems import PROBLEM_FRAME_COLUMNS, Collector
from .regimes import count_due, kpi_calendar, period_label
from .schema import RawTable, columns_by_name

__all__ = ["LEVELS", "FRACTION_FIX", "checked_before", "kpi_checks", "fraction_checks", "measurement_checks",
           "measurement_warnings", "process_change_checks"]

#: The levels of a KPI, in its unit, that the fraction check reads.
LEVELS = ("sla", "target", "critical", "baseline", "ci_target")
#: What to do about a % KPI written as fractions of 1.
FRACTION_FIX = ("multiply the levels and values by 100 (0.99 → 99), or use a unit other than %; if these really "
                "are percentages below 1, write them with a % sign (0.5%)")
_NOUN = {3: "quarter", 12: "year"}
_FREQUENCY = {1: "monthly", 3: "quarterly", 12: "annual"}


def checked_before(t: RawTable) -> bool:
    """True when the rows of ``t`` were validated by cinb before: read from a store, or a loaded portfolio being
    ingested (their frame carries ``_source``, which no reader of a user's file sets)."""
    return "_source" in t.frame.columns


def _ords(values) -> np.ndarray:
    """Month ordinals of a period array or Series (`NAT_ORDINAL` where missing)."""
    if values is None:
        return np.zeros(0, dtype=np.int64)
    arr = values.array if isinstance(values, pd.Series) else values
    return np.asarray(arr.asi8, dtype=np.int64)


def _col_ords(frame: pd.DataFrame, name: str) -> np.ndarray:
    """Month ordinals of the period column ``name`` of ``frame`` (all `NAT_ORDINAL` when it has none)."""
    if name not in frame:
        return np.full(len(frame), NAT_ORDINAL, dtype=np.int64)
    return _ords(frame[name].astype("period[M]"))


def _date_ords(dates: pd.Series) -> np.ndarray:
    """Month ordinals of a datetime Series (`NAT_ORDINAL` where missing)."""
    return _ords(dates.dt.to_period("M"))


def _term(row) -> str:
    return f"{row['contract_id']} runs from {row['start_date']:%Y-%m-%d} to {row['end_date']:%Y-%m-%d}"


def _month(o) -> str:
    return str(pd.Period(ordinal=int(o), freq="M"))


def _positions(index_frame: pd.DataFrame, cid, kid=None) -> np.ndarray:
    """Position of each (contract, KPI) — or contract — of the rows in ``index_frame`` (-1 when not there)."""
    n = len(cid)
    if not n or not len(index_frame):
        return np.full(n, -1)
    if kid is None:
        return pd.Index(index_frame["contract_id"].to_numpy(dtype=object)).get_indexer(cid)
    idx = pd.MultiIndex.from_arrays([index_frame["contract_id"].to_numpy(dtype=object),
                                     index_frame["kpi_id"].to_numpy(dtype=object)])
    return idx.get_indexer(pd.MultiIndex.from_arrays([cid, kid]))


def _outside_term(t: RawTable, c: Collector, column: str, ords, cpos, contracts: pd.DataFrame, *,
                  severity: str, before: str, after: str, fix: str):
    """Rows whose month ``ords`` lies outside their contract's term (``cpos`` = contract position, -1 unknown)."""
    ok = (cpos >= 0) & (ords != NAT_ORDINAL)
    if not ok.any():
        return
    safe = np.where(ok, cpos, 0)
    lo = _date_ords(contracts["start_date"])[safe]
    hi = _date_ords(contracts["end_date"])[safe]
    early, late = ok & (ords < lo), ok & (ords > hi)
    if not (early.any() or late.any()):
        return
    fixes = np.empty(len(ords), dtype=object)
    terms: dict[int, str] = {}
    for i in np.flatnonzero(early | late):
        j = int(safe[i])
        if j not in terms:
            terms[j] = fix.format(term=_term(contracts.iloc[j]))
        fixes[i] = terms[j]
    c.add(t, early, column, before, fixes, severity=severity)
    c.add(t, late, column, after, fixes, severity=severity)


# ---------------------------------------------------------------------------------------------------------
# kpis


def kpi_checks(t: RawTable, p: dict, c: Collector, contracts: pd.DataFrame) -> None:
    """Version-2 checks of the ``kpis`` rows: life span and aggregation.

    ``p`` holds the parsed columns of ``t`` (`cinb.validate`); ``contracts`` the accepted contracts the KPIs may
    belong to. Errors: ``end_period`` before ``start_period``; ``aggregation`` ``sum`` on a ``%`` KPI. Warning:
    ``start_period`` or ``end_period`` outside the contract term (the term is named in the fix).
    """
    n = len(t.frame)
    none = np.full(n, NAT_ORDINAL, dtype=np.int64)
    sp = _ords(p["start_period"]) if p.get("start_period") is not None else none
    ep = _ords(p["end_period"]) if p.get("end_period") is not None else none
    backwards = (sp != NAT_ORDINAL) & (ep != NAT_ORDINAL) & (ep < sp)
    if backwards.any():
        c.add(t, backwards, "end_period",
              np.array([f"is before start_period ({_month(s)}): the KPI would never be in force" if b else None
                        for s, b in zip(sp, backwards)], dtype=object),
              "check the KPI's start_period and end_period (the first and last months it is in force)")
    cpos = _positions(contracts, p["contract_id"])
    for col, o in (("start_period", sp), ("end_period", ep)):
        _outside_term(t, c, col, o, cpos, contracts, severity="warning",
                      before="is before the contract started", after="is after the contract ended",
                      fix="check the month: {term}; outside the term nothing is due")
    agg = p.get("aggregation")
    if agg is not None:
        summed = (agg == "sum") & (p["unit"] == "%")
        c.add(t, summed, "aggregation", "is sum but the KPI is in %: a sum of percentages is meaningless",
              "use volume_weighted (with volumes) or mean")


def _levels_text(row_levels) -> str:
    return ", ".join(f"{name} {v:g}" for name, v in zip(LEVELS, row_levels) if np.isfinite(v))


def _values_text(n, lo, hi) -> str:
    return f"its value ({lo:g})" if n == 1 or lo == hi else f"its {int(n)} values ({lo:g} to {hi:g})"


def fraction_checks(kt: RawTable, kp: dict, c: Collector, mt: RawTable, mp: dict, reference: dict) -> None:
    """Refuse ``%`` KPIs written as fractions of 1 (0.985 for 98.5 %): one error on the KPI's row.

    Parameters
    ----------
    kt, kp : RawTable, dict
        The ``kpis`` table and its parsed columns (``{}`` when the table cannot be used).
    c : Collector
        Where the errors go (a KPI row's error rejects it; its measurements then follow).
    mt, mp : RawTable, dict
        The ``measurements`` table and its parsed columns (values and which had a ``%`` sign).
    reference : dict
        Already-accepted ``kpis`` and ``history`` (a store): their values count towards a KPI's range, and a
        KPI defined only there is judged on this load's measurement rows (error on each value row).

    The rule is described in the module notes. Returns nothing; never raises for bad data.
    """
    ref_k = reference.get("kpis")
    rows = []  # (cid, kid, levels..., pct_any, from_load, row position)
    if kp and "unit" in kp and not checked_before(kt):
        n = len(kt.frame)
        lv = np.column_stack([kp[x] if kp.get(x) is not None else np.full(n, np.nan) for x in LEVELS]) \
            if n else np.zeros((0, len(LEVELS)))
        pct = np.column_stack([kp[x + "__pct"] if kp.get(x) is not None else np.zeros(n, dtype=bool)
                               for x in LEVELS]) if n else np.zeros((0, len(LEVELS)), dtype=bool)
        cand = _fraction_levels(lv, pct, kp["unit"]) & (kp["contract_id"] != "") & (kp["kpi_id"] != "")
        for i in np.flatnonzero(cand):
            rows.append((kp["contract_id"][i], kp["kpi_id"][i], lv[i], True, i))
    load_keys = {(r[0], r[1]) for r in rows}
    if ref_k is not None and len(ref_k) and mp and not checked_before(mt):
        lv = ref_k[list(LEVELS)].to_numpy(dtype=float)
        cand = _fraction_levels(lv, np.zeros(lv.shape, dtype=bool), ref_k["unit"].to_numpy(dtype=object))
        defined_here = set(zip(kp["contract_id"], kp["kpi_id"])) if kp and "contract_id" in kp else set()
        for i in np.flatnonzero(cand):
            key = (ref_k["contract_id"].iat[i], ref_k["kpi_id"].iat[i])
            if key not in defined_here and key not in load_keys:
                rows.append((key[0], key[1], lv[i], False, i))
    if not rows:
        return
    keys = pd.MultiIndex.from_tuples([(r[0], r[1]) for r in rows])
    stats = _value_stats(keys, mp, reference.get("history"))
    n_m = len(mt.frame)
    m_bad = np.zeros(n_m, dtype=bool)
    m_problem = np.empty(n_m, dtype=object)
    k_bad = np.zeros(len(kt.frame), dtype=bool)
    k_problem = np.empty(len(kt.frame), dtype=object)
    for (cid, kid, levels, from_load, i), (n, lo, hi, pct) in zip(rows, stats):
        if not n or pct or lo < 0 or hi > 1 or max(np.nanmax(np.abs(levels)), abs(lo), abs(hi)) == 0:
            continue
        text = (f"KPI {kid} is in % but its levels ({_levels_text(levels)}) and {_values_text(n, lo, hi)} all lie "
                "within 0–1: they look like fractions of 1, not percentages")
        if from_load:
            k_bad[i] = True
            k_problem[i] = text
        else:
            mine = ((mp["contract_id"] == cid) & (mp["kpi_id"] == kid) & np.isfinite(mp["value"]))
            m_bad |= mine
            m_problem[mine] = text + " (the KPI is defined in the store)"
    if k_bad.any():
        c.add(kt, k_bad, "unit", k_problem, FRACTION_FIX, value="%")
    if m_bad.any():
        c.add(mt, m_bad, "value", m_problem, FRACTION_FIX)


def _fraction_levels(lv: np.ndarray, pct: np.ndarray, unit) -> np.ndarray:
    """KPIs in % with at least one level given, every given level within 0–1 and none with a % sign."""
    given = np.isfinite(lv)
    inside = ~given | ((lv >= 0) & (lv <= 1))
    return (np.asarray(unit, dtype=object) == "%") & given.any(axis=1) & inside.all(axis=1) \
        & ~(pct & given).any(axis=1)


def _value_stats(keys: pd.MultiIndex, mp: dict, history) -> list[tuple]:
    """Per key of ``keys``: (number of values, lowest, highest, any with a % sign) from this load and the store."""
    parts = []
    if mp and mp.get("value") is not None:
        f = pd.DataFrame({"c": mp["contract_id"], "k": mp["kpi_id"], "v": mp["value"], "pct": mp["value__pct"]})
        parts.append(f[np.isfinite(f["v"].to_numpy()) & pd.MultiIndex.from_arrays([f["c"], f["k"]]).isin(keys)])
    if history is not None and len(history):
        h = history[~history["superseded"].to_numpy(dtype=bool)]
        f = pd.DataFrame({"c": h["contract_id"].to_numpy(dtype=object), "k": h["kpi_id"].to_numpy(dtype=object),
                          "v": h["value"].to_numpy(dtype=float), "pct": False})
        parts.append(f[np.isfinite(f["v"].to_numpy()) & pd.MultiIndex.from_arrays([f["c"], f["k"]]).isin(keys)])
    parts = [x for x in parts if len(x)]
    if not parts:
        return [(0, np.nan, np.nan, False)] * len(keys)
    g = pd.concat(parts, ignore_index=True).groupby(["c", "k"]).agg(n=("v", "size"), lo=("v", "min"),
                                                                    hi=("v", "max"), pct=("pct", "any"))
    g = g.reindex(keys)
    return [(0 if np.isnan(n) else int(n), lo, hi, bool(pct) if pct == pct else False)
            for n, lo, hi, pct in zip(g["n"], g["lo"], g["hi"], g["pct"])]


# ---------------------------------------------------------------------------------------------------------
# measurements


def _due_words(step: int, phase: int) -> str:
    """``quarter ends (Mar, Jun, Sep, Dec)`` or ``year ends (Mar)``: the months a KPI's values fall on."""
    months = [calendar.month_abbr[m + 1] for m in range(12) if (m - phase) % step == 0]
    return f"{_NOUN[step]} ends ({', '.join(months)})"


def measurement_checks(t: RawTable, p: dict, c: Collector, known_kpis: pd.DataFrame,
                       known_contracts: pd.DataFrame, pos: np.ndarray, history=None) -> dict[str, np.ndarray]:
    """Version-2 checks of the ``measurements`` rows: volumes, due months, the KPI's life span.

    Parameters
    ----------
    t, p : RawTable, dict
        The table and its parsed columns (`cinb.validate`).
    c : Collector
        Where the errors go.
    known_kpis, known_contracts : DataFrame
        The KPIs and contracts ids resolve to (this load's and the store's).
    pos : ndarray of int
        Each row's position in ``known_kpis`` (-1 when its KPI is unknown).
    history : DataFrame, optional
        The store's accepted measurements: their months count towards a KPI's due phase.

    Returns
    -------
    dict of str to ndarray
        The calendar of ``known_kpis`` (`cinb.regimes.kpi_calendar`), one value per KPI: ``step``, ``phase``,
        ``life_lo``, ``life_hi`` (float month ordinals, NaN when open). Errors: volume 0 with a value; a value
        (or a volume above 0) in a month that is not due, or outside the KPI's start_period..end_period.
    """
    n = len(t.frame)
    value = p["value"]
    volume = p["volume"] if p.get("volume") is not None else np.full(n, np.nan)
    with np.errstate(invalid="ignore"):
        busy = np.isfinite(value) & (volume == 0)
    c.add(t, busy, "volume", "is 0 but a value is given: volume 0 means nothing was measured, but a value is given",
          "leave the value empty for a month with no activity, or give the number of items the value was measured "
          "over")
    cal = _calendar(known_kpis, known_contracts, p, pos, history)
    per = _ords(p["period"])
    has = (pos >= 0) & (per != NAT_ORDINAL)
    if not has.any():
        return cal
    with np.errstate(invalid="ignore"):
        carries = np.isfinite(value) | (volume > 0)
    safe = np.where(has, pos, 0)
    step, phase = cal["step"][safe], cal["phase"][safe]
    off = has & carries & (step > 1) & (np.mod(per - phase, step) != 0)
    if off.any():
        problems = np.empty(n, dtype=object)
        fixes = np.empty(n, dtype=object)
        freq = np.array([_FREQUENCY.get(int(x), "") for x in cal["step"]], dtype=object)
        for i in np.flatnonzero(off):
            s, ph = int(step[i]), int(phase[i])
            due = int(per[i]) + (ph - int(per[i])) % s
            problems[i] = (f"is not a due month of {p['kpi_id'][i]}: this {freq[safe[i]]} KPI's values fall at "
                           f"{_due_words(s, ph)}")
            fixes[i] = (f"record a {_NOUN[s]}'s value against its last month (e.g. {_month(due)} for "
                        f"{period_label(_month(due), freq[safe[i]])}), or check the KPI's frequency")
        c.add(t, off, "period", problems, fixes)
    sp = _col_ords(known_kpis, "start_period")[safe]
    ep = _col_ords(known_kpis, "end_period")[safe]
    early = has & carries & (sp != NAT_ORDINAL) & (per < sp)
    late = has & carries & (ep != NAT_ORDINAL) & (per > ep)
    if early.any() or late.any():
        problems = np.empty(n, dtype=object)
        for i in np.flatnonzero(early | late):
            span = (f"in force from {_month(sp[i])}" if sp[i] != NAT_ORDINAL else "in force") + \
                   (f" to {_month(ep[i])}" if ep[i] != NAT_ORDINAL else "")
            if early[i]:
                problems[i] = f"is before {p['kpi_id'][i]}'s start_period {_month(sp[i])} (the KPI is {span})"
            else:
                problems[i] = f"is after {p['kpi_id'][i]}'s end_period {_month(ep[i])} (the KPI is {span})"
        c.add(t, early | late, "period", problems,
              "check the period, or the KPI's start_period/end_period in the kpis table")
    return cal


def _calendar(kpis: pd.DataFrame, contracts: pd.DataFrame, p: dict, pos: np.ndarray, history) -> dict:
    """`kpi_calendar` of ``kpis`` as arrays; the months of this load's rows (and the store's) set the phases."""
    if not len(kpis):
        return {"step": np.ones(0, dtype=np.int64), "phase": np.zeros(0, dtype=np.int64),
                "life_lo": np.zeros(0), "life_hi": np.zeros(0)}
    freq = kpis["frequency"].to_numpy(dtype=object) if "frequency" in kpis else np.full(len(kpis), None)
    multi = (freq == "quarterly") | (freq == "annual")
    m = None
    if multi.any():
        rows = np.flatnonzero((pos >= 0) & multi[np.where(pos >= 0, pos, 0)] & (_ords(p["period"]) != NAT_ORDINAL))
        parts = [pd.DataFrame({"contract_id": p["contract_id"][rows], "kpi_id": p["kpi_id"][rows],
                               "period": pd.Series(p["period"][rows], dtype="period[M]")})]
        if history is not None and len(history):
            h = history[~history["superseded"].to_numpy(dtype=bool)]
            parts.append(h[["contract_id", "kpi_id", "period"]].astype({"contract_id": object, "kpi_id": object}))
        m = pd.concat(parts, ignore_index=True)
    cal = kpi_calendar(kpis, contracts, m)
    return {"step": cal["step"].to_numpy(dtype=np.int64), "phase": cal["phase"].to_numpy(dtype=np.int64),
            "life_lo": cal["life_lo"].to_numpy(dtype=float), "life_hi": cal["life_hi"].to_numpy(dtype=float)}


def measurement_warnings(t: RawTable, c: Collector, history: pd.DataFrame, codes: tuple, kpos: np.ndarray,
                         cal: dict, kpis: pd.DataFrame, kpi_table: RawTable, *, late_after_days: int,
                         this_month: pd.Period, tried=frozenset()) -> None:
    """Missing due months, empty values, late first returns and KPIs never reported (warnings, nothing rejected).

    Parameters
    ----------
    t : RawTable
        The measurements table (source and sheet of the messages).
    c : Collector
        Where the warnings go.
    history : DataFrame
        Every accepted row, sorted by contract, KPI, month, origin and revision, with ``superseded``.
    codes : tuple of ndarray
        ``(contract code, KPI code, month ordinal, origin code (1 = derived), revision)`` of each history row.
    kpos : ndarray of int
        Each history row's KPI as a position in the calendar ``cal`` (`measurement_checks`).
    kpis, kpi_table : DataFrame, RawTable
        This load's accepted KPIs (the first ``len(kpis)`` positions of ``cal``) and their table, for "no
        measurements for this KPI".
    late_after_days : int
        A first reported return submitted more than this many days after its month ends is late.
    this_month : Period
        The current month: a KPI not in force yet is not reported as never measured.
    tried : set
        The (contract, KPI, month ordinal) of rejected rows: those months are not reported missing.
    """
    cc, kc, ho, org, _ = codes
    sup = history["superseded"].to_numpy(dtype=bool)
    reported = org == 0
    win = ~sup & reported
    if len(history):
        step, phase = cal["step"][kpos], cal["phase"][kpos]
        lo, hi = cal["life_lo"][kpos], cal["life_hi"][kpos]
        with np.errstate(invalid="ignore"):
            due = (np.mod(ho - phase, step) == 0) & ~(ho < lo) & ~(ho > hi)
    else:
        step = phase = np.zeros(0, dtype=np.int64)
        lo = hi = np.zeros(0)
        due = np.zeros(0, dtype=bool)

    def part(mask, column, values, problem, fix):
        frame = history[mask]
        c.parts.append(pd.DataFrame({
            "severity": "warning", "source": frame["source"].to_numpy(dtype=object), "sheet": t.sheet,
            "table": t.name, "row": frame["row"].to_numpy(), "column": column, "value": values,
            "problem": problem, "fix": fix, "contract_id": frame["contract_id"].to_numpy(dtype=object)}))

    value = history["value"].to_numpy(dtype=float)
    volume = history["volume"].to_numpy(dtype=float)
    empty = win & due & np.isnan(value) & ~(volume == 0)  # volume 0 and no value: no activity
    if empty.any():
        part(empty, "value", None, "not reported: the value is empty",
             "ask the supplier for the value, or explain the gap in the note")
    # Late first returns: the first row of each key (with its origin) in sorted order is its lowest revision.
    first = np.ones(len(history), dtype=bool)
    if len(history) > 1:
        first[1:] = ~((cc[1:] == cc[:-1]) & (kc[1:] == kc[:-1]) & (ho[1:] == ho[:-1]) & (org[1:] == org[:-1]))
    sub = history["submitted_on"].to_numpy(dtype="datetime64[us]")
    month_end = ((ho + 1).astype("datetime64[M]").astype("datetime64[D]") - np.timedelta64(1, "D"))
    lateness = (sub.astype("datetime64[D]") - month_end).astype("timedelta64[D]").astype(np.int64)
    late = first & reported & ~np.isnat(sub) & (lateness > late_after_days)
    if late.any():
        rows = history[late]
        part(late, "submitted_on", rows["submitted_on"].dt.strftime("%Y-%m-%d").to_numpy(dtype=object),
             [f"late return: submitted {plural(int(d), 'day')} after the month ended (more than {late_after_days})"
              for d in lateness[late]],
             "remind the supplier of the reporting deadline in the contract")
    _missing(t, c, history, cc, kc, ho, win, due, step, phase, hi, tried)
    _never_reported(c, history, win, cal, kpis, kpi_table, this_month)


def _missing(t, c, history, cc, kc, ho, win, due, step, phase, hi, tried) -> None:
    """Missing due months: from a KPI's first reported due month to its contract's last reported month."""
    if not win.any():
        return
    ck = cc.astype(np.int64) * (int(kc.max()) + 1) + kc
    g = pd.DataFrame({"ck": ck[win], "cc": cc[win], "o": ho[win]})
    last = g.groupby("cc")["o"].max()
    d = win & due
    if not d.any():
        return
    idx = np.flatnonzero(d)
    gd = pd.DataFrame({"ck": ck[idx], "cc": cc[idx], "o": ho[idx], "i": idx})
    per_kpi = gd.groupby("ck", sort=False).agg(cc=("cc", "first"), lo=("o", "min"), n=("o", "size"), i=("i", "first"))
    first_i = per_kpi["i"].to_numpy()
    top = last.reindex(per_kpi["cc"]).to_numpy(dtype=float)
    life_hi = hi[first_i]
    top = np.where(np.isnan(life_hi), top, np.fmin(top, life_hi))
    s, ph = step[first_i], phase[first_i]
    expected = count_due(per_kpi["lo"].to_numpy(), top, s, ph)
    gaps = np.flatnonzero(expected > per_kpi["n"].to_numpy())
    if not len(gaps):
        return
    ids = history[["contract_id", "kpi_id"]].to_numpy(dtype=object)
    have_by = gd[gd["ck"].isin(per_kpi.index[gaps])].groupby("ck")["o"].agg(set)
    recs = []
    for j in gaps:
        key = per_kpi.index[j]
        ci, ki = ids[first_i[j]]
        have = have_by[key]
        st = int(s[j])
        for o in range(int(per_kpi["lo"].iat[j]), int(top[j]) + 1, st):
            if o in have or (ci, ki, o) in tried:
                continue
            per = pd.Period(ordinal=o, freq="M")
            if st == 1:
                problem = f"missing month: no row for {ci} / {ki} in {per}"
            else:
                problem = f"missing {_NOUN[st]}: no row for {ci} / {ki} for {period_label(per, _FREQUENCY[st])}"
            recs.append({"severity": "warning", "source": t.source, "sheet": t.sheet, "table": t.name,
                         "row": None, "column": "period", "value": str(per), "problem": problem,
                         "fix": "ask the supplier for the return, or add a row with an empty value and a note "
                                "saying why", "contract_id": ci})
    if recs:
        c.parts.append(pd.DataFrame(recs, columns=PROBLEM_FRAME_COLUMNS))


def _never_reported(c, history, win, cal, kpis, kpi_table, this_month) -> None:
    """KPIs of this load with no reported row (not those whose life span starts after this month)."""
    if not len(kpis) or not kpi_table.present:
        return
    kidx = pd.MultiIndex.from_frame(kpis[["contract_id", "kpi_id"]].astype(object))

    def among(mask):
        if not mask.any():
            return np.zeros(len(kpis), dtype=bool)
        return kidx.isin(pd.MultiIndex.from_frame(history.loc[mask, ["contract_id", "kpi_id"]].astype(object)))

    reported, any_row = among(win), among(~history["superseded"].to_numpy(dtype=bool))
    with np.errstate(invalid="ignore"):
        started = ~(cal["life_lo"][:len(kpis)] > this_month.ordinal)
    never = ~reported & started
    if not never.any():
        return
    k = kpis[never]
    kf = kpi_table.frame
    row_of = dict(zip(zip(kf["contract_id"], kf["kpi_id"]), kf["_row"]))
    c.parts.append(pd.DataFrame({
        "severity": "warning", "source": kpi_table.source, "sheet": kpi_table.sheet, "table": "kpis",
        "row": [row_of.get((a, b)) for a, b in zip(k["contract_id"], k["kpi_id"])],
        "column": "kpi_id", "value": k["kpi_id"].to_numpy(dtype=object),
        "problem": np.where(any_row[never], "no reported measurements for this KPI (only derived ones)",
                            "no measurements for this KPI"),
        "fix": "ask the supplier to report it",
        "contract_id": k["contract_id"].to_numpy(dtype=object)}))


# ---------------------------------------------------------------------------------------------------------
# process_changes


def process_change_checks(t: RawTable, p: dict, c: Collector, known_contracts: pd.DataFrame,
                          known_kpis: pd.DataFrame, kpos: np.ndarray) -> None:
    """Checks of the ``process_changes`` rows beyond ids and duplicates: month and baseline length.

    ``p`` holds the parsed columns of ``t``; ``kpos`` each row's position in ``known_kpis`` (-1 when unknown).
    Errors: the month outside the contract term or the KPI's start_period..end_period; ``baseline_months`` 1
    (at least 2 points are needed for a moving range; values below the column's minimum are refused by
    `cinb.validate` already).
    """
    n = len(t.frame)
    per = _ords(p["period"])
    cpos = _positions(known_contracts, p["contract_id"])
    _outside_term(t, c, "period", per, cpos, known_contracts, severity="error",
                  before="is before the contract started", after="is after the contract ended",
                  fix="check the month the process changed: {term}")
    has = (kpos >= 0) & (per != NAT_ORDINAL)
    if has.any():
        safe = np.where(has, kpos, 0)
        sp = _col_ords(known_kpis, "start_period")[safe]
        ep = _col_ords(known_kpis, "end_period")[safe]
        early = has & (sp != NAT_ORDINAL) & (per < sp)
        late = has & (ep != NAT_ORDINAL) & (per > ep)
        problems = np.empty(n, dtype=object)
        for i in np.flatnonzero(early | late):
            problems[i] = (f"is before {p['kpi_id'][i]}'s start_period {_month(sp[i])}" if early[i]
                           else f"is after {p['kpi_id'][i]}'s end_period {_month(ep[i])}")
        c.add(t, early | late, "period", problems,
              "check the month, or the KPI's start_period/end_period in the kpis table")
    bm = p.get("baseline_months")
    if bm is not None:
        minimum = columns_by_name("process_changes")["baseline_months"].minimum
        with np.errstate(invalid="ignore"):
            short = (bm < 2) & ~(bm < (minimum if minimum is not None else -np.inf))
        c.add(t, short, "baseline_months", "is below 2: fewer than 2 points cannot give a moving range",
              "give at least 2 months (e.g. 12), or leave it empty to use every point after the change")
