"""Fresh Jupyter kernels for packs: started quietly, warmed with imports in advance, each used for one pack only.

Isolation rule: a kernel runs exactly one pack and is then killed, so nothing computed for one contract can reach
another contract's pack. What is shared is only what a fresh kernel would load anyway: before a kernel is handed a
pack it has already imported the modules the pack notebooks import (:data:`WARM_IMPORTS`) — code, no data.

A worker keeps one spare kernel (:class:`KernelSupply`): while it renders pack *n*, the kernel for pack *n + 1*
starts in the background, so kernel start-up overlaps with rendering instead of adding to it. With ``fork=True``
the kernels are forked from a zygote process that has done those imports once (:mod:`cinb.zygote`), so a kernel
costs about 0.4 s of CPU instead of about 3 s; otherwise each new kernel runs the imports itself (a warm-up sent
as soon as it is launched).

Kernels never write to the user's terminal: their stdout and stderr (for instance ipykernel 7's "running over TCP
without encryption" warning) go to a log file per kernel, which is kept with a failed pack for diagnosis and
deleted otherwise. Their connection is encrypted with CurveZMQ when pyzmq supports it.

Which Python: a pack is computed by the interpreter cinb runs in (``sys.executable -m ipykernel_launcher``, from a
kernelspec built in memory, :func:`own_kernel_spec`), never by whatever ``python3`` kernelspec ``JUPYTER_PATH``
happens to hold (a JupyterHub image's, a conda base's), which may be another Python without ipykernel or with
other library versions. Only a kernel named explicitly (``kernel_name``) is looked up on ``JUPYTER_PATH``. A kernel
that cannot start is reported (:class:`~cinb.errors.KernelError`) with the kernelspec, the interpreter and the first
line of the kernel's own error, read from its log.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import KernelError, ZygoteError
# WARM_IMPORTS lives with the zygote, which imports it without importing this module; re-exported here.
from .zygote import (KERNEL_OPTIONS, WARM_IMPORTS, AttachedZygote, Zygote, first_error_line,  # noqa: F401
                     provisioner_for)

#: Seconds allowed for a kernel to start and finish its warm-up imports.
START_TIMEOUT = 120.0

_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)

#: The name of cinb's own kernel (``sys.executable -m ipykernel_launcher``); never looked up on ``JUPYTER_PATH``.
OWN_KERNEL = "cinb-python"
#: How an error names cinb's own kernel, in place of a kernelspec.
OWN_KERNEL_LABEL = "cinb's own interpreter (no kernelspec)"


def own_kernel_spec():
    """The kernelspec of cinb's own kernels, built in memory: ``sys.executable -m ipykernel_launcher -f …``.

    Metadata (display name, CurveZMQ support, protocol version) are the installed ipykernel's own (its
    :func:`ipykernel.kernelspec.get_kernel_dict`); the command always starts the interpreter cinb runs in.

    Returns
    -------
    jupyter_client.kernelspec.KernelSpec
    """
    from jupyter_client.kernelspec import KernelSpec

    try:
        from ipykernel.kernelspec import get_kernel_dict

        spec = dict(get_kernel_dict())
    except Exception:  # no ipykernel here: the kernel will fail to start, and say why
        spec = {"display_name": "Python 3", "language": "python", "metadata": {}}
    spec["argv"] = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", *KERNEL_OPTIONS]
    spec["display_name"] = f"{spec.get('display_name') or 'Python'} (cinb)"
    known = set(KernelSpec.class_trait_names())
    return KernelSpec(resource_dir="", name=OWN_KERNEL, **{k: v for k, v in spec.items() if k in known})


@functools.lru_cache(maxsize=1)
def _spec_manager_class():
    from jupyter_client.kernelspec import KernelSpecManager

    class CinbKernelSpecManager(KernelSpecManager):
        """Kernelspecs as Jupyter finds them, except :data:`OWN_KERNEL`: :func:`own_kernel_spec`."""

        def get_kernel_spec(self, kernel_name):
            """:func:`own_kernel_spec` for :data:`OWN_KERNEL`, else the installed kernelspec ``kernel_name``."""
            if kernel_name == OWN_KERNEL:
                return own_kernel_spec()
            return super().get_kernel_spec(kernel_name)

    return CinbKernelSpecManager


def _describe(km, kernel_name: str | None) -> tuple[str, str]:
    """(kernelspec, interpreter) of the kernel ``km`` starts, as an error names them."""
    if kernel_name is None:
        return OWN_KERNEL_LABEL, sys.executable
    spec = km.kernel_spec  # NoSuchKernel when it is not installed
    label = f"kernelspec {kernel_name!r} ({spec.resource_dir})"
    argv0 = spec.argv[0] if spec.argv else "?"
    if argv0 in {"python", f"python{sys.version_info[0]}", "python%i.%i" % sys.version_info[:2]}:
        return label, sys.executable  # what jupyter_client substitutes for a bare "python"
    return label, shutil.which(argv0) or argv0


def warm_up() -> str:
    """Run inside a new kernel: import :data:`WARM_IMPORTS` and freeze them (:func:`gc.freeze`); return
    ``repr([start, end])`` (epoch seconds).

    The times let the worker split kernel start-up from imports without leaving any name in the user namespace
    (the call is made through ``user_expressions``).
    """
    import gc

    started = time.time()
    for name in WARM_IMPORTS:
        importlib.import_module(name)
    # What is imported lives as long as the kernel: out of the cyclic collector's sight, a full collection (the
    # charts' figures are cyclic garbage) walks the pack's own objects only. Measured: a contract pack's charts
    # 0.15-0.3 s quicker per full collection avoided. The zygote does the same before it forks. No collection
    # first (0.09 s, while `cinb run` waits for this kernel): imports leave little garbage.
    gc.freeze()
    return repr([started, time.time()])


def _kernel_env() -> dict[str, str]:
    env = dict(os.environ)
    # The kernel must import the same cinb as the worker, installed or not.
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if _PACKAGE_PARENT not in parts:
        env["PYTHONPATH"] = os.pathsep.join([_PACKAGE_PARENT, *parts])
    # What Jupyter itself gives a kernel, whatever the caller's shell says, so that `cinb run`, `cinb batch` and a
    # notebook opened in JupyterLab draw the same way.
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # debugpy's frozen-modules note is noise in a batch
    env.pop("JPY_SESSION_NAME", None)
    return env


def _encryption() -> str:
    try:
        import zmq

        return "auto" if zmq.has("curve") else "disabled"
    except Exception:  # pragma: no cover - pyzmq always importable where jupyter_client is
        return "disabled"


@dataclass
class Kernel:
    """One started kernel, used for one pack; see :func:`start_kernel`."""

    km: object  # jupyter_client.AsyncKernelManager
    log_path: Path
    launched: float  # time.time() when the process was launched
    warm: bool
    _client: object | None = None
    _msg_id: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    ready: bool = False
    killed_for_timeout: bool = False
    _log_handle: object | None = None
    _owns_log_dir: bool = False
    forked: bool = False
    kernelspec: str = OWN_KERNEL_LABEL  # what started it, as errors name it
    interpreter: str = field(default_factory=lambda: sys.executable)

    @property
    def pid(self) -> int | None:
        """Process id of the kernel (it leads its own process group), or None before it is launched."""
        provisioner = getattr(self.km, "provisioner", None)
        return getattr(provisioner, "pid", None)

    @property
    def exit_code(self) -> int | None:
        """The kernel process's exit status once it has ended (negative: killed by that signal)."""
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        return None if process is None else process.poll()

    def is_alive(self) -> bool:
        """Whether the kernel process has been launched and has not ended (never blocks)."""
        return self.exit_code is None and getattr(getattr(self.km, "provisioner", None), "process", None) is not None

    def wait_ready(self, timeout: float = START_TIMEOUT) -> dict[str, float]:
        """Block until the kernel has started (and imported :data:`WARM_IMPORTS` if warm); return the timings.

        ``kernel_start``: launch to ready (to the first code run, for a warmed kernel); ``imports``: the warm-up
        imports (0 for a forked kernel: the zygote did them once); ``kernel_wait``: how long this call blocked,
        i.e. the part of start-up that did not overlap with other work.

        Raises
        ------
        KernelError (a PackError)
            When the kernel dies or does not answer within ``timeout`` seconds.
        """
        if self.ready:
            return self.timings
        waited = time.perf_counter()
        deadline = time.monotonic() + timeout
        client = self._client
        try:
            if client is None:  # a cold or forked kernel: wait until it answers
                # A forked kernel notes when it is ready to serve (it may be a spare, ready long ago); then
                # the handshake is left to the notebook client, which makes its own anyway.
                ready = self._ready_mark()
                while ready is None and self.forked and self.is_alive() and time.monotonic() < deadline:
                    time.sleep(0.01)
                    ready = self._ready_mark()
                if ready is None:
                    if not self.is_alive():
                        raise self.failure(f"the kernel exited during start-up (exit status {self.exit_code})")
                    client = self._new_client()
                    try:
                        client.wait_for_ready(timeout=timeout)
                    except Exception as exc:  # "Kernel died before replying to kernel_info", or no answer
                        self._wait_exit(1.0)
                        if self.exit_code is not None:
                            raise self.failure(f"the kernel exited during start-up (exit status {self.exit_code})"
                                               ) from None
                        raise self.failure(f"the kernel did not answer ({exc})") from None
                    ready = self._ready_mark() or time.time()
                self.timings.update(kernel_start=round(max(0.0, ready - self.launched), 3), imports=0.0)
            else:
                reply = None
                while reply is None:
                    if not self.is_alive():
                        raise self.failure(f"the kernel exited during start-up (exit status {self.exit_code})")
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise self.failure(f"the kernel did not start within {timeout:g} s")
                    try:
                        msg = client.get_shell_msg(timeout=min(1.0, left))
                    except Exception:  # queue.Empty: keep polling so that a dead kernel is noticed
                        continue
                    if msg.get("parent_header", {}).get("msg_id") == self._msg_id:
                        reply = msg
                content = reply["content"]
                if content.get("status") != "ok":
                    raise self.failure(f"the warm-up imports failed in the kernel: {content.get('ename')}: "
                                        f"{content.get('evalue')}")
                expr = content.get("user_expressions", {}).get("t", {})
                if expr.get("status") != "ok":
                    raise self.failure(f"the warm-up imports failed in the kernel: {expr.get('ename')}: "
                                        f"{expr.get('evalue')}")
                start, end = ast.literal_eval(ast.literal_eval(expr["data"]["text/plain"]))
                self.timings.update(kernel_start=round(max(0.0, start - self.launched), 3),
                                    imports=round(max(0.0, end - start), 3))
        finally:
            if client is not None:
                with contextlib.suppress(Exception):
                    client.stop_channels()
            self._client = None
        self.timings["kernel_wait"] = round(time.perf_counter() - waited, 3)
        self.ready = True
        return self.timings

    def failure(self, reason: str) -> KernelError:
        """A :class:`KernelError` saying ``reason``, the kernelspec, the interpreter and the kernel's own error.

        The kernel's error is the first meaningful line of its log (:func:`first_error_line`), e.g. ``/usr/bin/
        python3: No module named ipykernel_launcher`` when the interpreter has no ipykernel.
        """
        text = f"{reason} (kernel: {self.kernelspec}; interpreter: {self.interpreter}"
        line = first_error_line(self.read_log(20_000))
        return KernelError(text + (f"; the kernel said: {line})" if line else ")"))

    def _wait_exit(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.exit_code is None and time.monotonic() < deadline:
            time.sleep(0.05)

    def _ready_mark(self) -> float | None:
        try:
            return float(Path(str(self.log_path) + ".ready").read_text()) if self.is_alive() else None
        except (OSError, ValueError):
            return None

    def _new_client(self):
        from jupyter_client import BlockingKernelClient

        # As AsyncKernelManager.client() does, but blocking: the same session (signing key) and curve keys.
        info = dict(self.km.get_connection_info(session=True))
        for key in ("curve_publickey", "curve_secretkey"):
            if isinstance(info.get(key), str):
                info[key] = info[key].encode("ascii")
        client = BlockingKernelClient(**info, connection_file=self.km.connection_file, parent=self.km)
        client.start_channels(hb=False)
        return client

    def kill(self) -> None:
        """Kill the kernel's process group at once (used by the pack timeout); safe from any thread."""
        pid = self.pid
        if not pid:
            return
        with contextlib.suppress(OSError):
            pgid = os.getpgid(pid)
            # The kernel runs in its own session; never signal our own group.
            if pgid == pid and pgid != os.getpgid(0):
                os.killpg(pgid, signal.SIGKILL)
                return
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)

    def read_log(self, limit: int = 200_000) -> str:
        """What the kernel wrote to stdout/stderr (the last ``limit`` characters)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return text[-limit:]

    def shutdown(self, *, keep_log: bool = False) -> None:
        """Kill the kernel, free its resources (connection file, sockets) and delete its log unless asked."""
        from jupyter_core.utils import run_sync

        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.stop_channels()
            self._client = None
        self.kill()
        with contextlib.suppress(Exception):
            run_sync(self.km.shutdown_kernel)(now=True)
        with contextlib.suppress(Exception):
            run_sync(self.km.cleanup_resources)()
        with contextlib.suppress(Exception):
            if getattr(self.km, "_created_context", False):
                self.km.context.destroy(linger=0)
        if self._log_handle is not None:
            with contextlib.suppress(Exception):
                self._log_handle.close()
            self._log_handle = None
        if not keep_log:
            self.discard_log()

    def discard_log(self) -> None:
        """Delete the kernel's log file (and its folder, if it was made for this kernel alone)."""
        with contextlib.suppress(OSError):
            self.log_path.unlink()
        with contextlib.suppress(OSError):
            Path(str(self.log_path) + ".ready").unlink()
        if self._owns_log_dir:
            shutil.rmtree(self.log_path.parent, ignore_errors=True)


