"""Definition quality per KPI, contract and portfolio, hand-worked."""

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cinb.definitions import (
    DEFINITION_ELEMENTS,
    contract_definition_quality,
    definition_quality,
    portfolio_definition_quality,
)

COLUMNS = [
    "contract_id", "kpi_id", "name", "description", "unit", "direction", "target", "baseline",
    "baseline_period", "ci_target", "ci_target_date", "ci_annual_uplift_pct", "data_source", "owner",
    "agreed_with_supplier",
]

FULL = {
    "contract_id": "C1", "kpi_id": "FULL", "name": "Availability", "description": "Minutes up / minutes in month",
    "unit": "%", "direction": "higher", "target": 99.5, "baseline": 99.0, "baseline_period": "2025-01",
    "ci_target": 99.8, "ci_target_date": "2026-01", "data_source": "Monitoring tool", "owner": "J. Smith",
    "agreed_with_supplier": "2025-02-14",
}


def kpis_frame(*rows):
    """A kpis frame as the loader returns it (months as Periods, numbers as floats) from partial dicts."""
    frame = pd.DataFrame(list(rows)).reindex(columns=COLUMNS)
    for col in ("target", "baseline", "ci_target", "ci_annual_uplift_pct"):
        frame[col] = frame[col].astype(float)
    for col in ("baseline_period", "ci_target_date"):
        frame[col] = pd.Series(pd.PeriodIndex([None if pd.isna(v) else v for v in frame[col]], freq="M"))
    return frame


def test_elements_are_ordered_with_labels():
    assert list(DEFINITION_ELEMENTS.values()) == [
        "measure description", "unit", "direction", "baseline value", "baseline period", "target",
        "due date", "data source", "owner", "agreed with supplier",
    ]


def test_fully_defined_kpi():
    dq = definition_quality(kpis_frame(FULL))
    row = dq.iloc[0]
    assert row["score"] == 100.0 and row["present"] == 10
    assert row["well_defined"] and row["has_commitment"]
    assert row["missing"] == ""


def test_kpi_without_a_commitment():
    # a service level with a target but no CI commitment: baseline value, baseline period and due date
    # are missing → 7 of 10 present
    row = {**FULL, "kpi_id": "SLA", "baseline": None, "baseline_period": None, "ci_target": None,
           "ci_target_date": None, "agreed_with_supplier": "yes"}
    dq = definition_quality(kpis_frame(row)).iloc[0]
    assert dq["score"] == 70.0
    assert dq["missing"] == "baseline value, baseline period, due date"
    assert not dq["has_commitment"] and not dq["well_defined"]
    assert dq["target"]  # the service-level target counts for the target element


def test_uplift_counts_as_a_due_date_and_agreement_rules():
    rows = [
        {**FULL, "kpi_id": "UPLIFT", "ci_target": None, "ci_target_date": None, "ci_annual_uplift_pct": 5.0,
         "target": None},
        {**FULL, "kpi_id": "NO", "agreed_with_supplier": "no"},
        {**FULL, "kpi_id": "BLANKS", "description": "   ", "owner": "", "agreed_with_supplier": None},
    ]
    dq = definition_quality(kpis_frame(*rows)).set_index("kpi_id")
    # uplift: due date present through the uplift, but no ci_target or target → target missing
    assert dq.loc["UPLIFT", "due"] and not dq.loc["UPLIFT", "target"]
    assert dq.loc["UPLIFT", "missing"] == "target" and dq.loc["UPLIFT", "has_commitment"]
    assert dq.loc["NO", "missing"] == "agreed with supplier" and dq.loc["NO", "score"] == 90.0
    assert dq.loc["BLANKS", "missing"] == "measure description, owner, agreed with supplier"
    assert dq.loc["BLANKS", "score"] == 70.0


def test_contract_and_portfolio_summaries():
    rows = [
        FULL,
        {**FULL, "kpi_id": "K2", "owner": None, "data_source": None},
        {**FULL, "kpi_id": "K3", "owner": None},
        {**FULL, "contract_id": "C2", "kpi_id": "K4", "data_source": None, "ci_target": None,
         "ci_target_date": None},
        {**FULL, "contract_id": "C2", "kpi_id": "K5"},
    ]
    dq = definition_quality(kpis_frame(*rows))
    by_contract = contract_definition_quality(dq).set_index("contract_id")
    c1 = by_contract.loc["C1"]
    # C1: scores 100, 80, 90 → mean 90; 1 of 3 well defined; owner missing twice
    assert (c1["kpis"], c1["well_defined"]) == (3, 1)
    assert c1["share_well_defined"] == pytest.approx(1 / 3)
    assert c1["mean_score"] == pytest.approx(90.0)
    assert (c1["most_missing"], c1["most_missing_count"]) == ("owner", 2)
    assert c1["owner_share"] == pytest.approx(1 / 3)
    c2 = by_contract.loc["C2"]
    # K4 lacks data source and due date (target still present through `target`): score 80, mean 90
    assert c2["mean_score"] == pytest.approx(90.0)
    assert c2["with_commitment"] == 1
    # due date and data source both missing once: the tie goes to the element listed first
    assert (c2["most_missing"], c2["most_missing_count"]) == ("due date", 1)

    port = portfolio_definition_quality(dq)
    assert (port.kpis, port.contracts, port.well_defined) == (5, 2, 2)
    assert port.share_well_defined == pytest.approx(0.4)
    assert port.mean_score == pytest.approx(90.0)
    # data source missing for K2 and K4, owner for K2 and K3: tie → 'data source' (listed before owner)
    assert (port.most_missing, port.most_missing_count) == ("data source", 2)
    assert port.missing_counts["due date"] == 1
    assert port.share_with_commitment == pytest.approx(0.8)
    plain = port.to_dict()
    assert plain["missing_counts"]["owner"] == 2 and plain["kpis"] == 5
    assert dict(port.items())["most_missing"] == "data source"


def test_nothing_missing_has_no_most_missing():
    port = portfolio_definition_quality(definition_quality(kpis_frame(FULL)))
    assert port.most_missing is None and port.most_missing_count == 0


_maybe_text = st.one_of(st.none(), st.just(""), st.just("  "), st.text(min_size=1, max_size=5))
_maybe_num = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=False, width=32))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "description": _maybe_text, "unit": st.sampled_from([None, "%", "hours"]),
                "direction": st.sampled_from([None, "higher", "lower", "sideways"]), "target": _maybe_num,
                "baseline": _maybe_num, "baseline_period": st.sampled_from([None, "2025-01"]),
                "ci_target": _maybe_num, "ci_target_date": st.sampled_from([None, "2026-06"]),
                "ci_annual_uplift_pct": _maybe_num, "data_source": _maybe_text, "owner": _maybe_text,
                "agreed_with_supplier": st.sampled_from([None, "yes", "no", "2025-01-31", "maybe"]),
            }
        ),
        min_size=1,
        max_size=8,
    )
)
def test_score_is_a_share_of_the_elements(rows):
    rows = [{"contract_id": "C1", "kpi_id": f"K{i}", "name": f"K{i}", **r} for i, r in enumerate(rows)]
    dq = definition_quality(kpis_frame(*rows))
    assert dq["score"].between(0, 100).all()
    flags = dq[list(DEFINITION_ELEMENTS)]
    assert (dq["score"] == 100.0 * flags.sum(axis=1) / 10).all()
    assert (dq["well_defined"] == (dq["score"] == 100.0)).all()
    assert ((dq["missing"] == "") == dq["well_defined"]).all()
