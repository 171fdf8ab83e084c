"""One audience filter for every output: a supplier pack holds nothing internal, in any file it publishes.

Each contract is rendered twice through the command line (``cinb run … --audience internal|supplier``), each run
into its own reports folder so that its manifest and index hold that pack only. The internal pack says what is
internal (its questions, the contract columns a supplier does not see, ratchet proposals, suggested rebases, load
warnings, the authority's paths); every string of every supplier output — the HTML, the PDF's text (pdftotext),
``pack.json``, ``manifest.json`` and ``index.html`` — is scanned for it, and for every other contract's id and
title. NB-SD-001 is the contract the issue names; NB-CLOUD-006 has a ratchet proposal and a suggested rebase in
the same month, so both rules are seen at work.
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cinb
from cinb.audience import (
    INTERNAL_ONLY, SUPPLIER_CONTRACT_COLUMNS, entry_for_audience, file_name, for_audience, pack_for_audience, shows,
)
from cinb.load import load_portfolio

PERIOD = "2026-10"
CONTRACTS = ("NB-SD-001", "NB-CLOUD-006")
REPO = Path(cinb.__file__).resolve().parents[1]


# --- the rules themselves (fast) -------------------------------------------------------------------------------


def test_rules_are_one_list_and_shows_refuses_unknown_rules():
    keys = [r.key for r in INTERNAL_ONLY]
    assert len(keys) == len(set(keys)) and {"questions", "ratchets", "suggested_rebase", "paths"} <= set(keys)
    assert all(shows("internal", k) for k in keys) and not any(shows("supplier", k) for k in keys)
    with pytest.raises(KeyError, match="no audience rule"):
        shows("supplier", "question")
    with pytest.raises(ValueError, match="audience must be one of"):
        shows("public", "questions")


def test_file_names_only():
    assert file_name("/srv/cinb/returns/oct.xlsx") == "oct.xlsx"
    assert file_name("C:\\Users\\analyst\\returns\\oct.xlsx") == "oct.xlsx"
    assert file_name("postgresql://cinb:pw@db.internal/portfolio?sslmode=require") == "postgresql://…/portfolio"
    assert file_name("sqlite:////srv/cinb/store.sqlite") == "sqlite://…/store.sqlite"
    assert file_name("sample") == "sample" and file_name(None) is None


def test_the_filters_are_idempotent_and_leave_internal_packs_alone():
    p = load_portfolio(None)
    from cinb import contract_review

    internal = contract_review(p, "NB-CLOUD-006", PERIOD)
    assert for_audience(internal) is internal
    data = json.loads(json.dumps(internal.to_pack(), default=str))
    assert pack_for_audience(data) is data
    supplier = contract_review(p, "NB-CLOUD-006", PERIOD, audience="supplier")
    view = for_audience(supplier)
    assert for_audience(view) is view and for_audience(supplier) is view  # built once, shown by every section
    once = pack_for_audience(json.loads(json.dumps(view.to_pack(), default=str)))
    assert pack_for_audience(json.loads(json.dumps(once))) == once
    # Figures a template emitted without the view: a suggestion's paragraph is withheld, not shown.
    raw = pack_for_audience(json.loads(json.dumps(supplier.to_pack(), default=str)))
    spend = next(k for k in raw["kpis"] if k["kpi_id"] == "SPEND")
    assert spend["spc"]["suggested_rebase"] is None and spend["paragraph"] is None
    entry = entry_for_audience({"audience": "supplier", "template": {"path": "/home/a/board.ipynb", "sha256": "x"},
                                "error": "cannot read /home/a/data/contracts.csv: gone"})
    assert entry["template"]["path"] == "board.ipynb" and "/home/a" not in entry["error"]


# --- end to end through the command line ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("audience")
    runs = {}
    for cid in CONTRACTS:
        for audience in ("internal", "supplier"):
            out = root / audience / cid
            cmd = [sys.executable, "-m", "cinb.cli", "run", cid, "--period", PERIOD, "--audience", audience,
                   "--out", str(out)]
            runs[(cid, audience)] = (out, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                           text=True))
    for (cid, audience), (out, proc) in runs.items():
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{cid} {audience}: {stderr}"
    return {key: out for key, (out, _) in runs.items()}


def _strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [] if value is None else [str(value)]


def _pdf_text(path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    done = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True)
    return done.stdout


def _flat(text: str) -> str:
    return " ".join(html.unescape(text).replace("\u00ad", "").split())


def _outputs(out: Path, cid: str, audience: str) -> dict[str, str]:
    """Every output of one run, as flat text: HTML (markup, attributes and embedded data), PDF text, the JSON
    files' strings, and the month's index page."""
    folder = out / PERIOD / (f"supplier/{cid}" if audience == "supplier" else cid)
    return {
        "review.html": _flat((folder / "review.html").read_text(encoding="utf-8")),
        "review.pdf": _flat(_pdf_text(folder / "review.pdf")),
        "pack.json": _flat("\n".join(_strings(json.loads((folder / "pack.json").read_text(encoding="utf-8"))))),
        "manifest.json": _flat("\n".join(_strings(json.loads((out / PERIOD / "manifest.json").read_text(
            encoding="utf-8"))))),
        "index.html": _flat((out / PERIOD / "index.html").read_text(encoding="utf-8")),
    }


def _internal_only(internal_pack: dict) -> dict[str, str]:
    """What the internal pack holds that a supplier may not see: {text: which rule}."""
    found: dict[str, str] = {}
    for q in internal_pack["questions"]:
        found[_flat(q)] = "questions"
    for column, value in internal_pack["contract"].items():
        if column not in SUPPLIER_CONTRACT_COLUMNS and isinstance(value, str) and len(value) > 3:
            found[_flat(value)] = f"contract_columns ({column})"
    for k in internal_pack["kpis"]:
        s = k["spc"].get("suggested_rebase")
        if s:
            found[_flat(s["evidence"])] = "suggested_rebase"
            found[_flat(k["paragraph"])] = "suggested_rebase (paragraph)"
    for w in internal_pack["data_quality"]["warnings"]:
        if isinstance(w.get("problem"), str) and len(w["problem"]) > 25:
            found[_flat(w["problem"])] = "load_warnings"
    # The authority's folders: the data source, the checkout, the Python environment.
    for path in (internal_pack["reproducibility"]["source"], str(REPO), sys.prefix,
                 internal_pack["reproducibility"]["kernel"].get("executable")):
        if isinstance(path, str) and path.startswith("/"):
            found[path] = "paths"
    return found


@pytest.mark.slow
@pytest.mark.parametrize("cid", CONTRACTS)
def test_every_supplier_output_holds_no_internal_only_content(built, cid):
    internal_pack = json.loads((built[(cid, "internal")] / PERIOD / cid / "pack.json").read_text(encoding="utf-8"))
    needles = _internal_only(internal_pack)
    assert any(rule == "questions" for rule in needles.values())
    internal = _outputs(built[(cid, "internal")], cid, "internal")
    # The scan sees internal content where it is: in the internal HTML (and its PDF, for the meeting questions).
    missing = [n for n, rule in needles.items() if rule != "paths" and n not in internal["review.html"]
               and n not in internal["pack.json"]]
    assert missing == [], missing
    assert _flat(internal_pack["questions"][0]) in internal["review.pdf"]
    supplier = _outputs(built[(cid, "supplier")], cid, "supplier")
    leaks = [(name, rule, needle[:80]) for name, text in supplier.items() for needle, rule in needles.items()
             if needle in text]
    assert leaks == [], leaks
    for name, text in supplier.items():
        assert "Questions for the review meeting" not in text and "Ratchet proposals" not in text, name
        assert "suggested rebase" not in text.lower() and "Row accounting" not in text, name
    # Still the supplier's own pack: its contract, its figures.
    assert cid in supplier["review.pdf"] and internal_pack["contract"]["title"] in supplier["review.html"]


@pytest.mark.slow
@pytest.mark.parametrize("cid", CONTRACTS)
def test_every_supplier_output_holds_no_other_contract(built, cid):
    p = load_portfolio(None)
    others = p.contracts[p.contracts["contract_id"] != cid]
    needles = set(others["contract_id"]) | {t for t in others["title"] if isinstance(t, str)}
    supplier = _outputs(built[(cid, "supplier")], cid, "supplier")
    leaks = sorted((name, x) for name, text in supplier.items() for x in needles if x in text)
    assert leaks == [], leaks


@pytest.mark.slow
def test_supplier_pack_json_is_the_filtered_view(built):
    cid = "NB-CLOUD-006"
    folder = built[(cid, "supplier")] / PERIOD / "supplier" / cid
    assert sorted(p.name for p in folder.iterdir()) == ["pack.json", "review.html", "review.pdf"]
    data = json.loads((folder / "pack.json").read_text(encoding="utf-8"))
    internal = json.loads((built[(cid, "internal")] / PERIOD / cid / "pack.json").read_text(encoding="utf-8"))
    assert internal["ratchets"] and any(k["spc"]["suggested_rebase"] for k in internal["kpis"])  # the case is real
    assert data["withheld"] == [r.key for r in INTERNAL_ONLY]
    assert data["questions"] == [] and data["ratchets"] == []
    assert set(data["contract"]) <= set(SUPPLIER_CONTRACT_COLUMNS) and "contract_manager" not in data["contract"]
    assert all(k["ratchet"] is None and k["spc"]["suggested_rebase"] is None for k in data["kpis"])
    assert data["data_quality"]["accounting"] == [] and data["data_quality"]["warnings"] == []
    # The figures a supplier sees are the internal pack's figures.
    assert [k["latest_value"] for k in data["kpis"]] == [k["latest_value"] for k in internal["kpis"]]
    assert data["credits"] == internal["credits"] and data["headline"] == internal["headline"]
    # Its reproducibility record names files, never folders.
    rec = data["reproducibility"]
    assert "/" not in rec["source"] and "prefix" not in rec["kernel"] and "/" not in rec["kernel"]["executable"]
    manifest = json.loads((built[(cid, "supplier")] / PERIOD / "manifest.json").read_text(encoding="utf-8"))
    (entry,) = manifest["packs"]
    assert entry["audience"] == "supplier" and entry["headline"] == data["headline"]
