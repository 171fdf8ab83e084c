"""xmr_many (the portfolio-wide path) gives exactly the figures of xmr series by series, gaps included."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cinb import spc


def test_xmr_many_matches_xmr_per_series():
    rng = np.random.default_rng(11)
    rows = []
    for i in range(30):
        months = pd.period_range("2024-01", periods=30, freq="M")
        for m, p in enumerate(months):
            if rng.random() < 0.07:
                continue  # no row: a gap that must not be bridged
            rows.append({"c": f"C{i // 3}", "k": f"K{i % 3}", "period": p, "v": 50 + rng.normal(0, 2) + 0.1 * m,
                         "dir": "higher" if i % 2 else "lower", "target": 52.0 if i % 4 else np.nan})
    f = pd.DataFrame(rows).sample(frac=1, random_state=1)  # row order must not matter
    many = spc.xmr_many(f, "v", ["c", "k"], improvement_col="dir", target_col="target", period_col="period")
    assert len(many) == 30
    for _, row in many.iterrows():
        g = f[(f["c"] == row["c"]) & (f["k"] == row["k"])].set_index("period").sort_index()["v"]
        g = g.reindex(pd.period_range(g.index.min(), g.index.max(), freq="M"))
        first = f[(f["c"] == row["c"]) & (f["k"] == row["k"])].iloc[0]
        tgt = first["target"]
        one = spc.xmr(g, improvement="increase" if first["dir"] == "higher" else "decrease",
                      target=None if np.isnan(tgt) else tgt)
        assert row["mean"] == one.mean and row["upl"] == one.upl and row["lpl"] == one.lpl
        assert row["variation"] == one.variation and row["assurance"] == one.assurance
        types = one.points["point_type"]
        assert row["n_concern"] == int((types == "special_cause_concern").sum())
        assert row["n_improvement"] == int((types == "special_cause_improvement").sum())
