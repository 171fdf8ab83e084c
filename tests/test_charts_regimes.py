"""Charts of KPI regimes (data contract version 2): quarterly and annual axes, limits within natural bounds,
periods that are not points (no activity, provisional), notes and volumes, status words in the heat map, and
forecasts within bounds in the commitment chart."""

from __future__ import annotations

import re
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest

from cinb import charts, charts_xmr
from cinb.chartkit import month_x, period_tick_label
from cinb.errors import UsageError

QUARTERS = pd.period_range("2024-12", "2026-09", freq="M")[::3]  # 8 quarter-ends: Dec 2024 … Sep 2026
MONTHS = pd.period_range("2025-11", "2026-10", freq="M")  # 12 months


@pytest.fixture
def captured(monkeypatch):
    """The Figures the chart functions hand to Chart, so their artists can be inspected."""
    figs = []
    real = charts.Chart

    def spy(fig, **kw):
        figs.append(fig)
        return real(fig, **kw)

    monkeypatch.setattr(charts, "Chart", spy)
    monkeypatch.setattr(charts_xmr, "Chart", spy)
    return figs


def _points(index, values, mean, lpl, upl):
    """A points frame as cinb.spc.xmr(...).points returns it, with the limits given."""
    pts = pd.DataFrame({"value": np.asarray(values, dtype=float), "mean": mean, "lpl": lpl, "upl": upl, "group": 0,
                        "rule": None, "point_type": "common_cause"}, index=index)
    pts[["rule", "point_type"]] = pts[["rule", "point_type"]].astype(object)
    pts.loc[pts["value"].isna(), "point_type"] = None
    return pts


def _tick_labels(ax) -> list[str]:
    fmt = ax.xaxis.get_major_formatter()
    return [fmt(t, i) for i, t in enumerate(ax.get_xticks())]


def _rows(table_html: str) -> dict[str, list[str]]:
    """Data-table rows by row header: the text of each cell (tags stripped)."""
    out = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table_html):
        cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
        if cells and row.startswith('<th scope="row"'):
            out[cells[0]] = cells[1:]
    return out


def _headers(table_html: str) -> list[str]:
    return re.findall(r'<th scope="col"[^>]*>([^<]*)</th>', table_html)


# --------------------------------------------------------------------------------------- quarterly and annual


def test_quarterly_axis_is_labelled_by_quarter_and_keeps_true_spacing(captured):
    values = [82.0, 85.5, np.nan, 88.0, 84.0, 90.5, 86.0, 91.0]
    chart = charts.xmr_chart(_points(QUARTERS, values, 86.0, 75.0, 97.0), title="T", unit="%", direction="higher",
                             frequency="quarterly", kpi_name="User satisfaction")
    ax = captured[0].axes[0]
    labels = _tick_labels(ax)
    assert labels == ["Oct–Dec\n2024", "Jan–Mar\n2025", "Apr–Jun\n2025", "Jul–Sep\n2025", "Oct–Dec\n2025",
                      "Jan–Mar\n2026", "Apr–Jun\n2026", "Jul–Sep\n2026"]
    assert not any(re.search(r"\bQ\d", t) for t in labels)  # financial quarters: never "Q1"
    line = ax.lines[0]
    assert line.get_label() == "Quarterly value"
    assert np.all(np.diff(np.asarray(line.get_xdata(), float)) == 3)  # a point stays at its month
    legend = [t.get_text() for t in captured[0].legends[0].get_texts()]
    assert "Quarterly value" in legend and "Monthly value" not in legend
    assert chart.alt.startswith("XmR chart of User satisfaction (%) from Oct–Dec 2024 to Jul–Sep 2026: ")
    assert "1 quarter without a value" in chart.alt and "month" not in chart.alt
    assert _headers(chart.data.html)[0] == "Quarter"
    rows = _rows(chart.data.html)
    assert list(rows) == ["Oct–Dec 2024", "Jan–Mar 2025", "Apr–Jun 2025", "Jul–Sep 2025", "Oct–Dec 2025",
                          "Jan–Mar 2026", "Apr–Jun 2026", "Jul–Sep 2026"]
    assert rows["Apr–Jun 2025"][-1] == "Not reported"
    assert chart.data.caption.startswith("Quarterly values")


