"""Charts in one house style (colour-blind-safe, readable at A4 width), returned as accessible Chart objects.

Every function builds a :class:`matplotlib.figure.Figure` directly, never through pyplot: no backend is
selected or changed, nothing is registered with the inline backend (so no duplicate PNG appears in a
notebook) and nothing stays open. Each returns a :class:`cinb.display.Chart` carrying the image, a generated
alt text and the data behind the chart.

The chart kinds live here and in :mod:`cinb.charts_xmr` (the XmR chart); the house style and the drawing
primitives (palette, rcParams, month axes, margin labels) in :mod:`cinb.chartkit`. Every name of those is
importable from this module too, as it always was.

Palette: Okabe, M. and Ito, K. (2008) "Color Universal Design (CUD) – How to make figures and presentations
that are friendly to colorblind people", https://jfly.uni-koeln.de/color/ — distinguishable under the common
colour-vision deficiencies. Statistical process control colours follow NHS England "Making Data Count":
blue for special-cause improvement, orange for concern, purple for neutral; every point type also has its
own marker shape, so colour never carries meaning alone.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter

from cinb.chartkit import (
    A4_TEXT_WIDTH_IN, EPOCH_MONTH, GREY, HOUSE_RC, INK, OKABE_ITO, SERIES_COLOURS, balanced_columns, bounded,
    bounds_phrase, clip, house_figure, house_style, minus, month_x, monthly_series, right_labels, set_month_axis,
    to_period, trim_ticks_to_bounds, wrap,
)
from cinb.display import RATING_STYLES, Chart, RatingStyle, Table
from cinb.errors import UsageError
from cinb.formatting import (
    NATURAL_BOUNDS, NOT_APPLICABLE, chart_number, day_label, day_label_short, level_places, money, money_short,
    month_label, pence, plural, unit_symbol, value_text,
)
from cinb.charts_xmr import POINT_STYLES, xmr_chart
from cinb.regimes import STATUS_WORD

__all__ = [
    "OKABE_ITO",
    "POINT_STYLES",
    "HOUSE_RC",
    "A4_TEXT_WIDTH_IN",
    "house_style",
    "house_figure",
    "xmr_chart",
    "STATUS_STYLES",
    "rating_heatmap",
    "timeline",
    "commitment_chart",
    "credits_chart",
    "score_bar",
]


# ---------------------------------------------------------------------------------------------- heat map

#: How the heat map draws a KPI whose review month has no rating (:data:`cinb.regimes.STATUS_WORD`): a pale
#: grey cell (never a RAG colour), italic text, and a symbol and short word of its own, so no two statuses, and
#: no status and rating, look alike without colour.
STATUS_STYLES: dict[str, RatingStyle] = {
    word: RatingStyle(word, css_class, symbol, "#F4F4F4", "#3D3D3D", short)
    for word, css_class, symbol, short in (
        (STATUS_WORD["not_reported"], "status-not-reported", "?", "Not rep."),
        (STATUS_WORD["not_due"], "status-not-due", "◌", "Not due"),
        (STATUS_WORD["no_activity"], "status-no-activity", "∅", "No activ."),
        (STATUS_WORD["incomplete"], "status-provisional", "≈", "Prov."),
        (STATUS_WORD["not_started"], "status-not-started", "▷", "Not yet"),
        (STATUS_WORD["ended"], "status-ended", "◁", "Ended"),
    )
}


def rating_heatmap(ratings: pd.DataFrame, *, title: str, caption: str | None = None, format: str = "svg") -> Chart:
    """Contracts × KPIs grid of statutory ratings: each cell coloured AND labelled with symbol and word.

    Parameters
    ----------
    ratings : DataFrame
        Index: contracts (labels shown as rows); columns: KPIs; values: rating words ("Good",
        "Approaching target", "Requires improvement", "Inadequate", "Other"), the words of a review month
        without a rating (:data:`cinb.regimes.STATUS_WORD`: "Not reported", "Not due", "No activity",
        "Provisional", "Not yet in force", "No longer in force"; drawn on pale grey in italics with a symbol
        and short word each, :data:`STATUS_STYLES`, and in the legend only when present), or missing where a
        contract has no such KPI. Words are matched ignoring case and surrounding spaces.
    title : str
    caption : str, optional
    format : {"svg", "png"}

    Returns
    -------
    Chart

    Raises
    ------
    UsageError
        ``ratings`` is not a DataFrame, or holds a value that is neither a rating word nor a status word.
    """
    if not isinstance(ratings, pd.DataFrame):
        raise UsageError(f"rating_heatmap needs a DataFrame of rating words, got {type(ratings).__name__}.")
    styles = {**RATING_STYLES, **STATUS_STYLES}
    lookup = {k.lower(): k for k in styles}
    words = ratings.map(lambda v: None if v is None or (not isinstance(v, str) and pd.isna(v))
                        else lookup.get(str(v).strip().lower(), f"?{v}"))
    bad = sorted({w[1:] for w in words.to_numpy().ravel() if isinstance(w, str) and w.startswith("?")})
    if bad:
        raise UsageError(f"rating_heatmap: {bad} are not rating words; use one of {list(RATING_STYLES)} "
                         f"or a status word {list(STATUS_STYLES)}.")
    n_rows, n_cols = words.shape
    # Row labels wrap onto two lines so the grid keeps most of the page width for its cells.
    row_labels = [wrap(r, 20, 2) for r in ratings.index.astype(str)]
    col_labels = [wrap(c, 18, 2) for c in ratings.columns.astype(str)]
    label_w = 0.25 + 0.068 * max((len(line) for r in row_labels for line in r.split("\n")), default=4)
    cell_w = (A4_TEXT_WIDTH_IN - label_w - 0.9) / max(n_cols, 1)
    cell_h = 0.36
    header_h = 0.25 + 0.05 * max((len(line) for c in col_labels for line in c.split("\n")), default=4)
    height = n_rows * cell_h + header_h + 0.75
    two_line = cell_w < 1.0

    with house_style():
        fig = house_figure(height_in=height)
        ax = fig.add_subplot()
        ax.grid(False)
        for s in ax.spines.values():
            s.set_visible(False)
        for i in range(n_rows):
            for j in range(n_cols):
                w = words.iat[i, j]
                if not isinstance(w, str):  # missing: the contract has no such KPI
                    ax.add_patch(Rectangle((j, i), 1, 1, fc="white", ec="#BDBDBD", lw=0.6, hatch="////"))
                    ax.text(j + 0.5, i + 0.5, NOT_APPLICABLE, ha="center", va="center", fontsize=7, color=GREY,
                            bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none"))
                    continue
                st = styles[w]
                ax.add_patch(Rectangle((j, i), 1, 1, fc=st.background, ec="white", lw=1.5))
                extra = {"style": "italic"} if w in STATUS_STYLES else {}
                if two_line:
                    ax.text(j + 0.5, i + 0.5, st.symbol, ha="center", va="bottom", fontsize=8.5, color=st.color)
                    ax.text(j + 0.5, i + 0.53, st.short, ha="center", va="top", fontsize=6.5, color=st.color,
                            **extra)
                else:
                    ax.text(j + 0.5, i + 0.5, f"{st.symbol} {st.short}", ha="center", va="center", fontsize=7.5,
                            color=st.color, **extra)
        ax.set_xlim(0, n_cols)
        ax.set_ylim(n_rows, 0)
        ax.set_yticks([i + 0.5 for i in range(n_rows)], row_labels)
        ax.set_xticks([j + 0.5 for j in range(n_cols)], col_labels)
        ax.xaxis.tick_top()
        ax.tick_params(length=0)
        for lab in ax.get_xticklabels():
            lab.set_rotation(45)
            lab.set_ha("left")
            lab.set_rotation_mode("anchor")
            lab.set_fontsize(7.5)
        handles = [Patch(fc=s.background, ec="#9E9E9E", lw=0.5, label=f"{s.symbol} {w}") for w, s in
                   RATING_STYLES.items()]
        present = {w for w in words.to_numpy().ravel() if isinstance(w, str)}
        handles += [Patch(fc=s.background, ec="#9E9E9E", lw=0.5, label=f"{s.symbol} {w}") for w, s in
                    STATUS_STYLES.items() if w in present]
        if words.isna().to_numpy().any():
            handles.append(Patch(fc="white", ec="#BDBDBD", hatch="////", label=f"{NOT_APPLICABLE}: no such KPI"))
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 3))

        counts = {w: int((words == w).to_numpy().sum()) for w in styles}
        summary = ", ".join(f"{n} {w}" for w, n in counts.items() if n) or "no ratings"
        alt = (f"Heat map of statutory ratings for {n_rows} contract{'s' if n_rows != 1 else ''} and "
               f"{n_cols} KPI{'s' if n_cols != 1 else ''}: {summary}.")
        worst = [(str(r), int((words.loc[r] == "Inadequate").sum())) for r in words.index]
        worst = [f"{r} ({n})" for r, n in worst if n]
        if worst:
            alt += f" Inadequate ratings in {', '.join(worst[:6])}{' and more' if len(worst) > 6 else ''}."
        data_frame = words.copy()
        data_frame.index = ratings.index.astype(str)
        data_frame.index.name = ratings.index.name or "Contract"
        data_frame.columns = ratings.columns.astype(str)
        data = Table(data_frame, caption="Rating of each KPI by contract", rating_columns=list(data_frame.columns),
                     index=True)
        return Chart(fig, title=title, alt=alt, data=data, caption=caption, format=format)


# ---------------------------------------------------------------------------------------------- timeline


def timeline(
    events: pd.DataFrame,
    *,
    today,
    title: str,
    months: int = 18,
    caption: str | None = None,
    format: str = "svg",
) -> Chart:
    """Contract notice and end dates falling in the next ``months`` months, one row per contract.

    Parameters
    ----------
    events : DataFrame
        Columns contract_id, title, notice_date, end_date (dates; NaT allowed).
    today : date-like
        The end of the review month (marked "Review month ends <date>"): the window runs from here.
    title : str
    months : int
        Window length (default 18).
    caption : str, optional
    format : {"svg", "png"}

    Returns
    -------
    Chart

    Raises
    ------
    UsageError
        ``events`` is not a frame with those columns.
    """
    need = {"contract_id", "title", "notice_date", "end_date"}
    if not isinstance(events, pd.DataFrame) or need - set(events.columns):
        got = list(events.columns) if isinstance(events, pd.DataFrame) else type(events).__name__
        raise UsageError(f"timeline needs a frame with columns {sorted(need)}; got {got}.")
    today = pd.Timestamp(today).normalize()
    horizon = today + pd.DateOffset(months=months)
    ev = events.copy()
    ev["notice_date"] = pd.to_datetime(ev["notice_date"], errors="coerce")
    ev["end_date"] = pd.to_datetime(ev["end_date"], errors="coerce")

    def in_window(d):
        return d.notna() & (d >= today) & (d <= horizon)

    ev["notice_in"] = in_window(ev["notice_date"])
    ev["end_in"] = in_window(ev["end_date"])
    # Notice already passed but the contract still runs: the most urgent case of all, so it is shown.
    ev["notice_passed"] = ev["notice_date"].notna() & (ev["notice_date"] < today) & (ev["end_date"] >= today)
    shown = ev[ev["notice_in"] | ev["end_in"] | (ev["notice_passed"] & ev["end_in"])].copy()
    shown["first"] = shown[["notice_date", "end_date"]].where(
        shown[["notice_in", "end_in"]].to_numpy() | shown[["notice_passed", "end_in"]].to_numpy()
    ).min(axis=1)
    shown = shown.sort_values(["first", "contract_id"], kind="stable").reset_index(drop=True)
    n = len(shown)
    height = max(2.2, 0.34 * n + 1.5)

    def xnum(d):
        return matplotlib.dates.date2num(pd.Timestamp(d).to_pydatetime())

    with house_style():
        fig = house_figure(height_in=height)
        ax = fig.add_subplot()
        ax.grid(axis="x", color="#E0E0E0", lw=0.6)
        ax.grid(axis="y", visible=False)
        ax.set_ylim(max(n, 1) - 0.5, -0.9)
        ax.axvline(xnum(today), color=INK, lw=1.0)
        ax.annotate(f"Review month ends {day_label(today)}", xy=(xnum(today), 1.0), xycoords=ax.get_xaxis_transform(),
                    xytext=(3, 0), textcoords="offset points", ha="left", va="top", fontsize=8)
        for i, r in shown.iterrows():
            start = today if r["notice_passed"] else (r["notice_date"] if r["notice_in"] else None)
            end = r["end_date"] if r["end_in"] else None
            if start is not None:
                ax.plot([xnum(start), xnum(end if end is not None else horizon)], [i, i], color="#9E9E9E", lw=1.5,
                        zorder=1)
            if r["notice_in"]:
                ax.plot(xnum(r["notice_date"]), i, marker="D", ms=7, mfc=OKABE_ITO["vermillion"], mec=INK, mew=0.6,
                        ls="none", zorder=3)
                # Left of the marker, unless that would run into the row labels: then above it.
                near_left = r["notice_date"] < today + pd.DateOffset(months=2)
                ax.annotate(day_label_short(r["notice_date"]), (xnum(r["notice_date"]), i),
                            xytext=(0, 6) if near_left else (-7, 0), textcoords="offset points",
                            ha="center" if near_left else "right", va="bottom" if near_left else "center",
                            fontsize=7.5)
            elif r["notice_passed"]:
                ax.plot(xnum(today), i, marker="<", ms=7, mfc=OKABE_ITO["vermillion"], mec=INK, mew=0.6,
                        ls="none", zorder=3)
                ax.annotate(f"notice passed {day_label_short(r['notice_date'])}", (xnum(today), i), xytext=(8, 5),
                            textcoords="offset points", ha="left", va="bottom", fontsize=7.5)
            if end is not None:
                ax.plot(xnum(end), i, marker="s", ms=6.5, mfc=INK, mec=INK, ls="none", zorder=3)
                ax.annotate(day_label_short(end), (xnum(end), i), xytext=(7, 0), textcoords="offset points",
                            ha="left", va="center", fontsize=7.5)
            elif pd.notna(r["end_date"]) and r["end_date"] > horizon:
                # Ends after the window: an arrow at the window's edge says "continues", with the end date.
                ax.plot(xnum(horizon), i, marker=">", ms=6, mfc="#9E9E9E", mec="#9E9E9E", ls="none", zorder=3)
                ax.annotate(f"ends {day_label_short(r['end_date'])}", (xnum(horizon), i), xytext=(7, 0),
                            textcoords="offset points", ha="left", va="center", fontsize=7.5, color=GREY)
        ax.set_yticks(range(n), [f"{clip(c, 14)}  {clip(t, 30)}" for c, t in
                                 zip(shown["contract_id"].astype(str), shown["title"].astype(str))])
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        # Room for the end-date labels beyond the window's last day.
        ax.set_xlim(xnum(today - pd.DateOffset(days=20)), xnum(horizon + pd.DateOffset(months=3)))
        ticks = pd.date_range(today.to_period("M").to_timestamp(), horizon, freq="3MS")
        ax.set_xticks([xnum(t) for t in ticks], [f"{t:%b}\n{t:%Y}" for t in ticks])
        if n == 0:
            ax.set_yticks([])
            ax.text(0.5, 0.5, f"No notice or end dates in the next {months} months.", transform=ax.transAxes,
                    ha="center", va="center", fontsize=9)
        handles = [
            Line2D([], [], marker="D", ms=7, mfc=OKABE_ITO["vermillion"], mec=INK, ls="none", label="Notice date"),
            Line2D([], [], marker="s", ms=6.5, mfc=INK, mec=INK, ls="none", label="Contract end"),
        ]
        if shown["notice_passed"].any():
            handles.append(Line2D([], [], marker="<", ms=7, mfc=OKABE_ITO["vermillion"], mec=INK, ls="none",
                                  label="Notice date already passed"))
        if (shown["end_date"] > horizon).any():
            handles.append(Line2D([], [], marker=">", ms=6, mfc="#9E9E9E", mec="#9E9E9E", ls="none",
                                  label="Ends after the window"))
        fig.legend(handles=handles, loc="outside lower center", ncols=balanced_columns(len(handles), 4))

        window = f"{day_label(today)} to {day_label(horizon)}"
        if n == 0:
            alt = f"Timeline of contract notice and end dates from {window}: none fall in this window."
        else:
            alt = f"Timeline of contract notice and end dates from {window}: {n} contract{'s' if n != 1 else ''}"
            notices = shown[shown["notice_in"]].sort_values("notice_date")
            if len(notices):
                nx = notices.iloc[0]
                alt += (f"; next notice date {day_label(nx['notice_date'])} "
                        f"({nx['contract_id']} {nx['title']})")
            alt += f"; {int(shown['end_in'].sum())} end in the window"
            passed = int(shown["notice_passed"].sum())
            if passed:
                alt += f"; {passed} notice date{'s' if passed != 1 else ''} already passed"
            alt += "."
        data = pd.DataFrame({
            "Contract": shown["contract_id"].astype(str).to_numpy(),
            "Title": shown["title"].astype(str).to_numpy(),
            "Notice date": shown["notice_date"].to_numpy(),
            "Days to notice": (shown["notice_date"] - today).dt.days.to_numpy(),
            "End date": shown["end_date"].to_numpy(),
            "Days to end": (shown["end_date"] - today).dt.days.to_numpy(),
        })
        table = Table(data, caption="Notice and end dates in the window", row_header="Contract")
        return Chart(fig, title=title, alt=alt, data=table, caption=caption, format=format)


# ---------------------------------------------------------------------------------------------- commitments


def commitment_chart(
    actuals: pd.Series,
    trajectory: pd.Series,
    forecast: pd.Series | pd.DataFrame | None = None,
    *,
    title: str,
    unit: str,
    ci_target: float | None = None,
    due=None,
    caption: str | None = None,
    format: str = "svg",
) -> Chart:
    """A CI commitment: actual values against the committed trajectory, with a forecast to the due month.

    Parameters
    ----------
    actuals : Series
        Actual monthly values indexed by Period.
    trajectory : Series
        Expected value per month under the commitment (baseline to target), indexed by Period.
    forecast : Series or DataFrame, optional
        Forecast per month: a Series, or a frame with ``forecast`` (or ``value``) and optional ``lower`` and
        ``upper`` columns drawn as a band.
    title, unit : str
        The chart's title and the KPI's unit. Trajectory, forecast and forecast range are drawn and tabled
        within the unit's natural bounds (:data:`cinb.formatting.NATURAL_BOUNDS`: 0–100 for ``%``, from 0 for
        counts, durations and ``GBP``): a truncated forecast is labelled on the chart with its computed value
        ("Forecast 104.0%, drawn at 100%"), and the alt text and the data table's caption say once what was
        truncated. No y tick lies beyond a bound.
    ci_target : float, optional
        The committed level, drawn as a line and marked at ``due``.
    due : month-like, optional
        The month the commitment falls due.
    caption : str, optional
    format : {"svg", "png"}

    Returns
    -------
    Chart

    Raises
    ------
    UsageError
        A series is not indexed by month, a forecast frame has no forecast column, or there is no month at all.
    """
    act = monthly_series(actuals, "actuals")
    traj = monthly_series(trajectory, "trajectory")
    fc, band = None, None
    if forecast is not None:
        if isinstance(forecast, pd.DataFrame):
            col = "forecast" if "forecast" in forecast.columns else "value" if "value" in forecast.columns else None
            if col is None:
                raise UsageError(f"commitment_chart: forecast frame needs a 'forecast' or 'value' column; "
                                 f"got {list(forecast.columns)}.")
            fc = monthly_series(forecast[col], "forecast")
            if {"lower", "upper"} <= set(forecast.columns):
                band = (monthly_series(forecast["lower"], "forecast lower"),
                        monthly_series(forecast["upper"], "forecast upper"))
        else:
            fc = monthly_series(forecast, "forecast")
    traj, cut = _bound_series(traj, unit, "trajectory", {})
    if fc is not None:
        fc, cut = _bound_series(fc, unit, "forecast", cut)
    if band is not None:
        lo_s, cut = _bound_series(band[0], unit, "forecast range", cut)
        hi_s, cut = _bound_series(band[1], unit, "forecast range", cut)
        band = (lo_s, hi_s)
    due_p = to_period(due) if due is not None and not (isinstance(due, float) and pd.isna(due)) else None
    months = [p for s in (act, traj, fc) if s is not None for p in s.index]
    if due_p is not None:
        months.append(due_p)
    if not months:
        raise UsageError("commitment_chart: actuals, trajectory and forecast are all empty.")
    first, last = min(month_x(p) for p in months), max(month_x(p) for p in months)
    height = 2.6  # as tall as an XmR chart: two share a page with the CI commitments table

    with house_style():
        fig = house_figure(height_in=height)
        ax = fig.add_subplot()
        mx = lambda s: [month_x(p) for p in s.index]  # noqa: E731
        if band is not None:
            lo, hi = band
            common = lo.index.intersection(hi.index)
            ax.fill_between(mx(lo.loc[common]), lo.loc[common].to_numpy(), hi.loc[common].to_numpy(),
                            color=OKABE_ITO["blue"], alpha=0.15, lw=0, label="Forecast range")
        if fc is not None and len(fc):
            ax.plot(mx(fc), fc.to_numpy(), color=OKABE_ITO["blue"], lw=1.4, ls=(0, (5, 2)), label="Forecast")
        if len(traj):
            ax.plot(mx(traj), traj.to_numpy(), color=OKABE_ITO["sky_blue"], lw=2.2, ls=(0, (1, 1.5)),
                    label="Committed trajectory")
        if len(act):
            full = act.reindex(pd.period_range(act.index.min(), act.index.max(), freq="M"))
            ax.plot(mx(full), full.to_numpy(), color=INK, lw=1.3, marker="o", ms=3.2, label="Actual", zorder=3)
        labels = []
        committed = None  # the commitment as written (a 99.95 % commitment is not "100.0"), for label and alt text
        if ci_target is not None and not pd.isna(ci_target):
            committed = chart_number(ci_target, unit, level_places(ci_target))
            ax.axhline(ci_target, color=OKABE_ITO["bluish_green"], lw=1.3, zorder=1)
            labels.append((ci_target, f"CI target {committed}"))
            if due_p is not None:
                ax.plot(month_x(due_p), ci_target, marker="*", ms=12, mfc=OKABE_ITO["bluish_green"], mec=INK,
                        mew=0.6, ls="none", zorder=4, label=f"Target due {month_label(due_p)}")
        if due_p is not None:
            ax.axvline(month_x(due_p), color="#7A7A7A", lw=0.9, ls=(0, (2, 2)), zorder=1)
        if "forecast" in cut:
            # The truncated forecast furthest from its bound carries the label, just inside the plot.
            p, computed, shown = max(cut["forecast"], key=lambda c: abs(c[1] - c[2]))
            many = len(cut["forecast"]) > 1
            ax.annotate(f"Forecast {'up to ' if many and computed > shown else 'down to ' if many else ''}"
                        f"{minus(value_text(computed, unit))}, drawn at {value_text(shown, unit)}",
                        xy=(month_x(p), shown), xytext=(-4, -4 if computed > shown else 4), textcoords="offset points",
                        ha="right", va="top" if computed > shown else "bottom", fontsize=7.5, color=INK,
                        bbox=dict(boxstyle="square,pad=0.15", fc="white", ec="none", alpha=0.85), zorder=5)
        set_month_axis(ax, first, last)
        ax.set_ylabel(f"{wrap(title, 24, 2)} ({unit_symbol(unit)})")
        trim_ticks_to_bounds(ax, unit)
        right_labels(ax, labels, height)
        fig.legend(loc="outside lower center", ncols=5)
        bounds_note = _series_bounds_sentence(cut, unit)

        alt = f"Commitment chart of {title} ({unit_symbol(unit)})"
        alt += f" from {month_label(EPOCH_MONTH + first)} to {month_label(EPOCH_MONTH + last)}"
        observed = act.dropna()
        if len(observed):
            p, v = observed.index[-1], observed.iloc[-1]
            alt += f": latest actual {chart_number(v, unit)} ({month_label(p)})"
            if p in traj.index and not pd.isna(traj.loc[p]):
                alt += f" against a trajectory of {chart_number(traj.loc[p], unit)} for that month"
        else:
            alt += ": no actual values yet"
        if committed is not None:
            alt += f"; commitment {committed}" + (f" by {month_label(due_p)}" if due_p else "")
        if fc is not None and due_p is not None and due_p in fc.index and not pd.isna(fc.loc[due_p]):
            alt += f"; forecast {chart_number(fc.loc[due_p], unit)} at the due date"
        alt += "." + (f" {bounds_note}" if bounds_note else "")
        idx = pd.period_range(EPOCH_MONTH + first, EPOCH_MONTH + last, freq="M")
        data = pd.DataFrame({"Month": [month_label(p) for p in idx],
                             "Actual": act.reindex(idx).to_numpy(),
                             "Trajectory": traj.reindex(idx).to_numpy()})
        if fc is not None:
            data["Forecast"] = fc.reindex(idx).to_numpy()
        if band is not None:
            data["Forecast lower"] = band[0].reindex(idx).to_numpy()
            data["Forecast upper"] = band[1].reindex(idx).to_numpy()
        table = Table(data, caption="Actual, trajectory and forecast by month" + (f". {bounds_note}" if bounds_note
                                                                                  else ""), row_header="Month")
        return Chart(fig, title=title, alt=alt, data=table, caption=caption, format=format)


def _bound_series(series: pd.Series, unit, what: str, cut: dict) -> tuple[pd.Series, dict]:
    """``series`` within the unit's natural bounds; ``cut[what]`` gains (month, computed, shown) per value moved."""
    shown, moved = bounded(series.to_numpy(), unit)
    if moved:
        cut = {**cut, what: [*cut.get(what, []), *((series.index[i], v, w) for i, v, w in moved)]}
    return pd.Series(shown, index=series.index, dtype=float), cut


