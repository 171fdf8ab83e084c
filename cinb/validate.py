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
_DATE_RE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[ T][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?"
_PERIOD_RE = r"[0-9]{4}-[0-9]{2}(?:-[0-9]{2}(?:[ T][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?)?"
_YES = {"yes", "y", "true", "1"}
#: The earliest year a date or month may have. Older dates are typing slips (0000-01-01, 0024-05-01 for 2024)
#: and years before 1 AD cannot be held by Python's datetime, which the analyses and writers use.
MIN_YEAR = 1900
_EARLY_FIX = f"write the full four-digit year, e.g. 2024-05-01; years before {MIN_YEAR} are not accepted"
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
    if len(value) >= 3:  # one contains the other: 'Kestrel' for 'Kestrel Cloud Ltd', 'AVAILABILITY' for 'AVAIL'
        same_case += [c for c in cands if c != value and len(c) >= 3
                      and (value.lower() in c.lower() or c.lower() in value.lower())]
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
    """Text column with NaN for missing ('' and None count as missing), in the text dtype of this pandas."""
    arr = np.array(values, dtype=object)
    missing = pd.isna(arr) | (arr == "")
    if missing.any():
        arr[missing] = np.nan
    return pd.Series(arr, dtype=TEXT_DTYPE)


def _arr(x, idx):
    if isinstance(x, pd.Series):
        return x.to_numpy(dtype=object)[idx]
    if isinstance(x, np.ndarray):
        return x.astype(object)[idx]
    return x


def _shown(v):
    """A value as shown in a message: None when empty, long text cut (a 5 MB cell must not flood the screen)."""
    if v is None or (isinstance(v, str) and v == ""):
        return None
    if isinstance(v, str) and len(v) > _SHOWN_MAX:
        return v[:_SHOWN_MAX] + f"… ({len(v):,} characters)"
    return v


_SHOWN_MAX = 120
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


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
        elif isinstance(vals, str):
            vals = _shown(vals)
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
        rec["value"] = _shown(rec["value"])
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


_INAT = np.iinfo(np.int64).min  # pandas' integer marker of NaT


def _fullmatch(a: np.ndarray, pattern: str) -> np.ndarray:
    """Element-wise regex full match over an object array of str (a tight loop: faster than .str here)."""
    rx = re.compile(pattern)
    return np.fromiter((rx.fullmatch(v) is not None for v in a), dtype=bool, count=len(a))


def _empty(a: np.ndarray) -> np.ndarray:
    return np.asarray(a == "", dtype=bool)


def _on_uniques(parser):
    """Run ``parser`` on the distinct values of a column only and spread the results back to its rows.

    Id, month and date columns repeat a few values many times (600,000 measurements, 1,000 contracts), so
    this turns most of the work of validating them into a hash of the column.
    """

    def run(a: np.ndarray, col: Column):
        a = np.asarray(a, dtype=object)
        codes, uniques = pd.factorize(a, sort=False, use_na_sentinel=False)
        if len(uniques) * 2 > len(a):  # mostly distinct: not worth it
            return parser(a, col)
        values, issues = parser(np.asarray(uniques, dtype=object), col)
        spread = [(np.asarray(m)[codes],
                   pr[codes] if isinstance(pr, np.ndarray) else pr,
                   fx[codes] if isinstance(fx, np.ndarray) else fx) for m, pr, fx in issues]
        return values[codes], spread

    run.__doc__ = parser.__doc__
    return run


def _text(values) -> np.ndarray:
    """Any column as an object array of str ('' for missing)."""
    a = np.asarray(values, dtype=object)
    return a


def parse_number(a: np.ndarray, col: Column):
    """Numbers with a full stop; ``%`` suffix only where ``col.pct_sign``. Returns (values, has_pct, issues)."""
    a = _text(a)
    n = len(a)
    empty = _empty(a)
    # pandas' C parser accepts a superset of plain decimals only by 'nan'/'inf' spellings, caught below.
    values = np.array(pd.to_numeric(a, errors="coerce"), dtype=float)
    pct = np.zeros(n, dtype=bool)
    body = a
    maybe = np.flatnonzero(~empty & np.isnan(values))
    if len(maybe):
        pct[maybe] = [a[i].endswith("%") for i in maybe]
        if pct.any():
            body = a.copy()
            idx = np.flatnonzero(pct)
            body[idx] = [a[i][:-1].rstrip() for i in idx]
            values[idx] = np.array(pd.to_numeric(body[idx], errors="coerce"), dtype=float)
    bad = ~empty & ~np.isfinite(values)
    issues = []
    if bad.any():
        idx = np.flatnonzero(bad)
        problems = np.empty(n, dtype=object)
        fixes = np.empty(n, dtype=object)
        example = "98.5 or 98.5%" if col.pct_sign else "1250 or 98.5"
        for i in idx:
            b = body[i]
            low = b.lower()
            if low in _NONFINITE:
                problems[i] = "is not a finite number"
                fixes[i] = "leave the cell empty if no value was reported, otherwise write the number"
            elif re.fullmatch(_NUMBER_RE, b):
                problems[i] = "is too large to be a number"
                fixes[i] = "check the value"
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
        values[bad] = np.nan
        issues.append((bad, problems, fixes))
    has_pct = pct & ~bad & ~empty
    if not col.pct_sign and has_pct.any():
        issues.append((has_pct, f"has a % sign but {col.name} is not a percentage", "remove the % sign"))
        values[has_pct] = np.nan
    return values, has_pct, issues


def parse_int(a: np.ndarray, col: Column):
    """Whole numbers (``2`` or ``2.0``)."""
    values, pct, issues = parse_number(a, Column(col.name, "number"))
    frac = ~np.isnan(values) & (np.floor(values) != values)
    if frac.any():
        issues.append((frac, "is not a whole number", "write a whole number, e.g. 2"))
        values[frac] = np.nan
    return values, issues


def _ymd(a: np.ndarray, ok: np.ndarray, width: int) -> np.ndarray:
    """Digits of the first ``width`` characters of the ``ok`` cells as an int array of shape (n, width)."""
    heads = np.array([v[:width] if k else "0" * width for v, k in zip(a, ok)], dtype=f"U{width}")
    return heads.view(np.uint32).reshape(len(a), width).astype(np.int64) - 48


def _days_in_month(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    start = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    return ((start + 1).astype("datetime64[D]") - start.astype("datetime64[D]")).astype(np.int64)


def _date_parts(a: np.ndarray, ok: np.ndarray):
    """(year, month, day, real) of ISO dates in the ``ok`` cells; real says the calendar date exists."""
    d = _ymd(a, ok, 10)
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month = d[:, 5] * 10 + d[:, 6]
    day = d[:, 8] * 10 + d[:, 9]
    month_ok = (month >= 1) & (month <= 12)
    safe_month = np.where(month_ok, month, 1)
    real = ok & month_ok & (day >= 1) & (day <= _days_in_month(year, safe_month))
    return year, month, day, real


def parse_date(a: np.ndarray, col: Column):
    """ISO dates (a time of day is dropped). Returns datetime64[us] values (NaT when missing or bad)."""
    a = _text(a)
    empty = _empty(a)
    shape = _fullmatch(a, _DATE_RE)
    year, month, day, real = _date_parts(a, shape)
    days = (((year - 1970) * 12 + month - 1).astype("datetime64[M]").astype("datetime64[D]")
            + (day - 1).astype("timedelta64[D]")) if len(a) else np.zeros(0, dtype="datetime64[D]")
    early = real & (year < MIN_YEAR)
    values = np.where(real & ~early, days.astype("datetime64[us]"), np.datetime64("NaT", "us"))
    issues = []
    bad_shape = ~empty & ~shape
    if bad_shape.any():
        fixes = np.empty(len(a), dtype=object)
        for i in np.flatnonzero(bad_shape):
            m = re.fullmatch(r"(\d{1,2})[/.](\d{1,2})[/.](\d{4})", a[i])
            hint = f" (if you meant day {m[1]}, month {m[2]}: {m[3]}-{int(m[2]):02d}-{int(m[1]):02d})" if m else ""
            fixes[i] = f"write the date as YYYY-MM-DD, e.g. 2026-10-31{hint}"
        issues.append((bad_shape, "is not a date in ISO form YYYY-MM-DD", fixes))
    unreal = shape & ~real
    if unreal.any():
        issues.append((unreal, "is not a real calendar date", "check the day and month"))
    if early.any():
        issues.append((early, f"is before {MIN_YEAR}: not a date this data can hold", _EARLY_FIX))
    return values, issues


def parse_period(a: np.ndarray, col: Column):
    """Months ``YYYY-MM``; an ISO date means its month. Returns a PeriodArray (freq M)."""
    a = _text(a)
    empty = _empty(a)
    shape = _fullmatch(a, _PERIOD_RE)
    d = _ymd(a, shape, 7)
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month = d[:, 5] * 10 + d[:, 6]
    real = shape & (month >= 1) & (month <= 12)
    full = shape & np.fromiter((len(v) > 7 for v in a), dtype=bool, count=len(a))
    if full.any():  # a full date must itself exist (2026-02-30 does not)
        real &= ~full | _date_parts(a, full)[3]
    early = real & (year < MIN_YEAR)
    ordinals = np.where(real & ~early, (year - 1970) * 12 + month - 1, _INAT).astype(np.int64)
    values = pd.arrays.PeriodArray(ordinals, dtype="period[M]")
    issues = []
    bad_shape = ~empty & ~shape
    if bad_shape.any():
        issues.append((bad_shape, "is not a month in the form YYYY-MM",
                       "write the month as YYYY-MM, e.g. 2026-10 for October 2026"))
    unreal = shape & ~real
    if unreal.any():
        issues.append((unreal, "is not a real month", "the month must be 01 to 12, e.g. 2026-10"))
    if early.any():
        issues.append((early, f"is before {MIN_YEAR}: not a month this data can hold", _EARLY_FIX))
    return values, issues


def parse_choice(a: np.ndarray, col: Column):
    """One of ``col.choices``, ignoring case; written back in canonical case."""
    a = _text(a)
    canon = {c.lower(): c for c in col.choices}
    values = np.array([canon.get(v.lower(), "") for v in a], dtype=object)
    empty = _empty(a)
    bad = (values == "") & ~empty
    issues = []
    if bad.any():
        fixes = np.empty(len(a), dtype=object)
        allowed = ", ".join(col.choices)
        for i in np.flatnonzero(bad):
            v = a[i]
            guess = UNIT_SYNONYMS.get(v.lower()) if col.name == "unit" else None
            hint = f"did you mean {guess!r}?" if guess else did_you_mean(v, col.choices)
            fixes[i] = (hint + " " if hint else "") + f"use one of: {allowed}"
        issues.append((bad, f"is not a valid {col.name}", fixes))
    return values, issues


def parse_bool(a: np.ndarray, col: Column):
    """yes/no (also y/n, true/false, 1/0); empty means the column's default."""
    a = _text(a)
    low = [v.lower() for v in a]
    yes = np.array([v in _YES for v in low], dtype=bool)
    no = np.array([v in _NO for v in low], dtype=bool)
    empty = _empty(a)
    bad = ~(yes | no | empty)
    values = np.where(empty, bool(col.default), yes)
    issues = [(bad, "is not yes or no", f"write yes or no (empty means {'yes' if col.default else 'no'})")] \
        if bad.any() else []
    return values, issues


def parse_agreed(a: np.ndarray, col: Column):
    """An ISO date, ``yes`` or ``no``: when (or whether) the KPI definition was agreed with the supplier."""
    a = _text(a)
    low = np.array([v.lower() for v in a], dtype=object)
    word = (low == "yes") | (low == "no")
    empty = _empty(a)
    shape = _fullmatch(a, _DATE_RE) & ~word
    year, _, _, real = _date_parts(a, shape)
    early = real & (year < MIN_YEAR)
    real &= ~early
    values = np.where(word, low, np.where(real, np.array([v[:10] for v in a], dtype=object), ""))
    bad = ~(word | empty | real | early)
    issues = [(bad, "is not a date, yes or no",
               "write the date the definition was agreed (YYYY-MM-DD), yes or no")] if bad.any() else []
    if early.any():
        issues.append((early, f"is before {MIN_YEAR}: not a date this data can hold", _EARLY_FIX))
    return values, issues


def parse_id(a: np.ndarray, col: Column):
    """Identifiers matching ID_PATTERN (safe in file names)."""
    a = _text(a)
    empty = _empty(a)
    ok = _fullmatch(a, ID_PATTERN)
    bad = ~ok & ~empty
    issues = []
    if bad.any():
        fixes = np.empty(len(a), dtype=object)
        for i in np.flatnonzero(bad):
            fixes[i] = ("use 1 to 64 letters A-Z, digits, '.', '_' or '-', starting with a letter or digit "
                        f"(no spaces, slashes or accented letters), {_suggest_id(a[i])}")
        issues.append((bad, "is not a valid identifier", fixes))
    return np.where(ok, a, ""), issues


_PARSERS = {
    "date": _on_uniques(parse_date),
    "period": _on_uniques(parse_period),
    "choice": _on_uniques(parse_choice),
    "bool": _on_uniques(parse_bool),
    "agreed": _on_uniques(parse_agreed),
    "id": _on_uniques(parse_id),
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
        s = f[col.name].to_numpy(dtype=object)
        empty = _empty(s)
        if col.required and col.name != "value":
            col_issues.add(t, empty, col.name, f"required value missing",
                           f"fill in {col.name}" + (" or delete the row" if n else ""))
        if col.kind == "number":
            values, pct, issues = parse_number(s, col)
            out[col.name] = values
            out[col.name + "__pct"] = pct
        elif col.kind == "int":
            values, issues = _on_uniques(parse_int)(s, col)
            out[col.name] = values
        elif col.kind == "text":
            out[col.name], issues = _clean_text(s)
        else:
            values, issues = _PARSERS[col.kind](s, col)
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


def _clean_text(a: np.ndarray):
    """Remove control characters (NUL, escape…) from free text, with a warning: they break reports and Excel."""
    if not len(a) or _CONTROL.search("\n".join(a)) is None:
        return a, []
    hit = np.fromiter((_CONTROL.search(v) is not None for v in a), dtype=bool, count=len(a))
    cleaned = a.copy()
    cleaned[hit] = [_CONTROL.sub("", v) for v in a[hit]]
    shown = np.where(hit, np.array([repr(v)[1:-1] for v in a], dtype=object), None) if hit.sum() < 1000 else \
        np.where(hit, "(control characters)", None)
    return cleaned, [(hit, "contains control characters; they were removed",
                      "retype the text or save the file again from its program", "warning", shown)]


def _header_checks(t: RawTable, c: _Collector) -> bool:
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


def _unit_checks(t: RawTable, c: _Collector, col: str, values, has_pct, unit, ref=None, limit=None):
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


def _duplicates(t: RawTable, c: _Collector, keys: tuple[str, ...], key_arrays: list, valid: np.ndarray,
                shown: list | None = None):
    """Reject every copy of a duplicated key among rows whose key columns are valid."""
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
    c.add(t, dup, keys[-1], problems, fix, value=values)


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
                v = pd.arrays.PeriodArray(np.full(n, _INAT, dtype=np.int64), dtype="period[M]")
            elif col.kind == "bool":
                v = np.full(n, bool(col.default))
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
        elif col.kind == "bool":
            v = pd.Series(np.asarray(v, dtype=bool))
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
    """An empty typed frame with the columns of ``table`` (contracts, kpis, measurements, history, initiatives)."""
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
        backwards = p["end_date"] < p["start_date"]
        c.add(t, backwards, "end_date", "is before start_date", "check the contract term dates")
        ids = p["contract_id"]
        _duplicates(t, c, KEYS["contracts"], [ids], ids != "")
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
        n = len(t.frame)
        cid, kid = p["contract_id"], p["kpi_id"]
        per_ord = _ordinals(p["period"])
        per_ok = per_ord != _INAT
        unknown_c = _reference_check(t, c, cid != "", cid, known_contracts["contract_id"],
                                     rejected_contracts, "contract", contracts_label)
        kpi_index = pd.MultiIndex.from_arrays([known_kpis["contract_id"].to_numpy(dtype=object),
                                               known_kpis["kpi_id"].to_numpy(dtype=object)])
        pos = kpi_index.get_indexer(pd.MultiIndex.from_arrays([cid, kid])) if n and len(kpi_index) \
            else np.full(n, -1)
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

        # Revisions: missing means "the next after what is already stored" (1 when nothing is).
        rev = p["revision"] if p.get("revision") is not None else np.full(n, np.nan)
        rev = np.array(rev, dtype=float)
        keys_ok = (cid != "") & (kid != "") & per_ok
        stored = reference.get("history")
        if stored is not None and len(stored):
            s_key = pd.MultiIndex.from_arrays([stored["contract_id"].to_numpy(dtype=object),
                                               stored["kpi_id"].to_numpy(dtype=object), _ordinals(stored["period"])])
            last = pd.Series(stored["revision"].to_numpy(dtype=float), index=s_key).groupby(level=[0, 1, 2]).max()
            new_key = pd.MultiIndex.from_arrays([cid, kid, per_ord])
            prev = last.reindex(new_key).to_numpy(dtype=float)
            rev = np.where(np.isnan(rev), np.where(np.isnan(prev), 1, prev + 1), rev)
            stored_keys = pd.MultiIndex.from_arrays([s_key.get_level_values(0), s_key.get_level_values(1),
                                                     s_key.get_level_values(2),
                                                     stored["revision"].to_numpy(dtype=float)])
            again = keys_ok & pd.MultiIndex.from_arrays([cid, kid, per_ord, rev]).isin(stored_keys)
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
        _duplicates(t, c, KEYS["measurements"], [cid, kid, per_ord, rev], keys_ok,
                    shown=[cid, kid, t.frame["period"].to_numpy(dtype=object), shown_rev])

        keep = ~c.rejected["measurements"]
        history = _typed_frame(t, p, keep)
        # Sort by contract, KPI, month, revision (factorised codes: sorting 600k strings is slow).
        cc = pd.factorize(history["contract_id"].to_numpy(dtype=object), sort=True)[0]
        kc = pd.factorize(history["kpi_id"].to_numpy(dtype=object), sort=True)[0]
        ho = _ordinals(history["period"])
        hr = history["revision"].to_numpy()
        order = np.lexsort((hr, ho, kc, cc))
        history = history.iloc[order].reset_index(drop=True)
        cc, kc, ho, hr = cc[order], kc[order], ho[order], hr[order]
        # Within sorted keys, a row is superseded when the next row has the same key (a higher revision).
        same_next = np.zeros(len(history), dtype=bool)
        if len(history) > 1:
            same_next[:-1] = (cc[1:] == cc[:-1]) & (kc[1:] == kc[:-1]) & (ho[1:] == ho[:-1])
        history["superseded"] = same_next
        superseded_count = int(same_next.sum())
        _measurement_warnings(t, c, history, (cc, kc, ho, hr), kpis, late_after_days, raw["kpis"])
    measurements = history[~history["superseded"].to_numpy()].drop(columns="superseded").reset_index(drop=True)
    front = output_columns("history")
    history = history[front + [x for x in history.columns if x not in front]]
    mfront = output_columns("measurements")
    measurements = measurements[mfront + [x for x in measurements.columns if x not in mfront]]

    # --- initiatives -------------------------------------------------------------------------------------
    t = raw["initiatives"]
    p = parsed["initiatives"]
    if usable["initiatives"]:
        n = len(t.frame)
        cid, iid = p["contract_id"], p["initiative_id"]
        unknown_c = _reference_check(t, c, cid != "", cid, known_contracts["contract_id"],
                                     rejected_contracts, "contract", contracts_label)
        if p.get("kpi_id") is not None:
            kid = p["kpi_id"]
            kpi_index = pd.MultiIndex.from_arrays([known_kpis["contract_id"].to_numpy(dtype=object),
                                                   known_kpis["kpi_id"].to_numpy(dtype=object)])
            pos = kpi_index.get_indexer(pd.MultiIndex.from_arrays([cid, kid])) if n and len(kpi_index) \
                else np.full(n, -1)
            bad = (kid != "") & (cid != "") & ~unknown_c & (pos < 0)
            if bad.any():
                by_contract = known_kpis.groupby("contract_id")["kpi_id"].agg(list).to_dict()
                problems = np.empty(n, dtype=object)
                fixes = np.empty(n, dtype=object)
                for i in np.flatnonzero(bad):
                    if (cid[i], kid[i]) in rejected_kpis:
                        problems[i] = "refers to a KPI that was rejected"
                        fixes[i] = f"fix {kpis_label} row {rejected_kpis[(cid[i], kid[i])]} first"
                    else:
                        problems[i] = f"no KPI with this id in contract {cid[i]}"
                        hint = did_you_mean(kid[i], by_contract.get(cid[i], []))
                        fixes[i] = ((hint + " " if hint else "")
                                    + f"use a kpi_id of contract {cid[i]}, or leave it empty")
                c.add(t, bad, "kpi_id", problems, fixes)
        _duplicates(t, c, KEYS["initiatives"], [cid, iid], (cid != "") & (iid != ""))
    initiatives = _typed_frame(t, p, ~c.rejected["initiatives"]) if usable["initiatives"] \
        else empty_frame("initiatives")

    # --- accounting --------------------------------------------------------------------------------------
    used = {"contracts": len(contracts), "kpis": len(kpis), "measurements": len(measurements),
            "initiatives": len(initiatives)}
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
    accounting = pd.DataFrame(rows, columns=["table", "read", "used", "superseded", "rejected"])

    problems = c.frame()
    errors = problems[(problems["severity"] == "error").to_numpy()].reset_index(drop=True)
    warnings = problems[(problems["severity"] == "warning").to_numpy()].reset_index(drop=True)
    return Validated(_sorted(contracts, ["contract_id"]), _sorted(kpis, ["contract_id", "kpi_id"]),
                     measurements, history, _sorted(initiatives, ["contract_id", "initiative_id"]),
                     errors, warnings, accounting)


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable").reset_index(drop=True) if len(frame) else frame


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
        return ref.reset_index(drop=True)
    new_keys = pd.MultiIndex.from_frame(new[list(keys)].astype(object))
    ref_keys = pd.MultiIndex.from_frame(ref[list(keys)].astype(object))
    return pd.concat([new, ref[~ref_keys.isin(new_keys)]], ignore_index=True)


def _measurement_warnings(t, c, history, codes, kpis, late_after_days, kpi_table):
    """Missing months, empty values, late first returns and KPIs never reported (warnings, nothing rejected)."""
    cc, kc, ho, hr = codes
    sup = history["superseded"].to_numpy()
    win_mask = ~sup
    win = history[win_mask]

    def part(frame, column, values, problem, fix):
        c.parts.append(pd.DataFrame({
            "severity": "warning", "source": frame["source"].to_numpy(dtype=object), "sheet": t.sheet,
            "table": t.name, "row": frame["row"].to_numpy(), "column": column, "value": values,
            "problem": problem, "fix": fix, "contract_id": frame["contract_id"].to_numpy(dtype=object)}))

    empty = win[win["value"].isna().to_numpy()]
    if len(empty):
        part(empty, "value", None, "not reported: the value is empty",
             "ask the supplier for the value, or explain the gap in the note")
    # Late first returns: the first row of each key in sorted order is its lowest revision.
    first = np.ones(len(history), dtype=bool)
    if len(history) > 1:
        first[1:] = ~((cc[1:] == cc[:-1]) & (kc[1:] == kc[:-1]) & (ho[1:] == ho[:-1]))
    sub = history["submitted_on"].to_numpy(dtype="datetime64[us]")
    month_end = ((ho + 1).astype("datetime64[M]").astype("datetime64[D]") - np.timedelta64(1, "D"))
    lateness = (sub.astype("datetime64[D]") - month_end).astype("timedelta64[D]").astype(np.int64)
    late = first & ~np.isnat(sub) & (lateness > late_after_days)
    if late.any():
        rows = history[late]
        part(rows, "submitted_on", rows["submitted_on"].dt.strftime("%Y-%m-%d").to_numpy(dtype=object),
             [f"late return: submitted {d} days after the month ended (more than {late_after_days})"
              for d in lateness[late]],
             "remind the supplier of the reporting deadline in the contract")
    # Missing months: from a KPI's first reported month to its contract's last reported month.
    if len(win):
        wcc, wkc, wo = cc[win_mask], kc[win_mask], ho[win_mask]
        ck = wcc.astype(np.int64) * (int(wkc.max()) + 1) + wkc
        g = pd.DataFrame({"ck": ck, "cc": wcc, "o": wo})
        per_kpi = g.groupby("ck", sort=False).agg(cc=("cc", "first"), lo=("o", "min"), n=("o", "size"))
        per_kpi["hi"] = g.groupby("cc")["o"].max().reindex(per_kpi["cc"]).to_numpy()
        gaps = per_kpi[(per_kpi["hi"] - per_kpi["lo"] + 1 > per_kpi["n"]).to_numpy()]
        if len(gaps):
            recs = []
            first_row = {}
            ids = win[["contract_id", "kpi_id"]].to_numpy(dtype=object)
            for i, key in enumerate(ck):
                first_row.setdefault(int(key), i)
            have_by = g[g["ck"].isin(gaps.index)].groupby("ck")["o"].agg(set)
            for key, row in gaps.iterrows():
                ci, ki = ids[first_row[int(key)]]
                have = have_by[key]
                for o in range(int(row["lo"]), int(row["hi"]) + 1):
                    if o not in have:
                        per = pd.Period(ordinal=o, freq="M")
                        recs.append({"severity": "warning", "source": t.source, "sheet": t.sheet, "table": t.name,
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
            row_of = dict(zip(zip(kf["contract_id"], kf["kpi_id"]), kf["_row"]))
            c.parts.append(pd.DataFrame({
                "severity": "warning", "source": kpi_table.source, "sheet": kpi_table.sheet, "table": "kpis",
                "row": [row_of.get((a, b)) for a, b in zip(k["contract_id"], k["kpi_id"])],
                "column": "kpi_id", "value": k["kpi_id"].to_numpy(dtype=object),
                "problem": "no measurements for this KPI", "fix": "ask the supplier to report it",
                "contract_id": k["contract_id"].to_numpy(dtype=object)}))
