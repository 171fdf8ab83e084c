"""The sample's service-desk records: a synthetic ticket export behind two KPIs of NB-SD-001, and its definitions.

`cinb.sample` writes these beside the sample portfolio, so that ``cinb derive`` has real-looking records to run on
and ``cinb demo`` shows a reconciliation ("Do the supplier's figures match the records?"):

* ``records/service_desk_tickets.csv``: one row per incident, as an ITSM tool (ServiceNow's incident list, here)
  exports it — ``number, opened_at, resolved_at, priority, state, assignment_group, reassignment_count`` — with
  UK day-first times (``31/10/2026 17:05``) and an empty ``resolved_at`` for a ticket still open. It holds every
  incident resolved from July to October 2026 (as many each month as the supplier reported: the volumes of the
  first-time fix rate, FTF), the tickets still open at the end of October, and those resolved in the first days
  of November (after the authority's cut-off, ``--as-of 2026-11-01T00:00``).
* ``derive.yml``: the runnable definitions of FTF (share of the incidents resolved in the month that were never
  reassigned) and P1RES (mean elapsed hours from logging to resolution of the priority 1 incidents logged in the
  month).

The tickets are built so that the records give the supplier's reported figure in most months, and another in a
few (`RECORD_FIGURES`): the supplier over-stated its first-time fix rate in July and September 2026 and
under-stated its priority 1 resolution time in August 2026. August's first-time fix rate agrees with the
supplier's *restated* figure (71.5 %, revision 2). Two priority 1 incidents logged at the end of October were
still open at the cut-off, so October's P1RES is incomplete in the records.

Every name and number is invented. The tickets draw their random numbers from a generator of their own, so the
rest of the sample is unchanged by them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["RECORDS_FILE", "DEFINITIONS_TEXT", "AS_OF", "RECORD_FIGURES", "tickets"]

#: Where the export goes, relative to the sample folder.
RECORDS_FILE = "records/service_desk_tickets.csv"
#: The authority's cut-off: the records as they stood at the end of October 2026 (``cinb derive --as-of``).
AS_OF = "2026-11-01T00:00"
#: Months of resolved tickets in the export.
MONTHS = pd.period_range("2026-07", "2026-10", freq="M")
#: The figures the records give, where they are not the supplier's reported (winning) figure:
#: (kpi, month) -> value. FTF in %, P1RES in hours.
RECORD_FIGURES = {("FTF", "2026-07"): 71.4, ("FTF", "2026-09"): 70.9, ("P1RES", "2026-08"): 5.6}
#: Priority 1 incidents logged each month (July to October) and, of October's, how many were still open at the
#: cut-off.
P1_COUNTS = (11, 13, 12, 14)
P1_OPEN_AT_CUTOFF = 2
_PRIORITIES = ["2 - High", "3 - Moderate", "4 - Low"]
_PRIORITY_SHARE = [0.10, 0.62, 0.28]
_GROUPS = ["Service Desk", "Desktop Support", "Applications Support", "Network Operations", "Identity and Access"]
_FMT = "%d/%m/%Y %H:%M"
_SEED_OFFSET = 151

#: The runnable KPI definitions of the export (written as ``derive.yml`` beside the sample's CSV files).
DEFINITIONS_TEXT = """\
# KPI definitions for cinb derive: how NB-SD-001's first-time fix rate and priority 1 resolution time are computed
# from the service desk's incident export (records/service_desk_tickets.csv). See docs/derive.md for the format.
source:
  id: number
  timestamps: {opened_at: "%d/%m/%Y %H:%M", resolved_at: "%d/%m/%Y %H:%M"}
kpis:
  - contract_id: NB-SD-001
    kpi_id: FTF
    name: First-time fix rate
    period: resolved_at
    measure: share
    of: {reassignment_count: 0}
  - contract_id: NB-SD-001
    kpi_id: P1RES
    name: Priority 1 incident resolution time
    period: opened_at
    where: {priority: "1 - Critical"}
    measure: mean
    duration: {from: opened_at, to: resolved_at, unit: hours}
"""


def _reported(measurements: pd.DataFrame, kpi: str) -> dict[str, tuple[float, int | None]]:
    """The supplier's winning figure and volume of a KPI of NB-SD-001 by month (text tables as generated)."""
    m = measurements[(measurements["contract_id"] == "NB-SD-001") & (measurements["kpi_id"] == kpi)]
    m = m.assign(rev=m["revision"].astype(int)).sort_values(["period", "rev"]).drop_duplicates("period", keep="last")
    return {p: (float(v), int(vol) if vol else None) for p, v, vol in zip(m["period"], m["value"], m["volume"])}


