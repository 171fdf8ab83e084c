"""Contract Performance Notices as an OCDS 1.1 release package (the UK's central digital platform speaks OCDS).

One release per contract, built from the rows of :func:`cinb.cpn.cpn_rows` (``detail=True``): the contracting
authority and the supplier as ``parties`` (identifier, address, contact email), the procurement as ``tender``,
the contract and its award, the s.52 KPIs as ``contracts[].agreedMetrics`` and the assessment as
``contracts[].implementation.metrics`` whose observations carry the reg. 39 rating in ``measureClassification``
(the field the Cabinet Office's UK extension defines for it), and the notice itself as an implementation
document of type ``implementationNotice`` with ``noticeType`` UK9 (Contract performance notice).

The schemas are those of OCDS 1.1.5, the metrics extension and the UK extension (``tests/schemas/ocds/``); the
field mapping, and what the UK profile leaves undefined, is in docs/data-contract.md ("The OCDS export").
"""

from __future__ import annotations

import json
import math
import re
import uuid
from datetime import date, datetime, time, timezone
from pathlib import Path

import pandas as pd

from cinb.cpn import CPN_DETAIL_COLUMNS, CPN_STATEMENT, _blank, _problem
from cinb.errors import PROBLEM_COLUMNS, UsageError
from cinb.files import atomic_write_bytes

__all__ = ["EXTENSIONS", "MEASURE_CLASSIFICATION", "OCDS_VERSION", "cpn_release_package", "ocid_for",
           "party_identifier", "split_address", "write_release_package"]

OCDS_VERSION = "1.1"
#: The extensions the releases use, as the package declares them (the UK one as Find a Tender declares it).
EXTENSIONS = [
    "https://raw.githubusercontent.com/cabinetoffice/ocds_uk_extension/main/extension.json",
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_metrics_extension/1.1/extension.json",
]
#: Procurement Regulations 2024 reg. 39(5) rating → the UK extension's ``Observation.measureClassification.id``
#: ("In the UK, possible id values are met, slightlyBelow, below, significantlyBelow and other").
MEASURE_CLASSIFICATION = {
    "Good": "met", "Approaching target": "slightlyBelow", "Requires improvement": "below",
    "Inadequate": "significantlyBelow", "Other": "other",
}
NOTICE_TYPE = "UK9"
DOCUMENT_TYPE = "implementationNotice"  # the UK extension's documentType "used for UK9 contract performance notice"
#: The statement reg. 39(4)(e) requires (:data:`cinb.cpn.CPN_STATEMENT`): the notice document's description.
STATEMENT = CPN_STATEMENT

_PREFIX_RE = re.compile(r"ocds-[a-z0-9]{6}")
_OCID_RE = re.compile(r"ocds-[a-z0-9]{6}-\S+")
# org-id.guide identifiers of UK (and Crown dependency) registers written in full: GB-COH-01234567, GB-PPON-…
_ORG_ID_RE = re.compile(r"((?:GB|XI|IM|GG|JE)-[A-Z]+)-(\S+)")
_PPON_RE = re.compile(r"[A-Z]{4}-[0-9]{4}-[A-Z]{4}")  # Public Procurement Organisation Number (central platform)
_COMPANIES_HOUSE_RE = re.compile(r"[0-9]{8}|[A-Z]{2}[0-9]{6}")
_POSTCODE_RE = re.compile(r"[,\s]*\b([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})$", re.IGNORECASE)
_COUNTRY_RE = re.compile(r"[,\s]*\b(?:United Kingdom|UK)$", re.IGNORECASE)
#: cinb unit → UN/CEFACT Recommendation 20 code (the scheme OCDS recommends for units); GBP is a money value.
_UNITS = {"%": ("percent", "P1"), "hours": ("hour", "HUR"), "days": ("day", "DAY"), "minutes": ("minute", "MIN"),
          "count": ("one", "C62")}


def ocid_for(procurement_id, ocid_prefix: str | None = None) -> str | None:
    """The OCID of a procurement: its identifier when it already is one, else ``<prefix>-<identifier>``.

    Find a Tender's procurement identifiers are OCIDs (``ocds-h6vhtk-…``); an authority's own reference needs
    the publisher's OCID prefix (registered with the Open Contracting Partnership). Returns None when there is
    no identifier, or it is not an OCID and no prefix is given.
    """
    if _blank(procurement_id):
        return None
    pid = str(procurement_id).strip()
    if _OCID_RE.fullmatch(pid):
        return pid
    return f"{ocid_prefix}-{pid}" if ocid_prefix else None


