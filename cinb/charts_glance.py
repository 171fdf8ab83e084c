"""All KPIs at a glance: one printed page of small multiples, one panel per KPI, in the house style.

Each panel shows the KPI's recent values (the last :data:`GLANCE_MONTHS` charted months), its mean and process
limits (within the unit's natural bounds, as on the KPI's XmR chart), its SLA and target, special-cause points
marked by shape as well as colour (:data:`cinb.charts_xmr.POINT_STYLES`), and above the plot the review month's
result in words (the rating with its symbol, or the status: "Not reported", "Provisional" ...) on the rating's
colours, so that colour is never alone. The chart has no data table of its own: every value it shows is in the
data table of the KPI's XmR chart (section "KPI detail"), so the pack prints each figure once.

Statistical process control as in NHS England's "Making Data Count"; the primitives come from
:mod:`cinb.chartkit`, the points from :func:`cinb.spc.xmr`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, MaxNLocator

from cinb.audience import for_audience
from cinb.chartkit import (
    GREY, INK, OKABE_ITO, A4_TEXT_WIDTH_IN, clip, house_figure, house_style, minus, month_x, set_month_axis,
    set_period_axis, trim_ticks_to_bounds,
)
from cinb.charts_xmr import (
    POINT_STYLES, _bounded_runs, _limit_runs, _merge_periods, _point_counts, _prepare_points, _read_periods,
    _signals_sentence,
)
from cinb.display import RATING_STYLES, Block, Chart, Heading, Paragraphs
from cinb.errors import UsageError
from cinb.formatting import level_text, plural, unit_symbol, value_text
from cinb.regimes import frequency_of, period_label, status_word, step_of

__all__ = ["GLANCE_MONTHS", "MAX_PANELS", "GlancePanel", "at_a_glance", "glance_chart", "panel_of"]

#: Months of each KPI's series shown (the latest ones, up to the review month).
GLANCE_MONTHS = 18
#: Panels in one figure (3 columns of 4): more KPIs make a second figure, each one printed page.
MAX_PANELS = 12
#: Height of one row of panels in inches (plot, axis and the three lines above it), and of the legend.
_ROW_IN, _LEGEND_IN = 1.7, 0.45
#: The statuses drawn on a neutral grey (not a rating): Other, Not reported, Provisional...
_NEUTRAL = RATING_STYLES["Other"]
_NAME_CHARS = {2: 40, 3: 26}  # characters of a KPI's name on one line, by columns


@dataclass(frozen=True)
class GlancePanel:
    """One KPI's panel.

    Attributes
    ----------
    name : str
        The KPI's name (shown on one line, cut with "…" when longer than the panel is wide).
    unit : str
        The KPI's unit (``%``, ``hours``, ``count`` ...): axis and labels; mean and limits are drawn within its
        natural bounds.
    direction : {"higher", "lower"}
        Which way is better.
    points : DataFrame
        ``cinb.spc.xmr(...).points`` (value, mean, lpl, upl, group, point_type), indexed by the KPI's due months
        (PeriodIndex); only the last :data:`GLANCE_MONTHS` months up to the latest are drawn.
    status : str
        The review month's result in words (:func:`cinb.regimes.status_word`): a statutory rating ("Good" ...)
        or a status ("Not reported", "Provisional" ...).
    latest : str
        What stands beside the status, e.g. ``6.6%, Oct 2026`` or ``last reported 6.1%, Sep 2026``.
    sla, target : float, optional
        Drawn as horizontal lines (SLA dash-dot vermillion, target solid green, as on the XmR chart).
    frequency : {"monthly", "quarterly", "annual"}
    periods : list of dict, optional
        ``KpiReview.months``: a month with no activity or a provisional value is not a point of the process.
    kpi_id : str, optional
        Shown after the name.
    """

    name: str
    unit: str
    direction: str
    points: pd.DataFrame
    status: str
    latest: str = ""
    sla: float | None = None
    target: float | None = None
    frequency: str = "monthly"
    periods: list[dict[str, Any]] | None = field(default=None, repr=False)
    kpi_id: str | None = None


def glance_chart(panels: list[GlancePanel], *, title: str, months: int = GLANCE_MONTHS,
                 caption: str | None = None, format: str = "svg") -> Chart:
    """Small multiples of several KPIs: each panel the KPI's recent series, limits, SLA, target and status.

    Parameters
    ----------
    panels : list of GlancePanel
        One to :data:`MAX_PANELS` KPIs, in the order shown (left to right, then down); two columns up to 8
        panels, three beyond. The figure is A4 text width wide and about 2.15 in per row of panels high, so
        that 8 (or 12) KPIs fill one printed page.
    title : str
        The figure caption.
    months : int, default 18
        Months of each series shown, the latest up to each KPI's last due month.
    caption : str, optional
        A note under the title.
    format : {"svg", "png"}

    Returns
    -------
    Chart
        With ``alt`` naming, for every KPI, its status in words, its latest value, SLA and target and the
        special-cause points of the months shown, and ``data`` None (the values are in each KPI's XmR chart
        data table).

    Raises
    ------
    UsageError
        No panel or more than :data:`MAX_PANELS`, ``months`` < 2, a panel's direction not higher/lower or
        frequency unknown, or its points not indexed by month or lacking value, mean, lpl or upl.
    """
    if not panels or len(panels) > MAX_PANELS:
        raise UsageError(f"glance_chart draws 1 to {MAX_PANELS} KPIs, got {len(panels)}: split them into "
                         "several charts (at_a_glance does).")
    if int(months) < 2:
        raise UsageError(f"glance_chart months must be 2 or more, got {months!r}.")
    cols = 2 if len(panels) <= 8 else 3
    rows = math.ceil(len(panels) / cols)
    drawn = [_panel_frame(p, int(months)) for p in panels]
    with house_style():
        fig = house_figure(height_in=rows * _ROW_IN + _LEGEND_IN, width_in=A4_TEXT_WIDTH_IN)
        axes = fig.subplots(rows, cols, squeeze=False)
        handles: dict[str, object] = {}
        for ax, panel, frame in zip(axes.flat, panels, drawn):
            _draw_panel(ax, panel, frame, cols, handles)
        for ax in list(axes.flat)[len(panels):]:
            ax.set_visible(False)
        order = ["Value", "Mean", "Process limits", "SLA", "Target",
                 *dict.fromkeys(style[0] for style in POINT_STYLES.values())]
        labels = [k for k in order if k in handles]
        fig.legend([handles[k] for k in labels], labels, loc="outside lower center", ncols=min(len(labels), 4),
                   handlelength=2.4, columnspacing=1.2)
    alt = _glance_alt(panels, drawn, months)
    return Chart(fig, title=title, alt=alt, data=None, caption=caption, format=format)


def _panel_frame(panel: GlancePanel, months: int) -> dict[str, Any]:
    """The last ``months`` months of a panel's points, ready to draw: frame, x, limit runs (bounded)."""
    if panel.direction not in ("higher", "lower"):
        raise UsageError(f"glance_chart: {panel.name}: direction must be 'higher' or 'lower', got "
                         f"{panel.direction!r}.")
    frequency = frequency_of(panel.frequency)
    if frequency not in ("monthly", "quarterly", "annual"):
        raise UsageError(f"glance_chart: {panel.name}: frequency must be monthly, quarterly or annual, got "
                         f"{panel.frequency!r}.")
    step = step_of(frequency)
    points = panel.points
    if not isinstance(points.index, pd.PeriodIndex | pd.DatetimeIndex):
        if len(points):
            raise UsageError(f"glance_chart: {panel.name}: points must be indexed by month (a PeriodIndex).")
        points = points.set_axis(pd.PeriodIndex([], freq="M"))
    pts, _x, _dated = _prepare_points(points, step)
    per = _read_periods(panel.periods) if panel.periods is not None else None
    pts = _merge_periods(pts, per)
    if len(pts):
        last = pts.index.max()
        pts = pts[pts.index > last - months]
    x = np.array([month_x(p) for p in pts.index], dtype=float)
    runs, _cut = _bounded_runs(_limit_runs(pts, x), panel.unit)
    return {"pts": pts, "x": x, "runs": runs, "frequency": frequency, "step": step}


