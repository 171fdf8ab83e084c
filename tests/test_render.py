"""Tests of cinb.render: the HTML pack as a reader and a browser see it, the PDF as a reader sees it, atomic files."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import os
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from cinb.errors import CinbError, PackError, UsageError
from cinb.render import (
    ChromiumBackend,
    WeasyPrintBackend,
    _open_all_details,
    chromium_available,
    get_backend,
    render_html,
    render_pdf,
    resolve_backend,
    write_outputs,
)

TITLE = "Contract C001 — Service desk review"
CHART_ALT = "Line chart of first-time fix rate by month, rising from 90.1% in January to 91.2% in December."
SECRET_CODE = "contract_id = 'C-SECRET-PARAM'"
MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]


def _svg() -> str:
    points = " ".join(f"{20 + 30 * i},{150 - 8 * i}" for i in range(12))
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="420" height="180" viewBox="0 0 420 180">'
        f'<polyline points="{points}" fill="none" stroke="#1d70b8" stroke-width="2"/>'
        '<text x="20" y="170" font-size="10">Jan</text><text x="350" y="170" font-size="10">Dec</text></svg>'
    )
    return base64.b64encode(svg.encode()).decode()


def _chart_html() -> str:
    rows = "".join(f"<tr><td>{m}</td><td>{90 + i / 10 + 0.1:.1f}</td></tr>" for i, m in enumerate(MONTHS))
    return (
        f'<figure class="cinb-chart"><img alt="{CHART_ALT}" src="data:image/svg+xml;base64,{_svg()}">'
        "<figcaption>First-time fix rate, last 12 months (%)</figcaption>"
        '<details class="cinb-chart-data"><summary>Data behind this chart</summary>'
        '<table class="cinb-table"><caption>First-time fix rate by month</caption><thead><tr>'
        '<th scope="col">Month</th><th scope="col">First-time fix (%)</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></details></figure>"
    )


def _table_html() -> str:
    ratings = [("good", "✓ Good"), ("approaching", "~ Approaching target"),
               ("requires-improvement", "! Requires improvement"), ("inadequate", "✗ Inadequate"),
               ("other", "– Other")]
    rows = "".join(
        f'<tr><th scope="row">KPI {i}</th><td class="rating rating-{cls}" style="background-color:#00ff00">'
        f"{word}</td></tr>" for i, (cls, word) in enumerate(ratings, 1)
    )
    rows += '<tr><th scope="row">&lt;script&gt;alert(1)&lt;/script&gt;</th><td>supplier name as data</td></tr>'
    return (
        '<h2 id="scorecard">KPI scorecard</h2>'
        '<table class="cinb-table"><caption>KPI scorecard, December 2024</caption><thead><tr>'
        '<th scope="col">KPI</th><th scope="col">Rating</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def synthetic_notebook() -> nbformat.NotebookNode:
    """An executed notebook shaped like a cinb pack, with everything that must not reach the reader."""
    cells = [
        new_code_cell(SECRET_CODE, metadata={"tags": ["parameters"]}, execution_count=1,
                      outputs=[new_output("stream", name="stdout", text="PARAMETER-STREAM\n")]),
        new_code_cell("contract_id = 'C-INJECTED'", metadata={"tags": ["injected-parameters"]}, execution_count=2),
        new_code_cell("print('debug')", metadata={"tags": ["remove"]}, execution_count=3,
                      outputs=[new_output("display_data", data={"text/html": "<p>REMOVED-OUTPUT</p>"})]),
        new_markdown_cell("# Contract review\n\nThis pack reviews the service desk contract."),
        new_markdown_cell("## Executive summary\n\nFour KPIs met their SLA; one did not."),
        new_code_cell(
            "show_chart(fig)", execution_count=4,
            outputs=[
                new_output("display_data", data={"text/html": _chart_html(),
                                                  "text/plain": "<IPython.core.display.HTML object>"}),
                new_output("stream", name="stderr", text="UserWarning: WARNING-STREAM-TEXT\n"),
            ],
        ),
        new_markdown_cell("#### A deep heading\n\nA level-4 heading right under a section."),
        new_code_cell(
            "show_table(scorecard)", execution_count=5,
            outputs=[new_output("execute_result", execution_count=5,
                                data={"text/html": _table_html(), "text/plain": "<Scorecard>"})],
        ),
        new_code_cell("fig", execution_count=6,
                      outputs=[new_output("execute_result", execution_count=6,
                                          data={"text/plain": "<Figure size 640x480 with 1 Axes>"})]),
        new_code_cell(
            "hostile()", execution_count=7,
            outputs=[new_output("display_data", data={"text/html": (
                '<h2 id="notes">Notes &amp; evidence</h2><div class="cinb-callout"><p>Raw markup: '
                '<script>alert(2)</script><img src="x" onerror="alert(3)" alt="x">'
                '<a href="javascript:alert(4)">link</a> <a href="../C002/review.html">Contract C002</a></p>'
                '<style>@import url(https://cdn.example.org/x.css);</style>'
                '<div style="background:url(https://example.org/t.png)">styled</div></div>')})],
        ),
        new_markdown_cell("## Method notes\n\n![logo](https://example.org/logo.png)\n\nOur method."),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


META = {"contract_id": "C001", "period": "2024-12", "note": "</script><script>alert(5)</script>",
        "share": math.nan, "generated": "2025-01-06T09:30:00"}


def _report(config, line: str) -> None:
    # Measurements are shown even when pytest captures output; they are printed, never asserted.
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(line)


@pytest.fixture(scope="module")
def page(pytestconfig) -> str:
    html = render_html(synthetic_notebook(), title=TITLE, subtitle="Example Supplier Ltd · December 2024",
                       marking="OFFICIAL-SENSITIVE", running_header="C001 Service desk", meta=META)
    _report(pytestconfig, f"\nHTML pack size (synthetic pack): {len(html.encode()):,} bytes")
    return html


class _Page(HTMLParser):
    """What a test needs from a page: tags with attributes, headings with levels and text, text by element."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.headings: list[tuple[int, str, str | None]] = []
        self.scripts: list[tuple[dict, str]] = []
        self._heading = None
        self._script = None
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if re.fullmatch(r"h[1-6]", tag):
            self._heading = [int(tag[1]), [], attrs.get("id")]
        if tag == "script":
            self._script = [attrs, []]

    def handle_endtag(self, tag):
        if re.fullmatch(r"h[1-6]", tag) and self._heading:
            level, parts, ident = self._heading
            self.headings.append((level, " ".join("".join(parts).split()), ident))
            self._heading = None
        if tag == "script" and self._script:
            self.scripts.append((self._script[0], "".join(self._script[1])))
            self._script = None

    def handle_data(self, data):
        if self._script is not None:
            self._script[1].append(data)
            return
        self.text.append(data)
        if self._heading:
            self._heading[1].append(data)


