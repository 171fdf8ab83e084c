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
* Warnings never reject a row: a missing month, a value reported empty, a late return (first revision
  submitted more than ``late_after_days`` after the month end), a KPI with no measurements.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import PROBLEM_COLUMNS
from .schema import (
    ID_PATTERN,
    KEYS,
    NON_NEGATIVE_UNITS,
    RESERVED,
    TABLE_ORDER,
    TABLES,
    UNIT_COLUMNS,
    UNIT_SYNONYMS,
    Column,
    RawTable,
    column_names,
    output_columns,
)

#: A first return submitted more than this many days after its month ends is reported as late (a warning).
LATE_AFTER_DAYS = 15

#: Problems frames carry the contract a row belongs to, so a per-contract view can filter them.
PROBLEM_FRAME_COLUMNS = PROBLEM_COLUMNS + ["contract_id"]

#: Text columns: pandas 3 has a dedicated string dtype, pandas 2 uses object.
TEXT_DTYPE = "str" if int(pd.__version__.split(".")[0]) >= 3 else object

_NUMBER_RE = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_THOUSANDS_RE = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"
_DECIMAL_COMMA_RE = r"[+-]?\d*,\d+"
_NONFINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "n/a", "#n/a",
              "#num!", "#div/0!", "#value!", "#ref!", "#name?", "#null!"}
_DATE_RE = r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
_PERIOD_RE = r"\d{4}-\d{2}(?:-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?)?"
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0"}


@dataclass(frozen=True)
class Validated:
    """The typed, accepted rows of each table, the problems found and the row accounting."""

    contracts: pd.DataFrame
    kpis: pd.DataFrame
    measurements: pd.DataFrame
    history: pd.DataFrame
    initiatives: pd.DataFrame
    problems: pd.DataFrame  # severity 'error'
    warnings: pd.DataFrame  # severity 'warning'
    accounting: pd.DataFrame


# ---------------------------------------------------------------------------------------------------------
# Helpers


def close_matches(value: str, candidates, n: int = 3) -> list[str]:
    """Up to ``n`` candidates that look like ``value`` (same text ignoring case first, then similar text)."""
    cands = [c for c in dict.fromkeys(str(c) for c in candidates)]
    value = str(value)
    same_case = [c for c in cands if c.lower() == value.lower() and c != value]
    if len(value) >= 3:
        same_case += [c for c in cands if value.lower() in c.lower() and c != value]
    lowered = {c.lower(): c for c in cands}
    scored = sorted(((difflib.SequenceMatcher(None, value.lower(), c).ratio(), c) for c in lowered), reverse=True)
    best = scored[0][0] if scored else 0
    # Only the near-best: one clear candidate is more useful than three loose ones.
    similar = [lowered[c] for r, c in scored[:n] if r >= 0.6 and r >= best - 0.08]
    return list(dict.fromkeys(same_case + similar))[:n]


def did_you_mean(value: str, candidates) -> str:
    """``"did you mean 'X'?"`` for the closest candidates, or ``""`` when nothing is close."""
    matches = close_matches(value, candidates)
    if not matches:
        return ""
    return "did you mean " + " or ".join(repr(m) for m in matches) + "?"


