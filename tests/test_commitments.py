"""CI commitments: trajectories, status rules, forecast and ratchet proposals, all hand-worked."""

import math

import numpy as np
import pandas as pd
import pytest

from cinb.commitments import (
    RATCHET_RULE,
    commitment_status,
    expected_level,
    ratchet_proposals,
    ratchet_rule,
    resolve_commitment,
)
from cinb.errors import UsageError

# ------------------------------------------------------------------------------------ frame builders


KPI_COLUMNS = [
    "contract_id", "kpi_id", "name", "description", "unit", "direction", "sla", "target", "tolerance",
    "critical", "credit_method", "credit_pct", "weight", "baseline", "baseline_period", "ci_target",
    "ci_target_date", "ci_annual_uplift_pct", "data_source", "owner", "agreed_with_supplier", "statutory",
]


def kpis_frame(*rows):
    """A kpis frame as the loader returns it, from partial dicts."""
    defaults = {"contract_id": "C1", "unit": "%", "direction": "higher", "credit_method": "none", "weight": 1.0,
                "statutory": False}
    records = [{**defaults, "name": r.get("kpi_id"), **r} for r in rows]
    frame = pd.DataFrame(records).reindex(columns=KPI_COLUMNS)
    for col in ("sla", "target", "tolerance", "critical", "credit_pct", "weight", "baseline", "ci_target",
                "ci_annual_uplift_pct"):
        frame[col] = frame[col].astype(float)
    for col in ("baseline_period", "ci_target_date"):
        frame[col] = pd.Series(pd.PeriodIndex([None if pd.isna(v) else v for v in frame[col]], freq="M"))
    return frame


def measurements_frame(series):
    """series: {(contract_id, kpi_id): {"YYYY-MM": value or None}} → measurements frame."""
    rows = [(c, k, p, v) for (c, k), months in series.items() for p, v in months.items()]
    frame = pd.DataFrame(rows, columns=["contract_id", "kpi_id", "period", "value"])
    frame["period"] = pd.Series(pd.PeriodIndex(frame["period"], freq="M"))
    frame["value"] = frame["value"].astype(float)
    frame["revision"] = 1
    return frame.sort_values(["contract_id", "kpi_id", "period"]).reset_index(drop=True)


def months(start, values):
    """{'YYYY-MM': value} for consecutive months from start."""
    return {str(pd.Period(start, freq="M") + i): v for i, v in enumerate(values)}


CONTRACTS = pd.DataFrame(
    {
        "contract_id": ["C1", "C2"],
        "start_date": pd.to_datetime(["2024-02-01", "2024-04-01"]),
        "end_date": pd.to_datetime(["2027-01-31", "2027-03-31"]),
    }
)


# ------------------------------------------------------------------------------------------- trajectory


def test_linear_trajectory_higher_and_lower():
    up = {"direction": "higher", "unit": "%", "baseline": 90.0, "baseline_period": "2025-01",
          "ci_target": 96.0, "ci_target_date": "2025-07"}
    got = expected_level(up, ["2024-12", "2025-01", "2025-04", "2025-07", "2025-12"])
    # +1 a month for six months, undefined before the baseline, held at 96 after the due month
    assert math.isnan(got.iloc[0])
    assert got.iloc[1:].tolist() == pytest.approx([90.0, 93.0, 96.0, 96.0])
    assert str(got.index[2]) == "2025-04"

    down = {"direction": "lower", "unit": "hours", "baseline": 10.0, "baseline_period": "2025-01",
            "ci_target": 4.0, "ci_target_date": "2025-07"}
    assert expected_level(down, ["2025-03"]).iloc[0] == pytest.approx(8.0)  # 10 − 6·2/6


def test_uplift_compounds_monthly_and_holds_after_the_contract_end():
    up = {"direction": "higher", "unit": "score", "baseline": 80.0, "baseline_period": "2025-01",
          "ci_annual_uplift_pct": 5.0}
    got = expected_level(up, ["2025-07", "2026-01", "2027-01"], CONTRACTS.iloc[1])
    # 80·1.05^0.5 = 81.9756, 80·1.05 = 84, 80·1.05² = 88.2
    assert got.tolist() == pytest.approx([81.975606, 84.0, 88.2], abs=1e-6)

    down = {"direction": "lower", "unit": "hours", "baseline": 10.0, "baseline_period": "2025-01",
            "ci_annual_uplift_pct": 10.0}
    got = expected_level(down, ["2026-01", "2027-01", "2027-06"], CONTRACTS.iloc[0])
    # 10·0.9 = 9, 10·0.9² = 8.1 at the contract's end month 2027-01, then held
    assert got.tolist() == pytest.approx([9.0, 8.1, 8.1])
    commitment = resolve_commitment(down, CONTRACTS.iloc[0])
    assert (commitment.kind, str(commitment.due)) == ("uplift", "2027-01")
    assert commitment.ci_target == pytest.approx(8.1)


