"""How numbers, money, percentages, months and missing values are written in every pack, sentence, table and export.

One module, so that a figure reads the same wherever it appears and a change of rule is made once. Each
function below is one rule; where two places of a pack have long written the same kind of value differently
(e.g. a KPI value in a sentence, ``98.2%``, and in a Contract Performance Notice, ``98.25%``), both rules are
kept as separate named functions or as a parameter, because a pack must not change when the code is tidied.

This module sits at the bottom of the package: it imports only the standard library, numpy and pandas.

Missing values
--------------
The words for "no value" mean different things and are kept apart; each is defined once here:

=====================  =================  =========================================================================
constant               text               used when
=====================  =================  =========================================================================
:data:`NOT_REPORTED`   ``not reported``   the supplier was due to report a value and did not (the month's value is
                                          empty or its row absent): KPI values in sentences, the note of a credit
                                          line, the chart alt text, the chart data table (capitalised)
:data:`NOT_AVAILABLE`  ``not available``  a figure that cannot be shown because there is nothing to compute it
                                          from: chart labels and alt texts, and the screen-reader text of an empty
                                          table cell (shown on screen as :data:`DASH`)
:data:`NOT_APPLICABLE` ``n/a``            a number that is undefined inside a computed sentence (a commitment's
                                          reason, a trend slope), a chart bar with no data (apart from ``£0``, a
                                          month without credits) and a heat-map cell for a KPI the contract does
                                          not have
:data:`NONE`           ``none``           a level or item that is not set at all: a level missing from a CPN basis,
                                          a KPI with no kind of commitment, no parameter files
:data:`NOT_GIVEN`      ``not given``      an optional contract date the authority left empty (the notice date)
:data:`NOTHING`        ``nothing``        a definition with no missing element
:data:`DASH`           ``–``              an empty cell of a pack table or key fact (en dash)
=====================  =================  =========================================================================
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import datetime as _dt
import math
import numbers
from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = [
    "NOT_REPORTED", "NOT_AVAILABLE", "NOT_APPLICABLE", "NONE", "NOT_GIVEN", "NOTHING", "DASH",
    "is_missing", "capitalised",
    "trimmed", "value_text", "level_text", "value_text_apart", "reason_number", "sig_figs", "chart_number", "decimal",
    "unit_symbol", "per_unit_words", "NATURAL_BOUNDS", "within_bounds",
    "money", "money_short", "pence",
    "percent", "percent_value", "p_value_text",
    "month_label", "day_label", "day_label_short", "datetime_label", "iso_date",
    "cell_text", "decimals_needed", "level_places",
    "plural", "noun_for", "agree", "list_and", "yes_no",
]

# ------------------------------------------------------------------------------------------- missing values

#: The supplier was due to report a value and did not (empty value cell or no row for the month).
NOT_REPORTED = "not reported"
#: A figure that cannot be shown because there is nothing to compute it from (chart labels, alt texts; the
#: screen-reader words of an empty table cell).
NOT_AVAILABLE = "not available"
#: A number that is undefined (NaN or infinite) inside a computed sentence; a chart bar or heat-map cell with
#: no data at all.
NOT_APPLICABLE = "n/a"
#: A level or item that is not set at all (a level missing from a CPN basis, no commitment kind, no files).
NONE = "none"
#: An optional contract date the authority left empty.
NOT_GIVEN = "not given"
#: A KPI definition with no missing element.
NOTHING = "nothing"
#: The on-screen mark of an empty table cell or key fact (an en dash, U+2013).
DASH = "–"


def is_missing(v) -> bool:
    """True for None, NaN, NaT and pd.NA (scalars only: a list or array is never "missing")."""
    if v is None or v is pd.NaT or v is pd.NA:
        return True
    if isinstance(v, float | np.floating):
        return math.isnan(v)
    try:
        # pd.isna is scalar-safe only for scalars; lists etc. are not "missing"
        return bool(pd.isna(v)) if np.ndim(v) == 0 else False
    except (TypeError, ValueError):
        return False


def capitalised(word: str) -> str:
    """``word`` with its first letter upper case and the rest unchanged (``not reported`` → ``Not reported``)."""
    return word[:1].upper() + word[1:]


# ---------------------------------------------------------------------------------------------------- numbers


def trimmed(v: float, places: int) -> str:
    """``v`` to ``places`` decimals with thousands commas, trailing zeros and a bare point removed.

    >>> trimmed(1234.500, 2), trimmed(98.0, 2)
    ('1,234.5', '98')
    """
    return f"{v:,.{places}f}".rstrip("0").rstrip(".")


def value_text(value, unit: str | None, *, missing: str = NOT_REPORTED) -> str:
    """A KPI value with its unit as a reader writes it: ``98.2%``, ``4.5 hours``, ``£0.52``, ``3.25``.

    The rule of pack sentences and tables: 2 decimals below 10 and 1 from 10 up, trailing zeros trimmed; a
    ``%`` unit is written straight after the number; ``GBP`` as pounds and pence (``£1,234.50``, not
    trimmed); no unit word for ``count``, ``score`` or no unit; any other unit after a space.

    Parameters
    ----------
    value : number or None
        The value; None or NaN gives ``missing``.
    unit : str or None
        The KPI's unit (``%``, ``hours``, ``days``, ``minutes``, ``count``, ``score``, ``GBP``).
    missing : str, default :data:`NOT_REPORTED`
        Text for a missing value (tables pass :data:`DASH`).

    Examples
    --------
    >>> value_text(98.25, "%"), value_text(4.5, "hours"), value_text(None, "%")
    ('98.2%', '4.5 hours', 'not reported')
    """
    if value is None or pd.isna(value):
        return missing
    v = float(value)
    return _with_unit(v, trimmed(v, 2 if abs(v) < 10 else 1), unit)


def level_text(value, unit: str | None, *, missing: str = NOT_REPORTED) -> str:
    """A contractual level (SLA, target, CI commitment) with its unit: as :func:`value_text`, but never rounded
    away from how it is written (up to three decimals, :func:`level_places`), so that a 99.95% target is not
    "100%" and a 0.005 rate not "0.01".

    >>> level_text(99.95, "%"), level_text(75, "%"), level_text(0.005, None), level_text(4.5, "hours")
    ('99.95%', '75%', '0.005', '4.5 hours')
    """
    if value is None or pd.isna(value):
        return missing
    v = float(value)
    return _with_unit(v, trimmed(v, max(2 if abs(v) < 10 else 1, level_places(v))), unit)


def _with_unit(v: float, text: str, unit: str | None) -> str:
    """``text`` (the number ``v`` written out) with ``unit`` as :func:`value_text` writes it."""
    if unit == "%":
        return f"{text}%"
    if unit == "GBP":
        return f"£{v:,.2f}"
    if unit in (None, "", "count", "score"):
        return text
    return f"{text} {unit}"


def value_text_apart(value, unit, *, apart_from: Iterable = (), missing: str = NONE) -> str:
    """A value in its unit with enough decimals to differ visibly from each level it differs from.

    The rule of a Contract Performance Notice's ``basis`` column: 2 decimals, or 4 or 6 when 2 would print
    the value the same as a different level in ``apart_from`` (an aggregate of 97.996 shown as ``98%`` next
    to "target 98%" and a rating below Good would read as a bug); trailing zeros trimmed; ``%`` and ``£``
    written without a space, any other unit (``count`` and ``score`` included) after a space.

    Parameters
    ----------
    value : float or None
        The value; None or NaN gives ``missing``.
    unit : str or None
    apart_from : iterable of float
        Levels (target, SLA, critical) the text must not collide with; NaN levels are ignored.
    missing : str, default :data:`NONE`
        Text for a missing value (a level not set).

    Examples
    --------
    >>> value_text_apart(97.996, "%", apart_from=(98.0,)), value_text_apart(None, "%")
    ('97.996%', 'none')
    """
    if value is None or pd.isna(value):
        return missing
    apart_from = tuple(apart_from)
    for places in (2, 4, 6):
        text = trimmed(value, places)
        if not any(pd.notna(a) and a != value and text == trimmed(a, places) for a in apart_from):
            break
    if unit == "%":
        return text + "%"
    if unit == "GBP":
        return "£" + text
    return f"{text} {unit}" if isinstance(unit, str) and unit else text


def reason_number(value) -> str:
    """A bare number in a computed reason (CI commitments): up to 2 decimals, trailing zeros trimmed.

    None, NaN and infinities give :data:`NOT_APPLICABLE`; ``-0`` is written ``0``.

    >>> reason_number(92.5), reason_number(-0.001), reason_number(float("nan"))
    ('92.5', '0', 'n/a')
    """
    if value is None or not np.isfinite(value):
        return NOT_APPLICABLE
    text = trimmed(value, 2)
    return "0" if text in ("-0", "") else text


def sig_figs(value, digits: int = 3) -> str:
    """A number in a statistical sentence (trend slopes): ``digits`` significant figures, never 1e-05 notation.

    None, NaN and infinities give :data:`NOT_APPLICABLE`; zero is ``0``; a value that ``g`` formatting would
    write in scientific notation is written with up to 6 decimals instead.

    >>> sig_figs(0.123456), sig_figs(1234.5), sig_figs(0.00001234)
    ('0.123', '1234.5', '0.000012')
    """
    if value is None or not np.isfinite(value):
        return NOT_APPLICABLE
    if value == 0:
        return "0"
    text = f"{value:.{digits}g}"
    if "e" in text:
        text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text


def chart_number(v, unit: str | None = None, decimals: int | None = None) -> str:
    """A number on a chart or in its alt text: whole pounds for ``GBP``, else one decimal (``decimals`` to change).

    One decimal everywhere (means and limits are rarely whole) so that numbers in a sentence line up. None
    and NaN give :data:`NOT_AVAILABLE`. No unit word is added: the axis label carries the unit.

    >>> chart_number(98.25, "%"), chart_number(1234.4, "GBP"), chart_number(None)
    ('98.2', '£1,234', 'not available')
    """
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return NOT_AVAILABLE
    v = float(v)
    if unit == "GBP":  # whole pounds on a chart, rounded half up like money()
        return money(float(Decimal(repr(v)).quantize(Decimal("1"), rounding=ROUND_HALF_UP)))
    return f"{v:,.{1 if decimals is None else decimals}f}"


def decimal(x, places: int = 0, *, missing: str = DASH) -> str:
    """A number to a fixed number of decimals, no thousands commas (scores ``72``, p-values ``0.043``).

    >>> decimal(71.6), decimal(0.04321, 3), decimal(None)
    ('72', '0.043', '–')
    """
    return missing if x is None or pd.isna(x) else f"{float(x):.{places}f}"


def unit_symbol(unit: str | None) -> str:
    """The unit as an axis label writes it in brackets: ``£`` for GBP, nothing for no unit, else the unit."""
    return {"GBP": "£", None: "", "": ""}.get(unit, str(unit))


def per_unit_words(unit: str | None) -> str:
    """The unit of a change, with a leading space: ``" percentage points"`` for ``%``, ``" hours"``, or ``""``."""
    return {"%": " percentage points", None: ""}.get(unit, f" {unit}" if unit else "")


# ------------------------------------------------------------------------------------------------------ money


def money(x, *, missing: str = "£0") -> str:
    """An amount of money as a reader writes it: whole pounds ``£1,234``, or pounds and pence ``£1,234.50``.

    Rounded to the penny half up (``£16.505`` → ``£16.51``; never to even, and never to whole pounds: a credit of
    £16.50 is not £16); pence are shown only when the amount is not a whole number of pounds.

    Parameters
    ----------
    x : number or None
        Pounds sterling.
    missing : str, default ``"£0"``
        Text for None/NaN. Sentences about service credits and benefits read a missing sum as no money
        (``£0``); tables pass :data:`DASH` to show the cell empty.

    Examples
    --------
    >>> money(1234.5), money(4083.3333), money(1500.0), money(None), money(None, missing="–")
    ('£1,234.50', '£4,083.33', '£1,500', '£0', '–')
    """
    if x is None or pd.isna(x):
        return missing
    d = Decimal(repr(float(x))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if d < 0 else ""
    d = abs(d)
    if d == d.to_integral_value():
        return f"{sign}£{int(d):,}"
    return f"{sign}£{d:,.2f}"


def pence(v) -> str:
    """Pounds and pence without the sign, for a table column headed "(£)": ``1,234.50``."""
    return f"{v:,.2f}"


def money_short(v: float) -> str:
    """An amount short enough for a bar label: ``£1.2m``, ``£12k``, ``£1.5k``, ``£950``."""
    if abs(v) >= 1_000_000:
        return f"£{v / 1e6:.1f}m"
    if abs(v) >= 10_000:
        return f"£{v / 1e3:.0f}k"
    if abs(v) >= 1_000:
        return f"£{v / 1e3:.1f}k"
    return f"£{v:,.0f}"


# -------------------------------------------------------------------------------------------------- percents


def percent(share, places: int = 0, *, missing: str = DASH) -> str:
    """A share (0–1) as a percentage: ``0.716`` → ``72%``; None/NaN gives ``missing``."""
    return missing if share is None or pd.isna(share) else f"{100 * float(share):.{places}f}%"


def percent_value(v, places: int | None = None, *, missing: str = DASH) -> str:
    """A number already in percent, with its sign: ``1.5`` → ``1.50%`` (``places=2``), ``1.5%`` (``None``: ``g``)."""
    if v is None or pd.isna(v):
        return missing
    return f"{v:g}%" if places is None else f"{v:.{places}f}%"


def p_value_text(p: float) -> str:
    """A p-value in a sentence: ``p < 0.001`` or ``p = 0.043``."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