def empty_problems() -> pd.DataFrame:
    """An empty problems frame with the problem columns."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in PROBLEM_FRAME_COLUMNS})


def as_text(values) -> pd.Series:
    """Text column with NaN for missing ('' counts as missing), in the text dtype of this pandas."""
    s = pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values
    s = s.astype(object).where(s.notna() & (s.astype(object) != ""), np.nan)
    return s.astype(TEXT_DTYPE)


def _arr(x, idx):
    if isinstance(x, pd.Series):
        return x.to_numpy(dtype=object)[idx]
    if isinstance(x, np.ndarray):
        return x.astype(object)[idx]
    return x


def _shown(v):
    return None if v is None or v == "" else v


def _suggest_id(v: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", v.strip()).strip("-._")[:64]
    return f"e.g. {cleaned!r}" if cleaned else "e.g. 'C-001'"


class _Collector:
    """Gathers problems from every check as small frames; marks the rows that an error rejects."""

    def __init__(self, raw: dict[str, RawTable]):
        self.parts: list[pd.DataFrame] = []
        self.rejected = {name: np.zeros(len(t.frame), dtype=bool) for name, t in raw.items()}

    def add(self, t: RawTable, mask, column, problem, fix, *, severity="error", value=None):
        mask = np.asarray(mask, dtype=bool)
        idx = np.flatnonzero(mask)
        if not len(idx):
            return
        f = t.frame
        if value is None:
            vals = f[column].to_numpy(dtype=object)[idx] if column in f else None
        else:
            vals = _arr(value, idx)
        if isinstance(vals, np.ndarray):
            vals = np.array([_shown(v) for v in vals], dtype=object)
        part = pd.DataFrame(
            {
                "severity": severity,
                "source": f["_source"].to_numpy(dtype=object)[idx] if "_source" in f else t.source,
                "sheet": t.sheet,
                "table": t.name,
                "row": f["_row"].to_numpy()[idx],
                "column": column,
                "value": vals,
                "problem": _arr(problem, idx),
                "fix": _arr(fix, idx),
                "contract_id": f["contract_id"].to_numpy(dtype=object)[idx] if "contract_id" in f else None,
            },
            index=range(len(idx)),
        )
        self.parts.append(part)
        if severity == "error":
            self.rejected[t.name] |= mask

    def add_record(self, record: dict, t: RawTable | None = None):
        rec = {c: record.get(c) for c in PROBLEM_FRAME_COLUMNS}
        rec["severity"] = record.get("severity", "error")
        if t is not None:
            rec["source"] = rec["source"] or t.source
            rec["sheet"] = rec["sheet"] or t.sheet
            rec["table"] = rec["table"] or t.name
        self.parts.append(pd.DataFrame([rec], columns=PROBLEM_FRAME_COLUMNS))

    def frame(self) -> pd.DataFrame:
        parts = [p for p in self.parts if len(p)]
        if not parts:
            return empty_problems()
        out = pd.concat(parts, ignore_index=True)
        order = {name: i for i, name in enumerate(TABLE_ORDER)}
        out["_t"] = out["table"].map(order).fillna(len(order))
        out["_r"] = pd.to_numeric(out["row"], errors="coerce").fillna(0)
        out = out.sort_values(["severity", "_t", "source", "_r"], kind="stable", key=None)
        out = out.drop(columns=["_t", "_r"]).reset_index(drop=True)
        out["row"] = pd.array(pd.to_numeric(out["row"], errors="coerce"), dtype="Int64")
        return out[PROBLEM_FRAME_COLUMNS]


# ---------------------------------------------------------------------------------------------------------
# Cell parsers: each returns typed values and a list of (mask, problem, fix) issues; empty cells are missing.


def parse_number(s: pd.Series, col: Column):
    """Numbers with a full stop; ``%`` suffix only where ``col.pct_sign``. Returns (values, has_pct, issues)."""
    n = len(s)
    empty = (s == "").to_numpy()
    pct = s.str.endswith("%").to_numpy(dtype=bool)
    body = s.str.removesuffix("%").str.strip() if pct.any() else s
    ok = body.str.fullmatch(_NUMBER_RE).to_numpy(dtype=bool)
    values = np.array(pd.to_numeric(body.where(ok, "nan"), errors="coerce"), dtype=float)
    values[~ok] = np.nan
    issues = []
    bad = ~empty & ~ok
    if bad.any():
        idx = np.flatnonzero(bad)
        problems = np.empty(n, dtype=object)
        fixes = np.empty(n, dtype=object)
        example = "98.5 or 98.5%" if col.pct_sign else "1250 or 98.5"
        for i in idx:
            b = body.iat[i]
            low = b.lower()
            if low in _NONFINITE:
                problems[i] = "is not a finite number"
                fixes[i] = "leave the cell empty if no value was reported, otherwise write the number"
            elif re.fullmatch(_THOUSANDS_RE, b):
                problems[i] = "contains a comma: thousands separator or decimal comma?"
                fixes[i] = (f"write {b.replace(',', '')} (no thousands separators) or, if the comma is a decimal "
                            f"point, {b.replace(',', '.')}")
            elif re.fullmatch(_DECIMAL_COMMA_RE, b):
                problems[i] = "uses a decimal comma"
                fixes[i] = f"write {b.replace(',', '.')} (a full stop as decimal point)"
            elif b[:1] in "£$€" and re.fullmatch(_NUMBER_RE, b[1:].replace(",", "")):
                problems[i] = "has a currency sign"
                fixes[i] = f"write {b[1:].replace(',', '')} (amounts are in GBP, without the £ sign)"
            else:
                problems[i] = "is not a number"
                fixes[i] = f"write a plain number such as {example}; leave the cell empty if not reported"
        issues.append((bad, problems, fixes))
    inf = ok & ~np.isfinite(values) & ~np.isnan(values)
    if inf.any():
        values[inf] = np.nan
        issues.append((inf, "is too large to be a number", "check the value"))
    if not col.pct_sign:
        wrong_pct = pct & ok
        if wrong_pct.any():
            issues.append((wrong_pct, f"has a % sign but {col.name} is not a percentage",
                           "remove the % sign"))
            values[wrong_pct] = np.nan
    return values, pct & ok, issues


def parse_int(s: pd.Series, col: Column):
    """Whole numbers (``2`` or ``2.0``)."""
    values, pct, issues = parse_number(s, Column(col.name, "number"))
    frac = ~np.isnan(values) & (np.floor(values) != values)
    if frac.any():
        issues.append((frac, "is not a whole number", "write a whole number, e.g. 2"))
        values[frac] = np.nan
    return values, issues


def parse_date(s: pd.Series, col: Column):
    """ISO dates (a time of day is dropped)."""
    empty = (s == "").to_numpy()
    shape = s.str.fullmatch(_DATE_RE).to_numpy(dtype=bool)
    dates = pd.to_datetime(s.str.slice(0, 10).where(shape, None), format="%Y-%m-%d", errors="coerce")
    issues = []
    bad_shape = ~empty & ~shape
    if bad_shape.any():
        fixes = np.empty(len(s), dtype=object)
        for i in np.flatnonzero(bad_shape):
            m = re.fullmatch(r"(\d{1,2})[/.](\d{1,2})[/.](\d{4})", s.iat[i])
            hint = f" (if you meant day {m[1]}, month {m[2]}: {m[3]}-{int(m[2]):02d}-{int(m[1]):02d})" if m else ""
            fixes[i] = f"write the date as YYYY-MM-DD, e.g. 2026-10-31{hint}"
        issues.append((bad_shape, "is not a date in ISO form YYYY-MM-DD", fixes))
    unreal = shape & dates.isna().to_numpy()
    if unreal.any():
        issues.append((unreal, "is not a real calendar date", "check the day and month"))
    return dates, issues


def parse_period(s: pd.Series, col: Column):
    """Months ``YYYY-MM``; an ISO date means its month."""
    empty = (s == "").to_numpy()
    shape = s.str.fullmatch(_PERIOD_RE).to_numpy(dtype=bool)
    firsts = (s.str.slice(0, 7) + "-01").where(shape, None)
    dates = pd.to_datetime(firsts, format="%Y-%m-%d", errors="coerce")
    # A full date must itself be real (2026-02-30 is not).
    full = shape & (s.str.len() > 7).to_numpy()
    if full.any():
        real = pd.to_datetime(s.str.slice(0, 10).where(full, None), format="%Y-%m-%d", errors="coerce")
        dates = dates.where(~(full & real.isna().to_numpy()))
    periods = dates.dt.to_period("M")
    issues = []
    bad_shape = ~empty & ~shape
    if bad_shape.any():
        issues.append((bad_shape, "is not a month in the form YYYY-MM",
                       "write the month as YYYY-MM, e.g. 2026-10 for October 2026"))
    unreal = shape & periods.isna().to_numpy()
    if unreal.any():
        issues.append((unreal, "is not a real month", "the month must be 01 to 12, e.g. 2026-10"))
    return periods, issues


def parse_choice(s: pd.Series, col: Column):
    """One of ``col.choices``, ignoring case; written back in canonical case."""
    canon = {c.lower(): c for c in col.choices}
    low = s.str.lower()
    known = low.isin(list(canon)).to_numpy()
    empty = (s == "").to_numpy()
    values = low.map(canon).where(known, np.nan)
    bad = ~known & ~empty
    issues = []
    if bad.any():
        fixes = np.empty(len(s), dtype=object)
        allowed = ", ".join(col.choices)
        for i in np.flatnonzero(bad):
            v = s.iat[i]
            guess = UNIT_SYNONYMS.get(v.lower()) if col.name == "unit" else None
            hint = f"did you mean {guess!r}?" if guess else did_you_mean(v, col.choices)
            fixes[i] = (hint + " " if hint else "") + f"use one of: {allowed}"
        issues.append((bad, f"is not a valid {col.name}", fixes))
    return values, issues


def parse_bool(s: pd.Series, col: Column):
    """yes/no (also y/n, true/false, 1/0)."""
    low = s.str.lower()
    yes = low.isin(list(_YES)).to_numpy()
    no = low.isin(list(_NO)).to_numpy()
    empty = (s == "").to_numpy()
    bad = ~(yes | no | empty)
    values = np.where(yes, True, False)
    issues = [(bad, f"is not yes or no", f"write yes or no (empty means {col.default and 'yes' or 'no'})")] if bad.any() else []
    return values, issues


def parse_agreed(s: pd.Series, col: Column):
    """An ISO date, ``yes`` or ``no``: the date the KPI definition was agreed with the supplier."""
    low = s.str.lower()
    word = low.isin(["yes", "no"]).to_numpy()
    empty = (s == "").to_numpy()
    dates, date_issues = parse_date(s.where(~(word | empty), ""), col)
    is_date = dates.notna().to_numpy()
    values = np.where(word, low.to_numpy(dtype=object), np.where(is_date, dates.dt.strftime("%Y-%m-%d").to_numpy(dtype=object), None))
    bad = ~(word | empty | is_date)
    issues = [(bad, "is not a date, yes or no", "write the date the definition was agreed (YYYY-MM-DD), yes or no")] if bad.any() else []
    return values, issues


def parse_id(s: pd.Series, col: Column):
    """Identifiers matching ID_PATTERN (safe in file names)."""
    empty = (s == "").to_numpy()
    ok = s.str.fullmatch(ID_PATTERN).to_numpy(dtype=bool)
    bad = ~ok & ~empty
    issues = []
    if bad.any():
        fixes = np.empty(len(s), dtype=object)
        for i in np.flatnonzero(bad):
            fixes[i] = ("use 1 to 64 letters A-Z, digits, '.', '_' or '-', starting with a letter or digit "
                        f"(no spaces, slashes or accented letters), {_suggest_id(s.iat[i])}")
        issues.append((bad, f"is not a valid identifier", fixes))
    return s.where(ok, ""), issues


_PARSERS = {
    "date": parse_date,
    "period": parse_period,
    "choice": parse_choice,
    "bool": parse_bool,
    "agreed": parse_agreed,
    "id": parse_id,
}


# ---------------------------------------------------------------------------------------------------------
# Table validation


def _parse_table(t: RawTable, col_issues: _Collector) -> dict[str, object]:
    """Parse every contract column of ``t`` by kind; report missing required values and bad cells."""
    f = t.frame
    n = len(f)
    out: dict[str, object] = {}
    for col in TABLES[t.name]:
        if col.name not in f:
            out[col.name] = None
            continue
        s = f[col.name]
        empty = (s == "").to_numpy()
        if col.required and col.name != "value":
            col_issues.add(t, empty, col.name, f"required value missing",
                           f"fill in {col.name}" + (" or delete the row" if n else ""))
        if col.kind == "number":
            values, pct, issues = parse_number(s, col)
            out[col.name] = values
            out[col.name + "__pct"] = pct
        elif col.kind == "int":
            values, issues = parse_int(s, col)
            out[col.name] = values
        elif col.kind == "text":
            out[col.name] = s
            issues = []
        else:
            values, issues = _PARSERS[col.kind](s, col)
            out[col.name] = values
        for mask, problem, fix in issues:
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


def _header_checks(t: RawTable, c: _Collector) -> bool:
    """Report missing required columns; returns False when the table cannot be used at all."""
    for p in t.problems:
        c.add_record(p, t)
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


def _unit_checks(t: RawTable, c: _Collector, col: str, values, has_pct, unit, ref=None, limit=None):
    """Checks that depend on the KPI's unit: % sign, sign, above 100 %, ambiguous fractions."""
    unit = np.asarray(unit, dtype=object)
    is_pct_unit = unit == "%"
    known = pd.notna(unit) & (unit != None)  # noqa: E711 - element-wise
    wrong_sign = has_pct & ~is_pct_unit & known
    if wrong_sign.any():
        c.add(t, wrong_sign, col, "has a % sign but the KPI is not measured in %",
              np.array([f"remove the % sign (the KPI's unit is {u})" for u in unit], dtype=object))
    nonneg = np.isin(unit, list(NON_NEGATIVE_UNITS))
    neg = nonneg & (values < 0)
    if neg.any():
        c.add(t, neg, col, np.array([f"is negative: a quantity in {u} cannot be below 0" for u in unit], dtype=object),
              "check the sign and the value")
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
            fixes = np.array([f"write {v * 100:.10g} (or {v * 100:.10g}%) if you meant a fraction of 1, or {v:.10g}% "
                              f"if you really meant under one percent"
                              for v in np.where(amb, values, 0)], dtype=object)
            problems = np.array([f"is ambiguous for a KPI in %: a fraction ({v * 100:.10g} %) or {v:.10g} % "
                                 f"(the target is {r:g})" for v, r in zip(np.where(amb, values, 0), np.where(amb, ref, 0))],
                                dtype=object)
            c.add(t, amb, col, problems, fixes)


