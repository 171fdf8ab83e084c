"""Rendering: an executed notebook becomes a self-contained accessible HTML pack, then a paged A4 PDF.

This module exports the notebook to HTML with nbconvert and the ``cinb_pack`` template, and writes a pack's files
(:func:`write_outputs`). The notebook's HTML is made safe by :mod:`cinb.sanitize`; PDFs are printed by
:mod:`cinb.pdf` (whose names are re-exported here: ``from cinb.render import render_pdf`` keeps working).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import functools
import html as htmllib
import json
import math
import os
import re
import threading
from pathlib import Path
from typing import Any, Mapping

import nbformat

from cinb.branding import Brand, check_accent, check_text
from cinb.errors import PackError, UsageError
from cinb.files import atomic_write_text
from cinb.pdf import (
    BACKEND_CHOICES,
    BACKENDS,
    ChromiumBackend,
    PdfBackend,
    WeasyPrintBackend,
    _open_all_details,  # noqa: F401  (re-exported for the tests)
    chromium_available,
    get_backend,
    render_pdf,
    resolve_backend,
)
from cinb.print_appendix import appendix_html
from cinb.sanitize import CONTENT_SECURITY_POLICY, PackRewriter

__all__ = [
    "BACKENDS",
    "BACKEND_CHOICES",
    "REMOVED_CELL_TAGS",
    "ChromiumBackend",
    "PdfBackend",
    "WeasyPrintBackend",
    "chromium_available",
    "get_backend",
    "render_html",
    "render_pdf",
    "resolve_backend",
    "write_outputs",
]

TEMPLATES_DIR = Path(__file__).parent / "templates"
TEMPLATE_NAME = "cinb_pack"

#: Cells carrying one of these tags never reach a pack (papermill's parameters, our own "remove", and the
#: red error banner papermill adds on failure: the failing output itself is shown as a plain note instead).
REMOVED_CELL_TAGS = frozenset({"parameters", "injected-parameters", "remove", "papermill-error-cell-tag"})

# Output types that would put executable or external content into a pack.
_DROPPED_MIMETYPES = frozenset({
    "application/javascript",
    "application/vnd.jupyter.widget-view+json",
    "application/vnd.jupyter.widget-state+json",
    "text/vnd.mermaid",
    "application/pdf",
})

_FORMATS = ("html", "pdf", "ipynb")
_PLACEHOLDER_TOC = "<!--cinb:toc-->"
_PLACEHOLDER_APPENDIX = "<!--cinb:appendix-->"
_CONTENT_START = "<!--cinb:content-start-->"
_CONTENT_END = "<!--cinb:content-end-->"
# The template's contents <nav> sits between these two markers; a cell tagged "verdict" leaves the slot after it.
_TOC_NAV_START = "<!--cinb:toc-nav-->"
_TOC_NAV_END = "<!--/cinb:toc-nav-->"
_TOC_SLOT = '<div class="cinb-toc-slot"></div>'


# --------------------------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------------------------

def render_html(
    nb: nbformat.NotebookNode | Mapping[str, Any] | str | os.PathLike,
    *,
    title: str,
    subtitle: str | None = None,
    marking: str = "OFFICIAL",
    running_header: str | None = None,
    meta: Mapping[str, Any] | None = None,
    brand: Brand | Mapping[str, Any] | None = None,
) -> str:
    """Render an executed notebook as one self-contained, accessible HTML review pack.

    The pack has no code, prompts, streams (logging, warnings) or cells tagged ``parameters``,
    ``injected-parameters`` or ``remove``; it loads nothing from outside and runs no script. The pack title is
    the only ``h1``; notebook headings are shifted so that no level is skipped, and the ``h2`` headings make the
    table of contents.

    Parameters
    ----------
    nb : NotebookNode, dict or path
        The executed notebook (or the path of an ``.ipynb`` file).
    title : str
        Pack title: the page ``<title>``, the ``h1`` and the cover.
    subtitle : str, optional
        A line under the title on the cover (e.g. supplier and period).
    marking : str, default "OFFICIAL"
        Protective marking shown at the top and bottom of the page and of every printed page.
    running_header : str, optional
        Text of the printed pages' running header; defaults to `title`.
    meta : mapping, optional
        Data embedded as ``<script type="application/json" id="cinb-meta">`` (JSON; dates become ISO strings,
        NaN becomes null). ``meta["generated"]`` or ``meta["generated_at"]`` (ISO date-time) sets the date on the
        cover; otherwise today's date is shown.
    brand : Brand or mapping, optional
        The authority's branding (:class:`cinb.branding.Brand`, or a mapping of the ``brand_*`` parameters,
        checked here): name and logo on the cover, name in the printed pages' running header, footer text at the
        foot of every printed page and at the end of the page, accent colour for rules, borders, the cover band
        and links. Without it (or with every value empty) the page is exactly as before branding existed.

    Returns
    -------
    str
        The HTML document.

    Raises
    ------
    UsageError
        When `title` or `marking` is empty, `nb` is not a notebook (or a readable ``.ipynb`` file), or a
        branding value is refused (see :mod:`cinb.branding`).
    PackError
        When the template fails (a damaged ``cinb/templates``).

    Examples
    --------
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## Summary\\nAll good.")])
    >>> page = render_html(nb, title="Contract C001")
    >>> '<h1 class="cinb-title">Contract C001</h1>' in page and 'href="#Summary"' in page
    True
    """
    for name, value in (("title", title), ("marking", marking)):
        if not isinstance(value, str) or not value.strip():
            raise UsageError(f"render_html: {name} must be a non-empty string, got {value!r}.")
    if not isinstance(brand, Brand):
        brand = Brand.from_settings(brand)
    notebook = _pack_notebook(_as_notebook(nb))
    generated = _generated_at(meta)
    resources = {
        "cinb": {
            "lang": "en-GB",
            "version": _cinb_version(),
            "title": title.strip(),
            "subtitle": (subtitle or "").strip(),
            "marking": marking.strip(),
            "running_header": (running_header or title).strip(),
            "generated_iso": generated.isoformat(timespec="seconds"),
            "generated_text": f"{generated.day} {generated:%B %Y}",
            "meta_json": _meta_json(meta) if meta is not None else "",
            "component_css": _component_css(),
            # A constant, written into a double-quoted attribute as it is (it holds no " < > &).
            "csp": CONTENT_SECURITY_POLICY,
            "brand": _brand_resources(brand),
        }
    }
    warming = _warming
    if warming is not None and warming is not threading.current_thread():
        warming.join()  # the exporter is being built: use that one, not a second
    try:
        page, _ = _exporter().from_notebook_node(notebook, resources=resources)
    except Exception as exc:  # a template error is a defect, but the caller needs to know which pack failed
        raise PackError(f"Could not render the HTML pack {title!r}: {type(exc).__name__}: {exc}") from exc
    return _finish(page)


_warming: threading.Thread | None = None


def prepare_in_background() -> None:
    """Build the HTML exporter and compile its templates in a background thread, once per process.

    Building nbconvert's exporter and compiling the pack template take about 0.5 s the first time a process
    renders a pack. :func:`cinb.pack.build_pack` calls this before it waits for the pack's kernel, so that the
    work is done while the kernel runs the notebook (the process is otherwise idle then) rather than after: the
    whole of it for ``cinb run``, the first pack's for each batch worker. :func:`render_html` waits
    for the thread before it renders. A failure here is ignored: the real render meets it and reports it.
    """
    global _warming
    if _warming is not None or _exporter.cache_info().currsize:
        return

    def warm() -> None:
        with contextlib.suppress(Exception):
            render_html(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## Warm-up")]),
                        title="Warm-up")

    _warming = threading.Thread(target=warm, name="cinb-html-warm-up", daemon=True)
    _warming.start()


def _brand_resources(brand: Brand) -> dict[str, str] | None:
    """What the template needs of the branding (None: no branding, the template adds nothing)."""
    if not brand:
        return None
    # Checked again, for a Brand built by hand: the accent goes into a stylesheet as it is.
    accent = check_accent(brand.accent)
    return {"name": check_text("brand_name", brand.name) or "",
            "footer": check_text("brand_footer", brand.footer) or "", "accent": accent or "",
            "logo_src": brand.logo.data_uri() if brand.logo else "", "logo_alt": brand.logo_alt}


@functools.lru_cache(maxsize=1)
def _exporter():
    # Built once per process: creating the Jinja environment costs more than rendering a pack.
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from traitlets.config import Config

    class PackExporter(HTMLExporter):
        """HTMLExporter without its last step, which parses the whole page again with BeautifulSoup (0.1 s a
        contract pack) to give JupyterLab markup tabindex and images a placeholder alt text: the cinb template
        has no JupyterLab markup, gives every image its alt text (``image_alt``), and the page is parsed once
        more anyway by `_finish`. Its code-highlighting and widget filters are not needed either: a pack shows
        no code and no widgets."""

        def from_notebook_node(self, nb, resources=None, **kw):
            return TemplateExporter.from_notebook_node(self, nb, resources, **kw)

    config = Config()
    config.HTMLExporter.exclude_input = True
    config.HTMLExporter.exclude_input_prompt = True
    config.HTMLExporter.exclude_output_prompt = True
    config.HTMLExporter.exclude_raw = True
    config.HTMLExporter.exclude_unknown = True
    # _pack_notebook already drops the tagged cells; the preprocessor also keeps nbconvert's own tag
    # conventions (remove-output) working for anyone used to them.
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_cell_tags = set(REMOVED_CELL_TAGS)
    config.TagRemovePreprocessor.remove_all_outputs_tags = {"remove-output"}
    exporter = PackExporter(
        config=config, template_name=TEMPLATE_NAME, extra_template_basedirs=[str(TEMPLATES_DIR)]
    )
    exporter.register_filter("css_string", _css_string)
    exporter.register_filter("image_alt", _image_alt)
    return exporter


def _as_notebook(nb) -> nbformat.NotebookNode:
    if isinstance(nb, (str, os.PathLike)):
        try:
            return nbformat.read(os.fspath(nb), as_version=4)
        except (OSError, ValueError) as exc:
            raise UsageError(f"Cannot read the notebook {os.fspath(nb)!r}: {exc}") from exc
    if isinstance(nb, nbformat.NotebookNode):
        return nb
    if isinstance(nb, Mapping):
        return nbformat.from_dict(dict(nb))
    raise UsageError(f"render_html expects a notebook, a dict or a path, got {type(nb).__name__}.")


def _pack_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `nb` holding only what a reader of the pack should see."""
    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb.cells:
        if REMOVED_CELL_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        if cell.cell_type == "code":
            cell.outputs = [out for out in map(_pack_output, cell.get("outputs", [])) if out is not None]
            if not cell.outputs:
                continue
        cells.append(cell)
    nb.cells = cells
    return nb