def _draw_panel(ax, panel: GlancePanel, frame: dict[str, Any], cols: int, handles: dict[str, object]) -> None:
    pts, x, runs, step = frame["pts"], frame["x"], frame["runs"], frame["step"]
    values = pts["value"].to_numpy(dtype=float)
    on_line = ~pts["status"].isin(("no_activity", "incomplete")).to_numpy()
    line, = ax.plot(x[on_line], values[on_line], color=INK, lw=1.0, marker="o", ms=2.6, zorder=3)
    handles.setdefault("Value", line)
    half = step / 2
    for x0, x1, m, lo, hi in runs:
        xs = [x0 - half, x1 + half]
        handles.setdefault("Mean", ax.plot(xs, [m, m], color="#4D4D4D", lw=1.1, zorder=2)[0])
        for lim in (lo, hi):
            if not pd.isna(lim):
                handles.setdefault("Process limits",
                                   ax.plot(xs, [lim, lim], color=GREY, lw=0.9, ls=(0, (4, 2.5)), zorder=2)[0])
    types = pts["point_type"].where(pts["value"].notna())
    for kind, (label, colour, marker, size) in POINT_STYLES.items():
        mask = types.eq(kind).to_numpy()
        if mask.any():
            handles.setdefault(label, ax.plot(x[mask], values[mask], ls="none", marker=marker, ms=size * 0.75,
                                              mfc=colour, mec=INK, mew=0.6, zorder=4)[0])
    for word, level, style in (("SLA", panel.sla, dict(color=OKABE_ITO["vermillion"], ls=(0, (7, 2, 1, 2)))),
                               ("Target", panel.target, dict(color=OKABE_ITO["bluish_green"], ls="-"))):
        if level is not None and not pd.isna(level):
            handles.setdefault(word, ax.axhline(level, lw=1.2, zorder=1.5, **style))
    ys = [v for v in [*values[~np.isnan(values)], *[r[k] for r in runs for k in (2, 3, 4)], panel.sla, panel.target]
          if v is not None and not pd.isna(v)]
    ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=panel.unit == "count"))  # no 1.5 incidents
    if ys:
        lo, hi = min(ys), max(ys)
        pad = (hi - lo) * 0.1 or max(abs(hi) * 0.05, 1.0)
        ax.set_ylim(lo - pad, hi + pad)
        trim_ticks_to_bounds(ax, panel.unit)  # no tick beyond the unit's bounds (no 104%)
    ax.yaxis.set_major_formatter(FuncFormatter(_tick_text(ax)))
    ax.set_ylabel(unit_symbol(panel.unit), fontsize=8)
    if len(x):
        first, last = int(x.min()), int(x.max())
        if step == 1:
            set_month_axis(ax, first, last, max_ticks=4 if cols == 2 else 3)
        else:
            set_period_axis(ax, [int(v) for v in x[on_line | np.isnan(values)]], frame["frequency"], first, last,
                            max_ticks=3)
    else:
        ax.set_xticks([])
        ax.text(0.5, 0.5, "No values in these months", transform=ax.transAxes, ha="center", va="center",
                fontsize=8, color=GREY)
    name = panel.name + (f" ({panel.kpi_id})" if panel.kpi_id else "")
    if len(name) > _NAME_CHARS[cols]:  # the name is what readers know: the id goes first
        name = clip(panel.name, _NAME_CHARS[cols])
    ax.set_title(name, loc="left", fontsize=8.5, fontweight="bold", pad=27)
    style = RATING_STYLES.get(panel.status)
    badge = f"{style.symbol} {style.word}" if style is not None and panel.status != "Other" else panel.status
    colours = style if style is not None else _NEUTRAL
    status_line = badge + (f": {panel.latest}" if panel.latest else "")
    ax.annotate(clip(status_line, _NAME_CHARS[cols] + 4), xy=(0, 1), xycoords="axes fraction", xytext=(1, 14),
                textcoords="offset points", ha="left", va="bottom", fontsize=8, color=colours.color,
                bbox=dict(boxstyle="square,pad=0.2", fc=colours.background, ec="none"))
    ax.annotate(clip(_levels_text(panel), _NAME_CHARS[cols] + 8), xy=(0, 1), xycoords="axes fraction",
                xytext=(1, 3), textcoords="offset points", ha="left", va="bottom", fontsize=8, color=INK)