def party_identifier(text) -> dict | None:
    """An OCDS ``Identifier`` for an organisation identifier as written in the contracts table.

    ``GB-COH-01234567`` (any org-id.guide scheme of a UK register, written in full) gives scheme and id; a bare
    PPON (``ABCD-1234-EFGH``) is ``GB-PPON``; a bare Companies House number (``01234567``, ``SC123456``) is
    ``GB-COH``; anything else keeps its id with no scheme. None when the cell is empty.
    """
    if _blank(text):
        return None
    t = str(text).strip()
    m = _ORG_ID_RE.fullmatch(t)
    if m:
        return {"scheme": m.group(1), "id": m.group(2)}
    if _PPON_RE.fullmatch(t.upper()):
        return {"scheme": "GB-PPON", "id": t.upper()}
    if _COMPANIES_HOUSE_RE.fullmatch(t.upper()):
        return {"scheme": "GB-COH", "id": t.upper()}
    return {"id": t}


def split_address(text) -> dict | None:
    """An OCDS ``Address`` from one free-text address: a UK postcode at its end becomes ``postalCode`` and a
    trailing "United Kingdom" or "UK" ``countryName``; the rest, lines joined by commas, is ``streetAddress``.
    """
    if _blank(text):
        return None
    rest = ", ".join(part.strip(" ,") for part in re.split(r"[\r\n]+", str(text)) if part.strip(" ,"))
    out: dict[str, str] = {}
    country = _COUNTRY_RE.search(rest)
    if country and country.start() > 0:
        out["countryName"] = "United Kingdom"
        rest = rest[:country.start()]
    postcode = _POSTCODE_RE.search(rest)
    if postcode and postcode.start() > 0:
        out["postalCode"] = f"{postcode.group(1)} {postcode.group(2)}".upper()
        rest = rest[:postcode.start()]
    if rest.strip(" ,"):
        out["streetAddress"] = rest.strip(" ,")
    return {k: out[k] for k in ("streetAddress", "postalCode", "countryName") if k in out}


def _text(x) -> str | None:
    return None if _blank(x) else str(x).strip()


def _london(day, end_of_day=False) -> str:
    """An RFC 3339 date-time at the start (or end) of a UK calendar day, with the UK offset of that day."""
    try:
        from zoneinfo import ZoneInfo

        zone = ZoneInfo("Europe/London")
    except Exception:  # pragma: no cover - no time-zone database: UTC is within an hour
        zone = timezone.utc
    moment = datetime.combine(day, time(23, 59, 59) if end_of_day else time(0, 0, 0), tzinfo=zone)
    return moment.isoformat()


def _period(first_month: str, last_month: str) -> dict:
    p0, p1 = pd.Period(first_month, "M"), pd.Period(last_month, "M")
    return {"startDate": _london(p0.start_time.date()), "endDate": _london(p1.end_time.date(), end_of_day=True)}


def _number(x):
    if _blank(x):
        return None
    v = float(x)
    return None if math.isnan(v) else (int(v) if v == int(v) else round(v, 6))


def _quantity(value, unit) -> dict:
    """The value of an observation: ``value`` (money) for GBP, else ``measure`` and ``unit``."""
    v = _number(value)
    if v is None:
        return {}
    if unit == "GBP":
        return {"value": {"amount": v, "currency": "GBP"}}
    name, code = _UNITS.get(unit, (unit, None))
    return {"measure": v, "unit": {"name": name, **({"scheme": "UNCEFACT", "id": code} if code else {})}}


def _party(role: str, name, identifier, address, email, contact=None) -> dict:
    ident = party_identifier(identifier)
    pid = (f"{ident['scheme']}-{ident['id']}" if ident and "scheme" in ident else ident["id"] if ident else role)
    party = {"id": pid, "name": _text(name), "identifier": ident, "address": split_address(address),
             "contactPoint": {k: v for k, v in (("name", _text(contact)), ("email", _text(email))) if v} or None,
             "roles": [role]}
    return {k: v for k, v in party.items() if v is not None}


