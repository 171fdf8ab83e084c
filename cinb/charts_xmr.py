"""The XmR chart of one KPI in the house style: limits, SLA, target, CI trajectory and special-cause points.

Statistical process control as in NHS England's "Making Data Count": blue for special-cause improvement,
orange for concern, purple for neutral; every point type also has its own marker shape, so colour never
carries meaning alone. The points come from :func:`cinb.spc.xmr`; the primitives from :mod:`cinb.chartkit`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from cinb.chartkit import (
    GREY, INK, OKABE_ITO, balanced_columns, clip, house_figure, house_style, month_x, monthly_series, right_labels,
    set_month_axis, to_period, wrap,
)
from cinb.display import Chart, Table
from cinb.errors import UsageError
from cinb.formatting import DASH, NOT_REPORTED, capitalised, chart_number, month_label, unit_symbol
from cinb.labels import NO_SIGNAL_WORDS, POINT_LEGEND, POINT_TABLE, SIGNAL_COUNT_WORDS

__all__ = ["POINT_STYLES", "xmr_chart"]

#: point_type -> (legend label, colour, marker, marker size in points)
# Shapes carry the meaning without colour and do not suggest "high" or "low" (an improvement is a low value
# when lower is better): a star for improvement, a cross for concern, a square for neutral.
POINT_STYLES: dict[str, tuple[str, str, str, float]] = {
    "special_cause_improvement": (POINT_LEGEND["special_cause_improvement"], OKABE_ITO["blue"], "*", 12.0),
    "special_cause_concern": (POINT_LEGEND["special_cause_concern"], OKABE_ITO["orange"], "X", 9.0),
    "special_cause_neutral_high": (POINT_LEGEND["special_cause_neutral_high"], OKABE_ITO["reddish_purple"], "s", 7.0),
    "special_cause_neutral_low": (POINT_LEGEND["special_cause_neutral_low"], OKABE_ITO["reddish_purple"], "s", 7.0),
}


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


def _prepare_points(points: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, bool]:
    """Complete missing months, return (frame, x positions, is_monthly)."""
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
            # A month with no row at all must show as a gap, not be bridged by the line.
            full = pd.period_range(pts.index.min(), pts.index.max(), freq="M")
            pts = pts.reindex(full)
        x = np.array([month_x(p) for p in pts.index], dtype=float)
        monthly = True
    else:
        x = np.asarray(pts.index, dtype=float)
        monthly = False
    pts["value"] = pd.to_numeric(pts["value"], errors="coerce").astype(float)
    for c in ("mean", "lpl", "upl"):
        pts[c] = pd.to_numeric(pts[c], errors="coerce").astype(float)
    pts["group"] = pts["group"].ffill().bfill()
    if pts["group"].isna().all():
        pts["group"] = 0
    return pts, x, monthly


def _limit_runs(pts: pd.DataFrame, x: np.ndarray) -> list[tuple[float, float, float, float, float]]:
    """(x start, x end, mean, lpl, upl) for each run of constant limits; a new run starts at a rebase."""
    lim = pts[["mean", "lpl", "upl"]].groupby(pts["group"].to_numpy(), sort=False).ffill()
    runs: list[list[float]] = []
    prev_key = None
    for i, (m, lo, hi) in enumerate(lim.itertuples(index=False, name=None)):
        g = pts["group"].iloc[i]
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
) -> Chart:
    """XmR (individuals) chart of one KPI with limits, SLA, target, CI trajectory and special causes.

    Parameters
    ----------
    points : DataFrame
        ``cinb.spc.xmr(...).points``: columns value, mean, lpl, upl, group, rule, point_type, indexed by a
        monthly PeriodIndex (missing months are drawn as gaps) or a RangeIndex.
    title : str
        Chart title (caption of the figure).
    unit : str
        The KPI's unit (``%``, ``hours``, ``days``, ``minutes``, ``count``, ``score``, ``GBP``).
    direction : {"higher", "lower"}
        Which way is better; stated on the y axis.
    sla, target : float, optional
        Drawn as labelled horizontal lines.
    trajectory : Series, optional
        The CI commitment's expected value per month (index of Periods), drawn dotted.
    annotations : iterable of (month, label)
        Rebases and initiative deliveries, drawn as vertical markers with text.
    kpi_name : str, optional
        The KPI's name in the alt text (defaults to ``title``).
    caption : str, optional
        Note under the title.
    format : {"svg", "png"}

    Returns
    -------
    Chart

    Raises
    ------
    UsageError
        ``direction`` is not higher/lower, ``points`` lacks value, mean, lpl or upl, a month cannot be read,
        or a trajectory is given for points not indexed by month.
    """
    if direction not in ("higher", "lower"):
        raise UsageError(f"xmr_chart direction must be 'higher' or 'lower', got {direction!r}.")
    pts, x, monthly = _prepare_points(points)
    name = kpi_name or title
    values = pts["value"].to_numpy()
    types = pts["point_type"].where(pts["value"].notna())
    runs = _limit_runs(pts, x)
    traj = monthly_series(trajectory, "trajectory").dropna() if trajectory is not None else None
    if traj is not None and not monthly:
        raise UsageError("xmr_chart: a trajectory needs points indexed by month (a PeriodIndex).")
    ann = [(to_period(p) if monthly else p, str(label)) for p, label in annotations]

    height = 3.9
    with house_style():
        fig = house_figure(height_in=height)
        ax = fig.add_subplot()
        ax.plot(x, values, color=INK, lw=1.2, marker="o", ms=3.2, zorder=3, label="Monthly value" if monthly
                else "Value")
        for i, (x0, x1, m, lo, hi) in enumerate(runs):
            xs = [x0 - 0.5, x1 + 0.5]
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
        if traj is not None and len(traj):
            ax.plot([month_x(p) for p in traj.index], traj.to_numpy(), color=OKABE_ITO["sky_blue"], lw=2.0,
                    ls=(0, (1, 1.5)), zorder=2.5, label="CI trajectory")
        if sla is not None and not pd.isna(sla):
            ax.axhline(sla, color=OKABE_ITO["vermillion"], lw=1.4, ls=(0, (8, 2, 1, 2)), zorder=1.5, label="SLA")
        if target is not None and not pd.isna(target):
            ax.axhline(target, color=OKABE_ITO["bluish_green"], lw=1.4, ls="-", zorder=1.5, label="Target")

        ys = [v for v in [*values, *[r[k] for r in runs for k in (2, 3, 4)], sla, target,
                          *(traj.to_numpy() if traj is not None else [])]
              if v is not None and not pd.isna(v)]
        if ys:
            lo, hi = min(ys), max(ys)
            pad = (hi - lo) * 0.08 or max(abs(hi) * 0.05, 1.0)
            ax.set_ylim(lo - pad, hi + pad * (2.2 if ann else 1.0))  # headroom for annotation text
        if monthly and len(x):
            first, last = int(np.nanmin(x)), int(np.nanmax(x))
            if traj is not None and len(traj):
                first = min(first, month_x(traj.index.min()))
                last = max(last, month_x(traj.index.max()))
            set_month_axis(ax, first, last)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("Point")
        x_lo, x_hi = ax.get_xlim()
        for k, (p, label) in enumerate(ann):
            # The line sits on the boundary before the month: the change applies from that month on.
            xa = month_x(p) - 0.5 if monthly else float(p)
            ax.axvline(xa, color="#7A7A7A", lw=0.9, ls=(0, (2, 2)), zorder=1)
            # Text runs away from the nearer edge so it never spills into the right-hand labels.
            right_half = (xa - x_lo) / (x_hi - x_lo) > 0.55
            ax.annotate(clip(label, 38), xy=(xa, 1.0), xycoords=ax.get_xaxis_transform(),
                        xytext=(-3 if right_half else 3, -3 - 11 * (k % 2)), textcoords="offset points",
                        ha="right" if right_half else "left", va="top", fontsize=8, color=INK,
                        bbox=dict(boxstyle="square,pad=0.15", fc="white", ec="none", alpha=0.85))
        unit_txt = unit_symbol(unit)
        ax.set_ylabel(f"{wrap(name, 40, 1)} ({unit_txt})\n{direction} is better")
        labels = []
        if runs:
            _, _, m, lo_l, hi_l = runs[-1]
            labels.append((m, f"Mean {chart_number(m, unit)}"))
            if not pd.isna(hi_l):
                labels.append((hi_l, f"Upper limit {chart_number(hi_l, unit)}"))
            if not pd.isna(lo_l):
                labels.append((lo_l, f"Lower limit {chart_number(lo_l, unit)}"))
        if sla is not None and not pd.isna(sla):
            labels.append((sla, f"SLA {chart_number(sla, unit)}"))
        if target is not None and not pd.isna(target):
            labels.append((target, f"Target {chart_number(target, unit)}"))
        right_labels(ax, labels, height)
        n_entries = len(ax.get_legend_handles_labels()[1])
        fig.legend(loc="outside lower center", ncols=balanced_columns(n_entries, 4), handlelength=2.6,
                   columnspacing=1.4)

        alt = _xmr_alt(pts, runs, name, unit, direction, sla, target, monthly)
        data = _xmr_data(pts, monthly, ann)
        return Chart(fig, title=title, alt=alt, data=data, caption=caption, format=format)


def _xmr_alt(pts, runs, name, unit, direction, sla, target, monthly) -> str:
    unit_txt = unit_symbol(unit)
    observed = pts[pts["value"].notna()]
    if not len(observed):
        return f"XmR chart of {name} ({unit_txt}): no values reported."
    if monthly:
        span = f"from {month_label(pts.index[0])} to {month_label(pts.index[-1])}"
    else:
        span = f"over {len(pts)} points"
    text = f"XmR chart of {name} ({unit_txt}) {span}"
    if runs:
        _, _, m, lo, hi = runs[-1]
        since = ""
        if len({r[2:] for r in runs}) > 1 and monthly:
            first_of_last = pts.index[np.argmax(pts["group"].to_numpy() == pts["group"].iloc[-1])]
            since = f" since the rebase in {month_label(first_of_last)}"
        lims = (f", process limits {chart_number(lo, unit)} to {chart_number(hi, unit)}"
                if not (pd.isna(lo) or pd.isna(hi)) else "")
        text += f": mean {chart_number(m, unit)}{lims}{since}"
    text += f"; {_signals_sentence(_point_counts(pts['point_type'].where(pts['value'].notna())))}"
    n_missing = int(pts["value"].isna().sum())
    if n_missing:
        text += f"; {n_missing} {'month' if monthly else 'point'}{'s' if n_missing != 1 else ''} without a value"
    last_value = pts["value"].iloc[-1]
    if pd.isna(last_value):
        when = f" ({month_label(pts.index[-1])})" if monthly else ""
        last_seen = observed.index[-1]
        seen = f" ({month_label(last_seen)})" if monthly else f" (point {last_seen})"
        text += (f"; latest value{when} {NOT_REPORTED}, last reported "
                 f"{chart_number(observed['value'].iloc[-1], unit)}{seen}")
    else:
        text += f"; latest value {chart_number(last_value, unit)}"
    against = [f"{w} {chart_number(v, unit)}" for w, v in (("target", target), ("SLA", sla))
               if v is not None and not pd.isna(v)]
    if against and not pd.isna(last_value):
        text += " against " + " and ".join(against)
    return text + f". {direction.capitalize()} is better."


def _xmr_data(pts: pd.DataFrame, monthly: bool, ann: list[tuple[object, str]]) -> Table:
    frame = pd.DataFrame(
        {
            "Month" if monthly else "Point": [month_label(p) for p in pts.index] if monthly else list(pts.index),
            "Value": pts["value"].to_numpy(),
            "Mean": pts["mean"].to_numpy(),
            "Lower limit": pts["lpl"].to_numpy(),
            "Upper limit": pts["upl"].to_numpy(),
            "Point type": [
                capitalised(NOT_REPORTED) if pd.isna(v)
                else POINT_TABLE.get(t, DASH if t is None or pd.isna(t) else str(t))
                for v, t in zip(pts["value"], pts["point_type"])
            ],
        }
    )
    rules = pts["rule"]
    if rules.notna().any():
        frame["Signal rule"] = [None if r is None or pd.isna(r) or r == "" else str(r) for r in rules]
    if pts["group"].nunique() > 1:
        frame.insert(1, "Segment", pts["group"].astype(str).to_numpy())
    if ann:
        events: dict[object, list[str]] = {}
        for p, label in ann:
            events.setdefault(p, []).append(label)
        frame["Event"] = ["; ".join(events.get(p, [])) or None for p in pts.index]
    return Table(frame, caption="Monthly values, limits and point types", row_header=frame.columns[0])

