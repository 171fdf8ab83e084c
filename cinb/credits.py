"""Service credits: per KPI and month under each KPI's credit method, capped per month, with a year-to-date ledger."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cinb.errors import PROBLEM_COLUMNS
from cinb.ratings import _at_or_better, _join_levels, _month, _signs

__all__ = ["credit_lines", "credit_problems", "monthly_credits", "year_to_date", "contract_year"]

_METHODS = ("none", "shortfall", "fixed")

# Float noise from typed decimals (99.9 - 99.7 = 0.20000000000000284) must not show up as credit.
_DECIMALS = 9


# (column at fault, problem, fix) for each way a KPI's credit method can be unusable, in order of precedence.
_RULES = [
    ("credit_method", "credit_method is not one of none, shortfall, fixed",
     "set credit_method to none, shortfall or fixed"),
    ("unit", "shortfall credits (target − actual percentage points) need a % unit; this KPI's unit is not %",
     "use credit_method fixed with credit_pct, or none; cinb does not guess a formula for other units"),
    ("target", "shortfall credits need a target and this KPI has none", "add the target to the kpis table"),
    ("credit_pct", "fixed credits need credit_pct (the % of the monthly charge per missed month) and it is empty",
     "add credit_pct from the contract's service credit schedule"),
    ("sla", "fixed credits are due when the SLA (or, with no SLA, the target) is missed and this KPI has neither",
     "add the SLA or target to the kpis table"),
]


def _kpi_credit_rule(k: pd.DataFrame) -> np.ndarray:
    """Per KPI row: the index into ``_RULES`` of why its credit cannot be computed, or -1."""
    method = k["credit_method"].fillna("none").astype(object)
    unit = k["unit"].astype(object)
    no_target = k["target"].isna()
    conditions = [
        ~method.isin(_METHODS),
        (method == "shortfall") & (unit != "%"),
        (method == "shortfall") & no_target,
        (method == "fixed") & k["credit_pct"].isna(),
        (method == "fixed") & no_target & k["sla"].isna(),
    ]
    return np.select([c.to_numpy(dtype=bool) for c in conditions], list(range(len(_RULES))), -1)


def _kpis(kpis: pd.DataFrame) -> pd.DataFrame:
    k = kpis.copy()
    for c in ("unit", "credit_method", "credit_pct", "sla", "target", "critical"):
        if c not in k:
            k[c] = np.nan
    for c in ("credit_pct", "sla", "target", "critical"):
        k[c] = pd.to_numeric(k[c], errors="coerce").astype(float)
    return k


def credit_problems(kpis: pd.DataFrame) -> pd.DataFrame:
    """KPIs whose credit method cannot be applied, as a problems frame (columns of ``PROBLEM_COLUMNS``).

    Every problem is a warning: the credits of that KPI are left uncomputed (NaN), not guessed.
    """
    k = _kpis(kpis).reset_index(drop=True)
    rule = _kpi_credit_rule(k)
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


def credit_lines(contracts: pd.DataFrame, kpis: pd.DataFrame, measurements: pd.DataFrame) -> pd.DataFrame:
    """Service credit per contract, KPI and month, before the monthly cap.

    Rules per ``credit_method``:

    - ``shortfall``: (target − actual) percentage points of the monthly charge for higher-is-better KPIs,
      (actual − target) for lower-is-better ones, only when positive, only for ``%`` units (a shortfall KPI in
      another unit, or without a target, gets a ``problem`` and no credit: cinb does not guess a formula);
    - ``fixed``: ``credit_pct`` when the SLA is missed (with no SLA, the target); meeting it exactly is not a miss;
    - ``none``: 0.

    A month that was not reported (row present, value empty) gets no credit (NaN) and ``not_reported`` True:
    whether a missing report counts as a failure is for the contract to decide, not cinb, so the pack shows it
    and the contract manager decides. ``critical_failure`` is True when the value is at or beyond ``critical``.

    Returns
    -------
    DataFrame
        One row per measurement row: ``contract_id, kpi_id, period, value, unit, direction, credit_method,
        level`` (the level compared with), ``missed`` (nullable bool), ``shortfall_pp``, ``credit_pct``
        (% of the monthly charge; NaN when not reported or not computable), ``monthly_charge_gbp``,
        ``credit_gbp`` (uncapped), ``not_reported``, ``critical_failure``, ``problem``.
    """
    k = _kpis(kpis)
    rule = _kpi_credit_rule(k)
    k["problem"] = pd.Series([_RULES[r][1] if r >= 0 else None for r in rule], index=k.index, dtype=object)
    k["credit_method"] = k["credit_method"].fillna("none")
    j = _join_levels(measurements, k, ["unit", "credit_method", "credit_pct", "problem"])
    sign = _signs(j["direction"])
    value = j["value"].to_numpy(dtype=float)
    target = j["target"].to_numpy(dtype=float)
    sla = j["sla"].to_numpy(dtype=float)
    method = j["credit_method"].astype(object).to_numpy()
    not_reported = np.isnan(value)
    has_problem = j["problem"].notna().to_numpy()

    # fixed: judged against the SLA, or the target where there is no SLA
    level = np.where(method == "shortfall", target, np.where(np.isnan(sla), target, sla))
    level = np.where(method == "none", np.nan, level)
    missed = np.where(
        np.isnan(level) | not_reported, np.nan, ~_at_or_better(value * sign, level * sign)
    )
    with np.errstate(invalid="ignore"):
        shortfall = np.round(np.maximum((target - value) * sign, 0.0), _DECIMALS)
    shortfall = np.where(method == "shortfall", shortfall, np.nan)
    credit = np.select(
        [method == "none", method == "shortfall", method == "fixed"],
        [np.zeros_like(value), shortfall, np.where(missed == 1.0, j["credit_pct"].to_numpy(dtype=float), 0.0)],
        np.nan,
    )
    credit = np.where(not_reported | has_problem, np.nan, credit)
    critical = j["critical"].to_numpy(dtype=float)
    critical_failure = ~not_reported & _at_or_better(-value * sign, -critical * sign)

    c = contracts.reindex(columns=["contract_id", "monthly_charge_gbp"]).drop_duplicates("contract_id")
    charge = j[["contract_id"]].merge(c, on="contract_id", how="left")["monthly_charge_gbp"]
    charge = pd.to_numeric(charge, errors="coerce").to_numpy(dtype=float)

    out = j[["contract_id", "kpi_id", "period", "value", "unit", "direction", "credit_method"]].copy()
    out["level"] = level
    out["missed"] = pd.arrays.BooleanArray(np.nan_to_num(missed, nan=0.0).astype(bool), np.isnan(missed))
    out["shortfall_pp"] = shortfall
    out["credit_pct"] = credit
    out["monthly_charge_gbp"] = charge
    out["credit_gbp"] = credit / 100.0 * charge
    out["not_reported"] = not_reported
    out["critical_failure"] = critical_failure
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


def monthly_credits(
    contracts: pd.DataFrame, kpis: pd.DataFrame, measurements: pd.DataFrame, *, lines: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Service credits per contract and month, summed over KPIs and capped.

    Parameters
    ----------
    contracts, kpis, measurements : DataFrame
    lines : DataFrame, optional
        Output of :func:`credit_lines` if already computed (saves recomputing it).

    Returns
    -------
    DataFrame
        One row per (contract_id, period) with measurements, sorted: ``raw_pct`` (sum of the lines' credit %,
        uncomputable lines skipped), ``cap_pct`` (``service_credit_cap_pct``; NaN = no cap), ``capped_pct``,
        ``cap_applied``, ``monthly_charge_gbp``, ``credit_gbp`` (capped, unrounded), ``critical_failures``,
        ``lines``, ``lines_not_reported``, ``lines_with_problem``, ``incomplete`` (True when some line could
        not be computed, so the month's credit may be understated), ``start_month``, ``contract_year``.
    """
    if lines is None:
        lines = credit_lines(contracts, kpis, measurements)
    keys = ["contract_id", "period"]
    work = lines[keys].copy()
    work["credit_pct"] = lines["credit_pct"].to_numpy(dtype=float)
    work["critical"] = lines["critical_failure"].to_numpy(dtype=bool)
    work["not_reported"] = lines["not_reported"].to_numpy(dtype=bool)
    work["problem"] = lines["problem"].notna().to_numpy()
    g = work.groupby(keys, sort=True, observed=True)
    out = pd.DataFrame(
        {
            "raw_pct": g["credit_pct"].sum(min_count=0),
            "critical_failures": g["critical"].sum().astype(int),
            "lines": g.size(),
            "lines_not_reported": g["not_reported"].sum().astype(int),
            "lines_with_problem": g["problem"].sum().astype(int),
        }
    ).reset_index()
    c = contracts.reindex(columns=["contract_id", "service_credit_cap_pct", "monthly_charge_gbp", "start_date"])
    c = c.drop_duplicates("contract_id")
    out = out.merge(c, on="contract_id", how="left")
    raw = out["raw_pct"].to_numpy(dtype=float)
    cap = pd.to_numeric(out["service_credit_cap_pct"], errors="coerce").to_numpy(dtype=float)
    capped = np.where(np.isnan(cap), raw, np.minimum(raw, cap))
    out["cap_pct"] = cap
    out["capped_pct"] = capped
    out["cap_applied"] = ~np.isnan(cap) & (raw > cap)
    charge = pd.to_numeric(out["monthly_charge_gbp"], errors="coerce").to_numpy(dtype=float)
    out["monthly_charge_gbp"] = charge
    out["credit_gbp"] = capped / 100.0 * charge
    out["incomplete"] = (out["lines_not_reported"] > 0) | (out["lines_with_problem"] > 0)
    start = pd.to_datetime(out["start_date"])
    out["start_month"] = start.dt.to_period("M")
    out["contract_year"] = contract_year(out["period"], start).to_numpy()
    return out[
        [
            "contract_id", "period", "raw_pct", "cap_pct", "capped_pct", "cap_applied", "monthly_charge_gbp",
            "credit_gbp", "critical_failures", "lines", "lines_not_reported", "lines_with_problem", "incomplete",
            "start_month", "contract_year",
        ]
    ]


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
        year), ``credits_gbp``, ``cap_hits`` (months where the cap bit), ``critical_failures``,
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
            "months_incomplete": g["incomplete"].sum(),
        }
    )
    out = per_contract.merge(agg.reset_index(), on="contract_id", how="left")
    for col in ("months", "cap_hits", "critical_failures", "months_incomplete"):
        out[col] = out[col].fillna(0).astype(int)
    out["credits_gbp"] = out["credits_gbp"].fillna(0.0).astype(float)
    out = out.sort_values("contract_id").reset_index(drop=True)
    return out[
        [
            "contract_id", "contract_year", "year_start", "through", "months", "credits_gbp", "cap_hits",
            "critical_failures", "months_incomplete",
        ]
    ]
