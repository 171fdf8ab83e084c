"""The monthly batch: failure isolation, incremental reruns, the lock, the index, layered parameters, Dask.

The tests that build real packs (marked slow) use two or three sample contracts and HTML only; the others fake
the notebook run or exercise the parts alone, so they take well under a second each.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from cinb import pack as pack_module
from cinb.batch import BatchResult, plan, run_batch, unchanged
from cinb.cli import main
from cinb.config import SAMPLE_DIR, notebook_dir
from cinb.errors import PackError
from cinb.execute import PACK_MIMETYPE
from cinb.fingerprint import data_fingerprint, input_hash
from cinb.index import render_index
from cinb.lock import LOCK_NAME, LockedError, PeriodLock
from cinb.manifest import verify_manifest
from cinb.pack import PackResult, PackSpec, build_pack
from cinb.progress import Progress

ROOT = Path(__file__).resolve().parent.parent
PERIOD = "2026-10"

# The contract notebook, with a cell after the parameters that misbehaves for three contracts.
FAULT_CELL = """\
import os, signal, time
if contract_id == "NB-HOST-002":
    raise RuntimeError("forced failure for the batch tests")
if contract_id == "NB-NET-003":
    os.kill(os.getpid(), signal.SIGKILL)
if contract_id == "NB-SAAS-004":
    time.sleep(600)
if contract_id == "NB-WEB-009":
    os.kill(int(os.environ["CINB_WORKER_PID"]), signal.SIGKILL)  # the worker process building the pack
"""


def _figures(path: Path) -> dict:
    """pack.json without what legitimately differs between runs (when, how, by which process)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    data.pop("reproducibility", None)
    return data