def _reference_check(t, c, ok_mask, ids, accepted, rejected_rows, what, source_label):
    """Rows whose ``ids`` are not among ``accepted``: unknown (did you mean) or pointing at a rejected row."""
    unknown = ok_mask & ~np.isin(ids, list(accepted))
    if not unknown.any():
        return unknown
    problems = np.empty(len(ids), dtype=object)
    fixes = np.empty(len(ids), dtype=object)
    for i in np.flatnonzero(unknown):
        v = ids[i]
        if v in rejected_rows:
            problems[i] = f"refers to a {what} that was rejected"
            fixes[i] = f"fix {source_label} row {rejected_rows[v]} first"
        else:
            problems[i] = f"no {what} with this id"
            hint = did_you_mean(v, accepted)
            if source_label == "the store":
                fixes[i] = (hint + " " if hint else "") + (
                    f"the store does not define {what} {v}: ingest the portfolio's definitions first "
                    "(cinb ingest PORTFOLIO --into STORE), or give them with --data")
            else:
                fixes[i] = (hint + " " if hint else "") + f"use a {what} id defined in {source_label}"
    col = "contract_id" if what == "contract" else "kpi_id"
    c.add(t, unknown, col, problems, fixes)
    return unknown


def _duplicates(t: RawTable, c: _Collector, keys: tuple[str, ...], key_frame: pd.DataFrame, valid: np.ndarray):
    """Reject every copy of a duplicated key among rows whose key columns are valid."""
    kf = key_frame[valid]
    dup = kf.duplicated(keep=False)
    if not dup.any():
        return
    d = kf[dup].copy()
    d["_row"] = t.frame["_row"].to_numpy()[np.flatnonzero(valid)][dup.to_numpy()]
    rows_by_key = d.groupby(list(keys), sort=False, dropna=False)["_row"].agg(list)
    mask = np.zeros(len(t.frame), dtype=bool)
    mask[np.flatnonzero(valid)[dup.to_numpy()]] = True
    problems = np.empty(len(t.frame), dtype=object)
    pos = np.flatnonzero(mask)
    for i, key in zip(pos, d[list(keys)].itertuples(index=False, name=None)):
        others = [r for r in rows_by_key[key] if r != t.frame["_row"].iat[i]]
        problems[i] = f"duplicate key ({', '.join(keys)}): same as row{'s' if len(others) > 1 else ''} " + \
            ", ".join(str(r) for r in others)
    fix = ("keep one row per key" + (" or give the restatement a higher revision" if "revision" in keys else ""))
    c.add(t, mask, keys[-1], problems, fix,
          value=np.array(["/".join(str(x) for x in k) for k in key_frame.itertuples(index=False, name=None)],
                         dtype=object))


