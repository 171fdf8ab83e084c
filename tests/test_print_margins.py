"""Both PDF printers print the same pages: no word outside the side margins, page counts within the targets.

WeasyPrint and Chromium print one stylesheet (pack.css's ``@media print`` and ``@page`` rules): wrapping and
fitting are not the business of either backend. These tests render real packs once (the notebooks run once,
to HTML) and print that same HTML with each printer, then read every word's box with ``pdftotext -bbox``
(poppler-utils):

- the 6-KPI sample contract pack (NB-SD-001), a 4-KPI contract pack (NB-PARK-013 without its satisfaction KPI:
  the sample has no contract of 4 KPIs), the portfolio pack, and an adversarial contract pack whose initiative
  title is one unbroken 100-character word (it used to push WeasyPrint's CI-plan columns past the page edge);
- no word's box may cross the side margins of the A4 page (595 x 842 pt; pack.css: 16 mm each side);
- both printers print the same number of pages give or take one, the contents give the page of "All KPIs at a
  glance", and the contract packs keep within their page budget with each printer: issue 14's targets (4 KPIs:
  10 pages, 6 KPIs: 14) are met by the 6-KPI pack; the 4-KPI pack prints 11 and its target is marked as an
  expected failure (strict: it fails once the target is met).
"""

from __future__ import annotations

import csv
import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest

PERIOD = "2026-10"
A4 = (595.28, 841.89)  # pt
SIDE_MARGIN_PT = 16 / 25.4 * 72  # pack.css: @page { margin: 20mm 16mm }
TOLERANCE_PT = 0.5  # rounding of glyph boxes
#: Text smaller than this is not seen: pack.css prints the words for screen readers only at 1 px.
MIN_VISIBLE_PT = 2.0
LONG_TITLE = "Knowledgebaserebuild" * 5  # 100 characters, no space, no hyphen
ADVERSARIAL = "NB-WEB-009"  # its initiative gets LONG_TITLE
FOUR_KPIS = ("NB-PARK-013", "PKSAT")  # a 5-KPI sample contract less one KPI (no credit band names it)
#: The issue's targets: pages of a contract pack by its number of KPIs (before issue 14: 17 to 26 pages; in
#: December 2026, before the compact appendix and print spacing, 13-14 and 21).
PAGE_TARGETS = {4: 10, 6: 14}
PACKS = {"six_kpis": "NB-SD-001", "four_kpis": FOUR_KPIS[0], "adversarial": ADVERSARIAL, "portfolio": "portfolio"}
BACKENDS = ("weasyprint", "chromium")


def _rewrite(path: Path, keep, edit=lambda row: None) -> None:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    fields = list(rows[0])
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for row in rows:
            if keep(row):
                edit(row)
                w.writerow(row)


def _portfolio(folder: Path) -> Path:
    """The sample portfolio with one 4-KPI contract and one 100-character initiative title."""
    from cinb.load import sample_dir

    shutil.copytree(sample_dir(), folder)
    contract, kpi = FOUR_KPIS
    dropped = lambda row: not (row["contract_id"] == contract and row.get("kpi_id") == kpi)  # noqa: E731
    for name in ("kpis", "measurements", "process_changes", "credit_bands", "critical_failure_rules"):
        _rewrite(folder / f"{name}.csv", dropped)
    titled = []

    def long_title(row):
        if row["contract_id"] == ADVERSARIAL and not titled:
            row["title"] = LONG_TITLE
            titled.append(row["initiative_id"])

    _rewrite(folder / "initiatives.csv", lambda row: True, long_title)
    assert titled, f"the sample has no initiative of {ADVERSARIAL} to retitle"
    return folder


@pytest.fixture(scope="module")
def pages_html(tmp_path_factory):
    """Pack name → (HTML of the pack, number of KPIs): each notebook run once, to HTML only."""
    from cinb.batch import run_batch
    from cinb.pack import PackSpec

    root = tmp_path_factory.mktemp("print-margins")
    data = _portfolio(root / "data")
    params = {"data": str(data), "audience": "internal"}
    specs = [PackSpec("contract", c, PERIOD, dict(params)) for c in PACKS.values() if c != "portfolio"]
    specs.append(PackSpec("portfolio", None, PERIOD, dict(params)))
    batch = run_batch(specs, root / "reports", jobs=2, formats=("html",), log=lambda msg: None)
    failed = [(r.key, r.error) for r in batch.failed]
    assert not failed, failed
    month = root / "reports" / PERIOD
    out = {}
    for name, subject in PACKS.items():
        page = (month / subject / "review.html").read_text(encoding="utf-8")
        out[name] = page
    return {"html": out, "data": data, "root": root}


_PRINTED: dict[tuple[str, str], Path] = {}


