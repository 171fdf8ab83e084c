"""The vectorised trend path gives exactly the per-series figures of trend_summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cinb.trends import trend_summary, trend_summary_many


def _frame(seed=3, n_series=40, months=30):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_series):
        drift = rng.choice([-0.4, 0.0, 0.4])
        vals = np.round(50 + drift * np.arange(months) + rng.normal(0, 1.5, months), 0)  # rounding makes ties
        for m in range(months):
            if rng.random() < 0.08:
                continue  # a missing month (a gap, not bridged)
            rows.append({"contract_id": f"C{i // 5}", "kpi_id": f"K{i % 5}", "period": pd.Period("2024-01", "M") + m,
                         "value": np.nan if rng.random() < 0.03 else vals[m],
                         "direction": "higher" if i % 2 else "lower"})
    return pd.DataFrame(rows)


def test_matches_trend_summary_series_by_series():
    f = _frame()
    many = trend_summary_many(f, "value", ["contract_id", "kpi_id"], window=12)
    assert len(many) == 40
    for _, row in many.iterrows():
        g = f[(f["contract_id"] == row["contract_id"]) & (f["kpi_id"] == row["kpi_id"])]
        end = g["period"].max()
        series = g[g["period"] > end - 12].set_index("period")["value"]
        one = trend_summary(series, g["direction"].iloc[0])
        assert row["n"] == one.n and row["s"] == one.mann_kendall.s
        assert row["var_s"] == pytest.approx(one.mann_kendall.var_s)
        assert row["verdict"] == one.verdict
        for a, b in [(row["p_value"], one.p_value), (row["slope_per_month"], one.slope_per_month),
                     (row["slope_low_per_month"], one.slope_low_per_month),
                     (row["slope_high_per_month"], one.slope_high_per_month)]:
            assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-12)


def test_short_series_are_not_tested():
    f = pd.DataFrame({"k": ["a"] * 3, "period": pd.period_range("2026-01", periods=3, freq="M"),
                      "value": [1.0, 2.0, 3.0], "direction": "higher"})
    row = trend_summary_many(f, "value", ["k"]).iloc[0]
    assert row["n"] == 3 and np.isnan(row["p_value"]) and row["verdict"] == "no significant trend"
