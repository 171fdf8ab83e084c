"""A kernel zygote: one process per worker that imports what the pack notebooks import, then forks a new kernel
for each pack.

Starting a kernel the usual way costs a Python start-up, ipykernel's imports and then the notebook's own imports
(pandas, matplotlib, scipy, cinb): about 3 s of CPU per pack on a small machine, as much as the notebook's own
work. A forked kernel starts in about 0.4 s with all of that already in memory (shared copy-on-write between
kernels).

The zygote is ``sys.executable -m cinb.zygote``: its kernels run cinb's own interpreter, whatever kernelspecs
``JUPYTER_PATH`` holds (as the kernels :mod:`cinb.kernels` starts without it do).

Isolation is kept: the zygote never reads the user's data; it imports modules, rehearses one pack in memory on
cinb's own synthetic sample (:func:`rehearse`: first-use costs paid once, at its first quiet moment after it is
ready, so that the first kernels need not wait for it) and forks. Each
kernel is a new process, in its own session, that runs one pack and is killed. After the fork, the kernel
re-seeds numpy's global random generator (Python's ``random`` re-seeds itself), so forked kernels do not share
random streams.

Protocol (one JSON object per line on the zygote's stdin/stdout): ``{"op": "fork", "connection_file", "log",
"env", "cwd"}`` → ``{"pid"}``; ``{"op": "status", "pid"}`` → ``{"exit": code or null}`` (null while it runs).
The zygote ends when its stdin closes (its worker ended), and each kernel ends when the zygote does (ipykernel
polls its parent).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .errors import ZygoteError
from .processes import running

__all__ = ["KERNEL_OPTIONS", "READY_TIMEOUT", "WARM_IMPORTS", "AttachedZygote", "ForkedProcess", "Zygote",
           "ZygoteError", "first_error_line", "provisioner_for", "rehearse"]

#: Modules a kernel has imported before it is given a pack: exactly those the pack notebooks import. The zygote
#: imports them once (and every kernel forked from it has them); an ordinary spare kernel imports them in its
#: warm-up (:func:`cinb.kernels.warm_up`). Defined here, not in :mod:`cinb.kernels`, so that the zygote process
#: does not import the kernel machinery that uses it.
WARM_IMPORTS = ("cinb.load", "cinb.review", "cinb.portfolio", "cinb.sections", "cinb.portfolio_sections",
                "cinb.display", "cinb.charts", "cinb.snapshot", "pyarrow.parquet")

#: Options of cinb's own kernels: no IPython input history (a pack's kernel runs one notebook and ends; writing
#: each cell to the user's history database cost CPU, a thread and disk writes, and kept pack code there).
KERNEL_OPTIONS = ("--HistoryManager.enabled=False",)

#: Seconds the zygote may take to import everything before a fork request gives up on it.
READY_TIMEOUT = 120.0

#: Seconds without a request after which the zygote, ready and serving, rehearses a pack (:func:`rehearse`).
REHEARSE_WHEN_IDLE = 0.5

_NOISE = re.compile(r"warning|^\d+\.\d+s - |^\s*$|^To connect another client", re.IGNORECASE)


def first_error_line(log: str) -> str | None:
    r"""The first meaningful line of what a kernel (or the zygote) wrote: a traceback's exception line, else the
    first line that is not a warning or a debugger note (None when there is none). At most 300 characters.

    Errors about a kernel that could not start quote it (:meth:`cinb.kernels.Kernel.failure`), so that the cause
    (e.g. ``No module named ipykernel_launcher`` in another Python) is on screen, not only in a log file.

    Examples
    --------
    >>> first_error_line("/usr/bin/python3: No module named ipykernel_launcher\n")
    '/usr/bin/python3: No module named ipykernel_launcher'
    >>> first_error_line("Traceback (most recent call last):\n  File \"x\", line 1\nImportError: no pandas\n")
    'ImportError: no pandas'
    """
    lines = [line.rstrip() for line in log.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last)"):
            for later in lines[i + 1:]:
                if not later[:1].isspace():
                    return later.strip()[:300]
    for line in lines:
        if not _NOISE.search(line):
            return line.strip()[:300]
    return None


class Zygote:
    """The worker's side of a zygote process (started at once; its imports run in the background).

    Parameters
    ----------
    env : dict
        The zygote's environment (and so the kernels', unless a fork request gives another).
    log_path : Path
        Where the zygote's own stderr goes.
    cwd : str, optional
        The zygote's working folder (default: the caller's).

    Raises
    ------
    ZygoteError (a KernelError, so a PackError)
        When the log cannot be opened or the process cannot be started; later, from :meth:`fork` and
        :meth:`status`, when the zygote has died, does not answer, or its imports failed.
    """

    def __init__(self, env: dict[str, str], log_path: Path, cwd: str | None = None, *, shared: bool = False):
        self.log_path = Path(log_path)
        #: With ``shared``: the Unix socket other processes attach to (:class:`AttachedZygote`), else None.
        self.address: str | None = None
        self._folder: str | None = None
        if shared:
            import tempfile

            self._folder = tempfile.mkdtemp(prefix="cinb-zygote-")  # private (0700), and short enough for a socket
            self.address = os.path.join(self._folder, "zygote")
            env = dict(env, CINB_ZYGOTE_ADDRESS=self.address)
        try:
            self._log = open(log_path, "ab")
        except OSError as exc:
            raise ZygoteError(f"could not open the kernel zygote's log {log_path}: {exc}") from None
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "cinb.zygote"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self._log, env=env, cwd=cwd)
        except OSError as exc:
            self._log.close()
            raise ZygoteError(f"could not start the kernel zygote: {exc}") from None
        self._lock = threading.Lock()
        self.ready_seconds: float | None = None  # the zygote's import time, once known

    @property
    def pid(self) -> int:
        """Process id of the zygote process (not of any kernel forked from it)."""
        return self.proc.pid

    def _wait_ready(self) -> None:
        if self.ready_seconds is not None:
            return
        line = self._readline(READY_TIMEOUT)
        try:
            self.ready_seconds = float(json.loads(line)["ready"])
        except (ValueError, KeyError, TypeError):
            raise ZygoteError(f"the kernel zygote did not start: {line!r}") from None

    def _readline(self, timeout: float) -> str:
        import select

        deadline = time.monotonic() + timeout
        out = self.proc.stdout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ZygoteError(f"the kernel zygote did not answer within {timeout:g} s")
            ready, _, _ = select.select([out], [], [], min(left, 1.0))
            if ready:
                line = out.readline()
                if not line:
                    raise self._ended()
                return line.decode("utf-8")
            if self.proc.poll() is not None:
                raise self._ended()

    def _ended(self) -> ZygoteError:
        """The error for a zygote that has ended: its exit status and the first line of its error, if any."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(1)
        try:
            with contextlib.suppress(Exception):
                self._log.flush()
            said = first_error_line(self.log_path.read_text(encoding="utf-8", errors="replace")[-20_000:])
        except OSError:
            said = None
        return ZygoteError(f"the kernel zygote ({sys.executable}) ended (exit status {self.proc.poll()})"
                           + (f": {said}" if said else ""))

    def _ask(self, request: dict, timeout: float = 30.0) -> dict:
        with self._lock:
            self._wait_ready()
            try:
                self.proc.stdin.write((json.dumps(request) + "\n").encode("utf-8"))
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                raise ZygoteError("the kernel zygote is gone") from None
            answer = json.loads(self._readline(timeout))
        if "error" in answer:
            raise ZygoteError(answer["error"])
        return answer

    def fork(self, connection_file: str, log: str, env: dict[str, str], cwd: str) -> int:
        """Fork a new kernel listening as ``connection_file`` says; return its pid."""
        return int(self._ask({"op": "fork", "connection_file": connection_file, "log": log, "env": env,
                              "cwd": cwd})["pid"])

    def status(self, pid: int) -> int | None:
        """Exit status of a forked kernel (negative: killed by that signal), or None while it runs."""
        return self._ask({"op": "status", "pid": pid})["exit"]

    def alive(self) -> bool:
        """Whether the zygote process is still running (it may still be importing; this does not wait)."""
        return self.proc.poll() is None

    def close(self) -> None:
        """End the zygote (its kernels end with it)."""
        with contextlib.suppress(Exception):
            self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            with contextlib.suppress(Exception):
                self.proc.wait(5)
        with contextlib.suppress(Exception):
            self.proc.stdout.close()
        self._log.close()
        if self._folder is not None:
            import shutil

            shutil.rmtree(self._folder, ignore_errors=True)


