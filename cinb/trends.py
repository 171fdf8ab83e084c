"""Monotonic trend of a KPI over the review window: Mann–Kendall test and Theil–Sen slope."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from cinb.errors import UsageError
from cinb.formatting import p_value_text, per_unit_words, sig_figs

__all__ = ["MannKendall", "TheilSen", "TrendSummary", "mann_kendall", "theil_sen", "trend_summary"]

#: Fewer values than this and the Mann–Kendall test is not run (the normal approximation is meaningless).
MIN_MK_VALUES = 4

_DIRECTIONS = ("higher", "lower")
_MATRIX_LIMIT = 1000  # above this many values the n × n sign matrix is built row by row instead


@dataclass(frozen=True)
class MannKendall:
    """Result of the Mann–Kendall trend test.

    ``s`` is the Mann–Kendall statistic, ``var_s`` its variance under no trend (tie-corrected), ``z`` the
    continuity-corrected normal score, ``p_value`` two-sided, ``tau`` Kendall's tau-b against time.
    ``reason`` says why the test gave no verdict (too few values, all values equal), otherwise None.
    """

    n: int
    s: int
    var_s: float
    z: float
    p_value: float
    tau: float
    trend: str
    alpha: float
    reason: str | None = None


@dataclass(frozen=True)
class TheilSen:
    """Theil–Sen (Sen's) slope with its confidence interval, per unit of ``x`` (per month by default).

    ``intercept`` is the fitted level at ``x = 0`` (the first month of the series with the default ``x``).
    ``low`` / ``high`` are the ``confidence`` limits of the slope (NaN with fewer than 3 values).
    """

    slope: float
    intercept: float
    low: float
    high: float
    confidence: float
    n: int


@dataclass(frozen=True)
class TrendSummary:
    """Mann–Kendall and Theil–Sen read together in the KPI's direction of good.

    ``verdict`` is 'improving', 'worsening' or 'no significant trend'; slopes are Theil–Sen slopes in the
    KPI's unit per month and per year (12 × per month); ``sentence`` is the plain-English line for a pack.
    """

    direction: str
    verdict: str
    slope_per_month: float
    slope_per_year: float
    slope_low_per_month: float
    slope_high_per_month: float
    n: int
    p_value: float
    mann_kendall: MannKendall
    theil_sen: TheilSen
    sentence: str


def _floats(seq) -> np.ndarray:
    """A float array with None/NaN/non-numbers as NaN (numpy first: it is fast for the common case)."""
    try:
        return np.asarray(seq, dtype=float).ravel()
    except (TypeError, ValueError):
        return pd.to_numeric(pd.Series(list(seq), dtype=object), errors="coerce").to_numpy(
            dtype=float, na_value=np.nan
        )


def _xy(values, x=None) -> tuple[np.ndarray, np.ndarray]:
    """Time positions and values in time order with missing values dropped.

    A Series with a PeriodIndex (or DatetimeIndex) is sorted by time and positioned by month ordinal so that
    missing months count as gaps; a plain sequence is positioned 0..n-1, so a None inside it is a gap too.
    """
    if isinstance(values, pd.Series):
        series = values
        if x is None and isinstance(series.index, pd.DatetimeIndex):
            series = series.set_axis(series.index.to_period("M"))
        if x is None and isinstance(series.index, pd.PeriodIndex):
            if series.index.hasnans:
                raise UsageError("trend: the PeriodIndex of the values contains NaT — drop or fix those rows")
            series = series.sort_index()
            ordinals = series.index.asi8.astype(float)
            pos = ordinals - ordinals[0] if len(ordinals) else ordinals
        else:
            pos = None
        y = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    else:
        pos = None
        y = _floats(values)
    if x is not None:
        pos = _floats(x)
        if len(pos) != len(y):
            raise UsageError(f"trend: x has {len(pos)} values but values has {len(y)} — pass one x per value")
    elif pos is None:
        pos = np.arange(len(y), dtype=float)
    keep = ~(np.isnan(y) | np.isnan(pos))
    return pos[keep], y[keep]


def _check_level(value: float, name: str) -> float:
    if not (0.0 < float(value) < 1.0):
        raise UsageError(f"trend: {name} must be between 0 and 1 (exclusive), got {value!r}")
    return float(value)


def mann_kendall(values, alpha: float = 0.05) -> MannKendall:
    """Mann–Kendall test for a monotonic trend.

    Parameters
    ----------
    values : sequence or pandas.Series
        Values in time order (a Series with a PeriodIndex is sorted by period). Missing values are dropped and
        the remaining order kept.
    alpha : float, default 0.05
        Two-sided significance level for the verdict.

    Returns
    -------
    MannKendall
        ``S = Σ_{i<j} sgn(x_j − x_i)``; ``var(S) = [n(n−1)(2n+5) − Σ t(t−1)(2t+5)] / 18`` over groups of
        ``t`` tied values; ``z = (S − sgn S) / √var(S)`` (continuity correction); ``p = 2·(1 − Φ(|z|))``
        (normal approximation at every n, as R's ``trend::mk.test``); ``tau`` is Kendall's tau-b of the
        values against time (identical to ``scipy.stats.kendalltau``). ``trend`` is 'increasing' or
        'decreasing' when ``p < alpha``, else 'no trend'. With fewer than 4 values the test is not run:
        ``z`` and ``p_value`` are NaN, ``trend`` is 'no trend' and ``reason`` says why.

    Examples
    --------
    >>> mann_kendall([1, 2, 3, 4, 5, 6]).s
    15
    """
    alpha = _check_level(alpha, "alpha")
    _, y = _xy(values)
    n = int(len(y))
    if n >= 2:
        if n <= _MATRIX_LIMIT:
            # sgn(x_j − x_i) for every pair i < j: the upper triangle of the sign matrix.
            s = int(np.triu(np.sign(y[None, :] - y[:, None]), k=1).sum())
        else:  # row by row, so memory stays O(n) for very long series
            s = int(sum(np.sign(y[i + 1 :] - y[i]).sum() for i in range(n - 1)))
        _, counts = np.unique(y, return_counts=True)
        t = counts[counts > 1].astype(float)
        var_s = float((n * (n - 1) * (2 * n + 5) - np.sum(t * (t - 1) * (2 * t + 5))) / 18.0)
        n0 = n * (n - 1) / 2.0
        n1 = float(np.sum(t * (t - 1) / 2.0))
        denom = np.sqrt(n0 * (n0 - n1))
        tau = float(s / denom) if denom > 0 else float("nan")
    else:
        s, var_s, tau = 0, 0.0, float("nan")

    if n < MIN_MK_VALUES:
        reason = f"fewer than {MIN_MK_VALUES} reported values (n = {n}): trend not tested"
        return MannKendall(n, s, var_s, float("nan"), float("nan"), tau, "no trend", alpha, reason)
    if var_s <= 0:
        return MannKendall(n, s, var_s, 0.0, 1.0, tau, "no trend", alpha, "all values are equal")

    z = float((s - np.sign(s)) / np.sqrt(var_s))
    p = float(2.0 * stats.norm.sf(abs(z)))
    if p < alpha and s > 0:
        trend = "increasing"
    elif p < alpha and s < 0:
        trend = "decreasing"
    else:
        trend = "no trend"
    return MannKendall(n, s, var_s, z, p, tau, trend, alpha, None)


def theil_sen(values, x=None, confidence: float = 0.95) -> TheilSen:
    """Theil–Sen slope (median of pairwise slopes) with a distribution-free confidence interval.

    Parameters
    ----------
    values : sequence or pandas.Series
        The series. Missing values are dropped after positions are assigned, so they count as gaps.
    x : sequence, optional
        Time positions. Default: with a PeriodIndex, months since the first period (so missing months count);
        otherwise 0, 1, …, n−1 (one step per month).
    confidence : float, default 0.95
        Confidence level of the slope interval (``scipy.stats.theilslopes``, Sen 1968).

    Returns
    -------
    TheilSen
        ``slope`` per unit of x, ``intercept = median(y) − slope · median(x)`` (Conover), the interval
        ``low``..``high``, ``n`` values used. Fewer than 2 values: all NaN; fewer than 3: interval NaN.

    Examples
    --------
    >>> theil_sen([3, 5, 7, 9]).slope
    2.0
    """
    confidence = _check_level(confidence, "confidence")
    pos, y = _xy(values, x)
    n = int(len(y))
    nan = float("nan")
    if n < 2 or np.unique(pos).size < 2:
        return TheilSen(nan, nan, nan, nan, confidence, n)
    res = stats.theilslopes(y, pos, alpha=confidence)
    low, high = (float(res.low_slope), float(res.high_slope)) if n >= 3 else (nan, nan)
    return TheilSen(float(res.slope), float(res.intercept), low, high, confidence, n)


def trend_summary(
    values, direction: str, alpha: float = 0.05, *, confidence: float = 0.95, unit: str | None = None,
    period_word: str = "month",
) -> TrendSummary:
    """Read the Mann–Kendall test and Theil–Sen slope in the KPI's direction of good.

    Parameters
    ----------
    values : sequence or pandas.Series
        Monthly values (see :func:`theil_sen` for positions and gaps).
    direction : {'higher', 'lower'}
        Which way is better for the KPI.
    alpha : float, default 0.05
        Significance level of the Mann–Kendall test.
    confidence : float, default 0.95
        Confidence level of the Theil–Sen slope interval.
    unit : str, optional
        The KPI's unit, used in the sentence ('%' reads as 'percentage points').
    period_word : str, default "month"
        What one value covers, in the sentence ("over 6 reported quarters"); slopes stay per month.

    Returns
    -------
    TrendSummary
        ``verdict`` is 'improving' when the Mann–Kendall trend is significant and in the direction of good,
        'worsening' when significant the other way, else 'no significant trend'. The slope is the Theil–Sen
        slope, per month and per year (× 12).

    Examples
    --------
    >>> trend_summary([90, 91, 92, 93, 94, 95, 96, 97], "higher").verdict
    'improving'
    """
    if direction not in _DIRECTIONS:
        raise UsageError(f"trend_summary: direction must be 'higher' or 'lower', got {direction!r}")
    mk = mann_kendall(values, alpha)
    ts = theil_sen(values, confidence=confidence)
    if mk.trend == "no trend":
        verdict = "no significant trend"
    elif (mk.trend == "increasing") == (direction == "higher"):
        verdict = "improving"
    else:
        verdict = "worsening"

    per_month = ts.slope
    per_year = 12.0 * per_month if np.isfinite(per_month) else float("nan")
    units = per_unit_words(unit)
    if mk.n < MIN_MK_VALUES:
        sentence = (
            f"Too few reported {period_word}s to test for a trend ({mk.n}; at least {MIN_MK_VALUES} are needed)."
        )
    elif verdict == "no significant trend":
        sentence = (
            f"No significant trend over {mk.n} reported {period_word}s (Mann–Kendall {p_value_text(mk.p_value)}); "
            f"Theil–Sen slope {sig_figs(per_month)}{units} a month."
        )
    else:
        moving = "rising" if mk.trend == "increasing" else "falling"
        sentence = (
            f"{verdict.capitalize()}: {moving} by {sig_figs(abs(per_month))}{units} a month "
            f"({sig_figs(abs(per_year))} a year) over {mk.n} reported {period_word}s "
            f"(Mann–Kendall {p_value_text(mk.p_value)}; {direction} is better)."
        )
    return TrendSummary(
        direction=direction,
        verdict=verdict,
        slope_per_month=per_month,
        slope_per_year=per_year,
        slope_low_per_month=ts.low,
        slope_high_per_month=ts.high,
        n=mk.n,
        p_value=mk.p_value,
        mann_kendall=mk,
        theil_sen=ts,
        sentence=sentence,
    )



def trend_summary_many(
    frame: pd.DataFrame,
    value_col: str,
    by: list[str],
    *,
    direction_col: str = "direction",
    period_col: str = "period",
    window: int = 12,
    alpha: float = 0.05,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Mann–Kendall and Theil–Sen for many series at once: the same figures as :func:`trend_summary`.

    Each series (one group of ``by``) is read over the last ``window`` months up to its latest period;
    missing months are gaps, as in :func:`trend_summary` with a PeriodIndex. Vectorised over series with
    numpy (pairwise sign and slope matrices), so a portfolio of 10,000 KPIs takes about a second.

    Returns
    -------
    DataFrame
        One row per series: the ``by`` columns, ``n``, ``s``, ``var_s``, ``z``, ``p_value``, ``trend``,
        ``verdict``, ``slope_per_month``, ``slope_low_per_month``, ``slope_high_per_month``.
    """
    alpha = _check_level(alpha, "alpha")
    confidence = _check_level(confidence, "confidence")
    if window < 2:
        raise UsageError(f"trend_summary_many: window must be at least 2 months, got {window!r}")
    keys = list(by)
    f = frame[[*keys, period_col, value_col, direction_col]].copy()
    f["_ord"] = f[period_col].astype("period[M]").to_numpy().astype("int64") if not isinstance(
        f[period_col].dtype, pd.PeriodDtype) else f[period_col].array.asi8
    groups = f.groupby(keys, sort=True, observed=True)
    last = groups["_ord"].transform("max")
    f = f[f["_ord"] > last - window]
    f["_pos"] = (f["_ord"] - (last[f.index] - window + 1)).astype(int)
    gid = f.groupby(keys, sort=True, observed=True).ngroup().to_numpy()
    n_series = int(gid.max()) + 1 if len(gid) else 0
    y = np.full((n_series, window), np.nan)
    y[gid, f["_pos"].to_numpy()] = pd.to_numeric(f[value_col], errors="coerce").to_numpy(dtype=float)
    meta = f.groupby(keys, sort=True, observed=True)[direction_col].first().reset_index()

    valid = ~np.isnan(y)
    n = valid.sum(axis=1)
    iu, ju = np.triu_indices(window, k=1)
    pair_ok = valid[:, iu] & valid[:, ju]
    diff = np.where(pair_ok, y[:, ju] - y[:, iu], 0.0)
    s = np.sign(diff).sum(axis=1)
    # Tie correction: Σ over tie groups of t(t−1)(2t+5) = Σ over values of (t_v − 1)(2 t_v + 5).
    eq = (y[:, :, None] == y[:, None, :]) & valid[:, :, None] & valid[:, None, :]
    t_v = eq.sum(axis=2).astype(float)
    ties = np.where(valid, (t_v - 1) * (2 * t_v + 5), 0.0).sum(axis=1)
    var_s = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var_s > 0, (s - np.sign(s)) / np.sqrt(var_s), 0.0)
    p = 2.0 * stats.norm.sf(np.abs(z))
    p = np.where(var_s > 0, p, 1.0)
    tested = n >= MIN_MK_VALUES
    z = np.where(tested, z, np.nan)
    p = np.where(tested, p, np.nan)
    sig = tested & (p < alpha)
    trend = np.where(sig & (s > 0), "increasing", np.where(sig & (s < 0), "decreasing", "no trend"))
    higher = meta[direction_col].to_numpy() == "higher"
    verdict = np.where(trend == "no trend", "no significant trend",
                       np.where((trend == "increasing") == higher, "improving", "worsening"))

    # Theil–Sen: median of pairwise slopes, interval by Sen (1968) eq. 2.6 as scipy.stats.theilslopes.
    dx = (ju - iu).astype(float)
    slopes = np.where(pair_ok, diff / dx, np.nan)
    slopes.sort(axis=1)  # NaN sort last
    nt = pair_ok.sum(axis=1)
    with np.errstate(invalid="ignore"):
        slope = np.nanmedian(np.where(nt[:, None] > 0, slopes, 0.0), axis=1)
    slope = np.where(nt > 0, slope, np.nan)
    zc = stats.norm.ppf((1 - confidence) / 2.0)
    sigma = np.sqrt(np.maximum(var_s, 0.0))
    ru = np.minimum(np.round((nt - zc * sigma) / 2.0).astype(int), nt - 1)
    rl = np.maximum(np.round((nt + zc * sigma) / 2.0).astype(int) - 1, 0)
    rows = np.arange(n_series)
    ok = (n >= 3) & (nt > 0)
    low = np.where(ok, slopes[rows, np.clip(rl, 0, window * window)], np.nan) if n_series else np.array([])
    high = np.where(ok, slopes[rows, np.clip(ru, 0, window * window)], np.nan) if n_series else np.array([])

    out = meta[keys].copy()
    out["n"] = n
    out["s"] = s.astype(int)
    out["var_s"] = var_s
    out["z"] = z
    out["p_value"] = p
    out["trend"] = trend
    out["verdict"] = verdict
    out["slope_per_month"] = slope
    out["slope_low_per_month"] = low
    out["slope_high_per_month"] = high
    return out
