"""Months: the one reader of month values (``YYYY-MM`` text, Periods, dates) that every module uses."""

from __future__ import annotations

import re

import pandas as pd

from .errors import UsageError

# ISO months and dates only: pandas alone reads "March" as March of year 1 and "June 2025x" as something.
_ISO_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])(-\d{2})?$")


def _missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def to_month(value, what: str = "period", *, required: bool = True) -> pd.Period | None:
    """A monthly Period from a Period, ``YYYY-MM`` (or ISO date) text, a date or a timestamp.

    Missing values raise UsageError ("… is required") when ``required``, else give None; text that is not an
    ISO month or date raises UsageError naming ``what`` and the value.

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
    """``Oct 2026`` for a month: how a reader writes it, not ``2026-10``."""
    return to_month(p).strftime("%b %Y")