@pytest.fixture(scope="module")
def printed(pages_html):
    """(backend, pack) → the PDF of that pack's HTML printed by that backend (each printed once, on demand)."""
    from cinb.pdf import chromium_available, render_pdf

    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: `apt-get install poppler-utils`")

    def pdf(backend: str, pack: str) -> Path:
        if backend == "chromium" and not chromium_available():
            pytest.skip("Chromium, Playwright or pypdf is missing: the Chromium printer cannot run here")
        key = (backend, pack)
        if key not in _PRINTED:
            target = pages_html["root"] / f"{pack}-{backend}.pdf"
            _PRINTED[key] = render_pdf(pages_html["html"][pack], target, backend=backend)
        return _PRINTED[key]

    yield pdf
    _PRINTED.clear()


def _words(pdf: Path) -> list[tuple[int, float, float, float, float, str]]:
    """Every word of the PDF as (page, page width, page height, x min, x max, text), from ``pdftotext -bbox``."""
    text = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    out = []
    for number, page in enumerate(re.split(r"<page ", text)[1:], start=1):
        width = float(re.search(r'width="([\d.]+)"', page).group(1))
        height = float(re.search(r'height="([\d.]+)"', page).group(1))
        for m in re.finditer(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>',
                             page):
            x0, y0, x1, y1 = (float(m.group(i)) for i in range(1, 5))
            if y1 - y0 < MIN_VISIBLE_PT:
                continue  # words for screen readers only ("not available" in an empty cell): 1 px, unseen
            out.append((number, width, height, x0, x1, html.unescape(m.group(5))))
    return out


