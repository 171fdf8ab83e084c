"""Execute a pack notebook with parameters in a fresh kernel (papermill) and read back the figures it emitted.

papermill injects the parameters and records the run in the notebook's metadata; a small papermill engine
(``cinb``) lets it run in a kernel that :mod:`cinb.kernels` has already started (and warmed with imports), keeps
the partly executed notebook when the kernel dies, and closes every socket afterwards. A kernel serves one notebook
and is then killed, whatever happens.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any

import nbformat

from .errors import KernelError, PackError
from .packdata import PACK_MIMETYPE, pack_data  # noqa: F401  (re-exported: they lived here before)

#: Name of the papermill engine registered by this module.
ENGINE = "cinb"

# papermill logs every cell at INFO and unknown parameters at WARNING; nbclient logs kernel deaths at ERROR.
# None of it belongs on the user's terminal: while a notebook runs these loggers write to the kernel's log file
# (kept with a failed pack), and otherwise they are silent.
_QUIET_LOGGERS = ("papermill", "nbclient", "traitlets", "jupyter_client")
for _name in _QUIET_LOGGERS:
    _logger = logging.getLogger(_name)
    _logger.setLevel(logging.WARNING)
    _logger.propagate = False
    if not _logger.handlers:
        _logger.addHandler(logging.NullHandler())

_local = threading.local()  # the notebook manager of the notebook running in this thread
_registered = False


def _register_engine() -> None:
    # Done on first use, not at import: importing this module must stay cheap (papermill is loaded only to run a
    # notebook).
    global _registered
    if _registered:
        return
    from papermill.engines import NBClientEngine, papermill_engines

    class CinbEngine(NBClientEngine):
        """nbclient engine that accepts a started kernel (``km``) and always closes its client's sockets."""

        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None, **kwargs):
            _local.nb_man = nb_man  # so that a dead kernel's partial notebook can be kept for diagnosis
            kwargs.pop("input_path", None)
            km = kwargs.pop("km", None)
            client = _client_class()(
                nb_man, km=km, timeout=execution_timeout, startup_timeout=start_timeout, kernel_name=kernel_name,
                log=logging.getLogger("papermill"), log_output=False, stdout_file=stdout_file,
                stderr_file=stderr_file, shutdown_kernel="immediate", **kwargs)
            try:
                return client.execute()
            finally:
                if client.kc is not None:
                    with contextlib.suppress(Exception):
                        client.kc.stop_channels()
                    client.kc = None

    papermill_engines.register(ENGINE, CinbEngine)
    _skip_pathless_writes()
    _registered = True


def _skip_pathless_writes() -> None:
    """Make papermill's final ``write_ipynb(nb, None)`` free: cinb runs notebooks with no output path, and
    papermill, which then writes nowhere, still serialises and validates the whole executed notebook first
    (about 0.05 s of a pack's worker). Writes to a real path are unchanged."""
    import papermill.execute as pm_execute

    write = getattr(pm_execute, "write_ipynb", None)
    if write is None or getattr(write, "_cinb_skips_pathless", False):
        return

    def write_ipynb(nb, path):
        if path is not None:
            write(nb, path)

    write_ipynb._cinb_skips_pathless = True
    pm_execute.write_ipynb = write_ipynb


@functools.lru_cache(maxsize=1)
def _client_class():
    """papermill's notebook client with a quicker handshake (:func:`_handshake`); built on first use."""
    from jupyter_core.utils import ensure_async, run_sync
    from nbclient.util import run_hook
    from papermill.clientwrap import PapermillNotebookClient

    class PackNotebookClient(PapermillNotebookClient):
        """PapermillNotebookClient whose new kernel client is ready as soon as both its channels answer."""

        async def async_start_new_kernel_client(self):
            """Start the client's channels and shake hands (:func:`_handshake`); as nbclient's method otherwise."""
            self.kc = self.km.client()
            await ensure_async(self.kc.start_channels())
            try:
                await _handshake(self.kc, self.startup_timeout)
            except Exception as exc:
                self.log.error(f"Error occurred while starting new kernel client: {exc}")
                await self._async_cleanup_kernel()
                raise
            self.kc.allow_stdin = False
            await run_hook(self.on_notebook_start, notebook=self.nb)
            return self.kc

        start_new_kernel_client = run_sync(async_start_new_kernel_client)  # nbclient's sync twin, re-bound

    return PackNotebookClient


