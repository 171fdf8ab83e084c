"""The input data contract (version 1 and the version-2 columns read today) as data: tables, columns, kinds.

The contract itself, for people, is the data contract (docs/data-contract.md); this module is what the
readers (`cinb.sources`), the cell parsers (`cinb.cells`) and the validator (`cinb.validate`) check against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

#: Version of the input data contract this module describes (version 1 portfolios stay valid unchanged).
CONTRACT_VERSION = 2

#: Identifiers are safe in file names and URLs: ASCII letter or digit first, then letters, digits, ``._-``.
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
ID_RE = re.compile(ID_PATTERN)

UNITS = ("%", "hours", "days", "minutes", "count", "score", "GBP")
#: Units whose quantities cannot be below zero (a score may be, e.g. a net promoter score).
NON_NEGATIVE_UNITS = ("%", "hours", "days", "minutes", "count", "GBP")
DIRECTIONS = ("higher", "lower")
#: How a KPI earns service credits (``banded``: from its ``credit_bands``; ``manual``: credited by hand under the
#: contract's own terms, no figure computed; both version 2).
CREDIT_METHODS = ("none", "shortfall", "fixed", "banded", "manual")
#: How often a KPI's value is due (version 2; empty = monthly).
FREQUENCIES = ("monthly", "quarterly", "annual")
#: How a window of values becomes one rated value (version 2; empty = volume_weighted when volumes are given,
#: else the portfolio's ``rating_bands.aggregation``).
AGGREGATIONS = ("volume_weighted", "mean", "median", "sum", "latest", "worst")
#: What a contract's service credit cap is counted over (version 2; empty = month).
CAP_PERIODS = ("month", "contract_year", "rolling_12")
#: What a Critical Service Level Failure does under a ``critical_failure_rules`` row (version 2).
CRITICAL_EFFECTS = ("suppress_credits", "flag")
#: Where a measurement came from (version 2; empty = reported).
ORIGINS = ("reported", "derived")
STATUSES = ("proposed", "agreed", "in_progress", "delivered", "rejected", "withdrawn")
RAISED_BY = ("supplier", "authority")

#: KPI quantities expressed in the KPI's unit (percentage points for ``%`` KPIs).
UNIT_COLUMNS = ("value", "sla", "target", "critical", "baseline", "ci_target", "tolerance")

#: Words people write for a unit, mapped to the unit the contract expects (used for "did you mean").
UNIT_SYNONYMS = {
    "percent": "%", "percentage": "%", "pct": "%", "per cent": "%",
    "hour": "hours", "hrs": "hours", "hr": "hours", "h": "hours",
    "day": "days", "d": "days", "working days": "days",
    "minute": "minutes", "mins": "minutes", "min": "minutes",
    "number": "count", "no.": "count", "#": "count", "n": "count",
    "gbp": "GBP", "£": "GBP", "pounds": "GBP",
    "points": "score", "index": "score",
}


@dataclass(frozen=True)
class Column:
    """One column of the contract.

    ``kind`` is one of ``id``, ``text``, ``date``, ``period``, ``number``, ``int``, ``bool``, ``choice``,
    ``agreed`` (an ISO date, ``yes`` or ``no``). ``minimum``/``maximum`` bound numbers; ``pct_sign`` says a
    trailing ``%`` is accepted (the number is then in percentage points).
    """

    name: str
    kind: str
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    default: object = None
    pct_sign: bool = False
    #: For ``text`` columns: a regular expression a given value must match in full (see `pattern_issues`).
    pattern: str | None = None
    #: What ``pattern`` asks for, in words, for messages ("an email address").
    pattern_label: str = ""
    #: The contract version that introduced the column (1, or 2 for the version-2 columns read today).
    since: int = 1


def _c(name, kind, required=False, **kw) -> Column:
    return Column(name, kind, required, **kw)


#: An email address, shape only: one ``@``, no spaces, a dot in the domain (deliverability is not checked).
EMAIL_PATTERN = r"[^@\s]+@[^@\s]+\.[^@\s.]+"
_EMAIL = {"pattern": EMAIL_PATTERN, "pattern_label": "an email address (name@example.org)"}


TABLES: dict[str, tuple[Column, ...]] = {
    "contracts": (
        _c("contract_id", "id", True),
        _c("title", "text", True),
        _c("authority", "text", True),
        _c("supplier", "text", True),
        _c("supplier_id", "text"),
        _c("category", "text"),
        _c("start_date", "date", True),
        _c("end_date", "date", True),
        _c("notice_period_days", "int", minimum=0),
        _c("annual_value_gbp", "number", True, minimum=0),
        _c("monthly_charge_gbp", "number", minimum=0),
        _c("service_credit_cap_pct", "number", minimum=0, maximum=100, pct_sign=True),
        _c("contract_manager", "text"),
        _c("procurement_id", "text"),
        # Version 2, read today: the details a Contract Performance Notice needs (Procurement Regulations 2024
        # reg. 39 and, for the authority, reg. 13). Optional: `cinb cpn` reports the missing ones.
        _c("supplier_address", "text", since=2),
        _c("supplier_email", "text", since=2, **_EMAIL),
        _c("authority_id", "text", since=2),
        _c("authority_address", "text", since=2),
        _c("authority_email", "text", since=2, **_EMAIL),
        _c("authority_contact", "text", since=2),
        _c("procurement_title", "text", since=2),
        _c("service_credit_cap_period", "choice", choices=CAP_PERIODS, since=2),
    ),
    "kpis": (
        _c("contract_id", "id", True),
        _c("kpi_id", "id", True),
        _c("name", "text", True),
        _c("description", "text"),
        _c("unit", "choice", True, choices=UNITS),
        _c("direction", "choice", True, choices=DIRECTIONS),
        # Unit-dependent bounds (non-negative, 0..100 for %) are checked once the unit is known.
        _c("sla", "number", pct_sign=True),
        _c("target", "number", pct_sign=True),
        _c("tolerance", "number", minimum=0, pct_sign=True),
        _c("critical", "number", pct_sign=True),
        _c("credit_method", "choice", choices=CREDIT_METHODS, default="none"),
        _c("credit_pct", "number", minimum=0, maximum=100, pct_sign=True),
        _c("weight", "number", minimum=0, default=1.0),
        _c("baseline", "number", pct_sign=True),
        _c("baseline_period", "period"),
        _c("ci_target", "number", pct_sign=True),
        _c("ci_target_date", "period"),
        _c("ci_annual_uplift_pct", "number", pct_sign=True),
        _c("data_source", "text"),
        _c("owner", "text"),
        _c("agreed_with_supplier", "agreed"),
        _c("statutory", "bool", default=False),
        # Version 2: real KPI regimes (frequency, life span, volumes, aggregation).
        _c("frequency", "choice", choices=FREQUENCIES, since=2),
        _c("start_period", "period", since=2),
        _c("end_period", "period", since=2),
        _c("volume_unit", "text", since=2),
        _c("aggregation", "choice", choices=AGGREGATIONS, since=2),
    ),
    "measurements": (
        _c("contract_id", "id", True),
        _c("kpi_id", "id", True),
        _c("period", "period", True),
        # Required as a column; an empty cell means "not reported".
        _c("value", "number", True, pct_sign=True),
        _c("submitted_on", "date"),
        _c("revision", "int", minimum=0, default=1),
        _c("note", "text"),
        # Version 2: how many items the value was measured over, provisional figures, derived figures.
        _c("volume", "number", minimum=0, since=2),
        _c("complete", "bool", since=2),
        _c("origin", "choice", choices=ORIGINS, since=2),
    ),
    "initiatives": (
        _c("contract_id", "id", True),
        _c("initiative_id", "id", True),
        _c("title", "text", True),
        _c("raised_by", "choice", choices=RAISED_BY),
        _c("raised_on", "date"),
        _c("due", "date"),
        _c("delivered_on", "date"),
        _c("status", "choice", True, choices=STATUSES),
        _c("kpi_id", "id"),
        _c("expected_benefit_gbp", "number", minimum=0),
        _c("realised_benefit_gbp", "number", minimum=0),
        _c("owner", "text"),
    ),
    # Version 2: a KPI's process changed from ``period`` on; SPC limits are recalculated from each change.
    "process_changes": (
        _c("contract_id", "id", True, since=2),
        _c("kpi_id", "id", True, since=2),
        _c("period", "period", True, since=2),
        _c("reason", "text", True, since=2),
        _c("baseline_months", "int", minimum=1, since=2),
    ),
    # Version 2: a banded KPI's credit schedule, one row per band: the credit (% of the month's charge) when the
    # shortfall from the target, in the KPI's units, is at least ``shortfall_from`` (above it, with
    # ``strictly_above``); the band with the highest applicable start wins.
    "credit_bands": (
        _c("contract_id", "id", True, since=2),
        _c("kpi_id", "id", True, since=2),
        _c("shortfall_from", "number", True, minimum=0, pct_sign=True, since=2),
        _c("strictly_above", "bool", default=False, since=2),
        _c("credit_pct", "number", True, minimum=0, maximum=100, pct_sign=True, since=2),
    ),
    # Version 2: when a Critical Service Level Failure occurs (``count`` months at or beyond the KPI's critical
    # level within ``window_months``) and what it does. An empty ``kpi_id``: each KPI of the contract. ``count``
    # and ``window_months`` are checked in `cinb.validate_credits` (0, or a count the window cannot hold).
    "critical_failure_rules": (
        _c("contract_id", "id", True, since=2),
        _c("kpi_id", "id", since=2),
        _c("count", "int", True, since=2),
        _c("window_months", "int", True, since=2),
        _c("effect", "choice", True, choices=CRITICAL_EFFECTS, since=2),
    ),
}

TABLE_ORDER = ("contracts", "kpis", "measurements", "initiatives", "process_changes", "credit_bands",
               "critical_failure_rules")
#: Tables a source may leave out (then the frame is empty with the contract's columns).
OPTIONAL_TABLES = ("initiatives", "process_changes", "credit_bands", "critical_failure_rules")
#: Optional tables whose absence is not even a warning (version-2 tables: a version-1 portfolio has none).
QUIET_OPTIONAL_TABLES = ("process_changes", "credit_bands", "critical_failure_rules")

#: The key of each table: two rows with the same key are duplicates.
KEYS: dict[str, tuple[str, ...]] = {
    "contracts": ("contract_id",),
    "kpis": ("contract_id", "kpi_id"),
    "measurements": ("contract_id", "kpi_id", "period", "revision"),
    "initiatives": ("contract_id", "initiative_id"),
    "process_changes": ("contract_id", "kpi_id", "period"),
    # Two bands of a KPI from the same shortfall overlap (`cinb.validate_credits` says so on both rows).
    "credit_bands": ("contract_id", "kpi_id", "shortfall_from", "strictly_above"),
    # One rule per KPI of a contract, and one for the contract's other KPIs (empty kpi_id).
    "critical_failure_rules": ("contract_id", "kpi_id"),
}

#: Columns cinb adds to measurements and history; input columns with these names are ignored.
MEASUREMENT_EXTRA = ("source", "row")
RESERVED = {"measurements": ("source", "row", "superseded")}


def column_names(table: str) -> list[str]:
    """The contract's column names of ``table`` in contract order."""
    return [c.name for c in TABLES[table]]


