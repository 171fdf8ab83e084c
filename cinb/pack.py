"""Build one review pack: execute its notebook in a fresh kernel, render HTML/PDF, publish the set atomically.

A pack's files are rendered into a private staging folder (``<period>/.staging/``) and moved under their final
names only when every one of them is complete, ``pack.json`` last; a reader never sees a half-written file, and a
pack whose PDF fails after its HTML was rendered publishes nothing. A failed pack withdraws any earlier published
files of the same pack (they no longer match the inputs) and keeps its executed notebook, its error and what the
kernel printed under ``<period>/_failed/<key>/`` for diagnosis.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from . import __version__
from .audience import entry_for_audience, pack_for_audience, record_for_audience
from .files import atomic_write_bytes, sha256_file  # noqa: F401  (re-exported for callers)
from .branding import Brand, recorded_settings as branded_settings
from .config import DEFAULTS, notebook_dir
from .errors import CinbError, PackError
from .execute import execute
from .packdata import PACK_MIMETYPE, pack_data

#: Pack kinds: the notebook each runs and the file stem its outputs take.
KINDS = {
    "contract": ("contract_review.ipynb", "review"),
    "portfolio": ("portfolio_review.ipynb", "review"),
    "supplier": ("supplier_scorecard.ipynb", "scorecard"),
}

#: Folder (inside the month folder) where failed packs keep their diagnostics.
FAILED_DIR = "_failed"
#: Folder (inside the month folder) where packs are rendered before they are published.
STAGING_DIR = ".staging"

_SLUG = re.compile(r"[^A-Za-z0-9._-]+")
_EXTENSIONS = ("html", "pdf", "ipynb")
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
# user:password@ in a URL (a database URL given as --data): the password is never written into a pack. The
# pattern starts at the literal "://" (not at the scheme) so that it scans a page full of base64 images in linear
# time: a scheme-first pattern tried every word boundary of every base64 run (0.08 s a call on a contract pack).
_URL_PASSWORD = re.compile(r"(://[^\s/:@\"'<>]*):([^\s/@\"'<>]+)@")


def redact(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` URL replaced by ``***``.

    Examples
    --------
    >>> redact("postgresql://cinb:s3cret@db.internal/portfolio")
    'postgresql://cinb:***@db.internal/portfolio'
    """
    return _URL_PASSWORD.sub(r"\1:***@", text)


def _redacted(value):
    return json.loads(redact(json.dumps(value, default=str)))


def slug(text: str) -> str:
    """A path-safe name for a supplier or other free text (never leaves the folder it is joined to)."""
    s = _SLUG.sub("-", str(text)).strip("-.") or "unnamed"
    return s[:64]


@dataclass(frozen=True)
class PackSpec:
    """What one pack is: its kind, the subject (contract id or supplier name), the month and the parameters.

    ``parameters`` holds the notebook's parameters; keys starting with ``_`` are not passed to the notebook but
    recorded in ``pack.json`` (``_parameter_files``: the parameter files read; ``_settings``: the merged batch
    settings). ``input_hash`` (see :mod:`cinb.fingerprint`) lets a rerun skip an unchanged pack. ``notebook`` is
    the path of a report template that the pack runs instead of the shipped notebook of its kind (``None``: the
    shipped one); a worker, local or on a Dask node, runs exactly that file. ``snapshot`` is the folder of the
    batch's snapshot of the validated portfolio (:mod:`cinb.snapshot`), passed to the notebook as its ``snapshot``
    parameter so that it reads only its own contracts' rows; it is a place, not an input (the data it holds are
    in ``input_hash``), so it is neither hashed nor recorded.
    """

    kind: str
    subject: str | None
    period: str
    parameters: dict[str, Any] = field(default_factory=dict)
    input_hash: str | None = None
    notebook: str | None = None
    snapshot: str | None = None

    @property
    def audience(self) -> str:
        """``internal`` or ``supplier`` (from the parameters; default internal)."""
        return self.parameters.get("audience") or "internal"

    @property
    def key(self) -> str:
        """The pack's folder under the month, unique in a batch: ``NB-SD-001``, ``supplier/NB-SD-001``, …"""
        prefix = "" if self.audience == "internal" else f"{self.audience}/"
        if self.kind == "contract":
            return f"{prefix}{self.subject}"
        if self.kind == "portfolio":
            return f"{prefix}portfolio"
        return f"{prefix}suppliers/{slug(self.subject or '')}"

    def _inside(self, base: Path, *parts: str) -> Path:
        if not isinstance(self.period, str) or not _PERIOD.match(self.period):
            raise PackError(f"pack {self.key!r}: period {self.period!r} is not a month in the form YYYY-MM")
        base = base.resolve()
        path = base.joinpath(*parts).resolve()
        if base not in path.parents:
            raise PackError(f"pack {self.key!r}: its folder {path} would leave the output folder {base}")
        return path

    def out_dir(self, root: Path) -> Path:
        """``<root>/<period>/<key>``, checked to stay inside the month folder."""
        return self._inside(Path(root) / self.period, self.key)

    def failed_dir(self, root: Path) -> Path:
        """``<root>/<period>/_failed/<key>``, where a failed pack keeps its diagnostics."""
        return self._inside(Path(root) / self.period / FAILED_DIR, self.key)

    def notebook_file(self, notebooks: Path | None = None) -> Path:
        """The notebook the pack runs: its template, else its kind's notebook in ``notebooks`` (default
        :func:`cinb.config.notebook_dir`)."""
        if self.notebook:
            return Path(self.notebook)
        return Path(notebooks or notebook_dir()) / KINDS[self.kind][0]

    def notebook_parameters(self) -> dict[str, Any]:
        """The papermill parameters of the pack's notebook: public parameters, ``period`` and the subject."""
        params = {k: v for k, v in self.parameters.items() if not k.startswith("_")}
        params["period"] = self.period
        if self.kind == "contract":
            params["contract_id"] = self.subject
        elif self.kind == "supplier":
            params["supplier"] = self.subject
        return params

    def run_parameters(self) -> dict[str, Any]:
        """What papermill injects: :meth:`notebook_parameters`, plus ``snapshot`` when the batch wrote one."""
        params = self.notebook_parameters()
        if self.snapshot:
            params["snapshot"] = str(self.snapshot)
        return params


