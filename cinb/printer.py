"""One PDF printer for a whole local batch: a process that owns the batch's only Chromium, and its clients.

Were each worker to print with a Chromium of its own, every worker would hold a browser process, its utility
processes and Playwright's Node driver: about 200 MiB each before a page is printed. A batch starts one printer
process instead (:func:`serve`) and every worker prints through it (:class:`PrinterClient`, which
:func:`cinb.pdf.get_backend` hands out once :func:`use_printer` has been called in the worker). The printer
prints one pack at a time in one tab: printing takes about a quarter of a pack's time, so two workers rarely
wait for each other, and the pages are those the worker's own Chromium would print (the same
:class:`~cinb.pdf_chromium.ChromiumBackend` does the work).

Requests and answers travel over a Unix socket in a private temporary folder, authenticated with a key only
the batch knows (``multiprocessing.connection``). A request is ``("print", html, target)``; the answer is
``None`` (the PDF is at ``target``) or ``(kind, message)`` for an error. A worker that cannot reach the printer
(it died, or never started) prints with a Chromium of its own, as before, and says so in its log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener, wait
from pathlib import Path

from .errors import PackError

__all__ = ["CONNECT_GRACE", "PRINT_TIMEOUT", "PrinterClient", "PrintService", "serve", "use_printer"]

#: Seconds a worker waits for its PDF before it gives up on the printer (a pack's PDF takes about a second).
PRINT_TIMEOUT = 300.0

#: Seconds a worker keeps trying to reach a printer that is not listening yet before it prints alone.
CONNECT_GRACE = 10.0

_log = logging.getLogger("cinb.printer")


def serve(address: str, authkey: bytes, backend: str = "chromium") -> None:
    """Run the printer (the target of the printer process): accept workers, print their packs, one at a time.

    Ends when it is terminated (SIGTERM: its browser is closed first) or when the process that started it has
    gone. Never raises for a pack: a failed print is answered with its error, and the next pack gets a new
    browser (the old one, or its driver, may be what failed).
    """
    import signal
    import sys

    from .pdf import BACKENDS

    def stop(signum, frame):
        sys.exit(0)  # runs the backend's exit handler, which closes the browser

    parent = os.getppid()
    # A session of its own: a Ctrl-C at the terminal (sent to the batch's process group) must not reach the
    # printer's browser and driver in the middle of a pack the workers are finishing; the batch stops the printer.
    with contextlib.suppress(OSError):
        os.setsid()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    listener = Listener(address, family="AF_UNIX", authkey=authkey)  # first: workers may connect at once

    def start():
        try:
            return BACKENDS[backend](), None
        except Exception as exc:  # noqa: BLE001 - said to every worker that asks, as its pack's error
            return None, exc

    engine, _ = start()  # the browser starts now, while the workers warm up (else at the first pack)
    clients: list = []
    lock = threading.Lock()

    def accept() -> None:
        while True:
            try:
                conn = listener.accept()
            except (AuthenticationError, EOFError):
                continue  # not one of the batch's workers, or one that left during the handshake
            except OSError:
                return
            with lock:
                clients.append(conn)

    threading.Thread(target=accept, name="cinb-printer-accept", daemon=True).start()
    while os.getppid() == parent:
        with lock:
            current = list(clients)
        if not current:
            threading.Event().wait(0.05)
            continue
        for conn in wait(current, timeout=0.5):
            try:
                request = conn.recv()
            except (EOFError, OSError):  # the worker has ended
                with lock:
                    clients.remove(conn)
                conn.close()
                continue
            answer = None
            try:
                op, html, target = request
                if op != "print":
                    raise ValueError(f"unknown request {op!r}")
                if engine is None:
                    engine, broken = start()
                    if broken is not None:
                        raise broken
                engine.write_pdf(html, Path(target))
            except Exception as exc:  # noqa: BLE001 - the worker reports it as this pack's failure
                answer = (type(exc).__name__, f"{exc} (the batch's PDF printer starts a new Chromium for the next "
                                              "pack: if this one crashed or was killed, rebuild this pack)")
                # The browser or its driver may be what failed: the next pack gets a new one.
                if engine is not None:
                    engine.close()
                engine = None
            with contextlib.suppress(EOFError, OSError):
                conn.send(answer)


class PrintService:
    """The batch's side of the printer: starts the printer process and gives workers its address.

    Parameters
    ----------
    ctx : multiprocessing context
        The batch's (a fork server's) context; the printer is one of its processes.
    backend : str
        The backend the printer prints with (``"chromium"``).

    Raises
    ------
    OSError
        When the private folder for the socket cannot be made.
    """

    def __init__(self, ctx, backend: str = "chromium"):
        self._folder = tempfile.mkdtemp(prefix="cinb-print-")  # short: a socket path has at most 107 bytes
        self.address = os.path.join(self._folder, "printer")
        self.authkey = os.urandom(32)
        self.process = ctx.Process(target=serve, args=(self.address, self.authkey, backend),
                                   name="cinb-printer", daemon=True)
        self.process.start()

    @property
    def endpoint(self) -> tuple[str, bytes]:
        """``(address, authkey)``: what a worker passes to :class:`PrinterClient`."""
        return self.address, self.authkey

    def close(self) -> None:
        """Stop the printer (its browser ends with it) and remove the socket's folder."""
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        shutil.rmtree(self._folder, ignore_errors=True)


