"""Reconciliation: the supplier's reported KPI figures beside the figures derived from the records.

A measurement's ``origin`` (version 2 of the data contract) says who computed it: ``reported`` (the supplier's
return, the contract's basis) or ``derived`` (computed by the authority from the records behind the KPI, e.g. a
service-desk ticket export, with ``cinb derive``). Where both exist for a KPI and a month, :func:`reconcile` puts
them side by side and flags the months where they differ by more than a tolerance.

Tolerances
----------
A tolerance is either *absolute*, in the KPI's unit (percentage points for a ``%`` KPI), or *relative*, a
percentage of the reported value. The defaults (:data:`DEFAULT_TOLERANCES`) allow for a supplier's rounding and
for the odd record counted a little differently, not for a different method:

========  ==============================  =============================================================
unit      default                          why
========  ==============================  =============================================================
``%``     0.5 percentage points            a share reported to one decimal, plus a few records either way
``count`` 1                                one item either way (an item on the month boundary)
``score`` 0.1                              a mean score reported to one decimal
``hours`` 5% of the reported value         a time depends on clock details (seconds, time zones) …
``days``  5% of the reported value         … so it is compared relative to its size
``minutes`` 5% of the reported value
``GBP``   1% of the reported value         an amount is compared relative to its size
========  ==============================  =============================================================

The parameter ``reconcile_tolerance`` (text, see :func:`parse_tolerance`) overrides the default of any unit:
``"%=1, hours=10%"`` allows 1 percentage point on % KPIs and 10 % of the reported value on hours KPIs. A month
is flagged when ``|reported − derived|`` is *more than* the tolerance.

Incomplete periods
------------------
A derived row with ``complete`` false (the month had not ended when the records were exported, or some of its
records' outcomes were not yet known) is compared but never flagged: its status is ``incomplete`` and the pack
says why (the derived row's note).

Which figures the ratings use
-----------------------------
:func:`rating_measurements` gives the measurements the ratings, SPC, commitments and credits read: the supplier's
rows (``rate_on="reported"``, the default: the contract's basis), or, with ``rate_on="derived"``, the derived
row of each KPI and month that has one in place of the reported row (the reported row stays where no derived
row exists).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import UsageError
from .formatting import list_and, month_label, plural, trimmed, value_text
from .schema import UNIT_SYNONYMS, UNITS

__all__ = ["Tolerance", "DEFAULT_TOLERANCES", "RATE_ON", "STATUSES", "parse_tolerance", "tolerance_text",
           "reconcile", "flagged", "rating_measurements", "rated_portfolio", "difference_text", "summary_sentences",
           "meeting_questions"]

#: Which figures the ratings use: the supplier's (``reported``, default) or those derived from the records.
RATE_ON = ("reported", "derived")

#: The status of a compared month: within tolerance, beyond it, derived figure incomplete, or one side empty.
STATUSES = ("agrees", "differs", "incomplete", "not_reported", "no_derived_value")


@dataclass(frozen=True)
class Tolerance:
    """How far a derived figure may be from the reported one before the month is flagged.

    ``relative`` False: ``amount`` is in the KPI's unit (percentage points for ``%``); True: ``amount`` is a
    percentage of the reported value's size.
    """

    amount: float
    relative: bool = False

    def allowed(self, reported: float) -> float:
        """The allowed absolute difference for a reported value (in the KPI's unit)."""
        return abs(reported) * self.amount / 100.0 if self.relative else self.amount

    def text(self, unit: str | None) -> str:
        """``0.5 percentage points``, ``1``, ``5% of the reported value``."""
        if self.relative:
            return f"{trimmed(self.amount, 3)}% of the reported value"
        if unit == "%":
            return f"{trimmed(self.amount, 3)} percentage point{'' if self.amount == 1 else 's'}"
        if unit == "GBP":
            return f"£{self.amount:,.2f}"
        if unit in (None, "", "count", "score"):
            return trimmed(self.amount, 3)
        return f"{trimmed(self.amount, 3)} {unit}"


#: Default tolerance per KPI unit (see the module's notes for the reasons).
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "%": Tolerance(0.5), "count": Tolerance(1.0), "score": Tolerance(0.1),
    "hours": Tolerance(5.0, True), "days": Tolerance(5.0, True), "minutes": Tolerance(5.0, True),
    "GBP": Tolerance(1.0, True),
}

_ITEM = re.compile(r"^\s*(?P<unit>[^=]+?)\s*=\s*(?P<amount>[0-9]+(?:\.[0-9]+)?)\s*(?P<rel>%?)\s*$")