@dataclass
class PackResult:
    """What happened to one pack; one entry of the manifest. ``files`` are relative to the month folder."""

    key: str
    kind: str
    subject: str | None
    status: str  # ok | failed | skipped
    files: dict[str, str] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    headline: dict[str, Any] = field(default_factory=dict)
    input_hash: str | None = None
    audience: str = "internal"
    timings: dict[str, float] = field(default_factory=dict)
    failure: str | None = None  # folder of the diagnostics, relative to the month folder
    template: dict[str, str] | None = None  # a report template run instead of the shipped notebook: path, sha256
    as_of: str | None = None  # the store batch or time the data was read as of (cinb run --as-of), None: latest

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-able data (one manifest entry); a supplier pack's entry holds only what its
        audience may see (:func:`cinb.audience.entry_for_audience`: paths by file name)."""
        return entry_for_audience(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PackResult":
        """A result from a manifest entry (unknown keys ignored)."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def _strip_pack_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of the notebook without the machine-readable pack display (it is written to pack.json instead)."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in nb.cells:
        if "outputs" in cell:
            cell.outputs = [o for o in cell.outputs if PACK_MIMETYPE not in o.get("data", {})]
    return nb


def _parameter_files(paths) -> list[dict[str, str | None]]:
    out = []
    for p in paths or []:
        try:
            digest = sha256_file(Path(p))
        except OSError:
            digest = None
        out.append({"path": str(p), "sha256": digest})
    return out


def template_record(spec: PackSpec) -> dict[str, str] | None:
    """``{"path", "sha256"}`` of the report template ``spec`` runs, or ``None`` for a shipped notebook.

    Raises
    ------
    PackError
        When the template cannot be read (moved or deleted since the run was planned).
    """
    if not spec.notebook:
        return None
    try:
        return {"path": str(spec.notebook), "sha256": sha256_file(spec.notebook)}
    except OSError as exc:
        raise PackError(f"template {spec.notebook}: cannot read it: {exc.strerror or exc}") from None


def _title_of(nb) -> str | None:
    """The first markdown heading of an executed notebook (the title of a template's pack without figures)."""
    for cell in nb.cells:
        if cell.get("cell_type") == "markdown":
            for line in str(cell.get("source", "")).splitlines():
                if line.startswith("#") and line.lstrip("#").strip():
                    return line.lstrip("#").strip()
    return None


def published_names(stem: str, formats, keep_notebook: bool) -> list[str]:
    """The file names a pack publishes, in publication order (``pack.json`` last: it marks a complete set)."""
    names = [f"{stem}.{fmt}" for fmt in ("html", "pdf") if fmt in formats]
    if keep_notebook:
        names.append(f"{stem}.ipynb")
    return names + ["pack.json"]