def test_uplift_of_a_percentage_stops_at_100():
    row = {"direction": "higher", "unit": "%", "baseline": 99.0, "baseline_period": "2025-01",
           "ci_annual_uplift_pct": 2.0, "ci_target_date": "2027-01"}
    # 99·1.02 = 100.98 and 99·1.02² = 103.0 are impossible percentages
    assert expected_level(row, ["2026-01", "2027-01"]).tolist() == [100.0, 100.0]


def test_resolve_commitment_kinds_and_problems():
    both = resolve_commitment({"direction": "higher", "baseline": 1.0, "baseline_period": "2025-01",
                               "ci_target": 2.0, "ci_target_date": "2025-12", "ci_annual_uplift_pct": 50.0})
    assert both.kind == "target" and both.defined  # a dated target wins over an uplift
    undated = resolve_commitment({"direction": "higher", "baseline": 1.0, "baseline_period": "2025-01",
                                  "ci_target": 2.0})
    assert undated.kind == "target" and undated.problems == ("ci_target_date missing",)
    none = resolve_commitment({"direction": "higher", "target": 95.0})
    assert none.kind is None and "no CI commitment" in none.problems[0]
    backwards = resolve_commitment({"direction": "higher", "baseline": 1.0, "baseline_period": "2025-06",
                                    "ci_target": 2.0, "ci_target_date": "2025-01"})
    assert "not after baseline_period" in backwards.problems[0]
    no_end = resolve_commitment({"direction": "lower", "baseline": 5.0, "baseline_period": "2025-01",
                                 "ci_annual_uplift_pct": 10.0})
    assert no_end.defined and no_end.due is None and no_end.ci_target is None
    with pytest.raises(UsageError, match="YYYY-MM"):
        resolve_commitment({"baseline_period": "2025-13"})
    with pytest.raises(UsageError, match="YYYY-MM"):  # pandas alone would read this as March of year 1
        resolve_commitment({"baseline_period": "March"})


# ----------------------------------------------------------------------------------------------- status


@pytest.fixture
def status():
    kpis = kpis_frame(
        # A: on track, with a forecast (hand-worked below)
        {"kpi_id": "A", "baseline": 90.0, "baseline_period": "2025-01", "ci_target": 96.0,
         "ci_target_date": "2026-01"},
        # B: lower is better, behind its trajectory, too few months for a forecast
        {"kpi_id": "B", "unit": "hours", "direction": "lower", "baseline": 10.0, "baseline_period": "2025-01",
         "ci_target": 7.0, "ci_target_date": "2025-07"},
        # C: committed level already reached before the due month
        {"kpi_id": "C", "baseline": 90.0, "baseline_period": "2025-01", "ci_target": 95.0,
         "ci_target_date": "2026-01"},
        # D: due month passed, target missed
        {"kpi_id": "D", "baseline": 90.0, "baseline_period": "2024-09", "ci_target": 95.0,
         "ci_target_date": "2025-03"},
        # E: due month passed, target met
        {"kpi_id": "E", "direction": "lower", "unit": "days", "baseline": 5.0, "baseline_period": "2024-09",
         "ci_target": 3.0, "ci_target_date": "2025-03"},
        # F: baseline later than the review month
        {"kpi_id": "F", "baseline": 90.0, "baseline_period": "2025-09", "ci_target": 95.0,
         "ci_target_date": "2026-09"},
        # G: nothing reported since the baseline
        {"kpi_id": "G", "baseline": 90.0, "baseline_period": "2025-01", "ci_target": 95.0,
         "ci_target_date": "2026-01"},
        # H: incomplete, I: no commitment at all
        {"kpi_id": "H", "baseline": 90.0, "baseline_period": "2025-01", "ci_target": 95.0},
        {"kpi_id": "I", "target": 95.0},
        # J: uplift on contract C2 (ends 2027-03)
        {"kpi_id": "J", "contract_id": "C2", "unit": "score", "baseline": 50.0, "baseline_period": "2025-01",
         "ci_annual_uplift_pct": 10.0},
    )
    data = {
        ("C1", "A"): {**months("2025-01", [90, 91, 91, 92, 93, 93]), "2025-07": 50.0},  # July is after review
        ("C1", "B"): months("2025-02", [10, 10, 9.5, 9.5, 9.5]),
        ("C1", "C"): months("2025-01", [92, 93, 95, 96, None, 97]),
        ("C1", "D"): months("2025-01", [94, 94, 94, 94, 94, 94]),
        ("C1", "E"): months("2025-01", [3, 3, 2.5, 3, 3, 3]),
        ("C1", "G"): months("2024-10", [91, 92, 93]),
        ("C2", "J"): months("2025-04", [55, 55, 55]),
    }
    out = commitment_status(kpis, measurements_frame(data), CONTRACTS, "2025-06")
    return out.set_index("kpi_id")


