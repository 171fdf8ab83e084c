"""Branding without forking: the authority's name, logo, accent colour and footer on every pack and the index.

The brand_* parameters are layered like every other, checked before anything runs (a logo by its bytes, an
accent by its WCAG contrast), embedded (never fetched), shown on the cover, the printed pages' header and footer
with both PDF backends and on the month's index page, and part of a pack's input hash. Without them a pack is
exactly what it was.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cinb.branding import Brand, check_accent, contrast_ratio, read_logo
from cinb.errors import UsageError
from cinb.render import chromium_available, render_html, render_pdf
from cinb.sanitize import CONTENT_SECURITY_POLICY

HERE = Path(__file__).resolve().parent
PERIOD = "2026-10"
NAME = "London Borough of Northbridge"
FOOTER = "Northbridge Council · Commercial Services · Town Hall, Northbridge NB1 1AA"
ACCENT = "#005A30"  # a dark green: 7.6:1 on white


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _png_bytes() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (240, 80), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([2, 2, 78, 78], fill=ACCENT)
    draw.polygon([(20, 60), (40, 20), (60, 60)], fill="white")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


SVG_LOGO = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="80" viewBox="0 0 240 80">'
            '<defs><linearGradient id="g"><stop offset="0" stop-color="#005A30"/><stop offset="1" '
            'stop-color="#0B7A4B"/></linearGradient></defs>'
            '<rect x="2" y="2" width="76" height="76" rx="10" fill="url(#g)"/>'
            '<text x="90" y="45" font-size="20">Northbridge</text></svg>')


@pytest.fixture(scope="module")
def logos(tmp_path_factory) -> dict[str, Path]:
    """Good and bad logo files: names say what is in them (not necessarily what their bytes are)."""
    folder = tmp_path_factory.mktemp("logos")
    files = {
        "logo.png": _png_bytes(),
        "logo.svg": SVG_LOGO.encode(),
        "scripted.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script>'
                        b'<rect width="9" height="9"/></svg>',
        "foreign.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><div xmlns="http://www.w3.org/'
                       b'1999/xhtml">x</div></foreignObject></svg>',
        "remote.svg": b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
                      b'<image xlink:href="https://cdn.example.org/crest.png" width="9" height="9"/></svg>',
        "local-file.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill:url(file:///etc/passwd)" '
                          b'width="9" height="9"/></svg>',
        "handler.svg": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        "entities.svg": b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]>'
                        b'<svg xmlns="http://www.w3.org/2000/svg">&a;</svg>',
        "notes.png": b"Minutes of the contract board, not an image.\n",
        "huge.png": b"\x89PNG\r\n\x1a\n" + b"\0" * (600 * 1024),
        "empty.png": b"",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in files}


# --- the checks ------------------------------------------------------------------------------------------------

def test_contrast_follows_wcag_22():
    assert contrast_ratio("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert contrast_ratio("#767676", "#FFFFFF") == pytest.approx(4.54, abs=0.01)
    assert contrast_ratio("#FFFFFF", "#767676") == contrast_ratio("#767676", "#FFFFFF")  # white text on it too
    assert check_accent("#767676") == "#767676" and check_accent("#005a30") == "#005A30"
    assert check_accent(None) is None and check_accent("") is None


@pytest.mark.parametrize("colour, ratio", [("#FFCC00", "1.51"), ("#777777", "4.47"), ("#1D70B9", None)])
def test_a_low_contrast_accent_is_refused_with_its_ratio(colour, ratio):
    if ratio is None:  # the house link colour passes
        assert check_accent(colour) == colour
        return
    with pytest.raises(UsageError) as info:
        check_accent(colour)
    message = str(info.value)
    assert message.startswith(f"brand_accent {colour} has a contrast of {ratio}:1 on white")
    assert "at least 4.5:1 is needed" in message and "choose a darker colour" in message


@pytest.mark.parametrize("value", ["red", "#FFF", "005A30", 12, ["#005A30"]])
def test_an_accent_that_is_not_rrggbb_is_refused(value):
    with pytest.raises(UsageError, match=r"brand_accent must be a colour written #RRGGBB"):
        check_accent(value)


@pytest.mark.parametrize("name, mime", [("logo.png", "image/png"), ("logo.svg", "image/svg+xml")])
def test_good_logos_are_read_and_typed_by_their_bytes(logos, name, mime, tmp_path):
    logo = read_logo(logos[name])
    assert (logo.file, logo.mime) == (name, mime) and len(logo.sha256) == 64
    assert logo.data_uri().startswith(f"data:{mime};base64,")
    # The name does not decide the type: a PNG called .svg is still a PNG.
    renamed = tmp_path / "crest.svg"
    renamed.write_bytes(logos["logo.png"].read_bytes())
    assert read_logo(renamed).mime == "image/png"


@pytest.mark.parametrize("name, words", [
    ("missing.png", "no such file"),
    ("notes.png", "is not a PNG, JPEG, GIF, WebP or SVG image"),
    ("huge.png", "at most 512 KiB"),
    ("empty.png", "is empty"),
    ("scripted.svg", "a script"),
    ("foreign.svg", "foreignObject"),
    ("remote.svg", "a reference outside the file"),
    ("local-file.svg", "a reference outside the file"),
    ("handler.svg", "an event handler"),
    ("entities.svg", "an entity declaration"),
])
def test_bad_logos_are_refused_naming_the_file(logos, name, words):
    path = logos.get(name, next(iter(logos.values())).parent / name)
    with pytest.raises(UsageError) as info:
        read_logo(path)
    message = str(info.value)
    assert message.startswith("brand_logo ") and name in message and words in message, message


def test_texts_are_one_line_of_bounded_length():
    from cinb.branding import check_text

    assert check_text("brand_name", f"  {NAME} ") == NAME and check_text("brand_footer", "") is None
    for value, words in (("x" * 201, "at most 200"), ("two\nlines", "one line"), ({"a": 1}, "text")):
        with pytest.raises(UsageError, match="brand_footer") as info:
            check_text("brand_footer", value)
        assert words in str(info.value)


def test_parameter_files_layer_branding_like_any_parameter(logos, tmp_path):
    from cinb.config import merge_parameters

    folder = tmp_path / "parameters"
    folder.mkdir()
    (folder / "borough.yml").write_text(f'brand_name: "{NAME}"\nbrand_accent: "{ACCENT}"\n'
                                        f"brand_logo: {logos['logo.png']}\n", encoding="utf-8")
    merged = merge_parameters({"brand_accent": "#1D70B8"}, folder=folder)
    assert merged["brand_name"] == NAME and merged["brand_accent"] == "#1D70B8"  # the command line wins
    assert merged["brand_logo"] == str(logos["logo.png"])
    (folder / "borough.yml").write_text('brand_accent: "#FFDD00"\n', encoding="utf-8")
    with pytest.raises(UsageError) as info:
        merge_parameters({}, folder=folder)
    assert "brand_accent #FFDD00 has a contrast of" in str(info.value) and "borough.yml" in str(info.value)


@pytest.mark.parametrize("option, value, words", [
    ("--brand-accent", "#FFCC00", ["brand_accent #FFCC00", "1.51:1", "at least 4.5:1"]),
    ("--brand-logo", "missing.png", ["brand_logo", "missing.png", "no such file"]),
    ("--brand-logo", "scripted.svg", ["brand_logo", "scripted.svg", "a script"]),
    ("--brand-logo", "notes.png", ["brand_logo", "notes.png", "not a PNG, JPEG, GIF, WebP or SVG image"]),
])
def test_the_cli_refuses_bad_branding_before_running_anything(logos, option, value, words, tmp_path, capsys,
                                                              monkeypatch):
    from cinb.cli import main

    monkeypatch.setenv("CINB_PARAMETERS", str(tmp_path / "no-parameter-files"))
    if option == "--brand-logo":
        value = str(logos.get(value, next(iter(logos.values())).parent / value))
    out = tmp_path / "reports"
    code = main(["run", "NB-SD-001", "--period", PERIOD, "--out", str(out), option, value])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("cinb: brand_"), err
    assert all(w in err for w in words), err
    assert "(from the command line)" in err
    assert not out.exists()  # refused before any pack was planned


# --- the HTML ----------------------------------------------------------------------------------------------------

class _Page(HTMLParser):
    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._skip = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style", "title"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style", "title"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.text.append(" ".join(data.split()))


def _synthetic():
    return _load("cinb_test_render_for_branding", HERE / "test_render.py").synthetic_notebook()


@pytest.fixture(scope="module")
def branded_page(logos) -> str:
    return render_html(_synthetic(), title="Contract C001 — Service desk review", subtitle="Example Ltd",
                       marking="OFFICIAL", running_header="C001 Service desk",
                       brand={"brand_name": NAME, "brand_logo": str(logos["logo.png"]), "brand_accent": ACCENT,
                              "brand_footer": FOOTER})


def test_cover_shows_the_name_and_the_embedded_logo_with_alt_text(branded_page):
    parsed = _Page(branded_page)
    cover = branded_page[branded_page.index('<header class="cinb-cover">'):branded_page.index("</header>")]
    assert f'<p class="cinb-brand-name">{NAME}</p>' in cover
    (logo,) = [a for t, a in parsed.tags if t == "img" and "cinb-brand-logo" in (a.get("class") or "")]
    assert logo["alt"] == f"{NAME} logo"
    assert logo["src"].startswith("data:image/png;base64,") and logo["src"] in cover
    # Nothing external anywhere: every image is a data: URI, the policy is the one of every pack.
    for tag, attrs in parsed.tags:
        if "src" in attrs:
            assert attrs["src"].startswith("data:image/"), (tag, attrs["src"][:40])
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:|file:)?//", branded_page, re.IGNORECASE)
    assert re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', branded_page) == [
        CONTENT_SECURITY_POLICY]


def test_header_footer_and_accent_reach_the_page(branded_page):
    assert f'@top-left {{ content: "{NAME}" "\\A" "C001 Service desk"; }}' in branded_page
    assert "@bottom-center { content: " in branded_page and "Northbridge NB1 1AA" in branded_page
    assert f":root {{ --accent: {ACCENT}; --link: {ACCENT}; }}" in branded_page
    footer = branded_page[branded_page.index('<footer class="cinb-footer">'):]
    assert f'<p class="cinb-brand-footer">{FOOTER}</p>' in footer


def test_a_logo_without_a_name_is_the_authority_logo(logos):
    page = render_html(_synthetic(), title="T", brand={"brand_logo": str(logos["logo.svg"])})
    assert 'alt="Authority logo"' in page and "data:image/svg+xml;base64," in page
    assert "cinb-brand-name" not in page.split("</style>")[-1]


def test_branding_text_is_escaped_never_markup():
    hostile = '"}</style><script>alert(1)</script><b>'
    page = render_html(_synthetic(), title="T", brand={"brand_name": hostile, "brand_footer": hostile})
    assert "<script>alert(1)" not in page and "</style><script>" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert hostile in " ".join(_Page(page).text)  # a reader sees the text as given


def test_without_branding_the_page_is_unchanged():
    plain = render_html(_synthetic(), title="T", meta={"generated": "2025-01-06T09:30:00"})
    for empty in (None, Brand(), {}, {"brand_name": None, "brand_logo": None, "brand_accent": None,
                                      "brand_footer": None}, {"brand_name": "", "brand_accent": ""}):
        assert render_html(_synthetic(), title="T", meta={"generated": "2025-01-06T09:30:00"},
                           brand=empty) == plain
    assert "cinb-brand" not in plain and "--accent" not in plain


# --- input hash ----------------------------------------------------------------------------------------------

def test_branding_changes_the_input_hash(sample_portfolio, logos, tmp_path, monkeypatch):
    from cinb.api import notebook_parameters, settings
    from cinb.batch import plan

    monkeypatch.setenv("CINB_PARAMETERS", str(tmp_path / "no-parameter-files"))

    def digest(**brand):
        params = settings({"formats": ["html"], "pdf_backend": "weasyprint", **brand})
        (spec,) = plan(sample_portfolio, PERIOD, notebook_parameters(params), ["NB-SD-001"], kinds=("contract",),
                       formats=("html",), pdf_backend="weasyprint")
        return spec.input_hash

    plain = digest()
    assert digest(brand_name=None) == plain
    assert digest(brand_accent=ACCENT) != plain
    assert digest(brand_accent=ACCENT) != digest(brand_accent="#1D70B8")
    logo = tmp_path / "crest.png"
    logo.write_bytes(logos["logo.png"].read_bytes())
    before = digest(brand_logo=str(logo))
    logo.write_bytes(logos["logo.svg"].read_bytes())  # same path, new content
    assert digest(brand_logo=str(logo)) != before


# --- real packs: a batch with branding, and one without -----------------------------------------------------

@pytest.fixture(scope="module")
def branded_batch(logos, tmp_path_factory):
    """NB-SD-001's pack built by run_month with every brand_* parameter, and the same pack without any."""
    import cinb

    out = tmp_path_factory.mktemp("branded")
    plain = tmp_path_factory.mktemp("plain")
    common = dict(contracts=["NB-SD-001"], kinds="contract", jobs=1, pdf_backend="weasyprint", config=None)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CINB_PARAMETERS", str(out / "no-parameter-files"))
        batch = cinb.run_month(PERIOD, out=out, formats=["html", "pdf"], brand_name=NAME,
                               brand_logo=str(logos["logo.png"]), brand_accent=ACCENT, brand_footer=FOOTER,
                               **common)
        unbranded = cinb.run_month(PERIOD, out=plain, formats=["html"], **common)
    assert not batch.failed and not unbranded.failed, [r.error for r in batch.failed + unbranded.failed]
    return {"root": out / PERIOD, "plain": plain / PERIOD}