class AttachedZygote(Zygote):
    """A worker's connection to a zygote that another process started shared (``Zygote(..., shared=True)``):
    one zygote, and one copy of its imports, for all of a batch's workers.

    Same interface as :class:`Zygote`. The connection is made at the first request, waiting (up to
    :data:`READY_TIMEOUT`) for the zygote to finish its imports; when it closes, the zygote kills the kernels
    this connection asked for that are still running.

    Parameters
    ----------
    address : str
        :attr:`Zygote.address` of the shared zygote.
    log_path : Path
        The shared zygote's log (quoted when it fails).
    zygote_pid : int, optional
        Its process id: while waiting for it to listen, a zygote that has died (its imports failed) is noticed
        at once instead of after :data:`READY_TIMEOUT`.
    """

    def __init__(self, address: str, log_path: Path, zygote_pid: int | None = None):  # noqa: D107
        self.address = address
        self.log_path = Path(log_path)
        self._zygote_pid = zygote_pid
        self._folder = None
        self._sock = None
        self._gone = False
        self._lock = threading.Lock()
        self.ready_seconds: float | None = None

    @property
    def pid(self) -> None:
        """None: the zygote process belongs to whoever started it."""
        return None

    def _wait_ready(self) -> None:
        import socket

        if self._sock is not None:
            return
        if self._gone:
            raise self._ended()
        started = time.monotonic()
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(self.address)
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if self._zygote_pid is not None and not running(self._zygote_pid):
                    raise self._ended() from None
                if time.monotonic() - started > READY_TIMEOUT:
                    self._gone = True
                    raise ZygoteError(f"the batch's kernel zygote did not answer within {READY_TIMEOUT:g} s") \
                        from None
                time.sleep(0.1)
                continue
            except OSError as exc:
                sock.close()
                self._gone = True
                raise ZygoteError(f"could not reach the batch's kernel zygote: {exc}") from None
            self._sock, self._reader = sock, sock.makefile("rb")
            self.ready_seconds = round(time.monotonic() - started, 3)
            return

    def _readline(self, timeout: float) -> str:
        import select

        ready, _, _ = select.select([self._sock], [], [], timeout)
        if not ready:
            raise ZygoteError(f"the kernel zygote did not answer within {timeout:g} s")
        line = self._reader.readline()
        if not line:
            raise self._ended()
        return line.decode("utf-8")

    def _ask(self, request: dict, timeout: float = 30.0) -> dict:
        with self._lock:
            self._wait_ready()
            try:
                self._sock.sendall((json.dumps(request) + "\n").encode("utf-8"))
            except OSError:
                raise self._ended() from None
            answer = json.loads(self._readline(timeout))
        if "error" in answer:
            raise ZygoteError(answer["error"])
        return answer

    def _ended(self) -> ZygoteError:
        self._gone = True
        try:
            said = first_error_line(self.log_path.read_text(encoding="utf-8", errors="replace")[-20_000:])
        except OSError:
            said = None
        return ZygoteError("the batch's kernel zygote has gone" + (f": {said}" if said else ""))

    def alive(self) -> bool:
        """Whether the zygote may still answer (False once a request found it gone)."""
        return not self._gone

    def close(self) -> None:
        """Close this connection (the zygote then kills the kernels it forked for it that still run)."""
        if self._sock is not None:
            with contextlib.suppress(Exception):
                self._reader.close()
            with contextlib.suppress(Exception):
                self._sock.close()
        self._sock = None


