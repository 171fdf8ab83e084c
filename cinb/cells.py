"""Cell parsers: one column of text cells (as read from any source) to typed values and located issues.

Each parser takes an object array of stripped text cells (``''`` = empty) and the `cinb.schema.Column` they
belong to, and returns the typed values and a list of issues ``(mask, problem, fix)`` (optionally
``(mask, problem, fix, severity, shown value)``): ``mask`` flags the cells concerned, ``problem`` and ``fix``
are one text or one per cell. An empty cell is "not given", never an issue here (required values are checked
by `cinb.validate`). Bad cells become NaN / NaT / ``''``. Parsers never raise for bad data.

Rules (documented for users in the data guide):

* Numbers: plain decimals with a full stop (``98.5``, ``-3``, ``1e3``). A trailing ``%`` is accepted where
  ``Column.pct_sign`` says the quantity is in percentage points, nowhere else. A comma is rejected (``98,5``
  might be 98.5 or 985) with the number to write instead. ``nan``/``inf`` are rejected.
* Dates are ISO (``2026-10-31``; a time of day is accepted and dropped). Months are ``YYYY-MM`` (the shape is
  `cinb.periods.MONTH_OR_DATE_PATTERN`); a full ISO date in a month column means its month (Excel turns
  ``2026-10`` into a date). Years before `MIN_YEAR` are rejected.
* Cells in a form Excel shows rather than the form typed (``Jan-24``, ``12/02/2024``, ``N/A``, ``#DIV/0!``,
  ``1,234``) are rejected with a message that recognises the form and names the value to write
  (`cinb.excel_forms`).
* Choices (unit, direction, credit_method, status, raised_by) and yes/no are matched ignoring case and
  written back in canonical case.
* Control characters are removed from free text, with a warning.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .excel_forms import date_hint, marker_hint, number_hint, period_hint
from .hints import did_you_mean
from .periods import MONTH_OR_DATE_PATTERN
from .schema import ID_PATTERN, UNIT_SYNONYMS, Column

#: The earliest year a date or month may have. Older dates are typing slips (0000-01-01, 0024-05-01 for 2024)
#: and years before 1 AD cannot be held by Python's datetime, which the analyses and writers use.
MIN_YEAR = 1900
_EARLY_FIX = f"write the full four-digit year, e.g. 2024-05-01; years before {MIN_YEAR} are not accepted"

_NUMBER_RE = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_DECIMAL_COMMA_RE = r"[+-]?\d*,\d+"
_NONFINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
_DATE_RE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[ T][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?"
#: A month cell: ``YYYY-MM``, or an ISO date (and time) standing for its month.
_PERIOD_RE = MONTH_OR_DATE_PATTERN
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


#: pandas' integer marker of NaT: the ordinal of a missing month in a period array.
NAT_ORDINAL = np.iinfo(np.int64).min


def _fullmatch(a: np.ndarray, pattern: str) -> np.ndarray:
    """Element-wise regex full match over an object array of str (a tight loop: faster than .str here)."""
    rx = re.compile(pattern)
    return np.fromiter((rx.fullmatch(v) is not None for v in a), dtype=bool, count=len(a))


def is_empty(a: np.ndarray) -> np.ndarray:
    """A bool array: which cells of the object array of text ``a`` are empty (``''``)."""
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
    """Numbers with a full stop; ``%`` suffix only where ``col.pct_sign``.

    ``a`` is an object array of n stripped text cells (``''`` = empty) and ``col`` their column; issues are
    ``(mask, problem, fix)`` tuples as described in the module notes. Never raises for bad cells.

    Returns
    -------
    (ndarray of float, ndarray of bool, list)
        The values (NaN when empty or bad; in percentage points when written with ``%``), which cells had
        a ``%`` sign, and the issues (not a number, a comma, a currency sign, too large, a ``%`` not allowed).
    """
    a = _text(a)
    n = len(a)
    empty = is_empty(a)
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
            excel = marker_hint(b) or number_hint(b)
            if excel is not None:  # Excel's N/A and error markers, thousands separators, (1,234)
                problems[i], fixes[i] = excel
            elif low in _NONFINITE:
                problems[i] = "is not a finite number"
                fixes[i] = "leave the cell empty if no value was reported, otherwise write the number"
            elif re.fullmatch(_NUMBER_RE, b):
                problems[i] = "is too large to be a number"
                fixes[i] = "check the value"
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
    """Whole numbers (``2`` or ``2.0``), no ``%`` sign.

    ``a`` is an object array of n stripped text cells (``''`` = empty) and ``col`` their column; issues are
    ``(mask, problem, fix)`` tuples as described in the module notes. Never raises for bad cells.

    Returns ``(values, issues)``: a float array (NaN when empty or bad) and the issues of `parse_number`
    plus "is not a whole number".
    """
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


def _excel_forms(a: np.ndarray, bad: np.ndarray, what: str, hint, problem: str, fix: str):
    """The issue ``(bad, problems, fixes)`` for the ``bad`` cells of ``a``: a cell in one of Excel's forms (a
    re-formatted month or date, ``N/A``, ``#REF!``…) gets the message of `cinb.excel_forms` naming what to
    write, any other the generic ``problem`` and ``fix``. ``what`` names what the cell should hold.
    """
    problems = np.empty(len(a), dtype=object)
    fixes = np.empty(len(a), dtype=object)
    for i in np.flatnonzero(bad):
        problems[i], fixes[i] = marker_hint(a[i], what) or hint(a[i]) or (problem, fix)
    return bad, problems, fixes


def _agreed_hint(text: str):
    """`date_hint` for the agreed column, whose fix also allows yes or no."""
    found = date_hint(text)
    return (found[0].replace("a date in ISO form YYYY-MM-DD", "a date (YYYY-MM-DD), yes or no"), found[1]) if found else None


def parse_date(a: np.ndarray, col: Column):
    """ISO dates ``YYYY-MM-DD`` (a time of day is dropped).

    ``a`` is an object array of n stripped text cells (``''`` = empty) and ``col`` their column; issues are
    ``(mask, problem, fix)`` tuples as described in the module notes. Never raises for bad cells.

    Returns ``(values, issues)``: datetime64[us] values at midnight (NaT when empty or bad) and the issues
    (not ISO, not a real calendar date, before `MIN_YEAR`).
    """
    a = _text(a)
    empty = is_empty(a)
    shape = _fullmatch(a, _DATE_RE)
    year, month, day, real = _date_parts(a, shape)
    days = (((year - 1970) * 12 + month - 1).astype("datetime64[M]").astype("datetime64[D]")
            + (day - 1).astype("timedelta64[D]")) if len(a) else np.zeros(0, dtype="datetime64[D]")
    early = real & (year < MIN_YEAR)
    values = np.where(real & ~early, days.astype("datetime64[us]"), np.datetime64("NaT", "us"))
    issues = []
    bad_shape = ~empty & ~shape
    if bad_shape.any():
        issues.append(_excel_forms(a, bad_shape, "a date", date_hint, "is not a date in ISO form YYYY-MM-DD",
                                   "write the date as YYYY-MM-DD, e.g. 2026-10-31"))
    unreal = shape & ~real
    if unreal.any():
        issues.append((unreal, "is not a real calendar date", "check the day and month"))
    if early.any():
        issues.append((early, f"is before {MIN_YEAR}: not a date this data can hold", _EARLY_FIX))
    return values, issues


def parse_period(a: np.ndarray, col: Column):
    """Months ``YYYY-MM``; an ISO date (with or without a time) means its month.

    ``a`` is an object array of n stripped text cells (``''`` = empty) and ``col`` their column; issues are
    ``(mask, problem, fix)`` tuples as described in the module notes. Never raises for bad cells.

    Returns ``(values, issues)``: a PeriodArray of freq M (NaT when empty or bad) and the issues (not
    ``YYYY-MM``, month not 01 to 12 or date not real, before `MIN_YEAR`).
    """
    a = _text(a)
    empty = is_empty(a)
    shape = _fullmatch(a, _PERIOD_RE)
    d = _ymd(a, shape, 7)
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month = d[:, 5] * 10 + d[:, 6]
    real = shape & (month >= 1) & (month <= 12)
    full = shape & np.fromiter((len(v) > 7 for v in a), dtype=bool, count=len(a))
    if full.any():  # a full date must itself exist (2026-02-30 does not)
        real &= ~full | _date_parts(a, full)[3]
    early = real & (year < MIN_YEAR)
    ordinals = np.where(real & ~early, (year - 1970) * 12 + month - 1, NAT_ORDINAL).astype(np.int64)
    values = pd.arrays.PeriodArray(ordinals, dtype="period[M]")
    issues = []
    bad_shape = ~empty & ~shape
    if bad_shape.any():
        issues.append(_excel_forms(a, bad_shape, "a month", period_hint, "is not a month in the form YYYY-MM",
                                   "write the month as YYYY-MM, e.g. 2026-10 for October 2026"))
    unreal = shape & ~real
    if unreal.any():
        issues.append((unreal, "is not a real month", "the month must be 01 to 12, e.g. 2026-10"))
    if early.any():
        issues.append((early, f"is before {MIN_YEAR}: not a month this data can hold", _EARLY_FIX))
    return values, issues


def parse_choice(a: np.ndarray, col: Column):
    """One of ``col.choices``, ignoring case; written back in canonical case.

    ``a`` is an object array of n stripped text cells (``''`` = empty) and ``col`` their column; issues are
    ``(mask, problem, fix)`` tuples as described in the module notes. Never raises for bad cells.

    Returns ``(values, issues)``: an object array of canonical choices (``''`` when empty or bad) and the
    issues (not a valid choice, with "did you mean" and the allowed values).
    """
    a = _text(a)
    canon = {c.lower(): c for c in col.choices}
    values = np.array([canon.get(v.lower(), "") for v in a], dtype=object)
    empty = is_empty(a)
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
    """yes/no (also y/n, true/false, 1/0, any case); empty means the column's default.

    ``a`` is an object array of n stripped text cells (``''`` = empty) and ``col`` their column; issues are
    ``(mask, problem, fix)`` tuples as described in the module notes. Never raises for bad cells.

    Returns ``(values, issues)``: a bool array (``col.default`` when empty, False when bad) and the issues. A
    column without a default (``complete``, version 2: empty means "not said") gives an object array instead,
    None where the cell is empty or bad.
    """
    a = _text(a)
    low = [v.lower() for v in a]
    yes = np.array([v in _YES for v in low], dtype=bool)
    no = np.array([v in _NO for v in low], dtype=bool)
    empty = is_empty(a)
    bad = ~(yes | no | empty)
    if col.default is None:
        values = yes.astype(object)
        values[empty | bad] = None
        fix = "write yes or no, or leave the cell empty"
    else:
        values = np.where(empty, bool(col.default), yes)
        fix = f"write yes or no (empty means {'yes' if col.default else 'no'})"
    issues = [(bad, "is not yes or no", fix)] if bad.any() else []
    return values, issues


def parse_agreed(a: np.ndarray, col: Column):
    """An ISO date, ``yes`` or ``no``: when (or whether) the KPI definition was agreed with the supplier.

    ``a`` is an object array of n stripped text cells (``''`` = empty) and ``col`` their column; issues are
    ``(mask, problem, fix)`` tuples as described in the module notes. Never raises for bad cells.

    Returns ``(values, issues)``: an object array of ``YYYY-MM-DD``, ``yes`` or ``no`` (``''`` when empty
    or bad) and the issues (neither a date nor yes/no, before `MIN_YEAR`).
    """
    a = _text(a)
    low = np.array([v.lower() for v in a], dtype=object)
    word = (low == "yes") | (low == "no")
    empty = is_empty(a)
    shape = _fullmatch(a, _DATE_RE) & ~word
    year, _, _, real = _date_parts(a, shape)
    early = real & (year < MIN_YEAR)
    real &= ~early
    values = np.where(word, low, np.where(real, np.array([v[:10] for v in a], dtype=object), ""))
    bad = ~(word | empty | real | early)
    issues = [_excel_forms(a, bad, "a date", _agreed_hint, "is not a date, yes or no",
                           "write the date the definition was agreed (YYYY-MM-DD), yes or no")] if bad.any() else []
    if early.any():
        issues.append((early, f"is before {MIN_YEAR}: not a date this data can hold", _EARLY_FIX))
    return values, issues


def parse_id(a: np.ndarray, col: Column):
    """Identifiers matching `cinb.schema.ID_PATTERN` (safe in file names).

    ``a`` is an object array of n stripped text cells (``''`` = empty) and ``col`` their column; issues are
    ``(mask, problem, fix)`` tuples as described in the module notes. Never raises for bad cells.

    Returns ``(values, issues)``: an object array of the ids (``''`` when empty or bad) and the issues
    (not a valid identifier, with a suggested id).
    """
    a = _text(a)
    empty = is_empty(a)
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


#: The parser of each column kind except ``number`` and ``text`` (which `cinb.validate` calls directly),
#: each run on the distinct values of a column: ``PARSERS[kind](cells, col) -> (values, issues)``.
PARSERS = {
    "date": _on_uniques(parse_date),
    "period": _on_uniques(parse_period),
    "choice": _on_uniques(parse_choice),
    "bool": _on_uniques(parse_bool),
    "agreed": _on_uniques(parse_agreed),
    "id": _on_uniques(parse_id),
    "int": _on_uniques(parse_int),
}


def clean_text(a: np.ndarray):
    """Remove control characters (NUL, escape…) from free text, with a warning: they break reports and Excel.

    Returns ``(cleaned, issues)``: the object array ``a`` with control characters removed (``a`` itself when
    it has none) and at most one issue ``(mask, problem, fix, "warning", shown values)``.
    """
    if not len(a) or _CONTROL.search("\n".join(a)) is None:
        return a, []
    hit = np.fromiter((_CONTROL.search(v) is not None for v in a), dtype=bool, count=len(a))
    cleaned = a.copy()
    cleaned[hit] = [_CONTROL.sub("", v) for v in a[hit]]
    shown = np.where(hit, np.array([repr(v)[1:-1] for v in a], dtype=object), None) if hit.sum() < 1000 else \
        np.where(hit, "(control characters)", None)
    return cleaned, [(hit, "contains control characters; they were removed",
                      "retype the text or save the file again from its program", "warning", shown)]


def _suggest_id(v: str) -> str:
    """``e.g. 'X'``: the id to suggest for a bad one (unsafe characters as hyphens)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", v.strip()).strip("-._")[:64]
    return f"e.g. {cleaned!r}" if cleaned else "e.g. 'C-001'"