def start_kernel(*, warm: bool = True, kernel_name: str | None = None, log_dir: Path | None = None,
                 cwd: Path | None = None, zygote=None) -> Kernel:
    """Launch a new kernel and return at once; with ``warm`` it starts importing :data:`WARM_IMPORTS`.

    The kernel runs in cinb's own interpreter (``sys.executable``, :func:`own_kernel_spec`) unless ``kernel_name``
    names an installed kernelspec, which is then used as Jupyter finds it (``jupyter kernelspec list``). With a
    ``zygote`` (:class:`cinb.zygote.Zygote`, itself running ``sys.executable``) the kernel is forked from it,
    imports already done, instead of started as a new Python; a named kernel is never forked. The kernel's stdout
    and stderr go to a log file in ``log_dir`` (a new temporary folder if not given). Call
    :meth:`Kernel.wait_ready` before use and :meth:`Kernel.shutdown` after.

    Raises
    ------
    ZygoteError (a KernelError)
        With a ``zygote`` that has died or does not answer (the caller may fall back to an ordinary kernel).
    KernelError
        When no kernel ``kernel_name`` is installed or the kernel cannot be launched (e.g. its interpreter does not
        exist); the message names the kernelspec and the interpreter.
    """
    import uuid

    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import NoSuchKernel
    from jupyter_core.utils import run_sync

    if kernel_name is not None:
        zygote = None  # the zygote is cinb's own interpreter; a named kernel is started as its kernelspec says
    owns_dir = log_dir is None
    log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="cinb-kernel-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=log_dir, prefix="kernel-", suffix=".log")
    handle = os.fdopen(fd, "w", encoding="utf-8")
    km = AsyncKernelManager(kernel_name=kernel_name or OWN_KERNEL, kernel_spec_manager=_spec_manager_class()(),
                            transport_encryption=_encryption())
    try:
        try:
            kernelspec, interpreter = _describe(km, kernel_name)
        except NoSuchKernel:
            raise KernelError(f"no kernel named {kernel_name!r} is installed (see `jupyter kernelspec list`; "
                              "without a kernel name, packs run in cinb's own interpreter)") from None
        if zygote is not None:
            km.kernel_id = str(uuid.uuid4())
            km.provisioner = provisioner_for(km, zygote)
            km.cinb_log_path = name
            warm = False  # a forked kernel has the zygote's imports already
            kernelspec = f"{OWN_KERNEL_LABEL}, forked from the kernel zygote"
        launched = time.time()
        try:
            run_sync(km.start_kernel)(stdout=handle, stderr=handle, stdin=None, env=_kernel_env(),
                                      cwd=str(cwd) if cwd else os.getcwd())
        except ZygoteError:
            raise
        except Exception as exc:  # e.g. the kernelspec's interpreter does not exist
            with contextlib.suppress(Exception):
                run_sync(km.cleanup_resources)()
            raise KernelError(f"the kernel could not be launched: {type(exc).__name__}: {exc} (kernel: "
                              f"{kernelspec}; interpreter: {interpreter})") from None
    except Exception:
        handle.close()
        if owns_dir:
            shutil.rmtree(log_dir, ignore_errors=True)
        raise
    kernel = Kernel(km=km, log_path=Path(name), launched=launched, warm=warm, _log_handle=handle,
                    _owns_log_dir=owns_dir, forked=zygote is not None, kernelspec=kernelspec,
                    interpreter=interpreter)
    if warm:
        client = kernel._new_client()
        kernel._client = client
        # Sent now, queued by ZeroMQ until the kernel is listening; silent and without history, so the pack
        # notebook still starts at execution count 1 and nothing is left in the user namespace.
        kernel._msg_id = client.execute("", silent=True, store_history=False,
                                        user_expressions={"t": "__import__('cinb.kernels').kernels.warm_up()"})
    return kernel