def _label(t: RawTable) -> str:
    return f"{t.source}" + (f", sheet {t.sheet}" if t.sheet else "")


def _typed_frame(t: RawTable, parsed: dict, keep: np.ndarray) -> pd.DataFrame:
    """The accepted rows of ``t`` as a typed frame in contract column order, unknown columns kept as text."""
    f = t.frame
    cols = {}
    for col in TABLES[t.name]:
        v = parsed.get(col.name)
        if v is None:
            if col.kind in ("number", "int"):
                v = np.full(len(f), np.nan if col.default is None else col.default, dtype=float)
            elif col.kind == "date":
                v = pd.Series(pd.NaT, index=f.index, dtype="datetime64[us]")
            elif col.kind == "period":
                v = pd.Series(pd.NaT, index=f.index, dtype="period[M]")
            elif col.kind == "bool":
                v = np.full(len(f), bool(col.default))
            else:
                v = np.full(len(f), col.default if col.default is not None else np.nan, dtype=object)
        if isinstance(v, pd.Series):
            v = v.reset_index(drop=True)
        else:
            v = pd.Series(v)
        v = v[keep].reset_index(drop=True)
        if col.kind in ("id", "text", "choice", "agreed"):
            v = as_text(v)
            if col.default is not None:
                v = v.fillna(col.default).astype(TEXT_DTYPE)
        elif col.kind in ("number", "int"):
            v = v.astype(float)
            if col.default is not None:
                v = v.fillna(float(col.default))
        elif col.kind == "bool":
            v = v.astype(bool)
        elif col.kind == "date":
            v = v.astype("datetime64[us]") if len(v) else pd.Series(dtype="datetime64[us]")
        elif col.kind == "period":
            v = v.astype("period[M]")
        cols[col.name] = v
    known = set(column_names(t.name)) | set(RESERVED.get(t.name, ())) | {"_row", "_source"}
    for extra in f.columns:
        if extra not in known:
            cols[extra] = as_text(f[extra][keep].reset_index(drop=True))
    out = pd.DataFrame(cols)
    if t.name == "measurements":
        out["revision"] = out["revision"].astype("int64")
        src = f["_source"][keep] if "_source" in f else pd.Series(t.source, index=f.index)[keep]
        out["source"] = as_text(src.reset_index(drop=True))
        out["row"] = f["_row"][keep].reset_index(drop=True).astype("int64")
    return out