def _minutes_in(month: pd.Period, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` times in ``month`` (as minutes since the epoch), on working-ish hours: 07:00 to 19:59, any day."""
    days = rng.integers(0, month.days_in_month, n)
    mins = rng.integers(7 * 60, 20 * 60, n)
    start = int(month.start_time.value // 60_000_000_000)
    return start + days * 1440 + mins


def _fixed_mean(n: int, mean_hours: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` durations in whole minutes, skewed like resolution times, whose mean is exactly ``mean_hours``."""
    total = int(round(mean_hours * 60 * n))
    raw = rng.lognormal(0.0, 0.45, n)
    mins = np.maximum(np.round(raw / raw.sum() * total), 20).astype(np.int64)
    mins[np.argmax(mins)] += total - int(mins.sum())  # the largest absorbs the rounding: the sum is exact
    return mins


def tickets(measurements: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The synthetic incident export, as text columns exactly as written to CSV (sorted by ``number``).

    Parameters
    ----------
    measurements : DataFrame
        The sample's measurements as generated (text), whose NB-SD-001 FTF volumes and figures and P1RES figures
        the tickets reproduce (apart from `RECORD_FIGURES`).
    seed : int
        The sample's seed (the tickets use ``seed + 151``).
    """
    rng = np.random.default_rng(seed + _SEED_OFFSET)
    ftf = _reported(measurements, "FTF")
    p1res = _reported(measurements, "P1RES")
    cutoff = int(pd.Timestamp(AS_OF).value // 60_000_000_000)
    opened, resolved, prio = [], [], []
    # Priority 1 incidents by the month they were logged, with the mean resolution time of the month.
    for month, n in zip(MONTHS, P1_COUNTS):
        key = str(month)
        mean = RECORD_FIGURES.get(("P1RES", key), p1res[key][0])
        still_open = P1_OPEN_AT_CUTOFF if month == MONTHS[-1] else 0
        done = _fixed_mean(n - still_open, mean, rng)
        # Logged early enough in the month to be resolved within it.
        o = np.minimum(_minutes_in(month, n - still_open, rng), int((month + 1).start_time.value // 60_000_000_000)
                       - done - 1)
        opened += list(o)
        resolved += list(o + done)
        prio += ["1 - Critical"] * len(done)
        if still_open:
            late = cutoff - rng.integers(60, 600, still_open)
            opened += list(late)
            resolved += list(late + rng.integers(900, 2400, still_open))  # resolved after the cut-off
            prio += ["1 - Critical"] * still_open
    opened_arr, resolved_arr = np.array(opened, dtype=np.int64), np.array(resolved, dtype=np.int64)
    p1_by_month = {str(m): int(((resolved_arr >= int(m.start_time.value // 60_000_000_000))
                                & (resolved_arr < int((m + 1).start_time.value // 60_000_000_000))).sum())
                   for m in MONTHS}
    # The other incidents by the month they were resolved, as many as the supplier's FTF volume.
    for month in MONTHS:
        n = ftf[str(month)][1] - p1_by_month[str(month)]
        r = _minutes_in(month, n, rng)
        dur = np.clip(np.round(rng.lognormal(np.log(300), 1.3, n)), 5, 20 * 1440).astype(np.int64)
        # The export holds the incidents logged from 1 July: one that would have been logged before was logged on
        # 1 July, during the working day (and at least 5 minutes before it was resolved).
        earliest = int(MONTHS[0].start_time.value // 60_000_000_000) + rng.integers(7 * 60, 20 * 60, n)
        dur = np.where(r - dur < earliest, np.maximum(r - earliest, 5), dur)
        opened_arr = np.concatenate([opened_arr, r - dur])
        resolved_arr = np.concatenate([resolved_arr, r])
        prio += list(rng.choice(_PRIORITIES, n, p=_PRIORITY_SHARE))
    # Tickets open at the cut-off: logged in the last days of October, resolved after it or not yet.
    n_open = 46
    o = cutoff - rng.integers(30, 6 * 1440, n_open)
    later = np.where(rng.random(n_open) < 0.6, cutoff + rng.integers(60, 2 * 1440, n_open), -1)
    opened_arr = np.concatenate([opened_arr, o])
    resolved_arr = np.concatenate([resolved_arr, later])
    prio += list(rng.choice(_PRIORITIES, n_open, p=_PRIORITY_SHARE))
    n_all = len(opened_arr)
    # First-time fixes: exactly round(share × volume) of each month's resolved incidents were never reassigned.
    reassigned = np.zeros(n_all, dtype=np.int64)
    for month in MONTHS:
        lo, hi = (int(m.start_time.value // 60_000_000_000) for m in (month, month + 1))
        idx = np.flatnonzero((resolved_arr >= lo) & (resolved_arr < hi))
        share = RECORD_FIGURES.get(("FTF", str(month)), ftf[str(month)][0])
        fixed = int(round(share / 100 * len(idx)))
        chosen = rng.permutation(idx)[fixed:]  # the rest were passed on at least once
        reassigned[chosen] = rng.integers(1, 4, len(chosen))
    others = (resolved_arr >= cutoff) | (resolved_arr < 0)
    reassigned[others] = rng.integers(0, 3, int(others.sum()))
    # Sorted by when they were logged, numbered in that order.
    order = np.lexsort((np.arange(n_all), opened_arr))
    opened_arr, resolved_arr, reassigned = opened_arr[order], resolved_arr[order], reassigned[order]
    prio = np.array(prio, dtype=object)[order]
    now = cutoff + 2 * 1440 + 9 * 60  # the export ran on 3 November at 09:00
    is_open = (resolved_arr < 0) | (resolved_arr > now)
    state = np.where(is_open, np.where(rng.random(n_all) < 0.75, "In Progress", "On Hold"),
                     np.where(now - resolved_arr > 3 * 1440, "Closed", "Resolved"))

    def text(mins: np.ndarray, empty: np.ndarray) -> list[str]:
        times = pd.to_datetime(mins * 60, unit="s").strftime(_FMT)
        return ["" if e else t for t, e in zip(times, empty)]

    return pd.DataFrame({
        "number": [f"INC{104000 + i:07d}" for i in range(n_all)],
        "opened_at": text(opened_arr, np.zeros(n_all, dtype=bool)),
        "resolved_at": text(np.maximum(resolved_arr, 0), is_open),
        "priority": prio,
        "state": state,
        "assignment_group": rng.choice(_GROUPS, n_all, p=[0.55, 0.2, 0.12, 0.08, 0.05]),
        "reassignment_count": reassigned.astype(str),
    })
