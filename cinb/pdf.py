"""PDF printing of a pack's HTML: the backend protocol, choosing a backend, and writing the PDF atomically.

Two backends print the same A4 pages (cover, contents with page numbers, running header with the protective
marking, "Page N of M", chart-data appendix, tagged PDF): :class:`~cinb.pdf_weasyprint.WeasyPrintBackend` (pure
``pip``, always installed) and :class:`~cinb.pdf_chromium.ChromiumBackend` (the system's Chromium; several times
faster on a pack with charts). One instance of each is kept warm per process (:func:`get_backend`).

Both print the pack's one print stylesheet (``templates/cinb_pack/pack.css``: ``@page`` and ``@media print``):
page size and margins, wrapping of long words and fitting of tables and images to the text width, KPI blocks
kept whole, the two-column chart-data appendix. Neither backend adds layout rules of its own, so a pack prints
the same pages with either (``tests/test_print_margins.py`` reads every word's box from both).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Protocol

from .errors import PackError, UsageError
from .files import atomic_target
from .pdf_chromium import ChromiumBackend
from .pdf_weasyprint import WeasyPrintBackend

__all__ = [
    "BACKENDS",
    "BACKEND_CHOICES",
    "ChromiumBackend",
    "PdfBackend",
    "WeasyPrintBackend",
    "chromium_available",
    "get_backend",
    "render_pdf",
    "resolve_backend",
    "use_backend",
]


class PdfBackend(Protocol):
    """Anything that turns a pack's HTML into a PDF file."""

    name: str

    def write_pdf(self, html: str, target: Path) -> None:
        """Write the PDF of `html` to the file `target`."""


#: Backend name → class (each made with no arguments by `get_backend`).
BACKENDS: dict[str, type] = {"weasyprint": WeasyPrintBackend, "chromium": ChromiumBackend}
#: What ``pdf_backend`` may be set to: a backend's name, or "auto" (see `resolve_backend`).
BACKEND_CHOICES = ("auto", *BACKENDS)
_WARM: dict[str, PdfBackend] = {}


def chromium_available() -> bool:
    """Whether the Chromium backend can run here: Playwright and pypdf importable, and Chromium installed and
    able to start (``chromium --version`` answers; a browser with missing libraries does not).

    Cheap (nothing is imported; the version check takes about 0.1 s, once per process), so the CLI can decide
    before it starts any worker.
    """
    import importlib.util

    executable = Path(os.environ.get("CINB_CHROMIUM", "/usr/bin/chromium"))
    return (executable.exists() and importlib.util.find_spec("playwright") is not None
            and importlib.util.find_spec("pypdf") is not None and _chromium_answers(str(executable)))


@functools.lru_cache(maxsize=8)
def _chromium_answers(executable: str) -> bool:
    import subprocess

    try:
        done = subprocess.run([executable, "--version"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and b"chrom" in done.stdout.lower()


def resolve_backend(name: str = "auto") -> str:
    """The PDF backend that `name` stands for.

    ``"auto"`` is Chromium when it is installed (`chromium_available`: several times faster on a pack with
    charts), otherwise WeasyPrint (pure ``pip``, always installed). Both print the same pages: cover,
    contents with page numbers, running header with the marking, "Page N of M", tagged PDF.

    Parameters
    ----------
    name : {"auto", "weasyprint", "chromium"}

    Returns
    -------
    str
        ``"weasyprint"`` or ``"chromium"``.

    Raises
    ------
    UsageError
        When `name` is not one of :data:`BACKEND_CHOICES`.
    """
    if name not in BACKEND_CHOICES:
        raise UsageError(f"Unknown PDF backend {name!r}: choose one of {', '.join(BACKEND_CHOICES)}.")
    if name == "auto":
        return "chromium" if chromium_available() else "weasyprint"
    return name


def get_backend(name: str = "weasyprint") -> PdfBackend:
    """The process-wide instance of the PDF backend `name` (created on first use, then reused warm).

    Parameters
    ----------
    name : {"weasyprint", "chromium", "auto"}
        ``"auto"``: see `resolve_backend`.

    Returns
    -------
    PdfBackend

    Raises
    ------
    UsageError
        For an unknown `name`.
    PackError
        When the backend's packages or programs are missing (the message says what to install).
    """
    name = resolve_backend(name)
    if name not in _WARM:
        _WARM[name] = BACKENDS[name]()
    return _WARM[name]


def use_backend(name: str, engine: PdfBackend) -> None:
    """Make :func:`get_backend` return ``engine`` for ``name`` in this process (e.g. a batch worker's
    :class:`cinb.printer.PrinterClient`, which prints through the batch's one browser)."""
    _WARM[resolve_backend(name)] = engine


def render_pdf(html: str, out_path: str | os.PathLike, *, backend: str | PdfBackend = "weasyprint") -> Path:
    """Print a pack's HTML to an A4 PDF, written atomically to `out_path`.

    The pack's print styles give the cover, the contents with page numbers, the running header with the
    protective marking, "Page N of M" footers and the chart-data appendix.

    Parameters
    ----------
    html : str
        A page from :func:`cinb.render.render_html`.
    out_path : path
        Where the PDF goes; its folder must exist. Nothing is visible under this name until the PDF is complete.
    backend : str or PdfBackend, default "weasyprint"
        ``"weasyprint"``, ``"chromium"``, ``"auto"`` (see `resolve_backend`) or an object with
        ``write_pdf(html, target)``.

    Returns
    -------
    Path
        `out_path`.

    Raises
    ------
    UsageError
        For an unknown backend name.
    PackError
        When the backend cannot be started (see the backends) or the PDF cannot be written; nothing is left at
        `out_path` then (an earlier file there stays as it was).
    OSError
        When `out_path`'s folder does not exist or cannot be written.
    """
    engine = get_backend(backend) if isinstance(backend, str) else backend
    html = _open_all_details(html)
    out_path = Path(out_path)
    with atomic_target(out_path) as tmp:
        try:
            engine.write_pdf(html, tmp)
        except PackError:
            raise
        except Exception as exc:
            raise PackError(f"Could not write the PDF {out_path} with the {getattr(engine, 'name', engine)} "
                            f"backend: {type(exc).__name__}: {exc}") from exc
    return out_path


def _open_all_details(html: str) -> str:
    # A printed page cannot be clicked open; chart data has its own appendix, anything else prints in place.
    return re.sub(r"<details(?=[\s>])(?![^>]*\sopen[\s=>])", "<details open", html)
