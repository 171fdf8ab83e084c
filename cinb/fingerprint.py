"""What a pack is made from, as one hash: a rerun skips a pack whose inputs hash the same as when it was built.

A pack's inputs are: the rows of the data it reads (a contract pack: that contract's rows only; a supplier
scorecard: that supplier's contracts; the portfolio pack: everything), with the loader's warnings and problems
about those rows (the portfolio pack: every row, and the row accounting); the parameters the notebook receives;
the notebook file; the KPI definitions file it prints (``definitions``, or ``derive.yml`` beside the data) by
content; the authority's branding (its logo by content); the output formats and PDF backend; and the
cinb version together with a hash of cinb's own code and templates (so a changed chart or template rebuilds every
pack even before the version number moves). Where the batch put its data snapshot (:mod:`cinb.snapshot`) is not an
input: the rows it holds are.
"""

from __future__ import annotations

import functools
import hashlib
import json
import weakref
from pathlib import Path
from typing import Any

from . import __version__
from .branding import brand_inputs
from .config import SAMPLE_DIR
from .definitions import DEFINITIONS_FILE
from .files import sha256_file

_PACKAGE_DIR = Path(__file__).resolve().parent


#: Frames of a Portfolio that are not rows of the data (the row accounting is derived from them).
_NOT_ROWS = ("accounting",)


class _RowHashes:
    """Every row of a portfolio's frames hashed once (vectorised), grouped by contract.

    ``pandas.util.hash_pandas_object`` gives each row a 64-bit hash of its values (text as UTF-8, with a fixed
    key, so the same on every run); a part's fingerprint is the sha256 of its rows' hashes, frame by frame,
    contracts in sorted order and rows in the frame's order. A batch of 1,000 contracts is fingerprinted in well
    under a second, where slicing the portfolio once per pack took ~0.1 s a pack.
    """

    def __init__(self, portfolio):
        import numpy as np
        import pandas as pd

        self.frames = {}
        for name, frame in sorted(vars(portfolio).items()):  # every frame, also one added to Portfolio later
            if name in _NOT_ROWS or not isinstance(frame, pd.DataFrame):
                continue
            head = "|".join(f"{c}:{frame[c].dtype}" for c in frame.columns).encode("utf-8")
            if not len(frame) or "contract_id" not in frame:
                self.frames[name] = (head, {})
                continue
            rows = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype="<u8")
            ids = frame["contract_id"].astype(object).where(frame["contract_id"].notna(), "").astype(str)
            codes, uniques = pd.factorize(ids.to_numpy(dtype=object))
            order = np.argsort(codes, kind="stable")
            bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
            self.frames[name] = (head, {uniques[i]: rows[order[bounds[i]:bounds[i + 1]]].tobytes()
                                        for i in range(len(uniques))})

    def of(self, ids) -> str:
        """sha256 over the rows of the contracts ``ids`` in every frame."""
        h = hashlib.sha256()
        for name, (head, groups) in self.frames.items():
            h.update(f"[{name}]".encode("utf-8") + head + b"\n")
            for cid in ids:
                h.update(groups.get(cid, b""))
        return h.hexdigest()


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _hashes(portfolio) -> _RowHashes:
    try:
        found = _CACHE.get(portfolio)
    except TypeError:  # not weak-referenceable: no cache
        return _RowHashes(portfolio)
    if found is None:
        found = _CACHE[portfolio] = _RowHashes(portfolio)
    return found


def data_fingerprint(spec, portfolio) -> str:
    """sha256 of the rows of ``portfolio`` that the pack ``spec`` reads (see the module docstring).

    A contract pack: that contract's rows in every frame (warnings and problems included); a scorecard: its
    supplier's contracts' rows; the portfolio pack: every row, plus the row accounting and the warnings about no
    contract in particular. The source's label is part of every fingerprint. The rows are hashed once per
    portfolio (cached while it lives), so planning a batch of 1,000 packs costs about as much as one.

    Raises
    ------
    UsageError
        An unknown contract or supplier (as :meth:`cinb.load.Portfolio.contract` / ``supplier`` say it).
    """
    rows = _hashes(portfolio)
    if spec.kind == "contract":
        if spec.subject not in rows.frames.get("contracts", (b"", {}))[1]:
            portfolio.contract(spec.subject)  # the loader's own message for an unknown id
        ids = [spec.subject]
    elif spec.kind == "supplier":
        names = portfolio.contracts["supplier"].astype(object)
        match = (names.str.strip().str.lower() == str(spec.subject).strip().lower()).to_numpy(dtype=bool)
        if not match.any():
            portfolio.supplier(spec.subject)  # raises, naming close matches
        ids = sorted(str(x) for x in portfolio.contracts.loc[match, "contract_id"])
    else:
        ids = sorted({cid for _, groups in rows.frames.values() for cid in groups})
    h = hashlib.sha256()
    h.update(f"{portfolio.source}\n{rows.of(ids)}\n".encode("utf-8"))
    if spec.kind not in ("contract", "supplier"):
        # The whole portfolio's row accounting (rows of no contract, e.g. file-level warnings, are in rows.of).
        h.update(portfolio.data_hash.encode("utf-8"))
        accounting = getattr(portfolio, "accounting", None)
        if accounting is not None:
            h.update(accounting.to_csv(index=False, lineterminator="\n").encode("utf-8"))
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
    definitions = _definitions_file(spec.parameters.get("definitions"), spec.parameters.get("data"))
    if definitions is not None:  # the runnable KPI definitions the pack prints and counts as defined
        parts["definitions"] = sha256_file(definitions)
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _definitions_file(definitions, data) -> Path | None:
    """The KPI definitions file a pack reads (see `cinb.definitions.runnable_definitions`), if there is one."""
    if definitions is not None and str(definitions).strip():
        path = Path(str(definitions))
    else:  # beside the data; no data: the embedded sample
        path = Path(str(data) if data is not None else SAMPLE_DIR) / DEFINITIONS_FILE
    try:
        return path if path.is_file() else None
    except (OSError, ValueError):  # a database URL is no file
        return None
