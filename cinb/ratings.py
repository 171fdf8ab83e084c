"""Service levels and statutory ratings: met/not met per month, window ratings, RAG, the contract scorecard."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from cinb.errors import UsageError
from cinb.labels import RATING_RAG, RATING_SYMBOL, RATINGS
from cinb.periods import to_month
from cinb.regimes import count_due, is_due, kpi_calendar, period_status
from cinb.schema import AGGREGATIONS

__all__ = [
    "RATINGS",
    "RAG",
    "SYMBOL",
    "POINTS",
    "RatingBands",
    "DEFAULT_BANDS",
    "rate",
    "service_levels",
    "window_ratings",
    "scorecard",
    "scorecard_rule",
]

#: RAG colour of each rating (:data:`cinb.labels.RATING_RAG`). A colour is never shown without its word.
RAG = RATING_RAG

#: Plain-text symbol per rating for the ``symbol`` column of rating frames (:data:`cinb.labels.RATING_SYMBOL`).
SYMBOL = RATING_SYMBOL

#: Scorecard points per rating; "Other" carries no points and is left out of the weights.
POINTS = {"Good": 100.0, "Approaching target": 67.0, "Requires improvement": 33.0, "Inadequate": 0.0}

_RATING_ARRAY = np.array(RATINGS, dtype=object)
_AGAINST_ARRAY = np.array(["target", "SLA", None], dtype=object)
_AGGREGATIONS = AGGREGATIONS
_NO_TARGET = ("sla", "other")
_DIRECTIONS = {"higher": 1.0, "lower": -1.0}

# Thresholds are typed by people (99.9, tolerance 0.2); without a little slack 99.9 - 0.2 = 99.70000000000002
# would put a value of exactly 99.7 outside the tolerance it was written to be inside.
_REL_EPS = 1e-9


@dataclass(frozen=True)
class RatingBands:
    """The configurable rules that turn a value into a statutory rating.

    Parameters
    ----------
    target_inclusive : bool
        True (default): a value exactly at the target is Good ("meets or beats"). False: it must beat it.
    critical_inclusive : bool
        True (default): a value exactly at the critical level is Inadequate ("at or beyond").
    no_target : {"sla", "other"}
        How to rate a KPI that has an SLA but no target. "sla" (default): the SLA serves as the target, so
        meeting it is Good. "other": the KPI is not assessable and rated Other.
    aggregation : {"mean", "median", "latest", "worst", "sum", "volume_weighted"}
        How the values reported in a window are combined before rating the window when the KPI has no
        ``aggregation`` of its own and its values have no volumes (default "mean"; "worst" is the lowest value
        for higher-is-better KPIs and the highest for lower-is-better ones; "volume_weighted" falls back to the
        mean where a value has no volume). Values with volumes are weighted by them unless the KPI says otherwise.
    min_months_reported : int
        Fewest reported values a window needs to be rated at all (default 1); fewer gives Other.
    default_tolerance_pct : float or None
        A tolerance around the target, as a % of the target, for KPIs with a target and neither an SLA nor a
        tolerance of their own: within it a value missing the target is "Approaching target" (e.g. 5: within
        5% of the target). Default None: such KPIs are Good or Requires improvement.
    """

    target_inclusive: bool = True
    critical_inclusive: bool = True
    no_target: str = "sla"
    aggregation: str = "mean"
    min_months_reported: int = 1
    default_tolerance_pct: float | None = None

    def __post_init__(self):
        for name in ("target_inclusive", "critical_inclusive"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise UsageError(f"rating bands: {name} must be true or false, not {getattr(self, name)!r}")
        if self.no_target not in _NO_TARGET:
            raise UsageError(
                f"rating bands: no_target must be one of {', '.join(_NO_TARGET)}, not {self.no_target!r}"
            )
        if self.aggregation not in _AGGREGATIONS:
            raise UsageError(
                f"rating bands: aggregation must be one of {', '.join(_AGGREGATIONS)}, not {self.aggregation!r}"
            )
        m = self.min_months_reported
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
            raise UsageError(f"rating bands: min_months_reported must be a whole number ≥ 1, not {m!r}")
        t = self.default_tolerance_pct
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating))
                              or not np.isfinite(t) or not 0 <= t <= 100):
            raise UsageError(f"rating bands: default_tolerance_pct must be a number from 0 to 100 (a % of the "
                             f"target), or empty for none; not {t!r}")

    @classmethod
    def from_dict(cls, options: dict | None) -> "RatingBands":
        """Build bands from a mapping (e.g. the ``rating_bands`` block of a YAML parameters file).

        Unknown keys raise :class:`~cinb.errors.UsageError` naming the key and the nearest known one.

        Examples
        --------
        >>> RatingBands.from_dict({"aggregation": "median"}).aggregation
        'median'
        """
        if options is None:
            return cls()
        if isinstance(options, RatingBands):
            return options
        if not isinstance(options, dict):
            raise UsageError(f"rating bands must be a mapping of option: value, not {type(options).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = [k for k in options if k not in known]
        if unknown:
            hints = []
            for k in unknown:
                close = difflib.get_close_matches(str(k), known, n=1)
                hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise UsageError(
                f"rating bands: unknown option{'s' if len(unknown) > 1 else ''} {', '.join(hints)}; "
                f"known options are {', '.join(known)}"
            )
        return cls(**options)

    def describe(self) -> list[str]:
        """Plain-English lines stating these bands, for printing in every pack that shows a rating."""
        meets = "meets or beats" if self.target_inclusive else "beats (merely meeting is not enough for Good)"
        at = "at or beyond" if self.critical_inclusive else "beyond"
        if self.no_target == "sla":
            no_target = "A KPI with an SLA but no target is rated against its SLA, which serves as the target."
        else:
            no_target = "A KPI with an SLA but no target is not assessable and rated Other."
        agg = {
            "mean": "the mean of the values reported in the period",
            "median": "the median of the values reported in the period",
            "latest": "the latest value reported in the period",
            "worst": "the worst value reported in the period",
            "sum": "the sum of the values reported in the period",
            "volume_weighted": "the mean of the values reported in the period weighted by their volumes",
        }[self.aggregation]
        n = self.min_months_reported
        tol = self.default_tolerance_pct
        tolerance = ([f"A KPI with a target and neither an SLA nor a tolerance of its own is Approaching target "
                      f"within {tol:g}% of the target."] if tol is not None else
                     ["A KPI with a target and neither an SLA nor a tolerance is Good or Requires improvement "
                      "(no default tolerance is set)."])
        return [
            f"Good: {meets} the target.",
            "Approaching target: misses the target but meets the SLA (the minimum level); "
            "with no SLA, within the KPI's tolerance of the target.",
            "Requires improvement: misses the SLA (or is outside the tolerance) but is not at the critical level.",
            f"Inadequate: {at} the critical service level failure level.",
            "Other: not assessable (no value reported, or no target or SLA).",
            no_target,
            "Meeting a level means at or above it where higher is better, at or below it where lower is better.",
            *tolerance,
            f"A rating over a period uses each KPI's own aggregation where it has one; otherwise values with "
            f"volumes are weighted by them (total of value × volume over total volume) and other values use {agg}; "
            f"only the KPI's due periods count (a quarterly KPI's quarters), provisional figures are not rated; at "
            f"least {n} reported value{'s' if n != 1 else ''} needed.",
            "RAG: Good green, Approaching target amber, Requires improvement and Inadequate red, Other grey; "
            "every colour is shown with its word.",
        ]


DEFAULT_BANDS = RatingBands()


# ----------------------------------------------------------------------------------------------------------
# The one rating core: everything else (scalar, monthly, window) calls this.


def _at_or_better(v: np.ndarray, level: np.ndarray) -> np.ndarray:
    """v at or above level, in 'higher is better' space, with slack for typed decimals; NaN compares False."""
    # Levels near the float limit overflow to ±inf in the slack term, which still compares correctly.
    with np.errstate(invalid="ignore", over="ignore"):
        return v >= level - _REL_EPS * np.maximum(1.0, np.abs(level))


def _strictly_better(v: np.ndarray, level: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        return v > level + _REL_EPS * np.maximum(1.0, np.abs(level))


def _signs(direction) -> np.ndarray:
    d = pd.Series(direction, dtype=object).reset_index(drop=True)
    sign = d.map(_DIRECTIONS)
    if sign.isna().any():
        bad = sorted({str(x) for x in d[sign.isna()]})
        raise UsageError(
            f"KPI direction must be 'higher' or 'lower', found {', '.join(repr(b) for b in bad)}; "
            "fix the direction column of the kpis table"
        )
    return sign.to_numpy(dtype=float)


def _rate_core(value, sign, sla, target, tolerance, critical, bands: RatingBands):
    """Rate arrays of values against arrays of thresholds.

    Returns (rating, met_sla, met_target, rated_against): rating a str array; met_* float arrays 1/0/NaN
    (NaN: no level or no value); rated_against an object array of "target", "SLA" or None.
    """
    value = np.asarray(value, dtype=float)
    sign = np.asarray(sign, dtype=float)
    # Work in "higher is better" space: flipping the sign of a lower-is-better KPI turns every
    # "at or below" into "at or above", so each rule is written once.
    v = value * sign
    s = np.asarray(sla, dtype=float) * sign
    t = np.asarray(target, dtype=float) * sign
    c = np.asarray(critical, dtype=float) * sign
    tol = np.abs(np.asarray(tolerance, dtype=float))
    if bands.default_tolerance_pct is not None:
        # Only where the KPI has a target and neither an SLA nor a tolerance of its own.
        no_own = np.isnan(tol) & np.isnan(s) & ~np.isnan(t)
        tol = np.where(no_own, np.abs(t) * float(bands.default_tolerance_pct) / 100.0, tol)

    has_v = ~np.isnan(v)
    has_t = ~np.isnan(t)
    has_s = ~np.isnan(s)
    sla_as_target = ~has_t & has_s & (bands.no_target == "sla")
    eff_t = np.where(has_t, t, np.where(sla_as_target, s, np.nan))
    # When the SLA stands in for the target there is no separate minimum, so the tolerance rule applies.
    eff_s = np.where(has_t, s, np.nan)

    meets_target = _at_or_better(v, eff_t) if bands.target_inclusive else _strictly_better(v, eff_t)
    at_critical = _at_or_better(-v, -c) if bands.critical_inclusive else _strictly_better(-v, -c)
    approaching = np.where(
        ~np.isnan(eff_s), _at_or_better(v, eff_s), ~np.isnan(tol) & _at_or_better(v, eff_t - tol)
    )
    # integer codes then one lookup: np.select over strings costs ~10x more on 600k rows
    code = np.select(
        [~has_v | np.isnan(eff_t), meets_target, at_critical, approaching], [4, 0, 3, 1], 2
    )
    rating = _RATING_ARRAY[code]

    met_sla = np.where(has_s & has_v, _at_or_better(v, s), np.nan)
    t_ok = _at_or_better(v, t) if bands.target_inclusive else _strictly_better(v, t)
    met_target = np.where(has_t & has_v, t_ok, np.nan)
    rated_against = _AGAINST_ARRAY[np.where(has_t, 0, np.where(sla_as_target, 1, 2))]
    return rating, met_sla, met_target, rated_against


def _as_boolean(x: np.ndarray) -> pd.arrays.BooleanArray:
    mask = np.isnan(x)
    return pd.arrays.BooleanArray(np.nan_to_num(x, nan=0.0).astype(bool), mask)


def rate(value, *, direction, sla=None, target=None, tolerance=None, critical=None, bands=DEFAULT_BANDS) -> str:
    """Rate one value on the statutory scale.

    Parameters
    ----------
    value : float or None
        The (monthly or aggregated) value; None/NaN means not reported and gives "Other".
    direction : {"higher", "lower"}
        Which way is better.
    sla, target, tolerance, critical : float or None
        The KPI's levels, in the KPI's unit (percentage points for % KPIs).
    bands : RatingBands
        The rules; see :meth:`RatingBands.describe`.

    Returns
    -------
    str
        One of :data:`RATINGS`.

    Examples
    --------
    >>> rate(96.0, direction="higher", sla=95, target=98)
    'Approaching target'
    >>> rate(3.5, direction="lower", target=4, critical=8)
    'Good'
    """
    bands = RatingBands.from_dict(bands)

    def arr(x):
        return np.array([np.nan if x is None or pd.isna(x) else float(x)])

    rating, *_ = _rate_core(
        arr(value), _signs([direction]), arr(sla), arr(target), arr(tolerance), arr(critical), bands
    )
    return str(rating[0])


# ----------------------------------------------------------------------------------------------------------
# Frames


_KPI_LEVELS = ["direction", "sla", "target", "tolerance", "critical"]


def _kpi_levels(kpis: pd.DataFrame, extra: list[str] | None = None) -> pd.DataFrame:
    cols = ["contract_id", "kpi_id", *_KPI_LEVELS, *(extra or [])]
    k = kpis.reindex(columns=cols).copy()
    for c in ("sla", "target", "tolerance", "critical"):
        k[c] = pd.to_numeric(k[c], errors="coerce").astype(float)
    dup = k.duplicated(["contract_id", "kpi_id"])
    if dup.any():
        first = k.loc[dup].iloc[0]
        raise UsageError(
            f"kpis table has {int(dup.sum())} duplicate (contract_id, kpi_id) pairs, e.g. "
            f"{first['contract_id']}/{first['kpi_id']}; each KPI must appear once per contract"
        )
    return k


def _join_levels(measurements: pd.DataFrame, kpis: pd.DataFrame, extra: list[str] | None = None) -> pd.DataFrame:
    m = measurements.reindex(columns=["contract_id", "kpi_id", "period", "value"]).reset_index(drop=True)
    m["value"] = pd.to_numeric(m["value"], errors="coerce").astype(float)
    k = _kpi_levels(kpis, extra)
    j = m.merge(k, on=["contract_id", "kpi_id"], how="left", indicator=True, validate="many_to_one")
    orphan = j["_merge"] == "left_only"
    if orphan.any():
        first = j.loc[orphan].iloc[0]
        raise UsageError(
            f"{int(orphan.sum())} measurement rows name a KPI missing from the kpis table, e.g. "
            f"{first['contract_id']}/{first['kpi_id']}; add the KPI or drop those measurements"
        )
    return j.drop(columns="_merge")


def _month(x, what: str) -> pd.Period:
    return to_month(x, what)


def service_levels(kpis: pd.DataFrame, measurements: pd.DataFrame, bands=DEFAULT_BANDS) -> pd.DataFrame:
    """Per KPI and month: met/not met against SLA and target, the statutory rating and its RAG.

    Parameters
    ----------
    kpis, measurements : DataFrame
        As returned by :func:`cinb.load.load_portfolio`.
    bands : RatingBands or dict

    Returns
    -------
    DataFrame
        One row per measurement row, same order: ``contract_id, kpi_id, period, value, met_sla, met_target,
        rating, rag, symbol, rated_against``. ``met_sla``/``met_target`` are nullable booleans, NA when the KPI
        has no such level or the month was not reported; a not-reported month is rated "Other".
        ``rated_against`` says whether the rating used the target or (no target) the SLA.
    """
    bands = RatingBands.from_dict(bands)
    j = _monthly(kpis, measurements, bands)
    return j[["contract_id", "kpi_id", "period", "value", "met_sla", "met_target", "rating", "rag", "symbol",
              "rated_against"]]


def _monthly(kpis: pd.DataFrame, measurements: pd.DataFrame, bands: RatingBands) -> pd.DataFrame:
    """Measurements joined to their KPI's levels, with the sign of good and the monthly rating columns."""
    j = _join_levels(measurements, kpis)
    j["sign"] = _signs(j["direction"])
    rating, met_sla, met_target, against = _rate_core(
        j["value"].to_numpy(), j["sign"], j["sla"], j["target"], j["tolerance"], j["critical"], bands
    )
    j["met_sla"] = _as_boolean(met_sla)
    j["met_target"] = _as_boolean(met_target)
    j["rating"] = rating
    j["rag"] = j["rating"].map(RAG)
    j["symbol"] = j["rating"].map(SYMBOL)
    j["rated_against"] = against
    return j