def _pack_output(output):
    kind = output.get("output_type")
    if kind == "stream":
        return None
    if kind in ("display_data", "execute_result"):
        data = output.get("data", {})
        kept = {mime: value for mime, value in data.items() if mime not in _DROPPED_MIMETYPES}
        # A bare text repr is a notebook artefact (a figure handle, a return value), not content; so is the
        # text fallback of something dropped above.
        if not kept or (set(kept) == {"text/plain"} and (kind == "execute_result" or len(data) > 1)):
            return None
        output = copy.copy(output)
        output["data"] = nbformat.from_dict(kept)
    return output


def _image_alt(output, mimetype: str) -> str:
    metadata = output.get("metadata", {}) or {}
    for source in (metadata.get(mimetype), metadata):
        if isinstance(source, Mapping):
            alt = source.get("alt")
            if isinstance(alt, str) and alt.strip():
                return alt.strip()
    return "Figure without a text description"


def _css_string(value: str) -> str:
    """A CSS string literal for `value` that cannot end the string or the <style> element."""
    out = []
    for ch in str(value):
        if ch in '\\"<>&\'' or ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):x} ")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and not hasattr(value, "__len__"):  # numpy scalars
        return _jsonable(value.item())
    if hasattr(value, "isoformat"):
        try:
            return value.isoformat()
        except (TypeError, ValueError):  # NaT
            return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def _meta_json(meta: Mapping[str, Any]) -> str:
    text = json.dumps(_jsonable(meta), ensure_ascii=False, sort_keys=False, allow_nan=False)
    # Inside <script> only "</script" or "<!--" could end the element; escaping every <, > and & as JSON
    # unicode escapes keeps the text valid JSON and makes breaking out impossible.
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def _generated_at(meta: Mapping[str, Any] | None) -> dt.datetime:
    for key in ("generated", "generated_at"):
        value = (meta or {}).get(key)
        if isinstance(value, dt.datetime):
            return value
        if isinstance(value, dt.date):
            return dt.datetime(value.year, value.month, value.day)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt.datetime.now().replace(microsecond=0)


