"""What a supplier may see: one list of rules, applied to every output of a supplier-audience pack.

A contract pack is built for an audience (:data:`cinb.config.AUDIENCES`): ``internal`` (the authority's staff)
or ``supplier`` (sent to the contract's supplier). A supplier pack holds its own contract only (the kernel loads
the whole portfolio, but a contract review reads one contract's rows), and of that contract it holds everything
except what :data:`INTERNAL_ONLY` lists: the authority's preparation for the review meeting, its negotiating
position, the analyst's working and the authority's own records and machines. Each :class:`Rule` names what it
withholds and where that sits in the review and in ``pack.json``.

Every output of a supplier pack follows the same rules:

* the review the notebook displays (HTML and PDF): :func:`for_audience` turns a
  :class:`cinb.review.ContractReview` into the supplier's view once, and the section functions of
  :mod:`cinb.sections` ask :func:`shows` before they show anything internal, so a report template that skips
  :func:`for_audience` still shows no internal section;
* ``pack.json``: :func:`pack_for_audience` filters the figures the notebook emits (in the kernel, by
  :func:`cinb.sections.emit_pack`) and again in the pack writer (:mod:`cinb.pack`), whatever a template emitted;
* the page's embedded record and ``pack.json``'s ``reproducibility``: :func:`record_for_audience`;
* the month's ``manifest.json`` entry and ``index.html`` row: :func:`entry_for_audience` (and
  :func:`run_for_audience` for the run's settings).

The filters are idempotent (filtering a filtered pack changes nothing) and leave internal packs as they are.
"""

from __future__ import annotations

import dataclasses
import re
import weakref
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

import pandas as pd

from .config import AUDIENCES

__all__ = ["Rule", "INTERNAL_ONLY", "SUPPLIER_CONTRACT_COLUMNS", "shows", "withheld", "for_audience",
           "pack_for_audience", "record_for_audience", "entry_for_audience", "run_for_audience", "file_name",
           "contract_for_audience"]


@dataclass(frozen=True)
class Rule:
    """One kind of content a supplier pack leaves out.

    Attributes
    ----------
    key : str
        The rule's name, as :func:`shows` takes it and ``pack.json``'s ``withheld`` lists it.
    what : str
        What is left out, in words (SECURITY.md quotes these).
    why : str
        Why it is the authority's alone.
    where : tuple of str
        Where it sits in ``pack.json`` (``kpis[].ratchet``: the ``ratchet`` of every KPI).
    """

    key: str
    what: str
    why: str
    where: tuple[str, ...]


#: The contract columns a supplier pack keeps (its own contract's identifiers, parties, term and values); every
#: other column of the contracts table — the contract manager, the authority's contact details, any column an
#: authority adds for its own notes — is internal.
SUPPLIER_CONTRACT_COLUMNS = ("contract_id", "title", "authority", "supplier", "supplier_id", "category",
                             "procurement_id", "start_date", "end_date", "notice_period_days", "annual_value_gbp",
                             "monthly_charge_gbp", "service_credit_cap_pct", "service_credit_cap_period")

#: Everything a supplier pack leaves out, in the order SECURITY.md lists it.
INTERNAL_ONLY: tuple[Rule, ...] = (
    Rule("questions", "the questions for the review meeting",
         "the authority's preparation for the meeting (which credits to confirm, what to press on)",
         ("questions",)),
    Rule("contract_columns", "every contract column except " + ", ".join(SUPPLIER_CONTRACT_COLUMNS)
         + " (so the contract manager, the authority's identifier and contact details, the supplier contact "
           "details held for notices, and any column the authority adds)",
         "the authority's own records", ("contract",)),
    Rule("ratchets", "ratchet proposals (the KPIs eligible for a tighter target and the proposed target)",
         "the authority's negotiating position", ("ratchets", "kpis[].ratchet")),
    Rule("suggested_rebase", "suggested rebases of a KPI's process limits, and the assurance verdict they replace "
         "(the supplier pack says the assurance cannot be assessed)",
         "the analyst's working, not agreed with anyone",
         ("kpis[].spc.suggested_rebase", "kpis[].spc.assurance", "kpis[].paragraph")),
    Rule("row_accounting", "the row accounting of the data load (rows read, used, superseded, rejected)",
         "the authority's data handling", ("data_quality.accounting",)),
    Rule("load_warnings", "the loader's warnings about the data",
         "the authority's data handling; they name the authority's files", ("data_quality.warnings",)),
    Rule("paths", "folders on the authority's machines: the data source, evidence files, parameter files, the "
         "report template, the branding logo and the Python interpreter are named by file name only, a database "
         "by its kind and name only (``postgresql://…/portfolio``)", "internal infrastructure",
         ("reproducibility", "parameters", "data_quality.restatements[].source")),
)

