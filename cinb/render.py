"""Rendering: an executed notebook becomes a self-contained accessible HTML pack, then a paged A4 PDF."""

from __future__ import annotations

import atexit
import contextlib
import copy
import datetime as dt
import functools
import html as htmllib
import json
import math
import os
import re
import secrets
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterator, Mapping, Protocol

import nbformat

from cinb.errors import PackError, UsageError

__all__ = [
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

    Returns
    -------
    str
        The HTML document.

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
        }
    }
    try:
        page, _ = _exporter().from_notebook_node(notebook, resources=resources)
    except Exception as exc:  # a template error is a defect, but the caller needs to know which pack failed
        raise PackError(f"Could not render the HTML pack {title!r}: {type(exc).__name__}: {exc}") from exc
    return _finish(page)


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
    rewriter = _PackRewriter()
    body = rewriter.rewrite(body)
    head = head.replace(_PLACEHOLDER_TOC, _toc_html(rewriter.toc, bool(rewriter.chart_data)), 1)
    tail = tail.replace(_PLACEHOLDER_APPENDIX, _appendix_html(rewriter.chart_data), 1)
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
    if not chart_data:
        return ""
    parts = ['<section class="cinb-print-only cinb-appendix" aria-labelledby="cinb-appendix">',
             '<h2 id="cinb-appendix">Appendix: data behind the charts</h2>']
    for anchor, caption, table in chart_data:
        parts.append(f'<section id="{anchor}"><h3>{htmllib.escape(caption)}</h3>\n{table}\n</section>')
    parts.append("</section>")
    return "\n".join(parts)


_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
                   "source", "track", "wbr", "frame"})
_DROP_WITH_CONTENT = frozenset({"script", "iframe", "object", "applet", "frameset", "noscript", "template",
                                "noembed", "noframes",
                                # SVG animation can rewrite an href into a script URL after loading.
                                "animate", "set", "animatemotion", "animatetransform", "animatecolor"})
_DROP_TAG_ONLY = frozenset({"base", "link", "meta", "embed", "frame"})
_URL_ATTRS = frozenset({"src", "href", "xlink:href", "action", "formaction", "poster", "background", "data",
                        "cite", "longdesc", "ping", "manifest", "lowsrc", "dynsrc", "srcset", "codebase",
                        "archive", "usemap", "profile"})
_TEMPLATE_IDS = frozenset({"content", "cinb-toc-heading", "cinb-appendix", "cinb-meta"})
_HEADING = re.compile(r"^h([1-6])$")
_SAFE_IMAGE = re.compile(r"^\s*data:image/(png|jpeg|gif|webp|svg\+xml)[;,]", re.IGNORECASE)
_LINK_SCHEME = re.compile(r"^\s*([a-zA-Z][a-zA-Z0-9+.\-]*):")
_CSS_FETCH = re.compile(r"url\s*\(\s*['\"]?\s*(?!data:)|@import|expression\s*\(|javascript:", re.IGNORECASE)
_CSS_ANY_FETCH = re.compile(r"url\s*\(|@import|expression\s*\(|javascript:|behavior\s*:", re.IGNORECASE)