def test_quarterly_missing_quarter_is_a_gap_and_long_histories_thin_the_labels(captured):
    twelve = pd.period_range("2023-12", "2026-09", freq="M")[::3]
    pts = _points(twelve, np.linspace(80, 90, 12), 85.0, 75.0, 95.0).drop(index=twelve[4])  # no row at all
    chart = charts.xmr_chart(pts, title="T", unit="%", direction="higher", frequency="quarterly")
    ax = captured[0].axes[0]
    y = np.asarray(ax.lines[0].get_ydata(), float)
    assert len(y) == 12 and np.isnan(y[4])  # the missing quarter breaks the line, not the months between
    labels = [t for t in _tick_labels(ax) if t]
    assert len(labels) == 6 and labels[-1] == "Jul–Sep\n2026"  # every second quarter, the latest labelled
    assert len(ax.xaxis.get_minor_locator().tick_values(0, 1)) == 12  # every quarter keeps a tick
    assert "1 quarter without a value" in chart.alt


def test_period_tick_labels_across_a_year_and_annual(captured):
    assert period_tick_label(month_x(pd.Period("2026-01", "M")), "quarterly") == "Nov–Jan\n2025–26"
    assert period_tick_label(month_x(pd.Period("2026-03", "M")), "annual") == "year to\nMar 2026"
    years = pd.PeriodIndex(["2023-03", "2024-03", "2025-03", "2026-03"], freq="M")
    chart = charts.xmr_chart(_points(years, [3.0, 2.0, np.nan, 2.5], 2.5, 0.5, 4.5), title="T", unit="count",
                             direction="lower", frequency="annual")
    ax = captured[0].axes[0]
    assert _tick_labels(ax) == ["year to\nMar 2023", "year to\nMar 2024", "year to\nMar 2025", "year to\nMar 2026"]
    assert ax.lines[0].get_label() == "Annual value"
    assert "from the year to Mar 2023 to the year to Mar 2026" in chart.alt
    assert "1 year without a value" in chart.alt
    assert "Year to Mar 2025" in _rows(chart.data.html)


# --------------------------------------------------------------------------------------- natural bounds


def test_percent_lower_limit_is_drawn_and_tabled_at_zero_with_the_computed_value_said(captured):
    values = [10.0, 45.0, 12.0, 40.0, 15.0, 38.0, 20.0, 30.0, 25.0, 35.0, 22.0, 14.0]
    chart = charts.xmr_chart(_points(MONTHS, values, 25.6, -8.9, 60.1), title="T", unit="%", direction="higher")
    ax = captured[0].axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert "Lower limit 0.0 (computed −8.9)" in texts and "Upper limit 60.1" in texts
    limit_levels = {ln.get_ydata()[0] for ln in ax.lines if ln.get_linestyle() == "--"}
    assert limit_levels == {0.0, 60.1}
    assert min(ax.get_yticks()) >= 0 and ax.get_ylim()[0] > -5  # no negative % on the axis
    sentence = ("Process limits are shown within what the quantity can be: the computed lower limit, −8.9%, "
                "is below zero.")
    assert chart.alt.count(sentence) == 1 and "process limits 0.0 to 60.1" in chart.alt
    assert chart.data.caption.count(sentence) == 1
    rows = _rows(chart.data.html)
    lower = _headers(chart.data.html).index("Lower limit") - 1
    assert {r[lower] for r in rows.values()} == {"0"}


def test_hours_lower_limit_and_percent_upper_limit(captured):
    values = [400, 2600, 900, 3100, 600, 2200, 1500, 350, 2800, 1200, 700, 3300]
    chart = charts.xmr_chart(_points(MONTHS, values, 1622.7, -1630.4, 4875.8), title="T", unit="hours",
                             direction="lower")
    ax = captured[0].axes[0]
    assert "Lower limit 0.0 (computed −1,630.4)" in [t.get_text() for t in ax.texts]
    assert min(ax.get_yticks()) >= 0 and -0.05 * 3300 < ax.get_ylim()[0] < 0  # the 0 line stays off the spine
    assert ("the computed lower limit, −1,630.4 hours, is below zero." in chart.alt)
    assert "−1,630.4 hours" in chart.data.caption

    chart = charts.xmr_chart(_points(MONTHS, np.linspace(90, 99.5, 12), 96.0, 87.4, 104.6), title="T", unit="%",
                             direction="higher")
    ax = captured[1].axes[0]
    assert "Upper limit 100.0 (computed 104.6)" in [t.get_text() for t in ax.texts]
    assert max(ax.get_yticks()) <= 100
    assert "the computed upper limit, 104.6%, is above 100%." in chart.alt


