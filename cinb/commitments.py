"""CI commitments: the expected trajectory from baseline to committed level, status, forecast, ratchet proposals.

Rules (printed in packs through the ``reason`` texts and the sentences of :data:`COMMITMENT_RULES`):

Kind of commitment
    'target' when ``ci_target`` and ``ci_target_date`` are given (a fixed level by a month); otherwise
    'uplift' when ``ci_annual_uplift_pct`` is given; otherwise a lone ``ci_target`` or ``ci_target_date``
    is an incomplete 'target'; otherwise no commitment (None). A target with a date wins over an uplift
    given alongside, because it is the more specific promise.
Trajectory (expected level in month ``t`` months after ``baseline_period``)
    target: linear, ``baseline + (ci_target − baseline) · t / T`` with ``T`` months from baseline to the
    due month; uplift ``u`` per contract year: ``baseline · (1 + u)^(t/12)`` when higher is better,
    ``baseline · (1 − u)^(t/12)`` when lower is better. The uplift compounds *monthly* (exponent t/12):
    it equals the per-year step at every anniversary, and between anniversaries asks for a steady share
    of the year's improvement, so a supplier is not judged "off track" the month after each anniversary
    nor given eleven months' slack before it. Undefined (NaN) before the baseline month; after the due
    month the level stays at the committed level. Percentages are kept within 0..100.
    The due month of an uplift is ``ci_target_date`` if given, else the contract's end month; its
    committed level (reported as ``ci_target``) is the trajectory at that month.
Status at a review month (first rule that applies)
    undefined   — no commitment, or its fields are incomplete or inconsistent (the reason names them);
    not yet due — the review month is not after the baseline month, or nothing was reported since;
    met         — the actual level meets the committed level (before the due month: already met;
                  after it: met by the due date and still met);
    off track   — the due month has passed and the committed level is not met, or the actual level is
                  behind the expected level (gap < 0);
    on track    — the actual level is at or ahead of the expected level (gap ≥ 0).
    The actual level is the mean of the last 3 reported months after the baseline month, up to the review
    month (one month is noisy; three smooth it without hiding a recent change); the expected level is the
    mean of the trajectory over the *same* months, so a rising trajectory is compared like for like. The
    gap is actual − expected when higher is better, expected − actual when lower is better: positive means
    ahead.
Forecast
    An ordinary least-squares line through the last 12 reported months (no earlier than the baseline month,
    at least 6 of them), extrapolated to the due month, with an 80% prediction interval (t distribution,
    n − 2 degrees of freedom; 80% is the forecasting convention for planning ranges, and 95% ranges over
    a year ahead are too wide to discuss). ``likely_met`` is True when the point forecast meets the
    committed level, False when it does not, NA when there is no forecast; once the due month has passed
    it records whether the commitment was met.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats

from cinb.errors import UsageError
from cinb.formatting import reason_number
from cinb.periods import to_month

__all__ = [
    "ACTUAL_MONTHS",
    "COMMITMENT_RULES",
    "FORECAST_INTERVAL",
    "FORECAST_MIN_MONTHS",
    "FORECAST_MONTHS",
    "RATCHET_RULE",
    "STATUSES",
    "Commitment",
    "commitment_status",
    "expected_level",
    "ratchet_proposals",
    "ratchet_rule",
    "resolve_commitment",
]

STATUSES = ("met", "on track", "off track", "not yet due", "undefined")
ACTUAL_MONTHS = 3
FORECAST_MONTHS = 12
FORECAST_MIN_MONTHS = 6
FORECAST_INTERVAL = 0.80

#: The commitment rules as sentences, in the order a pack prints them (join with spaces for one paragraph).
COMMITMENT_RULES = (
    "Expected level: a straight line from the baseline to the committed target by its due month; an annual "
    "uplift compounds monthly from the baseline (exactly the per-year step at each anniversary).",
    f"Actual level: the mean of the last {ACTUAL_MONTHS} reported months since the baseline, compared with the "
    "expected level over the same months.",
    "Met: the committed level is reached. On track: at or ahead of the expected level. Off track: behind it, "
    "or the due month has passed with the committed level not reached.",
    f"Forecast: a straight line fitted to the last {FORECAST_MONTHS} reported months (at least "
    f"{FORECAST_MIN_MONTHS}) with an {FORECAST_INTERVAL:.0%} prediction interval; likely met when the forecast "
    "for the due month reaches the committed level.",
)

_DIRECTIONS = ("higher", "lower")


# --------------------------------------------------------------------------------------------------- helpers


def _missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _get(row, key):
    if row is None:
        return None
    value = row.get(key) if hasattr(row, "get") else getattr(row, key, None)
    return None if _missing(value) else value


def _month(value, what: str = "period") -> pd.Period | None:
    """A monthly Period, or None when missing (see :func:`cinb.periods.to_month`)."""
    return to_month(value, what, required=False)


def _float(value) -> float | None:
    if _missing(value):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _better_or_equal(a: float, b: float, direction: str) -> bool:
    """True when level a meets or beats level b in the KPI's direction of good."""
    return a >= b if direction == "higher" else a <= b