def parse_tolerance(spec: str | dict | None) -> dict[str, Tolerance]:
    """The tolerance of every unit: :data:`DEFAULT_TOLERANCES` with the units ``spec`` names overridden.

    Parameters
    ----------
    spec : str, dict or None
        ``None`` or ``""``: the defaults. Text: comma-separated ``UNIT=AMOUNT`` items, ``AMOUNT`` a number in the
        unit (``%=0.5``: half a percentage point) or followed by ``%`` for a share of the reported value
        (``hours=5%``). A dict maps units to such amounts (a number, or text ending in ``%``). Units are those of
        the data contract (``%``, ``hours``, ``days``, ``minutes``, ``count``, ``score``, ``GBP``) or a word for
        one (``percent``, ``hrs`` …).

    Returns
    -------
    dict
        unit → :class:`Tolerance`, for every unit.

    Raises
    ------
    UsageError
        An item that is not ``UNIT=AMOUNT``, an unknown unit or a negative amount, naming the item and the fix.

    Examples
    --------
    >>> parse_tolerance("%=1, hours=10%")["hours"]
    Tolerance(amount=10.0, relative=True)
    """
    out = dict(DEFAULT_TOLERANCES)
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return out
    if isinstance(spec, dict):
        items = [f"{k}={v}" for k, v in spec.items()]
    elif isinstance(spec, str):
        items = [x for x in spec.split(",") if x.strip()]
    else:
        raise UsageError(f"reconcile_tolerance must be text such as \"%=0.5, hours=5%\", not {spec!r}")
    for item in items:
        m = _ITEM.match(item)
        if not m:
            raise UsageError(f"reconcile_tolerance: {item.strip()!r} is not UNIT=AMOUNT; write e.g. \"%=0.5\" "
                             "(half a percentage point) or \"hours=5%\" (5% of the reported value)")
        unit = m["unit"].strip()
        unit = unit if unit in UNITS else UNIT_SYNONYMS.get(unit.lower(), unit)
        if unit not in UNITS:
            raise UsageError(f"reconcile_tolerance: unknown unit {m['unit'].strip()!r} in {item.strip()!r}; "
                             f"the units are {', '.join(UNITS)}")
        out[unit] = Tolerance(float(m["amount"]), bool(m["rel"]))
    return out


def tolerance_text(tolerances: dict[str, Tolerance], units=None) -> str:
    """The tolerances in force, in words, for the units listed (default: all): ``% KPIs: 0.5 percentage points;
    hours KPIs: 5% of the reported value``."""
    units = [u for u in (units if units is not None else tolerances) if u in tolerances]
    return "; ".join(f"{u} KPIs: {tolerances[u].text(u)}" for u in dict.fromkeys(units))


def _bool_complete(s: pd.Series) -> np.ndarray:
    """``complete`` as bools: empty (<NA>) means complete."""
    if s is None:
        return np.ones(0, dtype=bool)
    return s.astype("boolean").fillna(True).to_numpy(dtype=bool)


_COLUMNS = ["kpi_id", "name", "unit", "period", "reported", "derived", "difference", "tolerance", "allowed",
            "reported_volume", "derived_volume", "complete", "status", "flagged", "note"]


