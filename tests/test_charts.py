"""Tests of cinb.charts: house style, alt text, data tables, gaps, escaping, no figures left open."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from cinb import charts, charts_xmr
from cinb.display import Chart
from cinb.errors import UsageError

XSS = "<script>alert(1)</script>"
MONTHS = pd.period_range("2023-11", "2026-10", freq="M")  # 36 months


def _points(values=None, missing=(), drop=(), improvement=(33, 34, 35), concern=(), rebase_at=None):
    """A hand-built points frame as cinb.spc.xmr(...).points returns it (limits given, not computed here).

    Limits mirror the brief's example: mean 78.2, process limits 70.1 to 86.3.
    """
    n = len(MONTHS)
    if values is None:
        values = np.array([78.0 + (1.5 if i % 2 else -1.5) for i in range(n)])
        values[-1] = 84.0
    pts = pd.DataFrame(
        {"value": values, "mean": 78.2, "lpl": 70.1, "upl": 86.3, "group": 0, "rule": None,
         "point_type": "common_cause"},
        index=MONTHS,
    )
    pts["point_type"] = pts["point_type"].astype(object)
    pts["rule"] = pts["rule"].astype(object)
    if rebase_at is not None:
        pts.iloc[rebase_at:, pts.columns.get_loc("group")] = 1
        pts.iloc[rebase_at:, pts.columns.get_loc("mean")] = 82.0
        pts.iloc[rebase_at:, pts.columns.get_loc("lpl")] = 76.0
        pts.iloc[rebase_at:, pts.columns.get_loc("upl")] = 88.0
    for i in improvement:
        pts.iloc[i, pts.columns.get_loc("point_type")] = "special_cause_improvement"
        pts.iloc[i, pts.columns.get_loc("rule")] = "run of 7"
    for i in concern:
        pts.iloc[i, pts.columns.get_loc("point_type")] = "special_cause_concern"
    for i in missing:
        pts.iloc[i, pts.columns.get_loc("value")] = np.nan
        pts.iloc[i, pts.columns.get_loc("point_type")] = None
    return pts.drop(index=[MONTHS[i] for i in drop])


@pytest.fixture
def captured(monkeypatch):
    """Capture the Figure a chart function hands to Chart, so its artists can be inspected."""
    figs = []
    real = charts.Chart

    def spy(fig, **kw):
        figs.append(fig)
        return real(fig, **kw)

    monkeypatch.setattr(charts, "Chart", spy)
    monkeypatch.setattr(charts_xmr, "Chart", spy)  # xmr_chart lives there, re-exported by cinb.charts
    return figs


def _svg(chart: Chart) -> str:
    m = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', chart.html)
    assert m, "no SVG data URI"
    return base64.b64decode(m.group(1)).decode("utf-8")


# ------------------------------------------------------------------------------------------- XmR


def test_xmr_alt_text_states_title_unit_range_signals_and_latest():
    chart = charts.xmr_chart(_points(), title="First-time fix rate", unit="%", direction="higher", sla=75,
                             target=80)
    assert chart.alt == (
        "XmR chart of First-time fix rate (%) from Nov 2023 to Oct 2026: mean 78.2, process limits 70.1 to 86.3; "
        "3 points of special-cause improvement; latest value 84.0 against target 80.0 and SLA 75.0. "
        "Higher is better."
    )
    svg = _svg(chart)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    # Text as text, in the house font stack, with nothing to fetch (no web font, no @font-face).
    assert "<text" in svg and "First-time fix rate" not in svg.split("<text", 1)[0]
    assert "font-family: 'DejaVu Sans', 'Bitstream Vera Sans', 'Verdana', 'Arial', 'Helvetica', sans-serif" in svg
    assert "@font-face" not in svg
    assert not re.search(r"(href|src)=\"https?:|url\(https?:|@import", svg)


def test_xmr_alt_counts_each_kind_and_reports_rebase_and_missing():
    pts = _points(missing=(35,), concern=(3, 4), improvement=(30,), rebase_at=24)
    chart = charts.xmr_chart(pts, title="T", unit="hours", direction="lower", kpi_name="P1 resolution")
    assert chart.alt.startswith("XmR chart of P1 resolution (hours) from Nov 2023 to Oct 2026: mean 82.0, "
                                "process limits 76.0 to 88.0 since the rebase in Nov 2025; ")
    assert "1 point of special-cause improvement, 2 points of special-cause concern" in chart.alt
    assert "1 month without a value" in chart.alt
    assert "latest value (Oct 2026) not reported, last reported 76.5 (Sep 2026)" in chart.alt
    assert chart.alt.endswith("Lower is better.")


def test_xmr_missing_months_are_gaps_not_bridged(captured):
    pts = _points(missing=(10,), drop=(20,))  # a "not reported" row and a month with no row at all
    chart = charts.xmr_chart(pts, title="T", unit="%", direction="higher")
    ax = captured[0].axes[0]
    value_line = ax.lines[0]
    x, y = np.asarray(value_line.get_xdata(), float), np.asarray(value_line.get_ydata(), float)
    assert len(x) == 36 and np.all(np.diff(x) == 1)  # one slot per month, evenly spaced
    assert np.isnan(y[10]) and np.isnan(y[20]) and np.isfinite(y).sum() == 34  # NaN breaks the line there
    table_rows = re.findall(r"<tr><th scope=\"row\">(\w{3} \d{4})</th>.*?</tr>", chart.data.html)
    assert len(table_rows) == 36
    assert chart.data.html.count("Not reported") == 2
    assert "2 months without a value" in chart.alt


def test_xmr_special_causes_use_distinct_shapes_and_mdc_colours(captured):
    pts = _points(improvement=(33, 34), concern=(5,))
    pts.iloc[7, pts.columns.get_loc("point_type")] = "special_cause_neutral_high"
    charts.xmr_chart(pts, title="T", unit="%", direction="higher")
    ax = captured[0].axes[0]
    marked = {ln.get_label(): (ln.get_marker(), matplotlib.colors.to_hex(ln.get_markerfacecolor()),
                               len(ln.get_xdata())) for ln in ax.lines if ln.get_linestyle() == "None"}
    assert marked["Special cause: improvement"][1:] == ("#0072b2", 2)  # blue
    assert marked["Special cause: concern"][1:] == ("#e69f00", 1)  # orange
    assert marked["Special cause: neutral"][2] == 1
    shapes = [m[0] for m in marked.values()]
    assert len(set(shapes)) == 3 and "o" not in shapes  # none shares the common-cause circle


def test_xmr_limits_step_at_rebase_and_lines_are_labelled(captured):
    pts = _points(rebase_at=24)
    traj = pd.Series(np.linspace(80, 85, 12), index=pd.period_range("2025-11", periods=12, freq="M"))
    chart = charts.xmr_chart(pts, title="T", unit="%", direction="higher", sla=75, target=80, trajectory=traj,
                             annotations=[(pd.Period("2025-11", "M"), "Rebase: new tool")])
    ax = captured[0].axes[0]
    means = sorted({tuple(ln.get_ydata()) for ln in ax.lines if ln.get_color() == "#4D4D4D"})
    assert means == [(78.2, 78.2), (82.0, 82.0)]
    texts = [t.get_text() for t in ax.texts]
    for expected in ("Mean 82.0", "Upper limit 88.0", "Lower limit 76.0", "SLA 75.0", "Target 80.0",
                     "Rebase: new tool"):
        assert expected in texts
    labels = [t.get_text() for t in captured[0].legends[0].get_texts()]
    assert {"Mean", "Process limits", "SLA", "Target", "CI trajectory"} <= set(labels)
    assert "Unit" not in ax.get_ylabel() and "(%)" in ax.get_ylabel() and "higher is better" in ax.get_ylabel()
    assert "Rebase: new tool" in chart.data.html and "Segment" in chart.data.html


def test_xmr_line_labels_give_a_target_as_written_and_never_read_two_heights_the_same(captured):
    """A 99.95 % target is not labelled "100.0", and lines at different heights do not share a label's number."""
    values = np.array([99.96 + (0.03 if i % 2 else -0.03) for i in range(len(MONTHS))])
    pts = _points(values=values, improvement=())
    pts["mean"], pts["lpl"], pts["upl"] = 99.96, 99.88, 100.0
    chart = charts.xmr_chart(pts, title="T", unit="%", direction="higher", sla=99.8, target=99.95)
    texts = [t.get_text() for t in captured[0].axes[0].texts]
    for expected in ("Target 99.95", "SLA 99.80", "Mean 99.96", "Lower limit 99.88", "Upper limit 100.00"):
        assert expected in texts
    # The alt text gives the same numbers as the labels.
    assert "mean 99.96, process limits 99.88 to 100.00" in chart.alt
    assert "against target 99.95 and SLA 99.80." in chart.alt
    # Computed lines alone keep one decimal until two of them would read the same.
    pts = _points()
    pts["upl"] = 78.24  # 0.04 above the mean of 78.2
    charts.xmr_chart(pts, title="T", unit="hours", direction="lower")
    texts = [t.get_text() for t in captured[1].axes[0].texts]
    assert "Mean 78.20" in texts and "Upper limit 78.24" in texts


