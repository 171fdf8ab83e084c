"""KPI regimes (data contract version 2): due months, life spans, statuses and window ratings, hand-worked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cinb.errors import UsageError
from cinb.ratings import RatingBands, rate, window_ratings
from cinb.regimes import (
    count_due,
    due_months,
    due_phase,
    kpi_calendar,
    period_label,
    period_status,
    status_word,
)

P = lambda s: pd.Period(s, "M")  # noqa: E731


def _kpi(kpi_id, unit="%", direction="higher", sla=np.nan, target=np.nan, **kw):
    return dict(contract_id="C", kpi_id=kpi_id, name=kpi_id, unit=unit, direction=direction, sla=sla,
                target=target, tolerance=np.nan, critical=np.nan, weight=1.0, **kw)


def _contracts(start="2020-01-01", end="2030-12-31"):
    return pd.DataFrame([dict(contract_id="C", start_date=pd.Timestamp(start), end_date=pd.Timestamp(end))])


def _rows(*rows):
    return pd.DataFrame([dict(contract_id="C", **r) for r in rows])


# ------------------------------------------------------------------------------------------- calendar


def test_due_phase_follows_the_recorded_quarter_ends_then_start_period_then_march():
    assert due_phase("monthly", ["2026-02"]) == 0
    assert due_phase("quarterly", ["2026-03", "2026-06", "2026-09"]) == P("2026-03").ordinal % 3
    # Quarters ending Feb, May, Aug, Nov (a contract's own quarters): the data decide.
    assert due_phase("quarterly", ["2026-02", "2026-05", "2026-08"]) == P("2026-02").ordinal % 3
    # The odd one out does not move the phase.
    assert due_phase("quarterly", ["2026-03", "2026-06", "2026-08", "2026-09"]) == P("2026-03").ordinal % 3
    # No values yet: the first quarter ends two months after start_period.
    assert due_phase("quarterly", [], "2026-02") == P("2026-04").ordinal % 3
    assert due_phase("annual", [], "2026-01") == P("2026-12").ordinal % 12
    # Nothing at all: quarters end in March, June, September, December; years in March.
    assert due_phase("quarterly") == P("2026-12").ordinal % 3
    assert due_phase("annual") == P("2027-03").ordinal % 12


def test_count_due_matches_a_brute_force_count():
    rng = np.random.default_rng(7)
    for _ in range(300):
        a, b = sorted(rng.integers(600, 700, 2))
        step = int(rng.choice([1, 3, 12]))
        phase = int(rng.integers(0, step))
        lo, hi = sorted(rng.integers(590, 710, 2))
        expected = sum(1 for o in range(max(a, lo), min(b, hi) + 1) if (o - phase) % step == 0)
        assert count_due(a, b, step, phase, lo, hi) == expected


def test_due_months_and_labels():
    q = due_months("2025-11", "2026-10", frequency="quarterly", phase=P("2026-03").ordinal % 3)
    assert [str(x) for x in q] == ["2025-12", "2026-03", "2026-06", "2026-09"]
    assert [period_label(x, "quarterly") for x in q] == ["Oct–Dec 2025", "Jan–Mar 2026", "Apr–Jun 2026",
                                                         "Jul–Sep 2026"]
    assert period_label("2026-01", "quarterly") == "Nov 2025–Jan 2026"
    assert period_label("2026-03", "annual") == "year to Mar 2026"
    assert period_label("2026-10") == "Oct 2026"
    life = (P("2026-08").ordinal, None)
    assert [str(x) for x in due_months("2026-01", "2026-10", life=life)] == ["2026-08", "2026-09", "2026-10"]


def test_period_status_every_branch():
    q = dict(frequency="quarterly", phase=P("2026-03").ordinal % 3)
    life = (P("2026-01").ordinal, P("2026-12").ordinal)
    assert period_status("2025-12", life=life) == "not_started"
    assert period_status("2027-01", life=life) == "ended"
    assert period_status("2026-10", **q) == "not_due"
    assert period_status("2026-09", **q) == "not_reported"
    assert period_status("2026-09", **q, row={"value": np.nan, "volume": np.nan}) == "not_reported"
    assert period_status("2026-09", **q, row={"value": np.nan, "volume": 0.0}) == "no_activity"
    assert period_status("2026-09", **q, row={"value": 99.0, "volume": 3, "complete": False}) == "incomplete"
    assert period_status("2026-09", **q, row={"value": 99.0, "volume": 3, "complete": True}) == "reported"
    assert period_status("2026-09", **q, row={"value": 99.0}) == "reported"


def test_kpi_calendar_clips_life_to_the_contract_term():
    kpis = pd.DataFrame([_kpi("A", start_period=P("2019-06")), _kpi("B", end_period=P("2026-03"),
                                                                     frequency="quarterly")])
    cal = kpi_calendar(kpis, _contracts("2020-01-15", "2028-12-31"))
    assert list(cal["life_lo"]) == [P("2020-01").ordinal, P("2020-01").ordinal]
    assert list(cal["life_hi"]) == [P("2028-12").ordinal, P("2026-03").ordinal]
    assert list(cal["step"]) == [1, 3]


# ------------------------------------------------------------------------------------------- windows


def test_volume_weighted_window_value_and_compliance_hand_worked():
    # 50 incidents at 20% within SLA, 8,000 at 70%: the unweighted mean is 45% (below the 60% SLA), the
    # incident-weighted figure (20×50 + 70×8000) / 8050 = 561000 / 8050 = 69.689…% (meets the SLA).
    kpis = pd.DataFrame([_kpi("SLA", sla=60.0, target=70.0, volume_unit="incidents")])
    meas = _rows(dict(kpi_id="SLA", period=P("2026-09"), value=20.0, volume=50.0),
                 dict(kpi_id="SLA", period=P("2026-10"), value=70.0, volume=8000.0))
    w = window_ratings(kpis, meas, "2025-11", "2026-10", contracts=_contracts()).iloc[0]
    assert w["aggregation_used"] == "volume_weighted"
    assert w["value"] == pytest.approx(561000 / 8050)
    assert w["rating"] == "Approaching target"
    assert w["compliance_sla"] == pytest.approx(8000 / 8050)
    assert w["periods_met_sla"] == 1 and w["months_reported"] == 2
    assert w["volume"] == 8050
    # The same values without volumes: the unweighted mean (45%) misses the SLA.
    plain = window_ratings(kpis, meas.drop(columns="volume"), "2025-11", "2026-10").iloc[0]
    assert plain["aggregation_used"] == "mean" and plain["value"] == pytest.approx(45.0)
    assert plain["rating"] == "Requires improvement" and plain["compliance_sla"] == pytest.approx(0.5)


def test_lower_is_better_volume_weighted_reopened_rate():
    # Reopened: 6% of 100, 1% of 900 → (6 + 9) / 1000 = 1.5% against a 2% target: Good (the mean 3.5% is not).
    kpis = pd.DataFrame([_kpi("RO", direction="lower", target=2.0)])
    meas = _rows(dict(kpi_id="RO", period=P("2026-09"), value=6.0, volume=100.0),
                 dict(kpi_id="RO", period=P("2026-10"), value=1.0, volume=900.0))
    w = window_ratings(kpis, meas, "2026-01", "2026-10").iloc[0]
    assert w["value"] == pytest.approx(1.5) and w["rating"] == "Good"


def test_a_kpi_aggregation_of_its_own_wins_and_an_unweightable_one_says_so():
    kpis = pd.DataFrame([_kpi("M", target=50.0, aggregation="median"), _kpi("S", unit="count", target=10.0,
                                                                             direction="lower", aggregation="sum"),
                         _kpi("W", target=50.0, aggregation="volume_weighted")])
    meas = _rows(dict(kpi_id="M", period=P("2026-08"), value=10.0, volume=1.0),
                 dict(kpi_id="M", period=P("2026-09"), value=60.0, volume=1.0),
                 dict(kpi_id="M", period=P("2026-10"), value=70.0, volume=100.0),
                 dict(kpi_id="S", period=P("2026-09"), value=4.0),
                 dict(kpi_id="S", period=P("2026-10"), value=5.0),
                 dict(kpi_id="W", period=P("2026-09"), value=40.0, volume=10.0),
                 dict(kpi_id="W", period=P("2026-10"), value=60.0))
    w = window_ratings(kpis, meas, "2026-01", "2026-10").set_index("kpi_id")
    assert w.loc["M", "value"] == 60.0 and w.loc["M", "aggregation_used"] == "median"
    assert w.loc["S", "value"] == 9.0 and w.loc["S", "rating"] == "Good"
    assert w.loc["W", "aggregation_used"] == "mean" and w.loc["W", "value"] == 50.0
    assert "not every value in the window has a volume" in w.loc["W", "aggregation_note"]


def test_quarterly_kpi_counts_quarters_and_is_not_due_between_them():
    kpis = pd.DataFrame([_kpi("Q", target=90.0, frequency="quarterly")])
    meas = _rows(*[dict(kpi_id="Q", period=P(p), value=v)
                   for p, v in [("2025-12", 95.0), ("2026-03", 96.0), ("2026-06", 80.0), ("2026-09", 99.6)]])
    w = window_ratings(kpis, meas, "2025-11", "2026-10", contracts=_contracts()).iloc[0]
    assert w["periods_due"] == 4 and w["months_reported"] == 4
    assert w["periods_met_target"] == 3  # "3 of 4 quarters met target"
    assert w["period_status"] == "not_due" and w["period_rating"] is None
    assert status_word(w.to_dict()) == "Not due"
    # Last quarter's value is the latest reported, never this month's result.
    assert w["latest_period"] == P("2026-09") and w["latest_value"] == 99.6
    due = window_ratings(kpis, meas, "2025-10", "2026-09", contracts=_contracts()).iloc[0]
    assert due["period_status"] == "reported" and due["period_rating"] == "Good"


def test_a_stale_value_is_never_this_months_rating():
    kpis = pd.DataFrame([_kpi("A", target=99.0)])
    meas = _rows(dict(kpi_id="A", period=P("2026-09"), value=99.6))
    w = window_ratings(kpis, meas, "2025-11", "2026-10").iloc[0].to_dict()
    assert w["period_status"] == "not_reported" and w["period_rating"] is None
    assert status_word(w) == "Not reported"
    assert w["latest_rating"] == "Good" and w["latest_period"] == P("2026-09")


def test_window_clipped_to_contract_start_and_kpi_start():
    kpis = pd.DataFrame([_kpi("A", target=90.0), _kpi("NEW", target=90.0, start_period=P("2026-08"))])
    meas = _rows(*[dict(kpi_id="A", period=P(f"2026-{m:02d}"), value=95.0) for m in range(1, 11)],
                 dict(kpi_id="NEW", period=P("2026-08"), value=95.0))
    w = window_ratings(kpis, meas, "2025-11", "2026-10", contracts=_contracts("2026-01-15")).set_index("kpi_id")
    assert w.loc["A", "window_start"] == P("2026-01") and w.loc["A", "periods_due"] == 10
    assert w.loc["NEW", "window_start"] == P("2026-08") and w.loc["NEW", "periods_due"] == 3
    assert w.loc["NEW", "months_reported"] == 1


def test_no_activity_and_provisional_periods_are_not_rated():
    kpis = pd.DataFrame([_kpi("P1", target=95.0, volume_unit="incidents")])
    meas = _rows(dict(kpi_id="P1", period=P("2026-08"), value=100.0, volume=3.0),
                 dict(kpi_id="P1", period=P("2026-09"), value=np.nan, volume=0.0, note="No P1 incidents"),
                 dict(kpi_id="P1", period=P("2026-10"), value=50.0, volume=2.0, complete=False))
    w = window_ratings(kpis, meas, "2026-08", "2026-10").iloc[0]
    assert w["months_reported"] == 1 and w["periods_no_activity"] == 1 and w["periods_incomplete"] == 1
    assert w["value"] == 100.0 and w["rating"] == "Good"
    assert w["period_status"] == "incomplete" and w["period_value"] == 50.0 and w["period_rating"] is None
    sept = window_ratings(kpis, meas, "2026-08", "2026-09").iloc[0]
    assert sept["period_status"] == "no_activity" and sept["period_note"] == "No P1 incidents"


def test_default_tolerance_gives_approaching_target_without_sla_or_tolerance():
    bands = RatingBands(default_tolerance_pct=5)
    # Target 90: within 5% of it means 85.5 or more.
    assert rate(86.0, direction="higher", target=90, bands=bands) == "Approaching target"
    assert rate(85.0, direction="higher", target=90, bands=bands) == "Requires improvement"
    assert rate(86.0, direction="higher", target=90) == "Requires improvement"
    # Lower is better: target 4 hours, within 5% is up to 4.2.
    assert rate(4.2, direction="lower", target=4, bands=bands) == "Approaching target"
    # A KPI with an SLA or its own tolerance keeps its own rule.
    assert rate(86.0, direction="higher", sla=88, target=90, bands=bands) == "Requires improvement"
    assert rate(86.0, direction="higher", target=90, tolerance=1, bands=bands) == "Requires improvement"
    assert any("within 5% of the target" in line for line in bands.describe())
    with pytest.raises(UsageError, match="default_tolerance_pct"):
        RatingBands(default_tolerance_pct=-1)