_PRESTARTED: list = []  # a warm kernel started by prestart(), until taken


def prestart() -> None:
    """Start a warm kernel now, for the one pack this process will build (``cinb run``): called before the
    command imports the rest of cinb and pandas, so that the kernel's start and imports run meanwhile.
    :func:`take_prestarted` hands it out; one never taken is shut down at exit. A kernel that cannot start is
    left alone here (the pack starts its own and reports why)."""
    import atexit

    try:
        kernel = start_kernel(warm=True)
    except KernelError:
        return
    _PRESTARTED.append(kernel)
    atexit.register(discard_prestarted)


def take_prestarted() -> Kernel | None:
    """The kernel :func:`prestart` started (None if none); it is the caller's from then on."""
    return _PRESTARTED.pop() if _PRESTARTED else None


def discard_prestarted() -> None:
    """Shut down a prestarted kernel nobody took."""
    while _PRESTARTED:
        _PRESTARTED.pop().shutdown()


_PRESTARTED_ZYGOTE: list = []  # a batch's shared zygote started by prestart_zygote(), until taken


def prestart_zygote() -> None:
    """Start the next batch's shared kernel zygote now (:func:`start_shared_zygote`, its log in a new
    ``cinb-batch-*`` folder): called before the batch loads and checks the data (:func:`cinb.pool.prestart`), so
    that the zygote's imports (about 1.3 s of one core) run meanwhile instead of before the first pack.
    :func:`take_prestarted_zygote` hands it to the batch's worker pool; one never taken is ended by
    :func:`discard_prestarted_zygote` (also at exit). Does nothing when one is already waiting; a zygote that
    cannot start is left to the pool, which starts its own or says why."""
    if _PRESTARTED_ZYGOTE:
        return
    import atexit

    log_dir = Path(tempfile.mkdtemp(prefix="cinb-batch-"))
    try:
        zygote = Zygote(_kernel_env(), log_dir / "zygote.log", cwd=os.getcwd(), shared=True)
    except ZygoteError:
        shutil.rmtree(log_dir, ignore_errors=True)
        return
    _PRESTARTED_ZYGOTE.append(zygote)
    atexit.unregister(discard_prestarted_zygote)  # once, however many batches this process runs
    atexit.register(discard_prestarted_zygote)