class _PackRewriter(HTMLParser):
    """One streaming pass over the notebook's HTML.

    It removes anything that could run or fetch (scripts, frames, event handlers, non-data images, remote
    stylesheets), drops the markdown pilcrow links, renumbers headings so that the pack title stays the only
    ``h1`` and no level is skipped, gives every heading a unique id, and collects the ``h2`` headings (contents)
    and the chart data tables (printed appendix). Text is decoded and encoded again, so escaped markup in the
    data stays text.
    """

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._skip: list[str] = []          # stack of dropped elements we are inside
        self._prev_level = 1                # the pack title
        self._heading: tuple[int, list[str]] | None = None
        self._ids: set[str] = set(_TEMPLATE_IDS)
        self.toc: list[tuple[str, str]] = []
        self.chart_data: list[tuple[str, str, str]] = []
        self._figure_depth = 0
        self._caption: list[str] | None = None
        self._last_caption = ""
        self._capture: list[str] | None = None   # HTML of the chart-data <details>, minus its <summary>
        self._details_depth = 0
        self._in_summary = 0
        self._style: list[str] = []

    def rewrite(self, text: str) -> str:
        self.feed(text)
        self.close()
        return "".join(self._out)

    # output -------------------------------------------------------------------------------------------------
    def _emit(self, text: str, *, capture: str | None = None) -> None:
        self._out.append(text)
        if self._capture is not None and not self._in_summary:
            self._capture.append(text if capture is None else capture)

    def _text(self, raw: str) -> None:
        if self._heading is not None:
            self._heading[1].append(raw)
        if self._caption is not None:
            self._caption.append(raw)

    # parser callbacks ----------------------------------------------------------------------------------------
    def handle_starttag(self, tag, attrs):
        self._start(tag, attrs, self.get_starttag_text(), selfclosing=False)

    def handle_startendtag(self, tag, attrs):
        self._start(tag, attrs, self.get_starttag_text(), selfclosing=True)

    def _start(self, tag, attrs, original, *, selfclosing):
        if self._skip:
            if not selfclosing and tag not in _VOID and tag == self._skip[-1]:
                self._skip.append(tag)
            return
        classes = set((dict(attrs).get("class") or "").split())
        if tag in _DROP_TAG_ONLY:
            return
        if tag in _DROP_WITH_CONTENT or (tag == "a" and "anchor-link" in classes):
            if not selfclosing:
                self._skip.append(tag)
            return
        if tag == "style":
            # Styles are kept (pandas Styler uses them) unless they could fetch; decided at the end tag.
            self._skip.append(tag)
            self._style = [original]
            return

        clean, changed = self._clean_attrs(tag, attrs)
        if tag == "img" and not any(k == "src" for k, _ in clean):
            alt = dict(attrs).get("alt") or "image"
            self._emit(f'<span class="cinb-missing-image">[Image not included: {htmllib.escape(alt)}]</span>')
            return

        match = _HEADING.match(tag)
        if match:
            level = min(max(int(match.group(1)), 2), self._prev_level + 1)
            self._prev_level = level
            ident = dict(clean).get("id")
            clean = [(k, v) for k, v in clean if k != "id"]
            self._heading = (level, [])
            self._heading_id = ident
            self._heading_attrs = clean
            # The opening tag is written at the end tag, once the text (for a generated id) is known.
            self._heading_slot = (len(self._out), None if self._capture is None else len(self._capture))
            self._emit("")
            return

        text = _tag_text(tag, clean, selfclosing) if changed else original
        ident = dict(clean).get("id")
        if ident:
            self._ids.add(ident)  # so that generated heading ids do not collide with it
        capture_text = None
        if self._capture is not None and any(k == "id" for k, _ in clean):
            # Copies in the appendix must not duplicate ids.
            capture_text = _tag_text(tag, [(k, v) for k, v in clean if k != "id"], selfclosing)
        if tag == "figure" and "cinb-chart" in classes:
            self._figure_depth += 1
            self._last_caption = ""
        elif tag == "figcaption" and self._figure_depth:
            self._caption = []
        elif tag == "details" and "cinb-chart-data" in classes and self._capture is None:
            self._emit(text)
            self._capture = []
            self._details_depth = 1
            return
        elif tag == "details" and self._capture is not None:
            self._details_depth += 1
        elif tag == "summary" and self._capture is not None:
            self._in_summary += 1
            self._emit(text)
            return
        self._emit(text, capture=capture_text)

    def handle_endtag(self, tag):
        if self._skip:
            if tag == self._skip[-1]:
                self._skip.pop()
                if not self._skip and tag == "style":
                    css = "".join(self._style[1:])
                    if not _CSS_FETCH.search(css):
                        self._emit(self._style[0] + css + "</style>")
            return
        if tag in _VOID:
            return
        match = _HEADING.match(tag)
        if match and self._heading is not None:
            self._close_heading()
            return
        if tag == "summary" and self._in_summary:
            self._emit("</summary>")
            self._in_summary -= 1
            return
        if tag == "details" and self._capture is not None:
            self._details_depth -= 1
            if self._details_depth == 0:
                table = "".join(self._capture).strip()
                self._capture = None
                self._emit("</details>")
                number = len(self.chart_data) + 1
                anchor = f"cinb-chart-data-{number}"
                caption = self._last_caption or f"Chart {number}"
                self.chart_data.append((anchor, f"Chart {number}: {caption}", table))
                self._emit(f'\n<p class="cinb-print-only cinb-data-ref"><a href="#{anchor}">'
                           f"Data behind this chart: appendix</a></p>")
                return
        if tag == "figcaption" and self._caption is not None:
            self._last_caption = _plain(self._caption)
            self._caption = None
        elif tag == "figure" and self._figure_depth:
            self._figure_depth -= 1
        self._emit(f"</{tag}>")

    def _close_heading(self):
        level, parts = self._heading
        text = _plain(parts or [])
        ident = self._heading_id
        if not ident or not ident.strip() or re.search(r"\s", ident) or ident in self._ids:
            ident = _unique_slug(ident if ident and ident.strip() else text, self._ids)
        self._ids.add(ident)
        attrs = [("id", ident), *self._heading_attrs]
        out_slot, capture_slot = self._heading_slot
        self._out[out_slot] = _tag_text(f"h{level}", attrs, False)
        if self._capture is not None and capture_slot is not None:
            self._capture[capture_slot] = _tag_text(f"h{level}", self._heading_attrs, False)
        self._emit(f"</h{level}>")
        if level == 2 and text:
            self.toc.append((ident, text))
        self._heading = None

    def handle_data(self, data):
        if self._skip:
            if self._skip == ["style"]:
                self._style.append(data)
            return
        self._text(data)
        # The parser has decoded entities; encoding again keeps text as text (escaped markup stays inert).
        self._emit(htmllib.escape(data, quote=False))

    def handle_comment(self, data):
        pass

    def handle_decl(self, decl):
        pass

    def handle_pi(self, data):
        pass

    def unknown_decl(self, data):
        if not self._skip and data.upper().startswith("CDATA["):
            self._emit(f"<![{data}]]>")

    # attributes ---------------------------------------------------------------------------------------------
    @staticmethod
    def _clean_attrs(tag, attrs):
        clean, changed = [], False
        for name, value in attrs:
            lname = name.lower()
            if lname.startswith("on") or lname == "srcset":
                changed = True
                continue
            if value is not None and lname in _URL_ATTRS:
                if not _allowed_url(tag, lname, value):
                    changed = True
                    continue
            if value is not None and lname == "style" and _CSS_ANY_FETCH.search(value):
                changed = True
                continue
            clean.append((name, value))
        return clean, changed