def reconcile(kpis: pd.DataFrame, reported: pd.DataFrame, derived: pd.DataFrame, *, tolerance=None,
              end=None) -> pd.DataFrame:
    """Compare each KPI's reported and derived figure in every month where both rows exist.

    Parameters
    ----------
    kpis : DataFrame
        One contract's KPIs (``kpi_id``, ``name``, ``unit``); rows of KPIs not listed are ignored.
    reported, derived : DataFrame
        The winning reported and derived measurements (``Portfolio.measurements`` and ``Portfolio.derived``,
        one contract): ``kpi_id``, ``period`` (``period[M]``), ``value``, and when present ``volume``,
        ``complete`` and ``note``.
    tolerance : str, dict or None
        ``reconcile_tolerance`` (:func:`parse_tolerance`); None: :data:`DEFAULT_TOLERANCES`.
    end : Period or str, optional
        Only months up to this one (the review month).

    Returns
    -------
    DataFrame
        One row per KPI and month with both rows, sorted by KPI (in ``kpis`` order) then month: ``kpi_id``,
        ``name``, ``unit``, ``period`` (``period[M]``), ``reported``, ``derived`` (values in the KPI's unit),
        ``difference`` (reported − derived: positive when the supplier's figure is higher), ``tolerance`` (text),
        ``allowed`` (the absolute difference allowed, in the unit), ``reported_volume``, ``derived_volume``,
        ``complete`` (the derived row's), ``status`` (:data:`STATUSES`), ``flagged`` (status ``differs``: a
        complete month beyond the tolerance) and ``note`` (the derived row's note, e.g. why it is incomplete).

    Raises
    ------
    UsageError
        A malformed ``tolerance``.
    """
    tol = parse_tolerance(tolerance) if not (isinstance(tolerance, dict) and tolerance
                                             and all(isinstance(v, Tolerance) for v in tolerance.values())) \
        else {**DEFAULT_TOLERANCES, **tolerance}
    empty = pd.DataFrame({c: pd.Series(dtype="period[M]" if c == "period" else object) for c in _COLUMNS})
    if derived is None or not len(derived) or reported is None or not len(reported) or not len(kpis):
        return empty
    keep = ["kpi_id", "period", "value"] + [c for c in ("volume", "complete", "note") if c in derived]
    d = derived[keep].copy()
    r = reported[["kpi_id", "period", "value"] + (["volume"] if "volume" in reported else [])].copy()
    if end is not None:
        end = pd.Period(end, "M")
        d, r = d[d["period"] <= end], r[r["period"] <= end]
    # One row per KPI and month on each side (the winning revisions are already one each; keep the last if not).
    d = d.drop_duplicates(["kpi_id", "period"], keep="last")
    r = r.drop_duplicates(["kpi_id", "period"], keep="last")
    j = r.merge(d, on=["kpi_id", "period"], suffixes=("_r", "_d"), how="inner")
    meta = kpis[["kpi_id", "name", "unit"]].drop_duplicates("kpi_id").reset_index(drop=True)
    meta["_order"] = np.arange(len(meta))
    j = j.merge(meta, on="kpi_id", how="inner")
    if not len(j):
        return empty
    j = j.sort_values(["_order", "period"]).reset_index(drop=True)
    rep = pd.to_numeric(j["value_r"], errors="coerce").to_numpy(dtype=float)
    der = pd.to_numeric(j["value_d"], errors="coerce").to_numpy(dtype=float)
    diff = rep - der
    units = j["unit"].astype(object).tolist()
    tols = [tol.get(u, Tolerance(0.0)) for u in units]
    allowed = np.array([t.allowed(x) if not math.isnan(x) else np.nan for t, x in zip(tols, rep)])
    complete = _bool_complete(j["complete"]) if "complete" in j else np.ones(len(j), dtype=bool)
    # A float margin so that a difference equal to the tolerance (0.5 after rounding) is not flagged.
    beyond = np.abs(diff) > allowed + 1e-9 * np.maximum(1.0, np.abs(allowed))
    status = np.where(np.isnan(rep), "not_reported",
                      np.where(np.isnan(der), "no_derived_value",
                               np.where(~complete, "incomplete", np.where(beyond, "differs", "agrees"))))
    vol = lambda col: (pd.to_numeric(j[col], errors="coerce") if col in j  # noqa: E731
                       else pd.Series(np.nan, index=j.index))
    out = pd.DataFrame({
        "kpi_id": j["kpi_id"].astype(object), "name": j["name"].astype(object), "unit": j["unit"].astype(object),
        "period": j["period"], "reported": rep, "derived": der, "difference": diff,
        "tolerance": [t.text(u) for t, u in zip(tols, units)], "allowed": allowed,
        "reported_volume": vol("volume_r") if "volume_r" in j else vol("volume"),
        "derived_volume": vol("volume_d"), "complete": complete, "status": status,
        "flagged": status == "differs",
        "note": [None if (x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA
                          or not str(x).strip()) else str(x).strip()
                 for x in (j["note"] if "note" in j else [None] * len(j))],
    })
    return out[_COLUMNS]


def flagged(rec: pd.DataFrame) -> pd.DataFrame:
    """The flagged rows of :func:`reconcile` (complete months beyond the tolerance), in its order."""
    return rec[rec["flagged"].astype(bool)].reset_index(drop=True) if len(rec) else rec


def rating_measurements(reported: pd.DataFrame, derived: pd.DataFrame, rate_on: str = "reported") -> pd.DataFrame:
    """The measurements the ratings read: the reported rows, or the derived ones where they exist.

    Parameters
    ----------
    reported, derived : DataFrame
        Winning reported and derived measurements of one contract (columns of ``Portfolio.measurements``).
    rate_on : {"reported", "derived"}
        ``reported`` (the contract's basis): ``reported`` unchanged. ``derived``: for each KPI and month with a
        derived row, that row replaces the reported one (value, volume, ``complete``, note); months without one
        keep the reported row. Rows are sorted by KPI and month, as the loader sorts them.

    Raises
    ------
    UsageError
        ``rate_on`` not one of :data:`RATE_ON`.
    """
    if rate_on not in RATE_ON:
        raise UsageError(f"rate_on must be one of {', '.join(RATE_ON)}, not {rate_on!r}")
    if rate_on == "reported" or derived is None or not len(derived):
        return reported
    key = ["contract_id", "kpi_id", "period"]
    d = derived.drop_duplicates(key, keep="last")
    covered = reported.set_index(key).index.isin(d.set_index(key).index)
    both = pd.concat([reported[~covered], d[[c for c in reported.columns if c in d.columns]]], ignore_index=True)
    return both.sort_values(key, kind="stable").reset_index(drop=True)


