"""Portfolios shaped like real public exports (tests/real_shapes/) load cleanly; fractions in a % KPI are refused.

Each folder is described in tests/real_shapes/README.md. The data are invented. The first tests check that the
fixtures still have the shape they were made to have (read with pandas, independent of cinb), so that an edit to a
fixture cannot quietly remove the case it exists for; the others load them with cinb.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cinb.errors import DataError
from cinb.load import load_portfolio

HERE = Path(__file__).resolve().parent / "real_shapes"
#: Loading "today" is pinned so that no month of the fixtures is in the future; the review month is 2026-10.
TODAY = "2026-11-20"
CLEAN = ("servicedesk_incidents", "council_quarterly", "problem_management")


def _csv(folder: str, table: str) -> pd.DataFrame:
    frame = pd.read_csv(HERE / folder / f"{table}.csv", dtype=str, keep_default_na=False)
    frame.columns = [c.strip().lower().replace(" ", "_") for c in frame.columns]
    return frame


def _kpi_rows(folder: str, kpi_id: str) -> pd.DataFrame:
    m = _csv(folder, "measurements")
    return m[m["kpi_id"] == kpi_id]


# ---- the fixtures' shapes ----------------------------------------------------------------------------------


def test_servicedesk_weighted_and_unweighted_figures_disagree_about_the_sla():
    """RES_SLA: the mean of the monthly % is below the SLA, the incident-weighted figure above it.

    Months 2026-01..10, incidents closed (volume) and % within SLA:
        50 → 62.00, 412 → 84.95, 8,419 → 93.99, 6,120 → 92.81, 97 → 73.20,
        5,533 → 93.44, 4,870 → 93.61, 138 → 78.99, 6,011 → 93.23, 5,402 → 94.04.
    Unweighted mean of the ten monthly figures: 860.26 / 10 = 86.03 % — below the SLA (90), above the critical
    level (80): "Requires improvement".
    Incident-weighted: 34,567 of 37,052 incidents within SLA = 93.29 % — above the SLA, below the target (95):
    "Approaching target".
    """
    rows = _kpi_rows("servicedesk_incidents", "RES_SLA")
    value = rows["value"].astype(float).to_numpy()
    volume = rows["volume"].astype(float).to_numpy()
    kpi = _csv("servicedesk_incidents", "kpis").set_index("kpi_id").loc["RES_SLA"]
    sla, target = float(kpi["sla"]), float(kpi["target"])
    unweighted = value.mean()
    weighted = np.average(value, weights=volume)
    assert unweighted == pytest.approx(86.026, abs=1e-3)
    assert weighted == pytest.approx(100 * 34_567 / 37_052, abs=1e-3)  # 93.293 (the % are rounded to 2 places)
    assert unweighted < sla < weighted < target
    assert volume.min() == 50 and volume.max() == 8_419


def test_servicedesk_shape():
    contract = _csv("servicedesk_incidents", "contracts").iloc[0]
    # The contract began in the review year: a 12-month window ending 2026-10 starts before the contract.
    assert contract["start_date"] == "2026-01-01"
    kpis = _csv("servicedesk_incidents", "kpis").set_index("kpi_id")
    assert kpis.loc["REOPEN", "direction"] == "lower"
    assert (kpis["volume_unit"] == "incidents").all()
    p1 = _kpi_rows("servicedesk_incidents", "P1_4H")
    idle = p1[p1["volume"] == "0"]
    assert len(idle) == 1 and idle["value"].iloc[0] == "" and idle["note"].iloc[0]


def test_council_quarterly_shape():
    kpis = _csv("council_quarterly", "kpis")
    assert 4 <= len(kpis) <= 6 and (kpis["frequency"] == "quarterly").all()
    no_band = kpis[(kpis["sla"] == "") & (kpis["target"] != "")]
    assert len(no_band) >= 2 and "tolerance" not in kpis.columns  # targets with no SLA and no tolerance
    m = _csv("council_quarterly", "measurements")
    months = pd.PeriodIndex(m["period"], freq="M")
    assert set(months.month) == {3, 6, 9, 12}  # values recorded against quarter-end months only
    latest = m[m["period"] == m["period"].max()]
    assert (latest["value"] == "").sum() == 1  # one KPI has no value for the latest quarter


def test_problem_management_shape():
    rows = _kpi_rows("problem_management", "PRB_MTTR")
    v = rows["value"].astype(float).to_numpy()
    mean, mr_bar = v.mean(), np.abs(np.diff(v)).mean()
    assert mean - 2.66 * mr_bar < 0  # naive XmR limits would put the lower limit below zero hours
    kpis = _csv("problem_management", "kpis").set_index("kpi_id")
    assert kpis.loc["PRB_MTTR", "direction"] == "lower" and kpis.loc["PRB_OPEN", "unit"] == "count"
    assert kpis.loc["PRB_RCA", "start_period"] == "2026-01"
    assert _csv("problem_management", "contracts")["start_date"].iloc[0].startswith("2023")
    assert _kpi_rows("problem_management", "PRB_RCA")["period"].min() == "2026-01"


# ---- loading with cinb -------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", CLEAN)
def test_real_shape_loads_without_errors(folder):
    p = load_portfolio(HERE / folder, today=TODAY)  # strict: any error raises DataError
    assert p.problems.empty
    acc = p.accounting.set_index("table")
    assert (acc["rejected"] == 0).all(), acc
    read = {t: len(_csv(folder, t)) for t in ("contracts", "kpis", "measurements")}
    for table, n in read.items():
        assert acc.loc[table, "read"] == n


def test_servicedesk_volumes_are_read():
    p = load_portfolio(HERE / "servicedesk_incidents", today=TODAY)
    m = p.measurements
    res = m[m["kpi_id"] == "RES_SLA"]
    assert res["volume"].astype(float).sum() == 37_052
    idle = m[(m["kpi_id"] == "P1_4H") & (m["volume"].astype(float) == 0)]
    assert len(idle) == 1 and idle["value"].isna().all()


def test_council_kpis_are_quarterly():
    p = load_portfolio(HERE / "council_quarterly", today=TODAY)
    assert (p.kpis["frequency"] == "quarterly").all()
    assert set(p.measurements["period"].dt.month) == {3, 6, 9, 12}


def test_problem_management_variation_kpi_starts_in_2026():
    p = load_portfolio(HERE / "problem_management", today=TODAY)
    rca = p.kpis.set_index("kpi_id").loc["PRB_RCA"]
    assert str(pd.Period(rca["start_period"], "M")) == "2026-01"


def test_fractions_in_a_percent_kpi_are_refused():
    """Levels 0.99 / 0.995 / 0.985 and values in 0–1 for a KPI in %: fractions written for percentages."""
    with pytest.raises(DataError) as caught:
        load_portfolio(HERE / "fractions", today=TODAY)
    text = caught.value.problems.to_string() + " " + str(caught.value)
    assert "AVAIL_FRAC" in text