_RULES = {r.key: r for r in INTERNAL_ONLY}
_ABSOLUTE = re.compile(r"^(?:/|~|[A-Za-z]:[\\/]|\\\\)")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def withheld(audience: str) -> list[str]:
    """The keys of the rules that apply to ``audience``: all of :data:`INTERNAL_ONLY` for ``supplier``, none for
    ``internal``. Raises ValueError for an unknown audience."""
    _check(audience)
    return [r.key for r in INTERNAL_ONLY] if audience == "supplier" else []


def shows(audience: str, key: str) -> bool:
    """Whether a pack for ``audience`` shows the content of rule ``key`` (a key of :data:`INTERNAL_ONLY`).

    >>> shows("internal", "questions"), shows("supplier", "questions")
    (True, False)

    Raises
    ------
    KeyError
        ``key`` names no rule (a misspelt rule would otherwise show everything).
    ValueError
        An unknown audience.
    """
    if key not in _RULES:
        raise KeyError(f"no audience rule {key!r}; rules: {', '.join(_RULES)}")
    return key not in withheld(audience)


def _check(audience: str) -> None:
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {', '.join(AUDIENCES)}, not {audience!r}")


def file_name(text) -> Any:
    """``text`` without the folders it names: a path's file name; a URL's scheme and last path segment (no user,
    password, host, folders or query); anything else as it is (None, numbers, words).

    >>> file_name("/home/analyst/returns/sd-oct.xlsx"), file_name("sqlite:////srv/cinb/store.sqlite")
    ('sd-oct.xlsx', 'sqlite://…/store.sqlite')
    >>> file_name("postgresql://cinb:secret@db.internal:5432/portfolio?sslmode=require"), file_name("sample")
    ('postgresql://…/portfolio', 'sample')
    """
    if not isinstance(text, str) or not text:
        return text
    if _URL.match(text):
        scheme, rest = text.split("://", 1)
        rest = rest.split("?", 1)[0].split("#", 1)[0]
        tail = [part for part in rest.split("/")[1:] if part]
        return f"{scheme}://…/{tail[-1]}" if tail else f"{scheme}://…"
    if _ABSOLUTE.match(text) or "/" in text or "\\" in text:
        path = PureWindowsPath(text) if ("\\" in text or re.match(r"^[A-Za-z]:", text)) else PurePosixPath(text)
        return path.name or text
    return text