def _series_by_kpi(measurements: pd.DataFrame) -> dict:
    """(contract_id, kpi_id) → (month ordinals, values) sorted by month, missing values kept as NaN."""
    out = {}
    if measurements is None or len(measurements) == 0:
        return out
    m = measurements[["contract_id", "kpi_id", "period", "value"]]
    ords = pd.Series(pd.PeriodIndex(m["period"], freq="M").asi8, index=m.index)
    vals = pd.to_numeric(m["value"], errors="coerce").astype(float)
    frame = pd.DataFrame(
        {"contract_id": m["contract_id"], "kpi_id": m["kpi_id"], "ord": ords, "value": vals}
    )
    # asi8 encodes a missing period (NaT) as the smallest int64; such rows carry no month to place.
    frame = frame[frame["ord"] != np.iinfo(np.int64).min]
    for key, g in frame.sort_values("ord", kind="stable").groupby(["contract_id", "kpi_id"], sort=False):
        out[key] = (g["ord"].to_numpy(dtype=np.int64), g["value"].to_numpy(dtype=float))
    return out


# ------------------------------------------------------------------------------------------------ commitment


@dataclass(frozen=True)
class Commitment:
    """A KPI's CI commitment resolved from its row (and its contract's end date for an uplift).

    ``kind`` is 'target', 'uplift' or None; ``problems`` lists what makes it undefined (empty when usable).
    ``ci_target`` is the committed level (for an uplift: the trajectory at the due month, or None when the
    due month is unknown). ``due`` is the due month or None.
    """

    kind: str | None
    direction: str | None
    unit: str | None
    baseline: float | None
    baseline_period: pd.Period | None
    ci_target: float | None
    due: pd.Period | None
    uplift_pct: float | None
    problems: tuple[str, ...]

    @property
    def defined(self) -> bool:
        """True when the trajectory can be computed."""
        return self.kind is not None and not self.problems

    def level(self, ordinals: np.ndarray) -> np.ndarray:
        """Expected level at each month ordinal (NaN before the baseline month or when undefined)."""
        ordinals = np.asarray(ordinals, dtype=float)
        if not self.defined:
            return np.full(ordinals.shape, np.nan)
        t = ordinals - self.baseline_period.ordinal
        horizon = None if self.due is None else float(self.due.ordinal - self.baseline_period.ordinal)
        tt = np.clip(t, 0.0, horizon if horizon is not None else np.inf)
        if self.kind == "target":
            out = self.baseline + (self.ci_target - self.baseline) * tt / horizon
        else:
            u = self.uplift_pct / 100.0
            factor = 1.0 + u if self.direction == "higher" else 1.0 - u
            out = self.baseline * np.power(factor, tt / 12.0)
        if self.unit == "%":
            out = np.clip(out, 0.0, 100.0)
        return np.where(t < 0, np.nan, out)


