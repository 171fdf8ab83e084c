"""XmR (individuals) charts as in NHS England's "Making Data Count": limits, special-cause rules, assurance.

:func:`xmr` draws one chart; :mod:`cinb.spc` re-exports it with the run chart (:mod:`cinb.spc_run`) and the
many-series summary (:mod:`cinb.spc_many`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cinb.errors import UsageError
from cinb.spc_checks import (
    MIN_FIX_AFTER, as_float_array, check_fix_after, check_group_fix, check_target, choice, rebase_positions,
)

__all__ = [
    "LIMIT_FACTOR", "CLOSE_FRACTION", "SCREEN_FACTOR", "RULE_POINTS", "MIN_FIX_AFTER", "SHORT_GROUP",
    "IMPROVEMENTS", "TWO_IN_THREE_VARIANTS", "RULES", "POINT_TYPES", "ASSURANCES", "XmrResult", "xmr",
]

#: Process limits are the mean ± LIMIT_FACTOR × mean moving range (3 sigma for individuals, d2 = 1.128).
LIMIT_FACTOR = 2.66
#: "Close to a limit" means beyond this fraction of the way from the mean to the limit (2 sigma).
CLOSE_FRACTION = 2.0 / 3.0
#: With screening, moving ranges at or above this multiple of the mean moving range are dropped (Nelson 1982).
SCREEN_FACTOR = 3.267
#: Points in a run (one side of the mean) or a trend (strictly rising or falling) that make a signal.
RULE_POINTS = 7
#: Groups with fewer points than this carry a short-series warning.
SHORT_GROUP = 13
#: A point within this relative distance of the mean is on the mean: rounding in the mean of a constant
#: series must not put every point "below the mean" and invent a run.
_ON_MEAN_RTOL = 1e-12

IMPROVEMENTS = ("increase", "decrease", "neutral")
TWO_IN_THREE_VARIANTS = ("nhse-2023", "ptd-0.2")
RULES = ("outside_limits", "trend", "two_in_three", "run")
POINT_TYPES = (
    "common_cause",
    "special_cause_improvement",
    "special_cause_concern",
    "special_cause_neutral_high",
    "special_cause_neutral_low",
)
ASSURANCES = ("consistent_pass", "consistent_fail", "inconsistent")

_POINT_COLUMNS = [
    "position", "value", "mr", "group", "baseline", "mean", "lpl", "upl",
    "lower_two_thirds", "upper_two_thirds", "rule", "point_type",
]
_GROUP_COLUMNS = [
    "group", "start", "end", "n", "n_missing", "fixed_from", "fixed_to", "mean", "mr_bar", "n_mr",
    "n_mr_screened", "lpl", "upl", "lower_two_thirds", "upper_two_thirds",
]


# --------------------------------------------------------------------------------------------------------------
# Result objects
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class XmrResult:
    """An XmR chart: one row per input value, the limits of each group, and the two summary icons.

    ``points`` and ``groups`` are built on first access, so scoring thousands of series for their icons does
    not pay for thousands of DataFrames.

    Attributes
    ----------
    points : DataFrame
        One row per input value, in input order, indexed like the input (a Series keeps its index, e.g. a
        PeriodIndex; other inputs get a RangeIndex). Columns: ``position`` (0-based), ``value`` (NaN when
        missing), ``mr`` (moving range to the previous point; NaN at a group's first point and next to a
        gap), ``group`` (0, 1, … counting rebases), ``baseline`` (the point's value went into its group's
        limits), ``mean``, ``lpl``, ``upl``, ``lower_two_thirds`` / ``upper_two_thirds`` (the "close to a
        limit" thresholds), ``rule`` (``outside_limits``, ``trend``, ``two_in_three``, ``run`` or None) and
        ``point_type`` (``common_cause``, ``special_cause_improvement``, ``special_cause_concern``,
        ``special_cause_neutral_high``, ``special_cause_neutral_low``; None for a missing value).
    groups : DataFrame
        One row per group: ``group``, ``start``/``end`` (positions, inclusive), ``n`` (values present),
        ``n_missing``, ``fixed_from``/``fixed_to`` (positions of a fixed baseline, <NA> when the whole group
        is used), ``mean``, ``mr_bar`` (mean moving range after any screening), ``n_mr`` (moving ranges
        used), ``n_mr_screened`` (dropped as outliers), ``lpl``, ``upl``, ``lower_two_thirds``,
        ``upper_two_thirds``.
    variation : str or None
        The point type of the latest point with a value (None when there is none).
    assurance : str or None
        ``consistent_pass``, ``consistent_fail`` or ``inconsistent``: the target against the last group's
        limits; None without a target, with a neutral direction, or when the limits cannot be computed.
    warnings : list of str
        Plain-English cautions for the reader (short groups, gaps in a fixed baseline, …).
    improvement, target, rebase_at, fix_after, screen_outliers, two_in_three
        The settings the chart was drawn with, to be printed with it.
    mean, lpl, upl : float
        The last group's centre line and limits.
    """

    variation: str | None
    assurance: str | None
    warnings: list[str]
    improvement: str
    target: float | None
    rebase_at: tuple[int, ...]
    fix_after: int | tuple | None
    screen_outliers: bool
    two_in_three: str
    _point_columns: dict = field(repr=False)
    _group_columns: dict = field(repr=False)
    _index: Any = field(repr=False, default=None)

    @cached_property
    def points(self) -> pd.DataFrame:
        """One row per input value (see the class docstring)."""
        cols = self._point_columns
        frame = pd.DataFrame({c: cols[c] for c in _POINT_COLUMNS if c not in ("rule", "point_type")})
        # object dtype keeps None as None on pandas 3, whose default string dtype would turn it into NaN
        for c in ("rule", "point_type"):
            frame[c] = pd.Series(cols[c], dtype=object, index=frame.index, copy=False)
        if self._index is not None:
            frame.index = self._index
        return frame

    @cached_property
    def groups(self) -> pd.DataFrame:
        """One row per group (see the class docstring)."""
        cols = dict(self._group_columns)
        for c in ("fixed_from", "fixed_to"):
            cols[c] = pd.array(cols[c], dtype="Int64")
        return pd.DataFrame(cols, columns=_GROUP_COLUMNS)

    def _last(self, column: str) -> float:
        values = self._group_columns[column]
        return float(values[-1]) if len(values) else math.nan

    @property
    def mean(self) -> float:
        """The centre line of the last group."""
        return self._last("mean")

    @property
    def lpl(self) -> float:
        """The lower process limit of the last group."""
        return self._last("lpl")

    @property
    def upl(self) -> float:
        """The upper process limit of the last group."""
        return self._last("upl")

    def summary(self) -> dict[str, Any]:
        """Plain Python values for ``pack.json``: settings, last group's limits, icons and warnings."""
        types = self._point_columns["point_type"]
        return {
            "improvement": self.improvement,
            "target": self.target,
            "rebase_at": list(self.rebase_at),
            "fix_after": self.fix_after,
            "screen_outliers": self.screen_outliers,
            "two_in_three": self.two_in_three,
            "mean": _plain(self.mean),
            "lpl": _plain(self.lpl),
            "upl": _plain(self.upl),
            "variation": self.variation,
            "assurance": self.assurance,
            "special_cause_points": {k: int(np.sum(types == k)) for k in POINT_TYPES[1:]},
            "warnings": list(self.warnings),
        }


# --------------------------------------------------------------------------------------------------------------
# XmR chart
# --------------------------------------------------------------------------------------------------------------


def xmr(
    values,
    *,
    improvement: str = "increase",
    target: float | None = None,
    rebase_at=None,
    fix_after: int | Sequence | None = None,
    screen_outliers: bool = False,
    two_in_three: str = "nhse-2023",
) -> XmrResult:
    """Draw an XmR (individuals and moving range) chart the "Making Data Count" way.

    Parameters
    ----------
    values : sequence, numpy array or Series of numbers
        One value per period in time order; None/NaN marks a missing month. A Series keeps its index in
        ``points``.
    improvement : {"increase", "decrease", "neutral"}
        Which way is better; labels each signal improvement or concern (neutral: high or low).
    target : float, optional
        The level to meet; gives the assurance icon. NaN counts as no target.
    rebase_at : list of int, optional
        0-based positions where a new group (new mean and limits) starts, e.g. at a known process change.
    fix_after : int or sequence, optional
        Compute each group's mean and limits from its first ``fix_after`` positions (at least 12) and apply
        them to the rest of the group (a fixed baseline). A sequence gives one entry per group (None: that
        group's limits come from all its points; else a whole number ≥ 2, with a warning below 12), e.g. a
        baseline recorded for one process change.
    screen_outliers : bool, default False
        Drop moving ranges at or above 3.267 × the mean moving range and recompute the mean moving range
        once (NHSRplotthedots' default). NHS England's Excel tool does not screen, hence False.
    two_in_three : {"nhse-2023", "ptd-0.2"}
        ``"nhse-2023"``: points beyond a limit count towards "2 of 3 close to a limit", as NHS England's tool
        has done since late 2023; ``"ptd-0.2"``: only points between two-thirds and the limit count, as
        NHSRplotthedots 0.2.

    Returns
    -------
    XmrResult

    Notes
    -----
    Limits are mean ± 2.66 × mean moving range. Special-cause rules, in order of precedence for the label:

    1. ``outside_limits``: a point above the upper or below the lower limit.
    2. ``trend``: 7 points each strictly above (or below) the one before; an equal pair breaks it. Labelled
       by the trend's direction, so a rising trend is an improvement when higher is better. A peak or trough
       shared by a rising and a falling trend takes the direction of the trend that ends at it.
    3. ``two_in_three``: 2 of 3 consecutive points beyond two-thirds of the way to the same limit, all three
       on that side of the mean; only the points close to (or beyond) the limit are labelled.
    4. ``run``: 7 consecutive points on one side of the mean; a point on the mean breaks it.

    Moving ranges are not bridged across a missing value or a rebase, and a rule window (7 points for runs and
    trends, 3 for two-in-three) that contains a missing value or spans a rebase is ignored. A missing value's
    row has NaN ``value`` and None ``rule`` and ``point_type``; ``variation`` reports the latest point with a
    value. A value within 1e-12 (relative to the group's largest value) of the mean counts as on the mean, so
    rounding in the mean of a constant series makes no run.

    Assurance: when higher is better, a target at or below the lower limit is ``consistent_pass``, above the
    upper limit ``consistent_fail``, otherwise ``inconsistent`` (mirrored when lower is better).

    Examples
    --------
    >>> r = xmr([1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1])
    >>> round(r.mean, 2), round(r.upl, 2), r.points["point_type"].iloc[4]
    (1.94, 6.95, 'special_cause_improvement')
    """
    x, index = as_float_array(values, "values")
    n = len(x)
    imp = choice(improvement, IMPROVEMENTS, "improvement")
    variant = choice(two_in_three, TWO_IN_THREE_VARIANTS, "two_in_three")
    if not isinstance(screen_outliers, (bool, np.bool_)):
        raise UsageError(f"screen_outliers must be True or False, not {screen_outliers!r}")
    target_value = check_target(target)
    rebases = rebase_positions(rebase_at, n)
    if isinstance(fix_after, (list, tuple, np.ndarray)):
        fix = tuple(check_group_fix(f, len(rebases) + 1) for f in fix_after)
        if len(fix) != len(rebases) + 1:
            raise UsageError(f"fix_after has {len(fix)} entries but there are {len(rebases) + 1} groups: give one "
                             "per group (None for a group whose limits use all its points)")
        fixes = list(fix)
    else:
        fix = check_fix_after(fix_after)
        fixes = [fix] * (len(rebases) + 1)

    cols, group_cols, warnings = _xmr_arrays(x, rebases, fixes, bool(screen_outliers), variant, imp)

    present = ~np.isnan(x)
    variation = cols["point_type"][np.flatnonzero(present)[-1]] if present.any() else None

    assurance = None
    if target_value is not None:
        if imp == "neutral":
            warnings.append("a target was given but the direction is neutral: no assurance is drawn")
        elif n == 0 or np.isnan(group_cols["lpl"][-1]):
            warnings.append("the last group has no limits (no two consecutive values): no assurance is drawn")
        else:
            assurance = _assurance(target_value, group_cols["lpl"][-1], group_cols["upl"][-1], imp)

    return XmrResult(
        variation=variation,
        assurance=assurance,
        warnings=warnings,
        improvement=imp,
        target=target_value,
        rebase_at=tuple(int(r) for r in rebases),
        fix_after=fix,
        screen_outliers=bool(screen_outliers),
        two_in_three=variant,
        _point_columns=cols,
        _group_columns=group_cols,
        _index=index,
    )


def _assurance(target: float, lpl: float, upl: float, improvement: str) -> str:
    # A target on the lower limit (higher is better) is still met by every value the process can produce,
    # hence the non-strict comparison on the passing side.
    if improvement == "increase":
        if target <= lpl:
            return "consistent_pass"
        if target > upl:
            return "consistent_fail"
    else:
        if target >= upl:
            return "consistent_pass"
        if target < lpl:
            return "consistent_fail"
    return "inconsistent"


def _xmr_arrays(x, rebases, fixes, screen, variant, improvement):
    """The vectorised core: per-point columns, per-group columns, and warnings (``fixes``: one per group)."""
    n = len(x)
    present = ~np.isnan(x)
    starts = np.concatenate(([0], rebases)).astype(np.intp) if n else np.zeros(0, np.intp)
    ends = np.concatenate((rebases, [n])).astype(np.intp) if n else np.zeros(0, np.intp)
    group = np.repeat(np.arange(len(starts)), ends - starts)

    # Moving ranges: NaN next to a gap (NaN propagates through diff) and at each group's first point.
    mr = np.empty(n)
    if n:
        mr[0] = np.nan
        mr[1:] = np.abs(np.diff(x))
        mr[starts[1:]] = np.nan

    g_mean = np.full(len(starts), np.nan)
    g_amr = np.full(len(starts), np.nan)
    g_scale = np.zeros(len(starts))
    baseline = np.zeros(n, dtype=bool)
    rows = []
    warnings: list[str] = []
    for k, (a, b) in enumerate(zip(starts, ends)):
        a, b = int(a), int(b)
        fix = fixes[k]
        fixed = fix is not None
        c = min(b, a + fix) if fixed else b
        xb = x[a:c]
        ok = present[a:c]
        baseline[a:c] = ok
        n_base = int(ok.sum())
        mean = float(xb[ok].mean()) if n_base else math.nan
        mrs = mr[a + 1 : c]
        mrs = mrs[~np.isnan(mrs)]
        amr = float(mrs.mean()) if len(mrs) else math.nan
        n_screened = 0
        # A zero mean moving range has nothing to screen (and "< 0" would drop every range).
        if screen and len(mrs) and amr > 0:
            kept = mrs[mrs < SCREEN_FACTOR * amr]
            n_screened = len(mrs) - len(kept)
            amr = float(kept.mean())
            mrs = kept
        g_mean[k], g_amr[k] = mean, amr
        g_scale[k] = float(np.abs(x[a:b][present[a:b]]).max()) if present[a:b].any() else 0.0
        half, close = LIMIT_FACTOR * amr, CLOSE_FRACTION * LIMIT_FACTOR * amr
        n_group = int(present[a:b].sum())
        rows.append(
            (k, a, b - 1, n_group, (b - a) - n_group, a if fixed else None, c - 1 if fixed else None,
             mean, amr, len(mrs), n_screened, mean - half, mean + half, mean - close, mean + close)
        )
        where = f"group {k} (positions {a}–{b - 1})"
        if n_group < SHORT_GROUP:
            warnings.append(
                f"{where} has {n_group} value{'s' if n_group != 1 else ''}: limits from fewer than "
                f"{SHORT_GROUP} points are unreliable; treat its signals with caution"
            )
        if np.isnan(amr):
            warnings.append(f"{where} has no two consecutive values: its limits cannot be computed")
        if fixed and b - a < fix:
            warnings.append(
                f"{where} is shorter than fix_after={fix}: its limits come from the whole group"
            )
        elif fixed and n_base < c - a:
            warnings.append(
                f"{where}: the fixed baseline (positions {a}–{c - 1}) has {c - a - n_base} missing "
                f"value{'s' if c - a - n_base != 1 else ''}, so its limits rest on {n_base} points"
            )

    mean_p = g_mean[group]
    half_p = LIMIT_FACTOR * g_amr[group]
    close_p = CLOSE_FRACTION * half_p
    lpl, upl = mean_p - half_p, mean_p + half_p
    l23, u23 = mean_p - close_p, mean_p + close_p

    # Side of the mean: +1, -1, or 0 on the mean (within rounding) or missing.
    dev = x - mean_p
    tol = _ON_MEAN_RTOL * g_scale[group]
    side = np.zeros(n, dtype=np.int8)
    side[dev > tol] = 1
    side[dev < -tol] = -1

    # cont[i]: point i continues an unbroken stretch (both present, same group) from point i-1.
    cont = np.zeros(n, dtype=bool)
    if n > 1:
        cont[1:] = present[1:] & present[:-1] & (group[1:] == group[:-1])

    # Rule 1: outside the limits.
    out_hi = (x > upl) & (side > 0)
    out_lo = (x < lpl) & (side < 0)

    # Rule 2: trend. A step links i-1 to i; 6 equal, non-zero, unbroken steps make a trend of 7 points.
    step = np.zeros(n, dtype=np.int8)
    if n > 1:
        with np.errstate(invalid="ignore"):
            step[1:] = np.where(cont[1:], np.sign(x[1:] - x[:-1]), 0)
    same_step = np.zeros(n, dtype=bool)
    if n > 2:
        same_step[2:] = (step[2:] != 0) & (step[2:] == step[1:-1])
    in_trend_step = _in_long_stretch(~same_step, step != 0, RULE_POINTS - 1)
    trend_dir = np.zeros(n, dtype=np.int8)
    first = np.flatnonzero(in_trend_step)
    # A step marks both its points. Marking the step's start first and its end second makes a shared peak or
    # trough take the direction of the trend that ends at it.
    trend_dir[first - 1] = step[first]
    trend_dir[first] = step[first]

    # Rule 3: 2 of 3 close to (or, nhse-2023, beyond) a limit, all three on that side of the mean.
    beyond_ok = variant == "nhse-2023"
    near_hi = present & (side > 0) & (x > u23) & (beyond_ok | ~out_hi)
    near_lo = present & (side < 0) & (x < l23) & (beyond_ok | ~out_lo)
    two3_hi = _two_in_three(near_hi, side > 0, cont)
    two3_lo = _two_in_three(near_lo, side < 0, cont)

    # Rule 4: run of 7 on one side of the mean; the same side, unbroken, and never on the mean.
    same_side = np.zeros(n, dtype=bool)
    if n > 1:
        same_side[1:] = cont[1:] & (side[1:] == side[:-1])
    in_run = _in_long_stretch(~same_side, side != 0, RULE_POINTS)

    # Precedence: outside_limits > trend > two_in_three > run.
    direction = np.zeros(n, dtype=np.int8)
    rule_code = np.zeros(n, dtype=np.int8)
    for code, hit, d in (
        (4, in_run, side),
        (3, two3_hi | two3_lo, side),
        (2, trend_dir != 0, trend_dir),
        (1, out_hi | out_lo, side),
    ):
        rule_code[hit] = code
        direction[hit] = d[hit]

    rule = np.array([None, *RULES], dtype=object)[rule_code]
    imp_sign = {"increase": 1, "decrease": -1, "neutral": 0}[improvement]
    if imp_sign == 0:
        labels = np.array([None, "special_cause_neutral_low", "common_cause", "special_cause_neutral_high"],
                          dtype=object)
    else:
        good, bad = "special_cause_improvement", "special_cause_concern"
        labels = np.array([None, bad if imp_sign > 0 else good, "common_cause", good if imp_sign > 0 else bad],
                          dtype=object)
    # Index 0 = missing, then direction -1/0/+1 shifted to 1/2/3.
    point_type = labels[np.where(present, direction.astype(np.intp) + 2, 0)]

    point_cols = {
        "position": np.arange(n), "value": x, "mr": mr, "group": group, "baseline": baseline,
        "mean": mean_p, "lpl": lpl, "upl": upl, "lower_two_thirds": l23, "upper_two_thirds": u23,
        "rule": rule, "point_type": point_type,
    }
    by_column = list(zip(*rows)) if rows else [()] * len(_GROUP_COLUMNS)
    group_cols = {}
    for name, column in zip(_GROUP_COLUMNS, by_column):
        if name in ("fixed_from", "fixed_to"):
            # kept as a list (None = not fixed); the groups frame makes it a nullable integer column
            group_cols[name] = list(column)
        elif name in ("mean", "mr_bar", "lpl", "upl", "lower_two_thirds", "upper_two_thirds"):
            group_cols[name] = np.array(column, dtype=float)
        else:
            group_cols[name] = np.array(column, dtype=np.int64)
    return point_cols, group_cols, warnings


def _in_long_stretch(breaks, member, min_len):
    """Flag members of stretches of at least ``min_len`` consecutive members.

    ``breaks[i]`` is True where a new stretch starts; ``member[i]`` says whether i belongs to a stretch at all.
    """
    n = len(member)
    if n == 0:
        return np.zeros(0, dtype=bool)
    starts = breaks | ~member
    stretch = np.cumsum(starts)
    lengths = np.bincount(stretch, weights=member)
    return member & (lengths[stretch] >= min_len)


def _two_in_three(near, on_side, cont):
    """Points ``near`` a limit that sit in an unbroken window of 3 on one side with at least 2 near."""
    n = len(near)
    hit = np.zeros(n, dtype=bool)
    if n < 3:
        return hit
    # Window w covers points w, w+1, w+2.
    window = (
        cont[1:-1] & cont[2:]
        & on_side[:-2] & on_side[1:-1] & on_side[2:]
        & (near[:-2].astype(np.int8) + near[1:-1] + near[2:] >= 2)
    )
    covered = np.zeros(n, dtype=bool)
    covered[:-2] |= window
    covered[1:-1] |= window
    covered[2:] |= window
    return near & covered


def _plain(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