def _pages(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    return text.split("\f")[:-1]


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("pack", list(PACKS))
def test_no_word_lies_outside_the_side_margins(printed, backend, pack):
    words = _words(printed(backend, pack))
    assert words, "pdftotext found no text"
    sizes = {(round(w), round(h)) for _, w, h, *_ in words}
    assert sizes == {(round(A4[0]), round(A4[1]))}, f"pages are not A4: {sizes}"
    left, right = SIDE_MARGIN_PT - TOLERANCE_PT, A4[0] - SIDE_MARGIN_PT + TOLERANCE_PT
    outside = [(page, round(x0, 1), round(x1, 1), word) for page, _, _, x0, x1, word in words
               if x0 < left or x1 > right]
    assert not outside, f"{len(outside)} words outside the side margins ({left:.1f}–{right:.1f} pt): {outside[:10]}"


@pytest.mark.slow
def test_the_adversarial_title_is_printed_whole_by_both_printers(printed):
    # Wrapped, not cut: every character of the 100-character title is on the page (pdftotext joins no lines, so
    # the pieces are read back in order).
    for backend in BACKENDS:
        words = [w[-1] for w in _words(printed(backend, "adversarial"))]
        joined = "".join(w.strip("'‘’\"") for w in words)
        assert LONG_TITLE in joined, backend
        assert max(len(w) for w in words) < 100, backend  # broken across lines: no word is the whole title


@pytest.mark.slow
@pytest.mark.parametrize("pack", list(PACKS))
def test_both_printers_print_the_same_number_of_pages_give_or_take_one(printed, pack):
    # One stylesheet, two layout engines: their fonts' line heights differ by a hair, so a block that just fits
    # at the foot of a page with one may move to the next with the other. Before the shared stylesheet,
    # Chromium shrank a page holding a too-wide table and printed the adversarial pack in 16 pages to 26.
    counts = {b: len(_pages(printed(b, pack))) for b in BACKENDS}
    assert abs(counts["weasyprint"] - counts["chromium"]) <= 1, counts


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_contents_give_the_page_of_the_glance(printed, backend):
    pages = _pages(printed(backend, "six_kpis"))
    contents = next(p for p in pages if "Contents" in p)
    # The contents are set in two columns: the entry's number may have the other column's entry after it.
    m = re.search(r"All KPIs at a glance[ .]*?(\d+)\b", contents)
    assert m, contents[:2000]
    number = int(m.group(1))
    assert pages.index(contents) < number - 1  # after the contents
    assert "All KPIs at a glance" in pages[number - 1]
    assert "All KPIs at a glance" not in "".join(pages[pages.index(contents) + 1:number - 1])  # and no earlier


def _page_counts(printed, pages_html, pack, n_kpis) -> dict[str, int]:
    from cinb.load import load_portfolio

    kpis = load_portfolio(str(pages_html["data"])).kpis
    assert int((kpis["contract_id"] == PACKS[pack]).sum()) == n_kpis
    return {backend: len(_pages(printed(backend, pack))) for backend in BACKENDS}


@pytest.mark.slow
@pytest.mark.parametrize("pack, n_kpis", [("four_kpis", 4), ("six_kpis", 6)])
def test_contract_packs_keep_within_the_page_targets(printed, pages_html, pack, n_kpis):
    # Cover, verdict and contents (the first sections follow on), the sections, two KPIs a page, the method notes
    # in two columns and one compact data appendix (cinb.print_appendix): every figure is still printed, see
    # test_every_figure_of_the_chart_tables_is_printed.
    counts = _page_counts(printed, pages_html, pack, n_kpis)
    assert max(counts.values()) <= PAGE_TARGETS[n_kpis], counts


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_figure_of_the_chart_tables_is_printed(printed, pages_html, backend):
    # The appendix is compact (cinb.print_appendix) but loses no figure: each number and month of every chart's
    # data table (the collapsed <details> of the HTML) is a word of the printed pack.
    page = pages_html["html"]["six_kpis"]
    tables = re.findall(r'<details class="cinb-chart-data">(.*?)</details>', page, flags=re.S)
    assert len(tables) >= 9
    figures = set()
    for table in tables:
        for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", table, flags=re.S):
            text = html.unescape(re.sub(r"<[^>]+>", "", re.sub(r'<span class="visually-hidden".*?</span>', "",
                                                               cell, flags=re.S))).strip()
            if re.fullmatch(r"-?[\d,]+(\.\d+)?", text):
                figures.add(text)
    assert len(figures) > 200
    words = {w[-1].strip("()[],;:.") for w in _words(printed(backend, "six_kpis"))}
    missing = sorted(figures - words)
    assert not missing, f"{len(missing)} figures of the chart tables not printed: {missing[:20]}"


# ------------------------------------------------------------------------------------ the rules behind them


def test_a_long_word_in_a_table_cell_gets_break_opportunities_and_stays_text():
    from cinb.display import LONG_WORD, WORD_PIECE, Table, breakable

    import pandas as pd

    cell = breakable(LONG_TITLE)
    pieces = cell.split("<wbr>")
    assert "".join(pieces) == LONG_TITLE and max(map(len, pieces)) == WORD_PIECE == 15
    assert len(pieces) == 7  # 100 characters: 6 pieces of 15 and one of 10
    assert breakable("x" * LONG_WORD) == "x" * LONG_WORD  # a word up to 30 characters stays whole
    assert breakable("<b>" * 12) == "&lt;b&gt;&lt;b&gt;&lt;b&gt;&lt;b&gt;&lt;b&gt;<wbr>" + "&lt;b&gt;" * 5 + "<wbr>" + \
        "&lt;b&gt;" * 2  # split on characters, then escaped: no entity is cut
    html_text = Table(pd.DataFrame({"ID": ["CI-002"], "Title": [LONG_TITLE]}), caption="Plan").html
    assert "cinb-wrap-words" in html_text and f"<td>{cell}</td>" in html_text


def test_only_a_chart_table_that_fits_half_a_page_is_set_in_two_columns():
    import pandas as pd

    from cinb.display import Table, _fits_half_width

    months = pd.period_range("2024-01", periods=36, freq="M").strftime("%b %Y")
    xmr = pd.DataFrame({"Month": months, "Value": 5.25, "Mean": 5.8, "Lower limit": 2.9, "Upper limit": 8.7,
                        "Point type": "Common cause", "Volume (calls)": 5649})
    # Month 8 + Value 4 + Mean 3 + "Lower"/"limit" 5 + 5 + "Common cause" 12 + "(calls)" 7, 2 each: 58 of 64.
    assert _fits_half_width(Table(xmr, caption="x", row_header="Month").html)
    wide = xmr.assign(Note="Restated after reconciliation with the authority's monitoring", Event="Rebase")
    assert not _fits_half_width(Table(wide, caption="x", row_header="Month").html)
    ratings = pd.DataFrame({"Contract": ["NB-APP-007"], **{f"KPI {i}": ["Approaching target"] for i in range(6)}})
    assert not _fits_half_width(Table(ratings, caption="x", rating_columns=list(ratings.columns[1:])).html)


def test_a_block_keeps_its_parts_in_order_in_one_element():
    from cinb.display import Block, Heading, Paragraphs
    from cinb.errors import UsageError

    html_text = Block(Heading("Uptime (UP)", 3), Paragraphs(["Fine."]), css_class="cinb-kpi").html
    assert html_text == ('<div class="cinb-block cinb-kpi"><h3 id="uptime-up">Uptime (UP)</h3>'
                         '<div class="cinb-paragraphs"><p>Fine.</p></div></div>')
    with pytest.raises(UsageError, match="display objects"):
        Block("text")
    with pytest.raises(UsageError, match="css_class"):
        Block(Heading("x"), css_class='x" onclick="y')


def test_the_print_stylesheet_is_the_only_place_of_the_fitting_rules():
    from cinb import pdf_chromium, pdf_weasyprint

    css = (Path(pdf_chromium.__file__).parent / "templates" / "cinb_pack" / "pack.css").read_text(encoding="utf-8")
    printed = css[css.index("@media print"):]
    for rule in ("table { max-width: 100%; }", "img, svg { max-width: 100%; height: auto; }",
                 ".cinb-block { break-inside: avoid;", ".cinb-appendix .cinb-narrow { columns: 2;"):
        assert rule in printed, rule
    for module in (pdf_chromium, pdf_weasyprint):
        source = Path(module.__file__).read_text(encoding="utf-8")
        assert "overflow-wrap" not in source and "add_style_tag" not in source, module.__name__
