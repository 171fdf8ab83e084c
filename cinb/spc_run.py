"""Run charts judged by the Anhøj rules (Anhøj & Olesen 2014, "Run charts revisited", PLOS ONE 9(11): e113825).

For short or non-normal series, where an XmR chart's limits are unreliable; re-exported by :mod:`cinb.spc`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cinb.formatting import plural
from cinb.spc_checks import as_float_array

__all__ = ["RunChartResult", "run_chart", "anhoej_longest_run_max", "anhoej_crossings_min"]


@dataclass(frozen=True)
class RunChartResult:
    """A run chart judged by the Anhøj rules.

    Attributes
    ----------
    median : float
        The centre line (NaN with no values).
    n : int
        Values present.
    n_useful : int
        Values not on the median: the ``n`` of the Anhøj limits.
    longest_run, longest_run_max : int
        The longest run of useful points on one side of the median, and the most allowed,
        ``round(log2(n_useful)) + 3`` (None with no useful point).
    crossings, crossings_min : int
        How often consecutive useful points change side, and the fewest expected by chance: the lower 5 %
        quantile of Binomial(n_useful − 1, 0.5) (None with no useful point).
    runs_signal, crossings_signal, signal : bool
        ``longest_run > longest_run_max``; ``crossings < crossings_min``; either.
    points : DataFrame
        Input order and index: ``value``, ``side`` (+1 above, −1 below, 0 on the median or missing),
        ``useful``, ``run`` (1-based run number among useful points, <NA> otherwise).
    warnings : list of str
    """

    median: float
    n: int
    n_useful: int
    longest_run: int
    longest_run_max: int | None
    crossings: int
    crossings_min: int | None
    runs_signal: bool
    crossings_signal: bool
    signal: bool
    points: pd.DataFrame = field(repr=False)
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------------------
# Run chart
# --------------------------------------------------------------------------------------------------------------


def run_chart(values) -> RunChartResult:
    """Judge a run chart by the Anhøj rules, for short or non-normal series.

    Parameters
    ----------
    values : sequence, numpy array or Series of numbers
        In time order; None/NaN values are skipped.

    Returns
    -------
    RunChartResult

    Notes
    -----
    The centre line is the median. Points on the median are not useful: they neither start nor break a run
    and do not count in ``n_useful``. A signal of non-random variation is a run longer than
    ``round(log2(n_useful)) + 3`` or fewer crossings than the lower 5 % quantile of
    Binomial(n_useful − 1, 0.5) (the smallest c with P(X ≤ c) ≥ 0.05, computed exactly). See Anhøj & Olesen
    (2014), "Run charts revisited", PLOS ONE 9(11): e113825.

    Examples
    --------
    >>> r = run_chart([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    >>> r.median, r.longest_run, r.longest_run_max, r.crossings, r.crossings_min, r.signal
    (5.5, 5, 6, 1, 2, True)
    """
    x, index = as_float_array(values, "values")
    present = ~np.isnan(x)
    n = int(present.sum())
    warnings: list[str] = []
    median = float(np.median(x[present])) if n else math.nan
    side = np.zeros(len(x), dtype=np.int8)
    side[x > median] = 1
    side[x < median] = -1
    useful = side != 0
    s = side[useful]
    n_useful = len(s)
    changes = np.flatnonzero(s[1:] != s[:-1]) + 1 if n_useful else np.zeros(0, np.intp)
    crossings = len(changes)
    bounds = np.concatenate(([0], changes, [n_useful]))
    longest = int(np.diff(bounds).max()) if n_useful else 0
    run_id = pd.array(np.full(len(x), pd.NA), dtype="Int64")
    if n_useful:
        run_id[useful] = np.repeat(np.arange(1, len(bounds)), np.diff(bounds))
    if n_useful:
        run_max = anhoej_longest_run_max(n_useful)
        cross_min = anhoej_crossings_min(n_useful)
    else:
        run_max = cross_min = None
        warnings.append("no value off the median: the run chart rules cannot be applied")
    if 0 < n_useful < 10:
        warnings.append(f"only {plural(n_useful, 'useful point')}: the Anhøj rules have little power below 10")
    runs_signal = bool(run_max is not None and longest > run_max)
    crossings_signal = bool(cross_min is not None and crossings < cross_min)
    points = pd.DataFrame({"value": x, "side": side, "useful": useful, "run": run_id})
    if index is not None:
        points.index = index
    return RunChartResult(
        median=median,
        n=n,
        n_useful=n_useful,
        longest_run=longest,
        longest_run_max=run_max,
        crossings=crossings,
        crossings_min=cross_min,
        runs_signal=runs_signal,
        crossings_signal=crossings_signal,
        signal=runs_signal or crossings_signal,
        points=points,
        warnings=warnings,
    )


def anhoej_longest_run_max(n_useful: int) -> int:
    """The longest run expected by chance among ``n_useful`` points: ``round(log2(n_useful)) + 3``."""
    # floor(x + 0.5) rather than round(): Python's round() goes to even; log2 of an integer is never an exact half.
    return int(math.floor(math.log2(n_useful) + 0.5)) + 3


def anhoej_crossings_min(n_useful: int) -> int:
    """The fewest crossings expected by chance: lower 5 % quantile of Binomial(n_useful − 1, 0.5).

    Computed exactly with integers as the smallest c with P(X ≤ c) ≥ 0.05, R's ``qbinom(0.05, n - 1, 0.5)``.
    """
    m = n_useful - 1
    total, cumulative = 2**m, 0
    for c in range(m + 1):
        cumulative += math.comb(m, c)
        if 20 * cumulative >= total:
            return c
    return m

