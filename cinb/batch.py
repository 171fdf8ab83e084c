"""The monthly batch: every contract pack, the portfolio pack and the supplier scorecards, in a process pool."""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from . import __version__
from .pack import PackResult, PackSpec, atomic_write_bytes, build_pack


@dataclass(frozen=True)
class BatchResult:
    period: str
    out_root: Path
    results: list[PackResult]
    seconds: float

    @property
    def failed(self) -> list[PackResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def manifest_path(self) -> Path:
        return self.out_root / self.period / "manifest.json"


def plan(portfolio, period: str, parameters: dict[str, Any], contracts: Iterable[str] | None = None,
         kinds: Iterable[str] = ("contract", "portfolio", "supplier")) -> list[PackSpec]:
    """The packs of one month: one per contract (those given, or all), the portfolio pack, one per supplier."""
    kinds = set(kinds)
    ids = list(contracts) if contracts else list(portfolio.contracts["contract_id"])
    specs = []
    if "contract" in kinds:
        specs += [PackSpec("contract", cid, period, dict(parameters)) for cid in ids]
    supplier_facing = parameters.get("audience") == "supplier"
    if "portfolio" in kinds and not supplier_facing:
        specs.append(PackSpec("portfolio", None, period, dict(parameters)))
    if "supplier" in kinds and not supplier_facing:
        chosen = portfolio.contracts[portfolio.contracts["contract_id"].isin(ids)]
        specs += [PackSpec("supplier", name, period, dict(parameters)) for name in sorted(chosen["supplier"].unique())]
    return specs


def _worker(spec: PackSpec, out_root: str, formats: tuple[str, ...], timeout: float | None,
            pdf_backend: str) -> PackResult:
    return build_pack(spec, Path(out_root), formats=formats, timeout=timeout, pdf_backend=pdf_backend)


def run_batch(specs: list[PackSpec], out_root: Path, *, jobs: int | None = None,
              formats: tuple[str, ...] = ("html", "pdf"), timeout: float | None = 600,
              pdf_backend: str = "weasyprint", log=None) -> BatchResult:
    """Build every pack in ``specs`` in a pool of ``jobs`` worker processes (default: one per core).

    Each pack runs in its own fresh kernel; a failed pack never stops the others. Writes
    ``out_root/<period>/manifest.json`` at the end.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    jobs = jobs or os.cpu_count() or 1
    started = time.perf_counter()
    period = specs[0].period if specs else ""
    results: list[PackResult] = []
    if jobs == 1:
        for spec in specs:
            results.append(_worker(spec, str(out_root), formats, timeout, pdf_backend))
            _log_one(log, results[-1], len(results), len(specs), started)
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_worker, s, str(out_root), formats, timeout, pdf_backend) for s in specs]
            for future in as_completed(futures):
                results.append(future.result())
                _log_one(log, results[-1], len(results), len(specs), started)
    order = {s.key: i for i, s in enumerate(specs)}
    results.sort(key=lambda r: order.get(r.key, 0))
    batch = BatchResult(period, Path(out_root), results, round(time.perf_counter() - started, 3))
    if specs:
        write_manifest(batch)
    return batch


def _log_one(log, result: PackResult, done: int, total: int, started: float) -> None:
    elapsed = time.perf_counter() - started
    extra = f" — {result.error}" if result.error else ""
    log(f"[{done}/{total}] {result.status:6} {result.key} ({result.seconds:.1f} s; {elapsed:.0f} s elapsed){extra}")


def write_manifest(batch: BatchResult) -> Path:
    """Write (atomically) the manifest of a batch: every pack, its files, hashes, status, timing and error."""
    manifest = {
        "period": batch.period,
        "cinb_version": __version__,
        "seconds": batch.seconds,
        "packs": [r.to_dict() for r in batch.results],
        "summary": {s: sum(r.status == s for r in batch.results) for s in ("ok", "failed", "skipped")},
    }
    atomic_write_bytes(batch.manifest_path, json.dumps(manifest, indent=2, default=str).encode("utf-8"))
    return batch.manifest_path