class ForkedProcess:
    """What jupyter_client expects of a kernel process (``subprocess.Popen``'s API) for a forked kernel."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, zygote: Zygote):
        self.pid = pid
        self.returncode: int | None = None
        self._zygote = zygote

    def poll(self) -> int | None:
        """The kernel's exit status once it has ended (negative: killed by that signal), else None; never blocks.

        Asked of the zygote (the kernel's parent, which reaps it). Without a zygote the process table is checked
        instead, and a kernel no longer there is reported as ``-SIGKILL`` (its real status is unknown).
        """
        if self.returncode is None:
            try:
                self.returncode = self._zygote.status(self.pid)
            except ZygoteError:
                # Without the zygote, the process table is the only witness (exit status unknown).
                try:
                    os.kill(self.pid, 0)
                except ProcessLookupError:
                    self.returncode = -signal.SIGKILL
                except PermissionError:
                    pass
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Block until the kernel ends (polling every 0.05 s); return its exit status as :meth:`poll` does.

        Raises
        ------
        subprocess.TimeoutExpired
            When it is still running after ``timeout`` seconds (None: wait for ever).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.05)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Send signal ``signum`` to the kernel process, unless it is known to have ended.

        Raises
        ------
        ProcessLookupError, PermissionError
            From :func:`os.kill`, when the process is gone or not ours.
        """
        if self.returncode is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        """Send SIGKILL to the kernel process (see :meth:`send_signal`)."""
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """Send SIGTERM to the kernel process (see :meth:`send_signal`)."""
        self.send_signal(signal.SIGTERM)


def provisioner_for(km, zygote: Zygote):
    """A jupyter_client provisioner for ``km`` that forks the kernel from ``zygote`` instead of starting one."""
    from jupyter_client.provisioning import LocalProvisioner

    class ZygoteProvisioner(LocalProvisioner):
        """LocalProvisioner whose kernel is forked by the zygote rather than started from its command."""

        async def launch_kernel(self, cmd, **kwargs):
            """Ask the zygote for a kernel reading ``self.parent.connection_file``; return the connection info."""
            # The command is not run: the zygote forks a kernel that reads the same connection file.
            log = getattr(self.parent, "cinb_log_path", os.devnull)
            env = dict(kwargs.get("env") or os.environ)
            cwd = str(kwargs.get("cwd") or os.getcwd())
            pid = zygote.fork(str(self.parent.connection_file), str(log), env, cwd)
            self.process = ForkedProcess(pid, zygote)
            self.pid = self.pgid = pid  # the kernel leads its own session and process group
            self.cwd = cwd
            return self.connection_info

    return ZygoteProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)