def test_xmr_right_hand_labels_do_not_overlap(captured):
    # Mean, target and SLA within 0.2 of each other: the labels must be nudged apart.
    pts = _points()
    charts.xmr_chart(pts, title="T", unit="%", direction="higher", sla=78.1, target=78.3)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = captured[0]
    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # lays out as when saved
    renderer = canvas.get_renderer()
    # Text.get_window_extent: the text alone, without the leader line an Annotation may carry
    boxes = [matplotlib.text.Text.get_window_extent(t, renderer) for t in fig.axes[0].texts
             if t.get_text()[:3] in ("Mea", "SLA", "Tar")]
    assert len(boxes) == 3
    for i in range(3):
        for j in range(i + 1, 3):
            assert not boxes[i].overlaps(boxes[j])


def test_xmr_escapes_markup_in_names_and_survives_dollar_signs():
    chart = charts.xmr_chart(_points(), title=f"Title {XSS}", unit="%", direction="higher",
                             kpi_name=f"Cost $saved$ {XSS}")
    html_text = chart.html
    assert "<script>" not in html_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    assert f"Cost $saved$ {XSS}" in chart.alt  # the raw text, escaped only when put into HTML


def test_xmr_range_index_and_bad_input():
    pts = _points().reset_index(drop=True)
    chart = charts.xmr_chart(pts, title="T", unit="count", direction="lower")
    assert "over 36 points" in chart.alt and ">Point<" in chart.data.html
    with pytest.raises(UsageError, match="upl"):
        charts.xmr_chart(pts.drop(columns="upl"), title="T", unit="%", direction="higher")
    with pytest.raises(UsageError, match="direction"):
        charts.xmr_chart(pts, title="T", unit="%", direction="up")


