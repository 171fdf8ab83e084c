"""The Chromium PDF backend: the system's Chromium driven by Playwright (``pip install 'cinb[chromium]'``).

Several times faster than WeasyPrint on a chart-heavy pack; prints the same pages (both print the pack's one
print stylesheet, pack.css's ``@media print`` and ``@page`` rules, and add none of their own). Chosen by
:func:`cinb.pdf.resolve_backend` when Chromium is installed.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from pathlib import Path

from .errors import PackError

__all__ = ["ChromiumBackend"]


class ChromiumBackend:
    """PDF through the system's Chromium, driven by Playwright (``pip install 'cinb[chromium]'``; no browser
    download): several times faster than WeasyPrint on a chart-heavy pack.

    Chromium has no ``target-counter()``, so page references (the contents, and each chart's note pointing to its
    data in the appendix) get their numbers in two passes over one loaded page: the first print tells on which
    page each target is (from the PDF's named destinations, one per link target), the numbers are written in,
    and the second print is the pack. Adding the numbers changes no line breaks, so both prints have the same
    pages.

    One browser and one tab are kept per process (see :func:`cinb.pdf.get_backend`); every pack replaces the
    tab's whole document, and the tab loads nothing from outside (every request is refused; packs have no
    scripts). The tab is replaced by a new one every :attr:`TAB_PACKS` packs: its renderer process keeps memory from the documents
    it has printed (measured on contract packs: 540 MiB after 10, 650 MiB after 40; in a 100-pack batch the two
    workers' renderers reached 1.4 GiB together), and a new tab costs about 0.4 s once. Between packs the tab's
    document is emptied and Chromium is told that memory is short (:meth:`_release`): measured over 20 packs, the
    renderer's peak went from 240 MiB to 90 MiB (PSS).

    Parameters
    ----------
    executable_path : path, optional
        The Chromium to drive; default ``$CINB_CHROMIUM`` or ``/usr/bin/chromium``.

    Raises
    ------
    PackError
        When Playwright or pypdf is not installed, or Chromium is not at the path; the message says what to
        install. An error starting the browser propagates as Playwright raises it.
    """

    name = "chromium"
    #: Packs printed in one tab before it is closed and a new one opened (bounds the renderer's memory).
    TAB_PACKS = 10

    def __init__(self, executable_path: str | os.PathLike | None = None):
        path = Path(executable_path or os.environ.get("CINB_CHROMIUM", "/usr/bin/chromium"))
        try:
            from playwright.sync_api import sync_playwright
            import pypdf
        except ImportError as exc:
            raise PackError(
                f"The Chromium PDF backend needs the Python packages 'playwright' and 'pypdf' ({exc}; "
                "`pip install 'cinb[chromium]'` or `pip install playwright pypdf`; `playwright install` is not "
                f"needed: cinb uses the system's Chromium) and Chromium itself at {path} (Debian/Ubuntu: "
                "`apt-get install chromium`; or set CINB_CHROMIUM)."
            ) from exc
        if not path.exists():
            raise PackError(f"The Chromium PDF backend needs Chromium at {path}: install it "
                            "(`apt-get install chromium`) or set CINB_CHROMIUM to its path.")
        self._pypdf = pypdf
        self._page = None
        self._printed = 0  # packs printed in the current tab
        self._cdp = self._cdp_page = None  # a DevTools session on the current tab (see _release)
        # Playwright's Node driver relays every page and PDF; a smaller young generation (and a bounded heap) keeps
        # it at ~120 MiB instead of ~150 MiB per worker. Set for the driver only, not for the caller's processes.
        saved = os.environ.get("NODE_OPTIONS")
        os.environ["NODE_OPTIONS"] = " ".join(filter(None, [saved, "--max-semi-space-size=2",
                                                              "--max-old-space-size=256"]))
        try:
            self._playwright = sync_playwright().start()
        finally:
            if saved is None:
                os.environ.pop("NODE_OPTIONS", None)
            else:
                os.environ["NODE_OPTIONS"] = saved
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=str(path),
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run",
                      "--disable-extensions", "--mute-audio",
                      # Fewer processes per browser (each costs memory; nothing here needs their isolation: the
                      # tab loads only the pack, refuses every request and runs no script of the pack's).
                      "--no-zygote", "--in-process-gpu",
                      "--enable-features=NetworkServiceInProcess2,NetworkServiceInProcess",
                      # No spare renderer kept waiting for a next site: a tab is opened only every TAB_PACKS packs.
                      "--disable-features=SpareRendererForSitePerProcess"],
            )
        except Exception:
            self._playwright.stop()
            raise
        atexit.register(self.close)

    def _tab(self):
        if self._page is None or self._page.is_closed():
            page = self._browser.new_page()
            page.route("**/*", lambda route: route.abort())  # nothing outside the page is ever loaded
            page.emulate_media(media="print")
            # As wide as the printed page's text (A4 less pack.css's margins), to see what would not fit.
            page.set_viewport_size({"width": _A4_TEXT_WIDTH_PX, "height": 1000})
            self._page = page
            self._printed = 0
        return self._page

    def write_pdf(self, html: str, target: Path) -> None:
        """Print ``html`` (a page from :func:`cinb.render.render_html`) to an A4 PDF at the file ``target``.

        The page is loaded in the backend's tab (no request leaves it), printed tagged and with bookmarks, twice
        when it has page references (contents, chart-data notes) so that their page numbers are right. Long
        words and wide tables are wrapped by the pack's print stylesheet (pack.css), as with WeasyPrint.
        ``target`` is overwritten in place: callers wanting an atomic file pass a temporary path
        (:func:`cinb.pdf.render_pdf` does).

        Raises
        ------
        Exception
            Whatever Playwright raises (the browser crashed, a timeout) or an unwritable ``target``; the tab is
            then discarded, and `render_pdf` reports the error as a PackError.
        """
        page = self._tab()
        try:
            # Wrapping and fitting come from the pack's print stylesheet, the same for both printers (pack.css).
            page.set_content(html, wait_until="load")
            options = dict(format="A4", print_background=True, prefer_css_page_size=True)
            final = dict(options, tagged=True, outline=True)  # tagged PDF and bookmarks: Playwright >= 1.42
            if page.evaluate(_HAS_PAGE_REFS_JS):
                # The first print only has to place things: images (which have their size) are not painted.
                page.evaluate(_HIDE_IMAGES_JS)
                pages = self._destination_pages(page.pdf(**options))
                page.evaluate(_PAGE_NUMBERS_JS, pages)
                pdf = page.pdf(**final)
                # Numbers are short and the contents have a page of their own, so they move nothing; checked all
                # the same (a contents list longer than a page would), and written in again if they did.
                moved = self._destination_pages(pdf)
                if moved != pages:
                    page.evaluate(_PAGE_NUMBERS_JS, moved)
                    pdf = page.pdf(**final)
            else:
                pdf = page.pdf(**final)
            Path(target).write_bytes(pdf)
            self._printed += 1
            if self._printed >= self.TAB_PACKS:
                self._page = None
                page.close()
            else:
                self._release(page)
        except BaseException:
            # A tab in an unknown state is never reused: the next pack gets a new one.
            with contextlib.suppress(Exception):
                page.close()
            self._page = None
            raise

    def _release(self, page) -> None:
        """Let the tab's renderer give back what the printed pack left in its caches (decoded images, layout,
        script heap) before the next pack: the document is replaced by an empty one and Chromium is told that
        memory is critically short, as the operating system would tell it."""
        with contextlib.suppress(Exception):
            page.set_content("<!doctype html><title>-</title>")
            if self._cdp is None or self._cdp_page is not page:
                self._cdp, self._cdp_page = page.context.new_cdp_session(page), page
            self._cdp.send("HeapProfiler.collectGarbage")
            self._cdp.send("Memory.simulatePressureNotification", {"level": "critical"})

    def _destination_pages(self, pdf: bytes) -> dict[str, int]:
        """Link target id → page number (1-based), from the named destinations of a printed PDF."""
        import io

        reader = self._pypdf.PdfReader(io.BytesIO(pdf))
        pages = {}
        for name, dest in reader.named_destinations.items():
            number = reader.get_destination_page_number(dest)
            if number is not None and number >= 0:
                pages[str(name).lstrip("/")] = number + 1
        return pages

    def close(self) -> None:
        """Shut the browser down (also done at interpreter exit)."""
        with contextlib.suppress(Exception):
            self._browser.close()
        with contextlib.suppress(Exception):
            self._playwright.stop()


# Text width of an A4 page with pack.css's 16 mm side margins, in CSS pixels (96 per inch).
_A4_TEXT_WIDTH_PX = round((210 - 2 * 16) / 25.4 * 96)

# Links whose text must end with the page they point to (else one print is enough): the contents, and each
# chart's "Data behind this chart: appendix" note. WeasyPrint prints those numbers with target-counter().
_PAGE_REFS = 'nav.cinb-toc a[href^="#"], .cinb-data-ref a[href^="#"]'
_HAS_PAGE_REFS_JS = f"() => document.querySelectorAll('{_PAGE_REFS}').length > 0"

# Hide images for the first print (layout unchanged: visibility keeps their box); _PAGE_NUMBERS_JS shows them again.
_HIDE_IMAGES_JS = """() => {
  const style = document.createElement('style');
  style.id = 'cinb-first-pass';
  style.textContent = 'img { visibility: hidden !important; }';
  document.head.append(style);
}"""

# Write the page numbers in: each contents entry gets a dotted leader and its number (print styles in pack.css,
# under .cinb-toc-page), each chart-data note ", page N". Only numbers are added: the contents keep their single
# page and a note its single line, so the pages stay those of the first print.
_PAGE_NUMBERS_JS = """(pages) => {
  document.getElementById('cinb-first-pass')?.remove();
  const pageOf = (a) => pages[decodeURIComponent(a.getAttribute('href').slice(1))];
  for (const a of document.querySelectorAll('nav.cinb-toc a[href^="#"]')) {
    const n = pageOf(a);
    if (n === undefined) continue;
    const old = a.querySelector('.cinb-toc-page');
    if (old) { old.textContent = String(n); continue; }  // numbered already: a correction
    const text = document.createElement('span');
    text.className = 'cinb-toc-text';
    while (a.firstChild) text.appendChild(a.firstChild);
    const leader = document.createElement('span');
    leader.className = 'cinb-toc-leader';
    leader.setAttribute('aria-hidden', 'true');
    const number = document.createElement('span');
    number.className = 'cinb-toc-page';
    number.textContent = String(n);
    a.append(text, leader, number);
    a.classList.add('cinb-toc-numbered');
  }
  for (const a of document.querySelectorAll('.cinb-data-ref a[href^="#"]')) {
    const n = pageOf(a);
    if (n === undefined) continue;
    let ref = a.querySelector('.cinb-ref-page');
    if (!ref) { ref = document.createElement('span'); ref.className = 'cinb-ref-page'; a.append(ref); }
    ref.textContent = `, page ${n}`;
  }
}"""