def resolve_commitment(kpi_row, contract_row=None) -> Commitment:
    """Work out a KPI's CI commitment (kind, levels, due month) and what, if anything, is missing.

    Parameters
    ----------
    kpi_row : mapping or pandas.Series
        One row of the kpis frame (``baseline``, ``baseline_period``, ``ci_target``, ``ci_target_date``,
        ``ci_annual_uplift_pct``, ``direction``, ``unit``).
    contract_row : mapping or pandas.Series, optional
        The KPI's contract; its ``end_date`` is the due month of an uplift without ``ci_target_date``.

    Returns
    -------
    Commitment
        See the module docstring for the rules.
    """
    direction = _get(kpi_row, "direction")
    unit = _get(kpi_row, "unit")
    baseline = _float(_get(kpi_row, "baseline"))
    base_p = _month(_get(kpi_row, "baseline_period"), "baseline_period")
    target = _float(_get(kpi_row, "ci_target"))
    target_p = _month(_get(kpi_row, "ci_target_date"), "ci_target_date")
    uplift = _float(_get(kpi_row, "ci_annual_uplift_pct"))
    problems: list[str] = []

    if target is not None and target_p is not None:
        kind = "target"
    elif uplift is not None:
        kind = "uplift"
    elif target is not None or target_p is not None:
        kind = "target"
    else:
        kind = None

    if kind is None:
        if baseline is None and base_p is None:
            problems.append("no CI commitment (no ci_target or ci_annual_uplift_pct)")
        else:
            problems.append("baseline given but no ci_target with ci_target_date, nor ci_annual_uplift_pct")
        return Commitment(None, direction, unit, baseline, base_p, target, target_p, uplift, tuple(problems))

    if direction not in _DIRECTIONS:
        problems.append("direction missing (higher or lower)")
    if baseline is None:
        problems.append("baseline missing")
    if base_p is None:
        problems.append("baseline_period missing")

    due = target_p
    if kind == "target":
        if target is None:
            problems.append("ci_target missing")
        if target_p is None:
            problems.append("ci_target_date missing")
    else:
        if uplift < 0 or (direction == "lower" and uplift >= 100):
            problems.append(f"ci_annual_uplift_pct {reason_number(uplift)} is outside 0–100")
        if due is None:
            due = _month(_get(contract_row, "end_date"), "end_date")
    if due is not None and base_p is not None and due <= base_p:
        problems.append(f"due month {due} is not after baseline_period {base_p}")

    commitment = Commitment(kind, direction, unit, baseline, base_p, target, due, uplift, tuple(problems))
    if kind == "uplift" and commitment.defined and due is not None:
        implied = float(commitment.level(np.array([due.ordinal]))[0])
        commitment = Commitment(kind, direction, unit, baseline, base_p, implied, due, uplift, ())
    return commitment


def expected_level(kpi_row, periods, contract_row=None) -> pd.Series:
    """The expected level of a KPI's CI commitment in each month.

    Parameters
    ----------
    kpi_row : mapping or pandas.Series
        One row of the kpis frame.
    periods : sequence of months
        Periods, 'YYYY-MM' strings or a PeriodIndex.
    contract_row : mapping or pandas.Series, optional
        The contract (its end month is the due month of an uplift without ``ci_target_date``).

    Returns
    -------
    pandas.Series
        Float, indexed by a monthly PeriodIndex, named 'expected'; NaN before the baseline month and
        everywhere when the commitment is undefined. See the module docstring for the formulas.

    Examples
    --------
    >>> row = {"direction": "higher", "unit": "%", "baseline": 90.0, "baseline_period": "2025-01",
    ...        "ci_target": 96.0, "ci_target_date": "2025-07"}
    >>> expected_level(row, ["2025-01", "2025-04", "2025-07", "2025-10"]).tolist()
    [90.0, 93.0, 96.0, 96.0]
    """
    index = pd.PeriodIndex([_month(p) for p in periods], freq="M")
    commitment = resolve_commitment(kpi_row, contract_row)
    return pd.Series(commitment.level(index.asi8), index=index, name="expected", dtype=float)


@lru_cache(maxsize=256)
def _t_quantile(q: float, dof: int) -> float:
    """Student's t quantile (scipy), kept per (q, dof): a portfolio's forecasts ask for the same few."""
    return float(stats.t.ppf(q, dof))


