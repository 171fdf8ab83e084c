"""The monthly batch: every contract pack, the portfolio pack and the supplier scorecards, in parallel.

How a batch runs (:func:`run_batch`):

1. It locks the month folder (:mod:`cinb.lock`), so that two batches cannot interleave, and clears what an
   interrupted run left in the staging folder.
2. Packs whose inputs hash the same as when they were built (:mod:`cinb.fingerprint`) and whose files are still
   there, byte for byte, are skipped (unless ``force``).
3. The portfolio, loaded and validated once by the caller, is written once to a snapshot in the staging folder
   (:mod:`cinb.snapshot`); each pack's notebook reads only its own contracts' rows from it (``snapshot``
   parameter), so a pack costs the same whatever the size of the portfolio and no kernel holds all of it.
4. The packs to build go to a pool of worker processes, one per core by default (or, with ``scheduler``, to a Dask
   cluster). Each pack runs in a fresh kernel that runs nothing else, forked from a zygote that has imported what
   the notebooks import (:mod:`cinb.zygote`; one for a whole local batch, one per Dask worker thread); each worker
   keeps the next pack's kernel starting while it renders the current pack (:mod:`cinb.kernels`) and keeps its
   HTML exporter warm; Chromium PDFs of a local batch are printed by one printer process (:mod:`cinb.printer`).
   Workers' and kernels' output goes to log files, never to the terminal.
5. A failed pack (the notebook raised, its kernel died, it passed the timeout, the render failed) is reported
   with its reason and publishes nothing; the others carry on. A worker process that dies is replaced and its
   pack retried once.
6. After every pack the manifest and the index page are rewritten (:mod:`cinb.manifest`, :mod:`cinb.index`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Iterator

from . import __version__
from .config import DEFAULTS, notebook_dir
from .errors import UsageError
from .formatting import plural
from .lock import PeriodLock
from .manifest import Manifest
from .pack import PackResult, PackSpec, build_pack, clean_staging, sha256_file  # noqa: F401 (build_pack: API)
from .progress import Progress

#: Order in which packs are handed out: the longest first, so that no long pack starts last.
_DISPATCH_ORDER = {"portfolio": 0, "contract": 1, "supplier": 2}


@dataclass(frozen=True)
class BatchResult:
    """The packs of one batch run, in the order they were planned."""

    period: str
    out_root: Path
    results: list[PackResult]
    seconds: float
    pdf_backend: str | None = None  # what printed the PDFs (None: no PDF asked)

    @property
    def failed(self) -> list[PackResult]:
        """The packs that failed (never published; diagnostics under ``<period>/_failed/``)."""
        return [r for r in self.results if r.status == "failed"]

    @property
    def manifest_path(self) -> Path:
        """``<out_root>/<period>/manifest.json``: every pack's files, hashes, timings and errors."""
        return self.out_root / self.period / "manifest.json"

    @property
    def index_path(self) -> Path:
        """``<out_root>/<period>/index.html``: the page linking every pack of the month."""
        return self.out_root / self.period / "index.html"


