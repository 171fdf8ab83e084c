"""The WeasyPrint PDF backend: pure Python plus the system's Pango, always installed with cinb."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import PackError

__all__ = ["WeasyPrintBackend"]


class WeasyPrintBackend:
    """PDF through WeasyPrint (pure Python plus the system's Pango): the default backend.

    It prints the pack's own print stylesheet (pack.css), exactly as the Chromium backend does.

    One instance is kept per process (see :func:`cinb.pdf.get_backend`) so that the font configuration, the
    costliest part of a first render, is built once.

    Parameters
    ----------
    tagged : bool, default True
        Write a tagged PDF (headings, tables, reading order and alt text reach screen readers).

    Raises
    ------
    PackError
        When WeasyPrint or the system libraries it needs (Pango) cannot be loaded; the message says what to install.
    """

    name = "weasyprint"

    def __init__(self, *, tagged: bool = True):
        try:
            import weasyprint
            from weasyprint.text.fonts import FontConfiguration
        except (ImportError, OSError) as exc:
            raise PackError(
                "The WeasyPrint PDF backend is not usable: "
                f"{exc}. Install it with `pip install weasyprint` (it needs Pango: on Debian/Ubuntu "
                "`apt-get install libpango-1.0-0 libpangoft2-1.0-0`), or choose backend='chromium'."
            ) from exc
        self._weasyprint = weasyprint
        self._fonts = FontConfiguration()
        self._fetcher = _offline_fetcher(weasyprint)
        # Tagged PDF: headings, tables and reading order reach screen readers, and alt text reaches the PDF.
        self._options = {"pdf_tags": tagged}

    def write_pdf(self, html: str, target: Path) -> None:
        """Print ``html`` (a page from :func:`cinb.render.render_html`) to an A4 PDF at the file ``target``.

        Only ``data:`` URLs are fetched (anything else is refused, so nothing goes to the network). The PDF is
        tagged unless the backend was made with ``tagged=False``. ``target`` is overwritten in place: callers wanting
        an atomic file pass a temporary path (:func:`cinb.pdf.render_pdf` does).

        Raises
        ------
        Exception
            Whatever WeasyPrint raises (a layout or font error, an unwritable ``target``); `render_pdf` reports it
            as a PackError.
        """
        document = self._weasyprint.HTML(string=html, url_fetcher=self._fetcher, media_type="print")
        document.write_pdf(os.fspath(target), font_config=self._fonts, **self._options)


def _offline_fetcher(weasyprint):
    # Only data: URLs are ever fetched: a pack is self-contained, and a PDF render must not touch the network.
    fetcher_cls = getattr(weasyprint, "URLFetcher", None) or getattr(weasyprint.urls, "URLFetcher", None)
    if fetcher_cls is not None:
        return fetcher_cls(allowed_protocols={"data"})

    def fetch(url, *args, **kwargs):  # WeasyPrint < 66 takes a function
        if not url.lower().startswith("data:"):
            raise ValueError(f"cinb packs load nothing from outside (refused {url[:60]!r})")
        return weasyprint.default_url_fetcher(url, *args, **kwargs)

    return fetch