def _names_only(value):
    """``value`` with every absolute path or URL (at any depth) reduced to its file name."""
    if isinstance(value, dict):
        return {k: _names_only(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_names_only(v) for v in value]
    if isinstance(value, str) and (_ABSOLUTE.match(value) or _URL.match(value)):
        return file_name(value)
    return value


def contract_for_audience(contract: dict, audience: str) -> dict:
    """The contract's row (a dict of column → value) as ``audience`` may see it: for a supplier, the columns of
    :data:`SUPPLIER_CONTRACT_COLUMNS` only (those the row has); for internal packs, unchanged."""
    if shows(audience, "contract_columns"):
        return contract
    return {k: v for k, v in contract.items() if k in SUPPLIER_CONTRACT_COLUMNS}


# --------------------------------------------------------------------------------------------- the review


def for_audience(review):
    """The review as its audience (``review.audience``) may see it, built once for every section of the pack.

    For an internal review: ``review`` itself. For a supplier review: a new :class:`cinb.review.ContractReview`
    without what :data:`INTERNAL_ONLY` lists — no questions; the contract's allow-listed columns only; no ratchet
    proposals (an empty ``ratchets`` frame, no KPI ``ratchet``); no suggested rebase, and no assurance verdict
    for the KPIs that had one (their paragraphs and the summary are written again by
    :func:`cinb.commentary.annotate`, so no sentence mentions the suggestion); an empty row accounting and no
    load warnings; the data source and every restatement's source by file name. Figures the supplier sees are
    the same numbers as in the internal pack. Idempotent.

    Parameters
    ----------
    review : cinb.review.ContractReview

    Returns
    -------
    cinb.review.ContractReview
    """
    from .commentary import annotate

    if shows(review.audience, "questions"):
        return review
    known = _VIEWS.get(id(review))
    if known is not None:
        source, view = known[0](), known[1]()
        if review is view:
            return review  # already the supplier's view
        if review is source and view is not None:
            return view  # built before: every section shows the same view
    kpis = []
    for k in review.kpis:
        changes: dict[str, Any] = {"ratchet": None}
        if k.suggested_rebase is not None:
            changes["suggested_rebase"] = None
            changes["spc"] = dataclasses.replace(k.spc, assurance=None)
        kpis.append(dataclasses.replace(k, **changes))
    restatements = review.restatements
    if restatements is not None and len(restatements) and "source" in restatements:
        restatements = restatements.assign(source=[file_name(x) for x in restatements["source"]])
    view = dataclasses.replace(
        review, kpis=kpis, contract=contract_for_audience(review.contract, review.audience),
        ratchets=review.ratchets.iloc[0:0], accounting=_emptied(review.accounting),
        data_warnings=_emptied(review.data_warnings), source=file_name(review.source), restatements=restatements)
    view = dataclasses.replace(annotate(view), questions=[])
    _remember(review, view)
    return view


#: Views built so far, by ``id`` of the review and of the view: (weak reference to the review, to the view).
_VIEWS: dict[int, tuple] = {}


def _remember(review, view) -> None:
    pair = (weakref.ref(review, _forget), weakref.ref(view, _forget))
    _VIEWS[id(review)] = pair
    _VIEWS[id(view)] = pair


def _forget(_ref) -> None:
    for key in [k for k, (a, b) in _VIEWS.items() if a() is None or b() is None]:
        _VIEWS.pop(key, None)


def _emptied(frame):
    return frame.iloc[0:0] if isinstance(frame, pd.DataFrame) else frame


# --------------------------------------------------------------------------------------------- pack.json


def pack_for_audience(data: dict, audience: str | None = None) -> dict:
    """The figures of a pack (what ``pack.json`` holds) as ``audience`` may see them.

    Parameters
    ----------
    data : dict
        The pack's figures (:meth:`cinb.review.ContractReview.to_pack`, plus ``parameters`` and
        ``reproducibility``; a portfolio pack's or a template's own figures work too: only the keys present are
        touched).
    audience : str, optional
        Default: ``data["audience"]``, else ``data["parameters"]["audience"]``, else internal.

    Returns
    -------
    dict
        For an internal pack, ``data`` unchanged. For a supplier pack, a copy with ``questions`` and ``ratchets``
        empty, each KPI's ``ratchet`` and ``spc.suggested_rebase`` None (a KPI that still carried a suggestion —
        figures a template emitted without :func:`for_audience` — also loses its assurance verdict and its
        paragraph, which was written with the suggestion), the contract's allow-listed columns only, no row
        accounting or load warnings, every path and URL reduced to a file name, and ``withheld`` listing the rule
        keys applied. Idempotent.
    """
    audience = audience or data.get("audience") or (data.get("parameters") or {}).get("audience") or "internal"
    if shows(audience, "questions"):
        return data
    out = dict(data)
    if "questions" in out:
        out["questions"] = []
    if isinstance(out.get("contract"), dict):
        out["contract"] = contract_for_audience(out["contract"], audience)
    if "ratchets" in out:
        out["ratchets"] = []
    if isinstance(out.get("kpis"), list):
        out["kpis"] = [_kpi_for_supplier(k) if isinstance(k, dict) else k for k in out["kpis"]]
    if isinstance(out.get("data_quality"), dict):
        dq = dict(out["data_quality"])
        for key in ("accounting", "warnings"):
            if key in dq:
                dq[key] = []
        out["data_quality"] = dq
    for key in ("reproducibility", "parameters"):
        if key in out:
            out[key] = _names_only(out[key])
    if isinstance(out.get("data_quality"), dict) and isinstance(out["data_quality"].get("restatements"), list):
        out["data_quality"]["restatements"] = [{**r, "source": file_name(r.get("source"))} if isinstance(r, dict)
                                               else r for r in out["data_quality"]["restatements"]]
    out["withheld"] = withheld(audience)
    return out


def _kpi_for_supplier(k: dict) -> dict:
    k = dict(k)
    k["ratchet"] = None
    spc = k.get("spc")
    if isinstance(spc, dict) and spc.get("suggested_rebase") is not None:
        k["spc"] = {**spc, "suggested_rebase": None, "assurance": None}
        if "paragraph" in k:
            k["paragraph"] = None  # written with the suggestion in it
    return k


def record_for_audience(record: dict, audience: str) -> dict:
    """A pack's reproducibility record (``pack.json``'s ``reproducibility``, the page's embedded record) as
    ``audience`` may see it: for a supplier, every path and URL by its file name (data, parameter files,
    template, logo); the hashes stay. ``record`` is a dict; returns a dict (unchanged for internal packs)."""
    return record if shows(audience, "paths") else _names_only(record)


# --------------------------------------------------------------------------------------------- manifest, index


def entry_for_audience(entry: dict) -> dict:
    """A manifest entry (:meth:`cinb.pack.PackResult.to_dict`) as its pack's audience (``entry["audience"]``) may
    see it: for a supplier pack, the headline as the supplier's ``pack.json`` has it (it already is: the pack
    writer takes it from the filtered figures), and every path and URL (a template's, one in an error message) by
    its file name. The index page's row is made from this entry. Unchanged for internal packs."""
    audience = entry.get("audience") or "internal"
    if shows(audience, "paths"):
        return entry
    out = _names_only(dict(entry))
    if isinstance(out.get("error"), str):
        out["error"] = _PATH_IN_TEXT.sub(lambda m: file_name(m.group(0)), out["error"])
    return out


_PATH_IN_TEXT = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*://|(?<![\w.])/)[^\s'\"<>,;]+")


def run_for_audience(run: dict, audience: str) -> dict:
    """The facts a run records in the manifest (``last_run``: settings, parameter files, templates) as
    ``audience`` may see them: for a supplier run, paths and URLs by file name. Unchanged for internal runs."""
    return run if shows(audience, "paths") else _names_only(run)
