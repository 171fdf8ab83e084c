"""Every pack notebook runs through papermill with non-default parameters, and documents its parameters."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest

from cinb.config import notebook_dir
from cinb.execute import execute, pack_data

pytestmark = pytest.mark.slow


def _outputs_html(nb) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for c in nb.cells for o in c.get("outputs", []))


def test_contract_review_with_other_parameters():
    nb = execute(notebook_dir() / "contract_review.ipynb",
                 {"contract_id": "NB-GIS-011", "period": "2026-06", "window_months": 6, "marking": "OFFICIAL-SENSITIVE",
                  "audience": "supplier"})
    data = pack_data(nb)
    assert data["contract"]["contract_id"] == "NB-GIS-011" and data["period"] == "2026-06"
    assert {k: data["window"][k] for k in ("start", "end")} == {"start": "2026-01", "end": "2026-06"}
    html = _outputs_html(nb)
    assert "OFFICIAL-SENSITIVE" in html and "GIS and land charges system" in html
    assert "Questions for the review meeting" not in html  # supplier audience


def test_portfolio_review_for_an_earlier_month():
    nb = execute(notebook_dir() / "portfolio_review.ipynb", {"period": "2025-12", "window_months": 6})
    data = pack_data(nb)
    # 13 contracts: the sample's NB-PARK-013 began in April 2025.
    assert data["period"] == "2025-12" and data["headline"]["contracts"] == 13


def test_supplier_scorecard_for_another_supplier():
    nb = execute(notebook_dir() / "supplier_scorecard.ipynb",
                 {"supplier": "Tamesis Data Systems Ltd", "period": "2026-09"})
    data = pack_data(nb)
    assert data["supplier"] == "Tamesis Data Systems Ltd"
    assert {r["contract_id"] for r in data["ranking"]} == {"NB-SAAS-005", "NB-GIS-011"}


def test_explore_notebook_with_another_kpi():
    nb = execute(notebook_dir() / "explore.ipynb", {"contract_id": "NB-HOST-002", "kpi_id": "MTTR"})
    assert any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", [])) is False


@pytest.mark.parametrize("name", ["contract_review", "portfolio_review", "supplier_scorecard", "explore"])
def test_parameters_cell_is_tagged_and_documented(name):
    path = notebook_dir() / f"{name}.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    result = subprocess.run([sys.executable, "-m", "papermill", "--help-notebook", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0
    assert "Unable to parse" not in result.stderr + result.stdout
    for line in tagged[0].source.splitlines():
        if "=" in line and not line.startswith("#"):
            assert "#" in line, f"undocumented parameter in {name}: {line}"