def _allowed_url(tag: str, attr: str, value: str) -> bool:
    if attr == "href" and tag in ("a", "area"):
        scheme = _LINK_SCHEME.match(value)
        # Links are followed only when a reader clicks them: relative links (other packs) and web links are
        # fine; script and data URLs are not.
        return scheme is None or scheme.group(1).lower() in ("http", "https", "mailto", "tel")
    if attr in ("href", "xlink:href") and value.strip().startswith("#"):
        return True  # in-page references, e.g. SVG <use>
    if attr == "src" and tag in ("img", "source", "input"):
        return bool(_SAFE_IMAGE.match(value))
    return False


def _tag_text(tag: str, attrs, selfclosing: bool) -> str:
    parts = [tag]
    for name, value in attrs:
        parts.append(name if value is None else f'{name}="{htmllib.escape(value, quote=True)}"')
    return "<" + " ".join(parts) + (" />" if selfclosing else ">")


def _plain(parts: list[str]) -> str:
    return " ".join("".join(parts).split())


def _unique_slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^\w-]+", "-", text.strip().lower(), flags=re.UNICODE).strip("-") or "section"
    if not base[0].isalpha():
        base = "s-" + base
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


# --------------------------------------------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------------------------------------------

class PdfBackend(Protocol):
    """Anything that turns a pack's HTML into a PDF file."""

    name: str

    def write_pdf(self, html: str, target: Path) -> None:
        """Write the PDF of `html` to the file `target`."""


