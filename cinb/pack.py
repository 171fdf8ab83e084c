"""Build one review pack: execute its notebook in a fresh kernel, render HTML/PDF, write every file atomically."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from . import __version__
from .config import notebook_dir
from .errors import CinbError, PackError
from .execute import PACK_MIMETYPE, execute, pack_data

#: Pack kinds: the notebook each runs and the file stem its outputs take.
KINDS = {
    "contract": ("contract_review.ipynb", "review"),
    "portfolio": ("portfolio_review.ipynb", "review"),
    "supplier": ("supplier_scorecard.ipynb", "scorecard"),
}

_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def slug(text: str) -> str:
    """A path-safe name for a supplier or other free text (never leaves the folder it is joined to)."""
    s = _SLUG.sub("-", str(text)).strip("-.") or "unnamed"
    return s[:64]


@dataclass(frozen=True)
class PackSpec:
    """What one pack is: its kind, the subject (contract id or supplier name), the month and the parameters."""

    kind: str
    subject: str | None
    period: str
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        audience = self.parameters.get("audience", "internal")
        prefix = "" if audience == "internal" else f"{audience}/"
        if self.kind == "contract":
            return f"{prefix}{self.subject}"
        if self.kind == "portfolio":
            return f"{prefix}portfolio"
        return f"{prefix}suppliers/{slug(self.subject or '')}"

    def out_dir(self, root: Path) -> Path:
        path = (root / self.period / self.key).resolve()
        base = (root / self.period).resolve()
        if base not in path.parents:
            raise PackError(f"pack folder {path} would leave the output folder {base}")
        return path

    def notebook_parameters(self) -> dict[str, Any]:
        params = {k: v for k, v in self.parameters.items() if not k.startswith("_")}
        params["period"] = self.period
        if self.kind == "contract":
            params["contract_id"] = self.subject
        elif self.kind == "supplier":
            params["supplier"] = self.subject
        return params


@dataclass
class PackResult:
    """What happened to one pack; one row of the manifest."""

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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that the file appears only complete (temp file in the folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; published files get the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _strip_pack_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of the notebook without the machine-readable pack display (it is written to pack.json instead)."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in nb.cells:
        if "outputs" in cell:
            cell.outputs = [o for o in cell.outputs if PACK_MIMETYPE not in o.get("data", {})]
    return nb


def build_pack(spec: PackSpec, out_root: Path, *, formats: tuple[str, ...] = ("html", "pdf"),
               timeout: float | None = 600, pdf_backend: str = "weasyprint",
               keep_notebook: bool | None = None) -> PackResult:
    """Execute, render and write one pack under ``out_root/<period>/<key>/``; never raises for a pack failure.

    A failed pack publishes nothing under its final names: its executed notebook (if any) and the error go to
    ``out_root/<period>/_failed/<key>/`` for diagnosis, and the result has ``status="failed"``.
    """
    from .render import write_outputs

    kind_nb, stem = KINDS[spec.kind]
    out_root = Path(out_root).resolve()  # files are recorded relative to it; a relative root would not match
    started = time.perf_counter()
    params = spec.notebook_parameters()
    supplier_facing = params.get("audience") == "supplier"
    if keep_notebook is None:
        keep_notebook = not supplier_facing  # executed notebooks are internal diagnostics, never sent out
    result = PackResult(key=spec.key, kind=spec.kind, subject=spec.subject, status="failed")
    try:
        out_dir = spec.out_dir(out_root)
        nb = execute(notebook_dir() / kind_nb, params, timeout=timeout)
        data = pack_data(nb)
        if not data:
            raise PackError(f"{kind_nb} ran but emitted no pack figures ({PACK_MIMETYPE} display missing)")
        published = _strip_pack_outputs(nb)
        meta = {"cinb_version": __version__, "kind": spec.kind, "key": spec.key, "parameters": params,
                "parameter_files": spec.parameters.get("_parameter_files", [])}
        data.setdefault("reproducibility", {}).update(meta)
        render = data.get("render", {})
        files = write_outputs(published, out_dir, stem, formats=tuple(formats), title=render.get("title", spec.key),
                              subtitle=render.get("subtitle"), marking=params.get("marking", "OFFICIAL"),
                              running_header=render.get("running_header"), meta=meta, backend=pdf_backend)
        pack_json = out_dir / "pack.json"
        atomic_write_bytes(pack_json, json.dumps(data, indent=2, sort_keys=True, default=str).encode("utf-8"))
        files = dict(files)
        files["json"] = pack_json
        if keep_notebook:
            nb_path = out_dir / f"{stem}.ipynb"
            atomic_write_bytes(nb_path, nbformat.writes(nb).encode("utf-8"))
            files["ipynb"] = nb_path
        result.files = {k: str(Path(v).resolve().relative_to(out_root)) for k, v in files.items()}
        result.hashes = {k: sha256_file(Path(v)) for k, v in files.items()}
        result.headline = data.get("headline", {})
        result.status = "ok"  # only once every step above has succeeded
    except CinbError as exc:
        result.error = str(exc)
        _keep_failure(out_root, spec, getattr(exc, "notebook", None), result.error)
    except Exception as exc:  # a render or I/O failure must not take the batch down
        result.error = f"{type(exc).__name__}: {exc}"
        _keep_failure(out_root, spec, None, result.error)
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def _keep_failure(out_root: Path, spec: PackSpec, nb, error: str) -> None:
    folder = out_root / spec.period / "_failed" / spec.key
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(folder / "error.txt", (error + "\n").encode("utf-8"))
        if nb is not None:
            atomic_write_bytes(folder / f"{KINDS[spec.kind][1]}.ipynb", nbformat.writes(nb).encode("utf-8"))
    except OSError:
        pass  # diagnostics are best effort; the manifest still records the error
