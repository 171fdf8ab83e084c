"""The embedded sample portfolio: deterministic, and rich enough to exercise every analysis."""

from __future__ import annotations

import filecmp

import pandas as pd
import pytest

from cinb import contract_review, sample
from cinb.config import SAMPLE_DIR

#: Every file of the sample: the version-1 tables and the version-2 ones it demonstrates.
SAMPLE_FILES = ("contracts", "kpis", "measurements", "initiatives", "process_changes", "credit_bands",
                "critical_failure_rules")


#: The records behind two KPIs of NB-SD-001 and their runnable definitions (cinb.sample_records).
RECORD_FILES = ("records/service_desk_tickets.csv", "derive.yml")


def test_committed_sample_is_what_the_generator_writes(tmp_path):
    sample.write(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{n}.csv" for n in SAMPLE_FILES]
                                                                + ["derive.yml", "records"])
    for name in [f"{n}.csv" for n in SAMPLE_FILES] + list(RECORD_FILES):
        assert filecmp.cmp(tmp_path / name, SAMPLE_DIR / name, shallow=False), name


def test_sample_shape(sample_portfolio):
    p = sample_portfolio
    assert len(p.contracts) >= 10
    assert p.contracts["supplier"].nunique() >= 5
    assert p.contracts["category"].nunique() >= 4
    per_contract = p.kpis.groupby("contract_id").size()
    assert per_contract.between(5, 10).all()
    assert set(p.kpis["unit"]) >= {"%", "hours", "count", "score"}
    assert set(p.kpis["direction"]) == {"higher", "lower"}
    months = p.measurements["period"]
    assert (months.max() - months.min()).n + 1 == 36


def test_sample_has_the_awkward_cases(sample_portfolio):
    p = sample_portfolio
    assert p.history["superseded"].sum() >= 3  # restatements
    assert p.measurements["value"].isna().sum() >= 1  # months returned empty
    counts = p.measurements.groupby(["contract_id", "kpi_id"]).size()
    assert (counts < 36).sum() >= 2  # months with no return at all
    assert set(p.initiatives["status"]) == {"proposed", "agreed", "in_progress", "delivered", "rejected",
                                            "withdrawn"}
    has_ci = p.kpis["ci_target"].notna() | p.kpis["ci_annual_uplift_pct"].notna()
    assert has_ci.sum() >= 8 and (~has_ci).sum() >= 8
    # one contract close to its end date (within 6 months of the latest month)
    latest = p.measurements["period"].max().end_time
    assert ((p.contracts["end_date"] - latest) < pd.Timedelta(days=183)).any()


# ---- version 2 of the data contract: the KPI regimes the sample demonstrates --------------------------------


def _kpi(p, contract_id, kpi_id):
    k = p.kpis[(p.kpis["contract_id"] == contract_id) & (p.kpis["kpi_id"] == kpi_id)]
    assert len(k) == 1, (contract_id, kpi_id)
    return k.iloc[0]


def _rows(p, contract_id, kpi_id):
    m = p.measurements
    return m[(m["contract_id"] == contract_id) & (m["kpi_id"] == kpi_id)]


def test_sample_has_volumes_on_the_service_desk_kpis(sample_portfolio):
    p = sample_portfolio
    for kpi_id, unit in (("FTF", "incidents"), ("ANS30", "calls"), ("ABND", "calls")):
        assert _kpi(p, "NB-SD-001", kpi_id)["volume_unit"] == unit
        volume = _rows(p, "NB-SD-001", kpi_id)["volume"]
        assert volume.notna().all() and len(volume) == 36, kpi_id
    calls = _rows(p, "NB-SD-001", "ANS30")["volume"].astype(float)
    assert 1_000 <= calls.min() and calls.max() <= 10_000 and calls.nunique() > 12  # thousands, varying
    # Volumes are given only where they make sense: the service desk's KPIs and the P1 incidents KPI.
    with_volume = p.measurements.loc[p.measurements["volume"].notna(), ["contract_id", "kpi_id"]].drop_duplicates()
    assert set(map(tuple, with_volume.to_numpy())) == {("NB-SD-001", "FTF"), ("NB-SD-001", "ANS30"),
                                                       ("NB-SD-001", "ABND"), ("NB-APP-007", "P1FIX4")}


