"""Scale-out: the same packs, built by the same :func:`cinb.pack.build_pack`, on a Dask distributed cluster.

``cinb batch --scheduler tcp://host:port`` sends one task per pack to the cluster; each Dask worker thread keeps
its own spare kernel (one kernel per pack, as locally) and its warm renderers. The machine running ``cinb batch``
holds the month's lock and writes the manifest and the index; the workers write the packs, so the output folder,
the data and the notebooks (report templates included) must be at the same paths on every worker (a shared file
system). The batch's snapshot of the validated data (:mod:`cinb.snapshot`) is written once in the output folder's
staging area, so every worker's kernels read their contracts' rows from that shared storage. Needs the optional
extra ``pip install 'cinb[dask]'``.
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from typing import Any, Iterator

from .errors import PackError, UsageError
from .pack import PackResult, PackSpec, build_pack, fail_pack, slug, template_record

_SUPPLIES: dict[int, Any] = {}  # per worker thread: its KernelSupply
_LOCK = threading.Lock()


def _supply():
    from .kernels import KernelSupply

    ident = threading.get_ident()
    with _LOCK:
        supply = _SUPPLIES.get(ident)
        if supply is None:
            log_dir = None
            try:  # inside the worker's own scratch folder, which Dask removes even if we cannot
                from distributed import get_worker

                log_dir = Path(get_worker().local_directory) / f"cinb-kernels-{ident}"
            except (ImportError, ValueError, AttributeError):
                pass
            supply = _SUPPLIES[ident] = KernelSupply(warm=True, fork=True, log_dir=log_dir)
    return supply


def build_on_worker(spec: PackSpec, out_root: str, formats: tuple[str, ...], timeout: float | None,
                    pdf_backend: str, notebooks: str) -> PackResult:
    """The Dask task: build one pack with this worker thread's kernel supply."""
    return build_pack(spec, Path(out_root), formats=tuple(formats), timeout=timeout, pdf_backend=pdf_backend,
                      kernels=_supply(), notebooks=Path(notebooks))


def close_supplies() -> int:
    """Shut down the spare kernels of this worker process (run on every worker when a batch ends)."""
    with _LOCK:
        supplies = list(_SUPPLIES.values())
        _SUPPLIES.clear()
    for supply in supplies:
        supply.close()
    return len(supplies)


def _client(scheduler):
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--scheduler needs Dask distributed: pip install 'cinb[dask]' "
                         "(or pip install 'dask[distributed]')") from None
    try:
        return Client(scheduler, timeout="30s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"cannot reach the Dask scheduler at {scheduler}: {exc}; check the address "
                         "(tcp://host:port) and that the scheduler is running") from None


def run_on_dask(specs: list[PackSpec], out_root: Path, scheduler, *, formats: tuple[str, ...],
                timeout: float | None, pdf_backend: str, notebooks: str) -> Iterator[PackResult]:
    """Yield each pack's result as the cluster finishes it.

    ``scheduler`` is an address (``tcp://host:port``) or a cluster object (e.g. ``distributed.LocalCluster``).
    A task that fails on the cluster (a worker lost, an error outside the pack) is reported as that pack failed.
    """
    from distributed import as_completed

    client = _client(scheduler)
    out_root = Path(out_root).resolve()  # the workers' working folder is not ours
    token = secrets.token_hex(4)
    futures, spec_of = [], {}
    try:
        for i, spec in enumerate(specs):
            future = client.submit(build_on_worker, spec, str(out_root), tuple(formats), timeout, pdf_backend,
                                   str(notebooks), key=f"cinb-pack-{i}-{slug(spec.key)}-{token}", pure=False,
                                   retries=0)
            futures.append(future)
            spec_of[future.key] = spec
        for future in as_completed(futures, loop=client.loop):
            spec = spec_of[future.key]
            try:
                yield future.result()
            except Exception as exc:
                result = PackResult(key=spec.key, kind=spec.kind, subject=spec.subject, status="failed",
                                    input_hash=spec.input_hash, audience=spec.audience,
                                    error=f"the Dask task failed: {type(exc).__name__}: {exc}")
                try:
                    result.template = template_record(spec)
                except PackError:
                    pass
                fail_pack(out_root, spec, result)
                yield result
    finally:
        try:
            client.cancel([f for f in futures if not f.done()])
            client.run(close_supplies)
        except Exception:
            pass
        client.close()