class PrinterClient:
    """A worker's PDF backend that prints through the batch's printer (:func:`serve`).

    Same interface as the backends (``name``, ``write_pdf(html, target)``). When the printer cannot be reached,
    the client prints with a backend of its own (``fallback``, e.g. a local Chromium) from then on.

    Parameters
    ----------
    address, authkey :
        :attr:`PrintService.endpoint`.
    name : str
        The backend's name (shown in the batch's summary).
    fallback : callable
        Returns the backend to use when the printer is gone.
    """

    def __init__(self, address: str, authkey: bytes, name: str, fallback):
        self.address, self.authkey, self.name = address, authkey, name
        self._fallback = fallback
        self._conn = None
        self._local = None

    def write_pdf(self, html: str, target: Path) -> None:
        """Have the printer write the PDF of ``html`` to ``target``.

        Raises
        ------
        PackError
            When the printer reports an error for this pack, or does not answer within :data:`PRINT_TIMEOUT`.
        """
        if self._local is None:
            try:
                if self._conn is None:
                    self._conn = self._connect()
                self._conn.send(("print", html, str(target)))
                if not self._conn.poll(PRINT_TIMEOUT):
                    self._drop()
                    raise PackError(f"the batch's PDF printer did not answer within {PRINT_TIMEOUT:g} s")
                answer = self._conn.recv()
            except (OSError, EOFError, AuthenticationError) as exc:
                _log.warning("the batch's PDF printer is not answering (%s): printing with this worker's own",
                             exc)
                self._drop()
                self._local = self._fallback()
            else:
                if answer is not None:
                    kind, message = answer
                    # The printer's exception, under its own name (render_pdf says which pack and backend).
                    raise PackError(message) if kind == "PackError" else type(kind, (Exception,), {})(message)
                return
        self._local.write_pdf(html, target)

    def _connect(self):
        # The printer listens within a moment of starting; a worker's first PDF comes seconds later, but a
        # loaded machine may start the printer late: a few seconds' grace before printing alone.
        deadline = time.monotonic() + CONNECT_GRACE
        while True:
            try:
                return Client(self.address, family="AF_UNIX", authkey=self.authkey)
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None


def use_printer(endpoint: tuple[str, bytes], name: str) -> None:
    """In a worker: print every PDF of backend ``name`` through the batch's printer at ``endpoint``
    (:attr:`PrintService.endpoint`); the worker's own backend is started only if the printer cannot be reached.
    """
    from .pdf import BACKENDS, use_backend

    address, authkey = endpoint
    use_backend(name, PrinterClient(address, authkey, name, fallback=BACKENDS[name]))
