"""Real packs built from a hostile copy of the sample portfolio, shared by the security tests of one test run.

The copy plants markup and script in every free-text field of the reviewed contract (NB-SD-001) and unique
"canary" strings in every other contract's free text, then renders two packs of NB-SD-001 in one batch (a
fresh kernel each, two at a time): the internal pack and the supplier-facing pack. Rendering is the slow
part (tens of seconds), so the result is built once per process and reused by every test module that asks.

Loaded by the tests with importlib (the tests folder is not a package).
"""

from __future__ import annotations

import atexit
import csv
import shutil
import tempfile
from pathlib import Path

REVIEWED = "NB-SD-001"
PERIOD = "2026-10"

#: Markup a hostile supplier (or a careless copy and paste) could put in any text field.
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
PAYLOADS = {
    "supplier": f"Meridian {SCRIPT} Ltd",
    "title": f"Service desk {IMG} support",
    "kpi_name": f"First-time fix {SCRIPT}{IMG} & $5 </td></tr></table>",
    "note": f"late {SCRIPT}<iframe src=\"https://evil.example/\"></iframe> <a href=\"javascript:alert(1)\">x</a>",
    "initiative": f"Knowledge base <svg onload=alert(1)> {SCRIPT}",
    "manager": "<style>@import url(https://evil.example/x.css);</style>Priya",
    "description": "<!-- --><script>alert('desc')</script><object data=x>",
}
MARKING = f"OFFICIAL {SCRIPT}"


def _rewrite(path: Path, edit) -> None:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    fields = list(rows[0].keys())
    for row in rows:
        edit(row)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def hostile_portfolio(folder: Path) -> Path:
    """Copy the sample portfolio to ``folder`` with the payloads and canaries planted; return the folder."""
    from cinb.load import sample_dir

    folder.mkdir(parents=True, exist_ok=True)
    for path in sample_dir().glob("*.csv"):
        shutil.copy(path, folder / path.name)

    def contracts(row):
        if row["contract_id"] == REVIEWED:
            row["supplier"] = PAYLOADS["supplier"]
            row["title"] = PAYLOADS["title"]
            row["contract_manager"] = PAYLOADS["manager"]
        else:
            row["title"] = f"{row['title']} CANARY-TITLE-{row['contract_id']}"

    def kpis(row):
        if row["contract_id"] == REVIEWED and row["kpi_id"] == "FTF":
            row["name"] = PAYLOADS["kpi_name"]
            row["description"] = PAYLOADS["description"]
        elif row["contract_id"] != REVIEWED:
            row["description"] = f"CANARY-KPI-{row['contract_id']}-{row['kpi_id']}"

    def measurements(row):
        if row["period"] >= "2026-05":
            if row["contract_id"] == REVIEWED:
                row["note"] = PAYLOADS["note"]
            else:
                row["note"] = f"CANARY-NOTE-{row['contract_id']}"

    def initiatives(row):
        if row["contract_id"] == REVIEWED:
            row["title"] = PAYLOADS["initiative"]
        else:
            row["title"] = f"CANARY-INIT-{row['contract_id']}"

    for name, edit in (("contracts", contracts), ("kpis", kpis), ("measurements", measurements),
                       ("initiatives", initiatives)):
        _rewrite(folder / f"{name}.csv", edit)
    return folder


def canaries(folder: Path) -> set[str]:
    """Every string of another contract that must never appear in the reviewed contract's supplier pack."""
    from cinb.load import load_portfolio

    p = load_portfolio(str(folder))
    others = p.contracts[p.contracts["contract_id"] != REVIEWED]
    mine = p.contracts[p.contracts["contract_id"] == REVIEWED]
    found = set(others["contract_id"]) | set(others["procurement_id"].dropna())
    found |= set(others["supplier_id"].dropna()) - set(mine["supplier_id"].dropna())  # same supplier, same number
    found |= set(others["supplier"]) - {PAYLOADS["supplier"]}
    found |= {f"CANARY-TITLE-{c}" for c in others["contract_id"]} | {f"CANARY-NOTE-{c}" for c in others["contract_id"]}
    found |= {t for t in p.initiatives.loc[p.initiatives["contract_id"] != REVIEWED, "title"]}
    found |= {d for d in p.kpis.loc[p.kpis["contract_id"] != REVIEWED, "description"].dropna()
              if d.startswith("CANARY")}
    return found


def canned_notebook(marker: str = "v1", text: str = ""):
    """A small executed notebook carrying the pack display, so `build_pack` can be tried without a kernel."""
    import json

    import nbformat

    from cinb.execute import PACK_MIMETYPE

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("## Contract at a glance"),
        nbformat.v4.new_code_cell("show()", outputs=[nbformat.v4.new_output(
            "display_data", data={"text/html": f"<p>Version {marker} {text}</p>", "text/plain": marker})]),
        nbformat.v4.new_code_cell("emit()", outputs=[nbformat.v4.new_output(
            "display_data", data={PACK_MIMETYPE: json.dumps({"render": {"title": f"Pack {marker}"},
                                                             "headline": {"marker": marker}})})]),
    ]
    return nb


_BUILT: dict[str, object] = {}


def built() -> dict[str, object]:
    """Build (once per process) the internal and supplier packs of NB-SD-001 from the hostile portfolio."""
    if _BUILT:
        return _BUILT
    from cinb.batch import run_batch
    from cinb.pack import PackSpec
    from cinb.render import resolve_backend

    root = Path(tempfile.mkdtemp(prefix="cinb-hostile-"))
    atexit.register(shutil.rmtree, root, True)
    data = hostile_portfolio(root / "data")
    out = root / "reports"
    params = {"data": str(data), "marking": MARKING}
    specs = [PackSpec("contract", REVIEWED, PERIOD, {**params, "audience": "internal"}),
             PackSpec("contract", REVIEWED, PERIOD, {**params, "audience": "supplier"})]
    # One worker, internal pack first: the supplier pack is printed after it by the same warm PDF backend (with
    # Chromium, in the same tab), so a leak through the printer would show.
    batch = run_batch(specs, out, jobs=1, formats=("html", "pdf"), pdf_backend=resolve_backend("auto"),
                      log=lambda msg: None)
    _BUILT.update(root=root, data=data, out=out, batch=batch,
                  internal=out / PERIOD / REVIEWED, supplier=out / PERIOD / "supplier" / REVIEWED)
    return _BUILT


def built_ok() -> dict[str, object]:
    """`built`, after checking that neither pack failed (the fixture of the tests that read them)."""
    result = built()
    failed = [(r.key, r.error) for r in result["batch"].failed]
    assert not failed, failed
    return result
