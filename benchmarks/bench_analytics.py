"""Score a large synthetic portfolio with every analytics engine; print time and peak memory.

Default: 1,000 contracts × 10 KPIs × 60 months = 600,000 measurements, the size of a large council's whole
estate over five years. Each stage is timed alone; SPC and trends are also timed the naive way (one call
per KPI series in a Python loop) beside the vectorised path, and the ratio printed.

    python benchmarks/bench_analytics.py                 # full size
    python benchmarks/bench_analytics.py --contracts 100 # quicker
"""

from __future__ import annotations

import argparse
import time
import resource

import numpy as np
import pandas as pd

from cinb import spc
from cinb.credits import credit_lines, monthly_credits, year_to_date
from cinb.ratings import scorecard, service_levels, window_ratings
from cinb.trends import trend_summary, trend_summary_many


def synthetic(n_contracts: int, n_kpis: int, n_months: int, seed: int = 7):
    """Typed frames as load_portfolio returns them (the loader's own cost is in bench_load.py)."""
    rng = np.random.default_rng(seed)
    end = pd.Period("2026-10", "M")
    start = end - (n_months - 1)
    cids = [f"C{i:05d}" for i in range(n_contracts)]
    contracts = pd.DataFrame({
        "contract_id": cids, "title": [f"Contract {i}" for i in range(n_contracts)], "authority": "Borough",
        "supplier": [f"Supplier {i % 97}" for i in range(n_contracts)],
        "start_date": pd.Timestamp(start.start_time), "end_date": pd.Timestamp("2030-03-31"),
        "annual_value_gbp": rng.uniform(1e5, 5e6, n_contracts), "service_credit_cap_pct": 10.0,
    })
    contracts["monthly_charge_gbp"] = contracts["annual_value_gbp"] / 12
    kpi_rows = []
    for c in cids:
        for j in range(n_kpis):
            higher = j % 2 == 0
            kpi_rows.append({"contract_id": c, "kpi_id": f"K{j:02d}", "name": f"KPI {j}", "unit": "%",
                             "direction": "higher" if higher else "lower",
                             "sla": 90.0 if higher else 10.0, "target": 95.0 if higher else 5.0,
                             "critical": 80.0 if higher else 20.0, "tolerance": np.nan,
                             "credit_method": "shortfall" if j % 3 == 0 else "none", "credit_pct": np.nan,
                             "weight": 1.0})
    kpis = pd.DataFrame(kpi_rows)
    periods = pd.period_range(start, end, freq="M")
    n_series = len(kpis)
    level = np.where(kpis["direction"] == "higher", 94.0, 6.0)
    values = level[:, None] + rng.normal(0, 1.5, (n_series, n_months))
    meas = pd.DataFrame({
        "contract_id": np.repeat(kpis["contract_id"].to_numpy(), n_months),
        "kpi_id": np.repeat(kpis["kpi_id"].to_numpy(), n_months),
        "period": pd.PeriodIndex(np.tile(periods, n_series)),
        "value": values.ravel().clip(0, 100),
    })
    return contracts, kpis, meas


def peak_rss_mib() -> float:
    """The process's peak resident memory so far (tracemalloc would slow Python-heavy stages several-fold)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, fn, results: dict):
    t = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t
    results[label] = seconds
    print(f"{label:<44} {seconds:8.2f} s   process peak RSS so far {peak_rss_mib():8.0f} MiB")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contracts", type=int, default=1000)
    ap.add_argument("--kpis", type=int, default=10)
    ap.add_argument("--months", type=int, default=60)
    ap.add_argument("--naive-sample", type=int, default=500,
                    help="series timed with the one-call-per-series loop (scaled up to all series)")
    args = ap.parse_args(argv)
    contracts, kpis, meas = synthetic(args.contracts, args.kpis, args.months)
    n_series = len(kpis)
    print(f"portfolio: {len(contracts):,} contracts, {n_series:,} KPIs, {len(meas):,} measurements\n")
    r: dict[str, float] = {}
    end = meas["period"].max()
    timed("service levels (every month)", lambda: service_levels(kpis, meas), r)
    w = timed("window ratings (12 months)", lambda: window_ratings(kpis, meas, end - 11, end), r)
    timed("weighted scorecards", lambda: scorecard(w, kpis), r)
    lines = timed("service credit lines", lambda: credit_lines(contracts, kpis, meas), r)
    monthly = timed("monthly credits (capped)", lambda: monthly_credits(contracts, kpis, meas, lines=lines), r)
    timed("contract-year ledgers", lambda: year_to_date(monthly, end), r)
    improvement = np.where(kpis["direction"] == "higher", "increase", "decrease")
    frame = meas.merge(kpis[["contract_id", "kpi_id", "direction", "target"]], on=["contract_id", "kpi_id"])
    timed("SPC, all series (xmr_many)", lambda: spc.xmr_many(
        frame, "value", ["contract_id", "kpi_id"], improvement_col="direction", target_col="target",
        period_col="period"), r)
    timed("trends, all series (trend_summary_many)", lambda: trend_summary_many(
        frame, "value", ["contract_id", "kpi_id"], direction_col="direction", period_col="period"), r)

    # Naive baselines: one call per series in a Python loop, on a sample, scaled to every series.
    k = min(args.naive_sample, n_series)
    groups = list(frame.groupby(["contract_id", "kpi_id"], sort=False))[:k]
    t = time.perf_counter()
    for (_, g), imp in zip(groups, improvement):
        spc.xmr(g["value"].to_numpy(), improvement=imp, target=float(g["target"].iloc[0])).points
    naive_spc = (time.perf_counter() - t) * n_series / k
    t = time.perf_counter()
    for _, g in groups:
        trend_summary(g["value"].to_numpy()[-12:], g["direction"].iloc[0])
    naive_trend = (time.perf_counter() - t) * n_series / k
    print(f"\nnaive SPC loop (xmr + points per series)      {naive_spc:8.2f} s  "
          f"(ratio {naive_spc / r['SPC, all series (xmr_many)']:.1f}x)")
    print(f"naive trend loop (trend_summary per series)   {naive_trend:8.2f} s  "
          f"(ratio {naive_trend / r['trends, all series (trend_summary_many)']:.1f}x)")
    print(f"\ntotal (vectorised stages): {sum(r.values()):.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