def test_sample_has_a_no_activity_month(sample_portfolio):
    assert _kpi(sample_portfolio, "NB-APP-007", "P1FIX4")["volume_unit"] == "incidents"
    p1 = _rows(sample_portfolio, "NB-APP-007", "P1FIX4")
    assert len(p1) == 36 and p1["volume"].notna().all()
    idle = p1[p1["volume"].astype(float) == 0]
    assert [str(x) for x in idle["period"]] == ["2026-06"]
    assert idle["value"].isna().all()
    assert idle["note"].iloc[0] == "No priority-1 incidents this month"


def test_sample_has_a_quarterly_kpi(sample_portfolio):
    p = sample_portfolio
    assert _kpi(p, "NB-HOST-002", "DRTEST")["frequency"] == "quarterly"
    months = _rows(p, "NB-HOST-002", "DRTEST")["period"]
    assert set(months.dt.month) == {3, 6, 9, 12}
    assert str(months.max()) == "2026-09"  # the October 2026 review month is not due
    assert (p.kpis["frequency"] == "quarterly").sum() == 1


def test_sample_has_a_kpi_added_by_a_variation(sample_portfolio):
    p = sample_portfolio
    k = _kpi(p, "NB-NET-003", "NETSEC")
    assert str(pd.Period(k["start_period"], "M")) == "2026-01"
    contract = p.contracts.set_index("contract_id").loc["NB-NET-003"]
    assert contract["start_date"].year <= 2021  # the contract began years earlier
    assert str(_rows(p, "NB-NET-003", "NETSEC")["period"].min()) == "2026-01"


def test_sample_notes_explain_figures(sample_portfolio):
    notes = set(sample_portfolio.history["note"].dropna())
    assert "Major outage 14 March, see incident report" in notes
    assert any(n.startswith("Restated after root-cause review") for n in notes)


def test_version_1_figures_are_unchanged_by_the_version_2_cases():
    """The version-2 KPIs and volumes draw from generators of their own: the version-1 rows are as they were.

    A few figures of the sample as committed before version 2 was added, pinned.
    """
    m = sample.generate()["measurements"].set_index(["contract_id", "kpi_id", "period", "revision"])
    assert m.loc[("NB-SD-001", "FTF", "2023-11", "1"), "value"] == "70.8"
    assert m.loc[("NB-SD-001", "ANS30", "2026-10", "1"), "value"] == "83.9%"
    assert m.loc[("NB-SD-001", "ANS30", "2026-10", "1"), "submitted_on"] == "2026-11-11"
    v1 = m.drop(index=["P1FIX4", "DRTEST", "NETSEC"], level="kpi_id").drop(index="NB-PARK-013", level="contract_id")
    # The figures derived from the sample's records (origin derived, version 2) come after the reported rows.
    assert len(v1[v1["origin"] != "derived"]) == 2232
    assert list(m["origin"].iloc[-8:]) == ["derived"] * 8 and (m["origin"].iloc[:-8] != "derived").all()


# ---- version 2: credit schedules as contracts write them, and a recorded process change -----------------------


def test_sample_has_a_ccs_rate_and_a_contract_year_cap(sample_portfolio):
    p = sample_portfolio
    contract = p.contracts.set_index("contract_id").loc["NB-HOST-002"]
    assert contract["service_credit_cap_period"] == "contract_year" and contract["service_credit_cap_pct"] == 10
    k = _kpi(p, "NB-HOST-002", "AVAIL")
    assert k["credit_method"] == "shortfall" and k["credit_pct"] == 0.5
    r = contract_review(p, "NB-HOST-002", "2026-10")
    lines = r.credit_lines[r.credit_lines["kpi_id"] == "AVAIL"]
    short = lines[lines["shortfall_pp"] > 0]
    assert len(short) and (short["credit_pct"] == (short["shortfall_pp"] * 0.5).round(9)).all()
    # The cap is 10 % of the contract year's charges (£1,820,000 a year), not of each month's.
    assert (r.credits_monthly["cap_period"] == "contract_year").all()
    assert r.credits_monthly["cap_gbp"].iloc[-1] == pytest.approx(182_000.0)