def test_scores_are_not_truncated(captured):
    chart = charts.xmr_chart(_points(MONTHS, np.linspace(-5, 5, 12), 0.0, -12.0, 12.0), title="T", unit="score",
                             direction="higher")
    texts = [t.get_text() for t in captured[0].axes[0].texts]
    assert "Lower limit −12.0" in texts and "computed" not in chart.alt


# --------------------------------------------------------------------------------------- periods that are not points


def _regime(statuses=None, notes=None, volumes=None, values=None):
    """Periods (as KpiReview.months) and the SPC points built from them as cinb.review does."""
    statuses, notes, volumes = statuses or {}, notes or {}, volumes or {}
    values = values if values is not None else [96.0, 95.5, 97.0, 96.5, 95.9, 96.8, 97.2, 95.0, 96.3, 88.2, 96.0, 98.0]
    periods = []
    for p, v in zip(MONTHS, values):
        st = statuses.get(str(p), "reported")
        periods.append({"period": p, "status": st, "value": None if st == "no_activity" else v,
                        "volume": volumes.get(str(p)), "note": notes.get(str(p))})
    kept = [x for x in periods if x["status"] not in ("no_activity", "incomplete")]
    pts = _points(pd.PeriodIndex([x["period"] for x in kept], freq="M"),
                  [x["value"] if x["status"] == "reported" else np.nan for x in kept], 95.8, 91.0, 100.0)
    return periods, pts


def test_no_activity_month_is_not_plotted_but_is_a_table_row_with_its_note(captured):
    periods, pts = _regime(statuses={"2026-03": "no_activity"}, notes={"2026-03": "Service closed for refit."},
                           volumes={"2026-03": 0})
    chart = charts.xmr_chart(pts, title="T", unit="%", direction="higher", periods=periods)
    ax = captured[0].axes[0]
    x_march = month_x(pd.Period("2026-03", "M"))
    plotted = [np.asarray(ln.get_xdata(), float) for ln in ax.lines if ln.get_marker() not in ("None", None, "")]
    assert all(x_march not in xs for xs in plotted)
    line_y = np.asarray(ax.lines[0].get_ydata(), float)
    assert len(line_y) == 11 and np.isfinite(line_y).all()  # the process line passes the month by, unbroken
    assert charts_xmr.NO_ACTIVITY_FOOT in [t.get_text() for t in ax.texts]
    row = _rows(chart.data.html)["Mar 2026"]
    headers = _headers(chart.data.html)
    assert row[headers.index("Point type") - 1] == "No activity"
    assert row[headers.index("Note") - 1] == "Service closed for refit."
    assert row[headers.index("Value") - 1] == "–not available"  # a dash, read out as "not available"
    assert "1 month with no activity (Mar 2026)" in chart.alt and "without a value" not in chart.alt
    assert chart.caption == "Notes: 1 — Mar 2026 (no activity): Service closed for refit."


def test_provisional_latest_month_is_a_hollow_marker_off_the_line(captured):
    periods, pts = _regime(statuses={"2026-10": "incomplete"})
    chart = charts.xmr_chart(pts, title="T", unit="%", direction="higher", periods=periods, target=95)
    ax = captured[0].axes[0]
    prov = [ln for ln in ax.lines if ln.get_label() == "Provisional (not rated)"]
    assert len(prov) == 1
    p = prov[0]
    assert p.get_linestyle() == "None" and p.get_marker() == "D"
    assert matplotlib.colors.to_hex(p.get_markerfacecolor()) == "#ffffff"  # hollow
    assert list(p.get_xdata()) == [month_x(pd.Period("2026-10", "M"))] and list(p.get_ydata()) == [98.0]
    assert month_x(pd.Period("2026-10", "M")) not in list(ax.lines[0].get_xdata())  # not joined to the line
    markers = {ln.get_marker() for ln in ax.lines if ln.get_linestyle() == "None"}
    assert "D" in markers and "o" not in markers
    assert "Provisional (not rated)" in [t.get_text() for t in captured[0].legends[0].get_texts()]
    row = _rows(chart.data.html)["Oct 2026"]
    assert row[0] == "98" or row[0].startswith("98")
    assert row[_headers(chart.data.html).index("Point type") - 1] == "Provisional"
    assert "latest value (Oct 2026) provisional, 98.0, last reported 96.0 (Sep 2026)" in chart.alt
    assert "against target" not in chart.alt  # a provisional value is never rated