def test_xmr_36_points_renders_quickly_and_reports_size():
    pts = _points(concern=(3,))
    t0 = time.perf_counter()
    chart = charts.xmr_chart(pts, title="First-time fix rate", unit="%", direction="higher", sla=75, target=80)
    elapsed = time.perf_counter() - t0
    print(f"\n36-point XmR chart: {elapsed:.3f} s, SVG {len(chart.image):,} bytes, HTML {len(chart.html):,} bytes")
    assert len(chart.image) < 250_000  # text-as-paths SVG stays small; PNG is the fallback if this grows


def test_chart_output_is_deterministic():
    a = charts.xmr_chart(_points(), title="T", unit="%", direction="higher", target=80)
    b = charts.xmr_chart(_points(), title="T", unit="%", direction="higher", target=80)
    assert a.html == b.html


# ------------------------------------------------------------------------------------------- heat map


def _ratings(n_contracts=12, n_kpis=10, seed=7):
    rng = np.random.default_rng(seed)
    words = list(charts.RATING_STYLES)
    df = pd.DataFrame(rng.choice(words, size=(n_contracts, n_kpis)), index=[f"C-{i:03d}" for i in range(n_contracts)],
                      columns=[f"KPI number {j} with a long name" for j in range(n_kpis)]).astype(object)
    return df


