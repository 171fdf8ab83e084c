"""Excel's forms of values: recognise what a spreadsheet made of a cell and say what to write instead.

A CSV file opened in Excel and saved again carries Excel's display of each cell, not what was typed: a month
``2024-01`` comes back as ``Jan-24``, a date as ``12/02/2024`` or ``12-Feb-2024``, a missing value as ``#N/A``
or ``-``, a number as ``1,234``. The cell parsers of `cinb.cells` call these functions for the cells they
reject, so that the one message for such a cell recognises the form and names the value to write.

Each ``*_hint`` function takes one stripped text cell and returns ``(problem, fix)`` or None when the cell is
not a form it knows. Two-digit years follow Excel: 00 to 29 are 2000 to 2029, 30 to 99 are 1930 to 1999.
"""

from __future__ import annotations

import datetime as dt
import re

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s*[AaPp]\.?[Mm]\.?)?)?"
_YEAR = r"(?P<y>\d{4}|\d{2})"
_NAME = r"(?P<mon>[A-Za-z]{3,9})\.?"
#: Month forms: Jan-24, Jan 2024, January 2024, Sept-2024, 24-Jan, 2024-Jan, 01/2024, 1-2024, 2024/01, 2024-1.
_MONTH_FORMS = [re.compile(p, re.IGNORECASE) for p in (
    rf"{_NAME}[\s/'-]*{_YEAR}",
    rf"{_YEAR}[\s/-]{_NAME}",
    r"(?P<m>\d{1,2})[/.-](?P<y>\d{4})",
    r"(?P<y>\d{4})(?:[/.](?P<m>\d{1,2})|-(?P<m1>\d))",
)]
#: Date forms with the month named: 12-Feb-2024, 12 February 2024, 12th Feb 24, Feb 12, 2024, Monday, 12 February 2024.
_DAY = r"(?:[A-Za-z]+day,?\s+)?"
_NAMED_DATES = [re.compile(p + _TIME, re.IGNORECASE) for p in (
    rf"{_DAY}(?P<d>\d{{1,2}})(?:st|nd|rd|th)?[\s/-]+{_NAME},?[\s/-]+{_YEAR}",
    rf"{_DAY}{_NAME}\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})",
)]
#: Dates with the year first but not ISO: 2024/02/12, 2024.2.12, 2024-2-5.
_YEAR_FIRST = re.compile(r"(?P<y>\d{4})[/.-](?P<m>\d{1,2})[/.-](?P<d>\d{1,2})" + _TIME)
#: Dates of three numbers, day or month first: 12/02/2024, 2/12/24, 12.02.2024, 12-02-2024.
_NUMERIC = re.compile(r"(?P<a>\d{1,2})[/.-](?P<b>\d{1,2})[/.-]" + _YEAR + _TIME)

_NOT_AVAILABLE = {"n/a", "na", "n.a.", "n.a", "not available"}
_ERRORS = {"#n/a", "#na", "#div/0!", "#value!", "#ref!", "#name?", "#num!", "#null!", "#spill!", "#calc!",
           "#field!", "#blocked!", "#connect!", "#busy!", "#unknown!", "#getting_data"}
_DASHES = {"-", "--", "\u2013", "\u2014"}

_KEEP_AS_TYPED = "format the column as Text in Excel so that it stays as typed"


def _year(text: str) -> int:
    y = int(text)
    return y if len(text) == 4 else (2000 + y if y < 30 else 1900 + y)


def _month_number(word: str) -> int | None:
    """1 to 12 for a month name or its abbreviation (``Jan``, ``Sept``, ``February``), else None."""
    word = word.lower()
    if len(word) < 3:
        return None
    return next((i for i, name in enumerate(_MONTHS, start=1) if name.startswith(word)), None)