# --------------------------------------------------------------------------------------------------------------
# The zygote process itself
# --------------------------------------------------------------------------------------------------------------

def _child(request: dict) -> None:
    """In the forked child: become a fresh kernel for one pack (never returns)."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()  # own session: a terminal's Ctrl-C never reaches it, and it can be killed as a group
        fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        os.close(null)
        os.chdir(request["cwd"])
        env = dict(request["env"])
        parent = os.getppid()
        env["JPY_PARENT_PID"] = str(parent)
        os.environ.clear()
        os.environ.update(env)
        np = sys.modules.get("numpy")
        if np is not None:
            np.random.seed()  # forked kernels must not share the zygote's random stream
        sys.argv = ["ipykernel_launcher", "-f", request["connection_file"], *KERNEL_OPTIONS]
        from ipykernel.kernelapp import IPKernelApp

        # ipykernel read JPY_PARENT_PID when the zygote imported it: say it again, so that the kernel ends
        # (its parent poller) if the zygote does.
        app = IPKernelApp.instance(parent_handle=parent)
        app.initialize(sys.argv[1:])
        # When the kernel is ready to serve, for the batch's timings (launch to ready).
        with contextlib.suppress(OSError), open(request["log"] + ".ready", "w") as fh:
            fh.write(repr(time.time()))
        app.start()
        code = 0
    except BaseException:  # noqa: BLE001 - a kernel that cannot start says why in its log, then exits
        import traceback

        with contextlib.suppress(Exception):
            traceback.print_exc()
            sys.stderr.flush()
    finally:
        os._exit(code)


def rehearse() -> None:
    """Build the embedded sample's first contract pack in memory (review, every section, every chart), once.

    A fresh process pays for first use as well as for imports: fonts opened and measured, pandas' and
    matplotlib's lazily imported code paths, text-size caches. Rehearsed here, before any fork, that work is
    done once and shared by every kernel (measured: a contract pack's cells took 2.37 s in a new kernel, 2.05 s
    in a kernel that had run them once).
    The rehearsal reads only cinb's own synthetic sample, writes nothing and displays nothing; a rehearsal
    that fails is written to the zygote's log and otherwise ignored (kernels then start colder, nothing else).
    """
    try:
        from cinb import contract_review, load_portfolio, sections
        from cinb.audience import for_audience

        sample = load_portfolio(None)
        contract_id = str(sample.contracts["contract_id"].iloc[0])
        period = str(sample.measurements["period"].max())
        review = for_audience(contract_review(sample, contract_id, period))
        for name in ("cover", "executive_summary", "scorecard", "at_a_glance", "kpi_details", "commitments",
                     "credits", "reconciliation", "initiatives", "definitions", "data_quality"):
            builder = getattr(sections, name)
            builder(review, "OFFICIAL") if name == "cover" else builder(review)
        review.to_pack()
    except Exception:  # noqa: BLE001 - a warm-up, never a reason for the zygote to fail
        import traceback

        print("cinb zygote: the rehearsal failed (kernels start without it):", file=sys.stderr)
        traceback.print_exc()


def _serve() -> None:
    """The zygote's loop: answer requests (one JSON object per line) from the worker on stdin and, when started
    shared (``CINB_ZYGOTE_ADDRESS``), from every worker connected to its Unix socket; end when stdin closes."""
    started = time.perf_counter()
    import gc
    import selectors
    import socket

    import ipykernel.kernelapp  # noqa: F401 - the kernel machinery itself
    import ipykernel.ipkernel  # noqa: F401 - and what a kernel imports as it starts (its debugger
    import ipykernel.debugger  # noqa: F401 - support alone, debugpy, is 0.07 s of each kernel's start)

    for name in WARM_IMPORTS:
        importlib.import_module(name)
    # Everything made so far lives as long as the zygote: kept out of the collector's sight, so that a kernel's
    # collections do not touch (and so copy) the pages it shares with the zygote. Done again after the rehearsal.
    gc.collect()
    gc.freeze()
    statuses: dict[int, int] = {}

    def reap(signum, frame):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            statuses[pid] = os.waitstatus_to_exitcode(status)

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker decides when we stop
    signal.signal(signal.SIGCHLD, reap)
    selector = selectors.DefaultSelector()
    listener = None
    address = os.environ.pop("CINB_ZYGOTE_ADDRESS", None)
    if address:  # listening only once warm: a worker's connect succeeding means the zygote is ready
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(address)
        listener.listen()
        selector.register(listener, selectors.EVENT_READ, None)
    # Each connection (stdin/stdout is the owner's): its unread bytes, how to answer, the kernels it asked for.
    owner = {"buffer": b"", "write": lambda data: (sys.stdout.buffer.write(data), sys.stdout.flush()),
             "children": set()}
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ, owner)
    sys.stdout.write(json.dumps({"ready": round(time.perf_counter() - started, 3)}) + "\n")
    sys.stdout.flush()

    def close_all() -> None:  # in a forked kernel: the zygote's sockets are not the kernel's business
        for key in list(selector.get_map().values()):
            if isinstance(key.fileobj, socket.socket):
                key.fileobj.close()
        selector.close()

    def answer(request: dict, children: set[int]) -> dict:
        try:
            if request["op"] == "fork":
                pid = os.fork()
                if pid == 0:
                    close_all()
                    _child(request)
                children.add(pid)
                return {"pid": pid}
            if request["op"] == "status":
                return {"exit": statuses.get(int(request["pid"]))}
            return {"error": f"unknown request {request.get('op')!r}"}
        except Exception as exc:  # noqa: BLE001 - answer, do not die
            return {"error": f"{type(exc).__name__}: {exc}"}

    def end(conn) -> None:  # a worker has gone: so have the kernels it was still using
        for pid in conn["children"]:
            if pid not in statuses:
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)

    # The rehearsal waits for the first quiet moment: the first kernels (one per worker, asked for as soon as the
    # zygote is ready) are forked without it, and it then runs while they run their packs, instead of alone on
    # one core while every worker waits for it.
    rehearsed = False
    running = True
    while running:
        events = selector.select(None if rehearsed else REHEARSE_WHEN_IDLE)
        if not events and not rehearsed:
            rehearse()
            gc.collect()
            gc.freeze()
            rehearsed = True
            continue
        for key, _ in events:
            if key.data is None:  # a worker connecting
                with contextlib.suppress(OSError):
                    sock, _addr = listener.accept()
                    conn = {"buffer": b"", "write": sock.sendall, "children": set(), "socket": sock}
                    selector.register(sock, selectors.EVENT_READ, conn)
                continue
            conn = key.data
            try:
                data = conn["socket"].recv(65536) if "socket" in conn else os.read(key.fd, 65536)
            except OSError:
                data = b""
            if not data:
                end(conn)
                selector.unregister(key.fileobj)
                if conn is owner:
                    running = False  # the owner is gone: the zygote and all its kernels end
                    break
                conn["socket"].close()
                continue
            conn["buffer"] += data
            while b"\n" in conn["buffer"]:
                line, conn["buffer"] = conn["buffer"].split(b"\n", 1)
                try:
                    request = json.loads(line)
                except ValueError as exc:
                    reply = {"error": f"JSONDecodeError: {exc}"}
                else:
                    reply = answer(request, conn["children"])
                with contextlib.suppress(OSError):
                    conn["write"]((json.dumps(reply) + "\n").encode("utf-8"))
    # Every kernel forked by anyone ends with the zygote.
    for key in list(selector.get_map().values()):
        if isinstance(key.data, dict):
            end(key.data)
    end(owner)
    if address:
        with contextlib.suppress(OSError):
            os.unlink(address)


if __name__ == "__main__":
    _serve()
