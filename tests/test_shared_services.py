"""A batch's shared services: one kernel zygote and one PDF printer for all its workers (memory), each with a
fallback when it is gone.

* The shared zygote forks kernels for every process attached to it; when a worker's connection closes, the
  kernels it was still using are killed; a worker that cannot reach the zygote gets a ZygoteError (and its
  KernelSupply then starts ordinary kernels).
* The printer prints for several clients, one at a time, into the files they name; an error is answered to the
  client that asked, as that pack's error; a client whose printer is gone prints with a backend of its own.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from cinb.errors import PackError, ZygoteError

PAGE = ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>t</title></head>"
        "<body><h1>{}</h1></body></html>")


# ----------------------------------------------------------------------------------------------------------------
# Shared zygote


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose (its parent, the zygote, reaps it soon).
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.slow
def test_one_zygote_forks_kernels_for_every_attached_worker_and_they_end_with_it(tmp_path):
    from cinb.kernels import start_shared_zygote
    from cinb.zygote import AttachedZygote

    zygote = start_shared_zygote(tmp_path)
    assert zygote is not None and zygote.address
    a = AttachedZygote(zygote.address, zygote.log_path)
    b = AttachedZygote(zygote.address, zygote.log_path)
    pids = []
    try:
        for i, client in enumerate((a, b)):
            pids.append(client.fork(str(tmp_path / f"kernel-{i}.json"), str(tmp_path / f"k{i}.log"),
                                    dict(os.environ), str(tmp_path)))
        assert len(set(pids)) == 2 and zygote.proc.pid not in pids
        assert all(_parent(pid) == zygote.proc.pid for pid in pids)  # both forked by the one zygote
        assert a.pid is None and a.alive() and b.alive()
        assert a.status(pids[0]) is None and b.status(pids[1]) is None  # running, as each client hears
    finally:
        a.close()
        b.close()
        zygote.close()
    assert all(_wait_gone(pid) for pid in pids)
    assert not Path(zygote.address).exists()  # the socket's private folder is removed


@pytest.mark.slow
def test_a_worker_that_goes_takes_its_running_kernels_with_it(tmp_path):
    """A real kernel forked for one connection is killed when that connection closes; another's is not."""
    from cinb.kernels import start_kernel, start_shared_zygote
    from cinb.zygote import AttachedZygote

    zygote = start_shared_zygote(tmp_path)
    first = AttachedZygote(zygote.address, zygote.log_path)
    second = AttachedZygote(zygote.address, zygote.log_path)
    kernels = []
    try:
        doomed = start_kernel(log_dir=tmp_path / "a", zygote=first)
        kernels.append(doomed)
        kept = start_kernel(log_dir=tmp_path / "b", zygote=second)
        kernels.append(kept)
        doomed.wait_ready()
        kept.wait_ready()
        assert _alive(doomed.pid) and _alive(kept.pid)
        first.close()  # the worker that asked for `doomed` has gone
        assert _wait_gone(doomed.pid)
        time.sleep(0.5)
        assert _alive(kept.pid)
    finally:
        # Shut both down (a dead kernel too): a kernel manager left to the garbage collector can hang the process
        # in pyzmq's Context.term.
        for kernel in kernels:
            kernel.shutdown()
        second.close()
        zygote.close()


def _maps_agg(pid: int) -> bool:
    """Whether process ``pid`` has matplotlib's Agg renderer loaded (the rehearsal draws; the imports do not)."""
    return "_backend_agg" in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc")