def _metrics(rows: pd.DataFrame) -> tuple[list, list]:
    """``agreedMetrics`` (the KPIs' levels) and implementation ``metrics`` (the rated period) of one contract."""
    agreed, actual = [], []
    for r in rows.to_dict("records"):
        kpi, unit = str(r["kpi_id"]), r["unit"]
        better = "higher" if r["direction"] == "higher" else "lower"
        levels = [{"id": f"{kpi}-{level}", **_quantity(r[level], unit), "dimensions": {"level": level},
                   "notes": f"The KPI's {label}; {better} is better."}
                  for level, label in (("target", "target"), ("sla", "service level (minimum)"),
                                       ("critical", "critical level")) if _number(r[level]) is not None]
        metric = {"id": kpi, "title": _text(r["kpi_name"]), "description": _text(r["kpi_description"]),
                  "observations": levels or None}
        agreed.append({k: v for k, v in metric.items() if v is not None})
        observation = {
            "id": f"{kpi}-{r['period_start']}-{r['period_end']}", "period": _period(r["period_start"], r["period_end"]),
            **_quantity(r["value"], unit), "notes": _text(r["basis"]),
            "measureClassification": {"id": MEASURE_CLASSIFICATION[r["rating"]], "description": r["rating"]},
        }
        actual.append({k: v for k, v in {"id": kpi, "title": _text(r["kpi_name"]),
                                         "observations": [{k: v for k, v in observation.items() if v is not None}]
                                         }.items() if v is not None})
    return agreed, actual


def _release(rows: pd.DataFrame, ocid: str, published: str) -> dict:
    """One contract's release: its notice (``rows``: that contract's detail rows)."""
    r = rows.iloc[0]
    cid, period = str(r["contract_id"]), f"{r['period_start']}-{r['period_end']}"
    buyer = _party("buyer", r["authority"], r["authority_id"], r["authority_address"], r["authority_email"],
                   r["authority_contact"])
    supplier = _party("supplier", r["supplier_name"], r["supplier_id"], r["supplier_address"], r["supplier_email"])
    if supplier["id"] == buyer["id"]:
        supplier["id"] += "-supplier"
    agreed, actual = _metrics(rows)
    document = {"id": f"{cid}-cpn-{period}", "documentType": DOCUMENT_TYPE, "noticeType": NOTICE_TYPE,
                "title": f"Contract Performance Notice: {_text(r['contract_title']) or cid}",
                "description": _text(r.get("statement")) or STATEMENT, "datePublished": published, "language": "en"}
    contract = {"id": cid, "awardID": cid, "title": _text(r["contract_title"]),
                "period": {k: _london(pd.Timestamp(r[col]).date(), k == "endDate")
                           for k, col in (("startDate", "contract_start"), ("endDate", "contract_end"))
                           if not pd.isna(r[col])} or None,
                "agreedMetrics": [m for m in agreed if "observations" in m] or None,
                "implementation": {"documents": [document], "metrics": actual}}
    tender = {"id": str(r["procurement_id"]).strip(), "title": _text(r["procurement_title"])}
    return {
        "ocid": ocid, "id": f"{cid}-cpn-{period}", "date": published, "tag": ["implementation"],
        "initiationType": "tender", "language": "en",
        "parties": [buyer, supplier],
        "buyer": {k: buyer[k] for k in ("id", "name") if k in buyer},
        "tender": {k: v for k, v in tender.items() if v},
        "awards": [{"id": cid, "suppliers": [{k: supplier[k] for k in ("id", "name") if k in supplier}]}],
        "contracts": [{k: v for k, v in contract.items() if v is not None}],
    }