def test_status_on_track_with_hand_worked_forecast(status):
    a = status.loc["A"]
    # actual = mean(Apr 92, May 93, Jun 93) = 92.667; expected over the same months = mean(91.5, 92, 92.5) = 92
    assert a["status"] == "on track"
    assert a["actual_now"] == pytest.approx(278 / 3)
    assert a["expected_now"] == pytest.approx(92.0)
    assert a["gap"] == pytest.approx(278 / 3 - 92)
    assert a["actual_months"] == 3
    # OLS through t = 0..5, y = 90 91 91 92 93 93: x̄ = 2.5, Sxx = 17.5, Sxy = 11 → slope 0.628571,
    # intercept 90.095238; at t = 12 (2026-01): 97.638095. SSE = 0.419048, s = √(SSE/4) = 0.323669;
    # se_pred = s·√(1 + 1/6 + 9.5²/17.5) = 0.813937; t(0.90, 4 d.f.) = 1.533206 (table) → ±1.247941
    assert a["forecast"] == pytest.approx(97.638095, abs=1e-6)
    assert a["forecast_low"] == pytest.approx(96.390154, abs=1e-5)
    assert a["forecast_high"] == pytest.approx(98.886036, abs=1e-5)
    assert a["likely_met"] == True  # noqa: E712 — a pandas BooleanDtype scalar
    assert "80% prediction interval" in a["reason"]
    assert (a["kind"], str(a["baseline_period"]), str(a["due"])) == ("target", "2025-01", "2026-01")


def test_status_off_track_lower_is_better(status):
    b = status.loc["B"]
    # expected over Apr–Jun = mean(8.5, 8, 7.5) = 8; actual 9.5; lower is better → gap = 8 − 9.5
    assert b["status"] == "off track"
    assert b["gap"] == pytest.approx(-1.5)
    assert pd.isna(b["likely_met"]) and math.isnan(b["forecast"])
    assert "Behind the expected level 8 by 1.5" in b["reason"]
    assert "at least 6 needed" in b["reason"]


def test_status_met_and_due_passed(status):
    c = status.loc["C"]
    # last 3 reported months skip the unreported one: Mar 95, Apr 96, Jun 97 → 96 ≥ 95
    assert c["status"] == "met" and c["actual_now"] == pytest.approx(96.0)
    d = status.loc["D"]
    assert d["status"] == "off track" and d["likely_met"] == False  # noqa: E712
    assert "Due month 2025-03 has passed" in d["reason"] and "missed by 1" in d["reason"]
    e = status.loc["E"]
    assert e["status"] == "met" and e["likely_met"] == True  # noqa: E712
    assert e["gap"] == pytest.approx(0.0)  # Apr–Jun at 3, exactly the level held after the due month


def test_status_not_yet_due_and_undefined(status):
    assert status.loc["F", "status"] == "not yet due"
    assert "not after the baseline month 2025-09" in status.loc["F", "reason"]
    assert status.loc["G", "status"] == "not yet due"
    assert "Nothing reported" in status.loc["G", "reason"]
    assert status.loc["H", "status"] == "undefined"
    assert status.loc["H", "reason"] == "Commitment incomplete: ci_target_date missing"
    assert status.loc["H", "kind"] == "target"
    assert status.loc["I", "reason"].startswith("No CI commitment")
    assert status.loc["I", "status"] == "undefined" and pd.isna(status.loc["I", "kind"])
    assert set(status["status"]) <= {"met", "on track", "off track", "not yet due", "undefined"}


def test_status_uplift_uses_the_contract_end(status):
    j = status.loc["J"]
    # due 2027-03 (C2's end month); 26 months: 50·1.1^(26/12)
    assert str(j["due"]) == "2027-03"
    assert j["ci_target"] == pytest.approx(50 * 1.1 ** (26 / 12))
    # Apr–Jun expected 50·1.1^(3/12), ^(4/12), ^(5/12); actual 55 is ahead
    expected = np.mean([50 * 1.1 ** (k / 12) for k in (3, 4, 5)])
    assert j["expected_now"] == pytest.approx(expected)
    assert j["status"] == "on track"  # 55 < 61.4 (the committed level), so not yet met