@pytest.fixture(scope="module")
def parsed(page) -> _Page:
    return _Page(page)


# --- what must not be there ---------------------------------------------------------------------------------

def test_no_code_inputs_prompts_or_removed_cells(page):
    for leaked in (SECRET_CODE, "C-SECRET-PARAM", "C-INJECTED", "show_chart(fig)", "show_table", "print('debug')",
                   "REMOVED-OUTPUT", "In&nbsp;[", "In [", "Out[", "jp-InputPrompt", "highlight", "<Scorecard>",
                   "&lt;Figure size", "<Figure size"):
        assert leaked not in page, leaked


def test_no_streams_or_warnings(page):
    assert "PARAMETER-STREAM" not in page
    assert "WARNING-STREAM-TEXT" not in page
    assert "UserWarning" not in page


def test_no_external_resources(page, parsed):
    for tag, attrs in parsed.tags:
        for name in ("src", "href", "xlink:href", "srcset", "data", "poster", "action"):
            value = (attrs.get(name) or "").strip().lower()
            if tag == "a" and name == "href":
                continue  # checked below: links are followed only on a click
            assert not re.match(r"^(https?:)?//", value), (tag, name, value)
            if name == "src" and name in attrs:
                assert value.startswith("data:image/"), (tag, value[:40])
    assert all(t != "link" for t, _ in parsed.tags)
    assert not re.search(r"url\(\s*['\"]?\s*(https?:)?//", page)
    assert "@import" not in page
    for library in ("require.js", "requirejs", "MathJax", "mermaid", "jquery", "cdn.", "fonts.googleapis"):
        assert library.lower() not in page.lower(), library
    # The synthetic notebook has no web links at all, so none may appear anywhere.
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", page, re.IGNORECASE)
    assert "http-equiv=\"Content-Security-Policy\"" in page