# ----------------------------------------------------------------------------------------------------- dates


def month_label(p) -> str:
    """A month as a reader writes it: ``Oct 2026`` (from a Period, a date or ``YYYY-MM`` text)."""
    if not isinstance(p, pd.Period):
        p = pd.Period(p, freq="M")
    return p.strftime("%b %Y")


def day_label(d) -> str:
    """A day as a reader writes it: ``1 Oct 2026`` (no leading zero)."""
    d = pd.Timestamp(d)
    return f"{d.day} {d:%b %Y}"


def day_label_short(d) -> str:
    """A day in the little space of a chart label: ``1 Oct 26``."""
    d = pd.Timestamp(d)
    return f"{d.day} {d:%b %y}"


def datetime_label(d) -> str:
    """A moment as a reader writes it: ``1 Oct 2026 14:05``."""
    d = pd.Timestamp(d)
    return f"{d.day} {d:%b %Y %H:%M}"


def iso_date(x, *, missing: str = DASH) -> str:
    """A date as ``2026-10-01`` (the form of dates in pack tables and the evidence trail); None/NaT give ``missing``."""
    return pd.Timestamp(x).date().isoformat() if pd.notna(x) else missing


# ----------------------------------------------------------------------------------------------- table cells


def cell_text(v, decimals: int | None = None) -> str:
    """Plain text of one non-missing table cell (the caller escapes it and shows missing cells itself).

    Booleans ``Yes``/``No``; a monthly Period ``Oct 2026`` (other Periods as pandas writes them); a date
    ``1 Oct 2026`` (with ``14:05`` when it has a time of day); integers with thousands commas; other numbers
    with ``decimals`` places (default: the fewest, up to 2, that show the value exactly); anything else as
    ``str(v)``.
    """
    if isinstance(v, bool | np.bool_):
        return "Yes" if v else "No"
    if isinstance(v, pd.Period):
        return month_label(v) if v.freqstr.startswith("M") else str(v)
    if isinstance(v, _dt.datetime | _dt.date | np.datetime64):
        ts = pd.Timestamp(v)
        if ts.hour or ts.minute or ts.second:
            return datetime_label(ts)
        return day_label(ts)
    if isinstance(v, numbers.Integral):
        return f"{int(v):,}"
    if isinstance(v, numbers.Number):
        f = float(v)
        d = decimals_needed([f]) if decimals is None else decimals
        return f"{f:,.{d}f}"
    return str(v)


