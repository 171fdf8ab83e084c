"""Benchmark: ``cinb derive`` on 1,000,000 synthetic ticket records against a plain pandas groupby.

Run ``python benchmarks/bench_derive.py [--records N]``. It writes a synthetic ServiceNow-like incident export
(CSV: id, priority, day-first opening time, ISO resolution time with 5 % still open, reassignment count) into a
temporary folder, then runs, each in a fresh process so that peak memory is its own:

* ``cinb``: `cinb.derive.derive` of three KPIs — the monthly share of priority 1 and 2 incidents resolved within
  8 business hours (Mon–Fri 09:00–17:00, England and Wales bank holidays), the monthly median elapsed resolution
  time in hours, and the monthly count of incidents opened — with definitions validated, rows accounted for and
  open tickets handled;
* ``pandas``: the same share and median (and count) written directly in pandas and numpy, as an analyst would:
  ``read_csv``, ``to_datetime``, business seconds by ``numpy.busday_count`` and clipped partial days, ``groupby``.

Both read the same CSV file; the timings include reading it. The figures of the two are compared (they must
agree) and the seconds, the ratio and each process's peak memory (``resource.getrusage``: maximum resident set
size) are printed.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent

DEFINITIONS = {
    "source": {"id": "number", "timestamps": {"opened_at": "%d/%m/%Y %H:%M", "resolved_at": None}},
    "calendars": {"office": {"days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "hours": ["09:00", "17:00"],
                             "holidays": "england-and-wales"}},
    "kpis": [
        {"contract_id": "C-1", "kpi_id": "P12_8BH", "period": "opened_at", "measure": "share",
         "where": {"priority": ["1", "2"]},
         "of": {"duration": {"from": "opened_at", "to": "resolved_at", "calendar": "office", "unit": "hours"},
                "at_most": 8}},
        {"contract_id": "C-1", "kpi_id": "MED", "period": "resolved_at", "measure": "median",
         "duration": {"from": "opened_at", "to": "resolved_at", "unit": "hours"}},
        {"contract_id": "C-1", "kpi_id": "VOL", "period": "opened_at", "measure": "count"},
    ],
}
AS_OF = "2027-01-01T00:00"


def generate(path: Path, n: int, seed: int = 1) -> None:
    """Write ``n`` synthetic incidents opened over 2026 to ``path``."""
    rng = np.random.default_rng(seed)
    opened = (pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.uniform(0, 364 * 86400, n), unit="s")).floor("min")
    prio = rng.choice(np.array(["1", "2", "3", "4"]), n, p=[0.03, 0.17, 0.45, 0.35])
    hours = rng.gamma(1.5, np.where(prio <= "2", 5.0, 16.0))
    resolved = pd.Series((opened + pd.to_timedelta(hours, unit="h")).floor("min").strftime("%Y-%m-%dT%H:%M:%S"))
    resolved[rng.random(n) < 0.05] = ""
    pd.DataFrame({"number": np.char.add("INC", np.arange(n).astype(str)), "priority": prio,
                  "opened_at": opened.strftime("%d/%m/%Y %H:%M"), "resolved_at": resolved,
                  "reassignment_count": rng.integers(0, 4, n)}).to_csv(path, index=False)


def run_cinb(path: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from cinb.derive import derive

    r = derive(path, DEFINITIONS, as_of=AS_OF)
    m = r.measurements
    return {f"{k}|{p}": v for k, p, v in zip(m["kpi_id"], m["period"], m["value"]) if v == v}


def run_pandas(path: Path) -> dict:
    """The same figures, plain pandas and numpy (business time: whole working days + the clipped end days)."""
    import holidays

    d = pd.read_csv(path, dtype=str, keep_default_na=False)
    opened = pd.to_datetime(d["opened_at"], format="%d/%m/%Y %H:%M")
    resolved = pd.to_datetime(d["resolved_at"], format="ISO8601", errors="coerce")
    hol = np.array(sorted(holidays.country_holidays("GB", subdiv="ENG", years=range(2025, 2028))),
                   dtype="datetime64[D]")
    cal = np.busdaycalendar(weekmask="1111100", holidays=hol)

    def clock(t: pd.Series) -> np.ndarray:
        v = t.to_numpy(dtype="datetime64[ns]")
        ok = ~np.isnat(v)
        out = np.full(len(v), np.nan)
        day = v[ok].astype("datetime64[D]")
        sod = (v[ok] - day).astype(np.int64) / 1e9
        out[ok] = (np.busday_count("1970-01-05", day, busdaycal=cal) * 28800.0
                   + np.where(np.is_busday(day, busdaycal=cal), np.clip(sod, 32400, 61200) - 32400, 0))
        return out

    month_open = opened.dt.strftime("%Y-%m")
    as_of = pd.Timestamp(AS_OF)
    resolved = resolved.where(resolved <= as_of)  # resolved after the as-of time: still open then
    p12 = d["priority"].isin(["1", "2"]).to_numpy()
    bh = (clock(resolved) - clock(opened)) / 3600
    running = (clock(pd.Series(np.full(len(d), as_of))) - clock(opened)) / 3600
    is_open = resolved.isna().to_numpy()
    known = p12 & (~is_open | (running > 8))
    met = ~is_open & (bh <= 8)
    share = pd.Series(met[known]).groupby(month_open[known].to_numpy()).mean() * 100
    hours = (resolved - opened).dt.total_seconds() / 3600
    med = hours.groupby(resolved.dt.strftime("%Y-%m")).median()
    vol = month_open.value_counts()
    out = {f"P12_8BH|{k}": v for k, v in share.items()}
    out.update({f"MED|{k}": v for k, v in med.items()})
    out.update({f"VOL|{k}": float(v) for k, v in vol.items()})
    return out


def worker(kind: str, path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    import holidays  # noqa: F401  (imports are not timed: both sides pay them once per process)

    import cinb.derive  # noqa: F401
    t0 = time.perf_counter()
    figures = run_cinb(path) if kind == "cinb" else run_pandas(path)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "figures": figures}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--worker", choices=["cinb", "pandas"], help=argparse.SUPPRESS)
    ap.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.csv)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "incidents.csv"
        t0 = time.perf_counter()
        generate(path, args.records)
        print(f"{args.records:,} records generated in {time.perf_counter() - t0:.1f} s "
              f"({path.stat().st_size / 1e6:.0f} MB CSV)")
        res = {}
        for kind in ("cinb", "pandas"):
            out = subprocess.run([sys.executable, __file__, "--worker", kind, "--csv", str(path)],
                                 capture_output=True, text=True, check=True)
            res[kind] = json.loads(out.stdout.strip().splitlines()[-1])
    a, b = res["cinb"]["figures"], res["pandas"]["figures"]
    assert a.keys() == b.keys(), sorted(set(a) ^ set(b))
    worst = max(abs(a[k] - b[k]) for k in a)
    assert worst < 1e-6, worst
    print(f"figures agree: {len(a)} KPI-months, largest difference {worst:.2g}")
    print(f"{'':8}{'seconds':>10}{'peak MB':>10}")
    for kind in ("cinb", "pandas"):
        print(f"{kind:8}{res[kind]['seconds']:>10.2f}{res[kind]['peak_mb']:>10.0f}")
    print(f"ratio cinb / pandas: {res['cinb']['seconds'] / res['pandas']['seconds']:.2f}x time, "
          f"{res['cinb']['peak_mb'] / res['pandas']['peak_mb']:.2f}x peak memory")


if __name__ == "__main__":
    main()