def take_prestarted_zygote() -> Zygote | None:
    """The zygote :func:`prestart_zygote` started (None if none); it, and the folder of its log
    (``zygote.log_path.parent``), are the caller's from then on."""
    return _PRESTARTED_ZYGOTE.pop() if _PRESTARTED_ZYGOTE else None


def discard_prestarted_zygote() -> None:
    """End a prestarted zygote nobody took (it has forked nothing: killed at once rather than left to finish its
    imports) and remove its log folder."""
    while _PRESTARTED_ZYGOTE:
        zygote = _PRESTARTED_ZYGOTE.pop()
        with contextlib.suppress(OSError):
            zygote.proc.kill()
        zygote.close()
        shutil.rmtree(zygote.log_path.parent, ignore_errors=True)


def start_shared_zygote(log_dir: Path) -> Zygote | None:
    """Start a zygote that several worker processes fork their kernels from (``KernelSupply(fork=True,
    shared_zygote=(zygote.address, str(zygote.log_path), zygote.pid))`` in each): one copy of the notebooks'
    imports for a whole batch. Returns None, having said why, when it cannot be started (workers then start their
    own)."""
    try:
        return Zygote(_kernel_env(), Path(log_dir) / "zygote.log", cwd=os.getcwd(), shared=True)
    except ZygoteError as exc:
        _note(f"each worker will start its own kernel zygote: {exc}")
        return None