def test_pack_and_index_have_the_same_strict_content_security_policy(page):
    from cinb.index import render_index
    from cinb.sanitize import CONTENT_SECURITY_POLICY

    meta = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">')
    index = render_index({"period": "2026-10", "packs": []})
    assert meta.findall(page) == meta.findall(index) == [CONTENT_SECURITY_POLICY]
    directives = {d.strip() for d in CONTENT_SECURITY_POLICY.split(";")}
    assert directives == {"default-src 'none'", "img-src data:", "style-src 'unsafe-inline'", "font-src data:",
                          "base-uri 'none'", "form-action 'none'"}  # no script-src: nothing runs


def test_no_executable_script(parsed, page):
    assert [a.get("type") for a, _ in parsed.scripts] == ["application/json"]
    assert not re.search(r"<script(?![^>]*application/json)", page, re.IGNORECASE)
    for _, attrs in parsed.tags:
        assert not any(k.lower().startswith("on") for k in attrs), attrs
        assert "javascript:" not in (attrs.get("href") or "").lower()


def test_markup_in_data_stays_text(page, parsed):
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)</script>" in "".join(parsed.text)  # what a reader sees, as text
    assert "alert(2)" not in page and "alert(3)" not in page and "alert(4)" not in page
    html = render_html(synthetic_notebook(), title="<b>Bold</b> & <script>alert(6)</script>",
                       running_header='"}</style><script>alert(7)</script>', marking="OFFICIAL")
    assert "<script>alert(6)" not in html and "&lt;script&gt;alert(6)" in html
    assert "</style><script>alert(7)" not in html
    assert "<b>Bold</b>" not in html


def test_meta_is_inert_json(parsed, page):
    (attrs, text), = parsed.scripts
    assert attrs["id"] == "cinb-meta"
    assert "</script" not in text.lower() and "<" not in text
    data = json.loads(text)
    assert data["note"] == META["note"] and data["contract_id"] == "C001"
    assert data["share"] is None  # NaN is not JSON


# --- structure a reader relies on -----------------------------------------------------------------------------

def test_document_basics(page, parsed):
    assert page.startswith("<!DOCTYPE html>")
    assert ('html', {"lang": "en-GB"}) in parsed.tags
    assert f"<title>{TITLE}</title>" in page
    first_link = next(attrs for tag, attrs in parsed.tags if tag == "a")
    assert first_link.get("href") == "#content" and "Skip to main content" in page
    assert ("main", {"id": "content", "tabindex": "-1"}) in parsed.tags
    assert "Generated" in page and "6 January 2025" in page


def test_marking_at_top_and_bottom(page):
    banners = re.findall(r'<p class="cinb-marking">([^<]*)</p>', page)
    assert banners == ["OFFICIAL-SENSITIVE", "OFFICIAL-SENSITIVE"]
    assert page.index("OFFICIAL-SENSITIVE") < page.index("<main")
    assert page.rindex("OFFICIAL-SENSITIVE") > page.index("</main>")
    assert '@top-right { content: "OFFICIAL-SENSITIVE"; }' in page
    assert '@top-left { content: "C001 Service desk"; }' in page


def test_headings_in_order_one_h1_no_skips(parsed):
    levels = [level for level, _, _ in parsed.headings]
    texts = [text for _, text, _ in parsed.headings]
    assert levels.count(1) == 1 and parsed.headings[0][:2] == (1, TITLE)
    for before, after in zip(levels, levels[1:]):
        assert after <= before + 1, parsed.headings
    expected = ["Contents", "Contract review", "Executive summary", "A deep heading", "KPI scorecard",
                "Notes & evidence", "Method notes"]
    assert [t for t in texts if t in expected] == expected
    assert dict((t, lv) for lv, t, _ in parsed.headings)["A deep heading"] == 3  # was h4 under an h2
    assert "¶" not in "".join(texts)