def test_status_frame_shape_and_types(status):
    assert len(status) == 10
    assert str(status["likely_met"].dtype) == "boolean"
    assert str(status["due"].dtype) == "period[M]"


def test_status_needs_a_period():
    with pytest.raises(UsageError, match="period is required"):
        commitment_status(kpis_frame({"kpi_id": "A"}), measurements_frame({}), CONTRACTS, None)
    with pytest.raises(UsageError, match="YYYY-MM"):
        commitment_status(kpis_frame({"kpi_id": "A"}), measurements_frame({}), CONTRACTS, "June")


# ---------------------------------------------------------------------------------------------- ratchet


def test_ratchet_higher_and_lower():
    kpis = kpis_frame(
        {"kpi_id": "UP", "target": 95.0},
        {"kpi_id": "DOWN", "unit": "hours", "direction": "lower", "target": 8.0},
        {"kpi_id": "EQUAL", "target": 95.0},
        {"kpi_id": "GAP", "target": 95.0},
        {"kpi_id": "NAN", "target": 95.0},
        {"kpi_id": "SHORT", "target": 95.0},
        {"kpi_id": "NOTARGET"},
    )
    good = [96, 97, 98] * 4
    data = {
        ("C1", "UP"): months("2025-01", good),
        ("C1", "DOWN"): months("2025-01", [6.0] * 12),
        ("C1", "EQUAL"): months("2025-01", good[:-1] + [95]),  # equal to target is not beating it
        ("C1", "GAP"): {k: v for k, v in months("2025-01", good).items() if k != "2025-06"},
        ("C1", "NAN"): months("2025-01", good[:5] + [None] + good[6:]),
        ("C1", "SHORT"): months("2025-02", good[:11]) | {"2024-12": 99.0},
        ("C1", "NOTARGET"): months("2025-01", good),
    }
    out = ratchet_proposals(kpis, measurements_frame(data), "2025-12")
    assert out["kpi_id"].tolist() == ["UP", "DOWN"]
    up, down = out.iloc[0], out.iloc[1]
    # mean 97 → 95 + ½·(97 − 95) = 96;  lower: mean 6 → 8 + ½·(6 − 8) = 7
    assert (up["mean"], up["proposed_target"], up["change"]) == pytest.approx((97.0, 96.0, 1.0))
    assert (down["mean"], down["proposed_target"], down["change"]) == pytest.approx((6.0, 7.0, -1.0))
    assert (str(up["window_start"]), str(up["window_end"]), up["months"]) == ("2025-01", "2025-12", 12)
    assert up["rule"] == RATCHET_RULE


def test_ratchet_is_configurable():
    kpis = kpis_frame({"kpi_id": "UP", "target": 95.0})
    data = measurements_frame({("C1", "UP"): months("2025-01", [90] * 9 + [96, 97, 98])})
    assert ratchet_proposals(kpis, data, "2025-12").empty
    out = ratchet_proposals(kpis, data, "2025-12", months=3, share=0.25)
    # mean 97 → 95 + ¼·2 = 95.5
    assert out.loc[0, "proposed_target"] == pytest.approx(95.5)
    assert "last 3 consecutive months" in out.loc[0, "rule"] and "25% of the way" in out.loc[0, "rule"]
    assert "halfway" in RATCHET_RULE and "12" in RATCHET_RULE
    assert ratchet_rule(6, 0.5).startswith("A KPI that beat its target in each of the last 6")
    with pytest.raises(UsageError, match="share"):
        ratchet_proposals(kpis, data, "2025-12", share=1.5)
    with pytest.raises(UsageError, match="months"):
        ratchet_proposals(kpis, data, "2025-12", months=0)


def test_status_in_the_due_month_itself():
    kpis = kpis_frame({"kpi_id": "A", "baseline": 90.0, "baseline_period": "2025-01", "ci_target": 96.0,
                       "ci_target_date": "2025-06"})
    data = measurements_frame({("C1", "A"): months("2025-01", [90, 91, 92, 93, 94, 95])})
    row = commitment_status(kpis, data, CONTRACTS, "2025-06").iloc[0]
    # actual mean(93, 94, 95) = 94 < 96 in the due month: missed, no forecast needed
    assert row["status"] == "off track" and row["likely_met"] == False  # noqa: E712
    assert row["reason"].startswith("Due this month (2025-06) and the committed level 96 is missed by 2")
    assert math.isnan(row["forecast"])
