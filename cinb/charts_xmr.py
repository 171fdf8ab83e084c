"""The XmR chart of one KPI in the house style: limits, SLA, target, CI trajectory and special-cause points.

Statistical process control as in NHS England's "Making Data Count": blue for special-cause improvement,
orange for concern, purple for neutral; every point type also has its own marker shape, so colour never
carries meaning alone. The points come from :func:`cinb.spc.xmr`; the primitives from :mod:`cinb.chartkit`.

KPI regimes (data contract version 2): a quarterly or annual KPI is drawn at its due months with its axis,
legend, alt text and table in its own periods; a month with no activity is not a point, a provisional value is
drawn apart from the process and never rated, and suppliers' notes are numbered on the chart and listed in its
caption. Mean and limits are drawn within the unit's natural bounds (:data:`cinb.formatting.NATURAL_BOUNDS`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from matplotlib.ticker import AutoLocator, MaxNLocator

from cinb.chartkit import (
    GREY, INK, OKABE_ITO, balanced_columns, bounded, bounds_phrase, clip, house_figure, house_style, minus,
    month_x, monthly_series, right_labels, set_month_axis, set_period_axis, to_period, trim_ticks_to_bounds, wrap,
)
from cinb.display import Chart, Table
from cinb.errors import UsageError
from cinb.formatting import (
    DASH, NATURAL_BOUNDS, NOT_REPORTED, capitalised, chart_number, level_places, plural, unit_symbol, value_text,
    within_bounds,
)
from cinb.labels import NO_SIGNAL_WORDS, POINT_LEGEND, POINT_TABLE, SIGNAL_COUNT_WORDS
from cinb.regimes import PERIOD_STATUSES, STATUS_WORD, frequency_of, period_label, step_of

__all__ = ["POINT_STYLES", "PROVISIONAL_STYLE", "XMR_HEIGHT_IN", "xmr_chart"]

#: point_type -> (legend label, colour, marker, marker size in points)
# Shapes carry the meaning without colour and do not suggest "high" or "low" (an improvement is a low value
# when lower is better): a star for improvement, a cross for concern, a square for neutral.
POINT_STYLES: dict[str, tuple[str, str, str, float]] = {
    "special_cause_improvement": (POINT_LEGEND["special_cause_improvement"], OKABE_ITO["blue"], "*", 12.0),
    "special_cause_concern": (POINT_LEGEND["special_cause_concern"], OKABE_ITO["orange"], "X", 9.0),
    "special_cause_neutral_high": (POINT_LEGEND["special_cause_neutral_high"], OKABE_ITO["reddish_purple"], "s", 7.0),
    "special_cause_neutral_low": (POINT_LEGEND["special_cause_neutral_low"], OKABE_ITO["reddish_purple"], "s", 7.0),
}

#: A provisional value (``complete`` false): (legend label, face colour, marker, size). Hollow, a shape no other
#: point has, and not joined to the process line: it is not a point of the process and is never rated.
PROVISIONAL_STYLE: tuple[str, str, str, float] = ("Provisional (not rated)", "white", "D", 6.5)

#: What one of a KPI's periods is called, by frequency: legend, table header, counted noun, table caption.
_VALUE_LEGEND = {"monthly": "Monthly value", "quarterly": "Quarterly value", "annual": "Annual value"}
_PERIOD_HEAD = {"monthly": "Month", "quarterly": "Quarter", "annual": "Year"}
_PERIOD_NOUN = {"monthly": "month", "quarterly": "quarter", "annual": "year"}
#: Statuses of a due period that are not points of the process (left out of the SPC series and the line).
_NOT_POINTS = ("no_activity", "incomplete")
#: Statuses a period of ``periods`` may have on the chart; the others (not due, not in force) are not rows.
_ROW_STATUSES = ("reported", "incomplete", "not_reported", "no_activity")
#: Notes listed under the chart's title at most, and the characters of each.
MAX_NOTES, NOTE_CHARS = 6, 120
_STOPS = (".", "!", "?", "…")
#: The chart's height in inches at A4 text width: the chart, its KPI's heading, paragraph and a caution or two
#: take half of an A4 page's text height, so that two KPIs share a printed page.
XMR_HEIGHT_IN = 2.8
#: Written up from the foot of the axis at a month with no activity (the line passes it by: it is not a point).
NO_ACTIVITY_FOOT = "no activity"


def _point_counts(types: pd.Series) -> dict[str, int]:
    return {t: int((types == t).sum()) for t in POINT_STYLES}


def _signals_sentence(counts: dict[str, int]) -> str:
    improvement = counts["special_cause_improvement"]
    concern = counts["special_cause_concern"]
    neutral = counts["special_cause_neutral_high"] + counts["special_cause_neutral_low"]
    parts = []
    for n, what in ((improvement, SIGNAL_COUNT_WORDS["improvement"]), (concern, SIGNAL_COUNT_WORDS["concern"]),
                    (neutral, SIGNAL_COUNT_WORDS["neutral"])):
        if n:
            parts.append(f"{n} point{'s' if n != 1 else ''} of {what}")
    return ", ".join(parts) if parts else NO_SIGNAL_WORDS


# ---------------------------------------------------------------------------------------------- XmR chart


def _prepare_points(points: pd.DataFrame, step: int = 1) -> tuple[pd.DataFrame, np.ndarray, bool]:
    """Complete missing due months (every month, or every ``step``-th), return (frame, x positions, is_dated)."""
    need = {"value", "mean", "lpl", "upl"}
    missing = need - set(points.columns)
    if missing:
        raise UsageError(
            f"xmr_chart needs the points frame of cinb.spc.xmr(...) with columns {sorted(need)}; "
            f"missing {sorted(missing)}."
        )
    pts = points.copy()
    for col, default in (("group", 0), ("rule", None), ("point_type", None)):
        if col not in pts.columns:
            pts[col] = default
    idx = pts.index
    if isinstance(idx, pd.DatetimeIndex):
        pts.index = idx = idx.to_period("M")
    if isinstance(idx, pd.PeriodIndex):
        pts.index = idx.asfreq("M")
        pts = pts[~pts.index.duplicated(keep="last")].sort_index()
        if len(pts):
            # A due month with no row at all must show as a gap, not be bridged by the line.
            full = pd.period_range(pts.index.min(), pts.index.max(), freq="M")
            if step > 1:
                full = full[::step].union(pts.index)
            pts = pts.reindex(full)
        x = np.array([month_x(p) for p in pts.index], dtype=float)
        dated = True
    else:
        x = np.asarray(pts.index, dtype=float)
        dated = False
    pts["value"] = pd.to_numeric(pts["value"], errors="coerce").astype(float)
    for c in ("mean", "lpl", "upl"):
        pts[c] = pd.to_numeric(pts[c], errors="coerce").astype(float)
    pts["group"] = pts["group"].ffill().bfill()
    if pts["group"].isna().all():
        pts["group"] = 0
    return pts, x, dated


def _read_periods(periods) -> pd.DataFrame:
    """``periods`` as a frame indexed by month: status, value, volume, note (rows of other statuses dropped)."""
    if isinstance(periods, pd.DataFrame):
        periods = periods.to_dict("records")
    rows = []
    for item in periods:
        if not hasattr(item, "get") or "period" not in item or "status" not in item:
            raise UsageError(f"xmr_chart: each of periods needs a 'period' and a 'status'; got {item!r}.")
        status = item["status"]
        if status not in PERIOD_STATUSES:
            raise UsageError(f"xmr_chart: period status {status!r} is not one of {list(PERIOD_STATUSES)}.")
        if status not in _ROW_STATUSES:
            continue
        note = item.get("note")
        note = None if note is None or (not isinstance(note, str) and pd.isna(note)) else " ".join(str(note).split())
        rows.append({"period": to_period(item["period"]), "status": status,
                     "value": pd.to_numeric(item.get("value"), errors="coerce"),
                     "volume": pd.to_numeric(item.get("volume"), errors="coerce"), "note": note or None})
    frame = pd.DataFrame(rows, columns=["period", "status", "value", "volume", "note"])
    frame = frame.drop_duplicates("period", keep="last")
    frame.index = pd.PeriodIndex(frame["period"], freq="M")
    return frame.drop(columns="period").sort_index()


def _merge_periods(pts: pd.DataFrame, per: pd.DataFrame | None) -> pd.DataFrame:
    """Add ``status``, ``shown`` (the value in the table), ``volume`` and ``note`` to the points.

    A period's status wins: a ``no_activity`` or ``incomplete`` month is not a point of the process (its value
    is taken out of ``value`` and its point type cleared); other rows are ``reported`` or ``not_reported`` by
    whether they have a value.
    """
    if per is not None and len(per):
        rows = pts.index.union(per.index)
        pts = pts.reindex(rows)
        pts["group"] = pts["group"].ffill().bfill()
    status = np.where(pts["value"].notna().to_numpy(), "reported", "not_reported").astype(object)
    if per is None or not len(per):
        pts["status"] = status
        pts["shown"] = pts["value"]
        pts["volume"] = np.nan
        pts["note"] = None
        return pts
    # Whole columns set from arrays: one pass, not a .loc assignment per column (charts are drawn per KPI).
    p = per.reindex(pts.index)
    p_status = p["status"].to_numpy(dtype=object)
    off = p["status"].isin(_NOT_POINTS).to_numpy()
    status[off] = p_status[off]
    pts["status"] = status
    for col in ("value", "mean", "lpl", "upl"):
        arr = pts[col].to_numpy(dtype=float, copy=True)
        arr[off] = np.nan
        pts[col] = arr
    for col in ("point_type", "rule"):
        arr = pts[col].to_numpy(dtype=object, copy=True)
        arr[off] = None
        pts[col] = arr
    pts["shown"] = np.where(p_status == "incomplete", p["value"].to_numpy(dtype=float), pts["value"].to_numpy())
    pts["volume"] = p["volume"].to_numpy(dtype=float)
    pts["note"] = p["note"].to_numpy(dtype=object)
    return pts


def _limit_runs(pts: pd.DataFrame, x: np.ndarray) -> list[tuple[float, float, float, float, float]]:
    """(x start, x end, mean, lpl, upl) for each run of constant limits; a new run starts at a rebase."""
    lim = pts[["mean", "lpl", "upl"]].groupby(pts["group"].to_numpy(), sort=False).ffill()
    runs: list[list[float]] = []
    prev_key = None
    groups = pts["group"].to_numpy()
    for i, (m, lo, hi) in enumerate(lim.itertuples(index=False, name=None)):
        g = groups[i]
        if pd.isna(m):
            prev_key = None
            continue
        key = (g, m, lo, hi)
        if key == prev_key:
            runs[-1][1] = x[i]
        else:
            runs.append([x[i], x[i], m, lo, hi])
        prev_key = key
    return [tuple(r) for r in runs]


def _bounded_runs(runs, unit) -> tuple[list[tuple], dict[str, list[float]]]:
    """Runs with mean and limits truncated at the unit's natural bounds, and the computed values that were cut
    (``{"lower limit": [...], "upper limit": [...], "mean": [...]}``, each side only when cut)."""
    shown, cut = [], {}
    for x0, x1, m, lo, hi in runs:
        row = [x0, x1]
        for name, v in (("mean", m), ("lower limit", lo), ("upper limit", hi)):
            w = within_bounds(v, unit)
            if not pd.isna(v) and w != v:
                cut.setdefault(name, []).append(float(v))
            row.append(w)
        shown.append(tuple(row))
    return shown, cut


def _bounds_sentence(cut: dict[str, list[float]], unit: str | None) -> str:
    """``Process limits are shown within what the quantity can be: the computed lower limit, −8.9%, is below
    zero.`` — empty when nothing was cut."""
    if not cut:
        return ""
    lo_b, hi_b = NATURAL_BOUNDS[unit]
    parts = []
    for name in ("lower limit", "upper limit", "mean"):
        vals = sorted(set(cut.get(name, [])))
        if not vals:
            continue
        below = vals[0] < (lo_b if lo_b is not None else -np.inf)
        bound = lo_b if below else hi_b
        if len(vals) == 1:
            parts.append(f"the computed {name}, {minus(value_text(vals[0], unit))}, is {bounds_phrase(bound, unit)}")
        else:
            extreme = vals[0] if below else vals[-1]
            parts.append(f"the computed {name}s, {'down' if below else 'up'} to {minus(value_text(extreme, unit))}, "
                         f"are {bounds_phrase(bound, unit)}")
    what = "Process limits" if set(cut) != {"mean"} else "The mean"
    return f"{what} are shown within what the quantity can be: {' and '.join(parts)}."


def _note_marks(pts: pd.DataFrame, kinds: pd.Series) -> list[tuple[int, object]]:
    """(row position, period) of the notes listed under the title: at most `MAX_NOTES`, flagged points first
    (special cause, provisional, no activity, not reported), then the latest; in time order."""
    has = [i for i, n in enumerate(pts["note"]) if isinstance(n, str) and n]
    if len(has) > MAX_NOTES:
        flagged = [i for i in has if kinds.iloc[i] in POINT_STYLES or pts["status"].iloc[i] != "reported"]
        rest = [i for i in has if i not in flagged]
        has = sorted((flagged[::-1] + rest[::-1])[:MAX_NOTES])
    return [(i, pts.index[i]) for i in has]


def _notes_caption(pts: pd.DataFrame, marks, frequency: str, more: bool) -> str:
    items = []
    for n, (i, p) in enumerate(marks, start=1):
        status = pts["status"].iloc[i]
        qual = f" ({STATUS_WORD[status].lower()})" if status != "reported" else ""
        note = clip(pts["note"].iloc[i], NOTE_CHARS)
        items.append(f"{n} — {period_label(p, frequency)}{qual}: {note}{'' if note.endswith(_STOPS) else '.'}")
    text = "Notes: " + " ".join(items)
    if more:
        text += " More notes are in the data table."
    return text


def xmr_chart(
    points: pd.DataFrame,
    *,
    title: str,
    unit: str,
    direction: str,
    sla: float | None = None,
    target: float | None = None,
    trajectory: pd.Series | None = None,
    annotations: Iterable[tuple[object, str]] = (),
    kpi_name: str | None = None,
    caption: str | None = None,
    format: str = "svg",
    frequency: str | None = "monthly",
    periods=None,
    volume_unit: str | None = None,
    height_in: float | None = None,
) -> Chart:
    """XmR (individuals) chart of one KPI with limits, SLA, target, CI trajectory and special causes.

    Parameters
    ----------
    points : DataFrame
        ``cinb.spc.xmr(...).points``: columns value, mean, lpl, upl, group, rule, point_type, indexed by a
        PeriodIndex of the KPI's due months (a due month with no row is drawn as a gap) or a RangeIndex.
    title : str
        Chart title (caption of the figure).
    unit : str
        The KPI's unit (``%``, ``hours``, ``days``, ``minutes``, ``count``, ``score``, ``GBP``). Mean and process
        limits are drawn, labelled and tabled within the unit's natural bounds
        (:data:`cinb.formatting.NATURAL_BOUNDS`: 0–100 for ``%``, from 0 for counts, durations and ``GBP``); a
        truncated limit's label gives the computed value, and the alt text and the data table's caption say
        once which limits were truncated. No y tick lies beyond a bound.
    direction : {"higher", "lower"}
        Which way is better; stated on the y axis.
    sla, target : float, optional
        Drawn as labelled horizontal lines.
    trajectory : Series, optional
        The CI commitment's expected value per month (index of Periods), drawn dotted within the natural bounds.
    annotations : iterable of (month, label)
        Rebases and initiative deliveries, drawn as vertical markers with text (in the data table, on the row
        of the period that contains the month).
    kpi_name : str, optional
        The KPI's name in the alt text (defaults to ``title``).
    caption : str, optional
        Note under the title; the notes of flagged points follow it (see ``periods``).
    format : {"svg", "png"}
    frequency : {"monthly", "quarterly", "annual"}, default "monthly"
        The KPI's frequency (None or empty = monthly). A value is recorded against the last month of the period
        it covers and is drawn at that month, so the spacing is true; a quarterly or annual KPI's axis is ticked
        at its due months and labelled by period (``Jul–Sep 2026``, ``year to Mar 2026``), its legend says
        "Quarterly value" / "Annual value" and its alt text and data table count quarters or years.
    periods : list of dict or DataFrame, optional
        The KPI's due months (``KpiReview.months``), each ``{"period", "status", "value", "volume", "note"}``
        with ``status`` one of :data:`cinb.regimes.PERIOD_STATUSES` (``not_due``, ``not_started`` and
        ``ended`` rows are ignored). A ``no_activity`` month is not plotted and is a "No activity" row of the
        data table; an ``incomplete`` month is drawn as a hollow diamond ("Provisional (not rated)") not joined
        to the line, and is a "Provisional" row; the period's status wins over a value in ``points``. Notes
        fill a "Note" column; up to 6 (flagged points first) are numbered on the chart beside their point (at
        the foot of the axis for a month without one) and listed in the caption, each clipped to 120
        characters. Volumes fill a "Volume" column. None (default): every row of ``points`` is a point.
    volume_unit : str, optional
        What the volume counts, for the column header: ``Volume (incidents)``; None: ``Volume``.
    height_in : float, optional
        The figure's height in inches (default :data:`XMR_HEIGHT_IN`, 2.8: with its heading and paragraph, two
        KPIs share an A4 page); its width is the A4 text width.

    Returns
    -------
    Chart
        With ``alt`` (what the chart shows, in the KPI's periods) and ``data``: a Table with one row per due
        period — Month/Quarter/Year, Value, Mean, Lower limit, Upper limit (as drawn), Point type, and when
        present Segment, Signal rule, Volume, Note and Event.

    Raises
    ------
    UsageError
        ``direction`` is not higher/lower, ``frequency`` is not monthly/quarterly/annual, ``points`` lacks
        value, mean, lpl or upl, a month cannot be read, a period lacks ``period`` or ``status`` or has an
        unknown status, or a trajectory or ``periods`` is given for points not indexed by month.
    """
    if direction not in ("higher", "lower"):
        raise UsageError(f"xmr_chart direction must be 'higher' or 'lower', got {direction!r}.")
    frequency = frequency_of(frequency)
    if frequency not in _VALUE_LEGEND:
        raise UsageError(f"xmr_chart frequency must be one of {list(_VALUE_LEGEND)}, got {frequency!r}.")
    step = step_of(frequency)
    per = _read_periods(periods) if periods is not None else None
    if per is not None and not len(points) and not isinstance(points.index, pd.PeriodIndex | pd.DatetimeIndex):
        points = points.set_axis(pd.PeriodIndex([], freq="M"))
    pts, x, dated = _prepare_points(points, step)
    if per is not None:
        if not dated:
            raise UsageError("xmr_chart: periods need points indexed by month (a PeriodIndex).")
        pts = _merge_periods(pts, per)
        x = np.array([month_x(p) for p in pts.index], dtype=float)
    else:
        pts = _merge_periods(pts, None)
    name = kpi_name or title
    values = pts["value"].to_numpy()
    on_line = ~pts["status"].isin(_NOT_POINTS).to_numpy()
    provisional = (pts["status"].eq("incomplete") & pts["shown"].notna()).to_numpy()
    types = pts["point_type"].where(pts["value"].notna())
    runs_computed = _limit_runs(pts, x)
    runs, cut = _bounded_runs(runs_computed, unit)
    traj = monthly_series(trajectory, "trajectory").dropna() if trajectory is not None else None
    if traj is not None and not dated:
        raise UsageError("xmr_chart: a trajectory needs points indexed by month (a PeriodIndex).")
    if traj is not None:
        traj = pd.Series(bounded(traj.to_numpy(), unit)[0], index=traj.index, dtype=float)
    ann = [(to_period(p) if dated else p, str(label)) for p, label in annotations]
    half = step / 2

    height = XMR_HEIGHT_IN if height_in is None else float(height_in)
    with house_style():
        fig = house_figure(height_in=height)
        ax = fig.add_subplot()
        if unit == "count":  # matplotlib's default y locator, in whole numbers: no 1.5 incidents
            locator = AutoLocator()
            locator.set_params(integer=True)
            ax.yaxis.set_major_locator(locator)
        ax.plot(x[on_line], values[on_line], color=INK, lw=1.2, marker="o", ms=3.2, zorder=3,
                label=_VALUE_LEGEND[frequency] if dated else "Value")
        for i, (x0, x1, m, lo, hi) in enumerate(runs):
            xs = [x0 - half, x1 + half]
            ax.plot(xs, [m, m], color="#4D4D4D", lw=1.3, zorder=2, label="Mean" if i == 0 else None)
            for j, lim in enumerate((lo, hi)):
                if not pd.isna(lim):
                    ax.plot(xs, [lim, lim], color=GREY, lw=1.0, ls=(0, (5, 3)), zorder=2,
                            label="Process limits" if (i == 0 and j == 0) else None)
        by_label: dict[str, list[str]] = {}
        for t, (label, *_rest) in POINT_STYLES.items():
            by_label.setdefault(label, []).append(t)
        for label, kinds in by_label.items():
            _, colour, marker, size = POINT_STYLES[kinds[0]]
            mask = types.isin(kinds).to_numpy()
            if mask.any():
                ax.plot(x[mask], values[mask], ls="none", marker=marker, ms=size, mfc=colour, mec=INK,
                        mew=0.7, zorder=4, label=label)
        if provisional.any():
            label, face, marker, size = PROVISIONAL_STYLE
            ax.plot(x[provisional], pts["shown"].to_numpy()[provisional], ls="none", marker=marker, ms=size,
                    mfc=face, mec=INK, mew=1.1, zorder=4, label=label)
        if traj is not None and len(traj):
            ax.plot([month_x(p) for p in traj.index], traj.to_numpy(), color=OKABE_ITO["sky_blue"], lw=2.0,
                    ls=(0, (1, 1.5)), zorder=2.5, label="CI trajectory")
        if sla is not None and not pd.isna(sla):
            ax.axhline(sla, color=OKABE_ITO["vermillion"], lw=1.4, ls=(0, (8, 2, 1, 2)), zorder=1.5, label="SLA")
        if target is not None and not pd.isna(target):
            ax.axhline(target, color=OKABE_ITO["bluish_green"], lw=1.4, ls="-", zorder=1.5, label="Target")

        marks = _note_marks(pts, types)
        ys = [v for v in [*values, *pts["shown"].to_numpy()[provisional],
                          *[r[k] for r in runs for k in (2, 3, 4)], sla, target,
                          *(traj.to_numpy() if traj is not None else [])]
              if v is not None and not pd.isna(v)]
        if ys:
            lo, hi = min(ys), max(ys)
            pad = (hi - lo) * 0.08 or max(abs(hi) * 0.05, 1.0)
            y0, y1 = lo - pad, hi + pad * (2.2 if ann else 1.0)  # headroom for annotation text
            if cut:  # a limit drawn at a bound: just enough room to keep it off the spine, no more past the bound
                lo_b, hi_b = NATURAL_BOUNDS[unit]
                if lo_b is not None and lo >= lo_b and y0 < lo_b:
                    y0 = lo_b - (hi - lo) * 0.03
                if hi_b is not None and hi <= hi_b and y1 > hi_b and not ann:
                    y1 = hi_b + (hi - lo) * 0.03
            ax.set_ylim(y0, y1)
            trim_ticks_to_bounds(ax, unit)
        if dated and len(x):
            first, last = int(np.nanmin(x)), int(np.nanmax(x))
            if traj is not None and len(traj):
                first = min(first, month_x(traj.index.min()))
                last = max(last, month_x(traj.index.max()))
            if step == 1:
                set_month_axis(ax, first, last)
            else:
                set_period_axis(ax, [int(v) for v in x], frequency, first, last)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("Point")
        x_lo, x_hi = ax.get_xlim()
        for k, (p, label) in enumerate(ann):
            # The line sits on the boundary before the month: the change applies from that month on.
            xa = month_x(p) - 0.5 if dated else float(p)
            ax.axvline(xa, color="#7A7A7A", lw=0.9, ls=(0, (2, 2)), zorder=1)
            # Text runs away from the nearer edge so it never spills into the right-hand labels.
            right_half = (xa - x_lo) / (x_hi - x_lo) > 0.55
            ax.annotate(clip(label, 38), xy=(xa, 1.0), xycoords=ax.get_xaxis_transform(),
                        xytext=(-3 if right_half else 3, -3 - 11 * (k % 2)), textcoords="offset points",
                        ha="right" if right_half else "left", va="top", fontsize=8, color=INK,
                        bbox=dict(boxstyle="square,pad=0.15", fc="white", ec="none", alpha=0.85))
        foot = ax.get_xaxis_transform()
        for i in np.flatnonzero(pts["status"].eq("no_activity").to_numpy()):
            # Not a point: a word at the foot of the axis says why the line passes the month by.
            ax.annotate(NO_ACTIVITY_FOOT, xy=(x[i], 0.0), xycoords=foot, xytext=(0, 3), textcoords="offset points",
                        rotation=90, ha="center", va="bottom", fontsize=7, color=GREY, zorder=5)
        for n, (i, _p) in enumerate(marks, start=1):
            y = pts["shown"].iloc[i]
            box = dict(boxstyle="square,pad=0.05", fc="white", ec="none", alpha=0.8)
            if pd.isna(y):  # no point (no activity, not reported): the number sits at the foot of the axis
                beside = pts["status"].iloc[i] == "no_activity"  # right of the upright "no activity"
                ax.annotate(str(n), xy=(x[i], 0.0), xycoords=foot, xytext=(6 if beside else 0, 3),
                            textcoords="offset points", ha="left" if beside else "center", va="bottom", fontsize=7.5,
                            fontweight="bold", color=INK, bbox=box, zorder=5)
            else:
                ax.annotate(str(n), xy=(x[i], y), xytext=(4, 4), textcoords="offset points", ha="left",
                            va="bottom", fontsize=7.5, fontweight="bold", color=INK, bbox=box, zorder=5)
        unit_txt = unit_symbol(unit)
        # At most two short lines of the name (the chart's title gives it in full), so that the label never runs
        # past the axes of a chart printed two to a page; the unit stays whole on the last line.
        ax.set_ylabel(f"{wrap(name, 24, 2)} ({unit_txt})\n{direction} is better")
        lines = []  # (word, value drawn, value computed) of each labelled horizontal line
        if runs:
            _, _, m, lo_l, hi_l = runs[-1]
            _, _, m_c, lo_c, hi_c = runs_computed[-1]
            lines.append(("Mean", m, m_c))
            if not pd.isna(hi_l):
                lines.append(("Upper limit", hi_l, hi_c))
            if not pd.isna(lo_l):
                lines.append(("Lower limit", lo_l, lo_c))
        if sla is not None and not pd.isna(sla):
            lines.append(("SLA", sla, sla))
        if target is not None and not pd.isna(target):
            lines.append(("Target", target, target))
        places = _label_decimals([v for _, v, _ in lines], [v for w, v, _ in lines if w in ("SLA", "Target")], unit)
        right_labels(ax, [(v, _line_label(word, v, c, unit, places)) for word, v, c in lines], height)
        n_entries = len(ax.get_legend_handles_labels()[1])
        fig.legend(loc="outside lower center", ncols=balanced_columns(n_entries, 4), handlelength=2.6,
                   columnspacing=1.4)

        bounds_note = _bounds_sentence(cut, unit)
        alt = _xmr_alt(pts, runs, name, unit, direction, sla, target, dated, frequency, len(marks), bounds_note,
                       places)
        data = _xmr_data(pts, dated, ann, frequency, step, volume_unit, bounds_note, unit)
        if marks:
            notes = _notes_caption(pts, marks, frequency, int(pts["note"].notna().sum()) > len(marks))
            caption = f"{caption} {notes}" if caption else notes
        return Chart(fig, title=title, alt=alt, data=data, caption=caption, format=format)


def _line_label(word: str, shown: float, computed: float, unit: str | None, places: int = 1) -> str:
    """``Lower limit 70.1``, or ``Lower limit 0.0 (computed −8.9)`` when the line was truncated at a bound;
    ``places`` decimals (:func:`_label_decimals`)."""
    text = f"{word} {minus(chart_number(shown, unit, places))}"
    if not pd.isna(computed) and computed != shown:
        text += f" (computed {minus(chart_number(computed, unit, places))})"
    return text


def _label_decimals(values, levels, unit: str | None) -> int:
    """Decimals for the labels of a chart's horizontal lines: one, or more (up to three) where a contractual
    level (``levels``: the SLA, the target) is written with more, so that a 99.95 % target never reads "100.0",
    and where lines at different heights would otherwise read the same ("Upper limit 4.33" and "Target 4.30", not
    "4.3" twice). Whole pounds stay whole.

    >>> _label_decimals([4.333, 4.3, 3.1], [4.3], "hours"), _label_decimals([4.3, 4.3, 2.0], [], "%")
    (2, 1)
    >>> _label_decimals([99.7, 99.95], [99.95], "%")
    2
    """
    if unit == "GBP":
        return 1
    places = max([1, *map(level_places, levels)])
    distinct = sorted({float(v) for v in values if not pd.isna(v)})
    while places < 3 and len({f"{v:.{places}f}" for v in distinct}) < len(distinct):
        places += 1
    return places


def _xmr_alt(pts, runs, name, unit, direction, sla, target, dated, frequency="monthly", n_notes=0,
             bounds_note="", places=1) -> str:
    unit_txt = unit_symbol(unit)
    noun = _PERIOD_NOUN[frequency]

    def lab(p):
        return period_label(p, frequency) if dated else p

    observed = pts[pts["value"].notna()]
    provisional = pts[pts["status"].eq("incomplete")]
    no_activity = pts[pts["status"].eq("no_activity")]
    if not len(observed) and not len(provisional):
        text = f"XmR chart of {name} ({unit_txt}): no values reported"
        if len(no_activity):
            text += f"; {plural(len(no_activity), noun)} with no activity"
        return text + "."
    if dated:
        the = "the " if frequency == "annual" else ""
        span = f"from {the}{lab(pts.index[0])} to {the}{lab(pts.index[-1])}"
    else:
        span = f"over {plural(len(pts), 'point')}"
    text = f"XmR chart of {name} ({unit_txt}) {span}"
    if runs:
        _, _, m, lo, hi = runs[-1]
        since = ""
        if len({r[2:] for r in runs}) > 1 and dated:
            first_of_last = pts.index[np.argmax(pts["group"].to_numpy() == pts["group"].iloc[-1])]
            since = f" since the rebase in {lab(first_of_last)}"
        # With the decimals of the chart's line labels (_label_decimals): the same numbers, told apart.
        lims = (f", process limits {minus(chart_number(lo, unit, places))} to {minus(chart_number(hi, unit, places))}"
                if not (pd.isna(lo) or pd.isna(hi)) else "")
        text += f": mean {chart_number(m, unit, places)}{lims}{since}"
    text += f"; {_signals_sentence(_point_counts(pts['point_type'].where(pts['value'].notna())))}"
    n_missing = int((pts["value"].isna() & pts["status"].eq("not_reported")).sum())
    if n_missing:
        text += f"; {n_missing} {noun if dated else 'point'}{'s' if n_missing != 1 else ''} without a value"
    if len(no_activity):
        text += f"; {plural(len(no_activity), noun)} with no activity ({', '.join(map(lab, no_activity.index[:4]))}"
        text += f"{' and more' if len(no_activity) > 4 else ''})"
    if len(provisional):
        text += f"; {plural(len(provisional), 'provisional value')}, not rated"
    last = pts.iloc[-1]
    last_p = pts.index[-1]
    if last["status"] == "incomplete":
        text += f"; latest value ({lab(last_p)}) provisional, {chart_number(last['shown'], unit)}"
        text += _last_seen(observed, unit, lab, dated)
    elif last["status"] == "no_activity":
        text += f"; no activity in the latest {noun} ({lab(last_p)})" + _last_seen(observed, unit, lab, dated)
    elif pd.isna(last["value"]):
        when = f" ({lab(last_p)})" if dated else ""
        text += f"; latest value{when} {NOT_REPORTED}" + _last_seen(observed, unit, lab, dated)
    else:
        text += f"; latest value {chart_number(last['value'], unit, places)}"
        # As the labels write them: ``places`` covers the decimals the target and SLA are written with.
        against = [f"{w} {chart_number(v, unit, places)}"
                   for w, v in (("target", target), ("SLA", sla)) if v is not None and not pd.isna(v)]
        if against:
            text += " against " + " and ".join(against)
    text += f". {direction.capitalize()} is better."
    if bounds_note:
        text += " " + bounds_note
    if n_notes:
        text += (" A number on the chart refers to the note under the title." if n_notes == 1 else
                 f" Numbers on the chart refer to the {n_notes} notes under the title.")
    return text


def _last_seen(observed, unit, lab, dated) -> str:
    """``, last reported 76.5 (Sep 2026)``; empty when nothing was reported."""
    if not len(observed):
        return ""
    last_seen = observed.index[-1]
    seen = f" ({lab(last_seen)})" if dated else f" (point {last_seen})"
    return f", last reported {chart_number(observed['value'].iloc[-1], unit)}{seen}"


def _point_type_cell(status, value, kind) -> str:
    if status in _NOT_POINTS:
        return STATUS_WORD[status]
    if pd.isna(value):
        return capitalised(NOT_REPORTED)
    return POINT_TABLE.get(kind, DASH if kind is None or pd.isna(kind) else str(kind))


def _xmr_data(pts: pd.DataFrame, dated: bool, ann: list[tuple[object, str]], frequency: str = "monthly",
              step: int = 1, volume_unit: str | None = None, bounds_note: str = "", unit: str | None = None) -> Table:
    head = _PERIOD_HEAD[frequency] if dated else "Point"
    m, lo, hi = pts["mean"].to_numpy(), pts["lpl"].to_numpy(), pts["upl"].to_numpy()
    if bounds_note:  # the mean and limits as drawn: within the natural bounds
        m, lo, hi = (np.array(bounded(col, unit)[0], dtype=float) for col in (m, lo, hi))
    frame = pd.DataFrame(
        {
            head: [capitalised(period_label(p, frequency)) for p in pts.index] if dated else list(pts.index),
            "Value": pts["shown"].to_numpy(),
            "Mean": m,
            "Lower limit": lo,
            "Upper limit": hi,
            "Point type": [_point_type_cell(s, v, t) for s, v, t in
                           zip(pts["status"], pts["value"], pts["point_type"])],
        }
    )
    rules = pts["rule"]
    if rules.notna().any():
        frame["Signal rule"] = [None if r is None or pd.isna(r) or r == "" else str(r) for r in rules]
    if pts["group"].nunique() > 1:
        frame.insert(1, "Segment", pts["group"].astype(str).to_numpy())
    formats = {}
    if pts["volume"].notna().any():
        vol = f"Volume ({volume_unit})" if volume_unit else "Volume"
        frame[vol] = pts["volume"].to_numpy(dtype=float)
        formats[vol] = lambda v: f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"
    if pts["note"].notna().any():
        frame["Note"] = pts["note"].to_numpy(dtype=object)
    if ann:
        events: dict[object, list[str]] = {}
        for p, label in ann:
            row = _row_of(pts.index, p, step) if dated else p
            events.setdefault(row, []).append(label)
        frame["Event"] = ["; ".join(events.get(p, [])) or None for p in pts.index]
    what = {"monthly": "Monthly", "quarterly": "Quarterly", "annual": "Annual"}[frequency]
    cap = f"{what} values, limits and point types"
    if bounds_note:
        cap += f". {bounds_note}"
    return Table(frame, caption=cap, row_header=frame.columns[0], number_formats=formats)


def _row_of(index: pd.PeriodIndex, p, step: int):
    """The row (due month) of the period that contains month ``p``: the first due month at or after it."""
    for q in index:
        if q >= p and (q - p).n < step:
            return q
    return p