def test_sample_has_a_recorded_process_change(sample_portfolio):
    pc = sample_portfolio.process_changes
    assert pc[["contract_id", "kpi_id"]].values.tolist() == [["NB-SD-001", "FTF"]]
    assert str(pc["period"].iloc[0]) == "2025-03"
    assert pc["reason"].iloc[0] == "Knowledge base rebuild and first-line triage (initiative CI-001)"
    r = contract_review(sample_portfolio, "NB-SD-001", "2026-10")
    ftf = next(k for k in r.kpis if k.kpi_id == "FTF")
    rebased = [str(ftf.spc.points.index[i]) for i in ftf.spc.rebase_at]
    assert rebased == ["2025-03"] and len(ftf.spc.groups) == 2


def test_sample_has_a_banded_kpi_with_its_bands(sample_portfolio):
    p = sample_portfolio
    assert _kpi(p, "NB-PARK-013", "PKAV")["credit_method"] == "banded"
    bands = p.credit_bands
    assert bands[["contract_id", "kpi_id"]].drop_duplicates().values.tolist() == [["NB-PARK-013", "PKAV"]]
    assert bands[["shortfall_from", "strictly_above", "credit_pct"]].values.tolist() == [
        [0.0, True, 5.0], [1.0, True, 10.0], [5.0, False, 15.0]]
    r = contract_review(p, "NB-PARK-013", "2026-10")
    lines = r.credit_lines[r.credit_lines["kpi_id"] == "PKAV"].set_index("period")
    # Each band is used: under a point short 5 %, 2 points 10 %, 5.2 points 15 %.
    assert lines.loc[pd.Period("2025-06", "M"), "credit_pct"] == 5.0
    assert lines.loc[pd.Period("2025-04", "M"), "credit_pct"] == 10.0
    assert lines.loc[pd.Period("2026-07", "M"), "credit_pct"] == 15.0


def test_sample_has_a_critical_failure_rule_that_fires_once_in_the_last_12_months(sample_portfolio):
    p = sample_portfolio
    rules = p.critical_failure_rules
    assert len(rules) == 1 and rules["contract_id"].iloc[0] == "NB-PARK-013" and pd.isna(rules["kpi_id"].iloc[0])
    assert (rules["count"].iloc[0], rules["window_months"].iloc[0], rules["effect"].iloc[0]) == (
        2, 3, "suppress_credits")
    led = contract_review(p, "NB-PARK-013", "2026-10").credits_monthly.set_index("period")
    last12 = led[led.index >= pd.Period("2025-11", "M")]
    assert last12.index[last12["critical_failures"] > 0].astype(str).tolist() == ["2026-04"]
    april = led.loc[pd.Period("2026-04", "M")]
    assert bool(april["suppressed"]) and april["credit_gbp"] == 0 and april["suppressed_gbp"] > 0
    assert led["critical_failures"].sum() == 1  # February's and September's critical months alone do not fire


def test_sample_has_a_contract_starting_mid_month(sample_portfolio):
    p = sample_portfolio
    contract = p.contracts.set_index("contract_id").loc["NB-PARK-013"]
    assert contract["start_date"] == pd.Timestamp("2025-04-15")
    months = _rows(p, "NB-PARK-013", "PKAV")["period"]
    assert str(months.min()) == "2025-04" and months.min() >= p.measurements["period"].max() - 35
    led = contract_review(p, "NB-PARK-013", "2026-10").credits_monthly.set_index("period")
    first = led.loc[pd.Period("2025-04", "M")]
    # 16 of April's 30 days: 10 % (2 points short) of 16/30 × £45,000 = £2,400.
    assert first["charge_fraction"] == pytest.approx(16 / 30)
    assert first["credit_gbp"] == pytest.approx(2_400.0)