def columns_by_name(table: str) -> dict[str, Column]:
    """The contract's columns of ``table`` keyed by name."""
    return {c.name: c for c in TABLES[table]}


def pattern_issues(a, col: Column) -> list[tuple]:
    """Cells of a text column that do not have the column's ``pattern`` (e.g. an email without ``@``).

    ``a`` is an array of n text cells (``''``, None or NaN = not given, never an issue). Returns ``[]`` when the
    column has no pattern or every given cell matches; otherwise one issue ``(mask, problem, fix, "warning",
    shown values)`` in the convention of `cinb.cells` (a warning: a bad email must not reject a contract's row
    and with it every pack; `cinb.cpn` makes it an error, because a notice cannot be published with it).
    """
    if not col.pattern:
        return []
    s = pd.Series(list(a), dtype=object)
    given = s.map(lambda v: isinstance(v, str) and v.strip() != "")
    bad = (given & ~s.where(given, "").astype(str).str.strip().str.fullmatch(col.pattern)).to_numpy(dtype=bool)
    if not bad.any():
        return []
    shown = s.where(pd.Series(bad), None).to_numpy(dtype=object)
    return [(bad, f"is not {col.pattern_label}", f"write {col.pattern_label}, or leave the cell empty", "warning",
             shown)]


def output_columns(table: str) -> list[str]:
    """The columns of the loaded frame of ``table`` (history adds ``superseded``)."""
    if table == "measurements":
        return column_names(table) + list(MEASUREMENT_EXTRA)
    if table == "history":
        return column_names("measurements") + list(MEASUREMENT_EXTRA) + ["superseded"]
    return column_names(table)


@dataclass
class RawTable:
    """One table as read from a source, before validation: every cell is text ('' = empty).

    ``frame`` has one column per input column (names lower-cased and stripped) plus ``_row`` (the row number
    a spreadsheet user sees: header = 1) and optionally ``_source`` (per-row source, used by the store).
    ``problems`` are the table-level problems found while reading (as dicts with the problem columns).
    """

    name: str
    frame: pd.DataFrame
    source: str
    sheet: str | None = None
    present: bool = True
    problems: list[dict] = field(default_factory=list)
    #: Columns as written in the file (before lower-casing), for messages.
    header: list[str] = field(default_factory=list)
