"""A complete Contract Performance Notice (Procurement Regulations 2024 reg. 39(4)): every field present, or the
export refused naming the field that is missing.

A contract with every reg. 39 field passes with no error, from frames and through ``cinb cpn`` (CSV and OCDS, exit
0, the reg. 39(4)(e) statement included). Each required field removed in turn is refused, per contract, with one
error naming that field, and ``cinb cpn`` exits 1 until it is put back.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cinb.cli import main
from cinb.cpn import CPN_COLUMNS, CPN_STATEMENT, NOTICE_FIELDS, REQUIRED_FIELDS, cpn_rows
from cinb.ocds import cpn_release_package

import frames
from frames import make_measurements

SAMPLE = Path(__file__).resolve().parent.parent / "cinb" / "data" / "sample"
PERIOD = ("2025-11", "2026-10")
COMPLETE = {
    "contract_id": "C1", "title": "Service desk", "authority": "London Borough of Testham",
    "supplier": "Acme Support Ltd", "supplier_id": "01234567", "procurement_id": "ocds-h6vhtk-000001",
    "start_date": pd.Timestamp("2024-04-01"), "end_date": pd.Timestamp("2028-03-31"), "annual_value_gbp": 2e6,
    "supplier_address": "1 Supplier Street, London, E1 1BB", "supplier_email": "contracts@acme.example.co.uk",
    "authority_id": "GB-PPON-PNBX-1234-ABCD", "authority_address": "Town Hall, 1 High Street, Testham, TE1 1AA",
    "authority_email": "procurement@testham.example.gov.uk", "authority_contact": "Commercial team",
    "procurement_title": "Service desk services 2024", "row": 2, "source": "contracts.csv",
}
#: Every field a notice needs from the contracts table.
FIELDS = [name for name, _, _ in REQUIRED_FIELDS] + [name for name, _ in NOTICE_FIELDS]


def _portfolio(**changes):
    contracts = pd.DataFrame([{**COMPLETE, **changes}])
    contracts["monthly_charge_gbp"] = contracts["annual_value_gbp"] / 12
    kpis = frames.make_kpis(
        {"contract_id": "C1", "kpi_id": "AV", "name": "Availability", "sla": 99, "target": 99.5},
        {"contract_id": "C1", "kpi_id": "FTF", "name": "First-time fix", "target": 75},
        {"contract_id": "C1", "kpi_id": "P1", "name": "P1 fix time", "unit": "hours", "direction": "lower",
         "target": 4, "sla": 6}, statutory=True)
    months = [str(p) for p in pd.period_range(*PERIOD, freq="M")]
    meas = make_measurements(*[("C1", k, m, v) for m in months for k, v in (("AV", 99.7), ("FTF", 77), ("P1", 3.5))])
    return contracts, kpis, meas


def _errors(problems: pd.DataFrame) -> pd.DataFrame:
    return problems[problems["severity"] == "error"]


def test_a_complete_contract_passes_with_every_reg39_field():
    rows, problems = cpn_rows(*_portfolio(), *PERIOD, detail=True)
    assert _errors(problems).empty, problems.to_string()
    assert len(rows) == 3 and set(rows["rating"]) == {"Good"}
    r = rows.iloc[0]
    # (a) authority information, (b) procurement title, (c) identifiers, (f) the supplier, (g) ratings, (h) period
    for name in FIELDS:
        column = {"title": "contract_title", "supplier": "supplier_name"}.get(name, name)
        assert r[column] == COMPLETE[name], name
    assert (r["period_start"], r["period_end"]) == PERIOD and r["contract_id"] == "C1"
    # (e) the statement, carried into the OCDS notice document
    assert (rows["statement"] == CPN_STATEMENT).all()
    package, more = cpn_release_package(rows)
    assert _errors(more).empty
    (document,) = package["releases"][0]["contracts"][0]["implementation"]["documents"]
    assert document["description"] == CPN_STATEMENT
    assert "assessment of the supplier's performance against the key performance indicators" in CPN_STATEMENT


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("empty", [np.nan, "  "])
def test_each_field_removed_is_refused_naming_it(field, empty):
    rows, problems = cpn_rows(*_portfolio(**{field: empty}), *PERIOD)
    errors = _errors(problems)
    assert errors["column"].tolist() == [field], errors.to_string()
    e = errors.iloc[0]
    assert e["problem"].startswith("contract C1: the ") and "is required in a Contract Performance Notice" in \
        e["problem"] and "missing" in e["problem"]
    assert (e["table"], e["row"], e["source"]) == ("contracts", 2, "contracts.csv")
    assert field in e["fix"]


def test_each_contract_is_checked_on_its_own():
    contracts, kpis, meas = _portfolio()
    c2 = {**COMPLETE, "contract_id": "C2", "supplier_email": None, "row": 3}
    contracts = pd.concat([contracts, pd.DataFrame([c2]).assign(monthly_charge_gbp=2e6 / 12)], ignore_index=True)
    kpis = pd.concat([kpis, kpis.assign(contract_id="C2")], ignore_index=True)
    meas = pd.concat([meas, meas.assign(contract_id="C2")], ignore_index=True)
    _, problems = cpn_rows(contracts, kpis, meas, *PERIOD)
    errors = _errors(problems)
    assert errors[["row", "column"]].values.tolist() == [[3, "supplier_email"]]
    assert errors["problem"].iloc[0].startswith("contract C2:")


# --- through the command line ---------------------------------------------------------------------------------


def _folder(tmp_path: Path, drop: str | None = None) -> Path:
    """The sample as CSV, every contract complete; ``drop`` empties that field of NB-SD-001."""
    folder = tmp_path / ("portfolio" if drop is None else f"without-{drop}")
    shutil.copytree(SAMPLE, folder)
    contracts = pd.read_csv(folder / "contracts.csv", dtype=str, keep_default_na=False)
    n = len(contracts)
    contracts["supplier_address"] = [f"{i} Supplier Street, London, E{i} 1BB" for i in range(1, n + 1)]
    contracts["supplier_email"] = [f"contracts@supplier{i}.example.co.uk" for i in range(1, n + 1)]
    contracts["authority_id"] = "GB-PPON-PNBX-1234-ABCD"
    contracts["authority_address"] = "Town Hall, 1 High Street, Northbridge, NB1 1AA"
    contracts["authority_email"] = "procurement@northbridge.example.gov.uk"
    contracts["authority_contact"] = "Commercial team"
    contracts["procurement_title"] = "Procurement of " + contracts["title"].str.lower()
    contracts.loc[contracts["procurement_id"] == "", "procurement_id"] = "NB-PROC-2024-099"
    contracts.loc[contracts["supplier_id"] == "", "supplier_id"] = "SC900999"
    if drop is not None:
        contracts.loc[contracts["contract_id"] == "NB-SD-001", drop] = ""
    contracts.to_csv(folder / "contracts.csv", index=False)
    return folder


def test_cli_exports_a_complete_portfolio_with_exit_0_and_the_statement(tmp_path, capsys):
    folder = _folder(tmp_path)
    out = tmp_path / "cpn.csv"
    assert main(["cpn", "--from", PERIOD[0], "--to", PERIOD[1], "--data", str(folder), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "error" not in captured.err and CPN_STATEMENT in captured.out
    with open(out, encoding="utf-8-sig", newline="") as f:
        header, *body = csv.reader(f)
    assert header == CPN_COLUMNS and body
    package = tmp_path / "cpn.json"
    assert main(["cpn", "--from", PERIOD[0], "--to", PERIOD[1], "--data", str(folder), "--format", "ocds",
                 "--ocid-prefix", "ocds-abc123", "--out", str(package)]) == 0
    releases = json.loads(package.read_text(encoding="utf-8"))["releases"]
    assert all(r["contracts"][0]["implementation"]["documents"][0]["description"] == CPN_STATEMENT for r in releases)


@pytest.mark.parametrize("field", [f for f in FIELDS if f not in ("authority", "title", "supplier")])
def test_cli_refuses_until_each_field_is_back(tmp_path, capsys, field):
    # authority, title and supplier are required by the data contract itself: a load refuses them first.
    folder = _folder(tmp_path, drop=field)
    code = main(["cpn", "--from", PERIOD[0], "--to", PERIOD[1], "--data", str(folder), "--out",
                 str(tmp_path / "cpn.csv")])
    err = capsys.readouterr().err
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip().startswith("error:")]
    assert len(lines) == 1 and f"column {field}" in lines[0] and "NB-SD-001" in lines[0], err