@functools.lru_cache(maxsize=1)
def _component_css() -> str:
    """The display components' stylesheet, plus rating colours taken from the same palette.

    One palette for JupyterLab, the pack and the charts; ``!important`` because a rating's contrast must not
    depend on whatever inline colour an output carries.
    """
    from cinb import display

    rules = [display.CSS]
    for style in display.RATING_STYLES.values():
        values = (style.css_class, style.background, style.color)
        if not (re.fullmatch(r"[A-Za-z][\w-]*", values[0])
                and all(re.fullmatch(r"#[0-9A-Fa-f]{3,8}", v) for v in values[1:])):
            raise PackError(f"cinb.display.RATING_STYLES has an unusable entry {style!r}: fix cinb/display.py.")
        rules.append(f".{values[0]} {{ background-color: {values[1]} !important; color: {values[2]} !important; }}")
    return "\n".join(rules)


def _cinb_version() -> str:
    from cinb import __version__

    return __version__


def _finish(page: str) -> str:
    """Make the notebook's part of the page safe and well structured, then fill in contents and appendix."""
    # The template's start marker is the first one and its end marker the last one, whatever the notebook holds.
    head, sep1, rest = page.partition(_CONTENT_START)
    body, sep2, tail = rest.rpartition(_CONTENT_END)
    if not (sep1 and sep2):
        raise PackError("The cinb_pack template lost its content markers; cinb/templates is damaged.")
    rewriter = PackRewriter()
    body = rewriter.rewrite(body)
    head = head.replace(_PLACEHOLDER_TOC, _toc_html(rewriter.toc, bool(rewriter.chart_data)), 1)
    tail = tail.replace(_PLACEHOLDER_APPENDIX, _appendix_html(rewriter.chart_data), 1)
    # A pack that opens with its verdict has the contents right after the verdict (see the template).
    start, end = head.find(_TOC_NAV_START), head.find(_TOC_NAV_END)
    if 0 <= start < end:
        nav = head[start + len(_TOC_NAV_START):end]
        if _TOC_SLOT in body:
            head = head[:start] + head[end + len(_TOC_NAV_END):]
            body = body.replace(_TOC_SLOT, nav.strip("\n"), 1)
        else:
            head = head[:start] + nav.strip("\n") + head[end + len(_TOC_NAV_END):]
    return head + body + tail