def cpn_release_package(rows: pd.DataFrame, *, ocid_prefix: str | None = None, published=None,
                        publisher: str | None = None, uri: str | None = None) -> tuple[dict, pd.DataFrame]:
    """The Contract Performance Notices of ``rows`` as an OCDS 1.1 release package, and the problems found.

    Parameters
    ----------
    rows : DataFrame
        ``cpn_rows(..., detail=True)`` rows (the notice columns and :data:`cinb.cpn.CPN_DETAIL_COLUMNS`).
    ocid_prefix : str, optional
        The publisher's OCID prefix (``ocds-`` and six letters or digits), for procurement identifiers that are
        not OCIDs already; see :func:`ocid_for`.
    published : datetime or str, optional
        The package's ``publishedDate`` and each release's ``date`` (default: now, UTC, to the second).
    publisher : str, optional
        The package's publisher name (default: the authority, or the authorities joined with "; ").
    uri : str, optional
        The package's URI (default: ``urn:uuid:`` and a UUID of the releases' content, the same every time
        for the same releases).

    Returns
    -------
    package : dict
        ``uri, version, extensions, publishedDate, publisher, releases``: one release per contract that has an
        OCID, sorted by contract id (``releases`` may be empty: such a package is not valid OCDS, do not write it).
    problems : DataFrame
        ``PROBLEM_COLUMNS``: a contract left out for want of an OCID (error), an identifier whose scheme cannot
        be told (warning).

    Raises
    ------
    UsageError
        A malformed ``ocid_prefix``, or ``rows`` without the detail columns.
    """
    if ocid_prefix is not None and not _PREFIX_RE.fullmatch(ocid_prefix):
        raise UsageError(f"--ocid-prefix {ocid_prefix!r} is not an OCID prefix: write 'ocds-' and six lower-case "
                         "letters or digits, as registered with the Open Contracting Partnership (e.g. ocds-h6vhtk)")
    missing = [c for c in CPN_DETAIL_COLUMNS if c not in rows]
    if missing:
        raise UsageError(f"the rows lack {', '.join(missing)}: make them with cpn_rows(..., detail=True)")
    if published is None:
        published = datetime.now(timezone.utc).replace(microsecond=0)
    stamp = published.isoformat() if isinstance(published, (datetime, date)) else str(published)
    problems, releases = [], []
    for cid, group in rows.groupby("contract_id", sort=True):
        r = group.iloc[0]
        where = (r["contract_row"], r["contract_source"])
        ocid = ocid_for(r["procurement_id"], ocid_prefix)
        if ocid is None:
            pid = _text(r["procurement_id"])
            problems.append(_problem(
                "error", "contracts", where[0], "procurement_id", pid,
                f"contract {cid} is left out of the OCDS release package: " + (
                    "it has no procurement identifier to make its OCID from" if pid is None else
                    "its procurement identifier is not an OCID (ocds-xxxxxx-…) and no OCID prefix was given"),
                "add the procurement identifier Find a Tender gave the procurement (an OCID)" + (
                    "" if pid is None else ", or give --ocid-prefix with the publisher's registered OCID prefix"),
                where[1]))
            continue
        for column, party in (("authority_id", "authority"), ("supplier_id", "supplier")):
            ident = party_identifier(r[column])
            if ident is not None and "scheme" not in ident:
                problems.append(_problem(
                    "warning", "contracts", where[0], column, ident["id"],
                    f"contract {cid}: the {party}'s identifier has no scheme cinb can recognise, so the release "
                    "gives it without one", "write it with its register, e.g. GB-PPON-ABCD-1234-EFGH (the central "
                    "digital platform's PPON) or GB-COH-01234567 (Companies House)", where[1]))
        releases.append(_release(group, ocid, stamp))
    if publisher is None:
        names = sorted({str(a).strip() for a in rows["authority"] if not _blank(a)})
        publisher = "; ".join(names) or "unknown"
    if uri is None:
        content = json.dumps(releases, sort_keys=True, ensure_ascii=False, default=str)
        uri = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, content)}"
    package = {"uri": uri, "version": OCDS_VERSION, "extensions": list(EXTENSIONS), "publishedDate": stamp,
               "publisher": {"name": publisher}, "releases": releases}
    return package, pd.DataFrame(problems, columns=PROBLEM_COLUMNS)


def write_release_package(package: dict, path) -> Path:
    """Write an OCDS release package to ``path`` as UTF-8 JSON (indented), atomically.

    The file is written to a temporary file in the same folder and renamed over ``path``, so a failed write
    never leaves a half-written package.

    Raises
    ------
    UsageError
        The folder does not exist, or the package has no release (it would not be valid OCDS).
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"cannot write {path}: folder {folder} does not exist; create it or choose another --out")
    if not package.get("releases"):
        raise UsageError(f"nothing to write to {path}: no contract has a release (a release package needs one)")
    text = json.dumps(package, indent=2, ensure_ascii=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))
    return path
