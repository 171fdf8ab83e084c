"""Statutory ratings, service levels, window ratings and the scorecard, against hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cinb.errors import CinbError, UsageError
from frames import make_kpis, make_measurements
from cinb.ratings import (
    DEFAULT_BANDS,
    RAG,
    RATINGS,
    SYMBOL,
    RatingBands,
    rate,
    scorecard,
    scorecard_rule,
    service_levels,
    window_ratings,
)

NA = np.nan




# --- scalar rating: every band, both directions --------------------------------------------------------------

AVAIL = dict(direction="higher", sla=95, target=98, critical=90)


@pytest.mark.parametrize(
    "value, expected",
    [
        (99.0, "Good"),
        (98.0, "Good"),  # meets the target exactly
        (97.0, "Approaching target"),
        (95.0, "Approaching target"),  # at the SLA: the minimum level is met
        (94.9, "Requires improvement"),
        (90.1, "Requires improvement"),
        (90.0, "Inadequate"),  # at the critical level
        (50.0, "Inadequate"),
        (None, "Other"),
        (NA, "Other"),
    ],
)
def test_rate_higher_with_sla_target_critical(value, expected):
    assert rate(value, **AVAIL) == expected


FIX_TIME = dict(direction="lower", target=4, tolerance=1, critical=8)  # hours, no SLA: tolerance band


@pytest.mark.parametrize(
    "value, expected",
    [
        (3.0, "Good"),
        (4.0, "Good"),
        (5.0, "Approaching target"),  # exactly at target + tolerance
        (5.01, "Requires improvement"),
        (7.99, "Requires improvement"),
        (8.0, "Inadequate"),
        (12.0, "Inadequate"),
    ],
)
def test_rate_lower_with_tolerance(value, expected):
    assert rate(value, **FIX_TIME) == expected


def test_rate_lower_with_sla():
    # abandoned calls %, lower is better: target 5, SLA 8, critical 15
    levels = dict(direction="lower", sla=8, target=5, critical=15)
    assert [rate(v, **levels) for v in (4, 5, 6, 8, 8.5, 15, 20)] == [
        "Good", "Good", "Approaching target", "Approaching target", "Requires improvement", "Inadequate",
        "Inadequate",
    ]


def test_missing_target_no_sla_no_tolerance():
    # no SLA and no tolerance: missing the target goes straight to Requires improvement
    assert rate(4.5, direction="lower", target=4) == "Requires improvement"
    assert rate(4.0, direction="lower", target=4) == "Good"


def test_sla_serves_as_target_by_default():
    assert rate(95, direction="higher", sla=95) == "Good"
    assert rate(94, direction="higher", sla=95) == "Requires improvement"
    # the tolerance then applies around the SLA-as-target
    assert rate(93.5, direction="higher", sla=95, tolerance=2) == "Approaching target"
    assert rate(94, direction="higher", sla=95, critical=94) == "Inadequate"


def test_sla_without_target_can_be_other():
    bands = RatingBands(no_target="other")
    assert rate(99, direction="higher", sla=95, bands=bands) == "Other"


def test_no_levels_is_other():
    assert rate(99, direction="higher") == "Other"
    assert rate(99, direction="higher", critical=50) == "Other"


def test_target_inclusive_option():
    strict = RatingBands(target_inclusive=False)
    assert rate(98, **AVAIL, bands=strict) == "Approaching target"
    assert rate(98.01, **AVAIL, bands=strict) == "Good"
    assert rate(4, **FIX_TIME, bands=strict) == "Approaching target"


def test_critical_inclusive_option():
    beyond = RatingBands(critical_inclusive=False)
    assert rate(90, **AVAIL, bands=beyond) == "Requires improvement"
    assert rate(89.9, **AVAIL, bands=beyond) == "Inadequate"
    assert rate(8, **FIX_TIME, bands=beyond) == "Requires improvement"


def test_typed_decimals_do_not_fall_off_a_band():
    # 99.9 - 0.2 == 99.70000000000002 in floating point; 99.7 was meant to be inside the tolerance
    assert rate(99.7, direction="higher", target=99.9, tolerance=0.2) == "Approaching target"
    assert rate(99.69, direction="higher", target=99.9, tolerance=0.2) == "Requires improvement"
    # 0.1 + 0.2 != 0.3: a value computed as 0.1 + 0.2 still meets a lower-is-better target of 0.3
    assert rate(0.1 + 0.2, direction="lower", target=0.3) == "Good"


def test_bad_direction_is_a_usage_error():
    with pytest.raises(UsageError, match="direction"):
        rate(1.0, direction="up", target=2)


def test_rag_and_symbols_cover_every_rating():
    assert set(RAG) == set(RATINGS) == set(SYMBOL)
    assert RAG["Good"] == "green" and RAG["Approaching target"] == "amber"
    assert RAG["Requires improvement"] == RAG["Inadequate"] == "red" and RAG["Other"] == "grey"
    assert len(set(SYMBOL.values())) == len(RATINGS)


# --- bands configuration -------------------------------------------------------------------------------------


def test_bands_from_dict_and_unknown_keys():
    b = RatingBands.from_dict({"aggregation": "median", "target_inclusive": False})
    assert b == RatingBands(aggregation="median", target_inclusive=False)
    assert RatingBands.from_dict(None) == DEFAULT_BANDS
    with pytest.raises(UsageError, match=r"'agregation' \(did you mean 'aggregation'\?\)"):
        RatingBands.from_dict({"agregation": "mean"})
    with pytest.raises(UsageError, match="aggregation must be one of"):
        RatingBands.from_dict({"aggregation": "average"})
    with pytest.raises(UsageError, match="min_months_reported"):
        RatingBands(min_months_reported=0)
    with pytest.raises(UsageError, match="target_inclusive"):
        RatingBands(target_inclusive="yes")
    assert issubclass(UsageError, CinbError)


def test_describe_states_the_rules_in_force():
    default = DEFAULT_BANDS.describe()
    assert default[0] == "Good: meets or beats the target."
    assert any("SLA, which serves as the target" in line for line in default)
    assert any("the mean of the values reported in the period" in line for line in default)
    custom = RatingBands(target_inclusive=False, critical_inclusive=False, no_target="other",
                         aggregation="worst", min_months_reported=3).describe()
    assert custom[0].startswith("Good: beats")
    assert "Inadequate: beyond the critical" in custom[3]
    assert any("rated Other" in line for line in custom)
    assert any("the worst value reported" in line and "at least 3 reported values" in line for line in custom)


# --- monthly service levels ----------------------------------------------------------------------------------


def test_service_levels_per_month():
    kpis = make_kpis(
        dict(contract_id="C1", kpi_id="AV", direction="higher", sla=95, target=98, critical=90),
        dict(contract_id="C1", kpi_id="FIX", direction="lower", unit="hours", target=4, tolerance=1),
        dict(contract_id="C2", kpi_id="SAT", direction="higher", unit="score"),
    )
    meas = make_measurements(
        ("C1", "AV", "2025-01", 99), ("C1", "AV", "2025-02", 96), ("C1", "AV", "2025-03", NA),
        ("C1", "AV", "2025-04", 89), ("C1", "FIX", "2025-01", 4.5), ("C2", "SAT", "2025-01", 7),
    )
    out = service_levels(kpis, meas)
    assert len(out) == len(meas)
    assert list(out["rating"]) == [
        "Good", "Approaching target", "Other", "Inadequate", "Approaching target", "Other",
    ]
    assert list(out["rag"]) == ["green", "amber", "grey", "red", "amber", "grey"]
    assert out["met_sla"].tolist()[:4] == [True, True, pd.NA, False]
    assert out["met_target"].tolist()[:4] == [True, False, pd.NA, False]
    assert out["met_sla"].isna().tolist()[4:] == [True, True]  # no SLA on FIX and SAT
    assert out["met_target"].tolist()[4] is False
    assert out["met_target"].isna().iloc[5]
    assert list(out["rated_against"].fillna("none")) == ["target"] * 5 + ["none"]
    assert str(out["met_sla"].dtype) == "boolean"


def test_service_levels_rejects_measurements_of_unknown_kpis():
    kpis = make_kpis(dict(contract_id="C1", kpi_id="AV", direction="higher", target=98))
    meas = make_measurements(("C1", "AV", "2025-01", 99), ("C1", "XX", "2025-01", 1))
    with pytest.raises(UsageError, match="C1/XX"):
        service_levels(kpis, meas)


# --- window ratings ------------------------------------------------------------------------------------------


@pytest.fixture
def window_data():
    kpis = make_kpis(
        dict(contract_id="C1", kpi_id="AV", direction="higher", sla=95, target=98, critical=90),
        dict(contract_id="C1", kpi_id="FIX", direction="lower", unit="hours", target=4, tolerance=1, critical=8),
        dict(contract_id="C1", kpi_id="NEW", direction="higher", target=90),
    )
    meas = make_measurements(
        ("C1", "AV", "2024-12", 10.0),  # outside the window: would make the mean Inadequate if counted
        ("C1", "AV", "2025-01", 97), ("C1", "AV", "2025-02", 99), ("C1", "AV", "2025-03", NA),
        ("C1", "AV", "2025-04", 96),
        ("C1", "FIX", "2025-01", 3), ("C1", "FIX", "2025-02", 9), ("C1", "FIX", "2025-03", 4.5),
    )
    return kpis, meas


def test_window_rating_mean_and_counts(window_data):
    kpis, meas = window_data
    w = window_ratings(kpis, meas, "2025-01", "2025-06").set_index("kpi_id")
    av = w.loc["AV"]
    assert av["months_in_window"] == 6
    assert av["months_with_rows"] == 4
    assert av["months_reported"] == 3
    assert av["value"] == pytest.approx((97 + 99 + 96) / 3)  # 97.33: misses 98, meets 95
    assert av["rating"] == "Approaching target" and av["rag"] == "amber"
    assert av["compliance_sla"] == pytest.approx(1.0)
    assert av["compliance_target"] == pytest.approx(1 / 3)
    assert av["latest_period"] == pd.Period("2025-04", "M")
    assert av["latest_value"] == 96 and av["latest_rating"] == "Approaching target"
    fix = w.loc["FIX"]
    assert fix["value"] == pytest.approx((3 + 9 + 4.5) / 3)  # 5.5 hours: outside target 4 ± 1
    assert fix["rating"] == "Requires improvement"
    assert math.isnan(fix["compliance_sla"])
    assert fix["compliance_target"] == pytest.approx(1 / 3)
    assert fix["latest_rating"] == "Approaching target"
    new = w.loc["NEW"]
    assert new["months_reported"] == 0 and new["rating"] == "Other" and math.isnan(new["value"])


@pytest.mark.parametrize(
    "aggregation, av_value, fix_value",
    [("median", 97.0, 4.5), ("latest", 96.0, 4.5), ("worst", 96.0, 9.0)],
)
def test_window_aggregations(window_data, aggregation, av_value, fix_value):
    kpis, meas = window_data
    w = window_ratings(kpis, meas, "2025-01", "2025-06", RatingBands(aggregation=aggregation)).set_index("kpi_id")
    assert w.loc["AV", "value"] == av_value
    assert w.loc["FIX", "value"] == fix_value


def test_window_worst_fix_is_inadequate(window_data):
    kpis, meas = window_data
    w = window_ratings(kpis, meas, "2025-01", "2025-06", {"aggregation": "worst"}).set_index("kpi_id")
    assert w.loc["FIX", "rating"] == "Inadequate"  # 9 hours is beyond the critical 8


def test_window_min_months(window_data):
    kpis, meas = window_data
    w = window_ratings(kpis, meas, "2025-01", "2025-06", RatingBands(min_months_reported=4)).set_index("kpi_id")
    assert (w["rating"] == "Other").all()
    assert w.loc["AV", "value"] == pytest.approx(97.3333333)  # the figure is kept, only the rating withheld


def test_window_arguments(window_data):
    kpis, meas = window_data
    with pytest.raises(UsageError, match="before its start"):
        window_ratings(kpis, meas, "2025-06", "2025-01")
    with pytest.raises(UsageError, match="month like 2026-03"):
        window_ratings(kpis, meas, "June 2025x", "2025-07")
    one = window_ratings(kpis, meas, pd.Period("2025-02", "M"), "2025-02").set_index("kpi_id")
    assert one.loc["AV", "rating"] == "Good" and one.loc["FIX", "rating"] == "Inadequate"


# --- scorecard -----------------------------------------------------------------------------------------------


def test_scorecard_weights_counts_and_overall_rule():
    wr = pd.DataFrame(
        [
            ("C1", "A", "Good"), ("C1", "B", "Approaching target"), ("C1", "C", "Other"),
            ("C2", "A", "Good"), ("C2", "B", "Inadequate"),
            ("C3", "A", "Other"),
            ("C4", "A", "Requires improvement"),
            ("C5", "A", "Good"), ("C5", "B", "Good"), ("C5", "C", "Good"), ("C5", "D", "Inadequate"),
        ],
        columns=["contract_id", "kpi_id", "rating"],
    )
    kpis = make_kpis(
        *[dict(contract_id=c, kpi_id=k, direction="higher") for c, k in zip(wr["contract_id"], wr["kpi_id"])]
    )
    kpis.loc[(kpis.contract_id == "C1") & (kpis.kpi_id == "A"), "weight"] = 2.0
    kpis.loc[(kpis.contract_id == "C1") & (kpis.kpi_id == "C"), "weight"] = 5.0  # Other: weight ignored
    sc = scorecard(wr, kpis).set_index("contract_id")
    assert sc.loc["C1", "score"] == pytest.approx((2 * 100 + 67) / 3)  # 89
    assert sc.loc["C1", "rating"] == "Good"
    assert sc.loc["C1", "weight_rated"] == 3.0
    assert sc.loc["C1", ["n_kpis", "n_good", "n_approaching", "n_other"]].tolist() == [3, 1, 1, 1]
    assert sc.loc["C2", "score"] == pytest.approx(50.0)  # would be Approaching, but an Inadequate KPI caps it
    assert sc.loc["C2", "rating"] == "Requires improvement"
    assert math.isnan(sc.loc["C3", "score"]) and sc.loc["C3", "rating"] == "Other"
    assert sc.loc["C4", "score"] == pytest.approx(33.0) and sc.loc["C4", "rating"] == "Requires improvement"
    assert sc.loc["C5", "score"] == pytest.approx(75.0) and sc.loc["C5", "rating"] == "Requires improvement"
    assert sc.loc["C5", "rag"] == "red"
    assert len(scorecard_rule()) == 3


def test_scorecard_bands_edges():
    wr = pd.DataFrame(
        [("A", "1", "Inadequate"), ("B", "1", "Good"), ("B", "2", "Approaching target"),
         ("B", "3", "Approaching target"), ("B", "4", "Approaching target"), ("B", "5", "Approaching target")],
        columns=["contract_id", "kpi_id", "rating"],
    )
    kpis = make_kpis(*[dict(contract_id=c, kpi_id=k, direction="higher") for c, k in zip(wr.contract_id, wr.kpi_id)])
    sc = scorecard(wr, kpis).set_index("contract_id")
    assert sc.loc["A", "rating"] == "Inadequate" and sc.loc["A", "score"] == 0
    assert sc.loc["B", "score"] == pytest.approx((100 + 4 * 67) / 5)  # 73.6
    assert sc.loc["B", "rating"] == "Approaching target"


# --- properties ----------------------------------------------------------------------------------------------

levels = st.one_of(st.none(), st.floats(-1000, 1000, allow_nan=False).map(lambda x: round(x, 2)))
values = st.one_of(st.none(), st.floats(-1000, 1000, allow_nan=False).map(lambda x: round(x, 2)))
tolerances = st.one_of(st.none(), st.floats(0, 100, allow_nan=False).map(lambda x: round(x, 2)))


def _neg(x):
    return None if x is None else -x


@settings(max_examples=300, deadline=None)
@given(v=values, sla=levels, target=levels, tol=tolerances, crit=levels,
       ti=st.booleans(), ci=st.booleans(), nt=st.sampled_from(["sla", "other"]))
def test_mirroring_the_direction_gives_the_same_rating(v, sla, target, tol, crit, ti, ci, nt):
    bands = RatingBands(target_inclusive=ti, critical_inclusive=ci, no_target=nt)
    up = rate(v, direction="higher", sla=sla, target=target, tolerance=tol, critical=crit, bands=bands)
    down = rate(_neg(v), direction="lower", sla=_neg(sla), target=_neg(target), tolerance=tol,
                critical=_neg(crit), bands=bands)
    assert up == down


_ORDER = {"Inadequate": 0, "Requires improvement": 1, "Approaching target": 2, "Good": 3}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=3, max_size=3),
       st.lists(st.floats(-200, 200, allow_nan=False), min_size=2, max_size=40))
def test_rating_never_gets_worse_as_the_value_improves(lv, vals):
    crit, sla, target = sorted(lv)
    ratings = [_ORDER[rate(v, direction="higher", sla=sla, target=target, critical=crit)] for v in sorted(vals)]
    assert ratings == sorted(ratings)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(values, levels, levels, tolerances, levels, st.sampled_from(["higher", "lower"])),
                min_size=1, max_size=20))
def test_vectorised_equals_scalar(rows):
    kpis = make_kpis(*[
        dict(contract_id="C", kpi_id=f"K{i}", direction=d, sla=s if s is not None else NA,
             target=t if t is not None else NA, tolerance=tol if tol is not None else NA,
             critical=c if c is not None else NA)
        for i, (_, s, t, tol, c, d) in enumerate(rows)
    ])
    meas = make_measurements(*[("C", f"K{i}", "2025-01", v if v is not None else NA) for i, (v, *_) in enumerate(rows)])
    out = service_levels(kpis, meas).set_index("kpi_id")
    for i, (v, s, t, tol, c, d) in enumerate(rows):
        assert out.loc[f"K{i}", "rating"] == rate(v, direction=d, sla=s, target=t, tolerance=tol, critical=c)


def test_one_supplier_note_leaves_the_other_kpis_without_one(tmp_path):
    """A note on one KPI's month must not give every other KPI of the contract a note reading "nan" (pandas >= 3
    reads a list of None and text as a text column, whose None becomes NaN)."""
    import shutil
    from pathlib import Path

    from cinb import contract_review, load_portfolio
    from cinb.commentary import kpi_paragraph

    sample = Path(__file__).resolve().parent.parent / "cinb" / "data" / "sample"
    data = tmp_path / "data"
    shutil.copytree(sample, data, ignore=shutil.ignore_patterns("records", "*.yml"))
    meas = pd.read_csv(data / "measurements.csv", dtype=str, keep_default_na=False)
    meas["note"] = ""
    row = (meas["contract_id"] == "NB-SD-001") & (meas["period"] == "2026-10") & (meas["kpi_id"] == "ANS30")
    assert row.sum() == 1
    meas.loc[row, "note"] = "telephony outage"
    meas.to_csv(data / "measurements.csv", index=False)
    review = contract_review(load_portfolio(data), "NB-SD-001", "2026-10")
    notes = {k.kpi_id: k.window.get("period_note") for k in review.kpis}
    assert notes.pop("ANS30") == "telephony outage"
    assert notes and all(v is None for v in notes.values())
    for k in review.kpis:
        text = kpi_paragraph(k)
        assert "nan" not in text.lower().replace("financial", "")
        assert ("supplier's note" in text) == (k.kpi_id == "ANS30")