def _series_bounds_sentence(cut: dict, unit) -> str:
    """``Forecast and trajectory are shown within what the quantity can be: the forecast for Jan 2026, 104.0%, is
    above 100%.`` — empty when nothing was truncated."""
    if not cut:
        return ""
    lo_b = NATURAL_BOUNDS[unit][0]
    parts = []
    for what in ("forecast", "forecast range", "trajectory"):
        items = cut.get(what)
        if not items:
            continue
        below = [c for c in items if lo_b is not None and c[1] < lo_b]
        for side in (below, [c for c in items if c not in below]):
            if not side:
                continue
            p, v, w = max(side, key=lambda c: abs(c[1] - c[2]))
            phrase = bounds_phrase(w, unit)
            n_months = len({c[0] for c in side})
            if n_months == 1:
                parts.append(f"the {what} for {month_label(p)}, {minus(value_text(v, unit))}, is {phrase}")
            else:
                way = "down" if side is below else "up"
                parts.append(f"the {what} is {phrase} in {n_months} months, {way} to "
                             f"{minus(value_text(v, unit))} ({month_label(p)})")
    return f"Forecast and trajectory are shown within what the quantity can be: {'; '.join(parts)}."


# ---------------------------------------------------------------------------------------------- credits

_HATCHES = ["", "///", "...", "xxx", "\\\\\\", "+++", "ooo", "---"]


