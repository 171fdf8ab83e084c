"""Process changes on XmR charts: recorded changes rebase the limits; a sustained shift suggests a rebase.

NHS England's "Making Data Count" recalculates a chart's limits from the month a process changed (a
*rebase*): the old limits describe a process that no longer runs. cinb takes the changes an analyst recorded
(the ``process_changes`` table) and turns them into the positions and baselines `cinb.spc.xmr` needs
(`rebase_plan`); where the data show a sustained shift that nobody recorded — a run of points on one side of the
mean that reaches the latest point — it *suggests* a rebase (`suggest_rebase`) with the month, the evidence and
the limits it would give, without applying it: the analyst records the change to accept it.

`too_few_points` states when a chart has too few values for its limits to carry a verdict (no variation or
assurance icon, no sentence or question built on them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .spc_xmr import RULE_POINTS, SHORT_GROUP, XmrResult, xmr

__all__ = ["RebasePlan", "rebase_plan", "suggest_rebase", "too_few_points", "MIN_POINTS"]

#: Default fewest values a chart needs before its limits carry a verdict: the XmR library's own threshold
#: for reliable limits (`cinb.spc_xmr.SHORT_GROUP`).
MIN_POINTS = SHORT_GROUP


@dataclass(frozen=True)
class RebasePlan:
    """Where a KPI's chart starts new groups, from its recorded process changes.

    ``positions`` are 0-based positions in the series (for `cinb.spc.xmr`'s ``rebase_at``); ``periods`` the
    months the changes took effect, one per position; ``reasons`` the recorded reasons; ``fix_after`` one entry
    per group (None: limits from all the group's points; n: fixed on its first n points) or None when no change
    fixes a baseline; ``outside`` the changes that fall outside the charted months (before its first point:
    the whole chart is after them; after its last: not yet in effect), with their reasons.
    """

    positions: list[int]
    periods: list[pd.Period]
    reasons: list[str]
    fix_after: list[int | None] | None
    outside: list[tuple[pd.Period, str]]


def rebase_plan(index: pd.PeriodIndex, changes: pd.DataFrame) -> RebasePlan:
    """Turn recorded process changes into rebase positions for a series indexed by month.

    Parameters
    ----------
    index : PeriodIndex
        The months of the series to chart, ascending.
    changes : DataFrame
        One KPI's rows of ``process_changes``: ``period`` (first month of the changed process), ``reason``,
        optional ``baseline_months``.

    Returns
    -------
    RebasePlan
        A change before the first charted month with a ``baseline_months`` fixes the first group's baseline;
        two changes that fall on the same position keep the later one.
    """
    if changes is None or not len(changes) or not len(index):
        return RebasePlan([], [], [], None, [])
    c = changes.sort_values("period", kind="stable")
    by_pos: dict[int, tuple[pd.Period, str, Any]] = {}
    outside = []
    first_fix = None
    for _, row in c.iterrows():
        period = pd.Period(row["period"], "M")
        pos = int(index.searchsorted(period))
        base = row.get("baseline_months")
        base = None if base is None or pd.isna(base) else int(base)
        if pos == 0:
            outside.append((period, str(row["reason"])))
            first_fix = base
            continue
        if pos >= len(index):
            outside.append((period, str(row["reason"])))
            continue
        by_pos[pos] = (period, str(row["reason"]), base)
    positions = sorted(by_pos)
    fixes = [first_fix] + [by_pos[p][2] for p in positions]
    return RebasePlan(positions, [by_pos[p][0] for p in positions], [by_pos[p][1] for p in positions],
                      fixes if any(f is not None for f in fixes) else None, outside)


def suggest_rebase(series: pd.Series, result: XmrResult, *, improvement: str, target: float | None = None,
                   min_points: int = RULE_POINTS) -> dict[str, Any] | None:
    """A rebase the data suggest: a run of points on one side of the mean that reaches the latest point.

    Parameters
    ----------
    series : Series
        The charted values (monthly PeriodIndex), as passed to `cinb.spc.xmr`.
    result : XmrResult
        The chart as drawn (with any recorded rebases).
    improvement : {"increase", "decrease", "neutral"}
    target : float, optional
    min_points : int, default 7
        The run must be at least this long (NHS Making Data Count's run rule: 7 points).

    Returns
    -------
    dict or None
        None when the latest point is not part of a run flagged by the run rule in the latest group. Otherwise
        ``period`` (the run's first month: where the shift began), ``points`` (values in the run), ``side``
        (``"above"``/``"below"`` the mean), ``mean``/``lpl``/``upl`` (the limits a rebase there would give) and
        ``assurance`` (against ``target`` on those limits) and ``evidence`` (a sentence).
    """
    pts = result.points
    values = pts["value"].to_numpy(dtype=float)
    present = np.flatnonzero(~np.isnan(values))
    if len(present) < min_points + 1:
        return None
    last = present[-1]
    groups = pts["group"].to_numpy()
    mean = pts["mean"].to_numpy(dtype=float)
    side = np.sign(values - mean)
    s = side[last]
    if s == 0 or np.isnan(s):
        return None
    # Walk back over the run: same group, same side, no gap.
    start = last
    while start - 1 >= 0 and groups[start - 1] == groups[last] and not np.isnan(values[start - 1]) \
            and side[start - 1] == s:
        start -= 1
    n = last - start + 1
    if n < min_points or start == 0 or groups[start - 1] != groups[last]:
        return None
    split = _best_split(values, int(np.flatnonzero(groups == groups[last])[0]), start)
    trial = xmr(series, improvement=improvement, target=target,
                rebase_at=sorted({*result.rebase_at, int(split)}))
    where = "above" if s > 0 else "below"

    def when(i):
        p = pts.index[i]
        return p.strftime("%b %Y") if isinstance(p, pd.Period) else f"point {i}"

    evidence = f"{n} consecutive points {where} the mean since {when(start)}, up to the latest point"
    if split != start:
        evidence += f"; the best split of the values (least squares) puts the change in {when(split)}"
    return {
        "period": pts.index[split], "points": int(np.sum(~np.isnan(values[split:]))), "side": where,
        "mean": trial.mean, "lpl": trial.lpl, "upl": trial.upl, "assurance": trial.assurance, "evidence": evidence,
    }


def _best_split(values: np.ndarray, first: int, run_start: int) -> int:
    """The position from which a new level best fits the values (least squares over two segments).

    Candidates run from two values after the group's ``first`` position to ``run_start`` (the shift began no
    later than the run that shows it); the segment before keeps at least two values. Ties go to the later one.
    """
    best, best_sse = run_start, np.inf
    for j in range(first + 2, run_start + 1):
        a, b = values[first:j], values[j:]
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        if len(a) < 2 or len(b) < 2:
            continue
        sse = float(((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum())
        if sse <= best_sse:
            best, best_sse = j, sse
    return best


def too_few_points(result: XmrResult, min_points: int = MIN_POINTS) -> tuple[int, int] | None:
    """``(n, min_points)`` when the chart has fewer than ``min_points`` values, else None.

    ``n`` counts the values on the chart (all groups): with fewer, limits are too unreliable to carry a
    variation or assurance verdict, so packs show the chart without icons or sentences built on them.
    """
    n = int(result.points["value"].notna().sum())
    return (n, int(min_points)) if n < min_points else None
