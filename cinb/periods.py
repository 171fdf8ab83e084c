"""Months: the one reader of month values (``YYYY-MM`` text, Periods, dates) that every module uses.

* `MONTH_RE` / `parse_month`: a month given by a user as text (``--period 2026-10``, a batch definition);
* `MONTH_PATTERN` / `MONTH_OR_DATE_PATTERN`: the same shapes as regex text, for the cell parsers of
  `cinb.cells` (a data cell may hold a full ISO date, meaning its month);
* `to_month`: any month-like value (text, Period, date, timestamp) as a monthly ``pd.Period``;
* `month_name`: a month as a reader writes it (``Oct 2026``).
"""

from __future__ import annotations

import re

import pandas as pd

from .errors import UsageError
from .formatting import month_label

#: A month as text, ``YYYY-MM``: four digits, a hyphen, two digits (the month is checked separately).
MONTH_PATTERN = r"[0-9]{4}-[0-9]{2}"
#: A month, or an ISO date (with an optional time of day) standing for its month: the shape of a month cell.
MONTH_OR_DATE_PATTERN = MONTH_PATTERN + r"(?:-[0-9]{2}(?:[ T][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?)?"
#: A month typed by a user: ``YYYY-MM`` with the month 01 to 12 (matched against stripped text).
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

# ISO months and dates only: pandas alone reads "March" as March of year 1 and "June 2025x" as something.
_ISO_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])(-\d{2})?$")


def parse_month(text) -> str:
    """Check a month typed by a user (``--period``, a batch definition) and return it stripped.

    Parameters
    ----------
    text : str
        ``YYYY-MM`` with a month from 01 to 12; surrounding spaces are allowed.

    Returns
    -------
    str
        The month as given, stripped (``"2026-10"``); not converted to a Period.

    Raises
    ------
    UsageError
        ``text`` is not a string or not a month in that form (e.g. ``2026-13``, ``Oct 2026``, ``2026-10-01``).

    Examples
    --------
    >>> parse_month(" 2026-10 ")
    '2026-10'
    """
    if not isinstance(text, str) or not MONTH_RE.match(text.strip()):
        raise UsageError(f"period {text!r} is not a month in the form YYYY-MM (for example 2026-10)")
    return text.strip()


def _missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def to_month(value, what: str = "period", *, required: bool = True) -> pd.Period | None:
    """A monthly Period from a Period, ``YYYY-MM`` (or ISO date) text, a date or a timestamp.

    Parameters
    ----------
    value : str, pd.Period, date, datetime, Timestamp or None
        The month; a Period of another frequency is converted to its month.
    what : str
        How the value is named in error messages (e.g. ``"period"``, ``"due"``).
    required : bool
        Whether a missing value (None, NaN, NaT) is an error.

    Returns
    -------
    pd.Period or None
        A Period with freq ``M``; None only for a missing value when not ``required``.

    Raises
    ------
    UsageError
        A missing value when ``required`` ("… is required"), or text that is not an ISO month or date
        (the message names ``what`` and the value).

    Examples
    --------
    >>> to_month("2026-10")
    Period('2026-10', 'M')
    """
    if _missing(value):
        if required:
            raise UsageError(f"{what} is required — give the month as YYYY-MM, e.g. 2026-10")
        return None
    if isinstance(value, pd.Period):
        return value if value.freqstr == "M" else value.asfreq("M")
    bad = UsageError(f"{what} {value!r} is not a month like 2026-03 — write it as YYYY-MM")
    if isinstance(value, str) and not _ISO_MONTH.match(value.strip()):
        raise bad
    try:
        month = pd.Period(value.strip() if isinstance(value, str) else value, freq="M")
    except (ValueError, TypeError, OverflowError):
        raise bad from None
    if pd.isna(month):
        raise bad
    return month


def month_name(p) -> str:
    """``Oct 2026`` for a month: how a reader writes it, not ``2026-10``.

    ``p`` is anything `to_month` accepts; raises UsageError as `to_month` does (a missing value included).
    """
    return month_label(to_month(p))