def test_the_first_kernels_do_not_wait_for_the_rehearsal_and_later_ones_inherit_it(tmp_path):
    """The zygote forks the kernels asked for as soon as it is ready, rehearses at its first quiet moment, and the
    kernels forked after that start with what the rehearsal loaded."""
    from cinb.kernels import start_shared_zygote
    from cinb.zygote import AttachedZygote

    zygote = start_shared_zygote(tmp_path)
    client = AttachedZygote(zygote.address, zygote.log_path)
    try:
        first = client.fork(str(tmp_path / "k1.json"), str(tmp_path / "k1.log"), dict(os.environ), str(tmp_path))
        assert not _maps_agg(first)  # forked before any rehearsal
        deadline = time.monotonic() + 60
        while not _maps_agg(zygote.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _maps_agg(zygote.pid), "the idle zygote did not rehearse"
        later = client.fork(str(tmp_path / "k2.json"), str(tmp_path / "k2.log"), dict(os.environ), str(tmp_path))
        assert _maps_agg(later)
    finally:
        client.close()
        zygote.close()


def test_a_worker_that_cannot_reach_the_zygote_is_told(tmp_path, monkeypatch):
    import cinb.zygote
    from cinb.zygote import AttachedZygote

    monkeypatch.setattr(cinb.zygote, "READY_TIMEOUT", 0.3)
    lost = AttachedZygote(str(tmp_path / "no-such-socket"), tmp_path / "zygote.log")
    with pytest.raises(ZygoteError, match="did not answer within 0.3 s"):
        lost.fork("unused.json", os.devnull, dict(os.environ), str(tmp_path))
    assert not lost.alive()
    with pytest.raises(ZygoteError, match="has gone"):
        lost.status(1)


def test_a_shared_zygote_that_cannot_start_is_noticed_at_once_and_says_why(tmp_path):
    """Its imports fail: an attached worker hears why within seconds, not after READY_TIMEOUT."""
    from cinb.zygote import AttachedZygote, Zygote

    broken = tmp_path / "site" / "cinb"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('this cinb is broken')\n")
    env = {**os.environ, "PYTHONPATH": str(broken.parent)}
    zygote = Zygote(env, tmp_path / "zygote.log", cwd=str(tmp_path), shared=True)
    client = AttachedZygote(zygote.address, zygote.log_path, zygote.pid)
    started = time.monotonic()
    try:
        with pytest.raises(ZygoteError, match="has gone: ImportError: this cinb is broken"):
            client.fork("unused.json", os.devnull, env, str(tmp_path))
    finally:
        client.close()
        zygote.close()
    assert time.monotonic() - started < 30


def test_a_kernel_supply_whose_shared_zygote_is_gone_starts_ordinary_kernels(tmp_path, monkeypatch):
    import cinb.zygote
    from cinb.kernels import KernelSupply

    monkeypatch.setattr(cinb.zygote, "READY_TIMEOUT", 0.3)
    supply = KernelSupply(fork=True, log_dir=tmp_path,
                          shared_zygote=(str(tmp_path / "gone"), str(tmp_path / "z.log"), None))
    try:
        kernel = supply.take()
        try:
            kernel.wait_ready()
            assert supply.zygote is None and not kernel.forked
        finally:
            kernel.shutdown()
    finally:
        supply.close()


# ----------------------------------------------------------------------------------------------------------------
# Shared printer


class _FakeBackend:
    """Stands in for Chromium in the printer: writes a marker "PDF"; fails for a page that asks it to."""

    name = "fake"
    made = 0

    def __init__(self):
        type(self).made += 1

    def write_pdf(self, html: str, target: Path) -> None:
        if "FAIL" in html:
            raise RuntimeError("the page asked to fail")
        Path(target).write_text(f"%PDF-fake {os.getpid()} {html.count('<h1>')}")

    def close(self):
        pass


@pytest.fixture
def printer():
    """The batch's printer with a fake backend, in a forked process (which sees the fake in BACKENDS)."""
    import cinb.pdf
    from cinb.printer import PrintService

    cinb.pdf.BACKENDS["fake"] = _FakeBackend
    service = PrintService(mp.get_context("fork"), "fake")
    yield service
    service.close()
    cinb.pdf.BACKENDS.pop("fake", None)
    assert not os.path.exists(service.address)


def test_one_printer_prints_for_several_clients_in_its_own_process(printer, tmp_path):
    from cinb.printer import PrinterClient

    clients = [PrinterClient(*printer.endpoint, "fake", fallback=_FakeBackend) for _ in range(2)]
    results = {}

    def work(i, client):
        for j in range(3):
            target = tmp_path / f"c{i}-{j}.pdf"
            client.write_pdf(PAGE.format(f"pack {i}-{j}"), target)
            results[target] = target.read_text()

    threads = [threading.Thread(target=work, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 6
    printers = {text.split()[1] for text in results.values()}
    assert printers == {str(printer.process.pid)}  # every PDF came from the one printer process
    assert all(c._local is None for c in clients)  # nobody needed a browser of their own


def test_a_failed_print_is_that_packs_error_and_the_next_pack_prints(printer, tmp_path):
    from cinb.pdf import render_pdf
    from cinb.printer import PrinterClient

    client = PrinterClient(*printer.endpoint, "fake", fallback=_FakeBackend)
    with pytest.raises(PackError, match=r"Could not write the PDF .*bad\.pdf with the fake backend: "
                                        r"RuntimeError: the page asked to fail"):
        render_pdf(PAGE.format("FAIL"), tmp_path / "bad.pdf", backend=client)
    assert not (tmp_path / "bad.pdf").exists()
    render_pdf(PAGE.format("fine"), tmp_path / "good.pdf", backend=client)
    assert (tmp_path / "good.pdf").read_text().startswith("%PDF-fake")


def test_a_client_whose_printer_is_gone_prints_with_its_own_backend(printer, tmp_path):
    from cinb.printer import PrinterClient

    client = PrinterClient(*printer.endpoint, "fake", fallback=_FakeBackend)
    client.write_pdf(PAGE.format("one"), tmp_path / "one.pdf")
    os.kill(printer.process.pid, signal.SIGKILL)
    printer.process.join(10)
    client.write_pdf(PAGE.format("two"), tmp_path / "two.pdf")
    assert client._local is not None
    assert (tmp_path / "two.pdf").read_text().split()[1] == str(os.getpid())  # printed here, not by the printer


def test_a_client_with_the_wrong_key_is_refused(printer, tmp_path):
    from cinb.printer import PrinterClient

    made = _FakeBackend.made
    stranger = PrinterClient(printer.address, b"not the key", "fake", fallback=_FakeBackend)
    stranger.write_pdf(PAGE.format("x"), tmp_path / "x.pdf")  # refused: falls back to its own backend
    assert stranger._local is not None and _FakeBackend.made == made + 1


# ----------------------------------------------------------------------------------------------------------------
# cinb run's early kernel


@pytest.mark.slow
def test_a_prestarted_kernel_is_taken_once_and_one_never_taken_is_shut_down():
    from cinb import kernels

    kernels.discard_prestarted()  # none left by an earlier test of this process
    kernels.prestart()
    kernel = kernels.take_prestarted()
    try:
        assert kernel is not None and kernels.take_prestarted() is None
        kernel.wait_ready()
        assert kernel.is_alive()
    finally:
        kernel.shutdown()
    kernels.prestart()
    spare = kernels._PRESTARTED[0]
    kernels.discard_prestarted()
    assert kernels.take_prestarted() is None and not spare.is_alive()


@pytest.mark.slow
def test_a_prestarted_zygote_is_taken_once_and_one_never_taken_ends_at_once():
    """cinb batch starts its kernels' zygote before loading the data; the pool takes it, or it is killed."""
    from cinb import kernels

    kernels.discard_prestarted_zygote()  # none left by an earlier test of this process
    kernels.prestart_zygote()
    kernels.prestart_zygote()  # a second call while one waits starts nothing more
    assert len(kernels._PRESTARTED_ZYGOTE) == 1
    zygote = kernels.take_prestarted_zygote()
    try:
        assert zygote is not None and kernels.take_prestarted_zygote() is None
        assert zygote.address and zygote.log_path.parent.name.startswith("cinb-batch-")
        zygote._wait_ready()  # it imports and serves
        assert zygote.alive()
    finally:
        zygote.close()
    # One never taken (the batch stopped at a usage or data error) ends without waiting for its imports.
    kernels.prestart_zygote()
    spare = kernels._PRESTARTED_ZYGOTE[0]
    started = time.monotonic()
    kernels.discard_prestarted_zygote()
    assert time.monotonic() - started < 1.5
    assert not spare.alive() and not spare.log_path.parent.exists()
    assert kernels.take_prestarted_zygote() is None


def test_a_month_that_stops_before_its_packs_leaves_no_prestarted_zygote(tmp_path, monkeypatch):
    from cinb import api, kernels
    from cinb.errors import UsageError

    fake = _FakeZygote()
    monkeypatch.setattr(kernels, "prestart_zygote", lambda: kernels._PRESTARTED_ZYGOTE.append(fake))
    monkeypatch.setattr("multiprocessing.forkserver.ensure_running", lambda: None)
    with pytest.raises(UsageError):
        api.run_month("2026-10", contracts=["NO-SUCH-CONTRACT"], out=tmp_path / "reports")
    assert fake.ended and not kernels._PRESTARTED_ZYGOTE


class _FakeZygote:
    """Stands for a prestarted zygote: records being ended."""

    def __init__(self):
        self.log_path = Path("/nonexistent/cinb-batch-x/zygote.log")
        self.proc = self
        self.ended = False

    def kill(self):
        self.ended = True

    def close(self):
        self.ended = True


def test_papermill_writes_nothing_for_a_notebook_without_an_output_path(tmp_path):
    """cinb runs notebooks with no output path: papermill's final write must not serialise them for nothing."""
    import nbformat
    import papermill.execute as pm_execute

    from cinb.execute import _register_engine

    _register_engine()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    nb.cells[0]["source"] = object()  # would fail to serialise, were it serialised
    pm_execute.write_ipynb(nb, None)
    good = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    pm_execute.write_ipynb(good, str(tmp_path / "out.ipynb"))  # a real path is written as before
    assert nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[0].source == "1"


def test_a_new_client_of_a_dead_printer_prints_alone_after_the_grace(printer, tmp_path, monkeypatch):
    import cinb.printer
    from cinb.printer import PrinterClient

    monkeypatch.setattr(cinb.printer, "CONNECT_GRACE", 0.3)
    os.kill(printer.process.pid, signal.SIGKILL)
    printer.process.join(10)
    late = PrinterClient(*printer.endpoint, "fake", fallback=_FakeBackend)
    started = time.monotonic()
    late.write_pdf(PAGE.format("late"), tmp_path / "late.pdf")
    assert late._local is not None and time.monotonic() - started < 5
    assert (tmp_path / "late.pdf").read_text().split()[1] == str(os.getpid())