def test_rating_heatmap_alt_counts_and_table(captured):
    r = pd.DataFrame({"Uptime": ["Good", "inadequate"], "Fix": ["Approaching target", None]},
                     index=pd.Index(["C-001", f"C-002 {XSS}"], name="Contract"))
    chart = charts.rating_heatmap(r, title="Ratings")
    assert chart.alt == ("Heat map of statutory ratings for 2 contracts and 2 KPIs: 1 Good, 1 Approaching target, "
                         f"1 Inadequate. Inadequate ratings in C-002 {XSS} (1).")
    ax = captured[0].axes[0]
    cell_text = [t.get_text() for t in ax.texts]
    assert cell_text == ["✓ Good", "◐ Approach", "✗ Inadeq.", "n/a"]  # wide cells: symbol and word on one line
    html_text = chart.html
    assert 'class="rating rating-inadequate"' in html_text and "<script>" not in html_text
    assert '<th scope="row">C-001</th>' in html_text


def test_rating_heatmap_12_by_10_is_legible_with_every_glyph(captured):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph warns: fail instead
        chart = charts.rating_heatmap(_ratings(), title="Portfolio")
    fig = captured[0]
    w, h = fig.get_size_inches()
    assert w == pytest.approx(17 / 2.54) and h < 27 / 2.54  # fits one A4 page
    sizes = {t.get_fontsize() for t in fig.axes[0].texts}
    assert min(sizes) >= 6.5
    assert chart.alt.startswith("Heat map of statutory ratings for 12 contracts and 10 KPIs")


def test_rating_heatmap_rejects_unknown_words():
    with pytest.raises(UsageError, match="Amber"):
        charts.rating_heatmap(pd.DataFrame({"k": ["Amber"]}), title="x")


# ------------------------------------------------------------------------------------------- timeline


def _events():
    return pd.DataFrame(
        {
            "contract_id": ["C-1", "C-2", "C-3", "C-4", "C-5"],
            "title": ["Desk", "Hosting", "WAN", "Far away", "Late notice"],
            "notice_date": pd.to_datetime(["2026-03-01", "2026-09-30", "2027-04-01", "2029-01-01", "2025-11-01"]),
            "end_date": pd.to_datetime(["2026-06-01", "2027-03-31", "2027-10-01", "2029-06-01", "2026-02-01"]),
        }
    )


def test_timeline_window_alt_and_table():
    chart = charts.timeline(_events(), today="2025-12-01", title="Trigger points")
    assert chart.alt == ("Timeline of contract notice and end dates from 1 Dec 2025 to 1 Jun 2027: 4 contracts; "
                         "next notice date 1 Mar 2026 (C-1 Desk); 3 end in the window; 1 notice date already passed.")
    rows = re.findall(r'<th scope="row">([^<]+)</th>', chart.data.html)
    assert rows == ["C-5", "C-1", "C-2", "C-3"]  # soonest first; C-4 is outside the window
    assert '<td class="num">90</td>' in chart.data.html  # days from 1 Dec 2025 to 1 Mar 2026: 31 + 31 + 28


def test_timeline_empty_window():
    chart = charts.timeline(_events().iloc[3:4], today="2025-12-01", title="T")
    assert "none fall in this window" in chart.alt
    with pytest.raises(UsageError, match="end_date"):
        charts.timeline(pd.DataFrame({"contract_id": []}), today="2025-12-01", title="T")


# ------------------------------------------------------------------------------------------- others


def test_commitment_chart_alt_and_data():
    idx = pd.period_range("2025-01", periods=10, freq="M")
    actual = pd.Series(np.arange(10, dtype=float) + 70, index=idx)
    traj = pd.Series(np.linspace(70, 82, 13), index=pd.period_range("2025-01", periods=13, freq="M"))
    fc = pd.DataFrame({"forecast": [80.0, 81.0, 82.5], "lower": [79.0, 79.5, 80.0], "upper": [81.0, 82.5, 85.0]},
                      index=pd.period_range("2025-11", periods=3, freq="M"))
    chart = charts.commitment_chart(actual, traj, fc, title="CSAT", unit="%", ci_target=82, due="2026-01")
    assert chart.alt == ("Commitment chart of CSAT (%) from Jan 2025 to Jan 2026: latest actual 79.0 (Oct 2025) "
                         "against a trajectory of 79.0 for that month; commitment 82.0 by Jan 2026; "
                         "forecast 82.5 at the due date.")
    assert "Forecast upper" in chart.data.html and chart.data.html.count("<tr>") == 14