class KernelSupply:
    """Kernels for the packs of one worker: one spare is kept warm, and no kernel is ever handed out twice.

    With ``fork`` the kernels are forked from a zygote: the supply's own, or with ``shared_zygote`` (the
    ``(address, log, pid)`` of a zygote from :func:`start_shared_zygote`) the batch's, shared by all its workers.

    Every kernel runs in cinb's own interpreter (forked from a zygote with ``fork``, else started as
    ``sys.executable -m ipykernel_launcher``), unless ``kernel_name`` names an installed kernelspec (then no
    zygote is used).

    Examples
    --------
    >>> supply = KernelSupply()                      # doctest: +SKIP
    >>> kernel = supply.take()                       # doctest: +SKIP
    >>> ... run the pack ...; supply.prepare()       # doctest: +SKIP
    >>> kernel.shutdown(); supply.close()            # doctest: +SKIP
    """

    def __init__(self, *, warm: bool = True, kernel_name: str | None = None, log_dir: Path | None = None,
                 fork: bool = False, shared_zygote: tuple[str, str, int] | None = None):
        self.warm = warm
        self.kernel_name = kernel_name
        self._own_dir = log_dir is None
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="cinb-kernels-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._spare: Kernel | None = None
        self.started = 0
        self.zygote = None
        if fork and kernel_name is None:  # the zygote runs cinb's own interpreter: never for a named kernel
            if shared_zygote is not None:  # (address, log, pid): a zygote the batch started for all its workers
                self.zygote = AttachedZygote(*shared_zygote)
            else:
                self._start_zygote()

    def _start_zygote(self) -> None:
        """Start the zygote that kernels are forked from (imports in the background; see :mod:`cinb.zygote`)."""
        try:
            self.zygote = Zygote(_kernel_env(), self.log_dir / "zygote.log", cwd=os.getcwd())
        except ZygoteError as exc:
            _note(f"kernels will be started one by one: {exc}")
            self.zygote = None

    def prepare(self) -> None:
        """Start the next pack's kernel now, if there is no spare yet (returns without waiting for it)."""
        if self._spare is None:
            self._spare = self._start()

    def take(self) -> Kernel:
        """The spare kernel (started earlier) or, if there is none or it has died, a new one.

        A failing zygote is closed and replaced by ordinary kernels (logged once); launch errors of an ordinary
        kernel propagate as :func:`start_kernel` raises them.
        """
        kernel, self._spare = self._spare, None
        if kernel is not None and not kernel.is_alive():
            kernel.shutdown(keep_log=False)
            kernel = None
        return kernel if kernel is not None else self._start()

    def _start(self) -> Kernel:
        self.started += 1
        if self.zygote is not None:
            try:
                return start_kernel(kernel_name=self.kernel_name, log_dir=self.log_dir, zygote=self.zygote)
            except ZygoteError as exc:  # the zygote failed: carry on with ordinary kernels
                _note(f"the kernel zygote failed ({exc}); kernels will be started one by one from now on")
                self.zygote.close()
                self.zygote = None
        return start_kernel(warm=self.warm, kernel_name=self.kernel_name, log_dir=self.log_dir)

    def close(self) -> None:
        """Shut the spare kernel and the zygote down; remove the log folder this supply created."""
        kernel, self._spare = self._spare, None
        if kernel is not None:
            kernel.shutdown()
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None
        if self._own_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)


def _note(text: str) -> None:
    import logging

    logging.getLogger("cinb.kernels").warning(text)


if __name__ == "__main__":  # pragma: no cover - a quick manual check: python -m cinb.kernels
    k = start_kernel()
    print(k.wait_ready(), file=sys.stderr)
    k.shutdown()
