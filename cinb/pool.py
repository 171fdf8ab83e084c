"""Worker processes of the local batch: each builds one pack at a time; a worker that dies is replaced.

Why not ``concurrent.futures.ProcessPoolExecutor``: when one of its workers dies, the whole pool breaks and every
queued pack fails with it, and it cannot say which pack the dead worker was building. Here the parent knows what
each worker is doing: if a worker dies (killed, out of memory, a crash in a C library), its pack alone is tried
again in a new worker, and reported failed if that worker dies too; every other pack carries on.

A worker is replaced by a new one after :data:`PACKS_PER_WORKER` packs, so that memory does not grow with the
size of the batch. Each worker, when it starts: takes the caller's environment, sends everything it would print
to a log file, starts the first pack's kernel and warms the HTML exporter. Two services are shared by all the
workers, to keep one copy of what they would each hold (memory): one kernel zygote, which has imported what the
notebooks import and forks each pack's kernel (:mod:`cinb.zygote`; a worker keeps the next kernel starting while
it renders, :class:`cinb.kernels.KernelSupply`), and, for PDFs printed by Chromium with more than one worker, one
printer process with the batch's only browser (:mod:`cinb.printer`). A worker that cannot reach either falls back
to its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import PackError
from .pack import PackResult, PackSpec, build_pack, fail_pack, template_record

#: How many workers may die building the same pack before it is reported failed.
WORKER_ATTEMPTS = 2
#: Seconds a worker may take to finish its current pack once the batch is interrupted.
STOP_GRACE = 10.0
#: Packs a worker builds before it is replaced by a new one: whatever a long-lived renderer keeps (caches,
#: fragmentation) is given back, so memory does not grow with the size of the batch.
PACKS_PER_WORKER = 40

# Imported once in the fork server, so that each worker starts with them loaded (plus its PDF backend's).
_PRELOAD = ["cinb.pool", "cinb.pack", "cinb.render", "cinb.execute", "cinb.kernels", "papermill", "nbconvert",
            "nbclient", "jupyter_client"]
_PRELOAD_PDF = {"weasyprint": ["weasyprint"], "chromium": ["playwright.sync_api", "pypdf"]}


def _context(pdf_backend: str | None = None):
    import multiprocessing as mp

    # Not "fork": the parent may hold threads, locks and a test runner's state; a fork server gives clean,
    # quick workers that have imported the heavy modules once.
    try:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD + _PRELOAD_PDF.get(pdf_backend, []))
        return ctx
    except ValueError:  # pragma: no cover - platforms without fork (Windows)
        return mp.get_context("spawn")


@contextlib.contextmanager
def _main_not_reimported():
    """Start processes without re-running the caller's ``__main__`` script in them.

    A fork-server or spawned child normally imports the parent's main script again (as ``__mp_main__``), so a
    plain script calling ``cinb.run_month(...)`` without an ``if __name__ == "__main__":`` guard would run
    itself again in every worker. cinb's workers need nothing from ``__main__`` (their code is in this module),
    so the main module's path and spec are hidden from multiprocessing while a worker starts.
    """
    main = sys.modules.get("__main__")
    saved = {name: getattr(main, name) for name in ("__file__", "__spec__") if main is not None and hasattr(main, name)}
    try:
        for name in saved:
            if name == "__spec__":
                main.__spec__ = None
            else:
                delattr(main, name)
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)


def prestart(pdf_backend: str | None = None) -> None:
    """Start the fork server now: its imports then run while the caller loads and checks the data.

    ``run_pool`` would start it anyway; starting it early only moves its ~1 s of imports off the critical path.
    The batch's kernel zygote is started too (:func:`cinb.kernels.prestart_zygote`), unless it already was.
    """
    from .kernels import prestart_zygote

    prestart_zygote()
    ctx = _context(pdf_backend)
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _terminated(signum, frame):
    # Turns SIGTERM into an exception so that the pack being built cleans up (staging folder, kernel).
    raise SystemExit(128 + signum)


def _setup(env: dict[str, str], cwd: str, log_dir: str, formats: tuple[str, ...], pdf_backend: str,
           printer: tuple[str, bytes] | None = None, zygote: tuple[str, str, int] | None = None):
    """Prepare a worker process; returns its kernel supply."""
    import multiprocessing.util
    import signal

    # The parent decides when to stop (Ctrl-C reaches the whole process group): a worker finishes the pack it is
    # building, so that what it publishes is also recorded in the manifest.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _terminated)

    # The fork server captured the environment and folder when it started; packs run with the caller's current
    # ones (relative data paths are relative to where the batch was started).
    os.environ.clear()
    os.environ.update(env)
    os.environ["CINB_WORKER_PID"] = str(os.getpid())  # for diagnosis: which worker ran a kernel
    os.chdir(cwd)
    log_path = Path(log_dir) / f"worker-{os.getpid()}.log"
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, force=True,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.captureWarnings(True)

    from .kernels import KernelSupply

    # Kernels are forked from a zygote that has done the notebooks' imports once (see cinb.zygote).
    supply = KernelSupply(warm=True, fork=True, log_dir=Path(log_dir) / f"kernels-{os.getpid()}",
                          shared_zygote=zygote)
    multiprocessing.util.Finalize(supply, supply.close, exitpriority=10)
    try:
        import nbformat

        from .pdf import get_backend
        from .render import render_html

        render_html(nbformat.v4.new_notebook(), title="warm-up")
        if "pdf" in formats and printer is not None:
            from .printer import use_printer

            use_printer(printer, pdf_backend)  # the batch's one browser prints this worker's PDFs
        elif "pdf" in formats:
            get_backend(pdf_backend)
    except Exception:  # a broken renderer shows up, with its message, in the first pack that uses it
        logging.getLogger("cinb.pool").exception("could not warm up the renderers")
    supply.prepare()  # the first pack's kernel (waits for the zygote's imports, which ran meanwhile)
    return supply


def _worker_main(conn, env: dict[str, str], log_dir: str, options: dict[str, Any]) -> None:
    supply = _setup(env, options["cwd"], log_dir, options["formats"], options["pdf_backend"],
                    options.get("printer"), options.get("zygote"))
    built = 0
    try:
        while True:
            try:
                spec = conn.recv()
            except EOFError:
                break
            if spec is None:
                break
            result = build_pack(spec, Path(options["out_root"]), formats=options["formats"],
                                timeout=options["timeout"], pdf_backend=options["pdf_backend"], kernels=supply,
                                notebooks=Path(options["notebooks"]))
            built += 1
            retiring = built >= options.get("packs_per_worker", PACKS_PER_WORKER)
            conn.send((result, retiring))
            if retiring:
                break
    finally:
        supply.close()


class _Worker:
    def __init__(self, ctx, env, log_dir, options):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, env, str(log_dir), options),
                                   name="cinb-worker", daemon=True)
        with _main_not_reimported():
            self.process.start()
        child.close()
        self.spec: PackSpec | None = None
        self.retired = False  # built its share of packs and is leaving

    def give(self, spec: PackSpec) -> None:
        self.spec = spec
        try:
            self.conn.send(spec)
        except (OSError, ValueError):
            pass  # it has just died: the main loop sees its exit and retries the pack

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass


def _died(spec: PackSpec, exitcode: int | None, out_root: Path) -> PackResult:
    import signal

    if exitcode is not None and exitcode < 0:
        try:
            how = f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"was killed by signal {-exitcode}"
    else:
        how = f"exited with status {exitcode}"
    result = PackResult(key=spec.key, kind=spec.kind, subject=spec.subject, status="failed",
                        input_hash=spec.input_hash, audience=spec.audience,
                        error=f"the worker process building this pack {how}, {WORKER_ATTEMPTS} times "
                              "(what it printed, if anything, is kept in _failed/_workers/)")
    try:
        result.template = template_record(spec)
    except PackError:
        pass
    fail_pack(out_root, spec, result)
    return result


def run_pool(specs: list[PackSpec], *, jobs: int, out_root: Path, formats: tuple[str, ...], timeout: float | None,
             pdf_backend: str, notebooks: Path, log_dir: Path, tick: Callable[[], None] | None = None,
             late: Callable[[PackResult], None] | None = None,
             packs_per_worker: int = PACKS_PER_WORKER, zygote=None) -> Iterator[PackResult]:
    """Build ``specs`` in ``jobs`` worker processes; yield each result as it comes.

    ``zygote`` is the batch's shared kernel zygote when the caller started it early
    (:func:`cinb.kernels.prestart_zygote`); it is closed with the pool. Without it the pool starts its own.

    Closing the generator early (an interruption) stops the workers: they get :data:`STOP_GRACE` seconds to end
    the pack they are building, whose result is passed to ``late`` (so that the manifest records what they
    published), then they are terminated.
    """
    from multiprocessing.connection import wait

    ctx = _context(pdf_backend if "pdf" in formats else None)
    env = dict(os.environ)
    options = dict(out_root=str(Path(out_root).resolve()), formats=tuple(formats), timeout=timeout,
                   pdf_backend=pdf_backend, notebooks=str(Path(notebooks).resolve()), cwd=os.getcwd(),
                   packs_per_worker=max(1, packs_per_worker))
    queue = deque(specs)
    attempts: Counter = Counter()
    jobs = max(1, min(jobs, len(queue)))
    printer = None
    workers: list[_Worker] = []
    finished = False
    try:
        if "pdf" in formats and pdf_backend == "chromium" and jobs > 1:
            # One browser for the batch instead of one per worker (see cinb.printer).
            from .printer import PrintService

            with _main_not_reimported():
                printer = PrintService(ctx, pdf_backend)
            options["printer"] = printer.endpoint
        # One kernel zygote for the batch: its imports and rehearsal are shared by every worker's kernels.
        if zygote is None:
            from .kernels import start_shared_zygote

            zygote = start_shared_zygote(Path(log_dir))
        if zygote is not None:
            options["zygote"] = (zygote.address, str(zygote.log_path), zygote.pid)
        for _ in range(jobs):
            workers.append(_Worker(ctx, env, log_dir, options))
        while queue or any(w.spec is not None for w in workers):
            for i, w in enumerate(workers):
                if w.spec is None and queue:
                    if w.retired or not w.process.is_alive():  # retired, or died while idle: a new one
                        w.stop()
                        workers[i] = w = _Worker(ctx, env, log_dir, options)
                    w.give(queue.popleft())
            busy = [w for w in workers if w.spec is not None]
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=1.0))
            if tick is not None:
                tick()
            for w in workers:
                if w.spec is None or (w.conn not in ready and w.process.sentinel not in ready):
                    continue
                result = None
                try:
                    if w.conn.poll():
                        result = w.conn.recv()
                except (EOFError, OSError):
                    result = None
                if result is not None:
                    result, w.retired = result
                    w.spec = None
                    yield result
                    continue
                if w.process.is_alive():
                    continue
                # The worker died while building w.spec: retry that pack alone, in a new worker.
                spec, w.spec = w.spec, None
                w.process.join(1)
                attempts[spec.key] += 1
                if attempts[spec.key] >= WORKER_ATTEMPTS:
                    yield _died(spec, w.process.exitcode, Path(out_root))
                else:
                    queue.appendleft(spec)  # handed to a new worker by the loop above
        finished = True
    finally:
        for w in workers:
            w.stop()  # a busy worker reads this after its current pack
        deadline = time.monotonic() + (60.0 if finished else STOP_GRACE)
        for w in workers:
            while w.spec is not None and time.monotonic() < deadline:
                try:
                    if w.conn.poll(max(0.0, min(0.5, deadline - time.monotonic()))):
                        result, _ = w.conn.recv()
                        w.spec = None
                        if late is not None:
                            late(result)
                    elif not w.process.is_alive():
                        break
                except (EOFError, OSError):
                    break
            w.process.join(max(0.0, deadline - time.monotonic()))
        for w in workers:
            if w.process.is_alive():
                w.process.terminate()
                w.process.join(5)
            w.conn.close()
        if printer is not None:
            printer.close()
        if zygote is not None:
            zygote.close()
