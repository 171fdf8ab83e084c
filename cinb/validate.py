"""Validation of raw portfolio tables against the data contract: every problem located, collected, then reported.

The checks are vectorised (whole columns at a time) so a portfolio of 600,000 measurements validates in
seconds; Python loops run only over the rows that are wrong, to word their messages.

Rules decided here (and documented in the user guide):

* Cells are stripped of surrounding spaces; an empty cell is "not given". Choice values (unit, direction,
  credit_method, status, raised_by, yes/no) are matched ignoring case and written back in canonical case.
* Numbers: plain decimals with a full stop (``98.5``, ``-3``, ``1e3``). A trailing ``%`` is accepted where
  the quantity is in percentage points (% KPIs, ``*_pct`` columns) and nowhere else. A comma is rejected
  (``98,5`` might be 98.5 or 985) with the number to write instead. ``nan``/``inf`` are rejected: leave the
  cell empty for "not reported".
* Percent KPIs are in percentage points, at least 0; above 100 is allowed (spend against forecast) but gives
  a warning when none of the KPI's levels is above 100. A measurement of a % KPI written without ``%`` and with
  0 < value <= 1 is *ambiguous* when the KPI's target (or SLA when there is no target) is above 1: it could be a
  fraction (0.985 = 98.5 %) or a small percentage (0.985 %). It is rejected with the two ways of writing
  it unambiguously (``98.5`` or ``0.985%``). With a target of 1 or less, or no target and no SLA, it is taken
  as percentage points.
* Dates are ISO (``2026-10-31``; a time of day is accepted and dropped). Periods are months (``2026-10``); a
  full ISO date in a period column is accepted and means its month (Excel turns ``2026-10`` into a date).
* A period after the current month, or a ``submitted_on`` after today, is an error (a return cannot come
  from the future). A period outside the contract term is an error.
* Duplicate keys (same key and same revision) reject every copy: cinb cannot tell which one is right.
* A row that depends on a rejected row (a KPI of a rejected contract, a measurement of a rejected KPI) is
  rejected too, with a message pointing at the row to fix first.
* Control characters (NUL, escape…) are removed from free text with a warning: they break reports and Excel.
* Warnings never reject a row: a missing month, a value reported empty, a late return (first revision
  submitted more than ``late_after_days`` after the month end), a KPI with no measurements.
* Version 2 (`cinb.validate_regimes`): KPI life spans and aggregation, % KPIs written as fractions of 1,
  volumes, due months of quarterly and annual KPIs, process changes; the warnings follow each KPI's regime.
  A measurement's ``origin`` (``reported``, the default, or ``derived``) is part of its key: a derived row
  never supersedes a reported one. ``measurements`` holds the winning reported rows, ``derived`` the winning
  derived rows; ``history`` holds both. Credit schedules (`cinb.validate_credits`): ``banded`` KPIs, their
  ``credit_bands`` (overlapping or unordered bands) and ``critical_failure_rules`` (rules that could never fire).

The cell parsers are in `cinb.cells`, the problem collector in `cinb.problems` and "did you mean" in
`cinb.hints`; the names tests and callers import from here are re-exported. `validate` runs the column
parsers, then one check function per table (contracts, KPIs, measurements, initiatives, process changes, credit
bands and critical-failure rules, in that order: each resolves its ids against the tables before it), then the row
accounting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .cells import (
    MIN_YEAR,
    NAT_ORDINAL,
    PARSERS,
    clean_text,
    is_empty,
    parse_agreed,
    parse_bool,
    parse_choice,
    parse_date,
    parse_id,
    parse_int,
    parse_number,
    parse_period,
)
from .excel_forms import month_guess
from .hints import close_matches, did_you_mean
from .problems import PROBLEM_FRAME_COLUMNS, Collector, empty_problems
from .schema import (
    KEYS,
    NON_NEGATIVE_UNITS,
    RESERVED,
    TABLE_ORDER,
    TABLES,
    RawTable,
    column_names,
    output_columns,
    pattern_issues,
)
from .validate_regimes import (
    fraction_checks,
    kpi_checks,
    measurement_checks,
    measurement_warnings,
    process_change_checks,
)
from .validate_credits import banded_without_bands, credit_band_checks, failure_rule_checks, kpi_credit_checks

#: A first return submitted more than this many days after its month ends is reported as late (a warning).
LATE_AFTER_DAYS = 15

#: Text columns: pandas 3 has a dedicated string dtype, pandas 2 uses object.
TEXT_DTYPE = "str" if int(pd.__version__.split(".")[0]) >= 3 else object


@dataclass(frozen=True)
class Validated:
    """The typed, accepted rows of each table, the problems found and the row accounting.

    ``contracts``, ``kpis``, ``initiatives``, ``process_changes``, ``credit_bands`` and
    ``critical_failure_rules`` are typed frames sorted by key; ``history``
    every accepted measurement (either origin) with ``superseded``, ``measurements`` the winning revisions of
    reported rows (origin empty or ``reported``) and ``derived`` those of derived rows (all with ``source`` and
    ``row``); ``problems`` (errors) and ``warnings`` are in `PROBLEM_FRAME_COLUMNS`; ``accounting`` has
    ``table, read, used, superseded, rejected``.
    """

    contracts: pd.DataFrame
    kpis: pd.DataFrame
    measurements: pd.DataFrame
    history: pd.DataFrame
    initiatives: pd.DataFrame
    problems: pd.DataFrame  # severity 'error'
    warnings: pd.DataFrame  # severity 'warning'
    accounting: pd.DataFrame
    process_changes: pd.DataFrame = field(default_factory=lambda: empty_frame("process_changes"))
    derived: pd.DataFrame = field(default_factory=lambda: empty_frame("measurements"))
    credit_bands: pd.DataFrame = field(default_factory=lambda: empty_frame("credit_bands"))
    critical_failure_rules: pd.DataFrame = field(default_factory=lambda: empty_frame("critical_failure_rules"))


def as_text(values) -> pd.Series:
    """Text column with NaN for missing ('' and None count as missing), in the text dtype of this pandas."""
    arr = np.array(values, dtype=object)
    missing = pd.isna(arr) | (arr == "")
    if missing.any():
        arr[missing] = np.nan
    return pd.Series(arr, dtype=TEXT_DTYPE)


# ---------------------------------------------------------------------------------------------------------
# Table validation


def _parse_table(t: RawTable, col_issues: Collector) -> dict[str, object]:
    """Parse every contract column of ``t`` by kind; report missing required values and bad cells."""
    f = t.frame
    n = len(f)
    out: dict[str, object] = {}
    for col in TABLES[t.name]:
        if col.name not in f:
            out[col.name] = None
            continue
        s = f[col.name].to_numpy(dtype=object)
        empty = is_empty(s)
        if col.required and col.name != "value":
            col_issues.add(t, empty, col.name, f"required value missing",
                           f"fill in {col.name}" + (" or delete the row" if n else ""))
        if col.kind == "number":
            values, pct, issues = parse_number(s, col)
            out[col.name] = values
            out[col.name + "__pct"] = pct
        elif col.kind == "text":
            out[col.name], issues = clean_text(s)
            issues = issues + pattern_issues(out[col.name], col)
        else:
            values, issues = PARSERS[col.kind](s, col)
            out[col.name] = values
        for issue in issues:
            mask, problem, fix = issue[:3]
            if len(issue) > 3:  # (…, severity, shown value)
                col_issues.add(t, mask, col.name, problem, fix, severity=issue[3], value=issue[4])
            else:
                col_issues.add(t, mask, col.name, problem, fix)
        if col.kind in ("number", "int"):
            v = out[col.name]
            if col.minimum is not None:
                low = v < col.minimum
                if low.any():
                    what = "negative" if col.minimum == 0 else f"below {col.minimum:g}"
                    col_issues.add(t, low, col.name, f"is {what}: {col.name} cannot be below {col.minimum:g}",
                                   "check the sign and the value")
            if col.maximum is not None:
                high = v > col.maximum
                if high.any():
                    col_issues.add(t, high, col.name, f"is above {col.maximum:g}: {col.name} is a percentage",
                                   f"write a value from {col.minimum or 0:g} to {col.maximum:g}")
    return out


def _header_checks(t: RawTable, c: Collector) -> bool:
    """Report missing required columns; returns False when the table cannot be used at all."""
    for p in t.problems:
        c.add_record(p, t)
        if p.get("reject_row") and p.get("row") is not None and len(t.frame):
            # A row the reader could not take as it stands (e.g. more cells than the header).
            c.rejected[t.name] |= t.frame["_row"].to_numpy() == int(p["row"])
    if not t.present:
        return False
    missing = [col.name for col in TABLES[t.name] if col.required and col.name not in t.frame]
    header = ", ".join(t.header) if t.header else "(none)"
    for name in missing:
        hint = did_you_mean(name, [h for h in t.header if h])
        c.add_record({"severity": "error", "row": 1, "column": name,
                      "problem": f"required column {name!r} is missing (the header has: {header})",
                      "fix": (hint + " " if hint else "") + f"add a column named {name} (any case)"}, t)
    if missing:
        c.rejected[t.name][:] = True
        return False
    for name in RESERVED.get(t.name, ()):
        if name in t.frame:
            c.add_record({"severity": "warning", "row": 1, "column": name,
                          "problem": f"column {name!r} is set by cinb; the input column is ignored",
                          "fix": f"rename or remove the column {name}"}, t)
    return True


def _isin(a, values) -> np.ndarray:
    """Hash-based membership test (numpy's isin sorts object arrays, which is slow)."""
    return pd.Series(np.asarray(a, dtype=object)).isin(list(values)).to_numpy(dtype=bool)


def _unit_checks(t: RawTable, c: Collector, col: str, values, has_pct, unit, ref=None, limit=None):
    """Checks that depend on the KPI's unit: % sign, sign, above 100 %, ambiguous fractions."""
    unit = np.asarray(unit, dtype=object)
    is_pct_unit = _isin(unit, ["%"])
    known = _isin(unit, [u for u in NON_NEGATIVE_UNITS] + ["score"])
    wrong_sign = has_pct & ~is_pct_unit & known
    if wrong_sign.any():
        c.add(t, wrong_sign, col, "has a % sign but the KPI is not measured in %",
              np.array([f"remove the % sign (the KPI's unit is {u})" for u in unit], dtype=object))
    nonneg = _isin(unit, NON_NEGATIVE_UNITS)
    neg = nonneg & (values < 0)
    if neg.any():
        c.add(t, neg, col, np.array([f"is negative: a quantity in {u} cannot be below 0" for u in unit],
                                    dtype=object), "check the sign and the value")
    if ref is not None and limit is not None:
        # A % can exceed 100 (spend against forecast), so this is only a warning, and only for KPIs whose
        # own levels are all at most 100 (for those, above 100 is most likely a typing error).
        over = is_pct_unit & (values > 100) & ~(limit > 100)
        if over.any():
            c.add(t, over, col, "is above 100 % while the KPI's levels are at most 100",
                  "check the value (percentage points: 98.5 means 98.5 %)", severity="warning")
    if ref is not None:
        amb = is_pct_unit & ~has_pct & (values > 0) & (values <= 1) & (ref > 1)
        if amb.any():
            idx = np.flatnonzero(amb)
            problems = np.empty(len(values), dtype=object)
            fixes = np.empty(len(values), dtype=object)
            for i in idx:
                v, r = values[i], ref[i]
                problems[i] = (f"is ambiguous for a KPI in %: a fraction ({v * 100:.10g} %) or {v:.10g} % "
                               f"(the target is {r:g})")
                fixes[i] = (f"write {v * 100:.10g} (or {v * 100:.10g}%) if you meant a fraction of 1, or {v:.10g}% "
                            "if you really meant under one percent")
            c.add(t, amb, col, problems, fixes)


def _reference_check(t, c, ok_mask, ids, accepted, rejected_rows, what, source_label):
    """Rows whose ``ids`` are not among ``accepted``: unknown (did you mean) or pointing at a rejected row."""
    accepted = list(accepted)
    unknown = ok_mask & ~_isin(ids, accepted)
    if not unknown.any():
        return unknown
    problems = np.empty(len(ids), dtype=object)
    fixes = np.empty(len(ids), dtype=object)
    hints: dict[str, str] = {}
    for i in np.flatnonzero(unknown):
        v = ids[i]
        if v in rejected_rows:
            problems[i] = f"refers to a {what} that was rejected"
            fixes[i] = f"fix {source_label} row {rejected_rows[v]} first"
            continue
        problems[i] = f"no {what} with this id"
        if v not in hints:
            hints[v] = did_you_mean(v, accepted)
        hint = hints[v]
        if source_label == "the store":
            fixes[i] = (hint + " " if hint else "") + (
                f"the store does not define {what} {v}: ingest the portfolio's definitions first "
                "(cinb ingest PORTFOLIO --into STORE), or give them with --data")
        else:
            fixes[i] = (hint + " " if hint else "") + f"use a {what} id defined in {source_label}"
    col = "contract_id" if what == "contract" else "kpi_id"
    c.add(t, unknown, col, problems, fixes)
    return unknown


def _group_codes(*arrays) -> np.ndarray:
    """One int64 code per distinct combination of the arrays' values (order of first appearance)."""
    code = np.zeros(len(arrays[0]), dtype=np.int64)
    for a in arrays:
        codes, uniques = pd.factorize(np.asarray(a), sort=False)
        code = code * (len(uniques) + 1) + (codes + 1)
        # Re-factorise to keep the code small whatever the number of arrays.
        code = pd.factorize(code)[0].astype(np.int64)
    return code


def _duplicates(t: RawTable, c: Collector, keys: tuple[str, ...], key_arrays: list, valid: np.ndarray,
                shown: list | None = None, column: str | None = None):
    """Reject every copy of a duplicated key among rows whose key columns are valid (reported at ``column``,
    default the last key column)."""
    n = len(t.frame)
    if n < 2:
        return
    code = _group_codes(*key_arrays)
    code = np.where(valid, code, -1 - np.arange(n))  # invalid rows never collide
    dup = pd.Series(code).duplicated(keep=False).to_numpy() & valid
    if not dup.any():
        return
    rows = t.frame["_row"].to_numpy()
    pos = np.flatnonzero(dup)
    groups: dict[int, list[int]] = {}
    for i in pos:
        groups.setdefault(int(code[i]), []).append(int(rows[i]))
    problems = np.empty(n, dtype=object)
    values = np.empty(n, dtype=object)
    shown = shown if shown is not None else key_arrays
    for i in pos:
        others = [r for r in groups[int(code[i])] if r != rows[i]]
        problems[i] = (f"duplicate key ({', '.join(keys)}): same as row{'s' if len(others) > 1 else ''} "
                       + ", ".join(str(r) for r in others))
        values[i] = "/".join(str(a[i]) for a in shown)
    fix = "keep one row per key" + (" or give the restatement a higher revision" if "revision" in keys else "")
    c.add(t, dup, column or keys[-1], problems, fix, value=values)


def _label(t: RawTable) -> str:
    if "://" in t.source:
        return f"table {t.name} of {t.source}"
    return f"{t.source}" + (f", sheet {t.sheet}" if t.sheet else "")


def _typed_frame(t: RawTable, parsed: dict, keep: np.ndarray) -> pd.DataFrame:
    """The accepted rows of ``t`` as a typed frame in contract column order, unknown columns kept as text."""
    f = t.frame
    n = len(f)
    cols = {}
    for col in TABLES[t.name]:
        v = parsed.get(col.name)
        if v is None:
            if col.kind in ("number", "int"):
                v = np.full(n, np.nan if col.default is None else col.default, dtype=float)
            elif col.kind == "date":
                v = np.full(n, np.datetime64("NaT", "us"))
            elif col.kind == "period":
                v = pd.arrays.PeriodArray(np.full(n, NAT_ORDINAL, dtype=np.int64), dtype="period[M]")
            elif col.kind == "bool":  # no default (complete): not said
                v = np.full(n, None if col.default is None else bool(col.default), dtype=object)
            else:
                v = np.full(n, "", dtype=object)
        if isinstance(v, pd.Series):
            v = v.array
        v = v[keep]
        if col.kind in ("id", "text", "choice", "agreed"):
            v = as_text(v)
            if col.default is not None:
                v = v.fillna(col.default).astype(TEXT_DTYPE)
        elif col.kind in ("number", "int"):
            v = pd.Series(np.asarray(v, dtype=float))
            if col.default is not None:
                v = v.fillna(float(col.default))
        elif col.kind == "bool":  # without a default, a nullable boolean: <NA> where not said
            v = pd.Series(pd.array(np.asarray(v, dtype=object), dtype="boolean")) if col.default is None \
                else pd.Series(np.asarray(v, dtype=bool))
        elif col.kind == "date":
            v = pd.Series(np.asarray(v, dtype="datetime64[us]"))
        elif col.kind == "period":
            v = pd.Series(v, dtype="period[M]")
        cols[col.name] = v
    known = set(column_names(t.name)) | set(RESERVED.get(t.name, ())) | {"_row", "_source"}
    for extra in f.columns:
        if extra not in known:
            cols[extra] = as_text(f[extra].to_numpy(dtype=object)[keep])
    out = pd.DataFrame(cols)
    if t.name == "measurements":
        out["revision"] = out["revision"].astype("int64")
        src = f["_source"].to_numpy(dtype=object)[keep] if "_source" in f else np.full(int(keep.sum()), t.source,
                                                                                        dtype=object)
        out["source"] = as_text(src)
        out["row"] = f["_row"].to_numpy()[keep].astype("int64")
    return out


def empty_frame(table: str) -> pd.DataFrame:
    """An empty typed frame with the columns of ``table`` (a table of `TABLE_ORDER`, or history).

    The dtypes are those of a loaded frame (text, float, datetime64, ``period[M]``, bool); KeyError for any
    other table name.
    """
    t = RawTable("measurements" if table == "history" else table,
                 pd.DataFrame({"_row": pd.Series(dtype="int64")}), source="")
    out = _typed_frame(t, {}, np.zeros(0, dtype=bool))
    if table == "history":
        out["superseded"] = pd.Series(dtype=bool)
    return out[output_columns(table)]


def _ordinals(periods) -> np.ndarray:
    """Month ordinals (months since 1970-01; NaT = a large negative marker) of a period Series/array."""
    arr = periods.array if isinstance(periods, pd.Series) else periods
    return np.asarray(arr.asi8, dtype=np.int64)


def validate(raw: dict[str, RawTable], *, today=None, late_after_days: int = LATE_AFTER_DAYS,
             reference: dict[str, pd.DataFrame] | None = None) -> Validated:
    """Validate raw tables against the data contract, collecting every problem.

    Parameters
    ----------
    raw : dict of str to RawTable
        The tables as read, one per table of `TABLE_ORDER` (``contracts``, ``kpis``, ``measurements``,
        ``initiatives``, ``process_changes``, ``credit_bands``, ``critical_failure_rules``); a table with
        ``present=False`` was not in the source.
    today : date-like, optional
        The day against which future periods and dates are judged (default: today).
    late_after_days : int
        A first return submitted more than this many days after its month ends gives a warning.
    reference : dict of str to DataFrame, optional
        Already-accepted typed ``contracts``, ``kpis``, ``history`` and ``credit_bands`` (e.g. from a store): ids
        are resolved against them when the raw tables do not define them, keys already stored are duplicates,
        and a banded KPI's stored bands count as its bands.

    Returns
    -------
    Validated
        Accepted typed rows, problems (errors), warnings and the row accounting.
    """
    today = pd.Timestamp(today if today is not None else pd.Timestamp.now().date()).normalize()
    this_month = today.to_period("M")
    reference = reference or {}
    c = Collector(raw)
    parsed: dict[str, dict] = {}
    usable: dict[str, bool] = {}
    for name in TABLE_ORDER:
        t = raw[name]
        usable[name] = _header_checks(t, c)
        parsed[name] = _parse_table(t, c) if usable[name] else {}

    contracts, known_c = _validate_contracts(raw["contracts"], parsed["contracts"], usable["contracts"], c,
                                             reference)
    fraction_checks(raw["kpis"], parsed["kpis"], c, raw["measurements"], parsed["measurements"], reference)
    kpis, known_k = _validate_kpis(raw["kpis"], parsed["kpis"], usable["kpis"], c, reference, known_c)
    history, measurements, derived, superseded_count = _validate_measurements(
        raw, parsed["measurements"], usable["measurements"], c, reference, known_c, known_k, kpis,
        today=today, this_month=this_month, late_after_days=late_after_days)
    initiatives = _validate_initiatives(raw["initiatives"], parsed["initiatives"], usable["initiatives"], c,
                                        known_c, known_k)
    changes = _validate_process_changes(raw["process_changes"], parsed["process_changes"],
                                        usable["process_changes"], c, known_c, known_k)
    bands, rules = _validate_credit_tables(raw, parsed, usable, c, known_c, known_k, reference)
    used = {"contracts": len(contracts), "kpis": len(kpis), "measurements": len(measurements) + len(derived),
            "initiatives": len(initiatives), "process_changes": len(changes), "credit_bands": len(bands),
            "critical_failure_rules": len(rules)}
    accounting = _accounting(raw, c, used, superseded_count)

    problems = c.frame()
    errors = problems[(problems["severity"] == "error").to_numpy()].reset_index(drop=True)
    warnings = problems[(problems["severity"] == "warning").to_numpy()].reset_index(drop=True)
    return Validated(_sorted(contracts, ["contract_id"]), _sorted(kpis, ["contract_id", "kpi_id"]),
                     measurements, history, _sorted(initiatives, ["contract_id", "initiative_id"]),
                     errors, warnings, accounting, _sorted(changes, ["contract_id", "kpi_id", "period"]), derived,
                     _sorted(bands, list(KEYS["credit_bands"])), _sorted(rules, list(KEYS["critical_failure_rules"])))


@dataclass(frozen=True)
class _Known:
    """The ids a later table may refer to: accepted rows (this load's and the reference's) and rejected rows.

    ``frame`` is the typed frame of accepted rows plus the reference rows it does not redefine; ``rejected``
    maps the key of each rejected row to its spreadsheet row; ``label`` names where the table came from
    (``"the store"`` when it was not in this load).
    """

    frame: pd.DataFrame
    rejected: dict
    label: str


def _validate_contracts(t: RawTable, p: dict, usable: bool, c: Collector, reference: dict):
    """Contract checks (term, duplicate ids); returns the typed contracts and the contracts ids refer to."""
    if usable:
        backwards = p["end_date"] < p["start_date"]
        c.add(t, backwards, "end_date", "is before start_date", "check the contract term dates")
        ids = p["contract_id"]
        _duplicates(t, c, KEYS["contracts"], [ids], ids != "")
    contracts = _typed_frame(t, p, ~c.rejected["contracts"]) if usable else empty_frame("contracts")
    if len(contracts):
        contracts["monthly_charge_gbp"] = contracts["monthly_charge_gbp"].fillna(contracts["annual_value_gbp"] / 12)
    rejected_contracts = _rejected_rows(t, c, "contract_id", usable)
    known_contracts = _merge_reference(contracts, reference.get("contracts"), KEYS["contracts"])
    contracts_label = _label(t) if t.present else "the store"
    return contracts, _Known(known_contracts, rejected_contracts, contracts_label)


def _validate_kpis(t: RawTable, p: dict, usable: bool, c: Collector, reference: dict, known_c: _Known):
    """KPI checks (contract known, duplicates, unit-dependent levels, credits, life span and aggregation);
    returns the typed KPIs and the KPIs ids refer to."""
    known_contracts, rejected_contracts, contracts_label = known_c.frame, known_c.rejected, known_c.label
    if usable:
        kpi_checks(t, p, c, known_contracts)
        n = len(t.frame)
        cid, kid = p["contract_id"], p["kpi_id"]
        _reference_check(t, c, cid != "", cid, known_contracts["contract_id"], rejected_contracts,
                         "contract", contracts_label)
        _duplicates(t, c, KEYS["kpis"], [cid, kid], (cid != "") & (kid != ""))
        unit = p["unit"]
        for col in ("sla", "target", "tolerance", "critical", "baseline", "ci_target"):
            if p.get(col) is not None:
                _unit_checks(t, c, col, p[col], p[col + "__pct"], unit)
        method = p.get("credit_method")
        if method is not None:
            credit = p.get("credit_pct")
            no_pct = (method == "fixed") & (np.isnan(credit) if credit is not None else np.ones(n, dtype=bool))
            c.add(t, no_pct, "credit_pct", "is empty but credit_method is fixed",
                  "give the % of the monthly charge credited for each month the SLA is missed",
                  value=np.full(n, None))
            short = (method == "shortfall") & (unit != "") & (unit != "%")
            c.add(t, short, "credit_method", "is shortfall but the KPI is not measured in %",
                  "use fixed (with credit_pct) or none for KPIs not in %")
            kpi_credit_checks(t, p, c)
    kpis = _typed_frame(t, p, ~c.rejected["kpis"]) if usable else empty_frame("kpis")
    rejected_kpis = _rejected_rows(t, c, ("contract_id", "kpi_id"), usable)
    known_kpis = _merge_reference(kpis, reference.get("kpis"), KEYS["kpis"])
    kpis_label = _label(t) if t.present else "the store"
    return kpis, _Known(known_kpis, rejected_kpis, kpis_label)


def _kpi_check(t: RawTable, c: Collector, cid, kid, unknown_c, known_k: _Known, fix_tail: str) -> np.ndarray:
    """Rows whose KPI is not among ``known_k`` (error: did you mean, or the rejected row to fix first).

    ``fix_tail`` ends the fix of an unknown KPI and is formatted with ``cid`` (the row's contract) and
    ``label`` (where the KPIs come from). Returns each row's position in ``known_k.frame`` (-1 when unknown).
    """
    n = len(cid)
    known_kpis = known_k.frame
    kpi_index = pd.MultiIndex.from_arrays([known_kpis["contract_id"].to_numpy(dtype=object),
                                           known_kpis["kpi_id"].to_numpy(dtype=object)])
    pos = kpi_index.get_indexer(pd.MultiIndex.from_arrays([cid, kid])) if n and len(kpi_index) else np.full(n, -1)
    bad = (cid != "") & (kid != "") & ~unknown_c & (pos < 0)
    if bad.any():
        by_contract = known_kpis.groupby("contract_id")["kpi_id"].agg(list).to_dict()
        problems = np.empty(n, dtype=object)
        fixes = np.empty(n, dtype=object)
        for i in np.flatnonzero(bad):
            key = (cid[i], kid[i])
            if key in known_k.rejected:
                problems[i] = "refers to a KPI that was rejected"
                fixes[i] = f"fix {known_k.label} row {known_k.rejected[key]} first"
            else:
                problems[i] = f"no KPI with this id in contract {cid[i]}"
                hint = did_you_mean(kid[i], by_contract.get(cid[i], []))
                fixes[i] = (hint + " " if hint else "") + fix_tail.format(cid=cid[i], label=known_k.label)
        c.add(t, bad, "kpi_id", problems, fixes)
    return pos


def _validate_measurements(raw: dict[str, RawTable], p: dict, usable: bool, c: Collector, reference: dict,
                           known_c: _Known, known_k: _Known, kpis: pd.DataFrame, *, today, this_month,
                           late_after_days: int):
    """Measurement checks, then the winning revisions and the warnings (missing months, late returns…).

    Checks: ids known, value against the KPI's unit, month in the contract term and not in the future,
    revisions (numbered after what is stored, per origin), duplicate keys, and the version-2 checks of
    `cinb.validate_regimes.measurement_checks` (volumes, due months, the KPI's life span).

    Returns ``(history, measurements, derived, superseded)``: every accepted row with ``superseded``, the
    winning revision of each contract, KPI and month among reported rows and among derived rows, and the
    number of rows superseded.
    """
    t = raw["measurements"]
    known_contracts, rejected_contracts, contracts_label = known_c.frame, known_c.rejected, known_c.label
    known_kpis = known_k.frame
    history = empty_frame("history")
    superseded_count = 0
    if usable:
        n = len(t.frame)
        cid, kid = p["contract_id"], p["kpi_id"]
        per_ord = _ordinals(p["period"])
        per_ok = per_ord != NAT_ORDINAL
        unknown_c = _reference_check(t, c, cid != "", cid, known_contracts["contract_id"],
                                     rejected_contracts, "contract", contracts_label)
        pos = _kpi_check(t, c, cid, kid, unknown_c, known_k, "use a kpi_id defined for {cid} in {label}")
        has_kpi = pos >= 0
        safe = np.where(has_kpi, pos, 0)
        if len(known_kpis):
            unit = np.where(has_kpi, known_kpis["unit"].to_numpy(dtype=object)[safe], "")
            target = known_kpis["target"].to_numpy(dtype=float)[safe]
            sla = known_kpis["sla"].to_numpy(dtype=float)[safe]
            levels = known_kpis[["sla", "target", "critical", "baseline", "ci_target"]].max(axis=1)
            limit = levels.to_numpy(dtype=float)[safe]
        else:
            unit = np.full(n, "", dtype=object)
            target = sla = limit = np.full(n, np.nan)
        ref = np.where(has_kpi, np.where(np.isnan(target), sla, target), np.nan)
        _unit_checks(t, c, "value", p["value"], p["value__pct"], unit, ref=ref, limit=limit)
        cal = measurement_checks(t, p, c, known_kpis, known_contracts, pos, reference.get("history"))

        # Period against the contract term and today.
        cpos = pd.Index(known_contracts["contract_id"].to_numpy(dtype=object)).get_indexer(cid) \
            if n and len(known_contracts) else np.full(n, -1)
        has_c = (cpos >= 0) & per_ok
        if has_c.any():
            csafe = np.where(has_c, cpos, 0)
            start = _ordinals(known_contracts["start_date"].dt.to_period("M"))[csafe]
            end = _ordinals(known_contracts["end_date"].dt.to_period("M"))[csafe]
            before = has_c & (per_ord < start)
            after = has_c & (per_ord > end)
            if before.any() or after.any():
                terms = {}
                fixes = np.empty(n, dtype=object)
                for i in np.flatnonzero(before | after):
                    j = csafe[i]
                    if j not in terms:
                        row = known_contracts.iloc[j]
                        terms[j] = (f"check the period: {row['contract_id']} runs from "
                                    f"{row['start_date']:%Y-%m-%d} to {row['end_date']:%Y-%m-%d}")
                    fixes[i] = terms[j]
                c.add(t, before, "period", "is before the contract started", fixes)
                c.add(t, after, "period", "is after the contract ended", fixes)
        future = per_ok & (per_ord > this_month.ordinal)
        c.add(t, future, "period", f"is in the future (today is {today:%Y-%m-%d})",
              "check the period; a month can be reported once it has begun")
        if p.get("submitted_on") is not None:
            late_sub = p["submitted_on"] > np.datetime64(today.date(), "us")
            c.add(t, late_sub, "submitted_on", f"is in the future (today is {today:%Y-%m-%d})",
                  "check the date the return was received")

        # Revisions: missing means "the next after what is already stored" (1 when nothing is), per origin.
        org = (p["origin"] == "derived").astype(np.int64) if p.get("origin") is not None else np.zeros(n, np.int64)
        rev = p["revision"] if p.get("revision") is not None else np.full(n, np.nan)
        rev = np.array(rev, dtype=float)
        keys_ok = (cid != "") & (kid != "") & per_ok
        stored = reference.get("history")
        if stored is not None and len(stored):
            s_org = (stored["origin"] == "derived").to_numpy(dtype=np.int64)
            s_key = pd.MultiIndex.from_arrays([stored["contract_id"].to_numpy(dtype=object),
                                               stored["kpi_id"].to_numpy(dtype=object), _ordinals(stored["period"]),
                                               s_org])
            last = pd.Series(stored["revision"].to_numpy(dtype=float), index=s_key).groupby(level=[0, 1, 2, 3]).max()
            new_key = pd.MultiIndex.from_arrays([cid, kid, per_ord, org])
            prev = last.reindex(new_key).to_numpy(dtype=float)
            rev = np.where(np.isnan(rev), np.where(np.isnan(prev), 1, prev + 1), rev)
            stored_keys = pd.MultiIndex.from_arrays([s_key.get_level_values(i) for i in range(4)]
                                                    + [stored["revision"].to_numpy(dtype=float)])
            again = keys_ok & pd.MultiIndex.from_arrays([cid, kid, per_ord, org, rev]).isin(stored_keys)
            if again.any():
                nxt = np.where(np.isnan(prev), rev, np.fmax(prev, rev)) + 1
                c.add(t, again, "revision", "this revision of this month is already stored",
                      np.array([f"to correct it, send revision {int(r)} with a note saying why" if not np.isnan(r)
                                else "" for r in nxt], dtype=object),
                      value=np.array([f"{int(r)}" if not np.isnan(r) else "" for r in rev], dtype=object))
        rev = np.where(np.isnan(rev), 1, rev)
        p["revision"] = rev
        with np.errstate(invalid="ignore"):  # a non-finite revision is rejected by its own check above
            shown_rev = rev.astype(int)
        dup_keys, dup_arrays = KEYS["measurements"], [cid, kid, per_ord, rev]
        shown = [cid, kid, t.frame["period"].to_numpy(dtype=object), shown_rev]
        if "origin" in t.frame:  # a reported and a derived row of the same month and revision are no duplicates
            dup_keys, dup_arrays = dup_keys + ("origin",), dup_arrays + [org]
            shown = shown + [np.where(org == 1, "derived", "reported")]
        _duplicates(t, c, dup_keys, dup_arrays, keys_ok, shown=shown, column="revision")

        keep = ~c.rejected["measurements"]
        history = _typed_frame(t, p, keep)
        # Sort by contract, KPI, month, origin, revision (factorised codes: sorting 600k strings is slow).
        cc = pd.factorize(history["contract_id"].to_numpy(dtype=object), sort=True)[0]
        kc = pd.factorize(history["kpi_id"].to_numpy(dtype=object), sort=True)[0]
        ho = _ordinals(history["period"])
        hg = (history["origin"] == "derived").to_numpy(dtype=np.int64)
        hr = history["revision"].to_numpy()
        order = np.lexsort((hr, hg, ho, kc, cc))
        history = history.iloc[order].reset_index(drop=True)
        cc, kc, ho, hg, hr = cc[order], kc[order], ho[order], hg[order], hr[order]
        # Within sorted keys, a row is superseded when the next row has the same key (a higher revision).
        same_next = np.zeros(len(history), dtype=bool)
        if len(history) > 1:
            same_next[:-1] = (cc[1:] == cc[:-1]) & (kc[1:] == kc[:-1]) & (ho[1:] == ho[:-1]) & (hg[1:] == hg[:-1])
        history["superseded"] = same_next
        superseded_count = int(same_next.sum())
        # A rejected row's month was reported (its error says what to fix): it is not also a missing month.
        rej = np.flatnonzero(c.rejected["measurements"] & (cid != "") & (kid != ""))
        tried = set(zip(cid[rej], kid[rej], [int(o) if ok else month_guess(v) for o, ok, v in zip(
            per_ord[rej], per_ok[rej], t.frame["period"].to_numpy(dtype=object)[rej])]))
        measurement_warnings(t, c, history, (cc, kc, ho, hg, hr), pos[keep][order], cal, kpis, raw["kpis"],
                             late_after_days=late_after_days, this_month=this_month, tried=tried)
    winners = ~history["superseded"].to_numpy(dtype=bool)
    is_derived = (history["origin"] == "derived").to_numpy(dtype=bool)
    front = output_columns("history")
    history = history[front + [x for x in history.columns if x not in front]]
    mfront = output_columns("measurements")

    def pick(mask):
        out = history[mask].drop(columns="superseded").reset_index(drop=True)
        return out[mfront + [x for x in out.columns if x not in mfront]]

    return history, pick(winners & ~is_derived), pick(winners & is_derived), superseded_count


def _validate_initiatives(t: RawTable, p: dict, usable: bool, c: Collector, known_c: _Known, known_k: _Known):
    """Initiative checks (contract and KPI known, duplicates); returns the typed initiatives."""
    if usable:
        cid, iid = p["contract_id"], p["initiative_id"]
        unknown_c = _reference_check(t, c, cid != "", cid, known_c.frame["contract_id"], known_c.rejected,
                                     "contract", known_c.label)
        if p.get("kpi_id") is not None:
            _kpi_check(t, c, cid, p["kpi_id"], unknown_c, known_k, "use a kpi_id of contract {cid}, or leave it empty")
        _duplicates(t, c, KEYS["initiatives"], [cid, iid], (cid != "") & (iid != ""))
    return _typed_frame(t, p, ~c.rejected["initiatives"]) if usable else empty_frame("initiatives")


def _validate_process_changes(t: RawTable, p: dict, usable: bool, c: Collector, known_c: _Known,
                              known_k: _Known):
    """Process change checks (contract and KPI known, month in the term and the KPI's life span, baseline
    length, duplicates); returns the typed process changes (empty, with the contract's columns, when absent)."""
    if not usable:
        return empty_frame("process_changes")
    cid, kid = p["contract_id"], p["kpi_id"]
    unknown_c = _reference_check(t, c, cid != "", cid, known_c.frame["contract_id"], known_c.rejected, "contract",
                                 known_c.label)
    pos = _kpi_check(t, c, cid, kid, unknown_c, known_k, "use a kpi_id defined for {cid} in {label}")
    process_change_checks(t, p, c, known_c.frame, known_k.frame, pos)
    per_ord = _ordinals(p["period"])
    _duplicates(t, c, KEYS["process_changes"], [cid, kid, per_ord],
                (cid != "") & (kid != "") & (per_ord != NAT_ORDINAL),
                shown=[cid, kid, t.frame["period"].to_numpy(dtype=object)])
    return _typed_frame(t, p, ~c.rejected["process_changes"])


def _validate_credit_tables(raw: dict[str, RawTable], parsed: dict, usable: dict, c: Collector, known_c: _Known,
                            known_k: _Known, reference: dict):
    """Credit bands and critical-failure rules: ids known (a rule's empty kpi_id: every KPI), duplicate rules, then
    `cinb.validate_credits`; a banded KPI without bands warned. Returns the typed ``(bands, rules)``."""
    out = {}
    for name, tail in (("credit_bands", ""), ("critical_failure_rules", ", or leave it empty for every KPI")):
        t, p = raw[name], parsed[name]
        if not usable[name]:
            out[name] = empty_frame(name)
            continue
        cid = p["contract_id"]
        kid = p["kpi_id"] if p.get("kpi_id") is not None else np.full(len(cid), "", dtype=object)
        unknown_c = _reference_check(t, c, cid != "", cid, known_c.frame["contract_id"], known_c.rejected,
                                     "contract", known_c.label)
        pos = _kpi_check(t, c, cid, kid, unknown_c, known_k, "use a kpi_id defined for {cid} in {label}" + tail)
        if name == "credit_bands":
            credit_band_checks(t, p, c, known_k.frame, pos)
        else:
            _duplicates(t, c, KEYS[name], [cid, kid], cid != "", shown=[cid, np.where(kid == "", "(every KPI)", kid)])
            failure_rule_checks(t, p, c, known_k.frame, pos)
        out[name] = _typed_frame(t, p, ~c.rejected[name])
    banded_without_bands(raw["kpis"], parsed["kpis"], c, [out["credit_bands"], reference.get("credit_bands")])
    return out["credit_bands"], out["critical_failure_rules"]


def _accounting(raw: dict[str, RawTable], c: Collector, used: dict[str, int], superseded_count: int):
    """Rows read, used, superseded and rejected per table; raises AssertionError if they do not balance."""
    rows = []
    for name in TABLE_ORDER:
        read = len(raw[name].frame) if raw[name].present else 0
        rejected = int(c.rejected[name].sum()) if raw[name].present else 0
        superseded = superseded_count if name == "measurements" else 0
        if read != used[name] + superseded + rejected:  # an invariant: never let a row go unaccounted
            raise AssertionError(f"row accounting does not balance for {name}: read {read}, used {used[name]}, "
                                 f"superseded {superseded}, rejected {rejected}")
        rows.append({"table": name, "read": read, "used": used[name], "superseded": superseded,
                     "rejected": rejected})
    return pd.DataFrame(rows, columns=["table", "read", "used", "superseded", "rejected"])


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable").reset_index(drop=True) if len(frame) else frame


def _rejected_rows(t: RawTable, c: Collector, key, usable: bool) -> dict:
    """Map key -> spreadsheet row of rows rejected by an error (to explain cascading rejections)."""
    if not usable or not c.rejected[t.name].any():
        return {}
    f = t.frame[c.rejected[t.name]]
    if isinstance(key, str):
        if key not in f:
            return {}
        return {k: r for k, r in zip(f[key], f["_row"]) if k}
    if any(k not in f for k in key):
        return {}
    return {tuple(ks): r for *ks, r in zip(*(f[k] for k in key), f["_row"]) if all(ks)}


def _merge_reference(new: pd.DataFrame, ref: pd.DataFrame | None, keys) -> pd.DataFrame:
    """Rows of ``new`` plus those of ``ref`` whose key ``new`` does not redefine."""
    if ref is None or not len(ref):
        return new
    if not len(new):
        return ref.reset_index(drop=True)
    new_keys = pd.MultiIndex.from_frame(new[list(keys)].astype(object))
    ref_keys = pd.MultiIndex.from_frame(ref[list(keys)].astype(object))
    return pd.concat([new, ref[~ref_keys.isin(new_keys)]], ignore_index=True)


# Names importable from here for callers of the cell parsers and helpers that moved to cinb.cells,
# cinb.hints and cinb.problems.
__all__ = ["LATE_AFTER_DAYS", "MIN_YEAR", "PROBLEM_FRAME_COLUMNS", "TEXT_DTYPE", "Validated", "as_text",
           "close_matches", "did_you_mean", "empty_frame", "empty_problems", "parse_agreed", "parse_bool",
           "parse_choice", "parse_date", "parse_id", "parse_int", "parse_number", "parse_period", "validate"]
