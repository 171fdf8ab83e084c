"""What a pack is made from, as one hash: a rerun skips a pack whose inputs hash the same as when it was built.

A pack's inputs are: the rows of the data it reads (a contract pack: that contract's rows only; a supplier
scorecard: that supplier's contracts; the portfolio pack: everything), with the loader's warnings and row
accounting for those rows; the parameters the notebook receives; the notebook file; the authority's branding (its
logo by content); the output formats and PDF backend; and the cinb version together with a hash of cinb's own
code and templates (so a changed chart or template rebuilds every pack even before the version number moves).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from . import __version__
from .branding import brand_inputs
from .files import sha256_file

_PACKAGE_DIR = Path(__file__).resolve().parent


def _frame_text(frame) -> str:
    # CSV text is stable across pandas versions and dtypes backends, unlike pandas' own row hashes.
    if frame is None or not len(frame):
        return "" if frame is None else ",".join(map(str, frame.columns))
    return frame.to_csv(index=False, lineterminator="\n")


def data_fingerprint(spec, portfolio) -> str:
    """sha256 of the rows of ``portfolio`` that the pack ``spec`` reads (see the module docstring)."""
    if spec.kind == "contract":
        part = portfolio.contract(spec.subject)
    elif spec.kind == "supplier":
        part = portfolio.supplier(spec.subject)
    else:
        part = portfolio
    h = hashlib.sha256()
    h.update(f"{part.data_hash}\n{part.source}\n".encode("utf-8"))
    for name in ("warnings", "accounting"):
        h.update(f"[{name}]\n".encode("utf-8"))
        h.update(_frame_text(getattr(part, name, None)).encode("utf-8"))
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 over cinb's Python modules and templates (names and contents)."""
    h = hashlib.sha256()
    files = sorted(p for p in _PACKAGE_DIR.rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".j2", ".css", ".json")
                   and "data" not in p.relative_to(_PACKAGE_DIR).parts)
    for path in files:
        h.update(str(path.relative_to(_PACKAGE_DIR)).encode("utf-8") + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def input_hash(spec, portfolio, *, notebook: Path, formats, pdf_backend: str) -> str:
    """The hash of everything the pack ``spec`` is made from (see the module docstring).

    Parameters
    ----------
    spec : cinb.pack.PackSpec
    portfolio : cinb.load.Portfolio
        The loaded data the batch runs on (the same the notebook will load).
    notebook : Path
        The notebook the pack runs.
    formats : sequence of str
    pdf_backend : str

    Returns
    -------
    str
        64 hexadecimal characters.
    """
    parts: dict[str, Any] = {
        "kind": spec.kind,
        "subject": spec.subject,
        "period": spec.period,
        "parameters": spec.notebook_parameters(),
        "data": data_fingerprint(spec, portfolio),
        "notebook": sha256_file(Path(notebook)),
        "cinb": [__version__, code_fingerprint()],
        "outputs": [sorted(set(formats)), pdf_backend if "pdf" in formats else None],
    }
    branding = brand_inputs(spec.parameters.get("_settings"))  # the logo by its content, not its path
    if branding:
        parts["branding"] = branding
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