async def _handshake(kc, timeout: float | None) -> None:
    """Wait until the kernel answers on both channels: a ``kernel_info`` reply on shell, then any message on
    IOPub (the kernel publishes its busy status for the request, so IOPub is connected once one arrives).

    jupyter_client's ``wait_for_ready`` does the same, then waits for 0.2 s of silence on IOPub before it
    returns: 0.2 s of every pack. It need not: the notebook client only reads IOPub messages whose parent is
    the cell it runs, so messages left from the handshake are passed over. Raises RuntimeError when the kernel
    dies or does not answer within ``timeout`` seconds (as ``wait_for_ready``).
    """
    from queue import Empty

    from jupyter_core.utils import ensure_async

    deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
    while True:
        kc.kernel_info()
        try:
            msg = await ensure_async(kc.shell_channel.get_msg(timeout=1))
        except Empty:
            msg = None
        if msg is not None and msg["msg_type"] == "kernel_info_reply":
            try:
                await ensure_async(kc.iopub_channel.get_msg(timeout=0.2))
            except Empty:
                pass  # IOPub not connected yet: ask again
            else:
                kc._handle_kernel_info_reply(msg)  # protocol version adaptation, as wait_for_ready does
                return
        if not await ensure_async(kc.is_alive()):
            raise RuntimeError("Kernel died before replying to kernel_info")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")