@pytest.mark.slow
def test_a_branded_pack_records_its_branding_without_the_logo_bytes(branded_batch, logos):
    data = json.loads((branded_batch["root"] / "NB-SD-001" / "pack.json").read_text(encoding="utf-8"))
    recorded = data["reproducibility"]["settings"]
    assert recorded["brand_name"] == NAME and recorded["brand_accent"] == ACCENT
    assert recorded["brand_footer"] == FOOTER
    assert recorded["brand_logo"] == {"file": "logo.png", "sha256": read_logo(logos["logo.png"]).sha256}
    plain = json.loads((branded_batch["plain"] / "NB-SD-001" / "pack.json").read_text(encoding="utf-8"))
    assert plain["reproducibility"]["settings"]["brand_logo"] is None
    # The figures are the same with or without branding.
    assert data["headline"] == plain["headline"]


@pytest.mark.slow
def test_branding_adds_only_its_own_text_to_a_real_pack(branded_batch):
    branded = _Page((branded_batch["root"] / "NB-SD-001" / "review.html").read_text(encoding="utf-8")).text
    plain = _Page((branded_batch["plain"] / "NB-SD-001" / "review.html").read_text(encoding="utf-8")).text
    assert NAME in branded and FOOTER in branded
    # The sample authority is also called the London Borough of Northbridge: remove only the added lines.
    added = list(branded)
    added.remove(NAME)
    added.remove(FOOTER)
    assert _stable(added) == _stable(plain)


