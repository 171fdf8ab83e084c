"""SLA clocks (cinb.clocks): business hours, UK bank holidays with substitute days, pauses — hand-worked values,
and the vectorised clock against a day-by-day reference."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from cinb.clocks import Calendar, holiday_dates, paused_seconds, seconds_between

OFFICE = Calendar("office", start=9 * 3600, end=17 * 3600, regions=("england-and-wales",))
NO_HOLIDAYS = Calendar("plain", start=9 * 3600, end=17 * 3600)


def hours(a, b, cal=OFFICE):
    s = seconds_between(np.array([a], dtype="datetime64[ns]"), np.array([b], dtype="datetime64[ns]"), cal)
    return float(s[0]) / 3600


def test_business_hours_across_a_weekend():
    # Friday 2 October 2026 16:00 -> Monday 5 October 10:00: 1 h on Friday, none at the weekend, 1 h on Monday.
    assert hours("2026-10-02T16:00", "2026-10-05T10:00") == pytest.approx(2.0)
    assert hours("2026-10-02T16:00", "2026-10-05T10:00", None) == pytest.approx(66.0)  # elapsed


def test_christmas_2021_bank_holidays_and_their_substitute_days():
    # Christmas Day and Boxing Day 2021 fell on Saturday and Sunday; England and Wales took Monday 27 and
    # Tuesday 28 December instead. Friday 24th 16:00 -> Wednesday 29th 10:00 is 1 h + 1 h of business time.
    assert hours("2021-12-24T16:00", "2021-12-29T10:00") == pytest.approx(2.0)
    # Without the holidays the two substitute days count 8 h each.
    assert hours("2021-12-24T16:00", "2021-12-29T10:00", NO_HOLIDAYS) == pytest.approx(18.0)
    days = set(holiday_dates(("england-and-wales",), 2021, 2022).astype(str))
    assert {"2021-12-27", "2021-12-28", "2022-01-03"} <= days
    assert "2021-12-25" in days  # the day itself is listed too (a weekend day already)
    # Scotland has 2 January (and its substitute, 4 January 2021); England does not.
    scot = set(holiday_dates(("scotland",), 2021, 2021).astype(str))
    assert "2021-01-04" in scot and "2021-01-04" not in days


def test_ticket_opened_before_and_after_working_hours():
    # Opened 07:00, resolved 10:00 the same (working) day: the clock starts at 09:00.
    assert hours("2026-10-01T07:00", "2026-10-01T10:00") == pytest.approx(1.0)
    # Opened 19:00 Thursday, resolved 10:00 Friday: the clock starts at Friday's opening.
    assert hours("2026-10-01T19:00", "2026-10-02T10:00") == pytest.approx(1.0)
    # Opened and resolved outside hours the same evening: no business time at all.
    assert hours("2026-10-01T18:00", "2026-10-01T20:00") == pytest.approx(0.0)
    # Opened Saturday, resolved Monday 09:30.
    assert hours("2026-10-03T11:00", "2026-10-05T09:30") == pytest.approx(0.5)


def test_unknown_times_give_nan_and_days_without_hours():
    s = seconds_between(np.array(["2026-10-01T10:00", "NaT"], dtype="datetime64[ns]"),
                        np.array(["NaT", "2026-10-01T10:00"], dtype="datetime64[ns]"), OFFICE)
    assert np.isnan(s).all()
    all_day = Calendar("24x5", days=("Mon", "Tue", "Wed", "Thu", "Fri"))
    assert hours("2026-10-02T22:00", "2026-10-05T02:00", all_day) == pytest.approx(4.0)
    assert OFFICE.describe() == ("Mon–Fri 09:00–17:00, excluding England and Wales bank holidays (substitute days "
                                 "included)")


def _reference_business_seconds(a: datetime, b: datetime, cal: Calendar, hols: set) -> float:
    """Day by day, the overlap of [a, b] with each working day's opening hours (the obvious, slow way)."""
    total, day = 0.0, datetime(a.year, a.month, a.day)
    while day <= b:
        if cal.weekmask[day.weekday()] and day.date().isoformat() not in hols:
            lo = max(a, day + timedelta(seconds=cal.start))
            hi = min(b, day + timedelta(seconds=cal.end))
            total += max(0.0, (hi - lo).total_seconds())
        day += timedelta(days=1)
    return total