@contextlib.contextmanager
def _logs_to(path: Path | None):
    """Send the notebook machinery's log records to ``path`` (the kernel's log) while a notebook runs."""
    if path is None:
        yield
        return
    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("[%(name)s] %(levelname)s | %(message)s"))
    loggers = [logging.getLogger(n) for n in _QUIET_LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        handler.close()


def execute(notebook: Path, parameters: dict[str, Any], *, timeout: float | None = 600, cwd: Path | None = None,
            kernel_name: str | None = None, kernel=None, timings: dict | None = None) -> nbformat.NotebookNode:
    """Run ``notebook`` with ``parameters`` injected by papermill in a new kernel; return the executed notebook.

    Parameters
    ----------
    notebook : Path
        The ``.ipynb`` file (read, never written).
    parameters : dict
        Values injected after the cell tagged ``parameters`` (as literals, by papermill).
    timeout : float or None
        Seconds the whole notebook may take; past it the kernel is killed and the pack fails.
    kernel_name : str, optional
        An installed kernelspec to run the notebook in. By default the kernel is cinb's own interpreter
        (``sys.executable``), whatever kernelspecs ``JUPYTER_PATH`` holds (see :func:`cinb.kernels.start_kernel`).
    kernel : cinb.kernels.Kernel, optional
        A kernel started (and perhaps warmed) beforehand, e.g. by :class:`cinb.kernels.KernelSupply`. Without one
        a new kernel is started here. Either way the kernel is shut down before this function returns: a kernel
        never runs a second notebook.
    timings : dict, optional
        Filled with ``kernel_start``, ``imports``, ``kernel_wait`` and ``notebook`` (seconds).

    Raises
    ------
    KernelError (a PackError)
        When the kernel cannot start; the message names the kernelspec, the interpreter and the first line of the
        kernel's error.
    PackError
        When a cell raises, the kernel dies or the notebook runs past ``timeout`` seconds. The executed notebook
        (with papermill's error banner, or a note saying where the kernel died) is attached as
        ``error.notebook`` and what the kernel printed as ``error.kernel_log``, for diagnosis.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from .kernels import start_kernel
    from .packdata import with_cell_ids

    _register_engine()
    timings = {} if timings is None else timings
    nb = with_cell_ids(notebook, is_text=False)  # a template without cell ids: filled quietly
    if kernel is None:
        try:
            kernel = start_kernel(warm=False, kernel_name=kernel_name, cwd=cwd)
        except KernelError as exc:
            raise KernelError(f"{notebook.name}: the kernel did not start: {exc}") from None
    failed = True
    error: PackError | None = None
    try:
        try:
            timings.update(kernel.wait_ready())
        except Exception as exc:
            error = KernelError(f"{notebook.name}: the kernel did not start: {exc}")
            error.notebook = None
            raise error from None
        watchdog = None
        if timeout:
            watchdog = threading.Timer(timeout, _expire, args=(kernel,))
            watchdog.daemon = True
            watchdog.start()
        _local.nb_man = None
        started = time.perf_counter()
        try:
            with _logs_to(kernel.log_path):
                out = papermill.execute_notebook(
                    nb, None, parameters=parameters, engine_name=ENGINE, km=kernel.km,
                    kernel_name=kernel_name or "python3",  # papermill: which language to write parameters in
                    progress_bar=False, log_output=False, request_save_on_cell_execute=False,
                    execution_timeout=timeout, start_timeout=60,
                )
        except PapermillExecutionError as exc:
            partial = _partial()  # papermill has added its error banner to this notebook
            if kernel.killed_for_timeout:
                error = _timeout_error(notebook, timeout, partial)
            else:
                error = PackError(f"{notebook.name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}")
                error.notebook = partial
        except Exception as exc:  # kernel death, cell timeout: nbclient raises several kinds
            partial = _partial()
            if kernel.killed_for_timeout or "Timeout" in type(exc).__name__:
                error = _timeout_error(notebook, timeout, partial)
            else:
                error = _death_error(notebook, kernel, exc, partial)
        else:
            failed = False
        finally:
            if watchdog is not None:
                watchdog.cancel()
            timings["notebook"] = round(time.perf_counter() - started, 3)
            _local.nb_man = None
        if error is not None:
            raise error from None
        return out
    finally:
        kernel.shutdown(keep_log=True)
        if failed and error is not None:
            error.kernel_log = kernel.read_log()
        kernel.discard_log()


def _expire(kernel) -> None:
    kernel.killed_for_timeout = True
    kernel.kill()


def _partial():
    nb_man = getattr(_local, "nb_man", None)
    return None if nb_man is None else nb_man.nb


def _last_started_cell(nb) -> int | None:
    """Number (1-based, counting code cells as papermill's "In [n]" does) of the last cell started."""
    last, n = None, 0
    for cell in getattr(nb, "cells", []):
        if cell.get("cell_type") != "code":
            continue
        n += 1
        if cell.get("metadata", {}).get("papermill", {}).get("start_time"):
            last = n
    return last


def _with_note(nb, text: str):
    if nb is None:
        return None
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(f"**cinb: {text}**", metadata={"tags": ["cinb-error"]}))
    return nb


def _failure(text: str, partial) -> PackError:
    """A pack error carrying the partial notebook, with the same text as a note at its top."""
    error = PackError(text)
    error.notebook = _with_note(partial, text)
    return error


def _timeout_error(notebook: Path, timeout, partial) -> PackError:
    where = _last_started_cell(partial)
    cell = f" (it was running cell {where})" if where is not None else ""
    return _failure(f"{notebook.name} timed out: it ran past the {timeout:g} s limit (--timeout){cell} and was "
                    "stopped", partial)


def _death_error(notebook: Path, kernel, exc: Exception, partial) -> PackError:
    code = kernel.exit_code
    for _ in range(20):  # the process may take a moment to be reaped after nbclient notices
        if code is not None:
            break
        time.sleep(0.05)
        code = kernel.exit_code
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        how = f"was killed by {name}" + (" (the out-of-memory killer does this too)"
                                          if -code == signal.SIGKILL else "")
    elif code is not None:
        how = f"exited with status {code}"
    else:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        how = f"stopped answering ({type(exc).__name__}: {detail})"
    where = _last_started_cell(partial)
    cell = f" while running cell {where}" if where is not None else ""
    return _failure(f"{notebook.name}: the kernel {how}{cell}", partial)

