"""Execute a pack notebook with parameters in a fresh kernel (papermill) and read back the figures it emitted."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import nbformat

from .errors import PackError

#: Mimetype of the display the notebooks emit with the pack's figures (see cinb.review.emit_pack_data).
PACK_MIMETYPE = "application/vnd.cinb.pack+json"

# papermill logs every cell at INFO; a batch of 30 packs would print thousands of lines.
logging.getLogger("papermill").setLevel(logging.WARNING)


def execute(notebook: Path, parameters: dict[str, Any], *, timeout: float | None = 600, cwd: Path | None = None,
            kernel_name: str = "python3") -> nbformat.NotebookNode:
    """Run ``notebook`` with ``parameters`` injected by papermill in a new kernel; return the executed notebook.

    Raises
    ------
    PackError
        When a cell raises, the kernel dies or a cell runs past ``timeout`` seconds. The executed notebook
        (with papermill's error banner) is attached as ``error.notebook`` so it can be kept for diagnosis.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    nb = nbformat.read(str(notebook), as_version=4)
    try:
        out = papermill.execute_notebook(
            nb, None, parameters=parameters, kernel_name=kernel_name, progress_bar=False, log_output=False,
            request_save_on_cell_execute=False, execution_timeout=timeout, cwd=str(cwd) if cwd else None,
        )
    except PapermillExecutionError as exc:
        error = PackError(f"{notebook.name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}")
        error.notebook = getattr(exc, "nb", None)
        raise error from None
    except Exception as exc:  # kernel death, timeout, start failure: nbclient raises several kinds
        kind = type(exc).__name__
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else kind
        if "Timeout" in kind or "timed out" in text.lower():
            text = f"timed out after {timeout:g} s ({text})"
        error = PackError(f"{notebook.name} did not finish: {kind}: {text}")
        error.notebook = None
        raise error from None
    return out


def pack_data(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The figures a notebook emitted under :data:`PACK_MIMETYPE` (merged in cell order)."""
    data: dict[str, Any] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            payload = output.get("data", {}).get(PACK_MIMETYPE)
            if payload is not None:
                data.update(json.loads(payload) if isinstance(payload, str) else dict(payload))
    return data