def credits_chart(
    monthly: pd.Series | pd.DataFrame,
    cap_gbp: float | pd.Series | None = None,
    *,
    title: str,
    caption: str | None = None,
    format: str = "svg",
) -> Chart:
    """Service credits (£) per month as bars, stacked by KPI when given a frame, with the monthly cap.

    Parameters
    ----------
    monthly : Series or DataFrame
        Credits in £ indexed by Period; a frame stacks its columns (e.g. one per KPI, at most 8).
    cap_gbp : float or Series, optional
        The monthly cap in £ (a Series by month if the charge changed).
    title : str
    caption : str, optional
    format : {"svg", "png"}

    Returns
    -------
    Chart

    Raises
    ------
    UsageError
        ``monthly`` is not a Series or frame indexed by month, or a frame has more than 8 columns.
    """
    if isinstance(monthly, pd.Series):
        frame = monthly_series(monthly, "monthly credits").to_frame("Credits")
    elif isinstance(monthly, pd.DataFrame):
        frame = pd.DataFrame({str(c): monthly_series(monthly[c], f"credits column {c!r}") for c in monthly.columns})
    else:
        raise UsageError(f"credits_chart needs a Series or DataFrame indexed by month, got {type(monthly).__name__}.")
    if frame.shape[1] > len(_HATCHES):
        raise UsageError(f"credits_chart stacks at most {len(_HATCHES)} columns; got {frame.shape[1]}. "
                         "Group the smaller KPIs into 'Other' first.")
    if len(frame):
        frame = frame.reindex(pd.period_range(frame.index.min(), frame.index.max(), freq="M"))
    totals = frame.sum(axis=1, min_count=1)
    x = np.array([month_x(p) for p in frame.index], dtype=float)
    height = 3.2
    stacked = frame.shape[1] > 1
    with house_style():
        fig = house_figure(height_in=height)
        ax = fig.add_subplot()
        bottom = np.zeros(len(frame))
        colours = SERIES_COLOURS
        for k, col in enumerate(frame.columns):
            vals = frame[col].fillna(0).to_numpy()
            ax.bar(x, vals, 0.75, bottom=bottom, color=colours[k], hatch=_HATCHES[k] if stacked else None,
                   edgecolor="white" if not stacked else INK, lw=0.4 if stacked else 0, label=col)
            bottom += vals
        top = float(np.nanmax(totals.to_numpy())) if totals.notna().any() else 0.0
        labels = []
        cap_series = None
        if cap_gbp is not None:
            if isinstance(cap_gbp, pd.Series):
                cap_series = monthly_series(cap_gbp, "cap_gbp").reindex(frame.index)
                ax.step(x, cap_series.to_numpy(), where="mid", color=OKABE_ITO["vermillion"], lw=1.4,
                        ls=(0, (6, 2)), label="Monthly cap")
                top = max(top, float(np.nanmax(cap_series.to_numpy())) if cap_series.notna().any() else 0)
            elif not pd.isna(cap_gbp):
                cap_series = pd.Series(float(cap_gbp), index=frame.index)
                ax.axhline(cap_gbp, color=OKABE_ITO["vermillion"], lw=1.4, ls=(0, (6, 2)), label="Monthly cap")
                labels.append((float(cap_gbp), f"Cap {money_short(float(cap_gbp))}"))
                top = max(top, float(cap_gbp))
        ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)
        if len(frame) <= 18:
            for xi, t in zip(x, totals.to_numpy()):
                # "£0" and "n/a" keep a month without credits apart from a month without data.
                shown = NOT_APPLICABLE if pd.isna(t) else money_short(t)
                ax.annotate(shown, (xi, 0 if pd.isna(t) else t), xytext=(0, 2), textcoords="offset points",
                            ha="center", va="bottom", fontsize=7.5,
                            color=INK if shown not in (money_short(0), NOT_APPLICABLE) else GREY,
                            bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none", alpha=0.85))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: money(v)))
        ax.set_ylabel("Service credits (£)")
        if len(frame):
            set_month_axis(ax, int(x.min()), int(x.max()))
        right_labels(ax, labels, height)
        if stacked or cap_series is not None:
            fig.legend(loc="outside lower center", ncols=min(frame.shape[1] + 1, 5))

        total = float(totals.sum(skipna=True))
        months_with = int((totals > 0).sum())
        if len(frame):
            alt = (f"Bar chart of service credits per month from {month_label(frame.index[0])} to "
                   f"{month_label(frame.index[-1])}: total {money_short(total)} ({chart_number(total, 'GBP')}), "
                   f"credits due in {months_with} of {plural(len(frame), 'month')}")
            if months_with:
                pk = totals.idxmax()
                alt += f"; largest {chart_number(totals.loc[pk], 'GBP')} in {month_label(pk)}"
            if cap_series is not None:
                at_cap = int((totals >= cap_series - 0.005).sum())
                if isinstance(cap_gbp, int | float):
                    alt += f"; monthly cap {chart_number(cap_gbp, 'GBP')}"
                alt += f", reached in {at_cap} month{'s' if at_cap != 1 else ''}"
            alt += "."
        else:
            alt = "Bar chart of service credits per month: no months to show."
        data = pd.DataFrame({"Month": [month_label(p) for p in frame.index]})
        fmts = {}
        for col in frame.columns:
            name = f"{col} (£)" if stacked else "Credits (£)"
            data[name] = frame[col].to_numpy()
            fmts[name] = pence
        if stacked:
            data["Total (£)"] = totals.to_numpy()
            fmts["Total (£)"] = pence
        if cap_series is not None:
            data["Cap (£)"] = cap_series.to_numpy()
            fmts["Cap (£)"] = pence
        table = Table(data, caption="Service credits by month", number_formats=fmts, row_header="Month")
        return Chart(fig, title=title, alt=alt, data=table, caption=caption, format=format)


# ---------------------------------------------------------------------------------------------- score bars


def score_bar(
    scorecard: pd.Series | pd.DataFrame,
    *,
    title: str,
    label: str = "Weighted score",
    max_value: float | None = None,
    caption: str | None = None,
    format: str = "svg",
) -> Chart:
    """Ranked horizontal bars (best at the top), each labelled with its value.

    Parameters
    ----------
    scorecard : Series or DataFrame
        Scores indexed by name, or a frame with a ``score`` column (names from a ``label``, ``name`` or
        ``contract_id`` column, else the index).
    title : str
    label : str
        What the score is, for the axis and alt text.
    max_value : float, optional
        Right end of the axis (default 100 when every score is within 0–100).
    caption : str, optional
    format : {"svg", "png"}

    Returns
    -------
    Chart

    Raises
    ------
    UsageError
        ``scorecard`` is neither a Series nor a frame with a ``score`` column.
    """
    if isinstance(scorecard, pd.DataFrame):
        if "score" not in scorecard.columns:
            raise UsageError(f"score_bar: the frame needs a 'score' column; got {list(scorecard.columns)}.")
        name_col = next((c for c in ("label", "name", "contract_id") if c in scorecard.columns), None)
        names = scorecard[name_col] if name_col else scorecard.index.to_series()
        s = pd.Series(pd.to_numeric(scorecard["score"], errors="coerce").to_numpy(dtype=float),
                      index=names.astype(str).to_numpy())
    elif isinstance(scorecard, pd.Series):
        s = pd.Series(pd.to_numeric(scorecard, errors="coerce").to_numpy(dtype=float),
                      index=scorecard.index.astype(str))
    else:
        raise UsageError(f"score_bar needs a Series or DataFrame, got {type(scorecard).__name__}.")
    scored = s.dropna().sort_values(ascending=False, kind="stable")
    unscored = [str(n) for n in s.index[s.isna()]]
    n = len(scored)
    height = max(1.8, 0.3 * n + 1.0)
    vmax = max_value or (100.0 if n and scored.min() >= 0 and scored.max() <= 100 else
                         (float(scored.max()) * 1.12 if n else 1.0))
    with house_style():
        fig = house_figure(height_in=height)
        ax = fig.add_subplot()
        ax.grid(axis="y", visible=False)
        ax.grid(axis="x", color="#E0E0E0", lw=0.6)
        y = np.arange(n)
        ax.barh(y, scored.to_numpy(), 0.7, color=OKABE_ITO["blue"])
        for yi, v in zip(y, scored.to_numpy()):
            ax.annotate(chart_number(v, None), (v, yi), xytext=(3, 0), textcoords="offset points", ha="left", va="center",
                        fontsize=8)
        ax.set_yticks(y, [clip(nm, 36) for nm in scored.index])
        ax.set_ylim(max(n, 1) - 0.5, -0.5)
        ax.set_xlim(min(0.0, float(scored.min()) if n else 0.0), vmax * 1.06)
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel(label)
        if n == 0:
            ax.text(0.5, 0.5, "No scores to show.", transform=ax.transAxes, ha="center", va="center")
        if n:
            alt = (f"Ranked bar chart of {label.lower()} for {n} item{'s' if n != 1 else ''}: highest "
                   f"{scored.index[0]} ({chart_number(scored.iloc[0])}), lowest {scored.index[-1]} ({chart_number(scored.iloc[-1])}), "
                   f"median {chart_number(float(scored.median()))}")
        else:
            alt = f"Ranked bar chart of {label.lower()}: no scores"
        if unscored:
            alt += f"; not scored: {', '.join(unscored[:5])}{' and more' if len(unscored) > 5 else ''}"
        alt += "."
        data = pd.DataFrame({"Rank": np.arange(1, n + 1), "Name": list(scored.index), label: scored.to_numpy()})
        table = Table(data, caption=f"{label} by rank", row_header="Name")
        return Chart(fig, title=title, alt=alt, data=table, caption=caption, format=format)
