"""The embedded sample portfolio: deterministic, and rich enough to exercise every analysis."""

from __future__ import annotations

import filecmp

import pandas as pd

from cinb import sample
from cinb.config import SAMPLE_DIR


def test_committed_sample_is_what_the_generator_writes(tmp_path):
    sample.write(tmp_path)
    for name in ("contracts", "kpis", "measurements", "initiatives"):
        assert filecmp.cmp(tmp_path / f"{name}.csv", SAMPLE_DIR / f"{name}.csv", shallow=False), name


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