def default_jobs() -> int:
    """Worker processes by default: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def plan(portfolio, period: str, parameters: dict[str, Any], contracts: Iterable[str] | None = None,
         kinds: Iterable[str] = ("contract", "portfolio", "supplier"), *, formats=("html", "pdf"),
         pdf_backend: str = DEFAULTS["pdf_backend"], notebooks: Path | None = None,
         templates: dict[str, str | Path] | None = None) -> list[PackSpec]:
    """The packs of one month: one per contract (those given, or all), the portfolio pack, one per supplier.

    Each pack carries the hash of its inputs (:func:`cinb.fingerprint.input_hash`), so a rerun can skip it.
    A supplier-facing batch (``audience: supplier``) has contract packs only: the portfolio pack and the
    scorecards compare contracts and suppliers with each other. ``templates`` maps a kind to the report template
    its packs run instead of the shipped notebook (checked beforehand by
    :func:`cinb.notebook_templates.check_template`); the template's bytes are part of the input hash.
    """
    from .fingerprint import input_hash
    from .render import resolve_backend

    pdf_backend = resolve_backend(pdf_backend)  # the hash names the backend that prints, never "auto"
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
    by_kind = {kind: str(Path(path).resolve()) for kind, path in (templates or {}).items()}
    folder = Path(notebooks) if notebooks else notebook_dir()
    specs = [replace(s, notebook=by_kind.get(s.kind)) for s in specs]
    return [replace(s, input_hash=input_hash(s, portfolio, notebook=s.notebook_file(folder), formats=formats,
                                             pdf_backend=pdf_backend)) for s in specs]


def recorded_settings(params: dict[str, Any]) -> dict[str, Any]:
    """The merged parameters as recorded in every pack and in the manifest (JSON-able; private keys dropped)."""
    out = {}
    for key, value in sorted(params.items()):
        if key.startswith("_"):
            continue
        out[key] = str(value) if isinstance(value, Path) else value
    return out


def unchanged(spec: PackSpec, entry: dict[str, Any] | None, period_dir: Path) -> bool:
    """Whether ``spec`` can be skipped: built before from the same inputs, and its files are intact."""
    if not spec.input_hash or not entry or entry.get("status") not in ("ok", "skipped"):
        return False
    if entry.get("input_hash") != spec.input_hash:
        return False
    files, hashes = entry.get("files") or {}, entry.get("hashes") or {}
    if not files or set(files) != set(hashes):
        return False
    for kind, rel in files.items():
        path = Path(period_dir) / rel
        try:
            if not path.is_file() or sha256_file(path) != hashes[kind]:
                return False
        except OSError:
            return False
    return True


def run_batch(specs: list[PackSpec], out_root: Path, *, jobs: int | None = None,
              formats: tuple[str, ...] = ("html", "pdf"), timeout: float | None = 600,
              pdf_backend: str = DEFAULTS["pdf_backend"], log=None, force: bool = False, scheduler=None,
              notebooks: Path | None = None, run_info: dict[str, Any] | None = None,
              progress: Progress | None = None, portfolio=None) -> BatchResult:
    """Build every pack in ``specs`` (one month) in parallel; see the module docstring for what happens.

    Parameters
    ----------
    specs : list of PackSpec
        All for the same period (:func:`plan` makes them).
    out_root : Path
        The reports folder; packs go to ``<out_root>/<period>/``.
    jobs : int, optional
        Worker processes (default: one per core). Ignored with ``scheduler``.
    formats, timeout, pdf_backend
        See :func:`cinb.pack.build_pack`.
    log : callable, optional
        Progress lines go through this function (default: a bar on a terminal, lines otherwise, on stderr).
    force : bool
        Rebuild packs even when their inputs are unchanged.
    scheduler : str or dask cluster, optional
        Run the packs on this Dask scheduler (``tcp://host:port``) instead of local processes. The output
        folder, the data and the notebooks must be at the same paths on the workers.
    notebooks : Path, optional
        Folder of the pack notebooks (default :func:`cinb.config.notebook_dir`).
    run_info : dict, optional
        Facts recorded in the manifest's ``last_run`` (command, settings, parameter files).
    portfolio : cinb.load.Portfolio, optional
        The validated portfolio the packs were planned from. When given, it is written once to a snapshot in the
        month's staging folder (:mod:`cinb.snapshot`) and each pack's notebook reads only its own contracts' rows
        from it instead of loading and validating the whole data again. Without it every pack loads the data.

    Returns
    -------
    BatchResult

    Raises
    ------
    cinb.lock.LockedError
        When another cinb process holds the month folder.
    """
    from .render import resolve_backend

    specs = list(specs)
    out_root = Path(out_root)
    pdf_backend = resolve_backend(pdf_backend)
    if not specs:
        return BatchResult("", out_root, [], 0.0)
    periods = sorted({s.period for s in specs})
    if len(periods) > 1:
        raise UsageError(f"a batch builds one month; these packs are for {', '.join(periods)}")
    keys = Counter(s.key for s in specs)
    dupes = [k for k, n in keys.items() if n > 1]
    if dupes:
        raise UsageError(f"the batch lists the same pack twice: {', '.join(dupes[:5])}")
    period = periods[0]
    period_dir = out_root / period
    folder = Path(notebooks) if notebooks else notebook_dir()
    jobs = jobs or default_jobs()
    started = time.perf_counter()
    reporter = progress or Progress(len(specs), log=log)
    info = {"command": "batch", "jobs": None if scheduler else jobs, "scheduler": _describe(scheduler),
            "force": force, "formats": list(formats), "timeout": timeout, "pdf_backend": pdf_backend,
            "packs": len(specs), "host": os.uname().nodename if hasattr(os, "uname") else None}
    info.update(run_info or {})
    results: dict[str, PackResult] = {}
    with PeriodLock(period_dir, command=f"cinb {info.get('command', 'batch')}") as lock:
        if lock.took_over:
            reporter.message(f"cinb: took over the lock {lock.path} left by process {lock.took_over.get('pid')}, "
                             "which is no longer running")
        clean_staging(period_dir)
        manifest = Manifest(period_dir, run=info)
        todo = []
        for spec in specs:
            if not force and unchanged(spec, manifest.previous(spec.key), period_dir):
                old = PackResult.from_dict(manifest.previous(spec.key))
                old.status, old.error = "skipped", None
                results[spec.key] = old
                manifest.record([old], write=False)
                reporter.update(old)
            else:
                todo.append(spec)
        if todo and portfolio is not None:
            todo = _with_snapshot(todo, portfolio, period_dir, manifest.run)
        manifest.write()
        todo.sort(key=_dispatch_key(portfolio))

        def finish(result: PackResult) -> None:
            results[result.key] = result
            manifest.record([result])
            reporter.update(result)

        options = dict(formats=tuple(formats), timeout=timeout, pdf_backend=pdf_backend, notebooks=str(folder))
        if not todo:
            runner: Iterator[PackResult] = iter(())
        elif scheduler is not None:
            from .dask_runner import run_on_dask

            runner = run_on_dask(todo, out_root, scheduler, **options)
        else:
            runner = _run_local(todo, out_root, min(jobs, len(todo)), options, reporter, period_dir, late=finish)
        if todo:
            reporter.start_building()
        try:
            for result in runner:
                finish(result)
        finally:
            with contextlib.suppress(Exception):
                runner.close()
            clean_staging(period_dir)
            manifest.run["finished"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
            manifest.run["seconds"] = round(time.perf_counter() - started, 3)
            manifest.write()
            reporter.close()
    ordered = [results[s.key] for s in specs if s.key in results]
    return BatchResult(period, out_root, ordered, round(time.perf_counter() - started, 3),
                       pdf_backend if "pdf" in formats else None)


def _dispatch_key(portfolio):
    """Sort key handing out the longest packs first (:data:`_DISPATCH_ORDER`), so that the batch does not end
    with one worker finishing a long pack while the others are idle: contract packs by their number of KPIs (about
    one chart and one page each), most first."""
    sizes = {}
    if portfolio is not None and "contract_id" in portfolio.kpis:
        sizes = portfolio.kpis.groupby("contract_id").size().to_dict()
    return lambda s: (_DISPATCH_ORDER.get(s.kind, 9), -sizes.get(s.subject, 0) if s.kind == "contract" else 0)


def _with_snapshot(todo: list[PackSpec], portfolio, period_dir: Path, info: dict[str, Any]) -> list[PackSpec]:
    """Write the batch's snapshot of ``portfolio`` under the staging folder; ``todo`` with its path."""
    import secrets

    from .pack import STAGING_DIR
    from .snapshot import write_snapshot

    t = time.perf_counter()
    try:
        folder = Path(period_dir).resolve() / STAGING_DIR / f"snapshot-{secrets.token_hex(4)}"
        folder = write_snapshot(portfolio, folder)
    except OSError as exc:  # no room for it: every pack loads the data itself, as without a snapshot
        info["snapshot"] = f"not written ({exc.strerror or exc}): each pack loaded the data"
        return todo
    info["snapshot_seconds"] = round(time.perf_counter() - t, 3)
    return [replace(spec, snapshot=str(folder)) for spec in todo]


def summary_lines(batch: BatchResult) -> list[str]:
    """The end-of-run table: packs by kind and status, then where things are and the mean time per step."""
    kinds = ["contract", "portfolio", "supplier"]
    statuses = [("ok", "built"), ("skipped", "unchanged"), ("failed", "failed")]
    counts = Counter((r.kind, r.status) for r in batch.results)
    lines = [f"{'':12}" + "".join(f"{label:>11}" for _, label in statuses)]
    for kind in kinds + ["total"]:
        if kind != "total" and not any(counts[(kind, s)] for s, _ in statuses):
            continue
        row = [sum(counts[(k, s)] for k in kinds) if kind == "total" else counts[(kind, s)] for s, _ in statuses]
        lines.append(f"{kind:12}" + "".join(f"{n:>11}" for n in row))
    built = [r for r in batch.results if r.status == "ok" and r.timings]
    if built:
        def mean(name):
            values = [r.timings.get(name) for r in built if r.timings.get(name) is not None]
            return sum(values) / len(values) if values else None

        parts = [(label, mean(name)) for name, label in (
            ("kernel_start", "kernel start"), ("imports", "imports"), ("kernel_wait", "waited for kernel"),
            ("notebook", "notebook"), ("html", "HTML"),
            ("pdf", f"PDF ({batch.pdf_backend})" if batch.pdf_backend else "PDF"), ("total", "total"))]
        lines.append("mean per pack built: " + ", ".join(f"{label} {v:.1f} s" for label, v in parts
                                                          if v is not None))
    n_failed = len(batch.failed)
    lines.append(f"{plural(len(batch.results), 'pack')} in {batch.seconds:.1f} s"
                 + (f"; {n_failed} failed: nothing is published for them" if n_failed else ""))
    lines.append(f"index: {batch.index_path}")
    lines.append(f"manifest: {batch.manifest_path}")
    return lines


def _describe(scheduler) -> str | None:
    if scheduler is None:
        return None
    return scheduler if isinstance(scheduler, str) else getattr(scheduler, "scheduler_address", repr(scheduler))


def _run_local(todo: list[PackSpec], out_root: Path, jobs: int, options: dict[str, Any], reporter: Progress,
               period_dir: Path, late=None) -> Iterator[PackResult]:
    """Yield each pack's result from the local worker pool; keep the workers' logs when something failed."""
    from .kernels import take_prestarted_zygote
    from .pool import run_pool

    zygote = take_prestarted_zygote()  # started before the data was loaded, its log in the batch's log folder
    log_dir = zygote.log_path.parent if zygote is not None else Path(tempfile.mkdtemp(prefix="cinb-batch-"))
    trouble = False
    try:
        for result in run_pool(todo, jobs=jobs, out_root=out_root, log_dir=log_dir, tick=reporter.tick, late=late,
                               zygote=zygote, **options):
            trouble = trouble or result.status == "failed"
            yield result
    except BaseException:
        trouble = True
        raise
    finally:
        _keep_worker_logs(log_dir, period_dir if trouble else None)


def _keep_worker_logs(log_dir: Path, period_dir: Path | None) -> None:
    """Keep non-empty worker logs under ``_failed/_workers/`` when something went wrong; else delete them."""
    try:
        if period_dir is not None:
            for log in sorted(log_dir.glob("worker-*.log")):
                if log.stat().st_size:
                    target = period_dir / "_failed" / "_workers"
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(log, target / log.name)
    except OSError:
        pass
    shutil.rmtree(log_dir, ignore_errors=True)
