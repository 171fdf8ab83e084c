"""Initiative counts, overdue items, benefits and before/after effects, hand-worked."""

import math

import numpy as np
import pandas as pd
import pytest

from cinb.errors import DataError, UsageError
from cinb.initiatives import INITIATIVE_STATUSES, initiative_effects, initiative_summary

INITIATIVE_COLUMNS = [
    "contract_id", "initiative_id", "title", "raised_by", "raised_on", "due", "delivered_on", "status",
    "kpi_id", "expected_benefit_gbp", "realised_benefit_gbp", "owner",
]


def initiatives_frame(*rows):
    """An initiatives frame as the loader returns it, from partial dicts."""
    records = [{"contract_id": "C1", "title": f"Initiative {r['initiative_id']}", **r} for r in rows]
    frame = pd.DataFrame(records, columns=INITIATIVE_COLUMNS)
    for col in ("raised_on", "due", "delivered_on"):
        frame[col] = pd.to_datetime(frame[col])
    for col in ("expected_benefit_gbp", "realised_benefit_gbp"):
        frame[col] = frame[col].astype(float)
    return frame


def kpis_frame(*rows):
    frame = pd.DataFrame([{"contract_id": "C1", "unit": "%", **r} for r in rows])
    return frame.reindex(columns=["contract_id", "kpi_id", "name", "unit", "direction", "target"])


def measurements_frame(series):
    rows = [(c, k, p, v) for (c, k), months in series.items() for p, v in months.items()]
    frame = pd.DataFrame(rows, columns=["contract_id", "kpi_id", "period", "value"])
    frame["period"] = pd.Series(pd.PeriodIndex(frame["period"], freq="M"))
    frame["value"] = frame["value"].astype(float)
    return frame.sort_values(["contract_id", "kpi_id", "period"]).reset_index(drop=True)


def months(start, values):
    return {str(pd.Period(start, freq="M") + i): v for i, v in enumerate(values)}


# ------------------------------------------------------------------------------------------------ summary


@pytest.fixture
def plan():
    return initiatives_frame(
        {"initiative_id": "I1", "status": "proposed", "expected_benefit_gbp": 1000.0},
        {"initiative_id": "I2", "status": "agreed", "due": "2026-02-15", "expected_benefit_gbp": 5000.0},
        {"initiative_id": "I3", "status": "agreed", "due": "2026-04-01"},
        {"initiative_id": "I4", "status": "in_progress", "due": "2026-03-31", "expected_benefit_gbp": 2000.0},
        {"initiative_id": "I5", "status": "delivered", "due": "2025-12-01", "delivered_on": "2025-11-20",
         "expected_benefit_gbp": 10000.0, "realised_benefit_gbp": 8000.0},
        {"initiative_id": "I6", "status": "delivered", "due": "2025-06-01", "delivered_on": "2025-07-01",
         "expected_benefit_gbp": 6000.0, "realised_benefit_gbp": 7000.0},
        {"initiative_id": "I7", "status": "rejected", "due": "2025-01-01", "expected_benefit_gbp": 400.0},
    )


def test_summary_counts_include_every_status(plan):
    s = initiative_summary(plan, "2026-03")
    assert list(s.counts.index) == list(INITIATIVE_STATUSES)
    assert s.counts.tolist() == [1, 2, 1, 2, 1, 0]
    assert s.total == 7
    # delivered ÷ agreed plan = 2 ÷ (2 agreed + 1 in progress + 2 delivered)
    assert s.delivered_share == pytest.approx(0.4)


def test_summary_overdue_at_the_end_of_the_review_month(plan):
    s = initiative_summary(plan, "2026-03")
    # I2 due 15 Feb: 45 days to 1 April; I4 due 31 March: 1 day. I3 (due 1 April) is not yet due;
    # delivered and rejected items are never overdue; I1 has no due date.
    assert s.overdue["initiative_id"].tolist() == ["I2", "I4"]
    assert s.overdue["days_overdue"].tolist() == [45, 1]
    assert initiative_summary(plan, "2026-02").overdue["initiative_id"].tolist() == ["I2"]


def test_summary_benefits_per_status(plan):
    s = initiative_summary(plan, pd.Period("2026-03", freq="M"))
    b = s.benefits
    assert b.loc["delivered", "expected_benefit_gbp"] == 16000.0
    assert b.loc["delivered", "realised_benefit_gbp"] == 15000.0
    assert b.loc["agreed", "expected_benefit_gbp"] == 5000.0  # I3 has no amount: counts as 0
    assert b.loc["withdrawn"].tolist() == [0, 0.0, 0.0]
    assert s.expected_benefit_gbp == 24400.0
    assert s.realised_benefit_gbp == 15000.0
    assert s.realised_share == pytest.approx(15000 / 16000)


