"""The sample's records (cinb.sample_records): re-deriving them reproduces the shipped derived rows, those rows are
what an independent pandas computation gives, and the sample's packs reconcile them and print the definitions."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from cinb import contract_review, load_portfolio
from cinb.api import settings
from cinb.config import SAMPLE_DIR, check_parameters
from cinb.definitions import definition_quality, runnable_definitions
from cinb.derive import derive
from cinb.errors import DataError, UsageError
from cinb.sample_records import AS_OF, RECORDS_FILE
from cinb.sections import appendix, definitions as definitions_section
from tests.frames import make_kpis

RECORDS = SAMPLE_DIR / RECORDS_FILE
DEFINITIONS = SAMPLE_DIR / "derive.yml"


@pytest.fixture(scope="module")
def shipped():
    m = pd.read_csv(SAMPLE_DIR / "measurements.csv", dtype=str, keep_default_na=False)
    return m[m["origin"] == "derived"].reset_index(drop=True)


@pytest.fixture(scope="module")
def review():
    return contract_review(load_portfolio(), "NB-SD-001", "2026-10")


def test_rederiving_the_sample_records_reproduces_the_shipped_rows(shipped):
    got = derive(RECORDS, DEFINITIONS, as_of=AS_OF).measurements
    assert len(got) == len(shipped) == 8
    assert got[["contract_id", "kpi_id", "period"]].values.tolist() == \
        shipped[["contract_id", "kpi_id", "period"]].values.tolist()
    assert got["value"].round(4).tolist() == pd.to_numeric(shipped["value"]).tolist()
    assert got["volume"].tolist() == shipped["volume"].astype(int).tolist()
    assert [("yes" if c else "no") for c in got["complete"]] == shipped["complete"].tolist()
    assert got["note"].fillna("").tolist() == shipped["note"].tolist()


def test_shipped_rows_equal_an_independent_pandas_computation(shipped):
    t = pd.read_csv(RECORDS, dtype=str, keep_default_na=False)
    cutoff = pd.Timestamp(AS_OF)
    opened = pd.to_datetime(t["opened_at"], format="%d/%m/%Y %H:%M")
    resolved = pd.to_datetime(t["resolved_at"].replace("", None), format="%d/%m/%Y %H:%M")
    resolved_by_cutoff = resolved.where(resolved <= cutoff)
    # FTF: share of the incidents resolved in the month (by the cut-off) never reassigned.
    r = t[resolved_by_cutoff.notna()].assign(month=resolved_by_cutoff.dropna().dt.to_period("M").astype(str))
    ftf = r.groupby("month").agg(value=("reassignment_count", lambda s: 100 * (s == "0").mean()),
                                 volume=("number", "size"))
    # P1RES: mean elapsed hours of the priority 1 incidents logged in the month, resolved by the cut-off.
    p1 = t["priority"] == "1 - Critical"
    hours = (resolved_by_cutoff - opened).dt.total_seconds() / 3600
    p = pd.DataFrame({"month": opened[p1].dt.to_period("M").astype(str), "hours": hours[p1]})
    p1res = p.groupby("month").agg(value=("hours", "mean"), volume=("hours", "count"),
                                   open=("hours", lambda s: int(s.isna().sum())))
    s = shipped.set_index(["kpi_id", "period"])
    for month, row in ftf.iterrows():
        assert float(s.loc[("FTF", month), "value"]) == pytest.approx(row["value"], abs=5e-5), month
        assert int(s.loc[("FTF", month), "volume"]) == row["volume"]
    for month, row in p1res.iterrows():
        assert float(s.loc[("P1RES", month), "value"]) == pytest.approx(row["value"], abs=5e-5), month
        assert int(s.loc[("P1RES", month), "volume"]) == row["volume"]
        assert (s.loc[("P1RES", month), "complete"] == "no") == (row["open"] > 0)
    assert sorted(ftf.index) == ["2026-07", "2026-08", "2026-09", "2026-10"]
    # The supplier's FTF volumes are the records' volumes: the disagreement is in the share, not the count.
    assert ftf["volume"].tolist() == [2825, 2576, 3590, 3269]


def test_the_sample_pack_reconciles_three_months(review):
    rec = review.reconciliation
    assert rec.loc[rec["flagged"], ["kpi_id", "period"]].astype(str).values.tolist() == [
        ["FTF", "2026-07"], ["FTF", "2026-09"], ["P1RES", "2026-08"]]
    assert rec.loc[rec["status"] == "incomplete", ["kpi_id", "period"]].astype(str).values.tolist() == [
        ["P1RES", "2026-10"]]
    pack = review.to_pack()
    assert [(x["kpi_id"], x["period"], x["reported"], round(x["derived"], 4), round(x["difference"], 4))
            for x in pack["reconciliation"]] == [("FTF", "2026-07", 74.2, 71.3982, 2.8018),
                                                 ("FTF", "2026-09", 75.1, 70.8914, 4.2086),
                                                 ("P1RES", "2026-08", 4.6, 5.6, -1.0)]


def test_runnable_definitions_count_as_defined_and_are_printed(review):
    d = review.definitions.set_index("kpi_id")
    assert d["runnable"].to_dict() == {"FTF": True, "ANS30": False, "P1RES": True, "CSAT": False, "AGED": False,
                                       "ABND": False}
    assert d.loc["FTF", "runnable_definition"] == ("Share (%) of the records whose resolved_at falls in the month, "
                                                   "for which reassignment_count is 0. Volume: the records counted.")
    html = "".join(x.to_html() for x in definitions_section(review))
    assert ">Runnable definition</th>" in html
    html = "".join(x.to_html() for x in appendix(review, {}))
    assert "KPI definitions computed from the records" in html
    assert "where priority is &#x27;1 - Critical&#x27;" in html
    assert "0.5 percentage points for % KPIs" in html and "in this pack: % KPIs: 0.5 percentage points" in html
    pack = review.to_pack()
    assert next(x for x in pack["definitions"] if x["kpi_id"] == "P1RES")["runnable"] is True


def test_a_runnable_definition_supplies_the_description_and_data_source():
    kpis = make_kpis({"contract_id": "C", "kpi_id": "A", "name": "A"}, {"contract_id": "C", "kpi_id": "B", "name": "B"})
    plain = definition_quality(kpis).set_index("kpi_id")
    assert not plain.loc["A", "description"] and not plain.loc["A", "data_source"]
    dq = definition_quality(kpis, {("C", "A"): "Share (%) of …"}).set_index("kpi_id")
    assert dq.loc["A", "description"] and dq.loc["A", "data_source"] and dq.loc["A", "runnable"]
    assert dq.loc["A", "present"] == plain.loc["A", "present"] + 2
    assert not dq.loc["B", "runnable"] and dq.loc["B", "present"] == plain.loc["B", "present"]
    assert pd.isna(dq.loc["B", "runnable_definition"])


def test_definitions_file_beside_the_data_or_given(tmp_path):
    assert set(runnable_definitions(None, SAMPLE_DIR)) == {("NB-SD-001", "FTF"), ("NB-SD-001", "P1RES")}
    assert runnable_definitions(None, tmp_path) == {}  # no derive.yml there
    assert runnable_definitions(None, "postgresql://host/db") == {}
    assert set(runnable_definitions(DEFINITIONS, None)) == {("NB-SD-001", "FTF"), ("NB-SD-001", "P1RES")}
    bad = tmp_path / "derive.yml"
    bad.write_text("kpis:\n  - {contract_id: C, kpi_id: K, period: opened_at, measure: averagez}\n")
    with pytest.raises(DataError):
        runnable_definitions(None, tmp_path)
    # A portfolio folder with its own derive.yml: the review finds it; the parameter overrides it.
    folder = tmp_path / "p"
    shutil.copytree(SAMPLE_DIR, folder, ignore=shutil.ignore_patterns("records", "*.yml"))
    p = load_portfolio(folder)
    assert not contract_review(p, "NB-SD-001", "2026-10").definitions["runnable"].any()
    r = contract_review(p, "NB-SD-001", "2026-10", definitions=str(DEFINITIONS))
    assert r.definitions["runnable"].sum() == 2


def test_parameters_are_checked_before_anything_runs():
    check_parameters({"rate_on": "derived", "reconcile_tolerance": "%=1, hours=10%", "definitions": str(DEFINITIONS)})
    with pytest.raises(UsageError, match="rate_on must be reported"):
        check_parameters({"rate_on": "records"})
    with pytest.raises(UsageError, match="reconcile_tolerance must be text such as"):
        check_parameters({"reconcile_tolerance": "half a point"})
    with pytest.raises(UsageError, match="definitions must be the path of an existing"):
        check_parameters({"definitions": "/no/such/derive.yml"})
    with pytest.raises(UsageError, match="unknown unit 'furlongs'"):
        settings({"reconcile_tolerance": "furlongs=2"})
    assert settings({"rate_on": "derived"})["rate_on"] == "derived"