def _forecast(ords: np.ndarray, vals: np.ndarray, due: pd.Period, level: float, unit: str | None):
    """OLS line through (ords, vals) evaluated at the due month with a two-sided prediction interval."""
    n = len(vals)
    x = ords.astype(float) - ords[0]
    x0 = float(due.ordinal - ords[0])
    xbar = x.mean()
    sxx = float(np.sum((x - xbar) ** 2))
    slope = float(np.sum((x - xbar) * (vals - vals.mean())) / sxx)
    intercept = float(vals.mean() - slope * xbar)
    resid = vals - (intercept + slope * x)
    s = float(np.sqrt(np.sum(resid**2) / (n - 2)))
    point = intercept + slope * x0
    half = _t_quantile(0.5 + level / 2.0, n - 2) * s * np.sqrt(1.0 + 1.0 / n + (x0 - xbar) ** 2 / sxx)
    low, high = point - half, point + half
    if unit == "%":
        point, low, high = (float(np.clip(v, 0.0, 100.0)) for v in (point, low, high))
    return float(point), float(low), float(high)


_STATUS_COLUMNS = [
    "contract_id",
    "kpi_id",
    "name",
    "direction",
    "unit",
    "kind",
    "baseline",
    "baseline_period",
    "ci_target",
    "due",
    "expected_now",
    "actual_now",
    "actual_months",
    "gap",
    "status",
    "forecast",
    "forecast_low",
    "forecast_high",
    "likely_met",
    "reason",
]


def _status_row(kpi, commitment: Commitment, series, review: pd.Period) -> dict:
    row = {
        "contract_id": _get(kpi, "contract_id"),
        "kpi_id": _get(kpi, "kpi_id"),
        "name": _get(kpi, "name"),
        "direction": commitment.direction,
        "unit": commitment.unit,
        "kind": commitment.kind,
        "baseline": commitment.baseline,
        "baseline_period": commitment.baseline_period,
        "ci_target": commitment.ci_target,
        "due": commitment.due,
        "expected_now": np.nan,
        "actual_now": np.nan,
        "actual_months": 0,
        "gap": np.nan,
        "status": "undefined",
        "forecast": np.nan,
        "forecast_low": np.nan,
        "forecast_high": np.nan,
        "likely_met": pd.NA,
        "reason": "",
    }
    if not commitment.defined:
        text = "; ".join(commitment.problems)
        if commitment.kind is None:
            row["reason"] = text[:1].upper() + text[1:]
        else:
            row["reason"] = f"Commitment incomplete: {text}"
        return row

    direction, base_p = commitment.direction, commitment.baseline_period
    due, target = commitment.due, commitment.ci_target
    if review <= base_p:
        row["status"] = "not yet due"
        row["reason"] = f"Review month {review} is not after the baseline month {base_p}"
        return row

    ords, vals = series if series is not None else (np.array([], dtype=np.int64), np.array([]))
    window = (ords > base_p.ordinal) & (ords <= review.ordinal) & ~np.isnan(vals)
    w_ords, w_vals = ords[window], vals[window]
    if len(w_vals) == 0:
        row["status"] = "not yet due"
        row["reason"] = f"Nothing reported between the baseline month {base_p} and {review}"
        return row

    last_ords, last_vals = w_ords[-ACTUAL_MONTHS:], w_vals[-ACTUAL_MONTHS:]
    actual = float(last_vals.mean())
    expected = float(np.nanmean(commitment.level(last_ords)))
    gap = actual - expected if direction == "higher" else expected - actual
    first, last = pd.Period(ordinal=int(last_ords[0]), freq="M"), pd.Period(ordinal=int(last_ords[-1]), freq="M")
    span = f"{first}" if first == last else f"{first}..{last}"
    row.update(actual_now=actual, expected_now=expected, actual_months=int(len(last_vals)), gap=gap)
    plural = "s" if len(last_vals) > 1 else ""
    actual_text = f"actual {reason_number(actual)} (mean of {len(last_vals)} reported month{plural} {span})"
    reasons = []

    due_passed = due is not None and review >= due
    if target is not None and _better_or_equal(actual, target, direction):
        row["status"] = "met"
        reasons.append(f"Committed level {reason_number(target)} met: {actual_text}")
    elif due_passed:
        row["status"] = "off track"
        short = abs(actual - target)
        when = f"Due this month ({due})" if review == due else f"Due month {due} has passed"
        reasons.append(f"{when} and the committed level {reason_number(target)} is missed by "
                       f"{reason_number(short)}: {actual_text}")
    elif gap >= 0:
        row["status"] = "on track"
        reasons.append(f"At or ahead of the expected level {reason_number(expected)} by {reason_number(gap)}: "
                       f"{actual_text}")
    else:
        row["status"] = "off track"
        reasons.append(f"Behind the expected level {reason_number(expected)} by {reason_number(-gap)}: {actual_text}")

    if due is None:
        reasons.append("no due month (no ci_target_date and no contract end date): no forecast")
    elif due_passed:
        row["likely_met"] = row["status"] == "met"
    else:
        f_mask = (ords >= base_p.ordinal) & (ords <= review.ordinal) & ~np.isnan(vals)
        f_ords, f_vals = ords[f_mask][-FORECAST_MONTHS:], vals[f_mask][-FORECAST_MONTHS:]
        if len(f_vals) < FORECAST_MIN_MONTHS:
            reasons.append(
                f"only {len(f_vals)} reported month{'s' if len(f_vals) != 1 else ''} since the baseline "
                f"(at least {FORECAST_MIN_MONTHS} needed): no forecast"
            )
        else:
            point, low, high = _forecast(f_ords, f_vals, due, FORECAST_INTERVAL, commitment.unit)
            likely = _better_or_equal(point, target, direction)
            row.update(forecast=point, forecast_low=low, forecast_high=high, likely_met=likely)
            reasons.append(
                f"forecast for {due}: {reason_number(point)} ({FORECAST_INTERVAL:.0%} prediction interval "
                f"{reason_number(low)} to {reason_number(high)}, straight line through the last {len(f_vals)} "
                f"reported months), "
                f"{'likely' if likely else 'unlikely'} to reach {reason_number(target)}"
            )
    row["reason"] = "; ".join(reasons)
    return row