def window_ratings(kpis: pd.DataFrame, measurements: pd.DataFrame, start, end, bands=DEFAULT_BANDS, *,
                   contracts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rate every KPI over the months ``start``..``end`` (inclusive), and give the status of month ``end``.

    Each KPI's window is clipped to the months it is in force (its ``start_period``/``end_period`` and, with
    ``contracts``, the contract term) and counts only its due months (:mod:`cinb.regimes`: a quarterly KPI's
    quarter ends). The values reported for those months — complete ones only: a provisional figure is never
    rated — are combined into one value and rated with the same rules as a single month. How they are combined
    is the KPI's ``aggregation``; when it is empty, ``volume_weighted`` (Σ value × volume / Σ volume) if every
    value in the window has a volume, else ``bands.aggregation`` (default the mean). A ``volume_weighted``
    aggregation asked for without a volume for every value falls back to ``bands.aggregation`` and says so in
    ``aggregation_note``.

    Parameters
    ----------
    kpis, measurements : DataFrame
        As returned by :func:`cinb.load.load_portfolio` (version-2 columns optional).
    start, end : str or Period
        First and last month of the window, e.g. "2025-04" and "2026-03".
    bands : RatingBands or dict
    contracts : DataFrame, optional
        ``contract_id, start_date, end_date``: clips each KPI's window to its contract's term.

    Returns
    -------
    DataFrame
        One row per KPI of ``kpis`` (sorted by contract_id, kpi_id), with ``contract_id, kpi_id, name, unit,
        direction, sla, target, tolerance, critical, rated_against``; ``frequency`` and ``window_start`` /
        ``window_end`` (the KPI's clipped window, Periods; NaT when it is not in force in the window);
        ``months_in_window`` (calendar months from ``start`` to ``end``), ``periods_due`` (due months in the
        clipped window), ``months_with_rows`` (due months with a row), ``months_reported`` (due months with a
        complete value: the values rated), ``periods_no_activity``, ``periods_incomplete``; ``value`` (the
        combined value), ``aggregation_used``, ``aggregation_note``, ``volume`` (Σ volume of the rated values,
        NaN without volumes), ``rating, rag, symbol``; ``compliance_sla`` and ``compliance_target`` (share 0–1 of
        rated values meeting each level, weighted by volume when the value is; NaN with no such level or nothing
        rated) and ``periods_met_sla`` / ``periods_met_target`` (counts); ``latest_period, latest_value,
        latest_volume, latest_rating, latest_rag`` for the last rated month in the window; and for the month
        ``end``: ``period_status`` (:data:`cinb.regimes.PERIOD_STATUSES`), ``period_value`` (its value when
        reported or provisional), ``period_rating`` (its rating when ``reported``, else None) and ``period_note``.

    Raises
    ------
    UsageError
        ``end`` before ``start``, a malformed month, an unknown direction or aggregation, duplicate KPIs or
        measurements of unknown KPIs.
    """
    bands = RatingBands.from_dict(bands)
    p0, p1 = _month(start, "window start"), _month(end, "window end")
    if p1 < p0:
        raise UsageError(f"window end {p1} is before its start {p0}; give --from before --to")
    keys = ["contract_id", "kpi_id"]
    cal = kpi_calendar(kpis, contracts, measurements).drop_duplicates(keys).set_index(keys)

    cols = ["contract_id", "kpi_id", "period", "value", "volume", "complete", "note"]
    m = measurements.reindex(columns=cols)
    in_window = m["period"].notna() & (m["period"] >= p0) & (m["period"] <= p1)
    m = m.loc[in_window].sort_values([*keys, "period"], kind="stable")
    monthly = _monthly(kpis, m.drop(columns=["volume", "complete", "note"]), bands)
    monthly["volume"] = pd.to_numeric(m["volume"], errors="coerce").astype(float).to_numpy()
    monthly["complete"] = _completeness(m["complete"])
    monthly["note"] = m["note"].to_numpy(dtype=object)
    idx = pd.MultiIndex.from_frame(monthly[keys].astype(object)) if len(monthly) else None
    c = cal.reindex(idx) if idx is not None else cal.iloc[0:0]
    o = monthly["period"].array.asi8 if len(monthly) else np.zeros(0, dtype=np.int64)
    lo = np.fmax(float(p0.ordinal), c["life_lo"].to_numpy(dtype=float))
    hi = np.fmin(float(p1.ordinal), c["life_hi"].to_numpy(dtype=float))
    counted = (o >= np.nan_to_num(lo, nan=-np.inf)) & (o <= np.nan_to_num(hi, nan=np.inf)) \
        & is_due(o, c["step"].to_numpy(dtype=np.int64), c["phase"].to_numpy(dtype=np.int64))
    monthly = monthly.loc[counted].copy()
    monthly["signed"] = monthly["value"] * monthly["sign"]
    has_value = monthly["value"].notna()
    rated = has_value & monthly["complete"]
    no_activity = ~has_value & (monthly["volume"] == 0)

    rep = monthly.loc[rated]
    g = rep.groupby(keys, sort=False)
    agg = pd.DataFrame({"months_with_rows": monthly.groupby(keys, sort=False).size()})
    agg["months_reported"] = g.size()
    agg["periods_no_activity"] = no_activity.groupby([monthly["contract_id"], monthly["kpi_id"]], sort=False).sum()
    agg["periods_incomplete"] = (has_value & ~monthly["complete"]).groupby(
        [monthly["contract_id"], monthly["kpi_id"]], sort=False).sum()
    candidates = {
        "mean": g["value"].mean(), "median": g["value"].median(), "latest": g["value"].last(),
        # worst: the lowest in "higher is better" space, turned back to the KPI's own scale
        "worst": g["signed"].min() * g["sign"].first(), "sum": g["value"].sum(),
    }
    weighted = rep["value"] * rep["volume"]
    vol_sum = rep["volume"].groupby([rep["contract_id"], rep["kpi_id"]], sort=False).sum(min_count=1)
    all_vol = rep["volume"].notna().groupby([rep["contract_id"], rep["kpi_id"]], sort=False).all()
    with np.errstate(invalid="ignore", divide="ignore"):
        candidates["volume_weighted"] = weighted.groupby([rep["contract_id"], rep["kpi_id"]], sort=False).sum() \
            / vol_sum
    agg["can_weight"] = all_vol & (vol_sum > 0)
    agg["volume"] = vol_sum
    for col in ("met_sla", "met_target"):
        x = rep[col].astype("Float64").astype(float)
        by = [rep["contract_id"], rep["kpi_id"]]
        agg["compliance_" + col[4:] + "_plain"] = x.groupby(by, sort=False).mean()
        with np.errstate(invalid="ignore", divide="ignore"):
            agg["compliance_" + col[4:] + "_weighted"] = (x * rep["volume"]).groupby(by, sort=False).sum(
                min_count=1) / rep["volume"].where(x.notna()).groupby(by, sort=False).sum(min_count=1)
        agg["periods_" + col] = (x == 1).groupby(by, sort=False).sum()
    for name, series in candidates.items():
        agg["_" + name] = series
    last = rep.groupby(keys, sort=False).tail(1).set_index(keys)
    agg["latest_period"] = last["period"]
    agg["latest_value"] = last["value"]
    agg["latest_volume"] = last["volume"]
    agg["latest_rating"] = last["rating"]
    at_end = monthly.loc[monthly["period"] == p1].set_index(keys)

    k = _kpi_levels(kpis, ["name", "unit", "aggregation"])
    out = k.merge(agg.reset_index(), on=keys, how="left").sort_values(keys, kind="stable").reset_index(drop=True)
    kc = cal.reindex(pd.MultiIndex.from_frame(out[keys].astype(object))) if len(out) else cal.iloc[0:0]
    out["frequency"] = kc["frequency"].to_numpy(dtype=object)
    w_lo = np.fmax(float(p0.ordinal), kc["life_lo"].to_numpy(dtype=float))
    w_hi = np.fmin(float(p1.ordinal), kc["life_hi"].to_numpy(dtype=float))
    w_lo = np.where(np.isnan(w_lo), p0.ordinal, w_lo)
    w_hi = np.where(np.isnan(w_hi), p1.ordinal, w_hi)
    in_force = w_hi >= w_lo
    out["window_start"] = _periods(np.where(in_force, w_lo, np.nan))
    out["window_end"] = _periods(np.where(in_force, w_hi, np.nan))
    out["months_in_window"] = (p1 - p0).n + 1
    out["periods_due"] = count_due(w_lo, w_hi, kc["step"].to_numpy(), kc["phase"].to_numpy()) if len(out) \
        else np.zeros(0, dtype=np.int64)
    for col in ("months_with_rows", "months_reported", "periods_no_activity", "periods_incomplete",
                "periods_met_sla", "periods_met_target"):
        out[col] = pd.to_numeric(out[col], errors="coerce").fillna(0).astype(int)

    asked = out["aggregation"].where(out["aggregation"].notna() & (out["aggregation"] != ""), None)
    can_weight = out["can_weight"].fillna(False).astype(bool).to_numpy()
    fallback = bands.aggregation if bands.aggregation != "volume_weighted" else "mean"
    default = np.where(can_weight, "volume_weighted", fallback) if bands.aggregation != "volume_weighted" \
        else np.where(can_weight, "volume_weighted", "mean")
    want = np.where(asked.isna(), default, asked.astype(object))
    unweightable = (want == "volume_weighted") & ~can_weight
    used = np.where(unweightable, fallback, want).astype(object)
    bad = sorted(set(used) - set(AGGREGATIONS))
    if bad:
        raise UsageError(f"KPI aggregation must be one of {', '.join(AGGREGATIONS)}, not {bad[0]!r}")
    has_rated = out["months_reported"].to_numpy() > 0
    out["aggregation_used"] = np.where(has_rated, used, None)
    out["aggregation_note"] = np.where(
        unweightable & has_rated & asked.notna().to_numpy(),
        "volume_weighted was asked for, but not every value in the window has a volume: "
        f"the {fallback} of the values is used", None)
    value = np.full(len(out), np.nan)
    for name in AGGREGATIONS:
        pick = used == name
        if pick.any():
            value[pick] = pd.to_numeric(out["_" + name], errors="coerce").to_numpy(dtype=float)[pick]
    out["value"] = value
    weighted_c = used == "volume_weighted"
    for lvl in ("sla", "target"):
        out["compliance_" + lvl] = np.where(weighted_c, out["compliance_" + lvl + "_weighted"],
                                            out["compliance_" + lvl + "_plain"]).astype(float)
    for col in ("latest_value", "latest_volume", "volume"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    if "latest_period" not in out or out["latest_period"].isna().all():
        out["latest_period"] = pd.Series(pd.NaT, index=out.index).astype("period[M]")
    rated_value = value.copy()
    rated_value[out["months_reported"].to_numpy() < bands.min_months_reported] = np.nan
    sign = _signs(out["direction"]) if len(out) else np.array([], dtype=float)
    rating, _, _, against = _rate_core(
        rated_value, sign, out["sla"], out["target"], out["tolerance"], out["critical"], bands
    )
    out["rating"] = rating
    out["rag"] = out["rating"].map(RAG)
    out["symbol"] = out["rating"].map(SYMBOL)
    out["rated_against"] = against
    out["latest_rating"] = out["latest_rating"].where(out["latest_rating"].notna(), "Other")
    out["latest_rag"] = out["latest_rating"].map(RAG)
    _period_columns(out, at_end, kc, p1)
    cols = [
        "contract_id", "kpi_id", "name", "unit", "direction", "sla", "target", "tolerance", "critical",
        "rated_against", "frequency", "window_start", "window_end", "months_in_window", "periods_due",
        "months_with_rows", "months_reported", "periods_no_activity", "periods_incomplete", "value",
        "aggregation_used", "aggregation_note", "volume", "rating", "rag", "symbol", "compliance_sla",
        "compliance_target", "periods_met_sla", "periods_met_target", "latest_period", "latest_value",
        "latest_volume", "latest_rating", "latest_rag", "period_status", "period_value", "period_rating",
        "period_note",
    ]
    return out[cols]


def _periods(ordinals: np.ndarray) -> pd.Series:
    """Monthly Periods from float ordinals (NaN → NaT)."""
    a = np.asarray(ordinals, dtype=float)
    ints = np.where(np.isnan(a), np.iinfo(np.int64).min, a).astype(np.int64)
    return pd.Series(pd.arrays.PeriodArray(ints, dtype="period[M]"))


def _completeness(col: pd.Series) -> np.ndarray:
    """The ``complete`` column as booleans: empty means complete (true)."""
    s = pd.Series(col).reset_index(drop=True)
    if s.dtype == bool:
        return s.to_numpy()
    missing = s.isna().to_numpy()
    return np.where(missing, True, s.where(~missing, True).astype(bool).to_numpy())


def _period_columns(out: pd.DataFrame, at_end: pd.DataFrame, kc: pd.DataFrame, p1: pd.Period) -> None:
    """Fill ``period_status``, ``period_value``, ``period_rating`` and ``period_note`` for the month ``p1``.

    Vectorised form of :func:`cinb.regimes.period_status` (the same rules, in the same order).
    """
    keys = ["contract_id", "kpi_id"]
    end = at_end.reset_index()
    end = end[~end.duplicated(keys, keep="last")]
    row = out[keys].merge(end, on=keys, how="left", indicator=True)
    has_row = (row["_merge"] == "both").to_numpy()
    value = pd.to_numeric(row["value"], errors="coerce").to_numpy(dtype=float)
    volume = pd.to_numeric(row["volume"], errors="coerce").to_numpy(dtype=float)
    complete = row["complete"].where(has_row, True).astype(bool).to_numpy()
    o = p1.ordinal
    lo = kc["life_lo"].to_numpy(dtype=float)
    hi = kc["life_hi"].to_numpy(dtype=float)
    due = is_due(np.full(len(out), o), kc["step"].to_numpy(dtype=np.int64), kc["phase"].to_numpy(dtype=np.int64))
    status = np.select(
        [~np.isnan(lo) & (o < lo), ~np.isnan(hi) & (o > hi), ~due, ~has_row,
         np.isnan(value) & (volume == 0), np.isnan(value), ~complete],
        ["not_started", "ended", "not_due", "not_reported", "no_activity", "not_reported", "incomplete"],
        "reported").astype(object)
    out["period_status"] = status
    out["period_value"] = np.where(np.isin(status, ["reported", "incomplete"]), value, np.nan)
    rating = row["rating"].to_numpy(dtype=object)
    out["period_rating"] = np.where(status == "reported", rating, None)
    note = row["note"].to_numpy(dtype=object)
    # An object column, so that "no note" stays None: a list of None and text would be read as a text column
    # (pandas >= 3), its None turned into NaN, and NaN is a truthy "nan" to whoever writes the note out.
    out["period_note"] = pd.Series([None if n is None or (isinstance(n, float) and np.isnan(n)) or n is pd.NA
                                    or str(n).strip() == "" else str(n) for n in note], index=out.index,
                                   dtype=object)


# ----------------------------------------------------------------------------------------------------------
# Scorecard

_GOOD_FROM, _APPROACHING_FROM, _REQUIRES_FROM = 83.5, 50.0, 16.5


def scorecard_rule() -> list[str]:
    """Plain-English lines stating how the contract scorecard is computed, for printing in packs."""
    return [
        "Each rated KPI scores Good 100, Approaching target 67, Requires improvement 33, Inadequate 0; "
        "KPIs rated Other are left out.",
        "The contract score (0–100) is the mean of those scores weighted by each KPI's weight.",
        f"Overall rating: the rating whose score is nearest (Good from {_GOOD_FROM:g}, Approaching target from "
        f"{_APPROACHING_FROM:g}, Requires improvement from {_REQUIRES_FROM:g}, Inadequate below); "
        "but a contract with any Inadequate KPI is at best Requires improvement, so an average cannot hide "
        "a critical failure; with no rated KPI it is Other.",
    ]


def scorecard(window_ratings_df: pd.DataFrame, kpis: pd.DataFrame) -> pd.DataFrame:
    """Weighted contract scorecard from :func:`window_ratings`.

    Parameters
    ----------
    window_ratings_df : DataFrame
        Output of :func:`window_ratings` (needs contract_id, kpi_id, rating).
    kpis : DataFrame
        For the ``weight`` column (missing weights count as 1).

    Returns
    -------
    DataFrame
        One row per contract: ``contract_id, score`` (0–100, NaN when nothing is rated), ``weight_rated``
        (sum of weights of the rated KPIs), ``n_kpis``, ``n_good``, ``n_approaching``,
        ``n_requires_improvement``, ``n_inadequate``, ``n_other``, ``rating``, ``rag``, ``symbol``.
        The rule is stated by :func:`scorecard_rule`.
    """
    keys = ["contract_id", "kpi_id"]
    w = kpis.reindex(columns=[*keys, "weight"]).copy()
    w["weight"] = pd.to_numeric(w["weight"], errors="coerce").astype(float).fillna(1.0)
    if (w["weight"] < 0).any():
        bad = w.loc[w["weight"] < 0].iloc[0]
        raise UsageError(
            f"KPI {bad['contract_id']}/{bad['kpi_id']} has a negative weight {bad['weight']:g}; "
            "weights must be ≥ 0"
        )
    r = window_ratings_df[[*keys, "rating"]].merge(w, on=keys, how="left")
    r["weight"] = r["weight"].fillna(1.0)
    r["points"] = r["rating"].map(POINTS).astype(float)
    rated = r["points"].notna()
    r["w_rated"] = np.where(rated, r["weight"], 0.0)
    r["w_points"] = np.where(rated, r["weight"] * r["points"].fillna(0.0), 0.0)
    g = r.groupby("contract_id", sort=True)
    out = pd.DataFrame({"weight_rated": g["w_rated"].sum(), "w_points": g["w_points"].sum()})
    with np.errstate(invalid="ignore", divide="ignore"):
        out["score"] = np.where(out["weight_rated"] > 0, out["w_points"] / out["weight_rated"], np.nan)
    out["n_kpis"] = g.size()
    counts = pd.crosstab(r["contract_id"], r["rating"]).reindex(columns=list(RATINGS), fill_value=0)
    for name, col in zip(
        RATINGS, ["n_good", "n_approaching", "n_requires_improvement", "n_inadequate", "n_other"], strict=True
    ):
        out[col] = counts[name].reindex(out.index).fillna(0).astype(int)
    score = out["score"].to_numpy()
    overall = np.select(
        [np.isnan(score), score >= _GOOD_FROM, score >= _APPROACHING_FROM, score >= _REQUIRES_FROM],
        ["Other", "Good", "Approaching target", "Requires improvement"],
        "Inadequate",
    ).astype(object)
    capped = (out["n_inadequate"].to_numpy() > 0) & np.isin(overall, ["Good", "Approaching target"])
    overall[capped] = "Requires improvement"
    out["rating"] = overall
    out["rag"] = out["rating"].map(RAG)
    out["symbol"] = out["rating"].map(SYMBOL)
    out = out.reset_index()
    return out[
        [
            "contract_id", "score", "weight_rated", "n_kpis", "n_good", "n_approaching", "n_requires_improvement",
            "n_inadequate", "n_other", "rating", "rag", "symbol",
        ]
    ]