def _real(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def _month_form(text: str) -> tuple[int, int] | None:
    """(year, month) of a cell written as a month in one of Excel's forms (``Jan-24``, ``01/2024``…)."""
    for rx in _MONTH_FORMS:
        m = rx.fullmatch(text)
        if m is None:
            continue
        groups = m.groupdict()
        month = _month_number(groups["mon"]) if groups.get("mon") else int(groups.get("m") or groups["m1"])
        if month is not None and 1 <= month <= 12:
            return _year(groups["y"]), month
    return None


def _dates(text: str) -> list[dt.date]:
    """The real dates a non-ISO date cell may mean: one, or two (day or month first, as in 03/04/2024)."""
    for rx in _NAMED_DATES:
        m = rx.fullmatch(text)
        if m is not None:
            month = _month_number(m["mon"])
            day = _real(_year(m["y"]), month, int(m["d"])) if month else None
            return [day] if day else []
    m = _YEAR_FIRST.fullmatch(text)
    if m is not None:
        day = _real(int(m["y"]), int(m["m"]), int(m["d"]))
        return [day] if day else []
    m = _NUMERIC.fullmatch(text)
    if m is None:
        return []
    y, a, b = _year(m["y"]), int(m["a"]), int(m["b"])
    found = [d for d in (_real(y, b, a), _real(y, a, b)) if d is not None]  # day first (UK), then month first
    return list(dict.fromkeys(found))


def _either(first: str, second: str, a: str, b: str) -> str:
    """The fix for a date of two readings: the day-first one, then the month-first one."""
    return f"write {first} if {a} is the day and {b} the month, or {second} if the month comes first"


def date_hint(text: str) -> tuple[str, str] | None:
    """``(problem, fix)`` for a date cell in a form Excel shows (``12/02/2024``, ``12-Feb-2024``), else None.

    The fix names the ISO date to write; a date of two readings (``03/04/2024``) names both.
    """
    found = _dates(text)
    if not found:
        return None
    problem = "is not a date in ISO form YYYY-MM-DD: it looks like a date Excel re-formatted"
    if len(found) == 2:
        m = _NUMERIC.fullmatch(text)
        return problem, _either(found[0].isoformat(), found[1].isoformat(), m["a"], m["b"])
    return problem, f"write {found[0].isoformat()}"


def period_hint(text: str) -> tuple[str, str] | None:
    """``(problem, fix)`` for a month cell in a form Excel shows (``Jan-24``, ``January 2024``, ``01/2024``, or
    a date such as ``01/03/2025``), else None. The fix names the ``YYYY-MM`` month to write.
    """
    month = _month_form(text)
    if month is not None:
        return ("is not a month in the form YYYY-MM: it looks like a month Excel re-formatted",
                f"write {month[0]:04d}-{month[1]:02d} ({_KEEP_AS_TYPED})")
    found = _dates(text)
    if not found:
        return None
    problem = "is not a month in the form YYYY-MM: it looks like a date Excel re-formatted"
    months = list(dict.fromkeys(f"{d:%Y-%m}" for d in found))
    if len(months) == 2:
        m = _NUMERIC.fullmatch(text)
        return problem, _either(months[0], months[1], m["a"], m["b"]) + f" ({_KEEP_AS_TYPED})"
    return problem, f"write {months[0]} ({_KEEP_AS_TYPED})"


def month_guess(text) -> int | None:
    """The month a rejected month cell most likely meant (the first reading `period_hint` names), else None.

    Returned as a month ordinal: months since 1970-01, as pandas numbers monthly Periods.
    """
    text = str(text)
    month = _month_form(text)
    if month is None:
        found = _dates(text)
        month = (found[0].year, found[0].month) if found else None
    return (month[0] - 1970) * 12 + month[1] - 1 if month else None


def marker_hint(text: str, what: str = "a number") -> tuple[str, str] | None:
    """``(problem, fix)`` for Excel's markers of no value (``N/A``, ``#N/A``, ``#DIV/0!``, ``#REF!``, ``-``…).

    ``what`` names what the cell should hold (``a number``, ``a date``). None for any other text.
    """
    low = text.lower()
    empty = "leave the cell empty if the value was not reported"
    if low in _NOT_AVAILABLE:
        return f"is a 'not available' marker (N/A), not {what}", empty
    if low in ("#n/a", "#na"):
        return (f"is Excel's #N/A marker (not available, e.g. a lookup that found nothing), not {what}",
                f"{empty}, or fix the formula in the source sheet")
    if low in _ERRORS:
        return (f"is an Excel error marker ({text.upper()}): a formula failed, so this is not {what}",
                f"fix the formula in the source sheet and save again, or {empty}")
    if low in _DASHES:
        zero = ", or write 0 if the dash is Excel's accounting format for zero" if what == "a number" else ""
        return f"is a dash, not {what}", f"{empty}{zero}"
    return None


_GROUPED = re.compile(r"(?P<sign>[+-]?)\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_BRACKETED = re.compile(r"\(\s*[£$€]?\s*(?P<n>\d[\d,]*(?:\.\d+)?)\s*\)")


def number_hint(text: str) -> tuple[str, str] | None:
    """``(problem, fix)`` for a number in a form Excel shows: thousands separators (``1,234,567``), or a
    negative number in brackets (accounting format, ``(1,234)``); else None.

    A single comma group (``1,234``) may also be a decimal comma: the fix names both readings.
    """
    m = _BRACKETED.fullmatch(text)
    if m is not None and re.fullmatch(r"\d{1,3}(?:,\d{3})*(?:\.\d+)?|\d+(?:\.\d+)?", m["n"]):
        return ("is a negative number in brackets (Excel's accounting format)",
                f"write -{m['n'].replace(',', '')} (a minus sign, no brackets or commas)")
    if _GROUPED.fullmatch(text) is None:
        return None
    plain = text.replace(",", "")
    if text.count(",") > 1 or "." in text:
        return "uses a thousands separator (a comma)", f"write {plain} (no thousands separators)"
    return ("has a comma: a thousands separator or a decimal comma?",
            f"write {plain} if the comma separates thousands (as Excel shows 1,234), or {text.replace(',', '.')} "
            "if it is a decimal point")
