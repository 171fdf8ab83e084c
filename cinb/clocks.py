"""SLA clocks: elapsed and business time between two timestamps, whole arrays at once, with pauses.

A service-desk SLA ("priority 1 resolved within 4 business hours") runs its clock only in the calendar's working
hours: working weekdays, between the day's opening and closing times, never on a public holiday. This module
measures such durations for whole columns of timestamps without a Python loop per record:

* `Calendar`: working weekdays, opening hours and public holidays (England and Wales, Scotland, Northern Ireland
  from the `holidays` package — substitute days, such as Monday 27 and Tuesday 28 December 2021 for a Christmas
  Day and Boxing Day on a weekend, included — plus any dates the calendar adds, e.g. an authority's closure days).
* `business_clock`: the working seconds from a fixed epoch to each timestamp, ``W(t)``. The business time between
  ``a`` and ``b`` is ``W(b) - W(a)``: whole working days before ``t``'s date are counted by `numpy.busday_count`
  (weekmask and sorted holiday array in a `numpy.busdaycalendar`), and the part of ``t``'s own day inside the
  opening hours is added when that day is a working day. A ticket opened at 07:00 starts its clock at opening time;
  one opened at 19:00 starts it at the next working day's opening.
* `seconds_between`: elapsed (no calendar) or business seconds between two arrays of timestamps.
* `paused_seconds`: the seconds (elapsed or business) each record spent in named states, from an audit log.

Timestamps are naive local (UK) wall-clock times, as service-desk exports write them; `datetime64[ns]` arrays,
``NaT`` where unknown (the result is then NaN). Durations are in seconds (floats); a working day of a calendar
open 09:00–17:00 is 28,800 seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

__all__ = [
    "WEEKDAYS",
    "HOLIDAY_REGIONS",
    "Calendar",
    "holiday_dates",
    "business_clock",
    "seconds_between",
    "paused_seconds",
    "parse_clock_time",
]

#: Weekday names as definitions write them, Monday first (numpy's weekmask order).
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

#: The public-holiday calendars a definition may name → the `holidays` package's UK subdivision.
HOLIDAY_REGIONS = {"england-and-wales": "ENG", "scotland": "SCT", "northern-ireland": "NIR"}

#: Readable names of the regions, for plain-text definitions.
REGION_NAMES = {"england-and-wales": "England and Wales", "scotland": "Scotland",
                "northern-ireland": "Northern Ireland"}

#: A Monday well before any service-desk record: the origin of `business_clock`.
_EPOCH = np.datetime64("1970-01-05", "D")
_DAY = 86_400


def parse_clock_time(text) -> int | None:
    """Seconds after midnight of ``"HH:MM"`` (``"24:00"`` is the end of the day), or None when malformed."""
    if not isinstance(text, str):
        return None
    parts = text.strip().split(":")
    if len(parts) != 2 or not all(p.isdigit() and 1 <= len(p) <= 2 for p in parts):
        return None
    h, m = int(parts[0]), int(parts[1])
    if m > 59 or h > 24 or (h == 24 and m):
        return None
    return h * 3600 + m * 60


@dataclass(frozen=True)
class Calendar:
    """A business calendar: working weekdays, daily opening hours and public holidays.

    Attributes
    ----------
    name : str
        The name the definitions give it (``office``).
    days : tuple of str
        Working weekdays among `WEEKDAYS` (at least one).
    start, end : int
        Opening and closing time, seconds after midnight, ``0 <= start < end <= 86400`` (24:00).
    regions : tuple of str
        Public-holiday calendars, keys of `HOLIDAY_REGIONS`.
    extra_holidays : tuple of str
        Further non-working dates, ISO ``YYYY-MM-DD``.
    """

    name: str
    days: tuple[str, ...] = WEEKDAYS[:5]
    start: int = 0
    end: int = _DAY
    regions: tuple[str, ...] = ()
    extra_holidays: tuple[str, ...] = ()

    @property
    def day_seconds(self) -> int:
        """Working seconds in one working day (``end - start``)."""
        return self.end - self.start

    @property
    def weekmask(self) -> list[int]:
        """numpy's weekmask: seven 0/1 flags, Monday first."""
        return [int(d in self.days) for d in WEEKDAYS]

    def describe(self) -> str:
        """The calendar in words: ``Mon–Fri 09:00–17:00, excluding England and Wales bank holidays``."""
        idx = [WEEKDAYS.index(d) for d in self.days]
        if idx == list(range(idx[0], idx[-1] + 1)) and len(idx) > 2:
            days = f"{WEEKDAYS[idx[0]]}–{WEEKDAYS[idx[-1]]}"
        else:
            days = ", ".join(self.days)
        hours = "all day" if (self.start, self.end) == (0, _DAY) else f"{_hhmm(self.start)}–{_hhmm(self.end)}"
        text = f"{days} {hours}"
        if self.regions:
            text += ", excluding " + " and ".join(REGION_NAMES[r] for r in self.regions) + " bank holidays"
            text += " (substitute days included)"
        if self.extra_holidays:
            text += (" and " if self.regions else ", excluding ") + ", ".join(self.extra_holidays)
        return text

    def busdaycalendar(self, first_year: int, last_year: int) -> np.busdaycalendar:
        """A `numpy.busdaycalendar` of this calendar's working weekdays and holidays in the years given."""
        return np.busdaycalendar(weekmask=self.weekmask,
                                 holidays=holiday_dates(self.regions, first_year, last_year, self.extra_holidays))