def build_pack(spec: PackSpec, out_root: Path, *, formats: tuple[str, ...] = ("html", "pdf"),
               timeout: float | None = 600, pdf_backend: str = DEFAULTS["pdf_backend"],
               keep_notebook: bool | None = None, kernels=None, notebooks: Path | None = None) -> PackResult:
    """Execute, render and publish one pack under ``out_root/<period>/<key>/``; never raises for a pack failure.

    Parameters
    ----------
    spec : PackSpec
    out_root : Path
        The reports folder (the pack goes to ``<out_root>/<period>/<key>/``).
    formats : tuple of {"html", "pdf"}
    timeout : float or None
        Seconds the notebook may run.
    pdf_backend : str
        ``"auto"`` (the default, as on the command line: Chromium when installed, else WeasyPrint),
        ``"chromium"`` or ``"weasyprint"``; see :func:`cinb.render.resolve_backend`. Kept warm per process.
    keep_notebook : bool, optional
        Publish the executed notebook too; default: for internal packs only (never sent to a supplier).
    kernels : cinb.kernels.KernelSupply, optional
        Where the pack's (fresh, pre-started) kernel comes from; without it a kernel is started here.
    notebooks : Path, optional
        Folder of the pack notebooks (default :func:`cinb.config.notebook_dir`); a pack with a report template
        (``spec.notebook``) runs that file instead.

    Returns
    -------
    PackResult
        ``status="ok"`` with the published files and their sha256, or ``status="failed"`` with the error; the
        executed notebook, error and kernel output of a failure are in ``<period>/_failed/<key>/``. A template's
        path and sha256 are in ``template`` (and in ``pack.json``'s ``reproducibility``).
    """
    from .render import prepare_in_background, render_html, render_pdf

    out_root = Path(out_root)
    kind_nb, stem = KINDS[spec.kind]
    started = time.perf_counter()
    params = spec.notebook_parameters()
    supplier_facing = params.get("audience") == "supplier"
    if keep_notebook is None:
        keep_notebook = not supplier_facing  # executed notebooks are internal diagnostics, never sent out
    result = PackResult(key=spec.key, kind=spec.kind, subject=spec.subject, status="failed",
                        input_hash=spec.input_hash, audience=spec.audience,
                        as_of=None if params.get("as_of") is None else str(params["as_of"]))
    timings: dict[str, float] = {}
    period_dir = out_root / spec.period
    staging: Path | None = None
    nb = None
    try:
        out_dir = spec.out_dir(out_root)
        # The authority's branding, from the recorded settings (checked again: the logo is read here).
        settings = spec.parameters.get("_settings", {})
        brand = Brand.from_settings(settings)
        notebook = spec.notebook_file(notebooks)
        result.template = template_record(spec)
        kernel = kernels.take() if kernels is not None else None
        if "html" in formats or "pdf" in formats:
            prepare_in_background()  # the HTML exporter is built while the kernel works, not after
        try:
            nb = execute(notebook, spec.run_parameters(), timeout=timeout, kernel=kernel, timings=timings)
        finally:
            if kernels is not None:
                kernels.prepare()  # the next pack's kernel starts and imports while this pack renders
        data = pack_data(nb)
        if not data and not spec.notebook:
            raise PackError(f"{kind_nb} ran but emitted no pack figures ({PACK_MIMETYPE} display missing)")
        if not data:  # a template that does not call sections.emit_pack: a pack of what it shows, no figures
            data = {"render": {"title": _title_of(nb) or notebook.stem,
                               "subtitle": " · ".join(str(x) for x in (spec.subject, spec.period) if x)}}
        published = _strip_pack_outputs(nb)
        # What is recorded never holds a database password (the notebook itself needed it to connect).
        record = {"cinb_version": __version__, "kind": spec.kind, "key": spec.key, "parameters": params,
                  "parameter_files": _parameter_files(spec.parameters.get("_parameter_files")),
                  "settings": branded_settings(settings, brand), "input_hash": spec.input_hash,
                  "notebook": notebook.name}
        if result.template:
            record["template"] = result.template
        if params.get("as_of") is not None:
            record["as_of"] = str(params["as_of"])  # the data as it stood after that store batch (or at that time)
        # A supplier pack records only what its audience may see (cinb.audience): paths by file name.
        meta = record_for_audience(_redacted(record), spec.audience)
        data.setdefault("reproducibility", {}).update(meta)
        data = pack_for_audience(_redacted(data), spec.audience)
        render = data.get("render", {})

        staging = period_dir / STAGING_DIR / f"{slug(spec.key)}-{secrets.token_hex(4)}"
        staging.mkdir(parents=True)
        t = time.perf_counter()
        page = None
        if {"html", "pdf"} & set(formats):
            page = render_html(published, title=render.get("title", spec.key), subtitle=render.get("subtitle"),
                               marking=params.get("marking", "OFFICIAL"),
                               running_header=render.get("running_header"), meta=meta, brand=brand)
        if page is not None:
            page = redact(page)
        if "html" in formats:
            atomic_write_bytes(staging / f"{stem}.html", page.encode("utf-8"))
        timings["html"] = round(time.perf_counter() - t, 3)
        if "pdf" in formats:
            t = time.perf_counter()
            render_pdf(page, staging / f"{stem}.pdf", backend=pdf_backend)
            timings["pdf"] = round(time.perf_counter() - t, 3)
        atomic_write_bytes(staging / "pack.json",
                           json.dumps(data, indent=2, sort_keys=True, default=str).encode("utf-8"))
        if keep_notebook:
            atomic_write_bytes(staging / f"{stem}.ipynb", redact(nbformat.writes(nb)).encode("utf-8"))
        names = published_names(stem, formats, keep_notebook)
        hashes = {name: sha256_file(staging / name) for name in names}

        t = time.perf_counter()
        _publish(staging, out_dir, names, stem)
        timings["publish"] = round(time.perf_counter() - t, 3)
        _remove_tree(spec.failed_dir(out_root))  # an earlier failure of this pack is history now
        result.status = "ok"
        prefix = spec.key
        result.files = {_kind_of(name): f"{prefix}/{name}" for name in names}
        result.hashes = {_kind_of(name): hashes[name] for name in names}
        result.headline = data.get("headline", {})
    except CinbError as exc:
        result.error = redact(str(exc))
        _fail(out_root, spec, stem, result, getattr(exc, "notebook", None), getattr(exc, "kernel_log", None))
    except OSError as exc:  # disk full, read-only folder…: say which file and why
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        result.error = redact(f"cannot write the pack{where}: {exc.strerror or exc}")
        _fail(out_root, spec, stem, result, nb, None)
    except Exception as exc:  # a render failure must not take the batch down
        result.error = redact(f"{type(exc).__name__}: {exc}")
        _fail(out_root, spec, stem, result, nb, None)
    finally:
        if staging is not None:
            _remove_tree(staging)  # the (shared) .staging folder itself is removed by the batch, under its lock
        result.seconds = round(time.perf_counter() - started, 3)
        timings["total"] = result.seconds
        result.timings = timings
    return result