def test_table_of_contents_links_every_section(parsed):
    ids = [attrs["id"] for _, attrs in parsed.tags if "id" in attrs]
    assert len(ids) == len(set(ids)), "duplicate ids"
    nav = [attrs for tag, attrs in parsed.tags if tag == "nav"]
    assert nav and nav[0].get("aria-label") == "Table of contents"
    h2 = [(text, ident) for level, text, ident in parsed.headings if level == 2 and ident != "cinb-toc-heading"]
    hrefs = [attrs["href"][1:] for tag, attrs in parsed.tags
             if tag == "a" and attrs.get("href", "").startswith("#") and attrs["href"] != "#content"]
    for text, ident in h2:
        assert ident in hrefs, (text, ident)
    assert all(h in ids for h in hrefs)


def test_chart_alt_text_and_collapsible_data(page, parsed):
    imgs = [attrs for tag, attrs in parsed.tags if tag == "img"]
    assert any(attrs.get("alt") == CHART_ALT for attrs in imgs)
    assert all(attrs.get("alt") for attrs in imgs)
    assert '<details class="cinb-chart-data"><summary>Data behind this chart</summary>' in page
    # The external markdown image became text instead of a fetch.
    assert "[Image not included: logo]" in page
    # The printed appendix holds a copy of the table, without duplicate ids.
    appendix = page[page.index('class="cinb-print-only cinb-appendix"'):]
    assert all(m in appendix for m in MONTHS)
    assert "Chart 1: First-time fix rate, last 12 months (%)" in appendix


def test_relative_links_between_packs_are_kept(page):
    assert '<a href="../C002/review.html">Contract C002</a>' in page


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_contrast_formula_against_published_values():
    # WCAG 2.x reference points: black on white is 21:1; #767676 is the lightest grey passing 4.5:1 on white.
    assert _contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert _contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert _contrast("#777777", "#ffffff") < 4.5


def test_rating_colours_meet_wcag_aa(page):
    found = dict.fromkeys(["good", "approaching", "requires-improvement", "inadequate", "other"])
    for cls in found:
        rule = re.search(r"\.rating-" + cls + r"\s*\{([^}]*)\}", page)
        assert rule, cls
        bg = re.search(r"background-color:\s*(#[0-9a-fA-F]{6})", rule.group(1)).group(1)
        fg = re.search(r"(?<!-)color:\s*(#[0-9a-fA-F]{6})", rule.group(1)).group(1)
        found[cls] = _contrast(fg, bg)
        assert "!important" in rule.group(1)  # inline colours from a display cannot lower the contrast
    assert min(found.values()) >= 4.5, found


def test_focus_and_print_styles_present(page):
    assert ":focus-visible" in page
    assert "@media print" in page and "size: A4" in page
    assert "thead { display: table-header-group; }" in page
    assert re.search(r"tr, th, td \{ break-inside: avoid;", page)


def test_error_output_becomes_a_note_without_traceback():
    nb = new_notebook(cells=[new_markdown_cell("## Section"), new_code_cell("1/0", outputs=[new_output(
        "error", ename="ZeroDivisionError", evalue="division by zero",
        traceback=["Traceback (most recent call last)", "  File x, line 1, in <module>  1/0"])])])
    html = render_html(nb, title="T")
    assert "This part of the pack could not be produced" in html and "ZeroDivisionError" in html
    assert "Traceback" not in html and "1/0" not in html


def test_bad_arguments_raise_cinb_errors():
    with pytest.raises(UsageError):
        render_html(synthetic_notebook(), title="  ")
    with pytest.raises(UsageError):
        write_outputs(synthetic_notebook(), "/tmp", "review", formats=("html", "docx"), title="T")
    with pytest.raises(UsageError):
        render_pdf("<html></html>", "/tmp/never.pdf", backend="no-such-backend")


def test_open_all_details():
    assert _open_all_details('<details class="a"><details open><details>') == (
        '<details open class="a"><details open><details open>')


# --- PDF ---------------------------------------------------------------------------------------------------------