def level_places(v) -> int:
    """Decimals a contractual level (SLA, target, commitment) is shown with: as it is written, from one to three
    (99.95 gives 2, 75 gives 1), and one for a computed figure that is not exact at three (4.8 less 5 % a year).

    >>> level_places(99.95), level_places(75), level_places(3.926168), level_places(None)
    (2, 1, 1, 1)
    """
    if not isinstance(v, numbers.Number) or is_missing(v) or not math.isfinite(float(v)):
        return 1
    v = float(v)
    for places in (1, 2, 3):
        if abs(v - round(v, places)) <= 1e-9 * max(1.0, abs(v)):
            return places
    return 1


def decimals_needed(values: Iterable[float], limit: int = 2) -> int:
    """Fewest decimals (at most ``limit``) that show every value of a column exactly to ``limit`` places."""
    need = 0
    for f in values:
        if isinstance(f, numbers.Number) and not is_missing(f) and math.isfinite(float(f)):
            text = f"{float(f):.{limit}f}".rstrip("0")
            need = max(need, len(text.split(".")[1]) if "." in text else 0)
    return need


# ------------------------------------------------------------------------------------------------------ words


def plural(n: int, noun: str, many: str | None = None) -> str:
    """A count and its noun in number agreement: ``1 initiative``, ``2 initiatives``, ``0 KPIs``.

    ``noun`` is the singular; the plural adds "s" unless ``many`` gives it (``plural(2, "entry", "entries")``).
    Only exactly 1 takes the singular (British usage: "0 KPIs", "1 KPI", "1.5 days").

    Examples
    --------
    >>> plural(0, "KPI"), plural(1, "KPI"), plural(2, "KPI"), plural(3, "entry", "entries")
    ('0 KPIs', '1 KPI', '2 KPIs', '3 entries')
    """
    return f"{n} {noun_for(n, noun, many)}"