def _hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def holiday_dates(regions, first_year: int, last_year: int, extra=()) -> np.ndarray:
    """The public holidays of ``regions`` from ``first_year`` to ``last_year``, sorted, as ``datetime64[D]``.

    Source: the `holidays` package's United Kingdom calendar for the subdivision of each region (``ENG``,
    ``SCT``, ``NIR``), which includes substitute ("observed") days and one-off bank holidays. ``extra`` adds ISO
    dates. Raises KeyError for a region outside `HOLIDAY_REGIONS` (definitions are validated first).
    """
    found: set[date] = set()
    if regions:
        import holidays  # imported only when a calendar has holidays

        years = range(first_year, last_year + 1)
        for region in regions:
            found.update(holidays.country_holidays("GB", subdiv=HOLIDAY_REGIONS[region], years=years).keys())
    dates = np.array(sorted(found), dtype="datetime64[D]") if found else np.array([], dtype="datetime64[D]")
    if extra:
        dates = np.union1d(dates, np.array(list(extra), dtype="datetime64[D]"))
    return dates


def _years(*arrays) -> tuple[int, int]:
    """The first and last calendar year of any timestamp in ``arrays`` (1970 and 1970 when all are NaT)."""
    lo, hi = None, None
    for a in arrays:
        a = np.asarray(a, dtype="datetime64[ns]")
        ok = a[~np.isnat(a)]
        if len(ok):
            y0 = int(ok.min().astype("datetime64[Y]").astype(int)) + 1970
            y1 = int(ok.max().astype("datetime64[Y]").astype(int)) + 1970
            lo = y0 if lo is None else min(lo, y0)
            hi = y1 if hi is None else max(hi, y1)
    return (lo or 1970, hi or 1970)


def business_clock(t, calendar: Calendar, busdaycal: np.busdaycalendar) -> np.ndarray:
    """Working seconds of ``calendar`` from the epoch (Monday 5 January 1970) to each timestamp of ``t``.

    ``W(t) = busday_count(epoch, date(t)) × day_seconds + clip(time(t), start, end) − start`` when ``date(t)`` is a
    working day, else without the second term. It is non-decreasing in ``t`` and constant outside working hours,
    so ``W(b) − W(a)`` is the working time in ``[a, b]``. Returns float seconds; NaN where ``t`` is NaT.
    """
    t = np.asarray(t, dtype="datetime64[ns]")
    out = np.full(t.shape, np.nan)
    ok = ~np.isnat(t)
    if not ok.any():
        return out
    tt = t[ok]
    day = tt.astype("datetime64[D]")
    sod = (tt - day.astype("datetime64[ns]")).astype(np.int64) / 1e9
    whole = np.busday_count(_EPOCH, day, busdaycal=busdaycal).astype(float) * calendar.day_seconds
    part = np.where(np.is_busday(day, busdaycal=busdaycal),
                    np.clip(sod, calendar.start, calendar.end) - calendar.start, 0.0)
    out[ok] = whole + part
    return out