def _chromium_or_skip():
    if not chromium_available():
        pytest.skip("the Chromium backend needs `pip install 'cinb[chromium]'` and Chromium (apt-get install "
                    "chromium)")


@pytest.fixture(scope="module", params=["weasyprint", "chromium"])
def pdf_text(request, page, tmp_path_factory, pytestconfig):
    pypdf = pytest.importorskip("pypdf")
    name = request.param
    if name == "chromium":
        _chromium_or_skip()
    out = tmp_path_factory.mktemp("pdf") / "review.pdf"
    # WeasyPrint: a fresh font configuration, what the first pack of a process pays.
    cold = WeasyPrintBackend() if name == "weasyprint" else get_backend("chromium")
    t0 = time.perf_counter()
    render_pdf(page, out, backend=cold)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    render_pdf(page, out, backend=cold)
    warm = time.perf_counter() - t0
    _report(pytestconfig, f"\nPDF render ({name}, synthetic pack): first {first:.2f} s, warm {warm:.2f} s "
                          f"({out.stat().st_size:,} bytes)")
    reader = pypdf.PdfReader(io.BytesIO(out.read_bytes()))
    return reader, [p.extract_text() for p in reader.pages]


@pytest.mark.slow
def test_pdf_pages_cover_contents_and_footer(pdf_text):
    reader, pages = pdf_text
    assert len(pages) > 2
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4 in points
    cover = pages[0]
    assert "Contract C001" in cover and "OFFICIAL-SENSITIVE" in cover and "6 January 2025" in cover
    assert "Executive summary" not in cover  # the cover is a page of its own
    assert "Contents" in pages[1]
    n = len(pages)
    for i, text in enumerate(pages, 1):
        assert f"Page {i} of {n}" in text
        assert "OFFICIAL-SENSITIVE" in text
    assert all("C001 Service desk" in text for text in pages[1:])  # running header after the cover
    assert bool(reader.trailer["/Root"]["/MarkInfo"]["/Marked"])  # tagged PDF
    assert "/StructTreeRoot" in reader.trailer["/Root"]


@pytest.mark.slow
def test_pdf_text_has_sections_contents_page_numbers_and_chart_data(pdf_text):
    _, pages = pdf_text
    text = "\n".join(pages)
    for heading in ("Contract review", "Executive summary", "KPI scorecard", "Method notes",
                    "Appendix: data behind the charts"):
        assert heading in text
    # Contents lines end with the page the section starts on.
    section_page = _heading_page(pages, "Executive summary")
    assert re.search(r"Executive summary[ .]*" + str(section_page), pages[1])
    assert all(m in text for m in MONTHS)  # chart data printed in full
    assert re.search(r"Data behind this chart: appendix, page \d+", text)
    assert "<script>alert(1)</script>" in text  # escaped in the HTML, readable in the PDF


@pytest.mark.slow
def test_pdf_contents_number_every_section_with_its_page(pdf_text):
    # Checked against the PDF's own text: each contents entry's number is the first page after the contents
    # where the section's heading is printed.
    _, pages = pdf_text
    entries = []
    lines = [line.strip() for line in pages[1].splitlines() if line.strip()]
    for line in lines[lines.index("Contents") + 1:]:  # the contents' lines, up to the first section after them
        m = re.match(r"^(?:\d+\.\s+)?([A-Z][^.]*?)[ .]+(\d+)$", line)
        if not m:
            break
        entries.append((m.group(1).strip(), int(m.group(2))))
    assert [t for t, _ in entries][:3] == ["Contract review", "Executive summary", "KPI scorecard"], pages[1]
    assert len(entries) >= 5, pages[1]
    for title, number in entries:
        first = _heading_page(pages, title)
        assert number == first, (title, number, first)


def _heading_page(pages: list[str], title: str) -> int | None:
    """The first page after the cover where `title` is printed as a heading: on the contents' page (2) the text
    holds it once as an entry of the contents, so a heading there is a second occurrence (print.css lets the
    first sections follow the contents on their page)."""
    return next((i for i, p in enumerate(pages[1:], 2) if p.count(title) > (1 if i == 2 else 0)), None)


