"""Benchmark: the portfolio review of a 1,002-contract portfolio against the time to load and validate it.

Run ``python benchmarks/bench_portfolio.py [--contracts N] [--baseline] [--baseline-sample K]``. It writes a
synthetic portfolio (default 1,002 contracts, 3 KPIs each: 3,006 KPIs and about 102,000 measurements) as CSV
into a temporary folder, then times in this process:

* ``load + validate``: :func:`cinb.load.load_portfolio` of the folder (read, validate every cell, resolve
  revisions, account for rows);
* ``portfolio_review``: :func:`cinb.portfolio.portfolio_review` for the review month (the vectorised pass of
  :mod:`cinb.review_many`), printed with its ratio to the load time (the target is at most 5×);
* with ``--baseline``: the per-contract loop the pass replaced (one :func:`cinb.review.contract_review` per
  contract of the whole portfolio), on ``--baseline-sample`` contracts spread over the portfolio and scaled up
  to every contract reviewed (the whole loop takes minutes; ``--baseline-sample 0`` runs
  ``cinb.portfolio._portfolio_review_per_contract`` on every contract).

Each timing is the fastest of ``--repeat`` runs, in wall-clock and in CPU seconds of this process: on a shared
machine the CPU seconds are the steadier figure.

The portfolio has the shapes real data has: monthly and quarterly KPIs, KPIs that start mid-contract, volumes
and months of no activity, missing months and empty values, provisional figures, restated values (revision 2),
every credit method (shortfall, fixed, banded with its bands, manual, none) with month, contract-year and
rolling caps, Critical Service Level Failure rules, CI commitments (a target and an annual uplift), process
changes, initiatives, contracts that start after the review month or end within the trigger horizon, and KPIs
whose level shifts for the worse (special-cause concerns).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
PERIOD = pd.Period("2026-10", "M")
#: A contract started within this many months is charted from its first month.
HISTORY = 36
#: Returns are dated no later than today (the loader refuses a date in the future).
TODAY = pd.Timestamp.today().normalize()


def _kpi(kind: int, j: int, cid: str, rng: np.random.Generator, start: pd.Period) -> dict:
    """One KPI row of palette entry ``kind`` (0–5) for contract ``cid``."""
    base = {"contract_id": cid, "kpi_id": f"K{j + 1}", "weight": "", "credit_pct": "", "credit_method": "none",
            "frequency": "", "start_period": "", "aggregation": "", "volume_unit": "", "baseline": "",
            "baseline_period": "", "ci_target": "", "ci_target_date": "", "ci_annual_uplift_pct": "",
            "tolerance": "", "statutory": "yes" if rng.random() < 0.6 else "no",
            "description": "Measured from the supplier's service management tool" if rng.random() < 0.8 else "",
            "data_source": "ITSM extract" if rng.random() < 0.7 else "", "owner": "Contract manager",
            "agreed_with_supplier": "yes" if rng.random() < 0.75 else ""}
    if kind == 0:
        base |= {"name": "Service availability", "unit": "%", "direction": "higher", "sla": 99.5, "target": 99.8,
                 "critical": 98.0, "credit_method": "shortfall", "credit_pct": 2}
    elif kind == 1:
        base |= {"name": "Incidents resolved within SLA", "unit": "%", "direction": "higher", "sla": 90,
                 "target": 95, "critical": 80, "credit_method": "fixed", "credit_pct": 3, "volume_unit": "incidents",
                 "baseline": 91.0, "baseline_period": str(max(start, PERIOD - 30)),
                 "ci_target": 96.0, "ci_target_date": str(PERIOD + 6)}
    elif kind == 2:
        base |= {"name": "Customer satisfaction (quarterly survey)", "unit": "score", "direction": "higher",
                 "sla": 7.0, "target": 8.0, "critical": 5.0, "frequency": "quarterly"}
    elif kind == 3:
        base |= {"name": "Mean time to resolve P2 incidents", "unit": "hours", "direction": "lower", "sla": 8.0,
                 "target": 6.0, "critical": 12.0, "credit_method": "banded", "baseline": 7.5,
                 "baseline_period": str(max(start, PERIOD - 24)), "ci_annual_uplift_pct": 5}
    elif kind == 4:
        base |= {"name": "P1 incidents", "unit": "count", "direction": "lower", "sla": 3, "target": 1,
                 "critical": 6, "weight": 2}
    else:
        base |= {"name": "Calls answered within 30 seconds", "unit": "%", "direction": "higher", "sla": 85,
                 "target": 90, "critical": 70, "credit_method": "manual", "volume_unit": "calls",
                 "aggregation": "mean", "start_period": str(max(start + 3, PERIOD - 20))}
    return base


def _values(kind: int, n: int, rng: np.random.Generator, shift: bool) -> np.ndarray:
    """``n`` monthly values of palette entry ``kind``; ``shift``: the last 8 move towards worse."""
    level, noise, worse = {0: (99.7, 0.15, -0.5), 1: (94.0, 2.0, -6.0), 2: (7.8, 0.4, -1.2),
                           3: (6.5, 0.8, 2.5), 4: (1.5, 1.0, 3.0), 5: (88.0, 3.0, -8.0)}[kind]
    v = level + rng.normal(0, noise, n)
    if shift:
        v[-8:] += worse
    if kind in (0, 1, 5):
        v = np.clip(v, 0, 100)
    if kind == 4:
        v = np.maximum(np.round(v), 0)
    return np.maximum(v, 0).round(2)


def generate(folder: Path, contracts: int = 1002, seed: int = 16, empty_contract: bool = False) -> dict[str, int]:
    """Write the synthetic portfolio's CSV files into ``folder``; returns the rows written per table.

    Deterministic for a ``seed``. Contract ``i`` has three KPIs from a palette of six (rotated by ``i``), so
    every combination of frequency, volumes, credit method and commitment occurs across the portfolio.
    ``empty_contract``: the last contract has no KPIs and no data (then it is skipped by the review).
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    crow, krow, mrow, irow, prow, brow, rrow = [], [], [], [], [], [], []
    for i in range(contracts):
        cid = f"C{i:05d}"
        u = rng.random()
        if u < 0.004:
            start = PERIOD + 2  # starts after the review month: no data up to it
        elif u < 0.3:
            start = PERIOD - int(rng.integers(4, HISTORY))  # started within the charted history
        else:
            start = PERIOD - int(rng.integers(HISTORY, 75))
        end = start + int(rng.integers(36, 96)) - 1
        if rng.random() < 0.1:
            end = PERIOD + int(rng.integers(1, 18))  # ends within the trigger horizon
        end = max(end, PERIOD + 1, start + 12)
        crow.append({
            "contract_id": cid, "title": f"Managed service {i}", "authority": "London Borough of Benchmark",
            "supplier": f"Supplier {i % 150} Ltd", "supplier_id": f"SC{900000 + i % 150}",
            "category": ["Service desk", "Hosting", "Network", "Applications"][i % 4],
            "start_date": str(start.start_time.date()), "end_date": str(end.end_time.date()),
            "notice_period_days": "" if rng.random() < 0.1 else int(rng.choice([90, 180, 270])),
            "annual_value_gbp": int(rng.integers(100_000, 5_000_000)),
            "monthly_charge_gbp": "" if rng.random() < 0.5 else int(rng.integers(10_000, 400_000)),
            "service_credit_cap_pct": int(rng.integers(5, 16)),
            "service_credit_cap_period": ["", "month", "contract_year", "rolling_12"][int(rng.integers(0, 4))],
            "contract_manager": "A. Manager", "procurement_id": f"PROC-{i:05d}",
        })
        if empty_contract and i == contracts - 1:
            kinds = []  # a contract with no KPIs and no data
        else:
            kinds = [(i + j) % 6 for j in range(3)]
        first = start  # data from the contract's first month (a real supplier's returns)
        for j, kind in enumerate(kinds):
            k = _kpi(kind, j, cid, rng, start)
            krow.append(k)
            kid = k["kpi_id"]
            if kind == 3:
                for sf, pct in ((0, 2), (2, 5), (4, 10)):
                    brow.append({"contract_id": cid, "kpi_id": kid, "shortfall_from": sf, "strictly_above": "yes",
                                 "credit_pct": pct})
            lo = max(first, pd.Period(k["start_period"], "M")) if k["start_period"] else first
            months = pd.period_range(lo, PERIOD, freq="M") if lo <= PERIOD else pd.PeriodIndex([], freq="M")
            if k["frequency"] == "quarterly":
                months = months[months.month % 3 == 0]
            if not len(months):
                continue
            values = _values(kind, len(months), rng, shift=rng.random() < 0.2)
            volumes = rng.integers(200, 4000, len(months)) if kind in (1, 5) else None
            draws = rng.random(len(months))
            days = np.where(rng.random(len(months)) < 0.08, rng.integers(16, 45, len(months)),
                            rng.integers(2, 15, len(months)))  # about 1 in 12 returns late
            received = months.end_time.normalize() + pd.to_timedelta(days, unit="D")
            submitted = received.where(received <= TODAY, TODAY).strftime("%Y-%m-%d")  # never in the future
            provisional = rng.random() < 0.04
            for t, (m, v, r) in enumerate(zip(months, values, draws)):
                if r < 0.04 and m != PERIOD:
                    continue  # a missing month
                row = {"contract_id": cid, "kpi_id": kid, "period": str(m), "value": v,
                       "submitted_on": submitted[t], "revision": 1, "note": "",
                       "volume": "" if volumes is None else int(volumes[t]), "complete": ""}
                if r < 0.06:
                    row["value"] = ""  # reported row with an empty value
                    row["note"] = "Extract failed"
                elif volumes is not None and r < 0.08:
                    row["value"], row["volume"] = "", 0  # no activity
                if m == PERIOD and provisional:
                    row["complete"] = "no"  # provisional figure
                if r > 0.99 and row["value"] != "":
                    mrow.append(dict(row, value=round(float(v) * 0.98, 2)))
                    row["revision"] = 2  # restated
                    row["note"] = "Restated after audit"
                mrow.append(row)
            if rng.random() < 0.03 and len(months) > 12:
                prow.append({"contract_id": cid, "kpi_id": kid, "period": str(months[len(months) // 2]),
                             "reason": "New tooling", "baseline_months": "" if rng.random() < 0.5 else 6})
        if kinds and rng.random() < 0.05:
            rrow.append({"contract_id": cid, "kpi_id": "", "count": 2, "window_months": 3,
                         "effect": "suppress_credits" if rng.random() < 0.5 else "flag"})
        if kinds and rng.random() < 0.3:
            for n in range(int(rng.integers(1, 3))):
                delivered = rng.random() < 0.5
                due = PERIOD - int(rng.integers(-6, 18))
                irow.append({"contract_id": cid, "initiative_id": f"CI-{n + 1}", "title": f"Improvement {n + 1}",
                             "raised_by": "supplier", "raised_on": str((due - 8).start_time.date()),
                             "due": str(due.end_time.date()),
                             "delivered_on": str((due - 1).end_time.date()) if delivered and due <= PERIOD else "",
                             "status": "delivered" if delivered and due <= PERIOD else "in_progress",
                             "kpi_id": "K1", "expected_benefit_gbp": int(rng.integers(5, 100)) * 1000,
                             "realised_benefit_gbp": "", "owner": "Supplier"})
    tables = {"contracts": crow, "kpis": krow, "measurements": mrow, "initiatives": irow, "process_changes": prow,
              "credit_bands": brow, "critical_failure_rules": rrow}
    for name, rows in tables.items():
        if rows or name in ("contracts", "kpis", "measurements"):
            pd.DataFrame(rows).to_csv(folder / f"{name}.csv", index=False)
    return {name: len(rows) for name, rows in tables.items()}


def _timed(fn):
    """(result, wall seconds, CPU seconds of this process) of ``fn()``."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contracts", type=int, default=1002, help="contracts to generate (default 1,002)")
    ap.add_argument("--data", type=Path, help="a portfolio folder to use instead of generating one")
    ap.add_argument("--period", default=str(PERIOD), help="the review month (default %(default)s)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each timing; the fastest is reported")
    ap.add_argument("--baseline", action="store_true", help="also time the per-contract loop it replaced")
    ap.add_argument("--baseline-sample", type=int, default=100,
                    help="contracts the baseline reviews, scaled up to all (0: every contract)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from cinb.load import load_portfolio
    from cinb.portfolio import _portfolio_review_per_contract, portfolio_review
    from cinb.review import contract_review

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.data
        if folder is None:
            folder = Path(tmp) / "portfolio"
            _, gen_s, _ = _timed(lambda: generate(folder, args.contracts))
            print(f"generated {args.contracts:,} contracts in {gen_s:.1f} s")
        loads = [_timed(lambda: load_portfolio(folder)) for _ in range(args.repeat)]
        p = loads[0][0]
        print(f"portfolio: {len(p.contracts):,} contracts, {len(p.kpis):,} KPIs, {len(p.measurements):,} "
              f"measurements; review month {args.period}; best of {args.repeat} runs\n")
        load_w, load_c = min(x[1] for x in loads), min(x[2] for x in loads)
        runs = [_timed(lambda: portfolio_review(p, args.period)) for _ in range(args.repeat)]
        review = runs[0][0]
        rev_w, rev_c = min(x[1] for x in runs), min(x[2] for x in runs)
        _, pack_w, pack_c = _timed(review.to_pack)
        print(f"{'stage':<44} {'wall s':>8} {'CPU s':>8} {'× load (wall)':>14} {'× load (CPU)':>13}")
        print(f"{'load + validate (load_portfolio)':<44} {load_w:8.2f} {load_c:8.2f} {1:14.2f} {1:13.2f}")
        print(f"{'portfolio_review (vectorised pass)':<44} {rev_w:8.2f} {rev_c:8.2f} {rev_w / load_w:14.2f} "
              f"{rev_c / load_c:13.2f}")
        print(f"{'PortfolioReview.to_pack (pack.json figures)':<44} {pack_w:8.2f} {pack_c:8.2f} "
              f"{pack_w / load_w:14.2f} {pack_c / load_c:13.2f}")
        if args.baseline:
            ids = list(review.ranking.dropna(subset=["score"])["contract_id"])  # the contracts reviewed
            n = len(ids) if args.baseline_sample <= 0 else min(args.baseline_sample, len(ids))
            if n == len(ids):
                _, base_w, base_c = _timed(lambda: _portfolio_review_per_contract(p, args.period))
            else:  # the loop's own cost: contract_review of each contract of the whole portfolio
                step = max(len(ids) // n, 1)
                _, base_w, base_c = _timed(lambda: [contract_review(p, cid, args.period) for cid in ids[::step][:n]])
            scale = len(ids) / n
            label = "per-contract loop" + ("" if n == len(ids) else f" ({n} of {len(ids)}, scaled)")
            print(f"{label:<44} {base_w * scale:8.2f} {base_c * scale:8.2f} {base_w * scale / load_w:14.2f} "
                  f"{base_c * scale / load_c:13.2f}")
            print(f"\nspeed-up of the pass over the loop: {base_w * scale / rev_w:.0f}× (wall), "
                  f"{base_c * scale / rev_c:.0f}× (CPU)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