def seconds_between(start, end, calendar: Calendar | None = None, busdaycal: np.busdaycalendar | None = None
                    ) -> np.ndarray:
    """Seconds from ``start`` to ``end`` (arrays of timestamps of one shape): elapsed, or business time.

    Parameters
    ----------
    start, end : array-like of datetime64
        The clock's start and stop, element by element; NaT gives NaN.
    calendar : Calendar, optional
        Count only ``calendar``'s working time; None counts elapsed time.
    busdaycal : numpy.busdaycalendar, optional
        ``calendar``'s days and holidays (built from the years of the data when not given).

    Returns
    -------
    ndarray of float
        Seconds, negative when ``end`` is before ``start``.
    """
    start = np.asarray(start, dtype="datetime64[ns]")
    end = np.asarray(end, dtype="datetime64[ns]")
    if calendar is None:
        out = (end - start).astype("timedelta64[ns]").astype(np.int64) / 1e9
        out[np.isnat(start) | np.isnat(end)] = np.nan
        return out
    if busdaycal is None:
        busdaycal = calendar.busdaycalendar(*_years(start, end))
    return business_clock(end, calendar, busdaycal) - business_clock(start, calendar, busdaycal)


def paused_seconds(ids, changed_at, states, paused_states, clock_start, clock_stop,
                   calendar: Calendar | None = None, busdaycal: np.busdaycalendar | None = None) -> pd.Series:
    """The time each record's clock spent in ``paused_states``, from an audit log with one row per change.

    The log is ordered by ``changed_at`` (the time each row was written; ties keep the rows' order) within each
    id. A row's state holds from its ``changed_at`` until the id's next row's ``changed_at`` (the last row's
    until ``clock_stop``); before an id's first row its state is unknown and never paused. The paused time of an
    id is the sum, over its rows in a paused state, of the overlap of that interval with ``[clock_start,
    clock_stop]`` of the id, measured in ``calendar``'s working time (or elapsed time without one) — as
    service-desk SLA engines stop the clock while a ticket waits on the caller.

    Parameters
    ----------
    ids : array-like
        The record id of each audit row.
    changed_at : array-like of datetime64
        When each row was written (NaT: the row is ignored).
    states : array-like of str
        The state column's value on each row.
    paused_states : iterable of str
        States in which the clock stops (compared after stripping spaces, case-sensitive).
    clock_start, clock_stop : pandas.Series of datetime64
        Each id's clock start and stop (indexed by id); a stop of NaT is treated as unknown (nothing paused).
    calendar, busdaycal :
        As for `seconds_between`.

    Returns
    -------
    pandas.Series
        Paused seconds (float) per id, indexed like ``clock_start``; 0 for an id with no paused interval.
    """
    log = pd.DataFrame({"id": np.asarray(ids, dtype=object),
                        "at": np.asarray(changed_at, dtype="datetime64[ns]"),
                        "state": pd.Series(np.asarray(states, dtype=object)).astype(str).str.strip().to_numpy()})
    log = log[~np.isnat(log["at"].to_numpy())]
    log = log.sort_values(["id", "at"], kind="stable")
    nxt = log.groupby("id", sort=False)["at"].shift(-1).to_numpy(dtype="datetime64[ns]")
    lo = np.asarray(log["at"].to_numpy(dtype="datetime64[ns]"))
    c0 = clock_start.reindex(log["id"]).to_numpy(dtype="datetime64[ns]")
    c1 = clock_stop.reindex(log["id"]).to_numpy(dtype="datetime64[ns]")
    hi = np.where(np.isnat(nxt), c1, nxt)
    lo = np.maximum(lo, c0)  # numpy's maximum and minimum propagate NaT: an unknown bound pauses nothing
    hi = np.minimum(hi, c1)
    paused = log["state"].isin({str(s).strip() for s in paused_states}).to_numpy()
    secs = seconds_between(lo, hi, calendar, busdaycal)
    secs = np.where(paused & (secs > 0), secs, 0.0)  # NaN (an unknown bound) and empty overlaps count nothing
    per_id = pd.Series(secs, index=log["id"].to_numpy()).groupby(level=0).sum()
    return per_id.reindex(clock_start.index, fill_value=0.0).astype(float)