def test_resolve_backend(monkeypatch):
    from cinb import pdf  # resolve_backend (re-exported by cinb.render) lives there

    monkeypatch.setattr(pdf, "chromium_available", lambda: True)
    assert resolve_backend("auto") == "chromium"
    monkeypatch.setattr(pdf, "chromium_available", lambda: False)
    assert resolve_backend("auto") == "weasyprint"
    assert resolve_backend("chromium") == "chromium" and resolve_backend("weasyprint") == "weasyprint"
    with pytest.raises(UsageError, match="auto, weasyprint, chromium"):
        resolve_backend("prince")


def test_chromium_is_available_only_with_a_browser_that_starts(monkeypatch, tmp_path):
    monkeypatch.setenv("CINB_CHROMIUM", str(tmp_path / "no-such-chromium"))
    assert chromium_available() is False
    broken = tmp_path / "chromium"  # installed, but cannot start (say, a missing shared library)
    broken.write_text("#!/bin/sh\necho 'error while loading shared libraries: libnss3.so' >&2\nexit 127\n")
    broken.chmod(0o755)
    monkeypatch.setenv("CINB_CHROMIUM", str(broken))
    assert chromium_available() is False


@pytest.mark.slow
def test_write_outputs_is_atomic(tmp_path):
    written = write_outputs(synthetic_notebook(), tmp_path / "out", "review", formats="html,pdf,ipynb",
                            title=TITLE, marking="OFFICIAL")
    assert list(written) == ["html", "pdf", "ipynb"]
    assert all(p.exists() and p.stat().st_size > 0 for p in written.values())
    assert written["pdf"].read_bytes().startswith(b"%PDF")
    assert nbformat.reads(written["ipynb"].read_text(), as_version=4).cells
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["review.html", "review.ipynb", "review.pdf"]

    class Broken:
        name = "broken"

        def write_pdf(self, html, target):
            Path(target).write_bytes(b"%PDF-1.7 half")
            raise RuntimeError("disk full")

    before = written["pdf"].read_bytes()
    with pytest.raises(PackError, match="disk full"):
        write_outputs(synthetic_notebook(), tmp_path / "out", "review", formats=("pdf",), backend=Broken(),
                      title=TITLE)
    assert written["pdf"].read_bytes() == before  # the old file is untouched, not half-replaced
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["review.html", "review.ipynb", "review.pdf"]


def test_chromium_backend_says_what_to_install(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)  # as if playwright were not installed
    with pytest.raises(CinbError, match=r"pip install 'cinb\[chromium\]'"):
        ChromiumBackend()
    monkeypatch.delitem(sys.modules, "playwright.sync_api")
    if chromium_available():
        monkeypatch.setenv("CINB_CHROMIUM", str(tmp_path / "no-such-chromium"))
        with pytest.raises(CinbError, match="apt-get install chromium"):
            ChromiumBackend()


@pytest.mark.slow
@pytest.mark.browser
def test_chromium_backend_replaces_its_tab_every_few_packs(page, tmp_path, monkeypatch):
    _chromium_or_skip()
    backend = get_backend("chromium")
    monkeypatch.setattr(backend, "TAB_PACKS", 2)
    backend._page = None  # start counting from a new tab
    tabs = []
    for i in range(5):
        render_pdf(page, tmp_path / f"{i}.pdf", backend=backend)
        tabs.append(backend._page)
    # Two packs per tab: the tab is closed after the 2nd and the 4th pack, a new one opened for the 3rd and 5th.
    assert tabs[1] is None and tabs[3] is None
    assert None not in (tabs[0], tabs[2], tabs[4]) and len({id(tabs[0]), id(tabs[2]), id(tabs[4])}) == 3
    assert tabs[0].is_closed() and tabs[2].is_closed()
    assert all((tmp_path / f"{i}.pdf").read_bytes().startswith(b"%PDF") for i in range(5))