@pytest.fixture(scope="module")
def fault_notebooks(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("notebooks")
    for nb_path in notebook_dir().glob("*.ipynb"):
        shutil.copy(nb_path, folder / nb_path.name)
    target = folder / "contract_review.ipynb"
    nb = nbformat.read(target, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(FAULT_CELL, metadata={"tags": ["remove"]}))
    nbformat.write(nb, target)
    return folder


@pytest.fixture(scope="module")
def data_copy(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    for csv in SAMPLE_DIR.glob("*.csv"):
        shutil.copy(csv, folder / csv.name)
    return folder


def _load(folder):
    from cinb.load import load_portfolio

    return load_portfolio(folder)


def _restate(folder: Path, value: str = "95.0") -> None:
    """A supplier restates NB-HOST-002's October PATCH figure (a revision 2 row at the end of the file)."""
    with open(folder / "measurements.csv", "a", encoding="utf-8") as fh:
        fh.write(f"NB-HOST-002,PATCH,2026-10,{value},2026-11-20,2,restated\n")


# ---------------------------------------------------------------------------------------------------------------
# Parts alone (fast)
# ---------------------------------------------------------------------------------------------------------------

def _result(key, status, seconds=1.0, error=None):
    return PackResult(key=key, kind="contract", subject=key, status=status, seconds=seconds, error=error)


def test_progress_writes_plain_lines_when_not_on_a_terminal():
    out = io.StringIO()
    p = Progress(3, stream=out)
    p.update(_result("A", "ok", 2.0))
    p.update(_result("B", "failed", error="boom"))
    p.update(_result("C", "skipped"))
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in out.getvalue()
    assert lines[0].startswith("[1/3] ok") and "A" in lines[0] and "2.0 s" in lines[0]
    assert "[2/3] failed" in lines[1] and "boom" in lines[1]
    assert "[3/3] skipped" in lines[2] and "unchanged" in lines[2]


def test_progress_draws_a_bar_on_a_terminal_with_counts_and_estimate():
    out = io.StringIO()
    p = Progress(4, stream=out, tty=True)
    p.update(_result("A", "skipped"))
    assert p.estimate() is None  # nothing built yet: no pace to go by
    time.sleep(0.05)
    p.update(_result("B", "ok"))
    p.update(_result("C", "failed", error="kernel died"))
    text = out.getvalue()
    assert "\r[" in text
    bar = p.bar_text(120)
    assert "3/4" in bar and "built 1" in bar and "failed 1" in bar and "skipped 1" in bar
    assert "elapsed" in bar and "left" in bar and p.estimate() is not None
    assert "FAILED C: kernel died\n" in text  # a failure is printed on its own line, not only counted
    p.close()
    assert out.getvalue().endswith("\n")


def test_a_held_lock_names_the_lock_and_the_process(tmp_path, capsys):
    folder = tmp_path / PERIOD
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from cinb.lock import PeriodLock; "
         f"l = PeriodLock(Path({str(folder)!r}), command='cinb batch').acquire(); print('held', flush=True); "
         "sys.stdin.read()"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code = main(["batch", "--period", PERIOD, "--out", str(tmp_path), "--contracts", "NB-SD-001",
                     "--kinds", "contract", "--format", "html"])
        err = capsys.readouterr().err
        assert code == 2
        assert str(folder / LOCK_NAME) in err and f"process {holder.pid}" in err and "Traceback" not in err
        assert not (folder / "NB-SD-001").exists()
    finally:
        holder.stdin.close()
        holder.wait(10)


def test_the_lock_of_a_killed_batch_is_taken_over(tmp_path):
    folder = tmp_path / PERIOD
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from pathlib import Path; from cinb.lock import PeriodLock; "
         f"PeriodLock(Path({str(folder)!r}), command='cinb batch').acquire(); print('held', flush=True); "
         "time.sleep(600)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(LockedError):
        PeriodLock(folder).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    assert (folder / LOCK_NAME).exists()  # left behind by the killed process
    with PeriodLock(folder) as lock:
        assert lock.took_over["pid"] == holder.pid
        assert json.loads((folder / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert not (folder / LOCK_NAME).exists()


def test_a_contract_pack_hashes_only_its_own_rows(tmp_path, data_copy):
    folder = tmp_path / "data"
    shutil.copytree(data_copy, folder)
    before = _load(folder)
    _restate(folder)
    after = _load(folder)
    spec = lambda kind, subject: PackSpec(kind, subject, PERIOD, {})  # noqa: E731
    assert data_fingerprint(spec("contract", "NB-SD-001"), before) == \
        data_fingerprint(spec("contract", "NB-SD-001"), after)
    assert data_fingerprint(spec("contract", "NB-HOST-002"), before) != \
        data_fingerprint(spec("contract", "NB-HOST-002"), after)
    # NB-HOST-002 is Kestrel's: Kestrel's scorecard and the portfolio change, Meridian's does not.
    assert data_fingerprint(spec("supplier", "Kestrel Cloud Hosting Ltd"), before) != \
        data_fingerprint(spec("supplier", "Kestrel Cloud Hosting Ltd"), after)
    assert data_fingerprint(spec("supplier", "Meridian Service Desk Ltd"), before) == \
        data_fingerprint(spec("supplier", "Meridian Service Desk Ltd"), after)
    assert data_fingerprint(spec("portfolio", None), before) != data_fingerprint(spec("portfolio", None), after)


def test_the_input_hash_follows_parameters_notebook_and_formats(tmp_path, sample_portfolio):
    nb = tmp_path / "contract_review.ipynb"
    shutil.copy(notebook_dir() / "contract_review.ipynb", nb)
    base = PackSpec("contract", "NB-SD-001", PERIOD, {"audience": "internal", "window_months": 12,
                                                      "_settings": {"jobs": 2}})

    def h(spec=base, formats=("html", "pdf"), backend="weasyprint"):
        return input_hash(spec, sample_portfolio, notebook=nb, formats=formats, pdf_backend=backend)

    first = h()
    assert h() == first and len(first) == 64
    # Settings that do not change the pack (workers, timeout) do not change the hash.
    assert h(PackSpec("contract", "NB-SD-001", PERIOD, {"audience": "internal", "window_months": 12,
                                                        "_settings": {"jobs": 8}})) == first
    assert h(PackSpec("contract", "NB-SD-001", PERIOD, {"audience": "internal", "window_months": 6})) != first
    assert h(PackSpec("contract", "NB-SD-001", "2026-09", base.parameters)) != first
    assert h(formats=("html",)) != first
    assert h(backend="chromium") != first
    assert h(formats=("html",), backend="chromium") == h(formats=("html",))  # no PDF: backend irrelevant
    nb.write_text(nb.read_text(encoding="utf-8").replace("Contract review pack", "Contract review pack!"),
                  encoding="utf-8")
    assert h() != first



def test_the_input_hash_follows_the_kpi_definitions_file(tmp_path, sample_portfolio):
    """Editing derive.yml beside the data (or the file named by ``definitions``) rebuilds the packs that print it."""
    nb = tmp_path / "contract_review.ipynb"
    shutil.copy(notebook_dir() / "contract_review.ipynb", nb)
    data = tmp_path / "data"
    data.mkdir()

    def h(**parameters):
        spec = PackSpec("contract", "NB-SD-001", PERIOD, {"audience": "internal", "data": str(data), **parameters})
        return input_hash(spec, sample_portfolio, notebook=nb, formats=("html",), pdf_backend="weasyprint")

    without = h()
    (data / "derive.yml").write_text("kpis: []\n", encoding="utf-8")
    beside = h()
    assert beside != without
    (data / "derive.yml").write_text("kpis: []  # edited\n", encoding="utf-8")
    assert h() != beside
    named = tmp_path / "other.yml"
    named.write_text("kpis: []\n", encoding="utf-8")
    assert h(definitions=str(named)) not in (beside, without)

class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_the_index_page_is_accessible_self_contained_and_escapes_data():
    manifest = {"period": PERIOD, "packs": [
        {"key": "NB-SD-001", "kind": "contract", "subject": "NB-SD-001", "status": "ok", "seconds": 3.2,
         "files": {"html": "NB-SD-001/review.html", "pdf": "NB-SD-001/review.pdf", "json": "NB-SD-001/pack.json"},
         "headline": {"overall": "Good", "score": 81.25, "ratings": {"Good": 4, "Approaching target": 1},
                      "supplier": "Meridian <Service> Desk"}},
        {"key": "C 7&x", "kind": "contract", "subject": "C 7&x", "status": "failed", "failure": "_failed/C 7&x",
         "error": "<script>alert(1)</script> raised"},
        {"key": "portfolio", "kind": "portfolio", "subject": None, "status": "skipped",
         "files": {"html": "portfolio/review.html"}, "headline": {"contracts": 12, "ratings": {"Good": 30}}},
    ]}
    page = render_index(manifest)
    parsed = _Page()
    parsed.feed(page)
    html_tag = dict(parsed.attrs)["html"]
    assert html_tag["lang"] == "en-GB"
    assert parsed.tags.count("h1") == 1 and "title" in parsed.tags and "caption" in parsed.tags
    assert "script" not in parsed.tags and "link" not in parsed.tags
    headers = [a for t, a in parsed.attrs if t == "th"]
    assert sum(a.get("scope") == "col" for a in headers) == 7
    assert sum(a.get("scope") == "row" for a in headers) == 3  # one row header per pack
    text = " ".join(parsed.text)
    for word in ("Built", "Failed", "Unchanged"):  # status in words, not colour alone
        assert word in text
    assert "<script>alert(1)</script> raised" in text and "<script>alert" not in page  # shown, escaped
    assert "Meridian <Service> Desk" in text and "81.2" in text and "4 Good" in text
    hrefs = [a["href"] for t, a in parsed.attrs if t == "a"]
    assert "NB-SD-001/review.pdf" in hrefs and "_failed/C%207%26x/error.txt" in hrefs
    assert all("://" not in h and not h.startswith("/") for h in hrefs)  # relative links only


def test_parameters_are_layered_defaults_files_config_command_line(tmp_path, monkeypatch, capsys):
    params_dir = tmp_path / "parameters"
    params_dir.mkdir()
    (params_dir / "borough.yml").write_text("marking: OFFICIAL-SENSITIVE\nwindow_months: 6\nratchet_months: 9\n")
    config = tmp_path / "october.yml"
    config.write_text("period: 2026-10\ncontracts: [NB-SD-001]\nkinds: contract\nwindow_months: 9\n"
                      "formats: html\nmarking: FROM-CONFIG\n")
    monkeypatch.setenv("CINB_PARAMETERS", str(params_dir))
    seen = {}

    def fake_run_batch(specs, out, **kw):
        seen.update(specs=specs, out=out, **kw)
        return BatchResult(PERIOD, Path(out), [_result(s.key, "ok") for s in specs], 0.1)

    monkeypatch.setattr("cinb.batch.run_batch", fake_run_batch)
    code = main(["batch", "--config", str(config), "--marking", "FROM-CLI", "--out", str(tmp_path / "r")])
    assert code == 0, capsys.readouterr().err
    (spec,) = seen["specs"]
    assert spec.key == "NB-SD-001" and spec.period == "2026-10" and seen["formats"] == ("html",)
    p = spec.parameters
    assert p["marking"] == "FROM-CLI"        # command line beats the config file
    assert p["window_months"] == 9           # the config file beats parameters/
    assert p["ratchet_months"] == 9          # parameters/ beats the package default (12)
    assert p["ratchet_share"] == 0.5         # package default
    assert p["_parameter_files"] == [str(params_dir / "borough.yml"), str(config)]
    assert p["_settings"]["formats"] == ["html"] and p["_settings"]["window_months"] == 9
    assert seen["run_info"]["parameter_files"] == p["_parameter_files"]


@pytest.mark.parametrize("available", [True, False])
def test_pdf_backend_is_chosen_once_and_recorded(tmp_path, monkeypatch, capsys, available):
    monkeypatch.setenv("CINB_PARAMETERS", str(tmp_path / "none"))
    monkeypatch.setattr("cinb.pdf.chromium_available", lambda: available)  # resolve_backend lives in cinb.pdf
    seen = {}

    def fake_run_batch(specs, out, **kw):
        seen.update(specs=specs, **kw)
        return BatchResult(PERIOD, Path(out), [_result(s.key, "ok") for s in specs], 0.1)

    monkeypatch.setattr("cinb.batch.run_batch", fake_run_batch)
    argv = ["batch", "--period", PERIOD, "--contracts", "NB-SD-001", "--kinds", "contract", "--out",
            str(tmp_path / "r")]
    assert main(argv) == 0, capsys.readouterr().err
    expected = "chromium" if available else "weasyprint"  # auto: Chromium when it is installed
    assert seen["pdf_backend"] == expected
    assert seen["specs"][0].parameters["_settings"]["pdf_backend"] == expected  # what the pack records
    config = tmp_path / "weasy.yml"
    config.write_text("pdf_backend: weasyprint\n")
    assert main([*argv, "--config", str(config)]) == 0
    assert seen["pdf_backend"] == "weasyprint"  # the config file beats the default
    assert main([*argv, "--config", str(config), "--pdf-backend", "chromium"]) == 0
    assert seen["pdf_backend"] == "chromium"  # the command line beats the config file


def test_a_config_file_with_an_unknown_key_is_a_usage_error(tmp_path, capsys):
    config = tmp_path / "bad.yml"
    config.write_text("period: 2026-10\nwindow_month: 6\n")
    assert main(["batch", "--config", str(config), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "window_month" in err and "window_months" in err and str(config) in err


def test_batch_needs_a_period(tmp_path, capsys):
    assert main(["batch", "--out", str(tmp_path)]) == 2
    assert "--period" in capsys.readouterr().err


def _fake_notebook(title="T"):
    payload = {"headline": {"overall": "Good"}, "render": {"title": title}, "figure": 42}
    cell = nbformat.v4.new_code_cell("show()")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": "## Summary\nAll good."}),
                    nbformat.v4.new_output("display_data", data={PACK_MIMETYPE: payload, "text/plain": "x"})]
    return nbformat.v4.new_notebook(cells=[cell])


def test_a_pack_whose_pdf_fails_publishes_nothing_and_withdraws_the_old_one(tmp_path, monkeypatch):
    monkeypatch.setattr(pack_module, "execute", lambda *a, **k: _fake_notebook())
    spec = PackSpec("contract", "NB-SD-001", PERIOD, {"audience": "internal"}, input_hash="h1")
    good = build_pack(spec, tmp_path, formats=("html", "pdf"))
    folder = tmp_path / PERIOD / "NB-SD-001"
    assert good.status == "ok", good.error
    assert sorted(p.name for p in folder.iterdir()) == ["pack.json", "review.html", "review.ipynb", "review.pdf"]
    assert json.loads((folder / "pack.json").read_text())["figure"] == 42

    def broken_pdf(*args, **kwargs):
        raise PackError("the PDF backend fell over")

    monkeypatch.setattr("cinb.render.render_pdf", broken_pdf)
    bad = build_pack(spec, tmp_path, formats=("html", "pdf"))
    assert bad.status == "failed" and "fell over" in bad.error
    assert not folder.exists()  # the HTML rendered before the PDF failed was never published; the old set is gone
    failed = tmp_path / PERIOD / "_failed" / "NB-SD-001"
    assert "fell over" in (failed / "error.txt").read_text()
    assert not list((tmp_path / PERIOD).glob(".staging/*"))
    assert bad.failure == "_failed/NB-SD-001"

    monkeypatch.undo()
    monkeypatch.setattr(pack_module, "execute", lambda *a, **k: _fake_notebook())
    again = build_pack(spec, tmp_path, formats=("html",))
    assert again.status == "ok" and not failed.exists()  # a later success clears the old diagnostics
    assert sorted(p.name for p in folder.iterdir()) == ["pack.json", "review.html", "review.ipynb"]


def test_verify_manifest_finds_files_that_do_not_match(tmp_path, monkeypatch):
    from cinb.manifest import Manifest

    monkeypatch.setattr(pack_module, "execute", lambda *a, **k: _fake_notebook())
    month = tmp_path / PERIOD
    results = [build_pack(PackSpec("contract", c, PERIOD, {}), tmp_path, formats=("html",)) for c in ("A", "B")]
    Manifest(month).record(results)
    assert verify_manifest(month) == []
    assert (month / "index.html").exists()
    (month / "A" / "review.html").write_text("edited")
    (month / "B" / "pack.json").unlink()
    stray = build_pack(PackSpec("contract", "C", PERIOD, {}), tmp_path, formats=("html",))  # not recorded
    assert stray.status == "ok"
    problems = verify_manifest(month)
    assert any("A/review.html does not match" in p for p in problems)
    assert any("B/pack.json is listed but missing" in p for p in problems)
    assert any("C/pack.json is published but not in the manifest" in p for p in problems)


def test_a_pack_id_cannot_leave_the_output_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(pack_module, "execute", lambda *a, **k: _fake_notebook())
    result = build_pack(PackSpec("contract", "../../escape", PERIOD, {}), tmp_path / "reports", formats=("html",))
    assert result.status == "failed" and "would leave the output folder" in result.error
    assert not (tmp_path / "escape").exists() and not (tmp_path / "reports" / "escape").exists()


def test_unchanged_needs_the_same_inputs_and_intact_files(tmp_path):
    folder = tmp_path / "A"
    folder.mkdir()
    (folder / "review.html").write_text("<p>pack</p>")
    from cinb.files import sha256_file as file_sha256

    entry = {"status": "ok", "input_hash": "h", "files": {"html": "A/review.html"},
             "hashes": {"html": file_sha256(folder / "review.html")}}
    spec = PackSpec("contract", "A", PERIOD, {}, input_hash="h")
    assert unchanged(spec, entry, tmp_path)
    assert not unchanged(PackSpec("contract", "A", PERIOD, {}, input_hash="other"), entry, tmp_path)
    assert not unchanged(spec, dict(entry, status="failed"), tmp_path)
    (folder / "review.html").write_text("<p>edited by hand</p>")
    assert not unchanged(spec, entry, tmp_path)
    (folder / "review.html").unlink()
    assert not unchanged(spec, entry, tmp_path)


# ---------------------------------------------------------------------------------------------------------------
# Real packs (slow)
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_failing_packs_are_isolated_reported_and_never_published(tmp_path, fault_notebooks):
    """One pack raises, one kills its kernel, one runs past --timeout, one kills its worker process (twice: it
    is retried once in a new worker); the two others complete."""
    good, bad = ["NB-SD-001", "NB-SAAS-005"], ["NB-HOST-002", "NB-NET-003", "NB-SAAS-004", "NB-WEB-009"]
    env = dict(os.environ, CINB_NOTEBOOKS=str(fault_notebooks), PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "cinb.cli", "batch", "--period", PERIOD, "--out", str(tmp_path), "--kinds",
         "contract", "--format", "html", "--timeout", "25", "--jobs", "2", "--contracts", *good, *bad],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 1, proc.stderr
    # Nothing from kernels, papermill or the notebooks reaches the terminal: one progress line per pack (not a
    # terminal, so no bar), then one line per failure.
    lines = proc.stderr.splitlines()
    assert len(lines) == 10, proc.stderr
    assert all(re.match(r"\[\d/6\] (ok|failed) ", line) for line in lines[:6]), proc.stderr
    assert all(line.startswith("  FAILED ") for line in lines[6:]), proc.stderr
    assert "IPKernelApp" not in proc.stderr and "Traceback" not in proc.stderr
    month = tmp_path / PERIOD
    manifest = json.loads((month / "manifest.json").read_text())
    by_key = {p["key"]: p for p in manifest["packs"]}
    assert {k: by_key[k]["status"] for k in good + bad} == {**dict.fromkeys(good, "ok"),
                                                          **dict.fromkeys(bad, "failed")}
    reasons = {k: by_key[k]["error"] for k in bad}
    assert "RuntimeError: forced failure" in reasons["NB-HOST-002"]
    assert "killed by SIGKILL" in reasons["NB-NET-003"]
    assert "timed out" in reasons["NB-SAAS-004"] and "25 s" in reasons["NB-SAAS-004"]
    assert "worker process" in reasons["NB-WEB-009"] and "SIGKILL, 2 times" in reasons["NB-WEB-009"]
    assert (month / "_failed" / "NB-WEB-009" / "error.txt").exists()
    for key in bad[:3]:
        assert key in proc.stderr and reasons[key] in proc.stderr  # each failure is printed with its reason
        assert not (month / key).exists()  # nothing published
        assert (month / "_failed" / key / "error.txt").read_text().strip() == reasons[key]
        assert (month / "_failed" / key / "review.ipynb").exists()  # the executed notebook, for diagnosis
    assert not (month / "NB-WEB-009").exists() and reasons["NB-WEB-009"] in proc.stderr
    for key in good:
        assert (month / key / "review.html").exists() and (month / key / "pack.json").exists()
    # The summary table counts them.
    assert "failed" in proc.stdout and any(line.split()[:4] == ["contract", "2", "0", "4"]
                                           for line in proc.stdout.splitlines())
    index = (month / "index.html").read_text()
    assert index.count("Failed</span>") == 4 and index.count("Built</span>") == 2
    assert not list(month.glob(".staging/*")) and not (month / LOCK_NAME).exists()
    assert verify_manifest(month) == []  # the manifest matches the files, byte for byte


@pytest.mark.slow
def test_workers_are_replaced_after_their_share_of_packs(tmp_path):
    """A tiny notebook reports the worker that ran it: with one pack per worker, each pack had its own."""
    from cinb.pool import run_pool

    folder = tmp_path / "notebooks"
    folder.mkdir()
    cells = [nbformat.v4.new_code_cell('contract_id = "X"\nperiod = "2026-10"', metadata={"tags": ["parameters"]}),
             nbformat.v4.new_code_cell(
                 "import os\nfrom IPython.display import display\n"
                 f"display({{{PACK_MIMETYPE!r}: {{'headline': {{'worker': os.environ['CINB_WORKER_PID']}}, "
                 "'render': {'title': contract_id}}}, raw=True)")]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "contract_review.ipynb")
    specs = [PackSpec("contract", c, PERIOD, {}) for c in ("A", "B", "C")]
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    results = list(run_pool(specs, jobs=1, out_root=tmp_path / "out", formats=("html",), timeout=60,
                            pdf_backend="weasyprint", notebooks=folder, log_dir=log_dir, packs_per_worker=1))
    assert [r.status for r in results] == ["ok"] * 3, [r.error for r in results]
    workers = [r.headline["worker"] for r in results]
    assert len(set(workers)) == 3


@pytest.fixture(scope="module")
def built(tmp_path_factory, data_copy):
    """Two real contract packs (HTML) built by the batch from a copy of the sample data."""
    out = tmp_path_factory.mktemp("reports")
    portfolio = _load(data_copy)
    specs = plan(portfolio, PERIOD, {"audience": "internal", "data": str(data_copy)}, ["NB-SD-001", "NB-HOST-002"],
                 kinds=("contract",), formats=("html",))
    batch = run_batch(specs, out, jobs=2, formats=("html",), log=lambda msg: None)
    assert [r.status for r in batch.results] == ["ok", "ok"], [r.error for r in batch.results]
    month = out / PERIOD
    return {"out": out, "month": month, "specs": specs,
            "figures": {k: _figures(month / k / "pack.json") for k in ("NB-SD-001", "NB-HOST-002")},
            "mtimes": {k: (month / k / "review.html").stat().st_mtime_ns for k in ("NB-SD-001", "NB-HOST-002")}}


@pytest.mark.slow
def test_a_rerun_skips_unchanged_packs(built):
    started = time.perf_counter()
    batch = run_batch(built["specs"], built["out"], jobs=2, formats=("html",), log=lambda msg: None)
    assert [r.status for r in batch.results] == ["skipped", "skipped"]
    assert time.perf_counter() - started < 10  # no kernel was started
    for key, mtime in built["mtimes"].items():
        assert (built["month"] / key / "review.html").stat().st_mtime_ns == mtime
    manifest = json.loads((built["month"] / "manifest.json").read_text())
    assert manifest["last_run"]["summary"] == {"ok": 0, "failed": 0, "skipped": 2}
    assert all(p["files"] and p["hashes"] for p in manifest["packs"])
    assert verify_manifest(built["month"]) == []


@pytest.mark.slow
def test_changed_data_rebuilds_only_the_packs_that_read_it(data_copy, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(data_copy, data)
    params = {"audience": "internal", "data": str(data)}
    ids = ["NB-SD-001", "NB-HOST-002"]
    first = run_batch(plan(_load(data), PERIOD, params, ids, kinds=("contract",), formats=("html",)), tmp_path,
                      jobs=2, formats=("html",), log=lambda msg: None)
    assert [r.status for r in first.results] == ["ok", "ok"]
    _restate(data, "99.9")  # NB-HOST-002's supplier restates a figure
    specs = plan(_load(data), PERIOD, params, ids, kinds=("contract",), formats=("html",))
    batch = run_batch(specs, tmp_path, jobs=2, formats=("html",), log=lambda msg: None)
    assert {r.key: r.status for r in batch.results} == {"NB-SD-001": "skipped", "NB-HOST-002": "ok"}
    assert verify_manifest(tmp_path / PERIOD) == []
    patch = next(k for k in _figures(tmp_path / PERIOD / "NB-HOST-002" / "pack.json")["kpis"]
                 if k["kpi_id"] == "PATCH")
    assert patch["latest_value"] == 99.9


@pytest.mark.slow
def test_force_rebuilds_unchanged_packs(built, tmp_path):
    out = tmp_path / "reports"
    shutil.copytree(built["out"], out)
    spec = built["specs"][0]
    batch = run_batch([spec], out, jobs=1, formats=("html",), force=True, log=lambda msg: None)
    assert [r.status for r in batch.results] == ["ok"]
    assert (out / PERIOD / spec.key / "review.html").stat().st_mtime_ns > built["mtimes"][spec.key]
    assert _figures(out / PERIOD / spec.key / "pack.json") == built["figures"][spec.key]


@pytest.mark.slow
def test_a_batch_reading_its_snapshot_builds_the_same_packs(built, data_copy, tmp_path):
    # `built` loaded the data in every kernel; here the batch writes the validated portfolio once and each kernel
    # reads its own contract from it: same figures, same data version in the reproducibility stamp.
    batch = run_batch(built["specs"], tmp_path, jobs=2, formats=("html",), force=True, log=lambda msg: None,
                      portfolio=_load(data_copy))
    assert [r.status for r in batch.results] == ["ok", "ok"], [r.error for r in batch.results]
    month = tmp_path / PERIOD
    for key, figures in built["figures"].items():
        assert _figures(month / key / "pack.json") == figures
        ours, theirs = (json.loads((m / key / "pack.json").read_text())["reproducibility"]
                        for m in (month, built["month"]))
        assert ours["data_hash"] == theirs["data_hash"] == _load(data_copy).contract(key).data_hash
        assert "snapshot" not in ours["parameters"]  # a place, not an input: never recorded
        injected = [c.source for c in nbformat.read(month / key / "review.ipynb", as_version=4).cells
                    if "injected-parameters" in c.metadata.get("tags", [])]
        assert injected and "snapshot = " in injected[0]  # the kernel was given it
    assert [s.input_hash for s in built["specs"]] == [r.input_hash for r in batch.results]
    manifest = json.loads((month / "manifest.json").read_text())
    assert manifest["last_run"]["snapshot_seconds"] >= 0
    assert not (month / ".staging").exists()  # the snapshot went with the batch


@pytest.mark.slow
def test_cinb_run_and_cinb_batch_carry_the_same_figures(built, data_copy, tmp_path, capsys):
    code = main(["run", "NB-HOST-002", "--period", PERIOD, "--data", str(data_copy), "--out", str(tmp_path),
                 "--format", "html"])
    assert code == 0, capsys.readouterr().err
    assert _figures(tmp_path / PERIOD / "NB-HOST-002" / "pack.json") == built["figures"]["NB-HOST-002"]
    manifest = json.loads((tmp_path / PERIOD / "manifest.json").read_text())
    assert [p["key"] for p in manifest["packs"]] == ["NB-HOST-002"]
    assert "NB-HOST-002/review.html" in (tmp_path / PERIOD / "index.html").read_text()
    # The pack cinb run wrote is the pack cinb batch would write: a batch with the same options skips it.
    code = main(["batch", "--period", PERIOD, "--data", str(data_copy), "--out", str(tmp_path), "--format", "html",
                 "--contracts", "NB-HOST-002", "--kinds", "contract"])
    assert code == 0
    manifest = json.loads((tmp_path / PERIOD / "manifest.json").read_text())
    assert [p["status"] for p in manifest["packs"]] == ["skipped"]


@pytest.mark.slow
def test_the_dask_path_gives_the_same_figures(built, data_copy, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="2GiB",
                                  dashboard_address=None) as cluster:
        # With the batch's data snapshot, on the storage the workers share (here: the same disk).
        batch = run_batch(built["specs"], tmp_path, formats=("html",), scheduler=cluster.scheduler_address,
                          log=lambda msg: None, portfolio=_load(data_copy))
    assert [r.status for r in batch.results] == ["ok", "ok"], [r.error for r in batch.results]
    for key, figures in built["figures"].items():
        assert _figures(tmp_path / PERIOD / key / "pack.json") == figures
    manifest = json.loads((tmp_path / PERIOD / "manifest.json").read_text())
    assert manifest["last_run"]["scheduler"] == cluster.scheduler_address


def test_the_longest_packs_are_handed_out_first():
    """The portfolio pack first, then contract packs by their number of KPIs (most first, ties in plan order),
    then the scorecards: a batch should not end with one worker building a long pack while the others wait."""
    from types import SimpleNamespace

    import pandas as pd

    from cinb.batch import _dispatch_key
    from cinb.pack import PackSpec

    kpis = pd.DataFrame({"contract_id": ["A"] * 2 + ["B"] * 7 + ["C"] * 4 + ["D"] * 4})
    specs = [PackSpec("supplier", "Acme", "2026-10"), PackSpec("contract", "A", "2026-10"),
             PackSpec("contract", "C", "2026-10"), PackSpec("contract", "B", "2026-10"),
             PackSpec("contract", "D", "2026-10"), PackSpec("portfolio", None, "2026-10")]
    ordered = sorted(specs, key=_dispatch_key(SimpleNamespace(kpis=kpis)))
    assert [(s.kind, s.subject) for s in ordered] == [
        ("portfolio", None), ("contract", "B"), ("contract", "C"), ("contract", "D"), ("contract", "A"),
        ("supplier", "Acme")]
    # Without the portfolio (packs planned elsewhere) the kinds' order alone.
    assert [s.kind for s in sorted(specs, key=_dispatch_key(None))] == [
        "portfolio", "contract", "contract", "contract", "contract", "supplier"]