def commitment_status(kpis: pd.DataFrame, measurements: pd.DataFrame, contracts: pd.DataFrame, period) -> pd.DataFrame:
    """Status of every KPI's CI commitment at a review month.

    Parameters
    ----------
    kpis, measurements, contracts : pandas.DataFrame
        Frames as returned by ``cinb.load.load_portfolio`` (only measurements up to ``period`` are used).
    period : month
        The review month ('YYYY-MM' or a Period).

    Returns
    -------
    pandas.DataFrame
        One row per KPI, in the order of ``kpis``, with ``contract_id, kpi_id, name, direction, unit, kind,
        baseline, baseline_period, ci_target, due, expected_now, actual_now, actual_months, gap, status,
        forecast, forecast_low, forecast_high, likely_met, reason``. ``gap`` is positive when ahead of the
        expected level; ``forecast*`` is the level forecast for the due month with an 80% prediction
        interval; ``likely_met`` is a nullable boolean. Rules in the module docstring.
    """
    return status_frame(status_rows(kpis, measurements, contracts, period))


def status_rows(kpis: pd.DataFrame, measurements: pd.DataFrame, contracts: pd.DataFrame, period) -> list[dict]:
    """:func:`commitment_status`'s rows as dicts, one per KPI in the order of ``kpis``, before the frame is typed.

    Each row depends on its KPI (and contract) only, so the rows of a whole portfolio, sliced by contract and
    passed to :func:`status_frame`, give each contract's :func:`commitment_status` (`cinb.review_many`).
    """
    review = to_month(period, "period")
    if review is None:
        raise UsageError("commitment_status: period is required (YYYY-MM)")
    by_kpi = _series_by_kpi(measurements)
    contract_rows = {}
    if contracts is not None and len(contracts):
        contract_rows = {row["contract_id"]: row for _, row in contracts.iterrows()}
    rows = []
    for _, kpi in kpis.iterrows():
        key = (kpi["contract_id"], kpi["kpi_id"])
        commitment = resolve_commitment(kpi, contract_rows.get(kpi["contract_id"]))
        rows.append(_status_row(kpi, commitment, by_kpi.get(key), review))
    return rows


def status_frame(rows: list[dict]) -> pd.DataFrame:
    """The :func:`commitment_status` frame of rows from :func:`status_rows` (columns typed as it types them)."""
    out = pd.DataFrame(rows, columns=_STATUS_COLUMNS)
    for col in ("baseline_period", "due"):
        out[col] = pd.Series(pd.PeriodIndex(list(out[col]), freq="M"), index=out.index)
    for col in ("baseline", "ci_target", "expected_now", "actual_now", "gap"):
        out[col] = out[col].astype(float)
    for col in ("forecast", "forecast_low", "forecast_high"):
        out[col] = out[col].astype(float)
    out["actual_months"] = out["actual_months"].astype(int)
    out["likely_met"] = out["likely_met"].astype("boolean")
    return out


