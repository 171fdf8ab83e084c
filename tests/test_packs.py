"""Rendered packs checked as a reader would see them: PDF text, HTML structure, confidentiality, figures."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from pypdf import PdfReader

pytestmark = pytest.mark.slow

SECTIONS = ["Contract at a glance", "Executive summary", "KPI scorecard", "KPI detail", "CI commitments",
            "Service credits", "Improvement initiatives", "Definition quality", "Data quality and evidence",
            "Appendix"]


def _pdf_text(path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


class _Structure(HTMLParser):
    def __init__(self):
        super().__init__()
        self.headings, self.resources, self.code = [], [], 0
        self.scripts = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        for attr in ("src", "href"):
            if a.get(attr) and re.match(r"(https?:)?//", a[attr]) and tag != "a":
                self.resources.append((tag, a[attr]))
        if tag == "script":
            self.scripts.append(a.get("type"))
        if "class" in a and re.search(r"\b(jp-InputArea|input_area|jp-InputPrompt)\b", a["class"] or ""):
            self.code += 1


def test_contract_pdf_has_title_sections_and_kpis(rendered, sample_portfolio):
    text = _pdf_text(rendered["root"] / "NB-SD-001" / "review.pdf")
    flat = " ".join(text.split())
    assert "Service desk and end-user support" in flat
    for section in SECTIONS:
        assert section in flat, section
    for name in sample_portfolio.kpis.loc[sample_portfolio.kpis["contract_id"] == "NB-SD-001", "name"]:
        assert name in flat, name
    assert "Page 1 of" in flat or "1 of" in flat


def test_contract_html_has_no_code_no_remote_resources_and_ordered_headings(rendered):
    html = (rendered["root"] / "NB-SD-001" / "review.html").read_text(encoding="utf-8")
    s = _Structure()
    s.feed(html)
    assert s.resources == []
    assert s.code == 0
    assert "contract_review(" not in html and "load_portfolio(" not in html  # no code text
    assert all(t == "application/json" for t in s.scripts)  # data only, nothing executable
    assert s.headings.count(1) == 1
    assert all(b - a <= 1 for a, b in zip(s.headings, s.headings[1:])), s.headings
    assert 'alt="' in html


def test_pack_json_carries_the_figures_the_pack_shows(rendered):
    data = json.loads((rendered["root"] / "NB-SD-001" / "pack.json").read_text())
    html = (rendered["root"] / "NB-SD-001" / "review.html").read_text(encoding="utf-8")
    assert data["contract"]["contract_id"] == "NB-SD-001" and data["period"] == "2026-10"
    for sentence in data["summary"]:
        assert sentence.replace("'", "&#x27;") in html or sentence in html
    assert {k["kpi_id"] for k in data["kpis"]} == {"FTF", "ANS30", "P1RES", "CSAT", "AGED", "ABND"}
    ftf = next(k for k in data["kpis"] if k["kpi_id"] == "FTF")
    assert ftf["spc"]["upl"] > ftf["spc"]["mean"] > ftf["spc"]["lpl"]


def test_supplier_pack_shows_no_other_contract_or_supplier(rendered, sample_portfolio):
    folder = rendered["root"] / "supplier" / "NB-SD-001"
    files = [p for p in folder.iterdir() if p.is_file()]
    assert {p.name for p in files} == {"review.html", "review.pdf", "pack.json"}  # no executed notebook
    others = sample_portfolio.contracts[sample_portfolio.contracts["contract_id"] != "NB-SD-001"]
    forbidden = set(others["contract_id"]) | (set(others["supplier"]) - {"Meridian Service Desk Ltd"})
    for path in files:
        text = _pdf_text(path) if path.suffix == ".pdf" else path.read_text(encoding="utf-8")
        text = " ".join(text.split())
        leaked = sorted(x for x in forbidden if x in text)
        assert leaked == [], (path.name, leaked)
    assert "Questions for the review meeting" not in (folder / "review.html").read_text(encoding="utf-8")


def test_portfolio_and_supplier_packs(rendered, sample_portfolio):
    text = " ".join(_pdf_text(rendered["root"] / "portfolio" / "review.pdf").split())
    for heading in ("Ratings by contract and KPI", "Contract ranking", "Expiry and notice dates",
                    "Contract Performance Notice readiness"):
        assert heading in text
    html = (rendered["root"] / "portfolio" / "review.html").read_text(encoding="utf-8")
    for cid in sample_portfolio.contracts["contract_id"]:
        assert f'href="../{cid}/review.html"' in html
    sup = rendered["root"] / "suppliers" / "Meridian-Service-Desk-Ltd" / "scorecard.html"
    assert "NB-TEL-010" in sup.read_text(encoding="utf-8")
    assert "Fully defined" in html and "Most often missing" in html


def test_table_headers_speak_to_readers(rendered):
    # No analysis column names (share_well_defined, months_before…) in any pack's table headers.
    pages = sorted(rendered["root"].rglob("*.html"))
    assert len(pages) >= 4
    for page in pages:
        found = re.findall(r"<th[^>]*>\s*([a-z]+_[a-z_]+)\s*</th>", page.read_text(encoding="utf-8"))
        assert found == [], (page.name, sorted(set(found)))


def test_manifest_lists_every_pack(rendered):
    manifest = json.loads((rendered["root"] / "manifest.json").read_text())
    assert {p["key"] for p in manifest["packs"]} == {"NB-SD-001", "supplier/NB-SD-001", "portfolio",
                                                     "suppliers/Meridian-Service-Desk-Ltd"}
    assert all(p["status"] == "ok" for p in manifest["packs"])
