"""Small typed frames for the analytics tests, shaped as cinb.load.load_portfolio returns them."""

from __future__ import annotations

import numpy as np
import pandas as pd

NA = np.nan
_KPI_DEFAULTS = {
    "name": "kpi", "unit": "%", "direction": "higher", "sla": NA, "target": NA, "tolerance": NA, "critical": NA,
    "credit_method": "none", "credit_pct": NA, "weight": 1.0, "statutory": False,
}


def make_kpis(*rows: dict, **defaults) -> pd.DataFrame:
    """KPI frame; each row gives at least contract_id and kpi_id, ``defaults`` override the usual ones."""
    base = {**_KPI_DEFAULTS, **defaults}
    df = pd.DataFrame([{**base, **r} for r in rows])
    for c in ("sla", "target", "tolerance", "critical", "credit_pct", "weight"):
        df[c] = df[c].astype(float)
    df["statutory"] = df["statutory"].astype(bool)
    return df


def make_measurements(*rows: tuple) -> pd.DataFrame:
    """Measurements frame from (contract_id, kpi_id, 'YYYY-MM', value) tuples, sorted like the loader's."""
    df = pd.DataFrame(rows, columns=["contract_id", "kpi_id", "period", "value"])
    df["period"] = pd.PeriodIndex(df["period"], freq="M")
    df["value"] = df["value"].astype(float)
    return df.sort_values(["contract_id", "kpi_id", "period"]).reset_index(drop=True)