# ---------------------------------------------------------------------------------------------------- ratchet


def ratchet_rule(months: int = 12, share: float = 0.5) -> str:
    """The ratchet rule as one sentence for the pack."""
    part = "halfway" if share == 0.5 else f"{share:.0%} of the way"
    return (
        f"A KPI that beat its target in each of the last {months} consecutive months (every month reported) "
        f"gets a proposed new target {part} from the current target to its {months}-month mean."
    )


RATCHET_RULE = ratchet_rule()

_RATCHET_COLUMNS = [
    "contract_id",
    "kpi_id",
    "name",
    "unit",
    "direction",
    "target",
    "months",
    "window_start",
    "window_end",
    "mean",
    "proposed_target",
    "change",
    "rule",
]


def ratchet_proposals(
    kpis: pd.DataFrame, measurements: pd.DataFrame, period, months: int = 12, share: float = 0.5
) -> pd.DataFrame:
    """Propose tighter targets for KPIs that beat their target month after month.

    Parameters
    ----------
    kpis, measurements : pandas.DataFrame
        Frames as returned by ``cinb.load.load_portfolio``.
    period : month
        The last month of the window ('YYYY-MM' or a Period).
    months : int, default 12
        Length of the window: every one of these consecutive months up to ``period`` must be reported and
        strictly better than the target (a missing or unreported month disqualifies).
    share : float, default 0.5
        How far the target moves towards the window mean (0 < share ≤ 1).

    Returns
    -------
    pandas.DataFrame
        One row per qualifying KPI: ``contract_id, kpi_id, name, unit, direction, target, months,
        window_start, window_end, mean, proposed_target, change, rule`` with
        ``proposed_target = target + share · (mean − target)`` and ``change = proposed_target − target``.

    Examples
    --------
    A target of 95 beaten with a 12-month mean of 98 gives a proposal of 96.5.
    """
    review = to_month(period, "period")
    if review is None:
        raise UsageError("ratchet_proposals: period is required (YYYY-MM)")
    if int(months) != months or months < 1:
        raise UsageError(f"ratchet_proposals: months must be a whole number ≥ 1, got {months!r}")
    if not (0 < share <= 1):
        raise UsageError(f"ratchet_proposals: share must be in (0, 1], got {share!r}")
    months = int(months)
    rule = ratchet_rule(months, share)
    start = review - (months - 1)
    wanted = np.arange(start.ordinal, review.ordinal + 1)
    by_kpi = _series_by_kpi(measurements)
    rows = []
    for _, kpi in kpis.iterrows():
        target = _float(_get(kpi, "target"))
        direction = _get(kpi, "direction")
        series = by_kpi.get((kpi["contract_id"], kpi["kpi_id"]))
        if target is None or direction not in _DIRECTIONS or series is None:
            continue
        ords, vals = series
        in_window = (ords >= start.ordinal) & (ords <= review.ordinal)
        w_ords, w_vals = ords[in_window], vals[in_window]
        if len(w_ords) != months or not np.array_equal(w_ords, wanted) or np.isnan(w_vals).any():
            continue
        beats = w_vals > target if direction == "higher" else w_vals < target
        if not beats.all():
            continue
        mean = float(w_vals.mean())
        proposed = target + share * (mean - target)
        rows.append(
            {
                "contract_id": kpi["contract_id"],
                "kpi_id": kpi["kpi_id"],
                "name": _get(kpi, "name"),
                "unit": _get(kpi, "unit"),
                "direction": direction,
                "target": target,
                "months": months,
                "window_start": start,
                "window_end": review,
                "mean": mean,
                "proposed_target": proposed,
                "change": proposed - target,
                "rule": rule,
            }
        )
    out = pd.DataFrame(rows, columns=_RATCHET_COLUMNS)
    for col in ("window_start", "window_end"):
        out[col] = out[col].astype("period[M]")
    return out