def test_vectorised_clock_equals_a_day_by_day_reference():
    rng = np.random.default_rng(7)
    n = 400
    start = pd.Timestamp("2021-12-01") + pd.to_timedelta(rng.uniform(0, 60 * 86400, n), unit="s")
    stop = start + pd.to_timedelta(rng.gamma(1.5, 30, n), unit="h")
    start, stop = start.floor("s"), stop.floor("s")
    got = seconds_between(start.to_numpy(), stop.to_numpy(), OFFICE)
    hols = set(holiday_dates(("england-and-wales",), 2021, 2022).astype(str))
    want = [_reference_business_seconds(a.to_pydatetime(), b.to_pydatetime(), OFFICE, hols)
            for a, b in zip(start, stop)]
    np.testing.assert_allclose(got, want, atol=1e-6)


def _log(rows):
    return pd.DataFrame(rows, columns=["id", "at", "state"]).assign(at=lambda d: pd.to_datetime(d["at"]))


def test_paused_time_from_an_audit_log():
    log = _log([
        ("INC1", "2026-10-05T09:00", "New"),
        ("INC1", "2026-10-05T10:00", "Awaiting User Info"),
        ("INC1", "2026-10-05T12:30", "In Progress"),
        ("INC1", "2026-10-05T14:00", "Awaiting User Info"),
        ("INC1", "2026-10-05T15:00", "Resolved"),
        # INC2 waits overnight: Monday 16:00 -> Tuesday 10:00 is 2 business hours, 18 elapsed hours.
        ("INC2", "2026-10-05T16:00", "Awaiting User Info"),
        ("INC2", "2026-10-06T10:00", "In Progress"),
        # INC3 was waiting before its clock started (08:00) and until 09:30: only 09:00-09:30 counts in
        # business time, 08:30-09:30 elapsed (clock from 08:30).
        ("INC3", "2026-10-05T08:00", "Awaiting User Info"),
        ("INC3", "2026-10-05T09:30", "In Progress"),
    ])
    ids = ["INC1", "INC2", "INC3"]
    start = pd.Series(pd.to_datetime(["2026-10-05T09:00", "2026-10-05T15:00", "2026-10-05T08:30"]), index=ids)
    stop = pd.Series(pd.to_datetime(["2026-10-05T15:00", "2026-10-06T12:00", "2026-10-05T12:00"]), index=ids)
    # Rows out of order in the file: the log is ordered by its change time.
    log = log.sample(frac=1, random_state=3)
    busy = paused_seconds(log["id"], log["at"], log["state"], ["Awaiting User Info"], start, stop, OFFICE) / 3600
    assert busy.to_dict() == pytest.approx({"INC1": 3.5, "INC2": 2.0, "INC3": 0.5})
    elapsed = paused_seconds(log["id"], log["at"], log["state"], ["Awaiting User Info"], start, stop) / 3600
    assert elapsed.to_dict() == pytest.approx({"INC1": 3.5, "INC2": 18.0, "INC3": 1.0})


def test_a_pause_still_running_stops_at_the_clock_stop_and_unknown_stops_pause_nothing():
    log = _log([("A", "2026-10-05T09:00", "New"), ("A", "2026-10-05T11:00", "On Hold")])
    start = pd.Series(pd.to_datetime(["2026-10-05T09:00"]), index=["A"])
    stop = pd.Series(pd.to_datetime(["2026-10-05T16:00"]), index=["A"])
    got = paused_seconds(log["id"], log["at"], log["state"], ["On Hold"], start, stop, OFFICE)
    assert got["A"] / 3600 == pytest.approx(5.0)
    got = paused_seconds(log["id"], log["at"], log["state"], ["On Hold"], start, stop.where(stop.isna()), OFFICE)
    assert got["A"] == 0.0
