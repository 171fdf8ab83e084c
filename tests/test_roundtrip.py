"""A supplier's month, end to end: template → filled in → ingested into the store → a pack that shows it."""

from __future__ import annotations

import json

import openpyxl
import pytest

from cinb.cli import main
from cinb.template import META_SHEET, RETURN_SHEET

pytestmark = pytest.mark.slow


def test_template_fill_ingest_run(tmp_path, capsys):
    store = tmp_path / "store.sqlite"
    # The evidence store starts with the sample portfolio's history.
    assert main(["ingest", "cinb/data/sample", "--into", str(store)]) == 0
    xlsx = tmp_path / "return.xlsx"
    assert main(["supplier-return", "--contract", "NB-HOST-002", "--period", "2026-11", "--out", str(xlsx)]) == 0

    # The supplier fills in the Value column (a % with its sign, as people type it) and a note.
    wb = openpyxl.load_workbook(xlsx)
    ws, meta = wb[RETURN_SHEET], wb[META_SHEET]
    header = next(r for r in range(1, 20) if ws.cell(r, 1).value == "KPI id")
    filled = {}
    for r in range(header + 1, ws.max_row + 1):
        kpi_id = ws.cell(r, 1).value
        if not kpi_id:
            continue
        value = {"AVAIL": "99.2%", "BACKUP": 99.8, "MTTR": 1.5, "CHG": 97.5, "PATCH": 96.0}[kpi_id]
        ws.cell(r, 7).value = value
        ws.cell(r, 8).value = "Storage controller failure on 12 Nov" if kpi_id == "AVAIL" else None
        filled[kpi_id] = value
    assert set(filled) == {"AVAIL", "BACKUP", "MTTR", "CHG", "PATCH"}
    wb.save(xlsx)

    assert main(["ingest", str(xlsx), "--into", str(store)]) == 0
    capsys.readouterr()
    out = tmp_path / "reports"
    code = main(["run", "NB-HOST-002", "--period", "2026-11", "--data", f"sqlite:///{store}", "--out", str(out),
                 "--format", "html"])
    err = capsys.readouterr().err
    assert code == 0, err
    pack = json.loads((out / "2026-11" / "NB-HOST-002" / "pack.json").read_text())
    avail = next(k for k in pack["kpis"] if k["kpi_id"] == "AVAIL")
    assert avail["latest_period"] == "2026-11" and avail["latest_value"] == pytest.approx(99.2)
    # 99.2% against a 99.9% target under the shortfall method at the sample's CCS-style rate of 0.5 % of the charge
    # per percentage point: 0.7 points short, 0.35 % of the monthly charge (the contract-year cap is far off).
    month = next(m for m in pack["credits"]["monthly"] if m["period"] == "2026-11")
    assert month["raw_pct"] == pytest.approx(0.35)
    assert month["credit_gbp"] == pytest.approx(0.0035 * 1_820_000 / 12)


def test_a_return_with_errors_is_rejected_whole(tmp_path, capsys):
    store = tmp_path / "store.sqlite"
    assert main(["ingest", "cinb/data/sample", "--into", str(store)]) == 0
    xlsx = tmp_path / "return.xlsx"
    assert main(["supplier-return", "--contract", "NB-HOST-002", "--period", "2026-11", "--out", str(xlsx)]) == 0
    wb = openpyxl.load_workbook(xlsx)
    ws = wb[RETURN_SHEET]
    header = next(r for r in range(1, 20) if ws.cell(r, 1).value == "KPI id")
    ws.cell(header + 1, 7).value = "99,2"  # a decimal comma: ambiguous, rejected with the fix
    ws.cell(header + 2, 7).value = 99.5
    wb.save(xlsx)
    before = store.stat().st_size
    capsys.readouterr()
    assert main(["ingest", str(xlsx), "--into", str(store)]) == 1
    err = capsys.readouterr().err
    assert "99,2" in err and RETURN_SHEET in err
    from cinb.load import load_portfolio

    p = load_portfolio(f"sqlite:///{store}")
    assert (p.measurements["period"].astype(str) == "2026-11").sum() == 0  # nothing appended
    assert store.stat().st_size >= before