def _toc_html(entries: list[tuple[str, str]], has_appendix: bool) -> str:
    items = [f'<li><a href="#{htmllib.escape(i)}">{htmllib.escape(t)}</a></li>' for i, t in entries]
    if has_appendix:
        items.append('<li class="cinb-print-only"><a href="#cinb-appendix">'
                     'Appendix: data behind the charts</a></li>')
    if not items:
        return '<p>This pack has no sections.</p>'
    return "<ol>\n" + "\n".join(items) + "\n</ol>"


def _appendix_html(chart_data: list[tuple[str, str, str]]) -> str:
    return appendix_html(chart_data)


# --------------------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------------------

def write_outputs(
    nb: nbformat.NotebookNode | Mapping[str, Any] | str | os.PathLike,
    out_dir: str | os.PathLike,
    stem: str,
    formats: tuple[str, ...] | list[str] | str = ("html", "pdf"),
    *,
    backend: str | PdfBackend = "weasyprint",
    **render_kwargs,
) -> dict[str, Path]:
    """Write a pack's files ``<out_dir>/<stem>.<format>``, each one atomically.

    Parameters
    ----------
    nb : NotebookNode, dict or path
        The executed notebook.
    out_dir : path
        Output folder (created if missing).
    stem : str
        File name without extension, e.g. ``"review"``.
    formats : sequence of {"html", "pdf", "ipynb"} or a comma-separated str
        ``ipynb`` writes the executed notebook itself.
    backend : str or PdfBackend
        PDF backend, see `render_pdf`.
    **render_kwargs
        Passed to `render_html` (``title`` is required).

    Returns
    -------
    dict of str to Path
        Format → file written, in the order asked.

    Raises
    ------
    UsageError
        For an unknown format, a stem that is not a plain file name, or a notebook that cannot be read.
    PackError
        When the HTML cannot be rendered or the PDF cannot be printed (see `render_html`, `render_pdf`).
    OSError
        When a file cannot be written.
    """
    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    unknown = [f for f in formats if f not in _FORMATS]
    if unknown or not formats:
        raise UsageError(f"Unknown output format(s) {', '.join(map(repr, unknown)) or '(none given)'}: "
                         f"choose from {', '.join(_FORMATS)}.")
    if not stem or Path(stem).name != stem:
        raise UsageError(f"The file stem {stem!r} must be a plain file name without folders.")
    notebook = _as_notebook(nb)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    page = render_html(notebook, **render_kwargs) if {"html", "pdf"} & set(formats) else None
    written: dict[str, Path] = {}
    for fmt in dict.fromkeys(formats):
        target = out / f"{stem}.{fmt}"
        if fmt == "html":
            atomic_write_text(target, page)
        elif fmt == "pdf":
            render_pdf(page, target, backend=backend)
        else:
            atomic_write_text(target, nbformat.writes(notebook))
        written[fmt] = target
    return written