def empty_frame(table: str) -> pd.DataFrame:
    """An empty typed frame with the columns of ``table`` (contracts, kpis, measurements, history, initiatives)."""
    t = RawTable("measurements" if table == "history" else table,
                 pd.DataFrame({"_row": pd.Series(dtype="int64")}), source="")
    out = _typed_frame(t, {}, np.zeros(0, dtype=bool))
    if table == "history":
        out["superseded"] = pd.Series(dtype=bool)
    return out[output_columns(table)]


def validate(raw: dict[str, RawTable], *, today=None, late_after_days: int = LATE_AFTER_DAYS,
             reference: dict[str, pd.DataFrame] | None = None) -> Validated:
    """Validate raw tables against the data contract, collecting every problem.

    Parameters
    ----------
    raw : dict of str to RawTable
        The tables as read (``contracts``, ``kpis``, ``measurements``, ``initiatives``); a table with
        ``present=False`` was not in the source.
    today : date-like, optional
        The day against which future periods and dates are judged (default: today).
    late_after_days : int
        A first return submitted more than this many days after its month ends gives a warning.
    reference : dict of str to DataFrame, optional
        Already-accepted typed ``contracts``, ``kpis`` and ``history`` (e.g. from a store): ids are resolved
        against them when the raw tables do not define them, and keys already stored are duplicates.

    Returns
    -------
    Validated
        Accepted typed rows, problems (errors), warnings and the row accounting.
    """
    today = pd.Timestamp(today if today is not None else pd.Timestamp.now().date()).normalize()
    this_month = today.to_period("M")
    reference = reference or {}
    c = _Collector(raw)
    parsed: dict[str, dict] = {}
    usable: dict[str, bool] = {}
    for name in TABLE_ORDER:
        t = raw[name]
        usable[name] = _header_checks(t, c)
        parsed[name] = _parse_table(t, c) if usable[name] else {}

    # --- contracts -------------------------------------------------------------------------------------
    t = raw["contracts"]
    p = parsed["contracts"]
    if usable["contracts"]:
        f = t.frame
        backwards = (p["end_date"] < p["start_date"]).to_numpy(dtype=bool)
        c.add(t, backwards, "end_date", "is before start_date", "check the contract term dates")
        ids = p["contract_id"].to_numpy(dtype=object)
        _duplicates(t, c, KEYS["contracts"], pd.DataFrame({"contract_id": ids}), ids != "")
    contracts = _typed_frame(t, p, ~c.rejected["contracts"]) if usable["contracts"] else empty_frame("contracts")
    if len(contracts):
        contracts["monthly_charge_gbp"] = contracts["monthly_charge_gbp"].fillna(contracts["annual_value_gbp"] / 12)
    rejected_contracts = _rejected_rows(t, c, "contract_id", usable["contracts"])
    known_contracts = _merge_reference(contracts, reference.get("contracts"), KEYS["contracts"])
    contracts_label = _label(t) if t.present else "the store"

    # --- kpis --------------------------------------------------------------------------------------------
    t = raw["kpis"]
    p = parsed["kpis"]
    if usable["kpis"]:
        f = t.frame
        cid = p["contract_id"].to_numpy(dtype=object)
        kid = p["kpi_id"].to_numpy(dtype=object)
        _reference_check(t, c, cid != "", cid, set(known_contracts["contract_id"]), rejected_contracts,
                         "contract", contracts_label)
        _duplicates(t, c, KEYS["kpis"], pd.DataFrame({"contract_id": cid, "kpi_id": kid}), (cid != "") & (kid != ""))
        unit = np.asarray(p["unit"], dtype=object)
        for col in ("sla", "target", "tolerance", "critical", "baseline", "ci_target"):
            if p.get(col) is not None:
                _unit_checks(t, c, col, p[col], p[col + "__pct"], unit)
        method = np.asarray(p["credit_method"], dtype=object) if p.get("credit_method") is not None else None
        if method is not None:
            credit = p.get("credit_pct")
            no_pct = (method == "fixed") & (np.isnan(credit) if credit is not None else True)
            c.add(t, no_pct, "credit_pct", "is empty but credit_method is fixed",
                  "give the % of the monthly charge credited for each month the SLA is missed",
                  value=np.full(len(f), None))
            short = (method == "shortfall") & pd.notna(unit) & (unit != "%")
            c.add(t, short, "credit_method", "is shortfall but the KPI is not measured in %",
                  "use fixed (with credit_pct) or none for KPIs not in %")
    kpis = _typed_frame(t, p, ~c.rejected["kpis"]) if usable["kpis"] else empty_frame("kpis")
    rejected_kpis = _rejected_rows(t, c, ("contract_id", "kpi_id"), usable["kpis"])
    known_kpis = _merge_reference(kpis, reference.get("kpis"), KEYS["kpis"])
    kpis_label = _label(t) if t.present else "the store"

    # --- measurements ------------------------------------------------------------------------------------
    t = raw["measurements"]
    p = parsed["measurements"]
    history = empty_frame("history")
    superseded_count = 0
    if usable["measurements"]:
        f = t.frame
        n = len(f)
        cid = p["contract_id"].to_numpy(dtype=object)
        kid = p["kpi_id"].to_numpy(dtype=object)
        period = p["period"]
        unknown_c = _reference_check(t, c, cid != "", cid, set(known_contracts["contract_id"]),
                                     rejected_contracts, "contract", contracts_label)
        kpi_index = pd.MultiIndex.from_arrays([known_kpis["contract_id"].to_numpy(dtype=object),
                                               known_kpis["kpi_id"].to_numpy(dtype=object)])
        pos = kpi_index.get_indexer(pd.MultiIndex.from_arrays([cid, kid])) if n else np.zeros(0, dtype=int)
        unknown_k = (cid != "") & (kid != "") & ~unknown_c & (pos < 0)
        if unknown_k.any():
            by_contract = known_kpis.groupby("contract_id")["kpi_id"].agg(list).to_dict()
            problems = np.empty(n, dtype=object)
            fixes = np.empty(n, dtype=object)
            for i in np.flatnonzero(unknown_k):
                key = (cid[i], kid[i])
                if key in rejected_kpis:
                    problems[i] = "refers to a KPI that was rejected"
                    fixes[i] = f"fix {kpis_label} row {rejected_kpis[key]} first"
                else:
                    problems[i] = f"no KPI with this id in contract {cid[i]}"
                    hint = did_you_mean(kid[i], by_contract.get(cid[i], []))
                    fixes[i] = (hint + " " if hint else "") + f"use a kpi_id defined for {cid[i]} in {kpis_label}"
            c.add(t, unknown_k, "kpi_id", problems, fixes)
        has_kpi = pos >= 0
        safe = np.where(has_kpi, pos, 0)
        unit = np.where(has_kpi, known_kpis["unit"].to_numpy(dtype=object)[safe] if len(known_kpis) else None, None)
        target = known_kpis["target"].to_numpy(dtype=float)[safe] if len(known_kpis) else np.zeros(n)
        sla = known_kpis["sla"].to_numpy(dtype=float)[safe] if len(known_kpis) else np.zeros(n)
        ref = np.where(np.isnan(target), sla, target)
        ref = np.where(has_kpi, ref, np.nan)
        levels = known_kpis[["sla", "target", "critical", "baseline", "ci_target"]].max(axis=1).to_numpy(dtype=float)
        limit = levels[safe] if len(known_kpis) else np.zeros(n)
        _unit_checks(t, c, "value", p["value"], p["value__pct"], unit, ref=ref, limit=limit)

        # Period against the contract term and today.
        per_ok = period.notna().to_numpy()
        cpos = pd.Index(known_contracts["contract_id"].to_numpy(dtype=object)).get_indexer(cid) if n else np.zeros(0, int)
        has_c = (cpos >= 0) & per_ok
        if has_c.any():
            csafe = np.where(has_c, cpos, 0)
            start = known_contracts["start_date"].dt.to_period("M").to_numpy()[csafe] if len(known_contracts) else None
            end = known_contracts["end_date"].dt.to_period("M").to_numpy()[csafe] if len(known_contracts) else None
            p_ord = period.dt.year.to_numpy(dtype=float) * 12 + period.dt.month.to_numpy(dtype=float)
            s_ord = pd.Series(start).dt.year.to_numpy(dtype=float) * 12 + pd.Series(start).dt.month.to_numpy(dtype=float)
            e_ord = pd.Series(end).dt.year.to_numpy(dtype=float) * 12 + pd.Series(end).dt.month.to_numpy(dtype=float)
            before = has_c & (p_ord < s_ord)
            after = has_c & (p_ord > e_ord)
            if before.any() or after.any():
                terms = np.array([f"the contract runs {a} to {b}" for a, b in zip(pd.Series(start).astype(str),
                                                                                 pd.Series(end).astype(str))],
                                 dtype=object)
                c.add(t, before, "period", "is before the contract started",
                      np.array([f"check the period: {x}" for x in terms], dtype=object))
                c.add(t, after, "period", "is after the contract ended",
                      np.array([f"check the period: {x}" for x in terms], dtype=object))
        future = per_ok & (period > this_month).fillna(False).to_numpy(dtype=bool)
        c.add(t, future, "period", f"is in the future (today is {today:%Y-%m-%d})",
              "check the period; a month can be reported once it has begun")
        if p.get("submitted_on") is not None:
            late_sub = (p["submitted_on"] > today).fillna(False).to_numpy(dtype=bool)
            c.add(t, late_sub, "submitted_on", f"is in the future (today is {today:%Y-%m-%d})",
                  "check the date the return was received")

        # Revisions: missing means "the next after what is already stored" (1 when nothing is).
        rev = p["revision"] if p.get("revision") is not None else np.full(n, np.nan)
        rev = np.asarray(rev, dtype=float).copy()
        stored = reference.get("history")
        keys_ok = (cid != "") & (kid != "") & per_ok
        if stored is not None and len(stored):
            last = stored.groupby(["contract_id", "kpi_id", "period"], observed=True)["revision"].max()
            midx = pd.MultiIndex.from_arrays([cid, kid, period])
            prev = last.reindex(midx).to_numpy(dtype=float)
            rev = np.where(np.isnan(rev), np.where(np.isnan(prev), 1, prev + 1), rev)
            stored_keys = pd.MultiIndex.from_frame(stored[["contract_id", "kpi_id", "period", "revision"]].astype(
                {"revision": float}))
            again = keys_ok & pd.MultiIndex.from_arrays([cid, kid, period, rev]).isin(stored_keys)
            if again.any():
                c.add(t, again, "revision", "this revision of this month is already stored",
                      np.array([f"to correct it, send revision {int(r) + 1 if not np.isnan(r) else 2} with a note "
                                f"saying why" for r in np.where(np.isnan(prev), rev, np.fmax(prev, rev))],
                               dtype=object),
                      value=np.array([f"{int(r)}" if not np.isnan(r) else "" for r in rev], dtype=object))
        rev = np.where(np.isnan(rev), 1, rev)
        p["revision"] = rev
        _duplicates(t, c, KEYS["measurements"],
                    pd.DataFrame({"contract_id": cid, "kpi_id": kid, "period": period.astype(str).to_numpy(),
                                  "revision": rev}), keys_ok)

        keep = ~c.rejected["measurements"]
        history = _typed_frame(t, p, keep)
        history = history.sort_values(["contract_id", "kpi_id", "period", "revision"], kind="stable")
        last_rev = history.groupby(["contract_id", "kpi_id", "period"], sort=False, observed=True)["revision"] \
            .transform("max")
        history["superseded"] = (history["revision"] < last_rev).to_numpy(dtype=bool)
        history = history.reset_index(drop=True)
        superseded_count = int(history["superseded"].sum())
        _measurement_warnings(t, c, history, known_contracts, known_kpis, kpis, this_month, late_after_days,
                              raw["kpis"])
    measurements = history[~history["superseded"]].drop(columns="superseded").reset_index(drop=True)
    front = output_columns("history")
    history = history[front + [x for x in history.columns if x not in front]]
    mfront = output_columns("measurements")
    measurements = measurements[mfront + [x for x in measurements.columns if x not in mfront]]

    # --- initiatives -------------------------------------------------------------------------------------
    t = raw["initiatives"]
    p = parsed["initiatives"]
    if usable["initiatives"]:
        f = t.frame
        n = len(f)
        cid = p["contract_id"].to_numpy(dtype=object)
        iid = p["initiative_id"].to_numpy(dtype=object)
        unknown_c = _reference_check(t, c, cid != "", cid, set(known_contracts["contract_id"]),
                                     rejected_contracts, "contract", contracts_label)
        if p.get("kpi_id") is not None:
            kid = p["kpi_id"].to_numpy(dtype=object)
            kpi_index = pd.MultiIndex.from_arrays([known_kpis["contract_id"].to_numpy(dtype=object),
                                                   known_kpis["kpi_id"].to_numpy(dtype=object)])
            pos = kpi_index.get_indexer(pd.MultiIndex.from_arrays([cid, kid])) if n else np.zeros(0, dtype=int)
            bad = (kid != "") & (cid != "") & ~unknown_c & (pos < 0)
            if bad.any():
                by_contract = known_kpis.groupby("contract_id")["kpi_id"].agg(list).to_dict()
                fixes = np.array([(did_you_mean(k, by_contract.get(ci, [])) + " ").lstrip() +
                                  f"use a kpi_id of contract {ci}, or leave it empty" for ci, k in zip(cid, kid)],
                                 dtype=object)
                c.add(t, bad, "kpi_id", np.array([f"no KPI with this id in contract {ci}" for ci in cid],
                                                  dtype=object), fixes)
        _duplicates(t, c, KEYS["initiatives"], pd.DataFrame({"contract_id": cid, "initiative_id": iid}),
                    (cid != "") & (iid != ""))
    initiatives = _typed_frame(t, p, ~c.rejected["initiatives"]) if usable["initiatives"] else empty_frame("initiatives")

    # --- accounting --------------------------------------------------------------------------------------
    rows = []
    for name in TABLE_ORDER:
        read = len(raw[name].frame) if raw[name].present else 0
        rejected = int(c.rejected[name].sum()) if raw[name].present else 0
        superseded = superseded_count if name == "measurements" else 0
        used = {"contracts": len(contracts), "kpis": len(kpis), "measurements": len(measurements),
                "initiatives": len(initiatives)}[name]
        assert read == used + superseded + rejected, f"row accounting does not balance for {name}"
        rows.append({"table": name, "read": read, "used": used, "superseded": superseded, "rejected": rejected})
    accounting = pd.DataFrame(rows, columns=["table", "read", "used", "superseded", "rejected"])

    problems = c.frame()
    errors = problems[problems["severity"] == "error"].reset_index(drop=True)
    warnings = problems[problems["severity"] == "warning"].reset_index(drop=True)
    return Validated(contracts.sort_values("contract_id", kind="stable").reset_index(drop=True),
                     kpis.sort_values(["contract_id", "kpi_id"], kind="stable").reset_index(drop=True),
                     measurements, history,
                     initiatives.sort_values(["contract_id", "initiative_id"], kind="stable").reset_index(drop=True),
                     errors, warnings, accounting)


