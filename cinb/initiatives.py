"""The supplier's CI plan: initiatives by status, overdue items, benefits, and whether the KPI moved after delivery."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from cinb.errors import DataError, UsageError
from cinb.formatting import plural
from cinb.periods import to_month

__all__ = [
    "CLOSED_STATUSES",
    "EFFECT_ALPHA",
    "EFFECT_MIN_MONTHS",
    "EFFECT_RULE",
    "INITIATIVE_STATUSES",
    "InitiativeSummary",
    "initiative_effects",
    "initiative_summary",
]

#: Every status an initiative can have, in the order of its life.
INITIATIVE_STATUSES = ("proposed", "agreed", "in_progress", "delivered", "rejected", "withdrawn")
#: Statuses that end an initiative: such an item is never overdue.
CLOSED_STATUSES = ("delivered", "rejected", "withdrawn")
#: Statuses that make up the agreed plan (the denominator of the delivered share).
_PLAN_STATUSES = ("agreed", "in_progress", "delivered")

EFFECT_ALPHA = 0.05
EFFECT_MIN_MONTHS = 3
EFFECT_RULE = (
    "Effect of a delivered initiative: the KPI's reported months before the delivery month are compared with "
    "those after it (the delivery month itself is left out). 'Improved' or 'worsened' needs at least "
    f"{EFFECT_MIN_MONTHS} reported months on each side and a two-sided Mann–Whitney test (exact for small "
    f"samples) with p < {EFFECT_ALPHA}; "
    "otherwise 'no clear change'. With 3 months a side the smallest possible p is 0.1, so in practice 4 or "
    "more months a side are needed to show a change."
)


@dataclass(frozen=True)
class InitiativeSummary:
    """Initiatives of one or more contracts at a review month.

    ``counts`` has one entry per status in :data:`INITIATIVE_STATUSES` (zeros included). ``overdue`` lists
    open initiatives (not delivered, rejected or withdrawn) due on or before the last day of the review month,
    with ``days_overdue`` counted to the end of that month, most overdue first. ``benefits`` is indexed by
    status with ``initiatives, expected_benefit_gbp, realised_benefit_gbp`` (missing amounts count as 0).
    ``delivered_share`` is delivered ÷ (agreed + in progress + delivered): the share of the agreed plan that
    has been delivered (NaN when nothing was agreed). ``realised_share`` is realised ÷ expected benefit of
    delivered initiatives (NaN when none was expected).
    """

    period: pd.Period
    total: int
    counts: pd.Series
    overdue: pd.DataFrame
    benefits: pd.DataFrame
    expected_benefit_gbp: float
    realised_benefit_gbp: float
    delivered_share: float
    realised_share: float


def _statuses(initiatives: pd.DataFrame) -> pd.Series:
    """Normalised statuses; any value outside the six raises DataError listing every offending row."""
    status = initiatives["status"].astype("string").str.strip().str.lower()
    bad = ~status.isin(INITIATIVE_STATUSES)
    if bad.any():
        rows = initiatives.loc[bad]
        problems = pd.DataFrame(
            {
                "severity": "error",
                "source": "initiatives",
                "table": "initiatives",
                "row": rows["row"] if "row" in rows else None,
                "column": "status",
                "value": initiatives.loc[bad, "status"].astype(object),
                "problem": "unknown initiative status",
                "fix": "use one of " + ", ".join(INITIATIVE_STATUSES),
            }
        )
        raise DataError(problems)
    return status.astype(object)


def _money(series: pd.Series) -> pd.Series:
    """Amounts in pounds as floats (text that is not a number becomes NaN); how they are written: cinb.formatting."""
    return pd.to_numeric(series, errors="coerce").astype(float)


def initiative_summary(initiatives: pd.DataFrame, period) -> InitiativeSummary:
    """Count initiatives by status, list the overdue ones and total their benefits.

    Parameters
    ----------
    initiatives : pandas.DataFrame
        The initiatives frame (may be empty); statuses are the current snapshot, so every row counts.
    period : month
        Review month ('YYYY-MM' or a Period): an open initiative due on or before its last day is overdue.

    Returns
    -------
    InitiativeSummary
    """
    review = to_month(period)
    month_end = (review + 1).start_time  # midnight after the last day of the review month
    frame = initiatives.copy()
    frame["status"] = _statuses(frame) if len(frame) else pd.Series([], dtype=object)
    for col in ("expected_benefit_gbp", "realised_benefit_gbp"):
        frame[col] = _money(frame[col]) if col in frame else np.nan
    due = pd.to_datetime(frame["due"], errors="coerce") if "due" in frame else pd.Series(pd.NaT, index=frame.index)

    counts = frame["status"].value_counts().reindex(list(INITIATIVE_STATUSES), fill_value=0).astype(int)
    counts.index.name = "status"
    counts.name = "initiatives"

    is_overdue = due.notna() & (due < month_end) & ~frame["status"].isin(CLOSED_STATUSES)
    overdue = frame.loc[is_overdue].copy()
    overdue["due"] = due[is_overdue]
    overdue["days_overdue"] = (month_end - overdue["due"]).dt.days.astype(int)
    overdue = overdue.sort_values(["days_overdue"], ascending=False, kind="stable").reset_index(drop=True)

    grouped = frame.groupby("status")
    benefits = pd.DataFrame(
        {
            "initiatives": counts,
            "expected_benefit_gbp": grouped["expected_benefit_gbp"].sum(min_count=0),
            "realised_benefit_gbp": grouped["realised_benefit_gbp"].sum(min_count=0),
        }
    ).reindex(list(INITIATIVE_STATUSES))
    benefits = benefits.fillna({"expected_benefit_gbp": 0.0, "realised_benefit_gbp": 0.0})
    benefits.index.name = "status"

    plan = int(counts[list(_PLAN_STATUSES)].sum())
    delivered_share = float(counts["delivered"] / plan) if plan else float("nan")
    expected_delivered = float(benefits.loc["delivered", "expected_benefit_gbp"])
    realised_delivered = float(benefits.loc["delivered", "realised_benefit_gbp"])
    realised_share = realised_delivered / expected_delivered if expected_delivered > 0 else float("nan")
    return InitiativeSummary(
        period=review,
        total=int(len(frame)),
        counts=counts,
        overdue=overdue,
        benefits=benefits,
        expected_benefit_gbp=float(benefits["expected_benefit_gbp"].sum()),
        realised_benefit_gbp=float(benefits["realised_benefit_gbp"].sum()),
        delivered_share=delivered_share,
        realised_share=realised_share,
    )


def _mann_whitney_p(after: np.ndarray, before: np.ndarray) -> float:
    """Two-sided Mann–Whitney p: exact over every split when there are at most 20,000, else normal.

    The exact permutation distribution handles tied values correctly (scipy's default switches to the normal
    approximation on ties, which at 3 months a side can dip below 0.05 where no split really can); beyond
    20,000 splits (e.g. 8 months a side) the tie-corrected normal approximation is accurate and deterministic.
    """
    if np.ptp(np.concatenate([before, after])) == 0:
        return 1.0  # every value equal: nothing moved (scipy would return NaN here)
    if math.comb(len(after) + len(before), len(before)) <= _EXACT_SPLITS:
        method = stats.PermutationMethod(n_resamples=_EXACT_SPLITS)
    else:
        method = "asymptotic"
    return float(stats.mannwhitneyu(after, before, alternative="two-sided", method=method).pvalue)


_EXACT_SPLITS = 20_000

_EFFECT_COLUMNS = [
    "contract_id",
    "initiative_id",
    "title",
    "kpi_id",
    "kpi_name",
    "direction",
    "delivered_on",
    "delivery_month",
    "months_before",
    "months_after",
    "mean_before",
    "mean_after",
    "change",
    "p_value",
    "effect",
    "reason",
]


def initiative_effects(
    initiatives: pd.DataFrame, kpis: pd.DataFrame, measurements: pd.DataFrame, window: int = 6
) -> pd.DataFrame:
    """Did the KPI each delivered initiative should move actually move after delivery?

    Parameters
    ----------
    initiatives, kpis, measurements : pandas.DataFrame
        Frames as returned by ``cinb.load.load_portfolio``.
    window : int, default 6
        Months compared on each side of the delivery month (the delivery month itself is excluded, since
        the change lands part-way through it).

    Returns
    -------
    pandas.DataFrame
        One row per delivered initiative with a ``kpi_id``: ``months_before`` / ``months_after`` are the
        reported months available in each window, ``change = mean_after − mean_before`` in the KPI's unit,
        ``p_value`` from a two-sided Mann–Whitney test, and ``effect`` 'improved', 'worsened' (by the KPI's
        direction) or 'no clear change', with a ``reason``. Rule: :data:`EFFECT_RULE`.
    """
    if int(window) != window or window < 1:
        raise UsageError(f"initiative_effects: window must be a whole number of months ≥ 1, got {window!r}")
    window = int(window)
    if len(initiatives) == 0:
        return pd.DataFrame(columns=_EFFECT_COLUMNS)
    status = _statuses(initiatives)
    has_kpi = initiatives["kpi_id"].notna() & (initiatives["kpi_id"].astype("string").str.strip() != "")
    chosen = initiatives.loc[(status == "delivered") & has_kpi.fillna(False).astype(bool)]

    kpi_rows = {(k["contract_id"], k["kpi_id"]): k for _, k in kpis.iterrows()}
    m = measurements
    m_ords = pd.PeriodIndex(m["period"], freq="M").asi8
    m_vals = pd.to_numeric(m["value"], errors="coerce").to_numpy(dtype=float)
    m_keys = list(zip(m["contract_id"], m["kpi_id"]))
    positions: dict = {}
    for i, key in enumerate(m_keys):
        positions.setdefault(key, []).append(i)

    rows = []
    for _, ini in chosen.iterrows():
        key = (ini["contract_id"], ini["kpi_id"])
        kpi = kpi_rows.get(key)
        delivered_on = pd.to_datetime(ini.get("delivered_on"), errors="coerce")
        row = {
            "contract_id": ini["contract_id"],
            "initiative_id": ini["initiative_id"],
            "title": ini.get("title"),
            "kpi_id": ini["kpi_id"],
            "kpi_name": None if kpi is None else kpi.get("name"),
            "direction": None if kpi is None else kpi.get("direction"),
            "delivered_on": delivered_on,
            "delivery_month": pd.NaT if pd.isna(delivered_on) else pd.Period(delivered_on, freq="M"),
            "months_before": 0,
            "months_after": 0,
            "mean_before": np.nan,
            "mean_after": np.nan,
            "change": np.nan,
            "p_value": np.nan,
            "effect": "no clear change",
            "reason": "",
        }
        if kpi is None:
            row["reason"] = f"KPI {ini['kpi_id']} is not a KPI of contract {ini['contract_id']}"
            rows.append(row)
            continue
        if pd.isna(delivered_on):
            row["reason"] = "delivered_on missing: cannot place the delivery month"
            rows.append(row)
            continue
        d = row["delivery_month"].ordinal
        idx = np.array(positions.get(key, []), dtype=int)
        ords, vals = m_ords[idx], m_vals[idx]
        ok = ~np.isnan(vals)
        before = vals[ok & (ords >= d - window) & (ords < d)]
        after = vals[ok & (ords > d) & (ords <= d + window)]
        row["months_before"], row["months_after"] = int(len(before)), int(len(after))
        if len(before):
            row["mean_before"] = float(before.mean())
        if len(after):
            row["mean_after"] = float(after.mean())
        if len(before) and len(after):
            row["change"] = row["mean_after"] - row["mean_before"]
        if len(before) < EFFECT_MIN_MONTHS or len(after) < EFFECT_MIN_MONTHS:
            row["reason"] = (
                f"{plural(len(before), 'reported month')} before and {len(after)} after delivery within "
                f"{plural(window, 'month')}; "
                f"at least {EFFECT_MIN_MONTHS} each side are needed"
            )
            rows.append(row)
            continue
        p = _mann_whitney_p(after, before)
        row["p_value"] = p
        better = row["change"] > 0 if row["direction"] == "higher" else row["change"] < 0
        if p < EFFECT_ALPHA and row["change"] != 0:
            row["effect"] = "improved" if better else "worsened"
            row["reason"] = (
                f"mean {row['mean_before']:.4g} in {len(before)} months before, {row['mean_after']:.4g} in "
                f"{len(after)} months after (Mann–Whitney p = {p:.3f})"
            )
        else:
            row["reason"] = (
                f"mean {row['mean_before']:.4g} before, {row['mean_after']:.4g} after: not a clear change "
                f"(Mann–Whitney p = {p:.3f} ≥ {EFFECT_ALPHA})"
            )
        rows.append(row)

    out = pd.DataFrame(rows, columns=_EFFECT_COLUMNS)
    out["delivery_month"] = out["delivery_month"].astype("period[M]")
    out["delivered_on"] = pd.to_datetime(out["delivered_on"])
    for col in ("months_before", "months_after"):
        out[col] = out[col].astype(int)
    for col in ("mean_before", "mean_after", "change", "p_value"):
        out[col] = out[col].astype(float)
    return out.reset_index(drop=True)