def _stable(text: list[str]) -> list[str]:
    # What may differ between two runs a minute apart: the build time, and hashes that include the code.
    text = [re.sub(r"\b[0-9a-f]{12,64}\b", "<hash>", t) for t in text]
    return [re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d( UTC)?", "<time>", t) for t in text]


@pytest.mark.slow
def test_the_index_page_is_branded(branded_batch):
    page = (branded_batch["root"] / "index.html").read_text(encoding="utf-8")
    assert f"<title>Review packs, October 2026 — {NAME}</title>" in page
    assert f'<p class="brand-name">{NAME}</p>' in page and f'alt="{NAME} logo"' in page
    assert 'src="data:image/png;base64,' in page and f"--accent: {ACCENT};" in page
    plain = (branded_batch["plain"] / "index.html").read_text(encoding="utf-8")
    assert "brand" not in plain and "--accent" not in plain


@pytest.fixture(scope="module", params=["weasyprint", "chromium"])
def branded_pdf(request, branded_batch, tmp_path_factory):
    """The branded pack's pages as text, printed by each backend (the batch's own PDF for WeasyPrint)."""
    pypdf = pytest.importorskip("pypdf")
    pdf = branded_batch["root"] / "NB-SD-001" / "review.pdf"
    if request.param == "chromium":
        if not chromium_available():
            pytest.skip("the Chromium backend needs `pip install 'cinb[chromium]'` and Chromium")
        html = (branded_batch["root"] / "NB-SD-001" / "review.html").read_text(encoding="utf-8")
        pdf = render_pdf(html, tmp_path_factory.mktemp("chromium") / "review.pdf", backend="chromium")
    reader = pypdf.PdfReader(io.BytesIO(pdf.read_bytes()))
    return reader, [" ".join(p.extract_text().split()) for p in reader.pages]


@pytest.mark.slow
def test_pdf_cover_header_and_footer_are_branded(branded_pdf):
    reader, pages = branded_pdf
    n = len(pages)
    assert n > 3
    assert NAME in pages[0] and FOOTER in pages[0]
    assert len(reader.pages[0].images) >= 1  # the logo, embedded
    for i, text in enumerate(pages, 1):
        assert f"Page {i} of {n}" in text and "OFFICIAL" in text
        assert FOOTER in text, (i, text[:300])
        if i > 1:
            assert f"{NAME} NB-SD-001 · Service desk" in text, (i, text[:300])  # the running header
    assert f"{NAME} NB-SD-001" not in pages[0]  # the cover has no running header


# --- accessibility -------------------------------------------------------------------------------------------

axe = _load("cinb_axe_check_for_branding", HERE / "a11y" / "axe_check.py")


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("page", ["NB-SD-001/review.html", "index.html"])
def test_branded_pages_have_no_wcag_aa_violations(branded_batch, page):
    reason = axe.unavailable_reason()
    if reason:
        pytest.skip(f"browser accessibility check: {reason}")
    violations = axe.axe_violations(branded_batch["root"] / page)
    assert violations == [], axe.format_violations(violations)


@pytest.mark.browser
def test_branded_synthetic_pack_has_no_wcag_aa_violations(branded_page, tmp_path):
    reason = axe.unavailable_reason()
    if reason:
        pytest.skip(f"browser accessibility check: {reason}")
    path = tmp_path / "branded.html"
    path.write_text(branded_page, encoding="utf-8")
    violations = axe.axe_violations(path)
    assert violations == [], axe.format_violations(violations)


def test_a_hand_built_brand_is_checked_too():
    with pytest.raises(UsageError, match="brand_accent #FFCC00"):
        render_html(_synthetic(), title="T", brand=replace(Brand(), accent="#FFCC00"))