def _rejected_rows(t: RawTable, c: _Collector, key, usable: bool) -> dict:
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
        return ref
    new_keys = pd.MultiIndex.from_frame(new[list(keys)].astype(object))
    ref_keys = pd.MultiIndex.from_frame(ref[list(keys)].astype(object))
    return pd.concat([new, ref[~ref_keys.isin(new_keys)]], ignore_index=True)


def _measurement_warnings(t, c, history, contracts, known_kpis, kpis, this_month, late_after_days, kpi_table):
    """Missing months, empty values, late first returns and KPIs never reported (warnings, nothing rejected)."""
    src = t.source
    win = history[~history["superseded"]]
    # Not reported: the row exists, the value is empty.
    empty = win[win["value"].isna()]
    if len(empty):
        c.parts.append(pd.DataFrame({
            "severity": "warning", "source": empty["source"].to_numpy(dtype=object), "sheet": t.sheet,
            "table": t.name, "row": empty["row"].to_numpy(), "column": "value", "value": None,
            "problem": "not reported: the value is empty",
            "fix": "ask the supplier for the value, or explain the gap in the note",
            "contract_id": empty["contract_id"].to_numpy(dtype=object)}))
    # Late first returns.
    first = history.sort_values("revision", kind="stable").drop_duplicates(["contract_id", "kpi_id", "period"])
    first = first[first["submitted_on"].notna()]
    if len(first):
        month_end = first["period"].dt.end_time.dt.normalize()
        days = (first["submitted_on"].astype("datetime64[us]") - month_end.astype("datetime64[us]")).dt.days
        late = first[(days > late_after_days).to_numpy()]
        if len(late):
            late_days = days[(days > late_after_days).to_numpy()].to_numpy()
            c.parts.append(pd.DataFrame({
                "severity": "warning", "source": late["source"].to_numpy(dtype=object), "sheet": t.sheet,
                "table": t.name, "row": late["row"].to_numpy(), "column": "submitted_on",
                "value": late["submitted_on"].dt.strftime("%Y-%m-%d").to_numpy(dtype=object),
                "problem": [f"late return: submitted {d} days after the month ended (more than {late_after_days})"
                            for d in late_days],
                "fix": "remind the supplier of the reporting deadline in the contract",
                "contract_id": late["contract_id"].to_numpy(dtype=object)}))
    # Missing months: from a KPI's first reported month to the contract's last reported month (within term).
    if len(win):
        ordinal = win["period"].dt.year.to_numpy() * 12 + win["period"].dt.month.to_numpy() - 1
        g = pd.DataFrame({"contract_id": win["contract_id"].to_numpy(dtype=object),
                          "kpi_id": win["kpi_id"].to_numpy(dtype=object), "o": ordinal})
        per_kpi = g.groupby(["contract_id", "kpi_id"], sort=True)["o"].agg(["min", "nunique"])
        last_c = g.groupby("contract_id")["o"].max()
        per_kpi["last"] = last_c.reindex(per_kpi.index.get_level_values(0)).to_numpy()
        gaps = per_kpi[per_kpi["last"] - per_kpi["min"] + 1 > per_kpi["nunique"]]
        if len(gaps):
            present = g.set_index(["contract_id", "kpi_id"]).sort_index()
            recs = []
            for (ci, ki), row in gaps.iterrows():
                have = set(present.loc[(ci, ki), "o"].tolist())
                for o in range(int(row["min"]), int(row["last"]) + 1):
                    if o not in have:
                        per = pd.Period(year=o // 12, month=o % 12 + 1, freq="M")
                        recs.append({"severity": "warning", "source": src, "sheet": t.sheet, "table": t.name,
                                     "row": None, "column": "period", "value": str(per),
                                     "problem": f"missing month: no row for {ci} / {ki} in {per}",
                                     "fix": "ask the supplier for the return, or add a row with an empty value "
                                            "and a note saying why",
                                     "contract_id": ci})
            if recs:
                c.parts.append(pd.DataFrame(recs, columns=PROBLEM_FRAME_COLUMNS))
    # KPIs of this load never reported.
    if len(kpis) and kpi_table.present:
        reported = pd.MultiIndex.from_frame(win[["contract_id", "kpi_id"]].astype(object)) if len(win) else None
        kidx = pd.MultiIndex.from_frame(kpis[["contract_id", "kpi_id"]].astype(object))
        never = ~kidx.isin(reported) if reported is not None else np.ones(len(kpis), dtype=bool)
        if never.any():
            k = kpis[never]
            kf = kpi_table.frame
            rows = pd.MultiIndex.from_arrays([kf["contract_id"], kf["kpi_id"]])
            row_of = dict(zip(rows, kf["_row"]))
            c.parts.append(pd.DataFrame({
                "severity": "warning", "source": kpi_table.source, "sheet": kpi_table.sheet, "table": "kpis",
                "row": [row_of.get((a, b)) for a, b in zip(k["contract_id"], k["kpi_id"])],
                "column": "kpi_id", "value": k["kpi_id"].to_numpy(dtype=object),
                "problem": "no measurements for this KPI", "fix": "ask the supplier to report it",
                "contract_id": k["contract_id"].to_numpy(dtype=object)}))
