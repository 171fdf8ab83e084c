"""`cinb cpn --format ocds`: an OCDS 1.1 release package (UK extension) that validates, offline, against the
published schemas in tests/schemas/ocds/ and carries every reg. 39 field of each notice."""

from __future__ import annotations

import copy
import csv
import json
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest
from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT4

from cinb.cli import main
from cinb.cpn import CPN_COLUMNS, NOTICE_FIELDS, cpn_rows
from cinb.errors import UsageError
from cinb.labels import RATINGS
from cinb.load import load_portfolio
from cinb.ocds import (
    EXTENSIONS,
    MEASURE_CLASSIFICATION,
    cpn_release_package,
    ocid_for,
    party_identifier,
    split_address,
    write_release_package,
)

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "tests" / "schemas" / "ocds"
SAMPLE = ROOT / "cinb" / "data" / "sample"
PERIOD = ("2025-11", "2026-10")
PUBLISHED = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
RELEASE_SCHEMA_URL = "https://standard.open-contracting.org/schema/1__1__5/release-schema.json"


# --- the schema: OCDS 1.1.5 + metrics extension + UK extension, resolved locally -----------------------------


def _load(rel: str) -> dict:
    return json.loads((SCHEMAS / rel).read_text(encoding="utf-8"))


def merge_patch(target, patch):
    """RFC 7386 JSON Merge Patch: how an OCDS extension's release-schema.json extends the release schema."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _no_network(uri: str):
    raise NoSuchResource(ref=uri)  # every schema the package needs is in the registry: never fetch one


_FORMATS = FormatChecker()
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


@_FORMATS.checks("date-time")
def _date_time(value) -> bool:
    if not isinstance(value, str):
        return True
    return bool(_RFC3339.fullmatch(value)) and bool(datetime.fromisoformat(value.replace("Z", "+00:00")))


@_FORMATS.checks("uri")
def _uri(value) -> bool:
    return not isinstance(value, str) or bool(urlsplit(value).scheme)


@pytest.fixture(scope="module")
def validator():
    release = _load("1__1__5/release-schema.json")
    for extension in ("ocds_metrics_extension", "ocds_uk_extension"):
        release = merge_patch(release, _load(f"{extension}/release-schema.json"))
    package = _load("1__1__5/release-package-schema.json")
    assert package["properties"]["releases"]["items"]["$ref"] == RELEASE_SCHEMA_URL == release["id"]
    registry = Registry(retrieve=_no_network).with_resource(
        RELEASE_SCHEMA_URL, Resource.from_contents(release, default_specification=DRAFT4))
    Draft4Validator.check_schema(package)
    Draft4Validator.check_schema(release)
    return Draft4Validator(package, registry=registry, format_checker=_FORMATS)


def _errors(validator, package) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(package)]


# --- portfolios -------------------------------------------------------------------------------------------


def _v2_folder(tmp_path: Path, edit=None) -> Path:
    """The sample portfolio as CSV with the version-2 contract columns filled in (``edit`` may change them)."""
    folder = tmp_path / "portfolio"
    shutil.copytree(SAMPLE, folder)
    contracts = pd.read_csv(folder / "contracts.csv", dtype=str, keep_default_na=False)
    contracts["supplier_address"] = [f"{i} Supplier Street\nLondon\nE{i} 1BB" for i in range(1, len(contracts) + 1)]
    contracts["supplier_email"] = [f"contracts@supplier{i}.example.co.uk" for i in range(1, len(contracts) + 1)]
    contracts["authority_id"] = "GB-PPON-PNBX-1234-ABCD"
    contracts["authority_address"] = "Town Hall, 1 High Street, Northbridge, NB1 1AA, United Kingdom"
    contracts["authority_email"] = "procurement@northbridge.example.gov.uk"
    contracts["authority_contact"] = "Commercial team"
    contracts["procurement_title"] = "Procurement of " + contracts["title"].str.lower()
    contracts.loc[contracts["procurement_id"] == "", "procurement_id"] = "NB-PROC-2024-099"
    contracts.loc[0, "procurement_id"] = "ocds-h6vhtk-04f1a2"  # a Find a Tender identifier is an OCID already
    if edit is not None:
        edit(contracts)
    contracts.to_csv(folder / "contracts.csv", index=False)
    return folder


def _package(data, **kw):
    p = load_portfolio(data)
    rows, problems = cpn_rows(p.contracts, p.kpis, p.measurements, *PERIOD, detail=True)
    package, more = cpn_release_package(rows, published=PUBLISHED, **kw)
    return p, rows, package, pd.concat([problems, more], ignore_index=True)


def _parties(release) -> dict:
    return {role: party for party in release["parties"] for role in party["roles"]}


# --- the sample portfolio -------------------------------------------------------------------------------


def test_sample_export_validates_and_carries_what_the_data_has(validator):
    p, rows, package, problems = _package(None, ocid_prefix="ocds-abc123")
    assert _errors(validator, package) == []
    assert package["version"] == "1.1" and package["extensions"] == EXTENSIONS
    assert package["publishedDate"] == "2026-11-20T09:30:00+00:00"
    assert package["publisher"] == {"name": "London Borough of Northbridge"}
    # NB-TEL-010 has no procurement identifier: no OCID, left out and reported, never guessed
    released = {r["contracts"][0]["id"] for r in package["releases"]}
    assert released == set(rows["contract_id"]) - {"NB-TEL-010"}
    assert ((problems["column"] == "procurement_id") & problems["problem"].str.contains("NB-TEL-010")).sum() == 2
    for release in package["releases"]:
        contract = release["contracts"][0]
        mine = rows[rows["contract_id"] == contract["id"]]
        assert release["ocid"] == f"ocds-abc123-{mine['procurement_id'].iloc[0]}"
        assert release["tender"] == {"id": mine["procurement_id"].iloc[0]}  # no procurement_title in version 1
        supplier = _parties(release)["supplier"]
        assert supplier["identifier"] == {"scheme": "GB-COH", "id": mine["supplier_id"].iloc[0]}
        assert "address" not in supplier and "contactPoint" not in supplier
        ratings = {m["id"]: m["observations"][0]["measureClassification"]["description"]
                   for m in contract["implementation"]["metrics"]}
        assert ratings == dict(zip(mine["kpi_id"], mine["rating"], strict=True))
    # version 1: one error per contract names the reg. 39 details to add
    details = problems[problems["problem"].str.contains("none is in the contracts table")]
    assert sorted(details["problem"].str.split(":").str[0]) == sorted(f"contract {c}" for c in set(rows["contract_id"]))


def test_sample_without_a_prefix_writes_nothing_and_exits_1(capsys, tmp_path):
    out = tmp_path / "cpn.json"
    code = main(["cpn", "--from", PERIOD[0], "--to", PERIOD[1], "--format", "ocds", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and not out.exists()
    assert "is not an OCID" in err and "--ocid-prefix" in err and "was not written" in err


# --- a portfolio with the version-2 columns ---------------------------------------------------------------


def test_v2_export_validates_and_carries_every_reg39_field(validator, tmp_path):
    p, rows, package, problems = _package(_v2_folder(tmp_path), ocid_prefix="ocds-abc123")
    assert _errors(validator, package) == []
    assert not (problems["severity"] == "error").any(), problems.to_string()
    assert len(package["releases"]) == rows["contract_id"].nunique() >= 6
    contracts = p.contracts.set_index("contract_id")
    for release in package["releases"]:
        contract = release["contracts"][0]
        cid = contract["id"]
        c = contracts.loc[cid]
        mine = rows[rows["contract_id"] == cid].set_index("kpi_id")
        assert release["tag"] == ["implementation"] and release["initiationType"] == "tender"
        assert release["language"] == "en" and release["date"] == package["publishedDate"]
        # (a) the contracting authority information (reg. 13): name, identifier, address, email, contact
        buyer = _parties(release)["buyer"]
        assert release["buyer"] == {"id": buyer["id"], "name": c["authority"]}
        assert buyer["identifier"] == {"scheme": "GB-PPON", "id": "PNBX-1234-ABCD"}
        assert buyer["address"] == {"streetAddress": "Town Hall, 1 High Street, Northbridge", "postalCode": "NB1 1AA",
                                    "countryName": "United Kingdom"}
        assert buyer["contactPoint"] == {"name": "Commercial team", "email": "procurement@northbridge.example.gov.uk"}
        # (b), (c) the procurement's title and identifier, the contract's identifier
        expected_ocid = c["procurement_id"] if c["procurement_id"].startswith("ocds-") else \
            f"ocds-abc123-{c['procurement_id']}"
        assert release["ocid"] == expected_ocid
        assert release["tender"] == {"id": c["procurement_id"], "title": c["procurement_title"]}
        assert contract["awardID"] == release["awards"][0]["id"] and contract["title"] == c["title"]
        # (d) the s.52 KPIs, with their levels
        agreed = {m["id"]: m for m in contract["agreedMetrics"]}
        assert set(agreed) <= set(mine.index)
        for kpi, metric in agreed.items():
            levels = {o["dimensions"]["level"]: o.get("measure", o.get("value", {}).get("amount"))
                      for o in metric["observations"]}
            assert levels == {k: mine.loc[kpi, k] for k in ("target", "sla", "critical") if pd.notna(mine.loc[kpi, k])}
        # (e) the statement, in the notice document (UK9, implementationNotice)
        (document,) = contract["implementation"]["documents"]
        assert (document["documentType"], document["noticeType"]) == ("implementationNotice", "UK9")
        assert "assessment of the supplier's performance against the key performance indicators" in \
            document["description"]
        # (f) the supplier: name, postal address, email, identifier
        supplier = _parties(release)["supplier"]
        assert release["awards"][0]["suppliers"] == [{"id": supplier["id"], "name": c["supplier"]}]
        assert supplier["identifier"]["id"] == c["supplier_id"] and supplier["identifier"]["scheme"] == "GB-COH"
        number = c["supplier_email"].split("@supplier")[1].split(".")[0]
        assert supplier["address"] == {"streetAddress": f"{number} Supplier Street, London",
                                       "postalCode": f"E{number} 1BB"}
        assert supplier["contactPoint"] == {"email": c["supplier_email"]}
        # (g), (h) the rating of each KPI and the period assessed
        metrics = {m["id"]: m["observations"][0] for m in contract["implementation"]["metrics"]}
        assert set(metrics) == set(mine.index)
        for kpi, obs in metrics.items():
            assert obs["measureClassification"] == {"id": MEASURE_CLASSIFICATION[mine.loc[kpi, "rating"]],
                                                    "description": mine.loc[kpi, "rating"]}
            assert obs["notes"] == mine.loc[kpi, "basis"]
            assert obs["period"]["startDate"].startswith(mine.loc[kpi, "period_start"] + "-01T00:00:00")
            assert obs["period"]["endDate"][:7] == mine.loc[kpi, "period_end"]
            assert obs["period"]["endDate"][10:19] == "T23:59:59"


def test_cli_writes_the_package_atomically_and_exits_0(capsys, tmp_path, validator):
    out = tmp_path / "out" / "cpn.json"
    out.parent.mkdir()
    code = main(["cpn", "--from", PERIOD[0], "--to", PERIOD[1], "--data", str(_v2_folder(tmp_path)),
                 "--format", "ocds", "--ocid-prefix", "ocds-abc123", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "releases" in captured.out and "written to" in captured.out
    assert os.listdir(out.parent) == ["cpn.json"]  # no temporary file left behind
    package = json.loads(out.read_text(encoding="utf-8"))
    assert _errors(validator, package) == []


def test_missing_supplier_email_is_an_error_and_exit_1(capsys, tmp_path, validator):
    def drop(contracts):
        contracts.loc[contracts["contract_id"] == "NB-SD-001", "supplier_email"] = ""

    folder = _v2_folder(tmp_path, drop)
    p, rows, package, problems = _package(folder, ocid_prefix="ocds-abc123")
    errors = problems[problems["severity"] == "error"]
    assert errors[["table", "column"]].values.tolist() == [["contracts", "supplier_email"]]
    assert errors["problem"].iloc[0] == ("contract NB-SD-001: the supplier's email address is required in a "
                                         "Contract Performance Notice and is missing")
    (release,) = [r for r in package["releases"] if r["contracts"][0]["id"] == "NB-SD-001"]
    assert "email" not in _parties(release)["supplier"].get("contactPoint", {})
    assert _errors(validator, package) == []  # still valid OCDS: the gap is reported, not filled
    out = tmp_path / "cpn.json"
    code = main(["cpn", "--from", PERIOD[0], "--to", PERIOD[1], "--data", str(folder), "--format", "ocds",
                 "--ocid-prefix", "ocds-abc123", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and out.exists()
    assert "column supplier_email" in err and "NB-SD-001" in err


def test_a_bad_email_in_contracts_csv_is_a_located_error(capsys, tmp_path):
    def bad(contracts):
        contracts.loc[contracts["contract_id"] == "NB-HOST-002", "supplier_email"] = "sales at kestrel.example"

    folder = _v2_folder(tmp_path, bad)
    p = load_portfolio(folder)
    _, problems = cpn_rows(p.contracts, p.kpis, p.measurements, *PERIOD)
    (e,) = problems[problems["column"] == "supplier_email"].to_dict("records")
    assert (e["severity"], e["table"], e["value"]) == ("error", "contracts", "sales at kestrel.example")
    assert e["problem"] == ("contract NB-HOST-002: the supplier's email address is not an email address "
                            "(name@example.org)")
    assert e["fix"].startswith("correct supplier_email: write an email address")
    code = main(["cpn", "--from", PERIOD[0], "--to", PERIOD[1], "--data", str(folder), "--out",
                 str(tmp_path / "cpn.csv")])
    err = capsys.readouterr().err
    assert code == 1
    assert "column supplier_email: value 'sales at kestrel.example': contract NB-HOST-002" in err


def test_a_bad_email_is_a_located_validation_warning(tmp_path):
    import cinb.validate

    if not hasattr(cinb.validate, "pattern_issues"):
        pytest.skip("cinb.validate does not apply cinb.schema.pattern_issues to text columns yet")

    def bad(contracts):
        contracts.loc[contracts["contract_id"] == "NB-HOST-002", "authority_email"] = "procurement@northbridge"

    folder = _v2_folder(tmp_path, bad)
    p = load_portfolio(folder)
    w = p.warnings[p.warnings["column"] == "authority_email"]
    assert len(w) == 1 and w["value"].iloc[0] == "procurement@northbridge"
    assert str(w["source"].iloc[0]).endswith("contracts.csv") and int(w["row"].iloc[0]) == 3
    assert "NB-HOST-002" in set(p.contracts["contract_id"])  # a warning: the contract is kept


def test_csv_gains_the_v2_columns(tmp_path):
    out = tmp_path / "cpn.csv"
    assert main(["cpn", "--from", PERIOD[0], "--to", PERIOD[1], "--data", str(_v2_folder(tmp_path)),
                 "--out", str(out)]) == 0
    with open(out, encoding="utf-8-sig", newline="") as f:
        header, first, *_ = csv.reader(f)
    assert header == CPN_COLUMNS and header[12:] == [name for name, _ in NOTICE_FIELDS]
    got = dict(zip(header, first, strict=True))
    assert got["supplier_email"].startswith("contracts@supplier") and got["authority_contact"] == "Commercial team"


# --- the extension fields' shape, by hand against the vendored extension files ---------------------------


def test_rating_codes_are_the_uk_extensions():
    uk = _load("ocds_uk_extension/release-schema.json")
    text = uk["definitions"]["Observation"]["properties"]["measureClassification"]["description"]
    codes = re.search(r"possible id values are (.+)\.", text).group(1).replace(" and ", ", ").split(", ")
    assert set(MEASURE_CLASSIFICATION) == set(RATINGS)
    assert list(MEASURE_CLASSIFICATION.values()) == codes  # same order: Good … Other
    assert uk["definitions"]["Observation"]["properties"]["measureClassification"]["$ref"] == \
        "#/definitions/Classification"
    with open(SCHEMAS / "ocds_uk_extension" / "codelists" / "+documentType.csv", encoding="utf-8") as f:
        doc_types = {r["Code"]: r for r in csv.DictReader(f)}
    assert doc_types["implementationNotice"]["Section"] == "implementation"
    assert uk["definitions"]["Document"]["properties"]["noticeType"]["type"] == ["string", "null"]
    metrics = _load("ocds_metrics_extension/release-schema.json")["definitions"]
    assert {"agreedMetrics"} <= set(metrics["Contract"]["properties"])
    assert {"metrics"} <= set(metrics["Implementation"]["properties"])


def test_the_validator_sees_extension_and_core_errors(validator):
    _, _, package, _ = _package(None, ocid_prefix="ocds-abc123")
    bad = copy.deepcopy(package)
    obs = bad["releases"][0]["contracts"][0]["implementation"]["metrics"][0]["observations"][0]
    obs["measureClassification"] = "met"  # the UK extension makes it a Classification object
    del bad["releases"][1]["ocid"]
    bad["releases"][2]["tag"] = ["contractImplementation"]  # not a releaseTag code
    bad["releases"][3]["date"] = "20 November 2026"
    errors = "\n".join(_errors(validator, bad))
    assert "measureClassification: 'met' is not of type 'object'" in errors
    assert "'ocid' is a required property" in errors
    assert "'contractImplementation' is not one of" in errors
    assert "is not a 'date-time'" in errors


# --- the pieces ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("GB-COH-01234567", {"scheme": "GB-COH", "id": "01234567"}),
    ("GB-PPON-PMZV-7732-XXTT", {"scheme": "GB-PPON", "id": "PMZV-7732-XXTT"}),
    ("pmzv-7732-xxtt", {"scheme": "GB-PPON", "id": "PMZV-7732-XXTT"}),
    ("SC900101", {"scheme": "GB-COH", "id": "SC900101"}),
    ("09900202", {"scheme": "GB-COH", "id": "09900202"}),
    ("DUNS 123456789", {"id": "DUNS 123456789"}),
    ("", None),
])
def test_party_identifier(text, expected):
    assert party_identifier(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("1 Main St\nLeeds\nls1 4ap", {"streetAddress": "1 Main St, Leeds", "postalCode": "LS1 4AP"}),
    ("Unit 2, Park Road, Bristol BS1 5TR, UK", {"streetAddress": "Unit 2, Park Road, Bristol",
                                               "postalCode": "BS1 5TR", "countryName": "United Kingdom"}),
    ("PO Box 12, Dublin, Ireland", {"streetAddress": "PO Box 12, Dublin, Ireland"}),
    (None, None),
])
def test_split_address(text, expected):
    assert split_address(text) == expected


def test_ocid_for_and_the_prefix_check():
    assert ocid_for("ocds-h6vhtk-04f1a2") == "ocds-h6vhtk-04f1a2"
    assert ocid_for("ocds-h6vhtk-04f1a2", "ocds-abc123") == "ocds-h6vhtk-04f1a2"
    assert ocid_for("NB-PROC-1", "ocds-abc123") == "ocds-abc123-NB-PROC-1"
    assert ocid_for("NB-PROC-1") is None and ocid_for(None, "ocds-abc123") is None
    rows, _ = cpn_rows(*_frames(), *PERIOD, detail=True)
    for bad in ("ocds-ABC123", "abc123", "ocds-abc12"):
        with pytest.raises(UsageError, match="OCID prefix"):
            cpn_release_package(rows, ocid_prefix=bad)
    with pytest.raises(UsageError, match="detail=True"):
        cpn_release_package(cpn_rows(*_frames(), *PERIOD)[0])


def _frames():
    p = load_portfolio()
    return p.contracts, p.kpis, p.measurements


def test_usage_errors_exit_2(capsys, tmp_path):
    base = ["cpn", "--from", PERIOD[0], "--to", PERIOD[1], "--out", str(tmp_path / "x.json")]
    assert main(base + ["--ocid-prefix", "ocds-abc123"]) == 2  # a prefix without --format ocds
    assert main(base + ["--format", "ocds", "--ocid-prefix", "OCDS-1"]) == 2
    assert "OCID prefix" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(base + ["--format", "xml"])
    assert exc.value.code == 2


def test_writer_is_atomic_and_refuses_an_empty_package(tmp_path, monkeypatch):
    _, _, package, _ = _package(None, ocid_prefix="ocds-abc123")
    target = tmp_path / "cpn.json"
    target.write_text("previous package\n", encoding="utf-8")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("cinb.files.os.fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        write_release_package(package, target)
    assert target.read_text(encoding="utf-8") == "previous package\n"
    assert os.listdir(tmp_path) == ["cpn.json"]
    monkeypatch.undo()
    assert json.loads(write_release_package(package, target).read_text(encoding="utf-8")) == package
    with pytest.raises(UsageError, match="no contract has a release"):
        write_release_package({**package, "releases": []}, tmp_path / "empty.json")
    with pytest.raises(UsageError, match="does not exist"):
        write_release_package(package, tmp_path / "nowhere" / "cpn.json")


def test_package_uri_is_stable_for_the_same_releases():
    rows, _ = cpn_rows(*_frames(), *PERIOD, detail=True)
    a, _ = cpn_release_package(rows, ocid_prefix="ocds-abc123", published=PUBLISHED)
    b, _ = cpn_release_package(rows, ocid_prefix="ocds-abc123", published=PUBLISHED)
    c, _ = cpn_release_package(rows, ocid_prefix="ocds-xyz789", published=PUBLISHED)
    assert a == b and a["uri"].startswith("urn:uuid:") and a["uri"] != c["uri"]
    assert cpn_release_package(rows, ocid_prefix="ocds-abc123", uri="https://example.org/cpn/1.json",
                               publisher="LB Test")[0]["publisher"] == {"name": "LB Test"}