class WeasyPrintBackend:
    """PDF through WeasyPrint (pure Python plus the system's Pango): the default backend.

    One instance is kept per process (see `get_backend`) so that the font configuration, the costliest part of
    a first render, is built once.
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


class ChromiumBackend:
    """PDF through the system's Chromium, driven by Playwright (``pip install 'cinb[chromium]'``; no browser
    download): several times faster than WeasyPrint on a chart-heavy pack.

    Chromium has no ``target-counter()``, so page references (the contents, and each chart's note pointing to its
    data in the appendix) get their numbers in two passes over one loaded page: the first print tells on which
    page each target is (from the PDF's named destinations, one per link target), the numbers are written in,
    and the second print is the pack. Adding the numbers changes no line breaks, so both prints have the same
    pages.

    One browser and one tab are kept per process (see `get_backend`); every pack replaces the tab's whole
    document, and the tab loads nothing from outside (every request is refused; packs have no scripts). The tab
    is replaced by a new one every :attr:`TAB_PACKS` packs: its renderer process keeps memory from the documents
    it has printed (measured on contract packs: 540 MiB after 10, 650 MiB after 40; in a 100-pack batch the two
    workers' renderers reached 1.4 GiB together), and a new tab costs about 0.4 s once.
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
        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=str(path),
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run",
                      "--disable-extensions", "--mute-audio"],
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
        page = self._tab()
        try:
            page.set_content(html, wait_until="load")
            if page.evaluate(_OVERFLOWS_JS):
                # Chromium would shrink every page to fit the widest element (a table with many columns): let
                # table cells wrap anywhere instead, as the last resort, so that the text keeps its size.
                page.add_style_tag(content=_FIT_CSS)
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
        except BaseException:
            # A tab in an unknown state is never reused: the next pack gets a new one.
            with contextlib.suppress(Exception):
                page.close()
            self._page = None
            raise

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
_OVERFLOWS_JS = "() => document.documentElement.scrollWidth > document.documentElement.clientWidth + 1"
_FIT_CSS = ("table { max-width: 100%; } th, td, caption { overflow-wrap: anywhere; white-space: normal; } "
            "img, svg { max-width: 100%; height: auto; } pre { white-space: pre-wrap; overflow-wrap: anywhere; }")

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
    """
    name = resolve_backend(name)
    if name not in _WARM:
        _WARM[name] = BACKENDS[name]()
    return _WARM[name]


def render_pdf(html: str, out_path: str | os.PathLike, *, backend: str | PdfBackend = "weasyprint") -> Path:
    """Print a pack's HTML to an A4 PDF, written atomically to `out_path`.

    The pack's print styles give the cover, the contents with page numbers, the running header with the
    protective marking, "Page N of M" footers and the chart-data appendix.

    Parameters
    ----------
    html : str
        A page from `render_html`.
    out_path : path
        Where the PDF goes; its folder must exist. Nothing is visible under this name until the PDF is complete.
    backend : str or PdfBackend, default "weasyprint"
        ``"weasyprint"``, ``"chromium"``, ``"auto"`` (see `resolve_backend`) or an object with
        ``write_pdf(html, target)``.

    Returns
    -------
    Path
        `out_path`.
    """
    engine = get_backend(backend) if isinstance(backend, str) else backend
    html = _open_all_details(html)
    out_path = Path(out_path)
    with _atomic_target(out_path) as tmp:
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
            _atomic_write_text(target, page)
        elif fmt == "pdf":
            render_pdf(page, target, backend=backend)
        else:
            _atomic_write_text(target, nbformat.writes(notebook))
        written[fmt] = target
    return written


@contextlib.contextmanager
def _atomic_target(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; on success it replaces `final` in one step, else it is removed."""
    final = Path(final)
    tmp = final.with_name(f".{final.name}.{secrets.token_hex(6)}.tmp")
    # Created through os.open so that the file gets the usual permissions (umask), not mkstemp's 0600.
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _atomic_write_text(target: Path, text: str) -> None:
    with _atomic_target(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