def test_summary_of_an_empty_plan():
    s = initiative_summary(initiatives_frame(), "2026-03")
    assert s.counts.tolist() == [0] * 6
    assert s.overdue.empty and s.total == 0
    assert math.isnan(s.delivered_share) and math.isnan(s.realised_share)


def test_summary_rejects_unknown_status_and_bad_period(plan):
    bad = initiatives_frame({"initiative_id": "X", "status": "done"})
    with pytest.raises(DataError) as info:
        initiative_summary(bad, "2026-03")
    assert info.value.problems.loc[0, "value"] == "done"
    assert "proposed, agreed" in info.value.problems.loc[0, "fix"]
    with pytest.raises(UsageError, match="YYYY-MM"):
        initiative_summary(plan, "March")


# ------------------------------------------------------------------------------------------------ effects


def effect_case(before, delivery, after, direction="higher"):
    kpis = kpis_frame({"kpi_id": "K", "name": "Availability", "direction": direction})
    # 2024-12 lies outside the 6-month window and must not count
    data = {"2024-12": 0.0, **months("2025-01", before), "2025-07": delivery, **months("2025-08", after)}
    inis = initiatives_frame(
        {"initiative_id": "I1", "status": "delivered", "delivered_on": "2025-07-10", "kpi_id": "K"},
        {"initiative_id": "I2", "status": "in_progress", "kpi_id": "K"},  # not delivered: left out
        {"initiative_id": "I3", "status": "delivered", "delivered_on": "2025-07-10"},  # no KPI: left out
    )
    return initiative_effects(inis, kpis, measurements_frame({("C1", "K"): data}))


def test_effect_improved_when_clearly_better_after_delivery():
    out = effect_case([90, 91, 90, 91, 90, 91], 50.0, [95, 96, 95, 96, 95, 96])
    assert out["initiative_id"].tolist() == ["I1"]
    row = out.iloc[0]
    # the delivery month (50) is excluded: means 90.5 before, 95.5 after
    assert (row["mean_before"], row["mean_after"], row["change"]) == pytest.approx((90.5, 95.5, 5.0))
    assert (row["months_before"], row["months_after"]) == (6, 6)
    # complete separation of 6 and 6 values: exact two-sided p = 2 / C(12, 6) = 2/924
    assert row["p_value"] == pytest.approx(2 / 924)
    assert row["effect"] == "improved"
    assert str(row["delivery_month"]) == "2025-07"


def test_effect_is_direction_aware():
    out = effect_case([90, 91, 90, 91, 90, 91], 50.0, [95, 96, 95, 96, 95, 96], direction="lower")
    assert out.loc[0, "effect"] == "worsened"


def test_effect_needs_enough_months():
    # 3 a side, completely separated: the smallest possible p is 2 / C(6, 3) = 0.1, so no clear change
    out = effect_case([None, None, None, 90, 90, 91], None, [95, 96, 97])
    assert (out.loc[0, "months_before"], out.loc[0, "months_after"]) == (3, 3)
    assert out.loc[0, "p_value"] == pytest.approx(0.1)
    assert out.loc[0, "effect"] == "no clear change"
    few = effect_case([90, 91, 90, 91, 90, 91], None, [99, 99])
    assert few.loc[0, "effect"] == "no clear change" and np.isnan(few.loc[0, "p_value"])
    assert "at least 3 each side" in few.loc[0, "reason"]


def test_effect_of_a_flat_series():
    out = effect_case([90] * 6, 90.0, [90] * 6)
    assert out.loc[0, "p_value"] == 1.0 and out.loc[0, "effect"] == "no clear change"


def test_effect_of_an_unknown_kpi():
    inis = initiatives_frame(
        {"initiative_id": "I9", "status": "delivered", "delivered_on": "2025-07-10", "kpi_id": "NOPE"})
    out = initiative_effects(inis, kpis_frame({"kpi_id": "K", "direction": "higher"}), measurements_frame({}))
    assert out.loc[0, "effect"] == "no clear change"
    assert "not a KPI of contract C1" in out.loc[0, "reason"]
    assert initiative_effects(initiatives_frame(), kpis_frame(), measurements_frame({})).empty