def _kind_of(name: str) -> str:
    return "json" if name == "pack.json" else name.rsplit(".", 1)[-1]


@contextlib.contextmanager
def _signals_deferred():
    """Hold SIGINT/SIGTERM for the few renames of a publication, so that a stop never splits a pack's set."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _publish(staging: Path, out_dir: Path, names: list[str], stem: str) -> None:
    """Move the complete set into place, ``pack.json`` last; remove the pack's files of formats not built now."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with _signals_deferred():
        for name in names:
            os.replace(staging / name, out_dir / name)
    for ext in _EXTENSIONS:
        name = f"{stem}.{ext}"
        if name not in names:
            try:
                (out_dir / name).unlink()
            except FileNotFoundError:
                pass


def _withdraw(out_root: Path, spec: PackSpec, stem: str) -> None:
    """Remove a pack's published files (after a failure they would no longer match its inputs)."""
    try:
        out_dir = spec.out_dir(out_root)
    except PackError:
        return
    for name in [f"{stem}.{ext}" for ext in _EXTENSIONS] + ["pack.json"]:
        try:
            (out_dir / name).unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            pass
        except OSError:
            pass
    period_dir = (out_root / spec.period).resolve()
    folder = out_dir
    while folder != period_dir and period_dir in folder.parents:
        if not _remove_empty(folder):
            break
        folder = folder.parent


def fail_pack(out_root: Path, spec: PackSpec, result: PackResult, nb=None, kernel_log: str | None = None) -> None:
    """Record ``result`` (failed) on disk: withdraw the pack's published files, keep its diagnostics."""
    _fail(out_root, spec, KINDS[spec.kind][1], result, nb, kernel_log)


def _fail(out_root: Path, spec: PackSpec, stem: str, result: PackResult, nb, kernel_log: str | None) -> None:
    _withdraw(out_root, spec, stem)
    try:
        folder = spec.failed_dir(out_root)
    except PackError:
        return
    try:
        _remove_tree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(folder / "error.txt", redact(result.error or "unknown error").encode("utf-8") + b"\n")
        if nb is not None:
            atomic_write_bytes(folder / f"{stem}.ipynb", redact(nbformat.writes(nb)).encode("utf-8"))
        if kernel_log:
            atomic_write_bytes(folder / "kernel.log", redact(kernel_log).encode("utf-8", errors="replace"))
        result.failure = f"{FAILED_DIR}/{spec.key}"
    except OSError:
        pass  # diagnostics are best effort; the manifest still records the error


def clean_staging(period_dir: Path) -> None:
    """Remove what interrupted builds left in ``<period>/.staging`` (call only while holding the month's lock)."""
    _remove_tree(Path(period_dir) / STAGING_DIR)


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _remove_empty(path: Path) -> bool:
    try:
        path.rmdir()
        return True
    except OSError:
        return False
