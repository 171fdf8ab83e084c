"""Make a notebook's HTML safe to publish in a pack: one streaming rewrite, and the page's Content-Security-Policy.

:class:`PackRewriter` removes anything that could run code or fetch from outside (scripts, frames, event
handlers, non-data images, remote stylesheets), keeps the headings in order and collects what the contents and the
chart-data appendix need. :data:`CONTENT_SECURITY_POLICY` is the second line of defence, in every page cinb writes
(the packs and the month's index): even if something slipped through, the browser fetches and runs nothing.

Only the standard library is used: this module is imported by the pack renderer and by the index writer.
"""

from __future__ import annotations

import html as htmllib
import re
from html.parser import HTMLParser

__all__ = ["CONTENT_SECURITY_POLICY", "PackRewriter"]

#: The Content-Security-Policy of every page cinb writes (a ``<meta http-equiv>``): nothing is fetched but data:
#: images and fonts, no script runs, inline styles are allowed (the pages carry their own), and the page can set
#: no base URL and submit no form.
CONTENT_SECURITY_POLICY = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
                           "base-uri 'none'; form-action 'none'")

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
# Ids the pack template itself uses (cinb/templates/cinb_pack/index.html.j2): a heading never takes one of them.
_TEMPLATE_IDS = frozenset({"content", "cinb-toc-heading", "cinb-appendix", "cinb-meta"})
_HEADING = re.compile(r"^h([1-6])$")
_SAFE_IMAGE = re.compile(r"^\s*data:image/(png|jpeg|gif|webp|svg\+xml)[;,]", re.IGNORECASE)
_LINK_SCHEME = re.compile(r"^\s*([a-zA-Z][a-zA-Z0-9+.\-]*):")
_CSS_FETCH = re.compile(r"url\s*\(\s*['\"]?\s*(?!data:)|@import|expression\s*\(|javascript:", re.IGNORECASE)
_CSS_ANY_FETCH = re.compile(r"url\s*\(|@import|expression\s*\(|javascript:|behavior\s*:", re.IGNORECASE)


class PackRewriter(HTMLParser):
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
        """The safe, restructured form of ``text`` (the notebook's part of the page); call once per instance.

        Afterwards :attr:`toc` holds ``(id, text)`` of each ``h2`` in order and :attr:`chart_data` holds
        ``(anchor id, caption, table HTML)`` of each chart's data table in order.
        """
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
        """HTMLParser callback: an opening tag (kept cleaned, dropped, or held back as described above)."""
        self._start(tag, attrs, self.get_starttag_text(), selfclosing=False)

    def handle_startendtag(self, tag, attrs):
        """HTMLParser callback: a self-closing tag, treated as :meth:`handle_starttag` with no content."""
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
        elif self._caption is not None and tag == "span":  # the chart's note after its title: a sentence apart
            so_far = "".join(self._caption).rstrip()
            if so_far:
                self._caption.append(" " if so_far[-1] in ".:;!?" else ". ")
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
        """HTMLParser callback: a closing tag (ends a dropped element, a heading, a chart-data table...)."""
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
        """HTMLParser callback: text, written escaped again (or kept as the CSS of a held-back ``<style>``)."""
        if self._skip:
            if self._skip == ["style"]:
                self._style.append(data)
            return
        self._text(data)
        # The parser has decoded entities; encoding again keeps text as text (escaped markup stays inert).
        self._emit(htmllib.escape(data, quote=False))

    def handle_comment(self, data):
        """HTMLParser callback: comments are dropped (they could hide conditional markup)."""

    def handle_decl(self, decl):
        """HTMLParser callback: declarations (a DOCTYPE in an output) are dropped."""

    def handle_pi(self, data):
        """HTMLParser callback: processing instructions are dropped."""

    def unknown_decl(self, data):
        """HTMLParser callback: CDATA sections are kept (SVG uses them) outside dropped elements; others dropped."""
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
