"""Tests of cinb.display: escaping, table semantics, rating cells, contrast, chart figures, show()."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import matplotlib
import numpy as np
import pandas as pd
import pytest

from cinb import display as d
from cinb.errors import UsageError

XSS = "<script>alert(1)</script>"


class _Tree(HTMLParser):
    """Flat list of (tag, attrs, text inside) for every element: enough to check structure."""

    def __init__(self, html_text: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[dict] = []
        self._open: list[dict] = []
        self.feed(html_text)

    def handle_starttag(self, tag, attrs):
        el = {"tag": tag, "attrs": dict(attrs), "text": "", "parent": self._open[-1]["tag"] if self._open else None}
        self.elements.append(el)
        if tag not in ("img", "br", "meta", "input"):
            self._open.append(el)

    def handle_endtag(self, tag):
        while self._open:
            el = self._open.pop()
            if el["tag"] == tag:
                break

    def handle_data(self, data):
        for el in self._open:
            el["text"] += data

    def find(self, tag, **attrs):
        return [e for e in self.elements if e["tag"] == tag and all(e["attrs"].get(k) == v for k, v in attrs.items())]


def _wcag_contrast(fg: str, bg: str) -> float:
    """WCAG 2.x contrast ratio, written from the specification's definition of relative luminance."""

    def lum(h):
        rgb = [int(h.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(fg), lum(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


# ------------------------------------------------------------------------------------------- Table


def test_table_escapes_supplier_text_everywhere():
    df = pd.DataFrame({XSS: [XSS], "Note": ['a "quoted" & <b>bold</b>']})
    html_text = d.Table(df, caption=XSS).html
    assert "<script>" not in html_text
    assert html_text.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 3  # caption, header, cell
    assert "<b>" not in html_text and "&lt;b&gt;bold&lt;/b&gt;" in html_text
    tree = _Tree(html_text)
    assert tree.find("caption")[0]["text"] == XSS  # shown as text, literally


def test_table_headers_have_scope_and_row_header_column():
    df = pd.DataFrame({"KPI": ["Uptime", "First-time fix"], "Value": [99.5, 80.25]})
    tree = _Tree(d.Table(df, caption="KPIs", row_header="KPI").html)
    cols = tree.find("th", scope="col")
    assert [c["text"] for c in cols] == ["KPI", "Value"]
    rows = tree.find("th", scope="row")
    assert [r["text"] for r in rows] == ["Uptime", "First-time fix"]
    assert all(r["parent"] == "tr" for r in rows)
    assert all(th["attrs"].get("scope") in ("col", "row") for th in tree.find("th"))


def test_table_index_becomes_row_header():
    df = pd.DataFrame({"Rating": ["Good"]}, index=pd.Index(["C-001"], name="Contract"))
    tree = _Tree(d.Table(df, caption="x", index=True).html)
    assert [c["text"] for c in tree.find("th", scope="col")] == ["Contract", "Rating"]
    assert [r["text"] for r in tree.find("th", scope="row")] == ["C-001"]
    unnamed = _Tree(d.Table(pd.DataFrame({"v": [1]}), caption="x", index=True).html)
    assert unnamed.find("th", scope="col")[0]["text"].strip()  # never an empty header cell


@pytest.mark.parametrize("missing", [np.nan, None, pd.NaT, pd.NA])
def test_missing_values_show_dash_and_hidden_words(missing):
    df = pd.DataFrame({"a": pd.Series([missing, "x"], dtype=object)})
    html_text = d.Table(df, caption="c").html
    tree = _Tree(html_text)
    cell = tree.find("td")[0]
    assert cell["text"] == "–not available"
    hidden = tree.find("span", **{"class": "visually-hidden"})[0]
    assert "position:absolute" in hidden["attrs"]["style"] and "clip:" in hidden["attrs"]["style"]
    assert tree.find("span", **{"aria-hidden": "true"})[0]["text"] == "–"
    assert "nan" not in html_text.lower().replace("not available", "")


@pytest.mark.parametrize(
    "word, css, symbol",
    [
        ("Good", "rating-good", "✓"),
        ("Approaching target", "rating-approaching", "◐"),
        ("Requires improvement", "rating-requires-improvement", "!"),
        ("Inadequate", "rating-inadequate", "✗"),
        ("Other", "rating-other", "○"),
    ],
)
def test_rating_cells_carry_class_symbol_and_word(word, css, symbol):
    df = pd.DataFrame({"KPI": ["k"], "Rating": [word.upper()]})  # case of the input does not matter
    tree = _Tree(d.Table(df, caption="c", rating_columns=["Rating"]).html)
    cell = tree.find("td", **{"class": f"rating {css}"})
    assert len(cell) == 1
    assert cell[0]["text"] == f"{symbol} {word}"  # symbol + the statutory word, never colour alone
    assert "background-color:" in cell[0]["attrs"]["style"]


def test_rating_column_leaves_unknown_words_and_missing_alone():
    df = pd.DataFrame({"Rating": ["Amber-ish", None]})
    tree = _Tree(d.Table(df, caption="c", rating_columns=["Rating"]).html)
    tds = tree.find("td")
    assert tds[0]["text"] == "Amber-ish" and "class" not in tds[0]["attrs"]
    assert tds[1]["text"] == "–not available"


def test_wcag_formula_matches_published_values():
    # Reference points from the WCAG definition: black on white is 21:1; #767676 is the lightest grey
    # passing 4.5:1 on white (4.54:1), #777777 just fails (4.48:1).
    assert _wcag_contrast("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert _wcag_contrast("#767676", "#FFFFFF") == pytest.approx(4.54, abs=0.01)
    assert _wcag_contrast("#777777", "#FFFFFF") == pytest.approx(4.48, abs=0.01)


def test_rating_and_callout_colours_pass_wcag_aa():
    assert set(d.RATING_STYLES) == {"Good", "Approaching target", "Requires improvement", "Inadequate", "Other"}
    for style in d.RATING_STYLES.values():
        assert _wcag_contrast(style.color, style.background) >= 4.5, style
    for _label, accent, bg in d.CALLOUT_KINDS.values():
        assert _wcag_contrast("#1A1A1A", bg) >= 4.5
        assert _wcag_contrast(accent, "#FFFFFF") >= 3.0  # the border is a graphical object (WCAG 1.4.11)


def test_numbers_right_aligned_with_one_precision_per_column():
    df = pd.DataFrame({"name": ["a", "b", "c"], "x": [1.5, 2.25, 3.0], "n": [1000, 25, 3], "m": [1.0, 2.0, None]})
    tree = _Tree(d.Table(df, caption="c").html)
    header_classes = {h["text"]: h["attrs"].get("class") for h in tree.find("th")}
    assert header_classes == {"name": None, "x": "num", "n": "num", "m": "num"}
    cells = [(c["text"], c["attrs"].get("class")) for c in tree.find("td")]
    assert cells[1] == ("1.50", "num") and cells[5] == ("2.25", "num") and cells[9] == ("3.00", "num")
    assert cells[2] == ("1,000", "num")
    assert cells[3] == ("1", "num") and cells[11][0] == "–not available"
    assert cells[0] == ("a", None)


def test_number_formats_and_other_types():
    df = pd.DataFrame(
        {
            "credit": [1234.5],
            "pct": [0.125],
            "when": [pd.Timestamp("2026-10-31")],
            "month": [pd.Period("2026-10", "M")],
            "ok": [True],
        }
    )
    t = d.Table(df, caption="c", number_formats={"credit": "£{:,.0f}", "pct": lambda v: f"{v:.1%} <x>"})
    texts = [c["text"] for c in _Tree(t.html).find("td")]
    assert texts == ["£1,234", "12.5% <x>", "31 Oct 2026", "Oct 2026", "Yes"]
    assert "&lt;x&gt;" in t.html  # formatter output is escaped too


def test_table_errors_and_empty_frame():
    with pytest.raises(UsageError, match="Rating"):
        d.Table(pd.DataFrame({"a": [1]}), caption="c", rating_columns=["Rating"])
    with pytest.raises(UsageError, match="DataFrame"):
        d.Table(pd.Series([1]), caption="c")
    tree = _Tree(d.Table(pd.DataFrame({"a": [], "b": []}), caption="c").html)
    assert tree.find("td")[0]["text"] == "No rows" and tree.find("td")[0]["attrs"]["colspan"] == "2"


# ------------------------------------------------------------------------------------------- Chart


def _pyplot_figure():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 2))
    ax.plot([1, 2, 3], [3, 1, 2])
    ax.set_title("Some words")
    return fig, plt


def test_chart_renders_svg_data_uri_closes_figure_and_structures_figure():
    fig, plt = _pyplot_figure()
    data = pd.DataFrame({"x": [1, 2, 3], "y": [3, 1, 2]})
    chart = d.Chart(fig, title=f"Title {XSS}", alt=f"Alt {XSS} \"quoted\"", data=data, caption="Source: x")
    assert plt.get_fignums() == []  # closed: no memory growth, no second PNG from the inline backend
    html_text = chart.html
    assert "<script>" not in html_text
    tree = _Tree(html_text)
    figure = tree.find("figure", **{"class": "cinb-chart"})
    assert len(figure) == 1
    children = [e["tag"] for e in tree.elements if e["parent"] == "figure"]
    assert children == ["figcaption", "img", "details"]  # figcaption first (valid HTML), details last
    img = tree.find("img")[0]
    assert img["attrs"]["alt"] == f"Alt {XSS} \"quoted\""
    assert img["attrs"]["width"] == "384" and img["attrs"]["height"] == "192"  # 4 x 2 in at 96 px/in
    prefix = "data:image/svg+xml;base64,"
    assert img["attrs"]["src"].startswith(prefix)
    svg = base64.b64decode(img["attrs"]["src"][len(prefix):]).decode("utf-8")
    assert "<svg" in svg and "</svg>" in svg
    assert "<text" in svg and "@font-face" not in svg  # text as text, in fonts already installed: none fetched
    assert not re.search(r"(href|src)=\"https?:|url\(https?:|@import", svg)  # nothing fetched
    summary = tree.find("summary")[0]
    assert summary["text"] == f"Data behind this chart: Title {XSS}"
    assert tree.find("details", **{"class": "cinb-chart-data"})[0]["parent"] == "figure"
    assert tree.find("figcaption")[0]["text"] == f"Title {XSS}Source: x"


def test_chart_is_deterministic_and_png_option_works():
    from matplotlib.figure import Figure

    def make():
        fig = Figure(figsize=(3, 2))
        fig.add_subplot().plot([0, 1], [1, 0])
        return fig

    a = d.Chart(make(), title="t", alt="a", data=None)
    b = d.Chart(make(), title="t", alt="a", data=None)
    assert a.image == b.image  # pinned hash salt and no date: snapshot-friendly
    assert "<details" not in a.html
    png = d.Chart(make(), title="t", alt="a", data=None, format="png", dpi=150)
    assert png.image[:8] == b"\x89PNG\r\n\x1a\n"
    assert 'src="data:image/png;base64,' in png.html and png.svg is None
    with pytest.raises(UsageError):
        d.Chart(make(), title="t", alt="a", data=None, format="gif")


def test_chart_from_svg_text_reads_size_in_points():
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="72pt" height="36pt"><rect width="1" height="1"/></svg>'
    chart = d.Chart(svg, title="t", alt="a", data=None)
    assert (chart.width, chart.height) == (96, 48)
    with pytest.raises(UsageError, match="SVG"):
        d.Chart("not svg", title="t", alt="a", data=None)


def test_chart_does_not_change_rcparams():
    before = dict(matplotlib.rcParams)
    fig, _ = _pyplot_figure()
    d.Chart(fig, title="t", alt="a", data=None)
    assert dict(matplotlib.rcParams) == before


# ------------------------------------------------------------------------------------------- small objects


def test_callout_labels_kind_in_words_and_escapes():
    tree = _Tree(d.Callout(XSS, kind="concern").html)
    div = tree.find("div")[0]
    assert div["attrs"]["class"] == "cinb-callout cinb-callout-concern"
    assert div["text"] == f"Concern: {XSS}"
    assert "border-left:4px solid" in div["attrs"]["style"]
    assert _Tree(d.Callout("x").html).find("strong")[0]["text"] == "Note:"
    with pytest.raises(UsageError, match="kind"):
        d.Callout("x", kind="red")


def test_heading_slug_is_stable_and_text_escaped():
    h = d.Heading(f"KPI scorecard: Café & Co {XSS}", 2)
    assert h.html == (
        '<h2 id="kpi-scorecard-cafe-co-script-alert-1-script">'
        "KPI scorecard: Café &amp; Co &lt;script&gt;alert(1)&lt;/script&gt;</h2>"
    )
    assert d.Heading("Service credits", 3).id == d.Heading("Service credits", 3).id == "service-credits"
    assert d.Heading("x", 2, id="My Id!").id == "my-id"
    assert d.Heading("!!!", 2).id == "section"
    with pytest.raises(UsageError):
        d.Heading("x", 7)


def test_paragraphs_and_keyfacts():
    p = _Tree(d.Paragraphs(["First <b>.", "Second."]).html)
    assert [e["text"] for e in p.find("p")] == ["First <b>.", "Second."]
    assert _Tree(d.Paragraphs("Only one.").html).find("p")[0]["text"] == "Only one."
    facts = d.KeyFacts(
        {"Contract": f"C-001 {XSS}", "End date": pd.Timestamp("2026-10-31"), "Period": pd.Period("2026-10", "M"),
         "Notice date": pd.NaT}
    )
    tree = _Tree(facts.html)
    assert tree.find("dl")[0]["attrs"]["class"] == "cinb-keyfacts"
    assert [e["text"] for e in tree.find("dt")] == ["Contract", "End date", "Period", "Notice date"]
    assert [e["text"] for e in tree.find("dd")] == [f"C-001 {XSS}", "31 Oct 2026", "Oct 2026", "–not available"]
    assert "<script>" not in facts.html


def test_show_uses_ipython_display_inside_a_kernel(monkeypatch, capsys):
    import IPython
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", lambda *objs: shown.extend(objs))
    h, p = d.Heading("A", 2), d.Paragraphs("b")
    d.show(h, p)
    assert shown == [h, p]
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    d.show(h)
    assert capsys.readouterr().out.strip() == '<h2 id="a">A</h2>'


def test_objects_repr_html_matches_html():
    for obj in (d.Heading("A", 2), d.Callout("x"), d.Paragraphs("p"), d.KeyFacts({"a": 1}),
                d.Table(pd.DataFrame({"a": [1]}), caption="c")):
        assert obj._repr_html_() == obj.html == str(obj)