def test_notes_and_volumes_fill_columns_caption_and_numbers(captured):
    long = "Major outage 14 March: the data-centre cooling failed " + "and more detail " * 12
    periods, pts = _regime(statuses={"2026-10": "incomplete"},
                           notes={"2026-08": long, "2026-10": "Figures to the 20th only."},
                           volumes={str(p): 1200 + 100 * i for i, p in enumerate(MONTHS)})
    chart = charts.xmr_chart(pts, title="T", unit="%", direction="higher", periods=periods, volume_unit="calls",
                             caption="Source: supplier returns.")
    headers = _headers(chart.data.html)
    assert "Volume (calls)" in headers and "Note" in headers
    rows = _rows(chart.data.html)
    assert rows["Nov 2025"][headers.index("Volume (calls)") - 1] == "1,200"
    assert rows["Aug 2026"][headers.index("Note") - 1] == long.strip()  # the table keeps the whole note
    caption = chart.caption
    assert caption.startswith("Source: supplier returns. Notes: 1 — Aug 2026: Major outage 14 March")
    first = caption.split(" 2 — ")[0].split("1 — Aug 2026: ")[1]
    assert first.endswith("…") and len(first) <= charts_xmr.NOTE_CHARS
    assert caption.endswith("2 — Oct 2026 (provisional): Figures to the 20th only.")
    numbers = [t.get_text() for t in captured[0].axes[0].texts if t.get_text() in ("1", "2")]
    assert numbers == ["1", "2"]
    assert "Numbers on the chart refer to the 2 notes under the title." in chart.alt


def test_no_note_or_volume_columns_without_them_and_notes_are_capped(captured):
    periods, pts = _regime()
    chart = charts.xmr_chart(pts, title="T", unit="%", direction="higher", periods=periods)
    assert "Note" not in _headers(chart.data.html) and not any(h.startswith("Volume") for h in
                                                                _headers(chart.data.html))
    assert chart.caption is None
    periods, pts = _regime(notes={str(p): f"Note {i}" for i, p in enumerate(MONTHS)})
    chart = charts.xmr_chart(pts, title="T", unit="%", direction="higher", periods=periods, volume_unit="calls")
    assert chart.caption.count(" — ") == charts_xmr.MAX_NOTES
    assert chart.caption.endswith("More notes are in the data table.")
    assert "Volume (calls)" not in _headers(chart.data.html)  # no volumes: no column, whatever the unit


def test_periods_given_for_plain_monthly_points_change_nothing():
    periods, pts = _regime()
    plain = charts.xmr_chart(pts, title="T", unit="%", direction="higher", target=95)
    same = charts.xmr_chart(pts, title="T", unit="%", direction="higher", target=95, frequency="monthly",
                            periods=periods, volume_unit=None)
    assert plain.html == same.html


def test_default_monthly_chart_is_unchanged(captured):
    pts = _points(MONTHS, np.linspace(90, 96, 12), 93.0, 88.0, 98.0)
    a = charts.xmr_chart(pts, title="T", unit="%", direction="higher", target=95)
    b = charts.xmr_chart(pts, title="T", unit="%", direction="higher", target=95, frequency=None, periods=None)
    assert a.html == b.html
    ax = captured[0].axes[0]
    assert ax.lines[0].get_label() == "Monthly value"
    assert _headers(a.data.html)[:6] == ["Month", "Value", "Mean", "Lower limit", "Upper limit", "Point type"]
    assert a.data.caption == "Monthly values, limits and point types"
    assert a.caption is None and "computed" not in a.alt
    assert _tick_labels(ax)[0] == "Nov\n2025"


def test_bad_regime_arguments():
    periods, pts = _regime()
    with pytest.raises(UsageError, match="frequency"):
        charts.xmr_chart(pts, title="T", unit="%", direction="higher", frequency="weekly")
    with pytest.raises(UsageError, match="status"):
        charts.xmr_chart(pts, title="T", unit="%", direction="higher",
                         periods=[{"period": "2026-01", "status": "late"}])
    with pytest.raises(UsageError, match="PeriodIndex"):
        charts.xmr_chart(pts.reset_index(drop=True), title="T", unit="%", direction="higher", periods=periods)