def test_commitment_chart_gives_the_commitment_as_written(captured):
    idx = pd.period_range("2025-01", periods=10, freq="M")
    actual = pd.Series(np.linspace(99.5, 99.9, 10), index=idx)
    traj = pd.Series(np.linspace(99.5, 99.95, 13), index=pd.period_range("2025-01", periods=13, freq="M"))
    chart = charts.commitment_chart(actual, traj, None, title="Uptime", unit="%", ci_target=99.95, due="2026-01")
    assert "commitment 99.95 by Jan 2026" in chart.alt
    assert "CI target 99.95" in [t.get_text() for ax in captured[0].axes for t in ax.texts]


def test_credits_chart_totals_cap_and_table():
    monthly = pd.DataFrame({"Uptime": [100.0, 0.0, 250.0], "Fix": [50.0, 0.0, 0.0]},
                           index=pd.period_range("2025-04", periods=3, freq="M"))
    chart = charts.credits_chart(monthly, 200, title="Credits")
    assert chart.alt == ("Bar chart of service credits per month from Apr 2025 to Jun 2025: total £400 (£400), "
                         "credits due in 2 of 3 months; largest £250 in Jun 2025; monthly cap £200, reached in 1 month.")
    assert "Total (£)" in chart.data.html and "150.00" in chart.data.html


def test_score_bar_ranks_and_labels(captured):
    s = pd.Series({"B": 61.0, "A": 90.5, "C": np.nan, "D": 75.25})
    chart = charts.score_bar(s, title="Ranking")
    assert chart.alt == ("Ranked bar chart of weighted score for 3 items: highest A (90.5), lowest B (61.0), "
                         "median 75.2; not scored: C.")
    assert re.findall(r'<th scope="row">(\w)</th>', chart.data.html) == ["A", "D", "B"]
    ax = captured[0].axes[0]
    assert [t.get_text() for t in ax.texts] == ["90.5", "75.2", "61.0"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["A", "D", "B"]


# ------------------------------------------------------------------------------------------- style hygiene


def test_house_style_is_scoped_and_nothing_stays_open():
    import matplotlib.pyplot as plt

    before = dict(matplotlib.rcParams)
    with charts.house_style():
        assert matplotlib.rcParams["svg.fonttype"] == "none"
        assert matplotlib.rcParams["axes.spines.top"] is False
    charts.xmr_chart(_points(), title="T", unit="%", direction="higher")
    charts.rating_heatmap(_ratings(3, 3), title="T")
    charts.timeline(_events(), today="2025-12-01", title="T")
    charts.score_bar(pd.Series({"a": 1.0}), title="T")
    assert dict(matplotlib.rcParams) == before
    assert plt.get_fignums() == []


def test_charts_never_import_pyplot_or_switch_backend():
    code = (
        "import sys, matplotlib; before = matplotlib.get_backend();"
        "import pandas as pd, cinb.charts as c;"
        "c.score_bar(pd.Series({'a': 1.0}), title='t');"
        "print('matplotlib.pyplot' in sys.modules, matplotlib.get_backend() == before)"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=60,
                         env={"PYTHONPATH": str(root), "MPLBACKEND": "svg", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]


def test_png_format_for_every_chart():
    out = charts.xmr_chart(_points(), title="T", unit="%", direction="higher", format="png")
    assert out.image[:4] == b"\x89PNG" and 'src="data:image/png;base64,' in out.html


def test_svg_text_from_the_data_is_escaped_text():
    # Text is written as <text> elements (svg.fonttype none): markup in a name must stay text in the SVG too.
    with charts.house_style():
        fig = charts.house_figure(height_in=2)
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1])
        ax.set_title(f"Supplier {XSS} & Sons")
        chart = Chart(fig, title="T", alt="A", data=None)
    svg = _svg(chart)
    assert "<script" not in svg
    assert "Supplier &lt;script&gt;alert(1)&lt;/script&gt; &amp; Sons" in svg
