"""Validation of the credit schedules of data contract version 2: banded KPIs, their bands, critical-failure rules.

`cinb.validate` resolves the ids of ``credit_bands`` and ``critical_failure_rules`` rows (unknown contract or KPI,
with "did you mean") and rejects duplicate rules; the checks of what the rows say are here. They report into the
same `cinb.problems.Collector` with the same conventions (file, sheet, row, column, value, problem, fix; an error
rejects its row, a warning never does). Loops run only over the rows that are wrong, or over one KPI's bands.

Rules decided here (and documented in the data contract, docs/data-contract.md):

* ``kpis``: ``credit_method`` ``banded`` without a ``target`` is an error on the ``target`` cell (the shortfall
  the bands are read against is measured from the target); a ``credit_pct`` given with ``banded`` or ``manual``
  is a warning (it is not used). A ``banded`` KPI with no band in ``credit_bands`` (this load's, or the store's
  when ingesting) is a **warning**, not an error, on its ``credit_method`` cell: an error would reject the KPI and
  with it every measurement, rating and chart of the KPI, for want of a schedule that only the credits use; the
  credit engine leaves its credits uncomputed and the pack's credits section says why (`cinb.credits`).
* ``credit_bands``: a ``%`` sign on ``shortfall_from`` of a KPI not in ``%`` is an error; bands of a KPI whose
  ``credit_method`` is not ``banded`` are a warning (they are not used); two bands of one KPI starting at the
  same shortfall (the same ``shortfall_from`` and ``strictly_above``; a band from 0 and one above 0 start at the
  same place, since a miss is always above 0) *overlap*: an error on both rows; a band whose ``credit_pct`` is
  below that of a band starting at a smaller shortfall is *unordered* (a larger shortfall would earn a smaller
  credit): an error on both rows, each naming the other.
* ``critical_failure_rules``: ``count`` or ``window_months`` below 1, and a ``count`` above ``window_months``,
  are errors (the rule could never fire); a rule for a KPI without a ``critical`` level (for a contract-wide
  rule: a contract none of whose KPIs has one) is a warning (it can never fire either, but nothing is wrong
  with the row itself).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .problems import Collector
from .formatting import noun_for
from .schema import RawTable

__all__ = ["kpi_credit_checks", "credit_band_checks", "failure_rule_checks", "banded_without_bands"]

_BAND_COLUMNS = "contract_id, kpi_id, shortfall_from, strictly_above, credit_pct"


def _col(p: dict, name: str, n: int, fill) -> np.ndarray:
    """The parsed column ``name`` of ``p``, or ``n`` times ``fill`` when the table has no such column."""
    v = p.get(name)
    return np.full(n, fill, dtype=object if isinstance(fill, str) else float) if v is None else np.asarray(v)


# ---------------------------------------------------------------------------------------------------------
# kpis


def kpi_credit_checks(t: RawTable, p: dict, c: Collector) -> None:
    """Credit checks of the ``kpis`` rows that version 2 adds: ``banded`` needs a target; an unused credit_pct.

    ``p`` holds the parsed columns of ``t`` (`cinb.validate`). Error: ``banded`` with an empty ``target``.
    Warning: ``credit_pct`` given with ``banded`` (the bands give the credit) or ``manual`` (nothing computed).
    """
    n = len(t.frame)
    method = _col(p, "credit_method", n, "")
    target = _col(p, "target", n, np.nan).astype(float)
    c.add(t, (method == "banded") & np.isnan(target), "target",
          "is empty but credit_method is banded: the shortfall the credit bands are read against is measured "
          "from the target", "give the KPI's target (the level the contract measures the shortfall from), or "
          "choose another credit_method", value=np.full(n, None))
    pct = _col(p, "credit_pct", n, np.nan).astype(float)
    for m, why in (("banded", "a banded KPI's credit comes from its rows of credit_bands"),
                   ("manual", "a manual KPI's credit is worked out by hand under the contract's terms")):
        c.add(t, (method == m) & ~np.isnan(pct), "credit_pct", f"is not used: {why}",
              "leave credit_pct empty, or choose the credit_method the contract's schedule describes",
              severity="warning")


def banded_without_bands(t: RawTable, p: dict, c: Collector, band_frames) -> None:
    """Warn on each accepted ``banded`` KPI row of ``t`` (the kpis table) that has no band.

    ``band_frames`` are typed ``credit_bands`` frames (this load's accepted bands, the store's; None skipped).
    A warning, not an error: see the module notes.
    """
    if not p or p.get("credit_method") is None or not len(t.frame):
        return
    method = p["credit_method"]
    have = [f[["contract_id", "kpi_id"]].astype(object) for f in band_frames if f is not None and len(f)]
    keys = pd.MultiIndex.from_arrays([p["contract_id"], p["kpi_id"]])
    with_bands = keys.isin(pd.MultiIndex.from_frame(pd.concat(have, ignore_index=True))) if have \
        else np.zeros(len(keys), dtype=bool)
    lonely = (method == "banded") & ~np.asarray(with_bands, dtype=bool) & ~c.rejected[t.name]
    c.add(t, lonely, "credit_method",
          np.array([f"is banded but KPI {k} has no band in the credit_bands table (or none was accepted): its "
                    "credits are not computed" for k in p["kpi_id"]], dtype=object),
          f"add the contract's bands to credit_bands ({_BAND_COLUMNS}), or choose another credit_method",
          severity="warning")


# ---------------------------------------------------------------------------------------------------------
# credit_bands


def _start(shortfall: float, strictly: bool) -> str:
    """Where a band starts, in words: ``from 1``, ``above 1``, ``at any miss`` (a start of 0)."""
    return "at any miss" if shortfall == 0 else f"{'above' if strictly else 'from'} {shortfall:g}"


def credit_band_checks(t: RawTable, p: dict, c: Collector, known_kpis: pd.DataFrame, kpos: np.ndarray) -> None:
    """Checks of the ``credit_bands`` rows beyond their ids: units, method, overlapping and unordered bands.

    ``p`` holds the parsed columns of ``t``; ``known_kpis`` the KPIs ids resolve to; ``kpos`` each row's position
    in it (-1 when unknown). The rules are in the module notes.
    """
    n = len(t.frame)
    if not n:
        return
    cid, kid = p["contract_id"], p["kpi_id"]
    start = _col(p, "shortfall_from", n, np.nan).astype(float)
    pct = _col(p, "credit_pct", n, np.nan).astype(float)
    strictly = np.asarray(_col(p, "strictly_above", n, np.nan), dtype=object)
    strictly = np.array([bool(x) if isinstance(x, (bool, np.bool_)) else False for x in strictly])
    known = kpos >= 0
    safe = np.where(known, kpos, 0)
    unit = np.where(known, known_kpis["unit"].to_numpy(dtype=object)[safe], "") if len(known_kpis) else \
        np.full(n, "", dtype=object)
    signed = p.get("shortfall_from__pct")
    if signed is not None:
        c.add(t, np.asarray(signed, dtype=bool) & known & (unit != "%"), "shortfall_from",
              np.array([f"has a % sign but KPI {k} is not measured in %" for k in kid], dtype=object),
              np.array([f"remove the % sign (the shortfall is in the KPI's unit, {u})" for u in unit], dtype=object))
    if len(known_kpis):
        method = np.where(known, known_kpis["credit_method"].fillna("none").to_numpy(dtype=object)[safe], "")
        unused = known & (method != "banded") & ~c.rejected[t.name]
        c.add(t, unused, "kpi_id",
              np.array([f"KPI {k}'s credit_method is {m}, not banded: this band is not used"
                        for k, m in zip(kid, method)], dtype=object),
              "set the KPI's credit_method to banded in the kpis table for its bands to apply, or remove the bands",
              severity="warning")
    # A miss is a shortfall above 0, so a band from 0 and a band above 0 start at the same place.
    strictly = strictly | (start == 0)
    ok = (cid != "") & (kid != "") & np.isfinite(start)
    _overlapping(t, c, ok, cid, kid, start, strictly)
    _unordered(t, c, ok & np.isfinite(pct) & ~c.rejected[t.name], cid, kid, start, strictly, pct)


def _overlapping(t, c, ok, cid, kid, start, strictly) -> None:
    """Error on every band of a KPI that starts where another of its bands starts."""
    rows = t.frame["_row"].to_numpy()
    groups: dict[tuple, list[int]] = {}
    for i in np.flatnonzero(ok):
        groups.setdefault((cid[i], kid[i], float(start[i]), bool(strictly[i])), []).append(i)
    bad = np.zeros(len(rows), dtype=bool)
    problems = np.empty(len(rows), dtype=object)
    for (_, k, s, st), members in groups.items():
        if len(members) < 2:
            continue
        for i in members:
            others = [str(rows[j]) for j in members if j != i]
            bad[i] = True
            problems[i] = (f"overlaps row{'s' if len(others) > 1 else ''} {', '.join(others)}: both are bands of "
                           f"{k} starting {_start(s, st)}, so cinb cannot tell which credit applies")
    c.add(t, bad, "shortfall_from", problems,
          "keep one band for each starting shortfall; a band that starts just above the shortfall_from of another "
          "is written with strictly_above yes")


def _unordered(t, c, ok, cid, kid, start, strictly, pct) -> None:
    """Error on both bands of a pair where the band starting at the larger shortfall gives the smaller credit."""
    rows = t.frame["_row"].to_numpy()
    by_kpi: dict[tuple, list[int]] = {}
    for i in np.flatnonzero(ok):
        by_kpi.setdefault((cid[i], kid[i]), []).append(i)
    problems = np.empty(len(rows), dtype=object)
    bad = np.zeros(len(rows), dtype=bool)
    for members in by_kpi.values():
        members.sort(key=lambda i: (start[i], strictly[i]))
        for a, i in enumerate(members):
            for j in members[a + 1:]:
                if not pct[j] < pct[i] or (start[j], strictly[j]) == (start[i], strictly[i]):
                    continue
                if not bad[i]:
                    bad[i] = True
                    problems[i] = (f"credit_pct {pct[i]:g} is more than the {pct[j]:g} of row {rows[j]}, a band of "
                                   f"{kid[i]} starting at a larger shortfall ({_start(start[j], strictly[j])}): a "
                                   "larger shortfall must not earn a smaller credit")
                if not bad[j]:
                    bad[j] = True
                    problems[j] = (f"credit_pct {pct[j]:g} is less than the {pct[i]:g} of row {rows[i]}, a band of "
                                   f"{kid[j]} starting at a smaller shortfall ({_start(start[i], strictly[i])}): a "
                                   "larger shortfall must not earn a smaller credit")
    c.add(t, bad, "credit_pct", problems,
          "check the schedule: each band's credit_pct must be at least that of every band starting at a smaller "
          "shortfall (were two credit_pct cells swapped?)")


# ---------------------------------------------------------------------------------------------------------
# critical_failure_rules


def failure_rule_checks(t: RawTable, p: dict, c: Collector, known_kpis: pd.DataFrame, kpos: np.ndarray) -> None:
    """Checks of the ``critical_failure_rules`` rows beyond their ids: a rule that could never fire.

    ``p`` holds the parsed columns of ``t``; ``known_kpis`` the KPIs ids resolve to; ``kpos`` each row's position
    in it (-1 when unknown or when the rule names no KPI). Errors: ``count`` or ``window_months`` below 1,
    ``count`` above ``window_months``. Warning: no critical level to count against.
    """
    n = len(t.frame)
    if not n:
        return
    count = _col(p, "count", n, np.nan).astype(float)
    window = _col(p, "window_months", n, np.nan).astype(float)
    with np.errstate(invalid="ignore"):
        for col, v, zero, fix in (
            ("count", count, "is 0: a failure needs at least one month at or beyond the critical level",
             "give how many months at or beyond the KPI's critical level within window_months make a failure "
             "(1: every such month)"),
            ("window_months", window, "is 0: a window of no months holds no month at the critical level, so the "
             "rule could never fire", "give the window in months (3 for \"more than once in any three months\", "
             "12 for a rolling year)"),
        ):
            c.add(t, v == 0, col, zero, fix)
            c.add(t, v < 0, col, f"is negative: {col} is a number of months", fix)
        never = (count >= 1) & (window >= 1) & (count > window)
    c.add(t, never, "count",
          np.array([f"is more than window_months ({w:g}): {k:g} {noun_for(k, 'month')} at the critical level cannot "
                    f"fall within {w:g} {noun_for(w, 'month')}, so the rule could never fire"
                    for k, w in zip(count, window)], dtype=object),
          "check the rule: \"2 in any 3 months\" is count 2 and window_months 3")
    if not len(known_kpis):
        return
    critical = known_kpis["critical"].to_numpy(dtype=float)
    cid, kid = p["contract_id"], _col(p, "kpi_id", n, "")
    named = (kpos >= 0) & ~c.rejected[t.name]
    blind = named & np.isnan(critical[np.where(named, kpos, 0)])
    c.add(t, blind, "kpi_id",
          np.array([f"KPI {k} has no critical level: this rule can never fire" for k in kid], dtype=object),
          "add the KPI's critical level to the kpis table (the level at or beyond which a month is a critical "
          "failure), or remove the rule", severity="warning")
    with_critical = set(known_kpis.loc[~np.isnan(critical), "contract_id"].astype(object))
    has_kpis = set(known_kpis["contract_id"].astype(object))
    no_critical = np.array([x in has_kpis and x not in with_critical for x in cid], dtype=bool)
    blind_all = (cid != "") & (kid == "") & ~c.rejected[t.name] & no_critical
    c.add(t, blind_all, "kpi_id",
          np.array([f"none of contract {x}'s KPIs has a critical level: this rule can never fire" for x in cid],
                   dtype=object),
          "add the KPIs' critical levels to the kpis table, or remove the rule", severity="warning", value=None)