def _font_size(pdf: Path, needle: str) -> float | None:
    """Printed size (pt) of the first text run containing `needle`: font size times the text and page scales."""
    pypdf = pytest.importorskip("pypdf")
    for pdf_page in pypdf.PdfReader(pdf).pages:
        found = []

        def visit(text, cm, tm, font, size):
            if needle in text:
                found.append(size * cm[0] * tm[0])

        pdf_page.extract_text(visitor_text=visit)
        if found:
            return found[0]
    return None


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["weasyprint", "chromium"])
def test_a_table_too_wide_for_the_page_does_not_shrink_the_pack(backend, tmp_path):
    # Chromium shrinks every page to fit its widest element; the backend makes cells wrap instead.
    if backend == "chromium":
        _chromium_or_skip()
    wide = ("<table class='cinb-table'><tr>"
            + "".join(f"<th>column_number_{i}_with_a_long_name</th>" for i in range(14)) + "</tr></table>")
    nb = synthetic_notebook()
    nb.cells.append(new_code_cell("wide()", outputs=[new_output("display_data", data={"text/html": wide})]))
    sizes = []
    for name, notebook in (("plain", synthetic_notebook()), ("wide", nb)):
        out = render_pdf(render_html(notebook, title=TITLE), tmp_path / f"{name}.pdf", backend=backend)
        sizes.append(_font_size(out, "Executive summary"))
    assert sizes[0] == pytest.approx(10, abs=0.1)  # html { font-size: 10pt } in print
    assert sizes[1] == pytest.approx(sizes[0], rel=0.01), sizes


_ENTRY = re.compile(r"Section (\d{3})[ .]+?(\d+)\s*$", flags=re.M)
#: Sections of the long pack: the printed contents, two columns of entries, run over more than one page.
LONG_SECTIONS = 130


def _long_pack(tmp_path, backend, name="long.pdf") -> list[str]:
    cells = [new_markdown_cell(f"## Section {i:03d}\n\n" + "A paragraph of findings. " * (20 + 7 * (i % 5)))
             for i in range(1, LONG_SECTIONS + 1)]
    out = render_pdf(render_html(new_notebook(cells=cells), title=TITLE), tmp_path / name, backend=backend)
    pypdf = pytest.importorskip("pypdf")
    return [p.extract_text() for p in pypdf.PdfReader(out).pages]


def _check_section_numbers(pages: list[str]) -> None:
    contents = [n for n, p in enumerate(pages, 1) if len(_ENTRY.findall(p)) > 5]
    assert len(contents) >= 2  # the contents run over more than one page
    numbers = {int(a): int(b) for n in contents for a, b in _ENTRY.findall(pages[n - 1])}
    assert sorted(numbers) == list(range(1, LONG_SECTIONS + 1))
    for i, number in numbers.items():
        # The first sections may follow the contents on their last page: there a heading is a second occurrence.
        printed = next(n for n, p in enumerate(pages, 1) if n >= max(contents)
                       and p.count(f"Section {i:03d}") > sum(int(a) == i for a, _ in _ENTRY.findall(p)))
        assert number == printed, (i, number, printed)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["weasyprint", "chromium"])
def test_contents_longer_than_a_page_still_number_every_section(backend, tmp_path):
    if backend == "chromium":
        _chromium_or_skip()
    _check_section_numbers(_long_pack(tmp_path, backend))


@pytest.mark.slow
@pytest.mark.browser
def test_chromium_corrects_numbers_that_moved_pages(tmp_path, monkeypatch):
    # If writing the numbers in moved a section to another page, the backend writes them again from the
    # printed PDF. Simulated: the first print is made to report every target one page late.
    _chromium_or_skip()
    backend = get_backend("chromium")
    real, calls = backend._destination_pages, []

    def late_first(pdf):
        pages = real(pdf)
        calls.append(len(pages))
        return {k: v + 1 for k, v in pages.items()} if len(calls) == 1 else pages

    monkeypatch.setattr(backend, "_destination_pages", late_first)
    _check_section_numbers(_long_pack(tmp_path, backend))
    assert len(calls) == 2


# ------------------------------------------------------------------------- the compact printed appendix


def _chart_table(caption: str, frame) -> str:
    from cinb.display import Table

    return Table(frame, caption=caption, row_header=frame.columns[0]).html