def test_only_provisional_values():
    periods = [{"period": pd.Period("2026-09", "M"), "status": "incomplete", "value": 91.0, "volume": 10,
                "note": None}]
    empty = pd.DataFrame(columns=["value", "mean", "lpl", "upl"], dtype=float)
    chart = charts.xmr_chart(empty, title="T", unit="%", direction="higher", periods=periods, frequency="quarterly")
    assert "Jul–Sep 2026" in _rows(chart.data.html)
    assert "provisional" in chart.alt


# --------------------------------------------------------------------------------------- heat map


def test_heatmap_draws_status_words_as_first_class_cells(captured):
    r = pd.DataFrame({"Uptime": ["Good", "Not reported", "not due"],
                      "Fix": ["No activity", "Provisional", None],
                      "Calls": ["Not yet in force", "No longer in force", "Inadequate"]},
                     index=pd.Index(["C-001", "C-002", "C-003"], name="Contract"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph warns: fail instead
        chart = charts.rating_heatmap(r, title="Ratings")
    ax = captured[0].axes[0]
    cells = [t.get_text() for t in ax.texts]
    shown = {w: f"{s.symbol} {s.short}" for w, s in charts.STATUS_STYLES.items()}
    for word in ("Not reported", "Not due", "No activity", "Provisional", "Not yet in force", "No longer in force"):
        assert shown[word] in cells
    assert len(set(shown.values())) == 6 and len({s.symbol for s in charts.STATUS_STYLES.values()}) == 6
    rating_symbols = {s.symbol for s in charts.RATING_STYLES.values()}
    assert not rating_symbols & {s.symbol for s in charts.STATUS_STYLES.values()}
    grey = {p.get_facecolor()[:3] for p in ax.patches if p.get_hatch() is None
            and matplotlib.colors.to_hex(p.get_facecolor()) == "#f4f4f4"}
    assert len(grey) == 1  # neutral: one grey for every status, no RAG colour
    legend = [t.get_text() for t in captured[0].legends[0].get_texts()]
    assert "? Not reported" in legend and "◌ Not due" in legend and "≈ Provisional" in legend
    assert "Heat map of statutory ratings for 3 contracts and 3 KPIs: 1 Good, 1 Inadequate, 1 Not reported, " \
           "1 Not due, 1 No activity, 1 Provisional, 1 Not yet in force, 1 No longer in force." in chart.alt
    assert "Not due" in chart.data.html and "No longer in force" in chart.data.html


def test_heatmap_lists_only_the_statuses_present(captured):
    r = pd.DataFrame({"Uptime": ["Good", "Not due"]}, index=["C-1", "C-2"])
    charts.rating_heatmap(r, title="R")
    legend = [t.get_text() for t in captured[0].legends[0].get_texts()]
    assert "◌ Not due" in legend
    assert not any(w in t for t in legend for w in ("Not reported", "Provisional", "No activity", "in force"))
    with pytest.raises(UsageError, match="Amber"):
        charts.rating_heatmap(pd.DataFrame({"k": ["Amber"]}), title="x")


# --------------------------------------------------------------------------------------- commitment chart


def test_commitment_forecast_is_drawn_within_bounds_and_says_so(captured):
    idx = pd.period_range("2025-01", periods=10, freq="M")
    actual = pd.Series(np.linspace(88, 97.5, 10), index=idx)
    traj = pd.Series(np.linspace(88, 99, 13), index=pd.period_range("2025-01", periods=13, freq="M"))
    fc = pd.Series([99.0, 100.0, 104.0], index=pd.period_range("2025-11", periods=3, freq="M"))
    chart = charts.commitment_chart(actual, traj, fc, title="Fix", unit="%", ci_target=99, due="2026-01")
    ax = captured[0].axes[0]
    forecast = next(ln for ln in ax.lines if ln.get_label() == "Forecast")
    assert max(forecast.get_ydata()) == 100.0
    assert "Forecast 104%, drawn at 100%" in [t.get_text() for t in ax.texts]
    assert max(ax.get_yticks()) <= 100
    sentence = "the forecast for Jan 2026, 104%, is above 100%."
    assert chart.alt.count(sentence) == 1 and "forecast 100.0 at the due date" in chart.alt
    assert sentence in chart.data.caption
    assert ">104<" not in chart.data.html  # the table shows the forecast as drawn
