"""Argument checking for the SPC functions (:mod:`cinb.spc`): every bad argument is a UsageError that says what to give.

Shared by the XmR chart (:mod:`cinb.spc_xmr`) and the run chart (:mod:`cinb.spc_run`).
"""

from __future__ import annotations

import difflib
import math
import numbers

import numpy as np
import pandas as pd

from cinb.errors import UsageError

__all__ = ["MIN_FIX_AFTER", "as_float_array", "choice", "check_target", "rebase_positions", "check_fix_after",
           "check_group_fix"]

#: The fewest points a fixed baseline may have, as in the Making Data Count tools.
MIN_FIX_AFTER = 12


def as_float_array(values, name):
    """A 1-D float array (NaN for missing) and the Series index, if any.

    ``values`` is a sequence, numpy array or Series of numbers; None, NaN and pd.NA mark a missing value.
    Raises UsageError for a DataFrame, text, more than one dimension or an infinite value (naming ``name``).
    """
    if isinstance(values, pd.DataFrame):
        raise UsageError(f"{name} must be one column of numbers, not a DataFrame: pass frame['column']")
    index = None
    try:
        if isinstance(values, pd.Series):
            index = values.index
            x = values.to_numpy(dtype=float, na_value=np.nan)
        else:
            try:
                x = np.asarray(values, dtype=float)
            except TypeError:
                # e.g. pd.NA in a list: let pandas map every missing marker to NaN
                x = pd.array(list(values), dtype="Float64").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{name} must be numbers (None or NaN for a missing month): {exc}") from None
    if x.ndim != 1:
        raise UsageError(f"{name} must be one-dimensional, got shape {x.shape}")
    bad = np.flatnonzero(np.isinf(x))
    if len(bad):
        raise UsageError(
            f"{name} must be finite: position {int(bad[0])} is {x[bad[0]]}; use NaN for a missing month"
        )
    return x, index


def choice(value, allowed, name):
    """``value`` if it is one of ``allowed``; else UsageError naming ``name``, with the closest allowed word.

    For ``improvement``, the data contract's ``higher``/``lower`` get a hint to use ``increase``/``decrease``.
    """
    if isinstance(value, str) and value in allowed:
        return value
    hint = ""
    if isinstance(value, str):
        if name == "improvement" and value in ("higher", "lower"):
            hint = f"; for direction {value!r} use {'increase' if value == 'higher' else 'decrease'!r}"
        else:
            close = difflib.get_close_matches(value, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UsageError(f"{name} must be one of {', '.join(map(repr, allowed))}, not {value!r}{hint}")


def check_target(target):
    """The target as a float, or None for None or NaN; UsageError for a bool, text or an infinity."""
    if target is None:
        return None
    if isinstance(target, (bool, np.bool_)) or not isinstance(target, numbers.Real):
        raise UsageError(f"target must be a number or None, not {target!r}")
    value = float(target)
    if math.isnan(value):
        return None
    if math.isinf(value):
        raise UsageError(f"target must be finite, not {target!r}")
    return value


def rebase_positions(rebase_at, n):
    """Sorted 0-based positions (an intp array) where a new group starts among ``n`` values.

    ``rebase_at`` is None, an integer or integers, each from 1 to ``n - 1`` and none repeated; anything else
    raises UsageError.
    """
    if rebase_at is None:
        return np.zeros(0, dtype=np.intp)
    items = [rebase_at] if isinstance(rebase_at, numbers.Integral) else list(rebase_at)
    positions = []
    for item in items:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, numbers.Integral):
            raise UsageError(
                f"rebase_at must list 0-based integer positions, got {item!r}; to rebase at a date, "
                "look up its position first, e.g. series.index.get_loc(period)"
            )
        positions.append(int(item))
    for p in positions:
        if not 1 <= p <= n - 1:
            raise UsageError(
                f"rebase_at position {p} is out of range: a new group must start at a position "
                f"from 1 to {n - 1} for {n} values"
            )
    if len(set(positions)) != len(positions):
        raise UsageError(f"rebase_at has a repeated position: {sorted(positions)}")
    return np.array(sorted(positions), dtype=np.intp)


def check_fix_after(fix_after):
    """``fix_after`` as an int (None stays None); UsageError unless a whole number of at least MIN_FIX_AFTER."""
    if fix_after is None:
        return None
    if isinstance(fix_after, (bool, np.bool_)) or not isinstance(fix_after, numbers.Integral):
        raise UsageError(f"fix_after must be a whole number of points (at least {MIN_FIX_AFTER}), not {fix_after!r}")
    if fix_after < MIN_FIX_AFTER:
        raise UsageError(
            f"fix_after={fix_after} is too few: a fixed baseline needs at least {MIN_FIX_AFTER} points"
        )
    return int(fix_after)



def check_group_fix(fix, groups: int):
    """One group's fixed baseline (an entry of a per-group ``fix_after``): None, or a whole number ≥ 2.

    Fewer than 12 points is allowed here (a baseline recorded with a process change may be short) and
    `cinb.spc_xmr.xmr` warns about it; ``groups`` is only named in the message. Raises UsageError otherwise.
    """
    if fix is None or (isinstance(fix, float) and np.isnan(fix)):
        return None
    if isinstance(fix, (bool, np.bool_)) or not isinstance(fix, numbers.Integral) or fix < 2:
        raise UsageError(f"fix_after entries must be None or a whole number of points of at least 2 (one per "
                         f"group, {groups} groups), not {fix!r}")
    return int(fix)
