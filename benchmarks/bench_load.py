"""Benchmark: load and validate a synthetic portfolio of 1,000 contracts x 10 KPIs x 60 months (600,000 rows).

Run ``python benchmarks/bench_load.py [--contracts N] [--kpis K] [--months M]``. It writes the portfolio as CSV
into a temporary folder, then times, each in a fresh process so peak memory is its own:

* ``cinb``: ``load_portfolio(folder)`` — read, validate every cell, resolve revisions, account for rows;
* ``read_csv``: plain ``pandas.read_csv`` of the four files (a floor: no validation at all);
* ``row-by-row``: a naive validator checking each measurement in a Python loop (ids, period, number, KPI
  lookup, term), the way a first version is often written; run on a sample and extrapolated when large.

Peak memory is the process's maximum resident set size (``resource.getrusage``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def generate(folder: Path, contracts: int, kpis: int, months: int, seed: int = 1) -> int:
    """Write the synthetic portfolio; returns the number of measurement rows."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    cids = np.array([f"C{i:05d}" for i in range(contracts)])
    first = pd.Period("2021-01", "M")
    pd.DataFrame({
        "contract_id": cids, "title": [f"Contract {i}" for i in range(contracts)],
        "authority": "London Borough of Benchmark", "supplier": [f"Supplier {i % 97} Ltd" for i in range(contracts)],
        "start_date": str(first.start_time.date()), "end_date": "2027-12-31",
        "annual_value_gbp": rng.integers(100_000, 5_000_000, contracts),
        "service_credit_cap_pct": 10,
    }).to_csv(folder / "contracts.csv", index=False)
    units = np.array(["%", "hours", "count", "days", "score"])
    k_unit = units[np.arange(kpis) % len(units)]
    pd.DataFrame({
        "contract_id": np.repeat(cids, kpis), "kpi_id": np.tile([f"K{j:02d}" for j in range(kpis)], contracts),
        "name": np.tile([f"KPI {j}" for j in range(kpis)], contracts), "unit": np.tile(k_unit, contracts),
        "direction": np.tile(np.where(np.arange(kpis) % 2 == 0, "higher", "lower"), contracts),
        "sla": np.tile(np.where(k_unit == "%", 95.0, 10.0), contracts),
        "target": np.tile(np.where(k_unit == "%", 98.0, 8.0), contracts),
    }).to_csv(folder / "kpis.csv", index=False)
    n = contracts * kpis * months
    periods = pd.period_range(first, periods=months, freq="M").astype(str)
    unit_of_row = np.tile(np.repeat(k_unit, months), contracts)
    value = np.where(unit_of_row == "%", rng.uniform(90, 100, n), rng.uniform(0, 20, n)).round(2)
    pd.DataFrame({
        "contract_id": np.repeat(cids, kpis * months),
        "kpi_id": np.tile(np.repeat([f"K{j:02d}" for j in range(kpis)], months), contracts),
        "period": np.tile(periods, contracts * kpis),
        "value": value,
        "submitted_on": np.tile((pd.period_range(first, periods=months, freq="M").end_time.normalize()
                                 + pd.Timedelta(days=7)).strftime("%Y-%m-%d"), contracts * kpis),
        "revision": 1,
        "note": "",
    }).to_csv(folder / "measurements.csv", index=False)
    return n


def naive_validate(folder: Path, limit: int | None = None) -> tuple[int, int]:
    """Row-by-row validation of measurements (the baseline): returns (rows checked, errors)."""
    contracts = pd.read_csv(folder / "contracts.csv", dtype=str, keep_default_na=False)
    kpis = pd.read_csv(folder / "kpis.csv", dtype=str, keep_default_na=False)
    terms = {r.contract_id: (r.start_date[:7], r.end_date[:7]) for r in contracts.itertuples()}
    units = {(r.contract_id, r.kpi_id): r.unit for r in kpis.itertuples()}
    id_re = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
    per_re = re.compile(r"\d{4}-\d{2}")
    errors, checked = 0, 0
    import csv

    with open(folder / "measurements.csv", newline="", encoding="utf-8") as fh:
        for i, row in enumerate(csv.DictReader(fh), start=2):
            if limit is not None and checked >= limit:
                break
            checked += 1
            ok = bool(id_re.fullmatch(row["contract_id"])) and bool(id_re.fullmatch(row["kpi_id"]))
            ok &= bool(per_re.fullmatch(row["period"]))
            try:
                v = float(row["value"]) if row["value"] else None
                ok &= v is None or (np.isfinite(v) and v >= 0)
            except ValueError:
                ok = False
            ok &= (row["contract_id"], row["kpi_id"]) in units
            term = terms.get(row["contract_id"])
            ok &= term is not None and term[0] <= row["period"] <= term[1]
            pd.Period(row["period"], "M")  # typing each value, as a naive loader would
            errors += not ok
    return checked, errors


