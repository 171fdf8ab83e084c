"""Confidentiality: a supplier-facing pack carries nothing of any other contract or supplier.

The portfolio is the sample with a unique canary string planted in every other contract's title, KPI
descriptions, measurement notes and initiatives (tests/adversarial/packs.py). The supplier pack of NB-SD-001
is rendered in a real kernel; every file of it (HTML, the PDF's text, pack.json) is scanned for every other
contract's id, procurement id and supplier id, every other supplier's name and every canary. NB-SD-001's
supplier also holds NB-TEL-010 in the sample: that contract must not show either.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from adversarial import packs as hostile  # noqa: E402  (tests/ is on sys.path: conftest.py)



@pytest.fixture(scope="module")
def packs():
    return hostile.built_ok()


@pytest.fixture(scope="module")
def forbidden(packs):
    found = hostile.canaries(packs["data"])
    assert "NB-TEL-010" in found and "Kestrel Cloud Hosting Ltd" in found and "CANARY-NOTE-NB-HOST-002" in found
    return found


def _text(path: Path) -> str:
    if path.suffix == ".pdf":
        from pypdf import PdfReader

        raw = "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)
    else:
        raw = path.read_text(encoding="utf-8")
    return " ".join(raw.split())


@pytest.mark.slow
def test_supplier_pack_files_are_the_published_set_only(packs):
    files = sorted(p.name for p in packs["supplier"].rglob("*") if p.is_file())
    assert files == ["pack.json", "review.html", "review.pdf"], files  # no executed notebook, no temporary file
    failed = packs["out"] / hostile.PERIOD / "_failed"
    assert not failed.exists() or not any(failed.rglob("*"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["review.html", "review.pdf", "pack.json"])
def test_supplier_pack_holds_no_other_contract_or_supplier(packs, forbidden, name):
    text = _text(packs["supplier"] / name)
    assert hostile.REVIEWED in text  # the scan reads the real content
    leaked = sorted(x for x in forbidden if x in text)
    assert leaked == [], f"{name} shows other contracts' data: {leaked[:10]}"


@pytest.mark.slow
def test_internal_pack_of_the_same_contract_also_stays_on_its_contract(packs, forbidden):
    """The contract pack is about one contract whatever the audience; the canaries prove the filter works."""
    text = _text(packs["internal"] / "review.html")
    canaries = sorted(x for x in forbidden if x.startswith("CANARY") and x in text)
    assert canaries == [], canaries[:10]


@pytest.mark.slow
def test_supplier_pack_json_records_only_its_own_contract(packs):
    data = json.loads((packs["supplier"] / "pack.json").read_text(encoding="utf-8"))
    ids = set()

    def walk(v):
        if isinstance(v, dict):
            if isinstance(v.get("contract_id"), str):
                ids.add(v["contract_id"])
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(data)
    assert ids == {hostile.REVIEWED}, ids
    assert data.get("audience") == "supplier" or data["reproducibility"]["parameters"]["audience"] == "supplier"


@pytest.mark.slow
def test_supplier_pack_hides_internal_only_sections(packs):
    supplier = _text(packs["supplier"] / "review.html")
    internal = _text(packs["internal"] / "review.html")
    assert "Questions for the review meeting" in internal
    assert "Questions for the review meeting" not in supplier


def test_supplier_batch_plans_only_contract_packs(sample_portfolio):
    """A supplier batch never builds the portfolio pack or the cross-contract supplier scorecards."""
    from cinb.batch import plan

    specs = plan(sample_portfolio, "2026-10", {"audience": "supplier"})
    assert {s.kind for s in specs} == {"contract"}
    assert sorted(s.subject for s in specs) == sorted(sample_portfolio.contracts["contract_id"])
    assert all(s.key.startswith("supplier/") for s in specs)


def test_supplier_view_of_the_portfolio_holds_one_contract(sample_portfolio):
    one = sample_portfolio.contract("NB-SD-001")
    for frame in (one.contracts, one.kpis, one.measurements, one.history, one.initiatives, one.warnings,
                  one.problems):
        if len(frame) and "contract_id" in frame:
            assert set(frame["contract_id"].dropna()) <= {"NB-SD-001"}
    assert one.accounting.set_index("table").loc["contracts", "used"] == 1


# ---------------------------------------------------------------------------------------------------------
# Database passwords never reach a pack

SECRET = "S3cret-Pa55"
URL = f"postgresql://auditor:{SECRET}@127.0.0.1:1/portfolio"


@pytest.mark.parametrize("audience", ["internal", "supplier"])
def test_a_password_in_the_data_url_is_not_recorded_in_the_pack(audience, tmp_path, monkeypatch):
    """The pack records its parameters (pack.json, the page's metadata): the data URL's password is hidden."""
    import cinb.pack
    from cinb.pack import PackSpec, build_pack

    monkeypatch.setattr(cinb.pack, "execute", lambda *a, **k: hostile.canned_notebook("v1"))
    spec = PackSpec("contract", "NB-SD-001", "2026-10", {"audience": audience, "data": URL})
    result = build_pack(spec, tmp_path, formats=("html",))
    assert result.status == "ok", result.error
    for path in spec.out_dir(tmp_path).iterdir():
        assert SECRET not in path.read_text(encoding="utf-8", errors="replace"), path.name


def test_the_reproducibility_stamp_hides_the_password(sample_portfolio):
    """The appendix prints the parameters on every pack, the supplier's included."""
    from cinb import sections
    from cinb.review import contract_review

    review = contract_review(sample_portfolio, "NB-SD-001", "2026-10", audience="supplier")
    html = "".join(x.to_html() for x in sections.appendix(review, {"data": URL, "audience": "supplier"}))
    assert SECRET not in html
    assert "127.0.0.1" in html or "postgresql" in html  # where the data came from is still recorded
