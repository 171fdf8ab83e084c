"""Service credits as contracts write them: one engine for every credit method, cap period and failure rule.

The engine runs in three steps, each a public function whose output is the next one's input and a table the
packs show, so every pound in a pack is traceable to a line:

1. `credit_lines` — per contract, KPI and month: the KPI's method applied to the month's value, as a % of the
   month's charge, with the rule applied written out (``rule``). Methods (``kpis.credit_method``):

   * ``shortfall``: ``credit_pct`` (default 1) % of the charge for each percentage point the value falls short of
     the target (CCS call-off model: "X% of the charges for each percentage point under"); % KPIs only;
   * ``fixed``: ``credit_pct`` % of the charge in a month the SLA (with no SLA, the target) is missed;
   * ``banded``: the ``credit_bands`` table's band for the shortfall from the target, in the KPI's units: the band
     with the highest ``shortfall_from`` that applies (at least it, or above it with ``strictly_above``) — a band
     from 0 means any miss; meeting the target is never a miss;
   * ``manual``: the contract's credit for the KPI depends on something outside the data: no figure is computed,
     the line says so and the month's total is marked as excluding it;
   * ``none``: 0.

2. `monthly_credits` — per contract and month, the ledger: the lines summed; the month's charge pro-rated by the
   days of the month inside the contract term (a contract starting on 15 April has 16/30 of April's charge);
   Critical Service Level Failures (`critical_failure_rules`: *count* months at or beyond the KPI's critical
   level within *window_months*; without a rule every such month is one failure, as in version 1), whose
   ``suppress_credits`` effect means that month's credits do not accrue; and the cap
   (``service_credit_cap_pct`` of the charges of the ``service_credit_cap_period``: ``month`` — that month's
   charge; ``contract_year`` — the contract year's charges, credits accumulating until the cap is reached;
   ``rolling_12`` — the last 12 months' charges, less the credits of the 11 months before).

3. `year_to_date` — the contract year's ledger up to a month.

Amounts are in GBP, unrounded (packs round for display); credit % are percentages of the month's (pro-rated)
charge.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cinb.errors import PROBLEM_COLUMNS
from cinb.formatting import plural
from cinb.ratings import _at_or_better, _join_levels, _month, _signs

__all__ = ["credit_lines", "credit_problems", "monthly_credits", "year_to_date", "contract_year", "month_fraction",
           "CREDIT_RULES"]

_METHODS = ("none", "shortfall", "fixed", "banded", "manual")
_CAP_PERIODS = ("month", "contract_year", "rolling_12")

# Float noise from typed decimals (99.9 - 99.7 = 0.20000000000000284) must not show up as credit.
_DECIMALS = 9

#: The credit rules in words, for a pack's method notes (every figure of the credits section follows them).
CREDIT_RULES = [
    "'shortfall' KPIs (% only) earn credit_pct (default 1) % of the month's charge for each percentage point "
    "below the target (above it where lower is better);",
    "'fixed' KPIs earn credit_pct % in a month the SLA (with no SLA, the target) is missed, meeting it exactly is "
    "not a miss;",
    "'banded' KPIs earn the credit of the highest band of their credit_bands table that the shortfall from the "
    "target reaches (any miss for a band from 0);",
    "'manual' KPIs are credited by hand under the contract's own terms: cinb computes no figure for them;",
    "a month only partly in the contract term has its charge, and so its credits and cap, pro-rated by days;",
    "a month's credits are summed over KPIs and capped at the contract's cap: a % of that month's charge, of the "
    "contract year's charges (credits accumulate until the cap is reached) or of the last 12 months' charges;",
    "a Critical Service Level Failure occurs when a KPI is at or beyond its critical level (or, under a "
    "critical-failure rule, in the month the count of such months in the rule's window reaches its count); "
    "under a suppress_credits rule that month's credits do not accrue, as the authority's other remedies apply;",
    "a month not reported earns no computed credit and is flagged for the contract manager to decide.",
]


# (column at fault, problem, fix) for each way a KPI's credit method can be unusable, in order of precedence.
_RULES = [
    ("credit_method", "credit_method is not one of none, shortfall, fixed, banded, manual",
     "set credit_method to none, shortfall, fixed, banded or manual"),
    ("unit", "shortfall credits (target − actual percentage points) need a % unit; this KPI's unit is not %",
     "use credit_method fixed with credit_pct, banded with a credit_bands table, or none"),
    ("target", "shortfall and banded credits need a target and this KPI has none", "add the target to the kpis table"),
    ("credit_pct", "fixed credits need credit_pct (the % of the monthly charge per missed month) and it is empty",
     "add credit_pct from the contract's service credit schedule"),
    ("sla", "fixed credits are due when the SLA (or, with no SLA, the target) is missed and this KPI has neither",
     "add the SLA or target to the kpis table"),
    ("credit_method", "banded credits need the KPI's bands in the credit_bands table and it has none",
     "add the schedule's bands to credit_bands (contract_id, kpi_id, shortfall_from, credit_pct)"),
]


def _kpi_credit_rule(k: pd.DataFrame, bands: pd.DataFrame | None = None) -> np.ndarray:
    """Per KPI row: the index into ``_RULES`` of why its credit cannot be computed, or -1."""
    method = k["credit_method"].fillna("none").astype(object)
    unit = k["unit"].astype(object)
    no_target = k["target"].isna()
    if bands is not None and len(bands):
        have = pd.MultiIndex.from_frame(bands[["contract_id", "kpi_id"]].astype(object))
        has_bands = pd.MultiIndex.from_frame(k[["contract_id", "kpi_id"]].astype(object)).isin(have)
    else:
        has_bands = np.zeros(len(k), dtype=bool)
    conditions = [
        ~method.isin(_METHODS),
        (method == "shortfall") & (unit != "%"),
        method.isin(["shortfall", "banded"]) & no_target,
        (method == "fixed") & k["credit_pct"].isna(),
        (method == "fixed") & no_target & k["sla"].isna(),
        (method == "banded") & ~has_bands,
    ]
    return np.select([np.asarray(c, dtype=bool) for c in conditions], list(range(len(_RULES))), -1)


def _kpis(kpis: pd.DataFrame) -> pd.DataFrame:
    k = kpis.copy()
    for c in ("unit", "credit_method", "credit_pct", "sla", "target", "critical"):
        if c not in k:
            k[c] = np.nan
    for c in ("credit_pct", "sla", "target", "critical"):
        k[c] = pd.to_numeric(k[c], errors="coerce").astype(float)
    return k


def credit_problems(kpis: pd.DataFrame, bands: pd.DataFrame | None = None) -> pd.DataFrame:
    """KPIs whose credit method cannot be applied, as a problems frame (columns of ``PROBLEM_COLUMNS``).

    ``bands`` is the ``credit_bands`` table (a ``banded`` KPI without rows there cannot be credited). Every
    problem is a warning: the credits of that KPI are left uncomputed (NaN), not guessed.
    """
    k = _kpis(kpis).reset_index(drop=True)
    rule = _kpi_credit_rule(k, bands)
    bad = k.loc[rule >= 0]
    rule = rule[rule >= 0]
    if bad.empty:
        return pd.DataFrame(columns=PROBLEM_COLUMNS)
    column = [_RULES[r][0] for r in rule]

    def shown(v):
        return None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)

    out = pd.DataFrame(
        {
            "severity": "warning",
            "source": bad["source"].to_numpy() if "source" in bad else None,
            "sheet": bad["sheet"].to_numpy() if "sheet" in bad else None,
            "table": "kpis",
            "row": bad["row"].to_numpy() if "row" in bad else np.nan,
            "column": column,
            "value": [shown(bad.at[i, c]) for i, c in zip(bad.index, column, strict=True)],
            "problem": [
                f"KPI {c}/{i}: {_RULES[r][1]}" for c, i, r in zip(bad["contract_id"], bad["kpi_id"], rule, strict=True)
            ],
            "fix": [_RULES[r][2] for r in rule],
        }
    )
    return out.reindex(columns=PROBLEM_COLUMNS)


def _pct(v: float) -> str:
    return f"{v:g}%"


def _band_credit(shortfall: np.ndarray, cids: np.ndarray, kids: np.ndarray, bands: pd.DataFrame | None):
    """Per line: (credit %, rule text) under the KPI's bands; NaN/"" where the line has no band (``shortfall``
    NaN: not a banded line)."""
    credit = np.full(len(shortfall), np.nan)
    rule = np.full(len(shortfall), "", dtype=object)
    if bands is None or not len(bands):
        return credit, rule
    by_kpi: dict[tuple, list[tuple[float, bool, float]]] = {}
    strict_col = bands["strictly_above"] if "strictly_above" in bands else pd.Series(False, index=bands.index)
    for ci, ki, f, st, pct in zip(bands["contract_id"], bands["kpi_id"], bands["shortfall_from"], strict_col,
                                  bands["credit_pct"]):
        by_kpi.setdefault((ci, ki), []).append((float(f), bool(st) if not pd.isna(st) else False, float(pct)))
    for i in np.flatnonzero(~np.isnan(shortfall)):
        s = shortfall[i]
        table = by_kpi.get((cids[i], kids[i]))
        if table is None:
            continue
        if s <= 0:  # the target was met: no band applies, whatever its shortfall_from
            credit[i] = 0.0
            rule[i] = "target met: no band applies"
            continue
        applicable = [(f, st, pct) for f, st, pct in table if (s > f if st else s >= f)]
        if not applicable:
            credit[i] = 0.0
            rule[i] = f"shortfall {s:g}: below every band"
            continue
        f, st, pct = max(applicable, key=lambda b: (b[0], b[1]))
        credit[i] = pct
        rule[i] = f"shortfall {s:g}, band {'above' if st else 'from'} {f:g} → {_pct(pct)}"
    return credit, rule


def _fmt(values: np.ndarray) -> np.ndarray:
    """Numbers as ``%g`` text, element-wise."""
    return np.array([f"{v:g}" for v in values], dtype=object)


def _rule_texts(method, shortfall, rate, credit, band_rule, not_reported, has_problem, missed) -> np.ndarray:
    """The rule each line applied, in words (vectorised: numbers are formatted only where a sentence shows them)."""
    n = len(method)
    out = np.full(n, "no credit regime", dtype=object)
    out[method == "manual"] = "credited by hand under the contract's terms: not computed"
    fixed = method == "fixed"
    out[fixed & (missed == 1.0)] = ""
    idx = np.flatnonzero(fixed & (missed == 1.0))
    out[idx] = "level missed: " + _fmt(rate[idx]) + "%"
    out[fixed & (missed != 1.0)] = "level met"
    short = method == "shortfall"
    out[short] = "target met"
    idx = np.flatnonzero(short & (shortfall > 0))
    out[idx] = _fmt(shortfall[idx]) + " points short × " + _fmt(rate[idx]) + "% per point = " + _fmt(credit[idx]) + "%"
    banded = method == "banded"
    out[banded] = band_rule[banded]
    out[not_reported] = "not reported: no credit computed"
    out[has_problem] = "not computable (see the problem)"
    return out


def credit_lines(contracts: pd.DataFrame, kpis: pd.DataFrame, measurements: pd.DataFrame, *,
                 bands: pd.DataFrame | None = None) -> pd.DataFrame:
    """Service credit per contract, KPI and month, before pro-rating, failure rules and the cap.

    Parameters
    ----------
    contracts, kpis, measurements : DataFrame
        As loaded (:func:`cinb.load.load_portfolio`); the rules per ``credit_method`` are in the module docstring.
    bands : DataFrame, optional
        The ``credit_bands`` table: ``contract_id, kpi_id, shortfall_from, strictly_above, credit_pct``.

    Returns
    -------
    DataFrame
        One row per measurement row: ``contract_id, kpi_id, period, value, unit, direction, credit_method,
        level`` (the level compared with), ``missed`` (nullable bool), ``shortfall_pp`` (shortfall from the
        target in the KPI's units, for shortfall and banded KPIs), ``rate_pct`` (shortfall: % per point; fixed:
        % per miss), ``credit_pct`` (% of the month's charge; NaN when not reported or not computable),
        ``rule`` (the rule applied, in words), ``monthly_charge_gbp``, ``credit_gbp`` (on the full monthly
        charge, before pro-rating and the cap), ``not_reported`` (an empty value that is not a month of no
        activity), ``provisional`` (``complete`` false: no credit until the final figure), ``critical_failure`` (at
        or beyond ``critical``), ``manual``, ``problem``. A month of no activity (volume 0, no value) earns 0.
        A month not reported gets no credit: whether a missing report counts as a failure is for the contract
        to decide, so the pack shows it and the contract manager decides.
    """
    k = _kpis(kpis)
    rule_idx = _kpi_credit_rule(k, bands)
    k["problem"] = pd.Series([_RULES[r][1] if r >= 0 else None for r in rule_idx], index=k.index, dtype=object)
    k["credit_method"] = k["credit_method"].fillna("none")
    j = _join_levels(measurements, k, ["unit", "credit_method", "credit_pct", "problem"])
    sign = _signs(j["direction"])
    value = j["value"].to_numpy(dtype=float)
    target = j["target"].to_numpy(dtype=float)
    sla = j["sla"].to_numpy(dtype=float)
    method = j["credit_method"].astype(object).to_numpy()
    given_pct = j["credit_pct"].to_numpy(dtype=float)
    m = measurements.reset_index(drop=True)
    volume = pd.to_numeric(m["volume"], errors="coerce").to_numpy(dtype=float) if "volume" in m \
        else np.full(len(j), np.nan)
    complete = m["complete"] if "complete" in m else pd.Series(np.nan, index=m.index)
    provisional = (complete.notna() & ~complete.where(complete.notna(), True).astype(bool)).to_numpy()
    # A month with nothing to measure (volume 0, no value) earns nothing and is not a missing return; a
    # provisional figure earns nothing until the final figure arrives.
    no_activity = np.isnan(value) & (volume == 0)
    not_reported = np.isnan(value) & ~no_activity
    has_problem = j["problem"].notna().to_numpy()

    # fixed: judged against the SLA, or the target where there is no SLA; shortfall and banded: the target
    level = np.where(np.isin(method, ["shortfall", "banded"]), target, np.where(np.isnan(sla), target, sla))
    level = np.where(np.isin(method, ["none", "manual"]), np.nan, level)
    missed = np.where(
        np.isnan(level) | not_reported, np.nan, ~_at_or_better(value * sign, level * sign)
    )
    with np.errstate(invalid="ignore"):
        raw_short = np.round(np.maximum((target - value) * sign, 0.0), _DECIMALS)
    shortfall = np.where(np.isin(method, ["shortfall", "banded"]), raw_short, np.nan)
    rate = np.where(method == "shortfall", np.where(np.isnan(given_pct), 1.0, given_pct),
                    np.where(method == "fixed", given_pct, np.nan))
    banded, band_rule = _band_credit(np.where(method == "banded", shortfall, np.nan),
                                     j["contract_id"].to_numpy(dtype=object), j["kpi_id"].to_numpy(dtype=object), bands)
    credit = np.select(
        [np.isin(method, ["none"]), method == "shortfall", method == "fixed", method == "banded"],
        [np.zeros_like(value), np.round(shortfall * rate, _DECIMALS),
         np.where(missed == 1.0, given_pct, 0.0), banded],
        np.nan,
    )
    credit = np.where(not_reported | has_problem | provisional, np.nan, np.where(no_activity, 0.0, credit))
    rules = _rule_texts(method, shortfall, rate, credit, band_rule, not_reported, has_problem, missed)
    rules[no_activity & ~has_problem] = "no activity: nothing to measure, no credit"
    rules[provisional & ~has_problem & ~np.isnan(value)] = "provisional figure: no credit until the final figure"
    critical = j["critical"].to_numpy(dtype=float)
    critical_failure = ~not_reported & _at_or_better(-value * sign, -critical * sign)

    c = contracts.reindex(columns=["contract_id", "monthly_charge_gbp"]).drop_duplicates("contract_id")
    charge = j[["contract_id"]].merge(c, on="contract_id", how="left")["monthly_charge_gbp"]
    charge = pd.to_numeric(charge, errors="coerce").to_numpy(dtype=float)

    out = j[["contract_id", "kpi_id", "period", "value", "unit", "direction", "credit_method"]].copy()
    out["level"] = level
    out["missed"] = pd.arrays.BooleanArray(np.nan_to_num(missed, nan=0.0).astype(bool), np.isnan(missed))
    out["shortfall_pp"] = shortfall
    out["rate_pct"] = rate
    out["credit_pct"] = credit
    out["rule"] = rules
    out["monthly_charge_gbp"] = charge
    out["credit_gbp"] = credit / 100.0 * charge
    out["not_reported"] = not_reported
    out["provisional"] = provisional & ~np.isnan(value)
    out["critical_failure"] = critical_failure & ~out["provisional"].to_numpy()
    out["manual"] = method == "manual"
    out["problem"] = j["problem"].to_numpy()
    return out


def contract_year(period: pd.Series, start_date: pd.Series) -> pd.Series:
    """1-based contract year of each month: (months since the start month) // 12 + 1.

    Contract year 1 is the 12 calendar months beginning with the month in which the contract started, year 2
    the next 12, and so on: a contract starting 2024-04-15 has 2024-04..2025-03 as year 1 and 2025-04 as the
    first month of year 2. Counting whole months (rather than placing a month by its first day) gives every
    contract year exactly 12 monthly charges, so no month is double-counted against a yearly figure.
    Months before the start month, or with no start date, get <NA>.
    """
    p = pd.Series(period).reset_index(drop=True)
    s = pd.to_datetime(pd.Series(start_date).reset_index(drop=True))
    months = (p.dt.year * 12 + p.dt.month) - (s.dt.year * 12 + s.dt.month)
    year = (months // 12 + 1).astype("Float64")
    year = year.where(months >= 0)
    return year.astype("Int64")


def month_fraction(period, start_date, end_date) -> float:
    """The share of month ``period`` inside the contract term ``start_date``..``end_date`` (both days included).

    1.0 for a month wholly inside, 0.0 for one outside, days inside / days in the month otherwise: a contract
    starting on 15 April has 16/30 of April. Missing dates leave that side open.

    Examples
    --------
    >>> round(month_fraction("2026-04", "2026-04-15", "2029-03-31"), 4)
    0.5333
    """
    p = pd.Period(period, "M")
    first, last = p.start_time.normalize(), p.end_time.normalize()
    lo = first if start_date is None or pd.isna(start_date) else max(first, pd.Timestamp(start_date).normalize())
    hi = last if end_date is None or pd.isna(end_date) else min(last, pd.Timestamp(end_date).normalize())
    days = (hi - lo).days + 1
    return max(days, 0) / p.days_in_month


def _cslf(lines: pd.DataFrame, rules: pd.DataFrame | None) -> pd.DataFrame:
    """Critical Service Level Failures per contract and month under the rules: ``cslf`` (count), ``suppress``.

    A rule (``contract_id``, ``kpi_id`` — empty: each KPI of the contract — ``count``, ``window_months``,
    ``effect``) fires for a KPI in a month at or beyond its critical level in which the KPI's months at or beyond
    it within the last ``window_months`` months (this one included) number at least ``count``. KPIs with no rule
    count every such month as one failure (version 1), flagged only.
    """
    crit = lines.loc[lines["critical_failure"].to_numpy(dtype=bool), ["contract_id", "kpi_id", "period"]]
    keys = ["contract_id", "period"]
    if crit.empty:
        return pd.DataFrame({"contract_id": pd.Series(dtype=object), "period": pd.Series(dtype="period[M]"),
                             "cslf": pd.Series(dtype=int), "suppress": pd.Series(dtype=bool),
                             "cslf_rule": pd.Series(dtype=object)})
    rows = []
    r = rules if rules is not None and len(rules) else None
    # Sorted by KPI: a month's rule text lists its KPIs in id order, whatever the order of the rows.
    for (ci, ki), g in crit.groupby(["contract_id", "kpi_id"], sort=True):
        rule = None
        if r is not None:
            mine = r[(r["contract_id"] == ci) & (r["kpi_id"] == ki)]
            if not len(mine):
                mine = r[(r["contract_id"] == ci) & (r["kpi_id"].isna() | (r["kpi_id"] == ""))]
            rule = mine.iloc[0] if len(mine) else None
        ords = np.sort(g["period"].array.asi8)
        for o in ords:
            if rule is None:
                rows.append((ci, pd.Period(ordinal=int(o), freq="M"), 1, False,
                             f"{ki} at or beyond its critical level"))
                continue
            n = int(np.sum((ords > o - int(rule["window_months"])) & (ords <= o)))
            if n >= int(rule["count"]):
                rows.append((ci, pd.Period(ordinal=int(o), freq="M"), 1, rule["effect"] == "suppress_credits",
                             f"{ki} at or beyond its critical level {plural(n, 'time')} in "
                             f"{plural(int(rule['window_months']), 'month')} "
                             f"(rule: {int(rule['count'])} in {int(rule['window_months'])})"))
    f = pd.DataFrame(rows, columns=["contract_id", "period", "cslf", "suppress", "cslf_rule"])
    if f.empty:
        return _cslf(lines.iloc[0:0], None)
    g = f.groupby(keys, sort=True)
    return pd.DataFrame({"cslf": g["cslf"].sum(), "suppress": g["suppress"].any(),
                         "cslf_rule": g["cslf_rule"].agg("; ".join)}).reset_index()


def _charges(contract: dict, periods: pd.PeriodIndex) -> np.ndarray:
    """The pro-rated charge of each month for one contract (0 outside its term)."""
    charge = float(contract["monthly_charge_gbp"]) if pd.notna(contract.get("monthly_charge_gbp")) else np.nan
    return np.array([charge * month_fraction(p, contract.get("start_date"), contract.get("end_date"))
                     for p in periods], dtype=float)


def monthly_credits(
    contracts: pd.DataFrame, kpis: pd.DataFrame, measurements: pd.DataFrame, *, lines: pd.DataFrame | None = None,
    bands: pd.DataFrame | None = None, rules: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The service-credit ledger: per contract and month, the credits due after part months, failures and caps.

    Parameters
    ----------
    contracts, kpis, measurements : DataFrame
        As loaded; contracts need ``monthly_charge_gbp``, ``service_credit_cap_pct`` and optionally
        ``service_credit_cap_period`` (empty = month), ``start_date``, ``end_date``.
    lines : DataFrame, optional
        Output of :func:`credit_lines` if already computed.
    bands, rules : DataFrame, optional
        The ``credit_bands`` and ``critical_failure_rules`` tables.

    Returns
    -------
    DataFrame
        One row per (contract_id, period) with measurements, sorted: ``raw_pct`` (sum of the lines' credit %,
        uncomputable, provisional and manual lines skipped), ``monthly_charge_gbp`` (the full monthly charge),
        ``charge_fraction`` (share of the month in the term) and ``charge_gbp`` (the month's pro-rated charge),
        ``raw_gbp`` (raw_pct of charge_gbp), ``critical_failures`` (Critical Service Level Failures), ``cslf_rule``
        (which rule fired), ``suppressed`` (True when a suppress_credits failure stopped the month's credits)
        and ``suppressed_gbp``, ``cap_pct``, ``cap_period``, ``cap_gbp`` (the cap for the period counted over, in
        GBP; NaN = no cap), ``cap_used_before_gbp`` (credits already counted against it), ``credit_gbp`` (due,
        unrounded), ``capped_pct`` (credit_gbp as % of charge_gbp), ``cap_applied`` (the cap cut this month's
        credit), ``headroom_gbp`` (cap left after this month), ``cap_reached`` (no headroom left), ``lines``,
        ``lines_not_reported`` (not reported or provisional), ``lines_with_problem``, ``lines_manual``,
        ``incomplete`` (some line not
        computed: the month's credit may be understated), ``start_month``, ``contract_year``.
    """
    if lines is None:
        lines = credit_lines(contracts, kpis, measurements, bands=bands)
    keys = ["contract_id", "period"]
    work = lines[keys].copy()
    work["credit_pct"] = lines["credit_pct"].to_numpy(dtype=float)
    work["not_reported"] = lines["not_reported"].to_numpy(dtype=bool) | (
        lines["provisional"].to_numpy(dtype=bool) if "provisional" in lines else False)
    work["problem"] = lines["problem"].notna().to_numpy()
    work["manual"] = lines["manual"].to_numpy(dtype=bool) if "manual" in lines else False
    g = work.groupby(keys, sort=True, observed=True)
    out = pd.DataFrame(
        {
            "raw_pct": g["credit_pct"].sum(min_count=0),
            "lines": g.size(),
            "lines_not_reported": g["not_reported"].sum().astype(int),
            "lines_with_problem": g["problem"].sum().astype(int),
            "lines_manual": g["manual"].sum().astype(int),
        }
    ).reset_index()
    cslf = _cslf(lines, rules)
    out = out.merge(cslf, on=keys, how="left")
    out["critical_failures"] = out["cslf"].fillna(0).astype(int)
    out["suppressed"] = out["suppress"].fillna(False).astype(bool)
    out["cslf_rule"] = out["cslf_rule"].where(out["cslf_rule"].notna(), None)
    cols = ["contract_id", "service_credit_cap_pct", "service_credit_cap_period", "monthly_charge_gbp",
            "start_date", "end_date"]
    c = contracts.reindex(columns=cols).drop_duplicates("contract_id")
    out = out.merge(c, on="contract_id", how="left")
    out["monthly_charge_gbp"] = pd.to_numeric(out["monthly_charge_gbp"], errors="coerce").astype(float)
    out["cap_pct"] = pd.to_numeric(out["service_credit_cap_pct"], errors="coerce").astype(float)
    period_kind = out["service_credit_cap_period"].where(out["service_credit_cap_period"].notna(), "month")
    out["cap_period"] = period_kind.where(period_kind.isin(_CAP_PERIODS), "month").astype(object)
    start = pd.to_datetime(out["start_date"])
    out["start_month"] = start.dt.to_period("M")
    out["contract_year"] = contract_year(out["period"], start).to_numpy()
    # Charges pro-rated by days, then credits after suppression and a month cap, for every row at once; a
    # contract-year or rolling cap depends on earlier months, so those contracts' rows are then run in order.
    out["charge_fraction"] = _fractions(out["period"], out["start_date"], out["end_date"])
    out["charge_gbp"] = out["monthly_charge_gbp"] * out["charge_fraction"]
    out["raw_gbp"] = out["raw_pct"] / 100.0 * out["charge_gbp"]
    suppressed = out["suppressed"].to_numpy(dtype=bool)
    raw = out["raw_gbp"].to_numpy(dtype=float)
    out["suppressed_gbp"] = np.where(suppressed, raw, 0.0)
    due = np.where(suppressed, 0.0, raw)
    cap_pct = out["cap_pct"].to_numpy(dtype=float)
    month_cap = cap_pct / 100.0 * out["charge_gbp"].to_numpy(dtype=float)
    out["cap_gbp"] = np.where(np.isnan(cap_pct), np.nan, month_cap)
    out["cap_used_before_gbp"] = np.where(np.isnan(cap_pct), np.nan, 0.0)
    out["credit_gbp"] = np.where(np.isnan(cap_pct), due, np.fmin(due, month_cap))
    running = ~np.isnan(cap_pct) & (out["cap_period"] != "month").to_numpy()
    if running.any():
        _ledgers(out, np.flatnonzero(running), c, due)
    out["headroom_gbp"] = np.where(np.isnan(cap_pct), np.nan,
                                   out["cap_gbp"] - out["cap_used_before_gbp"] - out["credit_gbp"])
    # A month cap cuts the % even where the charge is 0 (then no pound is cut, but the % credited is the cap's).
    over_month_cap = (out["cap_period"] == "month") & (out["raw_pct"] > out["cap_pct"] + 1e-12)
    out["cap_applied"] = ((out["credit_gbp"] < out["raw_gbp"] - 1e-9) | over_month_cap) & ~out["suppressed"]
    with np.errstate(invalid="ignore", divide="ignore"):
        # The % of the charge actually credited: the raw % unless the cap cut it (then the month cap itself, or
        # what the yearly or rolling cap left) or a failure suppressed it.
        cut = np.where(out["cap_period"] == "month", np.minimum(out["raw_pct"], out["cap_pct"]),
                       np.where(out["charge_gbp"] > 0, out["credit_gbp"] / out["charge_gbp"] * 100.0, 0.0))
        out["capped_pct"] = np.where(out["suppressed"], 0.0, np.where(out["cap_applied"], cut, out["raw_pct"]))
    out["cap_reached"] = out["headroom_gbp"].notna() & (out["headroom_gbp"] <= 1e-9)
    out["incomplete"] = (out["lines_not_reported"] > 0) | (out["lines_with_problem"] > 0) | (out["lines_manual"] > 0)
    return out[
        [
            "contract_id", "period", "raw_pct", "monthly_charge_gbp", "charge_fraction", "charge_gbp", "raw_gbp",
            "critical_failures", "cslf_rule", "suppressed", "suppressed_gbp", "cap_pct", "cap_period", "cap_gbp",
            "cap_used_before_gbp", "credit_gbp", "capped_pct", "cap_applied", "headroom_gbp", "cap_reached",
            "lines", "lines_not_reported", "lines_with_problem", "lines_manual", "incomplete", "start_month",
            "contract_year",
        ]
    ].sort_values(keys, kind="stable").reset_index(drop=True)


def _fractions(period: pd.Series, start_date: pd.Series, end_date: pd.Series) -> np.ndarray:
    """`month_fraction` of each row, vectorised (days of the month inside the term / days in the month)."""
    per = pd.PeriodIndex(period, freq="M")
    first = per.start_time.normalize().to_numpy(dtype="datetime64[D]")
    last = per.end_time.normalize().to_numpy(dtype="datetime64[D]")
    s = pd.to_datetime(pd.Series(start_date).reset_index(drop=True)).to_numpy(dtype="datetime64[D]")
    e = pd.to_datetime(pd.Series(end_date).reset_index(drop=True)).to_numpy(dtype="datetime64[D]")
    lo = np.where(np.isnat(s), first, np.maximum(first, np.where(np.isnat(s), first, s)))
    hi = np.where(np.isnat(e), last, np.minimum(last, np.where(np.isnat(e), last, e)))
    days = (hi - lo).astype("timedelta64[D]").astype(np.int64) + 1
    return np.clip(days, 0, None) / per.days_in_month.to_numpy(dtype=float)


def _charges(contract: dict, periods: pd.PeriodIndex) -> np.ndarray:
    """The pro-rated charge of each month for one contract (0 outside its term)."""
    charge = float(contract["monthly_charge_gbp"]) if pd.notna(contract.get("monthly_charge_gbp")) else np.nan
    n = len(periods)
    return charge * _fractions(pd.Series(periods), pd.Series([contract.get("start_date")] * n),
                               pd.Series([contract.get("end_date")] * n))


def _ledgers(out: pd.DataFrame, rows: np.ndarray, contracts: pd.DataFrame, due_all: np.ndarray) -> None:
    """The rows ``rows`` of ``out`` (contracts under a contract-year or rolling-12 cap), contract by contract in
    period order.

    ``due_all`` is every row's credit after suppression (before the cap). Fills ``cap_gbp`` (the cap % of the
    charges of the 12 months the cap is counted over: the row's contract year, or the last 12 months for
    rolling_12 or a contract year with no start date), ``cap_used_before_gbp`` (credits already granted in those
    months) and ``credit_gbp``. The pro-rated charge of every month involved (:func:`_charges`) is computed in
    one call for all the contracts; each contract's months then run in order, as the cap depends on earlier
    months.
    """
    cids = out["contract_id"].to_numpy(dtype=object)[rows]
    ords_all = out["period"].array.asi8[rows]
    order = np.lexsort((ords_all, pd.factorize(cids)[0]))  # contract by contract, each in period order
    rows, cids, ords_all = rows[order], cids[order], ords_all[order]
    cap_pct = out["cap_pct"].to_numpy(dtype=float)[rows]
    kind = out["cap_period"].to_numpy(dtype=object)[rows]
    years = out["contract_year"].to_numpy()[rows]
    due = due_all[rows]
    c = contracts.set_index("contract_id")
    start = pd.to_datetime(c["start_date"].reindex(cids))
    start_ord = np.where(start.isna().to_numpy(), np.iinfo(np.int64).min,
                         start.dt.to_period("M").array.asi8)
    by_year = (kind == "contract_year") & ~start.isna().to_numpy() & ~pd.isna(years)
    year = np.where(pd.isna(years), 1, years).astype(float).astype(np.int64)
    first = np.where(by_year, start_ord + 12 * (year - 1), ords_all - 11).astype(np.int64)
    # Every month a row's cap counts, per contract: from its earliest span start to 11 months after the latest.
    bounds = pd.DataFrame({"cid": cids, "first": first}).groupby("cid", sort=False)["first"].agg(["min", "max"])
    n_months = (bounds["max"] - bounds["min"] + 12).to_numpy(dtype=np.int64)
    month_cid = np.repeat(bounds.index.to_numpy(dtype=object), n_months)
    base = np.concatenate(([0], np.cumsum(n_months)[:-1]))
    month_ord = np.repeat(bounds["min"].to_numpy(dtype=np.int64), n_months) + (
        np.arange(int(n_months.sum())) - np.repeat(base, n_months))
    charge = pd.to_numeric(c["monthly_charge_gbp"], errors="coerce").astype(float).reindex(month_cid).to_numpy()
    fractions = _fractions(pd.Series(pd.arrays.PeriodArray(month_ord, dtype="period[M]")),
                           c["start_date"].reindex(month_cid), c["end_date"].reindex(month_cid))
    charges = charge * fractions
    where = dict(zip(bounds.index, zip(base, bounds["min"].to_numpy(dtype=np.int64))))
    credit = np.empty(len(rows))
    cap = np.empty(len(rows))
    used_before = np.empty(len(rows))
    granted: dict[int, float] = {}  # month ordinal → credit granted (this contract), in period order
    previous = None
    for i in range(len(rows)):
        if cids[i] != previous:
            granted, previous = {}, cids[i]
            at, lo = where[cids[i]]
        a, p = int(first[i]), int(ords_all[i])
        cap[i] = cap_pct[i] / 100.0 * float(np.nansum(charges[at + a - lo:at + a - lo + 12]))
        used_before[i] = float(sum(v for q, v in granted.items() if a <= q < p))
        credit[i] = max(0.0, min(due[i], cap[i] - used_before[i]))
        granted[p] = credit[i]
    for col, values in (("cap_gbp", cap), ("cap_used_before_gbp", used_before), ("credit_gbp", credit)):
        full = out[col].to_numpy(dtype=float, copy=True)
        full[rows] = values
        out[col] = full


def year_to_date(monthly: pd.DataFrame, period) -> pd.DataFrame:
    """Credits ledger for the contract year containing ``period``, up to and including it.

    Parameters
    ----------
    monthly : DataFrame
        Output of :func:`monthly_credits`.
    period : str or Period
        The month the ledger runs to, e.g. "2026-03".

    Returns
    -------
    DataFrame
        One row per contract of ``monthly`` that had started by ``period``: ``contract_id, contract_year, year_start``
        (first month of that contract year), ``through``, ``months`` (months with measurements so far this
        year), ``credits_gbp``, ``cap_hits`` (months where the cap cut the credit), ``critical_failures``,
        ``suppressed_gbp`` (credits that did not accrue because of a Critical Service Level Failure),
        ``months_incomplete``. A contract with no credited month so far this year shows zeros.
    """
    p = _month(period, "year-to-date month")
    per_contract = monthly.drop_duplicates("contract_id")[["contract_id", "start_month"]].copy()
    per_contract = per_contract.loc[per_contract["start_month"].notna() & (per_contract["start_month"] <= p)]
    start = per_contract["start_month"]
    months = (p.year * 12 + p.month) - (start.dt.year * 12 + start.dt.month)
    per_contract["contract_year"] = (months // 12 + 1).astype(int)
    per_contract["year_start"] = [
        s + 12 * int(y - 1) for s, y in zip(start, per_contract["contract_year"], strict=True)
    ]
    per_contract["through"] = pd.Series([p] * len(per_contract), index=per_contract.index, dtype="period[M]")
    per_contract["year_start"] = per_contract["year_start"].astype("period[M]")

    m = monthly.merge(per_contract[["contract_id", "contract_year"]], on=["contract_id", "contract_year"])
    m = m.loc[m["period"] <= p]
    g = m.groupby("contract_id")
    agg = pd.DataFrame(
        {
            "months": g.size(),
            "credits_gbp": g["credit_gbp"].sum(),
            "cap_hits": g["cap_applied"].sum(),
            "critical_failures": g["critical_failures"].sum(),
            "suppressed_gbp": g["suppressed_gbp"].sum() if "suppressed_gbp" in m else 0.0,
            "months_incomplete": g["incomplete"].sum(),
        }
    )
    out = per_contract.merge(agg.reset_index(), on="contract_id", how="left")
    for col in ("months", "cap_hits", "critical_failures", "months_incomplete"):
        out[col] = out[col].fillna(0).astype(int)
    for col in ("credits_gbp", "suppressed_gbp"):
        out[col] = out[col].fillna(0.0).astype(float)
    out = out.sort_values("contract_id").reset_index(drop=True)
    return out[
        [
            "contract_id", "contract_year", "year_start", "through", "months", "credits_gbp", "cap_hits",
            "critical_failures", "suppressed_gbp", "months_incomplete",
        ]
    ]