def test_the_printed_appendix_states_every_figure_once_and_compactly():
    import pandas as pd

    from cinb.print_appendix import appendix_html

    months = pd.period_range("2026-01", periods=8, freq="M").strftime("%b %Y")
    xmr = pd.DataFrame({"Month": months, "Segment": ["0"] * 4 + ["1"] * 4,
                        "Value": [9.5, 10.25, 14.0, 9.75, 12.5, 11.0, 12.75, 13.0],
                        "Mean": [10.0] * 4 + [12.0] * 4, "Lower limit": [7.0] * 4 + [9.5] * 4,
                        "Upper limit": [13.0] * 4 + [14.5] * 4,
                        "Point type": ["Common cause"] * 2 + ["Special cause – concern"] + ["Common cause"] * 5,
                        "Note": [None] * 5 + ["1"] + [None] * 2})
    commitment = pd.DataFrame({"Month": months, "Actual": [9.5, 10.25, 14.0, 9.75, 12.5, 11.0, 12.75, 13.0],
                               "Trajectory": [None] * 4 + [10.0, 10.5, 11.0, 11.5]})
    other = pd.DataFrame({"Contract": ["C001 <b>"], "Score": [81.5]})
    page = appendix_html([
        ("cinb-chart-data-1", "Chart 1: Uptime: XmR chart", _chart_table("Monthly values", xmr)),
        ("cinb-chart-data-2", "Chart 2: Uptime: commitment trajectory", _chart_table("Actual and trajectory",
                                                                                      commitment)),
        ("cinb-chart-data-3", "Chart 3: Scores <i>", _chart_table("Scores", other)),
    ])
    # One table of months: the values once (the commitment's "Actual" repeats them), the trajectory.
    series = page[page.index('<table class="cinb-table cinb-appendix-series">'):page.index("</table>")]
    assert re.findall(r'<th scope="col">(.*?)</th>', series) == ["Month", "Uptime", "Uptime: Trajectory"]
    assert series.count('<th scope="row">') == 8
    assert '<th scope="row">Jan 2026</th><td class="num">9.50</td><td class="num"><span aria-hidden' in series
    assert '<th scope="row">Aug 2026</th><td class="num">13.00</td><td class="num">11.5</td>' in series
    # Mean and limits once per segment, with its months (as the chart's table prints them: the fewest decimals
    # of the column); point types and notes where they differ.
    notes = re.sub(r"<[^>]+>", "\n", page[page.index('<section id="cinb-chart-data-1">'):])
    for line in ("Jan 2026 – Apr 2026: Segment 0, Mean 10, Lower limit 7.0, Upper limit 13.0.",
                 "May 2026 – Aug 2026: Segment 1, Mean 12, Lower limit 9.5, Upper limit 14.5.",
                 "Point type: Common cause unless listed below.", "Mar 2026: Point type Special cause – concern.",
                 "Jun 2026: Note 1.", "Value: the table of months above, columns headed “Uptime”.",
                 "Actual: as the column “Uptime” of the table of months above, month by month.",
                 "Trajectory: the table of months above, columns headed “Uptime”."):
        assert f"\n{line}\n" in notes, line
    assert "9.50" not in notes  # no value twice
    # A table whose rows are not months is printed whole; every chart keeps its anchor; text stays text.
    assert '<section id="cinb-chart-data-3"><h3>Chart 3: Scores &lt;i&gt;</h3>' in page
    assert "C001 &lt;b&gt;" in page and "<b>" not in page and "<i>" not in page
    assert all(f'id="cinb-chart-data-{n}"' in page for n in (1, 2, 3))
    assert appendix_html([]) == ""


def test_a_series_equal_only_to_rounding_is_not_repeated_but_a_different_one_is():
    from cinb.print_appendix import _same_series

    assert _same_series({"Jan 2026": "4.20", "Feb 2026": "5.00"}, {"Jan 2026": "4.2", "Feb 2026": "5"})
    assert not _same_series({"Jan 2026": "4.20"}, {"Jan 2026": "4.3"})
    assert not _same_series({"Jan 2026": "4.20"}, {"Jan 2026": "4.2", "Feb 2026": "5.0"})  # a month more
    assert not _same_series({"Jan 2026": "4.20"}, {"Jan 2026": "–"})  # nothing to repeat
