"""Tests of cinb.charts_glance: the one-page small multiples of every KPI (series, limits, SLA, target, status)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cinb import charts_glance
from cinb.chartkit import A4_TEXT_WIDTH_IN, month_x
from cinb.charts_glance import GlancePanel, glance_chart
from cinb.display import RATING_STYLES, Block, Chart
from cinb.errors import UsageError

MONTHS = pd.period_range("2023-11", "2026-10", freq="M")  # 36 charted months


def _points(upl=86.3, lpl=70.1, improvement=(33, 34, 35)):
    values = np.array([78.0 + (1.5 if i % 2 else -1.5) for i in range(len(MONTHS))])
    pts = pd.DataFrame({"value": values, "mean": 78.2, "lpl": lpl, "upl": upl, "group": 0, "rule": None,
                        "point_type": "common_cause"}, index=MONTHS)
    pts["point_type"] = pts["point_type"].astype(object)
    for i in improvement:
        pts.iloc[i, pts.columns.get_loc("point_type")] = "special_cause_improvement"
    return pts


def _panel(name="First-time fix rate", status="Requires improvement", **kw):
    args = dict(name=name, unit="%", direction="higher", points=_points(), status=status,
                latest="73.2%, Oct 2026", sla=68.0, target=72.0, kpi_id="FTF")
    args.update(kw)
    return GlancePanel(**args)


@pytest.fixture
def captured(monkeypatch):
    """The Figure glance_chart hands to Chart, kept open so that its artists can be read."""
    seen = {}
    real = Chart

    def spy(fig, **kwargs):
        seen["fig"] = fig
        seen["kwargs"] = kwargs
        return real(fig, **kwargs)

    monkeypatch.setattr(charts_glance, "Chart", spy)
    return seen


def test_six_kpis_make_two_columns_of_three_rows_at_a4_width(captured):
    chart = glance_chart([_panel(name=f"KPI {i}") for i in range(6)], title="At a glance")
    fig = captured["fig"]
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 6
    assert fig.get_size_inches()[0] == pytest.approx(A4_TEXT_WIDTH_IN)
    assert fig.get_size_inches()[1] == pytest.approx(3 * 1.7 + 0.45)  # 3 rows of 1.7 in and the legend
    assert chart.data is None  # the values are in each KPI's XmR chart data: printed once
    assert chart.height < 10.1 * 96  # one A4 page of text (297 mm less 2 x 20 mm margins)


def test_nine_kpis_take_three_columns_and_the_spare_panels_are_hidden(captured):
    glance_chart([_panel(name=f"KPI {i}") for i in range(9)], title="t")
    axes = captured["fig"].axes
    assert len(axes) == 9 and all(ax.get_visible() for ax in axes)
    glance_chart([_panel(name=f"KPI {i}") for i in range(7)], title="t")
    axes = captured["fig"].axes
    assert len(axes) == 8 and sum(ax.get_visible() for ax in axes) == 7  # 2 columns x 4 rows, one hidden


def test_each_panel_shows_the_last_18_months_limits_sla_and_target(captured):
    glance_chart([_panel()], title="t")
    ax = captured["fig"].axes[0]
    value_line = ax.lines[0]
    xs = list(value_line.get_xdata())
    # Oct 2026 and the 17 months before it: May 2025 to Oct 2026.
    assert xs[0] == month_x(pd.Period("2025-05", "M")) and xs[-1] == month_x(pd.Period("2026-10", "M"))
    assert len(xs) == 18
    levels = {round(float(line.get_ydata()[0]), 1) for line in ax.lines[1:]
              if len(set(np.round(line.get_ydata(), 6))) == 1}
    assert {78.2, 70.1, 86.3, 68.0, 72.0} <= levels  # mean, limits, SLA, target
    stars = [line for line in ax.lines if line.get_marker() == "*"]
    assert len(stars) == 1 and len(stars[0].get_xdata()) == 3  # the three special-cause improvement points


def test_the_status_is_in_words_on_the_ratings_colours(captured):
    glance_chart([_panel(status="Requires improvement"), _panel(status="Not reported", latest="")], title="t")
    first, second = captured["fig"].axes[:2]
    badge = next(t for t in first.texts if "Requires improvement" in t.get_text())
    style = RATING_STYLES["Requires improvement"]
    assert badge.get_text().startswith(f"{style.symbol} Requires improvement: 73.2%, Oct 2026")
    assert badge.get_bbox_patch().get_facecolor()[:3] == pytest.approx(
        tuple(int(style.background[i:i + 2], 16) / 255 for i in (1, 3, 5)))
    assert any(t.get_text() == "Not reported" for t in second.texts)
    assert any("SLA 68% · target 72% · higher is better" == t.get_text() for t in first.texts)
    assert first.get_title(loc="left") == "First-time fix rate (FTF)"


def test_alt_text_names_every_kpi_with_its_status_and_signals():
    chart = glance_chart([_panel(), _panel(name="Abandoned call rate", status="Good", latest="4.1%, Oct 2026",
                                          direction="lower", kpi_id="ABND")], title="t")
    assert "Small multiples of 2 KPIs" in chart.alt
    assert ("First-time fix rate: Requires improvement, 73.2%, Oct 2026 (against SLA 68% and target 72%); "
            "May 2025 to Oct 2026: 3 points of special-cause improvement; higher is better.") in chart.alt
    assert "Abandoned call rate: Good, 4.1%, Oct 2026" in chart.alt and "lower is better." in chart.alt


def test_limits_beyond_the_units_bounds_are_drawn_at_the_bound(captured):
    glance_chart([_panel(points=_points(upl=104.0, lpl=-3.0))], title="t")
    ax = captured["fig"].axes[0]
    flat = [round(float(line.get_ydata()[0]), 1) for line in ax.lines
            if len(line.get_ydata()) == 2 and line.get_ydata()[0] == line.get_ydata()[1]]
    assert 100.0 in flat and 0.0 in flat and 104.0 not in flat and -3.0 not in flat
    assert all(0 <= t <= 100 for t in ax.get_yticks())


def test_a_month_with_no_activity_is_not_a_point(captured):
    periods = [{"period": str(p), "status": "reported", "value": None, "volume": None, "note": None}
               for p in MONTHS]
    periods[-2] = {"period": str(MONTHS[-2]), "status": "no_activity", "value": None, "volume": 0.0, "note": None}
    glance_chart([_panel(periods=periods)], title="t")
    xs = list(captured["fig"].axes[0].lines[0].get_xdata())
    assert month_x(MONTHS[-2]) not in xs and month_x(MONTHS[-1]) in xs and len(xs) == 17


@pytest.mark.parametrize("panels, message", [
    ([], "1 to 12 KPIs"),
    ([_panel()] * 13, "1 to 12 KPIs"),
    ([_panel(direction="up")], "direction must be 'higher' or 'lower'"),
    ([_panel(frequency="weekly")], "frequency"),
    ([_panel(points=_points().reset_index(drop=True))], "indexed by month"),
])
def test_bad_input_is_one_clear_message(panels, message):
    with pytest.raises(UsageError, match=message):
        glance_chart(panels, title="t")


def test_the_contract_packs_section_names_every_kpi(sample_portfolio):
    from cinb import sections
    from cinb.regimes import status_word
    from cinb.review import contract_review

    review = contract_review(sample_portfolio, "NB-SD-001", "2026-10")
    out = sections.at_a_glance(review)
    assert len(out) == 1 and isinstance(out[0], Block)
    html = out[0].html
    assert '<h2 id="kpis-at-a-glance">All KPIs at a glance</h2>' in html and "cinb-glance" in html
    chart = out[0].parts[-1]
    assert isinstance(chart, Chart) and chart.data is None and "cinb-chart-data" not in html
    for k in review.kpis:
        assert f"{k.name}: {status_word(k.window)}" in chart.alt


def test_a_panel_gives_its_sla_and_target_as_written(captured):
    """A 99.95% target is "99.95%" on the panel and in the alt text, never "100%"."""
    chart = glance_chart([_panel(name="Network availability", sla=99.8, target=99.95)], title="At a glance")
    texts = [t.get_text() for ax in captured["fig"].axes for t in ax.texts] + [
        ax.get_title(loc) for ax in captured["fig"].axes for loc in ("left", "center", "right")]
    assert any("SLA 99.8% · target 99.95%" in t for t in texts)
    assert "against SLA 99.8% and target 99.95%" in chart.alt