def noun_for(n, noun: str, many: str | None = None) -> str:
    """The form of ``noun`` that agrees with the count ``n``, without the number: ``KPI`` for 1, ``KPIs`` else.

    >>> noun_for(1, "contract"), noun_for(4, "contract"), noun_for(2, "was", "were")
    ('contract', 'contracts', 'were')
    """
    return noun if n == 1 else (many if many is not None else noun + "s")


def agree(n, one: str = "is", many: str = "are") -> str:
    """The verb (or pronoun) that agrees with a count: ``is``/``are`` by default, or the pair given.

    >>> f"1 initiative {agree(1)} overdue", f"2 initiatives {agree(2)} overdue", agree(0, "was", "were")
    ('1 initiative is overdue', '2 initiatives are overdue', 'were')
    """
    return one if n == 1 else many


def list_and(names: list[str]) -> str:
    """Names joined for a sentence: ``A``, ``A and B``, ``A, B and C`` (no Oxford comma); empty for none."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def yes_no(flag) -> str:
    """``yes`` or ``no`` in a table column of text (a boolean cell of a table shows ``Yes``/``No``)."""
    return "yes" if flag else "no"


#: The range a quantity of each unit can take: % from 0 to 100, counts, durations and money from 0 up; a
#: score is unbounded (a net promoter score can be negative). Limits and forecasts are shown within it.
NATURAL_BOUNDS = {"%": (0.0, 100.0), "hours": (0.0, None), "days": (0.0, None), "minutes": (0.0, None),
                  "count": (0.0, None), "GBP": (0.0, None)}


def within_bounds(value, unit: str | None):
    """``value`` truncated to the unit's natural bounds (`NATURAL_BOUNDS`); None/NaN and unbounded units unchanged.

    Process limits are computed as NHS Making Data Count computes them (mean ± 2.66 × mean moving range) and may
    fall outside what the quantity can be (a lower limit of −8.9%); packs show them truncated, pack.json keeps
    them as computed.

    Examples
    --------
    >>> within_bounds(-8.9, "%"), within_bounds(104.6, "%"), within_bounds(-3.0, "score")
    (0.0, 100.0, -3.0)
    """
    if value is None or pd.isna(value) or unit not in NATURAL_BOUNDS:
        return value
    lo, hi = NATURAL_BOUNDS[unit]
    v = float(value)
    if lo is not None and v < lo:
        return lo
    if hi is not None and v > hi:
        return hi
    return v