def rated_portfolio(portfolio, rate_on: str = "reported"):
    """``portfolio`` (a :class:`cinb.load.Portfolio`) with ``measurements`` replaced by the figures the ratings
    read (:func:`rating_measurements` of its reported and derived rows): the portfolio packs' way of honouring
    ``rate_on``. ``reported`` returns ``portfolio`` itself. Raises `UsageError` for an unknown ``rate_on``."""
    if rate_on not in RATE_ON:
        raise UsageError(f"rate_on must be one of {', '.join(RATE_ON)}, not {rate_on!r}")
    derived = getattr(portfolio, "derived", None)
    if rate_on == "reported" or derived is None or not len(derived):
        return portfolio
    return dataclasses.replace(portfolio, measurements=rating_measurements(portfolio.measurements, derived, rate_on))


def difference_text(diff, unit: str | None) -> str:
    """A signed difference in the KPI's unit: ``+3.8 percentage points``, ``-0.25 hours``, ``+2``, ``+£1.50``."""
    if diff is None or (isinstance(diff, float) and math.isnan(diff)):
        return "–"
    v = float(diff)
    sign = "+" if v > 0 else "-" if v < 0 else "±"
    digits = 2 if abs(v) < 10 else 1
    if unit == "GBP":
        return f"{sign}£{abs(v):,.2f}"
    text = trimmed(abs(v), digits)
    if unit == "%":
        return f"{sign}{text} percentage point{'' if text == '1' else 's'}"
    if unit in (None, "", "count", "score"):
        return f"{sign}{text}"
    return f"{sign}{text} {unit[:-1] if text == '1' and unit.endswith('s') else unit}"


def _months_and_values(rows: pd.DataFrame) -> tuple[str, str, str]:
    """Months (``Jun 2026 and Sep 2026``), reported values and derived values of flagged rows, in order."""
    months = list_and([month_label(p) for p in rows["period"]])
    rep = list_and([value_text(v, u) for v, u in zip(rows["reported"], rows["unit"])])
    der = list_and([value_text(v, u) for v, u in zip(rows["derived"], rows["unit"])])
    return months, rep, der


def summary_sentences(rec: pd.DataFrame, limit: int = 4) -> list[str]:
    """The executive summary's sentence on the reconciliation: none when no month was compared.

    ``rec`` is :func:`reconcile`'s frame. One sentence: how many months of which KPIs differ beyond the
    tolerance, with up to ``limit`` of them named (KPI, month, both values); or that every complete month agrees.
    """
    if rec is None or not len(rec):
        return []
    f = flagged(rec)
    compared = int(rec["status"].isin(["agrees", "differs"]).sum())
    if not len(f):
        if not compared:
            return []
        return [f"The supplier's figures agree with those derived from the records within the tolerance in all "
                f"{plural(compared, 'KPI-month')} compared."]
    named = [f"{r['name']} in {month_label(r['period'])} ({value_text(r['reported'], r['unit'])} reported, "
             f"{value_text(r['derived'], r['unit'])} from the records)" for _, r in f.head(limit).iterrows()]
    more = len(f) - len(named)
    return [f"The supplier's figures differ from those derived from the records by more than the tolerance in "
            f"{len(f)} of the {plural(compared, 'complete KPI-month')} compared: {list_and(named + ([f'{more} more'] if more else []))}"
            f"; see \"Do the supplier's figures match the records?\"."]


def meeting_questions(rec: pd.DataFrame) -> list[str]:
    """One question for the review meeting per KPI whose reported figure differs from the records beyond the
    tolerance in a complete month (months and both values named); none otherwise."""
    f = flagged(rec) if rec is not None and len(rec) else pd.DataFrame()
    qs = []
    for kid in dict.fromkeys(f["kpi_id"]) if len(f) else []:
        rows = f[f["kpi_id"] == kid]
        months, rep, der = _months_and_values(rows)
        one = len(rows) == 1
        qs.append(f"{rows.iloc[0]['name']}: the supplier reported {rep} for {months}, but the records give {der}: "
                  f"how {'was this figure' if one else 'were these figures'} computed, and will "
                  f"{'it' if one else 'they'} be restated?")
    return qs