def _tick_text(ax):
    """A y tick formatter with as many decimals as the tick step needs (4.05, not 4.1 beside 4.0) and a true
    minus sign; thousands separated."""
    def text(v, _pos=None):
        ticks = ax.yaxis.get_majorticklocs()
        steps = np.diff(ticks)
        step = float(np.min(np.abs(steps))) if len(steps) else 1.0
        decimals = 0
        while decimals < 4 and abs(round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-6:
            decimals += 1
        return minus(f"{v:,.{decimals}f}")
    return text


def _levels_text(panel: GlancePanel) -> str:
    """``SLA 5.0% · target 5.0% · lower is better``."""
    parts = [f"{word} {level_text(v, panel.unit)}" for word, v in (("SLA", panel.sla), ("target", panel.target))
             if v is not None and not pd.isna(v)]
    return " · ".join([*parts, f"{panel.direction} is better"])


def _glance_alt(panels: list[GlancePanel], drawn: list[dict[str, Any]], months: int) -> str:
    """One sentence per KPI: status in words, latest value, SLA and target, signals of the months shown."""
    what = f"the last {months} months"
    parts = [f"Small multiples of {len(panels)} KPI{'s' if len(panels) != 1 else ''}, each showing {what} with "
             f"its mean, process limits, SLA and target."]
    for panel, frame in zip(panels, drawn):
        pts = frame["pts"]
        text = f"{panel.name}: {panel.status}"
        if panel.latest:
            text += f", {panel.latest}"
        levels = [f"{w} {level_text(v, panel.unit)}" for w, v in (("SLA", panel.sla), ("target", panel.target))
                  if v is not None and not pd.isna(v)]
        if levels:
            text += f" (against {' and '.join(levels)})"
        if len(pts):
            types = pts["point_type"].where(pts["value"].notna())
            span = (f"{period_label(pts.index[0], frame['frequency'])} to "
                    f"{period_label(pts.index[-1], frame['frequency'])}")
            text += f"; {span}: {_signals_sentence(_point_counts(types))}"
        else:
            text += "; no values in these months"
        parts.append(text + f"; {panel.direction} is better.")
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------- the section


def panel_of(k) -> GlancePanel:
    """The glance panel of one KPI.

    ``k`` is a :class:`cinb.review.KpiReview`: reads ``name``, ``kpi_id``, ``kpi`` (unit, direction, sla, target),
    ``spc.points``, ``window`` (the review month's status and rating, :func:`cinb.regimes.status_word`; its value,
    or the last value reported before it), ``frequency`` and ``months``. Returns a :class:`GlancePanel`.
    """
    w, unit = k.window, k.kpi.get("unit")
    status = status_word(w)
    if k.status in ("reported", "incomplete") and w.get("period_value") is not None \
            and not pd.isna(w.get("period_value")):
        end = w.get("window_end")
        latest = value_text(w.get("period_value"), unit)
        if end is not None and not pd.isna(end):
            latest += f", {period_label(end, k.frequency)}"
    elif w.get("latest_period") is not None and not pd.isna(w.get("latest_period")):
        latest = (f"last reported {value_text(w.get('latest_value'), unit)}, "
                  f"{period_label(w.get('latest_period'), k.frequency)}")
    else:
        latest = ""
    return GlancePanel(name=k.name, kpi_id=k.kpi_id, unit=unit, direction=k.kpi.get("direction"),
                       points=k.spc.points, status=status, latest=latest, sla=_num(k.kpi.get("sla")),
                       target=_num(k.kpi.get("target")), frequency=k.frequency, periods=k.months or None)


def at_a_glance(r, months: int = GLANCE_MONTHS) -> list:
    """The section "All KPIs at a glance": one page of small multiples (:func:`glance_chart`) per 12 KPIs.

    Parameters
    ----------
    r : ContractReview
        Reads ``kpis`` (see :func:`panel_of`), ``period`` and ``audience``.
    months : int, default 18
        Months of each KPI's series shown.

    Returns
    -------
    list
        One :class:`cinb.display.Block` (class ``cinb-glance``, kept on one printed page): the section's level-2
        ``Heading`` (anchor ``kpis-at-a-glance``, so the heading never stands alone at the foot of a page), a
        sentence, and one ``Chart`` per :data:`MAX_PANELS` KPIs, or ``Paragraphs`` saying the contract has no
        KPI.
    """
    r = for_audience(r)
    heading = Heading("All KPIs at a glance", 2, id="kpis-at-a-glance")
    panels = [panel_of(k) for k in r.kpis]
    if not panels:
        return [Block(heading, Paragraphs(["This contract has no KPI to chart."]), css_class="cinb-glance")]
    end = pd.Period(r.period, "M")
    # A contract with less history than the panels can hold shows what it has: say so, not "the 18 months".
    firsts = [k.series.dropna().index.min() for k in r.kpis if len(k.series.dropna())]
    span = min(months, max(1, (end - min(firsts)).n + 1)) if firsts else months
    months = span
    out = []
    for i in range(0, len(panels), MAX_PANELS):
        part = panels[i:i + MAX_PANELS]
        more = f" ({i + 1}–{i + len(part)} of {len(panels)})" if len(panels) > MAX_PANELS else ""
        out.append(glance_chart(part, months=months,
                                title=f"All KPIs at a glance{more}: the {plural(months, 'month')} to {end:%b %Y}",
                                caption="Each panel: the KPI's values, mean and process limits, SLA and target, "
                                        "and the review month's result in words. The values are in each KPI's "
                                        "chart data under KPI detail."))
    return [Block(heading, out[0], css_class="cinb-glance"),
            *(Block(c, css_class="cinb-glance") for c in out[1:])]


def _num(x):
    return None if x is None or pd.isna(x) else float(x)
