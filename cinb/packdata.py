"""The pack's figures as the notebooks emit them: one display under :data:`PACK_MIMETYPE`, read back after the run.

Deliberately tiny and free of heavy imports: the notebooks' presentation code (:mod:`cinb.sections`) emits the
display inside every kernel, and the pack writer (:mod:`cinb.pack`) reads it back; neither needs the notebook
machinery (papermill, nbclient) of :mod:`cinb.execute` for that.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import nbformat

__all__ = ["PACK_MIMETYPE", "pack_data"]

#: Mimetype of the display the notebooks emit with the pack's figures (see :func:`cinb.sections.emit_pack`).
PACK_MIMETYPE = "application/vnd.cinb.pack+json"


def pack_data(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The figures a notebook emitted under :data:`PACK_MIMETYPE`, merged in cell order.

    Parameters
    ----------
    nb : NotebookNode
        An executed notebook (anything with a ``cells`` attribute, each cell a mapping with optional ``outputs``).

    Returns
    -------
    dict
        The payloads of every such display, later keys overriding earlier ones; empty if there is none. A payload
        stored as JSON text is parsed.

    Raises
    ------
    json.JSONDecodeError
        When a payload stored as text is not JSON.
    """
    data: dict[str, Any] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            payload = output.get("data", {}).get(PACK_MIMETYPE)
            if payload is not None:
                data.update(json.loads(payload) if isinstance(payload, str) else dict(payload))
    return data


def with_cell_ids(source: str | os.PathLike, *, is_text: bool = True):
    """Read a notebook (JSON text, or a path with ``is_text=False``) as nbformat 4, giving cells without an ``id``
    one, quietly.

    Notebooks written by scripts or older tools often lack cell ids; nbformat fills them in but warns
    (``MissingIDFieldWarning``) on every read and write. cinb fills them once, here, so no library warning
    reaches the user. Returns a ``NotebookNode``; raises what ``nbformat.reads`` raises for a non-notebook.
    """
    import warnings

    import nbformat
    from nbformat.validator import normalize

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nb = nbformat.reads(source, as_version=4) if is_text else nbformat.read(os.fspath(source), as_version=4)
        _, fixed = normalize(nb)
    return nbformat.from_dict(fixed)