def _measure(kind: str, folder: str, limit: int | None) -> dict:
    """Run one timed job in this process and return seconds and peak RSS (MB)."""
    sys.path.insert(0, str(ROOT))
    t = time.perf_counter()
    info: dict = {}
    if kind == "cinb":
        from cinb.load import load_portfolio

        p = load_portfolio(folder)
        info = {"rows": int(p.accounting["read"].sum()), "warnings": len(p.warnings)}
        acc = p.accounting
        assert (acc["read"] == acc["used"] + acc["superseded"] + acc["rejected"]).all()
    elif kind == "read_csv":
        frames = [pd.read_csv(Path(folder) / f"{n}.csv") for n in ("contracts", "kpis", "measurements")]
        info = {"rows": sum(len(f) for f in frames)}
    else:
        checked, errors = naive_validate(Path(folder), limit)
        info = {"rows": checked, "errors": errors}
    seconds = time.perf_counter() - t
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "peak_mb": peak_kb / 1024, **info}


def _in_subprocess(kind: str, folder: Path, limit: int | None) -> dict:
    out = subprocess.run([sys.executable, __file__, "--_job", kind, "--_folder", str(folder),
                          "--_limit", str(limit or 0)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contracts", type=int, default=1000)
    ap.add_argument("--kpis", type=int, default=10)
    ap.add_argument("--months", type=int, default=60)
    ap.add_argument("--naive-sample", type=int, default=100_000,
                    help="rows the row-by-row baseline checks before its time is extrapolated")
    ap.add_argument("--_job"), ap.add_argument("--_folder"), ap.add_argument("--_limit", type=int, default=0)
    args = ap.parse_args(argv)
    if args._job:
        print(json.dumps(_measure(args._job, args._folder, args._limit or None)))
        return 0
    with tempfile.TemporaryDirectory(prefix="cinb-bench-") as tmp:
        folder = Path(tmp) / "portfolio"
        t = time.perf_counter()
        n = generate(folder, args.contracts, args.kpis, args.months)
        size = sum(f.stat().st_size for f in folder.iterdir()) / 1e6
        print(f"generated {n:,} measurements ({args.contracts} contracts x {args.kpis} KPIs x {args.months} months, "
              f"{size:.0f} MB of CSV) in {time.perf_counter() - t:.1f} s on {os.cpu_count()} cores")
        cinb = _in_subprocess("cinb", folder, None)
        plain = _in_subprocess("read_csv", folder, None)
        naive = _in_subprocess("naive", folder, args.naive_sample)
        naive_total = naive["seconds"] * n / max(naive["rows"], 1)
        extrapolated = naive["rows"] < n
        rows = [
            ("cinb load_portfolio (read + validate + revisions)", cinb["seconds"], cinb["peak_mb"]),
            ("pandas read_csv only (no validation)", plain["seconds"], plain["peak_mb"]),
            ("naive row-by-row validation" + (" (extrapolated)" if extrapolated else ""), naive_total,
             naive["peak_mb"]),
        ]
        print(f"{'job':<58}{'seconds':>9}{'peak MB':>9}{'vs cinb':>9}")
        for name, sec, mb in rows:
            print(f"{name:<58}{sec:>9.2f}{mb:>9.0f}{sec / cinb['seconds']:>8.2f}x")
        print(f"cinb: {cinb['rows']:,} rows read, {cinb['warnings']} warnings; "
              f"{n / cinb['seconds']:,.0f} measurements per second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
